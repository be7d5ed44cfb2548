"""The paper's rules kept for comparison: first-insertion node values, longest-match prediction, the window split."""

from __future__ import annotations

import pytest

from n2g.errors import N2GError
from n2g.fit.fitter import FitConfig, random_window_split, split_windows
from n2g.graphs.neuron_graph import TOKEN, NeuronGraph, PatternStep
from n2g.graphs.prediction import GraphMatcher


def tok(key: str, importance: float = 0.9) -> PatternStep:
    return PatternStep(TOKEN, key, key, importance)


def graph(**rules: str) -> NeuronGraph:
    return NeuronGraph(model="m", layer=0, neuron=0, a_max=1.0, token_matching="exact", **rules)


@pytest.mark.parametrize("node_values, end, importance", [("aggregate", 0.9, 0.5), ("first", 0.6, 0.8)])
def test_node_values(node_values: str, end: float, importance: float) -> None:
    g = graph(node_values=node_values)
    g.insert("x", "x", 0.6, 1.0, [tok("a", 0.8)])
    g.insert("x", "x", 0.9, 1.0, [tok("a", 0.2)])
    node = g.roots[0].children[0]
    assert node.end_activation == pytest.approx(end)
    assert node.max_activation == pytest.approx(end)
    assert node.importance == pytest.approx(importance)
    assert node.count == 2 and node.end_count == 2


@pytest.mark.parametrize("rule, expected", [("best", 0.9), ("longest", 0.6)])
def test_prediction_rule(rule: str, expected: float) -> None:
    g = graph(prediction=rule)
    g.insert("x", "x", 0.6, 1.0, [tok("a"), tok("b")])  # b a x
    g.insert("x", "x", 0.9, 1.0, [])  # x alone
    assert GraphMatcher(g).predict(["b", "a", "x"]).tolist() == pytest.approx([0.0, 0.0, expected])
    assert GraphMatcher(g).predict(["c", "x"]).tolist() == pytest.approx([0.0, 0.9])  # only the short match


def test_rules_round_trip_and_unknown_rules_refused() -> None:
    g = graph(node_values="first", prediction="longest")
    g.insert("x", "x", 0.7, 1.0, [])
    back = NeuronGraph.from_json(g.to_json())
    assert (back.node_values, back.prediction) == ("first", "longest")
    with pytest.raises(N2GError, match="unknown graph rules"):
        graph(prediction="shortest")
    with pytest.raises(N2GError, match="unknown split"):
        FitConfig(split="file")


def test_window_split_mixes_documents_and_may_hold_out_the_strongest() -> None:
    documents = ["a"] * 10 + ["b"] * 10
    firsts, shared = set(), 0
    for seed in range(20):
        train, test, kind = random_window_split(20, 0.5, seed)
        assert kind == "window" and len(train) == len(test) == 10 and sorted(train + test) == list(range(20))
        shared += bool({documents[i] for i in train} & {documents[i] for i in test})
        firsts.add(0 in train)
    assert firsts == {True, False} and shared == 20  # the paper's split puts a document on both sides
    train, test, kind = split_windows(documents, 0.5, 0)
    assert kind == "document" and {documents[i] for i in train}.isdisjoint({documents[i] for i in test})


def test_paper_faithful_settings() -> None:
    paper = FitConfig().paper_faithful()
    assert (paper.split, paper.pivots_per_window, paper.node_values, paper.prediction, paper.end_precision) == \
        ("window", 1, "first", "longest", None)
    assert FitConfig().end_precision is not None  # ours checks patterns against text; the paper did not
    assert (paper.activation_threshold, paper.importance_threshold, paper.train_fraction) == (0.5, 0.75, 0.5)
