"""The unit graph fitting works on: a short token sequence with one pivot (the token whose firing it explains),
the neuron's activations in it, and, after saliency, how much each token matters to each later one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRUNED, UNPRUNED, AUGMENTED = "pruned", "unpruned", "augmented"


@dataclass
class Prompt:
    neuron: int  # index in the layer
    tokens: list[int]  # content token ids (no BOS)
    acts: np.ndarray  # [len(tokens)] the neuron's activation at each token of this prompt
    pivot: int  # index of the explained token
    pivot_value: float  # activation credited to the pivot (its full-context value for a pruned prompt)
    source: str = PRUNED  # pruned | unpruned (no suffix kept enough activation) | augmented
    importance: np.ndarray | None = None  # [len, len]: importance[k, t] of token k for token t, in [0, 1]


@dataclass(frozen=True)
class Candidate:
    """A proposed augmentation of a prompt: new tokens and where the pivot now is (a substitute may change the
    number of tokens)."""

    tokens: tuple[int, ...]
    pivot: int
