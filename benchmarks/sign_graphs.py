"""Negative-direction graphs against positive ones (issue 23, item 3), from a `n2g ingest --signs both` work directory
and its store: per sign, graphs by status, mean held-out and random-window F1 of N2G and token lookup; and the
activating tokens only negative graphs hold, each with the negative graphs `n2g-search --sign negative` finds on it
and the count `--sign positive` finds there (0: a neuron found only through its negative direction).

Usage: python -m benchmarks.sign_graphs --graphs WORK/graphs --db STORE [--top 5]   (from the repository root: run as
a file, benchmarks/queries.py would hide the `queries` package)
Prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from n2g.cli.guard import run_guarded
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import mean_defined
from queries.search import NeuronSearch, SearchFilter


def by_sign(graphs: list[NeuronGraph]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sign, name in ((1, "positive"), (-1, "negative")):
        mine = [g for g in graphs if g.sign == sign]
        fitted = [g for g in mine if g.status == "fitted" and g.scores is not None]
        out[name] = {"graphs": len(mine), "status": dict(Counter(g.status for g in mine)),
                     **{f"{predictor}_{split}_f1": mean_defined([g.scores.value(predictor, split, "f1")
                                                                for g in fitted if g.scores is not None])
                        for predictor in ("n2g", "token_lookup") for split in ("test", "random")}}
    return out


def negative_only_tokens(graphs: list[NeuronGraph], db: str, top: int) -> list[dict[str, Any]]:
    """Activating tokens of negative graphs that no positive graph holds, best negative F1 first."""
    positive = {key for g in graphs if g.sign == 1 for key in g.activating_tokens()}
    best: dict[str, float] = {}
    for graph in graphs:
        if graph.sign < 0 and graph.status == "fitted" and graph.scores is not None:
            f1 = graph.scores.value("n2g", "test", "f1") or 0.0
            for key in graph.activating_tokens():
                if key not in positive:
                    best[key] = max(best.get(key, 0.0), f1)
    rows = []
    with NeuronSearch(db) as search:
        for key in sorted(best, key=lambda k: -best[k])[:top]:
            negative = search.activating(key, exact=True, where=SearchFilter(sign=-1))
            positive_found = search.activating(key, exact=True, where=SearchFilter(sign=1))
            rows.append({"token": key, "negative": list(negative["id"]), "negative_f1": list(negative["f1"]),
                         "positive_found": len(positive_found)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    return run_guarded(lambda: _run(args), prog="sign_graphs.py")


def _run(args: argparse.Namespace) -> int:
    directory = GraphDirectory(args.graphs)
    graphs = [g for layer in directory.layers() for g in directory.graphs(layer)]
    print(json.dumps({"by_sign": by_sign(graphs), "negative_only_tokens": negative_only_tokens(graphs, args.db,
                                                                                               args.top)},
                     indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
