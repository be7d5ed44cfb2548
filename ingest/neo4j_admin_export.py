"""`n2g export --format neo4j-admin DIR`: the store's rows as CSV files with header files, for
`neo4j-admin database import full`, the fast first load of a whole model into an empty Neo4j database.

    DIR/<Table>_header.csv, DIR/<Table>.csv     one pair per node label and relationship type (`ingest.schema`)
    DIR/import.sh                               the neo4j-admin command with the right options
    DIR/schema.cypher                           constraints and indexes (and the empty lists neo4j-admin cannot
                                                write), to run once the server is up

Token texts can hold any character, so fields are quoted, multi-line fields are enabled, and list elements are
separated by U+001F (a control character no token text contains in practice). A missing value is an empty
unquoted field, the empty string a quoted one. The files are written by Arrow's CSV writer, a batch at a time.
neo4j-admin reads every `:ID` as a string, so an integer key (GraphNode.id, Band.key) is written twice: as the
unnamed `:ID` the relationships refer to, and as a `long` property.
"""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ingest import schema
from ingest.graph_rows import GraphRows, RowBuilder, unpacked
from ingest.neo4j_store import CONSTRAINTS, INDEXES
from ingest.store_loader import GraphSource, batches
from n2g.files import check_same_settings

ARRAY_DELIMITER = "\x1f"
_BATCH = 1024


def _integer_keyed(table: schema.NodeTable | schema.RelTable) -> bool:
    return isinstance(table, schema.NodeTable) and schema.key_type(table.name) != schema.STRING


def _header(table: schema.NodeTable | schema.RelTable) -> list[str]:
    if _integer_keyed(table):
        first = [f":ID({table.name})"]
        rest = table.columns
    elif isinstance(table, schema.NodeTable):
        first = [f"{table.key}:ID({table.name})"]
        rest = table.columns[1:]
    else:
        first = [f":START_ID({table.source})", f":END_ID({table.target})"]
        rest = table.columns
    return first + [f"{name}:{schema.NEO4J_ADMIN_TYPES[kind]}" for name, kind in rest]


def _csv_ready(table: schema.NodeTable | schema.RelTable, rows: pa.Table) -> pa.Table:
    """The rows as the data file lays them out: packed text unpacked, lists joined by `ARRAY_DELIMITER` (an empty
    list written as no value: neo4j-admin cannot write an empty array, `EMPTY_LISTS` restores them), an integer
    key first once more as the `:ID`."""
    rows = unpacked(table.name, rows)
    for i, field in enumerate(rows.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            joined = pc.binary_join(rows.column(i), ARRAY_DELIMITER)
            present = pc.greater(pc.list_value_length(rows.column(i)), 0)
            rows = rows.set_column(i, field.name, pc.if_else(present, joined, pa.scalar(None, pa.string())))
    if _integer_keyed(table):
        rows = rows.add_column(0, "", rows.column(table.columns[0][0]))  # the `:ID`, then the key as a property
    return rows


class Neo4jAdminExport:
    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._tables = (*schema.NODE_TABLES, *schema.REL_TABLES)
        for table in self._tables:
            with (self.out / f"{table.name}_header.csv").open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(_header(table))
            (self.out / f"{table.name}.csv").write_text("", encoding="utf-8")
        self.rows_written = 0

    def append(self, rows: GraphRows) -> None:
        """Every valid value quoted (numbers too, which neo4j-admin parses by the header's type), a missing one
        (None) left empty and unquoted: neo4j-admin stores "" as the empty string and an empty field as no
        property, as the other engines hold None."""
        options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
        for table in self._tables:
            ready = _csv_ready(table, rows.table(table.name))
            if not ready.num_rows:
                continue
            with (self.out / f"{table.name}.csv").open("ab") as handle:
                pa_csv.write_csv(ready, handle, options)
            self.rows_written += ready.num_rows

    def finish(self, database: str = "neo4j") -> None:
        nodes, rels = file_groups()
        lines = [*IMPORT_OPTIONS, *(f"--nodes={label}={files}" for label, files in nodes),
                 *(f"--relationships={kind}={files}" for kind, files in rels)]
        script = ("#!/usr/bin/env bash\n"
                  "# Load into an empty database (the server stopped), then run schema.cypher once it is up.\n"
                  "# `n2g neo4j import DIR --home H` runs the same import for n2g's local server.\n"
                  'set -euo pipefail\ncd "$(dirname "$0")"\n'
                  f"neo4j-admin database import full {database} --overwrite-destination \\\n  "
                  + " \\\n  ".join(shlex.quote(line) for line in lines) + "\n")
        (self.out / "import.sh").write_text(script, encoding="utf-8")
        (self.out / "import.sh").chmod(0o755)
        (self.out / SCHEMA_FILE).write_text(schema_script(), encoding="utf-8")


# What the import needs besides the files: list elements split at U+001F, token texts with newlines quoted.
IMPORT_OPTIONS = ("--array-delimiter=U+001F", "--multiline-fields=true", '--quote="')
SCHEMA_FILE = "schema.cypher"
# After the constraints and indexes: wait until they are online, so searches are fast from the first one.
AWAIT_INDEXES = "CALL db.awaitIndexes(3600)"


def file_groups(directory: str | Path | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(label, "header,data") for every node table and (type, "header,data") for every relationship table, the
    files named relative to `directory` (None: as written, relative to the export directory itself)."""
    def files(name: str) -> str:
        return ",".join(str(Path(directory) / f) if directory is not None else f
                        for f in (f"{name}_header.csv", f"{name}.csv"))

    return ([(t.name, files(t.name)) for t in schema.NODE_TABLES],
            [(t.name, files(t.name)) for t in schema.REL_TABLES])


# neo4j-admin stores an empty list as no property at all; the rows never hold a missing list, so every list
# property an import left absent was an empty list.
EMPTY_LISTS = [f"MATCH (n:{t.name}) WHERE n.{c} IS NULL SET n.{c} = []"
               for t in schema.NODE_TABLES for c, kind in t.columns if kind == schema.STRING_LIST]


def schema_statements() -> list[str]:
    """The constraints and indexes `ingest.neo4j_store` creates, the empty lists neo4j-admin could not write, then
    the wait for the indexes to come online."""
    return [*CONSTRAINTS.values(), *INDEXES.values(), *EMPTY_LISTS, AWAIT_INDEXES]


def schema_script() -> str:
    return ";\n".join(schema_statements()) + ";\n"


def read_schema_script(path: str | Path) -> list[str]:
    """The statements of a schema.cypher: `//` comment lines dropped, `;` ends each (n2g writes none inside one)."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines()
             if not line.strip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def check_export_directory(directory: str | Path) -> Path:
    """An `n2g export --format neo4j-admin` directory with every file the import needs, or a one-line refusal."""
    from n2g.errors import N2GError

    path = Path(directory)
    if not path.is_dir():
        raise N2GError(f"{path} is not a directory: give the directory `n2g export --format neo4j-admin` wrote")
    nodes, rels = file_groups(path)
    missing = [f for _, group in (*nodes, *rels) for f in group.split(",") if not Path(f).is_file()]
    if not (path / SCHEMA_FILE).is_file():
        missing.append(str(path / SCHEMA_FILE))
    if missing:
        raise N2GError(f"{path} is not a complete `n2g export --format neo4j-admin` directory: {missing[0]} is missing"
                       + (f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""))
    return path


def export_graphs(sources: Sequence[GraphSource], out: str | Path) -> int:
    """Write every graph of every source once (a neuron in two sources is written once, as a store keeps it);
    sources of one model must share its settings, as `n2g load` requires. Returns the rows written."""
    export = Neo4jAdminExport(out)
    builder = RowBuilder()
    settings_of: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for source in sources:
        settings = source.settings()
        check_same_settings(settings, settings_of.setdefault(settings["model"], settings),
                            where=str(source.directory.dir), what=f"{settings['model']} graphs",
                            remedy="export them separately", sides=("there", "in an earlier source"))
        builder.add_model(settings["model"], json.dumps(settings, sort_keys=True))
        for batch in batches(source.graphs(), _BATCH):
            for graph in batch:
                nid = schema.neuron_id(graph.model, graph.layer, graph.neuron, graph.sign)
                if nid not in seen:
                    seen.add(nid)
                    builder.add(graph, source.example(graph))
            export.append(builder.take())
    export.append(builder.take())
    export.finish()
    return export.rows_written
