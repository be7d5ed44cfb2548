"""Graph fitting end to end on a planted neuron: a tiny Llama whose layer-0 neuron fires on exactly one token,
by hand-set weights. Also the graph directory (resume, idempotency) and batched vs one-neuron-at-a-time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.fit.fitter import FitConfig, LayerFitter, Windows, firing_rate, random_halves
from n2g.fit.run import fit_graphs
from n2g.graphs.files import GraphDirectory, layer_path
from n2g.graphs.prediction import GraphMatcher
from n2g.graphs.scoring import PREDICTORS
from n2g.model.loading import LoadedModel, load_model
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import Vocabulary
from tests.planted import frequent_token, plant_neurons

PLANTED = 5  # the neuron of layer 0 that fires on one token


@pytest.fixture(scope="module")
def planted(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """(model directory, planted token id): neuron PLANTED of layer 0 fires on that token alone (`tests.planted`),
    silu(g x) * (g x) > 0 there and exactly 0 elsewhere."""
    token = frequent_token(tiny_model_dir, small_corpus_dir)
    return plant_neurons(tiny_model_dir, tmp_path_factory.mktemp("planted"), token, {PLANTED: 3.0}), token


@pytest.fixture(scope="module")
def planted_model(planted) -> LoadedModel:
    return load_model(str(planted[0]), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def planted_exemplars(planted_model: LoadedModel, small_corpus_dir: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> ExemplarSet:
    out = tmp_path_factory.mktemp("planted-exemplars")
    config = MiningConfig(layers=(0, 1), neurons=tuple(range(8)), top_k=12, window_len=32, n_random_windows=64,
                          batch_size=16, max_tokens=0, max_windows_per_doc=0)
    mine_exemplars(planted_model, str(small_corpus_dir), out, config, progress=False)
    return ExemplarSet(out)


def test_planted_neuron_is_exact(planted, planted_model: LoadedModel) -> None:
    _, token = planted
    probe = LayerProbe(planted_model, 0, 1024)
    acts = probe.neuron_acts([(PLANTED, [token, 7, token, 9]), (PLANTED, [11, 12])])
    assert acts[0][0] > 10 and acts[0][2] == pytest.approx(acts[0][0]) and acts[0][1] == acts[0][3] == 0.0
    assert np.all(acts[1] == 0.0)


def test_planted_graph_has_exactly_the_token_and_f1_one(planted, planted_model, planted_exemplars) -> None:
    _, token = planted
    graph = LayerFitter(planted_model, planted_exemplars, 0, [PLANTED], FitConfig()).fit([PLANTED])[0]
    key = Vocabulary(planted_model.tokenizer, "exact").keys([token])[0]
    assert graph.status == "fitted"
    assert graph.activating_tokens() == [key]
    assert graph.context_tokens() == []  # no context matters to this neuron: every context token is ~0 important
    assert graph.stats.test_windows is not None and graph.stats.test_windows > 0
    assert graph.scores is not None and graph.scores.n2g.test is not None and graph.scores.n2g.random is not None
    for split in ("test", "random"):
        assert graph.scores.value("n2g", split, "f1") == 1.0, graph.scores.n2g
    assert graph.scores.n2g.test.tp > 0 and graph.scores.n2g.random.tp > 0
    assert graph.scores.n2g.test.pearson == pytest.approx(1.0, abs=1e-4)


def test_quantile_windows_are_training_and_test_evidence(planted_model, planted_exemplars, small_corpus_dir: Path,
                                                        tmp_path: Path) -> None:
    """Mined with 6 quantile windows of the top decile (the planted neuron fires at a_max or not at all), the graph
    trains on them too: all of them with every window training, split by document with the top-k otherwise."""
    mining = MiningConfig(layers=(0,), neurons=(PLANTED,), top_k=12, window_len=32, n_random_windows=64,
                          batch_size=16, max_tokens=0, max_windows_per_doc=0, quantile_windows=6, quantile_from=0.9)
    mine_exemplars(planted_model, str(small_corpus_dir), tmp_path, mining, progress=False)
    sampled = ExemplarSet(tmp_path)
    assert sampled.neuron(0, PLANTED, quantiles=True).quantile_windows == 6
    config = FitConfig(augment=_none(), train_fraction=1.0, sweep_candidates=0)
    plain = LayerFitter(planted_model, planted_exemplars, 0, [PLANTED], config).fit([PLANTED])[0]
    graph = LayerFitter(planted_model, sampled, 0, [PLANTED], config).fit([PLANTED])[0]
    assert plain.stats.quantile_windows is None and graph.stats.quantile_windows == 6
    assert graph.stats.train_windows == plain.stats.train_windows + 6
    assert graph.stats.prompts >= plain.stats.prompts + 6  # each quantile window fires: at least one prompt each
    split = LayerFitter(planted_model, sampled, 0, [PLANTED], replace(config, train_fraction=0.5)).fit([PLANTED])[0]
    assert split.stats.train_windows + split.stats.test_windows == plain.stats.train_windows + 6
    assert 0 <= split.stats.quantile_windows <= 6


def test_firing_rate_counts_tokens_at_half_a_max_not_positive_ones() -> None:
    """Signed (SwiGLU) activations: most tokens are a little above 0; firing is >= threshold x a_max, as scored."""
    windows = [np.array([-3.0, 0.1, 0.2, 2.0], np.float32), np.array([4.0, 1.99, 0.01], np.float32)]
    assert firing_rate(windows, 4.0, 0.5) == pytest.approx(2 / 7)  # 2.0 (exactly half) and 4.0
    assert firing_rate(windows, 4.0, 0.25) == pytest.approx(3 / 7)
    assert firing_rate([], 4.0, 0.5) is None and firing_rate(windows, 0.0, 0.5) is None


def test_planted_graph_firing_rate_is_the_planted_tokens_share(planted, planted_model, planted_exemplars) -> None:
    """The planted neuron fires (at a_max) on one token and is exactly 0 elsewhere: its firing rate is that token's
    share of the random windows' tokens."""
    _, token = planted
    sample = planted_exemplars.random_windows()
    tokens = [sample["tokens"][r, : int(length)] for r, length in enumerate(sample["lengths"].tolist())]
    expected = sum(int((row == token).sum()) for row in tokens) / sum(len(row) for row in tokens)
    assert 0 < expected < 0.1
    graph = LayerFitter(planted_model, planted_exemplars, 0, [PLANTED], FitConfig(augment=_none())).fit([PLANTED])[0]
    assert graph.stats.firing_rate == pytest.approx(expected)
    assert graph.stats.fire_rate == pytest.approx(planted_exemplars.neuron(0, PLANTED).fire_rate)
    again = type(graph).from_json(graph.to_json())
    assert again.stats.firing_rate == graph.stats.firing_rate


def test_random_halves_are_disjoint_and_fixed() -> None:
    windows = Windows([[str(i)] for i in range(7)], [np.full(1, i, np.float32) for i in range(7)])
    fit, scored = random_halves(windows)
    assert [k[0] for k in fit.keys] == ["0", "2", "4", "6"] and [k[0] for k in scored.keys] == ["1", "3", "5"]
    assert [float(a[0]) for a in scored.acts] == [1.0, 3.0, 5.0]


def test_random_windows_score_only_the_half_fitting_never_saw(planted_model, planted_exemplars) -> None:
    """The pattern check may use the even random windows; the out-of-distribution score counts only the odd ones,
    whatever the mode, so checked and unchecked graphs are scored on the same text."""
    lengths = planted_exemplars.random_windows()["lengths"]
    for end_precision in (None, 0.7):
        graph = LayerFitter(planted_model, planted_exemplars, 0, [PLANTED],
                            FitConfig(augment=_none(), end_precision=end_precision)).fit([PLANTED])[0]
        assert graph.stats.random_windows_scored == len(lengths) // 2
        assert graph.scores is not None
        for method in PREDICTORS:
            random_score = graph.scores.of(method).random
            assert random_score is not None and random_score.tokens == int(lengths[1::2].sum())


def test_graphs_predict_the_windows_they_were_fit_on(planted_model, planted_exemplars) -> None:
    """Every neuron of layer 1 fires in the corpus and has top windows above the activation threshold, so each
    one gets a fitted graph; its patterns are complete matches in its own pruned prompts, so it predicts firing
    in its windows, and every value it predicts is the end activation of one of its patterns."""
    neurons = list(range(8))
    fitter = LayerFitter(planted_model, planted_exemplars, 1, neurons, FitConfig(augment=_none()))
    graphs = fitter.fit(neurons)
    assert [graph.neuron for graph in graphs] == neurons
    vocab = Vocabulary(planted_model.tokenizer, "exact")
    for graph in graphs:
        ex = planted_exemplars.neuron(1, graph.neuron)
        assert ex.a_max > 0 and float(ex.acts[0].max()) == pytest.approx(ex.a_max)  # the fixture: it fires
        assert graph.status == "fitted", (graph.neuron, graph.status, graph.reason)
        assert graph.a_max == pytest.approx(ex.a_max) and graph.roots and graph.node_count() >= len(graph.roots)
        ends = {np.float32(node.end_activation) for node in _nodes(graph) if node.end_activation is not None}
        assert ends and min(ends) > graph.activation_threshold, ends  # a pattern's end is where it predicts firing
        predicted = [GraphMatcher(graph).predict(vocab.keys(tokens)) for tokens in ex.tokens]
        assert max(float(p.max()) for p in predicted) > graph.activation_threshold
        assert {value for p in predicted for value in p[p > 0]} <= ends
        assert all(float(p.min()) >= 0.0 and len(p) == len(tokens) for p, tokens in zip(predicted, ex.tokens))


def _nodes(graph) -> list:
    stack, out = list(graph.roots), []
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _none():
    from n2g.fit.augmentation import AugmentConfig

    return AugmentConfig(method="none")


def test_batched_equals_sequential(planted_model, planted_exemplars) -> None:
    neurons = list(range(8))
    batched = LayerFitter(planted_model, planted_exemplars, 1, neurons, FitConfig()).fit(neurons)
    sequential_fitter = LayerFitter(planted_model, planted_exemplars, 1, neurons, FitConfig(sequential=True))
    sequential = [g for group in sequential_fitter.groups() for g in sequential_fitter.fit(group)]
    assert len(list(sequential_fitter.groups())) == len(neurons)
    for a, b in zip(batched, sequential):
        assert a.activating_tokens() == b.activating_tokens()
        assert a.context_tokens() == b.context_tokens()
        assert a.scores is not None and b.scores is not None
        assert a.scores.value("n2g", "test", "f1") == b.scores.value("n2g", "test", "f1")
        # The stated tolerance (README, "Fitting graphs"): values measured in other batch shapes agree to 1e-5
        # relative; the trie's tokens and the firing scores are the same.
        for metric in ("pearson", "precision", "recall"):
            x, y = a.scores.value("n2g", "test", metric), b.scores.value("n2g", "test", metric)
            assert (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-5 * max(1.0, abs(x)))
        for (_, node_a), (_, node_b) in zip(a.nodes(), b.nodes(), strict=True):
            assert abs(node_a.max_activation - node_b.max_activation) <= 1e-5 * max(1.0, node_a.max_activation)


def test_fit_resumes_and_never_duplicates(planted_model, planted_exemplars, tmp_path: Path) -> None:
    out = tmp_path / "graphs"
    config = FitConfig(augment=_none(), group_size=2)
    first = fit_graphs(planted_model, planted_exemplars, out, [0], [0, 1, 2], config, progress=False)
    assert first.fitted_now == 3
    with layer_path(out, 0).open("a") as handle:
        handle.write('{"format": "n2g-graph", "neuron": 3, "tor')  # a kill in the middle of a write
    second = fit_graphs(planted_model, planted_exemplars, out, [0], list(range(6)), config, progress=False)
    assert second.fitted_now == 3
    again = fit_graphs(planted_model, planted_exemplars, out, [0], list(range(6)), config, progress=False)
    assert again.fitted_now == 0
    lines = layer_path(out, 0).read_text().splitlines()
    assert sorted(GraphDirectory(out).done(0)) == list(range(6)) and len(lines) == 6
    assert sum(again.status.values()) == 6


def test_fit_refuses_other_settings(planted_model, planted_exemplars, tmp_path: Path) -> None:
    from n2g.errors import N2GError

    fit_graphs(planted_model, planted_exemplars, tmp_path, [0], [0], FitConfig(augment=_none()), progress=False)
    with pytest.raises(N2GError) as refused:
        fit_graphs(planted_model, planted_exemplars, tmp_path, [0], [0], FitConfig(augment=_none(),
                                                                                   importance_threshold=0.9),
                   progress=False)
    message = str(refused.value)  # the setting by its dotted path, the directory's value, then the one asked for
    assert message.startswith(f"{tmp_path} holds graphs made with other settings: "
                              "config.importance_threshold is 0.75 there, 0.9 here: "), message
    assert "more differ" not in message and "\n" not in message


def test_fit_refuses_a_directory_fitted_before_token_texts_were_recorded(planted_model, planted_exemplars,
                                                                          tmp_path: Path) -> None:
    """Graphs fitted when parts of characters all read U+FFFD are not mixed with graphs that tell them apart."""
    import json

    from n2g.errors import N2GError
    from n2g.model.token_keys import TOKEN_TEXT

    config = FitConfig(augment=_none())
    fit_graphs(planted_model, planted_exemplars, tmp_path, [0], [0], config, progress=False)
    manifest = tmp_path / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["token_text"] == TOKEN_TEXT
    del data["token_text"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(N2GError, match='token_text is absent there, "bytes-escaped" here'):
        fit_graphs(planted_model, planted_exemplars, tmp_path, [0], [1], config, progress=False)


def test_shared_prefix_rows_run_once(planted_model) -> None:
    probe = LayerProbe(planted_model, 1, 4096)
    rows = [(1, [5, 6, 7, 8]), (2, [5, 6]), (3, [5, 6, 7, 8]), (1, [9])]
    acts = probe.neuron_acts(rows, "test")
    assert probe.stats.rows == 2  # [5,6] and the second [5,6,7,8] are served by the first row
    alone = [LayerProbe(planted_model, 1, 4096).neuron_acts([row])[0] for row in rows]
    for together, single in zip(acts, alone):
        torch.testing.assert_close(torch.from_numpy(together), torch.from_numpy(single), rtol=1e-5, atol=1e-5)
