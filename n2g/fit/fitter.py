"""Fitting graphs for many neurons of one layer at once: split, prune, saliency, augment, build, check, sweep, score.

Every stage collects the rows of all neurons of a group and hands them to one `LayerProbe` call, which packs
them into large batches stopped at the layer. `FitConfig.sequential` fits one neuron at a time instead (same
stages, same results, one neuron's rows per call): the benchmark's baseline.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
import torch

from n2g.config import setting
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet, NeuronExemplars
from n2g.fit.augmentation import AugmentConfig, augment, make_augmenter
from n2g.fit.building import add_prompt
from n2g.fit.pattern_check import DEFAULT_END_PRECISION, calibrate_ends
from n2g.fit.pivot_sweep import PivotSweep, Substitute
from n2g.fit.prompt import Prompt
from n2g.fit.pruning import TrainingExample, prune
from n2g.fit.random_truth import NeuronTruth, RandomWindowTruth
from n2g.fit.saliency import add_importance
from n2g.graphs.activation_sample import sample_of
from n2g.graphs.baselines import NGramLookup, TokenLookup
from n2g.graphs.neuron_graph import (
    NODE_VALUES,
    PREDICTION_RULES,
    GraphStats,
    NeuronGraph,
    NodeValues,
    PredictionRule,
    RootEvidence,
)
from n2g.graphs.prediction import GraphMatcher
from n2g.graphs.scoring import FiringScore, GraphScores, PredictorScores, firing_scores
from n2g.model.loading import LoadedModel
from n2g.model.mask_token import MaskToken, choose_mask_token
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import TokenMatching, Vocabulary

Split = Literal["document", "window"]  # held-out windows from documents the graph never saw, or any (the paper's)
SPLITS: tuple[Split, ...] = get_args(Split)
GPU_TOKEN_BUDGET, CPU_TOKEN_BUDGET = 65536, 4096  # padded tokens per forward pass, by device
GPU_GROUP_SIZE, CPU_GROUP_SIZE = 2048, 256  # neurons fitted together, by device


@dataclass(frozen=True)
class FitConfig:
    """Settings of `n2g fit` (and of the fitting stage of `n2g ingest` and `n2g report`)."""

    train_fraction: float = setting(0.5, "share of a neuron's windows that trains", cli=False)
    seed: int = setting(0, "seed of the train/test split")
    max_context: int = setting(64, "tokens before the pivot that pruning may keep", minimum=1)
    prune_ratio: float = setting(0.5, "share of the pivot's full-context activation a pruned prompt keeps",
                                 minimum=0.0, maximum=1.0, min_open=True)
    post_context: int = setting(0, "tokens after the pivot kept in a prompt (never past a newline)", minimum=0)
    pivots_per_window: int = setting(8, "firing tokens of each training window explained, strongest first (paper: 1)",
                                     minimum=1)
    activation_threshold: float = setting(0.5, "x a_max: a token this active becomes a trie root, and counts as "
                                          "firing", minimum=0.0, maximum=1.0, min_open=True)
    importance_threshold: float = setting(0.75, "a context token this important becomes a trie node", minimum=0.0,
                                          maximum=1.0)
    token_matching: TokenMatching = setting("exact", "compare tokens exactly, or normalised (case of title words, "
                                            "surrounding spaces)")
    augment: AugmentConfig = setting(default_factory=AugmentConfig, help="augmentation", cli=False)
    token_budget: int | None = setting(None, f"padded tokens per forward pass (default by device: {CPU_TOKEN_BUDGET} "
                                       f"on CPU, {GPU_TOKEN_BUDGET} on GPU)", minimum=1)
    group_size: int | None = setting(None, f"neurons fitted together and written at once (default by device: "
                                     f"{CPU_GROUP_SIZE} on CPU, {GPU_GROUP_SIZE} on GPU)", minimum=1)
    sequential: bool = setting(False, "one neuron at a time (for speed comparisons)")
    mask_token_id: int | None = setting(None, "mask token (None: chosen per tokenizer, `n2g.model.mask_token`)",
                                        cli=False)
    split: Split = setting("document", "held-out windows from documents the graph never saw (document), or any "
                           "windows (window, the paper's)")
    node_values: NodeValues = setting("aggregate", "trie node values over every path (aggregate), or the first "
                                      "insertion's (first, the paper's)")
    prediction: PredictionRule = setting("best", "the largest activation of any complete match (best), or the "
                                         "longest match's (longest, the paper's)")
    # `n2g.fit.pattern_check`: patterns checked on the training windows plus the random windows kept for fitting
    # (`random_halves`); with random text as negatives it raises held-out F1 at little cost on random text
    end_precision: float | None = setting(
        DEFAULT_END_PRECISION, "check patterns on the training windows and half the random windows: a partial "
        "pattern firing at >= P of its matches there becomes an end", minimum=0.0, maximum=1.0, min_open=True,
        metavar="P", off_flag="--no-pattern-check")
    drop_precision: float = setting(0.2, "with the pattern check: an end less precise than this is dropped", cli=False)
    # `n2g.fit.pivot_sweep`: per source prompt, this many gradient-ranked substitutes of the pivot are measured
    sweep_candidates: int = setting(64, "pivot sweep: per source prompt, measure the N substitutes of the pivot the "
                                    "gradient ranks best; those that fire become new roots in the source's context "
                                    "(0: off)", flag="--sweep", minimum=0, metavar="N")
    sweep_prompts: int = setting(6, "pivot sweep source prompts per neuron: the strongest of each distinct pivot "
                                 "token", minimum=1, metavar="M")

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise N2GError(f"unknown split {self.split!r} (known: {', '.join(SPLITS)})")
        if self.node_values not in NODE_VALUES or self.prediction not in PREDICTION_RULES:
            raise N2GError(f"unknown node_values {self.node_values!r} or prediction {self.prediction!r}")

    def resolved_budget(self, device: torch.device) -> int:
        return self.token_budget or (GPU_TOKEN_BUDGET if device.type == "cuda" else CPU_TOKEN_BUDGET)

    def resolved_group(self, device: torch.device) -> int:
        if self.sequential:
            return 1
        return self.group_size or (GPU_GROUP_SIZE if device.type == "cuda" else CPU_GROUP_SIZE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def paper_faithful(self) -> FitConfig:
        """The original's settings, to show what our fixes change on the same neurons: a random 10/10 split of
        the top 20 windows (same-document windows on both sides), the window's max token as the only pivot,
        thresholds 0.5 / 0.75, first-insertion node values, longest-match prediction, and no check of the
        patterns against the training windows (`n2g.fit.pattern_check`). Pruning, saliency and
        augmentation keep our fixed versions (the paper's bugs there are not worth reproducing)."""
        return replace(self, split="window", train_fraction=0.5, pivots_per_window=1, activation_threshold=0.5,
                       importance_threshold=0.75, node_values="first", prediction="longest", end_precision=None,
                       drop_precision=0.0, sweep_candidates=0)

    def split_for(self, ex: NeuronExemplars) -> tuple[list[int], list[int], str]:
        """This neuron's train and test window indices (seeded per neuron)."""
        if self.split == "window":
            return random_window_split(len(ex.documents), self.train_fraction, self.seed + ex.neuron)
        return split_windows(ex.documents, self.train_fraction, self.seed + ex.neuron)


# -- the split ------------------------------------------------------------------------------------------------
def random_window_split(count: int, train_fraction: float, seed: int) -> tuple[list[int], list[int], str]:
    """The paper's split: a random share of the windows trains, whatever document each came from."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    target = max(1, round(count * train_fraction))
    return sorted(order[:target]), sorted(order[target:]), "window"


def split_windows(documents: Sequence[str], train_fraction: float, seed: int) -> tuple[list[int], list[int], str]:
    """Train and test window indices, whole documents to one side where there are several documents, so test
    text is text the graph never saw (same-file windows flatter every score). The strongest window (index 0)
    always trains: it defines the neuron. Returns (train, test, "document" | "window")."""
    rng = random.Random(seed)
    target = max(1, round(len(documents) * train_fraction))
    groups: dict[str, list[int]] = {}
    for i, doc in enumerate(documents):
        groups.setdefault(doc, []).append(i)
    if len(groups) >= 2:
        first, *rest = list(groups.values())
        rng.shuffle(rest)
        train: list[int] = []
        test: list[int] = []
        for group in [first, *rest]:
            (train if len(train) < target else test).extend(group)
        if test:
            return sorted(train), sorted(test), "document"
    others = list(range(1, len(documents)))
    rng.shuffle(others)
    return sorted([0, *others[: target - 1]]), sorted(others[target - 1:]), "window"


# -- scoring ------------------------------------------------------------------------------------------------
@dataclass
class Windows:
    """Token windows with the neuron's real activations as fractions of a_max."""

    keys: list[list[str]]
    acts: list[np.ndarray]

    def concat(self) -> np.ndarray:
        return np.concatenate(self.acts) if self.acts else np.zeros(0, np.float32)

    def __add__(self, other: Windows) -> Windows:
        return Windows(self.keys + other.keys, self.acts + other.acts)


def random_halves(windows: Windows) -> tuple[Windows, Windows]:
    """The random windows split in two, the same way for every neuron and mode: even ones may be used in fitting
    (as negatives in the pattern check), odd ones only score, so the out-of-distribution score is always on
    text the graph never saw."""
    return Windows(windows.keys[0::2], windows.acts[0::2]), Windows(windows.keys[1::2], windows.acts[1::2])


def firing_rate(activations: Sequence[np.ndarray], a_max: float, threshold: float) -> float | None:
    """Share of the tokens of `activations` (raw, one array per window) at >= `threshold` x `a_max`: how often the
    neuron fires on its own scale, counted as every score counts it (`firing_scores`). None without tokens."""
    tokens = sum(len(values) for values in activations)
    if not tokens or a_max <= 0:
        return None
    return sum(int(np.count_nonzero(np.asarray(values) / a_max >= threshold)) for values in activations) / tokens


def score(predict: Callable[[Sequence[str]], np.ndarray], windows: Windows, threshold: float) -> FiringScore:
    return score_predicted([predict(keys) for keys in windows.keys], windows, threshold)


def score_predicted(predicted: Sequence[np.ndarray], windows: Windows, threshold: float) -> FiringScore:
    """`score` of predictions already made, one array per window."""
    flat = np.concatenate(predicted) if len(predicted) else np.zeros(0, np.float32)
    return firing_scores(windows.concat(), flat, threshold)


def root_tallies(predicted: Sequence[np.ndarray], windows: Windows, threshold: float) -> dict[str, tuple[int, int]]:
    """Per activating token (a root's key): (hits, predictions) over the windows, where a prediction is a position
    of that token predicted to fire and a hit one where the neuron also fired (the root is the token there)."""
    tallies: dict[str, tuple[int, int]] = {}
    for keys, values, acts in zip(windows.keys, predicted, windows.acts):
        for t in np.flatnonzero(values >= threshold).tolist():
            hits, predictions = tallies.get(keys[t], (0, 0))
            tallies[keys[t]] = (hits + int(acts[t] >= threshold), predictions + 1)
    return tallies


def add_root_evidence(graph: NeuronGraph, test: dict[str, tuple[int, int]],
                      random: dict[str, tuple[int, int]]) -> None:
    """Each root's `RootEvidence` from the tallies of the held-out and the scoring random windows."""
    for root in graph.roots:
        test_hits, test_predictions = test.get(str(root.key), (0, 0))
        random_hits, random_predictions = random.get(str(root.key), (0, 0))
        root.evidence = RootEvidence(test_hits, test_predictions, random_hits, random_predictions)


def score_all(graph: NeuronGraph, train: Windows, test: Windows, random_windows: Windows) -> GraphScores:
    """The graph and the paper's two baselines, on held-out top windows and on random windows. The graph's own
    predictions also give each root its evidence (`RootEvidence`: hits / predictions per activating token)."""
    token_lookup, ngram = TokenLookup(), NGramLookup(5)
    for keys, acts in zip(train.keys, train.acts):
        token_lookup.fit(keys, acts)
        ngram.fit(keys, acts)
    threshold = graph.activation_threshold
    matcher = GraphMatcher(graph)

    def on_both(predict: Callable[[Sequence[str]], np.ndarray]) -> PredictorScores:
        return PredictorScores(test=score(predict, test, threshold), random=score(predict, random_windows, threshold))

    on_test = [matcher.predict(keys) for keys in test.keys]
    on_random = [matcher.predict(keys) for keys in random_windows.keys]
    add_root_evidence(graph, root_tallies(on_test, test, threshold), root_tallies(on_random, random_windows, threshold))
    n2g = PredictorScores(test=score_predicted(on_test, test, threshold),
                          random=score_predicted(on_random, random_windows, threshold))
    return GraphScores(n2g=n2g, token_lookup=on_both(token_lookup.predict), ngram5=on_both(ngram.predict))


# -- the layer -----------------------------------------------------------------------------------------------
@dataclass
class LayerContext:
    """What every group of a layer shares."""

    model: LoadedModel
    model_name: str
    layer: int
    probe: LayerProbe
    vocab: Vocabulary
    mask: MaskToken
    random_keys: list[list[str]]
    random_truth: NeuronTruth  # neuron -> per random window [len] raw activations


class LayerFitter:
    def __init__(self, model: LoadedModel, exemplars: ExemplarSet, layer: int, neurons: Sequence[int],
                 config: FitConfig, model_name: str | None = None, random_truth: NeuronTruth | None = None,
                 sign: int = 1) -> None:
        """`random_truth`: the neurons' activations on the random windows (times `sign`), measured with other
        layers' (`n2g.fit.random_truth`); None measures them here, in a pass of this layer's own. `sign` -1 fits the
        neurons' negative direction: its exemplars, and a probe that reads -1 x every activation, so that every
        stage and score sees a positive-direction problem."""
        self.exemplars, self.neurons, self.config, self.sign = exemplars, list(neurons), config, sign
        probe = LayerProbe(model, layer, config.resolved_budget(model.device), sign=sign)
        vocab = Vocabulary(model.tokenizer, config.token_matching)
        if random_truth is None:
            random_truth = RandomWindowTruth(probe, exemplars, {layer: self.neurons}).layer_truth(layer)
        sample = exemplars.random_windows()
        lengths = sample["lengths"]
        random_keys = [vocab.keys(sample["tokens"][r, : int(lengths[r])].tolist()) for r in range(len(lengths))]
        mask = choose_mask_token(model.tokenizer, config.mask_token_id)
        self.context = LayerContext(model, model_name or exemplars.manifest["settings"]["model"], layer, probe,
                                    vocab, mask, random_keys, random_truth)
        self.augmenter = make_augmenter(config.augment, probe, model.tokenizer)
        special = getattr(model.tokenizer, "all_special_ids", None) or []
        self.sweep = PivotSweep(probe, config.sweep_candidates, config.sweep_prompts, special)

    def groups(self) -> Iterator[list[int]]:
        size = self.config.resolved_group(self.context.model.device)
        for start in range(0, len(self.neurons), size):
            yield self.neurons[start: start + size]

    def fit(self, neurons: Sequence[int]) -> list[NeuronGraph]:
        """Graphs for these neurons (in this order), every stage batched over all of them."""
        ctx, config = self.context, self.config
        # with the quantile sample where it was mined (`MiningConfig.quantile_windows`, the positive direction): more
        # windows where the neuron fires, split by document with the top-k ones, so they train and test alike
        exemplars = {n: self.exemplars.neuron(ctx.layer, n, self.sign, quantiles=True) for n in neurons}
        graphs = {n: self._empty_graph(ex) for n, ex in exemplars.items()}
        live = [n for n in neurons if graphs[n].status == "fitted"]
        splits = {n: config.split_for(exemplars[n]) for n in live}
        floors = {n: config.activation_threshold * exemplars[n].a_max for n in live}
        examples = [ex for n in live for ex in self._examples(exemplars[n], splits[n][0], floors[n])]
        prompts = prune(examples, ctx.probe.neuron_acts, config.max_context, config.prune_ratio)
        a_max = {n: exemplars[n].a_max for n in live}
        add_importance(prompts, ctx.probe.neuron_acts, ctx.mask.id, config.activation_threshold, a_max)
        augmented: list[Prompt] = []
        if self.augmenter is not None and prompts:
            augmented = augment(prompts, self.augmenter, ctx.probe, config.augment, floors)
            add_importance(augmented, ctx.probe.neuron_acts, ctx.mask.id, config.activation_threshold, a_max)
        for prompt in [*prompts, *augmented]:
            add_prompt(graphs[prompt.neuron], prompt, ctx.vocab)
        swept: dict[int, list[Substitute]] = {n: [] for n in live}
        for found in self.sweep.substitutes(prompts, floors):
            swept[found.source.neuron].append(found)
        pruned_by_neuron: dict[int, list[Prompt]] = {n: [] for n in live}
        for prompt in prompts:
            pruned_by_neuron[prompt.neuron].append(prompt)
        augmented_count = Counter(p.neuron for p in augmented)
        for n in live:
            self._finish(graphs[n], exemplars[n], splits[n], pruned_by_neuron[n], augmented_count[n], swept[n])
        return [graphs[n] for n in neurons]

    def _empty_graph(self, ex: NeuronExemplars) -> NeuronGraph:
        ctx, config = self.context, self.config
        graph = NeuronGraph(model=ctx.model_name, layer=ctx.layer, neuron=ex.neuron, a_max=ex.a_max,
                            token_matching=config.token_matching, activation_threshold=config.activation_threshold,
                            importance_threshold=config.importance_threshold, node_values=config.node_values,
                            prediction=config.prediction, sign=ex.sign)
        if ex.a_max <= 0 or not ex.tokens:
            graph.status, graph.reason = "dead", "never fired in the corpus"
        return graph

    def _examples(self, ex: NeuronExemplars, train: Sequence[int], floor: float) -> list[TrainingExample]:
        """One example per firing token of each training window, strongest first (the paper used only the
        window's max; the others fire too, and a graph that never saw them cannot predict them)."""
        out = []
        for i in train:
            acts = ex.acts[i].numpy()
            firing = [int(p) for p in np.argsort(-acts, kind="stable") if acts[p] > floor]
            for pivot in firing[: self.config.pivots_per_window]:
                out.append(TrainingExample(ex.neuron, ex.tokens[i], acts, pivot,
                                           self._post_length(ex.tokens[i], pivot)))
        return out

    def _post_length(self, tokens: Sequence[int], pivot: int) -> int:
        following = self.context.vocab.texts(tokens[pivot + 1: pivot + 1 + self.config.post_context])
        return next((i for i, text in enumerate(following) if "\n" in text), len(following))

    def _check_patterns(self, graph: NeuronGraph, checked: Windows) -> None:
        """`n2g.fit.pattern_check` on the training and fitting random windows, counted in the stats."""
        if self.config.end_precision is None:
            return
        added, dropped = calibrate_ends(graph, checked.keys, checked.acts, self.config.end_precision,
                                        self.config.drop_precision)
        graph.stats = replace(graph.stats, ends_added=(graph.stats.ends_added or 0) + added,
                              ends_dropped=(graph.stats.ends_dropped or 0) + dropped)

    def _finish(self, graph: NeuronGraph, ex: NeuronExemplars, split: tuple[list[int], list[int], str],
                prompts: Sequence[Prompt], n_augmented: int, swept: Sequence[Substitute]) -> None:
        ctx = self.context
        train_idx, test_idx, split_kind = split

        def windows(indices: Sequence[int]) -> Windows:
            return Windows([ctx.vocab.keys(ex.tokens[i]) for i in indices],
                           [ex.acts[i].numpy() / ex.a_max for i in indices])

        random_fit, random_scored = random_halves(Windows(ctx.random_keys,
                                                          [a / ex.a_max for a in ctx.random_truth[ex.neuron]]))
        graph.stats = GraphStats(
            train_windows=len(train_idx), test_windows=len(test_idx), split=split_kind, prompts=len(prompts),
            unpruned=sum(p.source == "unpruned" for p in prompts),
            mean_prompt_tokens=float(np.mean([len(p.tokens) for p in prompts])) if prompts else None,
            augmented=n_augmented,
            pivot_at_first_position=sum(p == 0 for p in ex.peak_pos[: len(ex.peak_pos) - ex.quantile_windows]),
            mask_token=self.context.mask.text, fire_rate=ex.fire_rate,
            firing_rate=firing_rate(ctx.random_truth[ex.neuron], ex.a_max, graph.activation_threshold),
            quantile_windows=sum(i >= len(ex.tokens) - ex.quantile_windows for i in train_idx)
            if ex.quantile_windows else None)
        if not graph.roots:
            graph.status = "failed"
            graph.reason = f"no training window reaches {graph.activation_threshold} x a_max"
        train = windows(train_idx)
        checked = train + random_fit
        self._check_patterns(graph, checked)
        graph.stats = replace(graph.stats, swept=sum(self.sweep.add(graph, found, ctx.vocab) for found in swept))
        if graph.stats.swept:  # the substitutes' patterns, checked on the same text (the rest stays as it is)
            self._check_patterns(graph, checked)
        graph.stats = replace(graph.stats, random_windows_scored=len(random_scored.keys))
        graph.scores = score_all(graph, train, windows(test_idx), random_scored)
        graph.activation_sample = sample_of(ctx.random_truth[ex.neuron], ex.a_max)  # the whole sample, in order
