"""`n2g-search`: find neurons by what their graphs contain, in the store `n2g ingest` built.

    n2g-search --activating-token import                      neurons that fire on (` `)import
    n2g-search --activating-token import --context-token from  ... that also need `from` in their context
    n2g-search --repeated-token                               in-context neurons
    n2g-search --duplicates --mode similar --min-overlap 0.9  cross-layer duplicate pairs
    n2g-search --similar-to 3:120 / --neuron 3:120            one neuron's neighbours / summary
    n2g-search --best 5                                       the best-scoring neurons of each layer
    n2g-search --cypher my.cypher --param layer=3             your own (read-only) Cypher

Every value reaches Cypher as a parameter; `--explain` prints the Cypher and parameters instead of running them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.store import DEFAULT_DB
from n2g.cli.main import run_guarded
from n2g.errors import N2GError
from queries.output import FORMATS, render
from queries.search import DUPLICATE_MODES, NeuronSearch, PreparedQuery, SearchFilter, graph_of


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="n2g-search", description="Search neuron graphs with Cypher: neurons that fire "
                                "on a token, need a token in their context, repeat a token, or duplicate each other.")
    p.add_argument("--db", default=DEFAULT_DB, help="LadybugDB file or Neo4j address (default: %(default)s)")
    what = p.add_argument_group("what to find (one of)")
    what.add_argument("--activating-token", action="append", default=[], metavar="TOKEN",
                      help="neurons whose graph fires on TOKEN (repeatable: all must match)")
    what.add_argument("--context-token", action="append", default=[], metavar="TOKEN",
                      help="neurons whose graph needs TOKEN in its context (repeatable; combines with the above)")
    what.add_argument("--repeated-token", action="store_true", help="in-context neurons: a token both activating "
                      "and in the context, ranked by the share of such tokens")
    what.add_argument("--duplicates", action="store_true", help="pairs of neurons with (nearly) the same graph")
    what.add_argument("--similar-to", metavar="L:N", help="the neurons most similar to this one")
    what.add_argument("--neuron", metavar="L:N", help="one neuron's summary and graph")
    what.add_argument("--best", type=int, metavar="K", help="the K best-scoring neurons of each layer")
    what.add_argument("--cypher", metavar="FILE", help="run your own Cypher from FILE ('-': stdin)")
    how = p.add_argument_group("options")
    how.add_argument("--exact", action="store_true", help="match the raw token text (' import' is not 'import')")
    how.add_argument("--mode", choices=DUPLICATE_MODES, default="similar",
                     help="duplicates: overlap / larger set (similar) or / smaller set (subset)")
    how.add_argument("--min-overlap", type=float, default=0.9, metavar="T", help="duplicates: overlap threshold")
    how.add_argument("--same-layer", action="store_true", help="duplicates: include pairs within one layer")
    how.add_argument("--min-share", type=float, default=0.0, help="--repeated-token: lowest share of repeats")
    how.add_argument("--model", help="only this model (needed with --neuron/--similar-to when several are stored)")
    how.add_argument("--layer", metavar="SPEC", help="only these layers: 3, 0:4 or 0,5,10")
    how.add_argument("--min-f1", type=float, help="only neurons with at least this held-out F1")
    how.add_argument("--limit", type=int, default=20, help="rows to return (default: %(default)s)")
    how.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="--cypher: a parameter ($NAME); VALUE is read as JSON when it parses, else as text")
    how.add_argument("--write", action="store_true", help="--cypher: allow a statement that writes")
    how.add_argument("--format", choices=FORMATS, default="table")
    how.add_argument("--explain", action="store_true", help="print the Cypher and parameters instead of running")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _search(args), prog="n2g-search")


def _chosen(args: argparse.Namespace) -> str:
    chosen = [name for name, on in (("tokens", args.activating_token or args.context_token),
                                    ("repeated", args.repeated_token), ("duplicates", args.duplicates),
                                    ("similar", args.similar_to), ("neuron", args.neuron),
                                    ("best", args.best is not None), ("cypher", args.cypher)) if on]
    if len(chosen) != 1:
        raise N2GError("choose one search: --activating-token/--context-token, --repeated-token, --duplicates, "
                       "--similar-to, --neuron, --best or --cypher")
    return chosen[0]


def _filter(args: argparse.Namespace) -> SearchFilter:
    from n2g.specs import parse_index_spec

    layers = None if args.layer is None else parse_index_spec(args.layer, 10_000, "layer")
    return SearchFilter(model=args.model, layers=layers, min_f1=args.min_f1)


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise N2GError(f"bad --param {pair!r}: write NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def _read_cypher(source: str) -> str:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise N2GError(f"{source} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    if not text.strip():
        raise N2GError(f"no Cypher in {'stdin' if source == '-' else source}")
    return text


def _search(args: argparse.Namespace) -> int:
    if args.limit <= 0:
        raise N2GError(f"--limit must be positive, got {args.limit}")
    kind = _chosen(args)
    where = _filter(args)
    with NeuronSearch(args.db, write=args.write) as search:
        if kind == "cypher":
            cypher, params = _read_cypher(args.cypher), _params(args.param)
            if args.explain:
                print(_explained(cypher, params))
                return 0
            print(render(search.query(cypher, write=args.write, **params), args.format))
            return 0
        if kind == "best":
            if args.explain:
                best = search.prepare("best_in_layer", layer=0, **where.params(), limit=args.best)
                print(_explained(best.cypher, best.params))
                print("// run once per layer that `layers` (queries/templates/layers.cypher) lists, $layer set to it")
                return 0
            print(render(search.best(args.best, where), args.format))
            return 0
        prepared = _prepare(search, kind, args, where)
        if args.explain:
            print(_explained(prepared.cypher, prepared.params))
            if prepared.with_rows:
                print("// then neuron_rows (queries/templates/neuron_rows.cypher) for the ids it returns")
            return 0
        frame = search.run(prepared)
        if kind == "neuron" and args.format == "table":
            from n2g.graphs.display import graph_summary

            print(graph_summary(graph_of(frame)))
            return 0
        print(render(frame, args.format))
    return 0


def _prepare(search: NeuronSearch, kind: str, args: argparse.Namespace, where: SearchFilter) -> PreparedQuery:
    if kind == "tokens":
        return search.prepare_tokens(args.activating_token, args.context_token, args.exact, where, args.limit)
    if kind == "repeated":
        return search.prepare_repeated(args.min_share, where, args.limit)
    if kind == "duplicates":
        return search.prepare_duplicates(args.mode, args.min_overlap, not args.same_layer, where, args.limit)
    if kind == "similar":
        return search.prepare_similar(args.similar_to, args.model, where, args.limit)
    return search.prepare_neuron(args.neuron, args.model)


def _explained(cypher: str, params: dict[str, Any]) -> str:
    return f"{cypher.strip()}\n\n// parameters\n{json.dumps(params, ensure_ascii=False, indent=1)}"


if __name__ == "__main__":
    sys.exit(main())
