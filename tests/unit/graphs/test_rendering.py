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
    assert 'm\\"odel\\\\ layer 3 neuron 17' in strings
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
