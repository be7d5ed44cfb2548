"""The store benchmark runs end to end on a small synthetic model (`ingest.synthetic`), as a script: its JSON, the
store it leaves, and the planted duplicates (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ingest import synthetic
from ingest.store import open_store
from n2g.graphs.neuron_graph import GAP

ROOT = Path(__file__).resolve().parents[3]

FIELDS = ("engine", "ladybug_version", "neurons", "elements", "load_seconds", "load_elements_per_s", "db_bytes",
          "build_rows_seconds", "lookup_seconds", "write_seconds", "arrow_seconds", "copy_seconds",
          "checkpoint_seconds", "batch_neurons", "peak_rss_mb", "seed", "counts")


def run(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "benchmarks/store.py", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip().splitlines()
    assert len(out) == 1  # exactly one JSON object on stdout
    return json.loads(out[0])


def test_benchmark_reports_what_the_store_holds(tmp_path: Path) -> None:
    db = tmp_path / "bench.lbdb"
    result = run("--neurons", "300", "--batch-neurons", "128", "--db", str(db), "--keep")
    for field in FIELDS:
        assert field in result, field
    assert result["engine"] == "ladybug" and result["neurons"] == 300 and result["seed"] == 0
    assert result["db_bytes"] > 0 and result["load_seconds"] > 0

    model = synthetic.make_model(300, 12, 0)  # deterministic: the same graphs the run loaded
    with open_store(str(db), read_only=True) as store:
        counts = store.counts()
        signatures = {r["id"]: r["signature"] for r in store.rows(synthetic.SIGNATURES)}
        bands = {}
        for r in store.rows("MATCH (n:Neuron)-[:IN_BAND]->(b:Band) RETURN n.id AS id, b.key AS band"):
            bands.setdefault(r["id"], set()).add(r["band"])
    assert result["counts"] == counts
    assert result["elements"] == sum(counts.values()) == result["loader_elements"]
    assert counts["Neuron"] == 300 and counts["Model"] == 1

    assert model.duplicates, "the seed plants at least one duplicate in 300 neurons"
    for copy, original in model.duplicates:
        assert copy.split(":")[1] != original.split(":")[1]  # across layers
        assert signatures[copy] is not None and signatures[copy] == signatures[original]
        assert bands[copy] == bands[original] and len(bands[copy]) == 20
    assert result["duplicates_sharing_signature"] == result["planted_duplicates"] == len(model.duplicates)


def test_synthetic_graphs_look_real_and_are_deterministic() -> None:
    a, b = synthetic.make_model(240, 12, 7), synthetic.make_model(240, 12, 7)
    assert [g.to_json() for g in a.graphs] == [g.to_json() for g in b.graphs]
    assert a.examples == b.examples and a.duplicates == b.duplicates
    assert synthetic.make_model(240, 12, 8).graphs[0].to_json() != a.graphs[0].to_json()
    assert {g.layer for g in a.graphs} == set(range(12))
    live = [g for g in a.graphs if g.status == "fitted"]
    assert any(g.status == "dead" and not g.roots for g in a.graphs)
    assert all(1 <= len(g.roots) <= 4 for g in live)
    nodes = [(d, n) for g in live for d, n in g.nodes()]
    assert max(d for d, _ in nodes) <= 5
    assert any(n.kind == GAP and n.key is None for _, n in nodes)
    keys = {n.key for _, n in nodes if n.key is not None}
    assert {"\n", ".", ","} & keys and any(k.startswith(" ") for k in keys)
    scores = live[0].scores
    assert scores is not None and scores.n2g.test is not None  # scored as `n2g.fit.fitter` scores them
    assert set(scores.n2g.test.to_dict()) >= {"f1", "precision", "recall", "pearson"}
    assert scores.token_lookup.test is not None and scores.ngram5.test is not None


def test_temporary_store_is_removed(tmp_path: Path) -> None:
    db = tmp_path / "gone.lbdb"
    result = run("--neurons", "24", "--db", str(db))
    assert result["elements"] > 0
    assert not list(tmp_path.glob("gone.lbdb*"))
