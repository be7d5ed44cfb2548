"""Pattern ends checked against the training windows (`n2g.fit.pattern_check`)."""

from __future__ import annotations

import numpy as np
import pytest

from n2g.fit.pattern_check import calibrate_ends, matching_nodes, tally
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep
from n2g.graphs.prediction import GraphMatcher


def tok(key: str) -> PatternStep:
    return PatternStep(TOKEN, key, key, 0.9)


def graph() -> NeuronGraph:
    return NeuronGraph(model="m", layer=0, neuron=0, a_max=1.0, token_matching="exact")


def test_matching_nodes_follow_gaps() -> None:
    g = graph()
    g.insert("x", "x", 1.0, 1.0, [PatternStep(GAP), tok("a")])  # a * x
    root = g.roots[0]
    gap, a = root.children[0], root.children[0].children[0]
    assert matching_nodes(root, ["a", "b", "b", "x"], 3) == {id(root), id(gap), id(a)}
    assert matching_nodes(root, ["a", "x"], 1) == {id(root)}  # a gap needs at least one token


def test_context_not_needed_in_training_text_becomes_optional() -> None:
    g = graph()
    g.insert("x", "x", 0.9, 1.0, [tok("a")])  # saliency said: x needs a before it
    keys = [["a", "x", "b", "x", "c", "x"]]
    acts = [np.array([0, 0.9, 0, 0.7, 0, 0.8])]  # but x fires after anything
    assert GraphMatcher(g).predict(["b", "x"]).tolist() == [0.0, 0.0]
    assert calibrate_ends(g, keys, acts, end_precision=0.5, drop_precision=0.2) == (1, 0)
    assert GraphMatcher(g).predict(["b", "x"]).tolist() == pytest.approx([0.0, 0.8])  # mean firing value
    assert GraphMatcher(g).predict(["a", "x"]).tolist() == pytest.approx([0.0, 0.9])  # the pattern still wins


def test_imprecise_root_stays_unended_and_misfiring_end_is_dropped() -> None:
    g = graph()
    g.insert("x", "x", 0.9, 1.0, [tok("a")])
    g.insert("y", "y", 0.9, 1.0, [])
    keys = [["a", "x", "b", "x", "c", "x", "y", "y", "y", "y", "y", "y"]]
    acts = [np.array([0, 0.9, 0, 0.1, 0, 0.1, 0.9, 0, 0, 0, 0, 0])]
    tallies = tally(g, keys, acts)
    assert (tallies[id(g.roots[0])].matches, tallies[id(g.roots[0])].fires) == (3, 1)
    assert calibrate_ends(g, keys, acts, end_precision=0.5, drop_precision=0.2) == (0, 1)
    assert not g.roots[0].is_end and g.roots[0].children[0].is_end  # x: 1 of 3 < 0.5, `a x` kept
    assert not g.roots[1].is_end  # y fired at 1 of 6 < 0.2: dropped
    assert GraphMatcher(g).predict(["y"]).tolist() == [0.0]
