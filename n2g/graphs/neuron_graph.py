"""A neuron's graph: a trie of the token patterns it fires on, with the neuron's identity and scores.

Roots are activating tokens; a root's children are the context tokens before it, nearest first, so a path
read from a root outwards is the pattern read right to left. A `gap` node stands for one or more unimportant
tokens. A node where a training pattern ended carries `end_activation`, the largest activation (as a fraction of
`a_max`) seen for a pattern ending there. A root the pivot sweep added (a token the model showed firing in place
of a training pivot, not one the top windows showed) carries `"swept": true`; graphs fitted before the marker
lack it (their `stats.swept` still counts such roots), and readers that do not know it ignore it.

Node values aggregate every path through the node (count, max activation, mean importance) instead of keeping
the first insertion, so the graph does not depend on the order examples were seen. The paper's rules stay
available for comparison (`node_values="first"`: the first insertion's values win; `prediction="longest"`: the
longest complete match decides, see `n2g.graphs.prediction`); a graph carries the rules it was built and predicts with.

A graph carries its scores (`n2g.graphs.scoring.GraphScores`, None until scored) and what fitting counted
(`GraphStats`), both typed so readers ask for them one way; in JSON they keep the layout they have always had.

Fitting also records what a graph is seen to do on text it was not built from (format version 2):

- per root, its `RootEvidence`: at how many positions of the neuron's held-out windows and of its scoring random
  windows the graph predicted firing on that token (`predictions`), and at how many of those the neuron really
  fired (`hits`); JSON `"evidence": {"test": [hits, predictions], "random": [hits, predictions]}` on the root;
- `activation_sample`: the neuron's real activations, as fractions of a_max, on the first tokens of the random-window
  sample every neuron of a run shares (`n2g.graphs.activation_sample`), so that two neurons can be compared by how
  they co-activate.

`NeuronGraph.to_json()` / `from_json()` round-trip exactly; `FORMAT_VERSION` changes when the layout does. Version 2
only adds those two (optional) fields: version 1 graphs are read as they are, a graph without either is written
exactly as version 1 was (`layout_version`), and any other version is refused in one line.

A graph of a neuron's negative direction (`sign` -1, mined with `--signs both`) is a graph of -1 x its activations,
written with `"sign": -1`; a graph without `sign` is of the positive direction, as every graph before signs was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args, get_type_hints

from n2g.errors import N2GError
from n2g.graphs.scoring import GraphScores
from n2g.model.token_keys import TokenMatching
from n2g.specs import format_neuron

FORMAT = "n2g-graph"
FORMAT_VERSION = 2  # 2: per-root evidence and the activation sample
READABLE_VERSIONS = (1, 2)
TOKEN, GAP = "token", "gap"
NodeValues = Literal["aggregate", "first"]  # ours; the paper's first-insertion-wins
PredictionRule = Literal["best", "longest"]  # ours: the largest end of any complete match; the paper's: the longest
GraphStatus = Literal["fitted", "dead", "failed"]  # dead: never fired in the corpus
NODE_VALUES: tuple[NodeValues, ...] = get_args(NodeValues)
PREDICTION_RULES: tuple[PredictionRule, ...] = get_args(PredictionRule)
GRAPH_STATUSES: tuple[GraphStatus, ...] = get_args(GraphStatus)


@dataclass(frozen=True)
class RootEvidence:
    """How one activating token did where its graph predicted firing, counted at fit time on text the graph was not
    built from: the neuron's held-out windows (`test`) and the scoring half of the random windows (`random`).
    `predictions`: positions of this token where the graph predicted firing; `hits`: those where the neuron fired."""

    test_hits: int = 0
    test_predictions: int = 0
    random_hits: int = 0
    random_predictions: int = 0

    @property
    def hits(self) -> int:
        return self.test_hits + self.random_hits

    @property
    def predictions(self) -> int:
        return self.test_predictions + self.random_predictions

    @property
    def precision(self) -> float | None:
        """Hits per prediction over both text sets; None where the graph never predicted this token to fire."""
        return self.hits / self.predictions if self.predictions else None

    def to_dict(self) -> dict[str, list[int]]:
        return {"test": [self.test_hits, self.test_predictions], "random": [self.random_hits, self.random_predictions]}

    @classmethod
    def from_dict(cls, data: Any) -> RootEvidence:
        try:
            (test_hits, test_predictions), (random_hits, random_predictions) = data["test"], data["random"]
            values = (test_hits, test_predictions, random_hits, random_predictions)
        except (KeyError, TypeError, ValueError) as err:
            raise N2GError(f"unknown root evidence shape {data!r}") from err
        if (any(type(v) is not int or v < 0 for v in values) or test_hits > test_predictions
                or random_hits > random_predictions):
            raise N2GError(f"unknown root evidence shape {data!r}: counts, with hits <= predictions")
        return cls(*values)


@dataclass
class TrieNode:
    """One node. `key` is what matching compares (see `n2g.model.token_keys`); `token` the text as seen in the
    model's vocabulary (for display). A gap node has neither."""

    kind: str = TOKEN
    key: str | None = None
    token: str | None = None
    count: int = 0
    max_activation: float = 0.0  # of the activating token, over the paths through this node
    importance_sum: float = 0.0  # of this node's token for the activating token, summed over paths
    end_activation: float | None = None
    end_count: int = 0
    children: list[TrieNode] = field(default_factory=list)
    evidence: RootEvidence | None = None  # roots only, from fitting (None: not measured, as in version 1 graphs)
    swept: bool = False  # a root the pivot sweep added (`n2g.fit.pivot_sweep`); JSON `"swept": true`, else absent

    @property
    def importance(self) -> float:
        return self.importance_sum / self.count if self.count else 0.0

    @property
    def is_end(self) -> bool:
        return self.end_activation is not None

    def find(self, kind: str, key: str | None) -> TrieNode | None:
        """The child for (kind, key), None if absent."""
        return next((c for c in self.children if c.kind == kind and c.key == key), None)

    def child(self, kind: str, key: str | None, token: str | None) -> TrieNode:
        """The child for (kind, key), created if absent."""
        existing = self.find(kind, key)
        if existing is not None:
            return existing
        node = TrieNode(kind=kind, key=key, token=token)
        self.children.append(node)
        return node

    def visit(self, activation: float, importance: float, first_wins: bool = False) -> None:
        if first_wins and self.count:
            self.count += 1
            self.importance_sum += self.importance_sum / (self.count - 1)  # the mean stays the first value
            return
        self.count += 1
        self.max_activation = max(self.max_activation, activation)
        self.importance_sum += importance

    def end(self, activation: float, first_wins: bool = False) -> None:
        if self.end_activation is None or not first_wins:
            self.end_activation = activation if self.end_activation is None else max(self.end_activation, activation)
        self.end_count += 1

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TrieNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def patterns(self) -> list[tuple[float, list[str | None]]]:
        """Every complete pattern below this node (a root): (end activation, the keys of the context steps nearest
        first, None for a gap), strongest first (ties: trie order). What matching can use of the trie, exactly:
        `from_patterns` rebuilds a trie that predicts the same everywhere."""
        found: list[tuple[float, list[str | None]]] = []

        def visit(node: TrieNode, path: list[str | None]) -> None:
            if node.end_activation is not None:
                found.append((float(node.end_activation), list(path)))
            for child in node.children:
                visit(child, [*path, None if child.kind == GAP else child.key])

        visit(self, [])
        return sorted(found, key=lambda item: -item[0])

    @classmethod
    def from_patterns(cls, key: str, patterns: Sequence[tuple[float, Sequence[str | None]]]) -> TrieNode:
        """A root for `key` holding just these patterns (`patterns()`): the nodes matching needs, with their ends
        (node counts and importances are not kept)."""
        root = cls(kind=TOKEN, key=key, token=key)
        made: dict[tuple[int, str | None], TrieNode] = {}  # (parent, step) -> child: no scan of long child lists
        for end, steps in patterns:
            node = root
            for step in steps:
                child = made.get((id(node), step))
                if child is None:
                    child = cls(kind=GAP) if step is None else cls(kind=TOKEN, key=step, token=step)
                    node.children.append(child)
                    made[(id(node), step)] = child
                node = child
            node.end_activation = end if node.end_activation is None else max(node.end_activation, end)
        return root

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "count": self.count,
                                "max_activation": round(self.max_activation, 6),
                                "importance": round(self.importance, 6)}
        if self.kind == TOKEN:
            data.update(key=self.key, token=self.token)
        if self.end_activation is not None:
            data.update(end_activation=round(self.end_activation, 6), end_count=self.end_count)
        if self.swept:
            data["swept"] = True
        if self.evidence is not None:
            data["evidence"] = self.evidence.to_dict()
        if self.children:
            data["children"] = [child.to_dict() for child in self.children]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrieNode:
        count = int(data["count"])
        return cls(kind=data["kind"], key=data.get("key"), token=data.get("token"), count=count,
                   max_activation=float(data["max_activation"]),
                   importance_sum=float(data["importance"]) * count,
                   end_activation=data.get("end_activation"), end_count=int(data.get("end_count", 0)),
                   children=[cls.from_dict(child) for child in data.get("children", [])],
                   swept=data.get("swept") is True,
                   evidence=None if data.get("evidence") is None else RootEvidence.from_dict(data["evidence"]))


@dataclass(frozen=True)
class PatternStep:
    """One context position of a pattern, nearest the activating token first: a token or a gap."""

    kind: str
    key: str | None = None
    token: str | None = None
    importance: float = 0.0


@dataclass(frozen=True)
class GraphStats:
    """What fitting saw and did for one neuron (`n2g.fit.fitter`), kept for reports and for finding out why a graph
    is as it is. None means "not recorded": a dead neuron has no stats at all, `ends_added` / `ends_dropped` exist
    only where the pattern check ran, and graphs fitted before the sweep lack `swept` / `random_windows_scored`.
    In JSON a None field is left out, except `mean_prompt_tokens`, which the fitter writes as null when a neuron
    had no prompts (so it is written whenever `prompts` is)."""

    train_windows: int | None = None
    test_windows: int | None = None
    split: str | None = None  # "document" | "window" (`n2g.fit.fitter.Split`): how test windows were chosen
    prompts: int | None = None  # pruned training prompts
    unpruned: int | None = None  # of those, kept whole: no shorter context kept enough activation
    mean_prompt_tokens: float | None = None
    augmented: int | None = None  # prompts augmentation added
    pivot_at_first_position: int | None = None  # top windows whose max is their first token
    mask_token: str | None = None  # the token saliency masked with
    # share of the mined tokens with activation above the miner's `fire_threshold` (default 0: on a gated MLP,
    # whose activations are signed, that is about the sign, not firing; see `firing_rate`)
    fire_rate: float | None = None
    firing_rate: float | None = None  # share of random-window tokens at >= activation_threshold x a_max (the scores')
    ends_added: int | None = None  # pattern check: partial patterns that became ends
    ends_dropped: int | None = None  # pattern check: imprecise ends dropped
    swept: int | None = None  # roots the pivot sweep added
    random_windows_scored: int | None = None
    quantile_windows: int | None = None  # training windows from the quantile sample (`MiningConfig.quantile_windows`)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, in the order the fitter has always written the keys."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None or (f.name == "mean_prompt_tokens" and self.prompts is not None)}

    @classmethod
    def from_dict(cls, data: Any) -> GraphStats:
        """Stats as `to_dict` wrote them; unknown keys or values of the wrong kind raise `N2GError`."""
        if not isinstance(data, dict):
            raise N2GError(f"unknown graph stats shape: stats is {type(data).__name__}, not an object")
        unknown = [key for key in data if key not in _STAT_TYPES]
        if unknown:
            raise N2GError(f"unknown graph stats shape: unknown {', '.join(map(repr, unknown))}")
        for key, value in data.items():
            if type(value) not in _STAT_TYPES[key]:  # exact JSON types: a bool is no count
                raise N2GError(f"unknown graph stats shape: {key} is {value!r}, not {_STAT_TYPES[key][0].__name__}")
        return cls(**data)


# Per field, the JSON types it may be read as: its own, null, and int for a float (a whole float written as an int)
_STAT_TYPES: dict[str, tuple[type, ...]] = {
    name: (kind, type(None), *((int,) if kind is float else ()))
    for name, kind in ((name, get_args(hint)[0]) for name, hint in get_type_hints(GraphStats).items())}


@dataclass
class NeuronGraph:
    model: str
    layer: int
    neuron: int
    a_max: float
    token_matching: TokenMatching  # how `key`s were made (`n2g.model.token_keys`)
    activation_threshold: float = 0.5
    importance_threshold: float = 0.75
    node_values: NodeValues = "aggregate"
    prediction: PredictionRule = "best"
    status: GraphStatus = "fitted"
    reason: str | None = None
    roots: list[TrieNode] = field(default_factory=list)
    scores: GraphScores | None = None  # None until scored (dead neurons never are); JSON {}
    stats: GraphStats = field(default_factory=GraphStats)
    # Real activations / a_max on the shared random-window sample's first tokens (`n2g.graphs.activation_sample`)
    activation_sample: str | None = None
    # The text `from_json` read, so that storing a graph read from a file need not serialise it again.
    source_json: str | None = field(default=None, compare=False, repr=False)
    # +1: the neuron's positive direction; -1: its negative one, fitted on -1 x its activations (a_max, node values,
    # scores and the activation sample are all of sign x activation). JSON: "sign": -1, absent for +1.
    sign: int = 1

    @property
    def name(self) -> str:
        return format_neuron(self.layer, self.neuron, self.sign)

    def find_root(self, key: str) -> TrieNode | None:
        return next((root for root in self.roots if root.key == key), None)

    def root(self, key: str, token: str) -> TrieNode:
        """The root for `key`, created if absent."""
        existing = self.find_root(key)
        if existing is not None:
            return existing
        node = TrieNode(kind=TOKEN, key=key, token=token)
        self.roots.append(node)
        return node

    def insert(self, key: str, token: str, activation: float, self_importance: float,
               context: Sequence[PatternStep]) -> None:
        """Add one pattern: the activating token (`key`) and its context steps, nearest first."""
        first_wins = self.node_values == "first"
        node = self.root(key, token)
        node.visit(activation, self_importance, first_wins)
        for step in context:
            node = node.child(step.kind, step.key, step.token)
            node.visit(activation, step.importance, first_wins)
        node.end(activation, first_wins)

    def nodes(self) -> Iterator[tuple[int, TrieNode]]:
        """(depth, node) for every node, roots at depth 0."""
        for root in self.roots:
            yield from root.walk()

    def node_count(self) -> int:
        """Every trie node, gaps included."""
        return sum(1 for _ in self.nodes())

    def activating_tokens(self) -> list[str]:
        return [root.key for root in self.roots if root.key is not None]

    def context_tokens(self) -> list[str]:
        """Distinct keys of the context (non-root token) nodes, in first-seen order."""
        seen: dict[str, None] = {}
        for depth, node in self.nodes():
            if depth > 0 and node.kind == TOKEN and node.key is not None:
                seen.setdefault(node.key)
        return list(seen)

    def layout_version(self) -> int:
        """The oldest format version that holds this graph: 2 with evidence or an activation sample, else 1 (so a
        graph without them is written exactly as version 1 wrote it)."""
        measured = self.activation_sample is not None or any(root.evidence is not None for root in self.roots)
        return FORMAT_VERSION if measured else 1

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, "version": self.layout_version(), "model": self.model, "layer": self.layer,
                "neuron": self.neuron, **({"sign": self.sign} if self.sign != 1 else {}), "a_max": self.a_max,
                "token_matching": self.token_matching,
                "activation_threshold": self.activation_threshold,
                "importance_threshold": self.importance_threshold, "node_values": self.node_values,
                "prediction": self.prediction, "status": self.status, "reason": self.reason,
                "scores": {} if self.scores is None else self.scores.to_dict(), "stats": self.stats.to_dict()}
        if self.activation_sample is not None:
            data["activation_sample"] = self.activation_sample
        data["roots"] = [root.to_dict() for root in self.roots]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def stored_json(self) -> str:
        """The JSON as read (unchanged graphs only: loaders do not edit what they read), else `to_json()`."""
        return self.source_json if self.source_json is not None else self.to_json()

    def __post_init__(self) -> None:
        if self.node_values not in NODE_VALUES or self.prediction not in PREDICTION_RULES:
            raise N2GError(f"unknown graph rules node_values={self.node_values!r}, prediction={self.prediction!r} "
                           f"(known: {', '.join(NODE_VALUES)}; {', '.join(PREDICTION_RULES)})")
        if self.status not in GRAPH_STATUSES:
            raise N2GError(f"unknown graph status {self.status!r} (known: {', '.join(GRAPH_STATUSES)})")
        if self.sign not in (1, -1) or type(self.sign) is not int:
            raise N2GError(f"unknown graph sign {self.sign!r} (known: 1, -1)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuronGraph:
        if data.get("format") != FORMAT:
            raise N2GError("not an n2g graph (no \"format\": \"n2g-graph\")")
        version = data.get("version")
        if type(version) is not int or version not in READABLE_VERSIONS:
            raise N2GError(f"graph format version {version!r} is not supported (this n2g reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))}): fit the graph again with this n2g")
        layer, neuron = int(data["layer"]), int(data["neuron"])
        try:
            raw_scores = data.get("scores") or None  # {}: never scored
            scores = None if raw_scores is None else GraphScores.from_dict(raw_scores)
            stats = GraphStats.from_dict(data.get("stats", {}))
        except N2GError as err:
            raise N2GError(f"graph of neuron {layer}:{neuron}: {err}") from err
        return cls(model=data["model"], layer=layer, neuron=neuron,
                   a_max=float(data["a_max"]), token_matching=data["token_matching"],
                   activation_threshold=float(data["activation_threshold"]),
                   importance_threshold=float(data["importance_threshold"]),
                   node_values=data.get("node_values", "aggregate"), prediction=data.get("prediction", "best"),
                   status=data["status"], reason=data.get("reason"), scores=scores, stats=stats,
                   activation_sample=data.get("activation_sample"),
                   roots=[TrieNode.from_dict(root) for root in data.get("roots", [])], sign=data.get("sign", 1))

    @classmethod
    def from_json(cls, text: str) -> NeuronGraph:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise N2GError(f"graph is not valid JSON: {err.msg} at line {err.lineno}") from err
        if not isinstance(data, dict):
            raise N2GError("not an n2g graph (not a JSON object)")
        try:
            graph = cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise N2GError(f"damaged n2g graph ({type(err).__name__}: {err})") from err
        graph.source_json = text.strip()
        return graph
