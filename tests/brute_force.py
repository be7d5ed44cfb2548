"""Reference computations for tests: slow, obviously-correct versions of what n2g does fast."""

from __future__ import annotations

import torch


def top_k_windows(windows: list[tuple[int, list[int], torch.Tensor]], neuron: int, k: int,
                  context: int) -> list[int]:
    """Greedy deduplicated ranking. `windows`: (window id, tokens, acts [len, neuron]).

    Strongest window first (earlier id on ties); a window whose `context` tokens ending at the neuron's
    peak equal those of a window already taken is skipped (exact tuple comparison, no hashing).
    """
    def window_max(item: tuple[int, list[int], torch.Tensor]) -> float:
        return float(item[2][:, neuron].max())

    chosen: list[int] = []
    seen: set[tuple[int | None, ...]] = set()
    for window_id, tokens, acts in sorted(windows, key=lambda w: (-window_max(w), w[0])):
        signature = signature_at_peak(tokens, acts[:, neuron], context)
        if signature not in seen:
            seen.add(signature)
            chosen.append(window_id)
        if len(chosen) == k:
            break
    return chosen


def signature_at_peak(tokens: list[int], acts: torch.Tensor, context: int) -> tuple[int | None, ...]:
    """The `context` tokens ending at the window's first maximum of `acts` [len] (None before the window)."""
    peak = int(acts.argmax())
    return tuple(tokens[p] if p >= 0 else None for p in range(peak - context + 1, peak + 1))


def quantile_sample(windows: list[tuple[int, list[int], torch.Tensor]], neuron: int, a_max: float,
                    top: list[int], per_bin: int, lowest: int, context: int, key) -> dict[int, list[int]]:
    """Per decile from `lowest` to 9, the window ids the quantile rule keeps: the windows whose max / a_max falls in
    the decile, minus those whose signature at the peak is one of the `top` windows', one per signature (smallest
    `key(window id)`), the `per_bin` smallest keys. `windows` as `top_k_windows` takes them."""
    by_id = {w[0]: w for w in windows}
    taken = {signature_at_peak(by_id[w][1], by_id[w][2][:, neuron], context) for w in top}
    kept: dict[int, list[int]] = {}
    for decile in range(lowest, 10):
        seen: set[tuple[int | None, ...]] = set()
        chosen: list[int] = []
        for window_id, tokens, acts in sorted(windows, key=lambda w: key(w[0])):
            values = acts[:, neuron]
            ratio = float(values.max()) / a_max
            if min(9, int(ratio * 10 // 1)) != decile or a_max <= 0:
                continue
            signature = signature_at_peak(tokens, values, context)
            if signature in taken or signature in seen:
                continue
            seen.add(signature)
            chosen.append(window_id)
            if len(chosen) == per_bin:
                break
        kept[decile] = chosen
    return kept
