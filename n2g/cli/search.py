"""`n2g-search`: find neurons by what their graphs contain, in the store `n2g ingest` built.

    n2g-search --activating-token import                      neurons that fire on (` `)import
    n2g-search --activating-token import --context-token from  ... that also need `from` in their context
    n2g-search --text "from os import path" [--verify]        per token: the neurons predicted to fire there
    n2g-search --text-file f.py / --text-file -               ... the text from a file / stdin
    n2g-search --polysemantic --min-parts 2                   graphs in parts that share no token
    n2g-search --repeated-token                               in-context neurons
    n2g-search --duplicates --mode similar --min-overlap 0.9  cross-layer duplicate pairs
    n2g-search --similar-to 3:120 / --neuron 3:120            one neuron's neighbours / summary
    n2g-search --best 5                                       the best-scoring neurons of each layer
    n2g-search --cypher my.cypher --param layer=3             your own (read-only) Cypher

The options are `queries.request.SearchRequest`'s fields (the HTTP API takes the same). Every value reaches Cypher
as a parameter; `--explain` prints the Cypher and parameters instead of running them. With `--verify`, the
search's precision and recall on the text follow the table (JSON and CSV: on stderr, so stdout stays data).
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
               "a token in their context, are predicted to fire on a text, repeat a token, fall into unrelated parts, "
               "or duplicate each other.")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="LadybugDB file or Neo4j address")
@config_options(SearchRequest)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def cli(db: str, fmt: str, **values: Any) -> int:
    request = build_config(SearchRequest, values)
    kind = request.kind()
    cypher_text = read_cypher(request.cypher) if kind == "cypher" else None
    text = read_search_text(request.text_file) if request.text_file is not None else None
    with NeuronSearch(db, write=request.write) as search:
        result = execute(search, request, cypher_text, text)
    if result.note:
        print(f"n2g-search: {result.note}", file=sys.stderr)
    if result.explained is not None:
        print(result.explained)
    elif kind == "neuron" and fmt == "table":
        from n2g.graphs.display import graph_summary

        print(graph_summary(graph_of(result.frame)))
    else:
        print(render(result.frame, fmt))
    line = result.summary_line()
    if line is not None:
        print(line, file=sys.stdout if fmt == "table" else sys.stderr)
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


def read_search_text(source: str) -> str:
    """The text of `--text-file` (a path, or '-' for stdin), refused in one line when it is not UTF-8 or too long
    to search (read no further than that)."""
    from queries.text_search import MAX_TEXT_CHARS

    limit = MAX_TEXT_CHARS * 4 + 4  # UTF-8 bytes of the longest text searched, and one byte more
    name = "stdin" if source == "-" else source
    try:
        if source == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(source).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as err:
        raise N2GError(f"cannot read {name}: {err.strerror or err}") from err
    if len(data) > limit:
        raise N2GError(f"{name} is longer than text search takes ({MAX_TEXT_CHARS:,} characters at most): search a "
                       "passage of it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise N2GError(f"{name} is not UTF-8 text ({err.reason} at byte {err.start})") from err


if __name__ == "__main__":
    sys.exit(main())
