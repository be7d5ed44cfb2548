"""Benchmark loading neuron graphs into the graph store: elements (nodes + relationships) stored per second.

A synthetic model is made first (not timed) by `ingest.synthetic.make_model`: `--neurons` graphs over `--layers`
layers, about `--nodes` trie nodes each, shaped like fitted ones (tokens shared between neurons as LM tokens are,
contexts with gaps, dead and failed neurons, scores and stats, a top example per neuron), with exact duplicates
planted across layers (~2%), which must share a signature and band keys. Everything is drawn from `--seed`, so a
run is deterministic. Each graph keeps its JSON text as reading it from a graph file leaves it
(`NeuronGraph.source_json`), so the load stores the JSON as read, as `n2g load` does, instead of serialising it
again.

Timed (`load_seconds`): the real loader, `ingest.store_loader.load_graphs`, given an in-memory stand-in for a
`GraphSource` (graphs, settings, top examples): the schema, the model-settings check, then per `--batch-neurons`
neurons its batch function: stored-neuron check, `RowBuilder` rows (Arrow tables), less the shared keys the store
has, in one `store.write` transaction of COPY FROM those tables; automatic checkpoints are off during the load
and the loader's one CHECKPOINT at its end (the write-ahead log into the database file) is timed too. Reading and
parsing graph files is not (the graphs are already objects), and the generated graphs are moved out of the
garbage collector's sight (`gc.freeze`) first: the real loader holds one batch of graphs, not all of them. The
store's methods are wrapped with timers: `write_seconds` (inside `store.write`, which pulls the batch's tables from
`RowBuilder.tables` as they are built and COPYs each on a second thread while the next is built),
`build_rows_seconds` (Python: graphs into Arrow tables, the time spent pulling them), `lookup_seconds` (stored-
neuron, next graph-node id and existing-key queries), `arrow_seconds` (the graph JSON packed, on a packing thread
while the tries are walked), `copy_seconds` (the COPYs, on the copier thread, plus the COMMIT), `commit_seconds`
(the COMMIT alone) and `checkpoint_seconds` (a checkpoint inside a write, once 20 M elements are logged, counts in
`write_seconds` too). Building and COPY overlap, so the parts add up to more than `load_seconds` where the machine
has a core to spare.

`elements` is counted from the store afterwards (`store.counts()`), `db_bytes` is the size of the database file(s)
after closing. The store goes into a temporary directory that is deleted at the end, unless `--db PATH` / `--keep`.

Usage: python benchmarks/store.py [--neurons 50000] [--layers 12] [--nodes 30] [--batch-neurons 50000]
       [--seed 0] [--db PATH] [--keep] [--profile]
Prints exactly one JSON object on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import graph_rows, schema
from ingest.store import GraphStore, open_store
from ingest.store_loader import LoadResult, load_graphs
from ingest.synthetic import SIGNATURES, SyntheticModel, make_model
from n2g.cli.guard import run_guarded
from n2g.errors import N2GError

PROG = "benchmarks/store.py"
DEFAULT_BATCH = 50_000  # neurons per transaction: the fastest of 2k / 10k / 25k / 50k (benchmarks/RESULTS.md)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=50_000, help="neurons in all, spread over the layers")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--nodes", type=int, default=30, help="mean trie nodes per live neuron")
    parser.add_argument("--engine", choices=("ladybug", "neo4j", "both"), default="ladybug",
                        help="LadybugDB, Neo4j (a local server started here, or NEO4J_URI's), or both in one run")
    parser.add_argument("--batch-neurons", type=int, default=None,
                        help=f"neurons per transaction (default: {DEFAULT_BATCH:,} for LadybugDB, the store's "
                        "default, 1,000, for Neo4j)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None, help="database file (default: one in a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the database file afterwards")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the load; the top functions go to stderr (slows the load down)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


# -- the timed load ------------------------------------------------------------------------------------------
@dataclass
class Timers:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("write", "arrow", "lookup", "build", "copy", "commit", "checkpoint", "columns", "send"), 0.0))

    def wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed

    def iterate(self, name: str, items: Iterable[Any]) -> Iterator[Any]:
        """`items`, the time spent making each one counted under `name`."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds[name] += time.perf_counter() - start
            yield item


@contextlib.contextmanager
def instrumented(store: GraphStore, timers: Timers) -> Iterator[None]:
    """Time on this instance the store's lookups, its writes, and inside a write the rows' building (the tables
    the store pulls from `RowBuilder.tables`), the graph JSON's packing, the COPYs (on the copier thread) and the
    COMMIT."""
    store.stored_neurons = timers.wrap("lookup", store.stored_neurons)  # type: ignore[method-assign]
    store.next_graph_node_id = timers.wrap("lookup", store.next_graph_node_id)  # type: ignore[method-assign]
    store.existing_keys = timers.wrap("lookup", store.existing_keys)  # type: ignore[method-assign]
    write = store.write
    store.write = timers.wrap("write", lambda tables: write(timers.iterate("build", tables)))  # type: ignore
    for name, method in (("copy", "copy_table"), ("commit", "commit"), ("checkpoint", "checkpoint"),
                         ("send", "_send")):  # Neo4j: a chunk packed and sent by the driver, run by the server
        if hasattr(store, method):
            setattr(store, method, timers.wrap(name, getattr(store, method)))
    pack = graph_rows.pack_column
    graph_rows.pack_column = timers.wrap("arrow", pack)
    try:
        yield
    finally:
        graph_rows.pack_column = pack


def load(store: GraphStore, model: SyntheticModel, batch_neurons: int) -> LoadResult:
    """`ingest.store_loader.load_graphs` over the graphs in memory (it ends with LadybugDB's checkpoint)."""
    return load_graphs(store, model.source(), batch_size=batch_neurons, progress=False)  # type: ignore[arg-type]


def db_files(path: Path) -> list[Path]:
    """The database file and what LadybugDB keeps beside it (write-ahead log, shadow pages)."""
    return [p for p in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".shadow"))
            if p.is_file()]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextlib.contextmanager
def _profiled(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)


def _run(args: argparse.Namespace) -> int:
    if args.neurons < 1 or args.layers < 1 or (args.batch_neurons is not None and args.batch_neurons < 1):
        raise N2GError("--neurons, --layers and --batch-neurons must be at least 1")
    if args.engine != "ladybug" and args.db is not None:
        raise N2GError("--db names a LadybugDB file: with --engine neo4j the benchmark starts its own server "
                       "(or uses NEO4J_URI, which must hold an empty database)")
    start = time.perf_counter()
    model = make_model(args.neurons, args.layers, args.seed, args.nodes)
    generate_seconds = time.perf_counter() - start
    print(f"generated {len(model.graphs)} graphs in {generate_seconds:.1f} s", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    if args.engine in ("ladybug", "both"):
        results["ladybug"] = _measure_ladybug(args, model)
    if args.engine in ("neo4j", "both"):
        results["neo4j"] = _measure_neo4j(args, model)
    for result in results.values():
        result["generate_seconds"] = generate_seconds
    print(json.dumps(results[args.engine] if args.engine != "both" else {"engine": "both", **results}))
    return 0


def _measure_ladybug(args: argparse.Namespace, model: SyntheticModel) -> dict[str, Any]:
    args = argparse.Namespace(**{**vars(args), "batch_neurons": args.batch_neurons or DEFAULT_BATCH})
    with contextlib.ExitStack() as stack:
        if args.db is None:
            directory = Path(tempfile.mkdtemp(prefix="n2g-store-bench-"))
            if not args.keep:
                stack.callback(_remove_tree, directory)
            path = directory / "bench.lbdb"
        else:
            path = Path(args.db)
            if db_files(path):
                raise N2GError(f"{path} exists: the benchmark needs a new database file")
            if not args.keep:
                stack.callback(lambda: [p.unlink() for p in db_files(path)])
        return _measure(args, model, path)


def _measure(args: argparse.Namespace, model: SyntheticModel, path: Path) -> dict[str, Any]:
    from ingest.ladybug_store import ladybug_version

    timers = Timers()
    gc.collect()
    gc.freeze()  # the generated graphs: a real load holds one batch of graphs, not all of them
    try:
        rss_before = _rss_mb()
        with open_store(str(path)) as store, instrumented(store, timers):
            with _profiled(args.profile):
                start = time.perf_counter()
                loaded = load(store, model, args.batch_neurons)
                load_seconds = time.perf_counter() - start
            counts = store.counts()
            stored = {row["id"]: row["signature"] for row in store.rows(SIGNATURES)}
            engine = store.engine
    finally:
        gc.unfreeze()
    elements = sum(counts.values())
    seconds = timers.seconds
    statuses: dict[str, int] = {}
    for graph in model.graphs:
        statuses[graph.status] = statuses.get(graph.status, 0) + 1
    live = [g for g in model.graphs if g.roots]
    return {
        "engine": engine, "ladybug_version": ladybug_version(), "neurons": len(model.graphs),
        "layers": args.layers, "seed": args.seed, "batch_neurons": args.batch_neurons,
        "elements": elements, "nodes": sum(counts[t.name] for t in schema.NODE_TABLES),
        "relationships": sum(counts[t.name] for t in schema.REL_TABLES),
        "load_seconds": load_seconds, "load_elements_per_s": elements / load_seconds,
        "build_rows_seconds": seconds["build"], "lookup_seconds": seconds["lookup"], "write_seconds": seconds["write"],
        "arrow_seconds": seconds["arrow"], "copy_seconds": seconds["copy"] + seconds["commit"],
        "commit_seconds": seconds["commit"], "checkpoint_seconds": seconds["checkpoint"],
        "db_bytes": sum(p.stat().st_size for p in db_files(path)),
        "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_before_load_mb": round(rss_before, 1),
        "loader_elements": loaded.elements, "counts": counts, "statuses": statuses,
        "mean_graph_nodes": sum(1 for g in live for _ in g.nodes()) / max(1, len(live)),
        "planted_duplicates": len(model.duplicates),
        "duplicates_sharing_signature": sum(stored.get(a) is not None and stored.get(a) == stored.get(b)
                                            for a, b in model.duplicates),
        "profiled": args.profile,
    }


# -- Neo4j ----------------------------------------------------------------------------------------------------
@dataclass
class Neo4jServer:
    """The server a benchmark measures: n2g's own, started in a temporary home (`local`), or NEO4J_URI's."""

    uri: str
    home: Path | None
    start_seconds: float | None  # a fresh home's start-up, for the local server
    pid: int | None = None  # the local server's process


def _cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; None where it cannot be read."""
    import os

    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def neo4j_server(stack: contextlib.ExitStack, heap: str = "4g", pagecache: str = "2g") -> Neo4jServer:
    """NEO4J_URI's server (its credentials from the environment; its database must be empty), else a local one
    in a temporary directory with a generated password (set in this process's NEO4J_PASSWORD), stopped and
    deleted when `stack` closes, and stopped by itself should this process be killed."""
    import os
    import secrets

    from ingest import neo4j_server as local

    if os.environ.get("NEO4J_URI"):
        uri = os.environ["NEO4J_URI"]
        with open_store(uri) as store:
            if store.rows("MATCH (n) RETURN count(n) AS n")[0]["n"]:
                raise N2GError(f"the database at NEO4J_URI={uri} is not empty: the benchmark needs an empty one")
        return Neo4jServer(uri, None, None)
    directory = Path(tempfile.mkdtemp(prefix="n2g-neo4j-bench-"))
    stack.callback(_remove_tree, directory)
    os.environ["NEO4J_PASSWORD"] = "n2g-bench-" + secrets.token_urlsafe(12)
    os.environ.pop("NEO4J_DATABASE", None)
    start = time.perf_counter()
    handle = local.start(directory / "home", heap=heap, pagecache=pagecache, watch_pid=os.getpid(), timeout_s=300)
    seconds = time.perf_counter() - start
    stack.callback(local.stop, handle.home)
    return Neo4jServer(handle.uri, handle.home, seconds, handle.pid)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _measure_neo4j(args: argparse.Namespace, model: SyntheticModel) -> dict[str, Any]:
    """The driver's load (`n2g load`/`n2g ingest` into Neo4j: UNWIND batches, one transaction per batch), then
    the bulk path of the same graphs: `n2g export --format neo4j-admin` and `neo4j-admin database import full`
    into a second home, and that server's first start (which creates the constraints and indexes)."""
    from ingest import neo4j_store
    from ingest.neo4j_store import Neo4jStore

    timers = Timers()
    with contextlib.ExitStack() as stack:
        server = neo4j_server(stack)
        gc.collect()
        gc.freeze()
        try:
            rss_before = _rss_mb()
            chunks = neo4j_store._chunks
            neo4j_store._chunks = lambda table: timers.iterate("columns", chunks(table))  # type: ignore
            with open_store(server.uri) as store, instrumented(store, timers):
                batch = args.batch_neurons or Neo4jStore.default_batch
                with _profiled(args.profile):
                    server_cpu, client_cpu = _cpu_seconds(server.pid), time.process_time()
                    start = time.perf_counter()
                    loaded = load(store, model, batch)
                    load_seconds = time.perf_counter() - start
                    client_cpu = time.process_time() - client_cpu
                    server_end = _cpu_seconds(server.pid)
                    server_cpu = None if server_cpu is None or server_end is None else server_end - server_cpu
                counts = store.counts()
                stored = {row["id"]: row["signature"] for row in store.rows(SIGNATURES)}
        finally:
            neo4j_store._chunks = chunks
            gc.unfreeze()
        elements = sum(counts.values())
        seconds = timers.seconds
        result: dict[str, Any] = {
            "engine": "neo4j", "neo4j_version": _neo4j_version(server.uri), "neurons": len(model.graphs),
            "layers": args.layers, "seed": args.seed, "batch_neurons": batch, "local_server": server.home is not None,
            "server_start_seconds": server.start_seconds,
            "elements": elements, "nodes": sum(counts[t.name] for t in schema.NODE_TABLES),
            "relationships": sum(counts[t.name] for t in schema.REL_TABLES),
            "load_seconds": load_seconds, "load_elements_per_s": elements / load_seconds,
            # Python building the rows (Arrow tables, less the shared keys the store has), the lookups (stored
            # neurons, next id, shared keys) and the whole of store.write: what it adds to building is the driver
            # packing the rows and the server running the statements and committing
            "build_rows_seconds": seconds["build"], "lookup_seconds": seconds["lookup"],
            "write_seconds": seconds["write"], "server_and_driver_seconds": seconds["write"] - seconds["build"],
            # inside that: Arrow columns into Python lists (`columns_seconds`), and the chunks' statements sent and
            # run (`send_seconds`: the driver packing, the server executing, waiting on each other); CPU time used
            # during the load by the server's JVM (all its threads) and by this process (rows, driver)
            "columns_seconds": seconds["columns"], "send_seconds": seconds["send"],
            "server_cpu_seconds": server_cpu, "client_cpu_seconds": client_cpu,
            "db_bytes": _tree_bytes(server.home / "data") if server.home else None,
            "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_before_load_mb": round(rss_before, 1),
            "loader_elements": loaded.elements, "counts": counts,
            "planted_duplicates": len(model.duplicates),
            "duplicates_sharing_signature": sum(stored.get(a) is not None and stored.get(a) == stored.get(b)
                                                for a, b in model.duplicates),
            "profiled": args.profile,
        }
        if server.home is not None:
            result.update(_bulk_import(model, server.home.parent, counts))
    return result


def export_rows(model: SyntheticModel, out: Path) -> int:
    """`n2g export --format neo4j-admin` of the synthetic graphs (as `export_graphs` writes a graph directory)."""
    import json as json_

    from ingest.graph_rows import RowBuilder
    from ingest.neo4j_admin_export import Neo4jAdminExport
    from ingest.store_loader import batches

    export, builder, source = Neo4jAdminExport(out), RowBuilder(), model.source()
    builder.add_model(model.settings["model"], json_.dumps(model.settings, sort_keys=True))
    for batch in batches(source.graphs(), 1024):
        for graph in batch:
            builder.add(graph, source.example(graph))
        export.append(builder.take())
    export.finish()
    return export.rows_written


def _bulk_import(model: SyntheticModel, directory: Path, expected: dict[str, int]) -> dict[str, Any]:
    import os

    from ingest import neo4j_server as local

    csv_dir, home = directory / "csv", directory / "imported"
    start = time.perf_counter()
    rows = export_rows(model, csv_dir)
    export_seconds = time.perf_counter() - start
    done = local.import_export(home, csv_dir, heap="2g")
    start = time.perf_counter()
    handle = local.start(home, heap="4g", pagecache="2g", watch_pid=os.getpid(), timeout_s=1800)
    first_start = time.perf_counter() - start
    try:
        with open_store(handle.uri) as store:
            counts = store.counts()
    finally:
        local.stop(home)
    elements = done.nodes + done.relationships
    return {"export_seconds": export_seconds, "export_elements_per_s": rows / export_seconds,
            "import_seconds": done.seconds, "import_elements_per_s": elements / done.seconds,
            "import_elements": elements, "imported_start_seconds": first_start,
            "import_counts_match": counts == expected,
            "csv_bytes": _tree_bytes(csv_dir), "imported_db_bytes": _tree_bytes(home / "data")}


def _neo4j_version(uri: str) -> str | None:
    with open_store(uri) as store:
        found = store.rows("CALL dbms.components() YIELD versions RETURN versions[0] AS v")
    return found[0]["v"] if found else None


def _remove_tree(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
