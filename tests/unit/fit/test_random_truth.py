"""The random windows' activations read for several layers in one pass equal each layer's own pass, and layers
whose values would not fit the memory bound get passes of their own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.fit.random_truth import RandomWindowTruth
from n2g.model.loading import LoadedModel
from n2g.model.probe import LayerProbe

WANTED = {0: [3, 1, 60], 2: [7, 0]}


@pytest.fixture(scope="module")
def exemplars(tiny_model: LoadedModel, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ExemplarSet:
    out = tmp_path_factory.mktemp("truth-exemplars")
    config = MiningConfig(layers=(0, 2), neurons=tuple(range(64)), top_k=4, window_len=24, n_random_windows=24,
                          batch_size=16, max_tokens=3000, max_windows_per_doc=0)
    mine_exemplars(tiny_model, str(small_corpus_dir), out, config, progress=False)
    return ExemplarSet(out)


def _alone(model: LoadedModel, exemplars: ExemplarSet, layer: int) -> list[list[np.ndarray]]:
    sample = exemplars.random_windows()
    values = LayerProbe(model, layer, 4096).all_neurons(sample["tokens"], sample["lengths"], WANTED[layer])
    return [[values[r, : int(n), j].numpy() for r, n in enumerate(sample["lengths"])]
            for j in range(len(WANTED[layer]))]


def test_one_pass_reads_every_layer_as_its_own_pass_would(tiny_model, exemplars) -> None:
    probe = LayerProbe(tiny_model, 0, 4096)
    truth = RandomWindowTruth(probe, exemplars, WANTED)
    first = truth.layer_truth(0)
    calls = probe.stats.forward_calls
    second = truth.layer_truth(2)
    assert probe.stats.forward_calls == calls > 0  # layer 2 came with layer 0's pass
    for layer, got in ((0, first), (2, second)):
        assert list(got) == WANTED[layer]
        for neuron, windows in zip(WANTED[layer], _alone(tiny_model, exemplars, layer)):
            for a, b in zip(got[neuron], windows):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_layers_past_the_memory_bound_get_their_own_pass(tiny_model, exemplars) -> None:
    probe = LayerProbe(tiny_model, 0, 4096)
    truth = RandomWindowTruth(probe, exemplars, WANTED, max_bytes=1)
    truth.layer_truth(0)
    calls = probe.stats.forward_calls
    later = truth.layer_truth(2)
    assert probe.stats.forward_calls == 2 * calls
    np.testing.assert_allclose(later[7][0], _alone(tiny_model, exemplars, 2)[0][0], rtol=1e-5, atol=1e-5)


def test_layers_asked_deepest_first_still_share_one_pass(tiny_model, exemplars) -> None:
    probe = LayerProbe(tiny_model, 0, 4096)
    truth = RandomWindowTruth(probe, exemplars, WANTED)
    truth.layer_truth(2)
    calls = probe.stats.forward_calls
    truth.layer_truth(0)
    assert probe.stats.forward_calls == calls


def test_a_layer_without_neurons_gets_nothing_and_no_layer_is_handed_out_twice(tiny_model, exemplars) -> None:
    from n2g.errors import N2GError

    probe = LayerProbe(tiny_model, 0, 4096)
    truth = RandomWindowTruth(probe, exemplars, {**WANTED, 1: []})
    assert truth.layer_truth(1) == {} and truth.layer_truth(7) == {}
    assert probe.stats.forward_calls == 0  # nothing wanted there: no pass
    truth.layer_truth(0)
    with pytest.raises(N2GError, match="already handed out"):
        truth.layer_truth(0)


def test_a_fitter_given_shared_values_fits_as_one_measuring_its_own(tiny_model, exemplars) -> None:
    config = FitConfig()
    truth = RandomWindowTruth(LayerProbe(tiny_model, 2, 4096), exemplars, WANTED)
    truth.layer_truth(0)
    shared = truth.layer_truth(2)  # from the pass that read layer 0 too
    given = LayerFitter(tiny_model, exemplars, 2, WANTED[2], config, random_truth=shared).fit(WANTED[2])
    own = LayerFitter(tiny_model, exemplars, 2, WANTED[2], config).fit(WANTED[2])
    for a, b in zip(given, own):
        assert a.status == b.status and a.activating_tokens() == b.activating_tokens()
        assert (a.scores and a.scores.n2g.random) == (b.scores and b.scores.n2g.random)  # None where dead
