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

from dataclasses import dataclass, field

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
    distinct_first = stable_partition(repeat)[:, :k]
    return by_strength.gather(1, distinct_first), repeat.gather(1, distinct_first)


class Scratch:
    """Reusable buffers for the [batch, window_len, neuron] temporaries of the hooks (comparison masks), shared by
    every layer of a miner: the hooks run one after another. Allocating them fresh for every hook costs the forward
    pass around them more than the hooks themselves (the allocator hands large blocks back to the system and the
    model's next activations fault them in again)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A tensor of `shape`, uninitialised, valid until the next `get` of the same name."""
        key = (name, dtype, device)
        size = 1
        for dim in shape:
            size *= dim
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < size:
            buffer = self._buffers[key] = torch.empty(size, dtype=dtype, device=device)
        return buffer[:size].view(shape)


def first_peaks(acts: torch.Tensor, win_max: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    """[batch, neuron] int64: the first position of each window's maximum `win_max` [batch, neuron] in `acts`
    [batch, window_len, neuron] (what `acts.max(dim=1).indices` gives, at a third of its cost on CPU: a comparison
    pass (`>=` the maximum is `==` it, and compares faster), weights window_len..1 at the hits, and a byte-wide
    amax picks the first)."""
    width = acts.shape[1]
    scratch = scratch or Scratch()
    hits = torch.ge(acts, win_max.unsqueeze(1), out=scratch.get("hits", tuple(acts.shape), torch.bool, acts.device))
    if width <= 255:
        weights = torch.arange(width, 0, -1, dtype=torch.uint8, device=acts.device).view(1, width, 1)
        weighted = scratch.get("weighted", tuple(acts.shape), torch.uint8, acts.device)
        best = torch.mul(hits.view(torch.uint8), weights, out=weighted).amax(dim=1)
    else:
        weights = torch.arange(width, 0, -1, dtype=torch.int32, device=acts.device).view(1, width, 1)
        best = (hits.to(torch.int32) * weights).amax(dim=1)
    return (width - best.long()).clamp(max=width - 1)


def stable_partition(flags: torch.Tensor) -> torch.Tensor:
    """Per row, the column indices with `flags` False first, then those with it True, each in column order: what
    `torch.sort(flags.to(torch.uint8), dim=1, stable=True).indices` gives, by counting instead of sorting."""
    true = flags.long()
    false_before = (1 - true).cumsum(dim=1)
    position = torch.where(flags, false_before[:, -1:] + true.cumsum(dim=1) - 1, false_before - 1)
    order = torch.empty_like(position)
    columns = torch.arange(flags.shape[1], device=flags.device).expand_as(position)
    return order.scatter_(1, position, columns)


@dataclass
class BatchContext:
    """What `RunningTopK.update` needs about the current batch besides activations (all on the device)."""

    tokens: torch.Tensor  # [batch, window_len] int32 content token ids (no BOS), right-padded
    lengths: torch.Tensor  # [batch] int64
    window_ids: torch.Tensor  # [batch] int64
    doc_index: torch.Tensor  # [batch] int64
    starts: torch.Tensor  # [batch] int64
    hashes: torch.Tensor  # [batch, window_len] int64 from `context_hashes`
    padded: bool = True  # whether any window is shorter than window_len (activations past a length are ignored)
    _short: ShortRows | None = field(default=None, repr=False)
    _fields: torch.Tensor | None = field(default=None, repr=False)

    def short(self) -> ShortRows:
        """The batch's windows shorter than window_len (computed once, shared by every layer's hook)."""
        if self._short is None:
            width = self.tokens.shape[1]
            rows = (self.lengths < width).nonzero().squeeze(1)
            valid = torch.arange(width, device=rows.device) < self.lengths[rows].unsqueeze(1)
            self._short = ShortRows(rows, valid)
        return self._short


    def fields(self) -> torch.Tensor:
        """[batch, 4] int64: each window's id, document, start and length (`RunningTopK.FIELDS`' first four)."""
        if self._fields is None:
            self._fields = torch.stack([self.window_ids, self.doc_index, self.starts, self.lengths], dim=1)
        return self._fields


@dataclass
class ShortRows:
    rows: torch.Tensor  # [short] row indices in the batch
    valid: torch.Tensor  # [short, window_len] bool: the real positions of each

    def masked(self, acts: torch.Tensor) -> torch.Tensor:
        """[short, window_len, neuron]: these rows of a layer's `acts`, -inf past each window's length. Only the
        short rows are copied and masked, not the whole batch."""
        return acts.index_select(0, self.rows).masked_fill_(~self.valid.unsqueeze(-1), float("-inf"))


class RunningTopK:
    """Top-k windows per neuron, plus each neuron's per-token activations in those windows.

    Neuron-major throughout ([neuron, k]): every sort and gather of a merge runs along contiguous memory.
    """

    RANKING = ("values", "window_ids", "signatures", "peak_pos", "doc_index", "starts", "lengths", "slots")
    # the integer fields of an entry, kept together in `entries` [neuron, k, field] so that a merge moves them in one
    # gather; the first two come from the batch as they are (`BatchContext.fields`), the value when empty after each
    FIELDS = ("window_ids", "doc_index", "starts", "lengths", "signatures", "peak_pos")
    EMPTY = (-1, -1, 0, 0, -1, 0)
    STORAGE = ("acts_store", "tokens_store")

    def __init__(self, k: int, n_neurons: int, window_len: int, device: torch.device,
                 sparse: bool | None = None) -> None:
        self.k, self.window_len, self.n_neurons = k, window_len, n_neurons
        self.sparse = device.type == "cpu" if sparse is None else sparse
        self.scratch = Scratch()  # a miner shares one between its layers
        self.all_columns = torch.arange(n_neurons, device=device)

        def ranking(fill: float, dtype: torch.dtype = torch.int64) -> torch.Tensor:
            return torch.full((n_neurons, k), fill, dtype=dtype, device=device)

        self.values = ranking(float("-inf"), torch.float32)  # [neuron, k] window max, sorted descending
        self.empty_entry = torch.tensor(self.EMPTY, device=device)
        self.entries = self.empty_entry.repeat(n_neurons, k, 1)  # [neuron, k, field]
        for i, name in enumerate(self.FIELDS):  # views: `self.window_ids` etc. are [neuron, k] as before
            setattr(self, name, self.entries[:, :, i])
        self.slots = torch.arange(k, device=device).repeat(n_neurons, 1)  # [neuron, k] storage slot
        # [neuron, slot, window_len]; slot k is scratch, written by unchanged entries in dense mode
        self.acts_store = torch.zeros((n_neurons, k + 1, window_len), dtype=torch.float32, device=device)
        self.tokens_store = torch.zeros((n_neurons, k + 1, window_len), dtype=torch.int32, device=device)

    def update(self, acts: torch.Tensor, batch: BatchContext, short_acts: torch.Tensor | None = None) -> None:
        """Merge one batch. `acts`: [batch, window_len, neuron]; positions past a window's length are ignored,
        whatever they hold. `short_acts`: `batch.short().masked(acts)` when the caller has it already.

        Cost. One `amax` over `acts` gives every window maximum; the rest works on the candidates (the pairs of
        window and neuron above the neuron's k-th best). Their peak positions come from the rows of just those
        pairs when they are few, else from one pass over `acts` for all pairs (`first_peaks`: a third of a
        max-with-indices). Only the rows of windows that enter a top-k are copied into storage."""
        win_max = acts.amax(dim=1)  # [batch, neuron]; amax is ~10x cheaper than max-with-indices
        short = batch.short() if batch.padded else None
        if short is not None:
            if short_acts is None:
                short_acts = short.masked(acts)
            win_max[short.rows] = short_acts.amax(dim=1)
        above = win_max.float().T > self.values[:, -1:]  # [neuron, batch]; only these can enter: `_candidates`
        if self.sparse:
            cols = above.any(dim=1).nonzero().squeeze(1)  # neurons this batch improves
            if cols.numel() == 0:
                return
            if cols.numel() < self.n_neurons:
                above = above[cols]
        else:
            cols = self.all_columns
        rows, new_vals = self._candidates(win_max, cols, above)  # [cols, m] batch rows and their maxima
        fresh = None  # the candidates' rows, when read
        if self.sparse and rows.numel() * 12 <= acts.shape[0] * acts.shape[2]:  # few: read their rows
            fresh = self._rows(acts, batch, rows.reshape(-1), cols.unsqueeze(1).expand(rows.shape).reshape(-1))
            new_args = fresh.argmax(dim=1).view(rows.shape)  # the first maximum, as `max` gives it
        else:
            peaks = first_peaks(acts, win_max, self.scratch)  # [batch, neuron]
            if short is not None and short_acts is not None:
                peaks[short.rows] = first_peaks(short_acts, win_max[short.rows], self.scratch)
            new_args = peaks.T[cols].gather(1, rows)
        k, whole = self.k, cols.numel() == self.n_neurons
        old_entries = self.entries if whole else self.entries[cols]  # [cols, k, field]
        new_sigs = batch.hashes[rows, new_args]
        new_entries = torch.cat([batch.fields()[rows], torch.stack([new_sigs, new_args], dim=2)], dim=2)
        cand_vals = torch.cat([self.values if whole else self.values[cols], new_vals], dim=1)  # [cols, k + m]
        pick, repeat = rank_distinct(cand_vals, torch.cat([old_entries[:, :, 4], new_sigs], dim=1), k)
        empty = repeat | torch.isneginf(cand_vals.gather(1, pick))  # fewer than k distinct windows so far
        from_old = pick < k
        old = pick.clamp(max=k - 1)  # column in the ranking, valid where from_old
        new = (pick - k).clamp(min=0)  # column in the candidates from the batch, valid where not from_old
        row = rows.gather(1, new)  # row in the batch
        chosen = torch.cat([old_entries, new_entries], dim=1).gather(1, pick.unsqueeze(2).expand(-1, -1, 6))
        slots = self._reuse_slots(self.slots[cols], from_old, old)
        self.values[cols] = cand_vals.gather(1, pick).masked_fill(empty, float("-inf"))
        self.entries[cols] = torch.where(empty.unsqueeze(2), self.empty_entry, chosen)
        self.slots[cols] = slots
        self._store_rows(cols, ~from_old & ~empty, slots, new, row, acts, fresh, batch)

    @staticmethod
    def _rows(acts: torch.Tensor, batch: BatchContext, rows: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """[len(rows), window_len] float32: neuron `neurons[i]`'s activations in window `rows[i]`, -inf past the
        window's length. Few rows are read where they lie (strided); many, from one transposing copy."""
        by_neuron = acts.transpose(1, 2)  # [batch, neuron, window_len] view: rows are strided reads
        if rows.numel() * 2 > acts.shape[0] * acts.shape[2]:
            by_neuron = by_neuron.contiguous()  # most rows: one transposing copy beats scattered reads
        fresh = by_neuron[rows, neurons].float()
        if batch.padded:
            beyond = torch.arange(acts.shape[1], device=acts.device) >= batch.lengths[rows].unsqueeze(1)
            fresh.masked_fill_(beyond, float("-inf"))
        return fresh

    def _candidates(self, win_max: torch.Tensor, cols: torch.Tensor, above: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """([cols, m] batch rows, [cols, m] their maxima): per neuron the windows above its k-th best, in batch
        order, padded with -inf. Nothing else can enter: every ranked entry's signature keeps a representative
        at least as strong as the k-th best, and the ranked entries win ties, so a window at or below it
        ranks below k distinct ones. Sparse mode trims to the largest count; dense mode keeps the shape.
        `win_max`: [batch, neuron] every window's maximum; `above`: [cols, batch]."""
        order = stable_partition(~above)  # above first, in batch order
        if self.sparse:
            order = order[:, : max(1, int(above.sum(dim=1).max()))]
        values = win_max.T[cols].float() if cols.numel() < self.n_neurons else win_max.float().T
        return order, values.gather(1, order).masked_fill(~above.gather(1, order), float("-inf"))

    @staticmethod
    def _reuse_slots(old_slots: torch.Tensor, from_old: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """[cols, k] storage slot of each new ranked entry: a kept entry keeps its slot, the j-th new entry
        takes the j-th slot freed by an evicted entry (there are exactly as many of each)."""
        kept = torch.zeros_like(old_slots).scatter_add_(1, old, from_old.long()) > 0  # old entries kept
        freed = old_slots.gather(1, stable_partition(kept))
        nth_new = ((~from_old).long().cumsum(dim=1) - 1).clamp(min=0)
        return torch.where(from_old, old_slots.gather(1, old), freed.gather(1, nth_new))

    def _store_rows(self, cols: torch.Tensor, is_new: torch.Tensor, slots: torch.Tensor, new: torch.Tensor,
                    rows: torch.Tensor, acts: torch.Tensor, fresh: torch.Tensor | None, batch: BatchContext) -> None:
        """Write the per-token rows of entries that came from this batch into their slots: `new` [cols, k] is each
        entry's candidate column, `rows` its batch row; `fresh` the candidates' rows when `update` read them."""
        if self.sparse:
            col, rank = is_new.nonzero(as_tuple=True)
            neuron, slot, row = cols[col], slots[col, rank], rows[col, rank]
            if fresh is not None:  # already read, as candidates
                values = fresh[col * (fresh.shape[0] // cols.numel()) + new[col, rank]]
            else:
                values = self._rows(acts, batch, row, neuron)
        else:  # no host sync: every entry writes, unchanged ones into the scratch slot k
            neuron = cols.unsqueeze(1).expand(-1, self.k).reshape(-1)
            slot = torch.where(is_new, slots, self.k).reshape(-1)
            row = rows.reshape(-1)
            values = self._rows(acts, batch, row, neuron)
        if batch.padded:
            values = values.masked_fill(torch.isneginf(values), 0.0)  # padded positions are stored as 0
        self.acts_store[neuron, slot] = values
        self.tokens_store[neuron, slot] = batch.tokens[row]

    def merge(self, other: dict[str, torch.Tensor]) -> None:
        """Merge another top-k's `ranked()` entries (its ranking fields with `signatures`, and `acts`/`tokens`),
        kept over other windows of the same corpus: afterwards this holds the top-k of both window sets, exactly
        what one running top-k over all their windows would hold.

        Why that is exact: over a window set the result is, per neuron, the strongest window (value desc, then
        window id asc) of each of the k strongest signatures. A signature among the k strongest of the union has
        its strongest window in one of the parts, and there fewer than k signatures rank above it (each of them
        also ranks above it in the union), so that part's top-k holds it with that very window. Ranking the
        union of both top-k lists by the same order, with the same dedup, therefore gives the union's top-k.
        Ties are broken by window id, not by arrival, so merging is associative and commutative."""
        k, n = self.k, self.n_neurons
        neurons = self.all_columns.unsqueeze(1)
        mine = {name: getattr(self, name) for name in self.RANKING if name != "slots"}
        mine["acts"], mine["tokens"] = self.acts_store[neurons, self.slots], self.tokens_store[neurons, self.slots]
        cand = {name: torch.cat([mine[name], other[name].to(mine[name].device)], dim=1) for name in mine}
        # window id ascending first (empty entries, id -1, have value -inf and rank last anyway), then a stable
        # sort by value inside `rank_distinct`: ties go to the smaller window id, as in one sweep
        by_id = torch.sort(cand["window_ids"], dim=1, stable=True).indices
        pick, repeat = rank_distinct(cand["values"].gather(1, by_id), cand["signatures"].gather(1, by_id), k)
        pick = by_id.gather(1, pick)
        empty = repeat | torch.isneginf(cand["values"].gather(1, pick))
        fill = {"values": float("-inf"), "window_ids": -1, "doc_index": -1, "signatures": -1}
        for name in mine:
            if name in ("acts", "tokens"):
                rows = cand[name].gather(1, pick.unsqueeze(-1).expand(n, k, self.window_len))
                getattr(self, f"{name}_store")[:, :k] = rows.masked_fill(empty.unsqueeze(-1), 0)
            else:
                getattr(self, name).copy_(cand[name].gather(1, pick).masked_fill(empty, fill.get(name, 0)))
        self.slots.copy_(torch.arange(k, device=self.slots.device).expand(n, k))

    def ranked(self) -> dict[str, torch.Tensor]:
        """The top-k in rank order, on the CPU, neuron-major: ranking fields [neuron, k], `acts`/`tokens`
        [neuron, k, window_len] (zeros in empty entries)."""
        out = {name: getattr(self, name).cpu().clone() for name in self.RANKING if name != "slots"}
        neurons = self.all_columns.unsqueeze(1)
        empty = (out["window_ids"] < 0).unsqueeze(-1)  # slots never filled, or emptied by a repeat
        out["acts"] = self.acts_store[neurons, self.slots].cpu().masked_fill(empty, 0.0)
        out["tokens"] = self.tokens_store[neurons, self.slots].cpu().masked_fill(empty, 0)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue exactly where this left off."""
        return {name: getattr(self, name).cpu().clone() for name in self.RANKING + self.STORAGE}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)
