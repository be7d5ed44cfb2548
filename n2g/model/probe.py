"""The batched engine under every stage of graph fitting: many (neuron, token sequence) rows, few forward passes.

A forward pass computes every neuron of a layer at once, so rows that belong to different neurons share
passes: rows are sorted by length (little padding), packed into batches of at most `token_budget` padded
tokens, run only as far as the target layer's `hook_post` (a hook raises to stop there), and each row reads
its own neuron from the hook. Rows are right-padded; the model is causal, so padding never changes a real
position.

Rows are deduplicated before they run: the model is causal, so a row whose tokens are a prefix of another row's
(or equal to it) reads its values from the longer row. Rows of different neurons often coincide (the same top
window, the same pruned suffix, the same masked copy), so fitting many neurons together runs fewer tokens than
fitting them one by one, on top of the larger batches. BOS is prepended by the model's policy
(`LoadedModel.bos_to_prepend`); returned values are for the content tokens only.

`language_model_pass` is the one path that runs the whole model: augmentation needs next-token distributions
and whole-sequence log-probabilities; it reads the target neuron in the same pass.

A probe of `sign` -1 reads every neuron negated (values, gradients, the language-model pass's activations): the
negative direction of a neuron, fitted by the same stages as a positive-direction problem.

Memory. A forward pass in inference mode holds about one layer's activations, so its batches are bounded by
`token_budget` at any depth. A backward pass (`pivot_gradients`) keeps every layer's activations up to the target,
so its memory grows with depth: on SmolLM2 (fp32) 4,096 tokens took +0.54 GB at layer 0 and +9.4 GB at layer 29.
Its batches are therefore bounded in tokens x layers (`gradient_budget`), which keeps a fitting task's memory
bounded whatever its layer; and by rows, never by the number of neurons fitted together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from n2g.model.hooks import StopForward, neuron_hook_name, run_until_stopped
from n2g.model.loading import LoadedModel

Row = tuple[int, Sequence[int]]  # (neuron index in the layer, content token ids without BOS)

# Layers' worth of `token_budget` that a backward pass may hold: its batches carry at most
# token_budget x GRADIENT_LAYERS / (layer + 1) padded tokens (the whole budget up to layer 3).
GRADIENT_LAYERS = 4


def gradient_budget(token_budget: int, layer: int) -> int:
    """Padded tokens per backward pass to `layer`: token x layer products bounded by token_budget x GRADIENT_LAYERS
    (a backward pass keeps every layer's activations up to its target)."""
    return min(token_budget, max(1, token_budget * GRADIENT_LAYERS // (layer + 1)))


@dataclass
class ProbeStats:
    forward_calls: int = 0
    rows: int = 0
    tokens: int = 0  # real tokens, BOS included
    padded_tokens: int = 0  # tokens the batches held, padding included
    by_stage: dict[str, int] = field(default_factory=dict)  # real tokens per stage ("augment": the whole model)

    def add(self, stage: str, real: int, padded: int, rows: int) -> None:
        self.forward_calls += 1
        self.rows += rows
        self.tokens += real
        self.padded_tokens += padded
        self.by_stage[stage] = self.by_stage.get(stage, 0) + real


@dataclass
class LanguageModelRows:
    """Per row of `language_model_pass`, each [content length, ...]."""

    acts: list[np.ndarray]  # [len] the row's neuron (at the pass's precision: bf16-rounded under autocast)
    token_logprobs: list[np.ndarray]  # [len] log p(token | tokens before it); NaN for a first token without BOS
    proposals: list[np.ndarray]  # [len, top_m] most probable tokens for each position given what precedes it
    proposal_logprobs: list[np.ndarray]  # [len, top_m] their log-probabilities


class LayerProbe:
    def __init__(self, model: LoadedModel, layer: int, token_budget: int, lm_token_budget: int | None = None,
                 sign: int = 1) -> None:
        """`sign`: what every read is multiplied by (-1: the neurons' negative direction)."""
        self.model, self.layer, self.sign = model, layer, sign
        self.token_budget = token_budget
        self.lm_token_budget = lm_token_budget or max(256, token_budget // 4)
        self.bos = model.bos_to_prepend
        self.offset = int(self.bos is not None)  # position of the first content token in a row
        self.hook_name = neuron_hook_name(layer)
        self.stats = ProbeStats()
        special = getattr(model.tokenizer, "all_special_ids", None) or []
        self._special_ids = torch.tensor(sorted(set(special)), dtype=torch.long, device=model.device)

    # -- packing ------------------------------------------------------------------------------------------------
    def _batches(self, lengths: Sequence[int], budget: int) -> Iterator[list[int]]:
        """Row indices, longest first, in batches of at most `budget` padded tokens (BOS included)."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        start = 0
        while start < len(order):
            width = lengths[order[start]] + self.offset
            size = max(1, budget // max(1, width))
            yield order[start: start + size]
            start += size

    def _tensor(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """[batch, bos + width] right-padded ids and [batch] content lengths."""
        width = max(len(s) for s in sequences)
        prefix = [] if self.bos is None else [self.bos]
        pad = self.model.pad_token_id
        ids = torch.tensor([prefix + list(s) + [pad] * (width - len(s)) for s in sequences], dtype=torch.long)
        return ids.to(self.model.device), torch.tensor([len(s) for s in sequences])

    def _prepare(self, plan: SharedPrefixPlan, batch: Sequence[int], rows: Sequence[Row]
                 ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]], _FlatGather]:
        """The batch's input ids and lengths, the requests it serves, and how to read their values."""
        ids, lengths = self._tensor([plan.covers[c] for c in batch])
        requests = plan.requests_of(batch)
        gather = _FlatGather(requests, [rows[r][0] for r, _ in requests], [len(rows[r][1]) for r, _ in requests],
                             self.model.device)
        return ids, lengths, requests, gather

    def _record(self, stage: str, ids: torch.Tensor, lengths: torch.Tensor) -> None:
        real = int(lengths.sum()) + self.offset * len(lengths)
        self.stats.add(stage, real, ids.numel(), len(lengths))

    # -- lean passes, stopped at the layer ---------------------------------------------------------------------
    def _run_to_layer(self, ids: torch.Tensor, read: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return self._run_reading(ids, {self.layer: read})[self.layer]

    def _run_reading(self, ids: torch.Tensor, reads: Mapping[int, Callable[[torch.Tensor], torch.Tensor]]
                     ) -> dict[int, torch.Tensor]:
        """Run to the deepest of the layers in `reads` and stop; each read gets its layer's `hook_post`
        [batch, width, d_mlp] (content positions only)."""
        captured: dict[int, torch.Tensor] = {}
        deepest = max(reads)

        def hook_for(layer: int, read: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., None]:
            def hook(activation: torch.Tensor, hook: object = None) -> None:
                captured[layer] = self._signed(read(activation[:, self.offset:]))
                if layer == deepest:
                    raise StopForward
            return hook

        hooks = [(neuron_hook_name(layer), hook_for(layer, read)) for layer, read in reads.items()]
        with torch.inference_mode():
            run_until_stopped(self.model.bridge, ids, hooks)
        return captured

    def _signed(self, values: torch.Tensor) -> torch.Tensor:
        """`values` read from the hook, in this probe's direction (only what was read is negated)."""
        return values if self.sign > 0 else torch.neg(values)

    def neuron_acts(self, rows: Sequence[Row], stage: str = "") -> list[np.ndarray]:
        """[len(tokens)] float32 activations of each row's own neuron at every content position."""
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(rows)
        plan = SharedPrefixPlan([tuple(tokens) for _, tokens in rows])
        for batch in self._batches([len(c) for c in plan.covers], self.token_budget):
            ids, lengths, requests, gather = self._prepare(plan, batch, rows)
            values = self._run_to_layer(ids, gather.read).float().cpu().numpy()
            self._record(stage, ids, lengths)
            for (r, _), part in zip(requests, gather.split(values)):
                out[r] = part
        return out

    def text_acts(self, neurons: Sequence[int], tokens: Sequence[int], stage: str = "text") -> np.ndarray:
        """[len(neurons), len(tokens)] float32 activations on a text of any length: cut into windows of at most
        `TEXT_WINDOW` tokens, each after the first re-reading `TEXT_CONTEXT` tokens before the positions it reports
        (memory stays bounded, and no position runs past the model's context). Exact for a text within one
        window; beyond, each position sees at least `TEXT_CONTEXT` tokens before it, as in mining's windows."""
        out = np.zeros((len(neurons), len(tokens)), np.float32)
        spans = text_windows(len(tokens), self.text_window(), TEXT_CONTEXT)
        rows = [(n, list(tokens[start:end])) for n in neurons for start, _, end in spans]
        values = self.neuron_acts(rows, stage)
        for i, (start, first, end) in enumerate(spans * len(neurons)):
            out[i // len(spans), first:end] = values[i][first - start:]
        return out

    def text_window(self) -> int:
        n_ctx = int(getattr(self.model.bridge.cfg, "n_ctx", 0) or 0)
        return min(TEXT_WINDOW, n_ctx - self.offset) if n_ctx else TEXT_WINDOW

    def all_neurons(self, tokens: torch.Tensor, lengths: torch.Tensor, neurons: Sequence[int],
                    stage: str = "truth") -> torch.Tensor:
        """[rows, width, len(neurons)] float32 activations of the given neurons of this layer for padded windows
        `tokens` [rows, width] (no BOS); positions past a row's length are 0."""
        return self.layers_neurons(tokens, lengths, {self.layer: neurons}, stage)[self.layer]

    def layers_neurons(self, tokens: torch.Tensor, lengths: torch.Tensor, by_layer: Mapping[int, Sequence[int]],
                       stage: str = "truth") -> dict[int, torch.Tensor]:
        """`all_neurons` for several layers in one pass (to the deepest of them: it computes the others on its
        way): per layer, [rows, width, len(by_layer[layer])]."""
        index = {layer: torch.tensor(list(neurons), device=self.model.device) for layer, neurons in by_layer.items()}
        out = {layer: torch.zeros(tokens.shape[0], tokens.shape[1], len(i)) for layer, i in index.items()}
        reads = {layer: _selector(i) for layer, i in index.items()}
        for batch in self._batches(lengths.tolist(), self.token_budget):
            ids, batch_lengths = self._tensor([tokens[i, : int(lengths[i])].tolist() for i in batch])
            values = self._run_reading(ids, reads)
            self._record(stage, ids, batch_lengths)
            for layer, layer_values in values.items():
                layer_values = layer_values.float().cpu()
                for row, i in enumerate(batch):
                    length = int(batch_lengths[row])
                    out[layer][i, :length] = layer_values[row, :length]
        return out

    # -- gradients, for the pivot sweep ------------------------------------------------------------------------
    def pivot_gradients(self, rows: Sequence[Row], pivots: Sequence[int], stage: str = "sweep-gradient"
                        ) -> torch.Tensor:
        """[len(rows), d_model] float32: the gradient of each row's own neuron at its pivot with respect to the
        input embedding at the pivot. One backward pass per batch serves every row: rows do not interact, so the
        gradient of the sum of their activations is each row's own. Runs only to the layer."""
        out = torch.zeros(len(rows), self.model.bridge.cfg.d_model)
        budget = gradient_budget(self.token_budget, self.layer)
        for batch in self._batches([len(tokens) for _, tokens in rows], budget):
            ids, lengths = self._tensor([rows[i][1] for i in batch])
            index = torch.arange(len(batch), device=ids.device)
            at = torch.tensor([pivots[i] for i in batch], device=ids.device) + self.offset
            neurons = torch.tensor([rows[i][0] for i in batch], device=ids.device)
            out[batch] = self._embedding_gradient(ids, index, at, neurons).float().cpu()
            self._record(stage, ids, lengths)
        return out

    def _embedding_gradient(self, ids: torch.Tensor, index: torch.Tensor, at: torch.Tensor,
                            neurons: torch.Tensor) -> torch.Tensor:
        held: dict[str, torch.Tensor] = {}

        def embedding(value: torch.Tensor, hook: object = None) -> torch.Tensor:
            held["embed"] = value.detach().requires_grad_(True)
            return held["embed"]

        def post(activation: torch.Tensor, hook: object = None) -> None:
            held["acts"] = activation
            raise StopForward

        with torch.enable_grad():
            run_until_stopped(self.model.bridge, ids, [("hook_embed", embedding), (self.hook_name, post)])
            total = self._signed(held["acts"][index, at, neurons].float()).sum()
            (gradient,) = torch.autograd.grad(total, held["embed"])
        return gradient[index, at]

    # -- the whole model, for augmentation ---------------------------------------------------------------------
    def language_model_pass(self, rows: Sequence[Row], top_m: int, stage: str = "augment",
                            autocast: torch.dtype | None = None) -> LanguageModelRows:
        """`autocast`: run the model under autocast to this dtype (log-probabilities are still computed in fp32)."""
        n = len(rows)
        result = LanguageModelRows([np.zeros(0, np.float32)] * n, [np.zeros(0, np.float32)] * n,
                                   [np.zeros((0, top_m), np.int64)] * n, [np.zeros((0, top_m), np.float32)] * n)
        plan = SharedPrefixPlan([tuple(tokens) for _, tokens in rows])
        for batch in self._batches([len(c) for c in plan.covers], self.lm_token_budget):
            ids, lengths, requests, gather = self._prepare(plan, batch, rows)
            acts, logprobs, proposals, proposal_lp = self._lm_batch(ids, gather, top_m, autocast)
            self._record(stage, ids, lengths)
            for i, (r, row) in enumerate(requests):
                length = len(rows[r][1])
                result.acts[r] = acts[i]
                result.token_logprobs[r] = logprobs[row, :length].copy()
                result.proposals[r] = proposals[row, :length].copy()
                result.proposal_logprobs[r] = proposal_lp[row, :length].copy()
        return result

    def _lm_batch(self, ids: torch.Tensor, gather: _FlatGather, top_m: int,
                  autocast: torch.dtype | None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        captured: list[torch.Tensor] = []
        offset = self.offset

        def hook(activation: torch.Tensor, hook: object = None) -> None:
            captured.append(self._signed(gather.read(activation[:, offset:])))

        with torch.inference_mode():
            with torch.autocast(ids.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                logits = self.model.bridge.run_with_hooks(ids, fwd_hooks=[(self.hook_name, hook)])
            logprobs = torch.log_softmax(logits.float(), dim=-1)  # [B, bos + L, vocab]
            del logits
            # position p predicts token p+1: content token i is predicted at input position offset + i - 1
            predicted = ids[:, 1:].unsqueeze(-1)
            token_lp = logprobs[:, :-1].gather(2, predicted).squeeze(2)
            if offset == 0:  # nothing predicts the first token
                token_lp = torch.cat([torch.full_like(token_lp[:, :1], float("nan")), token_lp], dim=1)
            if self._special_ids.numel():
                logprobs[..., self._special_ids] = float("-inf")  # never propose a special token
            top = logprobs.topk(top_m, dim=-1)  # [B, bos + L, top_m]
            proposals, proposal_lp = top.indices[:, :-1], top.values[:, :-1]
            if not offset:  # nothing proposes the first token
                proposals = torch.cat([torch.full_like(proposals[:, :1], -1), proposals], 1)
                proposal_lp = torch.cat([torch.full_like(proposal_lp[:, :1], float("-inf")), proposal_lp], 1)
        return (gather.split(captured[0].float().cpu().numpy()), token_lp.cpu().numpy(), proposals.cpu().numpy(),
                proposal_lp.cpu().numpy())


TEXT_WINDOW = 1024  # tokens per window of a long text (attention memory grows with its square)
TEXT_CONTEXT = 128  # tokens re-read before each later window's first reported position


def text_windows(length: int, window: int, context: int) -> list[tuple[int, int, int]]:
    """(start, first reported, end) spans covering positions 0..length-1 once each: windows of at most `window`
    tokens, each after the first starting `context` tokens before its first reported position."""
    if length <= window:
        return [(0, 0, length)] if length else []
    context = min(context, window // 2)  # every window reports at least half its tokens
    spans, first = [], 0
    while first < length:
        start = max(0, first - context)
        end = min(length, start + window)
        spans.append((start, first, end))
        first = end
    return spans


def _selector(index: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """[batch, width, d_mlp] -> [batch, width, len(index)]."""
    return lambda acts: acts.index_select(2, index)


class SharedPrefixPlan:
    """The rows that actually run: one per maximal sequence, every other sequence being a prefix of (or equal to)
    one of them. In sorted order a sequence that is a prefix of any other is a prefix of its successor, so one
    pass over the sorted sequences finds each one's cover."""

    def __init__(self, sequences: Sequence[tuple[int, ...]]) -> None:
        self.covers: list[tuple[int, ...]] = []
        self.cover_of = [0] * len(sequences)
        for i in sorted(range(len(sequences)), key=lambda i: sequences[i], reverse=True):
            seq = sequences[i]
            if not self.covers or self.covers[-1][: len(seq)] != seq:
                self.covers.append(seq)
            self.cover_of[i] = len(self.covers) - 1
        self._requests: dict[int, list[int]] = {}
        for i, cover in enumerate(self.cover_of):
            self._requests.setdefault(cover, []).append(i)

    def requests_of(self, batch: Sequence[int]) -> list[tuple[int, int]]:
        """(request index, row in the batch) for every request served by the batch's covers."""
        return [(r, row) for row, cover in enumerate(batch) for r in self._requests[cover]]


class _FlatGather:
    """Reads exactly the requested (row, position, neuron) values of a batch's activations on the device, so
    only those cross to the host, however many neurons the layer has."""

    def __init__(self, requests: Sequence[tuple[int, int]], neurons: Sequence[int], lengths: Sequence[int],
                 device: torch.device) -> None:
        lengths_np = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths_np)])
        starts = np.repeat(self.offsets[:-1], lengths_np)
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        self.rows = to(np.repeat(np.asarray([row for _, row in requests], dtype=np.int64), lengths_np))
        self.positions = to(np.arange(int(self.offsets[-1]), dtype=np.int64) - starts)
        self.neurons = to(np.repeat(np.asarray(neurons, dtype=np.int64), lengths_np))

    def read(self, acts: torch.Tensor) -> torch.Tensor:
        """[batch, width, d_mlp] -> [sum of lengths]."""
        return acts[self.rows, self.positions, self.neurons]

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        return [flat[a:b].copy() for a, b in zip(self.offsets[:-1], self.offsets[1:])]
