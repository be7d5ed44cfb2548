"""The JSON API: the searches of `n2g-search` (same names, parameters and columns), one neuron as the page shows it,
its drawn graph, and the models a store holds. Every route only reads; JSON never holds NaN or Infinity.

    GET /api/search?activating_token=import     any n2g-search option as a parameter (`-` as `_`): a list of rows
    GET /api/neuron/{layer}:{neuron}             summary, scores, patterns, graph, similar neurons, Cypher, windows
    GET /api/neuron/{layer}:{neuron}/graph.svg   the drawn graph (also graph.png)
    GET /api/models                              the stored models, with per-layer coverage
    GET /api/model/{name}                        one model: settings, per-layer coverage and mean scores
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from n2g.serve.backend import Backend
from n2g.serve.model import model_summary
from n2g.serve.neuron import NotFound, finite, neuron_view, resolve
from n2g.serve.params import build, openapi_parameters, parse
from queries.output import records
from queries.request import execute
from queries.search import graph_of

ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                "required": ["error", "status"]}
ERRORS = {400: {"description": "bad input: one line saying what and how to fix it",
                "content": {"application/json": {"schema": ERROR_SCHEMA}}},
          404: {"description": "not in the store", "content": {"application/json": {"schema": ERROR_SCHEMA}}}}
ROW_LIST = {"type": "array", "items": {"type": "object", "additionalProperties": True}}


class StrictJSON(JSONResponse):
    """JSON with NaN and infinities as null (strict JSON parsers refuse them), non-ASCII text kept."""

    def render(self, content: Any) -> bytes:
        try:  # search rows are plain already (`queries.output.records`): most content needs no second walk
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except (ValueError, TypeError):  # a NaN, an infinity, a Decimal, a numpy number somewhere inside
            return json.dumps(finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def search_rows(backend: Backend, query: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], str | None]:
    """Run the search `query` names (any n2g-search option, `_` for `-`): its rows, and a note (rows cut ...)."""
    values, _ = parse(query)
    result = backend.call(execute, backend.search, build(values))
    frame = result.frame
    return (records(frame) if frame is not None else []), getattr(result, "note", None)


def router(backend: Backend) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["api"], default_response_class=StrictJSON, responses=ERRORS)

    @api.get("/search", summary="Search neurons, as n2g-search does",
             description="Every `n2g-search` option (but --cypher, --param, --write, --explain) is a query "
             "parameter of the same name with `_` for `-`; a repeatable option is a repeated parameter. Exactly "
             "one search: activating_token / context_token, repeated_token, duplicates, similar_to, neuron, best "
             "(and any added to n2g-search). Returns the rows n2g-search --format json prints.",
             openapi_extra={"parameters": openapi_parameters()},
             responses={200: {"description": "the rows", "content": {"application/json": {"schema": ROW_LIST}}}})
    def search(request: Request) -> Response:
        rows, note = search_rows(backend, request.query_params.multi_items())
        return StrictJSON(rows, headers={"X-N2G-Note": note} if note else None)

    neuron_path = {"layer": Path(ge=0, description="the layer (L of L:N)"),
                   "neuron": Path(ge=0, description="the neuron's index in the layer (N of L:N)")}
    model_query = Query(None, description="the model, where the store holds several")

    @api.get("/neuron/{layer}:{neuron}", summary="One neuron: what its page shows")
    def neuron(layer: int = neuron_path["layer"], neuron: int = neuron_path["neuron"],
               model: str | None = model_query) -> Response:
        return StrictJSON(neuron_view(backend, layer, neuron, model).to_dict())

    def graph_of_neuron(layer: int, neuron: int, model: str | None) -> Any:
        chosen, _ = resolve(backend, layer, neuron, model)
        return graph_of(backend.call(backend.search.neuron, f"{layer}:{neuron}", chosen))

    @api.get("/neuron/{layer}:{neuron}/graph.svg", summary="The neuron's graph drawn as SVG",
             response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
    def graph_svg(layer: int = neuron_path["layer"], neuron: int = neuron_path["neuron"],
                  model: str | None = model_query) -> Response:
        from n2g.graphs.rendering import render

        return Response(render(graph_of_neuron(layer, neuron, model), "svg"), media_type="image/svg+xml")

    @api.get("/neuron/{layer}:{neuron}/graph.png", summary="The neuron's graph drawn as PNG",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def graph_png(layer: int = neuron_path["layer"], neuron: int = neuron_path["neuron"],
                  model: str | None = model_query) -> Response:
        from n2g.graphs.rendering import render

        return Response(render(graph_of_neuron(layer, neuron, model), "png"), media_type="image/png")

    @api.get("/models", summary="The models in the store, with per-layer coverage")
    def models() -> Response:
        return StrictJSON([model_summary(backend, info.name) for info in backend.models()])

    @api.get("/model/{name}", summary="One model: settings, per-layer coverage and mean scores")
    def model(name: str) -> Response:
        if backend.model(name) is None:
            raise NotFound(f"model {name!r} is not in {backend.location}")
        return StrictJSON(model_summary(backend, name, settings=True))

    return api
