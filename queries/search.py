"""The Python search API: every search of `n2g-search` as a function returning a pandas DataFrame, plus
`query(cypher, **params)` for your own Cypher.

    from queries.search import NeuronSearch, SearchFilter
    with NeuronSearch("n2g.lbdb") as search:
        search.activating("import")                                  # neurons that fire on ` import`, `import`, ...
        search.activating("import", context=["from"], where=SearchFilter(layers=[0, 1, 2], min_f1=0.5))
        search.repeated_tokens()                                     # in-context neurons
        search.duplicates(mode="similar", min_overlap=0.9)           # cross-layer duplicate pairs
        search.text("from os import path")                           # per token: the neurons predicted to fire
        search.verify_text("from os import path").summary            # ... against the model's real activations
        search.polysemantic(min_parts=2)                             # graphs in parts that share no token
        search.query("MATCH (n:Neuron) WHERE n.layer = $layer RETURN count(n) AS n", layer=3)

Token forms. A graph compares tokens by its model's `token_matching` (`n2g.model.token_keys`; `exact` by default:
` import`, `import` and ` Import` are three tokens). Text search keys every token of the text exactly that way, so
its hits are the graph's own predictions, form for form. A token search names a *word*: `import` stands for every
stored form that normalises alike (` import`, `import`, ` Import`), and each row says which forms its graph fires on
(`matched`), with the evidence and patterns of each: a neuron listed for `Import` whose `matched` is ` import` predicts
nothing on ` Import` itself. `exact=True` names one form, the stored text itself. The embedded store is opened
read-only, so searching works while an ingest is writing.

Every activating-token result shows its evidence, measured when the graph was fitted: per matched token how often it
fired in the neuron's held-out and random windows where the graph said it would (`token_evidence`, hits/predictions;
pooled: `hits`, `predictions`, `evidence`), and the patterns (the context the graph needs for it), strongest first;
rows are ranked by that evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, get_args

import pandas as pd

from ingest import schema
from ingest.store import DEFAULT_DB, GraphStore, open_store
from n2g.errors import N2GError
from n2g.graphs.activation_sample import correlation
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.model.token_keys import Vocabulary, normalise_token, token_key
from queries.templates import Template, template
from queries.text_search import (
    FIRST_FETCH,
    ModelRecord,
    RootCache,
    StoredNeuron,
    TextSearch,
    TextTokens,
    check_text,
    root_patterns,
    text_frame_rows,
    verify,
)

DuplicateMode = Literal["similar", "subset"]  # overlap / larger set, or / smaller set
DUPLICATE_MODES: tuple[DuplicateMode, ...] = get_args(DuplicateMode)
# Overlap >= 0.9 of the larger set on both sets means Jaccard >= 0.82 on their union, where 20 bands of 5 rows
# give a candidate with probability > 0.9999 (`ingest.graph_facts`); lower, recall falls (0.94 at 0.8).
SIMILAR_FLOOR = 0.9
# Duplicate candidates are confirmed by how the two neurons co-activate: the correlation of their activation samples
# (`n2g.graphs.activation_sample`) must reach this; pairs without samples (graphs fitted before them) are kept.
MIN_CORRELATION = 0.5
PATTERNS_SHOWN = 3  # patterns shown per matched token of an activating-token search
# Clauses that change a database; a user's Cypher with one of them needs `write=True` (`--write`).
# (`$set`, `n.set` and `set_x` are names, not clauses.)
_WRITES = re.compile(r"(?<![$.\w])(CREATE|MERGE|SET|DELETE|REMOVE|DROP|COPY|ALTER|INSTALL|LOAD|IMPORT|CHECKPOINT|"
                     r"DETACH|FOREACH|BEGIN|COMMIT|EXPORT|ATTACH|USE)\b", re.IGNORECASE)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class SearchFilter:
    """What every search can be narrowed to: one model, some layers, one direction (`sign` 1 or -1: a neuron's
    positive or negative graph; None: both), a lowest held-out F1."""

    model: str | None = None
    layers: Sequence[int] | None = None
    min_f1: float | None = None
    sign: int | None = None

    def params(self) -> dict[str, Any]:
        return {"any_model": self.model is None, "model": self.model or "",
                "any_layer": self.layers is None, "layers": [int(x) for x in self.layers or []],
                "any_sign": self.sign is None, "sign": int(self.sign or 1),
                "min_f1": -1.0 if self.min_f1 is None else float(self.min_f1)}


def writes(cypher: str) -> bool:
    """Whether a statement has a clause that writes (string literals and comments ignored)."""
    return bool(_WRITES.search(_STRINGS.sub(" ", cypher)))


def statement_count(cypher: str) -> int:
    """How many statements `;` separates (in string literals and comments it separates nothing; a trailing one
    ends the last statement)."""
    return sum(1 for part in _STRINGS.sub(" ", cypher).split(";") if part.strip())


@dataclass(frozen=True)
class PreparedQuery:
    """A template with its parameters: what runs, or what `--explain` prints."""

    template: Template
    params: dict[str, Any]
    matches_nothing: bool = False  # a searched token is in no graph: the answer is empty without asking
    with_rows: bool = False  # the template ranks neuron ids; `neuron_rows` adds their columns afterwards
    with_evidence: bool = False  # the rows match activating tokens: add their evidence and patterns
    correlate: str | None = None  # "pairs" (id, other_id) or a neuron id: add the activation-sample correlation
    min_correlation: float | None = None  # with `correlate="pairs"`: drop pairs that correlate less
    with_parts: bool = False  # decode the stored parts (`polysemantic`)
    steps: tuple[str, ...] = field(default=())  # what runs after the template, for `--explain`

    @property
    def cypher(self) -> str:
        return self.template.text


class NeuronSearch:
    def __init__(self, db: str = DEFAULT_DB, write: bool = False) -> None:
        self.store: GraphStore = open_store(db, read_only=not write, create=False)
        self.engine = self.store.engine
        self._vocabularies: dict[tuple[str, str], Vocabulary] = {}
        self._roots = RootCache()  # text search: roots read (and tries rebuilt), kept for the next search
        try:
            self.store.check_layout()
        except N2GError:
            self.store.close()
            raise

    def __enter__(self) -> NeuronSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # -- the searches --------------------------------------------------------------------------------------------
    def activating(self, *tokens: str, context: Sequence[str] = (), exact: bool = False,
                   where: SearchFilter = SearchFilter(), limit: int = 20) -> pd.DataFrame:
        """Neurons that fire on every token given (and, with `context`, need every context token)."""
        return self.run(self.prepare_tokens(tokens, context, exact, where, limit))

    def context(self, *tokens: str, exact: bool = False, where: SearchFilter = SearchFilter(),
                limit: int = 20) -> pd.DataFrame:
        """Neurons whose graph needs every token given in its context."""
        return self.run(self.prepare_tokens((), tokens, exact, where, limit))

    def repeated_tokens(self, min_share: float = 0.0, where: SearchFilter = SearchFilter(),
                        limit: int = 20) -> pd.DataFrame:
        """In-context neurons: an activating token also in the context, highest share first."""
        return self.run(self.prepare_repeated(min_share, where, limit))

    def duplicates(self, mode: str = "similar", min_overlap: float = 0.9, cross_layer: bool = True,
                   where: SearchFilter = SearchFilter(), limit: int = 100,
                   min_correlation: float | None = MIN_CORRELATION) -> pd.DataFrame:
        """Neuron pairs with (nearly) the same token sets: `similar` (overlap / larger set) or `subset`
        (overlap / smaller set), on both the activating and the context sets; each candidate confirmed by how the
        two neurons co-activate (`correlation` of their activation samples >= `min_correlation`; None: report it
        without filtering). `context_overlap` is None where there is no context to compare."""
        return self.run(self.prepare_duplicates(mode, min_overlap, cross_layer, where, limit, min_correlation))

    def similar_to(self, neuron: str, model: str | None = None, where: SearchFilter = SearchFilter(),
                   limit: int = 20) -> pd.DataFrame:
        """The neurons most like one neuron (`L:N`), by Jaccard similarity of their token sets, with the
        correlation of their activation samples."""
        return self.run(self.prepare_similar(neuron, model, where, limit))

    def polysemantic(self, min_parts: int = 2, where: SearchFilter = SearchFilter(), limit: int = 20) -> pd.DataFrame:
        """Neurons whose graph falls into at least `min_parts` parts sharing no token, most parts and most even
        first; `parts` lists each part's activating tokens (`part_context`, `part_weights`: its context tokens and
        its training patterns)."""
        return self.run(self.prepare_polysemantic(min_parts, where, limit))

    def text(self, text: str | None = None, *, tokens: Sequence[str] | None = None, model: str | None = None,
             where: SearchFilter = SearchFilter(), per_token: int = 5, exhaustive: bool = False) -> pd.DataFrame:
        """For each token of `text`, the `per_token` neurons whose graph predicts firing there, strongest
        prediction first: a row per (position, neuron) with `predicted` (a fraction of the neuron's a_max), the
        `pattern` that matched and the `context` tokens it needed (`context_positions`: where they are), and the
        matched token's evidence (`hits`, `predictions`, `evidence`). `tokens`: the text already split into token
        texts (no tokenizer needed: keyed as the graphs key them). Candidates are picked per token by what their
        root can predict (`queries.text_search`); `exhaustive=True` matches every neuron with a root on a token of
        the text and returns every hit."""
        search, _ = self._text_search(text, tokens, model, where)
        return _frame(text_frame_rows(search.hits(_per_token(per_token), exhaustive), search.tokens))

    def verify_text(self, text: str, *, model: str | None = None, where: SearchFilter = SearchFilter(),
                    per_token: int = 5, device: str | None = None) -> TextVerification:
        """`text`, checked against the model: the store's model is loaded (its recorded spec) and run once over the
        text, stopped at the deepest stored layer. `frame`: the text search's rows with each neuron's `actual`
        activation and whether it `fired`, plus for each token the neurons that fired strongest without being
        predicted (`kind` "missed"); `summary`: the search's precision and recall of firing on this text over
        every stored neuron in the filters, beside the predicting graphs' own held-out precision."""
        search, record = self._text_search(text, None, model, where)
        settled = search.hits(_per_token(per_token), exhaustive=True)  # every hit: precision counts them all
        neurons = [StoredNeuron(str(r["id"]), int(r["layer"]), int(r["neuron"]), float(r["a_max"]),
                                _float(r.get("precision")), int(r["sign"] or 1))
                   for r in self.fitted_neurons(record.name, where)]
        actual = real_activations(record, search.tokens, neurons, device)
        checked = verify(settled, search.tokens, neurons, actual, record.activation_threshold, _per_token(per_token))
        return TextVerification(_frame(checked.rows), checked.summary)

    def fitted_neurons(self, model: str | None = None, where: SearchFilter = SearchFilter()) -> list[dict[str, Any]]:
        """The fitted neurons of `model` (None: the only model stored) within the layer and F1 filters: id, layer,
        neuron, a_max and held-out precision (what `verify_text` reads in its forward pass)."""
        return self.records(self.prepare("text_neurons", model=self.model_name(model), **_layer_params(where)))

    def neuron(self, neuron: str, model: str | None = None) -> pd.DataFrame:
        """One neuron's summary row, its graph as JSON among the columns."""
        return self.run(self.prepare_neuron(neuron, model))

    def graph(self, neuron: str, model: str | None = None) -> NeuronGraph:
        """One neuron's graph, exactly as fitted."""
        return graph_of(self.neuron(neuron, model))

    def model_record(self, model: str) -> dict[str, Any]:
        """The model spec and BOS policy the stored graphs of `model` were made with (`n2g predict --db`)."""
        recorded = self._settings(model)
        return {"model": recorded["model"], "prepend_bos": recorded["prepend_bos"]}

    def model_info(self, model: str | None = None) -> ModelRecord:
        """How the stored graphs of `model` (None: the only model stored) key tokens and predict, and the model
        spec they were made with."""
        name = self.model_name(model)
        return ModelRecord.of(name, self._settings(name))

    def _settings(self, model: str) -> dict[str, Any]:
        settings = self.store.model_settings(model)
        if settings is None:
            raise N2GError(f"{self.store.location} holds no graphs of model {model!r}")
        recorded: dict[str, Any] = json.loads(settings)
        return recorded

    def model_name(self, model: str | None) -> str:
        """`model`, checked to be stored; or the only model stored."""
        models = self.models()
        if model is not None:
            if model not in models:
                raise N2GError(f"model {model!r} is not in {self.store.location} (it has {models})")
            return model
        if len(models) != 1:
            raise N2GError(f"{self.store.location} holds several models ({', '.join(models)}): give --model"
                           if models else f"{self.store.location} holds no graphs")
        return models[0]

    def text_tokens(self, text: str, model: str | None = None) -> TextTokens:
        """`text` as `model`'s graphs see it: tokenised with its tokenizer (no weights loaded) and keyed with its
        `token_matching`."""
        check_text(text)
        record = self.model_info(model)
        vocabulary = self._vocabulary(record)
        ids = [int(i) for i in vocabulary.tokenizer(text, add_special_tokens=False)["input_ids"]]
        return TextTokens(vocabulary.texts(ids), vocabulary.keys(ids), ids)

    def _vocabulary(self, record: ModelRecord) -> Vocabulary:
        key = (record.spec, record.token_matching)
        if key not in self._vocabularies:
            from n2g.model.loading import load_tokenizer

            self._vocabularies[key] = Vocabulary(load_tokenizer(record.spec), record.token_matching)
        return self._vocabularies[key]

    def _text_search(self, text: str | None, tokens: Sequence[str] | None, model: str | None,
                     where: SearchFilter) -> tuple[TextSearch, ModelRecord]:
        if (text is None) == (tokens is None):
            raise N2GError("give the text, or its tokens, not both")
        record = self.model_info(model or where.model)
        if tokens is not None:
            if not tokens:
                raise N2GError("no tokens to search")
            split = TextTokens(list(tokens), [token_key(t, record.token_matching) for t in tokens])
        else:
            split = self.text_tokens(str(text), record.name)
        filters = replace(where, model=record.name).params()
        return TextSearch(self._template_rows, record, split, filters, self._roots), record

    def _template_rows(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.records(self.prepare(name, **params))

    def graph_nodes(self, neuron: str, model: str | None = None) -> pd.DataFrame:
        """One neuron's graph walked in the store: a row per node, with its parent."""
        return self.run(self.prepare("neuron_graph", id=self.neuron_id(neuron, model)))

    def best(self, per_layer: int = 10, where: SearchFilter = SearchFilter()) -> pd.DataFrame:
        """The best-scoring fitted neurons of each layer."""
        layers = self.run(self.prepare("layers", **where.params()))
        frames = [self.run(self.prepare("best_in_layer", layer=int(layer), **where.params(), limit=per_layer))
                  for layer in sorted(set(layers["layer"]))] if len(layers) else []
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def layers(self, where: SearchFilter = SearchFilter()) -> pd.DataFrame:
        return self.run(self.prepare("layers", **where.params()))

    def query(self, cypher: str, write: bool = False, **params: Any) -> pd.DataFrame:
        """Your own Cypher, values as parameters. A statement that writes is refused unless `write=True`
        (and the store was opened with `write=True`)."""
        count = statement_count(cypher)
        if count != 1:
            raise N2GError(f"give one Cypher statement at a time (this has {count}, separated by ';'); nothing was "
                           "run" if count else "no Cypher statement given")
        if writes(cypher) and not write:
            raise N2GError("this Cypher writes to the database (it has CREATE, MERGE, SET, DELETE, ...): "
                           "searching is read-only; pass --write to allow it")
        return pd.DataFrame(self.store.run_write(cypher, params)) if write else self.store.frame(cypher, params)

    # -- building blocks -------------------------------------------------------------------------------------------
    def prepare(self, name: str, **params: Any) -> PreparedQuery:
        chosen = template(self.engine, name)
        return PreparedQuery(chosen, chosen.bind(params))

    def run(self, prepared: PreparedQuery) -> pd.DataFrame:
        return pd.DataFrame(self.records(prepared))

    def records(self, prepared: PreparedQuery) -> list[dict[str, Any]]:
        """The rows as dicts: ranked ids joined in Python with their displayed columns (`neuron_rows`), one
        DataFrame built at the end (a pandas merge cost more than both queries of a token search)."""
        if prepared.matches_nothing:
            return []
        if prepared.correlate == "pairs" and prepared.min_correlation is not None:
            return self._confirmed_pairs(prepared)
        ranked = _plain_numbers(self.store.rows(prepared.cypher, prepared.params))
        if prepared.with_evidence and ranked:
            ranked = self._with_evidence(ranked)
        if prepared.with_parts:
            ranked = [_with_parts(row) for row in ranked]
        if prepared.correlate is not None and ranked:
            ranked = self._with_correlation(ranked, prepared.correlate)
        if not prepared.with_rows or not ranked:
            return ranked
        shown = {row["id"]: row for row in self.records(self.prepare("neuron_rows",
                                                                     ids=[str(r["id"]) for r in ranked]))}
        columns = next(iter(shown.values()), {"id": None}).keys()
        return [{**{c: shown.get(r["id"], {}).get(c) for c in columns}, **r} for r in ranked]

    def _with_evidence(self, ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per row: each matched token's evidence (`token_evidence`, hits/predictions; None where not measured), the
        pooled evidence, and the strongest patterns of each matched token (read by the roots' keys: `root_patterns`)."""
        roots = sorted({int(root) for r in ranked for root in r.get("roots") or []})
        found = self.records(self.prepare("root_patterns", roots=roots))
        patterns = {int(row["root"]): row["patterns"] for row in found}
        out = []
        for row in ranked:
            row = dict(row)
            texts, ids = row.get("matched") or [], row.pop("roots", None) or []
            hits, predictions = row.pop("token_hits", None) or [], row.pop("token_predictions", None) or []
            per_token = [None if p is None or p < 0 else f"{h}/{p}" for h, p in zip(hits, predictions)]
            shown = [pattern for text, root in zip(texts, ids)
                     for pattern in root_patterns(text, patterns.get(int(root)), PATTERNS_SHOWN)]
            pooled_hits, pooled = int(row.get("hits") or 0), int(row.get("predictions") or 0)
            out.append({**row, "hits": pooled_hits, "predictions": pooled,
                        "evidence": pooled_hits / pooled if pooled else None, "token_evidence": per_token,
                        "patterns": shown})
        return out

    def _samples(self, ids: Sequence[str]) -> dict[str, str | None]:
        rows = self.records(self.prepare("activation_samples", ids=sorted(set(ids))))
        return {str(r["id"]): r.get("sample") for r in rows}

    def _with_correlation(self, rows: list[dict[str, Any]], correlate: str) -> list[dict[str, Any]]:
        """`correlation`: of each pair's (`correlate="pairs"`) or each row's and one neuron's activation samples."""
        if correlate == "pairs":
            samples = self._samples([str(r["id"]) for r in rows] + [str(r["other_id"]) for r in rows])
            return [{**r, "correlation": _rounded(correlation(samples.get(str(r["id"])),
                                                              samples.get(str(r["other_id"]))))} for r in rows]
        samples = self._samples([correlate, *(str(r["id"]) for r in rows)])
        return [{**r, "correlation": _rounded(correlation(samples.get(correlate), samples.get(str(r["id"]))))}
                for r in rows]

    def _confirmed_pairs(self, prepared: PreparedQuery) -> list[dict[str, Any]]:
        """Duplicate candidates confirmed by co-activation, up to the limit: the template is asked for more rows
        than the limit, as many as confirmation needs (four times more each time some were dropped)."""
        limit = int(prepared.params["limit"])
        fetch = limit + 50
        while True:
            rows = self.records(replace(prepared, min_correlation=None,
                                        params={**prepared.params, "limit": fetch}))
            kept = [r for r in rows if r["correlation"] is None or r["correlation"] >= (prepared.min_correlation or 0)]
            if len(kept) >= limit or len(rows) < fetch:
                return kept[:limit]
            fetch *= 4

    def prepare_tokens(self, activating: Sequence[str], context: Sequence[str], exact: bool, where: SearchFilter,
                       limit: int) -> PreparedQuery:
        """One token, or one of each kind: entered by their keys (the fast path); more: every stored text each
        stands for, through UNWIND."""
        if not activating and not context:
            raise N2GError("give at least one activating or context token")
        for token in (*activating, *context):
            if token == "":
                raise N2GError("an empty token matches nothing: give the token's text, e.g. import or ' import'")
        activating, context = _distinct(activating, exact), _distinct(context, exact)  # a token given twice: once
        if len(activating) + len(context) == 1:
            token = (*activating, *context)[0]
            prepared = self.prepare("activating_token" if activating else "context_token", key=normalise_token(token),
                                    exact=exact, text=token, **where.params(), limit=limit)
            return replace(prepared, with_rows=True, with_evidence=bool(activating),
                           steps=_token_steps(bool(activating)))
        if len(activating) == 1 and len(context) == 1:
            prepared = self.prepare("activating_with_context_token", key=normalise_token(activating[0]),
                                    context_key=normalise_token(context[0]), exact=exact, text=activating[0],
                                    context_text=context[0], **where.params(), limit=limit)
            return replace(prepared, with_rows=True, with_evidence=True, steps=_token_steps(True))
        acts, ctx = self.token_slots(activating, exact), self.token_slots(context, exact)
        if activating and context:
            prepared = self.prepare("activating_with_context", tokens=acts, slots=len(activating),
                                    context_tokens=ctx, context_slots=len(context), **where.params(), limit=limit)
        else:
            prepared = self.prepare("activating_tokens" if activating else "context_tokens", tokens=acts or ctx,
                                    slots=len(activating or context), **where.params(), limit=limit)
        unmatched = {s["slot"] for s in acts} != set(range(len(activating))) or \
            {s["slot"] for s in ctx} != set(range(len(context)))
        return replace(prepared, matches_nothing=unmatched, with_rows=True, with_evidence=bool(activating),
                       steps=_token_steps(bool(activating)))

    def token_slots(self, tokens: Sequence[str], exact: bool) -> list[dict[str, Any]]:
        """Each searched token as the stored texts it stands for: {text, slot}."""
        if exact:
            return [{"text": token, "slot": i} for i, token in enumerate(tokens)]
        keys = [normalise_token(token) for token in tokens]
        found = self.run(self.prepare("token_texts", keys=sorted(set(keys))))
        texts: dict[str, list[str]] = {}
        for key, text in zip(found.get("key", []), found.get("text", [])):
            texts.setdefault(key, []).append(text)
        return [{"text": text, "slot": i} for i, key in enumerate(keys) for text in sorted(texts.get(key, []))]

    def prepare_repeated(self, min_share: float, where: SearchFilter, limit: int) -> PreparedQuery:
        return self.prepare("repeated_token", min_share=float(min_share), **where.params(), limit=limit)

    def prepare_similar(self, neuron: str, model: str | None, where: SearchFilter, limit: int) -> PreparedQuery:
        nid = self.neuron_id(neuron, model)
        prepared = self.prepare("similar_to", id=nid, **where.params(), limit=limit)
        return replace(prepared, correlate=nid, steps=("activation_samples: the correlation of each row's activation "
                                                       "sample with the neuron's",))

    def prepare_polysemantic(self, min_parts: int, where: SearchFilter, limit: int) -> PreparedQuery:
        if int(min_parts) < 2:
            raise N2GError(f"--min-parts must be 2 or more (a graph in one part is not polysemantic), got {min_parts}")
        return replace(self.prepare("polysemantic", min_parts=int(min_parts), **where.params(), limit=limit),
                       with_parts=True)

    def prepare_text(self, text: str | None, tokens: Sequence[str] | None, model: str | None, where: SearchFilter,
                     per_token: int) -> PreparedQuery:
        """The first candidate query of a text search (what `--explain` prints)."""
        search, _ = self._text_search(text, tokens, model, where)
        fetch = _per_token(per_token) + FIRST_FETCH
        return replace(self.prepare("text_candidates", **search.candidate_params(list(search.positions), fetch)),
                       steps=("text_roots (queries/templates/text_roots.cypher) for the roots it names (those not read "
                              "by an earlier search), the filters applied to their neurons",
                              "each candidate's root trie is rebuilt from `patterns` and matched at every position of "
                              "its token by n2g.graphs.prediction.GraphMatcher.explain; a token with a position that "
                              "found fewer than --per-token hits is asked again for 4 times as many"))

    def prepare_neuron(self, neuron: str, model: str | None) -> PreparedQuery:
        return self.prepare("neuron", id=self.neuron_id(neuron, model))

    def prepare_duplicates(self, mode: str, min_overlap: float, cross_layer: bool, where: SearchFilter,
                           limit: int, min_correlation: float | None = MIN_CORRELATION) -> PreparedQuery:
        if mode not in DUPLICATE_MODES:
            raise N2GError(f"unknown duplicate mode {mode!r} (choose from {', '.join(DUPLICATE_MODES)})")
        if not 0.0 < min_overlap <= 1.0:
            raise N2GError(f"--min-overlap must be in (0, 1], got {min_overlap}")
        if mode == "similar" and min_overlap < SIMILAR_FLOOR:
            raise N2GError(f"--mode similar finds its candidates through MinHash bands, which catch every pair only "
                           f"from --min-overlap {SIMILAR_FLOOR}; for lower thresholds use --mode subset (exact "
                           "candidates; every similar pair is also a subset pair)")
        if min_correlation is not None and not -1.0 <= min_correlation <= 1.0:
            raise N2GError(f"--min-correlation must be in [-1, 1], got {min_correlation}")
        prepared = self.prepare(f"duplicates_{mode}", min_overlap=float(min_overlap), cross_layer=cross_layer,
                                **where.params(), limit=limit)
        confirm = ("" if min_correlation is None else
                   f"; pairs below {min_correlation} are dropped (the template is asked for more rows as needed)")
        return replace(prepared, correlate="pairs", min_correlation=min_correlation,
                       steps=("activation_samples: each pair's correlation of activation samples" + confirm,))

    def neuron_id(self, neuron: str, model: str | None) -> str:
        """`L:N` (of `model`, or of the only model stored) as a stored neuron id; unknown neurons fail here."""
        from n2g.specs import parse_neuron_id

        layer, index, sign = parse_neuron_id(neuron)
        models = [m for m in self.models() if model is None or m == model]
        if not models:
            raise N2GError(f"model {model!r} is not in {self.store.location} (it has {self.models()})")
        if len(models) > 1:
            raise N2GError(f"{self.store.location} holds several models ({', '.join(models)}): give --model")
        nid = schema.neuron_id(models[0], layer, index, sign)
        if not self.store.stored_neurons([nid]):
            raise N2GError(f"neuron {neuron.strip()} of {models[0]} is not in {self.store.location}")
        return nid

    def models(self) -> list[str]:
        return [str(name) for name in self.run(self.prepare("models")).get("name", [])]


@dataclass
class TextVerification:
    """`NeuronSearch.verify_text`: the rows, and the search's precision and recall on the text (`summary`)."""

    frame: pd.DataFrame
    summary: dict[str, Any]


def real_activations(record: ModelRecord, tokens: TextTokens, neurons: Sequence[StoredNeuron],
                     device: str | None = None) -> dict[str, Any]:
    """Neuron id -> [tokens] real activation x sign / a_max over the text (a negative graph's a_max is of the
    negated neuron): the store's model loaded and run once, stopped at the deepest layer of `neurons`
    (`n2g.model.probe.LayerProbe.layers_neurons`)."""
    import torch

    from n2g.model.loading import load_model
    from n2g.model.probe import LayerProbe

    if tokens.ids is None:
        raise N2GError("--verify needs the text itself (token texts alone cannot be run through the model)")
    if not neurons:
        return {}
    try:
        model = load_model(record.spec, device=device, prepend_bos=record.prepend_bos)
    except N2GError as err:
        raise N2GError(f"--verify: cannot load the store's model {record.spec!r}: {err}") from err
    except Exception as err:  # whatever a damaged or foreign checkpoint raises: one line, not a traceback
        raise N2GError(f"--verify: cannot load the store's model {record.spec!r}: {type(err).__name__}: "
                       f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err
    by_layer: dict[int, list[StoredNeuron]] = {}
    for neuron in neurons:
        if not 0 <= neuron.layer < model.n_layers or not 0 <= neuron.neuron < model.d_mlp:
            raise N2GError(f"--verify: neuron {neuron.layer}:{neuron.neuron} is not in {record.spec} "
                           f"({model.n_layers} layers of {model.d_mlp} neurons)")
        by_layer.setdefault(neuron.layer, []).append(neuron)
    ids = torch.tensor([tokens.ids], dtype=torch.long)
    probe = LayerProbe(model, max(by_layer), token_budget=len(tokens.ids) + 1)
    values = probe.layers_neurons(ids, torch.tensor([len(tokens.ids)]),
                                  {layer: [n.neuron for n in group] for layer, group in by_layer.items()}, "verify")
    return {n.id: n.sign * values[layer][0, :, j].numpy() / n.a_max
            for layer, group in by_layer.items() for j, n in enumerate(group)}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as they are (object columns): counts stay integers beside the missing ones of other rows."""
    return pd.DataFrame(rows, dtype=object)


def _per_token(per_token: int) -> int:
    if int(per_token) < 1:
        raise N2GError(f"--per-token must be 1 or more, got {per_token}")
    return int(per_token)


def _layer_params(where: SearchFilter) -> dict[str, Any]:
    params = where.params()
    return {k: params[k] for k in ("any_layer", "layers", "any_sign", "sign", "min_f1")}


def _distinct(tokens: Sequence[str], exact: bool) -> list[str]:
    """The searched tokens less repeats (by their key, or their text when exact)."""
    seen: dict[str, str] = {}
    for token in tokens:
        seen.setdefault(token if exact else normalise_token(token), token)
    return list(seen.values())


def _token_steps(activating: bool) -> tuple[str, ...]:
    steps = ("neuron_rows (queries/templates/neuron_rows.cypher) for the ids it returns",)
    evidence = "root_patterns (queries/templates/root_patterns.cypher) for the matched tokens' patterns"
    return (*steps, evidence) if activating else steps


def _with_parts(row: dict[str, Any]) -> dict[str, Any]:
    """The stored parts (JSON) as three aligned lists: each part's activating tokens, context tokens, weight."""
    parts = json.loads(row.get("parts") or "[]")
    return {**row, "parts": [p["activating"] for p in parts], "part_context": [p["context"] for p in parts],
            "part_weights": [p["weight"] for p in parts]}


def _plain_numbers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LadybugDB sums integers as a Decimal: back to an int (or float), in the columns the first row shows it."""
    decimal = [name for name, value in (rows[0].items() if rows else ()) if isinstance(value, Decimal)]
    for row in rows if decimal else ():
        for name in decimal:
            value = row[name]
            if isinstance(value, Decimal):
                row[name] = int(value) if value == value.to_integral_value() else float(value)
    return rows


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _float(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def graph_of(summary: pd.DataFrame) -> NeuronGraph:
    """The graph in a `neuron` summary row, exactly as fitted."""
    return NeuronGraph.from_json(summary["graph_json"].iloc[0])
