"""Drawing neuron graphs: the simplified DAG, DOT text, SVG and PNG, on small hand-built graphs (no model)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from n2g.errors import N2GError
from n2g.graphs import rendering
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep
from tests.factories import uniform_scores

try:
    import matplotlib  # noqa: F401
except ImportError:
    matplotlib = None
needs_matplotlib = pytest.mark.skipif(matplotlib is None, reason="matplotlib not installed")

HOSTILE = 'say "hi" \\n {a|b} <c> \\'


def tok(text: str, importance: float = 0.9) -> PatternStep:
    return PatternStep(TOKEN, key=text.strip().lower() or text, token=text, importance=importance)


def gap() -> PatternStep:
    return PatternStep(GAP)


def make_graph(**kwargs) -> NeuronGraph:
    defaults = dict(model="gpt2", layer=3, neuron=17, a_max=5.0, token_matching="normalised")
    return NeuronGraph(**{**defaults, **kwargs})


@pytest.fixture
def graph() -> NeuronGraph:
    """ cat <- the <- newline;  cat <- gap <- the (merged with the first 'the');  dog <- the;  tab alone."""
    graph = make_graph(scores=uniform_scores(0.8123))
    graph.insert("cat", " cat", 1.0, 1.0, [tok(" the"), tok("\n")])
    graph.insert("cat", " cat", 0.7, 1.0, [gap(), tok(" the", 0.3)])
    graph.insert("dog", " dog", 0.2, 1.0, [tok(" the", 0.6)])
    graph.insert("\t", "\t", 0.5, 1.0, [])
    return graph


def by_label(nodes: list[rendering.DrawNode]) -> dict[str, rendering.DrawNode]:
    return {node.label: node for node in nodes}


def rgb(fill: str) -> tuple[int, int, int]:
    return int(fill[1:3], 16), int(fill[3:5], 16), int(fill[5:7], 16)


def test_gaps_dropped_and_nodes_merged_by_depth_and_key(graph: NeuronGraph) -> None:
    nodes, edges = rendering.simplified(graph)
    assert sorted((node.depth, node.key) for node in nodes) == [(0, "\t"), (0, "cat"), (0, "dog"), (1, "the"),
                                                                 (2, "\n")]
    ids = {node.id for node in nodes}
    assert len(ids) == len(nodes)
    the = by_label(nodes)["␣the"]
    assert the.count == 3 and the.importance == pytest.approx((0.9 + 0.3 + 0.6) / 3)
    pairs = {(edge.source, edge.target): edge.count for edge in edges}
    labels = {node.id: node.label for node in nodes}
    assert {(labels[s], labels[t]): c for (s, t), c in pairs.items()} == {
        ("␣the", "␣cat"): 2, ("⏎", "␣the"): 1, ("␣the", "␣dog"): 1}


def test_same_key_at_different_depths_stays_separate() -> None:
    graph = make_graph()
    graph.insert("x", "x", 1.0, 1.0, [tok("y"), tok("x")])
    nodes, edges = rendering.simplified(graph)
    assert sorted((node.depth, node.key) for node in nodes) == [(0, "x"), (1, "y"), (2, "x")]
    assert len(edges) == 2


def test_gap_depth_counts_tokens_only() -> None:
    graph = make_graph()
    graph.insert("x", "x", 1.0, 1.0, [gap(), gap(), tok("y")])
    nodes, edges = rendering.simplified(graph)
    assert {node.key: node.depth for node in nodes} == {"x": 0, "y": 1}
    assert [(edge.source, edge.target) for edge in edges] == [("n1_0", "n0_0")]


def test_activating_red_by_activation_context_blue(graph: NeuronGraph) -> None:
    nodes = by_label(rendering.simplified(graph)[0])
    for label in ("␣cat", "␣dog", "⇥"):
        r, g, b = rgb(nodes[label].fill)
        assert r > g and r > b, label
    for label in ("␣the", "⏎"):
        r, g, b = rgb(nodes[label].fill)
        assert b > r and b > g, label
    assert sum(rgb(nodes["␣cat"].fill)) < sum(rgb(nodes["␣dog"].fill))  # stronger activation, deeper red
    assert sum(rgb(nodes["⏎"].fill)) < sum(rgb(nodes["␣the"].fill))  # more important, deeper blue


def test_end_nodes_bold(graph: NeuronGraph) -> None:
    nodes = by_label(rendering.simplified(graph)[0])
    assert {label for label, node in nodes.items() if node.bold} == {"⏎", "␣the", "⇥"}
    dot = rendering.to_dot(graph)
    assert re.search(rf'^  {nodes["⏎"].id} \[[^\]]*penwidth=3', dot, re.M)
    assert not re.search(rf'^  {nodes["␣cat"].id} \[[^\]]*penwidth', dot, re.M)


def test_whitespace_made_visible() -> None:
    assert rendering.visible_text(" the") == "␣the"
    assert rendering.visible_text("\n\t") == "⏎⇥"
    assert rendering.visible_text("") == "∅"
    assert rendering.visible_text("\x00") == "␀"
    assert len(rendering.visible_text("x" * 200)) == rendering.MAX_LABEL


def test_label_falls_back_to_key() -> None:
    graph = make_graph()
    graph.insert("k", None, 1.0, 1.0, [PatternStep(TOKEN, key=" ctx", token=None)])
    assert {node.label for node in rendering.simplified(graph)[0]} == {"k", "␣ctx"}


def test_title_has_f1_only_when_numeric(graph: NeuronGraph) -> None:
    assert rendering.title(graph) == "gpt2 layer 3 neuron 17 (F1 0.81)"
    assert rendering.title(make_graph()) == "gpt2 layer 3 neuron 17"
    assert rendering.title(make_graph(scores=uniform_scores(None))) == "gpt2 layer 3 neuron 17"
    assert rendering.title(make_graph(scores=uniform_scores(float("nan")))) == "gpt2 layer 3 neuron 17"


def dot_strings(dot: str) -> list[str]:
    """Every double-quoted string in DOT text, honouring backslash escapes; fails on an unterminated one."""
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', dot)
    leftover = re.sub(r'"(?:[^"\\]|\\.)*"', "", dot)
    assert '"' not in leftover, "unbalanced quote in DOT"
    return strings


def hostile_graph() -> NeuronGraph:
    graph = make_graph(model='m"odel\\')
    graph.insert(HOSTILE, HOSTILE, 1.0, 1.0, [tok("{"), tok("}|<>")])
    return graph


def test_dot_is_left_to_right_and_escapes_labels() -> None:
    dot = rendering.to_dot(hostile_graph())
    assert "rankdir=LR" in dot
    strings = dot_strings(dot)
    expected = rendering.visible_text(HOSTILE).replace("\\", "\\\\").replace('"', '\\"')
    assert expected in strings
    assert any(text.startswith('m\\"odel\\\\ layer 3 neuron 17\\n') for text in strings)  # title, then caption
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot)
    assert unquoted.count("{") == unquoted.count("}")
    assert not re.search(r"[<>|]", unquoted.replace("->", ""))
    assert re.search(r"n1_0 -> n0_0", dot)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_dot_parses_with_graphviz() -> None:
    result = subprocess.run(["dot", "-Tsvg"], input=rendering.to_dot(hostile_graph()), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "odel" in result.stdout


def test_layout_orders_columns_to_avoid_crossings() -> None:
    graph = make_graph()
    graph.insert("a", "a", 1.0, 1.0, [tok("p")])
    graph.insert("b", "b", 1.0, 1.0, [tok("q")])
    graph.insert("c", "c", 1.0, 1.0, [tok("r")])
    nodes, edges = rendering.simplified(graph)
    labels = {node.id: node.label for node in nodes}
    # Shuffle the context column: barycentre ordering must put each context beside its activating token.
    columns = rendering.order_columns(nodes[::-1], edges)
    assert [[labels[i] for i in column] for column in columns] == [["c", "b", "a"], ["r", "q", "p"]]


@needs_matplotlib
def test_svg_keeps_labels_as_text(graph: NeuronGraph) -> None:
    svg = rendering.render(hostile_graph(), "svg").decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert "␣{a|b}␣&lt;c&gt;" in svg and "}|&lt;&gt;" in svg
    svg = rendering.render(graph, "svg").decode()
    for text in ("␣cat", "␣the", "⏎", "⇥", "gpt2 layer 3 neuron 17 (F1 0.81)"):
        assert text in svg
    assert svg == rendering.render(graph, "svg").decode()  # no dates or random ids


@needs_matplotlib
def test_png(graph: NeuronGraph) -> None:
    assert rendering.render(graph, "png").startswith(b"\x89PNG")


@needs_matplotlib
def test_empty_graph_renders() -> None:
    graph = make_graph(status="dead", reason="never fired")
    assert rendering.simplified(graph) == ([], [])
    assert rendering.render(graph, "png").startswith(b"\x89PNG")
    svg = rendering.render(graph, "svg").decode()
    assert "gpt2 layer 3 neuron 17" in svg and "never fired" in svg
    dot = rendering.to_dot(graph)
    assert "rankdir=LR" in dot and "never fired" in dot


@needs_matplotlib
def test_json_dot_formats_and_write(graph: NeuronGraph, tmp_path) -> None:
    assert rendering.render(graph, "json").decode() == graph.to_json()
    assert rendering.render(graph, "dot").decode() == rendering.to_dot(graph)
    path = rendering.write(graph, "png", tmp_path / "sub" / "g.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(N2GError, match="unknown graph format"):
        rendering.render(graph, "pdf")


# --- a picture a person can read ---------------------------------------------------------------------------------

WORDS = [f" w{i}" for i in range(60)]


def big_graph(roots: int = 60, swept_from: int = 12, depth: int = 3) -> NeuronGraph:
    """A graph like a fitted one with the pivot sweep on: a dozen roots from top windows, the rest swept, all
    sharing a few context tokens (the fan of edges a real 60-node graph had)."""
    graph = make_graph(scores=uniform_scores(0.61))
    context = [" from", " os", "\n", " import", " the", "."]
    for i, word in enumerate(WORDS[:roots]):
        steps = [tok(context[(i + d) % len(context)]) for d in range(i % (depth + 1))]
        graph.insert(word.strip(), word, 0.5 + (i % 7) / 14, 1.0, steps)
        if i >= swept_from:
            graph.find_root(word.strip()).swept = True
    return graph


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def svg_size(svg: str) -> tuple[float, float]:
    match = re.search(r'<svg [^>]*width="([\d.]+)" height="([\d.]+)"', svg)
    assert match
    return float(match[1]), float(match[2])


def node_group(svg: str, node_id: str) -> str:
    match = re.search(rf'<g id="{node_id}"[^>]*>.*?</g>', svg)
    assert match, node_id
    return match[0]


def test_svg_is_well_formed_xml_with_a_legend(graph: NeuronGraph) -> None:
    import xml.etree.ElementTree as ElementTree

    for drawn in (graph, hostile_graph(), big_graph(), make_graph(status="dead", reason='<never> & "fired"')):
        svg = rendering.render(drawn, "svg").decode()
        ElementTree.fromstring(svg.split("?>", 1)[1])  # parses: every label and tooltip escaped
    svg = rendering.render(graph, "svg").decode()
    for text in rendering.LEGEND.values():
        if text not in (rendering.LEGEND["swept"], rendering.LEGEND["more"]):
            assert text in svg, text
    assert rendering.LEGEND["swept"] not in svg and rendering.LEGEND["more"] not in svg  # only when present
    assert "3 activating tokens, 2 context tokens" in svg  # the caption counts what the graph has


def test_activating_tokens_show_their_activation(graph: NeuronGraph) -> None:
    nodes = by_label(rendering.simplified(graph)[0])
    svg = rendering.render(graph, "svg").decode()
    assert ">1.00</text>" in node_group(svg, nodes["␣cat"].id)  # max activation of ␣cat, as a fraction of a_max
    assert ">0.20</text>" in node_group(svg, nodes["␣dog"].id)
    assert not re.search(r">\d\.\d\d</text>", node_group(svg, nodes["␣the"].id))  # context: shade only
    assert "<title>' the': context 1 token before, importance 0.60" in node_group(svg, nodes["␣the"].id)


def test_swept_roots_are_marked_and_survive_json() -> None:
    graph = big_graph(roots=4, swept_from=2)
    nodes = rendering.simplified(graph)[0]
    assert [node.swept for node in nodes if node.depth == 0] == [False, False, True, True]
    svg = rendering.render(graph, "svg").decode()
    swept = next(node for node in nodes if node.swept)
    assert rendering.SWEPT_COLOUR in node_group(svg, swept.id) and "found by the pivot sweep" in svg
    assert rendering.SWEPT_COLOUR not in node_group(svg, nodes[0].id)
    assert "2 found by the pivot sweep" in rendering.caption(rendering.readable(graph))
    again = NeuronGraph.from_json(graph.to_json())
    assert [root.swept for root in again.roots] == [False, False, True, True]
    assert graph.to_json().count('"swept":true') == 2  # written only where true: unmarked graphs' JSON is unchanged
    assert '"swept"' not in make_graph(roots=[]).to_json()


def test_an_older_graph_without_markers_says_what_the_sweep_added() -> None:
    from dataclasses import replace

    graph = big_graph(roots=5, swept_from=99)
    graph.stats = replace(graph.stats, swept=3)
    drawing = rendering.readable(graph)
    assert drawing.swept == 0 and drawing.unmarked_swept == 3
    assert "the pivot sweep added 3 (unmarked" in rendering.caption(drawing)


def test_a_large_graph_is_collapsed_to_what_can_be_read() -> None:
    graph = big_graph()
    full, _ = rendering.simplified(graph)
    assert len(full) > 60
    drawing = rendering.readable(graph)
    columns: dict[int, list[rendering.DrawNode]] = {}
    for node in drawing.nodes:
        columns.setdefault(node.depth, []).append(node)
    assert all(len(column) <= rendering.MAX_ROWS for column in columns.values())
    roots = columns[0]
    assert sum(node.swept for node in roots) <= rendering.MAX_SWEPT
    more = [node for node in roots if node.more]
    assert len(more) == 1 and roots[-1] is more[0]  # one "+N more" box, last in its column
    shown = [node for node in roots if not node.more]
    assert more[0].more == 60 - len(shown) and more[0].label.startswith(f"+{more[0].more} more (")
    assert all(not node.swept for node in shown[:12])  # the top windows' tokens come before the sweep's
    assert drawing.activating == 60 and drawing.swept == 48
    ids = {node.id for node in drawing.nodes}
    assert all(edge.source in ids and edge.target in ids for edge in drawing.edges)
    svg = rendering.render(graph, "svg").decode()
    assert "+N" in svg and rendering.LEGEND["more"] in svg and "not drawn:" in svg  # the box's tooltip lists them


def test_the_picture_stays_within_a_readable_size_and_shape() -> None:
    deep = make_graph()
    deep.insert("x", "x", 1.0, 1.0, [tok(f" c{i}") for i in range(20)])  # one long pattern: very wide
    tall = make_graph()
    for word in WORDS:
        tall.insert(word.strip(), word, 0.9, 1.0, [])  # sixty roots, no context: very tall
    for drawn in (big_graph(), deep, tall, make_graph(status="dead")):
        width, height = svg_size(rendering.render(drawn, "svg").decode())
        assert rendering.MIN_ASPECT - 1e-6 <= width / height <= rendering.MAX_ASPECT + 1e-6, (width, height)
        pixels = png_size(rendering.render(drawn, "png"))
        assert max(pixels) <= 2200, pixels  # the 60-node graph drew as a 645 x 3993 px column before
        assert abs(pixels[0] / pixels[1] - width / height) < 0.02
    columns = {node.depth for node in rendering.readable(deep).nodes}
    assert max(columns) == rendering.MAX_DEPTH + 1  # the context beyond, as one "+N earlier" box
    assert "+14 earlier" in rendering.render(deep, "svg").decode()
