"""`n2g-search`: find neurons by what their graphs contain.

The graph store and the query layer are later work (`n2g ingest`, Cypher templates); until they exist this
command parses its options and says, in one line, that there is no store to search yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from n2g.cli import run_guarded
from n2g.errors import N2GError

DEFAULT_DB = "n2g.lbdb"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2g-search", description="Search neuron graphs with Cypher: neurons "
                                     "that fire on a token, that need a token in their context, or both.")
    parser.add_argument("--db", default=DEFAULT_DB, help="embedded graph store file (built by `n2g ingest`)")
    parser.add_argument("--activating-token", help="neurons whose graph fires on this token")
    parser.add_argument("--context-token", help="neurons whose graph needs this token in the context")
    parser.add_argument("--layer", help="restrict to layers, e.g. 0:4")
    parser.add_argument("--limit", type=int, default=20, help="rows to return")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _search(args), prog="n2g-search")


def _search(args: argparse.Namespace) -> int:
    if not Path(args.db).exists():
        raise N2GError(f"no graph store at {args.db}: graph fitting and `n2g ingest` are not built yet, "
                       f"so there is nothing to search (mined exemplars can be browsed with `n2g show`)")
    raise N2GError("searching a graph store is not built yet")


if __name__ == "__main__":
    sys.exit(main())
