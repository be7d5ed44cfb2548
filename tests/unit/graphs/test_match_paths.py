"""The matcher says which pattern decided (`GraphMatcher.explain`), a root's patterns rebuild a trie that predicts
the same (`TrieNode.patterns` / `from_patterns`, what text search matches from the store), and fitting records each
root's evidence and the activation sample in a graph JSON that stays readable in its old layout."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ingest.synthetic import Vocab, make_graph, make_vocabulary
from n2g.errors import N2GError
from n2g.fit.fitter import Windows, score_all
from n2g.graphs.activation_sample import correlation, decode, encode, sample_of
from n2g.graphs.neuron_graph import FORMAT_VERSION, GAP, NeuronGraph, RootEvidence, TrieNode
from n2g.graphs.prediction import GraphMatcher
from tests.factories import make_graph as planted_graph


def random_graphs(count: int, seed: int = 0) -> tuple[list[NeuronGraph], Vocab]:
    rng = random.Random(seed)
    vocab = Vocab(make_vocabulary(rng, 300))
    graphs = [g for g in (make_graph(rng, vocab, 0, i, 20) for i in range(count)) if g.roots]
    return graphs, vocab


def texts_for(graph: NeuronGraph, vocab: Vocab, rng: random.Random, count: int = 4) -> list[list[str]]:
    """Texts made to hit the graph: its roots and context tokens among common tokens."""
    pool = [*graph.activating_tokens(), *graph.context_tokens()]
    return [[rng.choice(pool) if rng.random() < 0.6 else vocab.draw(rng)[0] for _ in range(48)] for _ in range(count)]


@pytest.mark.parametrize("rule", ["best", "longest"])
def test_explain_agrees_with_predict_and_its_path_matches(rule: str) -> None:
    graphs, vocab = random_graphs(60)
    rng = random.Random(1)
    checked = 0
    for graph in graphs:
        graph.prediction = rule
        matcher = GraphMatcher(graph)
        for keys in texts_for(graph, vocab, rng):
            predicted = matcher.predict(keys)
            matches = {m.position: m for m in matcher.explain(keys)}
            assert set(matches) == set(np.flatnonzero(predicted > 0).tolist())
            for t, match in matches.items():
                checked += 1
                assert match.activation == pytest.approx(float(predicted[t]), abs=1e-6)
                assert match.root.key == keys[t]
                i, node = t - 1, match.root
                for step in match.steps:  # nearest first, each step a child of the one before, covering i downwards
                    assert any(child is step.node for child in node.children)
                    assert step.last == i and step.first <= step.last
                    if step.node.kind == GAP:
                        assert step.first <= i
                    else:
                        assert step.first == step.last and keys[step.first] == step.node.key
                    i, node = step.first - 1, step.node
                assert node.end_activation == pytest.approx(match.activation)
    assert checked > 100


@pytest.mark.parametrize("rule", ["best", "longest"])
def test_patterns_rebuild_a_trie_that_predicts_the_same(rule: str) -> None:
    graphs, vocab = random_graphs(60, seed=2)
    rng = random.Random(3)
    for graph in graphs:
        graph.prediction = rule
        rebuilt = [TrieNode.from_patterns(str(root.key), json.loads(json.dumps(root.patterns())))
                   for root in graph.roots]
        for keys in texts_for(graph, vocab, rng):
            assert np.array_equal(GraphMatcher(graph).predict(keys),
                                  GraphMatcher.for_roots(rebuilt, rule).predict(keys))


def test_patterns_are_strongest_first_with_gaps_as_none() -> None:
    graph = planted_graph(0, 0, [(" from", ["\n", None, " import"]), (" from", [])])
    (root,) = graph.roots
    patterns = root.patterns()
    assert patterns == [(1.0, ["\n", None, " import"]), (0.9, [])]
    assert TrieNode.from_patterns(" from", patterns).patterns() == patterns


def test_explain_on_a_gap_reports_the_tokens_it_covered() -> None:
    graph = planted_graph(0, 0, [(" c", [None, " a"])])
    (match,) = GraphMatcher(graph).explain([" a", " b", " b", " c"])
    assert (match.position, [(s.node.kind, s.first, s.last) for s in match.steps]) == \
        (3, [("gap", 1, 2), ("token", 0, 0)])
    assert match.context() == [(0, " a")]


def test_fitting_counts_each_roots_hits_and_predictions() -> None:
    graph = planted_graph(0, 0, [(" import", []), (" from", [" x"])])
    test = Windows([[" import", " from", " import"], [" x", " from"]],
                   [np.array([0.9, 0.8, 0.1]), np.array([0.0, 0.7])])
    random_windows = Windows([[" import", " a"]], [np.array([0.6, 0.0])])
    score_all(graph, Windows([], []), test, random_windows)
    evidence = {root.key: root.evidence for root in graph.roots}
    assert evidence[" import"] == RootEvidence(1, 2, 1, 1)  # fired at 0.9, not at 0.1; fired at random 0.6
    assert evidence[" from"] == RootEvidence(1, 1, 0, 0)  # " from" needs " x" before it: predicted once, fired
    assert evidence[" import"].precision == pytest.approx(2 / 3)


def test_graph_json_version_2_round_trips_and_version_1_stays_as_it_was() -> None:
    graph = planted_graph(0, 0, [(" import", [" from"])])
    old = graph.to_json()
    assert json.loads(old)["version"] == 1 and "activation_sample" not in old and "evidence" not in old
    graph.roots[0].evidence = RootEvidence(3, 4, 5, 9)
    graph.activation_sample = encode(np.array([0.0, 0.5, -1.0, 1.0]))
    text = graph.to_json()
    data = json.loads(text)
    assert data["version"] == FORMAT_VERSION == 2
    assert data["roots"][0]["evidence"] == {"test": [3, 4], "random": [5, 9]}
    again = NeuronGraph.from_json(text)
    assert again.roots[0].evidence == RootEvidence(3, 4, 5, 9) and again.to_json() == text
    assert NeuronGraph.from_json(old).to_json() == old


@pytest.mark.parametrize("change", [{"version": 3}, {"version": "2"}, {"version": None}])
def test_unknown_versions_are_refused_in_one_line(change: dict) -> None:
    data = {**json.loads(planted_graph(0, 0, [(" a", [])]).to_json()), **change}
    with pytest.raises(N2GError, match="not supported") as err:
        NeuronGraph.from_json(json.dumps(data))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("evidence", [{"test": [5, 4], "random": [0, 0]}, {"test": [1, 2]}, {"test": [1.5, 2],
                                                                                              "random": [0, 0]}])
def test_damaged_evidence_is_refused(evidence: dict) -> None:
    data = json.loads(planted_graph(0, 0, [(" a", [])]).to_json())
    data["version"] = 2
    data["roots"][0]["evidence"] = evidence
    with pytest.raises(N2GError, match="evidence"):
        NeuronGraph.from_json(json.dumps(data))


def test_activation_samples_quantise_and_correlate() -> None:
    rng = np.random.default_rng(0)
    windows = [rng.normal(0, 0.2, 64).astype(np.float32) for _ in range(20)]
    text = sample_of(windows, a_max=2.0)
    assert text is not None
    values = decode(text)
    assert len(values) == 1024 and np.abs(values - np.clip(np.concatenate(windows)[:1024] / 2.0, -1, 1)).max() < 0.005
    assert correlation(text, text) == pytest.approx(1.0)
    noisy = encode(values + rng.normal(0, 0.02, len(values)))
    assert correlation(text, noisy) > 0.9
    assert abs(correlation(text, encode(rng.normal(0, 0.1, 1024))) or 0.0) < 0.15
    assert correlation(text, None) is None and correlation(encode(np.zeros(10)), text) is None  # constant
    assert sample_of(windows, a_max=0.0) is None
    with pytest.raises(N2GError, match="damaged"):
        decode("not base64!")
