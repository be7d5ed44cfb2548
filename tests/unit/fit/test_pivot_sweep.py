"""The pivot sweep on the tiny seeded Llama: its gradients are the neuron's at the pivot embedding, what it finds
is exactly what brute-force substitution finds when it may try the whole vocabulary, and a substitute enters the
graph with its source's context."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2g.fit.building import add_prompt
from n2g.fit.pivot_sweep import PivotSweep, Substitute, add_substitute, known_tokens, sweep_sources
from n2g.fit.prompt import Prompt
from n2g.graphs.neuron_graph import GAP, NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.model.loading import LoadedModel
from n2g.model.probe import GRADIENT_LAYERS, LayerProbe, gradient_budget
from n2g.model.token_keys import Vocabulary

LAYER = 1
ROWS = [(3, [40, 41, 42, 43, 44, 45]), (5, [100, 7, 200, 9]), (3, [60, 61, 62])]
PIVOTS = [5, 3, 2]


def _act_with_embedding_shift(model: LoadedModel, tokens: list[int], pivot: int, neuron: int,
                              shift: torch.Tensor) -> float:
    """The neuron at the pivot when the pivot's input embedding is moved by `shift`."""
    probe = LayerProbe(model, LAYER, 1024)

    def move(value: torch.Tensor, hook: object = None) -> torch.Tensor:
        value = value.clone()
        value[0, pivot] += shift
        return value

    captured: list[float] = []

    def read(activation: torch.Tensor, hook: object = None) -> None:
        captured.append(float(activation[0, pivot, neuron]))

    with torch.inference_mode():
        model.bridge.run_with_hooks(torch.tensor([tokens]), return_type=None,
                                    fwd_hooks=[("hook_embed", move), (probe.hook_name, read)])
    return captured[0]


def test_pivot_gradients_are_each_rows_own_directional_derivative(tiny_model: LoadedModel) -> None:
    probe = LayerProbe(tiny_model, LAYER, 1024)
    batched = probe.pivot_gradients(ROWS, PIVOTS)
    assert batched.shape == (3, tiny_model.bridge.cfg.d_model) and batched.dtype == torch.float32
    for r, ((neuron, tokens), pivot) in enumerate(zip(ROWS, PIVOTS)):
        alone = LayerProbe(tiny_model, LAYER, 1024).pivot_gradients([(neuron, tokens)], [pivot])[0]
        torch.testing.assert_close(batched[r], alone, atol=1e-5, rtol=1e-4)  # rows do not mix
        direction = alone / alone.norm()
        eps = 1e-3
        up = _act_with_embedding_shift(tiny_model, tokens, pivot, neuron, eps * direction)
        down = _act_with_embedding_shift(tiny_model, tokens, pivot, neuron, -eps * direction)
        assert (up - down) / (2 * eps) == pytest.approx(float(alone.norm()), rel=2e-2)
    assert probe.stats.by_stage["sweep-gradient"] == sum(len(t) for _, t in ROWS)


def _prompts(model: LoadedModel) -> list[Prompt]:
    probe = LayerProbe(model, LAYER, 1024)
    acts = probe.neuron_acts(ROWS)
    out = []
    for (neuron, tokens), pivot, values in zip(ROWS, PIVOTS, acts):
        prompt = Prompt(neuron, tokens[: pivot + 1], values[: pivot + 1], pivot, float(values[pivot]))
        prompt.importance = np.eye(pivot + 1, dtype=np.float32)
        prompt.importance[0, pivot] = 0.9  # the first token matters to the pivot
        out.append(prompt)
    return out


def _firing_by_brute_force(model: LoadedModel, prompts: list[Prompt], floors: dict[int, float],
                           excluded: set[int]) -> dict[tuple[int, int], float]:
    """Every vocabulary token at every prompt's pivot: (neuron, token) -> best activation above the floor."""
    probe = LayerProbe(model, LAYER, 4096)
    vocab = model.bridge.cfg.d_vocab
    known = known_tokens(prompts, floors)
    trials = [(p, t) for p in prompts for t in range(vocab)
              if t not in excluded and t not in known[p.neuron] and t != p.tokens[p.pivot]]
    acts = probe.neuron_acts([(p.neuron, [*p.tokens[: p.pivot], t]) for p, t in trials])
    best: dict[tuple[int, int], float] = {}
    for (p, t), values in zip(trials, acts):
        if values[p.pivot] > floors[p.neuron]:
            best[(p.neuron, t)] = max(best.get((p.neuron, t), -np.inf), float(values[p.pivot]))
    return best


def test_sweep_over_the_whole_vocabulary_finds_exactly_what_brute_force_finds(tiny_model: LoadedModel) -> None:
    prompts = _prompts(tiny_model)
    floors = {n: 0.5 * max(abs(p.pivot_value) for p in prompts if p.neuron == n) for n in (3, 5)}
    special = set(tiny_model.tokenizer.all_special_ids)
    expected = _firing_by_brute_force(tiny_model, prompts, floors, special)
    assert expected, "the brute force found nothing: the test would prove nothing"
    sweep = PivotSweep(LayerProbe(tiny_model, LAYER, 4096), tiny_model.bridge.cfg.d_vocab, 6, sorted(special))
    found = sweep.substitutes(prompts, floors)
    assert {(f.source.neuron, f.token): pytest.approx(f.value, abs=1e-5) for f in found} == expected
    assert not {f.token for f in found} & special


def test_a_narrow_sweep_tries_only_its_candidates_and_ranks_by_first_order_effect(tiny_model: LoadedModel) -> None:
    prompts = _prompts(tiny_model)
    sweep = PivotSweep(LayerProbe(tiny_model, LAYER, 4096), 8, 6, tiny_model.tokenizer.all_special_ids)
    floors = {3: 0.0, 5: 0.0}
    ranked = sweep.ranked(prompts, known_tokens(prompts, floors))
    assert [len(r) for r in ranked] == [8, 8, 8]
    gradients = LayerProbe(tiny_model, LAYER, 4096).pivot_gradients([(p.neuron, p.tokens) for p in prompts],
                                                                    [p.pivot for p in prompts])
    embeddings = tiny_model.bridge.W_E.detach()
    for prompt, tokens, gradient in zip(prompts, ranked, gradients):
        scores = (embeddings @ gradient).tolist()
        assert prompt.tokens[prompt.pivot] not in tokens
        assert all(scores[a] >= scores[b] - 1e-6 for a, b in zip(tokens, tokens[1:]))  # best first
    before = sweep.probe.stats.by_stage.get("sweep-check", 0)
    sweep.substitutes(prompts, floors)
    assert sweep.probe.stats.by_stage["sweep-check"] - before == 8 * sum(len(p.tokens) for p in prompts)


def test_sources_are_the_strongest_prompt_of_each_pivot_token_capped_per_neuron() -> None:
    def prompt(neuron: int, pivot_token: int, value: float) -> Prompt:
        return Prompt(neuron, [1, pivot_token], np.array([0.0, value], np.float32), 1, value)

    prompts = [prompt(0, 10, 1.0), prompt(0, 10, 3.0), prompt(0, 11, 2.0), prompt(0, 12, 0.5), prompt(1, 10, 1.0)]
    chosen = sweep_sources(prompts, 2)
    assert [(p.neuron, p.tokens[1], p.pivot_value) for p in chosen] == [(0, 10, 3.0), (0, 11, 2.0), (1, 10, 1.0)]
    assert known_tokens(prompts, {0: 0.9, 1: 0.9}) == {0: {10, 11}, 1: {10}}


def test_a_substitute_is_a_root_with_its_sources_context(tiny_model: LoadedModel) -> None:
    vocab = Vocabulary(tiny_model.tokenizer, "exact")
    source = Prompt(0, [50, 51, 52, 53], np.array([0.0, 0.0, 0.0, 2.0], np.float32), 3, 2.0)
    source.importance = np.eye(4, dtype=np.float32)
    source.importance[0, 3] = 0.9  # token 50 matters, 51 and 52 do not
    graph = NeuronGraph(model="tiny", layer=0, neuron=0, a_max=2.0, token_matching="exact")
    add_prompt(graph, source, vocab)
    add_substitute(graph, Substitute(source, 77, 1.5), vocab)
    root = next(r for r in graph.roots if r.key == vocab.keys([77])[0])
    gap = root.children[0]
    assert gap.kind == GAP and [c.key for c in gap.children] == vocab.keys([50])
    assert gap.children[0].end_activation == pytest.approx(0.75)
    matcher = GraphMatcher(graph)
    keys = vocab.keys([50, 60, 61, 77])
    assert matcher.predict(keys)[3] == pytest.approx(0.75)
    assert matcher.predict(vocab.keys([60, 61, 62, 77]))[3] == 0.0  # not without the source's context


def test_a_substitute_needs_its_sources_pattern_to_end_somewhere(tiny_model: LoadedModel) -> None:
    """The pattern check may end the source's pattern early (the substitute still takes the whole context) or
    drop every end on its path (the source misfires, so nothing is added)."""
    vocab = Vocabulary(tiny_model.tokenizer, "exact")
    source = Prompt(0, [50, 51, 53], np.array([0.0, 0.0, 2.0], np.float32), 2, 2.0)
    source.importance = np.eye(3, dtype=np.float32)
    source.importance[:2, 2] = 0.9  # both context tokens matter
    graph = NeuronGraph(model="tiny", layer=0, neuron=0, a_max=2.0, token_matching="exact")
    add_prompt(graph, source, vocab)
    root = graph.find_root(vocab.keys([53])[0])
    assert root is not None and not root.is_end
    deepest = root.children[0].children[0]
    deepest.end_activation = None
    root.children[0].end(0.8)  # as the check does: ` 51` alone was precise enough, the whole pattern misfired
    assert add_substitute(graph, Substitute(source, 77, 1.2), vocab)
    new = graph.find_root(vocab.keys([77])[0])
    assert new is not None
    assert [n.key for _, n in new.walk()] == vocab.keys([77, 51, 50]) and not new.children[0].is_end
    assert new.children[0].children[0].end_activation == pytest.approx(0.6)
    root.children[0].end_activation = None  # no end left on the source's path
    assert not add_substitute(graph, Substitute(source, 78, 1.2), vocab)
    assert graph.find_root(vocab.keys([78])[0]) is None


def test_gradient_batches_are_bounded_in_tokens_times_layers(tiny_model: LoadedModel) -> None:
    """A backward pass holds every layer up to its target: deeper layers get proportionally fewer tokens per pass,
    so a fitting task's memory does not grow with depth (and the model's weights are frozen: no weight gradients)."""
    assert gradient_budget(4096, 0) == gradient_budget(4096, GRADIENT_LAYERS - 1) == 4096
    assert gradient_budget(4096, 29) == 4096 * GRADIENT_LAYERS // 30
    for layer in range(64):
        assert gradient_budget(4096, layer) * (layer + 1) <= 4096 * GRADIENT_LAYERS
    assert gradient_budget(1, 63) == 1
    assert not any(p.requires_grad for p in tiny_model.bridge.parameters())
