"""A model's page and JSON: its layers, their coverage (fitted / dead / failed), mean scores per layer beside the
baselines, and the quality report's plots (`n2g.report.plots`) drawn from the store's scores.

Both are computed with one aggregate query each over the model's neurons and kept for `CACHE_SECONDS` (a store can
still be loading while it is served)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from n2g.serve.backend import Backend

COVERAGE = """
MATCH (n:Neuron)
WHERE n.model = $model
RETURN n.layer AS layer, n.status AS status, count(n) AS neurons, count(n.f1) AS scored, avg(n.f1) AS f1,
       avg(n.token_lookup_f1) AS token_lookup_f1, avg(n.ngram_f1) AS ngram_f1, avg(n.ood_f1) AS ood_f1
ORDER BY layer, status
"""
SCORES = """
MATCH (n:Neuron)
WHERE n.model = $model AND n.status = 'fitted'
RETURN n.layer AS layer, n.status AS status, n.f1 AS n2g_test_f1, n.token_lookup_f1 AS token_lookup_test_f1,
       n.ngram_f1 AS ngram5_test_f1, n.ood_f1 AS n2g_random_f1, n.n_graph_nodes AS graph_nodes
"""
STATUSES = ("fitted", "dead", "failed")
MEANS = ("f1", "token_lookup_f1", "ngram_f1", "ood_f1")
PLOT_TITLES = {"f1_distribution": "Held-out F1 per layer, N2G beside the baselines",
               "f1_by_layer": "Mean F1 by layer, held-out and on random text",
               "size_vs_f1": "Graph size against held-out F1"}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def coverage(backend: Backend, model: str) -> list[dict[str, Any]]:
    """Per layer: neurons stored, fitted, dead, failed, and the mean scores of its fitted neurons (None where none
    is defined)."""
    def read() -> list[dict[str, Any]]:
        rows = backend.call(backend.search.store.rows, COVERAGE, {"model": model})
        layers: dict[int, dict[str, Any]] = {}
        for row in rows:
            entry = layers.setdefault(int(row["layer"]), {"layer": int(row["layer"]), "neurons": 0,
                                                          **{s: 0 for s in STATUSES}, "scored": 0,
                                                          **{f"mean_{m}": None for m in MEANS}})
            entry["neurons"] += int(row["neurons"])
            status = str(row["status"])
            entry[status] = entry.get(status, 0) + int(row["neurons"])
            if status == "fitted":
                entry["scored"] = int(row["scored"])
                for name in MEANS:
                    entry[f"mean_{name}"] = _number(row[name])
        return [layers[layer] for layer in sorted(layers)]

    return backend.cached(("coverage", model), read)


def model_summary(backend: Backend, model: str, settings: bool = False) -> dict[str, Any]:
    layers = coverage(backend, model)
    info = backend.model(model)
    totals = {key: sum(layer[key] for layer in layers) for key in ("neurons", *STATUSES, "scored")}
    out: dict[str, Any] = {"name": model, "spec": info.spec if info else model, "totals": totals, "layers": layers,
                           "plots": {name: f"/model/{model}/plot/{name}.png" for name in PLOT_TITLES}}
    if settings and info is not None:
        out["settings"] = info.settings
    return out


def plot_png(backend: Backend, model: str, name: str) -> bytes:
    """One of the report's plots (`PLOT_TITLES`) over the model's fitted neurons, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from n2g.report.plots import DPI, FIGURES

    def draw() -> bytes:
        frame = pd.DataFrame(backend.call(backend.search.store.rows, SCORES, {"model": model}))
        if frame.empty:
            frame = pd.DataFrame(columns=["layer", "status", "n2g_test_f1", "token_lookup_test_f1",
                                          "ngram5_test_f1", "n2g_random_f1", "graph_nodes"])
        fig = FIGURES[name](frame)
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
        return buffer.getvalue()

    return backend.cached(("plot", model, name), draw)
