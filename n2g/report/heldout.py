"""Scores on documents no graph saw: the fidelity protocol.

The corpus is split by document (`MiningConfig.corpus_part`, seeded, by a hash of each document's text). Graphs
and both baselines are fitted from the `fit` part's exemplars, all of them; every score is measured on the `eval`
part: its own top windows per neuron (held-out: the text a neuron fires most on, unseen) and its random windows
(random text). So a change of fitting evidence (more windows, another corpus, another matching) can never move the
test set, and N2G and the baselines are compared on the same evidence.

Firing is counted on the neuron's scale from the fitting part (`graph.a_max`), at the graph's activation threshold,
as every score of a fitted graph counts it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from n2g.exemplars.files import ExemplarSet
from n2g.fit.fitter import Windows, score_all
from n2g.fit.random_truth import RandomWindowTruth
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import GraphScores, Metric, Predictor, TextSet
from n2g.model.loading import LoadedModel
from n2g.model.token_keys import Vocabulary


@dataclass(frozen=True)
class HeldOutScores:
    """One fitted neuron on the evaluation part."""

    layer: int
    neuron: int
    firing_positions: int  # positions of its evaluation top windows at >= threshold x a_max: the test's size
    scores: GraphScores  # n2g / token_lookup / ngram5, each on `test` (eval top windows) and `random` (eval random)

    def value(self, predictor: Predictor, text_set: TextSet, metric: Metric) -> float | None:
        return self.scores.value(predictor, text_set, metric)


def evaluate(model: LoadedModel, graphs: Sequence[NeuronGraph], fit: ExemplarSet, evaluation: ExemplarSet,
             token_budget: int) -> list[HeldOutScores]:
    """Every fitted graph of `graphs` scored on `evaluation`, its baselines fitted on all of its windows in `fit`.
    One pass over the evaluation part's random windows serves every layer (`RandomWindowTruth`)."""
    fitted = [g for g in graphs if g.status == "fitted"]
    wanted: dict[int, list[int]] = {}
    for graph in fitted:
        wanted.setdefault(graph.layer, []).append(graph.neuron)
    truth = RandomWindowTruth.for_layers(model, evaluation, wanted, token_budget)
    sample = evaluation.random_windows()
    lengths = [int(n) for n in sample["lengths"]]
    random_tokens = [sample["tokens"][r, :length].tolist() for r, length in enumerate(lengths)]
    keyed: dict[str, tuple[Vocabulary, list[list[str]]]] = {}  # per token matching: its vocabulary, random keys
    out = []
    for layer in sorted(wanted):
        layer_truth = truth.layer_truth(layer)
        for graph in (g for g in fitted if g.layer == layer):
            if graph.token_matching not in keyed:
                vocab = Vocabulary(model.tokenizer, graph.token_matching)
                keyed[graph.token_matching] = vocab, [vocab.keys(tokens) for tokens in random_tokens]
            vocab, random_keys = keyed[graph.token_matching]
            out.append(_evaluate_one(graph, fit, evaluation, vocab, random_keys, layer_truth[graph.neuron]))
    return out


def _evaluate_one(graph: NeuronGraph, fit: ExemplarSet, evaluation: ExemplarSet, vocab: Vocabulary,
                  random_keys: list[list[str]], random_acts: Sequence[np.ndarray]) -> HeldOutScores:
    def windows(exemplars: ExemplarSet) -> Windows:
        # the fitting part's quantile sample, where mined, is evidence the graph had: the baselines get it too
        found = exemplars.neuron(graph.layer, graph.neuron, graph.sign, quantiles=True)
        return Windows([vocab.keys(tokens) for tokens in found.tokens],
                       [acts.numpy() / graph.a_max for acts in found.acts])

    train, test = windows(fit), windows(evaluation)
    random_windows = Windows(random_keys, [np.asarray(acts) / graph.a_max for acts in random_acts])
    scores = score_all(copy.deepcopy(graph), train, test, random_windows)  # a copy: scoring sets root evidence
    positions = int(np.count_nonzero(test.concat() >= graph.activation_threshold))
    return HeldOutScores(graph.layer, graph.neuron, positions, scores)


@dataclass(frozen=True)
class LayerSummary:
    """A layer's mean per-neuron score of each predictor on each text set, with a bootstrap interval for F1."""

    layer: int
    neurons: int
    median_firing_positions: float
    means: dict[str, float | None]  # "n2g_test_f1", "token_lookup_random_recall", ...
    f1_interval: dict[str, tuple[float, float] | None]  # "n2g_test" -> (low, high), 95%, over neurons


METRICS: tuple[Metric, ...] = ("precision", "recall", "f1")


def summarise(results: Sequence[HeldOutScores], predictors: Sequence[Predictor], text_sets: Sequence[TextSet],
              resamples: int = 2000, seed: int = 0) -> list[LayerSummary]:
    """Per layer: means over neurons (neurons where a metric is undefined, e.g. precision without a prediction,
    are left out of that mean), and for F1 the 2.5-97.5 percentiles of the mean over neurons resampled with
    replacement: how far the layer's mean moves with the choice of neurons."""
    rng = np.random.default_rng(seed)
    by_layer: dict[int, list[HeldOutScores]] = {}
    for result in results:
        by_layer.setdefault(result.layer, []).append(result)
    out = []
    for layer, rows in sorted(by_layer.items()):
        means: dict[str, float | None] = {}
        intervals: dict[str, tuple[float, float] | None] = {}
        for predictor in predictors:
            for text_set in text_sets:
                for metric in METRICS:
                    values = _defined(r.value(predictor, text_set, metric) for r in rows)
                    means[f"{predictor}_{text_set}_{metric}"] = float(values.mean()) if len(values) else None
                f1 = _defined(r.value(predictor, text_set, "f1") for r in rows)
                intervals[f"{predictor}_{text_set}"] = _bootstrap(f1, resamples, rng)
        out.append(LayerSummary(layer, len(rows), float(np.median([r.firing_positions for r in rows])), means,
                                intervals))
    return out


def _defined(values: Iterable[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None], dtype=np.float64)


def _bootstrap(values: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float] | None:
    if not len(values):
        return None
    means = rng.choice(values, size=(resamples, len(values)), replace=True).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def minimum_over_layers(layers: Sequence[LayerSummary], key: str) -> float | None:
    values = [s.means[key] for s in layers if s.means.get(key) is not None]
    return min(values) if values else None  # type: ignore[type-var]

