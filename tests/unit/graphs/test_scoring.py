"""Scores (firing precision/recall/F1 with counts, Pearson, pooling), the two baselines, and the train/test split
of a neuron's windows that every score is computed on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from n2g.fit.fitter import Windows, score, split_windows
from n2g.graphs.baselines import NGramLookup, TokenLookup
from n2g.graphs.scoring import (
    FIRING_THRESHOLD,
    METRICS,
    PREDICTORS,
    TEXT_SETS,
    FiringScore,
    GraphScores,
    PooledScore,
    PredictorScores,
    firing_scores,
    mean_defined,
    pearson,
    pooled,
)


def _f32(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


# -- firing scores ----------------------------------------------------------------------------------------------
def test_firing_scores_counts_and_ratios() -> None:
    true = _f32([0.9, 0.6, 0.1, 0.0, 0.5, 0.2])
    predicted = _f32([0.8, 0.2, 0.7, 0.0, 0.5, 0.1])
    scores = firing_scores(true, predicted)
    assert FIRING_THRESHOLD == 0.5
    assert (scores.tokens, scores.tp, scores.fp, scores.fn) == (6, 2, 1, 1)  # 0.5 >= 0.5 fires
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)
    expected = float(np.corrcoef(true.astype(np.float64), predicted.astype(np.float64))[0, 1])
    assert scores.pearson == pytest.approx(expected)


def test_firing_scores_with_another_threshold() -> None:
    true, predicted = _f32([0.3, 0.25, 0.0, 0.9]), _f32([0.3, 0.0, 0.3, 0.1])
    scores = firing_scores(true, predicted, threshold=0.25)
    assert (scores.tp, scores.fp, scores.fn) == (1, 1, 2)
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(2 / 5)


def test_nothing_fires_anywhere_is_undefined_not_zero_or_one() -> None:
    scores = firing_scores(_f32([0.1, 0.2, 0.0]), _f32([0.0, 0.3, 0.1]))
    assert (scores.tp, scores.fp, scores.fn) == (0, 0, 0)
    assert scores.precision is None and scores.recall is None and scores.f1 is None
    assert scores.pearson is not None


def test_no_predicted_firing_makes_precision_undefined() -> None:
    scores = firing_scores(_f32([0.9, 0.1]), _f32([0.2, 0.1]))
    assert scores.precision is None
    assert scores.recall == 0.0 and scores.f1 == 0.0


def test_no_true_firing_makes_recall_undefined() -> None:
    scores = firing_scores(_f32([0.1, 0.2]), _f32([0.9, 0.1]))
    assert scores.recall is None
    assert scores.precision == 0.0 and scores.f1 == 0.0


def test_perfect_prediction() -> None:
    true = _f32([0.0, 0.7, 1.0, 0.2])
    scores = firing_scores(true, true.copy())
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)
    assert scores.pearson == pytest.approx(1.0)


def test_pearson_is_none_for_a_constant_series() -> None:
    assert firing_scores(_f32([0.1, 0.9, 0.4]), _f32([0.0, 0.0, 0.0])).pearson is None
    assert firing_scores(_f32([0.7, 0.7, 0.7]), _f32([0.0, 0.9, 0.4])).pearson is None
    assert pearson(_f32([0.5]), _f32([0.2])) is None
    assert pearson(_f32([]), _f32([])) is None


@pytest.mark.parametrize("value", [0.45, 0.85, 0.9])
def test_pearson_is_none_for_a_constant_nonzero_float32_series(value: float) -> None:
    varying = _f32([0.9, 0.0, 0.0])
    constant = np.full(3, value, dtype=np.float32)
    assert pearson(varying, constant) is None
    assert firing_scores(varying, constant).pearson is None


def test_pearson_values() -> None:
    a = _f32([0.0, 1.0, 2.0, 3.0])
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert isinstance(pearson(a, a), float)


def test_empty_scores() -> None:
    scores = firing_scores(_f32([]), _f32([]))
    assert (scores.tokens, scores.tp, scores.fp, scores.fn) == (0, 0, 0, 0)
    assert scores.precision is None and scores.f1 is None and scores.pearson is None


def test_pooled_sums_counts_then_divides() -> None:
    first = firing_scores(_f32([0.9, 0.9, 0.9, 0.0]), _f32([0.9, 0.0, 0.0, 0.0]))  # tp 1 fn 2
    second = firing_scores(_f32([0.9, 0.0, 0.0]), _f32([0.9, 0.8, 0.7]))  # tp 1 fp 2
    total = pooled([first, second])
    assert (total.tokens, total.tp, total.fp, total.fn) == (7, 2, 2, 2)
    assert total.precision == pytest.approx(0.5)
    assert total.recall == pytest.approx(0.5)
    assert total.f1 == pytest.approx(0.5)
    assert "pearson" not in total.to_dict() and total.pearson is None  # the pooled form, as before


def test_pooled_of_nothing_is_undefined() -> None:
    total = pooled([])
    assert (total.tokens, total.tp, total.fp, total.fn) == (0, 0, 0, 0)
    assert total.precision is None and total.recall is None and total.f1 is None


def test_a_score_and_a_pooled_score_write_back_what_they_read() -> None:
    score = firing_scores(_f32([0.9, 0.9, 0.9, 0.0]), _f32([0.9, 0.0, 0.0, 0.0]))
    data = score.to_dict()
    assert list(data) == ["tokens", "tp", "fp", "fn", "precision", "recall", "f1", "pearson"]
    assert FiringScore.from_dict(data) == score
    total = pooled([score, score])
    assert isinstance(total, PooledScore) and isinstance(total, FiringScore)
    assert list(total.to_dict()) == ["tokens", "tp", "fp", "fn", "precision", "recall", "f1"]
    assert FiringScore.from_dict(total.to_dict()) == total


def test_graph_scores_json_repeats_n2g_at_the_top_and_reads_back() -> None:
    held_out = FiringScore(tokens=4, tp=1, fp=0, fn=1, precision=1.0, recall=0.5, f1=2 / 3, pearson=0.25)
    undefined = FiringScore(tokens=4, tp=0, fp=0, fn=0, precision=None, recall=None, f1=None, pearson=None)
    scores = GraphScores(n2g=PredictorScores(test=held_out, random=undefined),
                         token_lookup=PredictorScores(test=undefined, random=held_out), ngram5=PredictorScores())
    data = scores.to_dict()
    assert list(data) == [*PREDICTORS, *TEXT_SETS]
    assert data["test"] == held_out.to_dict() and data["random"] == undefined.to_dict()
    assert data["ngram5"] == {"test": None, "random": None}
    assert GraphScores.from_dict(data) == scores
    assert scores.n2g.test is held_out and scores.of("token_lookup").on("random") is held_out
    assert scores.value("n2g", "test", "f1") == 2 / 3 and scores.value("ngram5", "test", "f1") is None
    assert [held_out.metric(name) for name in METRICS] == [1.0, 0.5, 2 / 3, 0.25]


def test_unknown_names_are_programming_errors() -> None:
    scores = GraphScores(n2g=PredictorScores(), token_lookup=PredictorScores(), ngram5=PredictorScores())
    with pytest.raises(ValueError, match="unknown predictor 'bleu'"):
        scores.of("bleu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown text set 'train'"):
        scores.n2g.on("train")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown metric 'tp'"):
        FiringScore(1, 0, 0, 0, None, None, None).metric("tp")  # type: ignore[arg-type]


def test_mean_defined() -> None:
    assert mean_defined([0.5, None, 1.0]) == pytest.approx(0.75)
    assert mean_defined([None, None]) is None
    assert mean_defined([]) is None
    assert mean_defined([0.0]) == 0.0


def test_score_concatenates_windows() -> None:
    windows = Windows([["a", "b"], ["b", "c", "a"]], [_f32([0.9, 0.0]), _f32([0.0, 0.0, 0.8])])

    def predict(keys: Sequence[str]) -> np.ndarray:
        return _f32([0.7 if key == "a" else 0.0 for key in keys])

    scores = score(predict, windows, 0.5)
    assert (scores.tokens, scores.tp, scores.fp, scores.fn) == (5, 2, 0, 0)
    empty = score(predict, Windows([], []), 0.5)
    assert empty.tokens == 0 and empty.f1 is None


# -- baselines --------------------------------------------------------------------------------------------------
def test_token_lookup_keeps_the_max_per_token() -> None:
    lookup = TokenLookup()
    lookup.fit(["a", "b", "a"], _f32([0.3, 0.9, 0.7]))
    lookup.fit(["a", "d", "d"], _f32([0.5, -0.4, -0.1]))
    assert lookup.table == pytest.approx({"a": 0.7, "b": 0.9, "d": -0.1})
    out = lookup.predict(["a", "c", "b", "d"])
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([0.7, 0.0, 0.9, 0.0])  # unseen -> 0, negative max -> 0
    assert lookup.predict([]).shape == (0,)


def test_ngram_lookup_needs_exactly_the_last_five_tokens() -> None:
    lookup = NGramLookup(5)
    keys = ["a", "b", "c", "d", "e", "f"]
    lookup.fit(keys, _f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.9]))
    assert ("b", "c", "d", "e", "f") in lookup.table
    assert ("a",) in lookup.table and ("a", "b") in lookup.table  # the start of a sequence: shorter grams
    assert len(lookup.table) == 6

    assert lookup.predict(keys).tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.9])
    # the same last five tokens after other text still match
    assert lookup.predict(["x", "y", "b", "c", "d", "e", "f"]).tolist()[-1] == pytest.approx(0.9)
    # one different token among the last five: no match
    assert lookup.predict(["x", "c", "d", "e", "f"]).tolist() == [0.0] * 5
    assert lookup.predict(["b", "c", "d", "e", "x"]).tolist()[-1] == 0.0
    # the start-of-sequence gram ("b", "c") was never seen at a sequence start
    assert lookup.predict(["b", "c"]).tolist() == [0.0, 0.0]
    assert lookup.predict(["a", "b"]).tolist() == pytest.approx([0.1, 0.2])


def test_ngram_lookup_keeps_the_max_and_clips_at_zero() -> None:
    lookup = NGramLookup(2)
    lookup.fit(["a", "b", "a", "b"], _f32([0.0, 0.4, 0.0, 0.8]))
    lookup.fit(["a", "c"], _f32([0.0, -0.3]))
    assert lookup.table[("a", "b")] == pytest.approx(0.8)
    assert lookup.table[("a", "c")] == pytest.approx(-0.3)
    assert lookup.predict(["x", "a", "b", "a", "c"]).tolist() == pytest.approx([0.0, 0.0, 0.8, 0.0, 0.0])


def test_ngram_of_one_is_the_token_lookup() -> None:
    keys, acts = ["a", "b", "a", "c", "b"], _f32([0.2, 0.9, 0.6, 0.1, 0.3])
    ngram, token = NGramLookup(1), TokenLookup()
    ngram.fit(keys, acts)
    token.fit(keys, acts)
    probe = ["c", "a", "z", "b"]
    assert ngram.predict(probe).tolist() == token.predict(probe).tolist()


# -- the train/test split -----------------------------------------------------------------------------------------
DOCUMENTS = ["d0", "d1", "d0", "d2", "d1", "d3", "d4", "d2", "d5", "d0"]


def _check_partition(train: list[int], test: list[int], n: int) -> None:
    assert train == sorted(train) and test == sorted(test)
    assert sorted(train + test) == list(range(n))
    assert 0 in train


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_split_keeps_whole_documents_on_one_side(seed: int, fraction: float) -> None:
    train, test, kind = split_windows(DOCUMENTS, fraction, seed)
    assert kind == "document"
    _check_partition(train, test, len(DOCUMENTS))
    assert test
    assert {DOCUMENTS[i] for i in train}.isdisjoint({DOCUMENTS[i] for i in test})
    assert {i for i, doc in enumerate(DOCUMENTS) if doc == "d0"} <= set(train)  # window 0's document trains
    assert len(train) >= max(1, round(len(DOCUMENTS) * fraction))


def test_split_is_deterministic_per_seed_and_varies_with_it() -> None:
    assert all(split_windows(DOCUMENTS, 0.5, seed) == split_windows(DOCUMENTS, 0.5, seed) for seed in range(10))
    assert len({tuple(split_windows(DOCUMENTS, 0.5, seed)[0]) for seed in range(20)}) > 1


def test_split_stops_adding_documents_once_train_is_big_enough() -> None:
    documents = ["a", "a", "a", "b", "c", "d"]
    for seed in range(10):
        train, test, kind = split_windows(documents, 0.5, seed)  # "a" alone reaches the target of 3
        assert (train, test, kind) == ([0, 1, 2], [3, 4, 5], "document")


def test_split_falls_back_to_windows_with_one_document() -> None:
    documents = ["only"] * 10
    train, test, kind = split_windows(documents, 0.5, 3)
    assert kind == "window"
    _check_partition(train, test, 10)
    assert len(train) == 5 and len(test) == 5
    assert split_windows(documents, 0.5, 3) == (train, test, kind)
    assert len({tuple(split_windows(documents, 0.5, seed)[0]) for seed in range(20)}) > 1


def test_split_of_one_window_trains_on_it() -> None:
    assert split_windows(["only"], 0.5, 0) == ([0], [], "window")
    assert split_windows(["only"], 0.0, 0) == ([0], [], "window")  # at least one window trains


def test_split_falls_back_to_windows_when_no_document_is_left_for_test() -> None:
    train, test, kind = split_windows(["a", "b"], 0.75, 0)  # target 2: both documents would train
    assert kind == "window"
    assert (train, test) == ([0, 1], [])


def test_split_train_size_follows_the_fraction_in_window_mode() -> None:
    documents = ["only"] * 9
    for fraction in (0.1, 0.3, 0.5, 0.9):
        train, test, _ = split_windows(documents, fraction, 0)
        assert len(train) == max(1, round(9 * fraction))
        assert len(train) + len(test) == 9
