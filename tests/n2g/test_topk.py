"""RunningTopK on synthetic activations with a 3-token vocabulary, so peak contexts collide constantly."""

from __future__ import annotations

import itertools

import pytest
import torch

from n2g.topk import BatchContext, RunningTopK, context_hashes
from tests.brute_force import top_k_windows

K, WIDTH, NEURONS, CONTEXT, VOCAB = 4, 6, 9, 2, 3


def synthetic_batches(seed: int, n_batches: int = 15, batch: int = 5) -> list[tuple[torch.Tensor, BatchContext]]:
    """Batches of random windows (some shorter than WIDTH, padded with -inf) and their contexts."""
    gen = torch.Generator().manual_seed(seed)
    batches, next_id = [], 0
    for _ in range(n_batches):
        tokens = torch.randint(0, VOCAB, (batch, WIDTH), generator=gen)
        lengths = torch.randint(2, WIDTH + 1, (batch,), generator=gen)
        acts = torch.randn(batch, WIDTH, NEURONS, generator=gen).round(decimals=1)  # rounding makes ties
        valid = torch.arange(WIDTH) < lengths[:, None]
        acts = acts.masked_fill(~valid.unsqueeze(-1), float("-inf"))
        ids = torch.arange(next_id, next_id + batch)
        next_id += batch
        context = BatchContext(tokens=tokens, lengths=lengths, window_ids=ids, doc_index=ids // 3,
                               starts=ids % 3 * WIDTH, hashes=context_hashes(tokens, CONTEXT))
        batches.append((acts, context))
    return batches


def run(batches: list[tuple[torch.Tensor, BatchContext]], sparse: bool) -> RunningTopK:
    topk = RunningTopK(K, NEURONS, WIDTH, torch.device("cpu"), sparse=sparse)
    for acts, context in batches:
        topk.update(acts, context)
    return topk


def reference_windows(batches: list[tuple[torch.Tensor, BatchContext]]) -> list:
    windows = []
    for acts, context in batches:
        for row in range(acts.shape[0]):
            length = int(context.lengths[row])
            windows.append((int(context.window_ids[row]), context.tokens[row, :length].tolist(),
                            acts[row, :length]))
    return windows


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sparse", [True, False])
def test_matches_brute_force(seed: int, sparse: bool) -> None:
    batches = synthetic_batches(seed)
    topk = run(batches, sparse)
    windows = reference_windows(batches)
    by_id = {w[0]: w for w in windows}
    for neuron in range(NEURONS):
        expected = top_k_windows(windows, neuron, K, CONTEXT)
        assert topk.window_ids[:, neuron].tolist() == expected
        for slot, window_id in enumerate(expected):
            _, tokens, acts = by_id[window_id]
            length = len(tokens)
            assert int(topk.lengths[slot, neuron]) == length
            assert topk.tokens[slot, neuron, :length].tolist() == tokens
            assert torch.equal(topk.acts[slot, neuron, :length], acts[:, neuron])
            assert bool((topk.acts[slot, neuron, length:] == 0).all())
            assert float(topk.values[slot, neuron]) == float(acts[:, neuron].max())
            assert int(topk.peak_pos[slot, neuron]) == int(acts[:, neuron].argmax())
            assert int(topk.doc_index[slot, neuron]) == window_id // 3


def test_sparse_and_dense_agree_exactly() -> None:
    batches = synthetic_batches(seed=11, n_batches=30)
    sparse, dense = run(batches, True).state_dict(), run(batches, False).state_dict()
    for name in RunningTopK.FIELDS:
        assert torch.equal(sparse[name], dense[name]), name


def test_fewer_windows_than_k_leaves_empty_slots() -> None:
    topk = run(synthetic_batches(seed=3, n_batches=1, batch=2), sparse=True)
    assert bool((topk.window_ids[2:] == -1).all()) and bool(torch.isinf(topk.values[2:]).all())


def test_state_round_trip_continues_identically() -> None:
    batches = synthetic_batches(seed=5, n_batches=20)
    first = run(batches[:8], sparse=True)
    resumed = RunningTopK(K, NEURONS, WIDTH, torch.device("cpu"))
    resumed.load_state_dict(first.state_dict())
    for acts, context in batches[8:]:
        resumed.update(acts, context)
    straight = run(batches, sparse=True)
    for name in RunningTopK.FIELDS:
        assert torch.equal(resumed.state_dict()[name], straight.state_dict()[name]), name


def test_context_hash_equal_exactly_when_contexts_equal() -> None:
    tokens = torch.tensor(list(itertools.product(range(4), repeat=3)))  # every 3-token sequence over 4 ids
    hashes = context_hashes(tokens, context=3)[:, -1].tolist()
    assert len(set(hashes)) == len(hashes)
    shorter = context_hashes(tokens, context=2)[:, -1].tolist()
    for a, b in itertools.combinations(range(len(tokens)), 2):
        same_suffix = tokens[a, 1:].tolist() == tokens[b, 1:].tolist()
        assert (shorter[a] == shorter[b]) == same_suffix
    # positions before the window start hash differently from any real token
    assert context_hashes(torch.tensor([[0, 0]]), 2)[0, 0] != context_hashes(torch.tensor([[0, 0]]), 2)[0, 1]
