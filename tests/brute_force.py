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
        peak = int(acts[:, neuron].argmax())
        signature = tuple(tokens[p] if p >= 0 else None for p in range(peak - context + 1, peak + 1))
        if signature not in seen:
            seen.add(signature)
            chosen.append(window_id)
        if len(chosen) == k:
            break
    return chosen
