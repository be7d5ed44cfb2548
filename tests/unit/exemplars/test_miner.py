"""Exemplar mining against a brute-force computation on the tiny model, and its files on disk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from n2g.exemplars.corpus import iter_documents
from n2g.exemplars.files import ExemplarSet, layer_file
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.exemplars.windows import WindowStream, batch_windows
from n2g.files import LOCK_FILE
from n2g.model.loading import load_model
from tests.brute_force import top_k_windows

CONFIG = MiningConfig(layers=(0, 2), top_k=6, window_len=16, min_window_len=4, max_tokens=6000, batch_size=8,
                      max_windows_per_doc=0,
                      n_random_windows=10, dedup_context=3, checkpoint_every_s=1e9)


def brute_force_activations(model, corpus: Path, config: MiningConfig) -> dict:
    """Every window's activations for the requested neurons of the requested layers, via `run_with_cache`."""
    stream = WindowStream(iter_documents(str(corpus)), model.tokenizer, config.window_len,
                          config.min_window_len, config.max_tokens)
    windows: list[tuple[int, list[int]]] = []
    acts: dict[int, list[torch.Tensor]] = {layer: [] for layer in config.layers}
    names = [model.neuron_hook(layer) for layer in config.layers]
    bos = model.bos_to_prepend
    neurons = list(config.neurons) if config.neurons is not None else slice(None)
    for batch in batch_windows(stream, config.batch_size, config.window_len, model.pad_token_id, bos):
        _, cache = model.bridge.run_with_cache(batch.tokens, names_filter=lambda n: n in names)
        for row, length in enumerate(batch.lengths.tolist()):
            windows.append((int(batch.window_ids[row]), batch.content[row, :length].tolist()))
            first = int(bos is not None)  # the BOS position is never a candidate
            for layer in config.layers:
                acts[layer].append(cache[model.neuron_hook(layer)][row, first:first + length, neurons].clone())
    return {"windows": windows, "acts": acts}


VARIANTS = {
    "cpu-sparse": (CONFIG, False),
    "dense-merge": (replace(CONFIG, sparse_merge=False), False),
    "bos": (replace(CONFIG, max_tokens=3000), True),
    "k1-one-neuron": (replace(CONFIG, top_k=1, neurons=(5,), max_tokens=3000), False),
    "windows-shorter-than-dedup-context": (
        replace(CONFIG, window_len=4, min_window_len=2, dedup_context=8, max_tokens=1500), False),
    "both-signs": (replace(CONFIG, signs="both", max_tokens=3000), False),
}


@pytest.fixture(scope="module")
def mined(tiny_model, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ExemplarSet:
    out = tmp_path_factory.mktemp("mined")
    mine_exemplars(tiny_model, str(small_corpus_dir), out, CONFIG, progress=False)
    return ExemplarSet(out)


@pytest.fixture(scope="module")
def brute(tiny_model, small_corpus_dir: Path) -> dict:
    return brute_force_activations(tiny_model, small_corpus_dir, CONFIG)


@pytest.mark.parametrize("variant", VARIANTS)
def test_top_k_equals_brute_force(variant: str, tiny_model_dir: Path, small_corpus_dir: Path,
                                  tmp_path: Path) -> None:
    config, bos = VARIANTS[variant]
    model = load_model(str(tiny_model_dir), device="cpu", dtype="fp32", prepend_bos=bos)
    mine_exemplars(model, str(small_corpus_dir), tmp_path, config, progress=False)
    mined_set = ExemplarSet(tmp_path)
    reference = brute_force_activations(model, small_corpus_dir, config)
    for layer, sign in [(layer, sign) for layer in config.layers for sign in config.sign_values()]:
        shard = mined_set.layer(layer, sign)  # the negative side: the top-k of the negated activations
        windows = [(wid, tokens, sign * acts)
                   for (wid, tokens), acts in zip(reference["windows"], reference["acts"][layer])]
        for row in range(shard["neurons"].numel()):
            expected = top_k_windows(windows, row, config.top_k, config.dedup_context)
            assert shard["window_ids"][row].tolist() == expected, f"{variant}: row {row} of layer {layer} ({sign})"
            for slot, window_id in enumerate(expected):
                length = int(shard["lengths"][row, slot])
                truth = windows[window_id][2][:, row]
                assert length == truth.numel()
                assert torch.equal(shard["acts"][row, slot, :length], truth)
                assert float(shard["values"][row, slot]) == float(truth.max())
                assert shard["tokens"][row, slot, :length].tolist() == windows[window_id][1]


def test_negative_side_is_the_minimum_and_its_own_fire_count(tiny_model, small_corpus_dir: Path,
                                                            tmp_path: Path) -> None:
    """With --signs both each neuron's negative exemplars start at its most negative window: a_max of the negative
    side is -min over the corpus, its strongest window is the one holding that minimum, and its fire count counts
    tokens below -fire_threshold."""
    config = replace(CONFIG, signs="both", max_tokens=3000)
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, config, progress=False)
    mined_set = ExemplarSet(tmp_path)
    assert mined_set.signs == [1, -1] and mined_set.manifest["settings"]["signs"] == "both"
    reference = brute_force_activations(tiny_model, small_corpus_dir, config)
    for layer in config.layers:
        negative, every_token = mined_set.layer(layer, -1), torch.cat(reference["acts"][layer])
        assert torch.equal(negative["a_max"], -every_token.min(dim=0).values)
        assert torch.equal(negative["fire_count"], (every_token < 0).sum(dim=0))
        minimum_window = [min(range(len(reference["windows"])), key=lambda w: float(reference["acts"][layer][w][:, n]
                                                                               .min())) for n in range(3)]
        assert negative["window_ids"][:3, 0].tolist() == [reference["windows"][w][0] for w in minimum_window]
        view = mined_set.neuron(layer, 1, -1)
        assert view.sign == -1 and view.a_max == float(view.values[0]) > 0
        assert float(view.acts[0].max()) == view.a_max  # stored negated: the fit sees a positive-direction problem
        assert torch.equal(mined_set.layer(layer, 1)["a_max"], every_token.max(dim=0).values)  # positive unchanged


def test_signs_both_is_a_changed_setting_and_positive_is_recorded_as_before(
        tiny_model, small_corpus_dir: Path, mined: ExemplarSet) -> None:
    """Exemplar directories mined before signs existed record no `signs`: positive mining still matches them; a
    re-run with --signs both into a positive directory is refused like any changed setting."""
    from n2g.errors import N2GError

    assert "signs" not in mined.manifest["settings"] and mined.signs == [1]
    with pytest.raises(N2GError, match="signs"):
        mine_exemplars(tiny_model, str(small_corpus_dir), mined.dir, replace(CONFIG, signs="both"), progress=False)
    with pytest.raises(N2GError, match="no negative exemplars"):
        mined.neuron(0, 1, -1)


def test_forward_pass_stops_after_the_last_requested_layer(tiny_model, small_corpus_dir: Path,
                                                           tmp_path: Path) -> None:
    layers = tiny_model.bridge.original_model.model.layers
    calls = {0: 0, 1: 0}
    handles = [layers[i].register_forward_pre_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1)) for i in (0, 1)]
    try:
        mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, replace(CONFIG, layers=(0,), max_tokens=500),
                       progress=False)
    finally:
        for handle in handles:
            handle.remove()
    assert calls[0] > 0 and calls[1] == 0


def test_duplicates_were_really_removed(mined: ExemplarSet, brute: dict) -> None:
    """The corpus holds bisect.py twice: without dedup some neuron would keep both copies of a window."""
    shard = mined.layer(0)
    texts = {window_id: tuple(tokens) for window_id, tokens in brute["windows"]}
    duplicated = [t for t in set(texts.values()) if list(texts.values()).count(t) > 1]
    assert duplicated, "the fixture corpus should contain identical windows"
    for neuron in range(shard["neurons"].numel()):
        kept = [texts[int(w)] for w in shard["window_ids"][neuron]]
        assert len(kept) == len(set(kept)), f"neuron 0.{neuron} kept identical windows"


def test_statistics_and_manifest(mined: ExemplarSet, brute: dict) -> None:
    for layer in CONFIG.layers:
        shard = mined.layer(layer)
        every_token = torch.cat(brute["acts"][layer])  # [tokens, neuron]
        assert torch.equal(shard["a_max"], every_token.max(dim=0).values)
        assert torch.equal(shard["fire_count"], (every_token > 0).sum(dim=0))
        values = shard["values"]
        assert torch.all(values[:, :-1] >= values[:, 1:]), "values are not sorted"
        peak_acts = shard["acts"].gather(2, shard["peak_pos"].unsqueeze(-1)).squeeze(-1)
        assert torch.equal(peak_acts, values)
    assert mined.manifest["tokens"] == sum(len(t) for _, t in brute["windows"]) == CONFIG.max_tokens
    assert mined.manifest["windows"] == len(brute["windows"])
    assert mined.manifest["layers"] == list(CONFIG.layers)


def test_random_sample_is_shared_and_real(mined: ExemplarSet, brute: dict) -> None:
    sample = mined.random_windows()
    assert sample["window_ids"].numel() == CONFIG.n_random_windows
    for row, window_id in enumerate(sample["window_ids"].tolist()):
        length = int(sample["lengths"][row])
        assert sample["tokens"][row, :length].tolist() == brute["windows"][window_id][1]


def test_neuron_view_names_documents(mined: ExemplarSet) -> None:
    view = mined.neuron(2, 5)
    assert len(view.tokens) == CONFIG.top_k
    assert all(Path(doc.split("#")[0]).suffix == ".txt" for doc in view.documents)
    assert view.a_max == float(view.values[0])
    assert 0.0 <= view.fire_rate <= 1.0


def test_neuron_subset_matches_full_layer(tiny_model, small_corpus_dir: Path, mined: ExemplarSet,
                                          tmp_path: Path) -> None:
    subset = MiningConfig(**{**CONFIG.__dict__, "neurons": (3, 17, 40)})
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, subset, progress=False)
    part = load_file(str(layer_file(tmp_path, 2)))
    full = mined.layer(2)
    assert part["neurons"].tolist() == [3, 17, 40]
    for row, neuron in enumerate([3, 17, 40]):
        assert torch.equal(part["window_ids"][row], full["window_ids"][neuron])
        assert torch.equal(part["acts"][row], full["acts"][neuron])


def test_finished_run_is_not_redone(tiny_model, small_corpus_dir: Path, mined: ExemplarSet) -> None:
    def written() -> dict[str, int]:  # the lock file names its latest holder, so it is rewritten on every run
        return {p.name: p.stat().st_mtime_ns for p in mined.dir.iterdir() if p.name != LOCK_FILE}

    before = written()
    mine_exemplars(tiny_model, str(small_corpus_dir), mined.dir, CONFIG, progress=False)
    assert written() == before


def test_show_labels_the_share_above_the_fire_threshold_honestly(mined: ExemplarSet, tiny_model_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`n2g show --exemplars`: the share of tokens above the miner's fire threshold (0) is a sign count on a gated
    MLP, not a firing rate, and is labelled as such."""
    from n2g.exemplars.display import print_neuron

    view = mined.neuron(2, 5)
    print_neuron(mined, (2, 5), 1, str(tiny_model_dir))
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"neuron 2:5: a_max {view.a_max:.3f}, activation > 0 on {100 * view.fire_rate:.1f}% of mined "
                     "tokens (not a firing rate: see the graph's)")
