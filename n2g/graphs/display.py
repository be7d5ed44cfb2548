"""Plain-text views of fitted graphs for `n2g show` and `n2g predict`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from n2g.graphs.neuron_graph import GAP, NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.graphs.rendering import visible_text
from n2g.graphs.scoring import PREDICTORS, TEXT_SETS, format_score
from n2g.model.loading import LoadedModel
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import Vocabulary


def graph_summary(graph: NeuronGraph) -> str:
    """Identity, scores against the baselines, then each pattern as it reads left to right."""
    lines = [f"neuron {graph.name} of {graph.model}: {graph.status}"
             + (f" ({graph.reason})" if graph.reason else "") + f", a_max {graph.a_max:.3f}"]
    if graph.sign < 0:
        lines.append("  negative direction: where the neuron goes most negative (a_max and activations are of -1 x "
                     "the neuron)")
    if graph.stats.firing_rate is not None:
        lines.append(f"  fires (>= {graph.activation_threshold} x a_max) on {firing_percent(graph.stats.firing_rate)} "
                     f"of random-window tokens")
    if graph.scores is not None:
        for text_set in TEXT_SETS:
            parts = [f"{name} F1 {format_score(graph.scores.value(name, text_set, 'f1'), 2)}" for name in PREDICTORS]
            lines.append(f"  {text_set:6s} " + ", ".join(parts))
    lines.append("  patterns (context ... activating token, activation as a fraction of a_max):")
    for pattern, activation in patterns(graph):
        lines.append(f"    {activation:5.2f}  {pattern}")
    return "\n".join(lines)


def firing_percent(rate: float) -> str:
    """A firing rate as a percentage with two significant digits, however sparse (0.0031% rather than 0.0%)."""
    percent = 100 * rate
    decimals = 1 - math.floor(math.log10(percent)) if 0 < percent < 1 else 1
    return f"{percent:.{decimals}f}%"


def patterns(graph: NeuronGraph) -> list[tuple[str, float]]:
    """Every complete pattern of the trie, strongest first, written in reading order with `*` for gaps."""
    found: list[tuple[str, float]] = []

    def walk(node: Any, path: list[str]) -> None:
        here = path + ["*" if node.kind == GAP else f"[{visible_text(node.token or node.key or '')}]"]
        if node.end_activation is not None:
            found.append((" ".join(reversed(here)), node.end_activation))
        for child in node.children:
            walk(child, here)

    for root in graph.roots:
        walk(root, [])
    return sorted(found, key=lambda item: -item[1])


PREDICT_TOKEN_BUDGET = 4096  # padded tokens per forward pass of `n2g predict` (bounds its memory)


def prediction_table(graph: NeuronGraph, model: LoadedModel, text: str) -> str:
    """Per token: the graph's prediction and the neuron's real activation, both as fractions of a_max."""
    vocab = Vocabulary(model.tokenizer, graph.token_matching)
    tokens = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not tokens:
        return "(no tokens)"
    predicted = GraphMatcher(graph).predict(vocab.keys(tokens))
    real = LayerProbe(model, graph.layer, PREDICT_TOKEN_BUDGET).text_acts([graph.neuron], tokens)[0] / graph.a_max
    threshold = graph.activation_threshold
    lines = [f"{'token':>24s}  predicted  real   (fires at >= {threshold} x a_max = {graph.a_max:.3f})"]
    for token, p, r in zip(vocab.texts(tokens), predicted.tolist(), np.asarray(real).tolist()):
        mark = "  <- fires" if r >= threshold else ""
        lines.append(f"{visible_text(token)[:24]:>24s}  {p:9.2f}  {r:5.2f}{mark}")
    return "\n".join(lines)
