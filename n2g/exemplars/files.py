"""The exemplar directory: what `n2g exemplars` writes and what graph fitting reads.

    DIR/manifest.json              settings, counts, `"status": "complete"` once every shard is written
    DIR/layer_LL.safetensors       one shard per layer, neuron-major (see `LAYER_TENSORS`)
    DIR/layer_LL_neg.safetensors   with `--signs both`: the same of the negated activations (the neurons' minima)
    DIR/random_windows.safetensors the fixed random window sample shared by all neurons
    DIR/documents.txt              document i's name on line i (window provenance)
    DIR/checkpoint.pt              only while a run is unfinished: everything needed to resume

Every file is written to a temporary name and renamed into place, so a kill never leaves a torn file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from safetensors.torch import load_file, save_file

from n2g.errors import N2GError
from n2g.files import MANIFEST, read_manifest, remove_temporaries, temporary_path
from n2g.specs import sign_suffix

CHECKPOINT = "checkpoint.pt"
RANDOM_WINDOWS = "random_windows.safetensors"
DOCUMENTS = "documents.txt"
_DOCUMENTS_PARTIAL = ".documents.txt.partial"
FORMAT_VERSION = 1
LAYER_TENSORS = {
    "neurons": "[neuron] int64 neuron index in the layer",
    "values": "[neuron, k] float32 window max, descending (-inf: fewer than k windows)",
    "window_ids": "[neuron, k] int64 window id (-1: empty slot)",
    "doc_index": "[neuron, k] int64 line of documents.txt",
    "starts": "[neuron, k] int64 token offset of the window in its document",
    "lengths": "[neuron, k] int64 real tokens in the window",
    "peak_pos": "[neuron, k] int64 position of the window max",
    "tokens": "[neuron, k, window_len] int32 token ids (no BOS)",
    "acts": "[neuron, k, window_len] float32 the neuron's activation at every token (0 past `lengths`)",
    "a_max": "[neuron] float32 max activation over the whole corpus",
    "fire_count": "[neuron] int64 tokens with activation > fire_threshold",
}
# With `MiningConfig.quantile_windows` N, a shard also holds the quantile sample (`n2g.exemplars.quantiles`): per
# neuron D x N slots, D the deciles sampled, highest decile first
QUANTILE_TENSORS = {
    "quantile_deciles": "[neuron, D x N] int64 decile of window max / a_max (-1: empty slot)",
    "quantile_values": "[neuron, D x N] float32 window max (-inf: empty slot)",
    "quantile_window_ids": "[neuron, D x N] int64 window id (-1: empty slot)",
    "quantile_doc_index": "[neuron, D x N] int64 line of documents.txt",
    "quantile_starts": "[neuron, D x N] int64 token offset of the window in its document",
    "quantile_lengths": "[neuron, D x N] int64 real tokens in the window",
    "quantile_peak_pos": "[neuron, D x N] int64 position of the window max",
    "quantile_tokens": "[neuron, D x N, window_len] int32 token ids (no BOS)",
    "quantile_acts": "[neuron, D x N, window_len] float32 the neuron's activation at every token (0 past `lengths`)",
}


def layer_file(out_dir: Path, layer: int, sign: int = 1) -> Path:
    return out_dir / f"layer_{layer:02d}{'' if sign > 0 else '_neg'}.safetensors"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    tmp = temporary_path(path)
    try:
        save_file({name: t.contiguous() for name, t in tensors.items()}, str(tmp))
    except Exception as err:  # safetensors raises its own error type for a full disk
        tmp.unlink(missing_ok=True)
        raise N2GError(f"cannot write {path}: {err}") from err
    os.replace(tmp, path)


def remove_leftovers(out_dir: Path) -> None:
    """After the manifest is written: the checkpoint and any temporaries are no longer needed."""
    for leftover in [out_dir / CHECKPOINT, out_dir / _DOCUMENTS_PARTIAL]:
        leftover.unlink(missing_ok=True)
    remove_temporaries(out_dir)


def document_line(name: str) -> str:
    return name.replace("\n", " ") + "\n"


@contextmanager
def documents_writer(out_dir: Path) -> Iterator[TextIO]:
    """Document names streamed to disk as they are read (memory stays flat on huge corpora); the file
    becomes `documents.txt` only when the block completes."""
    partial = out_dir / _DOCUMENTS_PARTIAL
    with partial.open("w", encoding="utf-8") as names:
        yield names
    os.replace(partial, out_dir / DOCUMENTS)


def save_checkpoint(out_dir: Path, state: dict[str, Any]) -> None:
    path = out_dir / CHECKPOINT
    tmp = temporary_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a checkpoint from another version: refuse rather than guess
        raise N2GError(f"cannot read {path} ({type(err).__name__}): delete it to start over") from err


@dataclass
class NeuronExemplars:
    """One neuron's top-k windows in one direction, strongest first, then, when asked for, its `quantile_windows`
    quantile windows (highest decile first); empty slots removed. For `sign` -1, values, acts and a_max are of the
    negated activations (-1 x the neuron's): every stage after mining sees a positive-direction problem."""

    layer: int
    neuron: int
    a_max: float
    fire_rate: float
    values: torch.Tensor  # [k]
    tokens: list[list[int]]  # k windows, each trimmed to its length
    acts: list[torch.Tensor]  # k tensors [length]
    peak_pos: list[int]
    documents: list[str]  # name of each window's document
    starts: list[int]
    quantile_windows: int = 0  # the last this many windows are the quantile sample's
    sign: int = 1


def _load_shard(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise N2GError(f"{path} is missing: the exemplar directory is damaged (re-run `n2g exemplars` elsewhere)")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error type for a damaged header or body
        raise N2GError(f"{path} is damaged ({str(err).splitlines()[0] if str(err) else type(err).__name__}): "
                       "re-run `n2g exemplars` into a new directory") from err


class ExemplarSet:
    """Read access to a finished exemplar directory."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        manifest = read_manifest(self.dir)
        if manifest is None and (self.dir / CHECKPOINT).is_file():
            raise N2GError(f"exemplars in {out_dir} are unfinished: re-run the same `n2g exemplars` to resume")
        if manifest is None:
            raise N2GError(f"no exemplars in {out_dir} (no {MANIFEST}): run `n2g exemplars --out {out_dir}`")
        self.manifest = manifest
        try:
            self.layers: list[int] = list(manifest["layers"])
            self.neurons: list[int] = list(manifest["neurons"])
        except (KeyError, TypeError) as err:
            raise N2GError(f"{self.dir / MANIFEST} is damaged (no {err}): delete the directory to start over") from err
        self.signs: list[int] = list(manifest.get("signs", [1]))  # absent: mined before negative mining existed
        self._shards: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        self._documents: list[str] | None = None

    def layer(self, layer: int, sign: int = 1) -> dict[str, torch.Tensor]:
        """All tensors of one layer's shard of one sign (see `LAYER_TENSORS`)."""
        if layer not in self.layers:
            raise N2GError(f"layer {layer} not in {self.dir} (it has layers {self.manifest['layers_spec']})")
        if sign not in self.signs:
            raise N2GError(f"{self.dir} holds no negative exemplars: mine with --signs both")
        if (layer, sign) not in self._shards:
            self._shards[layer, sign] = _load_shard(layer_file(self.dir, layer, sign))
        return self._shards[layer, sign]

    def random_windows(self) -> dict[str, torch.Tensor]:
        return _load_shard(self.dir / RANDOM_WINDOWS)

    def document_names(self) -> list[str]:
        if self._documents is None:
            self._documents = (self.dir / DOCUMENTS).read_text(encoding="utf-8").splitlines()
        return self._documents

    def neuron(self, layer: int, neuron: int, sign: int = 1, quantiles: bool = False) -> NeuronExemplars:
        """The neuron's top-k windows in direction `sign`, and with `quantiles` its quantile sample after them
        (where it was mined: the positive direction only)."""
        shard = self.layer(layer, sign)
        rows = (shard["neurons"] == neuron).nonzero()
        if rows.numel() == 0:
            raise N2GError(f"neuron {layer}:{neuron}{sign_suffix(sign)} not in {self.dir} "
                           f"(it has neurons {self.manifest['neurons_spec']})")
        row = int(rows[0, 0])
        names = self.document_names()
        top = self._windows(shard, row, "", names)
        sample = self._windows(shard, row, "quantile_", names) if quantiles and "quantile_window_ids" in shard else {}
        return NeuronExemplars(
            layer=layer, neuron=neuron, a_max=float(shard["a_max"][row]),
            fire_rate=float(shard["fire_count"][row]) / max(1, int(self.manifest["tokens"])),
            values=torch.cat([top["values"], *([sample["values"]] if sample else [])]),
            **{name: top[name] + sample.get(name, []) for name in ("tokens", "acts", "peak_pos", "documents",
                                                                   "starts")},
            quantile_windows=len(sample.get("tokens", [])), sign=sign)

    def _windows(self, shard: dict[str, torch.Tensor], row: int, prefix: str, names: list[str]) -> dict[str, Any]:
        """The filled slots of one neuron's top-k (`prefix` "") or quantile sample ("quantile_")."""
        filled = (shard[f"{prefix}window_ids"][row] >= 0).nonzero().squeeze(1).tolist()
        lengths = shard[f"{prefix}lengths"][row].tolist()
        doc_index = shard[f"{prefix}doc_index"][row]
        if doc_index.numel() and int(doc_index.max()) >= len(names):
            raise N2GError(f"{self.dir / DOCUMENTS} is shorter than the shards say: the directory is damaged")
        return {"values": shard[f"{prefix}values"][row, filled],
                "tokens": [shard[f"{prefix}tokens"][row, i, : lengths[i]].tolist() for i in filled],
                "acts": [shard[f"{prefix}acts"][row, i, : lengths[i]] for i in filled],
                "peak_pos": [int(shard[f"{prefix}peak_pos"][row, i]) for i in filled],
                "documents": [names[int(doc_index[i])] for i in filled],
                "starts": [int(shard[f"{prefix}starts"][row, i]) for i in filled]}
