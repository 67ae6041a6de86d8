"""The README names every module and script (house style: the README lists each file with what it does)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

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


def test_top_level_layout_is_the_fixed_one() -> None:
    """configs/, src/trainer/, data/, scripts/, clients/ (other runtimes), pyproject.toml, Dockerfile.gpu, tests/,
    README.md, plus docs and the tooling that runs them; anything else at the top level is a stray file."""
    required = {
        "configs",
        "src",
        "data",
        "scripts",
        "clients",
        "pyproject.toml",
        "Dockerfile.gpu",
        "tests",
        "README.md",
    }
    tooling = {"docs", "Makefile", ".ci", ".gitignore", ".git-blame-ignore-revs"}
    proc = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    top = {line.split("/")[0] for line in proc.stdout.splitlines()}
    assert required <= top and sorted(top - required - tooling) == []
    assert (PROJECT_ROOT / "src" / "trainer" / "__init__.py").is_file()


def test_make_ui_opens_the_store_that_runs_record_into() -> None:
    from trainer.config import compose

    uri = compose("train", []).tracking.uri
    assert uri == f"sqlite:///{PROJECT_ROOT}/mlruns/mlflow.db"
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db" in makefile
