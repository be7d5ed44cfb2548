"""The embedded default: one LadybugDB file, no server. The version is pinned in pyproject.toml because the
file format changes between releases.

Bulk loads go through `COPY ... FROM` Arrow tables inside one explicit transaction per batch (LadybugDB's fast
path; a kill mid-batch rolls the whole batch back). A COPY runs on a second thread while this one builds the
batch's next table (COPY releases the GIL), and shared-key lookups go through a second connection, which sees what
earlier batches committed. Text columns of type `schema.PACKED_TEXT` are stored packed, as the rows carry them
(`ingest.packed_text`), and unpacked on every read. One process may write; any number may read a file read-only,
also while a writer holds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa

from ingest import schema
from ingest.graph_rows import TABLE_SCHEMAS, NewOnly
from ingest.graph_store import GraphStore, check_parameters
from ingest.packed_text import unpack
from n2g.errors import N2GError

MAX_PATH_LENGTH = 256  # a trie is at most `--max-context` deep; LadybugDB caps `*1..k` at 30 unless told
NODE_DDL = {t.name: f"CREATE NODE TABLE IF NOT EXISTS {t.name}("
                    + ", ".join(f"{c} {k}" for c, k in t.columns) + f", PRIMARY KEY({t.key}))"
            for t in schema.NODE_TABLES}
REL_DDL = {t.name: f"CREATE REL TABLE IF NOT EXISTS {t.name}(FROM {t.source} TO {t.target}"
                   + "".join(f", {c} {k}" for c, k in t.columns) + ")"
           for t in schema.REL_TABLES}
# Which of the keys in an Arrow table `$keys` (column `k`) a node table holds: a join, 4-5x faster than UNWIND of a
# list parameter for the ~1 M band keys of a 50,000-neuron batch. A read waits for a running COPY, so a write asks
# first which shared tables are empty (`ANY_ROW`), and looks nothing up in those.
ANY_ROW = {t.name: f"MATCH (n:{t.name}) RETURN n.{t.key} AS k LIMIT 1" for t in schema.NODE_TABLES}
PRESENT = {t.name: f"LOAD FROM $keys MATCH (n:{t.name} {{{t.key}: k}}) RETURN n.{t.key} AS k"
           for t in schema.NODE_TABLES}


def _one_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


class LadybugStore(GraphStore):
    engine = "ladybug"
    # Large batches load fastest (benchmarks/RESULTS.md: 256 neurons per batch ran 7.7x slower than 10,000);
    # ~200 MB of rows per batch.
    default_batch = 10_000
    # In a bulk load, a CHECKPOINT after a commit once this many elements or this much loading time are not yet
    # checkpointed. LadybugDB logs no COPY data in its write-ahead log (with automatic checkpoints on, a COPY's
    # commit checkpoints): a committed batch is durable from the next checkpoint on, and a kill loses what came
    # after it, which a re-run loads again from the graph files. So the time bounds the loading a kill can cost;
    # the interval grows to twice the last checkpoint's length, as a checkpoint costs with the whole file.
    checkpoint_elements = 20_000_000
    checkpoint_interval_s = 30.0

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
        self._uncheckpointed: int | None = None  # elements committed since the last checkpoint, in a bulk load
        self._checkpointed_at, self._checkpoint_seconds = time.monotonic(), 0.0  # the last one's end and length
        if read_only and target.stat().st_size == 0:
            raise N2GError(f"{path} is an empty file, not an n2g store: build one with `n2g ingest --db {path}`")
        try:
            self._db = _open_read_only(str(path)) if read_only else _open_database(str(path), read_only=False)
            self._conn = ladybug.Connection(self._db)
            self._conn.execute(f"CALL var_length_extend_max_depth={MAX_PATH_LENGTH}")
            self._reader = self._conn if read_only else ladybug.Connection(self._db)  # lookups during a write
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
        if "Model" not in tables:
            if self.read_only:  # a writer creates the tables; a reader has nothing to read
                raise N2GError(f"{self.location} is not an n2g store (it has no n2g tables): build one with "
                               f"`n2g ingest --db {self.location}`")
            return
        differing = [table.name for table in schema.NODE_TABLES
                     if table.name in tables and self._columns(table.name) != list(table.columns)]
        if differing:
            raise N2GError(f"{self.location} was built by another version of n2g (its {', '.join(differing)} "
                           f"table{'s differ' if len(differing) > 1 else ' differs'}): use a new --db file")
        super().check_layout()

    def _columns(self, table: str) -> list[tuple[str, str]]:
        return [(row["name"], row["type"]) for row in self.rows(f"CALL table_info('{table}') RETURN name, type")]

    def write(self, tables: Iterable[tuple[str, pa.Table]]) -> int:
        empty = {name for name in schema.SHARED_TABLES if not self._run(ANY_ROW[name]).has_next()}
        new_only, stored = NewOnly(lambda name, keys: set() if name in empty else self.existing_keys(name, keys)), 0
        copier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="n2g-copy")
        copies: list[Future[None]] = []
        self._run("BEGIN TRANSACTION")
        try:
            for name, table in tables:  # each table is built here while the ones before it are copied
                table = new_only(name, table)
                if table.num_rows:
                    copies.append(copier.submit(self.copy_table, name, table))
                    stored += table.num_rows
                _raise_failed(copies)
            for copy in copies:
                copy.result()
            self.commit()
        except BaseException:
            copier.shutdown(wait=True, cancel_futures=True)
            self._rollback()
            raise
        copier.shutdown()
        self._count_for_checkpoint(stored)
        return stored

    def _count_for_checkpoint(self, stored: int) -> None:
        if self._uncheckpointed is None:
            return
        self._uncheckpointed += stored
        waited = time.monotonic() - self._checkpointed_at
        if (self._uncheckpointed >= self.checkpoint_elements
                or waited >= max(self.checkpoint_interval_s, 2 * self._checkpoint_seconds)):
            self.checkpoint()
            self._uncheckpointed = 0

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Automatic checkpoints off while a load runs; a CHECKPOINT at its end and on the way (see
        `checkpoint_interval_s`). With them on, every COPY's commit checkpoints, and a checkpoint's cost grows with
        the whole file, not the batch: 50,000 neurons in batches of 10,000 took 24-27 s with a checkpoint per
        commit, 15.7-17.3 s with one at the end. A load that fails still checkpoints the batches it committed."""
        self._run("CALL auto_checkpoint=false")
        self._uncheckpointed, self._checkpointed_at = 0, time.monotonic()
        try:
            yield
        except BaseException:
            self._uncheckpointed = None
            # the store may be what failed: keep the first error
            self._quietly("CALL auto_checkpoint=true")
            self._quietly("CHECKPOINT")
            raise
        self._uncheckpointed = None
        self._run("CALL auto_checkpoint=true")
        self.checkpoint()

    def checkpoint(self) -> None:
        start = time.monotonic()
        self._run("CHECKPOINT")
        self._checkpointed_at = time.monotonic()
        self._checkpoint_seconds = self._checkpointed_at - start

    def copy_table(self, name: str, table: pa.Table) -> None:
        self._run(f"COPY {name} FROM $rows", {"rows": table})

    def commit(self) -> None:
        self._run("COMMIT")

    def stored_neurons(self, ids: Sequence[str]) -> set[str]:
        return self._present("Neuron", ids)

    def existing_keys(self, table: str, keys: Iterable[Any]) -> set[Any]:
        return self._present(table, keys)

    def _present(self, table: str, keys: Iterable[Any]) -> set[Any]:
        keys = list(keys)
        if not keys:
            return set()
        key_type = TABLE_SCHEMAS[table].field(schema.node_table(table).key).type
        result = self._run(PRESENT[table], {"keys": pa.table({"k": pa.array(keys, type=key_type)})}, self._reader)
        return set(result.get_as_arrow()["k"].to_pylist())

    def _rollback(self) -> None:
        self._quietly("ROLLBACK")

    def _quietly(self, cypher: str) -> None:
        """Run a statement whose failure must not hide the error being handled."""
        try:
            self._conn.execute(cypher)
        except RuntimeError:
            pass

    def rows(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._run(cypher, params)
        names = result.get_column_names()
        out = []
        while result.has_next():
            out.append({name: unpack(v) if isinstance(v, bytes) else v for name, v in zip(names, result.get_next())})
        return out

    def _run(self, cypher: str, params: Mapping[str, Any] | None = None, connection: Any = None) -> Any:
        params = dict(params or {})
        check_parameters(cypher, params)
        try:
            return (self._conn if connection is None else connection).execute(cypher, params)
        except (RuntimeError, ValueError, TypeError) as err:  # engine errors; values it cannot bind
            raise N2GError(f"LadybugDB ({self.location}): {_one_line(err)}") from err

    def close(self) -> None:
        if self._reader is not self._conn:
            self._reader.close()
        self._conn.close()
        self._db.close()


def _raise_failed(copies: list[Future[None]]) -> None:
    """A COPY that failed stops the batch at once, not after the rest is built."""
    for copy in copies:
        if copy.done() and copy.exception() is not None:
            raise copy.exception()  # type: ignore[misc]


# How long a reader waits for a writer's checkpoint (LadybugDB refuses read-only opens while one is in flight; a
# 50,000-neuron store checkpoints in seconds), and a writer for another writer's brief hold on the lock.
READ_WAIT_S = 120.0
LOCK_WAIT_S = 3.0
_RECOVERY_PENDING = "checkpoint recovery is pending"
_LOCKED = "Could not set lock"
_PAST_END = "outside the database file"  # a checkpoint growing the file, or a truncated file
log = logging.getLogger("n2g")


def _open_database(path: str, read_only: bool, wait_s: float = LOCK_WAIT_S) -> Any:
    """Open read-write, waiting a little while another process holds the lock only briefly (a reader finishing the
    recovery of a killed checkpoint, below)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ladybug.Database(path, read_only=read_only)
        except RuntimeError as err:
            if _LOCKED not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _open_read_only(path: str, wait_s: float = READ_WAIT_S) -> Any:
    """Open for reading whatever state the file is in. LadybugDB refuses a read-only open while checkpoint recovery
    is pending: a writer is checkpointing (wait for it, bounded), or a process was killed mid-checkpoint and nobody
    holds the file (then finish the recovery as a writer would, by a read-write open, and read the recovered
    state)."""
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            return ladybug.Database(path, read_only=True)
        except RuntimeError as err:
            if _RECOVERY_PENDING not in str(err) and _PAST_END not in str(err):
                raise
        try:
            ladybug.Database(path, read_only=False).close()  # nobody writes: recover, then read
            continue
        except RuntimeError as err:
            if _LOCKED not in str(err):
                raise
        if time.monotonic() >= deadline:
            raise N2GError(f"{path} is still checkpointing after {wait_s:.0f} s (a load is writing it): retry later")
        if not said:
            log.warning("n2g: %s is checkpointing (a load is writing it); waiting to read it", path)
            said = True
        time.sleep(0.1)


def _open_error(path: str, err: RuntimeError) -> str:
    text = _one_line(err)
    if _LOCKED in text:
        holder = text.split("(Lock is held by ", 1)[1].split(")")[0] if "Lock is held by" in text else "another process"
        return (f"{path} is being written by {holder}: wait for it to finish, or search it (read-only) meanwhile")
    if _PAST_END in text or "no valid database header" in text:
        return (f"{path} is damaged (truncated or cut off mid-write: {text.split('. The database')[0]}): restore it or "
                "build the store again")
    if "not a valid Lbug database file" in text:
        return f"{path} is not an n2g store (not a LadybugDB {ladybug_version()} file)"
    return f"cannot open {path} as a LadybugDB {ladybug_version()} database: {text}"


def ladybug_version() -> str:
    from importlib.metadata import version

    return version("ladybug")
