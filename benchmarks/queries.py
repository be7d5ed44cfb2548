"""Benchmark the searches on a synthetic store: median latency of each query, in milliseconds.

The store is the one `benchmarks/store.py` builds (50,000 synthetic neurons, ~30 trie nodes each, Zipf-like
shared tokens, ~2% exact duplicates planted across layers), made here first unless `--db` names one it kept
(`python benchmarks/store.py --db bench.lbdb --keep`). Each query runs through the real search layer
(`queries.search.NeuronSearch`: the template, parameter binding, the read-only store, a pandas DataFrame), for
`--repeats` different arguments drawn with `--seed` (tokens of random live neurons, random neurons); one warm-up
run each comes first. The duplicate sweeps run over the whole store with no row limit, and are checked against
the planted exact duplicates (`planted_duplicates_found`).

Prints exactly one JSON object on stdout: `activating_token_ms`, `context_combo_ms`, `repeated_token_ms`,
`duplicates_sweep_ms` (mode similar, 0.9, the whole store), `neuron_graph_ms` (one neuron's graph, as stored:
the graph JSON by the neuron's key), and extras: `neuron_graph_walk_ms` (the trie walked in Cypher, a row per node),
the subset sweep over layers 0-1, `similar_to_ms`, exact-token and context-only lookups.
Usage: python benchmarks/queries.py [--neurons 50000] [--db PATH] [--repeats 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its own name would hide the `queries` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from ingest.store import open_store  # noqa: E402
from n2g.cli.main import run_guarded  # noqa: E402
from queries.search import NeuronSearch, SearchFilter  # noqa: E402


def _store_benchmark() -> Any:
    """benchmarks/store.py, which makes the synthetic model and loads it."""
    spec = importlib.util.spec_from_file_location("store_benchmark", _HERE / "store.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["store_benchmark"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


store_bench = _store_benchmark()

PROG = "benchmarks/queries.py"
NO_LIMIT = 10_000_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=50_000, help="neurons of the synthetic store")
    parser.add_argument("--db", default=None, help="an existing store from benchmarks/store.py --keep (same seed)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per query (different arguments)")
    parser.add_argument("--sweep-repeats", type=int, default=3, help="timed runs of each whole-store sweep")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def median_ms(run: Callable[[Any], Any], arguments: list[Any]) -> float:
    run(arguments[0])  # warm-up: caches, first-touch of pages
    times = []
    for argument in arguments:
        start = time.perf_counter()
        run(argument)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def _run(args: argparse.Namespace) -> int:
    model = store_bench.make_model(args.neurons, 12, args.seed)
    if args.db is None:
        path = Path(tempfile.mkdtemp(prefix="n2g-query-bench-")) / "bench.lbdb"
        with open_store(str(path)) as writer:
            store_bench.load(writer, model, store_bench.DEFAULT_BATCH, store_bench.Timers())
    else:
        path = Path(args.db)
    result = measure(str(path), model, args)
    print(json.dumps(result))
    return 0


def measure(db: str, model: Any, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    live = [g for g in model.graphs if g.roots]
    chosen = [rng.choice(live) for _ in range(args.repeats)]
    with_context = [g for g in live if g.context_tokens()]
    combos = [(g.roots[0].key, g.context_tokens()[0]) for g in (rng.choice(with_context) for _ in range(args.repeats))]
    names = [f"{g.layer}:{g.neuron}" for g in chosen]
    sweeps = [None] * args.sweep_repeats
    with NeuronSearch(db) as search:
        result: dict[str, Any] = {
            "neurons": len(model.graphs), "engine": search.engine, "repeats": args.repeats,
            "activating_token_ms": median_ms(lambda g: search.activating(g.roots[0].key), chosen),
            "activating_token_exact_ms": median_ms(lambda g: search.activating(g.roots[0].key, exact=True), chosen),
            "context_token_ms": median_ms(lambda c: search.context(c[1]), combos),
            "context_combo_ms": median_ms(lambda c: search.activating(c[0], context=[c[1]]), combos),
            "repeated_token_ms": median_ms(lambda _: search.repeated_tokens(), sweeps),
            "duplicates_sweep_ms": median_ms(lambda _: search.duplicates("similar", 0.9, limit=NO_LIMIT), sweeps),
            # subset candidates pass through common tokens (millions over the whole store): timed on two layers
            "duplicates_subset_layers_0_1_ms": median_ms(
                lambda _: search.duplicates("subset", 0.9, where=SearchFilter(layers=[0, 1]), limit=NO_LIMIT),
                sweeps),
            "similar_to_ms": median_ms(lambda n: search.similar_to(n), names),
            "neuron_graph_ms": median_ms(lambda n: search.graph(n), names),
            "neuron_graph_walk_ms": median_ms(lambda n: search.graph_nodes(n), names),
        }
        found = search.duplicates("similar", 0.9, limit=NO_LIMIT)
    pairs = {tuple(sorted(p)) for p in zip(found["id"], found["other_id"])} if len(found) else set()
    planted = {tuple(sorted(p)) for p in model.duplicates}
    result.update(duplicate_pairs_found=len(pairs), planted_duplicates=len(planted),
                  planted_duplicates_found=len(planted & pairs))
    return result


if __name__ == "__main__":
    sys.exit(main())
