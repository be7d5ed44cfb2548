"""Tests of `n2g.exemplars.random_sample`: the seeded bottom-k window sample kept for out-of-distribution evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from n2g.exemplars.corpus import iter_documents
from n2g.exemplars.random_sample import WindowSample, window_key
from n2g.exemplars.windows import Window, WindowStream, batch_windows

WINDOW_LEN, PAD, BOS = 8, 0, 1


def _windows(count: int) -> list[Window]:
    """`count` windows of varied length (1..8) with ids 0..count-1 and tokens derived from the id."""
    return [Window(window_id=i, doc_index=i // 3, start=WINDOW_LEN * (i % 3),
                   tokens=[2 + (i * 31 + p) % 97 for p in range(1 + (i * 5) % WINDOW_LEN)])
            for i in range(count)]


def _sample(windows: list[Window], size: int, seed: int, batch_size: int = 16,
            bos_id: int | None = BOS) -> WindowSample:
    """Feed `windows` to a fresh WindowSample in batches of `batch_size`."""
    sample = WindowSample(size, seed)
    for batch in batch_windows(windows, batch_size, WINDOW_LEN, PAD, bos_id):
        sample.offer(batch)
    return sample


def _ids(sample: WindowSample) -> list[int]:
    return [row[0] for row in sample.windows()]


def test_window_key_is_a_fixed_64_bit_function() -> None:
    """Keys are 64-bit, depend on both seed and id, and are distinct across ids."""
    keys = [window_key(7, i) for i in range(5000)]
    assert all(0 <= k < 2**64 for k in keys)
    assert len(set(keys)) == len(keys)
    assert keys == [window_key(7, i) for i in range(5000)]
    assert keys[:100] != [window_key(8, i) for i in range(100)]


def test_sample_size_is_capped() -> None:
    """The sample holds min(size, windows seen) windows, each once."""
    windows = _windows(100)
    assert len(_sample(windows[:5], size=10, seed=0).windows()) == 5
    for size in (1, 10, 100, 150):
        ids = _ids(_sample(windows, size=size, seed=0))
        assert len(ids) == min(size, 100)
        assert len(set(ids)) == len(ids)


def test_sample_is_the_bottom_k_by_key() -> None:
    """The sample is exactly the `size` windows with the smallest keys, returned by window id."""
    windows = _windows(500)
    sample = _sample(windows, size=40, seed=3)
    expected = sorted(sorted(range(500), key=lambda i: window_key(3, i))[:40])
    assert _ids(sample) == expected


def test_sample_rows_hold_the_windows_unpadded() -> None:
    """Each kept row is (window id, its real tokens without BOS or padding, doc index, start)."""
    windows = _windows(300)
    by_id = {w.window_id: w for w in windows}
    for bos_id in (BOS, None):
        rows = _sample(windows, size=50, seed=11, bos_id=bos_id).windows()
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        for window_id, tokens, doc, start in rows:
            w = by_id[window_id]
            assert (tokens, doc, start) == (w.tokens, w.doc_index, w.start)


def test_deterministic_for_a_seed() -> None:
    """The same seed gives the same sample on two runs."""
    windows = _windows(1000)
    assert _sample(windows, 64, seed=5).windows() == _sample(windows, 64, seed=5).windows()


def test_different_seed_gives_different_sample() -> None:
    """Other seeds give other samples (they may overlap, but are not equal)."""
    windows = _windows(1000)
    samples = {seed: set(_ids(_sample(windows, 64, seed=seed))) for seed in range(4)}
    for a in range(4):
        for b in range(a + 1, 4):
            assert samples[a] != samples[b]
            assert len(samples[a] & samples[b]) < 32  # expected overlap is about 4 of 64


@pytest.mark.parametrize("size", [1, 25, 200])
def test_independent_of_batch_size(size: int) -> None:
    """Batches of 3 and of 7 (and one window at a time) give identical samples."""
    windows = _windows(400)
    reference = _sample(windows, size, seed=9, batch_size=3).windows()
    assert _sample(windows, size, seed=9, batch_size=7).windows() == reference
    assert _sample(windows, size, seed=9, batch_size=1).windows() == reference
    assert _sample(windows, size, seed=9, batch_size=400).windows() == reference


def test_state_round_trip_mid_stream(tmp_path: Path) -> None:
    """Saving the state mid-stream (through a real torch checkpoint) and resuming gives the same sample."""
    windows = _windows(700)
    reference = _sample(windows, 60, seed=2, batch_size=7)

    first = WindowSample(60, seed=2)
    batches = list(batch_windows(windows, 7, WINDOW_LEN, PAD, BOS))
    for batch in batches[:45]:
        first.offer(batch)
    path = tmp_path / "checkpoint.pt"
    torch.save({"sample": first.state()}, path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)

    resumed = WindowSample(60, seed=2)
    resumed.load_state(loaded["sample"])
    assert resumed.windows() == first.windows()
    for batch in batches[45:]:
        resumed.offer(batch)
    assert resumed.windows() == reference.windows()


def test_load_state_accepts_lists() -> None:
    """A state whose items became lists (e.g. through JSON) loads and resumes the same way."""
    windows = _windows(300)
    reference = _sample(windows, 30, seed=4, batch_size=10)
    first = _sample(windows[:120], 30, seed=4, batch_size=10)
    resumed = WindowSample(30, seed=4)
    resumed.load_state([list(item) for item in first.state()])
    for batch in batch_windows(windows[120:], 10, WINDOW_LEN, PAD, BOS):
        resumed.offer(batch)
    assert resumed.windows() == reference.windows()


def test_roughly_uniform() -> None:
    """Over 2000 windows a 200-window sample has a mean id near 1000 and covers all quarters of the stream."""
    windows = _windows(2000)
    for seed in range(5):
        ids = _ids(_sample(windows, 200, seed=seed, batch_size=64))
        mean = sum(ids) / len(ids)
        assert abs(mean - 999.5) < 160, (seed, mean)  # the standard error is about 39
        quarters = [sum(1 for i in ids if q * 500 <= i < (q + 1) * 500) for q in range(4)]
        assert all(25 <= n <= 75 for n in quarters), (seed, quarters)  # expected 50 each


def test_tensors_pad_and_describe_the_sample() -> None:
    """`tensors` gives padded int32 tokens plus lengths, ids, doc indices and starts, by window id."""
    windows = _windows(200)
    sample = _sample(windows, 20, seed=1)
    rows = sample.windows()
    out = sample.tensors(WINDOW_LEN, pad_id=PAD)
    assert out["tokens"].shape == (20, WINDOW_LEN) and out["tokens"].dtype == torch.int32
    assert out["window_ids"].tolist() == [r[0] for r in rows]
    assert out["lengths"].tolist() == [len(r[1]) for r in rows]
    assert out["doc_index"].tolist() == [r[2] for r in rows]
    assert out["starts"].tolist() == [r[3] for r in rows]
    for token_row, (_, tokens, _, _) in zip(out["tokens"].tolist(), rows):
        assert token_row == tokens + [PAD] * (WINDOW_LEN - len(tokens))


def test_empty_sample_tensors() -> None:
    """A sample that saw nothing gives empty tensors of the right shape."""
    out = WindowSample(10, seed=0).tensors(WINDOW_LEN, pad_id=PAD)
    assert out["tokens"].shape == (0, WINDOW_LEN)
    assert out["window_ids"].numel() == 0


def test_size_zero_keeps_nothing() -> None:
    """A zero-size sample accepts batches and stays empty."""
    sample = _sample(_windows(20), size=0, seed=0)
    assert sample.windows() == []


def test_sample_of_a_real_window_stream(tiny_model_dir: Path) -> None:
    """Fed from a real corpus and tokenizer, the sample holds real windows, the same for two batch sizes."""
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(tiny_model_dir)

    def run(batch_size: int) -> tuple[WindowSample, dict[int, Window]]:
        stream = WindowStream(iter_documents("python-stdlib"), tokenizer, window_len=32, min_len=4,
                              max_tokens=20_000)
        windows = list(stream)
        sample = WindowSample(50, seed=0)
        for batch in batch_windows(windows, batch_size, 32, tokenizer.pad_token_id, tokenizer.bos_token_id):
            sample.offer(batch)
        return sample, {w.window_id: w for w in windows}

    small, by_id = run(3)
    large, _ = run(7)
    assert small.windows() == large.windows()
    assert len(small.windows()) == 50
    for window_id, tokens, doc, start in small.windows():
        assert (tokens, doc, start) == (by_id[window_id].tokens, by_id[window_id].doc_index,
                                        by_id[window_id].start)


@pytest.mark.parametrize("size", [0, 7, 40, 400])
def test_merged_parts_equal_one_sweep(size: int) -> None:
    """Samples kept over consecutive parts of the windows, merged in any order, are the one sweep's sample."""
    windows = _windows(300)
    straight = _sample(windows, size=size, seed=5).windows()
    parts = [windows[:64], windows[64:200], windows[200:]]
    for order in ([0, 1, 2], [2, 0, 1]):
        total = WindowSample(size, 5)
        for i in order:
            total.merge(_sample(parts[i], size=size, seed=5).state())
        assert total.windows() == straight
