"""What text search, evidence, polysemantic and duplicate searches need from the rows (schema version 4): each root's
patterns and bounds, its evidence, each neuron's parts and activation sample; and the synthetic store has them."""

from __future__ import annotations

import json
from pathlib import Path

import ladybug
import pytest

from ingest import schema
from ingest.graph_facts import graph_parts, root_facts
from ingest.graph_rows import graph_rows
from ingest.synthetic import make_model
from n2g.errors import N2GError
from n2g.graphs.activation_sample import correlation
from n2g.graphs.neuron_graph import RootEvidence
from queries.search import NeuronSearch
from tests.factories import activation_sample, dead_graph, make_graph, with_evidence


def test_roots_carry_their_patterns_bounds_and_evidence() -> None:
    graph = with_evidence(make_graph(0, 0, [(" from", ["\n", None, " import"]), (" from", []), (" import", ["\n"])]),
                          **{" from": (3, 4, 1, 9)})
    graph.activation_sample = activation_sample(0)
    rows = graph_rows([graph])
    nodes = {r["id"]: r for r in rows.records("GraphNode")}
    edges = {r["to"]: r for r in rows.records("ACTIVATES_ON")}
    for root in graph.roots:
        edge = edges[root.key]
        assert nodes[edge["root"]]["key"] == root.key and nodes[edge["root"]]["depth"] == 0
        assert json.loads(nodes[edge["root"]]["patterns"]) == [[end, steps] for end, steps in root.patterns()]
    assert [n["patterns"] is None for n in nodes.values()].count(False) == 2  # roots only
    assert (edges[" from"]["max_end"], edges[" from"]["bare_end"]) == (1.0, 0.9)
    assert (edges[" import"]["max_end"], edges[" import"]["bare_end"]) == (0.8, None)
    assert [edges[" from"][c] for c in ("test_hits", "test_predictions", "random_hits", "random_predictions")] == \
        [3, 4, 1, 9]
    assert edges[" import"]["test_hits"] is None  # no evidence recorded for this root
    (neuron,) = rows.records("Neuron")
    assert neuron["activation_sample"] == graph.activation_sample
    assert (neuron["n_parts"], neuron["part_balance"]) == (1, None)
    assert json.loads(neuron["parts"]) == [{"activating": [" from", " import"], "context": ["\n", " import"],
                                            "weight": 3}]


def test_root_facts_of_a_root_without_ends() -> None:
    graph = make_graph(0, 0, [(" a", [" b"])])
    graph.roots[0].children[0].end_activation = None
    facts = root_facts(graph.roots[0])
    assert (facts.patterns, facts.max_end, facts.bare_end, facts.keys) == ("[]", None, None, (" a", " b"))


def test_dead_neurons_have_no_parts() -> None:
    (neuron,) = graph_rows([dead_graph(0, 1)]).records("Neuron")
    assert (neuron["n_parts"], neuron["part_balance"], neuron["parts"], neuron["activation_sample"]) == \
        (0, None, "[]", None)


def test_synthetic_model_plants_what_the_searches_need() -> None:
    model = make_model(1500, 3, seed=4, mean_nodes=16)
    graphs = {f"{g.model}:{g.layer}:{g.neuron}": g for g in model.graphs}
    assert model.polysemantic and all(len(graph_parts(graphs[nid])) == parts for nid, parts in model.polysemantic)
    for copy, original in model.duplicates:
        assert correlation(graphs[copy].activation_sample, graphs[original].activation_sample) > 0.6
    live = [g for g in model.graphs if g.roots]
    assert all(g.activation_sample is not None and all(r.evidence is not None for r in g.roots) for g in live)
    assert all(isinstance(r.evidence, RootEvidence) and r.evidence.hits <= r.evidence.predictions
               for g in live for r in g.roots)
    assert len(model.text(64, 1)) == 64 and model.text(64, 1) == model.text(64, 1)


def test_a_store_of_the_previous_layout_is_refused_in_one_line(tmp_path: Path) -> None:
    """A version-3 store (ACTIVATES_ON without the text-search columns) is named, not misread."""
    path = tmp_path / "old.lbdb"
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    old = {"ACTIVATES_ON": (("max_activation", "DOUBLE"), ("count", "INT64"), ("rank", "INT64"))}
    for table in schema.NODE_TABLES:
        columns = [c for c in table.columns if not (table.name == "GraphNode" and c[0] == "patterns")
                   and not (table.name == "Neuron" and c[0] in ("n_parts", "part_balance", "parts",
                                                                "activation_sample"))]
        conn.execute(f"CREATE NODE TABLE {table.name}(" + ", ".join(f"{c} {k}" for c, k in columns)
                     + f", PRIMARY KEY({table.key}))")
    for rel in schema.REL_TABLES:
        columns = old.get(rel.name, rel.columns)
        conn.execute(f"CREATE REL TABLE {rel.name}(FROM {rel.source} TO {rel.target}"
                     + "".join(f", {c} {k}" for c, k in columns) + ")")
    conn.execute("CREATE (:Model {name: 'm', schema_version: 3, settings: '{}'})")
    conn.close()
    db.close()
    with pytest.raises(N2GError) as err:
        NeuronSearch(str(path))
    assert "\n" not in str(err.value) and "another version of n2g" in str(err.value)
    assert "Neuron" in str(err.value) and "GraphNode" in str(err.value)
