"""Text search on known answers: planted neurons fire at exactly known positions of a text (`tests.factories.TEXT`),
and on a synthetic store every hit, and every per-token top, equals what the graphs' own matcher gives when run over
the text graph by graph (search and scoring never disagree)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.store import open_store
from ingest.store_loader import load_graphs
from ingest.synthetic import make_model
from n2g.errors import N2GError
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from queries.search import NeuronSearch, SearchFilter
from queries.text_search import MAX_TEXT_CHARS
from tests.factories import TEXT, TEXT_HITS, TEXT_MODEL, text_graphs, text_store


@pytest.fixture(scope="module")
def text_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return text_store(tmp_path_factory.mktemp("text"))


@pytest.fixture()
def search(text_db: Path):
    with NeuronSearch(str(text_db)) as opened:
        yield opened


def hits_of(frame) -> list[tuple[int, str, float, list]]:
    if frame.empty:
        return []
    return [(int(r["position"]), f"{r['layer']}:{r['neuron']}", round(float(r["predicted"]), 6), list(r["pattern"]))
            for r in frame.to_dict("records")]


def test_the_planted_firing_positions_exactly(search: NeuronSearch) -> None:
    found = search.text(tokens=TEXT, per_token=10)
    assert hits_of(found) == [(p, n, pytest.approx(v), pattern) for p, n, v, pattern in TEXT_HITS]
    row = found[(found["position"] == 3)].iloc[0]
    assert (row["token"], list(row["context"]), list(row["context_positions"])) == (" path", ["from", " import"],
                                                                                    [0, 2])
    assert set(found.columns) >= {"id", "predicted", "pattern", "context", "hits", "predictions", "evidence"}


def test_the_search_is_the_graphs_own_prediction(search: NeuronSearch) -> None:
    """Every planted graph run over the text by the scoring matcher fires exactly where the search says."""
    found = {(p, n) for p, n, _, _ in hits_of(search.text(tokens=TEXT, per_token=10))}
    expected = set()
    for graph in text_graphs():
        predicted = GraphMatcher(graph).predict(TEXT)
        expected |= {(int(t), graph.name) for t in np.flatnonzero(predicted >= graph.activation_threshold)}
    assert found == expected


def test_per_token_keeps_the_strongest_and_filters_apply(search: NeuronSearch) -> None:
    top = hits_of(search.text(tokens=TEXT, per_token=1))
    assert [(p, n) for p, n, _, _ in top] == [(2, "0:1"), (3, "2:3"), (4, "0:4"), (5, "1:5"), (7, "0:4"),
                                              (10, "2:6"), (12, "3:7")]
    layer_0 = hits_of(search.text(tokens=TEXT, where=SearchFilter(layers=[0]), per_token=10))
    assert [(p, n) for p, n, _, _ in layer_0] == [(2, "0:1"), (4, "0:4"), (7, "0:4")]
    assert search.text(tokens=TEXT, where=SearchFilter(min_f1=0.9)).empty
    assert hits_of(search.text(tokens=TEXT, model=TEXT_MODEL, per_token=10))[0][:2] == (2, "0:1")


def test_token_forms_follow_the_graphs(search: NeuronSearch) -> None:
    """An exact graph's ` Import` never fires on ` import` in text; the word search lists it, naming its form."""
    assert "1:9" not in {n for _, n, _, _ in hits_of(search.text(tokens=[" import"], per_token=10))}
    assert [(p, n) for p, n, _, _ in hits_of(search.text(tokens=[" Import"], per_token=10))] == [(0, "1:9")]
    word = search.activating("import")
    assert dict(zip(word["neuron"], word["matched"].map(list)))[9] == [" Import"]


def test_bad_text_is_refused_in_one_line(search: NeuronSearch) -> None:
    with pytest.raises(N2GError, match="empty"):
        search.text("")
    with pytest.raises(N2GError, match="at most"):
        search.text("x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(N2GError, match="per-token"):
        search.text(tokens=TEXT, per_token=0)
    with pytest.raises(N2GError, match="not both"):
        search.text("a", tokens=["a"])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    model = make_model(600, 4, seed=5, mean_nodes=16)
    db = tmp_path_factory.mktemp("synthetic") / "n2g.lbdb"
    with open_store(str(db)) as store:
        load_graphs(store, model.source(), progress=False)
    return model, db


def brute_force(model, keys: list[str]) -> dict[int, list[tuple[float, float, str]]]:
    """Per position, every graph's prediction there: (predicted, evidence support, id), ranked as the search ranks."""
    out: dict[int, list[tuple[float, float, str]]] = {}
    for graph in model.graphs:
        if not graph.roots:
            continue
        graph = NeuronGraph.from_json(graph.to_json())  # as stored: values rounded to 6 digits
        nid = f"{graph.model}:{graph.layer}:{graph.neuron}"
        for match in GraphMatcher(graph).explain(keys):
            if match.activation >= graph.activation_threshold:
                evidence = match.root.evidence
                support = (1.0 + evidence.hits) / (2.0 + evidence.predictions)  # add-one smoothed, as search ranks
                out.setdefault(match.position, []).append((round(match.activation, 6), support, nid))
    return {t: sorted(hits, key=lambda h: (-h[0], -h[1], h[2])) for t, hits in out.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_hit_and_every_top_equal_the_matcher_on_a_synthetic_store(synthetic, seed: int) -> None:
    model, db = synthetic
    keys = model.text(64, seed)
    expected = brute_force(model, keys)
    assert sum(len(h) for h in expected.values()) > 50
    roots_of = {}
    for graph in model.graphs:
        for root in graph.roots:
            if root.patterns():
                roots_of[root.key] = roots_of.get(root.key, 0) + 1
    with NeuronSearch(str(db)) as search:
        every = search.text(tokens=keys, exhaustive=True)  # every neuron matched: exactly the matcher's hits
        shown: dict[int, list[tuple[float, str]]] = {}
        for row in every.to_dict("records"):
            shown.setdefault(int(row["position"]), []).append((round(float(row["predicted"]), 6), row["id"]))
        assert shown == {t: [(p, nid) for p, _, nid in hits] for t, hits in expected.items()}
        for per_token in (1, 3):
            top: dict[int, list[tuple[float, str]]] = {}
            for row in search.text(tokens=keys, per_token=per_token).to_dict("records"):
                top.setdefault(int(row["position"]), []).append((round(float(row["predicted"]), 6), row["id"]))
            agree = total = 0
            for t, hits in expected.items():
                truth = [(p, nid) for p, _, nid in hits]
                got = top.get(t, [])
                assert len(got) == min(per_token, len(truth))  # as many rows as there are hits, up to per_token
                assert set(got) <= set(truth)  # every row a real prediction, with its value
                if roots_of[keys[t]] <= per_token + 2:  # a token with few neurons: all matched, the exact top
                    assert got == truth[:per_token]
                agree += len(set(got) & set(truth[:per_token]))
                total += len(truth[:per_token])
            assert agree >= 0.9 * total


def test_explain_shows_the_candidate_query(search: NeuronSearch) -> None:
    prepared = search.prepare_text(None, TEXT, None, SearchFilter(), 5)
    assert prepared.template.name == "text_candidates" and sorted(prepared.params["tokens"]) == sorted(set(TEXT))
    assert prepared.params["per_token"] == 7
    assert any("GraphMatcher" in step for step in prepared.steps)


def test_fitted_neurons_are_what_verify_reads(search: NeuronSearch) -> None:
    found = search.fitted_neurons()
    assert sorted((r["layer"], r["neuron"]) for r in found) == sorted(
        (g.layer, g.neuron) for g in text_graphs() if g.status == "fitted")
    assert {r["a_max"] for r in found} == {2.5}
    assert {r["layer"] for r in search.fitted_neurons(where=SearchFilter(layers=[1]))} == {1}
