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
the subset sweep over layers 0-1, `similar_to_ms`, exact-token and context-only lookups; `text_search_ms` (a 64-token
text, 5 neurons per token), `text_search_first_ms` (the same, no roots kept from earlier searches), `polysemantic_ms`
and `planted_polysemantic_found`.
With `--engine neo4j` the store is a Neo4j server: NEO4J_URI's (loaded through the driver; its database must be
empty), else a local one (`ingest.neo4j_server`) started here on the same graphs bulk-imported with neo4j-admin;
`--engine both` measures LadybugDB and Neo4j in one run and prints {"engine": "both", "ladybug": {...},
"neo4j": {...}}, the same keys for each.
Usage: python benchmarks/queries.py [--engine ladybug|neo4j|both] [--neurons 50000] [--db PATH] [--repeats 20]
       [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import random
import secrets
import shutil
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
from n2g.cli.guard import run_guarded  # noqa: E402
from n2g.errors import N2GError  # noqa: E402
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
    parser.add_argument("--engine", choices=("ladybug", "neo4j", "both"), default="ladybug",
                        help="LadybugDB, Neo4j (a local server started here, or NEO4J_URI's), or both in one run")
    parser.add_argument("--db", default=None, help="an existing store from benchmarks/store.py --keep (same seed): "
                        "a LadybugDB file, or a Neo4j address with --engine neo4j")
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
    if args.engine == "both" and args.db is not None:
        raise N2GError("--db names one store: with --engine both the benchmark builds both stores itself")
    model = store_bench.make_model(args.neurons, 12, args.seed)
    results: dict[str, dict[str, Any]] = {}
    for engine in ("ladybug", "neo4j") if args.engine == "both" else (args.engine,):
        with contextlib.ExitStack() as stack:
            db = args.db or (_ladybug_store(model, stack) if engine == "ladybug" else _neo4j_store(model, stack))
            results[engine] = measure(db, model, args)
    print(json.dumps(results[args.engine] if args.engine != "both" else {"engine": "both", **results}))
    return 0


def _ladybug_store(model: Any, stack: contextlib.ExitStack) -> str:
    directory = Path(tempfile.mkdtemp(prefix="n2g-query-bench-"))
    stack.callback(shutil.rmtree, directory, True)
    path = directory / "bench.lbdb"
    with open_store(str(path)) as writer:
        store_bench.load(writer, model, store_bench.DEFAULT_BATCH)
    return str(path)


def _neo4j_store(model: Any, stack: contextlib.ExitStack) -> str:
    """The same graphs in Neo4j: through neo4j-admin into a local server (the fast path, and the same rows as a
    driver load: tests/integration/neo4j/test_bulk_import.py), or loaded through the driver into NEO4J_URI's."""
    import os

    from ingest import neo4j_server as local

    if os.environ.get("NEO4J_URI"):
        server = store_bench.neo4j_server(stack)
        with open_store(server.uri) as writer:
            store_bench.load(writer, model, writer.default_batch)
        return server.uri
    directory = Path(tempfile.mkdtemp(prefix="n2g-query-bench-neo4j-"))
    stack.callback(shutil.rmtree, directory, True)
    store_bench.export_rows(model, directory / "csv")
    os.environ["NEO4J_PASSWORD"] = "n2g-bench-" + secrets.token_urlsafe(12)
    os.environ.pop("NEO4J_DATABASE", None)
    local.import_export(directory / "home", directory / "csv", heap="2g")
    handle = local.start(directory / "home", heap="4g", pagecache="2g", watch_pid=os.getpid(), timeout_s=1800)
    stack.callback(local.stop, handle.home)
    return handle.uri


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
        result.update(text_search_measures(search, model, args))
        found = search.duplicates("similar", 0.9, limit=NO_LIMIT)
    pairs = {tuple(sorted(p)) for p in zip(found["id"], found["other_id"])} if len(found) else set()
    planted = {tuple(sorted(p)) for p in model.duplicates}
    result.update(duplicate_pairs_found=len(pairs), planted_duplicates=len(planted),
                  planted_duplicates_found=len(planted & pairs))
    return result


def text_search_measures(search: NeuronSearch, model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Issue 21's searches: `text_search_ms`, a 64-token text drawn from the synthetic vocabulary (its token
    frequencies) per run, 5 neurons per token, as an open `NeuronSearch` runs it (roots read by earlier searches
    kept: `queries.text_search.RootCache`); `text_search_first_ms` the same with nothing kept; `polysemantic_ms`
    (--polysemantic, the whole store) and how many planted polysemantic neurons it finds among all it lists."""
    from queries.text_search import RootCache

    texts = [model.text(64, args.seed * 1000 + i) for i in range(args.repeats)]

    def first(keys: list[str]) -> Any:
        search._roots = RootCache()  # nothing read before
        return search.text(tokens=keys)

    found = search.polysemantic(limit=NO_LIMIT)
    listed = {(nid, int(parts)) for nid, parts in zip(found.get("id", []), found.get("n_parts", []))}
    return {"text_search_ms": median_ms(lambda keys: search.text(tokens=keys), texts),
            "text_search_first_ms": median_ms(first, texts),
            "polysemantic_ms": median_ms(lambda _: search.polysemantic(), [None] * args.repeats),
            "planted_polysemantic": len(model.polysemantic),
            "planted_polysemantic_found": len(set(model.polysemantic) & listed)}


if __name__ == "__main__":
    sys.exit(main())
