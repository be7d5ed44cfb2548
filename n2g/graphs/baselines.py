"""The paper's two baselines, trained on the same training windows and scored the same way as the graph.

- token lookup: a token's prediction is the largest activation seen on it in training;
- n-gram lookup (n=5 in the paper): the largest activation seen at the end of exactly these n tokens.
Both work on the same token keys as the graph (`n2g.model.token_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TokenLookup:
    def __init__(self) -> None:
        self.table: dict[str, float] = {}

    def fit(self, keys: Sequence[str], acts: np.ndarray) -> None:
        for key, act in zip(keys, acts.tolist()):
            self.table[key] = max(self.table.get(key, act), act)

    def predict(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([max(0.0, self.table.get(key, 0.0)) for key in keys], dtype=np.float32)


class NGramLookup:
    """Positions with fewer than n-1 tokens before them use the shorter n-gram that starts the sequence."""

    def __init__(self, n: int = 5) -> None:
        self.n = n
        self.table: dict[tuple[str, ...], float] = {}

    def _grams(self, keys: Sequence[str]) -> list[tuple[str, ...]]:
        return [tuple(keys[max(0, t - self.n + 1): t + 1]) for t in range(len(keys))]

    def fit(self, keys: Sequence[str], acts: np.ndarray) -> None:
        for gram, act in zip(self._grams(keys), acts.tolist()):
            self.table[gram] = max(self.table.get(gram, act), act)

    def predict(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([max(0.0, self.table.get(gram, 0.0)) for gram in self._grams(keys)], dtype=np.float32)
