"""Draw a neuron's graph as the N2G paper's "simplified graph": DOT text, SVG, PNG (or the graph's JSON).

The trie is turned into a DAG first: gap nodes are dropped (their children attach to the gap's parent) and
token nodes are merged by (depth, key), depth counting token nodes only. Edges run from a context token to the
token it precedes, so the drawing reads left to right like the text: activating tokens in the rightmost column,
earlier context further left. Activating tokens are red by activation, context tokens blue by importance, and a
node where a pattern ends has a bold border.

SVG and PNG are drawn with matplotlib (a layered layout done here), not Graphviz: a fresh machine has no `dot`.
matplotlib is imported only when a picture is asked for, so DOT and JSON need nothing beyond the standard library.
"""

from __future__ import annotations

import io
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2g.errors import N2GError
from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode

FORMATS = ("svg", "png", "dot", "json")
RED, BLUE = (214, 39, 40), (31, 119, 180)
MIN_SHADE = 0.15  # so that a zero-valued node is still visibly red or blue, not white
MAX_LABEL = 30
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}
# Geometry of the matplotlib drawing, in inches (the axes' data units are inches).
ROW_H, BOX_H, COL_GAP, MARGIN, TITLE_H, CHAR_W, FONT_PT = 0.42, 0.28, 0.6, 0.25, 0.5, 0.075, 9
MAX_PIXELS = 30000  # Agg refuses images wider or taller than 2**16 pixels; stay well under


@dataclass
class DrawNode:
    """One box of the simplified graph: the merge of every trie node with this (depth, key)."""

    id: str
    depth: int
    key: str
    label: str
    fill: str
    bold: bool
    count: int
    activation: float  # largest max_activation over the merged nodes (fraction of a_max)
    importance: float  # count-weighted mean importance over the merged nodes
    font_colour: str = "#000000"


@dataclass
class DrawEdge:
    """Context node `source` precedes `target`; `count` is how many pattern paths use the edge."""

    source: str
    target: str
    count: int


@dataclass
class _Merge:
    id: str
    depth: int
    key: str
    token: str | None
    count: int = 0
    importance_sum: float = 0.0
    activation: float = 0.0
    end: bool = False


def _picture(char: str) -> str:
    """A visible stand-in for whitespace and control characters; other characters unchanged."""
    if char in VISIBLE:
        return VISIBLE[char]
    if ord(char) < 0x20:
        return chr(0x2400 + ord(char))  # Unicode control pictures
    return "␡" if char == "\x7f" else char


def visible_text(text: str) -> str:
    """A token as a label: whitespace visible (' the' reads '␣the'), empty as '∅', long ones cut short."""
    label = "".join(_picture(char) for char in text) or "∅"
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


def mix_colour(base: tuple[int, int, int], strength: float, white: tuple[int, int, int] = (255, 255, 255)) -> str:
    """`base` mixed into `white` by `strength` (clamped to 0..1: 0 is `white`, 1 is `base`), as #rrggbb."""
    strength = min(max(strength, 0.0), 1.0)
    rgb = [round(w + (b - w) * strength) for b, w in zip(base, white)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _shade(base: tuple[int, int, int], value: float) -> str:
    """`base` mixed with white: stronger for larger `value` (clamped to 0..1), never pure white."""
    value = min(max(value, 0.0), 1.0) if math.isfinite(value) else 1.0
    return mix_colour(base, MIN_SHADE + (1 - MIN_SHADE) * value)


def _font_colour(fill: str) -> str:
    """White text on dark fills, black on light ones, so labels stay readable."""
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#ffffff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5 else "#000000"


def _merge_trie(graph: NeuronGraph) -> tuple[dict[tuple[int, str], _Merge], dict[tuple[str, str], int]]:
    """Walk the trie skipping gaps, merging token nodes by (depth, key) and counting edges child -> parent."""
    merged: dict[tuple[int, str], _Merge] = {}
    edges: dict[tuple[str, str], int] = defaultdict(int)
    stack: list[tuple[TrieNode, int, _Merge | None]] = [(root, 0, None) for root in reversed(graph.roots)]
    while stack:
        node, depth, parent = stack.pop()
        if node.kind == GAP:
            if node.is_end and parent is not None:
                parent.end = True  # a pattern ending in a gap ends, in effect, at the token before the gap
            stack.extend((child, depth, parent) for child in reversed(node.children))
            continue
        key = node.key if node.key is not None else (node.token or "")
        entry = merged.get((depth, key))
        if entry is None:
            index = sum(1 for d, _ in merged if d == depth)
            entry = merged[(depth, key)] = _Merge(id=f"n{depth}_{index}", depth=depth, key=key, token=node.token)
        entry.count += node.count
        entry.importance_sum += node.importance_sum
        entry.activation = max(entry.activation, node.max_activation)
        entry.end = entry.end or node.is_end
        if parent is not None:
            edges[(entry.id, parent.id)] += node.count
        stack.extend((child, depth + 1, entry) for child in reversed(node.children))
    return merged, edges


def simplified(graph: NeuronGraph) -> tuple[list[DrawNode], list[DrawEdge]]:
    """The paper's simplified graph: gaps dropped, nodes merged by (depth, key); nodes in first-seen order."""
    merged, edge_counts = _merge_trie(graph)
    nodes = []
    for entry in merged.values():
        importance = entry.importance_sum / entry.count if entry.count else 0.0
        fill = _shade(RED, entry.activation) if entry.depth == 0 else _shade(BLUE, importance)
        label = visible_text(entry.token if entry.token is not None else entry.key)
        nodes.append(DrawNode(id=entry.id, depth=entry.depth, key=entry.key, label=label, fill=fill,
                              bold=entry.end, count=entry.count, activation=entry.activation,
                              importance=importance, font_colour=_font_colour(fill)))
    edges = [DrawEdge(source, target, count) for (source, target), count in edge_counts.items()]
    return nodes, edges


def title(graph: NeuronGraph) -> str:
    """'model layer L neuron N', with the test F1 when the graph has been scored."""
    text = f"{graph.model} layer {graph.layer} neuron {graph.neuron}"
    f1 = None if graph.scores is None else graph.scores.value("n2g", "test", "f1")
    if f1 is not None and math.isfinite(f1):
        text += f" (F1 {f1:.2f})"
    return text


def _empty_note(graph: NeuronGraph) -> str:
    note = f"no patterns (status: {graph.status})"
    return f"{note}: {graph.reason}" if graph.reason else note


# --- DOT -------------------------------------------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes doubled (DOT reads `\\n`, `\\l`, `\\N` ... as escapes), quotes
    escaped, a newline as DOT's line break and other control characters made visible. < > { } | need nothing
    inside quotes on a non-record shape."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(_picture(char) if ord(char) < 0x20 or char == "\x7f" else char for char in escaped) + '"'


def _dot_node(node: DrawNode) -> str:
    attrs = f"label={dot_quote(node.label)}, fillcolor=\"{node.fill}\", fontcolor=\"{node.font_colour}\""
    if node.bold:
        attrs += ", penwidth=3"
    return f"  {node.id} [{attrs}];"


def to_dot(graph: NeuronGraph) -> str:
    """Graphviz DOT text for the simplified graph, laid out left to right with one rank per depth."""
    nodes, edges = simplified(graph)
    label = title(graph) if nodes else f"{title(graph)}\n{_empty_note(graph)}"
    heaviest = max((edge.count for edge in edges), default=1)
    lines = ["digraph n2g {",
             f"  graph [rankdir=LR, labelloc=t, fontname=\"Helvetica\", label={dot_quote(label)}];",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", penwidth=1];',
             '  edge [color="#666666", arrowsize=0.7];']
    lines += [_dot_node(node) for node in nodes]
    for edge in edges:
        lines.append(f"  {edge.source} -> {edge.target} [penwidth={1 + 2 * edge.count / heaviest:.2f}];")
    for depth in sorted({node.depth for node in nodes}):
        ids = "; ".join(node.id for node in nodes if node.depth == depth)
        lines.append(f"  {{ rank=same; {ids}; }}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- layered layout --------------------------------------------------------------------------------------------


def _centred(column: list[str]) -> dict[str, float]:
    """Row positions centred on 0, so columns of different heights line up by their middles."""
    middle = (len(column) - 1) / 2
    return {node_id: index - middle for index, node_id in enumerate(column)}


def _reorder(column: list[str], neighbours: dict[str, list[str]], fixed: list[str]) -> list[str]:
    """Sort a column by the mean row of each node's neighbours in the fixed column (barycentre heuristic)."""
    fixed_rows, own_rows = _centred(fixed), _centred(column)

    def barycentre(node_id: str) -> float:
        rows = [fixed_rows[other] for other in neighbours.get(node_id, []) if other in fixed_rows]
        return sum(rows) / len(rows) if rows else own_rows[node_id]

    return sorted(column, key=barycentre)


def order_columns(nodes: list[DrawNode], edges: list[DrawEdge], sweeps: int = 4) -> list[list[str]]:
    """Node ids per depth (index = depth), each ordered to reduce edge crossings by alternating barycentre
    sweeps: outwards from the activating tokens, then back."""
    columns: list[list[str]] = [[] for _ in range(max((node.depth for node in nodes), default=-1) + 1)]
    for node in nodes:
        columns[node.depth].append(node.id)
    targets: dict[str, list[str]] = defaultdict(list)
    sources: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        targets[edge.source].append(edge.target)
        sources[edge.target].append(edge.source)
    for sweep in range(sweeps):
        if sweep % 2 == 0:
            for depth in range(1, len(columns)):
                columns[depth] = _reorder(columns[depth], targets, columns[depth - 1])
        else:
            for depth in range(len(columns) - 2, -1, -1):
                columns[depth] = _reorder(columns[depth], sources, columns[depth + 1])
    return columns


@dataclass
class _Box:
    x: float  # centre, inches
    y: float
    width: float


def _box_width(label: str) -> float:
    return max(0.45, CHAR_W * len(label) + 0.2)


def _place(nodes: list[DrawNode], columns: list[list[str]]) -> tuple[dict[str, _Box], float, float]:
    """Box centres in inches (depth 0 rightmost) and the drawing's width and height."""
    by_id = {node.id: node for node in nodes}
    widths = [max(_box_width(by_id[node_id].label) for node_id in column) for column in columns]
    rows = max(len(column) for column in columns)
    height = rows * ROW_H + 2 * MARGIN + TITLE_H
    middle = MARGIN + rows * ROW_H / 2
    boxes: dict[str, _Box] = {}
    left = MARGIN
    for depth in range(len(columns) - 1, -1, -1):
        x = left + widths[depth] / 2
        for node_id, row in _centred(columns[depth]).items():
            boxes[node_id] = _Box(x=x, y=middle - row * ROW_H, width=_box_width(by_id[node_id].label))
        left += widths[depth] + COL_GAP
    return boxes, left - COL_GAP + MARGIN, height


# --- matplotlib ------------------------------------------------------------------------------------------------


def _matplotlib() -> Any:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise N2GError("drawing SVG or PNG needs matplotlib: pip install matplotlib") from err
    from matplotlib.figure import Figure

    return Figure


def _draw_boxes(ax: Any, nodes: list[DrawNode], boxes: dict[str, _Box]) -> None:
    from matplotlib.patches import FancyBboxPatch

    for node in nodes:
        box = boxes[node.id]
        ax.add_patch(FancyBboxPatch((box.x - box.width / 2, box.y - BOX_H / 2), box.width, BOX_H,
                                    boxstyle="round,pad=0,rounding_size=0.06", facecolor=node.fill,
                                    edgecolor="#222222", linewidth=2.4 if node.bold else 0.8, zorder=2))
        ax.text(box.x, box.y, node.label, ha="center", va="center", fontsize=FONT_PT, color=node.font_colour,
                parse_math=False, zorder=3, gid=node.id)


def _draw_edges(ax: Any, edges: list[DrawEdge], boxes: dict[str, _Box]) -> None:
    from matplotlib.patches import FancyArrowPatch

    heaviest = max((edge.count for edge in edges), default=1)
    for edge in edges:
        source, target = boxes[edge.source], boxes[edge.target]
        ax.add_patch(FancyArrowPatch((source.x + source.width / 2, source.y), (target.x - target.width / 2, target.y),
                                     arrowstyle="-|>", mutation_scale=9, shrinkA=0, shrinkB=1, color="#666666",
                                     linewidth=0.6 + 1.4 * edge.count / heaviest, zorder=1))


def _figure(graph: NeuronGraph) -> Any:
    """A matplotlib Figure of the simplified graph, sized by its columns and rows; axes units are inches."""
    figure_class = _matplotlib()
    nodes, edges = simplified(graph)
    heading = title(graph)
    if nodes:
        boxes, width, height = _place(nodes, order_columns(nodes, edges))
    else:
        boxes, width, height = {}, 0.0, 2 * MARGIN + TITLE_H + ROW_H
    width = max(width, CHAR_W * 1.3 * len(heading) + 2 * MARGIN, 3.0)
    fig = figure_class(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    ax.text(width / 2, height - MARGIN - TITLE_H / 3, heading, ha="center", va="center", fontsize=FONT_PT + 2,
            fontweight="bold", parse_math=False)
    if not nodes:
        ax.text(width / 2, MARGIN + ROW_H / 2, _empty_note(graph), ha="center", va="center", fontsize=FONT_PT,
                color="#555555", style="italic", parse_math=False)
    _draw_edges(ax, edges, boxes)
    _draw_boxes(ax, nodes, boxes)
    return fig


def _save(graph: NeuronGraph, fmt: str) -> bytes:
    """SVG (labels kept as text, so they stay searchable) or PNG bytes, without dates so output is stable."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "n2g"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        fig = _figure(graph)
        FigureCanvasAgg(fig)
        width, height = fig.get_size_inches()
        dpi = min(150.0, MAX_PIXELS / max(width, height))
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white", metadata=metadata)
    return buffer.getvalue()


# --- entry points ----------------------------------------------------------------------------------------------


def render(graph: NeuronGraph, fmt: str) -> bytes:
    """The graph in one of FORMATS: "svg", "png", "dot" (Graphviz text) or "json" (the graph itself)."""
    if fmt == "json":
        return graph.to_json().encode()
    if fmt == "dot":
        return to_dot(graph).encode()
    if fmt in ("svg", "png"):
        return _save(graph, fmt)
    raise N2GError(f"unknown graph format {fmt!r}: choose one of {', '.join(FORMATS)}")


def write(graph: NeuronGraph, fmt: str, path: str | Path) -> Path:
    """Render the graph and write it to `path` (parent folders created); returns the path."""
    data = render(graph, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
