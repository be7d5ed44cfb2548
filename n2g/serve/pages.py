"""The HTML pages: search (`/`), a neuron (`/neuron/{layer}:{neuron}`), a model (`/model/{name}`) and its plots.

The search page's one box takes a token (`import`), a token after its context (`from os import`: the last word
fires, the others are context), a whole text (each token clickable to the neurons whose graph predicts firing
there), or a neuron (`1:144` opens its page). The other searches (repeated tokens, duplicates, polysemantic, best
per layer, ... every search flag `SearchRequest` has) are a choice beside it, and the filters and options are
made from `SearchRequest`'s fields (`params`), so a search added to n2g-search appears here too. Results are
rendered on the server (the page works without JS); a few lines of JS sort a table by any column and open a
text's tokens.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from n2g.errors import N2GError
from n2g.graphs.rendering import visible_text
from n2g.report.gallery import example_html, inline_svg, legend_html
from n2g.serve.backend import Backend
from n2g.serve.model import PLOT_TITLES, STATUSES, model_summary, plot_png
from n2g.serve.neuron import NotFound, neuron_view
from n2g.serve.params import PARAMS, Param, build, given, parse, search_kinds
from queries.output import records
from queries.request import SearchRequest, execute

NEURON_REF = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
BOX_MODES = {"auto": "auto", "token": "one token", "context": "token after context", "text": "a whole text"}
FILTERS = ("model", "layer", "min_f1", "limit")  # the row under the box; the other options go under "more"
HIDDEN_COLUMNS = ("graph_json",)
TEXT_ROW_HIDDEN = ("position", "token", "context_positions")  # a token's panel says which token it is
TEXT_SEARCH = "text"  # the SearchRequest field (and kind) of the text search (queries.search.NeuronSearch.text)

environment = Environment(loader=PackageLoader("n2g.serve", "templates"), autoescape=select_autoescape(["html"]),
                          trim_blocks=True, lstrip_blocks=True)


def _kind_fields() -> list[str]:
    """The fields that choose a search when set (tokens, text, similar_to, neuron, best, every search flag)."""
    samples = {"list": ("x",), "bool": True, "int": 1, "float": 0.5, "str": "0:0", "choice": None}
    found = []
    for param in PARAMS.values():
        sample = samples[param.kind]
        if sample is None:
            continue
        try:
            SearchRequest(**{param.name: sample}).kind()
        except N2GError:
            continue
        except (TypeError, ValueError):
            continue
        found.append(param.name)
    return found


KIND_FIELDS = _kind_fields()
SEARCH_FLAGS = search_kinds()  # repeated_token, duplicates, polysemantic, ...


# --- cells ---------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str = ""
    sort: str = ""  # what the table sorts by (numbers as numbers)
    link: str | None = None
    chips: list[str] = field(default_factory=list)
    number: bool = False


def neuron_link(nid: Any, model: Any = None) -> str | None:
    """`model:L:N` -> the neuron page's address."""
    if not isinstance(nid, str):
        return None
    model_name, _, rest = nid.rpartition(":")
    model_name, _, layer = model_name.rpartition(":")
    if not (layer.isdigit() and rest.isdigit() and model_name):
        return None
    return f"/neuron/{layer}:{rest}?{urlencode({'model': model_name})}"


def _chip(value: Any) -> str:
    """A list item as one chip: a token made visible, a gap (None) as *, a nested list (a pattern) joined."""
    if value is None:
        return "*"
    if isinstance(value, list):
        return " ".join(_chip(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return visible_text(str(value))


def cell(column: str, value: Any) -> Cell:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Cell("–", "")
    if isinstance(value, bool):
        return Cell("yes" if value else "no", "1" if value else "0")
    if isinstance(value, (int, float)):
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return Cell(text, repr(value), number=True)
    if isinstance(value, list):
        chips = [_chip(v) for v in value[:12]] + (["…"] if len(value) > 12 else [])
        return Cell("", " ".join(map(str, value)), chips=chips)
    if isinstance(value, dict):
        return Cell(", ".join(f"{k}: {v}" for k, v in value.items()), str(value))
    text = str(value)
    if column == "id" or column.endswith("_id"):
        link = neuron_link(text)
        if link is not None:
            short = ":".join(text.rsplit(":", 2)[1:])
            return Cell(short, text, link=link)
    return Cell("".join(visible_text(c) if c.isspace() else c for c in text), text)


def table(rows: list[dict[str, Any]], hidden: tuple[str, ...] = HIDDEN_COLUMNS) -> tuple[list[str], list[list[Cell]]]:
    columns = [c for c in (rows[0].keys() if rows else []) if c not in hidden]
    return columns, [[cell(c, row.get(c)) for c in columns] for row in rows]


# --- the search page -----------------------------------------------------------------------------------------


@dataclass
class Search:
    """What the page was asked, and what it found."""

    q: str = ""
    mode: str = "auto"
    choice: str = "box"
    request: SearchRequest | None = None
    interpreted: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    raw_rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    summary: str | None = None  # the text search's --verify line: its precision and recall on this text
    error: str | None = None
    text_tokens: list[dict[str, Any]] | None = None


def _box_request(q: str, mode: str, values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The box's text as search fields: one token, a token after context, or a text."""
    words = q.split()
    if mode == "auto":
        mode = "token" if len(words) <= 1 else "text"
    if mode == "token":
        token = q if values.get("exact") else q.strip()
        return {**values, "activating_token": (token,)}, f"neurons that fire on {token!r}"
    if mode == "context":
        if len(words) < 2:
            return {**values, "activating_token": (q.strip(),)}, f"neurons that fire on {q.strip()!r}"
        context = ", ".join(map(repr, words[:-1]))
        return ({**values, "activating_token": (words[-1],), "context_token": tuple(words[:-1])},
                f"neurons that fire on {words[-1]!r} and need {context} in their context")
    return ({**values, TEXT_SEARCH: q}, "each token of the text with the neurons whose graph predicts firing "
            "there (click a token)")


def run_search(backend: Backend, query: list[tuple[str, str]]) -> Search | RedirectResponse:
    values, extra = parse(query, extra=("q", "as", "search"))
    q = extra.get("q", "").replace("\r\n", "\n")  # a form sends a textarea's line ends as CRLF: the text has \n
    found = Search(q=q, mode=extra.get("as", "auto"), choice=extra.get("search", "box"))
    if found.mode not in BOX_MODES:
        raise N2GError(f"as: {found.mode!r} is not one of {', '.join(BOX_MODES)}")
    chosen = [name for name in KIND_FIELDS if name in values and values[name] not in ((), False, None)]
    if not chosen and found.choice != "box":
        if found.choice in SEARCH_FLAGS:
            values[found.choice] = True
        elif found.choice == "best":
            values["best"] = int(q) if q.strip().isdigit() and int(q) > 0 else 5
        elif found.choice == "similar_to":
            values["similar_to"] = q.strip()
        else:
            raise N2GError(f"search: {found.choice!r} is not a search of this page")
        found.interpreted = found.choice.replace("_", " ")
    elif not chosen and q.strip():
        reference = NEURON_REF.match(q)
        if reference and found.mode == "auto":
            model = values.get("model")
            target = f"/neuron/{int(reference[1])}:{int(reference[2])}"
            return RedirectResponse(target + (f"?{urlencode({'model': model})}" if model else ""), status_code=303)
        values, found.interpreted = _box_request(q, found.mode, values)
    elif not chosen:
        return found  # nothing asked yet: the landing page
    found.request = build(values)
    result = backend.call(execute, backend.search, found.request)
    found.raw_rows = records(result.frame) if result.frame is not None else []
    found.note = getattr(result, "note", None)
    found.summary = result.summary_line() if hasattr(result, "summary_line") else None
    if found.request.kind() == TEXT_SEARCH:
        tokens = backend.call(backend.search.text_tokens, str(found.request.text), found.request.model)
        found.text_tokens = text_groups(found.raw_rows, tokens.texts)
    found.columns, found.rows = table(found.raw_rows)
    return found


def text_groups(rows: list[dict[str, Any]], tokens: list[str]) -> list[dict[str, Any]]:
    """Every token of the text, in order, with the text search's rows for it (`position` is the token's index)."""
    by_position: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_position.setdefault(int(row["position"]), []).append(row)
    out = []
    for position, token in enumerate(tokens):
        found = by_position.get(position, [])
        columns, cells = table(found, HIDDEN_COLUMNS + TEXT_ROW_HIDDEN)
        strongest = max((r.get("predicted") or 0.0 for r in found), default=0.0)
        out.append({"position": position, "token": token, "label": visible_text(token), "columns": columns,
                    "cells": cells, "count": len(found), "strongest": strongest})
    return out


def cli_command(backend: Backend, request: SearchRequest) -> str:
    parts = ["n2g-search", "--db", backend.location]
    for name, value in given(request):
        param = PARAMS[name]
        parts += [param.flag] if param.kind == "bool" and value == "true" else [param.flag, value]
    return " ".join(shlex.quote(p) for p in parts)


OPTION_FOR = re.compile(r"^(--[a-z-]+|[a-z]+):\s*")  # a help that starts "--text: ..." or "duplicates: ..."


def _form_field(param: Param, value: Any) -> dict[str, Any]:
    found = OPTION_FOR.match(param.help)
    return {"name": param.name, "kind": param.kind, "help": param.help, "choices": param.choices,
            "value": "" if value is None else value, "min": param.spec.minimum, "max": param.spec.maximum,
            "step": "any" if param.kind == "float" else "1", "label": param.name.replace("_", " "),
            "group": found[1].lstrip("-").replace("-", " ") if found else "any search",
            "changed": value != param.default}


def form_fields(request: SearchRequest | None, query: Mapping[str, str]) -> tuple[list[dict], list[dict]]:
    """The filters under the box, and the other options grouped by the search they are for (as their help says:
    "--text: ...", "duplicates: ..."), from SearchRequest's fields, with the values asked."""
    filters, options = [], []
    for param in PARAMS.values():
        if param.name in KIND_FIELDS or param.kind == "list":
            continue
        value = getattr(request, param.name) if request is not None else query.get(param.name, param.default)
        (filters if param.name in FILTERS else options).append(_form_field(param, value))
    filters.sort(key=lambda f: FILTERS.index(f["name"]))
    order = list(dict.fromkeys(["any search", *(f["group"] for f in options)]))
    options.sort(key=lambda f: order.index(f["group"]))
    return filters, options


# --- the router ----------------------------------------------------------------------------------------------


def render(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(environment.get_template(name).render(**context))


def router(backend: Backend) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def base(request: Request) -> dict[str, Any]:
        return {"location": backend.location, "models": backend.models(), "path": request.url.path}

    @pages.get("/", response_class=HTMLResponse)
    def search_page(request: Request) -> Response:
        query = request.query_params.multi_items()
        found = run_search(backend, query)
        if isinstance(found, RedirectResponse):
            return found
        asked = dict(query)
        filters, options = form_fields(found.request, asked)
        choices = [("box", "the box: token, context or text", "")]
        choices += [(name, name.replace("_", " "), PARAMS[name].help) for name in SEARCH_FLAGS]
        choices += [("best", "best per layer (K in the box)", PARAMS["best"].help),
                    ("similar_to", "similar to a neuron (L:N in the box)", PARAMS["similar_to"].help)]
        context = {**base(request), "found": found, "filters": filters, "options": options, "choices": choices,
                   "modes": BOX_MODES, "options_changed": any(f["changed"] for f in options),
                   "option_groups": list(dict.fromkeys(f["group"] for f in options)),
                   "model_names": [m.name for m in backend.models()]}
        if found.request is not None:
            context["cli"] = cli_command(backend, found.request)
            context["api"] = "/api/search?" + urlencode(given(found.request))
        return render("search.html", **context)

    @pages.get("/neuron/{layer}:{neuron}", response_class=HTMLResponse)
    def neuron_page(request: Request, layer: int = Path(ge=0), neuron: int = Path(ge=0),
                    model: str | None = Query(None)) -> Response:
        view = neuron_view(backend, layer, neuron, model)
        svg = Markup(inline_svg(view.graph, f"g{layer}-{neuron}-")) if view.graph.status != "dead" else None
        windows = [Markup(example_html(example)) for example in view.windows.examples]
        similar_columns, similar_rows = table([{k: v for k, v in row.items()
                                                if k in ("id", "similarity", "duplicate", "correlation",
                                                         "shared_activating", "shared_context", "f1", "ood_f1",
                                                         "activating_tokens")}
                                               for row in view.similar])
        return render("neuron.html", **base(request), view=view, svg=svg, windows=windows,
                      legend=Markup(legend_html()), similar_columns=similar_columns, similar_rows=similar_rows,
                      patterns=view.to_dict()["patterns"], quote=quote)

    @pages.get("/model/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> Response:
        if backend.model(name) is None:
            raise NotFound(f"model {name!r} is not in {backend.location}")
        summary = model_summary(backend, name, settings=True)
        return render("model.html", **base(request), summary=summary, statuses=STATUSES, plots=PLOT_TITLES,
                      quote=quote, urlencode=urlencode)

    @pages.get("/model/{name}/plot/{plot}.png")
    def model_plot(name: str, plot: str) -> Response:
        if backend.model(name) is None:
            raise NotFound(f"model {name!r} is not in {backend.location}")
        if plot not in PLOT_TITLES:
            raise NotFound(f"no plot {plot!r}: the plots are {', '.join(PLOT_TITLES)}")
        return Response(plot_png(backend, name, plot), media_type="image/png",
                        headers={"Cache-Control": "max-age=60"})

    return pages


def error_page(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(environment.get_template("error.html").render(status=status, message=message),
                        status_code=status)
