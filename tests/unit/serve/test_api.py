"""The HTTP JSON API of `n2g serve`, in process on the planted store: the same searches, parameters and columns as
`n2g-search`, every endpoint, bad and hostile input as one-line 4xx JSON (never a traceback), strict JSON, and a
store that no request can change."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.store import open_store, snapshot
from n2g.cli.search import main as search_main
from n2g.serve.app import create_app
from n2g.serve.params import PARAMS, search_kinds
from queries.request import CLI_ONLY, SearchRequest


@pytest.fixture(scope="module")
def client(planted_db: Path) -> Iterator[TestClient]:
    app = create_app(str(planted_db), tokenizers=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def strict(text: str) -> Any:
    """JSON as a strict parser reads it: NaN / Infinity refused."""
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def one_line_error(response: Any, status: int, expected: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = strict(response.text)
    assert set(body) == {"error", "status"} and body["status"] == status
    message = body["error"]
    assert expected in message, message
    assert "\n" not in message and "Traceback" not in response.text and 'File "' not in response.text
    return message


def cli_rows(capsys: pytest.CaptureFixture, planted_db: Path, *argv: str) -> list[dict[str, Any]]:
    assert search_main(["--db", str(planted_db), *argv, "--format", "json"]) == 0
    return strict(capsys.readouterr().out)


# --- the parameters are SearchRequest's --------------------------------------------------------------------------


def test_parameters_are_search_request_fields_less_the_cli_only_ones(client: TestClient) -> None:
    names = {f.name for f in dataclasses.fields(SearchRequest)} - set(CLI_ONLY)
    assert set(PARAMS) == names
    spec = client.get("/openapi.json").json()
    documented = {p["name"]: p for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert set(documented) == names
    assert documented["activating_token"]["schema"]["type"] == "array"
    assert documented["min_f1"]["schema"] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert documented["mode"]["schema"]["enum"] == ["similar", "subset"]
    assert documented["limit"]["schema"]["default"] == 20
    assert "--activating-token" in documented["activating_token"]["description"]
    for path in ("/api/neuron/{layer}:{neuron}", "/api/models", "/api/model/{name}",
                 "/api/neuron/{layer}:{neuron}/graph.svg"):
        assert set(spec["paths"][path]) == {"get"}, path  # every route only reads
    assert {"repeated_token", "duplicates"} <= set(search_kinds())


@pytest.mark.parametrize("argv", [
    ("--activating-token", "import"),
    ("--activating-token", "import", "--model", "test-model"),
    ("--activating-token", " import", "--exact"),
    ("--activating-token", " for", "--context-token", ":"),
    ("--activating-token", " for", "--activating-token", " while"),
    ("--context-token", "\n"),
    ("--repeated-token",),
    ("--duplicates", "--mode", "subset", "--model", "test-model"),
    ("--duplicates", "--same-layer"),
    ("--similar-to", "1:4", "--model", "test-model"),
    ("--neuron", "3:0", "--model", "test-model"),
    ("--best", "1", "--model", "test-model", "--layer", "0:2"),
    ("--activating-token", "import", "--min-f1", "0.5", "--limit", "1"),
])
def test_search_gives_what_n2g_search_gives(client: TestClient, planted_db: Path, capsys, argv: tuple) -> None:
    query: list[tuple[str, str]] = []
    flags = list(argv)
    while flags:
        name = flags.pop(0)[2:].replace("-", "_")
        value = flags.pop(0) if PARAMS[name].kind != "bool" else "true"
        query.append((name, value))
    response = client.get("/api/search", params=query)
    assert response.status_code == 200, response.text
    rows = strict(response.text)
    expected = cli_rows(capsys, planted_db, *argv)
    assert rows == expected
    assert rows, argv  # every planted search finds something
    assert list(rows[0]) == list(expected[0])  # the same columns, in the same order


def test_a_search_that_finds_nothing_is_an_empty_list(client: TestClient) -> None:
    response = client.get("/api/search", params={"activating_token": "no-such-token-anywhere"})
    assert response.status_code == 200 and response.json() == []


# --- bad input: one line, 4xx ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ({}, "choose one search"),
    ({"activating_token": "import", "repeated_token": "true"}, "choose one search"),
    ({"activating-token": "import"}, "write activating_token"),
    ({"cypher": "MATCH (n) DETACH DELETE n"}, "unknown parameter 'cypher'"),
    ({"write": "true", "repeated_token": "true"}, "unknown parameter 'write'"),
    ({"activating_token": "import", "min_f1": "2"}, "min_f1: 2 is above the highest value"),
    ({"activating_token": "import", "min_f1": "nan"}, "not a finite number"),
    ({"activating_token": "import", "min_f1": "inf"}, "not a finite number"),
    ({"activating_token": "import", "limit": "0"}, "limit: 0 is below the lowest value"),
    ({"activating_token": "import", "limit": "ten"}, "limit: 'ten' is not an integer"),
    ({"activating_token": "import", "limit": "99999999999999999999999"}, "above the highest value"),
    ({"duplicates": "true", "mode": "bogus"}, "mode: 'bogus' is not one of similar, subset"),
    ({"duplicates": "true", "min_overlap": "0"}, "more than 0"),
    ({"duplicates": "true", "min_overlap": "0.5"}, "--mode subset"),
    ({"repeated_token": "maybe"}, "repeated_token: 'maybe' is not true or false"),
    ({"activating_token": ""}, "an empty token matches nothing"),
    ({"similar_to": "3.120"}, "bad neuron '3.120'"),
    ({"neuron": "9:9", "model": "test-model"}, "is not in"),
    ({"neuron": "0:0"}, "several models"),
    ({"activating_token": "import", "layer": "0:x"}, "layer"),
    ({"best": "0"}, "best: 0 is below the lowest value"),
])
def test_bad_search_is_one_line_400(client: TestClient, query: dict[str, str], expected: str) -> None:
    one_line_error(client.get("/api/search", params=query), 400, expected)


def test_a_parameter_given_twice_is_refused(client: TestClient) -> None:
    response = client.get("/api/search", params=[("repeated_token", "true"), ("limit", "1"), ("limit", "2")])
    one_line_error(response, 400, "limit: give it once")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_nothing_writes(client: TestClient, method: str) -> None:
    response = getattr(client, method)("/api/search?repeated_token=true")
    one_line_error(response, 405, "only reads")


def test_hostile_values_reach_cypher_only_as_parameters(client: TestClient, planted_db: Path) -> None:
    app_store = client.app.state.backend.search.store  # type: ignore[attr-defined]
    before = snapshot(app_store)
    hostile = ["x'}) MATCH (n) DETACH DELETE n //", '"]->() CREATE (:Neuron {id: "pwned"}) //',
               "\\' OR 1=1 --", "$limit", "`Neuron`", "\x00", "🙂" * 200, "a" * 5000]
    for text in hostile:
        for name in ("activating_token", "context_token"):
            response = client.get("/api/search", params={name: text})
            assert response.status_code == 200 and response.json() == [], (name, text)
        response = client.get("/api/search", params={"activating_token": "import", "model": text})
        assert response.status_code == 200 and response.json() == []
        response = client.get("/api/search", params={"similar_to": text})
        assert response.status_code == 400
    assert snapshot(app_store) == before
    with open_store(str(planted_db), read_only=True) as store:
        assert store.stored_neurons(["pwned"]) == set()


# --- the other endpoints -------------------------------------------------------------------------------------------


def test_neuron(client: TestClient) -> None:
    response = client.get("/api/neuron/1:4", params={"model": "test-model"})
    assert response.status_code == 200
    body = strict(response.text)
    assert (body["id"], body["layer"], body["neuron"], body["model"]) == ("test-model:1:4", 1, 4, "test-model")
    assert body["summary"]["status"] == "fitted" and "graph_json" not in body["summary"]
    assert body["graph"]["format"] == "n2g-graph" and len(body["graph"]["roots"]) == 10
    assert [row["predictor"] for row in body["scores"]] == ["n2g", "token_lookup", "ngram5"]
    assert body["scores"][0]["test_f1"] == 0.75 and body["scores"][0]["random_f1"] == 0.75
    assert [(s["layer"], s["neuron"]) for s in body["similar"]][:1] == [(3, 4)]  # its near duplicate first
    assert any("MATCH (n:Neuron {id: $id})" in c["cypher"] for c in body["cypher"])
    assert body["windows"]["source"] == "none"  # the planted store keeps no examples, and has no exemplars
    assert body["links"]["svg"].startswith("/api/neuron/1:4/graph.svg")
    single = strict(client.get("/api/neuron/2:2").text)  # only test-model has layer 2
    assert single["model"] == "test-model"


def test_exact_duplicates_are_marked(client: TestClient) -> None:
    body = client.get("/api/neuron/0:2", params={"model": "test-model"}).json()
    top = body["similar"][0]
    assert (top["layer"], top["neuron"], top["similarity"], top["duplicate"]) == (2, 2, 1.0, True)


def test_dead_neuron(client: TestClient) -> None:
    body = client.get("/api/neuron/2:9").json()
    assert body["summary"]["status"] == "dead" and body["similar"] == [] and body["graph"]["roots"] == []
    assert all(value is None for row in body["scores"] for key, value in row.items()
               if key not in ("predictor", "name"))  # never scored: null, not NaN


@pytest.mark.parametrize(("path", "status", "expected"), [
    ("/api/neuron/9:9", 404, "is in no model"),
    ("/api/neuron/9:9?model=test-model", 404, "is not in"),
    ("/api/neuron/0:0?model=nope", 404, "model 'nope' is not in"),
    ("/api/neuron/0:0", 400, "several models"),
    ("/api/neuron/x:1", 400, "layer"),
    ("/api/neuron/-1:1", 400, "layer"),
    ("/api/neuron/1", 404, "no such page"),
    ("/api/neuron/1:2:3", 400, "layer"),
    ("/api/model/nope", 404, "model 'nope' is not in"),
    ("/api/nothing", 404, "no such page"),
    ("/api/neuron/9:9/graph.svg", 404, "is in no model"),
])
def test_unknown_or_bad_is_4xx_json(client: TestClient, path: str, status: int, expected: str) -> None:
    one_line_error(client.get(path), status, expected)


def test_graph_pictures(client: TestClient) -> None:
    svg = client.get("/api/neuron/1:5/graph.svg", params={"model": "test-model"})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<?xml") and "␣for" in svg.text and "a pattern ends here" in svg.text
    png = client.get("/api/neuron/1:5/graph.png", params={"model": "test-model"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_models(client: TestClient) -> None:
    models = strict(client.get("/api/models").text)
    assert [m["name"] for m in models] == ["other-model", "test-model"]
    test = models[1]
    assert test["totals"] == {"neurons": 12, "fitted": 11, "dead": 1, "failed": 0, "scored": 11}  # 3:0- counts too
    assert [layer["layer"] for layer in test["layers"]] == [0, 1, 2, 3]
    layer3 = test["layers"][3]
    assert layer3["fitted"] == 4 and math.isclose(layer3["mean_f1"], (0.75 + 0.75 + 0.2 + 0.6) / 4)  # with 3:0-
    one = strict(client.get("/api/model/test-model").text)
    assert one["settings"]["model"] == "test-model" and one["layers"] == test["layers"]


def test_internal_errors_name_no_details(planted_db: Path) -> None:
    app = create_app(str(planted_db), tokenizers=False)
    backend = app.state.backend

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret detail at /very/private/path")

    backend.search.run = broken
    with TestClient(app, raise_server_exceptions=False) as test_client:
        for path in ("/api/search?repeated_token=true", "/?search=repeated_token"):
            response = test_client.get(path)
            assert response.status_code == 500
            assert "secret" not in response.text and "private" not in response.text
            assert "Traceback" not in response.text and "RuntimeError" in response.text
        assert strict(test_client.get("/api/search?repeated_token=true").text)["status"] == 500
