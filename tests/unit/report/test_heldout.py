"""The fidelity protocol: a corpus split by document, graphs fitted on one part and scored on the other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from n2g.exemplars.corpus import Document, corpus_part, document_part, iter_documents
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import fingerprint, mine_exemplars
from n2g.fit.augmentation import AugmentConfig
from n2g.fit.fitter import FitConfig
from n2g.fit.run import fit_graphs
from n2g.graphs.baselines import TokenLookup
from n2g.graphs.files import GraphDirectory
from n2g.graphs.prediction import GraphMatcher
from n2g.graphs.scoring import PREDICTORS, TEXT_SETS, firing_scores
from n2g.model.loading import LoadedModel
from n2g.model.token_keys import Vocabulary
from n2g.report.heldout import evaluate, minimum_over_layers, summarise

EVAL_FRACTION = 0.5


def test_the_split_is_by_document_text_disjoint_seeded_and_near_its_fraction() -> None:
    documents = [Document(f"doc{i}", f"text number {i}\n" * (1 + i % 7)) for i in range(400)]
    fit = [d.name for d in corpus_part(iter(documents), "fit", 0.2, seed=0)]
    held = [d.name for d in corpus_part(iter(documents), "eval", 0.2, seed=0)]
    assert not set(fit) & set(held) and len(fit) + len(held) == 400
    assert 0.14 < len(held) / 400 < 0.26
    assert held == [d.name for d in corpus_part(iter(documents), "eval", 0.2, seed=0)]  # the same every run
    assert held != [d.name for d in corpus_part(iter(documents), "eval", 0.2, seed=1)]  # another seed, another split
    assert list(corpus_part(iter(documents), "all", 0.2, seed=0)) == documents
    copy = Document("elsewhere/doc7", documents[7].text)  # a copy of a text lands where the text does, by content
    assert document_part(copy, 0.2, 0) == document_part(documents[7], 0.2, 0)


@pytest.fixture(scope="module")
def parts(tiny_model: LoadedModel, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[ExemplarSet, ExemplarSet]:
    base = MiningConfig(layers=(0, 1), neurons=tuple(range(6)), top_k=10, window_len=32, n_random_windows=24,
                        batch_size=16, max_tokens=0, max_windows_per_doc=0, eval_fraction=EVAL_FRACTION)
    root = tmp_path_factory.mktemp("heldout")
    for part in ("fit", "eval"):
        mine_exemplars(tiny_model, str(small_corpus_dir), root / part, replace(base, corpus_part=part),
                       progress=False)
    return ExemplarSet(root / "fit"), ExemplarSet(root / "eval")


def test_each_part_mines_only_its_own_documents(parts: tuple[ExemplarSet, ExemplarSet], small_corpus_dir: Path,
                                                tiny_model: LoadedModel) -> None:
    fit, held = parts
    names = {part: {d.name for d in corpus_part(iter_documents(str(small_corpus_dir)), part, EVAL_FRACTION, 0)}
             for part in ("fit", "eval")}
    assert names["fit"] and names["eval"], "the seed should leave documents on both sides of this small corpus"
    for exemplars, part in ((fit, "fit"), (held, "eval")):
        for layer in (0, 1):
            for neuron in range(6):
                assert set(exemplars.neuron(layer, neuron).documents) <= names[part]
    assert fit.manifest["settings"]["corpus_part"] == "fit" and held.manifest["settings"]["corpus_part"] == "eval"
    whole = fingerprint(tiny_model, str(small_corpus_dir), MiningConfig(layers=(0,)))
    assert "corpus_part" not in whole and "eval_fraction" not in whole  # whole-corpus runs keep their old record


def test_scores_on_the_evaluation_part_equal_a_brute_force_count(
        parts: tuple[ExemplarSet, ExemplarSet], tiny_model: LoadedModel, tmp_path: Path) -> None:
    fit, held = parts
    config = FitConfig(train_fraction=1.0, augment=AugmentConfig(method="none"))
    fit_graphs(tiny_model, fit, tmp_path / "graphs", [0, 1], list(range(6)), config, progress=False)
    directory = GraphDirectory(tmp_path / "graphs")
    graphs = [g for layer in (0, 1) for g in directory.graphs(layer)]
    before = [g.to_json() for g in graphs]
    results = evaluate(tiny_model, graphs, fit, held, token_budget=4096)
    assert [g.to_json() for g in graphs] == before  # scoring leaves the graphs as they were
    fitted = [g for g in graphs if g.status == "fitted"]
    assert len(results) == len(fitted) >= 4
    vocab = Vocabulary(tiny_model.tokenizer, config.token_matching)
    for graph, result in zip(fitted, results):
        assert (result.layer, result.neuron) == (graph.layer, graph.neuron)
        test = held.neuron(graph.layer, graph.neuron)
        keys = [vocab.keys(tokens) for tokens in test.tokens]
        true = np.concatenate([a.numpy() / graph.a_max for a in test.acts])
        assert result.firing_positions == int(np.sum(true >= graph.activation_threshold))
        matcher = GraphMatcher(graph)
        expected = firing_scores(true, np.concatenate([matcher.predict(k) for k in keys]),
                                 graph.activation_threshold)
        assert result.scores.n2g.test == expected
        lookup = TokenLookup()  # fitted on every window of the fitting part, as the graph was
        train = fit.neuron(graph.layer, graph.neuron)
        for tokens, acts in zip(train.tokens, train.acts):
            lookup.fit(vocab.keys(tokens), acts.numpy() / graph.a_max)
        assert result.scores.token_lookup.test == firing_scores(
            true, np.concatenate([lookup.predict(k) for k in keys]), graph.activation_threshold)
    layers = summarise(results, PREDICTORS, TEXT_SETS, resamples=200)
    assert [s.layer for s in layers] == sorted({r.layer for r in results})
    for summary in layers:
        rows = [r for r in results if r.layer == summary.layer]
        f1 = [r.value("n2g", "test", "f1") for r in rows if r.value("n2g", "test", "f1") is not None]
        assert summary.means["n2g_test_f1"] == pytest.approx(np.mean(f1))
        low, high = summary.f1_interval["n2g_test"]
        assert min(f1) - 1e-9 <= low <= np.mean(f1) <= high <= max(f1) + 1e-9
    assert minimum_over_layers(layers, "n2g_test_f1") == min(s.means["n2g_test_f1"] for s in layers)
