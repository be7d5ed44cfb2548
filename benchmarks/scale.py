"""Benchmark the whole pipeline at scale: mine + fit + load on chosen layers, and project the whole model.

Each measured layer runs on its own (its own work directory and store), so each layer's cost is measured, not
averaged: deeper layers cost more forward. Per layer and per mode (`--modes one,ray`: one process, and a local
Ray with `--ray-workers` workers), for each stage (`mine`, `fit`, `load`): seconds, neurons/s and peak RSS
(sampled every 50 ms: this process's, and with Ray each worker's peak and the peak of their sum). A bare forward
pass over the same windows to the layer, timed once per layer, separates mining's forward share from its top-k
bookkeeping.

The mine stage mines every neuron of the layer (`--mine all`, the default), as the whole-model run does in its one
sweep, so that its bookkeeping is measured at full width; fit and load take `--neurons` neurons of the layer, spread
evenly over it (one count for every layer, or one per layer: `--neurons 256,64,48`).

The projection for the whole model (every layer x d_mlp neurons), per mode:
- mine: one sweep to the last layer over `--project-tokens` (default: the device's default budget): the bare
  forward to the last layer plus every layer's bookkeeping (mining minus bare forward at the measured layers,
  interpolated linearly between them), scaled linearly in tokens; on Ray, scaled by Ray's measured mining time
  ratio at the deepest measured layer (`--mine selected` scales the bookkeeping by d_mlp / neurons: rougher);
- fit and load: per layer, seconds per neuron interpolated linearly between the measured layers (flat beyond
  them), times d_mlp, summed over the layers.

Usage: python benchmarks/scale.py [--model smollm2-135m] [--layers 0,15,29] [--neurons 64|N0,N1,..]
       [--tokens 50000] [--modes one,ray] [--ray-workers 2] [--device auto] [--group-size N] [--token-budget N]
       [--mine all|selected] [--quick]
Prints exactly one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import torch

from n2g.cli.guard import run_guarded
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import DEVICE_MAX_TOKENS, MiningConfig
from n2g.exemplars.run import mine_exemplars, window_batches, window_stream
from n2g.fit.fitter import FitConfig
from n2g.fit.run import fit_graphs
from n2g.model.hooks import neuron_hook_name, run_until_stopped, stop_forward
from n2g.model.loading import LoadedModel, ModelConfig
from n2g.specs import parse_index_spec

PROG = "benchmarks/scale.py"
MODES = ("one", "ray")
STAGES = ("mine", "fit", "load")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="python-stdlib")
    parser.add_argument("--layers", default=None, help="layers to measure (default: first, middle and last)")
    parser.add_argument("--neurons", default="64", help="neurons fitted and loaded per measured layer, spread evenly "
                        "over it: one count, or one per layer (256,64,48)")
    parser.add_argument("--mine", choices=("all", "selected"), default="all",
                        help="mine every neuron of the layer (as a whole-model sweep does), or only the fitted ones")
    parser.add_argument("--tokens", type=int, default=50_000, help="corpus tokens mined per measured layer")
    parser.add_argument("--project-tokens", type=int, default=None,
                        help="corpus tokens of the projected whole-model run (default: the device's default)")
    parser.add_argument("--modes", default="one,ray", help="one (one process), ray (local Ray), or both")
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--group-size", type=int, default=None)
    parser.add_argument("--token-budget", type=int, default=None)
    parser.add_argument("--sweep", type=int, default=FitConfig.sweep_candidates)
    parser.add_argument("--batch-size", type=int, default=None, help="mining batch (default: the device's)")
    parser.add_argument("--work-dir", default=None, help="keep the work directories here (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for a dry run of the script")
    return parser


# -- memory ----------------------------------------------------------------------------------------------------
def _worker_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline and cmdline[0].startswith("ray::N2GWorker"):
            found.append(proc)
    return found


class PeakMemory:
    """Peak RSS (MiB) of this process, of the busiest Ray worker and of all workers together, sampled every 50 ms
    while active."""

    def __init__(self, workers: bool) -> None:
        self.watch_workers = workers
        self.peak = {"driver_mb": 0.0}
        if workers:
            self.peak.update(worker_mb=0.0, workers_total_mb=0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        mb = 1 << 20
        self.peak["driver_mb"] = max(self.peak["driver_mb"], psutil.Process().memory_info().rss / mb)
        if self.watch_workers:
            rss = []
            for proc in _worker_processes():
                with contextlib.suppress(psutil.Error):
                    rss.append(proc.memory_info().rss / mb)
            if rss:
                self.peak["worker_mb"] = max(self.peak["worker_mb"], max(rss))
                self.peak["workers_total_mb"] = max(self.peak["workers_total_mb"], sum(rss))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def stage(results: dict[str, Any], name: str, neurons: int, ray: bool, run: Callable[[], Any]) -> Any:
    """Run one stage, recording its seconds, neurons/s and peak memory under `results[name]`."""
    print(f"  {name} ...", file=sys.stderr, flush=True)
    with PeakMemory(ray) as memory:
        start = time.perf_counter()
        value = run()
        seconds = time.perf_counter() - start
    results[name] = {"seconds": round(seconds, 2), "neurons_per_s": round(neurons / seconds, 4),
                     "peak_rss_mb": {k: round(v) for k, v in memory.peak.items()}}
    return value


# -- one layer -------------------------------------------------------------------------------------------------
def spread(d_mlp: int, count: int) -> list[int]:
    """`count` neurons spread evenly over the layer."""
    count = min(count, d_mlp)
    return sorted({round(i * d_mlp / count) for i in range(count)})


def forward_seconds(model: LoadedModel, corpus: str, config: MiningConfig, layer: int) -> float:
    """A bare forward pass over the mined windows, stopped at the layer: mining's forward share."""
    batches = list(window_batches(window_stream(model, corpus, config), model, config))
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            run_until_stopped(model.bridge, batch.tokens.to(model.device), [(neuron_hook_name(layer), stop_forward)])
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return time.perf_counter() - start


def run_layer(mode: str, model: LoadedModel, workers: Any, args: argparse.Namespace, layer: int,
              neurons: list[int], root: Path) -> dict[str, Any]:
    from ingest.pipeline import coverage
    from ingest.store import open_store
    from ingest.store_loader import GraphSource, TopExamples, load_graphs
    from n2g.graphs.files import GraphDirectory

    work = root / f"{mode}-layer{layer:02d}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mined = None if args.mine == "all" else tuple(neurons)
    mining = MiningConfig(layers=(layer,), neurons=mined, max_tokens=args.tokens, batch_size=args.batch_size,
                          checkpoint_every_s=600.0)
    fit = FitConfig(group_size=args.group_size, token_budget=args.token_budget, sweep_candidates=args.sweep)
    selection = {layer: neurons}
    results: dict[str, Any] = {}
    ray = workers is not None
    with open_store(str(work / "n2g.lbdb")) as store:
        store.ensure_schema()
        stage(results, "mine", model.d_mlp if mined is None else len(neurons), ray, lambda: mine_exemplars(
            model, args.corpus, work / "exemplars", mining, progress=False, executor=workers))
        results["mine"]["neurons"] = model.d_mlp if mined is None else len(neurons)
        exemplars = ExemplarSet(work / "exemplars")
        if workers is None:
            stage(results, "fit", len(neurons), ray, lambda: fit_graphs(
                model, exemplars, work / "graphs", [layer], selection, fit, progress=False))
        else:
            stage(results, "fit", len(neurons), ray, lambda: workers.fit_graphs(exemplars, work / "graphs",
                                                                               selection, fit))
        source = GraphSource(GraphDirectory(work / "graphs"), selection, TopExamples(exemplars, model.tokenizer))
        stage(results, "load", len(neurons), ray, lambda: load_graphs(store, source, progress=False))
        covered = coverage(store, exemplars.manifest["settings"]["model"], selection)
    results["neurons"] = len(neurons)  # fitted and loaded
    results["coverage"] = dict(covered.status)
    results["tokens"] = exemplars.manifest["tokens"]
    results["total_seconds"] = round(sum(results[s]["seconds"] for s in STAGES), 2)
    if mode == "one":
        config = mining.for_device(model.device.type)
        results["mine"]["forward_seconds"] = round(forward_seconds(model, args.corpus, config, layer), 2)
    return results


# -- the projection --------------------------------------------------------------------------------------------
def per_layer(measured: dict[int, float], layers: int) -> list[float]:
    """A value for every layer, linear between the measured layers and flat beyond them."""
    points = sorted(measured.items())
    out = []
    for layer in range(layers):
        if layer <= points[0][0]:
            out.append(points[0][1])
        elif layer >= points[-1][0]:
            out.append(points[-1][1])
        else:
            (a, va), (b, vb) = next(((p, q) for p, q in zip(points, points[1:]) if p[0] <= layer <= q[0]))
            out.append(va + (vb - va) * (layer - a) / (b - a))
    return out


def project(layers: list[dict[str, Any]], modes: Sequence[str], n_layers: int, d_mlp: int, project_tokens: int
            ) -> dict[str, Any]:
    one = {entry["layer"]: entry["one"] for entry in layers if "one" in entry}
    deepest = max(one) if one else None
    out: dict[str, Any] = {"layers": n_layers, "d_mlp": d_mlp, "neurons": n_layers * d_mlp,
                           "tokens": project_tokens}
    if deepest is None:
        return out
    tokens = one[deepest]["tokens"]
    forward_last = one[deepest]["mine"]["forward_seconds"] * project_tokens / tokens
    # each layer's top-k bookkeeping for all d_mlp neurons, per projected sweep (mining minus the bare forward)
    book = {layer: max(0.0, r["mine"]["seconds"] - r["mine"]["forward_seconds"]) * d_mlp / r["mine"]["neurons"]
            * project_tokens / r["tokens"] for layer, r in one.items()}
    mine_one = forward_last + sum(per_layer(book, n_layers))
    out["mine_forward_hours"] = round(forward_last / 3600, 3)
    out["mine_bookkeeping_hours"] = round(sum(per_layer(book, n_layers)) / 3600, 3)
    for mode in modes:
        measured = {entry["layer"]: entry[mode] for entry in layers if mode in entry}
        if not measured:
            continue
        mine = mine_one * (measured[deepest]["mine"]["seconds"] / one[deepest]["mine"]["seconds"]
                           if deepest in measured else 1.0)
        fit = sum(per_layer({k: 1 / v["fit"]["neurons_per_s"] for k, v in measured.items()}, n_layers)) * d_mlp
        load = sum(per_layer({k: 1 / v["load"]["neurons_per_s"] for k, v in measured.items()}, n_layers)) * d_mlp
        out[mode] = {"mine_hours": round(mine / 3600, 3), "fit_hours": round(fit / 3600, 2),
                     "load_hours": round(load / 3600, 3), "total_hours": round((mine + fit + load) / 3600, 2),
                     "peak_rss_mb": {s: max(max(v[s]["peak_rss_mb"].values()) for v in measured.values())
                                     for s in STAGES}}
    out["method"] = ("mine: one sweep = bare forward to the last layer + each layer's top-k bookkeeping for d_mlp "
                     "neurons (mining - bare forward, interpolated between the measured layers), linear in tokens "
                     "(Ray: x its measured mining time ratio at the deepest layer); fit and load: seconds per "
                     "neuron interpolated linearly between the measured layers, x d_mlp, summed over layers")
    return out


# -- the run ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def ray_workers(args: argparse.Namespace, model_config: ModelConfig) -> Iterator[Any]:
    from ingest.distributed import RayConfig, RayWorkers

    with RayWorkers(RayConfig("local", args.ray_workers), model_config, progress=False) as workers:
        yield workers


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        args.tokens, args.sweep = min(args.tokens, 2048), min(args.sweep, 4)
        args.batch_size = args.batch_size or 8
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"{PROG}: unknown mode(s) {sorted(unknown)} (known: {', '.join(MODES)})")
    model_config = ModelConfig(model=args.model, device=args.device, dtype=args.dtype)
    root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="n2g-scale-"))
    results: dict[int, dict[str, Any]] = {}
    model = model_config.load()
    layers = parse_index_spec(args.layers, model.n_layers, "layer") if args.layers else \
        sorted({0, model.n_layers // 2, model.n_layers - 1})
    meta = {"model": model.name, "device": model.device.type, "dtype": str(model.dtype).removeprefix("torch."),
            "n_layers": model.n_layers, "d_mlp": model.d_mlp}
    counts = [int(c) for c in str(args.neurons).split(",") if c.strip()]
    if len(counts) not in (1, len(layers)) or min(counts) < 1:
        raise SystemExit(f"{PROG}: --neurons takes one count, or one per layer ({len(layers)} layers)")
    if args.quick:
        counts = [min(c, 4) for c in counts]
    per_layer_neurons = {layer: spread(model.d_mlp, counts[i] if len(counts) > 1 else counts[0])
                         for i, layer in enumerate(layers)}
    try:
        if "one" in modes:
            for layer in layers:
                print(f"layer {layer}, one process", file=sys.stderr, flush=True)
                neurons = per_layer_neurons[layer]
                results.setdefault(layer, {"layer": layer, "neurons": len(neurons)})["one"] = run_layer(
                    "one", model, None, args, layer, neurons, root)
        del model  # its memory (a GPU's, too) goes back before the workers load theirs
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if "ray" in modes:
            with ray_workers(args, model_config) as workers:
                driver = workers.driver_model()
                meta.update(device=workers.device_type, ray_workers=workers.workers)
                for layer in layers:
                    print(f"layer {layer}, Ray with {workers.workers} workers", file=sys.stderr, flush=True)
                    neurons = per_layer_neurons[layer]
                    results.setdefault(layer, {"layer": layer, "neurons": len(neurons)})["ray"] = run_layer(
                        "ray", driver, workers, args, layer, neurons, root)
    finally:
        if not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    project_tokens = args.project_tokens or DEVICE_MAX_TOKENS.get(meta["device"], DEVICE_MAX_TOKENS["cpu"])
    measured = [results[layer] for layer in sorted(results)]
    return {**meta, "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "tokens": args.tokens,
            "neurons_per_layer": {layer: len(n) for layer, n in per_layer_neurons.items()}, "mine": args.mine,
            "modes": modes, "group_size": args.group_size,
            "token_budget": args.token_budget, "sweep": args.sweep, "layers": measured,
            "projection": project(measured, modes, meta["n_layers"], meta["d_mlp"], project_tokens)}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        with contextlib.redirect_stdout(sys.stderr):  # stray library prints must not corrupt the JSON
            result = run(args)
        print(json.dumps(result))
        return 0

    return run_guarded(action, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())

