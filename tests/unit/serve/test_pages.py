"""The HTML pages of `n2g serve`, in process on the planted store: the search page and its box, the neuron and
model pages, errors as pages, and hostile text escaped. (The browser test, tests/integration/serve, uses them as a
person would.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from n2g.serve.app import create_app
from n2g.serve.pages import KIND_FIELDS, neuron_link
from n2g.serve.params import PARAMS


@pytest.fixture(scope="module")
def client(planted_db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(str(planted_db), tokenizers=False), raise_server_exceptions=False) as test_client:
        yield test_client


def page(client: TestClient, path: str, status: int = 200, **params: str) -> str:
    response = client.get(path, params=params, follow_redirects=False)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def linked_neurons(html: str) -> list[str]:
    return re.findall(r'<a class="neuron-link" href="/neuron/(\d+:\d+)\?model=([^"]+)"', html)


def test_landing_page_offers_every_search(client: TestClient) -> None:
    html = page(client, "/")
    assert '<textarea name="q"' in html and 'id="go"' in html
    for name in ("repeated_token", "duplicates", "polysemantic", "best", "similar_to"):
        assert f'<option value="{name}"' in html, name
    for name in PARAMS:  # every option of n2g-search that is not a search itself is a field of the form
        if name not in KIND_FIELDS and PARAMS[name].kind != "list":
            assert f'name="{name}"' in html, name
    assert "/model/test-model" in html and "/model/other-model" in html


def test_a_token_lists_its_neurons_as_links(client: TestClient) -> None:
    html = page(client, "/", q="import", model="test-model")
    assert linked_neurons(html) == [("0:0", "test-model"), ("3:0", "test-model")]
    assert "neurons that fire on &#39;import&#39;" in html
    assert 'class="results sortable"' in html and 'data-sort="0.75"' in html
    assert "n2g-search --db" in html and "--activating-token import" in html
    assert 'href="/api/search?activating_token=import&amp;model=test-model"' in html


def test_a_token_after_its_context(client: TestClient) -> None:
    html = page(client, "/", q=": for", **{"as": "context"})
    assert linked_neurons(html) == [("1:5", "test-model"), ("3:5", "test-model")]
    assert "need &#39;:&#39; in their context" in html


def test_exact_keeps_the_raw_token(client: TestClient) -> None:
    assert linked_neurons(page(client, "/", q=" import", exact="true", model="test-model",
                               **{"as": "token"})) == [("0:0", "test-model")]


def test_the_other_searches(client: TestClient) -> None:
    assert linked_neurons(page(client, "/", search="repeated_token")) == [("0:1", "test-model")]
    duplicates = page(client, "/", search="duplicates", mode="subset", model="test-model")
    assert ("0:2", "test-model") in linked_neurons(duplicates) and ("2:2", "test-model") in linked_neurons(duplicates)
    best = linked_neurons(page(client, "/", search="best", q="1", model="test-model"))
    assert len(best) == 4  # the best neuron of each of the four layers
    assert linked_neurons(page(client, "/", search="similar_to", q="1:4", model="test-model"))[0] == \
        ("3:4", "test-model")
    assert linked_neurons(page(client, "/", repeated_token="true")) == [("0:1", "test-model")]  # a bare API flag


def test_a_neuron_reference_opens_its_page(client: TestClient) -> None:
    response = client.get("/", params={"q": "1:4", "model": "test-model"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/neuron/1:4?model=test-model"


def test_nothing_found(client: TestClient) -> None:
    assert 'id="no-results"' in page(client, "/", q="zzz-nothing")


@pytest.mark.parametrize(("params", "status", "expected"), [
    ({"q": "import", "min_f1": "3"}, 400, "min_f1: 3 is above the highest value"),
    ({"q": "import", "as": "poem"}, 400, "as: &#39;poem&#39; is not one of"),
    ({"search": "drop_everything"}, 400, "not a search of this page"),
    ({"q": "import", "bogus": "1"}, 400, "unknown parameter &#39;bogus&#39;"),
    ({"search": "similar_to", "q": "nonsense"}, 400, "bad neuron"),
])
def test_bad_input_is_an_error_page(client: TestClient, params: dict[str, str], status: int, expected: str) -> None:
    html = page(client, "/", status, **params)
    assert 'id="error"' in html and expected in html and "Traceback" not in html


def test_neuron_page(client: TestClient) -> None:
    html = page(client, "/neuron/1:4", model="test-model")
    assert "<svg" in html and 'id="g1-4-n0_0"' in html  # the drawn graph inline, its ids prefixed
    assert "fires here; number: max activation / a_max" in html  # its legend
    scores = html[html.index('id="scores"'):html.index("</table>", html.index('id="scores"'))]
    assert "N2G graph" in scores and "token lookup (baseline)" in scores and "5-gram lookup (baseline)" in scores
    assert "held-out windows" in scores and "random text" in scores and scores.count(">0.750<") == 6
    assert 'href="/neuron/3:4?model=test-model"' in html  # its near duplicate, as a link
    assert "MATCH (n:Neuron {id: $id})" in html and "&#34;test-model:1:4&#34;" in html  # the Cypher that finds it
    assert 'id="windows-note"' in html and "No windows" in html  # the planted store has no examples: said so


def test_dead_neuron_page(client: TestClient) -> None:
    html = page(client, "/neuron/2:9")
    assert "dead: never fired in the corpus" in html and "<svg" not in html and "A dead neuron" in html


@pytest.mark.parametrize(("path", "status", "expected"), [
    ("/neuron/9:9", 404, "is in no model"),
    ("/neuron/0:0", 400, "several models"),
    ("/neuron/a:b", 400, "layer"),
    ("/model/nope", 404, "model &#39;nope&#39; is not in"),
    ("/model/test-model/plot/nope.png", 404, "no plot"),
    ("/no/such/page", 404, "no such page"),
])
def test_errors_are_pages(client: TestClient, path: str, status: int, expected: str) -> None:
    html = page(client, path, status)
    assert expected in html and "Traceback" not in html


def test_model_page_and_plots(client: TestClient) -> None:
    html = page(client, "/model/test-model")
    assert "<b>11</b> fitted, 1 dead" in html  # 3:0- among them
    rows = re.findall(r"<tr><td class=\"num\" data-sort=\"(\d+)\">", html)
    assert rows == ["0", "1", "2", "3"]
    for plot in ("f1_distribution", "f1_by_layer", "size_vs_f1"):
        assert f'/model/test-model/plot/{plot}.png' in html
        response = client.get(f"/model/test-model/plot/{plot}.png")
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_hostile_text_is_escaped(client: TestClient) -> None:
    hostile = '<script>alert(1)</script>"\'&'
    html = page(client, "/", q=hostile, **{"as": "token"})
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own
    error = page(client, "/", 400, q="x", layer=hostile)
    assert "<script>alert" not in error
    neuron = page(client, "/neuron/2:0", model="test-model")  # tokens ' " \ MATCH } in its graph and tables
    assert "<script" not in neuron.replace('<script src="/static/n2g.js"></script>', "")


def test_links_and_static_files(client: TestClient) -> None:
    assert neuron_link("test-model:3:120") == "/neuron/3:120?model=test-model"
    assert neuron_link("/abs/path/model:1:2") == "/neuron/1:2?model=%2Fabs%2Fpath%2Fmodel"
    assert neuron_link("nonsense") is None
    for name in ("n2g.css", "n2g.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 500
    assert client.get("/static/../app.py").status_code == 404


def test_a_textarea_s_line_ends_are_the_text_s(client: TestClient) -> None:
    html = page(client, "/", q="x\r\n", exact="true", **{"as": "token"})  # what a form sends for "x" and Enter
    assert "activating_token=x%0A&amp;" in html and "%0D" not in html
