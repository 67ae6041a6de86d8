"""The README names every module and script (house style: the README lists each file with what it does)."""

from __future__ import annotations

import re

from .conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def _named(cell: str) -> set[str]:
    return set(re.findall(r"`([\w/]+\.py)`", cell))


def test_module_table_lists_every_module_and_only_real_ones() -> None:
    start = README.index("## Modules (`src/trainer/`)")
    table = README[start : README.index("\n\n", README.index("|---", start))]
    listed = set().union(*(_named(line.split("|")[1]) for line in table.splitlines() if line.startswith("| `")))
    src = PROJECT_ROOT / "src" / "trainer"
    modules = {p.relative_to(src).as_posix() for p in src.rglob("*.py") if p.name != "__init__.py"}
    assert sorted(modules - listed) == [], "modules missing from the README's module table"
    assert sorted(listed - modules) == [], "the README's module table names files that do not exist"


def test_every_script_is_described() -> None:
    scripts = [p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "scripts").rglob("*") if p.is_file()]
    scripts = [s for s in scripts if "__pycache__" not in s]
    assert scripts, "no scripts found"
    assert sorted(s for s in scripts if f"`{s}`" not in README) == []
