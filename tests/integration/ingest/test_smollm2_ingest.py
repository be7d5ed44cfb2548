"""Integration: `n2g ingest` on a slice of the real SmolLM2-135M and the default offline corpus, into a real
LadybugDB file; the store answers token lookups and holds each graph exactly as fitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.store import open_store
from n2g.cli.main import main
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph

pytestmark = pytest.mark.integration


def test_ingest_a_slice_of_smollm2(tmp_path: Path, capsys) -> None:
    db, work = tmp_path / "n2g.lbdb", tmp_path / "work"
    assert main(["ingest", "--layers", "0", "--neurons", "0:5", "--max-tokens", "20000", "--db", str(db),
                 "--work-dir", str(work), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().startswith("coverage: 6 of 6 requested neurons stored:")
    graphs = GraphDirectory(work / "graphs")
    with open_store(str(db), read_only=True) as store:
        stored = {r["neuron"]: r for r in store.rows(
            "MATCH (n:Neuron) WHERE n.model = $model AND n.layer = $layer "
            "RETURN n.neuron AS neuron, n.graph_json AS g, n.activating_tokens AS tokens, n.status AS status",
            {"model": "smollm2-135m", "layer": 0})}
        assert sorted(stored) == list(range(6))
        for neuron, row in stored.items():
            graph = graphs.graph(0, neuron)
            assert NeuronGraph.from_json(row["g"]).to_json() == graph.to_json()
            assert row["tokens"] == list(dict.fromkeys(graph.activating_tokens()))
        fitted = next(r for r in stored.values() if r["status"] == "fitted" and r["tokens"])
        token = fitted["tokens"][0]
        hits = store.rows("MATCH (t:Token {text: $t})<-[:ACTIVATES_ON]-(n:Neuron) RETURN n.neuron AS neuron",
                          {"t": token})
        assert fitted["neuron"] in {h["neuron"] for h in hits}
