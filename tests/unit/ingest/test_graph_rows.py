"""Graphs as rows: what each table gets, and the facts precomputed for whole-graph queries."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ingest import schema
from ingest.graph_facts import band_keys, graph_facts
from ingest.graph_rows import NewOnly, RowBuilder, graph_node_range, graph_rows, renumber_graph_nodes
from ingest.packed_text import MAGIC, pack, pack_column, unpack
from ingest.synthetic import make_model
from n2g.graphs.neuron_graph import NeuronGraph
from tests.factories import dead_graph, make_graph, sample_graphs


def test_trie_becomes_nodes_and_edges() -> None:
    graph = make_graph(0, 0, [(" import", ["\n"]), (" from", ["\n", None, " import"])])
    rows = graph_rows([graph])
    assert rows.column("GraphNode", "id") == list(range(6)) == list(range(sum(1 for _ in graph.nodes())))
    assert rows.column("HAS_ROOT", "to") == [0, 2]  # numbered in pre-order
    parents = [(r["from"], r["to"]) for r in rows.records("PRECEDED_BY")]
    assert parents == [(0, 1), (2, 3), (3, 4), (4, 5)]  # every non-root node has one parent
    assert len(rows.column("IS_TOKEN", "from")) == 5  # the gap is not a token
    assert sorted(rows.column("ACTIVATES_ON", "to")) == [" from", " import"]
    # "\n" sits under both roots: one HAS_CONTEXT edge, nearest depth, counted twice
    context = {r["to"]: (r["depth"], r["count"]) for r in rows.records("HAS_CONTEXT")}
    assert context == {"\n": (1, 2), " import": (3, 1)}
    assert set(rows.column("GraphNode", "neuron_id")) == {schema.neuron_id("test-model", 0, 0)}


def test_shared_nodes_are_listed_once_per_batch() -> None:
    rows = graph_rows(sample_graphs())
    tokens = rows.column("Token", "text")
    assert len(tokens) == len(set(tokens))
    assert set(rows.column("KEYED_AS", "from")) == set(tokens)
    assert rows.column("TokenKey", "key").count("import") == 1  # " import" -> "import"
    bands = rows.column("Band", "key")
    assert len(bands) == len(set(bands))


def test_repeated_tokens_and_share() -> None:
    facts = graph_facts(make_graph(0, 1, [(" x", [" =", " x"]), (" y", [" x"])]))
    assert facts.repeated == (" x",)
    assert facts.repeated_share == 0.5
    assert graph_facts(make_graph(0, 0, [(" a", [" b"])])).repeated == ()


def test_signature_depends_on_token_sets_only() -> None:
    a = make_graph(0, 0, [(" a", [" b", " c"])])
    b = make_graph(5, 9, [(" a", [" c", None, " b"])])  # other structure, same sets
    c = make_graph(0, 0, [(" a", [" b"])])
    assert graph_facts(a).signature == graph_facts(b).signature != graph_facts(c).signature
    assert graph_facts(a).bands == graph_facts(b).bands


def test_band_keys_find_similar_sets_not_different_ones() -> None:
    base = [f"a:t{i}" for i in range(40)]
    near = base[:-1] + ["a:other"]  # Jaccard 39/41
    far = [f"a:u{i}" for i in range(40)]
    assert set(band_keys(base)) & set(band_keys(near))
    assert not set(band_keys(base)) & set(band_keys(far))


def test_dead_neuron_is_a_neuron_row_without_graph() -> None:
    rows = graph_rows([dead_graph(1, 1)])
    assert rows.column("Neuron", "status") == ["dead"]
    assert rows.column("Neuron", "signature") == [None]
    assert rows.column("GraphNode", "id") == [] and rows.column("Band", "key") == []


def test_new_only_drops_existing_shared_nodes_and_their_key_edges() -> None:
    rows = graph_rows(sample_graphs())
    new_only = NewOnly(lambda name, keys: {" import"} if name == "Token" else set())
    kept = {name: new_only(name, table) for name, table in rows.tables.items()}  # Token before KEYED_AS
    assert " import" not in kept["Token"]["text"].to_pylist()
    assert " import" not in kept["KEYED_AS"]["from"].to_pylist()
    assert kept["ACTIVATES_ON"] == rows.table("ACTIVATES_ON")  # edges to it stay


def test_take_starts_a_new_batch_without_repeating_shared_nodes() -> None:
    builder = RowBuilder()
    builder.add(make_graph(0, 0, [(" a", [" b"])]))
    first = builder.take()
    builder.add(make_graph(0, 1, [(" a", [" c"])]))
    second = builder.take()
    assert first.column("Token", "text") == [" a", " b"]
    assert second.column("Token", "text") == [" c"]
    assert second.column("Neuron", "id") == [schema.neuron_id("test-model", 0, 1)]
    assert first.column("GraphNode", "id") == [0, 1] and second.column("GraphNode", "id") == [2, 3]


@pytest.mark.parametrize("graphs", [sample_graphs(), make_model(120, 4, 3).graphs], ids=["planted", "synthetic"])
def test_a_batch_computes_what_each_graph_gives_alone(graphs: list[NeuronGraph]) -> None:
    rows = graph_rows(graphs)
    neurons = {r["id"]: r for r in rows.records("Neuron")}
    bands: dict[str, set[int]] = {}
    for edge in rows.records("IN_BAND"):
        bands.setdefault(edge["from"], set()).add(edge["to"])
    for graph in graphs:
        facts, row = graph_facts(graph), neurons[schema.neuron_id(graph.model, graph.layer, graph.neuron)]
        assert row["activating_tokens"] == list(facts.activating)
        assert row["context_tokens"] == list(facts.context)  # first-seen order
        assert row["repeated_tokens"] == list(facts.repeated) and row["signature"] == facts.signature
        assert bands.get(row["id"], set()) == set(facts.bands)
        assert row["graph_json"] == graph.to_json() and row["n_graph_nodes"] == graph.node_count()


def test_graph_json_is_packed_in_rows_and_unpacked_for_text_engines() -> None:
    graph = make_graph(0, 0, [(" é", ["’"])])
    rows = graph_rows([graph])
    assert unpack(rows.column("Neuron", "graph_json")[0]) == graph.to_json()
    assert rows.records("Neuron")[0]["graph_json"] == graph.to_json()
    assert [unpack(v) for v in pack_column(["a", "", "ü"]).to_pylist()] == ["a", "", "ü"]
    assert pack_column(["a", None]).to_pylist()[1] is None and unpack(pack("x")) == "x"
    assert unpack(b"not packed") == b"not packed"


def test_graph_json_packed_by_earlier_versions_still_reads() -> None:
    """Stores written before the switch to zstd hold LZ4 frames under the magic `n2gz`."""
    text = '{"token": " é’"}' * 20
    raw = text.encode("utf-8")
    legacy = b"n2gz" + len(raw).to_bytes(4, "little") + pa.Codec("lz4").compress(raw, asbytes=True)
    assert unpack(legacy) == text and pack(text).startswith(MAGIC) and len(pack(text)) < len(legacy)


def test_graph_node_ids_can_move_to_another_range() -> None:
    builder = RowBuilder(first_node_id=40)
    builder.add(make_graph(0, 0, [(" a", [" b", None, " c"])]))
    rows = builder.take()
    assert graph_node_range(rows.tables.items()) == (40, 4)
    moved = {name: renumber_graph_nodes(name, table, 60) for name, table in rows.tables.items()}
    assert moved["GraphNode"]["id"].to_pylist() == [100, 101, 102, 103]
    assert [(r["from"], r["to"]) for r in moved["PRECEDED_BY"].to_pylist()] == [(100, 101), (101, 102), (102, 103)]
    assert moved["HAS_ROOT"]["to"].to_pylist() == [100] and moved["IS_TOKEN"]["from"].to_pylist() == [100, 101, 103]
    assert moved["ACTIVATES_ON"]["root"].to_pylist() == [100]  # the root's id, a property: moved too
    assert moved["ACTIVATES_ON"].drop_columns(["root"]) == rows.table("ACTIVATES_ON").drop_columns(["root"])
