"""The Neo4j backend: every statement it sends passes Neo4j's own linter (always), and the store holds what
LadybugDB holds, on a real server (tests/neo4j_fixture.py: NEO4J_URI's, or n2g's own local one). Whole-database
snapshots are compared, so each server test starts from an emptied database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import graph_store as store
from ingest import neo4j_store
from ingest.store import open_store, snapshot, snapshot_statements, statement_parameters
from ingest.store_loader import GraphSource, load_graphs
from n2g.errors import N2GError
from tests.cypher_lint import lint_cypher
from tests.factories import sample_graphs, write_graph_directory


def backend_statements() -> dict[str, str]:
    """Everything the Neo4j backend sends on its own (user queries aside)."""
    shared = {"stored_neurons": store.STORED_NEURONS, "model_settings": store.MODEL_SETTINGS,
              "neuron_status": store.NEURON_STATUS, "last_graph_node": store.LAST_GRAPH_NODE,
              "schema_versions": store.SCHEMA_VERSIONS}
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
    assert "MERGE (n:Token {text: $columns.text[i]})" in neo4j_store.LOAD["Token"]
    assert neo4j_store.LOAD["Neuron"].startswith("UNWIND range(0, size($columns.id) - 1) AS i CREATE (n:Neuron)")


def test_unreachable_server_is_one_line() -> None:
    with pytest.raises(N2GError, match="cannot reach Neo4j at bolt://127.0.0.1:1") as err:
        open_store("bolt://127.0.0.1:1")
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.neo4j
def test_neo4j_holds_what_ladybug_holds_and_reloading_changes_nothing(neo4j_store, tmp_path: Path) -> None:
    source = GraphSource(write_graph_directory(tmp_path / "graphs", sample_graphs()))
    with open_store(str(tmp_path / "n2g.lbdb")) as lady:
        load_graphs(lady, source, progress=False)
        expected = snapshot(lady)
    load_graphs(neo4j_store, source, batch_size=2, progress=False)
    assert snapshot(neo4j_store) == expected
    load_graphs(neo4j_store, source, progress=False)
    assert snapshot(neo4j_store) == expected


@pytest.mark.neo4j
def test_schema_is_created_once_and_kept(neo4j_store) -> None:
    """ensure_schema makes every constraint and index n2g sends, and running it again changes nothing."""
    def schema_names() -> set[str]:
        constraints = {r["name"] for r in neo4j_store.rows("SHOW CONSTRAINTS YIELD name RETURN name")}
        indexes = {r["name"] for r in neo4j_store.rows("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' "
                                                        "RETURN name")}
        return constraints | indexes

    neo4j_store.ensure_schema()
    made = schema_names()
    assert {"neuron_id", "token_text", "graphnode_id", "band_key", "neuron_model_layer"} <= made
    neo4j_store.ensure_schema()
    assert schema_names() == made


@pytest.mark.neo4j
def test_wrong_credentials_are_one_line(neo4j_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "surely-not-the-password")
    with pytest.raises(N2GError, match="refused the credentials") as err:
        open_store(neo4j_server.uri)
    assert "surely-not-the-password" not in str(err.value)
