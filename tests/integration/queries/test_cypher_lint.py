"""The offline Cypher linter accepts valid Neo4j 5 queries and rejects syntax errors, undeclared parameters,
multiple statements and LadybugDB/Kuzu-only DDL. It must be installed (`bash scripts/setup.sh`): these tests fail,
not skip, without it."""

from __future__ import annotations

import pytest

from tests.cypher_lint import lint_all, lint_cypher, linter_available

VALID = [
    ("merge", "UNWIND $rows AS row MERGE (n:Neuron {id: row.id}) SET n.layer = row.layer", ["rows"]),
    ("constraint", "CREATE CONSTRAINT neuron_id IF NOT EXISTS FOR (n:Neuron) REQUIRE n.id IS UNIQUE", []),
    ("index", "CREATE INDEX neuron_layer IF NOT EXISTS FOR (n:Neuron) ON (n.model, n.layer)", []),
    ("declared_param", "MATCH (n:Neuron {id: $id})-[r:ACTIVATES]->(t:Token) RETURN t.text, r.act LIMIT $k",
     ["id", "k"]),
    ("trailing_semicolon", "MATCH (n:Neuron) RETURN count(n);", []),
]
INVALID = [
    ("syntax", "MATCH (n:Neuron RETURN n", [], "Invalid input"),
    ("undeclared_param", "MATCH (n:Neuron {id: $x}) RETURN n", [], "Parameter $x is not defined"),
    ("kuzu_node_table", "CREATE NODE TABLE T(id STRING, PRIMARY KEY(id))", [], "Invalid input 'TABLE'"),
    ("kuzu_rel_table", "CREATE REL TABLE R(FROM T TO T)", [], "Invalid input 'TABLE'"),
    ("two_statements", "MATCH (n) RETURN n; MATCH (m) RETURN m", [], "exactly one statement"),
    ("undefined_variable", "MATCH (n:Neuron) RETURN m", [], "Variable `m` not defined"),
]
DEPRECATED = ("deprecated", "UNWIND $rows AS row CALL { WITH row CREATE (:Neuron {id: row.id}) }", ["rows"])


@pytest.fixture(scope="module")
def errors() -> dict[str, list[dict]]:
    reason = linter_available()
    if reason:
        pytest.fail(f"Cypher linter unavailable: {reason}. Install it with `bash scripts/setup.sh` (needs Node.js).")
    return lint_cypher([*VALID, *[(n, c, p) for n, c, p, _ in INVALID], DEPRECATED])


@pytest.mark.parametrize("name", [q[0] for q in VALID])
def test_valid_query_has_no_errors(errors: dict[str, list[dict]], name: str) -> None:
    assert errors[name] == []


@pytest.mark.parametrize(("name", "message"), [(q[0], q[3]) for q in INVALID])
def test_invalid_query_is_an_error(errors: dict[str, list[dict]], name: str, message: str) -> None:
    assert any(message in d["message"] for d in errors[name]), errors[name]
    assert all(d["severity"] == "error" and d["line"] >= 1 and d["offset"] >= 0 for d in errors[name])


def test_deprecation_is_a_warning_not_an_error(errors: dict[str, list[dict]]) -> None:
    assert errors["deprecated"] == []
    warnings = lint_all([DEPRECATED])["deprecated"]
    assert [d["severity"] for d in warnings] == ["warning"] and "deprecated" in warnings[0]["message"]
