"""Command-line specs: neurons named `L:N` (layer, neuron), index specs such as `0:4`, `0,5,10` or `all`, the
selection of neurons a command works on, and model/corpus specs that may be local paths.

Ranges are inclusive at both ends (`0:2` is layers 0, 1 and 2), for layers and neurons alike. A neuron is named
`L:N` in every input and output (`1:144` is neuron 144 of layer 1); the store's id adds the model
(`smollm2-135m:1:144`) only where a model must be named. A neuron's negative direction (the graph of its most
negative activations, mined with `--signs both`) is the same name with a trailing `-`: `1:144-`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from n2g.errors import N2GError

SELECTION_HELP = ("With --layers: neurons of each of those layers, as inclusive ranges (0:63 is neurons 0 to 63; "
                  "0:15,100; all). Without --layers: LAYER:NEURON pairs naming single neurons (0:1501,1:144), "
                  "or all (every neuron of every layer).")


class NeuronRef(NamedTuple):
    """One direction of a neuron of a model: its layer, its index in the layer's MLP, and the sign (+1: where it
    fires positively, -1: where it goes most negative)."""

    layer: int
    neuron: int
    sign: int = 1

    def __str__(self) -> str:
        return format_neuron(self.layer, self.neuron, self.sign)


def sign_suffix(sign: int) -> str:
    """How a neuron's name marks its negative direction: `-` (nothing for the positive one)."""
    return "" if sign > 0 else "-"


def format_neuron(layer: int, neuron: int, sign: int = 1) -> str:
    """The one way a neuron is written: `L:N`, `L:N-` for its negative direction."""
    return f"{layer}:{neuron}{sign_suffix(sign)}"


def parse_neuron_id(text: str) -> NeuronRef:
    """'1:337' -> NeuronRef(1, 337); '1:337-' -> NeuronRef(1, 337, -1)."""
    body = text.strip()
    sign = -1 if body.endswith("-") else 1
    parts = body.removesuffix("-").split(":")
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        hint = f" ({text.strip().replace('.', ':')}?)" if text.count(".") == 1 and ":" not in text else ""
        raise N2GError(f"bad neuron {text!r}: write LAYER:NEURON, e.g. 1:337{hint}; 1:337- names its negative "
                       "direction")
    return NeuronRef(int(parts[0]), int(parts[1]), sign)


def parse_index_spec(spec: str, size: int | None, what: str) -> list[int]:
    """The sorted, de-duplicated indices named by `spec`, each in [0, size) (any non-negative index when `size` is
    None: a filter on what a store holds, whose size n2g does not know)."""
    text = spec.strip().lower()
    if text in ("all", "*", ""):
        if text == "":
            raise N2GError(f"empty {what} spec: give e.g. 0:2, 0,5,10 or all")
        if size is None:
            raise N2GError(f"{what} spec {spec!r}: name the {what}s (e.g. 0:2), not all")
        return list(range(size))
    indices: set[int] = set()
    for part in text.split(","):
        indices.update(_parse_part(part.strip(), size, what, spec))
    return sorted(indices)


MAX_INDEX = 2**31 - 1  # beyond any model's layers or neurons, and within every engine's integer parameters


def _parse_part(part: str, size: int | None, what: str, spec: str) -> range:
    bounds = part.split(":")
    if len(bounds) > 2 or not all(b.strip().isascii() and b.strip().isdigit() for b in bounds):
        raise N2GError(f"bad {what} spec {spec!r}: use N, A:B (inclusive), comma lists, or all")
    first, last = int(bounds[0]), int(bounds[-1])
    if first > last:
        raise N2GError(f"bad {what} spec {spec!r}: range {part} runs backwards")
    if size is not None and last >= size:
        raise N2GError(f"{what} {last} out of range: the model has {size} {what}s (0-{size - 1})")
    if last > MAX_INDEX:
        raise N2GError(f"{what} {last} out of range (at most {MAX_INDEX})")
    return range(first, last + 1)


def parse_neuron_selection(layers: str | None, neurons: str, n_layers: int, d_mlp: int,
                           default_layers: Sequence[int] | None = None) -> dict[int, list[int]]:
    """The neurons a command works on, per layer (`SELECTION_HELP`). `layers` None means --layers was not given:
    `neurons` then names L:N pairs (or `all`), and `default_layers` (else every layer) are the layers of `all`."""
    if layers is not None:
        chosen = parse_index_spec(layers, n_layers, "layer")
        per_layer = parse_index_spec(neurons, d_mlp, "neuron")
        return {layer: list(per_layer) for layer in chosen}
    everywhere = list(default_layers) if default_layers is not None else list(range(n_layers))
    if neurons.strip().lower() in ("all", "*"):
        return {layer: list(range(d_mlp)) for layer in everywhere}
    selection: dict[int, set[int]] = {}
    for item in neurons.split(","):
        if ":" not in item:
            raise N2GError(f"--neurons {neurons!r}: without --layers, name neurons as LAYER:NEURON pairs "
                           "(0:1501,1:144); for ranges in each layer give --layers too (--layers 0 --neurons 0:63)")
        layer, neuron, sign = parse_neuron_id(item)
        if sign < 0:
            raise N2GError(f"--neurons {item.strip()}: a selection names neurons, not directions (--signs both mines "
                           "the negative direction of every selected neuron)")
        if layer >= n_layers:
            raise N2GError(f"layer {layer} of {item.strip()} out of range: the model has {n_layers} layers "
                           f"(0-{n_layers - 1})")
        if neuron >= d_mlp:
            raise N2GError(f"neuron {neuron} of {item.strip()} out of range: the model has {d_mlp} neurons "
                           f"per layer (0-{d_mlp - 1})")
        selection.setdefault(layer, set()).add(neuron)
    return {layer: sorted(selection[layer]) for layer in sorted(selection)}


def selection_size(selection: Mapping[int, Sequence[int]]) -> int:
    return sum(len(neurons) for neurons in selection.values())


def union_of_neurons(selection: Mapping[int, Iterable[int]]) -> list[int]:
    """Every neuron index any layer of the selection names (what one mining sweep keeps for all its layers)."""
    return sorted({n for neurons in selection.values() for n in neurons})


def describe_selection(selection: Mapping[int, Sequence[int]]) -> str:
    """`3 neurons in layers 0,1 (0:1501, 1:144, 1:200)` for a few, counts per layer range for many."""
    total = selection_size(selection)
    layers = format_index_spec(list(selection))
    if total <= 6:
        names = ", ".join(format_neuron(layer, n) for layer, ns in selection.items() for n in ns)
        return f"{total} neuron{'s' if total != 1 else ''} ({names})"
    return f"{total} neurons in layer{'s' if len(selection) != 1 else ''} {layers}"


def format_index_spec(indices: Iterable[int]) -> str:
    """Compact inverse of `parse_index_spec`: [0,1,2,5] -> '0:2,5'."""
    parts: list[str] = []
    for i in sorted(set(indices)):
        if parts and parts[-1].split(":")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split(':')[0]}:{i}"
        else:
            parts.append(str(i))
    return ",".join(parts)


def portable_spec(spec: str) -> str:
    """A spec naming a local path, as an absolute path (so `./x` and `x` agree, and it still resolves from
    another directory); any other spec (a hub name, `python-stdlib`) unchanged."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec
