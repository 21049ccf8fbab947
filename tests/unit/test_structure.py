"""The package's shape: its import graph, read from the source (every import,
also those inside functions), has no cycle, and each stage imports only the
stages before it: the shared modules, then compile, then run, then cli."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "sacgen"
# Each stage may import its own modules and those of the stages before it.
STAGES = ("shared", "compile", "run", "cli")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The sacgen modules PATH imports, at any depth of its code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "sacgen")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sacgen":
                continue
            for alias in node.names:
                # `from . import shell` imports a module; `from .model import Spec` a name.
                sub = f"{target}.{alias.name}"
                found.add(sub if module_path(sub) else target)
    return {m for m in found if m != name}


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def stage(name: str) -> str:
    part = name.split(".")[1] if name.count(".") >= 1 else ""
    return part if part in STAGES else "shared"


def test_no_import_cycle_counting_imports_inside_functions():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_each_stage_imports_only_the_stages_before_it():
    wrong = []
    for name, targets in graph().items():
        if name == "sacgen.lint":  # the earlier spelling of `sacgen lint`: a door into the CLI
            continue
        mine = STAGES.index(stage(name))
        for target in sorted(targets):
            if target != "sacgen" and STAGES.index(stage(target)) > mine:
                wrong.append(f"{name} ({stage(name)}) imports {target} ({stage(target)})")
    assert not wrong, "\n".join(wrong)


def test_the_tree_shows_the_stages_and_no_development_tool_ships():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == ["cli", "compile", "run"]
    assert not list(PACKAGE.rglob("docsgen.py")), "docsgen is a development tool: tools/"


def test_the_checker_sees_a_cycle_and_a_function_level_import(tmp_path, monkeypatch):
    """The graph is read from the source: an import inside a function counts."""
    pkg = tmp_path / "sacgen"
    (pkg / "run").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "run" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .run import b\n")
    (pkg / "run" / "b.py").write_text("def f():\n    from ..a import x\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", pkg)
    edges = graph()
    assert edges["sacgen.run.b"] == {"sacgen.a"} and edges["sacgen.a"] == {"sacgen.run.b"}
    try:
        test_no_import_cycle_counting_imports_inside_functions()
    except AssertionError as e:
        assert "sacgen.a -> sacgen.run.b -> sacgen.a" in str(e)
    else:
        raise AssertionError("the cycle was not seen")
