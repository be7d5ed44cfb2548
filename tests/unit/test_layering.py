"""The package's layers: every module of `n2g/`, `ingest/` and `queries/` imports only from its own layer and the
layers before it, and no two modules import each other, directly or through others.

Imports are read from the source with `ast` (no module is imported): every `import` and `from ... import`, at the
top or inside functions, except those under `if TYPE_CHECKING:` (they never run). A dynamic import by name
(`importlib.import_module`, as `n2g/__init__`'s lazy public names do) is not an import statement and is not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("n2g", "ingest", "queries")
BASE = frozenset({"n2g", "n2g.errors", "n2g.specs", "n2g.files", "n2g.config"})
# Layer order: a module may import from its own layer and any earlier one; base modules only from base modules.
LAYERS = ("base", "n2g.model", "n2g.exemplars", "n2g.graphs", "n2g.fit", "n2g.report", "ingest", "queries",
          "n2g.serve", "n2g.cli")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of this project
    line: int

    def where(self) -> str:
        return f"{module_path(self.source)}:{self.line}"


def module_path(module: str) -> str:
    path = ROOT / Path(*module.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer_of(module: str) -> str | None:
    if module in BASE:
        return "base"
    for layer in LAYERS[1:]:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of `if TYPE_CHECKING:` (not their `else:`)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imports(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in _statements(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:  # relative: from .x import y
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from a import b` imports the module a.b when there is one, else a name defined in a
            targets = [f"{name}.{alias.name}" if f"{name}.{alias.name}" in known else name for alias in node.names]
        for target in targets:
            while target and target not in known and target.split(".")[0] in PACKAGES:
                target = target.rpartition(".")[0]  # `import a.b.c` where c is a name: the module is a.b
            if target in known and target != module:
                found.append(Import(module, target, node.lineno))
    return found


def import_graph() -> dict[str, list[Import]]:
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def cycles(graph: dict[str, list[Import]]) -> list[tuple[list[str], list[Import]]]:
    """Per group of modules that import each other (Tarjan's strongly connected components): its modules, and
    one shortest cycle through the first of them (as its imports, in order)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for edge in graph[module]:
            if edge.target not in index:
                visit(edge.target)
                low[module] = min(low[module], low[edge.target])
            elif edge.target in on_stack:
                low[module] = min(low[module], index[edge.target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [(sorted(group), _cycle_in(group, graph)) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, list[Import]]) -> list[Import]:
    """A shortest cycle through the group's first module (breadth-first back to it)."""
    start = min(group)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for edge in graph[module]:
                if edge.target == start:
                    return [*paths[module], edge]
                if edge.target in group and edge.target not in paths:
                    paths[edge.target] = [*paths[module], edge]
                    following.append(edge.target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # cannot happen in a strongly connected group


def _show_cycle(group: list[str], cycle: list[Import]) -> str:
    shown = " -> ".join(f"{edge.source} ({edge.where()})" for edge in cycle) + f" -> {cycle[0].source}"
    return shown if len(group) == len(cycle) else f"{shown}   [the group: {', '.join(group)}]"


def test_every_module_has_a_layer() -> None:
    missing = sorted(module for module in modules() if layer_of(module) is None)
    assert not missing, f"modules outside every layer (add them to LAYERS or BASE in {__file__}): {missing}"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles, as module (file:line of its import of the next) -> ...:\n" + "\n".join(
        _show_cycle(group, cycle) for group, cycle in found)


def test_no_module_imports_a_later_layer() -> None:
    order = {layer: rank for rank, layer in enumerate(LAYERS)}
    wrong = []
    for edges in import_graph().values():
        for edge in edges:
            source, target = layer_of(edge.source), layer_of(edge.target)
            if source is not None and target is not None and order[target] > order[source]:
                wrong.append(f"{edge.where()}: {edge.source} (layer {source}) imports {edge.target} "
                             f"(layer {target}, later)")
    assert not wrong, (f"imports against the layer order {' < '.join(LAYERS)}:\n" + "\n".join(sorted(wrong)))


def test_the_checks_see_what_they_should(tmp_path: Path) -> None:
    """The reader itself: relative, nested, function-level and TYPE_CHECKING imports; a cycle is found."""
    source = tmp_path / "mod.py"
    source.write_text("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                      "from n2g.graphs import scoring\nfrom . import errors\n"
                      "if TYPE_CHECKING:\n    from n2g.cli.main import main\nelse:\n    import queries.search\n"
                      "def f():\n    from n2g.model.probe import LayerProbe\n")
    known = {name: Path() for name in ("n2g", "n2g.errors", "n2g.graphs", "n2g.graphs.scoring", "n2g.cli.main",
                                       "n2g.model.probe", "queries", "queries.search", "n2g.mod")}
    found = {(edge.target, edge.line) for edge in imports("n2g.mod", source, known)}
    assert found == {("n2g.graphs.scoring", 3), ("n2g.errors", 4), ("queries.search", 8), ("n2g.model.probe", 10)}
    a_to_b, b_to_c, c_to_a = Import("a", "b", 1), Import("b", "c", 2), Import("c", "a", 3)
    loop = cycles({"a": [a_to_b], "b": [b_to_c], "c": [c_to_a], "d": [Import("d", "a", 4)]})
    assert loop == [(["a", "b", "c"], [a_to_b, b_to_c, c_to_a])]
