"""The house plan, enforced: no import cycles (lazy imports included), no private names across modules.

The graph is built from the source with ``ast``: every ``import``/``from ... import`` of a landseg
module anywhere in a file (function bodies too, since a lazy import is still a dependency), except
under ``if TYPE_CHECKING:``. Importing ``a.b.c`` also runs the package ``a.b``'s ``__init__``, so it
counts as an edge to that package as well (for importers outside ``a.b``: inside it, the package is
already being imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: What may sit at the top of the package: cross-cutting pieces every layer uses.
TOP_LEVEL = {"__init__", "classes", "errors", "plots", "precision", "utils"}
MAX_LINES = 520
#: The layers, lowest first: a package may import only its own and lower layers (README "Layout").
LAYERS = ["top", "models", "data", "curation", "splitting", "inference", "evaluation", "correction", "review",
          "training", "report", "pipeline", "cli"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, package: str) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> the package modules it imports, private names imported across modules)."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    private: list[str] = []

    def add(src: str, target: str) -> None:
        parts = target.split(".")
        for i in range(2, len(parts) + 1):  # the target and every package above it (not the root)
            name = ".".join(parts[:i])
            # a package above the target is run implicitly, except for a module already inside it
            implicit = i < len(parts) and src.startswith(name + ".")
            if name in files and name != src and not implicit:
                graph[src].add(name)

    for mod, path in files.items():
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == package:
                        add(mod, alias.name)
                continue
            if node.level:  # relative import: resolve against this module's package
                base = mod.split(".")[: -node.level] if not path.name == "__init__.py" else mod.split(".")
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != package:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                add(mod, sub if sub in files else target)
                if alias.name.startswith("_") and not alias.name.startswith("__") and sub not in files:
                    private.append(f"{mod} imports {alias.name} from {target}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_landseg_has_no_import_cycles() -> None:
    graph, _ = import_graph(SRC, "landseg")
    assert len(graph) > 50
    found = cycles(graph)
    assert not found, "import cycles (break them by moving the shared piece down a layer):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SRC / "landseg" / parts[1]).is_dir() else "top"


def test_every_package_imports_only_lower_layers() -> None:
    graph, _ = import_graph(SRC, "landseg")
    assert {_layer(m) for m in graph} == set(LAYERS), "a package is missing from LAYERS (and the README)"
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                    if rank[_layer(t)] > rank[_layer(m)])
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    """The check above can fail: a lazy import inside a function closes a cycle and is reported."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.low import helper\n")
    (pkg / "sub" / "low.py").write_text("def helper():\n    from pkg import high\n    return high\n")
    (pkg / "high.py").write_text("from pkg.sub import low\n")
    (pkg / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import high\n")
    graph, private = import_graph(tmp_path, "pkg")
    assert cycles(graph) == [["pkg.high", "pkg.sub", "pkg.sub.low"]]
    assert graph["pkg.typed"] == set()  # type-only imports are not dependencies
    (pkg / "high.py").write_text("from pkg.sub.low import _secret\n")
    assert import_graph(tmp_path, "pkg")[1] == ["pkg.high imports _secret from pkg.sub.low"]
    assert private == []


def test_no_private_name_is_imported_from_another_module() -> None:
    _, private = import_graph(SRC, "landseg")
    assert not private, "\n".join(private)


def test_top_level_holds_only_the_cross_cutting_modules() -> None:
    loose = {p.stem for p in (SRC / "landseg").glob("*.py")} - TOP_LEVEL
    assert not loose, f"modules loose at the top of src/landseg: {sorted(loose)} (give them a package)"
    for pkg in (p for p in (SRC / "landseg").iterdir() if p.is_dir() and any(p.glob("*.py"))):
        assert (pkg / "__init__.py").is_file(), f"{pkg.name}/ has no __init__.py"


@pytest.mark.parametrize("path", sorted((SRC / "landseg").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_too_long_to_read(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines: split it along a seam"
