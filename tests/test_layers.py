"""The engine's layout is a pipeline: each stage imports only the stages beneath it, no module imports itself
back through others, and nothing in wizard/ reaches the UI (screens/, Textual)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What each stage may import (besides itself). `base` is what every stage shares: the plan record, the typed
# errors, the worker processes. The fronts (cli, and screens/ outside wizard/) may use every stage.
BENEATH: dict[str, set[str]] = {
    "base": set(),
    "convert": {"base"},
    "source": {"base", "convert"},
    "plan": {"base", "convert", "source"},
    "target": {"base"},
    "data_copy": {"base", "convert", "source", "plan", "target"},
    "verify": {"base", "convert", "source", "plan", "target", "data_copy"},
    "cli": {"base", "convert", "source", "plan", "target", "data_copy", "verify"},
}
BASE = {"wizard", "wizard.errors", "wizard.workers", "wizard.plan_model", "wizard.platforms", "wizard.demo"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p): p for p in sorted(root.rglob("*.py"))}


def stage(module: str) -> str:
    if module in BASE:
        return "base"
    if module == "wizard.__main__":
        return "cli"
    return module.split(".")[1]


def imports(path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import of `path`, in functions and TYPE_CHECKING
    blocks too: `from pkg import mod` counts as an import of pkg.mod."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.append((full if full in known else node.module, node.lineno, id(node) in top))
    return out


def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, int, bool]]]]:
    found = {**modules(REPO / "wizard"), **modules(REPO / "screens")}
    known = set(found)
    return found, {m: imports(p, known) for m, p in found.items()}


def test_each_stage_imports_only_the_stages_beneath_it() -> None:
    found, edges = graph()
    wrong = []
    for mod, deps in edges.items():
        if not mod.startswith("wizard"):
            continue
        for dep, line, _top in deps:
            if dep.startswith("wizard") and dep in found and stage(dep) != stage(mod) \
                    and stage(dep) not in BENEATH[stage(mod)]:
                wrong.append(f"{found[mod].relative_to(REPO)}:{line}: {stage(mod)} imports {dep} ({stage(dep)})")
    assert not wrong, "a stage imports one above it or beside it:\n" + "\n".join(wrong)


def test_the_engine_never_reaches_the_ui() -> None:
    """Only the command line opens the wizard, from inside the function that runs it: importing any module of
    wizard/ loads neither screens/ nor Textual."""
    found, edges = graph()
    wrong = []
    for mod, deps in edges.items():
        if not mod.startswith("wizard"):
            continue
        for dep, line, top in deps:
            where = f"{found[mod].relative_to(REPO)}:{line}: imports {dep}"
            if dep.split(".")[0] == "textual":
                wrong.append(where)
            elif dep.split(".")[0] == "screens" and (top or stage(mod) != "cli"):
                wrong.append(where + " (only the cli may open the wizard, inside a function)")
    assert not wrong, "\n".join(wrong)
    names = sorted(m for m in found if m.startswith("wizard"))
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens'))\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_no_module_imports_itself_back() -> None:
    _found, edges = graph()
    deps = {m: sorted({d for d, _line, _top in ds if d in edges and d != m}) for m, ds in edges.items()}
    state: dict[str, int] = {}  # 1 on the path, 2 finished
    path: list[str] = []
    circles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in deps[m]:
            if state.get(d) == 1:
                circles.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("folder", ["wizard", "screens"])
def test_every_module_says_what_it_is_for_and_stays_readable(folder: str) -> None:
    """One sitting's reading: a module opens with its job in a docstring and stays under about 400 lines."""
    long_or_silent = []
    for mod, path in modules(REPO / folder).items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > 420 or (lines > 5 and ast.get_docstring(ast.parse(text)) is None):
            long_or_silent.append(f"{mod}: {lines} lines, docstring: {ast.get_docstring(ast.parse(text)) is not None}")
    assert not long_or_silent, "\n".join(long_or_silent)
