"""The Python search API: every search of `n2g-search` as a function returning a pandas DataFrame, plus
`query(cypher, **params)` for your own Cypher.

    from queries.search import NeuronSearch, SearchFilter
    with NeuronSearch("n2g.lbdb") as search:
        search.activating("import")                                  # neurons that fire on ` import`, `import`, ...
        search.activating("import", context=["from"], where=SearchFilter(layers=[0, 1, 2], min_f1=0.5))
        search.repeated_tokens()                                     # in-context neurons
        search.duplicates(mode="similar", min_overlap=0.9)           # cross-layer duplicate pairs
        search.query("MATCH (n:Neuron) WHERE n.layer = $layer RETURN count(n) AS n", layer=3)

Token matching uses graph building's normalisation (`n2g.model.token_keys`): `import` finds the neurons that fire on
` import` or `Import` too; `exact=True` matches the stored token text only. The embedded store is opened
read-only, so searching works while an ingest is writing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import pandas as pd

from ingest import schema
from ingest.store import DEFAULT_DB, GraphStore, open_store
from n2g.errors import N2GError
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.model.token_keys import normalise_token
from queries.templates import Template, template

DuplicateMode = Literal["similar", "subset"]  # overlap / larger set, or / smaller set
DUPLICATE_MODES: tuple[DuplicateMode, ...] = get_args(DuplicateMode)
# Overlap >= 0.9 of the larger set on both sets means Jaccard >= 0.82 on their union, where 20 bands of 5 rows
# give a candidate with probability > 0.9999 (`ingest.graph_facts`); lower, recall falls (0.94 at 0.8).
SIMILAR_FLOOR = 0.9
# Clauses that change a database; a user's Cypher with one of them needs `write=True` (`--write`).
_WRITES = re.compile(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|COPY|ALTER|INSTALL|LOAD|IMPORT|CHECKPOINT|"
                     r"DETACH|FOREACH|BEGIN|COMMIT|EXPORT|ATTACH|USE)\b", re.IGNORECASE)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class SearchFilter:
    """What every search can be narrowed to: one model, some layers, a lowest held-out F1."""

    model: str | None = None
    layers: Sequence[int] | None = None
    min_f1: float | None = None

    def params(self) -> dict[str, Any]:
        return {"any_model": self.model is None, "model": self.model or "",
                "any_layer": self.layers is None, "layers": [int(x) for x in self.layers or []],
                "min_f1": -1.0 if self.min_f1 is None else float(self.min_f1)}


def writes(cypher: str) -> bool:
    """Whether a statement has a clause that writes (string literals and comments ignored)."""
    return bool(_WRITES.search(_STRINGS.sub(" ", cypher)))


@dataclass(frozen=True)
class PreparedQuery:
    """A template with its parameters: what runs, or what `--explain` prints."""

    template: Template
    params: dict[str, Any]
    matches_nothing: bool = False  # a searched token is in no graph: the answer is empty without asking
    with_rows: bool = False  # the template ranks neuron ids; `neuron_rows` adds their columns afterwards

    @property
    def cypher(self) -> str:
        return self.template.text


class NeuronSearch:
    def __init__(self, db: str = DEFAULT_DB, write: bool = False) -> None:
        self.store: GraphStore = open_store(db, read_only=not write, create=False)
        self.engine = self.store.engine
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
                   where: SearchFilter = SearchFilter(), limit: int = 100) -> pd.DataFrame:
        """Neuron pairs with (nearly) the same token sets: `similar` (overlap / larger set) or `subset`
        (overlap / smaller set), on both the activating and the context sets."""
        return self.run(self.prepare_duplicates(mode, min_overlap, cross_layer, where, limit))

    def similar_to(self, neuron: str, model: str | None = None, where: SearchFilter = SearchFilter(),
                   limit: int = 20) -> pd.DataFrame:
        """The neurons most like one neuron (`L:N`), by Jaccard similarity of their token sets."""
        return self.run(self.prepare_similar(neuron, model, where, limit))

    def neuron(self, neuron: str, model: str | None = None) -> pd.DataFrame:
        """One neuron's summary row, its graph as JSON among the columns."""
        return self.run(self.prepare_neuron(neuron, model))

    def graph(self, neuron: str, model: str | None = None) -> NeuronGraph:
        """One neuron's graph, exactly as fitted."""
        return graph_of(self.neuron(neuron, model))

    def model_record(self, model: str) -> dict[str, Any]:
        """The model spec and BOS policy the stored graphs of `model` were made with (`n2g predict --db`)."""
        settings = self.store.model_settings(model)
        if settings is None:
            raise N2GError(f"{self.store.location} holds no graphs of model {model!r}")
        recorded = json.loads(settings)
        return {"model": recorded["model"], "prepend_bos": recorded["prepend_bos"]}

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
        ranked = self.store.rows(prepared.cypher, prepared.params)
        if not prepared.with_rows or not ranked:
            return ranked
        shown = {row["id"]: row for row in self.records(self.prepare("neuron_rows",
                                                                     ids=[str(r["id"]) for r in ranked]))}
        columns = next(iter(shown.values()), {"id": None}).keys()
        return [{**{c: shown.get(r["id"], {}).get(c) for c in columns}, **r} for r in ranked]

    def prepare_tokens(self, activating: Sequence[str], context: Sequence[str], exact: bool, where: SearchFilter,
                       limit: int) -> PreparedQuery:
        """One token, or one of each kind: entered by their keys (the fast path); more: every stored text each
        stands for, through UNWIND."""
        if not activating and not context:
            raise N2GError("give at least one activating or context token")
        for token in (*activating, *context):
            if token == "":
                raise N2GError("an empty token matches nothing: give the token's text, e.g. import or ' import'")
        if len(activating) + len(context) == 1:
            token = (*activating, *context)[0]
            prepared = self.prepare("activating_token" if activating else "context_token", key=normalise_token(token),
                                    exact=exact, text=token, **where.params(), limit=limit)
            return replace(prepared, with_rows=True)
        if len(activating) == 1 and len(context) == 1:
            prepared = self.prepare("activating_with_context_token", key=normalise_token(activating[0]),
                                    context_key=normalise_token(context[0]), exact=exact, text=activating[0],
                                    context_text=context[0], **where.params(), limit=limit)
            return replace(prepared, with_rows=True)
        acts, ctx = self.token_slots(activating, exact), self.token_slots(context, exact)
        if activating and context:
            prepared = self.prepare("activating_with_context", tokens=acts, slots=len(activating),
                                    context_tokens=ctx, context_slots=len(context), **where.params(), limit=limit)
        else:
            prepared = self.prepare("activating_tokens" if activating else "context_tokens", tokens=acts or ctx,
                                    slots=len(activating or context), **where.params(), limit=limit)
        unmatched = {s["slot"] for s in acts} != set(range(len(activating))) or \
            {s["slot"] for s in ctx} != set(range(len(context)))
        return replace(prepared, matches_nothing=unmatched, with_rows=True)

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
        return self.prepare("similar_to", id=self.neuron_id(neuron, model), **where.params(), limit=limit)

    def prepare_neuron(self, neuron: str, model: str | None) -> PreparedQuery:
        return self.prepare("neuron", id=self.neuron_id(neuron, model))

    def prepare_duplicates(self, mode: str, min_overlap: float, cross_layer: bool, where: SearchFilter,
                           limit: int) -> PreparedQuery:
        if mode not in DUPLICATE_MODES:
            raise N2GError(f"unknown duplicate mode {mode!r} (choose from {', '.join(DUPLICATE_MODES)})")
        if not 0.0 < min_overlap <= 1.0:
            raise N2GError(f"--min-overlap must be in (0, 1], got {min_overlap}")
        if mode == "similar" and min_overlap < SIMILAR_FLOOR:
            raise N2GError(f"--mode similar finds its candidates through MinHash bands, which catch every pair only "
                           f"from --min-overlap {SIMILAR_FLOOR}; for lower thresholds use --mode subset (exact "
                           "candidates; every similar pair is also a subset pair)")
        return self.prepare(f"duplicates_{mode}", min_overlap=float(min_overlap), cross_layer=cross_layer,
                            **where.params(), limit=limit)

    def neuron_id(self, neuron: str, model: str | None) -> str:
        """`L:N` (of `model`, or of the only model stored) as a stored neuron id; unknown neurons fail here."""
        from n2g.specs import parse_neuron_id

        layer, index = parse_neuron_id(neuron)
        models = [m for m in self.models() if model is None or m == model]
        if not models:
            raise N2GError(f"model {model!r} is not in {self.store.location} (it has {self.models()})")
        if len(models) > 1:
            raise N2GError(f"{self.store.location} holds several models ({', '.join(models)}): give --model")
        nid = schema.neuron_id(models[0], layer, index)
        if not self.store.stored_neurons([nid]):
            raise N2GError(f"neuron {layer}:{index} of {models[0]} is not in {self.store.location}")
        return nid

    def models(self) -> list[str]:
        return [str(name) for name in self.run(self.prepare("models")).get("name", [])]


def graph_of(summary: pd.DataFrame) -> NeuronGraph:
    """The graph in a `neuron` summary row, exactly as fitted."""
    return NeuronGraph.from_json(summary["graph_json"].iloc[0])
