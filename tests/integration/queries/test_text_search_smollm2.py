"""Integration: text search and `--verify` on a real SmolLM2 slice (`n2g ingest`, layer 0, 16 neurons, a small corpus
budget): every hit is the stored graph's own prediction on the text as SmolLM2's tokenizer splits it, and the
search's precision on real text is reported beside the graphs' own held-out precision."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from n2g.cli.main import main as n2g_main
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from queries.output import records
from queries.search import NeuronSearch

pytestmark = pytest.mark.integration

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="module")
def slice_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smollm2-text")
    db = root / "n2g.lbdb"
    assert n2g_main(["ingest", "--layers", "0", "--neurons", "0:15", "--max-tokens", "20000", "--db", str(db),
                     "--work-dir", str(root / "work"), "--no-progress"]) == 0
    return db


def passages() -> list[str]:
    return [(STDLIB / name).read_text(encoding="utf-8")[start:start + 2500]
            for name, start in (("argparse.py", 20_000), ("textwrap.py", 5_000), ("json/decoder.py", 3_000))]


def test_hits_are_the_stored_graphs_predictions_on_real_text(slice_db: Path) -> None:
    with NeuronSearch(str(slice_db)) as search:
        graphs = [NeuronGraph.from_json(r["graph_json"]) for r in records(search.query(
            "MATCH (n:Neuron) WHERE n.status = 'fitted' RETURN n.graph_json AS graph_json"))]
        total = 0
        for text in passages():
            keys = search.text_tokens(text).keys
            expected = {(int(t), graph.name) for graph in graphs
                        for t in np.flatnonzero(GraphMatcher(graph).predict(keys) >= graph.activation_threshold)}
            found = {(int(r["position"]), f"{r['layer']}:{r['neuron']}")
                     for r in records(search.text(text, exhaustive=True))}
            assert found == expected
            total += len(found)
    assert total > 0


def test_verify_reports_the_search_precision_beside_the_held_out_precision(slice_db: Path, record_property) -> None:
    hits = predicted = fired = 0
    held_out: list[float] = []
    with NeuronSearch(str(slice_db)) as search:
        for text in passages():
            summary = search.verify_text(text, device="cpu").summary
            assert summary["neurons_read"] == 16 and summary["tokens"] > 300
            hits, predicted, fired = (hits + summary["true_predictions"], predicted + summary["predicted"],
                                      fired + summary["fired"])
            if summary["graphs_held_out_precision"] is not None:
                held_out.append(summary["graphs_held_out_precision"])
    assert predicted > 0 and fired > 0 and held_out
    precision, recall = hits / predicted, hits / fired
    record_property("search_precision", precision)
    record_property("search_recall", recall)
    record_property("graphs_held_out_precision", float(np.mean(held_out)))
    print(f"\nSmolLM2 layer 0, 16 neurons, 3 stdlib passages: search precision {precision:.3f} "
          f"({hits}/{predicted}), recall {recall:.3f} ({hits}/{fired}); the predicting graphs' own held-out "
          f"precision {np.mean(held_out):.3f}")
    assert 0.0 <= precision <= 1.0 and precision >= 0.5 * float(np.mean(held_out))  # real text, same graphs
