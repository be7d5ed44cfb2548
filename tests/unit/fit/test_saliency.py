"""Saliency: the importance matrix from clean and masked activations, and `add_importance` with a constructed,
causal `evaluate` (no model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from n2g.fit.prompt import Prompt
from n2g.fit.saliency import add_importance, importance_matrix, masked_rows

MASK = 0


def _f32(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


# -- importance_matrix ----------------------------------------------------------------------------------------
def test_unchanged_activation_gives_zero_and_removed_activation_gives_one() -> None:
    clean = _f32([1.0, 2.0, 4.0])
    masked = [_f32([1.0, 2.0, 4.0]), _f32([1.0, 0.0, 1.0]), _f32([1.0, 2.0, 0.0])]
    matrix = importance_matrix(clean, masked, 3)
    assert matrix.shape == (3, 3) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, [[0.0, 0.0, 0.0], [0.0, 1.0, 0.75], [0.0, 0.0, 1.0]], atol=1e-6)


def test_masking_that_raises_the_activation_is_not_importance() -> None:
    clean = _f32([0.5, 1.0])
    matrix = importance_matrix(clean, [_f32([2.0, 3.0]), _f32([0.5, 1.5])], 2)
    assert matrix.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_negative_masked_activation_is_clipped_to_one() -> None:
    matrix = importance_matrix(_f32([1.0]), [_f32([-3.0])], 1)
    assert matrix.tolist() == [[1.0]]


@pytest.mark.filterwarnings("error")
def test_non_positive_clean_activation_gives_zero_without_nan() -> None:
    clean = _f32([0.0, -1.0, 2.0, 0.0])
    masked = [_f32([0.0, -5.0, 1.0, 3.0]), _f32([1.0, 1.0, 0.0, -2.0])]
    matrix = importance_matrix(clean, masked, 4)
    assert np.isfinite(matrix).all()
    np.testing.assert_allclose(matrix, [[0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0],
                                        [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], atol=1e-6)


def test_later_tokens_have_no_importance_for_earlier_ones() -> None:
    clean = _f32([1.0, 1.0, 1.0, 1.0])
    masked = [_f32([0.0, 0.0, 0.0, 0.0])] * 4  # even if a masked row claims earlier positions changed
    matrix = importance_matrix(clean, masked, 4)
    assert matrix.tolist() == np.triu(np.ones((4, 4))).tolist()
    assert all(matrix[k, t] == 0.0 for k in range(4) for t in range(4) if k > t)


def test_rows_not_masked_are_zero() -> None:
    clean = _f32([1.0, 1.0, 1.0])
    matrix = importance_matrix(clean, [_f32([0.0, 0.0, 0.0])], 3)
    assert matrix.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_values_are_within_zero_and_one() -> None:
    rng = np.random.default_rng(0)
    clean = rng.normal(size=20).astype(np.float32)
    masked = [rng.normal(size=20).astype(np.float32) * 3 for _ in range(20)]
    matrix = importance_matrix(clean, masked, 20)
    assert np.isfinite(matrix).all()
    assert matrix.min() >= 0.0 and matrix.max() <= 1.0
    assert (matrix[:, clean <= 0] == 0).all()


def test_masked_rows_replace_one_token_each() -> None:
    prompt = Prompt(0, [11, 12, 13, 14], _f32([0, 0, 1, 0]), pivot=2, pivot_value=1.0)
    assert masked_rows(prompt, 9, 2) == [[9, 12, 13, 14], [11, 9, 13, 14], [11, 12, 9, 14]]
    assert prompt.tokens == [11, 12, 13, 14]


# -- add_importance -------------------------------------------------------------------------------------------
Rule = Callable[[int, Sequence[int]], float]  # (neuron, tokens up to and including a position) -> activation


class Recorder:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.calls: list[tuple[list[tuple[int, list[int]]], str]] = []

    def __call__(self, rows: Sequence[tuple[int, Sequence[int]]], stage: str) -> list[np.ndarray]:
        self.calls.append(([(neuron, list(tokens)) for neuron, tokens in rows], stage))
        return [self.acts(neuron, tokens) for neuron, tokens in rows]

    def acts(self, neuron: int, tokens: Sequence[int]) -> np.ndarray:
        return _f32([self.rule(neuron, tokens[: t + 1]) for t in range(len(tokens))])


def four_after_three(neuron: int, prefix: Sequence[int]) -> float:
    """Fires on token 4, fully when a 3 came before it; token 5 never matters. Neuron 2 also needs a 5."""
    if prefix[-1] != 4:
        return 0.0
    value = 1.0 if 3 in prefix else 0.25
    if neuron == 2 and 5 not in prefix:
        value *= 0.5
    return value


def _prompt(recorder: Recorder, tokens: list[int], pivot: int, neuron: int = 1) -> Prompt:
    acts = recorder.acts(neuron, tokens)
    return Prompt(neuron, tokens, acts, pivot, float(acts[pivot]))


def test_add_importance_finds_the_relevant_tokens() -> None:
    recorder = Recorder(four_after_three)
    prompt = _prompt(recorder, [3, 5, 4], pivot=2)
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 1.0})

    assert prompt.importance is not None
    assert prompt.importance.shape == (3, 3)
    assert prompt.importance[:, 2].tolist() == pytest.approx([0.75, 0.0, 1.0])
    assert prompt.importance[1].tolist() == [0.0, 0.0, 0.0]  # token 5 is irrelevant to every position
    assert prompt.importance[:, :2].tolist() == [[0.0, 0.0]] * 3  # clean activation 0 there


def test_add_importance_is_one_batched_call() -> None:
    recorder = Recorder(four_after_three)
    first = _prompt(recorder, [3, 5, 4], pivot=2, neuron=1)
    second = _prompt(recorder, [5, 8, 3, 4], pivot=3, neuron=2)
    add_importance([first, second], recorder, MASK, threshold=0.5, a_max={1: 1.0, 2: 1.0})

    assert len(recorder.calls) == 1
    rows, stage = recorder.calls[0]
    assert stage == "saliency"
    assert rows == [(1, [MASK, 5, 4]), (1, [3, MASK, 4]), (1, [3, 5, MASK]),
                    (2, [MASK, 8, 3, 4]), (2, [5, MASK, 3, 4]), (2, [5, 8, MASK, 4]), (2, [5, 8, 3, MASK])]
    assert first.importance is not None and second.importance is not None
    assert first.importance[:, 2].tolist() == pytest.approx([0.75, 0.0, 1.0])
    # neuron 2 needs the 5 (half without it) and the 3 (a quarter without it); the 8 never matters
    assert second.importance[:, 3].tolist() == pytest.approx([0.5, 0.0, 0.75, 1.0])


def test_rows_after_the_last_firing_position_are_skipped() -> None:
    recorder = Recorder(four_after_three)
    prompt = _prompt(recorder, [3, 5, 4, 6, 6], pivot=2)
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 1.0})
    rows, _ = recorder.calls[0]
    assert len(rows) == 3
    assert prompt.importance is not None and prompt.importance.shape == (5, 5)
    assert prompt.importance[3:].tolist() == [[0.0] * 5] * 2


def test_a_firing_position_after_the_pivot_extends_the_rows() -> None:
    recorder = Recorder(four_after_three)
    prompt = _prompt(recorder, [3, 5, 4, 7, 4], pivot=2)  # post-pivot context with another firing 4
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 1.0})
    rows, _ = recorder.calls[0]
    assert len(rows) == 5
    assert prompt.importance is not None
    assert prompt.importance[:, 4].tolist() == pytest.approx([0.75, 0.0, 0.0, 0.0, 1.0])


def test_threshold_is_relative_to_a_max() -> None:
    recorder = Recorder(four_after_three)
    prompt = _prompt(recorder, [5, 6, 4, 6], pivot=0)  # the 4 (0.25) is below 0.5 x a_max = 0.5 ...
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 1.0})
    assert len(recorder.calls[0][0]) == 1
    recorder = Recorder(four_after_three)
    prompt = _prompt(recorder, [5, 6, 4, 6], pivot=0)  # ... and above 0.5 x a_max = 0.2
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 0.4})
    assert len(recorder.calls[0][0]) == 3
    assert prompt.importance is not None
    assert prompt.importance[:, 2].tolist() == pytest.approx([0.0, 0.0, 1.0, 0.0])


def test_the_pivot_is_covered_even_when_its_prompt_activation_is_low() -> None:
    recorder = Recorder(lambda neuron, prefix: 0.0)
    prompt = Prompt(1, [11, 12, 13, 14], _f32([0, 0, 0, 0]), pivot=2, pivot_value=3.0, source="unpruned")
    add_importance([prompt], recorder, MASK, threshold=0.5, a_max={1: 3.0})
    assert len(recorder.calls[0][0]) == 3
    assert prompt.importance is not None and not prompt.importance.any()
