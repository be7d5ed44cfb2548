"""Graphs as rows: what each table gets, and the facts precomputed for whole-graph queries."""

from __future__ import annotations

from ingest import schema
from ingest.graph_facts import band_keys, graph_facts
from ingest.graph_rows import RowBuilder, graph_rows

from .graph_factory import dead_graph, make_graph, sample_graphs


def test_trie_becomes_nodes_and_edges() -> None:
    graph = make_graph(0, 0, [(" import", ["\n"]), (" from", ["\n", None, " import"])])
    rows = graph_rows([graph])
    nodes = rows.nodes["GraphNode"]
    assert len(nodes["id"]) == sum(1 for _ in graph.nodes()) == 6
    assert len(rows.rels["HAS_ROOT"]["from"]) == 2
    assert len(rows.rels["PRECEDED_BY"]["from"]) == 4  # every non-root node has one parent
    assert len(rows.rels["IS_TOKEN"]["from"]) == 5  # the gap is not a token
    assert sorted(rows.rels["ACTIVATES_ON"]["to"]) == [" from", " import"]
    # "\n" sits under both roots: one HAS_CONTEXT edge, nearest depth, counted twice
    context = {t: (d, c) for t, d, c in zip(*(rows.rels["HAS_CONTEXT"][k] for k in ("to", "depth", "count")))}
    assert context == {"\n": (1, 2), " import": (3, 1)}
    assert set(nodes["neuron_id"]) == {schema.neuron_id("test-model", 0, 0)}


def test_shared_nodes_are_listed_once_per_batch() -> None:
    rows = graph_rows(sample_graphs())
    tokens = rows.nodes["Token"]["text"]
    assert len(tokens) == len(set(tokens))
    assert set(rows.rels["KEYED_AS"]["from"]) == set(tokens)
    assert rows.nodes["TokenKey"]["key"].count("import") == 1  # " import" -> "import"
    bands = rows.nodes["Band"]["key"]
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
    assert rows.nodes["Neuron"]["status"] == ["dead"]
    assert rows.nodes["Neuron"]["signature"] == [None]
    assert rows.nodes["GraphNode"]["id"] == [] and rows.nodes["Band"]["key"] == []


def test_without_drops_existing_shared_nodes_and_their_key_edges() -> None:
    rows = graph_rows(sample_graphs())
    kept = rows.without({"Token": {" import"}, "TokenKey": set(), "Band": set(), "Model": set()})
    assert " import" not in kept.nodes["Token"]["text"]
    assert " import" not in kept.rels["KEYED_AS"]["from"]
    assert kept.rels["ACTIVATES_ON"] == rows.rels["ACTIVATES_ON"]  # edges to it stay


def test_take_starts_a_new_batch_without_repeating_shared_nodes() -> None:
    builder = RowBuilder()
    builder.add(make_graph(0, 0, [(" a", [" b"])]))
    first = builder.take()
    builder.add(make_graph(0, 1, [(" a", [" c"])]))
    second = builder.take()
    assert first.nodes["Token"]["text"] == [" a", " b"]
    assert second.nodes["Token"]["text"] == [" c"]
    assert second.neuron_ids == [schema.neuron_id("test-model", 0, 1)]
