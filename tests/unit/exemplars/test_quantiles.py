"""The quantile sample (`MiningConfig.quantile_windows`) against a brute-force computation on the tiny model: exactly
the windows the rule selects, whatever the batch size or a resume in the middle of the second pass, in a state whose
size does not grow with the corpus."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from n2g.errors import N2GError
from n2g.exemplars import files as store
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import ExemplarMiner, MiningConfig
from n2g.exemplars.quantiles import deciles, quantile_keys
from n2g.exemplars.run import fingerprint, mine_exemplars, window_batches, window_stream
from n2g.model.loading import load_model
from tests.brute_force import quantile_sample, top_k_windows
from tests.unit.exemplars.test_miner import brute_force_activations

CONFIG = MiningConfig(layers=(0, 2), top_k=4, window_len=16, min_window_len=4, max_tokens=4000, batch_size=8,
                      max_windows_per_doc=0, n_random_windows=10, dedup_context=3, checkpoint_every_s=1e9,
                      quantile_windows=3, quantile_from=0.0)
QUANTILE_NAMES = [name for name in store.QUANTILE_TENSORS]


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def mine(model, corpus: Path, out: Path, config: MiningConfig) -> ExemplarSet:
    mine_exemplars(model, str(corpus), out, config, progress=False)
    return ExemplarSet(out)


@pytest.fixture(scope="module")
def straight(tiny_model, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quantiles")
    mine(tiny_model, small_corpus_dir, out, CONFIG)
    return out


def key(window_id: int) -> int:
    return int(quantile_keys(CONFIG.seed, torch.tensor([window_id]))[0])


VARIANTS = {
    "every-decile": (CONFIG, False),
    "firing-deciles-dense-bos": (replace(CONFIG, quantile_from=0.5, quantile_windows=2, sparse_merge=False,
                                         max_tokens=2500), True),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantile_windows_equal_brute_force(variant: str, tiny_model_dir: Path, small_corpus_dir: Path,
                                            tmp_path: Path) -> None:
    config, bos = VARIANTS[variant]
    model = load_model(str(tiny_model_dir), device="cpu", dtype="fp32", prepend_bos=bos)
    mined = mine(model, small_corpus_dir, tmp_path, config)
    reference = brute_force_activations(model, small_corpus_dir, config)
    lowest = round(config.quantile_from * 10)
    sampled = 0
    for layer in config.layers:
        shard = mined.layer(layer)
        windows = [(wid, tokens, acts) for (wid, tokens), acts in zip(reference["windows"], reference["acts"][layer])]
        for row in range(shard["neurons"].numel()):
            top = top_k_windows(windows, row, config.top_k, config.dedup_context)
            expected = quantile_sample(windows, row, float(shard["a_max"][row]), top, config.quantile_windows,
                                       lowest, config.dedup_context, key)
            for decile, chosen in expected.items():
                slots = (shard["quantile_deciles"][row] == decile).nonzero().squeeze(1)
                kept = shard["quantile_window_ids"][row, slots].tolist()
                assert kept == chosen, f"{variant}: neuron {layer}.{row}, decile {decile}"
                sampled += len(chosen)
                for slot, window_id in zip(slots.tolist(), chosen):
                    length = int(shard["quantile_lengths"][row, slot])
                    truth = windows[window_id][2][:, row]
                    assert torch.equal(shard["quantile_acts"][row, slot, :length], truth)
                    assert float(shard["quantile_values"][row, slot]) == float(truth.max())
                    assert shard["quantile_tokens"][row, slot, :length].tolist() == windows[window_id][1]
            filled = shard["quantile_window_ids"][row] >= 0
            assert int(filled.sum()) == sum(len(c) for c in expected.values())
            assert not set(shard["quantile_window_ids"][row, filled].tolist()) & set(top)
    assert sampled > 0


def test_deciles() -> None:
    a_max = torch.tensor([2.0, 2.0, 0.0])
    peaks = torch.tensor([[1.0, 2.0, 0.5], [0.19, -0.5, 0.0]])
    assert deciles(peaks, a_max).tolist() == [[5, 9, -1], [0, -1, -1]]


def test_same_windows_whatever_the_batch_size(tiny_model, small_corpus_dir: Path, straight: Path,
                                             tmp_path: Path) -> None:
    other = mine(tiny_model, small_corpus_dir, tmp_path, replace(CONFIG, batch_size=5))
    for layer in CONFIG.layers:
        for name in QUANTILE_NAMES:
            assert torch.equal(other.layer(layer)[name], ExemplarSet(straight).layer(layer)[name]), name


def test_resumed_in_the_second_pass_gives_the_same_files(tiny_model, small_corpus_dir: Path, straight: Path,
                                                         tmp_path: Path) -> None:
    """The checkpoint a run leaves 4 batches into the quantile pass (as `_run_batches` saves it), resumed."""
    config = CONFIG.for_device("cpu")
    miner = ExemplarMiner(tiny_model, config)

    def batches():
        return window_batches(iter(window_stream(tiny_model, str(small_corpus_dir), config)), tiny_model, config)

    for batch in batches():
        miner.process(batch)
    miner.start_quantiles()
    for i, batch in enumerate(batches()):
        if i == 4:
            break
        miner.process(batch)
    store.save_checkpoint(tmp_path, {"settings": fingerprint(tiny_model, str(small_corpus_dir), config),
                                     "state": miner.state()})
    mine(tiny_model, small_corpus_dir, tmp_path, CONFIG)
    assert files(tmp_path) == files(straight)


def test_state_is_bounded_by_neurons_deciles_and_n(tiny_model, small_corpus_dir: Path) -> None:
    """Mined over 500 or 4000 tokens, the quantile state holds the same tensors: neurons x deciles x N windows."""
    sizes = []
    for tokens in (500, 4000):
        config = replace(CONFIG, max_tokens=tokens).for_device("cpu")
        miner = ExemplarMiner(tiny_model, config)
        for batch in window_batches(iter(window_stream(tiny_model, str(small_corpus_dir), config)), tiny_model,
                                    config):
            miner.process(batch)
        miner.start_quantiles()
        for batch in window_batches(iter(window_stream(tiny_model, str(small_corpus_dir), config)), tiny_model,
                                    config):
            miner.process(batch)
        state = miner.state()["quantiles"]["layers"]
        sizes.append({layer: {name: tuple(t.shape) for name, t in tensors.items()} for layer, tensors in state.items()})
    assert sizes[0] == sizes[1]
    rows = tiny_model.d_mlp * 10
    assert sizes[0][0]["acts"] == (rows, CONFIG.quantile_windows, CONFIG.window_len)


def test_off_keeps_the_settings_and_files_of_before(tiny_model, small_corpus_dir: Path) -> None:
    off = fingerprint(tiny_model, str(small_corpus_dir), replace(CONFIG, quantile_windows=0))
    assert "quantile_windows" not in off and "quantile_from" not in off
    on = fingerprint(tiny_model, str(small_corpus_dir), CONFIG)
    assert on["quantile_windows"] == 3 and on["quantile_from"] == 0.0


def test_without_the_option_no_quantile_tensors(straight: Path, tiny_model, small_corpus_dir: Path,
                                                tmp_path: Path) -> None:
    plain = mine(tiny_model, small_corpus_dir, tmp_path, replace(CONFIG, quantile_windows=0))
    assert not any(name.startswith("quantile_") for name in plain.layer(0))
    view = plain.neuron(0, 1, quantiles=True)
    assert view.quantile_windows == 0 and len(view.tokens) == CONFIG.top_k
    mined = ExemplarSet(straight)
    for layer in CONFIG.layers:  # the top-k pass is the same either way
        for name in ("window_ids", "values", "acts", "a_max", "fire_count"):
            assert torch.equal(plain.layer(layer)[name], mined.layer(layer)[name])
    both = mined.neuron(0, 1, quantiles=True)
    assert both.quantile_windows == int((mined.layer(0)["quantile_window_ids"][1] >= 0).sum()) > 0
    assert both.tokens[: CONFIG.top_k] == plain.neuron(0, 1).tokens
    assert len(both.tokens) == len(both.documents) == len(both.acts) == len(both.values) == CONFIG.top_k + \
        both.quantile_windows


def test_refused_with_ray(tiny_model, small_corpus_dir: Path, tmp_path: Path) -> None:
    executor = SimpleNamespace(device_type="cpu", workers=2)
    with pytest.raises(N2GError, match="--quantile-windows .* --ray"):
        mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False, executor=executor)


def test_both_signs_with_quantiles_keep_the_positive_sample_and_the_same_negative_side(
        tiny_model, small_corpus_dir: Path, straight: Path, tmp_path: Path) -> None:
    """--signs both --quantile-windows N: the positive side's shard and sample are those of a positive-only run; the
    negative side (no quantile sample: it is sampled on the positive a_max) is that of a --signs both run without
    quantiles."""
    both = mine(tiny_model, small_corpus_dir, tmp_path / "both", replace(CONFIG, signs="both"))
    plain = mine(tiny_model, small_corpus_dir, tmp_path / "plain", replace(CONFIG, signs="both", quantile_windows=0))
    alone = ExemplarSet(straight)
    for layer in CONFIG.layers:
        positive, negative = both.layer(layer), both.layer(layer, -1)
        for name, tensor in alone.layer(layer).items():
            assert torch.equal(positive[name], tensor), name
        assert not any(name.startswith("quantile_") for name in negative)
        for name, tensor in plain.layer(layer, -1).items():
            assert torch.equal(negative[name], tensor), name
        neuron = int(positive["neurons"][0])
        assert both.neuron(layer, neuron, -1, quantiles=True).quantile_windows == 0
        assert both.neuron(layer, neuron, 1, quantiles=True).quantile_windows == \
            alone.neuron(layer, neuron, quantiles=True).quantile_windows
