"""The embedded default: one LadybugDB file, no server. The version is pinned in pyproject.toml because the
file format changes between releases.

Bulk loads go through `COPY ... FROM` Arrow tables inside one explicit transaction per batch (LadybugDB's fast
path; a kill mid-batch rolls the whole batch back). One process may write; any number may read a file read-only,
also while a writer holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ladybug

from ingest import schema
from ingest.graph_rows import GraphRows
from ingest.store import GraphStore, check_parameters
from n2g.errors import N2GError

MAX_PATH_LENGTH = 256  # a trie is at most `--max-context` deep; LadybugDB caps `*1..k` at 30 unless told
NODE_DDL = {t.name: f"CREATE NODE TABLE IF NOT EXISTS {t.name}("
                    + ", ".join(f"{c} {k}" for c, k in t.columns) + f", PRIMARY KEY({t.key}))"
            for t in schema.NODE_TABLES}
REL_DDL = {t.name: f"CREATE REL TABLE IF NOT EXISTS {t.name}(FROM {t.source} TO {t.target}"
                   + "".join(f", {c} {k}" for c, k in t.columns) + ")"
           for t in schema.REL_TABLES}


def _one_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


class LadybugStore(GraphStore):
    engine = "ladybug"
    # Each commit of COPYs checkpoints, which costs more as the file grows: few large batches load fastest
    # (benchmarks/RESULTS.md: 256 neurons per batch ran 7.7x slower than 10,000). ~200 MB of rows per batch.
    default_batch = 10_000

    def __init__(self, path: str | Path, read_only: bool = False, create: bool = True) -> None:
        self.location = str(path)
        target = Path(path)
        if target.is_dir():
            raise N2GError(f"--db {path} is a directory; give a database file path (e.g. {path}/n2g.lbdb)")
        if not target.exists() and (read_only or not create):
            raise N2GError(f"no graph store at {path}: build one with `n2g ingest --db {path}`")
        if not target.parent.exists():
            raise N2GError(f"cannot create {path}: directory {target.parent} does not exist")
        self.read_only = read_only
        try:
            self._db = ladybug.Database(str(path), read_only=read_only)
            self._conn = ladybug.Connection(self._db)
            self._conn.execute(f"CALL var_length_extend_max_depth={MAX_PATH_LENGTH}")
        except RuntimeError as err:
            raise N2GError(_open_error(str(path), err)) from err

    def ensure_schema(self) -> None:
        if self.read_only:
            raise N2GError(f"{self.location} is open read-only")
        self.check_layout()
        for ddl in (*NODE_DDL.values(), *REL_DDL.values()):
            self._run(ddl)

    def check_layout(self) -> None:
        tables = {row["name"] for row in self.rows("CALL show_tables() RETURN name")}
        if "Neuron" not in tables:
            return
        columns = [row["name"] for row in self.rows("CALL table_info('Neuron') RETURN name")]
        if columns != schema.NEURON.column_names:
            raise N2GError(f"{self.location} was built by another version of n2g (its Neuron table differs): "
                           "use a new --db file")
        super().check_layout()

    def write(self, rows: GraphRows) -> None:
        self._run("BEGIN TRANSACTION")
        try:
            for table in (*schema.NODE_TABLES, *schema.REL_TABLES):
                data = rows.table(table.name)
                if data and len(next(iter(data.values()))):
                    self._run(f"COPY {table.name} FROM $rows", {"rows": rows.arrow(table.name)})
            self._run("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except RuntimeError:
            pass

    def rows(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._run(cypher, params)
        names = result.get_column_names()
        out = []
        while result.has_next():
            out.append(dict(zip(names, result.get_next())))
        return out

    def _run(self, cypher: str, params: Mapping[str, Any] | None = None) -> Any:
        params = dict(params or {})
        check_parameters(cypher, params)
        try:
            return self._conn.execute(cypher, params)
        except (RuntimeError, ValueError, TypeError) as err:  # engine errors; values it cannot bind
            raise N2GError(f"LadybugDB ({self.location}): {_one_line(err)}") from err

    def close(self) -> None:
        self._conn.close()
        self._db.close()


def _open_error(path: str, err: RuntimeError) -> str:
    text = _one_line(err)
    if "Could not set lock" in text:
        holder = text.split("(Lock is held by ", 1)[1].split(")")[0] if "Lock is held by" in text else "another process"
        return (f"{path} is being written by {holder}: wait for it to finish, or search it (read-only) meanwhile")
    return f"cannot open {path} as a LadybugDB {ladybug_version()} database: {text}"


def ladybug_version() -> str:
    from importlib.metadata import version

    return version("ladybug")
