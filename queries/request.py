"""One search request, whoever asks: `n2g-search`'s options and the HTTP API's query parameters are both made from
`SearchRequest`'s fields (`n2g.config.setting`), so the two offer the same searches with the same names, defaults
and columns. `execute` runs a request on an open `NeuronSearch`.

Which search runs is decided by the fields set (exactly one kind: tokens, repeated, duplicates, similar, neuron,
best, cypher); the rest are filters and options. Fields marked `http=False` in their help metadata (reading a file,
writing, the output format) exist on the command line only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from n2g.config import setting
from n2g.errors import N2GError
from queries.search import DuplicateMode, NeuronSearch, PreparedQuery, SearchFilter

SearchKind = Literal["tokens", "repeated", "duplicates", "similar", "neuron", "best", "cypher"]
CLI_ONLY = ("cypher", "param", "write", "explain")  # reading files and writing: not over HTTP


@dataclass(frozen=True)
class SearchRequest:
    """Every search `n2g-search` and the HTTP API can run, with its filters."""

    activating_token: tuple[str, ...] = setting((), "neurons whose graph fires on TOKEN (repeatable: all must match)",
                                                metavar="TOKEN")
    context_token: tuple[str, ...] = setting((), "neurons whose graph needs TOKEN in its context (repeatable; "
                                             "combines with the above)", metavar="TOKEN")
    repeated_token: bool = setting(False, "in-context neurons: a token both activating and in the context, ranked "
                                   "by the share of such tokens")
    duplicates: bool = setting(False, "pairs of neurons with (nearly) the same graph")
    similar_to: str | None = setting(None, "the neurons most similar to this one", metavar="L:N")
    neuron: str | None = setting(None, "one neuron's summary and graph", metavar="L:N")
    best: int | None = setting(None, "the K best-scoring neurons of each layer", minimum=1, metavar="K")
    cypher: str | None = setting(None, "run your own Cypher from FILE ('-': stdin)", metavar="FILE")
    exact: bool = setting(False, "match the raw token text (' import' is not 'import')")
    mode: DuplicateMode = setting("similar", "duplicates: overlap / larger set (similar) or / smaller set (subset)")
    min_overlap: float = setting(0.9, "duplicates: overlap threshold", minimum=0.0, maximum=1.0, min_open=True,
                                 metavar="T")
    same_layer: bool = setting(False, "duplicates: include pairs within one layer")
    min_share: float = setting(0.0, "--repeated-token: lowest share of repeats", minimum=0.0, maximum=1.0)
    model: str | None = setting(None, "only this model (needed with --neuron/--similar-to when several are stored)")
    layer: str | None = setting(None, "only these layers: 3, 0:4 or 0,5,10", metavar="SPEC")
    min_f1: float | None = setting(None, "only neurons with at least this held-out F1", minimum=0.0, maximum=1.0)
    limit: int = setting(20, "rows to return", minimum=1)
    param: tuple[str, ...] = setting((), "--cypher: a parameter ($NAME); VALUE is read as JSON when it parses, else "
                                     "as text", metavar="NAME=VALUE")
    write: bool = setting(False, "--cypher: allow a statement that writes")
    explain: bool = setting(False, "print the Cypher and parameters instead of running")

    def kind(self) -> SearchKind:
        chosen: list[SearchKind] = [name for name, on in (
            ("tokens", self.activating_token or self.context_token), ("repeated", self.repeated_token),
            ("duplicates", self.duplicates), ("similar", self.similar_to), ("neuron", self.neuron),
            ("best", self.best is not None), ("cypher", self.cypher)) if on]
        if len(chosen) != 1:
            raise N2GError("choose one search: --activating-token/--context-token, --repeated-token, --duplicates, "
                           "--similar-to, --neuron, --best or --cypher")
        return chosen[0]

    def where(self) -> SearchFilter:
        from n2g.specs import parse_index_spec

        layers = None if self.layer is None else parse_index_spec(self.layer, None, "layer")
        return SearchFilter(model=self.model, layers=layers, min_f1=self.min_f1)


@dataclass
class SearchResult:
    """What a request gave: rows, or (with `explain`) the Cypher and parameters that would run."""

    kind: SearchKind
    frame: pd.DataFrame | None = None
    explained: str | None = None


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; VALUE as JSON where it parses, else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise N2GError(f"bad --param {pair!r}: write NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def explained(cypher: str, params: dict[str, Any]) -> str:
    return f"{cypher.strip()}\n\n// parameters\n{json.dumps(params, ensure_ascii=False, indent=1)}"


def execute(search: NeuronSearch, request: SearchRequest, cypher_text: str | None = None) -> SearchResult:
    """Run `request`; `cypher_text` is the Cypher a `cypher` request read (the caller reads files)."""
    kind, where = request.kind(), request.where()
    if kind == "cypher":
        if cypher_text is None:
            raise N2GError("no Cypher given")
        params = parse_params(request.param)
        if request.explain:
            return SearchResult(kind, explained=explained(cypher_text, params))
        return SearchResult(kind, frame=search.query(cypher_text, write=request.write, **params))
    if kind == "best":
        if request.explain:
            best = search.prepare("best_in_layer", layer=0, **where.params(), limit=request.best)
            return SearchResult(kind, explained=explained(best.cypher, best.params) + "\n// run once per layer that "
                                "`layers` (queries/templates/layers.cypher) lists, $layer set to it")
        return SearchResult(kind, frame=search.best(int(request.best or 0), where))
    prepared = prepare(search, request, kind, where)
    if request.explain:
        text = explained(prepared.cypher, prepared.params)
        if prepared.with_rows:
            text += "\n// then neuron_rows (queries/templates/neuron_rows.cypher) for the ids it returns"
        return SearchResult(kind, explained=text)
    return SearchResult(kind, frame=search.run(prepared))


def prepare(search: NeuronSearch, request: SearchRequest, kind: SearchKind, where: SearchFilter) -> PreparedQuery:
    if kind == "tokens":
        return search.prepare_tokens(list(request.activating_token), list(request.context_token), request.exact,
                                     where, request.limit)
    if kind == "repeated":
        return search.prepare_repeated(request.min_share, where, request.limit)
    if kind == "duplicates":
        return search.prepare_duplicates(request.mode, request.min_overlap, not request.same_layer, where,
                                         request.limit)
    if kind == "similar":
        return search.prepare_similar(str(request.similar_to), request.model, where, request.limit)
    return search.prepare_neuron(str(request.neuron), request.model)
