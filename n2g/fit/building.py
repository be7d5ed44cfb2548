"""Graph building: a prompt's importance matrix into trie patterns (what `NeuronGraph.insert` takes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from n2g.fit.prompt import Prompt
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep
from n2g.model.token_keys import Vocabulary


def context_steps(importance: np.ndarray, t: int, keys: Sequence[str], texts: Sequence[str],
                  threshold: float) -> list[PatternStep]:
    """The context of position t, nearest first: important tokens, runs of others collapsed into one gap,
    nothing after the last important token."""
    steps: list[PatternStep] = []
    for k in range(t - 1, -1, -1):
        if importance[k] >= threshold:
            steps.append(PatternStep(TOKEN, keys[k], texts[k], float(importance[k])))
        elif not steps or steps[-1].kind != GAP:
            steps.append(PatternStep(GAP))
    while steps and steps[-1].kind == GAP:
        steps.pop()
    return steps


def add_prompt(graph: NeuronGraph, prompt: Prompt, vocab: Vocabulary) -> None:
    assert prompt.importance is not None
    keys, texts = vocab.keys(prompt.tokens), vocab.texts(prompt.tokens)
    norm = prompt.acts / graph.a_max
    norm[prompt.pivot] = prompt.pivot_value / graph.a_max
    for t in np.nonzero(norm > graph.activation_threshold)[0].tolist():
        context = context_steps(prompt.importance[:, t], t, keys, texts, graph.importance_threshold)
        graph.insert(keys[t], texts[t], float(norm[t]), float(prompt.importance[t, t]), context)
