"""The pivot sweep: other tokens a neuron fires on in the context of a training pivot, found through the model.

Top windows show a neuron only the tokens its corpus happened to put there. On SmolLM2 (layers 0-5), 45% of the
held-out firing positions are tokens that never fired in the neuron's training windows, and 56% of those fire
when put in place of a training pivot (benchmarks/RESULTS.md). Substituting every vocabulary token is too dear (a
row per token per prompt), so substitutes are ranked to first order: the gradient g of the neuron's activation at
the pivot with respect to the pivot's input embedding, against every embedding row (W_E @ g), one backward pass
for the prompts of all neurons of a group. The best `candidates` of each prompt then run for real, in one batched
pass stopped at the layer. A substitute whose activation reaches the threshold becomes a root whose context is the
source pattern's (the context it was measured in), so the graph claims no more than was measured.

Which prompts: per neuron the strongest pruned prompt of each distinct pivot token, at most `prompts` of them; a
substitute is never a special token nor a token the neuron already fires on in its prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from n2g.fit.building import context_steps
from n2g.fit.prompt import Prompt
from n2g.graphs.neuron_graph import NeuronGraph, PatternStep, TrieNode
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import Vocabulary


@dataclass(frozen=True)
class Substitute:
    """A token measured firing at a source prompt's pivot."""

    source: Prompt
    token: int
    value: float  # the neuron's activation with the substitute at the pivot (raw, not a fraction of a_max)


def sweep_sources(prompts: Sequence[Prompt], per_neuron: int) -> list[Prompt]:
    """Per neuron, the strongest prompt of each distinct pivot token, strongest first, at most `per_neuron`."""
    by_neuron: dict[int, list[Prompt]] = {}
    for prompt in sorted(prompts, key=lambda p: -p.pivot_value):
        chosen = by_neuron.setdefault(prompt.neuron, [])
        if len(chosen) < per_neuron and all(p.tokens[p.pivot] != prompt.tokens[prompt.pivot] for p in chosen):
            chosen.append(prompt)
    return [p for chosen in by_neuron.values() for p in chosen]


def known_tokens(prompts: Sequence[Prompt], floors: dict[int, float]) -> dict[int, set[int]]:
    """Per neuron, the tokens its prompts already show firing (a substitute must be new)."""
    known: dict[int, set[int]] = {}
    for prompt in prompts:
        firing = np.nonzero(prompt.acts > floors[prompt.neuron])[0]
        known.setdefault(prompt.neuron, set()).update(prompt.tokens[int(t)] for t in firing)
    return known


class PivotSweep:
    def __init__(self, probe: LayerProbe, candidates: int, prompts: int, excluded: Sequence[int]) -> None:
        """`excluded`: token ids never proposed (the tokenizer's special tokens)."""
        self.probe, self.candidates, self.prompts = probe, candidates, prompts
        self.embeddings = probe.model.bridge.W_E.detach()  # [vocab, d_model], in the model's dtype
        self.excluded = torch.tensor(sorted(set(excluded)), dtype=torch.long)

    def ranked(self, sources: Sequence[Prompt], known: dict[int, set[int]]) -> list[list[int]]:
        """Per source prompt, the `candidates` tokens whose first-order effect on the pivot is largest."""
        gradients = self.probe.pivot_gradients([(p.neuron, p.tokens) for p in sources], [p.pivot for p in sources])
        out: list[list[int]] = []
        embeddings = self.embeddings
        excluded = self.excluded.to(embeddings.device)
        for start in range(0, len(sources), 256):  # [256, vocab] scores at a time
            scores = gradients[start: start + 256].to(embeddings.device, embeddings.dtype) @ embeddings.T
            scores[:, excluded] = -torch.inf
            for row, prompt in enumerate(sources[start: start + 256]):
                own = sorted(known.get(prompt.neuron, set()) | {prompt.tokens[prompt.pivot]})
                scores[row, torch.tensor(own, device=scores.device)] = -torch.inf
            top = scores.topk(min(self.candidates, scores.shape[1]), dim=1)
            out.extend(tokens[values > -torch.inf].tolist() for tokens, values in zip(top.indices, top.values))
        return out

    def substitutes(self, prompts: Sequence[Prompt], floors: dict[int, float]) -> list[Substitute]:
        """Substitutes that fire above `floors[neuron]`; per neuron and token only the strongest."""
        sources = sweep_sources(prompts, self.prompts)
        if not sources or self.candidates <= 0:
            return []
        ranked = self.ranked(sources, known_tokens(prompts, floors))
        trials = [(source, token) for source, tokens in zip(sources, ranked) for token in tokens]
        rows = [(s.neuron, [*s.tokens[: s.pivot], token]) for s, token in trials]
        acts = self.probe.neuron_acts(rows, "sweep-check")
        best: dict[tuple[int, int], Substitute] = {}
        for (source, token), values in zip(trials, acts):
            value = float(values[source.pivot])
            held = best.get((source.neuron, token))
            if value > floors[source.neuron] and (held is None or value > held.value):
                best[(source.neuron, token)] = Substitute(source, token, value)
        return list(best.values())

    def add(self, graph: NeuronGraph, found: Substitute, vocab: Vocabulary) -> bool:
        """Put a substitute into its neuron's graph (`add_substitute`); whether it was added. A method, so that a
        sweep that finds or places substitutes otherwise (`benchmarks/sweep_ceiling.py`) replaces one object."""
        return add_substitute(graph, found, vocab)


def add_substitute(graph: NeuronGraph, found: Substitute, vocab: Vocabulary) -> bool:
    """A root for the substitute with the context of its source's pivot pattern: the context it was measured in,
    so the graph claims no more than was measured. (Cutting it where the pattern check ended the source's pattern
    early gained 0.005 held-out F1 and lost 0.008 on random text: benchmarks/RESULTS.md.) A source whose pattern
    has no end left (the check dropped it as misfiring) adds nothing. Returns whether the substitute was added."""
    source = found.source
    assert source.importance is not None
    tokens = [*source.tokens[: source.pivot], found.token]
    keys, texts = vocab.keys(tokens), vocab.texts(tokens)
    pivot = source.pivot
    context = context_steps(source.importance[:, pivot], pivot, keys, texts, graph.importance_threshold)
    if not _ends_on_path(graph.find_root(vocab.keys([source.tokens[pivot]])[0]), context):
        return False
    new_root = graph.find_root(keys[pivot]) is None
    graph.insert(keys[pivot], texts[pivot], found.value / graph.a_max, float(source.importance[pivot, pivot]),
                 context)
    if new_root:  # marked, so that a drawing can tell the sweep's roots from those the top windows showed
        root = graph.find_root(keys[pivot])
        assert root is not None
        root.swept = True
    return True


def _ends_on_path(root: TrieNode | None, context: Sequence[PatternStep]) -> bool:
    """Whether any node on the path from `root` that `context` spells is a pattern end."""
    node = root
    for step in [None, *context]:
        if step is not None and node is not None:
            node = node.find(step.kind, step.key)
        if node is None:
            return False
        if node.is_end:
            return True
    return False
