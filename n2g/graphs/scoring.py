"""Scores of a prediction against the neuron's real activations: precision, recall and F1 of the firing class
(activation >= threshold x a_max, as in the paper) and the Pearson correlation of the values.

Counts are kept with every score so scores can be pooled (micro-averaged) over neurons and layers. A score
that is undefined (no positives on either side, a constant series) is None, never a made-up 0 or 1.

A graph's scores are typed (`GraphScores` -> `PredictorScores` -> `FiringScore`) so every reader asks for them the
same way (`scores.n2g.test.f1`); `to_dict()` / `from_dict()` give exactly the JSON that graph files have always
held, and `from_dict` refuses any other shape with one `N2GError` line instead of a KeyError deep in a reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from n2g.errors import N2GError

FIRING_THRESHOLD = 0.5
Predictor = Literal["n2g", "token_lookup", "ngram5"]  # the graph, and the paper's two baselines
TextSet = Literal["test", "random"]  # held-out top windows; random (out-of-distribution) windows
Metric = Literal["precision", "recall", "f1", "pearson"]
PREDICTORS: tuple[Predictor, ...] = get_args(Predictor)
TEXT_SETS: tuple[TextSet, ...] = get_args(TextSet)
METRICS: tuple[Metric, ...] = get_args(Metric)
_COUNTS = ("tokens", "tp", "fp", "fn")
_RATIOS = ("precision", "recall", "f1")
_NUMBER_OR_NULL = frozenset((int, float, type(None)))


@dataclass(frozen=True)
class FiringScore:
    """One predictor on one set of text: the counts (so scores pool) and the ratios of them (None: undefined)."""

    tokens: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    f1: float | None
    pearson: float | None = None

    def metric(self, name: Metric) -> float | None:
        """One ratio by name, for readers that loop over `METRICS`."""
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
        value: float | None = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, int | float | None]:
        """The JSON form (every key, undefined ratios as null)."""
        return {"tokens": self.tokens, "tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "pearson": self.pearson}

    @classmethod
    def from_dict(cls, data: Any, where: str = "score") -> FiringScore:
        """A score as `to_dict` wrote it; a dict without "pearson" is a `PooledScore` (so it writes back the same).
        Values are kept as read (an int ratio stays an int) so they write back the same; checked by exact JSON type,
        as every graph of a store load passes here."""
        data = _SCORE_SHAPE.check(data, where)
        tokens, tp, fp, fn = data["tokens"], data["tp"], data["fp"], data["fn"]
        precision, recall, f1, correlation = data["precision"], data["recall"], data["f1"], data.get("pearson")
        if type(tokens) is not int or type(tp) is not int or type(fp) is not int or type(fn) is not int:
            name = next(name for name in _COUNTS if type(data[name]) is not int)  # (bool is not a count)
            raise N2GError(f"unknown graph scores shape: {where}.{name} is {data[name]!r}, not a count")
        if (type(precision) not in _NUMBER_OR_NULL or type(recall) not in _NUMBER_OR_NULL
                or type(f1) not in _NUMBER_OR_NULL or type(correlation) not in _NUMBER_OR_NULL):
            name, value = next((n, v) for n, v in data.items() if type(v) not in _NUMBER_OR_NULL)
            raise N2GError(f"unknown graph scores shape: {where}.{name} is {value!r}, not a number or null")
        kind = FiringScore if "pearson" in data else PooledScore
        return kind(tokens, tp, fp, fn, precision, recall, f1, correlation)


@dataclass(frozen=True)
class PooledScore(FiringScore):
    """Counts summed over many scores: Pearson does not pool, so it is None and its dict has no "pearson" key
    (the form `pooled` has always returned)."""

    def to_dict(self) -> dict[str, int | float | None]:
        data = super().to_dict()
        del data["pearson"]
        return data


@dataclass(frozen=True)
class PredictorScores:
    """One predictor's scores on each set of text (None: not scored there)."""

    test: FiringScore | None = None
    random: FiringScore | None = None

    def on(self, text_set: TextSet) -> FiringScore | None:
        """The score on `text_set`, for readers that loop over `TEXT_SETS`."""
        if text_set not in TEXT_SETS:
            raise ValueError(f"unknown text set {text_set!r} (known: {', '.join(TEXT_SETS)})")
        score: FiringScore | None = getattr(self, text_set)
        return score

    def to_dict(self) -> dict[str, dict[str, int | float | None] | None]:
        """The JSON form: both text sets always present, null where not scored."""
        return {"test": _leaf_dict(self.test), "random": _leaf_dict(self.random)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PredictorScores:
        """`where` names the predictor in errors."""
        data = _PREDICTOR_SHAPE.check(data, where)
        return cls(test=_leaf(data["test"], f"{where}.test"), random=_leaf(data["random"], f"{where}.random"))


@dataclass(frozen=True)
class GraphScores:
    """A graph's scores and the paper's baselines' on the same text (field names are the JSON's)."""

    n2g: PredictorScores
    token_lookup: PredictorScores
    ngram5: PredictorScores

    def of(self, predictor: Predictor) -> PredictorScores:
        """One predictor's scores, for readers that loop over `PREDICTORS`."""
        if predictor not in PREDICTORS:
            raise ValueError(f"unknown predictor {predictor!r} (known: {', '.join(PREDICTORS)})")
        scores: PredictorScores = getattr(self, predictor)
        return scores

    def value(self, predictor: Predictor, text_set: TextSet, metric: Metric) -> float | None:
        """One number, None where that score is missing or undefined."""
        score = self.of(predictor).on(text_set)
        return None if score is None else score.metric(metric)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; "test" / "random" at the top level repeat N2G's, as graph files have always had them."""
        data: dict[str, Any] = {name: self.of(name).to_dict() for name in PREDICTORS}
        data.update(test=_leaf_dict(self.n2g.test), random=_leaf_dict(self.n2g.random))
        return data

    @classmethod
    def from_dict(cls, data: Any) -> GraphScores:
        """Scores as `to_dict` wrote them; any other shape raises `N2GError` naming what is wrong."""
        data = _GRAPH_SHAPE.check(data, "scores")
        scores = cls(n2g=PredictorScores.from_dict(data["n2g"], "n2g"),
                     token_lookup=PredictorScores.from_dict(data["token_lookup"], "token_lookup"),
                     ngram5=PredictorScores.from_dict(data["ngram5"], "ngram5"))
        for text_set in TEXT_SETS:  # the top-level copies must be N2G's, or writing back would change them
            if text_set in data and data[text_set] != data["n2g"][text_set]:
                raise N2GError(f"unknown graph scores shape: top-level {text_set!r} is not n2g.{text_set}")
        return scores


def _leaf(data: Any, where: str) -> FiringScore | None:
    return None if data is None else FiringScore.from_dict(data, where)


def _leaf_dict(score: FiringScore | None) -> dict[str, int | float | None] | None:
    return None if score is None else score.to_dict()


@dataclass(frozen=True)
class _Shape:
    """The keys one JSON object of the scores must have (`keys`) and may have (`optional`)."""

    keys: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", frozenset(self.keys))
        object.__setattr__(self, "allowed", frozenset((*self.keys, *self.optional)))

    def check(self, data: Any, where: str) -> dict[str, Any]:
        """`data` if it is a JSON object of this shape, else `N2GError` naming what differs. Whole key sets are
        compared first, as every graph of a store load passes here."""
        if not isinstance(data, dict):
            raise N2GError(f"unknown graph scores shape: {where} is {type(data).__name__}, not an object")
        present = data.keys()
        if present == self.required or present == self.allowed or self.required <= present <= self.allowed:
            return data
        unknown = [str(key) for key in present if key not in self.allowed]
        if unknown:
            raise N2GError(f"unknown graph scores shape: {where} has unknown {', '.join(map(repr, unknown))}")
        missing = [key for key in self.keys if key not in present]
        raise N2GError(f"unknown graph scores shape: {where} has no {', '.join(map(repr, missing))}")


_SCORE_SHAPE = _Shape((*_COUNTS, *_RATIOS), optional=("pearson",))  # no pearson: a pooled score
_PREDICTOR_SHAPE = _Shape(TEXT_SETS)
_GRAPH_SHAPE = _Shape(PREDICTORS, optional=TEXT_SETS)


def firing_scores(true: np.ndarray, predicted: np.ndarray, threshold: float = FIRING_THRESHOLD) -> FiringScore:
    """`true`, `predicted`: [tokens] activations as fractions of a_max."""
    true_fires, predicted_fires = true >= threshold, predicted >= threshold
    tp = int(np.sum(true_fires & predicted_fires))
    fp = int(np.sum(~true_fires & predicted_fires))
    fn = int(np.sum(true_fires & ~predicted_fires))
    return FiringScore(int(true.size), tp, fp, fn, *_ratios(tp, fp, fn), pearson=pearson(true, predicted))


def _ratios(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall, F1."""
    return (tp / (tp + fp) if tp + fp else None,
            tp / (tp + fn) if tp + fn else None,
            2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2 or float(np.std(a)) == 0.0 or float(np.std(b)) == 0.0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        value = float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])
    return None if np.isnan(value) else value


def pooled(scores: Iterable[FiringScore]) -> PooledScore:
    """Micro-average: precision/recall/F1 of the summed counts."""
    tp = fp = fn = tokens = 0
    for score in scores:
        tp, fp, fn, tokens = tp + score.tp, fp + score.fp, fn + score.fn, tokens + score.tokens
    return PooledScore(tokens, tp, fp, fn, *_ratios(tp, fp, fn))


def format_score(value: float | None, digits: int = 3, missing: str = "n/a") -> str:
    """A score for people: fixed digits, or `missing` where the score is undefined."""
    return missing if value is None else f"{value:.{digits}f}"


def mean_defined(values: Iterable[float | None]) -> float | None:
    """Macro-average over the values that are defined (neither None nor NaN, so a pandas Series works too);
    None when none is."""
    defined = [v for v in values if v is not None and v == v]  # NaN != NaN
    return float(np.mean(defined)) if defined else None
