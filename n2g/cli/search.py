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

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ingest.store import DEFAULT_DB
from n2g.cli.guard import run_click
from n2g.cli.options import BoundedInt, FiniteFloat
from n2g.errors import N2GError
from queries.output import FORMATS, render
from queries.search import DUPLICATE_MODES, NeuronSearch, PreparedQuery, SearchFilter, graph_of

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command(context_settings=CONTEXT, help="Search neuron graphs with Cypher: neurons that fire on a token, need "
               "a token in their context, repeat a token, or duplicate each other.")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="LadybugDB file or Neo4j address")
@click.option("--activating-token", multiple=True, metavar="TOKEN",
              help="neurons whose graph fires on TOKEN (repeatable: all must match)")
@click.option("--context-token", multiple=True, metavar="TOKEN",
              help="neurons whose graph needs TOKEN in its context (repeatable; combines with the above)")
@click.option("--repeated-token", is_flag=True, help="in-context neurons: a token both activating and in the "
              "context, ranked by the share of such tokens")
@click.option("--duplicates", is_flag=True, help="pairs of neurons with (nearly) the same graph")
@click.option("--similar-to", metavar="L:N", help="the neurons most similar to this one")
@click.option("--neuron", metavar="L:N", help="one neuron's summary and graph")
@click.option("--best", type=BoundedInt(min=1), metavar="K", help="the K best-scoring neurons of each layer")
@click.option("--cypher", metavar="FILE", help="run your own Cypher from FILE ('-': stdin)")
@click.option("--exact", is_flag=True, help="match the raw token text (' import' is not 'import')")
@click.option("--mode", type=click.Choice(DUPLICATE_MODES), default="similar", show_default=True,
              help="duplicates: overlap / larger set (similar) or / smaller set (subset)")
@click.option("--min-overlap", type=FiniteFloat(min=0.0, max=1.0), default=0.9, show_default=True, metavar="T",
              help="duplicates: overlap threshold")
@click.option("--same-layer", is_flag=True, help="duplicates: include pairs within one layer")
@click.option("--min-share", type=FiniteFloat(min=0.0, max=1.0), default=0.0, show_default=True,
              help="--repeated-token: lowest share of repeats")
@click.option("--model", help="only this model (needed with --neuron/--similar-to when several are stored)")
@click.option("--layer", metavar="SPEC", help="only these layers: 3, 0:4 or 0,5,10")
@click.option("--min-f1", type=FiniteFloat(min=0.0, max=1.0), help="only neurons with at least this held-out F1")
@click.option("--limit", type=BoundedInt(min=1), default=20, show_default=True, help="rows to return")
@click.option("--param", multiple=True, metavar="NAME=VALUE",
              help="--cypher: a parameter ($NAME); VALUE is read as JSON when it parses, else as text")
@click.option("--write", is_flag=True, help="--cypher: allow a statement that writes")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--explain", is_flag=True, help="print the Cypher and parameters instead of running")
def cli(**values: Any) -> int:
    return _search(values)


def main(argv: Sequence[str] | None = None) -> int:
    return run_click(cli, argv, prog="n2g-search")


def _chosen(values: dict[str, Any]) -> str:
    chosen = [name for name, on in (("tokens", values["activating_token"] or values["context_token"]),
                                    ("repeated", values["repeated_token"]), ("duplicates", values["duplicates"]),
                                    ("similar", values["similar_to"]), ("neuron", values["neuron"]),
                                    ("best", values["best"] is not None), ("cypher", values["cypher"])) if on]
    if len(chosen) != 1:
        raise N2GError("choose one search: --activating-token/--context-token, --repeated-token, --duplicates, "
                       "--similar-to, --neuron, --best or --cypher")
    return chosen[0]


def _filter(values: dict[str, Any]) -> SearchFilter:
    from n2g.specs import parse_index_spec

    layers = None if values["layer"] is None else parse_index_spec(values["layer"], None, "layer")
    return SearchFilter(model=values["model"], layers=layers, min_f1=values["min_f1"])


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


def _search(values: dict[str, Any]) -> int:
    kind = _chosen(values)
    where = _filter(values)
    fmt, limit = values["fmt"], values["limit"]
    with NeuronSearch(values["db"], write=values["write"]) as search:
        if kind == "cypher":
            cypher, params = _read_cypher(values["cypher"]), _params(values["param"])
            if values["explain"]:
                print(_explained(cypher, params))
                return 0
            print(render(search.query(cypher, write=values["write"], **params), fmt))
            return 0
        if kind == "best":
            if values["explain"]:
                best = search.prepare("best_in_layer", layer=0, **where.params(), limit=values["best"])
                print(_explained(best.cypher, best.params))
                print("// run once per layer that `layers` (queries/templates/layers.cypher) lists, $layer set to it")
                return 0
            print(render(search.best(values["best"], where), fmt))
            return 0
        prepared = _prepare(search, kind, values, where, limit)
        if values["explain"]:
            print(_explained(prepared.cypher, prepared.params))
            if prepared.with_rows:
                print("// then neuron_rows (queries/templates/neuron_rows.cypher) for the ids it returns")
            return 0
        frame = search.run(prepared)
        if kind == "neuron" and fmt == "table":
            from n2g.graphs.display import graph_summary

            print(graph_summary(graph_of(frame)))
            return 0
        print(render(frame, fmt))
    return 0


def _prepare(search: NeuronSearch, kind: str, values: dict[str, Any], where: SearchFilter,
             limit: int) -> PreparedQuery:
    if kind == "tokens":
        return search.prepare_tokens(list(values["activating_token"]), list(values["context_token"]),
                                     values["exact"], where, limit)
    if kind == "repeated":
        return search.prepare_repeated(values["min_share"], where, limit)
    if kind == "duplicates":
        return search.prepare_duplicates(values["mode"], values["min_overlap"], not values["same_layer"], where,
                                         limit)
    if kind == "similar":
        return search.prepare_similar(values["similar_to"], values["model"], where, limit)
    return search.prepare_neuron(values["neuron"], values["model"])


def _explained(cypher: str, params: dict[str, Any]) -> str:
    return f"{cypher.strip()}\n\n// parameters\n{json.dumps(params, ensure_ascii=False, indent=1)}"


if __name__ == "__main__":
    sys.exit(main())
