"""The searches of issue 21 on Neo4j: text search, polysemantic neurons, duplicates confirmed by co-activation and
activating-token evidence give the same answers as on LadybugDB over the same graphs (each template's Neo4j form
runs: `text_candidates.cypher`, `text_roots.cypher`, `polysemantic.cypher`, ...)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.store import open_store
from ingest.store_loader import GraphSource, load_graphs
from queries.search import NeuronSearch, SearchFilter
from tests.factories import (
    SETTINGS,
    TEXT,
    TEXT_HITS,
    TEXT_MODEL,
    activation_sample,
    make_graph,
    text_graphs,
    with_evidence,
    write_graph_directory,
)

pytestmark = pytest.mark.neo4j


def other_graphs() -> list:
    """test-model: a three-part neuron, a duplicate pair that co-activates and one that does not, evidence."""
    graphs = [
        make_graph(2, 7, [(" a", [" b"]), (" c", [" d"]), (" e", [" f"])]),
        make_graph(1, 3, [(" a", [" b"]), (" a", [" c"]), (" x", [" y"])]),
        with_evidence(make_graph(0, 1, [(" if", [])]), **{" if": (9, 10, 1, 2)}),
        make_graph(2, 1, [(" if", [])]),
        make_graph(0, 2, [(" for", [":"])]),
        make_graph(3, 2, [(" for", [":"])]),
    ]
    graphs[2].activation_sample = activation_sample(1)
    graphs[3].activation_sample = activation_sample(2, like=graphs[2].activation_sample)
    graphs[4].activation_sample = activation_sample(3)
    graphs[5].activation_sample = activation_sample(4)
    return graphs


def load(store: Any, root: Path) -> None:
    load_graphs(store, GraphSource(write_graph_directory(root / "text", text_graphs(),
                                                         {**SETTINGS, "model": TEXT_MODEL})), progress=False)
    load_graphs(store, GraphSource(write_graph_directory(root / "other", other_graphs())), progress=False)


@pytest.fixture()
def both(neo4j_store: Any, tmp_path: Path) -> Iterator[tuple[NeuronSearch, NeuronSearch]]:
    lady_db = tmp_path / "n2g.lbdb"
    with open_store(str(lady_db)) as lady_store:
        load(lady_store, tmp_path / "lady")
    load(neo4j_store, tmp_path / "neo")
    with NeuronSearch(str(lady_db)) as lady, NeuronSearch(neo4j_store.location) as neo:
        yield lady, neo


def rows(frame: Any) -> list[dict[str, Any]]:
    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if hasattr(value, "tolist"):
            value = value.tolist()
        return [plain(v) for v in value] if isinstance(value, list) else value

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_text_search_on_neo4j_finds_the_planted_positions(both: tuple[NeuronSearch, NeuronSearch]) -> None:
    lady, neo = both
    where = SearchFilter(model=TEXT_MODEL)
    found = rows(neo.text(tokens=TEXT, where=where, per_token=10))
    assert [(r["position"], f"{r['layer']}:{r['neuron']}", r["pattern"]) for r in found] == \
        [(p, n, pattern) for p, n, _, pattern in TEXT_HITS]
    for kwargs in ({"per_token": 10}, {"per_token": 1}, {"exhaustive": True},
                   {"per_token": 10, "where": SearchFilter(model=TEXT_MODEL, layers=[0, 2])}):
        kwargs.setdefault("where", where)
        assert rows(neo.text(tokens=TEXT, **kwargs)) == rows(lady.text(tokens=TEXT, **kwargs)), kwargs


def test_polysemantic_duplicates_and_evidence_agree(both: tuple[NeuronSearch, NeuronSearch]) -> None:
    lady, neo = both
    test = SearchFilter(model="test-model")
    for run in (lambda s: s.polysemantic(where=test), lambda s: s.polysemantic(min_parts=3),
                lambda s: s.duplicates("similar", 0.9, where=test),
                lambda s: s.duplicates("subset", 0.9, where=test, min_correlation=None),
                lambda s: s.similar_to("0:1", model="test-model"),
                lambda s: s.activating("if", where=test), lambda s: s.activating(" a", exact=True)):
        found, expected = rows(run(neo)), rows(run(lady))
        assert found == expected, [(i, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
                                   for i, (a, b) in enumerate(zip(found, expected)) if a != b] or (found, expected)
    poly = rows(neo.polysemantic(where=test))
    assert [(r["neuron"], r["n_parts"]) for r in poly] == [(7, 3), (3, 2)]
    pairs = {(r["id"], r["other_id"]) for r in rows(neo.duplicates("similar", 0.9, where=test))}
    assert pairs == {("test-model:0:1", "test-model:2:1")}
    (first, *_) = rows(neo.activating("if", where=test))
    assert (first["neuron"], first["hits"], first["predictions"], first["token_evidence"]) == (1, 10, 12, ["10/12"])
