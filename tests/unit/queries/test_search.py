"""Every search returns exactly the planted answer (tests/queries/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2g.errors import N2GError
from queries.search import NeuronSearch, SearchFilter, writes

TEST = SearchFilter(model="test-model")


def names(frame, model: bool = False) -> set[str]:
    if frame.empty:
        return set()
    return {":".join(nid.rsplit(":", 2)[1:]) for nid in frame["id"]}  # L:N, L:N- for a negative graph


def pairs(frame) -> set[tuple[str, str]]:
    if frame.empty:
        return set()
    return {(f"{a}:{b}", f"{c}:{d}") for a, b, c, d in
            zip(frame["layer"], frame["neuron"], frame["other_layer"], frame["other_neuron"])}


@pytest.fixture()
def search(planted_db: Path):
    with NeuronSearch(str(planted_db)) as opened:
        yield opened


def test_activating_token_uses_graph_normalisation(search: NeuronSearch) -> None:
    assert names(search.activating("import", where=TEST)) == {"0:0", "3:0", "3:0-"}
    assert names(search.activating(" Import", where=TEST)) == {"0:0", "3:0", "3:0-"}
    assert names(search.activating(" import", exact=True, where=TEST)) == {"0:0", "3:0-"}
    assert names(search.activating("import", exact=True, where=TEST)) == set()
    found = search.activating("import", where=TEST)
    assert set(found.columns) >= {"layer", "neuron", "f1", "activating_tokens", "example", "matched"}


def test_filters_combine(search: NeuronSearch) -> None:
    assert len(search.activating("import")) == 4  # both models, both signs
    assert names(search.activating("import", where=SearchFilter(model="test-model", layers=[3]))) == {"3:0", "3:0-"}
    assert names(search.activating("import", where=SearchFilter(model="test-model", min_f1=0.5))) == {"0:0", "3:0-"}
    assert set(search.activating("import", where=SearchFilter(model="other-model"))["model"]) == {"other-model"}


def test_context_and_both_together(search: NeuronSearch) -> None:
    assert names(search.context("from", where=TEST)) == {"0:0", "3:0-"}
    assert names(search.activating("import", context=["from"], where=TEST)) == {"0:0", "3:0-"}
    assert names(search.activating("import", context=[":"], where=TEST)) == set()
    assert names(search.activating(" import", context=[" from"], exact=True, where=TEST)) == {"0:0", "3:0-"}
    assert names(search.activating(" import", context=["from"], exact=True, where=TEST)) == set()
    assert names(search.activating("for", "while", context=[":"], where=TEST)) == {"1:5", "3:5"}  # the general form
    assert names(search.activating("for", "while", where=TEST)) == {"1:5", "3:5"}  # every token must match
    assert names(search.activating("for", "if", where=TEST)) == {"3:5"}
    assert names(search.context(":", "in", where=TEST)) == {"3:5"}


def test_repeated_token_neurons(search: NeuronSearch) -> None:
    found = search.repeated_tokens(where=TEST)
    assert names(found) == {"0:1"}
    assert list(found["repeated_tokens"].iloc[0]) == [" x"]
    assert found["repeated_share"].iloc[0] == pytest.approx(0.5)


def test_duplicates_similar_finds_the_exact_and_the_near_pair(search: NeuronSearch) -> None:
    found = search.duplicates("similar", 0.9, where=TEST)
    assert pairs(found) == {("0:2", "2:2"), ("1:4", "3:4")}
    exact = dict(zip(found["id"], found["exact"]))
    assert exact == {"test-model:0:2": True, "test-model:1:4": False}
    assert pairs(search.duplicates("similar", 0.95, where=TEST)) == {("0:2", "2:2")}


def test_duplicates_subset_adds_the_contained_pair(search: NeuronSearch) -> None:
    assert pairs(search.duplicates("subset", 0.9, where=TEST)) == {("0:2", "2:2"), ("1:4", "3:4"), ("1:5", "3:5")}
    assert pairs(search.duplicates("subset", 0.9, where=SearchFilter(model="test-model", layers=[1, 3]))) == \
        {("1:4", "3:4"), ("1:5", "3:5")}


def test_similar_to_ranks_the_duplicate_first(search: NeuronSearch) -> None:
    found = search.similar_to("0:2", model="test-model")
    assert names(found.head(1)) == {"2:2"}
    assert found["similarity"].iloc[0] == pytest.approx(1.0)


def test_neuron_summary_and_graph(search: NeuronSearch) -> None:
    from tests.factories import planted_graphs

    planted = {g.name: g for g in planted_graphs()}
    assert search.graph("0:1", model="test-model").to_json() == planted["0:1"].to_json()
    summary = search.neuron("3:5", model="test-model")
    assert summary["n_activating"].iloc[0] == 5 and summary["status"].iloc[0] == "fitted"
    nodes = search.graph_nodes("0:2", model="test-model")
    assert len(nodes) == sum(1 for _ in planted["0:2"].nodes())
    assert nodes["parent"].isna().sum() == len(planted["0:2"].roots)


def test_best_per_layer(search: NeuronSearch) -> None:
    best = search.best(1, where=TEST)
    assert sorted(best["layer"]) == [0, 1, 2, 3]
    assert (best["status"] == "fitted").all()


def test_one_model_needed_for_a_neuron_when_several_are_stored(search: NeuronSearch) -> None:
    with pytest.raises(N2GError, match="several models"):
        search.neuron("0:0")
    with pytest.raises(N2GError, match="not in"):
        search.neuron("9:9", model="test-model")


def test_raw_query_with_parameters_and_write_refusal(search: NeuronSearch) -> None:
    frame = search.query("MATCH (n:Neuron) WHERE n.layer = $layer AND n.model = $m RETURN count(n) AS n",
                         layer=3, m="test-model")
    assert int(frame["n"].iloc[0]) == 4  # 3:0, 3:0-, 3:4, 3:5
    with pytest.raises(N2GError, match="writes"):
        search.query("MATCH (n:Neuron) SET n.f1 = 1.0")
    with pytest.raises(N2GError, match=r"\$layer"):
        search.query("MATCH (n:Neuron) WHERE n.layer = $layer RETURN n.id")


NEGATIVE = SearchFilter(model="test-model", sign=-1)
POSITIVE = SearchFilter(model="test-model", sign=1)


def test_sign_filters_every_neuron_search(search: NeuronSearch) -> None:
    """3:0- is the negative graph of 3:0: found by --sign negative (and any), never by --sign positive."""
    assert names(search.activating("import", where=NEGATIVE)) == {"3:0-"}
    assert names(search.activating("import", where=POSITIVE)) == {"0:0", "3:0"}
    assert names(search.activating("for", "import", where=NEGATIVE)) == set()
    assert names(search.context("from", where=NEGATIVE)) == {"3:0-"}
    assert names(search.context("from", where=POSITIVE)) == {"0:0"}
    assert names(search.activating("import", context=["from"], where=NEGATIVE)) == {"3:0-"}
    assert names(search.activating(" import", context=[" from"], exact=True, where=POSITIVE)) == {"0:0"}
    assert names(search.best(5, where=NEGATIVE)) == {"3:0-"}
    assert set(search.best(5, where=POSITIVE)["sign"]) == {1}
    assert names(search.repeated_tokens(where=NEGATIVE)) == set()
    assert names(search.polysemantic(where=NEGATIVE)) == set()
    assert pairs(search.duplicates("subset", 0.9, where=NEGATIVE)) == set()
    assert names(search.similar_to("0:0", model="test-model", where=NEGATIVE)) == {"3:0-"}
    assert names(search.similar_to("3:0-", model="test-model", where=POSITIVE)) == {"0:0"}
    negative = search.neuron("3:0-", model="test-model")
    assert negative["id"].iloc[0] == "test-model:3:0-" and int(negative["sign"].iloc[0]) == -1
    assert search.graph("3:0-", model="test-model").sign == -1
    assert search.graph("3:0", model="test-model").sign == 1
    text = search.text(tokens=[" from", " import", " os"], model="test-model", where=NEGATIVE)
    assert set(text["id"]) == {"test-model:3:0-"}
    text = search.text(tokens=[" from", " import", " os"], model="test-model", where=POSITIVE)
    assert set(text["id"]) == {"test-model:0:0"} and set(text["layer"]) == {0}
    assert [r["id"] for r in search.fitted_neurons(model="test-model", where=NEGATIVE)] == ["test-model:3:0-"]
    assert int(search.layers(where=NEGATIVE)["neurons"].sum()) == 1


@pytest.mark.parametrize(("cypher", "expected"), [
    ("MATCH (n) RETURN n", False), ("MATCH (n) DETACH DELETE n", True), ("CREATE (:X)", True),
    ("MATCH (n) WHERE n.text = 'CREATE' RETURN n", False), ("// SET\nMATCH (n) RETURN n.offset", False),
    ("MATCH (n) RETURN n.created_at", False), ("merge (n:X {id: 1})", True),
])
def test_write_detection(cypher: str, expected: bool) -> None:
    assert writes(cypher) is expected


FILTERS = [SearchFilter(model="test-model", layers=[0, 3]), SearchFilter(min_f1=0.5), SearchFilter(layers=[1, 2, 3])]


def passes(where: SearchFilter, neuron_id: str, layer: int, f1: float | None) -> bool:
    return ((where.model is None or neuron_id.startswith(where.model + ":"))
            and (where.layers is None or layer in where.layers)
            and (where.min_f1 is None or (f1 if f1 == f1 and f1 is not None else -1.0) >= where.min_f1))


@pytest.mark.parametrize("where", FILTERS)
def test_filtered_searches_equal_unfiltered_ones_filtered_afterwards(search: NeuronSearch, where: SearchFilter) -> None:
    """Guards against the engine dropping rows when filters join a pattern (seen with LadybugDB 0.22)."""
    def rows(frame) -> list[dict]:
        return [] if frame.empty else frame.to_dict("records")

    for run in (lambda w: search.activating("import", where=w), lambda w: search.context(":", where=w),
                lambda w: search.repeated_tokens(where=w)):
        expected = {r["id"] for r in rows(run(SearchFilter())) if passes(where, r["id"], r["layer"], r["f1"])}
        assert {r["id"] for r in rows(run(where))} == expected
    for mode in ("similar", "subset"):
        expected = {(r["id"], r["other_id"]) for r in rows(search.duplicates(mode, 0.9))
                    if passes(where, r["id"], r["layer"], r["f1"])
                    and passes(where, r["other_id"], r["other_layer"], r["other_f1"])}
        assert {(r["id"], r["other_id"]) for r in rows(search.duplicates(mode, 0.9, where=where))} == expected


def test_subset_threshold_is_exact_at_float_edges(tmp_path: Path) -> None:
    """0.56 x 25 is 14.000000000000002 in floating point: the pair sharing 14 of 25 tokens must still be found."""
    from ingest.store import open_store
    from ingest.store_loader import GraphSource, load_graphs
    from tests.factories import make_graph, write_graph_directory

    small = make_graph(0, 0, [(f" s{i}", []) for i in range(25)])
    large = make_graph(1, 0, [(f" s{i}", []) for i in range(14)] + [(f" u{i}", []) for i in range(20)])
    db = tmp_path / "edge.lbdb"
    with open_store(str(db)) as store:
        load_graphs(store, GraphSource(write_graph_directory(tmp_path / "g", [small, large])), progress=False)
    with NeuronSearch(str(db)) as edge:
        assert pairs(edge.duplicates("subset", 0.56)) == {("0:0", "1:0")}
        assert pairs(edge.duplicates("subset", 0.57)) == set()


def test_a_store_of_another_schema_version_is_refused(planted_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old.lbdb"
    copy.write_bytes(planted_db.read_bytes())
    with NeuronSearch(str(copy), write=True) as old:
        old.query("MATCH (m:Model) SET m.schema_version = 1", write=True)
    with pytest.raises(N2GError, match="another version of n2g"):
        NeuronSearch(str(copy))
