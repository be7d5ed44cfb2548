"""A fixed random sample of windows, the same for every neuron, for out-of-distribution evaluation.

The sample is a bottom-k sketch: each window gets a pseudo-random key from (seed, window id) and the
`size` smallest keys are kept. That is a uniform sample without replacement that does not depend on
batch size or on where a run was interrupted, and its state is just the windows it currently holds.
"""

from __future__ import annotations

import heapq

import torch

from n2g.exemplars.windows import WindowBatch

_MASK64 = (1 << 64) - 1


def window_key(seed: int, window_id: int) -> int:
    """SplitMix64 of (seed, window id): a fixed pseudo-random 64-bit key."""
    z = (seed * 0x9E3779B97F4A7C15 + window_id + 1) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class WindowSample:
    """Keeps the `size` windows with the smallest keys seen so far."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self._heap: list[tuple[int, int, list[int], int, int]] = []  # (-key, window id, tokens, doc, start)

    def offer(self, batch: WindowBatch) -> None:
        if self.size == 0:
            return
        content = batch.content.tolist()
        for row, (window_id, length, doc, start) in enumerate(zip(
                batch.window_ids.tolist(), batch.lengths.tolist(), batch.doc_index.tolist(),
                batch.starts.tolist())):
            item = (-window_key(self.seed, window_id), window_id, content[row][:length], doc, start)
            if len(self._heap) < self.size:
                heapq.heappush(self._heap, item)
            elif item[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, item)

    def merge(self, state: list[tuple[int, int, list[int], int, int]]) -> None:
        """Add another sample's `state()` (kept over other windows): the result is the sample of both window
        sets, as one sweep over all of them keeps it. Exact, in any order: a window's key depends only on the seed
        and its id, keys of distinct ids differ (SplitMix64 is a bijection), and the bottom `size` keys of a union
        are among the bottom `size` of each part."""
        for item in state:
            item = tuple(item)  # type: ignore[assignment]
            if len(self._heap) < self.size:
                heapq.heappush(self._heap, item)  # type: ignore[arg-type]
            elif item[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, item)  # type: ignore[arg-type]

    def windows(self) -> list[tuple[int, list[int], int, int]]:
        """(window id, tokens, doc index, start) of the sample, by window id."""
        return sorted((wid, toks, doc, start) for _, wid, toks, doc, start in self._heap)

    def tensors(self, window_len: int, pad_id: int) -> dict[str, torch.Tensor]:
        rows = self.windows()
        return {
            "window_ids": torch.tensor([r[0] for r in rows], dtype=torch.int64),
            "tokens": torch.tensor([r[1] + [pad_id] * (window_len - len(r[1])) for r in rows],
                                   dtype=torch.int32).reshape(len(rows), window_len),
            "lengths": torch.tensor([len(r[1]) for r in rows], dtype=torch.int64),
            "doc_index": torch.tensor([r[2] for r in rows], dtype=torch.int64),
            "starts": torch.tensor([r[3] for r in rows], dtype=torch.int64),
        }

    def state(self) -> list[tuple[int, int, list[int], int, int]]:
        return list(self._heap)

    def load_state(self, state: list[tuple[int, int, list[int], int, int]]) -> None:
        self._heap = [tuple(item) for item in state]  # type: ignore[misc]
        heapq.heapify(self._heap)
