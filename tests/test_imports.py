"""The import structure of facetex: module-level imports form a graph without cycles.

The graph is read from the source with :mod:`ast` (nothing is imported): an edge a → b for
every ``import``/``from … import`` of a facetex module at the top level of module a, including
those under ``try``/``if``, but not those under ``if TYPE_CHECKING:`` or inside functions and
classes (which run later, if at all). ``from facetex.x import y`` is an edge to ``facetex.x.y``
when y is a module, else to ``facetex.x``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import facetex

ROOT = Path(facetex.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    """facetex module → the facetex modules it imports at module level."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
            if len(component) > 1:
                cycles.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


def test_graph_sees_known_edges():
    graph = import_graph()
    assert "facetex.geometry.uv" in graph["facetex.geometry"]
    assert "facetex.fitting.energy" in graph["facetex.fitting.solver"]


def test_find_cycles_reports_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert find_cycles(import_graph()) == []


def test_light_imports_do_not_load_torch():
    """``import facetex`` and the command's module stay light: torch loads with the stages."""
    code = "import sys, facetex, facetex.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ray_is_imported_only_by_the_distributed_module_and_only_when_used():
    """Without ``--ray`` nothing of Ray loads: no module imports it at its top level, and only
    :mod:`facetex.distributed` imports it at all."""
    importers = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "ray" or m.startswith("ray.") for m in modules):
                importers.append(name)
    assert importers == ["facetex.distributed"]
    top_level = _top_level_imports(ast.parse(_modules()["facetex.distributed"].read_text(encoding="utf-8")))
    assert not any(isinstance(n, ast.Import) and any(a.name == "ray" for a in n.names) for n in top_level)


def test_uv_depends_on_rasterize_one_way():
    graph = import_graph()
    assert "facetex.geometry.rasterize" in graph["facetex.geometry.uv"]
    assert "facetex.geometry.uv" not in graph["facetex.geometry.rasterize"]
