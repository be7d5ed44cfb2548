"""Checking a graph's patterns against whole windows of text, where pruning and saliency cannot see.

Saliency keeps every context token whose masking hurts the activation, so a pattern often demands more context than
the neuron needs: ` import` fires after `from x` and after a newline alike, but the trie only knows the contexts it
was shown, and held-out text with a third context is missed. The training windows (whole windows, not the pruned
prompts) say how precise each partial pattern already is: for every trie node, how many positions of the training
text match the pattern from the root to that node, and how many of those fire.

- A node whose partial pattern fires at >= `end_precision` of its matches becomes a pattern end (value: the mean
  firing activation), so shorter context suffices where the text shows it does.
- An end whose pattern fires at < `drop_precision` of its matches stops being an end: the text shows it misfires.

The fitter (`n2g.fit.fitter`) checks on the training windows plus the even half of the random windows: top windows
alone over-state how often a token fires (they are where it fires most), so checked on them a bare token looks
precise and the graph misfires on ordinary text. Held-out windows and the odd random half, which score, stay unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from n2g.graphs.neuron_graph import GAP, NeuronGraph, TrieNode

# The default `FitConfig.end_precision`: measured best of 0.5-0.7 with random-text negatives (benchmarks/RESULTS.md)
DEFAULT_END_PRECISION = 0.7


@dataclass
class NodeTally:
    matches: int = 0
    fires: int = 0
    firing_activation_sum: float = 0.0

    @property
    def precision(self) -> float:
        return self.fires / self.matches if self.matches else 0.0


def matching_nodes(root: TrieNode, keys: Sequence[str], t: int) -> set[int]:
    """ids of the nodes whose path from `root` matches the text ending at position t (gaps: one or more tokens)."""
    matched: set[int] = set()
    seen: set[tuple[int, int]] = set()
    stack = [(root, t - 1)]
    while stack:
        node, i = stack.pop()
        if (id(node), i) in seen:
            continue
        seen.add((id(node), i))
        matched.add(id(node))
        for child in node.children:
            if child.kind != GAP:
                if i >= 0 and keys[i] == child.key:
                    stack.append((child, i - 1))
                continue
            for j in range(i - 1, -1, -1):
                for grandchild in child.children:
                    if keys[j] == grandchild.key:
                        matched.add(id(child))
                        stack.append((grandchild, j - 1))
    return matched


def tally(graph: NeuronGraph, keys: Sequence[Sequence[str]], acts: Sequence[np.ndarray]) -> dict[int, NodeTally]:
    """Per node id: matches and firing matches over the windows (`acts` as fractions of a_max)."""
    roots = {root.key: root for root in graph.roots}
    tallies: dict[int, NodeTally] = {}
    for window_keys, window_acts in zip(keys, acts):
        for t, key in enumerate(window_keys):
            root = roots.get(key)
            if root is None:
                continue
            value = float(window_acts[t])
            fires = value >= graph.activation_threshold
            for node_id in matching_nodes(root, window_keys, t):
                entry = tallies.setdefault(node_id, NodeTally())
                entry.matches += 1
                entry.fires += fires
                entry.firing_activation_sum += value if fires else 0.0
    return tallies


def calibrate_ends(graph: NeuronGraph, keys: Sequence[Sequence[str]], acts: Sequence[np.ndarray],
                   end_precision: float, drop_precision: float) -> tuple[int, int]:
    """Add and drop pattern ends by their precision on these windows; returns (ends added, ends dropped)."""
    tallies = tally(graph, keys, acts)
    added = dropped = 0
    for _, node in graph.nodes():
        entry = tallies.get(id(node))
        if node.kind == GAP or entry is None:
            continue
        if not node.is_end and entry.fires and entry.precision >= end_precision:
            node.end(entry.firing_activation_sum / entry.fires)
            added += 1
        elif node.is_end and entry.precision < drop_precision:
            node.end_activation, node.end_count = None, 0
            dropped += 1
    return added, dropped
