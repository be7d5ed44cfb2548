"""NeuronGraph: the trie of token patterns, its aggregation on insert, its JSON form, and the fitting helpers
that turn a prompt's importance into pattern steps (`context_steps`, `add_prompt`). Pure Python, no model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from n2g.errors import N2GError
from n2g.fit.building import add_prompt, context_steps
from n2g.fit.prompt import Prompt
from n2g.graphs.neuron_graph import FORMAT, FORMAT_VERSION, GAP, TOKEN, GraphStats, NeuronGraph, PatternStep, TrieNode
from n2g.graphs.scoring import FiringScore, GraphScores, PredictorScores
from n2g.model.token_keys import Vocabulary
from tests.fixed_tokenizer import FixedTextTokenizer


def _graph(**overrides: object) -> NeuronGraph:
    settings: dict[str, object] = {"model": "tiny", "layer": 2, "neuron": 17, "a_max": 4.0, "token_matching": "exact"}
    settings.update(overrides)
    return NeuronGraph(**settings)  # type: ignore[arg-type]


def _tok(key: str, importance: float = 1.0) -> PatternStep:
    return PatternStep(TOKEN, key, key, importance)


def _gap() -> PatternStep:
    return PatternStep(GAP)


def _only_child(node: TrieNode) -> TrieNode:
    assert len(node.children) == 1
    return node.children[0]


# -- insert ---------------------------------------------------------------------------------------------------
def test_insert_same_pattern_twice_aggregates_every_node() -> None:
    graph = _graph()
    graph.insert("c", "c", 0.6, 0.2, [_tok("a", 0.8)])
    graph.insert("c", "c", 0.9, 0.4, [_tok("a", 1.0)])

    assert len(graph.roots) == 1
    root = graph.roots[0]
    assert root.count == 2
    assert root.max_activation == pytest.approx(0.9)
    assert root.importance == pytest.approx(0.3)  # mean self-importance, not the first one
    assert not root.is_end

    child = _only_child(root)
    assert (child.kind, child.key, child.count) == (TOKEN, "a", 2)
    assert child.max_activation == pytest.approx(0.9)
    assert child.importance == pytest.approx(0.9)
    assert child.end_activation == pytest.approx(0.9)
    assert child.end_count == 2


def test_insert_keeps_the_max_end_activation_whatever_the_order() -> None:
    first_high, first_low = _graph(), _graph()
    first_high.insert("c", "c", 0.9, 1.0, [])
    first_high.insert("c", "c", 0.6, 1.0, [])
    first_low.insert("c", "c", 0.6, 1.0, [])
    first_low.insert("c", "c", 0.9, 1.0, [])
    for graph in (first_high, first_low):
        root = graph.roots[0]
        assert root.end_activation == pytest.approx(0.9)
        assert root.end_count == 2
        assert root.max_activation == pytest.approx(0.9)
    assert first_high.to_json() == first_low.to_json()


def test_insert_shares_prefixes_and_marks_each_end() -> None:
    graph = _graph()
    graph.insert("c", "c", 0.7, 1.0, [])
    graph.insert("c", "c", 0.8, 1.0, [_tok("a")])
    graph.insert("c", "c", 0.95, 1.0, [_gap(), _tok("b")])

    root = graph.roots[0]
    assert root.count == 3
    assert root.max_activation == pytest.approx(0.95)
    assert root.end_activation == pytest.approx(0.7)
    assert root.end_count == 1
    by_kind = {(child.kind, child.key): child for child in root.children}
    assert set(by_kind) == {(TOKEN, "a"), (GAP, None)}
    assert by_kind[(TOKEN, "a")].end_activation == pytest.approx(0.8)
    gap = by_kind[(GAP, None)]
    assert not gap.is_end and gap.end_count == 0
    assert gap.importance == 0.0
    assert gap.max_activation == pytest.approx(0.95)
    assert _only_child(gap).end_activation == pytest.approx(0.95)


def test_roots_are_matched_by_key() -> None:
    graph = _graph()
    graph.insert("c", "c", 0.6, 1.0, [])
    graph.insert("d", "d", 0.6, 1.0, [])
    graph.insert("c", " c", 0.7, 1.0, [])  # same key, another display text: the same root
    assert [root.key for root in graph.roots] == ["c", "d"]
    assert graph.roots[0].token == "c"
    assert graph.roots[0].count == 2


def test_node_without_visits_has_zero_importance() -> None:
    assert TrieNode().importance == 0.0


def test_activating_and_context_tokens() -> None:
    graph = _graph()
    graph.insert("c", "c", 0.6, 1.0, [_tok("a"), _gap(), _tok("b")])
    graph.insert("d", "d", 0.6, 1.0, [_tok("a"), _tok("e")])
    graph.insert("e", "e", 0.6, 1.0, [_tok("c")])

    assert graph.activating_tokens() == ["c", "d", "e"]
    # distinct, first-seen order, roots (depth 0) and gaps excluded, a root key that is also context included
    assert graph.context_tokens() == ["a", "b", "e", "c"]
    assert _graph().activating_tokens() == [] and _graph().context_tokens() == []


def test_nodes_yield_depths() -> None:
    graph = _graph()
    graph.insert("c", "c", 0.6, 1.0, [_tok("a"), _gap(), _tok("b")])
    graph.insert("d", "d", 0.6, 1.0, [])
    assert [(depth, node.kind, node.key) for depth, node in graph.nodes()] == [
        (0, TOKEN, "c"), (1, TOKEN, "a"), (2, GAP, None), (3, TOKEN, "b"), (0, TOKEN, "d")]
    assert graph.name == "2:17"


# -- JSON -------------------------------------------------------------------------------------------------------
def _rich_graph() -> NeuronGraph:
    graph = _graph(activation_threshold=0.4, importance_threshold=0.7, reason=None)
    graph.insert("import", " import", 0.91, 0.33, [_tok("\n", 0.8), _gap(), _tok("from", 0.77)])
    graph.insert("import", " import", 0.62, 0.1, [_tok("\n", 0.9)])
    graph.insert("import", " import", 0.7, 0.2, [_tok("\n", 0.85), _gap(), _tok("é", 0.76)])
    graph.insert("def", "def", 1.0, 1 / 3, [])
    graph.insert("def", "def", 0.5100000001, 0.7, [_gap(), _tok("class", 0.95)])
    graph.insert("(", "(", 0.55, 0.0, [_tok("print", 1.0)])
    held_out = FiringScore(tokens=10, tp=1, fp=0, fn=2, precision=1.0, recall=1 / 3, f1=0.5, pearson=None)
    nothing = FiringScore(tokens=7, tp=0, fp=0, fn=0, precision=None, recall=None, f1=None, pearson=-0.125)
    graph.scores = GraphScores(n2g=PredictorScores(test=held_out, random=nothing),
                               token_lookup=PredictorScores(test=nothing, random=held_out),
                               ngram5=PredictorScores(test=held_out, random=None))
    graph.stats = GraphStats(train_windows=3, test_windows=2, split="document", prompts=4, unpruned=0,
                             mean_prompt_tokens=4.5, mask_token="<ünïcode>", fire_rate=0.0125,
                             firing_rate=0.003)
    return graph


def test_json_round_trip_is_exact() -> None:
    graph = _rich_graph()
    text = graph.to_json()
    again = NeuronGraph.from_json(text)
    assert again.to_json() == text
    assert NeuronGraph.from_json(again.to_json()).to_json() == text


def test_json_round_trip_keeps_structure_and_values() -> None:
    graph = _rich_graph()
    again = NeuronGraph.from_json(graph.to_json())
    assert (again.model, again.layer, again.neuron, again.a_max) == ("tiny", 2, 17, 4.0)
    assert (again.activation_threshold, again.importance_threshold) == (0.4, 0.7)
    assert again.scores == graph.scores and again.stats == graph.stats
    assert again.activating_tokens() == ["import", "def", "("]
    assert again.context_tokens() == graph.context_tokens()
    original = [(d, n.kind, n.key, n.token, n.count, n.end_count) for d, n in graph.nodes()]
    assert [(d, n.kind, n.key, n.token, n.count, n.end_count) for d, n in again.nodes()] == original
    for (_, before), (_, after) in zip(graph.nodes(), again.nodes()):
        assert after.importance == pytest.approx(before.importance, abs=1e-6)
        assert after.max_activation == pytest.approx(before.max_activation, abs=1e-6)
        assert after.is_end == before.is_end
        if before.is_end:
            assert after.end_activation == pytest.approx(before.end_activation, abs=1e-6)
    gap = graph.roots[0].children[0].children[0]
    assert gap.kind == GAP
    assert "key" not in gap.to_dict() and "token" not in gap.to_dict()


def test_json_is_compact_and_keeps_non_ascii() -> None:
    text = _rich_graph().to_json()
    data = json.loads(text)
    assert (data["format"], data["version"]) == (FORMAT, 1)  # nothing measured: version 1's layout
    assert "é" in text and "\\u00e9" not in text
    assert "<ünïcode>" in text
    assert ": " not in text


def test_empty_graph_round_trips() -> None:
    graph = _graph(status="dead", reason="never fired in the corpus")
    again = NeuronGraph.from_json(graph.to_json())
    assert again.to_json() == graph.to_json()
    assert (again.status, again.reason, again.roots) == ("dead", "never fired in the corpus", [])


# Scores and stats laid out exactly as `n2g fit` has always written them: the typed form must give back every byte
_HELD_OUT = {"tokens": 640, "tp": 15, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.9375, "f1": 0.967741935483871,
             "pearson": 0.4291649738812106}
_RANDOM = {"tokens": 8008, "tp": 7, "fp": 1, "fn": 25, "precision": 0.875, "recall": 0.21875, "f1": 0.35,
           "pearson": 0.06502897469679922}
_UNDEFINED = {"tokens": 640, "tp": 0, "fp": 0, "fn": 16, "precision": None, "recall": 0.0, "f1": 0.0, "pearson": None}
_FITTER_SCORES = {"n2g": {"test": _HELD_OUT, "random": _RANDOM}, "token_lookup": {"test": _RANDOM, "random": _RANDOM},
                  "ngram5": {"test": _UNDEFINED, "random": _UNDEFINED}, "test": _HELD_OUT, "random": _RANDOM}
_CORE_STATS = {"train_windows": 10, "test_windows": 10, "split": "document", "prompts": 13, "unpruned": 0,
               "mean_prompt_tokens": 1.0, "augmented": 0, "pivot_at_first_position": 0, "mask_token": "<|im_end|>",
               "fire_rate": 0.40882}
_NO_PROMPTS = {**_CORE_STATS, "prompts": 0, "mean_prompt_tokens": None}


def _fitter_line(status: str, scores: dict[str, object], stats: dict[str, object], a_max: float = 1.0482524633407593,
                 roots: list[dict[str, object]] | None = None) -> str:
    data = {"format": FORMAT, "version": 1, "model": "smollm2-135m", "layer": 0, "neuron": 7,  # version 1's layout
            "a_max": a_max, "token_matching": "exact", "activation_threshold": 0.5, "importance_threshold": 0.75,
            "node_values": "aggregate", "prediction": "best", "status": status,
            "reason": None if status == "fitted" else "a reason", "scores": scores, "stats": stats,
            "roots": roots if roots is not None else [{"kind": "token", "count": 4, "max_activation": 1.0,
                                                        "importance": 1.0, "key": " hasattr", "token": " hasattr",
                                                        "end_activation": 1.0, "end_count": 4}]}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("line", [
    _fitter_line("fitted", _FITTER_SCORES, {**_CORE_STATS, "firing_rate": 0.0030517578125, "ends_added": 0,
                                            "ends_dropped": 1, "swept": 55, "random_windows_scored": 128}),
    _fitter_line("fitted", _FITTER_SCORES, {**_CORE_STATS, "ends_added": 0, "ends_dropped": 1, "swept": 55,
                                            "random_windows_scored": 128}),  # fitted before the firing rate
    _fitter_line("fitted", _FITTER_SCORES, {**_CORE_STATS, "swept": 0, "random_windows_scored": 128}),  # no check
    _fitter_line("fitted", _FITTER_SCORES, {**_CORE_STATS, "ends_added": 2, "ends_dropped": 0,
                                            "random_windows_scored": 128}),  # fitted before the pivot sweep
    _fitter_line("fitted", _FITTER_SCORES, _CORE_STATS),  # fitted before the pattern check and random halves
    _fitter_line("failed", _FITTER_SCORES, {**_NO_PROMPTS, "ends_added": 0, "ends_dropped": 0, "swept": 0,
                                            "random_windows_scored": 128}, roots=[]),
    _fitter_line("dead", {}, {}, a_max=0.0, roots=[]),
], ids=["fitted", "before-firing-rate", "no-pattern-check", "before-sweep", "oldest", "failed", "dead"])
def test_fitter_layout_round_trips_byte_for_byte(line: str) -> None:
    graph = NeuronGraph.from_json(line)
    graph.source_json = None  # serialise again rather than hand back what was read
    assert graph.to_json() == line
    assert json.loads(graph.to_json()) == json.loads(line)


def test_typed_scores_and_stats_read_from_the_fitter_layout() -> None:
    graph = NeuronGraph.from_json(_fitter_line("failed", _FITTER_SCORES, {**_NO_PROMPTS, "swept": 3}))
    assert graph.scores is not None
    assert graph.scores.n2g.test is not None and graph.scores.n2g.test.f1 == 0.967741935483871
    assert graph.scores.value("ngram5", "test", "precision") is None
    assert graph.scores.value("token_lookup", "random", "pearson") == 0.06502897469679922
    assert (graph.stats.prompts, graph.stats.mean_prompt_tokens, graph.stats.swept) == (0, None, 3)
    assert graph.stats.ends_added is None and graph.stats.random_windows_scored is None
    dead = NeuronGraph.from_json(_fitter_line("dead", {}, {}, roots=[]))
    assert dead.scores is None and dead.stats == GraphStats()


@pytest.mark.parametrize(("scores", "problem"), [
    ({"n2g": {"test": _HELD_OUT, "random": _RANDOM}}, "scores has no 'token_lookup', 'ngram5'"),
    ({**_FITTER_SCORES, "bleu": {}}, "scores has unknown 'bleu'"),
    ({**_FITTER_SCORES, "ngram5": {"test": _UNDEFINED}}, "ngram5 has no 'random'"),
    ({**_FITTER_SCORES, "ngram5": {"test": _UNDEFINED, "random": _UNDEFINED, "train": None}}, "unknown 'train'"),
    ({**_FITTER_SCORES, "ngram5": {"test": {**_UNDEFINED, "f1": "0.5"}, "random": None}}, "ngram5.test.f1 is '0.5'"),
    ({**_FITTER_SCORES, "ngram5": {"test": {k: v for k, v in _UNDEFINED.items() if k != "tp"}, "random": None}},
     "ngram5.test has no 'tp'"),
    ({**_FITTER_SCORES, "ngram5": {"test": {**_UNDEFINED, "tp": 1.5}, "random": None}}, "ngram5.test.tp is 1.5"),
    ({**_FITTER_SCORES, "n2g": [1, 2]}, "n2g is list"),
    ({**_FITTER_SCORES, "test": _RANDOM}, "top-level 'test' is not n2g.test"),
    ([_HELD_OUT], "scores is list"),
])
def test_unknown_scores_shape_is_refused_in_one_line(scores: object, problem: str) -> None:
    with pytest.raises(N2GError) as raised:
        NeuronGraph.from_json(_fitter_line("fitted", scores, _CORE_STATS))  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message and message.startswith("graph of neuron 0:7: unknown graph scores shape: ")
    assert problem in message


@pytest.mark.parametrize(("stats", "problem"), [
    ({**_CORE_STATS, "seconds": 3.5}, "unknown 'seconds'"),
    ({**_CORE_STATS, "prompts": "13"}, "prompts is '13', not int"),
    ({**_CORE_STATS, "swept": True}, "swept is True, not int"),
    ([1], "stats is list"),
])
def test_unknown_stats_shape_is_refused_in_one_line(stats: object, problem: str) -> None:
    with pytest.raises(N2GError, match="^graph of neuron 0:7: unknown graph stats shape: ") as raised:
        NeuronGraph.from_json(_fitter_line("fitted", _FITTER_SCORES, stats))  # type: ignore[arg-type]
    assert problem in str(raised.value)


def test_unknown_status_is_refused() -> None:
    with pytest.raises(N2GError, match="unknown graph status 'retired'"):
        NeuronGraph.from_json(_fitter_line("retired", {}, {}))


def test_invalid_json_raises_n2g_error() -> None:
    with pytest.raises(N2GError, match="not valid JSON"):
        NeuronGraph.from_json("{not json")


@pytest.mark.parametrize("change", [{"format": "something-else"}, {"format": None}, {"version": FORMAT_VERSION + 1},
                                    {"version": None}, {"version": "1"}])
def test_format_or_version_mismatch_raises_n2g_error(change: dict[str, object]) -> None:
    data = _rich_graph().to_dict()
    data.update(change)
    with pytest.raises(N2GError):
        NeuronGraph.from_json(json.dumps(data))
    with pytest.raises(N2GError):
        NeuronGraph.from_dict(data)


def test_missing_format_raises_n2g_error() -> None:
    data = _rich_graph().to_dict()
    del data["format"]
    with pytest.raises(N2GError, match="not an n2g graph"):
        NeuronGraph.from_dict(data)


# -- fitting helpers: context_steps and add_prompt ---------------------------------------------------------------
def _steps(importance: Sequence[float], t: int, threshold: float = 0.75) -> list[PatternStep]:
    keys = [f"k{i}" for i in range(len(importance))]
    texts = [f"t{i}" for i in range(len(importance))]
    return context_steps(np.asarray(importance, dtype=np.float32), t, keys, texts, threshold)


def test_context_steps_collapses_runs_into_one_gap() -> None:
    steps = _steps([0.9, 0.1, 0.2, 0.8, 0.1, 0.0, 1.0], 6)
    assert [(s.kind, s.key) for s in steps] == [(GAP, None), (TOKEN, "k3"), (GAP, None), (TOKEN, "k0")]
    assert steps[1].token == "t3"
    assert steps[1].importance == pytest.approx(0.8)
    assert steps[3].importance == pytest.approx(0.9)


def test_context_steps_drops_trailing_gaps_and_keeps_adjacency() -> None:
    assert [(s.kind, s.key) for s in _steps([0.1, 0.2, 0.9, 0.8, 0.5], 4)] == [(TOKEN, "k3"), (TOKEN, "k2")]
    assert _steps([0.1, 0.2, 0.3, 1.0], 3) == []
    assert _steps([1.0], 0) == []


def test_context_steps_ignores_positions_at_and_after_t_and_threshold_is_inclusive() -> None:
    steps = _steps([0.75, 0.0, 1.0, 1.0, 1.0], 2)
    assert [(s.kind, s.key) for s in steps] == [(GAP, None), (TOKEN, "k0")]


def test_add_prompt_inserts_firing_positions_with_their_context() -> None:
    vocab = Vocabulary(FixedTextTokenizer({1: " From", 2: " x", 3: " import", 4: " y", 5: "\n"}), "normalised")
    graph = _graph(a_max=2.0, activation_threshold=0.5, importance_threshold=0.75)
    tokens = [1, 2, 3, 5, 4]
    acts = np.array([0.0, 0.0, 0.6, 1.8, 0.2], dtype=np.float32)  # position 3 fires, the pivot (2) by pivot_value
    importance = np.zeros((5, 5), dtype=np.float32)
    importance[0, 2], importance[2, 2] = 0.9, 0.5  # " From" matters to the pivot; gap over " x"
    importance[2, 3], importance[3, 3] = 0.8, 1.0  # " import" matters to "\n", adjacent
    prompt = Prompt(neuron=17, tokens=tokens, acts=acts.copy(), pivot=2, pivot_value=1.6, importance=importance)

    add_prompt(graph, prompt, vocab)

    assert np.array_equal(prompt.acts, acts)  # not modified
    assert graph.activating_tokens() == ["import", "\n"]
    pivot_root, newline_root = graph.roots
    assert pivot_root.token == " import"
    assert pivot_root.max_activation == pytest.approx(0.8)  # pivot_value / a_max, not acts[pivot] / a_max
    assert pivot_root.importance == pytest.approx(0.5)
    gap = _only_child(pivot_root)
    assert gap.kind == GAP
    from_node = _only_child(gap)
    assert (from_node.key, from_node.token) == ("from", " From")
    assert from_node.end_activation == pytest.approx(0.8)
    assert from_node.importance == pytest.approx(0.9)

    assert newline_root.max_activation == pytest.approx(0.9)
    import_node = _only_child(newline_root)
    assert import_node.key == "import"
    assert import_node.end_activation == pytest.approx(0.9)
    assert graph.context_tokens() == ["from", "import"]
