"""Benchmark exemplar mining: how many corpus tokens per second `ExemplarMiner.process` handles, and how much
of that time is the model's forward pass versus n2g's own bookkeeping (top-k merging, firing counts, the
random window sample).

Three numbers are measured on the same model, layers, batch size and token budget:

- `tokens_per_s`: pre-built batches (tokenised beforehand, outside the timing) through
  `ExemplarMiner.process`, with every hook and all top-k bookkeeping; a fresh miner per repeat, so the
  top-k warm-up (every batch improves every neuron at first) is counted as in a real run.
- `forward_tokens_per_s`: the same batches through a bare forward pass that stops at the same point (the
  last requested layer's `hook_post`, by a hook that only raises `StopForward`). It is what mining would
  cost with free bookkeeping, so `ratio = tokens_per_s / forward_tokens_per_s` isolates the bookkeeping
  overhead: 1.0 means none.
- `end_to_end_tokens_per_s`: one whole `mine_exemplars` run with the same token budget into a temporary
  directory, tokenisation and writing the shards included.

After one warm-up batch each way, the mining and forward measurements alternate `--repeats` times and the
medians are reported (alternating spreads a noisy machine's drift over both). Tokens are counted as real
window tokens (`WindowBatch.n_tokens`: no BOS, no padding). CUDA is synchronised before each clock read.
`cpu_ratio` is the same ratio from this process's CPU time instead of wall time: on a shared CPU machine other
processes stretch wall time but much less CPU time, so it is the steadier of the two there (on CUDA it means
little: the host mostly waits).

Usage: python benchmarks/exemplars.py [--model smollm2-135m] [--corpus python-stdlib] [--layers 0:2]
       [--tokens 65536] [--batch-size 32] [--window-len 64] [--device auto] [--dtype auto] [--repeats 3]
Prints exactly one JSON object on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import torch

from n2g.cli.guard import run_guarded
from n2g.errors import N2GError
from n2g.exemplars.miner import ExemplarMiner, MiningConfig
from n2g.exemplars.run import mine_exemplars, window_batches, window_stream
from n2g.exemplars.windows import WindowBatch
from n2g.model.hooks import neuron_hook_name, run_until_stopped, stop_forward
from n2g.model.loading import LoadedModel, load_model
from n2g.specs import parse_index_spec

PROG = "benchmarks/exemplars.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="model spec, as for `n2g exemplars --model`")
    parser.add_argument("--corpus", default="python-stdlib", help="corpus spec, as for `n2g exemplars`")
    parser.add_argument("--layers", default="0:2", help="layers, inclusive ranges: 0:2, 0,5,10 or all")
    parser.add_argument("--tokens", type=_positive, default=65536,
                        help="corpus tokens per measured pass (short runs are dominated by top-k warm-up)")
    parser.add_argument("--batch-size", type=_positive, default=32, help="windows per forward pass")
    parser.add_argument("--window-len", type=_positive, default=64, help="tokens per window")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="auto", help="fp32, bf16, fp16 or auto")
    parser.add_argument("--repeats", type=_positive, default=3, help="alternating measurements of each kind")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_batches(model: LoadedModel, corpus: str, config: MiningConfig) -> list[WindowBatch]:
    """Tokenise and batch the corpus exactly as `mine_exemplars` does, up to `config.max_tokens`."""
    batches = list(window_batches(window_stream(model, corpus, config), model, config))
    if not batches:
        raise N2GError(f"corpus {corpus!r} gave no window of at least {config.min_window_len} tokens")
    return batches


def clock(device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) seconds, read once all queued device work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


def elapsed(device: torch.device, start: tuple[float, float]) -> tuple[float, float]:
    """(wall, process CPU) seconds since `start`, a `clock` reading."""
    wall, cpu = clock(device)
    return wall - start[0], cpu - start[1]


def time_mining(model: LoadedModel, config: MiningConfig,
                batches: Sequence[WindowBatch]) -> tuple[float, float]:
    """(wall, CPU) seconds for a fresh `ExemplarMiner` to process `batches` (hooks and all bookkeeping)."""
    miner = ExemplarMiner(model, config)
    start = clock(model.device)
    for batch in batches:
        miner.process(batch)
    return elapsed(model.device, start)


def forward_to(model: LoadedModel, tokens: torch.Tensor, hook_name: str) -> None:
    """Run `tokens` through the model only as far as `hook_name`, recording nothing."""
    with torch.inference_mode():
        run_until_stopped(model.bridge, tokens.to(model.device, non_blocking=True), [(hook_name, stop_forward)])


def time_forward(model: LoadedModel, hook_name: str, batches: Sequence[WindowBatch]) -> tuple[float, float]:
    """(wall, CPU) seconds for the bare forward pass of `batches` up to `hook_name`."""
    start = clock(model.device)
    for batch in batches:
        forward_to(model, batch.tokens, hook_name)
    return elapsed(model.device, start)


def time_end_to_end(model: LoadedModel, corpus: str, config: MiningConfig) -> tuple[float, int]:
    """(seconds, tokens) of one whole `mine_exemplars` run into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="n2g-bench-") as out:
        start = clock(model.device)
        manifest = mine_exemplars(model, corpus, out, config, progress=False)
        return elapsed(model.device, start)[0], int(manifest["tokens"])


def measure(model: LoadedModel, corpus: str, config: MiningConfig, repeats: int) -> dict[str, Any]:
    """Warm up, alternate mining and bare-forward passes over the same batches, then one end-to-end run."""
    batches = build_batches(model, corpus, config)
    n_tokens = sum(batch.n_tokens for batch in batches)
    hook_name = neuron_hook_name(max(config.layers))
    time_mining(model, config, batches[:1])  # warm-up: allocator, kernels, lazy initialisation
    time_forward(model, hook_name, batches[:1])
    mining: list[tuple[float, float]] = []  # (wall, CPU) seconds per repeat
    forward: list[tuple[float, float]] = []
    for run in range(repeats):  # alternate, so drift on a busy machine hits both alike
        mining.append(time_mining(model, config, batches))
        forward.append(time_forward(model, hook_name, batches))
        print(f"repeat {run + 1}/{repeats}: mining {n_tokens / mining[-1][0]:,.0f} tok/s, "
              f"forward {n_tokens / forward[-1][0]:,.0f} tok/s", file=sys.stderr)
    end_to_end_s, end_to_end_tokens = time_end_to_end(model, corpus, config)
    mining_rates = [n_tokens / wall for wall, _ in mining]
    forward_rates = [n_tokens / wall for wall, _ in forward]
    tokens_per_s, forward_tokens_per_s = statistics.median(mining_rates), statistics.median(forward_rates)
    cpu_ratio = statistics.median(cpu for _, cpu in forward) / statistics.median(cpu for _, cpu in mining)
    return {"tokens_per_s": round(tokens_per_s, 1), "forward_tokens_per_s": round(forward_tokens_per_s, 1),
            "ratio": round(tokens_per_s / forward_tokens_per_s, 4), "cpu_ratio": round(cpu_ratio, 4),
            "end_to_end_tokens_per_s": round(end_to_end_tokens / end_to_end_s, 1),
            "tokens_per_s_runs": [round(r, 1) for r in mining_rates],
            "forward_tokens_per_s_runs": [round(r, 1) for r in forward_rates],
            "tokens": n_tokens, "windows": sum(len(b.lengths) for b in batches), "batches": len(batches),
            "end_to_end_tokens": end_to_end_tokens}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model, measure, and return the JSON-ready result with the settings it was measured under."""
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    config = MiningConfig(layers=tuple(layers), window_len=args.window_len, batch_size=args.batch_size,
                          max_tokens=args.tokens, max_windows_per_doc=0)
    result = measure(model, args.corpus, config, args.repeats)
    dtype = str(model.dtype).removeprefix("torch.")
    settings = {"model": model.name, "device": str(model.device), "dtype": dtype,
                "layers": layers, "batch_size": args.batch_size, "window_len": args.window_len,
                "prepend_bos": model.prepend_bos, "threads": torch.get_num_threads(), "repeats": args.repeats,
                "torch": torch.__version__}
    return {**result, **settings}


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
