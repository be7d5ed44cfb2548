"""Running, deduplicated top-k max-activating windows for every neuron of one layer, kept on the device.

Each window is a candidate for each neuron with its window maximum. Two candidates are near-duplicates for a
neuron when the `dedup_context` tokens ending at the neuron's peak are identical (`context_hashes`): the
neuron saw the same local text, so the second copy would add nothing to training and would contaminate a
held-out split. Of each such group only the strongest (then earliest) window is kept.

The result equals a brute-force ranking: sort all windows by (-window max, window id), walk down the list
skipping any window whose signature was already taken, stop at k. The threshold test (`window max > k-th
best`) lets a batch skip every neuron it cannot improve, so after warm-up the cost is a max over the batch.
That test needs the device to report which neurons changed (a host sync); on a GPU the sync would stall
the forward pass inside every hook, so there the merge runs over all neurons (`sparse=False`), which a GPU
does in microseconds. Both modes give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_P1, _B1 = 2_147_483_647, 1_000_003  # two polynomial hashes mod primes < 2^31: products fit in int64
_P2, _B2 = 2_147_483_629, 911_382_323


def context_hashes(tokens: torch.Tensor, context: int) -> torch.Tensor:
    """[batch, pos] int64 hash of tokens[b, pos-context+1 .. pos] (positions before 0 hash as a sentinel)."""
    h1 = torch.zeros_like(tokens, dtype=torch.int64)
    h2 = torch.zeros_like(h1)
    for lag in range(context):
        shifted = torch.full_like(h1, 1)  # sentinel: real tokens map to id + 2
        shifted[:, lag:] = tokens[:, : tokens.shape[1] - lag].to(torch.int64) + 2
        h1 = (h1 * _B1 + shifted) % _P1
        h2 = (h2 * _B2 + shifted) % _P2
    return h1 * _P2 + h2


def duplicate_mask(values: torch.Tensor, signatures: torch.Tensor) -> torch.Tensor:
    """[cand, neuron] bool: True where a stronger (or equally strong, earlier) candidate shares the signature."""
    same = signatures.unsqueeze(0) == signatures.unsqueeze(1)  # [j, i, n]: candidate j vs candidate i
    order = torch.arange(values.shape[0], device=values.device)
    stronger = (values.unsqueeze(1) > values.unsqueeze(0)) | (
        (values.unsqueeze(1) == values.unsqueeze(0)) & (order.view(-1, 1, 1) < order.view(1, -1, 1)))
    return (same & stronger).any(dim=0)


@dataclass
class BatchContext:
    """What `RunningTopK.update` needs about the current batch besides activations (all on the device)."""

    tokens: torch.Tensor  # [batch, window_len] content token ids (no BOS), right-padded
    lengths: torch.Tensor  # [batch] int64
    window_ids: torch.Tensor  # [batch] int64
    doc_index: torch.Tensor  # [batch] int64
    starts: torch.Tensor  # [batch] int64
    hashes: torch.Tensor  # [batch, window_len] int64 from `context_hashes`


class RunningTopK:
    """Top-k windows per neuron, plus each neuron's per-token activations in those windows."""

    FIELDS = ("values", "window_ids", "signatures", "peak_pos", "doc_index", "starts", "lengths", "tokens", "acts")

    def __init__(self, k: int, n_neurons: int, window_len: int, device: torch.device,
                 sparse: bool | None = None) -> None:
        self.k, self.window_len = k, window_len
        self.sparse = device.type == "cpu" if sparse is None else sparse
        self.all_columns = torch.arange(n_neurons, device=device)
        self.values = torch.full((k, n_neurons), float("-inf"), device=device)  # [k, neuron] sorted desc
        self.window_ids = torch.full((k, n_neurons), -1, dtype=torch.int64, device=device)
        self.signatures = torch.full((k, n_neurons), -1, dtype=torch.int64, device=device)
        self.peak_pos = torch.zeros((k, n_neurons), dtype=torch.int64, device=device)
        self.doc_index = torch.full((k, n_neurons), -1, dtype=torch.int64, device=device)
        self.starts = torch.zeros((k, n_neurons), dtype=torch.int64, device=device)
        self.lengths = torch.zeros((k, n_neurons), dtype=torch.int64, device=device)
        self.tokens = torch.zeros((k, n_neurons, window_len), dtype=torch.int32, device=device)
        self.acts = torch.zeros((k, n_neurons, window_len), dtype=torch.float32, device=device)

    def update(self, acts: torch.Tensor, batch: BatchContext) -> None:
        """Merge one batch. `acts`: [batch, window_len, neuron], padded positions already -inf."""
        win_max, win_arg = acts.max(dim=1)  # [batch, neuron]
        win_max = win_max.float()
        if self.sparse:
            cols = (win_max > self.values[-1]).any(dim=0).nonzero().squeeze(1)  # neurons this batch improves
            if cols.numel() == 0:
                return
        else:
            cols = self.all_columns
        k = self.k
        arg = win_arg[:, cols]
        cand_vals = torch.cat([self.values[:, cols], win_max[:, cols]])  # [k + batch, cols]
        cand_sigs = torch.cat([self.signatures[:, cols], batch.hashes.gather(1, arg)])
        cand_vals = cand_vals.masked_fill(duplicate_mask(cand_vals, cand_sigs), float("-inf"))
        top_vals, pick = torch.sort(cand_vals, dim=0, descending=True, stable=True)  # stable: earlier wins ties
        pick = pick[:k]
        old = pick.clamp(max=k - 1)  # row in the buffer, valid where pick < k
        new = (pick - k).clamp(min=0)  # row in the batch, valid where pick >= k
        from_old = pick < k

        def choose(buffer: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
            return torch.where(from_old, buffer[:, cols].gather(0, old), fresh.gather(0, new))

        n_cols = cols.numel()
        self.values[:, cols] = top_vals[:k]
        self.signatures[:, cols] = cand_sigs.gather(0, pick)
        for name in ("window_ids", "doc_index", "starts", "lengths"):
            per_window: torch.Tensor = getattr(batch, name)
            getattr(self, name)[:, cols] = choose(getattr(self, name), per_window[:, None].expand(-1, n_cols))
        self.peak_pos[:, cols] = choose(self.peak_pos, arg)
        self._update_sequences(cols, from_old, old, new, acts, batch.tokens)

    def _update_sequences(self, cols: torch.Tensor, from_old: torch.Tensor, old: torch.Tensor,
                          new: torch.Tensor, acts: torch.Tensor, tokens: torch.Tensor) -> None:
        """Per-token rows ([k, cols, window_len]) for the chosen windows, from the buffer or the batch."""
        width = self.window_len
        old3, new3, keep3 = (t.unsqueeze(-1).expand(-1, -1, width) for t in (old, new, from_old))
        fresh_acts = acts[:, :, cols].permute(0, 2, 1).float()  # [batch, cols, window_len]
        fresh_acts = torch.nan_to_num(fresh_acts, neginf=0.0)  # padded positions are stored as 0
        fresh_tokens = tokens.to(torch.int32).unsqueeze(1).expand(-1, cols.numel(), -1)
        self.acts[:, cols] = torch.where(keep3, self.acts[:, cols].gather(0, old3), fresh_acts.gather(0, new3))
        self.tokens[:, cols] = torch.where(keep3, self.tokens[:, cols].gather(0, old3),
                                           fresh_tokens.gather(0, new3))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).cpu() for name in self.FIELDS}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)
