"""Plain-text views of mined exemplars, for `n2g show`.

A neuron's line gives the share of mined tokens whose activation is above the miner's `fire_threshold` (default 0):
on a gated MLP (SwiGLU), whose activations are signed, that is about half of all tokens and says little; the
rate relative to the neuron's own scale (>= 0.5 x a_max) is its fitted graph's (`n2g show --graphs`/`--db`).
Peak tokens are written as graphs write them (`n2g.model.token_keys.Vocabulary`: parts of a character as escapes)."""

from __future__ import annotations

from typing import Any

import torch

from n2g.exemplars.files import ExemplarSet
from n2g.model.loading import load_tokenizer
from n2g.model.token_keys import Vocabulary
from n2g.specs import NeuronRef, format_neuron

_BEFORE, _AFTER = 12, 3  # tokens of context printed around a window's peak


def _tokenizer(exemplars: ExemplarSet, model: str | None) -> Any:
    return load_tokenizer(model or exemplars.manifest["settings"]["model"])


def print_neuron(exemplars: ExemplarSet, ref: NeuronRef, top: int, model: str | None) -> None:
    layer, neuron, sign = NeuronRef(*ref)  # a plain (layer, neuron) pair is the positive direction
    found = exemplars.neuron(layer, neuron, sign)
    tokenizer = _tokenizer(exemplars, model)
    vocab = Vocabulary(tokenizer, "exact")
    threshold = exemplars.manifest["settings"].get("fire_threshold", 0.0)
    negated = " of the negated activations" if sign < 0 else ""
    counted = f"{'>' if sign > 0 else '<'} {(sign * threshold) or 0.0:g}"  # the negative side counts below -threshold
    print(f"neuron {format_neuron(layer, neuron, sign)}: a_max{negated} {found.a_max:.3f}, "
          f"activation {counted} on {100 * found.fire_rate:.1f}% of mined tokens (not a firing rate: "
          f"see the graph's)")
    for rank, (value, tokens, peak, doc) in enumerate(
            zip(found.values.tolist(), found.tokens, found.peak_pos, found.documents)):
        if rank >= top:
            break
        before = tokenizer.decode(tokens[max(0, peak - _BEFORE):peak])
        after = tokenizer.decode(tokens[peak + 1:peak + 1 + _AFTER])
        text = f"{before}[[{vocab.text(tokens[peak])}]]{after}"
        print(f"  {value:7.3f}  {text!r}  ({doc})")


def peak_token_neurons(exemplars: ExemplarSet, token: str, tokenizer: Any,
                       min_share: float = 0.5) -> list[tuple[float, float, int, int]]:
    """(share, a_max, layer, neuron) of neurons where at least `min_share` of the top-k windows peak on
    `token` (compared without surrounding whitespace), most consistent first, then strongest."""
    wanted = token.strip()
    vocab = Vocabulary(tokenizer, "exact")
    hits: list[tuple[float, float, int, int]] = []
    for layer in exemplars.layers:
        shard = exemplars.layer(layer)
        peak_ids = shard["tokens"].gather(2, shard["peak_pos"].unsqueeze(-1)).squeeze(-1)  # [neuron, k]
        decoded = {tid: vocab.text(tid).strip() for tid in peak_ids.unique().tolist()}
        matches = torch.tensor([[decoded[t] == wanted for t in row] for row in peak_ids.tolist()])
        filled = shard["window_ids"] >= 0
        share = (matches & filled).sum(1) / filled.sum(1).clamp(min=1)
        for row in (share >= min_share).nonzero().squeeze(1).tolist():
            hits.append((float(share[row]), float(shard["a_max"][row]), layer, int(shard["neurons"][row])))
    return sorted(hits, reverse=True)


def print_peak_token_neurons(exemplars: ExemplarSet, token: str, top: int, model: str | None) -> None:
    hits = peak_token_neurons(exemplars, token, _tokenizer(exemplars, model))
    print(f"{len(hits)} neurons have at least half of their top windows peaking on {token.strip()!r}"
          + (f"; the {min(top, len(hits))} most consistent:" if hits else ""))
    for share, a_max, layer, neuron in hits[:top]:
        print(f"  {format_neuron(layer, neuron)}  {100 * share:3.0f}% of windows  a_max {a_max:.3f}")
