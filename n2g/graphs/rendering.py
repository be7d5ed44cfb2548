"""Draw a neuron's graph as the N2G paper's "simplified graph": DOT text, SVG, PNG (or the graph's JSON).

The trie is turned into a DAG first: gap nodes are dropped (their children attach to the gap's parent) and
token nodes are merged by (depth, key), depth counting token nodes only. Edges run from a context token to the
token it precedes, so the drawing reads left to right like the text: activating tokens in the rightmost column,
earlier context further left.

The picture is made to be read by a person, whatever the graph's size:

- a legend says what the colours mean: activating tokens red by their max activation (the number in the box, as a
  fraction of a_max), context tokens blue by importance, a bold border where a pattern ends, a purple diamond on
  an activating token the pivot sweep found (`TrieNode.swept`: the model fired on it in place of a training pivot;
  graphs fitted before that marker say in the caption how many roots the sweep added);
- at most `MAX_ROWS` boxes per column and `MAX_SWEPT` swept tokens: the weakest are collapsed into one
  "+N more" box (its tooltip lists them), context deeper than `MAX_DEPTH` tokens into one box too, and the
  caption counts what is drawn and what is not;
- edges are curves into small arrowheads, and the width-to-height ratio stays within `MIN_ASPECT`..`MAX_ASPECT`.

One scene (boxes, labels, curves, polygons, in inches) is built here and written twice: SVG directly as text (a
few milliseconds, labels kept as text with tooltips, for pages and `n2g show --format svg`), PNG through matplotlib
(imported only then). Both use a monospace font, so box widths fit their labels. DOT is the same collapsed graph.
"""

from __future__ import annotations

import html
import io
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from n2g.errors import N2GError
from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode

FORMATS = ("svg", "png", "dot", "json")
RED, BLUE = (214, 39, 40), (31, 119, 180)
SWEPT_COLOUR = "#7b3fa0"  # the pivot sweep's diamond
MORE_FILL, MORE_TEXT, EDGE_COLOUR, INK = "#f1f1f1", "#444444", "#8a8a8a", "#222222"
MIN_SHADE = 0.15  # so that a zero-valued node is still visibly red or blue, not white
MAX_LABEL = 30
MAX_MORE_LABEL = 40  # a "+N more" box lists its first tokens up to this many characters
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}
# What stays readable: boxes per column, swept activating tokens, context columns (before collapsing the rest).
MAX_ROWS, MAX_SWEPT, MAX_DEPTH = 16, 8, 6
MIN_ASPECT, MAX_ASPECT = 0.5, 4.0  # width / height of the whole picture
# Geometry, in inches.
ROW_H, BOX_H, COL_GAP, MARGIN, CHAR_W, FONT_PT, SMALL_PT = 0.42, 0.28, 0.6, 0.25, 0.075, 9, 8
TITLE_H, CAPTION_H, LEGEND_ROW_H, SWATCH_W, ARROW = 0.34, 0.26, 0.3, 0.42, 0.075
MIN_WIDTH = 7.0  # room for the legend, two items a row
SMALL_W = CHAR_W * SMALL_PT / FONT_PT
FONT = "DejaVu Sans Mono"  # matplotlib's own monospace: every character CHAR_W wide at FONT_PT
SVG_FONTS = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
SVG_PX = 96  # SVG user units per inch (CSS pixels)
PNG_DPI = 150
MAX_PIXELS = 30000  # Agg refuses images wider or taller than 2**16 pixels; stay well under


@dataclass
class DrawNode:
    """One box of the simplified graph: the merge of every trie node with this (depth, key), or (`more` > 0) one
    box standing for `more` collapsed boxes."""

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
    swept: bool = False  # an activating token the pivot sweep added
    more: int = 0
    tooltip: str = ""


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
    swept: bool = False


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


def _printable(text: str) -> str:
    """Free text (a title, a reason) with control characters made visible; spaces and newlines kept as spaces."""
    return "".join(" " if char in "\n\t\r" else _picture(char) if ord(char) < 0x20 or char == "\x7f" else char
                   for char in text)


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
        entry.swept = entry.swept or (depth == 0 and node.swept)
        if parent is not None:
            edges[(entry.id, parent.id)] += node.count
        stack.extend((child, depth + 1, entry) for child in reversed(node.children))
    return merged, edges


def _tooltip(entry: _Merge, importance: float) -> str:
    text = repr(entry.token if entry.token is not None else entry.key)
    if entry.depth == 0:
        kind = "activating token found by the pivot sweep" if entry.swept else "activating token"
        text += f": {kind}, max activation {entry.activation:.2f} x a_max"
    else:
        text += f": context {entry.depth} token{'s' if entry.depth > 1 else ''} before, importance {importance:.2f}"
    text += f", {entry.count} pattern path{'s' if entry.count != 1 else ''}"
    return text + (", a pattern ends here" if entry.end else "")


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
                              importance=importance, font_colour=_font_colour(fill), swept=entry.swept,
                              tooltip=_tooltip(entry, importance)))
    edges = [DrawEdge(source, target, count) for (source, target), count in edge_counts.items()]
    return nodes, edges


# --- collapsing what a person cannot read ---------------------------------------------------------------------


@dataclass
class Drawing:
    """What is drawn: the simplified graph with its weakest boxes collapsed, and what the caption counts."""

    nodes: list[DrawNode]
    edges: list[DrawEdge]
    activating: int  # activating tokens in the whole graph
    swept: int  # of those, marked as found by the pivot sweep
    context: int  # context boxes in the whole graph
    hidden: int  # boxes collapsed into "+N more" boxes
    unmarked_swept: int = 0  # roots the sweep added in a graph fitted before the marker (stats.swept)

    @property
    def collapsed(self) -> bool:
        return self.hidden > 0


def _strongest(node: DrawNode) -> tuple[float, float, int, str]:
    return (-node.activation, -node.count, 0, node.label) if node.depth == 0 else \
        (-node.count, -node.importance, 0, node.label)


def _more_box(depth: int, hidden: list[DrawNode], deeper: bool = False) -> DrawNode:
    """One box for `hidden` boxes: '+N more: ␣a ␣b …' (or '+N earlier' beyond the deepest column drawn)."""
    swept = sum(node.swept for node in hidden)
    head = f"+{len(hidden)} {'earlier' if deeper else 'more'}" + (f" ({swept} swept)" if swept else "")
    names = " ".join(node.label for node in hidden)
    label = f"{head}: {names}"
    if len(label) > MAX_MORE_LABEL:
        label = label[:MAX_MORE_LABEL - 1] + "…"
    listed = ", ".join(repr(node.key) if not node.swept else f"{node.key!r} (swept)" for node in hidden[:60])
    tooltip = f"{len(hidden)} {'activating' if depth == 0 else 'context'} tokens not drawn: {listed}"
    tooltip += ", …" if len(hidden) > 60 else ""
    return DrawNode(id=f"more{depth}", depth=depth, key="", label=label, fill=MORE_FILL, bold=False,
                    count=sum(node.count for node in hidden), activation=0.0, importance=0.0, font_colour=MORE_TEXT,
                    more=len(hidden), tooltip=tooltip)


def readable(graph: NeuronGraph, max_rows: int = MAX_ROWS, max_swept: int = MAX_SWEPT,
             max_depth: int = MAX_DEPTH) -> Drawing:
    """The simplified graph cut to what a person can read: the strongest activating tokens (those from top windows
    before the sweep's, at most `max_swept` of those), the context that leads to them, at most `max_rows` boxes a
    column and `max_depth` context columns; the rest collapsed into one "+N more" box per column."""
    nodes, edges = simplified(graph)
    roots = [node for node in nodes if node.depth == 0]
    ranked = sorted((n for n in roots if not n.swept), key=_strongest) + \
        sorted((n for n in roots if n.swept), key=_strongest)
    kept: list[DrawNode] = []
    hidden: list[DrawNode] = []
    for node in ranked:
        (hidden if node.swept and sum(n.swept for n in kept) >= max_swept else kept).append(node)
    if len(kept) > max_rows or (hidden and len(kept) == max_rows):
        hidden, kept = kept[max_rows - 1:] + hidden, kept[:max_rows - 1]
    shown: list[DrawNode] = kept + ([_more_box(0, hidden)] if hidden else [])
    hidden_count = len(hidden)
    into: dict[str, list[DrawEdge]] = defaultdict(list)
    for edge in edges:
        into[edge.target].append(edge)
    by_id = {node.id: node for node in nodes}
    frontier = {node.id for node in kept}
    depth = 0
    while frontier:
        depth += 1
        reached = sorted({by_id[e.source].id for t in frontier for e in into[t]}, key=lambda i: _strongest(by_id[i]))
        if not reached:
            break
        if depth > max_depth:
            beyond: set[str] = set(reached)
            layer = set(reached)
            while layer:  # count every deeper box too
                layer = {e.source for t in layer for e in into[t]} - beyond
                beyond |= layer
            deeper = sorted((by_id[i] for i in beyond), key=lambda node: (node.depth, _strongest(node)))
            shown.append(_more_box(depth, deeper, deeper=True))
            hidden_count += len(beyond)
            break
        column = [by_id[i] for i in reached]
        if len(column) > max_rows:
            shown += column[:max_rows - 1] + [_more_box(depth, column[max_rows - 1:])]
            hidden_count += len(column) - (max_rows - 1)
            column = column[:max_rows - 1]
        else:
            shown += column
        frontier = {node.id for node in column}
    ids = {node.id for node in shown}
    order = {node.id: i for i, node in enumerate(nodes)}
    shown.sort(key=lambda node: (node.depth, node.more > 0, order.get(node.id, 0)))
    unmarked = graph.stats.swept or 0 if not any(node.swept for node in roots) else 0
    return Drawing(nodes=shown, edges=[e for e in edges if e.source in ids and e.target in ids],
                   activating=len(roots), swept=sum(node.swept for node in roots),
                   context=len(nodes) - len(roots), hidden=hidden_count, unmarked_swept=unmarked)


def title(graph: NeuronGraph) -> str:
    """'model layer L neuron N', with the test F1 when the graph has been scored."""
    text = f"{graph.model} layer {graph.layer} neuron {graph.neuron}"
    f1 = None if graph.scores is None else graph.scores.value("n2g", "test", "f1")
    if f1 is not None and math.isfinite(f1):
        text += f" (F1 {f1:.2f})"
    return text


def caption(drawing: Drawing) -> str:
    """What the picture shows, counted: tokens, the sweep's share, what was collapsed."""
    def many(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    text = many(drawing.activating, "activating token")
    if drawing.swept:
        text += f" ({drawing.swept} found by the pivot sweep)"
    text += f", {many(drawing.context, 'context token')}"
    if drawing.hidden:
        text += f"; {drawing.hidden} collapsed into +N boxes"
    if drawing.unmarked_swept:
        text += f"; the pivot sweep added {drawing.unmarked_swept} (unmarked: fitted before markers)"
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
    if node.swept:
        attrs += f', color="{SWEPT_COLOUR}"'
    if node.more:
        attrs += ', style="rounded,filled,dashed"'
    return f"  {node.id} [{attrs}, tooltip={dot_quote(node.tooltip)}];"


def to_dot(graph: NeuronGraph) -> str:
    """Graphviz DOT text for the drawn graph (`readable`), laid out left to right with one rank per depth."""
    drawing = readable(graph)
    nodes, edges = drawing.nodes, drawing.edges
    label = f"{title(graph)}\n{caption(drawing)}" if nodes else f"{title(graph)}\n{_empty_note(graph)}"
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
    sweeps: outwards from the activating tokens, then back. "+N more" boxes stay last in their column."""
    columns: list[list[str]] = [[] for _ in range(max((node.depth for node in nodes), default=-1) + 1)]
    last: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        (last[node.depth] if node.more else columns[node.depth]).append(node.id)
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
    return [column + last[depth] for depth, column in enumerate(columns)]


@dataclass
class _Box:
    x: float  # centre, inches
    y: float
    width: float


def _value_text(node: DrawNode) -> str | None:
    """The number drawn in an activating token's box: its max activation as a fraction of a_max."""
    return f"{node.activation:.2f}" if node.depth == 0 and not node.more else None


def _box_width(node: DrawNode) -> float:
    value = _value_text(node)
    width = CHAR_W * len(node.label) + 0.2
    if value is not None:
        width += SMALL_W * (len(value) + 1)
    if node.swept:
        width += 0.14
    return max(0.45, width)


def _place(nodes: list[DrawNode], columns: list[list[str]]) -> tuple[dict[str, _Box], float, float]:
    """Box centres in inches (depth 0 rightmost, y downwards from the graph's top) and its width and height."""
    by_id = {node.id: node for node in nodes}
    widths = [max((_box_width(by_id[node_id]) for node_id in column), default=0.45) for column in columns]
    rows = max((len(column) for column in columns), default=1)
    height = rows * ROW_H
    boxes: dict[str, _Box] = {}
    left = 0.0
    for depth in range(len(columns) - 1, -1, -1):
        x = left + widths[depth] / 2
        for node_id, row in _centred(columns[depth]).items():
            boxes[node_id] = _Box(x=x, y=height / 2 + row * ROW_H, width=_box_width(by_id[node_id]))
        left += widths[depth] + COL_GAP
    return boxes, max(left - COL_GAP, 0.0), height


# --- the scene: what both the SVG and the PNG draw --------------------------------------------------------------

Point = tuple[float, float]


@dataclass(frozen=True)
class Rect:
    x: float  # top left, inches, y downwards
    y: float
    w: float
    h: float
    fill: str
    stroke: str = INK
    width: float = 0.8  # points
    dashed: bool = False
    radius: float = 0.06


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the text's vertical middle
    text: str
    size: float = FONT_PT
    colour: str = INK
    anchor: str = "middle"  # start | middle | end
    bold: bool = False
    italic: bool = False


@dataclass(frozen=True)
class Curve:
    points: tuple[Point, Point, Point, Point]  # a cubic Bézier: start, two controls, end
    colour: str = EDGE_COLOUR
    width: float = 0.8


@dataclass(frozen=True)
class Polygon:
    points: tuple[Point, ...]
    fill: str
    stroke: str | None = None


Part = Rect | Text | Curve | Polygon


@dataclass
class Group:
    """Parts that belong together (one box), with an id and a tooltip in SVG."""

    parts: list[Part]
    id: str | None = None
    tooltip: str | None = None
    kind: str | None = None  # SVG class


@dataclass
class Scene:
    width: float
    height: float
    groups: list[Group] = field(default_factory=list)

    def add(self, *parts: Part, id: str | None = None, tooltip: str | None = None, kind: str | None = None) -> None:
        self.groups.append(Group(list(parts), id, tooltip, kind))


def _diamond(x: float, y: float, size: float = 0.05) -> Polygon:
    return Polygon(((x, y - size), (x + size, y), (x, y + size), (x - size, y)), SWEPT_COLOUR, "#ffffff")


def _node_parts(node: DrawNode, box: _Box) -> list[Part]:
    left = box.x - box.width / 2
    parts: list[Part] = [Rect(left, box.y - BOX_H / 2, box.width, BOX_H, node.fill,
                              stroke="#999999" if node.more else INK, width=2.4 if node.bold else 0.8,
                              dashed=bool(node.more))]
    value = _value_text(node)
    if value is None:
        parts.append(Text(box.x, box.y, node.label, FONT_PT if not node.more else SMALL_PT, node.font_colour,
                          italic=bool(node.more)))
        return parts
    text_left = left + 0.1 + (0.14 if node.swept else 0.0)
    parts.append(Text(text_left, box.y, node.label, FONT_PT, node.font_colour, anchor="start"))
    parts.append(Text(left + box.width - 0.1, box.y, value, SMALL_PT, node.font_colour, anchor="end", bold=True))
    if node.swept:
        parts.append(_diamond(left + 0.12, box.y))
    return parts


def _edge_parts(edge: DrawEdge, boxes: dict[str, _Box], heaviest: int) -> list[Part]:
    source, target = boxes[edge.source], boxes[edge.target]
    start = (source.x + source.width / 2, source.y)
    tip = (target.x - target.width / 2, target.y)
    end = (tip[0] - ARROW, tip[1])
    bend = (end[0] - start[0]) / 2
    curve = Curve((start, (start[0] + bend, start[1]), (end[0] - bend, end[1]), end),
                  width=0.6 + 1.4 * edge.count / heaviest)
    head = Polygon((tip, (end[0], end[1] - ARROW / 2), (end[0], end[1] + ARROW / 2)), EDGE_COLOUR)
    return [curve, head]


LEGEND = {  # key -> text; the swatch is drawn by _legend_swatch
    "activating": "fires here; number: max activation / a_max",
    "context": "context before it; darker: more important",
    "end": "bold border: a pattern ends here",
    "edge": "comes before; thicker: in more patterns",
    "swept": "found by the pivot sweep (not top windows)",
    "more": "collapsed boxes (hover for the tokens)",
}


def _legend_swatch(key: str, x: float, y: float) -> list[Part]:
    """A small example of what `key` means, SWATCH_W wide, centred on y."""
    top, h = y - 0.1, 0.2
    if key == "activating":
        fill = _shade(RED, 0.8)
        return [Rect(x, top, SWATCH_W, h, fill), Text(x + SWATCH_W / 2, y, "0.80", SMALL_PT - 1, _font_colour(fill),
                                                      bold=True)]
    if key == "context":
        return [Rect(x, top, SWATCH_W / 2 - 0.02, h, _shade(BLUE, 0.2)),
                Rect(x + SWATCH_W / 2 + 0.02, top, SWATCH_W / 2 - 0.02, h, _shade(BLUE, 0.9))]
    if key == "end":
        return [Rect(x, top, SWATCH_W, h, "#ffffff", width=2.4)]
    if key == "edge":
        tip, end = (x + SWATCH_W, y), (x + SWATCH_W - ARROW, y)
        return [Curve(((x, y), (x + 0.1, y), (end[0] - 0.1, y), end), width=1.4),
                Polygon((tip, (end[0], y - ARROW / 2), (end[0], y + ARROW / 2)), EDGE_COLOUR)]
    if key == "swept":
        return [Rect(x, top, SWATCH_W, h, _shade(RED, 0.6)), _diamond(x + 0.12, y)]
    return [Rect(x, top, SWATCH_W, h, MORE_FILL, stroke="#999999", dashed=True),
            Text(x + SWATCH_W / 2, y, "+N", SMALL_PT - 1, MORE_TEXT, italic=True)]


def _legend_keys(drawing: Drawing) -> list[str]:
    keys = ["activating", "context", "end", "edge"]
    keys += ["swept"] if drawing.swept else []
    keys += ["more"] if drawing.collapsed else []
    return keys


def _legend_grid(keys: list[str], width: float) -> tuple[int, float]:
    """Legend items in a grid of equal cells as wide as the widest item: (columns, cell width) for `width` inches."""
    cell = max((SWATCH_W + 0.1 + SMALL_W * len(LEGEND[key]) + 0.3 for key in keys), default=0.0)
    return max(1, min(len(keys), int((width + 0.3) // cell) if cell else 1)), cell


def scene(graph: NeuronGraph) -> Scene:
    """Everything to draw, in inches: title, caption, boxes, edges, legend; the aspect ratio bounded."""
    drawing = readable(graph)
    heading, note = _printable(title(graph)), caption(drawing) if drawing.nodes else _printable(_empty_note(graph))
    columns = order_columns(drawing.nodes, drawing.edges)
    boxes, graph_w, graph_h = _place(drawing.nodes, columns) if drawing.nodes else ({}, 0.0, ROW_H)
    keys = _legend_keys(drawing) if drawing.nodes else []
    text_w = max(CHAR_W * 1.25 * len(heading), SMALL_W * len(note))
    width = max(graph_w, text_w, MIN_WIDTH if keys else 3.0) + 2 * MARGIN
    per_row, cell = _legend_grid(keys, width - 2 * MARGIN)
    rows = [keys[i:i + per_row] for i in range(0, len(keys), per_row)]
    legend_h = LEGEND_ROW_H * len(rows) + 0.15 if keys else 0.0
    height = MARGIN + TITLE_H + CAPTION_H + 0.15 + graph_h + legend_h + MARGIN
    # The aspect ratio: pad the short side (the drawing centred in it) rather than squash what is drawn.
    if width / height > MAX_ASPECT:
        height = width / MAX_ASPECT
    elif width / height < MIN_ASPECT:
        width = height * MIN_ASPECT
    picture = Scene(width, height)
    picture.add(Text(width / 2, MARGIN + TITLE_H / 2, heading, FONT_PT + 2, bold=True), kind="title")
    picture.add(Text(width / 2, MARGIN + TITLE_H + CAPTION_H / 2, note, SMALL_PT, "#555555",
                     italic=not drawing.nodes), kind="caption")
    free = height - (MARGIN + TITLE_H + CAPTION_H + 0.15) - legend_h - MARGIN
    dx, dy = (width - graph_w) / 2, MARGIN + TITLE_H + CAPTION_H + 0.15 + (free - graph_h) / 2
    boxes = {key: _Box(box.x + dx, box.y + dy, box.width) for key, box in boxes.items()}
    heaviest = max((edge.count for edge in drawing.edges), default=1)
    for edge in drawing.edges:
        picture.add(*_edge_parts(edge, boxes, heaviest), kind="edge")
    for node in drawing.nodes:
        kind = "more" if node.more else "activating" if node.depth == 0 else "context"
        picture.add(*_node_parts(node, boxes[node.id]), id=node.id, tooltip=node.tooltip, kind=f"node {kind}")
    y = height - MARGIN - legend_h + 0.15 + LEGEND_ROW_H / 2
    for row in rows:
        for column, key in enumerate(row):
            x = (width - per_row * cell + 0.3) / 2 + column * cell
            picture.add(*_legend_swatch(key, x, y), Text(x + SWATCH_W + 0.1, y, LEGEND[key], SMALL_PT, "#333333",
                                                         anchor="start"), kind="legend")
        y += LEGEND_ROW_H
    return picture


# --- SVG, written directly -------------------------------------------------------------------------------------


def _px(value: float) -> str:
    return f"{value * SVG_PX:.2f}".rstrip("0").rstrip(".")


def _points(points: tuple[Point, ...]) -> str:
    return " ".join(f"{_px(x)},{_px(y)}" for x, y in points)


def _svg_part(part: Part) -> str:
    esc = html.escape
    if isinstance(part, Rect):
        dash = ' stroke-dasharray="4 3"' if part.dashed else ""
        return (f'<rect x="{_px(part.x)}" y="{_px(part.y)}" width="{_px(part.w)}" height="{_px(part.h)}" '
                f'rx="{_px(part.radius)}" fill="{part.fill}" stroke="{part.stroke}" '
                f'stroke-width="{part.width * 4 / 3:.2f}"{dash}/>')
    if isinstance(part, Text):
        style = (' font-weight="bold"' if part.bold else "") + (' font-style="italic"' if part.italic else "")
        return (f'<text x="{_px(part.x)}" y="{_px(part.y)}" font-size="{part.size * 4 / 3:.2f}" fill="{part.colour}" '
                f'text-anchor="{part.anchor}" dominant-baseline="central"{style} xml:space="preserve">'
                f"{esc(part.text, quote=False)}</text>")
    if isinstance(part, Curve):
        (x0, y0), c1, c2, end = part.points
        return (f'<path d="M{_px(x0)},{_px(y0)} C{_points((c1, c2, end))}" fill="none" stroke="{part.colour}" '
                f'stroke-width="{part.width * 4 / 3:.2f}"/>')
    stroke = f' stroke="{part.stroke}" stroke-width="1"' if part.stroke else ""
    return f'<polygon points="{_points(part.points)}" fill="{part.fill}"{stroke}/>'


def to_svg(graph: NeuronGraph) -> str:
    """The picture as SVG text: labels as text, each box a group with its id and a tooltip (`<title>`)."""
    picture = scene(graph)
    width, height = _px(picture.width), _px(picture.height)
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="{html.escape(SVG_FONTS)}">',
             f"<title>{html.escape(_printable(title(graph)), quote=False)}</title>",
             '<rect width="100%" height="100%" fill="#ffffff"/>']
    for group in picture.groups:
        attrs = (f' id="{group.id}"' if group.id else "") + (f' class="{group.kind}"' if group.kind else "")
        tip = f"<title>{html.escape(group.tooltip, quote=False)}</title>" if group.tooltip else ""
        lines.append(f"<g{attrs}>{tip}{''.join(_svg_part(part) for part in group.parts)}</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


# --- PNG, through matplotlib ------------------------------------------------------------------------------------


def _matplotlib() -> Any:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise N2GError("drawing SVG or PNG needs matplotlib: pip install matplotlib") from err
    from matplotlib.figure import Figure

    return Figure


def _draw_part(ax: Any, part: Part, zorder: int) -> None:
    from matplotlib.patches import FancyBboxPatch, PathPatch
    from matplotlib.patches import Polygon as PolygonPatch
    from matplotlib.path import Path as MplPath

    if isinstance(part, Rect):
        ax.add_patch(FancyBboxPatch((part.x, part.y), part.w, part.h,
                                    boxstyle=f"round,pad=0,rounding_size={part.radius}", facecolor=part.fill,
                                    edgecolor=part.stroke, linewidth=part.width,
                                    linestyle=(0, (4, 3)) if part.dashed else "-", zorder=zorder))
    elif isinstance(part, Text):
        ax.text(part.x, part.y, part.text, ha={"start": "left", "end": "right"}.get(part.anchor, "center"),
                va="center", fontsize=part.size, color=part.colour, family=FONT,
                fontweight="bold" if part.bold else "normal", fontstyle="italic" if part.italic else "normal",
                parse_math=False, zorder=zorder)
    elif isinstance(part, Curve):
        codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4]
        ax.add_patch(PathPatch(MplPath(part.points, codes), fill=False, edgecolor=part.colour,
                               linewidth=part.width, zorder=zorder))
    else:
        ax.add_patch(PolygonPatch(part.points, closed=True, facecolor=part.fill, edgecolor=part.stroke or "none",
                                  linewidth=0.7 if part.stroke else 0, zorder=zorder))


def to_png(graph: NeuronGraph) -> bytes:
    """The same scene as the SVG, drawn by matplotlib's Agg (150 dpi, less for a huge picture)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure_class = _matplotlib()
    picture = scene(graph)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        fig = figure_class(figsize=(picture.width, picture.height))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, picture.width)
        ax.set_ylim(picture.height, 0)
        ax.set_axis_off()
        zorder = 1
        for group in picture.groups:
            for part in group.parts:
                _draw_part(ax, part, zorder)
                zorder += 1
        dpi = min(float(PNG_DPI), MAX_PIXELS / max(picture.width, picture.height))
        with matplotlib.rc_context({"font.family": "monospace"}):
            fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


# --- entry points ----------------------------------------------------------------------------------------------


def render(graph: NeuronGraph, fmt: str) -> bytes:
    """The graph in one of FORMATS: "svg", "png", "dot" (Graphviz text) or "json" (the graph itself)."""
    if fmt == "json":
        return graph.to_json().encode()
    if fmt == "dot":
        return to_dot(graph).encode()
    if fmt == "svg":
        return to_svg(graph).encode()
    if fmt == "png":
        return to_png(graph)
    raise N2GError(f"unknown graph format {fmt!r}: choose one of {', '.join(FORMATS)}")


def write(graph: NeuronGraph, fmt: str, path: str | Path) -> Path:
    """Render the graph and write it to `path` (parent folders created); returns the path."""
    data = render(graph, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
