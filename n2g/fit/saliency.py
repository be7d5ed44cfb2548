"""Saliency: how much each token of a prompt matters to each later token's activation.

For a prompt of T tokens, row k replaces token k with the mask token (`n2g.model.mask_token`) and
importance[k, t] = 1 - masked_k(t) / clean(t). Only positions with a positive clean activation get a value
(the original divided by zero or flipped sign there); it is clipped to [0, 1]: masking that raises the
activation is not importance. The model is causal, so k > t is 0 without being computed. Rows after the last
activating position (where importance is ever read) are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from n2g.fit.prompt import Prompt
from n2g.fit.pruning import Evaluate


def importance_matrix(clean: np.ndarray, masked: Sequence[np.ndarray], length: int) -> np.ndarray:
    """[length, length] from the clean activations [length] and one masked activation row per masked token."""
    matrix = np.zeros((length, length), dtype=np.float32)
    positive = clean > 0
    safe = np.where(positive, clean, 1.0)
    for k, row in enumerate(masked):
        values = np.clip(1.0 - row / safe, 0.0, 1.0)
        values[~positive] = 0.0
        values[:k] = 0.0
        matrix[k] = values
    return matrix


def masked_rows(prompt: Prompt, mask_id: int, last: int) -> list[list[int]]:
    rows = []
    for k in range(last + 1):
        tokens = list(prompt.tokens)
        tokens[k] = mask_id
        rows.append(tokens)
    return rows


def add_importance(prompts: Sequence[Prompt], evaluate: Evaluate, mask_id: int, threshold: float,
                   a_max: dict[int, float]) -> None:
    """Fill `prompt.importance` for every prompt, all in one call of `evaluate`. Positions that can become
    trie roots (activation above `threshold` x a_max, or the pivot) bound which rows are needed."""
    lasts = [_last_needed(p, threshold * a_max[p.neuron]) for p in prompts]
    rows = [(p.neuron, tokens) for p, last in zip(prompts, lasts) for tokens in masked_rows(p, mask_id, last)]
    acts = evaluate(rows, "saliency")
    offset = 0
    for prompt, last in zip(prompts, lasts):
        prompt.importance = importance_matrix(prompt.acts, acts[offset: offset + last + 1], len(prompt.tokens))
        offset += last + 1


def _last_needed(prompt: Prompt, floor: float) -> int:
    firing = np.nonzero(prompt.acts > floor)[0]
    return max(prompt.pivot, int(firing[-1]) if firing.size else 0)
