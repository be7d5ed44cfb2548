"""Text search through the store's own tokenizer, and `--verify` through its own model (the tiny seeded Llama of
tests/conftest.py): hits where the planted graphs' matcher fires, real activations equal to the model's, and the
search's precision and recall on the text equal to counting them by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from n2g.errors import N2GError
from n2g.graphs.prediction import GraphMatcher
from n2g.model.probe import LayerProbe
from queries.output import records
from queries.search import NeuronSearch, SearchFilter
from queries.text_search import summary_line
from tests.factories import SETTINGS, make_graph, store_of, tiny_text_store
from tests.factories import TINY_TEXT as TEXT


@pytest.fixture(scope="module")
def tiny_store(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return tiny_text_store(tmp_path_factory.mktemp("tiny-store"), tiny_model_dir)


def test_the_store_tokenizer_keys_the_text_as_the_graphs_do(tiny_store) -> None:
    db, graphs, texts, _ = tiny_store
    expected = set()
    for graph in graphs:
        expected |= {(int(t), graph.name) for t in np.flatnonzero(GraphMatcher(graph).predict(texts) >= 0.5)}
    assert len(expected) >= 4
    with NeuronSearch(str(db)) as search:
        tokens = search.text_tokens(TEXT)
        assert tokens.texts == texts and tokens.keys == texts
        found = search.text(TEXT, per_token=10)
    assert {(int(r["position"]), f"{r['layer']}:{r['neuron']}") for r in records(found)} == expected
    assert all(row["token"] == texts[row["position"]] for row in records(found))


def test_verify_puts_the_models_real_activations_beside_the_predictions(tiny_store, tiny_model) -> None:
    db, graphs, _, ids = tiny_store
    with NeuronSearch(str(db)) as search:
        checked = search.verify_text(TEXT, per_token=10, device="cpu")
    probe = LayerProbe(tiny_model, 2, 4096)
    values = probe.layers_neurons(torch.tensor([ids]), torch.tensor([len(ids)]), {0: [3], 1: [5], 2: [7, 8]})
    real = {"0:3": values[0][0, :, 0], "1:5": values[1][0, :, 0], "2:7": values[2][0, :, 0],
            "2:8": values[2][0, :, 1]}
    real = {name: v.numpy() / 0.05 for name, v in real.items()}
    rows = records(checked.frame)
    for row in rows:
        name = f"{row['layer']}:{row['neuron']}"
        assert row["actual"] == pytest.approx(float(real[name][row["position"]]), abs=1e-4)
        assert row["fired"] == (row["actual"] >= 0.5)
        assert (row["kind"] == "missed") == (row["predicted"] == 0.0)
    texts = tiny_store[2]
    predicted = {(int(t), g.name) for g in graphs for t in np.flatnonzero(GraphMatcher(g).predict(texts) >= 0.5)}
    fired = {(int(t), name) for name, v in real.items() for t in np.flatnonzero(v >= 0.5)}
    summary = checked.summary
    assert (summary["predicted"], summary["fired"], summary["true_predictions"]) == \
        (len(predicted), len(fired), len(predicted & fired))
    assert summary["precision"] == (len(predicted & fired) / len(predicted) if predicted else None)
    assert summary["recall"] == (len(predicted & fired) / len(fired) if fired else None)
    assert summary["neurons_read"] == 4 and summary["graphs_held_out_precision"] == pytest.approx(0.8)
    missed = {(r["position"], f"{r['layer']}:{r['neuron']}") for r in rows if r["kind"] == "missed"}
    assert missed == fired - predicted  # few neurons: every missed firing is listed
    assert summary_line(summary).startswith("verify: on ")


def test_verify_respects_the_filters(tiny_store) -> None:
    db, *_ = tiny_store
    with NeuronSearch(str(db)) as search:
        checked = search.verify_text(TEXT, where=SearchFilter(layers=[2]), device="cpu")
    assert checked.summary["neurons_read"] == 2
    assert {r["layer"] for r in records(checked.frame)} <= {2}


def test_verify_on_a_model_that_cannot_be_loaded_says_so_in_one_line(tiny_store, tmp_path: Path) -> None:
    db, graphs, _, _ = tiny_store
    broken = tmp_path / "broken-model"
    shutil.copytree(Path(graphs[0].model), broken)
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    moved = store_of(tmp_path, [make_graph(0, 3, [(g.roots[0].key, [])], model=str(broken)) for g in graphs[:1]],
                     {**SETTINGS, "model": str(broken)})
    with NeuronSearch(str(moved)) as search:
        assert len(search.text(TEXT)) >= 1  # the tokenizer is there: searching works without the weights
        with pytest.raises(N2GError, match="cannot load the store's model") as err:
            search.verify_text(TEXT, device="cpu")
    assert "\n" not in str(err.value)
