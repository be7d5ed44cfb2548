"""Measure how far a gated MLP's neurons go negative (issue 23, item 3): is the negative direction material?

SmolLM2's MLP is SwiGLU: a neuron's activation silu(gate) x up is signed, and can be as large below zero as above.
N2G explains only the positive direction (top-k windows by max, firing at >= 0.5 x a_max). Over N random windows
of the corpus (a seeded bottom-k sample of its windows, the miner's own rule: `n2g.exemplars.random_sample`), this
reads every neuron of the requested layers and reports per layer:

- `neg_exceeds_half_max` / `neg_exceeds_max`: share of neurons whose most negative activation exceeds 0.5 x / 1.0 x
  their positive maximum in magnitude (both over the same windows; neurons that never go above 0 are left out and
  counted in `never_positive`);
- `rate_above_zero` / `rate_at_half_max`: mean over neurons of the share of tokens with activation > 0 (what
  `n2g exemplars` counts as `fire_count` by default) and >= 0.5 x a_max (what the scores and a graph's
  `firing_rate` count), a_max being the positive max over these windows; medians beside them;
- `rate_at_minus_half_max`: the same for the negative side, <= -0.5 x a_max: how often a neuron "fires" negatively
  on the positive direction's scale; `neg_fires_more_often`: share of neurons for which that is the more frequent.

Two passes over the sample (maxima first, then counts), a chunk of windows at a time, so memory stays flat.

Usage: python benchmarks/signs.py [--model smollm2-135m] [--corpus python-stdlib] [--layers 0:5] [--windows 512]
       [--window-len 64] [--max-tokens 300000] [--seed 0] [--device auto] [--dtype auto]
Prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from n2g.cli.guard import run_guarded
from n2g.errors import N2GError
from n2g.exemplars.corpus import iter_documents
from n2g.exemplars.random_sample import window_key
from n2g.exemplars.windows import WindowStream
from n2g.model.loading import load_model
from n2g.model.probe import LayerProbe
from n2g.specs import parse_index_spec

PROG = "benchmarks/signs.py"
CHUNK = 64  # windows per probe call


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="python-stdlib")
    parser.add_argument("--layers", default="0:5")
    parser.add_argument("--windows", type=int, default=512, help="random windows read (N)")
    parser.add_argument("--window-len", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=300_000, help="corpus tokens the sample is drawn from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--token-budget", type=int, default=4096, help="padded tokens per forward pass")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def sample_windows(model: Any, corpus: str, count: int, window_len: int, max_tokens: int, seed: int
                   ) -> list[list[int]]:
    """The `count` windows of the corpus's first `max_tokens` tokens with the smallest keys (a uniform sample)."""
    heap: list[tuple[int, int, list[int]]] = []
    stream = WindowStream(iter_documents(corpus), model.tokenizer, window_len, min(8, window_len), max_tokens)
    for window in stream:
        item = (-window_key(seed, window.window_id), window.window_id, list(window.tokens))
        if len(heap) < count:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    return [tokens for _, _, tokens in sorted(heap, key=lambda item: item[1])]


def _chunks(probe: LayerProbe, windows: Sequence[list[int]], layers: Sequence[int], d_mlp: int):
    """Per chunk of windows: layer -> [tokens, d_mlp] float32 activations of the real (unpadded) positions."""
    every = {layer: range(d_mlp) for layer in layers}
    for start in range(0, len(windows), CHUNK):
        chunk = windows[start: start + CHUNK]
        lengths = torch.tensor([len(w) for w in chunk])
        tokens = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.int64)
        for row, window in enumerate(chunk):
            tokens[row, : len(window)] = torch.tensor(window)
        values = probe.layers_neurons(tokens, lengths, every, stage="signs")
        real = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]  # [rows, width]
        yield {layer: values[layer][real].numpy() for layer in layers}


def measure(model: Any, windows: Sequence[list[int]], layers: Sequence[int], token_budget: int) -> dict[str, Any]:
    d_mlp = model.d_mlp
    probe = LayerProbe(model, max(layers), token_budget)
    top = {layer: np.full(d_mlp, -np.inf, np.float32) for layer in layers}
    bottom = {layer: np.full(d_mlp, np.inf, np.float32) for layer in layers}
    positive = {layer: np.zeros(d_mlp, np.int64) for layer in layers}
    tokens = 0
    for values in _chunks(probe, windows, layers, d_mlp):
        tokens += len(next(iter(values.values())))
        for layer, acts in values.items():
            np.maximum(top[layer], acts.max(axis=0), out=top[layer])
            np.minimum(bottom[layer], acts.min(axis=0), out=bottom[layer])
            positive[layer] += (acts > 0).sum(axis=0)
    half = {layer: np.zeros(d_mlp, np.int64) for layer in layers}
    minus_half = {layer: np.zeros(d_mlp, np.int64) for layer in layers}
    for values in _chunks(probe, windows, layers, d_mlp):  # second pass: counts against each neuron's own max
        for layer, acts in values.items():
            a_max = np.maximum(top[layer], 0)
            fires = a_max > 0
            half[layer] += ((acts / np.where(fires, a_max, 1) >= 0.5) & fires).sum(axis=0)
            minus_half[layer] += ((acts / np.where(fires, a_max, 1) <= -0.5) & fires).sum(axis=0)
    per_layer = {}
    for layer in layers:
        fires = top[layer] > 0
        negative = -bottom[layer][fires]
        a_max = top[layer][fires]
        rates = {"rate_above_zero": positive[layer][fires] / tokens, "rate_at_half_max": half[layer][fires] / tokens,
                 "rate_at_minus_half_max": minus_half[layer][fires] / tokens}
        per_layer[str(layer)] = {
            "neurons": int(d_mlp), "never_positive": int((~fires).sum()),
            "neg_exceeds_half_max": _share(negative > 0.5 * a_max), "neg_exceeds_max": _share(negative > a_max),
            "median_neg_over_max": round(float(np.median(negative / a_max)), 4) if fires.any() else None,
            "neg_fires_more_often": _share(rates["rate_at_minus_half_max"] > rates["rate_at_half_max"]),
            **{name: round(float(r.mean()), 5) if r.size else None for name, r in rates.items()},
            **{f"median_{name}": round(float(np.median(r)), 5) if r.size else None for name, r in rates.items()}}
    return {"tokens": tokens, "layers": per_layer}


def _share(flags: np.ndarray) -> float | None:
    return round(float(flags.mean()), 4) if flags.size else None


def _run(args: argparse.Namespace) -> int:
    if args.windows < 1 or args.window_len < 1:
        raise N2GError("--windows and --window-len must be at least 1")
    started = time.perf_counter()
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    windows = sample_windows(model, args.corpus, args.windows, args.window_len, args.max_tokens, args.seed)
    if not windows:
        raise N2GError(f"corpus {args.corpus} gave no windows")
    result = {"model": args.model, "corpus": args.corpus, "windows": len(windows), "window_len": args.window_len,
              "max_tokens": args.max_tokens, "seed": args.seed, "device": str(model.device), "dtype": str(model.dtype),
              **measure(model, windows, layers, args.token_budget)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
