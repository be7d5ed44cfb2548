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
    """One neuron's top-k windows in one direction, strongest first; empty slots removed. For `sign` -1, values,
    acts and a_max are of the negated activations (-1 x the neuron's): every stage after mining sees a
    positive-direction problem."""

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

    def neuron(self, layer: int, neuron: int, sign: int = 1) -> NeuronExemplars:
        shard = self.layer(layer, sign)
        rows = (shard["neurons"] == neuron).nonzero()
        if rows.numel() == 0:
            raise N2GError(f"neuron {layer}:{neuron}{sign_suffix(sign)} not in {self.dir} "
                           f"(it has neurons {self.manifest['neurons_spec']})")
        row = int(rows[0, 0])
        filled = (shard["window_ids"][row] >= 0).nonzero().squeeze(1).tolist()
        lengths = shard["lengths"][row].tolist()
        names = self.document_names()
        if int(shard["doc_index"][row].max()) >= len(names):
            raise N2GError(f"{self.dir / DOCUMENTS} is shorter than the shards say: the directory is damaged")
        return NeuronExemplars(
            layer=layer, neuron=neuron, a_max=float(shard["a_max"][row]),
            fire_rate=float(shard["fire_count"][row]) / max(1, int(self.manifest["tokens"])),
            values=shard["values"][row, filled],
            tokens=[shard["tokens"][row, i, : lengths[i]].tolist() for i in filled],
            acts=[shard["acts"][row, i, : lengths[i]] for i in filled],
            peak_pos=[int(shard["peak_pos"][row, i]) for i in filled],
            documents=[names[int(shard["doc_index"][row, i])] for i in filled],
            starts=[int(shard["starts"][row, i]) for i in filled], sign=sign)
