"""The package layering the restructure promised, checked on the source (AST) and by importing:

- nothing under ``serving/`` imports torch or mlflow (deployers run it with onnxruntime and nothing else);
- nothing outside ``tracking/`` imports mlflow;
- no import cycles between modules of ``trainer``, counting every import statement (also inside functions
  and under ``TYPE_CHECKING``);
- entry points are the top-level verbs; every other module lives in a stage package;
- no function in ``src/`` is longer than 80 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
PACKAGE = SRC / "trainer"
VERBS = {"train", "kfold", "export", "predict", "evaluate", "compare", "ensemble", "promote", "pull", "sync"}
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Every module name an import statement anywhere in ``tree`` names (relative imports resolved)."""
    out: set[str] = set()
    package = (
        module
        if module in MODULES and (PACKAGE / Path(*module.split(".")[1:]) / "__init__.py").exists()
        else module.rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
            out |= submodules
            if len(submodules) < len(node.names):  # some names are attributes of ``base`` itself
                out.add(base)
    return out


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_serving_imports_neither_torch_nor_mlflow_in_its_source() -> None:
    serving = {m: t for m, t in MODULES.items() if m.startswith("trainer.serving")}
    assert serving, "no serving package"
    for module, tree in serving.items():
        bad = _roots(_imports(module, tree)) & {"torch", "mlflow", "transformers", "pytorch_lightning"}
        assert not bad, f"{module} imports {sorted(bad)}"


def test_serving_and_the_predictor_cli_load_without_torch_or_mlflow() -> None:
    """Transitively, too: import them with torch and mlflow made unimportable."""
    targets = [m for m in MODULES if m.startswith("trainer.serving")] + ["trainer.predict", "trainer.pull"]
    code = (
        "import sys\n"
        "for name in ('torch', 'mlflow', 'transformers', 'pytorch_lightning'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {targets!r}:\n"
        "    __import__(module)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_mlflow_is_imported_only_inside_tracking() -> None:
    outside = {
        m: sorted(n for n in _imports(m, t) if n.split(".")[0] == "mlflow")
        for m, t in MODULES.items()
        if not m.startswith("trainer.tracking")
    }
    assert {m: names for m, names in outside.items() if names} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_trainer_modules() -> None:
    graph = {m: {n for n in _imports(m, t) if n in MODULES and n != m} for m, t in MODULES.items()}
    # Importing trainer.a.b runs trainer.a's __init__ first: a package's own modules do not count as a cycle
    # with it, but anything else the __init__ imports does.
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself can fail (a two-module and a three-module cycle, and a clean graph)."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_top_level_holds_only_the_entry_point_verbs() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top <= VERBS, f"not a verb at the top of src/trainer: {sorted(top - VERBS)}"
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    for name in packages:
        doc = ast.get_docstring(MODULES[f"trainer.{name}"])
        assert doc and doc.strip(), f"trainer/{name}/__init__.py needs a one-line docstring saying what it owns"


def _long_functions() -> list[str]:
    out = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    out.append(f"{module}.{node.name}: {lines} lines")
    return out


def test_no_function_in_src_is_over_80_lines() -> None:
    assert _long_functions() == []


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_is_a_module_with_main(verb: str) -> None:
    module = MODULES.get(f"trainer.{verb}")
    if module is None:
        pytest.skip(f"trainer.{verb} is not part of this tree")
    names = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
    assert "main" in names, f"trainer.{verb} has no main()"
