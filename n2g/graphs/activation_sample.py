"""A neuron's activation sample: its real activations on a fixed stretch of text, small enough to store with its
graph, so that two neurons can be compared by how they actually co-activate rather than by what their graphs say.

The text is the first `SAMPLE_TOKENS` tokens of the random-window sample of the neuron's exemplars (windows in
their stored order, each to its length, no padding): the same for every neuron mined in one run, so samples of
neurons of one model line up position by position. Values are activations as fractions of the neuron's a_max,
clipped to [-1, 1] and quantised to int8 (x 127), written as base64: 1,024 tokens take 1,368 characters.
Correlating two samples (`correlation`) measures co-activation; the quantisation step (1/127 of a_max) is far below
what separates duplicates (r near 1) from unrelated neurons (r near 0).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import numpy as np

from n2g.errors import N2GError

SAMPLE_TOKENS = 1024
SCALE = 127


def sample_values(windows: Sequence[np.ndarray], a_max: float, tokens: int = SAMPLE_TOKENS) -> np.ndarray:
    """The first `tokens` raw activations of `windows` (in order) as fractions of a_max."""
    if a_max <= 0 or not len(windows):
        return np.zeros(0, np.float32)
    flat = np.concatenate([np.asarray(w, dtype=np.float32).ravel() for w in windows])[:tokens]
    return flat / np.float32(a_max)


def encode(values: np.ndarray) -> str:
    """Fractions of a_max -> the stored text (base64 of int8)."""
    quantised = np.clip(np.rint(np.asarray(values, dtype=np.float64) * SCALE), -SCALE, SCALE).astype(np.int8)
    return base64.b64encode(quantised.tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The stored text -> fractions of a_max (float32)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as err:
        raise N2GError(f"damaged activation sample ({err})") from err
    return np.frombuffer(raw, dtype=np.int8).astype(np.float32) / SCALE


def sample_of(windows: Sequence[np.ndarray], a_max: float) -> str | None:
    """The stored text of a neuron's sample; None for a neuron that never fired (a_max <= 0) or no text."""
    values = sample_values(windows, a_max)
    return encode(values) if len(values) else None


def correlation(a: str | np.ndarray | None, b: str | np.ndarray | None) -> float | None:
    """Pearson correlation of two samples over their common length; None where either is missing or constant."""
    if a is None or b is None:
        return None
    x = decode(a) if isinstance(a, str) else np.asarray(a, dtype=np.float32)
    y = decode(b) if isinstance(b, str) else np.asarray(b, dtype=np.float32)
    n = min(len(x), len(y))
    if n < 2:
        return None
    x, y = x[:n].astype(np.float64), y[:n].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return None if denominator == 0.0 else float((x * y).sum() / denominator)
