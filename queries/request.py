"""One search request, whoever asks: `n2g-search`'s options and the HTTP API's query parameters are both made from
`SearchRequest`'s fields (`n2g.config.setting`), so the two offer the same searches with the same names, defaults
and columns. `execute` runs a request on an open `NeuronSearch`.

Which search runs is decided by the fields set (exactly one kind: tokens, text, repeated, duplicates, similar,
polysemantic, neuron, best, cypher); the rest are filters and options. The fields in `CLI_ONLY` (reading a file,
writing, explaining) exist on the command line only.

A text search (`text`) answers per token of the text; with `verify` it also loads the store's model and runs it
once over the text, and its `SearchResult.summary` holds the search's own precision and recall on that text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from n2g.config import setting
from n2g.errors import N2GError
from queries.search import MIN_CORRELATION, DuplicateMode, NeuronSearch, PreparedQuery, SearchFilter
from queries.text_search import summary_line

SearchKind = Literal["tokens", "text", "repeated", "duplicates", "similar", "polysemantic", "neuron", "best", "cypher"]
CLI_ONLY = ("cypher", "param", "write", "explain", "text_file")  # reading files and writing: not over HTTP
SignChoice = Literal["any", "positive", "negative"]
SIGN_VALUES: dict[SignChoice, int | None] = {"any": None, "positive": 1, "negative": -1}


@dataclass(frozen=True)
class SearchRequest:
    """Every search `n2g-search` and the HTTP API can run, with its filters."""

    activating_token: tuple[str, ...] = setting((), "neurons whose graph fires on TOKEN (repeatable: all must match)",
                                                metavar="TOKEN")
    context_token: tuple[str, ...] = setting((), "neurons whose graph needs TOKEN in its context (repeatable; "
                                             "combines with the above)", metavar="TOKEN")
    text: str | None = setting(None, "for each token of TEXT, the neurons whose graph predicts firing there, "
                               "strongest prediction first, with the pattern that matched", metavar="TEXT")
    text_file: str | None = setting(None, "--text read from FILE ('-': stdin)", metavar="FILE")
    verify: bool = setting(False, "--text: load the store's model, run the text once, and put each neuron's real "
                           "activation beside its prediction, with the search's precision and recall on the text")
    per_token: int = setting(5, "--text: neurons shown per token (also the missed neurons per token with --verify)",
                             minimum=1, metavar="K")
    repeated_token: bool = setting(False, "in-context neurons: a token both activating and in the context, ranked "
                                   "by the share of such tokens")
    duplicates: bool = setting(False, "pairs of neurons with (nearly) the same graph")
    similar_to: str | None = setting(None, "the neurons most similar to this one", metavar="L:N")
    polysemantic: bool = setting(False, "neurons whose graph falls into parts that share no token, most parts and "
                                 "most balanced first")
    min_parts: int = setting(2, "--polysemantic: fewest parts", minimum=2, metavar="N")
    neuron: str | None = setting(None, "one neuron's summary and graph", metavar="L:N")
    best: int | None = setting(None, "the K best-scoring neurons of each layer", minimum=1, metavar="K")
    cypher: str | None = setting(None, "run your own Cypher from FILE ('-': stdin)", metavar="FILE")
    exact: bool = setting(False, "match the raw token text (' import' is not 'import')")
    mode: DuplicateMode = setting("similar", "duplicates: overlap / larger set (similar) or / smaller set (subset)")
    min_overlap: float = setting(0.9, "duplicates: overlap threshold", minimum=0.0, maximum=1.0, min_open=True,
                                 metavar="T")
    same_layer: bool = setting(False, "duplicates: include pairs within one layer")
    min_correlation: float | None = setting(
        MIN_CORRELATION, "duplicates: keep a pair only if the two neurons' activations on a shared text sample "
        "correlate this much (pairs without samples are kept)", minimum=-1.0, maximum=1.0, metavar="R",
        off_flag="--no-correlation-check")
    min_share: float = setting(0.0, "--repeated-token: lowest share of repeats", minimum=0.0, maximum=1.0)
    model: str | None = setting(None, "only this model (needed with --neuron/--similar-to when several are stored)")
    layer: str | None = setting(None, "only these layers: 3, 0:4 or 0,5,10", metavar="SPEC")
    sign: SignChoice = setting("any", "only graphs of this direction: a neuron's positive graph (where it fires), "
                               "its negative one (where it goes most negative, ids L:N-: mined with --signs both), "
                               "or any")
    min_f1: float | None = setting(None, "only neurons with at least this held-out F1", minimum=0.0, maximum=1.0)
    limit: int = setting(20, "rows to return", minimum=1)
    param: tuple[str, ...] = setting((), "--cypher: a parameter ($NAME); VALUE is read as JSON when it parses, else "
                                     "as text", metavar="NAME=VALUE")
    write: bool = setting(False, "--cypher: allow a statement that writes")
    explain: bool = setting(False, "print the Cypher and parameters instead of running")

    def kind(self) -> SearchKind:
        chosen: list[SearchKind] = [name for name, on in (
            ("tokens", self.activating_token or self.context_token),
            ("text", self.text is not None or self.text_file is not None), ("repeated", self.repeated_token),
            ("duplicates", self.duplicates), ("similar", self.similar_to), ("polysemantic", self.polysemantic),
            ("neuron", self.neuron), ("best", self.best is not None), ("cypher", self.cypher)) if on]
        if len(chosen) != 1:
            raise N2GError("choose one search: --activating-token/--context-token, --text/--text-file, "
                           "--repeated-token, --duplicates, --similar-to, --polysemantic, --neuron, --best or --cypher")
        if self.text is not None and self.text_file is not None:
            raise N2GError("give --text or --text-file, not both")
        if self.verify and chosen[0] != "text":
            raise N2GError("--verify goes with --text / --text-file")
        return chosen[0]

    def where(self) -> SearchFilter:
        from n2g.specs import parse_index_spec

        layers = None if self.layer is None else parse_index_spec(self.layer, None, "layer")
        if self.sign not in SIGN_VALUES:
            raise N2GError(f"unknown sign {self.sign!r} (choose from {', '.join(SIGN_VALUES)})")
        return SearchFilter(model=self.model, layers=layers, min_f1=self.min_f1, sign=SIGN_VALUES[self.sign])


@dataclass
class SearchResult:
    """What a request gave: rows, or (with `explain`) the Cypher and parameters that would run."""

    kind: SearchKind
    frame: pd.DataFrame | None = None
    explained: str | None = None
    summary: dict[str, Any] | None = None  # `--verify`: the search's own precision and recall on the text

    def summary_line(self) -> str | None:
        return None if self.summary is None else summary_line(self.summary)
    note: str | None = None  # said beside the rows (on stderr at the command line): e.g. that rows were cut


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
        except RecursionError as err:
            raise N2GError(f"--param {name}: the JSON value is nested too deeply") from err
    return params


def explained(cypher: str, params: dict[str, Any]) -> str:
    return f"{cypher.strip()}\n\n// parameters\n{json.dumps(params, ensure_ascii=False, indent=1)}"


def execute(search: NeuronSearch, request: SearchRequest, cypher_text: str | None = None,
            text: str | None = None) -> SearchResult:
    """Run `request`; `cypher_text` is the Cypher a `cypher` request read, `text` the text a `text_file` request
    read (the caller reads files)."""
    kind, where = request.kind(), request.where()
    if kind == "text":
        return execute_text(search, request, where, request.text if text is None else text)
    if kind == "cypher":
        if cypher_text is None:
            raise N2GError("no Cypher given")
        params = parse_params(request.param)
        if request.explain:
            return SearchResult(kind, explained=explained(cypher_text, params))
        frame = search.query(cypher_text, write=request.write, **params)
        if len(frame) > request.limit:
            note = f"showing {request.limit} of {len(frame)} rows (--limit to see more)"
            return SearchResult(kind, frame=frame.head(request.limit), note=note)
        return SearchResult(kind, frame=frame)
    if kind == "best":
        if request.explain:
            best = search.prepare("best_in_layer", layer=0, **where.params(), limit=request.best)
            return SearchResult(kind, explained=explained(best.cypher, best.params) + "\n// run once per layer that "
                                "`layers` (queries/templates/layers.cypher) lists, $layer set to it")
        return SearchResult(kind, frame=search.best(int(request.best or 0), where))
    prepared = prepare(search, request, kind, where)
    if request.explain:
        text = explained(prepared.cypher, prepared.params)
        text += "".join(f"\n// then {step}" for step in prepared.steps)
        if prepared.with_rows and not prepared.steps:
            text += "\n// then neuron_rows (queries/templates/neuron_rows.cypher) for the ids it returns"
        return SearchResult(kind, explained=text)
    return SearchResult(kind, frame=search.run(prepared))


def execute_text(search: NeuronSearch, request: SearchRequest, where: SearchFilter, text: str | None) -> SearchResult:
    if text is None:
        raise N2GError("no text given")
    if request.explain:
        prepared = search.prepare_text(text, None, request.model, where, request.per_token)
        return SearchResult("text", explained=explained(prepared.cypher, prepared.params) + "".join(
            f"\n// then {step}" for step in prepared.steps))
    if request.verify:
        checked = search.verify_text(text, model=request.model, where=where, per_token=request.per_token)
        return SearchResult("text", frame=checked.frame, summary=checked.summary)
    return SearchResult("text", frame=search.text(text, model=request.model, where=where,
                                                  per_token=request.per_token))


def prepare(search: NeuronSearch, request: SearchRequest, kind: SearchKind, where: SearchFilter) -> PreparedQuery:
    if kind == "tokens":
        return search.prepare_tokens(list(request.activating_token), list(request.context_token), request.exact,
                                     where, request.limit)
    if kind == "repeated":
        return search.prepare_repeated(request.min_share, where, request.limit)
    if kind == "duplicates":
        return search.prepare_duplicates(request.mode, request.min_overlap, not request.same_layer, where,
                                         request.limit, request.min_correlation)
    if kind == "similar":
        return search.prepare_similar(str(request.similar_to), request.model, where, request.limit)
    if kind == "polysemantic":
        return search.prepare_polysemantic(request.min_parts, where, request.limit)
    return search.prepare_neuron(str(request.neuron), request.model)
