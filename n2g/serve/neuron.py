"""Everything a neuron page shows, gathered once for the page (`pages`) and its JSON (`/api/neuron/L:N`): the
stored summary, the graph exactly as fitted, its scores beside the two baselines on held-out and random text, its
most similar neurons (exact duplicates marked), the Cypher that finds it, and its windows (`windows`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from n2g.errors import N2GError
from n2g.graphs.display import patterns
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import PREDICTORS, TEXT_SETS
from n2g.serve.backend import Backend
from n2g.serve.windows import Windows, from_example, from_exemplars
from queries.output import records
from queries.request import explained
from queries.search import SearchFilter, graph_of

SIMILAR_SHOWN = 10
PREDICTOR_NAMES = {"n2g": "N2G graph", "token_lookup": "token lookup (baseline)", "ngram5": "5-gram lookup (baseline)"}
TEXT_SET_NAMES = {"test": "held-out windows", "random": "random text"}


class NotFound(N2GError):
    """What was asked for is not in the store (HTTP 404)."""


def finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities (anywhere inside) become None, decimals and numpy numbers Python floats and
    ints, anything else that JSON cannot hold its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, Decimal):
        return finite(float(value))
    if hasattr(value, "item"):  # numpy scalars
        return finite(value.item())
    if hasattr(value, "tolist"):
        return finite(value.tolist())
    return str(value)


@dataclass
class NeuronView:
    model: str
    layer: int
    neuron: int
    summary: dict[str, Any]  # the `neuron` search's row, graph_json left out
    graph: NeuronGraph
    similar: list[dict[str, Any]]
    cypher: list[tuple[str, str]]  # (what it does, the Cypher and its parameters)
    windows: Windows
    similar_error: str | None = None
    scores: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.layer}:{self.neuron}"

    def to_dict(self) -> dict[str, Any]:
        return finite({"id": self.summary.get("id"), "model": self.model, "layer": self.layer, "neuron": self.neuron,
                       "summary": self.summary, "scores": self.scores,
                       "patterns": [{"pattern": p, "activation": a} for p, a in patterns(self.graph)],
                       "graph": self.graph.to_dict(), "similar": self.similar, "cypher": [
                           {"what": what, "cypher": text} for what, text in self.cypher],
                       "windows": self.windows.to_dict(),
                       "links": {"page": f"/neuron/{self.name}?model={self.model}",
                                 "svg": f"/api/neuron/{self.name}/graph.svg?model={self.model}",
                                 "png": f"/api/neuron/{self.name}/graph.png?model={self.model}"}})


def score_rows(graph: NeuronGraph) -> list[dict[str, Any]]:
    """Per predictor (N2G and both baselines) and text set: precision, recall, F1, Pearson."""
    rows = []
    for predictor in PREDICTORS:
        row: dict[str, Any] = {"predictor": predictor, "name": PREDICTOR_NAMES[predictor]}
        for text_set in TEXT_SETS:
            for metric in ("precision", "recall", "f1", "pearson"):
                value = None if graph.scores is None else graph.scores.value(predictor, text_set, metric)
                row[f"{text_set}_{metric}"] = value if value is None or math.isfinite(value) else None
        rows.append(row)
    return rows


def resolve(backend: Backend, layer: int, neuron: int, model: str | None) -> tuple[str, str]:
    """(model, stored id) of `layer:neuron`; NotFound when the store does not hold it."""
    models = [info.name for info in backend.models()]
    if model is not None and model not in models:
        raise NotFound(f"model {model!r} is not in {backend.location} (it has {', '.join(models) or 'none'})")
    chosen = [model] if model is not None else models
    if not chosen:
        raise NotFound(f"{backend.location} holds no models")
    if len(chosen) > 1:
        held = [m for m in chosen if backend.call(backend.search.store.stored_neurons, [f"{m}:{layer}:{neuron}"])]
        if not held:
            raise NotFound(f"neuron {layer}:{neuron} is in no model of {backend.location}")
        if len(held) > 1:
            raise N2GError(f"neuron {layer}:{neuron} is in several models of {backend.location} "
                           f"({', '.join(held)}): add ?model=NAME")
        chosen = held
    nid = f"{chosen[0]}:{layer}:{neuron}"
    if not backend.call(backend.search.store.stored_neurons, [nid]):
        raise NotFound(f"neuron {layer}:{neuron} of {chosen[0]} is not in {backend.location}")
    return chosen[0], nid


def _cypher(backend: Backend, graph: NeuronGraph, nid: str, model: str) -> list[tuple[str, str]]:
    search = backend.search
    lookup = search.prepare("neuron", id=nid)
    found = [(f"its summary (n2g-search --neuron {graph.name} --model {model})", explained(lookup.cypher,
                                                                                          lookup.params))]
    tokens = graph.activating_tokens()
    if tokens:
        token = tokens[0]
        prepared = backend.call(search.prepare_tokens, [token], [], True, SearchFilter(model=model), 20)
        found.append((f"the neurons that fire on its first activating token, {token!r} "
                      f"(n2g-search --activating-token {token!r} --exact)",
                      explained(prepared.cypher, prepared.params)))
    return found


def neuron_view(backend: Backend, layer: int, neuron: int, model: str | None = None,
                similar: int = SIMILAR_SHOWN) -> NeuronView:
    model, nid = resolve(backend, layer, neuron, model)
    frame = backend.call(backend.search.neuron, f"{layer}:{neuron}", model)
    graph = graph_of(frame)
    summary = {k: v for k, v in records(frame)[0].items() if k != "graph_json"}
    similar_rows: list[dict[str, Any]] = []
    similar_error = None
    if graph.roots:
        try:
            found = backend.call(backend.search.similar_to, f"{layer}:{neuron}", model, SearchFilter(model=model),
                                 similar)
            similar_rows = records(found)
        except N2GError as err:
            similar_error = str(err)
    for row in similar_rows:
        row["duplicate"] = row.get("similarity") is not None and row["similarity"] >= 1.0 - 1e-9
    info = backend.model(model)
    fit = (info.settings.get("fit") if info else None) or {}
    ex = backend.neuron_exemplars(model, layer, neuron) if graph.status != "dead" else None
    tokenizer = backend.tokenizer(model) if graph.status != "dead" else None
    if ex is not None and tokenizer is not None:
        where = next((str(d) for d in backend.exemplar_dirs(model)), "the exemplars")
        windows = from_exemplars(graph, ex, tokenizer, fit, where)
    elif graph.status == "dead":
        windows = Windows("none", "A dead neuron: it never fired in the corpus, so there are no windows to show.")
    else:
        windows = from_example(graph, summary.get("example"), tokenizer)
    return NeuronView(model=model, layer=layer, neuron=neuron, summary=summary, graph=graph, similar=similar_rows,
                      cypher=_cypher(backend, graph, nid, model), windows=windows, similar_error=similar_error,
                      scores=score_rows(graph))
