"""Opening a graph store by its address: `--db PATH` is an embedded LadybugDB file (the default, no server);
`--db neo4j://host:7687` (or bolt://, neo4j+s://, ...) is a Neo4j server, credentials from NEO4J_USER /
NEO4J_PASSWORD. The interface both implement is `ingest.graph_store.GraphStore` (re-exported here with the
parameter check and snapshots, so `from ingest.store import ...` serves both).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from ingest.graph_store import (  # noqa: F401 - re-exported: the store's public names in one place
    GraphStore,
    check_parameters,
    snapshot,
    snapshot_statements,
    statement_parameters,
)
from n2g.errors import N2GError

DEFAULT_DB = "n2g.lbdb"
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")

__all__ = ["DEFAULT_DB", "NEO4J_SCHEMES", "GraphStore", "check_parameters", "is_neo4j_uri", "open_store", "snapshot",
           "snapshot_statements", "statement_parameters", "writing_store"]


def is_neo4j_uri(db: str) -> bool:
    return db.split("://", 1)[0].lower() in NEO4J_SCHEMES if "://" in db else False


def open_store(db: str = DEFAULT_DB, read_only: bool = False, create: bool = True) -> GraphStore:
    """The store `db` names. `read_only` (search) works beside a running ingest on the embedded engine."""
    db = db.strip()
    if "://" in db and not is_neo4j_uri(db):
        raise N2GError(f"--db {db}: a Neo4j address starts with {', '.join(s + '://' for s in NEO4J_SCHEMES)}; "
                       "anything else is a LadybugDB file path")
    if is_neo4j_uri(db):
        from ingest.neo4j_store import Neo4jStore

        if "@" in urlsplit(db).netloc:
            raise N2GError("the --db address carries credentials: give the address alone and the user and password "
                           "in NEO4J_USER / NEO4J_PASSWORD (so they are never printed)")

        return Neo4jStore(db, read_only=read_only)
    from ingest.ladybug_store import LadybugStore

    return LadybugStore(db, read_only=read_only, create=create)


@contextmanager
def writing_store(db: str = DEFAULT_DB) -> Iterator[GraphStore]:
    """`open_store` for a command that writes (`n2g ingest`, `n2g load`): when the command fails before storing
    any neuron, a LadybugDB file this call created is removed again, so a mistyped option leaves no empty store."""
    created = not is_neo4j_uri(db.strip()) and not Path(db).exists()
    store = open_store(db)
    try:
        yield store
    except BaseException:
        empty = created and _holds_no_neurons(store)
        store.close()
        if empty:
            for leftover in Path(db).parent.glob(Path(db).name + "*"):
                leftover.unlink(missing_ok=True)
        raise
    store.close()


def _holds_no_neurons(store: GraphStore) -> bool:
    try:
        return not store.rows("MATCH (n:Neuron) RETURN n.id AS id LIMIT 1")
    except N2GError:  # no tables yet
        return True
