"""Plain-text views of mined exemplars, for `n2g show`."""

from __future__ import annotations

from typing import Any

from n2g.errors import N2GError
from n2g.exemplar_store import ExemplarSet
from n2g.model_loading import load_tokenizer

_BEFORE, _AFTER = 12, 3  # tokens of context printed around a window's peak


def parse_neuron_id(text: str) -> tuple[int, int]:
    """'1.337' -> (1, 337)."""
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise N2GError(f"bad neuron {text!r}: write LAYER.NEURON, e.g. 1.337")
    return int(parts[0]), int(parts[1])


def _tokenizer(exemplars: ExemplarSet, model: str | None) -> Any:
    return load_tokenizer(model or exemplars.manifest["settings"]["model"])


def print_neuron(exemplars: ExemplarSet, neuron_id: str, top: int, model: str | None) -> None:
    layer, neuron = parse_neuron_id(neuron_id)
    found = exemplars.neuron(layer, neuron)
    tokenizer = _tokenizer(exemplars, model)
    print(f"neuron {layer}.{neuron}: a_max {found.a_max:.3f}, fires on {100 * found.fire_rate:.1f}% of tokens")
    for rank, (value, tokens, peak, doc) in enumerate(
            zip(found.values.tolist(), found.tokens, found.peak_pos, found.documents)):
        if rank >= top:
            break
        before = tokenizer.decode(tokens[max(0, peak - _BEFORE):peak])
        after = tokenizer.decode(tokens[peak + 1:peak + 1 + _AFTER])
        text = f"{before}[[{tokenizer.decode(tokens[peak:peak + 1])}]]{after}"
        print(f"  {value:7.3f}  {text!r}  ({doc})")


def print_peak_token_neurons(exemplars: ExemplarSet, token: str, top: int, model: str | None) -> None:
    """Neurons whose strongest window peaks on `token` (compared without surrounding whitespace)."""
    tokenizer = _tokenizer(exemplars, model)
    wanted = token.strip()
    hits: list[tuple[float, int, int]] = []
    for layer in exemplars.layers:
        shard = exemplars.layer(layer)
        peak_ids = shard["tokens"][:, 0].gather(1, shard["peak_pos"][:, :1]).squeeze(1).tolist()
        decoded = {tid: tokenizer.decode([tid]).strip() for tid in set(peak_ids)}
        for row, tid in enumerate(peak_ids):
            if decoded[tid] == wanted and int(shard["window_ids"][row, 0]) >= 0:
                hits.append((float(shard["a_max"][row]), layer, int(shard["neurons"][row])))
    print(f"{len(hits)} neurons peak on {wanted!r} in their strongest window"
          + (f"; the {min(top, len(hits))} strongest:" if hits else ""))
    for a_max, layer, neuron in sorted(hits, reverse=True)[:top]:
        print(f"  {layer}.{neuron}  a_max {a_max:.3f}")
