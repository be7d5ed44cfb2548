"""Polysemantic neurons (graphs in parts that share no token), duplicates confirmed by co-activation, and the evidence
every activating-token result carries, each on planted graphs with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.graph_facts import graph_parts, part_balance
from n2g.errors import N2GError
from queries.output import records
from queries.search import NeuronSearch, SearchFilter
from tests.factories import activation_sample, make_graph, planted_graphs, store_of, with_evidence


def parts_graphs() -> list:
    three = make_graph(2, 7, [(" a", [" b"]), (" a", [" b", " q"]), (" c", [" d"]), (" c", [None, " d"]),
                              (" e", [" f"]), (" e", [" g"])])  # three parts of two patterns each
    two = make_graph(1, 3, [(" a", [" b"]), (" a", [" c"]), (" a", [" d"]), (" x", [" y"])])  # 3 against 1
    joined = make_graph(0, 1, [(" a", [" b"]), (" c", [" b"]), (" e", [" c"])])  # shared context, a root as context
    bare = make_graph(3, 2, [(" p", []), (" q", [])])  # two bare tokens: two parts
    return [three, two, joined, bare]


def test_parts_are_the_connected_groups_of_roots() -> None:
    three, two, joined, bare = parts_graphs()
    assert [(p.activating, p.context, p.weight) for p in graph_parts(three)] == \
        [((" a",), (" b", " q"), 2), ((" c",), (" d",), 2), ((" e",), (" f", " g"), 2)]
    assert part_balance(graph_parts(three)) == pytest.approx(1.0)
    assert [p.activating for p in graph_parts(two)] == [(" a",), (" x",)]
    assert part_balance(graph_parts(two)) == pytest.approx(0.811, abs=1e-3)  # entropy of 3:1 over log 2
    assert [p.activating for p in graph_parts(joined)] == [(" a", " c", " e")]
    assert part_balance(graph_parts(joined)) is None
    assert len(graph_parts(bare)) == 2


def test_swept_roots_join_parts_and_token_forms_are_one_word() -> None:
    graph = make_graph(0, 0, [(" a", [" b"]), (" z", []), (" q", [" b"]), (" stream", []), ("Stream", [" x"])])
    for root in graph.roots:
        root.swept = root.key in (" z", " q")  # the pivot sweep's: " z" shares nothing, " q" shares " b"
    parts = graph_parts(graph)
    assert [p.activating for p in parts] == [(" a", " q"), (" stream", "Stream")]  # ` stream` and `Stream`: one
    assert [p.context for p in parts] == [(" b",), (" x",)]


@pytest.fixture(scope="module")
def parts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return store_of(tmp_path_factory.mktemp("parts"), parts_graphs())


def test_polysemantic_finds_the_planted_three_part_neuron(parts_db: Path) -> None:
    with NeuronSearch(str(parts_db)) as search:
        found = search.polysemantic()
        assert [(r["layer"], r["neuron"], r["n_parts"]) for r in found.to_dict("records")] == \
            [(2, 7, 3), (3, 2, 2), (1, 3, 2)]  # most parts first, then the most even
        first = found.iloc[0]
        assert list(map(list, first["parts"])) == [[" a"], [" c"], [" e"]]
        assert list(map(list, first["part_context"])) == [[" b", " q"], [" d"], [" f", " g"]]
        assert list(first["part_weights"]) == [2, 2, 2] and first["balance"] == pytest.approx(1.0)
        assert [r["neuron"] for r in search.polysemantic(min_parts=3).to_dict("records")] == [7]
        assert search.polysemantic(where=SearchFilter(layers=[1])).iloc[0]["neuron"] == 3
        with pytest.raises(N2GError, match="min-parts"):
            search.polysemantic(min_parts=1)


def duplicate_graphs() -> list:
    graphs = [
        make_graph(0, 0, [(" for", [":"]), (" while", [":"])]),
        make_graph(1, 0, [(" for", [":"]), (" while", [":"])]),  # the same graph, but it does not co-activate
        make_graph(0, 1, [(" if", [])]),
        make_graph(2, 1, [(" if", [])]),  # no context on either side, and co-activating
        make_graph(0, 2, [(" x", [" y"])]),
        make_graph(3, 2, [(" x", [" y"])]),  # no activation samples (fitted before they were recorded)
    ]
    graphs[0].activation_sample = activation_sample(1)
    graphs[1].activation_sample = activation_sample(2)
    graphs[2].activation_sample = activation_sample(3)
    graphs[3].activation_sample = activation_sample(4, like=graphs[2].activation_sample)
    return graphs


@pytest.fixture(scope="module")
def duplicates_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return store_of(tmp_path_factory.mktemp("duplicates"), duplicate_graphs())


def pairs(frame) -> dict[tuple[str, str], dict]:
    """Rows by (L:N, L:N), missing values (NaN in a float column) as None."""
    rows = [] if frame.empty else records(frame)
    return {(r["id"].split(":", 1)[1], r["other_id"].split(":", 1)[1]): r for r in rows}


@pytest.mark.parametrize("mode", ["similar", "subset"])
def test_duplicates_are_confirmed_by_co_activation(duplicates_db: Path, mode: str) -> None:
    with NeuronSearch(str(duplicates_db)) as search:
        found = pairs(search.duplicates(mode, 0.9))
        assert set(found) == {("0:1", "2:1"), ("0:2", "3:2")}  # the uncorrelated token twin is dropped
        assert found[("0:1", "2:1")]["correlation"] > 0.9
        assert found[("0:1", "2:1")]["context_overlap"] is None  # no context to compare: not a perfect overlap
        assert found[("0:2", "3:2")]["correlation"] is None and found[("0:2", "3:2")]["context_overlap"] == 1.0
        unconfirmed = pairs(search.duplicates(mode, 0.9, min_correlation=None))
        assert set(unconfirmed) == {("0:0", "1:0"), ("0:1", "2:1"), ("0:2", "3:2")}
        assert abs(unconfirmed[("0:0", "1:0")]["correlation"]) < 0.2
        assert len(search.duplicates(mode, 0.9, limit=1)) == 1


def test_similar_to_reports_the_correlation(duplicates_db: Path) -> None:
    with NeuronSearch(str(duplicates_db)) as search:
        found = search.similar_to("0:1")
        assert found.iloc[0]["neuron"] == 1 and found.iloc[0]["correlation"] > 0.9


def test_the_planted_duplicates_co_activate(planted_db: Path) -> None:
    with NeuronSearch(str(planted_db)) as search:
        exact = pairs(search.duplicates("similar", 0.9, where=SearchFilter(model="test-model")))
        assert exact[("0:2", "2:2")]["exact"] and exact[("0:2", "2:2")]["correlation"] > 0.9


def test_activating_results_show_their_evidence_and_rank_by_it(planted_db: Path) -> None:
    with NeuronSearch(str(planted_db)) as search:
        found = search.activating("import", where=SearchFilter(model="test-model"))
        assert list(found["id"]) == ["test-model:0:0", "test-model:3:0", "test-model:3:0-"]  # 45/50, 1/1, 2/4
        first, second, _ = records(found)
        assert (first["hits"], first["predictions"], first["token_evidence"]) == (45, 50, ["45/50"])
        assert first["evidence"] == pytest.approx(0.9)
        assert [list(p) for p in first["patterns"]] == [[" from", " import"]]  # the context it needs
        assert (second["token_evidence"], [list(p) for p in second["patterns"]]) == (["1/1"], [["Import"]])
        (other,) = records(search.activating("import", where=SearchFilter(model="other-model")))
        assert other["token_evidence"] == [None] and other["evidence"] is None  # fitted before evidence


def test_evidence_ranking_smooths_small_counts(tmp_path: Path) -> None:
    graphs = [with_evidence(make_graph(0, n, [(" t", [])], f1=0.5), **{" t": counts})
              for n, counts in enumerate([(1, 1, 0, 0), (45, 50, 0, 0), (0, 3, 0, 0), (2, 3, 0, 0)])]
    with NeuronSearch(str(store_of(tmp_path, graphs))) as search:
        assert list(search.activating(" t", exact=True)["neuron"]) == [1, 0, 3, 2]  # 46/52, 2/3, 3/5, 1/5


def test_planted_graphs_keep_their_samples() -> None:
    samples = {g.name: g.activation_sample for g in planted_graphs()}
    assert samples["2:9"] is None and all(v for k, v in samples.items() if k != "2:9")
