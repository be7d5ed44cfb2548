"""Command-line specs: index specs such as `0:4`, `0,5,10` or `all` (layers) and `0:63` (neurons), and
model/corpus specs that may be local paths.

Ranges are inclusive at both ends (`0:2` is layers 0, 1 and 2), for layers and neurons alike.
"""

from __future__ import annotations

from pathlib import Path

from n2g.errors import N2GError


def parse_neuron_id(text: str) -> tuple[int, int]:
    """'1:337' or '1.337' -> (1, 337): layer and neuron index."""
    parts = text.strip().replace(".", ":").split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise N2GError(f"bad neuron {text!r}: write LAYER:NEURON, e.g. 1:337")
    return int(parts[0]), int(parts[1])


def parse_index_spec(spec: str, size: int, what: str) -> list[int]:
    """Return the sorted, de-duplicated indices named by `spec`, each in [0, size)."""
    text = spec.strip().lower()
    if text in ("all", "*", ""):
        if text == "":
            raise N2GError(f"empty {what} spec: give e.g. 0:2, 0,5,10 or all")
        return list(range(size))
    indices: set[int] = set()
    for part in text.split(","):
        indices.update(_parse_part(part.strip(), size, what, spec))
    return sorted(indices)


def _parse_part(part: str, size: int, what: str, spec: str) -> range:
    bounds = part.split(":")
    if len(bounds) > 2 or not all(b.strip().isascii() and b.strip().isdigit() for b in bounds):
        raise N2GError(f"bad {what} spec {spec!r}: use N, A:B (inclusive), comma lists, or all")
    first, last = int(bounds[0]), int(bounds[-1])
    if first > last:
        raise N2GError(f"bad {what} spec {spec!r}: range {part} runs backwards")
    if last >= size:
        raise N2GError(f"{what} {last} out of range: the model has {size} {what}s (0-{size - 1})")
    return range(first, last + 1)


def format_index_spec(indices: list[int]) -> str:
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
