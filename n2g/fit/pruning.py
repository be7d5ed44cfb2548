"""Pruning: the shortest context that still makes the neuron fire.

For each training window, the pivot is its most activating token. Candidates are the suffixes of the window
ending at the pivot, one token at a time (the original tried only lengths 5, 10, ..., 30 and accepted a failing
candidate). The shortest candidate whose pivot activation keeps at least `ratio` of the full-context value is
chosen. If none does up to `max_context` tokens, the longest candidate is kept and marked `unpruned`.

Lengths are tried in rounds of growing size (1-4, 5-8, 9-16, 17-32, ...) so most examples resolve after one or
two rounds of short rows, yet the answer is the true minimum: every shorter length was tried first. Each round
is one call of `evaluate` for all examples of all neurons together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from n2g.fit.prompt import PRUNED, UNPRUNED, Prompt
from n2g.model.probe import Row

Evaluate = Callable[[Sequence[Row], str], list[np.ndarray]]


@dataclass(frozen=True)
class TrainingExample:
    neuron: int
    tokens: list[int]  # the whole window
    acts: np.ndarray  # [len(tokens)] full-context activations (from mining)
    pivot: int
    post: int = 0  # tokens after the pivot to keep (post-pivot context)

    @property
    def full_value(self) -> float:
        return float(self.acts[self.pivot])


def length_rounds(max_length: int) -> Iterator[tuple[int, int]]:
    """Inclusive (shortest, longest) candidate lengths per round."""
    low, high = 1, 4
    while low <= max_length:
        yield low, min(high, max_length)
        low, high = high + 1, high * 2


def candidate(example: TrainingExample, length: int) -> list[int]:
    start = example.pivot - length + 1
    return example.tokens[start: example.pivot + 1 + example.post]


def prune(examples: Sequence[TrainingExample], evaluate: Evaluate, max_context: int = 64,
          ratio: float = 0.5) -> list[Prompt]:
    """One prompt per example with a positive full-context activation, in the order of `examples`."""
    limits = [min(ex.pivot + 1, max_context) for ex in examples]
    pending = [i for i, ex in enumerate(examples) if ex.full_value > 0]
    chosen: dict[int, Prompt] = {}
    for low, high in length_rounds(max(limits, default=0)):
        if not pending:
            break
        owners = [(i, length) for i in pending for length in range(low, min(high, limits[i]) + 1)]
        acts = evaluate([(examples[i].neuron, candidate(examples[i], length)) for i, length in owners], "prune")
        for (i, length), values in zip(owners, acts):
            if i in chosen:
                continue  # a shorter length of this example already passed
            ex = examples[i]
            passed = values[length - 1] >= ratio * ex.full_value
            if passed or length == limits[i]:
                chosen[i] = Prompt(ex.neuron, candidate(ex, length), values, length - 1, ex.full_value,
                                   PRUNED if passed else UNPRUNED)
        pending = [i for i in pending if i not in chosen]
    return [chosen[i] for i in sorted(chosen)]
