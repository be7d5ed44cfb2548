"""Windows sampled across activation quantiles: per neuron, besides its top-k, up to N windows in each decile of
window peak / a_max from `MiningConfig.quantile_from` up to 1, so that fitting also sees the neuron fire below its
strongest windows (the top-k alone leaves graphs precise but blind to much of what a neuron fires on; delphi and
Neuronpedia sample windows across quantiles the same way).

a_max is known only after the top-k pass, so the miner sweeps the same windows a second time
(`ExemplarMiner.start_quantiles`). Per (neuron, decile) it keeps the N windows with the smallest keys, a seeded
hash of the window id (`random_sample.window_key`, salted so that these are not the random sample's windows): a
bottom-k rule, so the result depends neither on batch size nor on where a run was interrupted, and the state is
neurons x deciles x N windows whatever the corpus. Windows are deduplicated as the top-k is (the
`dedup_context` tokens ending at the neuron's peak, `topk.context_hashes`): a window sharing that signature with one
of the neuron's top-k windows is left out, and a decile keeps one window per signature (its smallest key), so near
copies cannot land on both sides of a train/test split.
"""

from __future__ import annotations

import torch

from n2g.exemplars.random_sample import window_key
from n2g.exemplars.topk import BatchContext, RunningTopK, Scratch, first_peaks, rank_distinct

DECILES = 10
EMPTY = torch.iinfo(torch.int64).min  # the rank of an empty entry: below every key's
_SALT = 0x51A7_0E11  # added to the seed: the quantile keys are independent of the random window sample's


def deciles(peaks: torch.Tensor, a_max: torch.Tensor) -> torch.Tensor:
    """int64 decile of peak / a_max (`a_max` broadcast over the last dimension): floor(10 x ratio), a_max itself in
    decile 9; negative for a negative ratio and -1 where a_max <= 0 (a neuron that never fired has no deciles)."""
    ratio = peaks.float() / a_max.float().clamp(min=torch.finfo(torch.float32).tiny)
    decile = torch.floor(ratio * DECILES).clamp(min=-1, max=DECILES - 1).long()
    return torch.where(a_max > 0, decile, -1)


def quantile_keys(seed: int, window_ids: torch.Tensor) -> torch.Tensor:
    """[batch] int64 key of each window (62 bits, so that its negation, the rank, fits int64)."""
    ids = window_ids.tolist()
    return torch.tensor([window_key(seed + _SALT, w) >> 2 for w in ids], dtype=torch.int64,
                        device=window_ids.device)


class QuantileWindows:
    """Per (neuron, decile) row the kept windows, ranked by key ascending; rows are neuron-major, deciles from
    `lowest` to 9 within a neuron."""

    FIELDS = RunningTopK.FIELDS  # window_ids, doc_index, starts, lengths, signatures, peak_pos
    EMPTY_ENTRY = RunningTopK.EMPTY

    def __init__(self, per_bin: int, lowest: int, a_max: torch.Tensor, taken: torch.Tensor, window_len: int,
                 seed: int) -> None:
        """`a_max` [neuron]; `taken` [neuron, k] the signatures of each neuron's top-k windows (-1: empty)."""
        self.per_bin, self.lowest, self.bins, self.seed = per_bin, lowest, DECILES - lowest, seed
        self.a_max, self.taken = a_max.float(), taken
        device = a_max.device
        rows = a_max.numel() * self.bins
        self.ranks = torch.full((rows, per_bin), EMPTY, dtype=torch.int64, device=device)  # -key, descending
        self.values = torch.full((rows, per_bin), float("-inf"), dtype=torch.float32, device=device)  # window peak
        self.empty_entry = torch.tensor(self.EMPTY_ENTRY, device=device)
        self.entries = self.empty_entry.repeat(rows, per_bin, 1)  # [row, slot, field]
        self.acts = torch.zeros((rows, per_bin, window_len), dtype=torch.float32, device=device)
        self.tokens = torch.zeros((rows, per_bin, window_len), dtype=torch.int32, device=device)

    @classmethod
    def after(cls, topk: RunningTopK, per_bin: int, lowest: int, seed: int) -> QuantileWindows:
        """The sample of a second pass after the top-k pass `topk`: its a_max and its signatures."""
        return cls(per_bin, lowest, topk.values[:, 0].clone(), topk.signatures.clone(), topk.window_len, seed)

    def update(self, acts: torch.Tensor, batch: BatchContext, short_acts: torch.Tensor | None,
               scratch: Scratch) -> None:
        """Offer one batch: `acts` [batch, window_len, neuron], `short_acts` as `RunningTopK.update` takes them.
        Only the rows a window of the batch can enter (a key below the row's N-th) are merged."""
        win_max = acts.amax(dim=1)  # [batch, neuron]
        peaks = first_peaks(acts, win_max, scratch)
        if batch.padded:
            short = batch.short()
            masked = short_acts if short_acts is not None else short.masked(acts)
            win_max[short.rows] = masked.amax(dim=1)
            peaks[short.rows] = first_peaks(masked, win_max[short.rows], scratch)
        signatures = batch.hashes.gather(1, peaks).T  # [neuron, batch]
        fresh = ~(signatures.unsqueeze(2) == self.taken.unsqueeze(1)).any(dim=2)  # not near a top-k window
        decile = deciles(win_max, self.a_max).T - self.lowest  # [neuron, batch]
        bins = torch.arange(self.bins, device=decile.device).view(1, -1, 1)
        in_bin = (decile.unsqueeze(1) == bins) & fresh.unsqueeze(1)  # [neuron, bin, batch]
        ranks = -quantile_keys(self.seed, batch.window_ids)
        offered = torch.where(in_bin, ranks.view(1, 1, -1), EMPTY).reshape(-1, ranks.numel())  # [row, batch]
        changed = (offered > self.ranks[:, -1:]).any(dim=1).nonzero().squeeze(1)
        if changed.numel():
            self._merge(changed, offered[changed], signatures, peaks.T, win_max.T, acts, batch)

    def _merge(self, changed: torch.Tensor, offered: torch.Tensor, signatures: torch.Tensor, peaks: torch.Tensor,
               win_max: torch.Tensor, acts: torch.Tensor, batch: BatchContext) -> None:
        """Rank the rows `changed` anew over their kept windows and the batch's (`offered` [changed, batch]);
        `signatures`, `peaks`, `win_max`: [neuron, batch]."""
        n = self.per_bin
        neuron = changed // self.bins
        candidates = torch.cat([self.ranks[changed], offered], dim=1)
        pick, repeat = rank_distinct(candidates, torch.cat([self.entries[changed, :, 4], signatures[neuron]], 1), n)
        picked = candidates.gather(1, pick)
        empty = (repeat | (picked == EMPTY)).unsqueeze(2)
        from_old = (pick < n).unsqueeze(2)
        old, row = pick.clamp(max=n - 1), (pick - n).clamp(min=0)  # slot kept / batch row taken
        width = self.acts.shape[2]
        new_entries = torch.cat([batch.fields()[row], torch.stack([signatures[neuron].gather(1, row),
                                                                   peaks[neuron].gather(1, row)], dim=2)], dim=2)
        entries = torch.where(from_old, self.entries[changed].gather(1, old.unsqueeze(2).expand(-1, -1, 6)),
                              new_entries)
        new_acts = acts[row, :, neuron.unsqueeze(1).expand_as(row)].float()  # [changed, n, window_len]
        beyond = torch.arange(width, device=acts.device) >= batch.lengths[row].unsqueeze(2)
        new_acts = new_acts.masked_fill(beyond, 0.0)
        slots = old.unsqueeze(2).expand(-1, -1, width)
        window_acts = torch.where(from_old, self.acts[changed].gather(1, slots), new_acts)
        window_tokens = torch.where(from_old, self.tokens[changed].gather(1, slots), batch.tokens[row])
        values = torch.where(from_old.squeeze(2), self.values[changed].gather(1, old),
                             win_max[neuron].gather(1, row).float())
        self.ranks[changed] = picked.masked_fill(empty.squeeze(2), EMPTY)
        self.values[changed] = values.masked_fill(empty.squeeze(2), float("-inf"))
        self.entries[changed] = torch.where(empty, self.empty_entry, entries)
        self.acts[changed] = window_acts.masked_fill(empty, 0.0)
        self.tokens[changed] = window_tokens.masked_fill(empty, 0)

    def shard(self) -> dict[str, torch.Tensor]:
        """The sample as `files.QUANTILE_TENSORS` describes it, on the CPU: [neuron, deciles x N], highest decile
        first, each decile's windows by key."""
        n_neurons = self.a_max.numel()

        def by_neuron(tensor: torch.Tensor) -> torch.Tensor:
            shaped = tensor.cpu().reshape(n_neurons, self.bins, self.per_bin, *tensor.shape[2:])
            return shaped.flip(1).reshape(n_neurons, self.bins * self.per_bin, *tensor.shape[2:]).clone()

        out = {f"quantile_{name}": by_neuron(self.entries[:, :, i])
               for i, name in enumerate(self.FIELDS) if name != "signatures"}
        decile = torch.arange(self.lowest, DECILES).view(1, -1, 1).expand(n_neurons, -1, self.per_bin)
        decile = decile.reshape(-1, self.per_bin)
        out.update(quantile_values=by_neuron(self.values), quantile_acts=by_neuron(self.acts),
                   quantile_tokens=by_neuron(self.tokens),
                   quantile_deciles=by_neuron(torch.where(self.ranks.cpu() == EMPTY, -1, decile)))
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).cpu().clone() for name in ("ranks", "values", "entries", "acts", "tokens")}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)
