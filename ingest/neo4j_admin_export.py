"""`n2g export --format neo4j-admin DIR`: the store's rows as CSV files with header files, for
`neo4j-admin database import full`, the fast first load of a whole model into an empty Neo4j database.

    DIR/<Table>_header.csv, DIR/<Table>.csv     one pair per node label and relationship type (`ingest.schema`)
    DIR/import.sh                               the neo4j-admin command with the right options
    DIR/schema.cypher                           constraints and indexes, to run once the server is up

Token texts can hold any character, so fields are quoted, multi-line fields are enabled, and list elements are
separated by U+001F (a control character no token text contains in practice). neo4j-admin reads every `:ID` as a
string, so an integer key (GraphNode.id, Band.key) is written twice: as the unnamed `:ID` the relationships refer
to, and as a `long` property.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest import schema
from ingest.graph_rows import GraphRows, RowBuilder, unpacked
from ingest.neo4j_store import CONSTRAINTS, INDEXES
from ingest.store_loader import GraphSource, batches
from n2g.errors import N2GError

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


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ARRAY_DELIMITER.join(value)
    return value


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
        for table in self._tables:
            columns = unpacked(table.name, rows.table(table.name)).to_pydict()
            if _integer_keyed(table):
                columns = {"": columns[table.columns[0][0]], **columns}  # the `:ID`, then the key as a property
            with (self.out / f"{table.name}.csv").open("a", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
                for values in zip(*columns.values()):
                    writer.writerow([_cell(v) for v in values])
                    self.rows_written += 1

    def finish(self, database: str = "neo4j") -> None:
        nodes = " \\\n  ".join(f"--nodes={t.name}={t.name}_header.csv,{t.name}.csv" for t in schema.NODE_TABLES)
        rels = " \\\n  ".join(f"--relationships={t.name}={t.name}_header.csv,{t.name}.csv" for t in schema.REL_TABLES)
        script = ("#!/usr/bin/env bash\n# Load into an empty database (the server stopped), then run schema.cypher.\n"
                  'set -euo pipefail\ncd "$(dirname "$0")"\n'
                  f"neo4j-admin database import full {database} --overwrite-destination \\\n"
                  '  --array-delimiter="U+001F" --multiline-fields=true --quote=\'"\' \\\n'
                  f"  {nodes} \\\n  {rels}\n")
        (self.out / "import.sh").write_text(script, encoding="utf-8")
        (self.out / "import.sh").chmod(0o755)
        statements = [*CONSTRAINTS.values(), *INDEXES.values()]
        (self.out / "schema.cypher").write_text(";\n".join(statements) + ";\n", encoding="utf-8")


def export_graphs(sources: Sequence[GraphSource], out: str | Path) -> int:
    """Write every graph of every source once (a neuron in two sources is written once, as a store keeps it);
    sources of one model must share its settings, as `n2g load` requires. Returns the rows written."""
    export = Neo4jAdminExport(out)
    builder = RowBuilder()
    settings_of: dict[str, str] = {}
    seen: set[str] = set()
    for source in sources:
        settings = source.settings()
        text = json.dumps(settings, sort_keys=True)
        if settings_of.setdefault(settings["model"], text) != text:
            raise N2GError(f"{source.directory.dir} holds {settings['model']} graphs made with other settings than "
                           "an earlier source: export them separately")
        builder.add_model(settings["model"], text)
        for batch in batches(source.graphs(), _BATCH):
            for graph in batch:
                nid = schema.neuron_id(graph.model, graph.layer, graph.neuron)
                if nid not in seen:
                    seen.add(nid)
                    builder.add(graph, source.example(graph))
            export.append(builder.take())
    export.append(builder.take())
    export.finish()
    return export.rows_written
