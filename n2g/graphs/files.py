"""The graph directory: what `n2g fit` writes and what `n2g show`, `n2g predict` and ingest read.

    DIR/manifest.json      model, exemplar directory, fit settings
    DIR/layer_LL.jsonl     one graph per line (`NeuronGraph.to_json`), appended a group of neurons at a time; a
                           neuron's positive and negative graphs (`sign`) are two lines, keyed (neuron, sign)

Appends are flushed and fsynced per group, so a kill loses at most the group in flight; a torn last line (a kill
mid-write) is cut off when the file is next opened for writing. A neuron already in the file is never fitted or
written again, so re-running a finished fit changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from n2g.errors import N2GError
from n2g.files import MANIFEST, check_same_settings, prepare_directory, read_manifest, save_json
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.specs import format_neuron

FORMAT = "n2g-graphs"
FORMAT_VERSION = 1


log = logging.getLogger("n2g")


def _reason(err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text at byte {err.start}"
    if isinstance(err, json.JSONDecodeError):
        return f"not JSON: {err.msg} at column {err.colno}"
    if isinstance(err, KeyError):
        return "no \"neuron\" field"
    return str(err)


GraphKey = tuple[int, int]  # (neuron, sign)


def layer_path(directory: Path, layer: int) -> Path:
    return directory / f"layer_{layer:02d}.jsonl"


class GraphDirectory:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self._index: dict[int, dict[GraphKey, tuple[int, str]]] = {}

    # -- writing ------------------------------------------------------------------------------------------------
    def open_for_fit(self, settings: dict[str, Any]) -> None:
        """Create the directory, or check that an existing one was fitted with the same settings."""
        prepare_directory(self.dir)
        found = read_manifest(self.dir)
        if found is None:
            save_json(self.dir / MANIFEST, {"format": FORMAT, "version": FORMAT_VERSION, **settings})
            return
        if found.get("format") != FORMAT:
            raise N2GError(f"{self.dir} holds something other than n2g graphs: choose another --out")
        check_same_settings(found, settings, where=str(self.dir), what="graphs",
                            remedy="use another --out or the same settings", ignore=("format", "version", "exemplars"))

    def done(self, layer: int, sign: int = 1) -> set[int]:
        """Neurons of the layer already written with this sign; cuts a torn last line left by a kill."""
        path = layer_path(self.dir, layer)
        if not path.is_file():
            return set()
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
        return {neuron for neuron, signed in self._read_index(layer, refresh=True) if signed == sign}

    def append(self, layer: int, graphs: Sequence[NeuronGraph]) -> None:
        with layer_path(self.dir, layer).open("a", encoding="utf-8") as handle:
            handle.write("".join(graph.to_json() + "\n" for graph in graphs))
            handle.flush()
            os.fsync(handle.fileno())
        self._index.pop(layer, None)

    # -- reading ------------------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        found = read_manifest(self.dir)
        if found is None or found.get("format") != FORMAT:
            raise N2GError(f"no graphs in {self.dir}: run `n2g fit --out {self.dir}` first")
        return found

    def layers(self) -> list[int]:
        return sorted(int(p.stem.split("_")[1]) for p in self.dir.glob("layer_*.jsonl"))

    def _read_index(self, layer: int, refresh: bool = False) -> dict[GraphKey, tuple[int, str]]:
        """(neuron, sign) -> (line number, JSON line). Only the last line of a file may be torn (no newline: a fit
        writing it, or killed while writing): it is skipped, with a warning. Any other bad line is an error naming
        the file and the line, never silently dropped."""
        if refresh or layer not in self._index:
            path = layer_path(self.dir, layer)
            index: dict[GraphKey, tuple[int, str]] = {}
            data = path.read_bytes() if path.is_file() else b""
            lines = data.split(b"\n")
            for number, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                torn = number == len(lines)  # after the last newline: a line still being written
                try:
                    line = raw.decode("utf-8")
                    record = json.loads(line)
                    neuron, sign = record["neuron"], record.get("sign", 1)
                    if not isinstance(neuron, int) or isinstance(neuron, bool) or sign not in (1, -1):
                        raise TypeError("neuron is not an integer, or sign not 1 or -1")
                except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
                    if torn:
                        log.warning("n2g: skipped the torn last line %d of %s (a fit writing it, or killed)",
                                    number, path)
                        continue
                    raise N2GError(f"{path} line {number} is not a graph ({_reason(err)}): restore the file, or "
                                   "delete that line and fit the neuron again") from err
                index[neuron, sign] = (number, line)
            self._index[layer] = index
        return self._index[layer]

    def neurons(self, layer: int, sign: int = 1) -> set[int]:
        """Neurons of the layer with a graph of this sign (read-only: unlike `done`, never cuts a torn line)."""
        return {neuron for neuron, signed in self._read_index(layer) if signed == sign}

    def graph(self, layer: int, neuron: int, sign: int = 1) -> NeuronGraph:
        self.manifest()
        found = self._read_index(layer).get((neuron, sign))
        if found is None:
            fitted = self.layers()
            where = f"layers {fitted}" if fitted else "no layers yet"
            raise N2GError(f"no graph for neuron {format_neuron(layer, neuron, sign)} in {self.dir} (it has {where})")
        return self._parse(layer, *found)

    def graphs(self, layer: int) -> Iterator[NeuronGraph]:
        """Every graph of the layer, both signs, by neuron (positive first)."""
        index = self._read_index(layer)
        for key in sorted(index, key=lambda key: (key[0], -key[1])):
            number, line = index[key]
            yield self._parse(layer, number, line)

    def _parse(self, layer: int, number: int, line: str) -> NeuronGraph:
        try:
            return NeuronGraph.from_json(line)
        except N2GError as err:
            raise N2GError(f"{layer_path(self.dir, layer)} line {number}: {err}") from err
