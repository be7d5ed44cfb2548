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

`explain(keys)` runs the same search and also says, per position, which match decided (`PatternMatch`: the root,
each context step with the positions it covered, the end activation): text search (`queries.search`) reports it,
so what search shows and what scoring counts are one computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode

Match = tuple[int, float]  # (steps matched below the node, end activation)
_NONE: Match = (-1, -1.0)  # below every real match (end activations are > the activation threshold > 0)
# Which child a node's best match went through: (token child, the position it matched at, the gap before it or None)
_Choice = tuple[TrieNode, int, TrieNode | None]


@dataclass(frozen=True)
class MatchedStep:
    """One context step of a match: a token node at `first` (== `last`), or a gap covering `first`..`last`."""

    node: TrieNode
    first: int
    last: int


@dataclass(frozen=True)
class PatternMatch:
    """The complete match that decided the prediction at `position`: the root (the token there), the context steps
    nearest first, and the end activation it predicts (a fraction of a_max)."""

    position: int
    root: TrieNode
    steps: tuple[MatchedStep, ...]
    activation: float

    def context(self) -> list[tuple[int, str | None]]:
        """(position, key) of each context token the match needed, nearest first (gaps left out)."""
        return [(step.first, step.node.key) for step in self.steps if step.node.kind != GAP]


class GraphMatcher:
    def __init__(self, graph: NeuronGraph, max_gap: int | None = None) -> None:
        self.roots = {root.key: root for root in graph.roots}
        self.max_gap = max_gap
        self.longest = graph.prediction == "longest"
        self._choices: dict[tuple[int, int], _Choice] | None = None  # filled while explaining

    @classmethod
    def for_roots(cls, roots: Sequence[TrieNode], prediction: str = "best", max_gap: int | None = None
                  ) -> GraphMatcher:
        """A matcher over some roots only (as text search rebuilds them from the store), with a graph's rule."""
        matcher = cls.__new__(cls)
        matcher.roots = {root.key: root for root in roots}
        matcher.max_gap, matcher.longest, matcher._choices = max_gap, prediction == "longest", None
        return matcher

    def predict(self, keys: Sequence[str]) -> np.ndarray:
        """[len(keys)] predicted activation (fraction of a_max) at every position."""
        out = np.zeros(len(keys), dtype=np.float32)
        memo: dict[tuple[int, int], Match] = {}
        for t, key in enumerate(keys):
            root = self.roots.get(key)
            if root is not None:
                out[t] = max(0.0, self._best(root, t - 1, keys, memo)[1])
        return out

    def explain(self, keys: Sequence[str], positions: Sequence[int] | None = None) -> list[PatternMatch]:
        """The deciding match at each position (of `positions`, default all) where the graph predicts firing, in
        position order: the same search as `predict`, with the choices it made recorded."""
        memo: dict[tuple[int, int], Match] = {}
        self._choices = {}
        found: list[PatternMatch] = []
        try:
            for t in range(len(keys)) if positions is None else sorted(set(positions)):
                root = self.roots.get(keys[t])
                if root is None:
                    continue
                steps, activation = self._best(root, t - 1, keys, memo)
                if steps >= 0 and activation > 0:
                    found.append(PatternMatch(t, root, tuple(self._path(root, t - 1)), float(activation)))
        finally:
            self._choices = None
        return found

    def _path(self, node: TrieNode, i: int) -> list[MatchedStep]:
        assert self._choices is not None
        path: list[MatchedStep] = []
        choice = self._choices.get((id(node), i))
        while choice is not None:
            child, at, gap = choice
            if gap is not None:  # a gap from i down to at + 1, then `child` at `at`
                path.append(MatchedStep(gap, at + 1, i))
            path.append(MatchedStep(child, at, at))
            node, i = child, at - 1
            choice = self._choices.get((id(node), i))
        return path

    def _better(self, a: Match, b: Match) -> Match:
        if self.longest:
            return max(a, b)
        return a if a[1] >= b[1] else b

    def _best(self, node: TrieNode, i: int, keys: Sequence[str], memo: dict[tuple[int, int], Match]) -> Match:
        memo_key = (id(node), i)
        if memo_key in memo:
            return memo[memo_key]
        best = (0, node.end_activation) if node.end_activation is not None else _NONE
        choice: _Choice | None = None
        for child in node.children:
            if child.kind == GAP:
                found, via = self._best_after_gap(child, i, keys, memo)
                better = self._better(best, _longer(found, 2))
                if better is not best and via is not None:
                    best, choice = better, (via[0], via[1], child)
            elif i >= 0 and keys[i] == child.key:
                better = self._better(best, _longer(self._best(child, i - 1, keys, memo), 1))
                if better is not best:
                    best, choice = better, (child, i, None)
        memo[memo_key] = best
        if self._choices is not None and choice is not None:
            self._choices[memo_key] = choice
        return best

    def _best_after_gap(self, gap: TrieNode, i: int, keys: Sequence[str],
                        memo: dict[tuple[int, int], Match]) -> tuple[Match, tuple[TrieNode, int] | None]:
        """The gap covers positions i down to j+1 (at least one token); its token children then match at j.
        Trailing gaps are never stored, so a gap always leads to a token. Returns the best match and (child, j)."""
        lowest = 0 if self.max_gap is None else max(0, i - self.max_gap)
        best, via = _NONE, None
        for j in range(i - 1, lowest - 1, -1):
            for child in gap.children:
                if child.kind != GAP and keys[j] == child.key:
                    better = self._better(best, self._best(child, j - 1, keys, memo))
                    if better is not best:
                        best, via = better, (child, j)
        return best, via


def _longer(match: Match, steps: int) -> Match:
    return match if match is _NONE or match[0] < 0 else (match[0] + steps, match[1])


def predict(graph: NeuronGraph, keys: Sequence[str]) -> np.ndarray:
    return GraphMatcher(graph).predict(keys)
