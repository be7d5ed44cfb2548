"""Facts about one neuron's graph that whole-graph queries would otherwise have to scan for, computed at ingest:

- its activating and context token sets (graph keys, as stored on `Token.text`);
- repeated tokens: those both activating and in context (in-context / induction-like neurons), with their share
  of the activating tokens, the paper's ranking;
- an exact signature: equal for two graphs with the same activating and context sets;
- MinHash LSH band keys over the tagged union of both sets: graphs whose Jaccard similarity is high share at least
  one band key with high probability (20 bands of 5 rows: 0.999 at Jaccard 0.8, 0.05 at 0.3), so a duplicate
  sweep compares only neurons that share a `Band` node, never all pairs.

Per activating token (an ACTIVATES_ON edge), for text search and for showing a match's evidence:

- `root_facts`: every complete pattern under the root as JSON, `[[end activation, [context keys nearest first,
  null for a gap]], ...]`, strongest first: text search rebuilds the root's trie from it
  (`TrieNode.from_patterns`) and runs the graph's own matcher on it, without reading the whole graph;
- the largest end activation under the root (`max_end`): what the token can predict at most, and the root's own end
  (`bare_end`): what the token alone predicts, at least, wherever it occurs (under the `best` rule); text search
  picks its candidates by both before confirming them.

Per neuron, its `parts`: the groups of activating tokens whose patterns share no token at all, in any form
(activating or context; a root the pivot sweep added only joins a part, see `graph_parts`), with their weight
(training patterns through their roots) and how evenly the weight is spread (`balance`, normalised entropy: 1 for
equal parts); a neuron of several parts is polysemantic by its own graph.

A load computes the band keys of a whole batch at once (`batch_band_keys`, numpy over every graph's items, each
distinct item permuted once): per-graph numpy calls cost more than the arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode
from n2g.model.token_keys import normalise_token

BANDS, ROWS = 20, 5
_PRIME = (1 << 31) - 1
_RNG = np.random.default_rng(20231117)  # fixed: band keys must be equal across runs, machines and shards
_A = _RNG.integers(1, _PRIME, size=BANDS * ROWS, dtype=np.uint64)
_B = _RNG.integers(0, _PRIME, size=BANDS * ROWS, dtype=np.uint64)
_CHUNK_ITEMS = 1 << 14  # items per numpy step: a [items, BANDS * ROWS] temporary of 6 MB, reused, not re-faulted
ACTIVATING_TAG, CONTEXT_TAG = "a:", "c:"
_MIX1, _MIX2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class GraphFacts:
    activating: tuple[str, ...]  # in the graph's root order
    context: tuple[str, ...]  # first-seen order
    repeated: tuple[str, ...]
    signature: str | None
    bands: tuple[int, ...]

    @property
    def repeated_share(self) -> float | None:
        return repeated_share(self.activating, self.repeated)


def activating_tokens(graph: NeuronGraph) -> tuple[str, ...]:
    return tuple(dict.fromkeys(graph.activating_tokens()))


def repeated_tokens(activating: Sequence[str], context: Sequence[str]) -> tuple[str, ...]:
    context_set = set(context)
    return tuple(k for k in activating if k in context_set)


def repeated_share(activating: Sequence[str], repeated: Sequence[str]) -> float | None:
    """The share of activating tokens that are also context tokens (None without activating tokens)."""
    return len(repeated) / len(activating) if activating else None


def graph_facts(graph: NeuronGraph) -> GraphFacts:
    """One graph's facts (a load computes the same for a batch in `ingest.graph_rows`)."""
    activating, context = activating_tokens(graph), tuple(graph.context_tokens())
    repeated = repeated_tokens(activating, context)
    if not activating:
        return GraphFacts(activating, context, repeated, None, ())
    return GraphFacts(activating, context, repeated, signature(activating, context),
                      band_keys(band_items(activating, context)))


@dataclass(frozen=True)
class RootFacts:
    """One activating token's facts (its ACTIVATES_ON edge): its patterns as JSON, their largest end activation
    (None: no pattern ends under it, so it never predicts), and every token key of its trie, root first."""

    patterns: str
    max_end: float | None
    bare_end: float | None  # the root's own end: what the token alone predicts (None: it is no pattern)
    keys: tuple[str, ...]


def root_facts(root: TrieNode) -> RootFacts:
    """One walk of the root's trie (a load does this for every root)."""
    found: list[tuple[float, list[str | None]]] = []
    keys: list[str] = []

    def visit(node: TrieNode, path: list[str | None]) -> None:
        if node.key is not None and node.kind != GAP:
            keys.append(node.key)
        if node.end_activation is not None:
            found.append((round(float(node.end_activation), 6), path))
        for child in node.children:
            visit(child, [*path, None if child.kind == GAP else child.key])

    visit(root, [])
    found.sort(key=lambda item: -item[0])  # as `TrieNode.patterns` orders them
    text = json.dumps(found, ensure_ascii=False, separators=(",", ":"))
    bare = None if root.end_activation is None else round(float(root.end_activation), 6)
    return RootFacts(text, found[0][0] if found else None, bare, tuple(keys))


@dataclass(frozen=True)
class GraphPart:
    """Activating tokens whose patterns share tokens (directly or through each other), and their context tokens."""

    activating: tuple[str, ...]
    context: tuple[str, ...]
    weight: int  # training patterns through these roots

    def to_dict(self) -> dict[str, object]:
        return {"activating": list(self.activating), "context": list(self.context), "weight": self.weight}


def graph_parts(graph: NeuronGraph, roots: Sequence[RootFacts] | None = None) -> list[GraphPart]:
    """The graph's parts: roots joined whenever their tokens (the root's own and its patterns' context tokens)
    meet in any form (`n2g.model.token_keys.normalise_token`), heaviest part first (ties: first root first). A part
    needs a root that fitting found in the neuron's top windows: a root the pivot sweep added (`TrieNode.swept`: a
    token measured firing in a training pivot's place) joins the part whose tokens it shares and never makes one of
    its own (on SmolLM2 the sweep adds most roots, as bare tokens: each would count as a part). `roots`: the roots'
    facts, when already at hand."""
    facts = list(roots) if roots is not None else [root_facts(root) for root in graph.roots]
    parent = list(range(len(graph.roots)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, root in enumerate(facts):
        for key in root.keys:
            j = owner.setdefault(normalise_token(key), i)  # ` stream` and `Stream` are one word, one part
            if find(j) != find(i):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(graph.roots)):
        groups.setdefault(find(i), []).append(i)
    parts = []
    for members in groups.values():
        if all(getattr(graph.roots[i], "swept", False) for i in members):
            continue
        activating = tuple(dict.fromkeys(str(graph.roots[i].key) for i in members))
        context = tuple(dict.fromkeys(k for i in members for k in facts[i].keys[1:]))
        parts.append(GraphPart(activating, context, sum(graph.roots[i].count for i in members)))
    return sorted(parts, key=lambda part: -part.weight)


def part_balance(parts: Sequence[GraphPart]) -> float | None:
    """How evenly weight spreads over the parts: entropy / log(parts), 1 for equal parts; None for fewer than 2."""
    total = sum(part.weight for part in parts)
    if len(parts) < 2 or total <= 0:
        return None
    shares = [part.weight / total for part in parts if part.weight > 0]
    return -sum(p * math.log(p) for p in shares) / math.log(len(parts))


def parts_json(parts: Sequence[GraphPart]) -> str:
    return json.dumps([part.to_dict() for part in parts], ensure_ascii=False, separators=(",", ":"))


def band_items(activating: Sequence[str], context: Sequence[str]) -> list[str]:
    """The tagged union MinHash runs over: a token may be both activating and context."""
    return [ACTIVATING_TAG + k for k in activating] + [CONTEXT_TAG + k for k in context]


def prefix_rank(tokens: Sequence[str]) -> dict[str, int]:
    """Each token's place in a fixed global order (by hash): the order prefix filtering needs, the same for
    every neuron, run and machine."""
    return {token: i for i, token in enumerate(sorted(tokens, key=lambda t: (_hash64(t), t)))}


def signature(activating: Sequence[str], context: Sequence[str]) -> str:
    text = "\x1f".join(sorted(activating)) + "\x1e" + "\x1f".join(sorted(context))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@lru_cache(maxsize=1 << 20)
def _hash64(item: str) -> int:
    """Cached: a load hashes the same few thousand tokens over and over."""
    return int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest(), "little") % _PRIME


def item_hashes(items: Sequence[str]) -> np.ndarray:
    return np.fromiter((_hash64(item) for item in items), dtype=np.uint64, count=len(items))


def band_keys(items: list[str]) -> tuple[int, ...]:
    """`BANDS` keys for one non-empty item set; equal sets give equal keys, similar sets share some."""
    distinct = list(dict.fromkeys(items))
    keys = batch_band_keys(item_hashes(distinct), np.arange(len(distinct)), np.zeros(1, dtype=np.int64))
    return tuple(int(k) for k in keys[0])


def batch_band_keys(hashes: np.ndarray, items: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[sets, BANDS] int64 band keys of many item sets at once: set i is `items[starts[i]:starts[i + 1]]`
    (non-empty), indices into `hashes`, the distinct items' hashes. The permuted hashes are computed once per
    distinct item, then each set takes its minimum per permutation; each band's rows are mixed with the band's
    number into one non-negative 63-bit integer (an integer key loads faster than a string)."""
    permuted = ((hashes[:, None] * _A[None, :] + _B[None, :]) % _PRIME).astype(np.uint32)  # values < 2**31
    ends = np.append(starts[1:], len(items))
    minhash = np.empty((len(starts), BANDS * ROWS), dtype=np.uint64)
    first = 0
    while first < len(starts):  # a chunk of sets at a time bounds the gathered [items, BANDS * ROWS] temporary
        last = max(first + 1, int(np.searchsorted(ends, starts[first] + _CHUNK_ITEMS, side="right")))
        chunk = permuted[items[starts[first]: ends[last - 1]]]
        minhash[first:last] = np.minimum.reduceat(chunk, starts[first:last] - starts[first], axis=0)
        first = last
    return _band_hash(minhash.reshape(len(starts), BANDS, ROWS))  # uint64 again: the mixing wraps mod 2**64


def _band_hash(rows: np.ndarray) -> np.ndarray:
    """[sets, BANDS, ROWS] -> [sets, BANDS]: splitmix64 over (band number, rows...), top bit cleared."""
    key = np.broadcast_to(_mix(np.arange(1, BANDS + 1, dtype=np.uint64) * _GOLDEN), rows.shape[:2]).copy()
    for row in range(ROWS):
        key = _mix(key ^ rows[:, :, row])
    return (key >> np.uint64(1)).astype(np.int64)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection on uint64 that spreads every input bit over the output."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))
