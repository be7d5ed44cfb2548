"""Scores of a prediction against the neuron's real activations: precision, recall and F1 of the firing class
(activation >= threshold x a_max, as in the paper) and the Pearson correlation of the values.

Counts are kept with every score so scores can be pooled (micro-averaged) over neurons and layers. A score
that is undefined (no positives on either side, a constant series) is None, never a made-up 0 or 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

FIRING_THRESHOLD = 0.5


def firing_scores(true: np.ndarray, predicted: np.ndarray, threshold: float = FIRING_THRESHOLD) -> dict[str, Any]:
    """`true`, `predicted`: [tokens] activations as fractions of a_max."""
    true_fires, predicted_fires = true >= threshold, predicted >= threshold
    tp = int(np.sum(true_fires & predicted_fires))
    fp = int(np.sum(~true_fires & predicted_fires))
    fn = int(np.sum(true_fires & ~predicted_fires))
    return {"tokens": int(true.size), "tp": tp, "fp": fp, "fn": fn, **_ratios(tp, fp, fn),
            "pearson": pearson(true, predicted)}


def _ratios(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {"precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None}


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2 or float(np.std(a)) == 0.0 or float(np.std(b)) == 0.0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        value = float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])
    return None if np.isnan(value) else value


def pooled(scores: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Micro-average: precision/recall/F1 of the summed counts."""
    tp = fp = fn = tokens = 0
    for score in scores:
        tp, fp, fn, tokens = tp + score["tp"], fp + score["fp"], fn + score["fn"], tokens + score["tokens"]
    return {"tokens": tokens, "tp": tp, "fp": fp, "fn": fn, **_ratios(tp, fp, fn)}


def format_score(value: float | None, digits: int = 3, missing: str = "n/a") -> str:
    """A score for people: fixed digits, or `missing` where the score is undefined."""
    return missing if value is None else f"{value:.{digits}f}"


def mean_defined(values: Iterable[float | None]) -> float | None:
    """Macro-average over the values that are defined."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
