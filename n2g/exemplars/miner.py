"""The exemplar miner: per batch, one forward pass that updates, for every neuron of the requested layers,
its top-k max-activating windows (deduplicated), its firing count, and the random window sample shared by
all neurons. `n2g.exemplars.run` drives it over a corpus with checkpoints.

Each batch runs once through the model, only as far as the last requested layer's `hook_post` (a hook
raises to stop there). A hook per layer reduces the layer's activations on the device at once, so memory is
independent of corpus size.

With `signs="both"` each layer keeps a second top-k over the negated activations (`SignSide`): each neuron's most
negative windows, deduplicated the same way, with their own a_max (-1 x the minimum) and fire count, for graphs of
the negative direction of gated (SwiGLU) neurons. The random window sample serves both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from n2g.config import setting
from n2g.exemplars.corpus import CorpusPart
from n2g.exemplars.quantiles import DECILES, QuantileWindows
from n2g.exemplars.random_sample import WindowSample
from n2g.exemplars.topk import BatchContext, RunningTopK, Scratch, ShortRows, context_hashes
from n2g.exemplars.windows import WindowBatch
from n2g.model.hooks import StopForward, neuron_hook_name, run_until_stopped
from n2g.model.loading import LoadedModel


def chain_digest(previous: str, tokens: np.ndarray) -> str:
    """Extend a digest chain by one window's int64 token ids."""
    return hashlib.blake2b(previous.encode() + tokens.astype(np.int64).tobytes(), digest_size=16).hexdigest()


def batch_digest(previous: str, batch: WindowBatch) -> str:
    """Extend a digest chain by each window of a batch, in order."""
    for row, length in enumerate(batch.lengths.tolist()):
        previous = chain_digest(previous, batch.content[row, :length].numpy())
    return previous


# What "chosen by device" means for mining: a small budget on CPU (spread over more files by a cap per document, since
# held-out scoring splits by file), a large one on GPU.
DEVICE_MAX_TOKENS = {"cpu": 200_000, "cuda": 5_000_000}
DEVICE_BATCH_SIZE = {"cpu": 32, "cuda": 256}
DEVICE_WINDOWS_PER_DOC = {"cpu": 8, "cuda": 0}
Signs = Literal["positive", "both"]  # which directions of each neuron are mined: its maximum, or also its minimum


@dataclass(frozen=True)
class MiningConfig:
    """Settings of `n2g exemplars` (and of the mining stage of `n2g ingest` and `n2g report`)."""

    layers: tuple[int, ...] = setting((), "layers to mine", cli=False)
    neurons: tuple[int, ...] | None = setting(None, "neurons of each layer (None: all)", cli=False)
    top_k: int = setting(20, "exemplar windows kept per neuron", minimum=1)
    window_len: int = setting(64, "tokens per window", minimum=2)
    min_window_len: int = setting(8, "a document's tail shorter than this is dropped", cli=False)
    max_tokens: int | None = setting(None, "corpus tokens to mine (default by device: 200,000 on CPU, 5,000,000 on "
                                     "GPU; 0: the whole corpus)", minimum=0)
    max_windows_per_doc: int | None = setting(None, "windows taken from one document at most, spreading the token "
                                              "budget over more documents (default by device: 8 on CPU, no cap on "
                                              "GPU; 0: no cap)", minimum=0)
    batch_size: int | None = setting(None, "windows per forward pass (default by device: 32 on CPU, 256 on GPU)",
                                     minimum=1)
    n_random_windows: int = setting(256, "random windows kept for the pattern check and out-of-distribution scores",
                                    flag="--random-windows", minimum=0)
    dedup_context: int = setting(8, "windows whose last N tokens up to the neuron's peak are equal count once",
                                 minimum=1, metavar="N")
    fire_threshold: float = setting(0.0, "activation above which a token counts as fired")
    seed: int = setting(0, "seed of the random window sample, of the train/test split and of the corpus part split")
    corpus_part: CorpusPart = setting("all", "documents to mine: all, or one side of a seeded split of the corpus "
                                      "by document (fit: to fit graphs from; eval: to score them on, unseen)")
    eval_fraction: float = setting(0.2, "share of the corpus's documents in the eval part (with --corpus-part)",
                                   minimum=0.0, maximum=1.0, min_open=True)
    text_field: str = setting("text", "field holding the text in .jsonl/.parquet/datasets")
    checkpoint_every_s: float = setting(60.0, "seconds between checkpoints (0: after every batch)",
                                        flag="--checkpoint-every", minimum=0.0, metavar="SECONDS")
    quantile_windows: int = setting(0, "windows kept per neuron in each decile of window peak / a_max from "
                                    "--quantile-from up, besides the top-k, as more fitting evidence (a second pass "
                                    "over the corpus; 0: off)", minimum=0, metavar="N")
    quantile_from: float = setting(0.5, "lowest decile of window peak / a_max that --quantile-windows samples (0.5: "
                                   "the deciles where the neuron fires; lower adds windows where it does not)",
                                   minimum=0.0, maximum=0.9, metavar="RATIO")
    signs: Signs = setting("positive", "directions mined: positive (the top windows), or both (also each neuron's "
                           "most negative windows, for graphs of the negative direction: about twice the top-k "
                           "memory and merge work)")
    sparse_merge: bool | None = setting(None, "sparse top-k merge (None: by device, sparse on CPU); results "
                                        "are identical either way", cli=False)

    def for_device(self, device: str) -> MiningConfig:
        """The settings "chosen by device" made concrete (`device`: "cpu", "cuda", ...), so that what is recorded
        and compared is what ran; 0 (no limit) stays 0."""
        kind = device if device in DEVICE_MAX_TOKENS else "cpu"
        return replace(self, max_tokens=DEVICE_MAX_TOKENS[kind] if self.max_tokens is None else self.max_tokens,
                       max_windows_per_doc=DEVICE_WINDOWS_PER_DOC[kind] if self.max_windows_per_doc is None
                       else self.max_windows_per_doc,
                       batch_size=DEVICE_BATCH_SIZE[kind] if self.batch_size is None else self.batch_size)

    @property
    def lowest_decile(self) -> int:
        """The first decile `quantile_windows` samples (`quantile_from` rounded to a tenth)."""
        return min(DECILES - 1, max(0, round(self.quantile_from * DECILES)))

    def sign_values(self) -> tuple[int, ...]:
        """The signs mined: (1,) or (1, -1)."""
        return (1, -1) if self.signs == "both" else (1,)


@dataclass
class SignSide:
    """One direction of a layer's neurons: the top-k of `sign` x activation and its firing counts."""

    sign: int
    topk: RunningTopK
    fire_count: torch.Tensor  # [neuron] tokens with sign x activation > fire_threshold

    def state(self, ranked: bool) -> dict[str, Any]:
        """Checkpoint state (`ranked` False) or a mined part to merge (`ranked` True)."""
        topk = {"ranked": self.topk.ranked()} if ranked else {"topk": self.topk.state_dict()}
        return {**topk, "fire_count": self.fire_count.cpu()}


# A layer's state holds the positive side's where it always was (old checkpoints resume), the negative side's here
NEGATIVE_STATE = "negative"


class LayerRecorder:
    """Forward hook on one layer's `hook_post`: updates that layer's top-k and firing counts, or, in the second pass
    of `MiningConfig.quantile_windows`, only its quantile sample."""

    def __init__(self, layer: int, d_mlp: int, config: MiningConfig, model: LoadedModel, is_last: bool) -> None:
        self.layer, self.is_last = layer, is_last
        self.has_bos = model.prepend_bos
        self.fire_threshold = config.fire_threshold
        self.neuron_index = None if config.neurons is None else torch.tensor(config.neurons, device=model.device)
        n_neurons = d_mlp if config.neurons is None else len(config.neurons)
        self.sides = [SignSide(sign, RunningTopK(config.top_k, n_neurons, config.window_len, model.device,
                                                 config.sparse_merge),
                               torch.zeros(n_neurons, dtype=torch.int64, device=model.device))
                      for sign in config.sign_values()]
        self.batch: BatchContext | None = None
        self.quantiles: QuantileWindows | None = None  # set for the second pass (`ExemplarMiner.start_quantiles`)

    @property
    def topk(self) -> RunningTopK:
        """The positive side's top-k."""
        return self.sides[0].topk

    def side(self, sign: int) -> SignSide:
        return next(side for side in self.sides if side.sign == sign)

    def __call__(self, activation: torch.Tensor, hook: Any = None) -> None:
        """`activation`: [batch, bos + window_len, d_mlp]. Only the short windows' rows are masked past their
        length (copies of those rows; the model's own tensor is never written)."""
        assert self.batch is not None
        acts = activation[:, 1:] if self.has_bos else activation  # [batch, window_len, d_mlp]
        if self.neuron_index is not None:
            acts = acts.index_select(2, self.neuron_index)
        short = self.batch.short() if self.batch.padded else None
        if self.quantiles is not None:  # the second pass: the positive direction's quantile sample only
            short_acts = short.masked(acts) if short is not None else None
            self.quantiles.update(acts, self.batch, short_acts, self.topk.scratch)
        else:
            for side in self.sides:
                signed = acts if side.sign > 0 else torch.neg(acts)  # the minimum is the top of the negated values
                short_acts = short.masked(signed) if short is not None else None
                side.fire_count += self._fired(signed, short, short_acts)
                side.topk.update(signed, self.batch, short_acts)
        if self.is_last:
            raise StopForward

    def _fired(self, acts: torch.Tensor, short: ShortRows | None, short_acts: torch.Tensor | None) -> torch.Tensor:
        """[neuron] tokens above the threshold. Counted per window in uint8 where a window fits (no widening copy
        of the [batch, window_len, neuron] comparison: ~2x faster on CPU than an int32 sum), then summed."""
        count_dtype = torch.uint8 if acts.shape[1] <= 255 else torch.int32
        above = self.topk.scratch.get("fired", tuple(acts.shape), torch.bool, acts.device)
        per_window = torch.gt(acts, self.fire_threshold, out=above).view(torch.uint8).sum(dim=1, dtype=count_dtype)
        if short is not None and short_acts is not None:
            per_window[short.rows] = (short_acts > self.fire_threshold).view(torch.uint8).sum(dim=1,
                                                                                             dtype=count_dtype)
        return per_window.sum(dim=0, dtype=torch.int64)


class ExemplarMiner:
    """Runs batches through the model and keeps every requested layer's running exemplars."""

    def __init__(self, model: LoadedModel, config: MiningConfig) -> None:
        self.model, self.config = model, config
        last = max(config.layers)
        self.recorders = {layer: LayerRecorder(layer, model.d_mlp, config, model, layer == last)
                          for layer in config.layers}
        scratch = Scratch()  # the hooks run one after another: one set of temporary buffers serves them all
        for recorder in self.recorders.values():
            for side in recorder.sides:
                side.topk.scratch = scratch
        self.sample = WindowSample(config.n_random_windows, config.seed)
        self.windows_done = 0
        self.tokens_done = 0
        self.digest = ""  # chained over every processed window's tokens: a resume checks the corpus is unchanged
        self.second: PassProgress | None = None  # the quantile pass's progress, once it started

    def start_quantiles(self) -> None:
        """After the top-k pass: from here on `process` only offers windows to each layer's quantile sample."""
        config = self.config
        for recorder in self.recorders.values():
            recorder.quantiles = QuantileWindows.after(recorder.topk, config.quantile_windows, config.lowest_decile,
                                                       config.seed)
        self.second = PassProgress()

    def process(self, batch: WindowBatch) -> None:
        context = self.context(batch)
        for recorder in self.recorders.values():
            recorder.batch = context
        hooks = [(neuron_hook_name(layer), rec) for layer, rec in self.recorders.items()]
        with torch.inference_mode():
            run_until_stopped(self.model.bridge, batch.tokens.to(self.model.device, non_blocking=True), hooks)
        if self.second is not None:
            self.second.add(batch)
            return
        self.sample.offer(batch)
        self.digest = batch_digest(self.digest, batch)
        self.windows_done += len(batch.lengths)
        self.tokens_done += batch.n_tokens

    def state(self) -> dict[str, Any]:
        state = {"windows_done": self.windows_done, "tokens_done": self.tokens_done, "digest": self.digest,
                 "sample": self.sample.state(), "layers": self._layer_states(ranked=False)}
        if self.second is not None:
            state["quantiles"] = {"windows_done": self.second.windows_done, "tokens_done": self.second.tokens_done,
                                  "digest": self.second.digest,
                                  "layers": {layer: rec.quantiles.state_dict() for layer, rec in self.recorders.items()
                                             if rec.quantiles is not None}}
        return state

    def _layer_states(self, ranked: bool) -> dict[int, dict[str, Any]]:
        """Per layer the positive side's state, with the negative side's under "negative" when mined."""
        states = {}
        for layer, rec in self.recorders.items():
            state = rec.sides[0].state(ranked)
            if len(rec.sides) > 1:
                state[NEGATIVE_STATE] = rec.side(-1).state(ranked)
            states[layer] = state
        return states

    @staticmethod
    def _side_state(layer_state: dict[str, Any], sign: int) -> dict[str, Any]:
        return layer_state if sign > 0 else layer_state[NEGATIVE_STATE]

    def context(self, batch: WindowBatch) -> BatchContext:
        """What every layer's hook needs about the batch besides its activations, on the model's device."""
        device = self.model.device
        content = batch.content.to(device, non_blocking=True)
        short_rows = (batch.lengths < content.shape[1]).nonzero().squeeze(1)  # on the host: no device sync
        short = None
        if short_rows.numel():
            valid = torch.arange(content.shape[1]) < batch.lengths[short_rows].unsqueeze(1)
            short = ShortRows(short_rows.to(device), valid.to(device))
        return BatchContext(tokens=content.to(torch.int32), lengths=batch.lengths.to(device),
                            window_ids=batch.window_ids.to(device), doc_index=batch.doc_index.to(device),
                            starts=batch.starts.to(device), hashes=context_hashes(content, self.config.dedup_context),
                            padded=short is not None, _short=short)

    def part(self) -> dict[str, Any]:
        """What a miner that ran over one chunk of the corpus hands back to be merged into another (`merge`): its
        counts, its random sample and each layer's ranked top-k and firing counts, on the CPU."""
        return {"windows_done": self.windows_done, "tokens_done": self.tokens_done, "sample": self.sample.state(),
                "layers": self._layer_states(ranked=True)}

    def merge(self, part: dict[str, Any], digest: str) -> None:
        """Add a `part()` mined over the windows that follow those this miner holds; `digest`: the digest chain
        over all of them (the part's windows are not at hand here). Top-k, firing counts and the random sample
        merge exactly (`RunningTopK.merge`, `WindowSample.merge`), so the result, and a checkpoint of it, equals
        one sweep over the same windows."""
        for layer, rec in self.recorders.items():
            for side in rec.sides:
                mined = self._side_state(part["layers"][layer], side.sign)
                side.topk.merge(mined["ranked"])
                side.fire_count += mined["fire_count"].to(side.fire_count.device)
        self.sample.merge(part["sample"])
        self.windows_done += part["windows_done"]
        self.tokens_done += part["tokens_done"]
        self.digest = digest

    def load_state(self, state: dict[str, Any]) -> None:
        self.windows_done, self.tokens_done = state["windows_done"], state["tokens_done"]
        self.digest = state["digest"]
        self.sample.load_state(state["sample"])
        for layer, rec in self.recorders.items():
            for side in rec.sides:
                saved = self._side_state(state["layers"][layer], side.sign)
                side.topk.load_state_dict(saved["topk"])
                side.fire_count.copy_(saved["fire_count"])
        second = state.get("quantiles")
        if second is not None:  # checkpointed during the quantile pass
            self.start_quantiles()
            self.second = PassProgress(second["windows_done"], second["tokens_done"], second["digest"])
            for layer, rec in self.recorders.items():
                assert rec.quantiles is not None
                rec.quantiles.load_state_dict(second["layers"][layer])

    def layer_shard(self, layer: int, sign: int = 1) -> dict[str, torch.Tensor]:
        """The layer's tensors of one sign, neuron-major, as described by `exemplar_store.LAYER_TENSORS` (for the
        negative sign, of the negated activations: its values, acts and a_max are -1 x the neuron's)."""
        rec = self.recorders[layer]
        side = rec.side(sign)
        top = side.topk.ranked()
        neurons = self.config.neurons if self.config.neurons is not None else range(self.model.d_mlp)
        shard = {name: top[name] for name in
                 ("values", "window_ids", "doc_index", "starts", "lengths", "peak_pos", "tokens", "acts")}
        shard.update(neurons=torch.tensor(list(neurons), dtype=torch.int64), a_max=top["values"][:, 0].clone(),
                     fire_count=side.fire_count.cpu())
        if rec.quantiles is not None and sign > 0:
            shard.update(rec.quantiles.shard())
        return shard


@dataclass
class PassProgress:
    """How far the quantile pass got: it must end where the top-k pass did, over the same windows."""

    windows_done: int = 0
    tokens_done: int = 0
    digest: str = ""

    def add(self, batch: WindowBatch) -> None:
        self.digest = batch_digest(self.digest, batch)
        self.windows_done += len(batch.lengths)
        self.tokens_done += batch.n_tokens
