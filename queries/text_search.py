"""Text search: for each token of a text, the neurons whose graph predicts firing there.

Computed from the store alone. The text is tokenised with the store's model's tokenizer (weights are not loaded) and
each token keyed as the graphs key tokens (`n2g.model.token_keys`, with the model's recorded `token_matching`), so a
token here is exactly what a graph's root is compared with when it is scored. The token index (`Token`, entered by
the keys) gives the candidates: neurons with a root on a token of the text (`text_candidates`). Each candidate edge
names its root (`ACTIVATES_ON.root`), which holds the root's complete patterns (`GraphNode.patterns`, read by
`text_roots`); the root's trie is rebuilt from them (`TrieNode.from_patterns`) and matched at every position of its
token by the graphs' own matcher (`GraphMatcher.explain`), which says which pattern decided. Search and scoring are
one computation, so a hit here is a position where scoring the graph on this text would count a predicted firing.

Ranking, per position: the predicted activation (a fraction of the neuron's a_max), then the root's evidence
(hits / predictions at fit time, add-one smoothed), then the id; at most `per_token` rows. A common token is a root
of thousands of neurons, too many to match them all in a search: the candidates of a token are those whose root can
predict most (the `per_token + 2` strongest by `max_end`, the largest end of its patterns) and those whose token
alone predicts most (as many by `bare_end`, a prediction that needs no context), picked in the store
(`text_candidates`: numbers read along the token's edges; `text_roots`: each root's neuron and patterns, read by key
and kept for the next search); a token with a position that found fewer hits than `per_token` while it has more
neurons is asked again for four times as many. Every row is a real prediction of its graph, and a token with few
neurons is searched exhaustively; among thousands, a neuron outside both orders can predict more than the weakest
row shown (on the 50k-neuron synthetic store, 97.5% of the exhaustive top-5 rows are found; a rank's prediction is
on average 0.0005 of a_max below the exhaustive one, at most 0.11). `exhaustive=True` matches every neuron of every
token (what `--verify` scores).

`--verify` (`verify`) runs the model once over the text, stopped at the deepest layer it needs, and puts each hit's
real activation beside its prediction, adds the neurons that fired strongest on each token without being predicted,
and scores the search itself on this text (precision and recall of firing over every stored neuron in the filters).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest import schema
from n2g.errors import N2GError
from n2g.graphs.neuron_graph import GAP, TrieNode
from n2g.graphs.prediction import GraphMatcher, PatternMatch

MAX_TEXT_CHARS = 20_000  # about 5,000 tokens of English or code; a verify pass over that is seconds on a CPU
MAX_TEXT_TOKENS = 4096
FIRST_FETCH = 2  # candidates fetched per token at first, beyond the rows wanted per position
Rows = list[dict[str, Any]]
RunTemplate = Callable[[str, dict[str, Any]], Rows]  # (template name, parameters) -> rows


@dataclass(frozen=True)
class TextTokens:
    """A text as the graphs see it: per token its display text and its key (what matching compares)."""

    texts: list[str]
    keys: list[str]
    ids: list[int] | None = None  # token ids, when a tokenizer made them (`--verify` runs the model on them)


@dataclass(frozen=True)
class ModelRecord:
    """What text search needs to know of the stored model: how its graphs key tokens and predict."""

    name: str
    spec: str  # the model spec the graphs were made with (`n2g.model.loading.load_model`)
    prepend_bos: bool
    token_matching: str
    prediction: str  # "best" | "longest": which complete match decides
    activation_threshold: float

    @classmethod
    def of(cls, name: str, settings: Mapping[str, Any]) -> ModelRecord:
        fit = settings.get("fit") or {}
        return cls(name=name, spec=str(settings.get("model", name)), prepend_bos=bool(settings.get("prepend_bos")),
                   token_matching=str(fit.get("token_matching", "exact")),
                   prediction=str(fit.get("prediction", "best")),
                   activation_threshold=float(fit.get("activation_threshold", 0.5)))


@dataclass(frozen=True)
class Hit:
    """A position where a neuron's graph predicts firing, with the match that decided."""

    position: int
    candidate: Candidate
    match: PatternMatch

    @property
    def predicted(self) -> float:
        return self.match.activation

    def rank_key(self) -> tuple[float, float, str]:
        return (-self.predicted, -self.candidate.support, self.candidate.id)


@dataclass
class Candidate:
    """One candidate edge: a neuron with a root on a token of the text."""

    token: str  # the key
    id: str
    max_end: float
    bare_end: float | None
    patterns: str  # JSON, `ingest.graph_facts.root_facts` (`GraphNode.patterns`)
    hits: int
    predictions: int
    stored: StoredRoot | None = field(default=None, repr=False)  # where the rebuilt trie is kept between searches

    @classmethod
    def of(cls, edge: Mapping[str, Any], root: StoredRoot) -> Candidate:
        """From a `text_candidates` row (the edge) and its root."""
        return cls(token=edge["token"], id=root.id, max_end=float(edge["max_end"]), bare_end=_number(edge["bare_end"]),
                   patterns=root.patterns, hits=int(edge.get("hits") or 0),
                   predictions=int(edge.get("predictions") or 0), stored=root)

    @property
    def layer(self) -> int:
        return schema.neuron_ref(self.id).layer

    @property
    def neuron(self) -> int:
        return schema.neuron_ref(self.id).neuron

    @property
    def support(self) -> float:
        """The evidence as ranking uses it: add-one smoothed hits / predictions."""
        return (1.0 + self.hits) / (2.0 + self.predictions)

    @property
    def evidence(self) -> float | None:
        return self.hits / self.predictions if self.predictions else None

    def root(self) -> TrieNode:
        """The root's trie, rebuilt from its patterns (once per stored root)."""
        if self.stored is not None and self.stored.trie is not None:
            return self.stored.trie
        trie = TrieNode.from_patterns(self.token, [(end, steps) for end, steps in json.loads(self.patterns)])
        if self.stored is not None:
            self.stored.trie = trie
        return trie

    def bare_decides(self, prediction: str) -> bool:
        """Whether the root's own end decides at every position, so that matching needs no trie: under the `best`
        rule, when the token alone is its strongest pattern (`GraphMatcher` keeps the root's end unless a longer
        match is strictly stronger, and none is)."""
        return prediction == "best" and self.bare_end is not None and self.bare_end >= self.max_end


@dataclass
class StoredRoot:
    """A root as `text_roots` reads it: its neuron (and what the filters need) and its patterns; the trie rebuilt
    from them once needed, kept with it."""

    id: str
    model: str
    layer: int
    f1: float | None
    patterns: str
    trie: TrieNode | None = None
    sign: int = 1

    def passes(self, filters: Mapping[str, Any]) -> bool:
        """`SearchFilter.params()` applied here (the same test as every template's WHERE)."""
        return ((filters["any_model"] or self.model == filters["model"])
                and (filters["any_layer"] or self.layer in filters["layers"])
                and (filters["any_sign"] or self.sign == filters["sign"])
                and (-1.0 if self.f1 is None else self.f1) >= filters["min_f1"])


class RootCache:
    """Roots already read, by GraphNode id, the least recently used dropped beyond `limit`: a root's facts never
    change once stored, and common tokens bring the same roots back search after search."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._roots: OrderedDict[int, StoredRoot] = OrderedDict()

    def get(self, run: RunTemplate, ids: Sequence[int]) -> dict[int, StoredRoot]:
        missing = sorted({i for i in ids if i not in self._roots})
        if missing:
            for row in run("text_roots", {"roots": missing}):
                self._roots[int(row["root"])] = StoredRoot(str(row["id"]), str(row["model"]), int(row["layer"]),
                                                           _number(row.get("f1")), row["patterns"] or "[]",
                                                           sign=int(row.get("sign") or 1))
        found = {}
        for i in ids:
            root = self._roots.get(i)
            if root is not None:
                self._roots.move_to_end(i)
                found[i] = root
        while len(self._roots) > self.limit:
            self._roots.popitem(last=False)
        return found


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def check_text(text: str) -> None:
    """Refuse, in one line, text that cannot be searched."""
    if not text:
        raise N2GError("no text to search: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise N2GError(f"the text is {len(text):,} characters; text search takes at most {MAX_TEXT_CHARS:,} "
                       "(search a passage of it)")


def check_tokens(tokens: TextTokens) -> None:
    if not tokens.keys:
        raise N2GError("no tokens to search: the text tokenises to nothing")
    if len(tokens.keys) > MAX_TEXT_TOKENS:
        raise N2GError(f"the text is {len(tokens.keys):,} tokens; text search takes at most {MAX_TEXT_TOKENS:,}")


class TextSearch:
    """One text's search over one model's graphs: candidates fetched and confirmed, hits ranked."""

    def __init__(self, run: RunTemplate, record: ModelRecord, tokens: TextTokens, filters: dict[str, Any],
                 roots: RootCache | None = None) -> None:
        check_tokens(tokens)
        self.run, self.record, self.tokens, self.filters = run, record, tokens, filters
        self.roots = roots if roots is not None else RootCache()
        self.positions: dict[str, list[int]] = {}
        for t, key in enumerate(tokens.keys):
            self.positions.setdefault(key, []).append(t)

    def candidate_params(self, keys: Sequence[str], fetch: int) -> dict[str, Any]:
        return {"tokens": list(keys), "per_token": int(fetch)}

    def candidates(self, keys: Sequence[str], fetch: int) -> tuple[list[Candidate], set[str]]:
        """The picked edges of these tokens (`text_candidates`: numbers read along the edges), with their roots'
        neurons and patterns (`text_roots`: read by key, kept for the next search), within the filters; and the
        tokens whose edges were not all taken."""
        edges = self.run("text_candidates", self.candidate_params(keys, fetch))
        truncated = {row["token"] for row in edges if float(row["floor"]) >= 0}
        roots = self.roots.get(self.run, [int(edge["root"]) for edge in edges])
        picked = []
        for edge in edges:
            root = roots.get(int(edge["root"]))
            if root is not None and root.passes(self.filters):
                picked.append(Candidate.of(edge, root))
        return picked, truncated

    def _confirm(self, candidates: Sequence[Candidate]) -> dict[int, list[Hit]]:
        """Each candidate matched at every position of its token: the hits, by position. A root whose bare token is
        its strongest pattern predicts that everywhere under the `best` rule (`Candidate.bare_decides`): its match
        is written down without building the trie (`test_text_search` checks it against the matcher)."""
        found: dict[int, list[Hit]] = {}
        threshold = self.record.activation_threshold
        for candidate in candidates:
            positions = self.positions[candidate.token]
            if candidate.bare_decides(self.record.prediction):
                root = TrieNode(key=candidate.token, token=candidate.token, end_activation=candidate.max_end)
                matches = [PatternMatch(t, root, (), candidate.max_end) for t in positions]
            else:
                matcher = GraphMatcher.for_roots([candidate.root()], self.record.prediction)
                matches = matcher.explain(self.tokens.keys, positions)
            for match in matches:
                if match.activation >= threshold:
                    found.setdefault(match.position, []).append(Hit(match.position, candidate, match))
        return found

    def hits(self, per_token: int, exhaustive: bool = False) -> dict[int, list[Hit]]:
        """The ranked hits of every position, at most `per_token` each. Candidates per token: the `per_token + 2`
        strongest by `max_end` and by `bare_end` (`text_candidates`), four times as many again for a token with a
        position that found fewer hits than `per_token` while it has more neurons. `exhaustive`: every neuron with a
        root on a token of the text is matched, and every hit kept (`per_token` is then ignored)."""
        keys = list(self.positions)
        fetch = 1 << 62 if exhaustive else per_token + FIRST_FETCH
        settled: dict[int, list[Hit]] = {}
        while keys:
            candidates, truncated = self.candidates(keys, fetch)
            found = self._confirm(candidates)
            short = []
            for key in keys:
                for t in self.positions[key]:
                    ranked = sorted(found.get(t, []), key=Hit.rank_key)
                    settled[t] = ranked if exhaustive else ranked[:per_token]
                    if key in truncated and len(ranked) < per_token and key not in short:
                        short.append(key)
            keys = short
            fetch *= 4
        return {t: hits for t, hits in settled.items() if hits}


def hit_row(hit: Hit, tokens: TextTokens) -> dict[str, Any]:
    """One result row: where, which neuron, what it predicts, the pattern that matched and its evidence."""
    c, match = hit.candidate, hit.match
    context = sorted(match.context())
    return {"position": hit.position, "token": tokens.texts[hit.position], "id": c.id, "layer": c.layer,
            "neuron": c.neuron, "predicted": round(hit.predicted, 6), "pattern": matched_pattern(match, tokens),
            "context": [tokens.texts[p] for p, _ in context], "context_positions": [p for p, _ in context],
            "hits": c.hits, "predictions": c.predictions, "evidence": c.evidence}


def pattern_tokens(token: str, steps: Sequence[str | None]) -> list[str | None]:
    """A pattern in reading order: its context steps (given nearest first, None for a gap) reversed, then the
    activating token. Tables show it as `n2g show` does, gaps as `*`: `␣from * ␣import`."""
    return [*reversed(steps), token]


def matched_pattern(match: PatternMatch, tokens: TextTokens) -> list[str | None]:
    """The pattern that matched, with the text's own tokens at the positions it covered."""
    return pattern_tokens(tokens.texts[match.position],
                          [None if step.node.kind == GAP else tokens.texts[step.first] for step in match.steps])


def root_patterns(key: str, patterns_json: str | None, limit: int) -> list[list[str | None]]:
    """A root's strongest `limit` patterns (`ACTIVATES_ON.patterns`) in reading order: the context each needs."""
    if not patterns_json:
        return []
    return [pattern_tokens(key, steps) for _, steps in json.loads(patterns_json)[:limit]]


def text_frame_rows(settled: Mapping[int, Sequence[Hit]], tokens: TextTokens,
                    per_token: int | None = None) -> Rows:
    rows: Rows = []
    for t in sorted(settled):
        ranked = settled[t] if per_token is None else settled[t][:per_token]
        rows.extend(hit_row(hit, tokens) for hit in ranked)
    return rows


# -- verification ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredNeuron:
    id: str
    layer: int
    neuron: int
    a_max: float
    precision: float | None
    sign: int = 1


@dataclass
class Verification:
    """The search scored on this text: every predicted firing against what the model really did."""

    rows: Rows
    summary: dict[str, Any]


def verify(settled_all: Mapping[int, Sequence[Hit]], tokens: TextTokens, neurons: Sequence[StoredNeuron],
           actual: Mapping[str, np.ndarray], threshold: float, per_token: int) -> Verification:
    """`settled_all`: every hit of every position (not only the shown ones); `actual`: neuron id -> [tokens] real
    activation / a_max over the text, for every stored neuron in the filters (`neurons`)."""
    ids = [n.id for n in neurons if n.id in actual]
    by_id = {n.id: n for n in neurons}
    values = np.stack([actual[i] for i in ids]) if ids else np.zeros((0, len(tokens.keys)), np.float32)
    row_of = {nid: r for r, nid in enumerate(ids)}
    predicted = np.zeros(values.shape, dtype=bool)
    for t, hits in settled_all.items():
        for hit in hits:
            if hit.candidate.id in row_of:
                predicted[row_of[hit.candidate.id], t] = True
    fired = values >= threshold
    rows: Rows = []
    for t in range(len(tokens.keys)):
        for hit in list(settled_all.get(t, []))[:per_token]:
            r = row_of.get(hit.candidate.id)
            real = None if r is None else float(values[r, t])
            rows.append({**hit_row(hit, tokens), "kind": "predicted", "actual": _rounded(real),
                         "fired": None if real is None else real >= threshold})
        missed = np.flatnonzero(fired[:, t] & ~predicted[:, t])
        for r in sorted(missed.tolist(), key=lambda r: (-values[r, t], ids[r]))[:per_token]:
            neuron = by_id[ids[r]]
            rows.append({"position": t, "token": tokens.texts[t], "id": neuron.id, "layer": neuron.layer,
                         "neuron": neuron.neuron, "predicted": 0.0, "pattern": None, "context": [],
                         "context_positions": [], "hits": None, "predictions": None, "evidence": None,
                         "kind": "missed", "actual": _rounded(float(values[r, t])), "fired": True})
    true_predictions = int((predicted & fired).sum())
    n_predicted, n_fired = int(predicted.sum()), int(fired.sum())
    predicting = {hit.candidate.id: hit.candidate for hits in settled_all.values() for hit in hits}
    held_out = [by_id[nid].precision for nid in predicting if nid in by_id and by_id[nid].precision is not None]
    hits = sum(c.hits for c in predicting.values())
    predictions = sum(c.predictions for c in predicting.values())
    summary = {"tokens": len(tokens.keys), "neurons_read": len(ids), "predicted": n_predicted, "fired": n_fired,
               "true_predictions": true_predictions,
               "precision": true_predictions / n_predicted if n_predicted else None,
               "recall": true_predictions / n_fired if n_fired else None, "predicting_neurons": len(predicting),
               "graphs_held_out_precision": float(np.mean(held_out)) if held_out else None,
               "roots_evidence_precision": hits / predictions if predictions else None}
    return Verification(rows, summary)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def summary_line(summary: Mapping[str, Any]) -> str:
    """The verification in one line, for people."""
    def ratio(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (f"verify: on {summary['tokens']} tokens, {summary['predicted']} predicted firings of which "
            f"{summary['true_predictions']} fired (search precision {ratio(summary['precision'])}); "
            f"{summary['fired']} real firings of the {summary['neurons_read']} stored neurons read, "
            f"{summary['true_predictions']} of them predicted (recall {ratio(summary['recall'])}); "
            f"the {summary['predicting_neurons']} predicting graphs' own held-out precision: mean "
            f"{ratio(summary['graphs_held_out_precision'])}, their tokens' fit-time evidence "
            f"{ratio(summary['roots_evidence_precision'])}")

