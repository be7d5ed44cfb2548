"""Facts about one neuron's graph that whole-graph queries would otherwise have to scan for, computed at ingest:

- its activating and context token sets (graph keys, as stored on `Token.text`);
- repeated tokens: those both activating and in context (in-context / induction-like neurons), with their share
  of the activating tokens, the paper's ranking;
- an exact signature: equal for two graphs with the same activating and context sets;
- MinHash LSH band keys over the tagged union of both sets: graphs whose Jaccard similarity is high share at least
  one band key with high probability (20 bands of 5 rows: 0.999 at Jaccard 0.8, 0.05 at 0.3), so a duplicate
  sweep compares only neurons that share a `Band` node, never all pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from n2g.neuron_graph import NeuronGraph

BANDS, ROWS = 20, 5
_PRIME = (1 << 31) - 1
_RNG = np.random.default_rng(20231117)  # fixed: band keys must be equal across runs, machines and shards
_A = _RNG.integers(1, _PRIME, size=BANDS * ROWS, dtype=np.uint64)
_B = _RNG.integers(0, _PRIME, size=BANDS * ROWS, dtype=np.uint64)


@dataclass(frozen=True)
class GraphFacts:
    activating: tuple[str, ...]  # in the graph's root order
    context: tuple[str, ...]  # first-seen order
    repeated: tuple[str, ...]
    signature: str | None
    bands: tuple[str, ...]

    @property
    def repeated_share(self) -> float | None:
        return len(self.repeated) / len(self.activating) if self.activating else None


def graph_facts(graph: NeuronGraph) -> GraphFacts:
    activating = tuple(dict.fromkeys(graph.activating_tokens()))
    context = tuple(graph.context_tokens())
    context_set = set(context)
    repeated = tuple(k for k in activating if k in context_set)
    if not activating:
        return GraphFacts(activating, context, repeated, None, ())
    items = [f"a:{k}" for k in activating] + [f"c:{k}" for k in context]
    return GraphFacts(activating, context, repeated, signature(activating, context), band_keys(items))


def prefix_rank(tokens: tuple[str, ...]) -> dict[str, int]:
    """Each token's place in a fixed global order (by hash): the order prefix filtering needs, the same for
    every neuron, run and machine."""
    return {token: i for i, token in enumerate(sorted(tokens, key=lambda t: (_hash64(t), t)))}


def signature(activating: tuple[str, ...], context: tuple[str, ...]) -> str:
    text = "\x1f".join(sorted(activating)) + "\x1e" + "\x1f".join(sorted(context))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _hash64(item: str) -> int:
    return int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest(), "little") % _PRIME


def band_keys(items: list[str]) -> tuple[str, ...]:
    """`BANDS` keys `band:hash`; equal sets give equal keys, similar sets share some."""
    hashes = np.fromiter((_hash64(item) for item in items), dtype=np.uint64, count=len(items))
    minhash = ((_A[:, None] * hashes[None, :] + _B[:, None]) % _PRIME).min(axis=1)  # [BANDS * ROWS]
    rows = minhash.reshape(BANDS, ROWS)
    return tuple(f"{band}:{hashlib.blake2b(rows[band].tobytes(), digest_size=8).hexdigest()}"
                 for band in range(BANDS))
