"""The Neo4j backend: every statement it sends passes Neo4j's own linter (always), and the store tests run
against a real server where NEO4J_URI is set (for example `docker compose -f docker/docker-compose.yml up neo4j`).
The server tests need an empty database, because they compare whole-database snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest import neo4j_store, store
from ingest.store import open_store, snapshot, snapshot_statements, statement_parameters
from ingest.store_loader import GraphSource, load_graphs
from n2g.errors import N2GError
from tests.cypher_lint import lint_cypher
from tests.factories import sample_graphs, write_graph_directory


def backend_statements() -> dict[str, str]:
    """Everything the Neo4j backend sends on its own (user queries aside)."""
    shared = {"stored_neurons": store.STORED_NEURONS, "model_settings": store.MODEL_SETTINGS,
              "neuron_status": store.NEURON_STATUS, "last_graph_node": store.LAST_GRAPH_NODE}
    shared.update({f"existing_{k}": v for k, v in store.EXISTING_KEYS.items()})
    shared.update({f"count_{k}": v for k, v in {**store.COUNT_NODES, **store.COUNT_RELS}.items()})
    shared.update({f"snapshot_{k}": v for k, v in snapshot_statements().items()})
    return {**neo4j_store.STATEMENTS, **shared}


def test_every_neo4j_statement_passes_neo4js_linter() -> None:
    statements = backend_statements()
    assert len(statements) > 40
    errors = lint_cypher([(name, cypher, sorted(statement_parameters(cypher))) for name, cypher in statements.items()])
    assert {name: e for name, e in errors.items() if e} == {}


def test_load_statements_cover_every_table() -> None:
    from ingest import schema

    assert set(neo4j_store.LOAD) == {t.name for t in (*schema.NODE_TABLES, *schema.REL_TABLES)}
    assert "MERGE (n:Token {text: row.text})" in neo4j_store.LOAD["Token"]
    assert neo4j_store.LOAD["Neuron"].startswith("UNWIND $rows AS row CREATE (n:Neuron)")


def test_unreachable_server_is_one_line() -> None:
    with pytest.raises(N2GError, match="cannot reach Neo4j at bolt://127.0.0.1:1") as err:
        open_store("bolt://127.0.0.1:1")
    assert len(str(err.value).splitlines()) == 1


NEO4J_URI = os.environ.get("NEO4J_URI")
needs_server = pytest.mark.skipif(not NEO4J_URI, reason="NEO4J_URI is not set: no Neo4j server to test against "
                                  "(start one with docker/docker-compose.yml)")


@pytest.fixture()
def neo4j_empty():
    with open_store(NEO4J_URI) as server:
        if server.rows("MATCH (n) RETURN count(n) AS n")[0]["n"]:
            pytest.skip(f"the database at {NEO4J_URI} is not empty; the Neo4j tests need an empty one")
        yield server
        server.run_write("MATCH (n) DETACH DELETE n")


@pytest.mark.neo4j
@needs_server
def test_neo4j_holds_what_ladybug_holds_and_reloading_changes_nothing(neo4j_empty, tmp_path: Path) -> None:
    source = GraphSource(write_graph_directory(tmp_path / "graphs", sample_graphs()))
    with open_store(str(tmp_path / "n2g.lbdb")) as lady:
        load_graphs(lady, source, progress=False)
        expected = snapshot(lady)
    load_graphs(neo4j_empty, source, batch_size=2, progress=False)
    assert snapshot(neo4j_empty) == expected
    load_graphs(neo4j_empty, source, progress=False)
    assert snapshot(neo4j_empty) == expected


@pytest.mark.neo4j
@needs_server
def test_wrong_credentials_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "surely-not-the-password")
    with pytest.raises(N2GError, match="refused the credentials") as err:
        open_store(NEO4J_URI)
    assert "surely-not-the-password" not in str(err.value)
