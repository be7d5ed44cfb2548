"""The one interface every graph store implements (`GraphStore`), the parameter check every statement passes, and
whole-store snapshots for comparing stores. Engines: `ingest.ladybug_store`, `ingest.neo4j_store`; `ingest.store`
opens the one an address names.

A store writes a batch of rows (`ingest.graph_rows.RowBuilder.tables`) in one transaction, so a kill at any moment
leaves each batch either wholly stored or absent; loading skips neurons already stored, so re-running changes
nothing. Queries take values only as parameters, and every parameter a statement names must be supplied (LadybugDB
would silently read a missing one as NULL).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa

from ingest import schema
from n2g.errors import N2GError

# Statements both engines run as they are (the portable subset of `graph-stores.md`).
STORED_NEURONS = "UNWIND $ids AS id MATCH (n:Neuron {id: id}) RETURN n.id AS id"
MODEL_SETTINGS = "MATCH (m:Model {name: $name}) RETURN m.settings AS settings, m.schema_version AS schema_version"
NEURON_STATUS = ("MATCH (n:Neuron) WHERE n.model = $model "
                 "RETURN n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.reason AS reason")
EXISTING_KEYS = {table.name: f"UNWIND $keys AS k MATCH (n:{table.name} {{{table.key}: k}}) RETURN n.{table.key} AS k"
                 for table in schema.NODE_TABLES if table.name in schema.SHARED_TABLES}
# Model nodes n2g wrote record their schema version; a Model a user CREATEd through `--cypher --write` has none
# and is not n2g's to judge (searches and loads ignore it).
SCHEMA_VERSIONS = "MATCH (m:Model) WHERE m.schema_version IS NOT NULL RETURN DISTINCT m.schema_version AS v"
LAST_GRAPH_NODE = "MATCH (g:GraphNode) RETURN max(g.id) AS last"
COUNT_NODES = {table.name: f"MATCH (n:{table.name}) RETURN count(n) AS n" for table in schema.NODE_TABLES}
COUNT_RELS = {table.name: f"MATCH ()-[r:{table.name}]->() RETURN count(r) AS n" for table in schema.REL_TABLES}

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def statement_parameters(cypher: str) -> set[str]:
    """The `$names` a statement uses (outside string literals and comments, which templates do not use)."""
    return set(_PARAM.findall(cypher))


INT64 = (-(2**63), 2**63 - 1)
MAX_PARAM_DEPTH = 32  # lists and maps inside lists and maps: deeper is a mistake, and engines recurse on it


def check_parameters(cypher: str, params: Mapping[str, Any]) -> None:
    """Every parameter the statement names is given, and every value is one both engines take (a 64-bit integer,
    valid Unicode text, nesting of bounded depth): refused here in one line, not deep inside a driver."""
    missing = sorted(statement_parameters(cypher) - set(params))
    if missing:
        raise N2GError(f"the query needs parameter{'s' if len(missing) > 1 else ''} "
                       f"{', '.join('$' + m for m in missing)}, which {'were' if len(missing) > 1 else 'was'} "
                       "not given")
    for name, value in params.items():
        _check_value(name, value, 0)


def _check_value(name: str, value: Any, depth: int) -> None:
    if depth > MAX_PARAM_DEPTH:
        raise N2GError(f"parameter ${name} is nested more than {MAX_PARAM_DEPTH} levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise N2GError(f"parameter ${name}: {value} does not fit a 64-bit integer")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise N2GError(f"parameter ${name} is not valid UTF-8 text (at character {err.start})") from err
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(f"{name}.{key}", item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_value(name, item, depth + 1)


class GraphStore(ABC):
    """What ingest and search need from a graph database."""

    engine: str
    location: str
    default_batch: int  # neurons per load transaction, sized for the engine

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create the tables / constraints and indexes if absent; refuse a store laid out by another version."""

    def check_layout(self) -> None:
        """Refuse a store laid out by another version of n2g: every model in it records its schema version."""
        found = {row["v"] for row in self.rows(SCHEMA_VERSIONS)}
        if found - {schema.SCHEMA_VERSION}:
            shown = ", ".join(sorted(map(str, found)))
            raise N2GError(f"{self.location} was built by another version of n2g (store schema {shown}, this "
                           f"n2g reads {schema.SCHEMA_VERSION}): load into a new database")

    @abstractmethod
    def write(self, tables: Iterable[tuple[str, pa.Table]]) -> int:
        """Store a batch in one transaction: its tables as `RowBuilder.tables` gives them (node tables before the
        relationships that use them), less the shared nodes (Token, TokenKey, Band, Model) the store already has
        (`graph_rows.NewOnly`). Returns the elements stored."""

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Around a load of many batches (`store_loader.load_graphs`): engines that can defer work until the
        whole load is in (LadybugDB's checkpoints) do so. Every batch is committed on its own; where durability
        waits for such deferred work, a kill loses at most the batches since it last ran (bounded by the engine),
        which the loader stores again when re-run, as it does any neuron the store lacks."""
        yield

    @abstractmethod
    def rows(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts of plain values."""

    def run_write(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """A user's own statement that may write (`n2g-search --cypher ... --write`); engines whose reads run in
        read-only transactions override it."""
        return self.rows(cypher, params)

    @abstractmethod
    def close(self) -> None: ...

    def frame(self, cypher: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return pd.DataFrame(self.rows(cypher, params))

    def stored_neurons(self, ids: Sequence[str]) -> set[str]:
        return {row["id"] for row in self.rows(STORED_NEURONS, {"ids": list(ids)})} if ids else set()

    def existing_keys(self, table: str, keys: Iterable[Any]) -> set[Any]:
        keys = list(keys)
        return {row["k"] for row in self.rows(EXISTING_KEYS[table], {"keys": keys})} if keys else set()

    def next_graph_node_id(self) -> int:
        """Where the next batch's GraphNode ids start: one past the largest stored (ids follow load order)."""
        last = self.rows(LAST_GRAPH_NODE)[0]["last"]
        return 0 if last is None else int(last) + 1

    def model_settings(self, model: str) -> str | None:
        found = self.rows(MODEL_SETTINGS, {"name": model})
        return found[0]["settings"] if found else None

    def neuron_status(self, model: str) -> list[dict[str, Any]]:
        return self.rows(NEURON_STATUS, {"model": model})

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type."""
        statements = {**COUNT_NODES, **COUNT_RELS}
        return {name: int(self.rows(cypher)[0]["n"]) for name, cypher in statements.items()}

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot_statements() -> dict[str, str]:
    """One statement per table returning all its rows (keys and properties), for comparing whole stores."""
    out = {}
    for table in schema.NODE_TABLES:
        out[table.name] = f"MATCH (n:{table.name}) RETURN " + ", ".join(f"n.{c} AS {c}" for c in table.column_names)
    for rel in schema.REL_TABLES:
        source, target = schema.node_table(rel.source), schema.node_table(rel.target)
        out[rel.name] = (f"MATCH (a:{rel.source})-[r:{rel.name}]->(b:{rel.target}) "
                         f"RETURN a.{source.key} AS source, b.{target.key} AS target"
                         + "".join(f", r.{c} AS {c}" for c in rel.column_names))
    return out


def snapshot(store: GraphStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: two stores holding the same data give equal snapshots."""
    def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(tuple(v) if isinstance(v, list) else v for v in row.values())

    return {name: sorted((row_key(r) for r in store.rows(cypher)), key=repr)
            for name, cypher in snapshot_statements().items()}
