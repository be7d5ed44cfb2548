"""Benchmark `n2g serve` on the synthetic store: each page's server time, and the search API against the search
run directly, in milliseconds (medians).

The store is the one `benchmarks/store.py` builds (50,000 synthetic neurons), made here first unless `--db` names
one it kept (`python benchmarks/store.py --db bench.lbdb --keep`). A real server is started (`n2g serve`, on a free
port of 127.0.0.1) and asked over one kept-alive HTTP connection, as a browser asks; arguments are drawn with
`--seed` from the store (random fitted neurons, their tokens), `--repeats` of each, after one warm-up request.

- `pages`: per page, `server_ms` (the app's own time, its `Server-Timing` header: routing, the store's queries,
  drawing the graph, the HTML) and `round_trip_ms` (what the client waited, loopback HTTP included);
- `api`: per search, `direct_ms` (the same `SearchRequest` run by `queries.request.execute` on a `NeuronSearch` in
  this process: what `n2g-search` spends once it has started) beside `api_ms` (round trip of `/api/search` with the
  same parameters; `api_server_ms`: the server's own part of it) and `overhead_ms` (the median of the paired
  differences api - direct); requests alternate, so both see the same machine;
- `cli_process_ms`: a whole `n2g-search --format json` run for one token, interpreter start included (what a
  person waits for at the command line), for scale;
- `plots`: the model page's three images, first drawn (`first_ms`) and then from the cache (`cached_ms`).

Prints exactly one JSON object. Usage: python benchmarks/serve.py [--db PATH] [--repeats 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # `queries` is the package, not a file

from ingest.store import open_store  # noqa: E402
from n2g.cli.guard import run_guarded  # noqa: E402
from n2g.serve.process import running_server  # noqa: E402
from queries.request import SearchRequest, execute  # noqa: E402
from queries.search import NeuronSearch  # noqa: E402

PROG = "benchmarks/serve.py"
BIN = Path(sys.executable).parent
PAGE_GOAL_MS, API_GOAL_MS = 100.0, 20.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=50_000, help="neurons of the synthetic store (when built)")
    parser.add_argument("--db", default=None, help="an existing store from benchmarks/store.py --keep")
    parser.add_argument("--repeats", type=int, default=20, help="timed requests per page or search")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def _store_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("store_benchmark", _HERE / "store.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["store_benchmark"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _run(args: argparse.Namespace) -> int:
    if args.db is None:
        bench = _store_benchmark()
        path = Path(tempfile.mkdtemp(prefix="n2g-serve-bench-")) / "bench.lbdb"
        with open_store(str(path)) as writer:
            bench.load(writer, bench.make_model(args.neurons, 12, args.seed), bench.DEFAULT_BATCH)
        db = str(path)
    else:
        db = args.db
    print(json.dumps(measure(db, args)))
    return 0


# --- a real server, asked over HTTP ---------------------------------------------------------------------------------




class Client:
    """One kept-alive connection; `get` returns (status, body, server ms, round-trip ms)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[int, bytes, float, float]:
        start = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        round_trip = (time.perf_counter() - start) * 1000
        timing = response.getheader("Server-Timing") or "app;dur=nan"
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return response.status, body, float(timing.split("dur=")[1]), round_trip


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def page_times(client: Client, paths: list[str]) -> dict[str, float]:
    client.get(paths[0])  # warm-up
    server, trip = [], []
    for path in paths:
        _, _, s, t = client.get(path)
        server.append(s)
        trip.append(t)
    return {"server_ms": _median(server), "round_trip_ms": _median(trip), "requests": len(paths),
            "max_server_ms": round(max(server), 2)}


def api_times(client: Client, search: NeuronSearch, requests: list[dict[str, Any]]) -> dict[str, float]:
    def direct(values: dict[str, Any]) -> float:
        start = time.perf_counter()
        result = execute(search, SearchRequest(**{k: tuple(v) if isinstance(v, list) else v
                                                  for k, v in values.items()}))
        assert result.frame is not None
        return (time.perf_counter() - start) * 1000

    def over_http(values: dict[str, Any]) -> tuple[float, float]:
        _, _, server, trip = client.get("/api/search?" + urlencode(values, doseq=True))
        return server, trip

    direct(requests[0])
    over_http(requests[0])
    direct_ms, server_ms, api_ms = [], [], []
    for values in requests:
        direct_ms.append(direct(values))
        server, trip = over_http(values)
        server_ms.append(server)
        api_ms.append(trip)
    return {"direct_ms": _median(direct_ms), "api_ms": _median(api_ms), "api_server_ms": _median(server_ms),
            "overhead_ms": _median([a - d for a, d in zip(api_ms, direct_ms)])}


def cli_process_ms(db: str, token: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(BIN / "n2g-search"), "--db", db, "--activating-token", token, "--format", "json"],
                       check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return _median(times)


# --- what is asked -----------------------------------------------------------------------------------------------


def arguments(search: NeuronSearch, repeats: int, seed: int) -> dict[str, Any]:
    rows = search.query("MATCH (n:Neuron) WHERE n.status = 'fitted' RETURN n.model AS model, n.layer AS layer, "
                        "n.neuron AS neuron, n.activating_tokens AS tokens, n.context_tokens AS context")
    rng = random.Random(seed)
    picked = [rows.iloc[i] for i in rng.sample(range(len(rows)), repeats)]
    with_context = rows[rows["context"].map(len) > 0]
    combos = [with_context.iloc[i] for i in rng.sample(range(len(with_context)), repeats)]
    return {"model": str(rows["model"].iloc[0]), "neurons": [f"{r.layer}:{r.neuron}" for r in picked],
            "tokens": [str(r.tokens[0]) for r in picked],
            "combos": [(str(r.tokens[0]), str(r.context[0])) for r in combos], "stored": len(rows)}


def measure(db: str, args: argparse.Namespace) -> dict[str, Any]:
    with NeuronSearch(db) as search:
        asked = arguments(search, args.repeats, args.seed)
        model, neurons, tokens, combos = asked["model"], asked["neurons"], asked["tokens"], asked["combos"]
        per = [None] * args.repeats
        with running_server(db) as port:
            client = Client(port)

            def pages(make: Callable[[Any], str], items: list[Any]) -> dict[str, float]:
                return page_times(client, [make(item) for item in items])

            result: dict[str, Any] = {"db": db, "engine": search.engine, "fitted_neurons": asked["stored"],
                                      "repeats": args.repeats}
            result["pages"] = {
                "search_landing": pages(lambda _: "/", per),
                "search_token": pages(lambda t: "/?" + urlencode({"q": t, "as": "token", "exact": "true"}), tokens),
                "search_token_in_context": pages(
                    lambda c: "/?" + urlencode({"q": f"{c[1]} {c[0]}", "as": "context", "exact": "true"}), combos),
                "search_repeated": pages(lambda _: "/?search=repeated_token", per),
                "search_polysemantic": pages(lambda _: "/?search=polysemantic", per),
                "search_best": pages(lambda _: "/?search=best&q=5", per),
                "search_similar": pages(lambda n: "/?" + urlencode({"search": "similar_to", "q": n}), neurons),
                "neuron": pages(lambda n: f"/neuron/{n}", neurons),
                "model": pages(lambda _: f"/model/{model}", per),
            }
            result["pages_over_goal"] = sorted(name for name, t in result["pages"].items()
                                               if t["server_ms"] > PAGE_GOAL_MS)
            result["api"] = {
                "activating_token": api_times(client, search, [{"activating_token": [t], "exact": True}
                                                               for t in tokens]),
                "activating_token_normalised": api_times(client, search, [{"activating_token": [t]} for t in tokens]),
                "context_combo": api_times(client, search, [{"activating_token": [a], "context_token": [c]}
                                                            for a, c in combos]),
                "repeated_token": api_times(client, search, [{"repeated_token": True}] * args.repeats),
                "polysemantic": api_times(client, search, [{"polysemantic": True}] * args.repeats),
                "similar_to": api_times(client, search, [{"similar_to": n} for n in neurons]),
                "neuron": api_times(client, search, [{"neuron": n} for n in neurons]),
                "best": api_times(client, search, [{"best": 5}] * args.repeats),
                "duplicates_sweep": api_times(client, search, [{"duplicates": True}] * 5),
            }
            result["api_over_goal"] = sorted(name for name, t in result["api"].items()
                                             if t["overhead_ms"] > API_GOAL_MS)
            result["api_neuron"] = pages(lambda n: f"/api/neuron/{n}", neurons)
            result["graph_svg"] = pages(lambda n: f"/api/neuron/{n}/graph.svg", neurons)
            result["page_duplicates_sweep"] = pages(lambda _: "/?search=duplicates", [None] * 3)
            plots = {}
            for plot in ("f1_distribution", "f1_by_layer", "size_vs_f1"):
                first = client.get(f"/model/{model}/plot/{plot}.png")[2]
                plots[plot] = {"first_ms": round(first, 1), "cached_ms": round(client.get(
                    f"/model/{model}/plot/{plot}.png")[2], 2)}
            result["plots"] = plots
        result["cli_process_ms"] = cli_process_ms(db, tokens[0])
    result["goals"] = {"page_server_ms": PAGE_GOAL_MS, "api_overhead_ms": API_GOAL_MS}
    return result


if __name__ == "__main__":
    sys.exit(main())
