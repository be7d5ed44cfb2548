"""`n2g-search`: find neurons by what their graphs contain, in the store `n2g ingest` built.

    n2g-search --activating-token import                      neurons that fire on (` `)import
    n2g-search --activating-token import --context-token from  ... that also need `from` in their context
    n2g-search --repeated-token                               in-context neurons
    n2g-search --duplicates --mode similar --min-overlap 0.9  cross-layer duplicate pairs
    n2g-search --similar-to 3:120 / --neuron 3:120            one neuron's neighbours / summary
    n2g-search --best 5                                       the best-scoring neurons of each layer
    n2g-search --cypher my.cypher --param layer=3             your own (read-only) Cypher

The options are `queries.request.SearchRequest`'s fields (the HTTP API takes the same). Every value reaches Cypher
as a parameter; `--explain` prints the Cypher and parameters instead of running them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ingest.store import DEFAULT_DB
from n2g.cli.guard import run_click
from n2g.cli.options import build_config, config_options
from n2g.errors import N2GError
from queries.output import FORMATS, render
from queries.request import SearchRequest, execute
from queries.search import NeuronSearch, graph_of

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command(context_settings=CONTEXT, help="Search neuron graphs with Cypher: neurons that fire on a token, need "
               "a token in their context, repeat a token, or duplicate each other.")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="LadybugDB file or Neo4j address")
@config_options(SearchRequest)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def cli(db: str, fmt: str, **values: Any) -> int:
    request = build_config(SearchRequest, values)
    kind = request.kind()
    cypher_text = read_cypher(request.cypher) if kind == "cypher" else None
    with NeuronSearch(db, write=request.write) as search:
        result = execute(search, request, cypher_text)
    if result.explained is not None:
        print(result.explained)
    elif kind == "neuron" and fmt == "table":
        from n2g.graphs.display import graph_summary

        print(graph_summary(graph_of(result.frame)))
    else:
        print(render(result.frame, fmt))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_click(cli, argv, prog="n2g-search")


def read_cypher(source: str) -> str:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise N2GError(f"{source} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    if not text.strip():
        raise N2GError(f"no Cypher in {'stdin' if source == '-' else source}")
    return text


if __name__ == "__main__":
    sys.exit(main())
