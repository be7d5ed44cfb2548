"""Pruning with constructed, deterministic `evaluate` functions: the true shortest suffix, in rounds, batched."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from n2g.fit.prompt import PRUNED, UNPRUNED
from n2g.fit.pruning import TrainingExample, candidate, length_rounds, prune

Rule = Callable[[int, Sequence[int]], float]  # (neuron, tokens up to and including a position) -> activation


class Recorder:
    """A causal `evaluate`: position t of a row gets rule(neuron, row[: t + 1]). Records every call."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.calls: list[list[tuple[int, list[int]]]] = []
        self.stages: list[str] = []

    def __call__(self, rows: Sequence[tuple[int, Sequence[int]]], stage: str) -> list[np.ndarray]:
        self.calls.append([(neuron, list(tokens)) for neuron, tokens in rows])
        self.stages.append(stage)
        return [self.acts(neuron, tokens) for neuron, tokens in rows]

    def acts(self, neuron: int, tokens: Sequence[int]) -> np.ndarray:
        return np.array([self.rule(neuron, tokens[: t + 1]) for t in range(len(tokens))], dtype=np.float32)

    @property
    def busy_calls(self) -> list[list[tuple[int, list[int]]]]:
        return [rows for rows in self.calls if rows]


def needs_seven(neuron: int, prefix: Sequence[int]) -> float:
    return 1.0 if 7 in prefix else 0.1


def _window(length: int, plant: dict[int, int] | None = None) -> list[int]:
    """Distinct filler tokens 100, 101, ... with some positions replaced."""
    tokens = [100 + i for i in range(length)]
    for position, token in (plant or {}).items():
        tokens[position] = token
    return tokens


def _example(recorder: Recorder, tokens: list[int], pivot: int, neuron: int = 0, post: int = 0) -> TrainingExample:
    return TrainingExample(neuron, tokens, recorder.acts(neuron, tokens), pivot, post)


def test_length_rounds() -> None:
    assert list(length_rounds(64)) == [(1, 4), (5, 8), (9, 16), (17, 32), (33, 64)]
    assert list(length_rounds(40)) == [(1, 4), (5, 8), (9, 16), (17, 32), (33, 40)]
    assert list(length_rounds(5)) == [(1, 4), (5, 5)]
    assert list(length_rounds(4)) == [(1, 4)]
    assert list(length_rounds(1)) == [(1, 1)]
    assert list(length_rounds(0)) == []


def test_candidate_is_the_suffix_ending_at_the_pivot_plus_post() -> None:
    example = TrainingExample(0, [10, 11, 12, 13, 14, 15], np.ones(6, np.float32), pivot=3, post=2)
    assert candidate(example, 1) == [13, 14, 15]
    assert candidate(example, 4) == [10, 11, 12, 13, 14, 15]
    no_post = TrainingExample(0, [10, 11, 12, 13, 14, 15], np.ones(6, np.float32), pivot=3)
    assert candidate(no_post, 2) == [12, 13]


ROUNDS_UP_TO = {1: 1, 4: 1, 5: 2, 9: 3, 17: 4, 40: 5}


@pytest.mark.parametrize("minimal", sorted(ROUNDS_UP_TO))
def test_prune_finds_the_true_minimal_suffix(minimal: int) -> None:
    recorder = Recorder(needs_seven)
    pivot = 63
    tokens = _window(80, {pivot - minimal + 1: 7})
    [prompt] = prune([_example(recorder, tokens, pivot)], recorder, max_context=64, ratio=0.5)

    assert prompt.tokens == tokens[pivot - minimal + 1: pivot + 1]
    assert prompt.pivot == minimal - 1
    assert prompt.source == PRUNED
    assert prompt.pivot_value == pytest.approx(1.0)
    assert prompt.neuron == 0
    assert np.array_equal(prompt.acts, recorder.acts(0, prompt.tokens))  # the pruned prompt's own activations
    assert len(recorder.busy_calls) == ROUNDS_UP_TO[minimal]
    assert set(recorder.stages) == {"prune"}
    every_row = [tokens for rows in recorder.calls for _, tokens in rows]
    tried = sorted(len(row) for row in every_row)
    assert tried == list(range(1, max(tried) + 1))  # every shorter length was tried, each once
    assert minimal in tried


def test_a_rule_with_two_causes_picks_the_nearer_one() -> None:
    def either(neuron: int, prefix: Sequence[int]) -> float:
        return (1.0 if 7 in prefix else 0.1) + (1.0 if 9 in prefix else 0.0)

    recorder = Recorder(either)
    tokens = _window(30, {29 - 11: 9, 29 - 2: 7})  # 9 at distance 11, 7 at distance 2 from the pivot (29)
    [prompt] = prune([_example(recorder, tokens, 29)], recorder, ratio=0.5)
    assert prompt.pivot_value == pytest.approx(2.0)
    assert prompt.tokens == tokens[27:30] and prompt.pivot == 2
    # with a stricter ratio both causes are needed
    recorder = Recorder(either)
    [prompt] = prune([_example(recorder, tokens, 29)], recorder, ratio=0.9)
    assert prompt.tokens == tokens[18:30] and prompt.pivot == 11 and prompt.source == PRUNED


def test_ratio_is_inclusive() -> None:
    def graded(neuron: int, prefix: Sequence[int]) -> float:
        return 0.25 + 0.25 * (prefix.count(7) > 0) + 0.5 * (prefix.count(8) > 0)

    recorder = Recorder(graded)
    tokens = _window(10, {6: 7, 2: 8})  # pivot 9: 7 at distance 3, 8 at distance 7
    [prompt] = prune([_example(recorder, tokens, 9)], recorder, ratio=0.5)  # 0.5 >= 0.5 x 1.0
    assert len(prompt.tokens) == 4
    recorder = Recorder(graded)
    [prompt] = prune([_example(recorder, tokens, 9)], recorder, ratio=0.25)  # 0.25 >= 0.25 x 1.0
    assert len(prompt.tokens) == 1


def test_shortest_passing_suffix_wins_even_if_a_longer_one_fails() -> None:
    def inhibited(neuron: int, prefix: Sequence[int]) -> float:  # 7 excites, an earlier 9 inhibits
        return (1.0 if 7 in prefix else 0.1) - (0.9 if 9 in prefix else 0.0)

    recorder = Recorder(inhibited)
    tokens = _window(20, {0: 7, 10: 9, 17: 7})
    example = TrainingExample(0, tokens, np.full(20, 1.0, np.float32), 19)  # mining saw 1.0 at the pivot
    [prompt] = prune([example], recorder, ratio=0.5)
    assert prompt.tokens == tokens[17:20] and prompt.source == PRUNED


def test_no_passing_suffix_keeps_the_longest_candidate_as_unpruned() -> None:
    def needs_start(neuron: int, prefix: Sequence[int]) -> float:  # fires only on the whole 70-token window
        return 1.0 if len(prefix) >= 70 and prefix[0] == 100 else 0.1

    recorder = Recorder(needs_start)
    tokens = _window(70)
    [prompt] = prune([_example(recorder, tokens, 69)], recorder, max_context=64, ratio=0.5)
    assert prompt.source == UNPRUNED
    assert prompt.tokens == tokens[6:70]
    assert len(prompt.tokens) == 64 and prompt.pivot == 63
    assert prompt.pivot_value == pytest.approx(1.0)
    assert prompt.acts[prompt.pivot] == pytest.approx(0.1)
    assert len(recorder.busy_calls) == 5


def test_unpruned_is_bounded_by_the_start_of_the_window() -> None:
    recorder = Recorder(lambda neuron, prefix: 0.1)
    tokens = _window(12)
    example = TrainingExample(3, tokens, np.full(12, 2.0, np.float32), pivot=5)
    [prompt] = prune([example], recorder, max_context=64)
    assert prompt.source == UNPRUNED
    assert prompt.tokens == tokens[:6] and prompt.pivot == 5 and prompt.neuron == 3
    assert len(recorder.busy_calls) == 2  # lengths 1-4, then 5-6


def test_examples_without_positive_activation_are_dropped() -> None:
    recorder = Recorder(needs_seven)
    good = _example(recorder, _window(10, {8: 7}), 9, neuron=1)
    zero = TrainingExample(2, _window(10, {8: 7}), np.zeros(10, np.float32), 9)
    negative = TrainingExample(3, _window(10, {8: 7}), np.full(10, -0.5, np.float32), 9)
    prompts = prune([zero, good, negative], recorder)
    assert [p.neuron for p in prompts] == [1]
    assert {neuron for rows in recorder.calls for neuron, _ in rows} == {1}


def test_all_examples_dropped_gives_nothing_and_evaluates_nothing() -> None:
    recorder = Recorder(needs_seven)
    zero = TrainingExample(2, _window(10), np.zeros(10, np.float32), 9)
    assert prune([zero], recorder) == []
    assert recorder.busy_calls == []
    assert prune([], recorder) == []


def test_post_context_is_appended_and_the_pivot_index_is_unchanged() -> None:
    recorder = Recorder(needs_seven)
    tokens = _window(20, {8: 7})  # pivot 10, 7 at distance 2 -> 3 tokens, then 4 post tokens
    [prompt] = prune([_example(recorder, tokens, 10, post=4)], recorder)
    assert prompt.tokens == tokens[8:15]
    assert prompt.pivot == 2
    assert prompt.source == PRUNED
    assert len(prompt.acts) == 7
    assert all(len(row) == length + 4 for length, (_, row) in enumerate(recorder.calls[0], start=1))


def test_post_context_is_cut_at_the_end_of_the_window() -> None:
    recorder = Recorder(needs_seven)
    tokens = _window(10, {7: 7})
    [prompt] = prune([_example(recorder, tokens, 8, post=5)], recorder)
    assert prompt.tokens == tokens[7:10] and prompt.pivot == 1


def test_post_tokens_do_not_decide_the_pivot() -> None:
    recorder = Recorder(needs_seven)
    tokens = _window(20, {4: 7, 11: 7})  # a 7 right after the pivot (10) must not make length 1 pass
    [prompt] = prune([_example(recorder, tokens, 10, post=3)], recorder)
    assert prompt.tokens == tokens[4:14] and prompt.pivot == 6


def test_rounds_batch_every_pending_example_in_one_call() -> None:
    def per_neuron(neuron: int, prefix: Sequence[int]) -> float:
        return 1.0 if neuron in prefix else 0.1  # neuron n needs token n

    recorder = Recorder(per_neuron)
    pivot = 70
    examples = [_example(recorder, _window(71, {pivot - 39: 40}), pivot, neuron=40),
                _example(recorder, _window(71, {pivot: 1}), pivot, neuron=1),
                _example(recorder, _window(71, {pivot - 4: 5}), pivot, neuron=5)]
    prompts = prune(examples, recorder, max_context=64)

    assert [p.neuron for p in prompts] == [40, 1, 5]  # the order of the examples
    assert [len(p.tokens) for p in prompts] == [40, 1, 5]
    busy = recorder.busy_calls
    assert [len(rows) for rows in busy] == [3 * 4, 2 * 4, 1 * 8, 1 * 16, 1 * 32]
    assert [sorted({neuron for neuron, _ in rows}) for rows in busy] == [[1, 5, 40], [5, 40], [40], [40], [40]]
    assert [sorted({len(tokens) for _, tokens in rows}) for rows in busy] == [
        [1, 2, 3, 4], [5, 6, 7, 8], list(range(9, 17)), list(range(17, 33)), list(range(33, 65))]
    assert len(recorder.calls) <= len(list(length_rounds(64)))


def test_examples_of_different_limits_share_rounds() -> None:
    recorder = Recorder(lambda neuron, prefix: 0.1)  # nothing passes: each example runs to its own limit
    short = TrainingExample(0, _window(3), np.ones(3, np.float32), pivot=2)
    long = TrainingExample(1, _window(10), np.ones(10, np.float32), pivot=9)
    prompts = prune([short, long], recorder, max_context=64)
    assert [(p.neuron, len(p.tokens), p.source) for p in prompts] == [(0, 3, UNPRUNED), (1, 10, UNPRUNED)]
    assert [len(rows) for rows in recorder.busy_calls] == [3 + 4, 4, 2]
