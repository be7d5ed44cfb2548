"""Running, deduplicated top-k max-activating windows for every neuron of one layer, kept on the device.

Each window is a candidate for each neuron with its window maximum. Two candidates are near-duplicates for a
neuron when the `dedup_context` tokens ending at the neuron's peak are identical (`context_hashes`): the
neuron saw the same local text, so the second copy would add nothing to training and would contaminate a
held-out split. Of each such group only the strongest (then earliest) window is kept.

The result equals a brute-force ranking: sort all windows by (-window max, window id), walk down the list
skipping any window whose signature was already taken, stop at k.

Cost. The ranking ([k, neuron] scalars) is merged with each batch; the per-token rows ([neuron, slot,
window_len] activations and tokens) never move: each ranked entry points at its storage slot, and a merge
writes only the rows of windows that enter the top-k, into the slots of the windows they evict. On CPU a
threshold test (window max > k-th best) also restricts the merge to the neurons a batch improves, so after
warm-up a batch costs little more than a max over its activations. Both shortcuts need the device to say
which entries changed (a host sync); on a GPU that sync would stall the forward pass inside every hook, so
there (`sparse=False`) the merge spans all neurons and unchanged entries write into a scratch slot. Both
modes give identical results.
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
    for lag in range(min(context, tokens.shape[1])):  # lags past the window are all sentinel anyway
        shifted = torch.full_like(h1, 1)  # sentinel: real tokens map to id + 2
        shifted[:, lag:] = tokens[:, : tokens.shape[1] - lag].to(torch.int64) + 2
        h1 = (h1 * _B1 + shifted) % _P1
        h2 = (h2 * _B2 + shifted) % _P2
    return h1 * _P2 + h2


def rank_distinct(values: torch.Tensor, signatures: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row (neuron), the k strongest candidates with distinct signatures: (pick [rows, k] candidate
    indices, is_repeat [rows, k]). Strength is (value desc, index asc); a repeat (a weaker candidate with a
    signature already seen) is picked only when fewer than k distinct ones exist, and the caller empties it.

    Sorting, not pairwise comparison: O(C log C) per row instead of O(C^2)."""
    by_strength = torch.sort(values, dim=1, descending=True, stable=True).indices  # [rows, cand]
    sigs = signatures.gather(1, by_strength)
    by_sig = torch.sort(sigs, dim=1, stable=True).indices  # equal signatures adjacent, strongest first
    grouped = sigs.gather(1, by_sig)
    repeat_grouped = torch.zeros_like(grouped, dtype=torch.bool)
    repeat_grouped[:, 1:] = grouped[:, 1:] == grouped[:, :-1]
    repeat = torch.empty_like(repeat_grouped).scatter_(1, by_sig, repeat_grouped)  # in strength order
    distinct_first = torch.sort(repeat.to(torch.uint8), dim=1, stable=True).indices[:, :k]
    return by_strength.gather(1, distinct_first), repeat.gather(1, distinct_first)


@dataclass
class BatchContext:
    """What `RunningTopK.update` needs about the current batch besides activations (all on the device)."""

    tokens: torch.Tensor  # [batch, window_len] int32 content token ids (no BOS), right-padded
    lengths: torch.Tensor  # [batch] int64
    window_ids: torch.Tensor  # [batch] int64
    doc_index: torch.Tensor  # [batch] int64
    starts: torch.Tensor  # [batch] int64
    hashes: torch.Tensor  # [batch, window_len] int64 from `context_hashes`
    padded: bool = True  # whether any window is shorter than window_len (its padded activations are -inf)


class RunningTopK:
    """Top-k windows per neuron, plus each neuron's per-token activations in those windows.

    Neuron-major throughout ([neuron, k]): every sort and gather of a merge runs along contiguous memory.
    """

    RANKING = ("values", "window_ids", "signatures", "peak_pos", "doc_index", "starts", "lengths", "slots")
    PER_WINDOW = ("window_ids", "doc_index", "starts", "lengths")  # copied from the batch for new entries
    STORAGE = ("acts_store", "tokens_store")

    def __init__(self, k: int, n_neurons: int, window_len: int, device: torch.device,
                 sparse: bool | None = None) -> None:
        self.k, self.window_len, self.n_neurons = k, window_len, n_neurons
        self.sparse = device.type == "cpu" if sparse is None else sparse
        self.all_columns = torch.arange(n_neurons, device=device)

        def ranking(fill: float, dtype: torch.dtype = torch.int64) -> torch.Tensor:
            return torch.full((n_neurons, k), fill, dtype=dtype, device=device)

        self.values = ranking(float("-inf"), torch.float32)  # [neuron, k] window max, sorted descending
        self.window_ids, self.signatures, self.doc_index = ranking(-1), ranking(-1), ranking(-1)
        self.peak_pos, self.starts, self.lengths = ranking(0), ranking(0), ranking(0)
        self.slots = torch.arange(k, device=device).repeat(n_neurons, 1)  # [neuron, k] storage slot
        # [neuron, slot, window_len]; slot k is scratch, written by unchanged entries in dense mode
        self.acts_store = torch.zeros((n_neurons, k + 1, window_len), dtype=torch.float32, device=device)
        self.tokens_store = torch.zeros((n_neurons, k + 1, window_len), dtype=torch.int32, device=device)

    def update(self, acts: torch.Tensor, batch: BatchContext) -> None:
        """Merge one batch. `acts`: [batch, window_len, neuron], padded positions already -inf."""
        win_max = acts.amax(dim=1).float().T  # [neuron, batch]; amax is ~10x cheaper than max-with-indices
        above = win_max > self.values[:, -1:]  # only these can enter: see `_candidates`
        if self.sparse:
            cols = above.any(dim=1).nonzero().squeeze(1)  # neurons this batch improves
            if cols.numel() == 0:
                return
            whole = cols.numel() == self.n_neurons
            arg = (acts if whole else acts[:, :, cols]).max(dim=1).indices.T  # [cols, batch] peak positions
            win_max, above = (win_max, above) if whole else (win_max[cols], above[cols])
        else:
            cols = self.all_columns
            arg = acts.max(dim=1).indices.T
        rows, new_vals = self._candidates(win_max, above)  # [cols, m] batch rows and their maxima
        new_args = arg.gather(1, rows)
        k = self.k
        cand_vals = torch.cat([self.values[cols], new_vals], dim=1)  # [cols, k + m]
        cand_sigs = torch.cat([self.signatures[cols], batch.hashes.T[new_args, rows]], dim=1)
        pick, repeat = rank_distinct(cand_vals, cand_sigs, k)
        empty = repeat | torch.isneginf(cand_vals.gather(1, pick))  # fewer than k distinct windows so far
        from_old = pick < k
        old = pick.clamp(max=k - 1)  # column in the ranking, valid where from_old
        new = (pick - k).clamp(min=0)  # column in the candidates from the batch, valid where not from_old
        row = rows.gather(1, new)  # row in the batch

        def choose(ranked: torch.Tensor, fresh: torch.Tensor, if_empty: int) -> torch.Tensor:
            chosen = torch.where(from_old, ranked[cols].gather(1, old), fresh.gather(1, new))
            return chosen.masked_fill(empty, if_empty)

        slots = self._reuse_slots(self.slots[cols], from_old, old)
        self.values[cols] = cand_vals.gather(1, pick).masked_fill(empty, float("-inf"))
        self.signatures[cols] = cand_sigs.gather(1, pick).masked_fill(empty, -1)
        self.peak_pos[cols] = choose(self.peak_pos, new_args, 0)
        for name in self.PER_WINDOW:
            per_window: torch.Tensor = getattr(batch, name)
            if_empty = -1 if name in ("window_ids", "doc_index") else 0
            getattr(self, name)[cols] = choose(getattr(self, name), per_window[rows], if_empty)
        self.slots[cols] = slots
        self._store_rows(cols, ~from_old & ~empty, slots, row, acts, batch)

    def _candidates(self, win_max: torch.Tensor, above: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """([cols, m] batch rows, [cols, m] their maxima): per neuron the windows above its k-th best, in batch
        order, padded with -inf. Nothing else can enter: every ranked entry's signature keeps a representative
        at least as strong as the k-th best, and the ranked entries win ties, so a window at or below it
        ranks below k distinct ones. Sparse mode trims to the largest count; dense mode keeps the shape."""
        order = torch.sort((~above).to(torch.uint8), dim=1, stable=True).indices  # above first, batch order
        if self.sparse:
            order = order[:, : max(1, int(above.sum(dim=1).max()))]
        return order, win_max.gather(1, order).masked_fill(~above.gather(1, order), float("-inf"))

    @staticmethod
    def _reuse_slots(old_slots: torch.Tensor, from_old: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """[cols, k] storage slot of each new ranked entry: a kept entry keeps its slot, the j-th new entry
        takes the j-th slot freed by an evicted entry (there are exactly as many of each)."""
        kept = torch.zeros_like(old_slots).scatter_add_(1, old, from_old.long()) > 0  # old entries kept
        freed = old_slots.gather(1, torch.sort(kept.to(torch.uint8), dim=1, stable=True).indices)
        nth_new = ((~from_old).long().cumsum(dim=1) - 1).clamp(min=0)
        return torch.where(from_old, old_slots.gather(1, old), freed.gather(1, nth_new))

    def _store_rows(self, cols: torch.Tensor, is_new: torch.Tensor, slots: torch.Tensor, rows: torch.Tensor,
                    acts: torch.Tensor, batch: BatchContext) -> None:
        """Write the per-token rows of entries that came from this batch into their slots."""
        if self.sparse:
            col, rank = is_new.nonzero(as_tuple=True)
            neuron, slot, row = cols[col], slots[col, rank], rows[col, rank]
        else:  # no host sync: every entry writes, unchanged ones into the scratch slot k
            neuron = cols.unsqueeze(1).expand(-1, self.k).reshape(-1)
            slot = torch.where(is_new, slots, self.k).reshape(-1)
            row = rows.reshape(-1)
        by_neuron = acts.transpose(1, 2)  # [batch, neuron, window_len] view: rows are strided reads
        if not self.sparse or neuron.numel() * 12 > acts.shape[0] * acts.shape[2]:
            by_neuron = by_neuron.contiguous()  # many rows: one transposing copy beats scattered reads
        fresh = by_neuron[row, neuron].float()  # [entries, window_len]
        if batch.padded:
            fresh = torch.nan_to_num(fresh, neginf=0.0)  # padded positions are stored as 0
        self.acts_store[neuron, slot] = fresh
        self.tokens_store[neuron, slot] = batch.tokens[row]

    def ranked(self) -> dict[str, torch.Tensor]:
        """The top-k in rank order, on the CPU, neuron-major: ranking fields [neuron, k], `acts`/`tokens`
        [neuron, k, window_len] (zeros in empty entries)."""
        out = {name: getattr(self, name).cpu() for name in self.RANKING if name != "slots"}
        neurons = self.all_columns.unsqueeze(1)
        empty = (out["window_ids"] < 0).unsqueeze(-1)  # slots never filled, or emptied by a repeat
        out["acts"] = self.acts_store[neurons, self.slots].cpu().masked_fill(empty, 0.0)
        out["tokens"] = self.tokens_store[neurons, self.slots].cpu().masked_fill(empty, 0)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue exactly where this left off."""
        return {name: getattr(self, name).cpu() for name in self.RANKING + self.STORAGE}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)
