"""Neo4j through the official driver, for users who run a server (see docker/). Credentials come from
NEO4J_USER / NEO4J_PASSWORD and are never printed; NEO4J_DATABASE picks a database other than the default.

Constraints and indexes are created first; a batch is then one write transaction of `UNWIND $rows` statements:
shared nodes by MERGE (shards may load in parallel), a neuron's own nodes and edges by CREATE (a neuron already
stored is skipped before the batch is built). GraphNode ids are numbered by the store (`GraphStore.
next_graph_node_id`); shards loading at once would number their batches alike, so a batch takes its range from a
counter node first thing in its transaction (`RESERVE_IDS`): its lock serialises concurrent batches, a rolled-back
batch gives its range back, and a batch renumbers its rows when the range differs. A transaction the server aborts
transiently (a deadlock victim, a lock timeout) is run again whole by the driver (`execute_write`), from rows kept
for that. Every statement sent is in `STATEMENTS`, which the test suite lints with Neo4j's own parser
(`@neo4j-cypher/language-support`); tests/integration/neo4j runs them all against a real server.

Searches (a read-only store) run in READ transactions, in which the server refuses to write, and give up on a
server that stopped answering after a few seconds of retries; errors are one line without the password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from ingest import schema
from ingest.graph_rows import NewOnly, graph_node_range, renumber_graph_nodes, unpacked
from ingest.graph_store import GraphStore, check_parameters
from n2g.errors import N2GError

BATCH_ROWS = 5000
WRITE_RETRY_S, READ_RETRY_S = 30.0, 3.0  # how long the driver retries a transaction that failed transiently
ACQUIRE_S = 20.0  # to get a connection (connect, handshake, log in), the driver's default being 60 s

CONSTRAINTS = {f"constraint_{t.name}": f"CREATE CONSTRAINT {t.name.lower()}_{t.key} IF NOT EXISTS "
                                       f"FOR (n:{t.name}) REQUIRE n.{t.key} IS UNIQUE"
               for t in schema.NODE_TABLES}
CONSTRAINTS["constraint_N2GCounter"] = ("CREATE CONSTRAINT n2gcounter_name IF NOT EXISTS "  # concurrent MERGEs
                                        "FOR (c:N2GCounter) REQUIRE c.name IS UNIQUE")  # make one counter
INDEXES = {
    "index_neuron_layer": "CREATE INDEX neuron_model_layer IF NOT EXISTS FOR (n:Neuron) ON (n.model, n.layer)",
    "index_neuron_signature": "CREATE INDEX neuron_signature IF NOT EXISTS FOR (n:Neuron) ON (n.signature)",
}
# (No index on GraphNode.neuron_id: no query looks graph nodes up by it, and each index costs every insert.)


def _rows(table: schema.NodeTable | schema.RelTable) -> str:
    """A batch's rows arrive as columns (`$columns`: a list per column, row i the i-th of each), not as a map per
    row: the driver packs no column names per row, and Arrow hands a column over as one list."""
    first = table.key if isinstance(table, schema.NodeTable) else "from"
    return f"UNWIND range(0, size($columns.{first}) - 1) AS i"


def _merge_node(table: schema.NodeTable) -> str:
    rest = [c for c in table.column_names if c != table.key]
    on_create = f" ON CREATE SET {', '.join(f'n.{c} = $columns.{c}[i]' for c in rest)}" if rest else ""
    return f"{_rows(table)} MERGE (n:{table.name} {{{table.key}: $columns.{table.key}[i]}}){on_create}"


def _create_node(table: schema.NodeTable) -> str:
    return (f"{_rows(table)} CREATE (n:{table.name}) "
            f"SET {', '.join(f'n.{c} = $columns.{c}[i]' for c in table.column_names)}")


def _rel(table: schema.RelTable) -> str:
    source, target = schema.node_table(table.source), schema.node_table(table.target)
    verb = "MERGE" if table.source in schema.SHARED_TABLES else "CREATE"
    props = f" SET {', '.join(f'r.{c} = $columns.{c}[i]' for c in table.column_names)}" if table.columns else ""
    return (f"{_rows(table)} MATCH (a:{source.name} {{{source.key}: $columns.from[i]}}) "
            f"MATCH (b:{target.name} {{{target.key}: $columns.to[i]}}) {verb} (a)-[r:{table.name}]->(b){props}")


LOAD = {t.name: _merge_node(t) if t.name in schema.SHARED_TABLES else _create_node(t) for t in schema.NODE_TABLES}
LOAD.update({t.name: _rel(t) for t in schema.REL_TABLES})
RESERVE_IDS = ("MERGE (c:N2GCounter {name: 'GraphNode'}) ON CREATE SET c.next = $start "
               "SET c.next = c.next + $count RETURN c.next - $count AS first")
# Everything this backend sends, by name, with its parameters: what the linter test checks.
STATEMENTS: dict[str, str] = {**CONSTRAINTS, **INDEXES, **{f"load_{k}": v for k, v in LOAD.items()},
                              "reserve_ids": RESERVE_IDS}


AUTH_RATE_LIMIT = "Neo.ClientError.Security.AuthenticationRateLimit"


class Neo4jStore(GraphStore):
    engine = "neo4j"
    default_batch = 1_000  # one write transaction each: keeps a transaction's memory on the server modest

    def __init__(self, uri: str, read_only: bool = False) -> None:
        import neo4j
        from neo4j import exceptions

        self.location, self.read_only = uri, read_only
        self._database = os.environ.get("NEO4J_DATABASE") or None
        user = os.environ.get("NEO4J_USER", "neo4j")
        password = os.environ.get("NEO4J_PASSWORD", "")
        try:
            # no notifications: the server would send deprecation and "property does not exist" hints with
            # rows, which the driver logs as multi-line warnings; n2g's statements are linted instead
            self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, password), notifications_min_severity="OFF",
                                                      connection_acquisition_timeout=ACQUIRE_S)
            self._driver.verify_connectivity()
            if self._database is not None:  # a database the server lacks fails here, not at the first query
                with self._driver.session(database=self._database, default_access_mode=neo4j.READ_ACCESS) as s:
                    s.run("RETURN 1").consume()
        except exceptions.AuthError as err:
            raise N2GError(f"Neo4j at {uri} refused the credentials of user {user!r} "
                           "(set NEO4J_USER and NEO4J_PASSWORD)") from err
        except (exceptions.ServiceUnavailable, exceptions.ConfigurationError, ValueError, OSError) as err:
            raise N2GError(f"cannot reach Neo4j at {uri}: {_first_line(err)}") from err
        except exceptions.Neo4jError as err:
            if err.code == AUTH_RATE_LIMIT:  # the server's lock after repeated wrong passwords (5 s by default)
                raise N2GError(f"Neo4j at {uri} refused user {user!r} after too many wrong passwords in a row: "
                               "check NEO4J_USER and NEO4J_PASSWORD, then retry in a few seconds") from err
            raise N2GError(self._explained(err)) from err

    def ensure_schema(self) -> None:
        self.check_layout()
        for statement in (*CONSTRAINTS.values(), *INDEXES.values()):
            self._session_run(statement, {}, write=True)

    def write(self, tables: Iterable[tuple[str, pa.Table]]) -> int:
        new_only = NewOnly(self.existing_keys)
        batch = [(name, unpacked(name, new_only(name, table))) for name, table in tables]  # the driver may retry
        first, count = graph_node_range(batch)

        def work(tx: Any) -> None:
            start = tx.run(RESERVE_IDS, start=first, count=count).single()["first"] if count else first
            for name, table in batch:
                for columns in _chunks(renumber_graph_nodes(name, table, start - first)):
                    self._send(tx, name, columns)

        self._guard(lambda session: session.execute_write(work), write=True)
        return sum(table.num_rows for _, table in batch)

    @staticmethod
    def _send(tx: Any, name: str, columns: dict[str, list[Any]]) -> None:
        """One chunk of a table's rows: the driver packs and sends them, the server runs the statement."""
        tx.run(LOAD[name], columns=columns).consume()

    def rows(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._session_run(cypher, dict(params or {}), write=False)

    def run_write(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """A user's own statement that may write (`n2g-search --cypher ... --write`)."""
        return self._session_run(cypher, dict(params or {}), write=True)

    def _session_run(self, cypher: str, params: dict[str, Any], write: bool) -> list[dict[str, Any]]:
        check_parameters(cypher, params)

        def work(tx: Any) -> list[dict[str, Any]]:
            return tx.run(cypher, params).data()

        return self._guard(lambda s: s.execute_write(work) if write else s.execute_read(work), write)

    def _guard(self, action: Any, write: bool) -> Any:
        import neo4j
        from neo4j import exceptions

        if write and self.read_only:
            raise N2GError(f"{self.location} is open read-only")
        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        # Transient failures (a deadlock victim, a leader switch, a dropped connection) are retried by the driver,
        # the whole transaction each time: writes for up to 30 s, a search's reads for a few seconds, so a server
        # that went away is reported at once instead of half a minute later.
        retry = WRITE_RETRY_S if write or not self.read_only else READ_RETRY_S
        try:
            with self._driver.session(database=self._database, default_access_mode=mode,
                                      max_transaction_retry_time=retry) as session:
                return action(session)
        except exceptions.Neo4jError as err:
            raise N2GError(self._explained(err)) from err
        except (exceptions.DriverError, OSError) as err:
            raise N2GError(f"Neo4j at {self.location} stopped answering: {_first_line(err)} "
                           "(is the server running?)") from err

    def _explained(self, err: Any) -> str:
        """A server error as one line, with what to do where n2g knows it."""
        code = getattr(err, "code", "") or ""
        if code == "Neo.ClientError.Database.DatabaseNotFound":
            return (f"Neo4j at {self.location} has no database {self._database!r} (NEO4J_DATABASE): create it, or "
                    "unset NEO4J_DATABASE for the server's default database")
        text = f"Neo4j ({self.location}): {_first_line(err)}"
        if code.startswith("Neo.ClientError.Statement.AccessMode") and self.read_only:
            text += " (searches run read-only: n2g-search --cypher ... --write allows a statement that writes)"
        return text

    def close(self) -> None:
        self._driver.close()


def _chunks(table: pa.Table) -> Iterator[dict[str, list[Any]]]:
    """The table, `BATCH_ROWS` rows at a time, as {column: values}."""
    for start in range(0, table.num_rows, BATCH_ROWS):
        part = table.slice(start, BATCH_ROWS)
        yield {name: part.column(name).to_pylist() for name in part.column_names}


_NOISE = (re.compile(r" \(resolved to \(.*?\)\)"), re.compile(r" \(deadline Deadline\(timeout=[\d.]+\)\)"))
_ADDRESS = re.compile(r"Resolved(?:IPv[46])?Address\(\('([^']*)', (\d+)\)\)")


def _first_line(err: BaseException) -> str:
    """The server's message for a server error; the driver's own text otherwise (its `.message` is generic), less
    the driver's address internals."""
    from neo4j import exceptions

    message = getattr(err, "message", None) if isinstance(err, exceptions.Neo4jError) else None
    text = message or str(err) or type(err).__name__
    text = " ".join(line.strip() for line in str(text).splitlines() if line.strip())  # the reason is often below
    for noise in _NOISE:
        text = noise.sub("", text)
    return _ADDRESS.sub(r"\1:\2", text)
