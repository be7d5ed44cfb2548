"""The sweep-ceiling benchmark's sweep on the tiny seeded Llama: the oracle tries the gradient's candidates and then
every new held-out token, the plain variant is the default sweep, and a bare substitute matches in any context."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.sweep_ceiling import CeilingSweep
from n2g.fit.pivot_sweep import PivotSweep, Substitute, known_tokens
from n2g.fit.prompt import Prompt
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.model.loading import LoadedModel
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import Vocabulary

LAYER = 1


def _prompts(model: LoadedModel) -> list[Prompt]:
    rows = [(3, [40, 41, 42, 43]), (5, [100, 7, 200])]
    acts = LayerProbe(model, LAYER, 1024).neuron_acts(rows)
    return [Prompt(neuron, tokens, values, len(tokens) - 1, float(values[-1])) for (neuron, tokens), values
            in zip(rows, acts)]


def test_the_oracle_adds_every_new_held_out_token_after_the_gradients_candidates(tiny_model: LoadedModel) -> None:
    special = tiny_model.tokenizer.all_special_ids
    base = PivotSweep(LayerProbe(tiny_model, LAYER, 4096), 4, 6, special)
    prompts = _prompts(tiny_model)
    known = known_tokens(prompts, {3: -np.inf, 5: -np.inf})  # every prompt token counts as known
    gradient = base.ranked(prompts, known)
    assert CeilingSweep(base, None, bare=False).ranked(prompts, known) == gradient
    held_out = {3: [gradient[0][0], 41, special[0], 90, 91], 5: [92]}  # a ranked one, a known one, a special one
    oracle = CeilingSweep(base, held_out, bare=False).ranked(prompts, known)
    assert oracle == [[*gradient[0], *(t for t in (90, 91) if t not in gradient[0])],
                      [*gradient[1], *(t for t in (92,) if t not in gradient[1])]]
    assert all(len(set(tokens)) == len(tokens) for tokens in oracle)


def test_a_bare_substitute_is_a_root_that_fires_in_any_context(tiny_model: LoadedModel) -> None:
    vocab = Vocabulary(tiny_model.tokenizer, "exact")
    source = Prompt(0, [50, 51, 53], np.array([0.0, 0.0, 2.0], np.float32), 2, 2.0)
    source.importance = np.eye(3, dtype=np.float32)
    source.importance[0, 2] = 0.9  # the context the default sweep would give the substitute
    sweep = CeilingSweep(PivotSweep(LayerProbe(tiny_model, LAYER, 1024), 4, 6, []), None, bare=True)
    graph = NeuronGraph(model="tiny", layer=0, neuron=0, a_max=2.0, token_matching="exact")
    assert sweep.add(graph, Substitute(source, 77, 1.5), vocab)
    root = graph.find_root(vocab.keys([77])[0])
    assert root is not None and root.is_end and not root.children
    assert GraphMatcher(graph).predict(vocab.keys([60, 61, 77]))[2] == pytest.approx(0.75)
