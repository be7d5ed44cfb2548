"""Predicting a neuron from its graph: the best complete pattern match at every position of a sequence.

At position t the activating token must equal a root's key; the root's context steps are then matched
backwards from t-1. A token step must equal the key at its position; a gap step consumes one or more tokens of
any kind, so `a * c` (a pattern with a gap) matches `a b b c`. Matching backtracks over every way a gap can be
filled and over sibling branches. Which complete match decides is the graph's `prediction` rule: `best` (ours)
returns the largest `end_activation` of any complete match, `longest` (the paper's) the end activation of the
match with the most steps (ties: the larger activation); 0 when nothing matches.

`best(node, i)` -- the best match reachable from `node` when the next context token to examine is at position i --
does not depend on where the match started, so one memo serves the whole sequence: the cost is
O(nodes x length x gap length) per sequence, whatever the number of positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode

Match = tuple[int, float]  # (steps matched below the node, end activation)
_NONE: Match = (-1, -1.0)  # below every real match (end activations are > the activation threshold > 0)


class GraphMatcher:
    def __init__(self, graph: NeuronGraph, max_gap: int | None = None) -> None:
        self.roots = {root.key: root for root in graph.roots}
        self.max_gap = max_gap
        self.longest = graph.prediction == "longest"

    def predict(self, keys: Sequence[str]) -> np.ndarray:
        """[len(keys)] predicted activation (fraction of a_max) at every position."""
        out = np.zeros(len(keys), dtype=np.float32)
        memo: dict[tuple[int, int], Match] = {}
        for t, key in enumerate(keys):
            root = self.roots.get(key)
            if root is not None:
                out[t] = max(0.0, self._best(root, t - 1, keys, memo)[1])
        return out

    def _better(self, a: Match, b: Match) -> Match:
        if self.longest:
            return max(a, b)
        return a if a[1] >= b[1] else b

    def _best(self, node: TrieNode, i: int, keys: Sequence[str], memo: dict[tuple[int, int], Match]) -> Match:
        memo_key = (id(node), i)
        if memo_key in memo:
            return memo[memo_key]
        best = (0, node.end_activation) if node.end_activation is not None else _NONE
        for child in node.children:
            if child.kind == GAP:
                best = self._better(best, _longer(self._best_after_gap(child, i, keys, memo), 2))
            elif i >= 0 and keys[i] == child.key:
                best = self._better(best, _longer(self._best(child, i - 1, keys, memo), 1))
        memo[memo_key] = best
        return best

    def _best_after_gap(self, gap: TrieNode, i: int, keys: Sequence[str],
                        memo: dict[tuple[int, int], Match]) -> Match:
        """The gap covers positions i down to j+1 (at least one token); its token children then match at j.
        Trailing gaps are never stored, so a gap always leads to a token."""
        lowest = 0 if self.max_gap is None else max(0, i - self.max_gap)
        best = _NONE
        for j in range(i - 1, lowest - 1, -1):
            for child in gap.children:
                if child.kind != GAP and keys[j] == child.key:
                    best = self._better(best, self._best(child, j - 1, keys, memo))
        return best


def _longer(match: Match, steps: int) -> Match:
    return match if match is _NONE or match[0] < 0 else (match[0] + steps, match[1])


def predict(graph: NeuronGraph, keys: Sequence[str]) -> np.ndarray:
    return GraphMatcher(graph).predict(keys)
