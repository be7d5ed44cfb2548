"""Benchmark graph fitting: neurons per second with every stage batched across neurons, against the same
neurons fitted one at a time.

One at a time means what fitting a lone neuron costs (`n2g fit L:N`, or the original N2G): a `LayerFitter` per
neuron with `FitConfig.sequential`, so each neuron pays its own pass over the random windows (which its
out-of-distribution score needs) and its own prune, saliency and augmentation passes. Batched means one
`LayerFitter` per layer, as `n2g fit --layers ...` runs: one random-window pass to the deepest layer serves every
neuron of every layer (`n2g.fit.random_truth`; a forward pass computes them all), and each stage packs the rows of all
neurons of a layer into shared passes. The random-window pass is timed apart in both modes, so
`fit_stages_speedup` shows what batching gains on the stages after it. Both modes run the lm augmentation's
ranking passes in the same dtype (`--lm-dtype`, default auto: bf16 where the device has it natively).

Exemplars are mined first (not timed) unless `--exemplars DIR` is given. The neurons are `--neurons` in all,
drawn with a fixed seed and spread evenly over `--layers`. Timings cover everything `n2g fit` does per layer
except loading the model. The two modes alternate layer by layer, so a busy spell of a shared machine falls on
both. One warm-up neuron runs first (outside both timings). CUDA is synchronised before each clock read.

Also reported: real tokens run per neuron per stage in each mode (how much work sharing rows between neurons
saves), forward calls, and the mean held-out F1 of the graphs and the two baselines.

Usage: python benchmarks/fit.py [--model smollm2-135m] [--layers 0:2] [--neurons 32] [--tokens 50000]
       [--exemplars DIR] [--augment lm] [--lm-dtype auto] [--sweep 64] [--device auto] [--dtype auto] [--group-size N]
       [--skip-sequential]
Prints exactly one JSON object on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from n2g.cli.guard import run_guarded
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.fit.augmentation import LM_DTYPES, AugmentConfig
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.fit.random_truth import RandomWindowTruth
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import PREDICTORS, mean_defined
from n2g.model.loading import LoadedModel, load_model
from n2g.specs import parse_index_spec

PROG = "benchmarks/fit.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="python-stdlib")
    parser.add_argument("--layers", default="0:2", help="inclusive layer ranges")
    parser.add_argument("--neurons", type=int, default=32, help="neurons in all, spread over the layers")
    parser.add_argument("--tokens", type=int, default=50000, help="corpus tokens to mine exemplars from")
    parser.add_argument("--exemplars", default=None, help="use this exemplar directory instead of mining")
    parser.add_argument("--augment", default="lm", choices=("lm", "none"))
    parser.add_argument("--lm-dtype", default="auto", choices=LM_DTYPES, help="see `n2g fit --help`")
    parser.add_argument("--sweep", type=int, default=FitConfig.sweep_candidates,
                        help="pivot-sweep substitutes per prompt (0: off), as `n2g fit --sweep`")
    parser.add_argument("--group-size", type=int, default=None)
    parser.add_argument("--token-budget", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sequential", action="store_true", help="measure the batched mode only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def _run(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    with contextlib.ExitStack() as stack:
        exemplars = _exemplars(args, model, layers, stack)
        chosen = _choose(layers, model.d_mlp, args.neurons, args.seed)
        augment = AugmentConfig(method=args.augment, lm_dtype=args.lm_dtype)
        config = FitConfig(augment=augment, group_size=args.group_size, token_budget=args.token_budget,
                           sweep_candidates=args.sweep)
        LayerFitter(model, exemplars, layers[0], chosen[layers[0]][:1], config).fit(chosen[layers[0]][:1])
        modes = [config] if args.skip_sequential else [config, dataclasses.replace(config, sequential=True)]
        # batched, the random windows are read for every layer in one pass (as `n2g fit` does), on the first ask
        truth = RandomWindowTruth.for_layers(model, exemplars, chosen, config.resolved_budget(model.device))
        # the modes alternate layer by layer, so a slow spell of a shared machine falls on both
        runs = [[_measure(model, exemplars, {layer: neurons}, mode, truth) for mode in modes]
                for layer, neurons in chosen.items()]
        batched, *rest = [_merge([run[i] for run in runs]) for i in range(len(modes))]
        batched["forward_calls"] += truth.probe.stats.forward_calls
        batched["tokens"] = dict(Counter(batched["tokens"]) + Counter(truth.probe.stats.by_stage))
        sequential = rest[0] if rest else None
    result = _report(args, model, chosen, batched, sequential)
    print(json.dumps(result))
    return 0


def _exemplars(args: argparse.Namespace, model: LoadedModel, layers: list[int],
               stack: contextlib.ExitStack) -> ExemplarSet:
    if args.exemplars:
        return ExemplarSet(args.exemplars)
    out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="n2g-bench-")))
    print(f"mining {args.tokens} tokens for layers {layers} ...", file=sys.stderr)
    mine_exemplars(model, args.corpus, out, MiningConfig(layers=tuple(layers), max_tokens=args.tokens,
                                                          max_windows_per_doc=8), progress=False)
    return ExemplarSet(out)


def _choose(layers: list[int], d_mlp: int, total: int, seed: int) -> dict[int, list[int]]:
    rng = random.Random(seed)
    per_layer = [total // len(layers) + (i < total % len(layers)) for i in range(len(layers))]
    return {layer: sorted(rng.sample(range(d_mlp), n)) for layer, n in zip(layers, per_layer)}


def _sync(model: LoadedModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)


def _measure(model: LoadedModel, exemplars: ExemplarSet, chosen: dict[int, list[int]], config: FitConfig,
             truth: RandomWindowTruth) -> dict[str, Any]:
    """Batched: one fitter per layer, its random-window values from `truth` (the first ask reads every layer).
    Sequential: one fitter per neuron, each with its own random-window pass."""
    graphs: list[NeuronGraph] = []
    tokens: Counter[str] = Counter()
    calls, random_seconds = 0, 0.0
    jobs = [(layer, [n]) for layer, neurons in chosen.items() for n in neurons] if config.sequential \
        else list(chosen.items())
    _sync(model)
    start = time.perf_counter()
    for layer, neurons in jobs:
        opened = time.perf_counter()
        shared = None if config.sequential else truth.layer_truth(layer)
        fitter = LayerFitter(model, exemplars, layer, neurons, config, random_truth=shared)
        _sync(model)
        random_seconds += time.perf_counter() - opened
        for group in fitter.groups():
            graphs += fitter.fit(group)
        stats = fitter.context.probe.stats
        calls += stats.forward_calls
        tokens.update(stats.by_stage)
    _sync(model)
    return {"seconds": time.perf_counter() - start, "random_seconds": random_seconds, "graphs": graphs,
            "tokens": dict(tokens), "forward_calls": calls}


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One mode's measurements over several layers, summed."""
    tokens = sum((Counter(p["tokens"]) for p in parts), Counter())
    return {"seconds": sum(p["seconds"] for p in parts), "random_seconds": sum(p["random_seconds"] for p in parts),
            "graphs": [g for p in parts for g in p["graphs"]], "tokens": dict(tokens),
            "forward_calls": sum(p["forward_calls"] for p in parts)}


def _report(args: argparse.Namespace, model: LoadedModel, chosen: dict[int, list[int]], batched: dict[str, Any],
            sequential: dict[str, Any] | None) -> dict[str, Any]:
    n = sum(map(len, chosen.values()))
    fitted = [g for g in batched["graphs"] if g.status == "fitted"]
    result: dict[str, Any] = {
        "device": str(model.device) if model.device.type != "cuda" else torch.cuda.get_device_name(model.device),
        "model": args.model, "dtype": str(model.dtype).replace("torch.", ""), "layers": list(chosen),
        "neurons": n, "augment": args.augment, "lm_dtype": args.lm_dtype, "sweep": args.sweep,
        "neurons_per_s": n / batched["seconds"],
        "seconds": batched["seconds"], "random_pass_seconds": batched["random_seconds"],
        "forward_calls": batched["forward_calls"],
        "tokens_per_neuron": {k: round(v / n, 1) for k, v in batched["tokens"].items()},
        "fitted": len(fitted),
        "mean_test_f1": {name: mean_defined(g.scores.value(name, "test", "f1") for g in fitted if g.scores)
                         for name in PREDICTORS},
    }
    if sequential is not None:
        result.update(sequential_neurons_per_s=n / sequential["seconds"], sequential_seconds=sequential["seconds"],
                      sequential_random_pass_seconds=sequential["random_seconds"],
                      speedup=sequential["seconds"] / batched["seconds"],
                      fit_stages_speedup=(sequential["seconds"] - sequential["random_seconds"])
                      / (batched["seconds"] - batched["random_seconds"]),
                      sequential_forward_calls=sequential["forward_calls"],
                      sequential_tokens_per_neuron={k: round(v / n, 1) for k, v in sequential["tokens"].items()},
                      same_activating_tokens=sum(a.activating_tokens() == b.activating_tokens()
                                                 for a, b in zip(batched["graphs"], sequential["graphs"])))
    return result


if __name__ == "__main__":
    sys.exit(main())
