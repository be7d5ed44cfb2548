"""The exemplar miner: per batch, one forward pass that updates, for every neuron of the requested layers,
its top-k max-activating windows (deduplicated), its firing count, and the random window sample shared by
all neurons. `n2g.exemplars.run` drives it over a corpus with checkpoints.

Each batch runs once through the model, only as far as the last requested layer's `hook_post` (a hook
raises to stop there). A hook per layer reduces the layer's activations on the device at once, so memory is
independent of corpus size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from n2g.exemplars.random_sample import WindowSample
from n2g.exemplars.topk import BatchContext, RunningTopK, context_hashes
from n2g.exemplars.windows import WindowBatch
from n2g.model.loading import LoadedModel


def chain_digest(previous: str, tokens: np.ndarray) -> str:
    """Extend a digest chain by one window's int64 token ids."""
    return hashlib.blake2b(previous.encode() + tokens.astype(np.int64).tobytes(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class MiningConfig:
    layers: tuple[int, ...]
    neurons: tuple[int, ...] | None = None  # None: every neuron of each layer
    top_k: int = 20
    window_len: int = 64
    min_window_len: int = 8
    max_tokens: int | None = None
    max_windows_per_doc: int | None = None
    batch_size: int = 32
    n_random_windows: int = 256
    dedup_context: int = 8
    fire_threshold: float = 0.0
    seed: int = 0
    text_field: str = "text"
    checkpoint_every_s: float = 60.0
    sparse_merge: bool | None = None  # None: by device (sparse on CPU); results are identical either way


class StopForward(Exception):
    """Raised by the last layer's hook: nothing after it is needed."""


class LayerRecorder:
    """Forward hook on one layer's `hook_post`: updates that layer's top-k and firing counts."""

    def __init__(self, layer: int, d_mlp: int, config: MiningConfig, model: LoadedModel, is_last: bool) -> None:
        self.layer, self.is_last = layer, is_last
        self.has_bos = model.prepend_bos
        self.fire_threshold = config.fire_threshold
        self.neuron_index = None if config.neurons is None else torch.tensor(config.neurons, device=model.device)
        n_neurons = d_mlp if config.neurons is None else len(config.neurons)
        self.topk = RunningTopK(config.top_k, n_neurons, config.window_len, model.device, config.sparse_merge)
        self.fire_count = torch.zeros(n_neurons, dtype=torch.int64, device=model.device)
        self.batch: BatchContext | None = None
        self.valid: torch.Tensor | None = None  # [batch, window_len] bool, None when nothing is padded

    def __call__(self, activation: torch.Tensor, hook: Any = None) -> None:
        """`activation`: [batch, bos + window_len, d_mlp]."""
        assert self.batch is not None
        acts = activation[:, 1:] if self.has_bos else activation  # [batch, window_len, d_mlp]
        if self.neuron_index is not None:
            acts = acts.index_select(2, self.neuron_index)
        if self.valid is not None:
            acts = acts.masked_fill(~self.valid.unsqueeze(-1), float("-inf"))
        # summing over positions first, in int32, is ~4x faster on CPU than one sum over (batch, pos)
        self.fire_count += (acts > self.fire_threshold).sum(dim=1, dtype=torch.int32).sum(dim=0)
        self.topk.update(acts, self.batch)
        if self.is_last:
            raise StopForward


class ExemplarMiner:
    """Runs batches through the model and keeps every requested layer's running exemplars."""

    def __init__(self, model: LoadedModel, config: MiningConfig) -> None:
        self.model, self.config = model, config
        last = max(config.layers)
        self.recorders = {layer: LayerRecorder(layer, model.d_mlp, config, model, layer == last)
                          for layer in config.layers}
        self.sample = WindowSample(config.n_random_windows, config.seed)
        self.windows_done = 0
        self.tokens_done = 0
        self.digest = ""  # chained over every processed window's tokens: a resume checks the corpus is unchanged

    def process(self, batch: WindowBatch) -> None:
        device = self.model.device
        content = batch.content.to(device, non_blocking=True)
        lengths = batch.lengths.to(device)
        padded = bool((batch.lengths < content.shape[1]).any())
        context = BatchContext(tokens=content.to(torch.int32), lengths=lengths,
                               window_ids=batch.window_ids.to(device), doc_index=batch.doc_index.to(device),
                               starts=batch.starts.to(device),
                               hashes=context_hashes(content, self.config.dedup_context), padded=padded)
        valid = torch.arange(content.shape[1], device=device) < lengths[:, None] if padded else None
        for recorder in self.recorders.values():
            recorder.batch, recorder.valid = context, valid
        hooks = [(LoadedModel.neuron_hook(layer), rec) for layer, rec in self.recorders.items()]
        try:
            with torch.inference_mode():
                self.model.bridge.run_with_hooks(batch.tokens.to(device, non_blocking=True), fwd_hooks=hooks,
                                                 return_type=None)
        except StopForward:
            pass
        self.sample.offer(batch)
        for row, length in enumerate(batch.lengths.tolist()):
            self.digest = chain_digest(self.digest, batch.content[row, :length].numpy())
        self.windows_done += len(batch.lengths)
        self.tokens_done += batch.n_tokens

    def state(self) -> dict[str, Any]:
        return {"windows_done": self.windows_done, "tokens_done": self.tokens_done, "digest": self.digest,
                "sample": self.sample.state(),
                "layers": {layer: {"topk": rec.topk.state_dict(), "fire_count": rec.fire_count.cpu()}
                           for layer, rec in self.recorders.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.windows_done, self.tokens_done = state["windows_done"], state["tokens_done"]
        self.digest = state["digest"]
        self.sample.load_state(state["sample"])
        for layer, rec in self.recorders.items():
            rec.topk.load_state_dict(state["layers"][layer]["topk"])
            rec.fire_count.copy_(state["layers"][layer]["fire_count"])

    def layer_shard(self, layer: int) -> dict[str, torch.Tensor]:
        """The layer's tensors, neuron-major, as described by `exemplar_store.LAYER_TENSORS`."""
        rec = self.recorders[layer]
        top = rec.topk.ranked()
        neurons = self.config.neurons if self.config.neurons is not None else range(self.model.d_mlp)
        shard = {name: top[name] for name in
                 ("values", "window_ids", "doc_index", "starts", "lengths", "peak_pos", "tokens", "acts")}
        shard.update(neurons=torch.tensor(list(neurons), dtype=torch.int64), a_max=top["values"][:, 0].clone(),
                     fire_count=rec.fire_count.cpu())
        return shard
