"""RunningTopK on synthetic activations with a 3-token vocabulary, so peak contexts collide constantly."""

from __future__ import annotations

import itertools

import pytest
import torch

from n2g.exemplars.topk import BatchContext, RunningTopK, context_hashes
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
        context = BatchContext(tokens=tokens.int(), lengths=lengths, window_ids=ids, doc_index=ids // 3,
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
    topk = run(batches, sparse).ranked()
    windows = reference_windows(batches)
    by_id = {w[0]: w for w in windows}
    for neuron in range(NEURONS):
        expected = top_k_windows(windows, neuron, K, CONTEXT)
        assert topk["window_ids"][neuron].tolist() == expected
        for slot, window_id in enumerate(expected):
            _, tokens, acts = by_id[window_id]
            length = len(tokens)
            assert int(topk["lengths"][neuron, slot]) == length
            assert topk["tokens"][neuron, slot, :length].tolist() == tokens
            assert torch.equal(topk["acts"][neuron, slot, :length], acts[:, neuron])
            assert bool((topk["acts"][neuron, slot, length:] == 0).all())
            assert float(topk["values"][neuron, slot]) == float(acts[:, neuron].max())
            assert int(topk["peak_pos"][neuron, slot]) == int(acts[:, neuron].argmax())
            assert int(topk["doc_index"][neuron, slot]) == window_id // 3


def test_sparse_and_dense_agree_exactly() -> None:
    batches = synthetic_batches(seed=11, n_batches=30)
    sparse, dense = run(batches, True).ranked(), run(batches, False).ranked()
    for name in sparse:
        assert torch.equal(sparse[name], dense[name]), name


def test_fewer_windows_than_k_leaves_empty_slots() -> None:
    topk = run(synthetic_batches(seed=3, n_batches=1, batch=2), sparse=True).ranked()
    assert bool((topk["window_ids"][:, 2:] == -1).all()) and bool(torch.isinf(topk["values"][:, 2:]).all())


def handmade_batch(first_id: int, rows: list[tuple[list[int], list[float]]]) -> tuple[torch.Tensor, BatchContext]:
    """One neuron; each row is (tokens, activations) of one full-width window."""
    tokens = torch.tensor([r[0] for r in rows])
    acts = torch.tensor([r[1] for r in rows]).unsqueeze(-1)  # [batch, width, 1]
    ids = torch.arange(first_id, first_id + len(rows))
    return acts, BatchContext(tokens=tokens.int(), lengths=torch.full((len(rows),), tokens.shape[1]), window_ids=ids,
                              doc_index=ids, starts=ids * 0, hashes=context_hashes(tokens, 2))


@pytest.mark.parametrize("sparse", [True, False])
def test_repeats_never_linger_when_fewer_than_k_windows(sparse: bool) -> None:
    """A window displaced by a stronger copy of its context leaves an empty slot, not a stale entry."""
    topk = RunningTopK(4, 1, 3, torch.device("cpu"), sparse=sparse)
    topk.update(*handmade_batch(0, [([1, 2, 3], [0.0, 0.0, 5.0]), ([1, 2, 3], [0.0, 0.0, 5.0]),
                                    ([0, 0, 1], [0.0, 2.0, 0.0])]))
    assert topk.ranked()["window_ids"][0].tolist() == [0, 2, -1, -1]
    topk.update(*handmade_batch(3, [([9, 2, 3], [0.0, 0.0, 6.0])]))  # same context (2, 3) at the peak
    ranked = topk.ranked()
    assert ranked["window_ids"][0].tolist() == [3, 2, -1, -1]
    assert ranked["values"][0].tolist() == [6.0, 2.0, float("-inf"), float("-inf")]
    assert ranked["tokens"][0, 0].tolist() == [9, 2, 3] and bool((ranked["acts"][:, 2:] == 0).all())


def test_state_round_trip_continues_identically() -> None:
    batches = synthetic_batches(seed=5, n_batches=20)
    first = run(batches[:8], sparse=True)
    resumed = RunningTopK(K, NEURONS, WIDTH, torch.device("cpu"))
    resumed.load_state_dict(first.state_dict())
    for acts, context in batches[8:]:
        resumed.update(acts, context)
    straight = run(batches, sparse=True)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


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


def merged(parts: list[list[tuple[torch.Tensor, BatchContext]]], sparse: bool, order: list[int]) -> RunningTopK:
    """Each part swept by a top-k of its own, then merged into an empty one in `order`."""
    total = RunningTopK(K, NEURONS, WIDTH, torch.device("cpu"))
    for i in order:
        total.merge(run(parts[i], sparse).ranked())
    return total


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sparse", [True, False])
def test_merged_parts_equal_one_sweep_exactly(seed: int, sparse: bool) -> None:
    """Cut the batches into parts at random places; merging the parts' top-k in any order, or as a tree, gives
    exactly the one sweep's ranking, rows and all (ties and duplicate contexts are frequent here)."""
    batches = synthetic_batches(seed, n_batches=24)
    gen = torch.Generator().manual_seed(100 + seed)
    cuts = sorted(set(torch.randint(1, len(batches), (4,), generator=gen).tolist()))
    bounds = [0, *cuts, len(batches)]
    parts = [batches[a:b] for a, b in zip(bounds, bounds[1:])]
    straight = run(batches, sparse).ranked()
    orders = [list(range(len(parts))), list(reversed(range(len(parts)))),
              torch.randperm(len(parts), generator=gen).tolist()]
    for order in orders:
        result = merged(parts, sparse, order).ranked()
        for name in straight:
            assert torch.equal(result[name], straight[name]), (order, name)
    # a tree: (first half merged) merged with (second half merged)
    half = len(parts) // 2
    left, right = merged(parts[:half], sparse, list(range(half))), merged(parts[half:], sparse,
                                                                          list(range(len(parts) - half)))
    left.merge(right.ranked())
    for name, tensor in left.ranked().items():
        assert torch.equal(tensor, straight[name]), name


def test_merge_then_continue_equals_one_sweep() -> None:
    """A merged top-k (as a chunked run's checkpoint holds it) keeps sweeping exactly like the one sweep."""
    batches = synthetic_batches(seed=9, n_batches=20)
    topk = merged([batches[:5], batches[5:11]], True, [0, 1])
    for acts, context in batches[11:]:
        topk.update(acts, context)
    straight = run(batches, sparse=True).ranked()
    for name, tensor in topk.ranked().items():
        assert torch.equal(tensor, straight[name]), name


def test_merging_an_empty_part_changes_nothing() -> None:
    batches = synthetic_batches(seed=2, n_batches=6)
    topk = run(batches, sparse=True)
    before = topk.ranked()
    topk.merge(RunningTopK(K, NEURONS, WIDTH, torch.device("cpu")).ranked())
    for name, tensor in topk.ranked().items():
        assert torch.equal(tensor, before[name]), name
