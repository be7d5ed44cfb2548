"""`n2g report`: sample neurons per layer with a fixed seed, mine their exemplars, fit their graphs (ours, and with
`--paper-mode` the paper-faithful fits of the same neurons), then write the report:

    OUT/exemplars, OUT/graphs[-paper|-paper-rules]   the stages (each resumes after a kill; finished work is kept)
    OUT/neurons.csv     one row per (mode, neuron): every score (`n2g.report.tables.COLUMNS`)
    OUT/report.json     settings, per-layer means, totals, margins (`n2g.report.tables.build_report`)
    OUT/report.md       the paper's Table 1 layout, the comparisons, the plots
    OUT/plots/*.png     F1 distributions, mean F1 by layer, graph size vs F1
    OUT/gallery.html    every sampled neuron: scores, drawn graph, shaded top windows; sortable; opens from disk

Paper mode fits twice: `paper` is the original as published (its random 10/10 window split included), `paper_rules`
is the original's method rules on our split, so its held-out windows are exactly ours: that pair separates what the
evaluation protocol changes from what the method fixes change.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet, NeuronExemplars
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.files import save_json
from n2g.fit.fitter import FitConfig
from n2g.fit.run import fit_graphs
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.graphs.scoring import FIRING_THRESHOLD
from n2g.model.loading import LoadedModel
from n2g.model.token_keys import Vocabulary
from n2g.report.gallery import GalleryNeuron, ShadedExample, write_gallery
from n2g.report.plots import write_plots
from n2g.report.tables import build_report, markdown, neuron_frame
from n2g.specs import format_index_spec

MODE_DIRECTORIES = {"default": "graphs", "paper": "graphs-paper", "paper_rules": "graphs-paper-rules"}


@dataclass(frozen=True)
class ReportPlan:
    model_name: str
    corpus: str
    layers: list[int]
    neurons_per_layer: int
    out: Path
    mining: MiningConfig
    fit: FitConfig
    seed: int = 0
    paper_mode: bool = False
    examples_per_neuron: int = 6  # top windows shown per neuron in the gallery
    gallery_svg: bool = True
    progress: bool = True

    def modes(self) -> dict[str, FitConfig]:
        if not self.paper_mode:
            return {"default": self.fit}
        paper = self.fit.paper_faithful()
        return {"default": self.fit, "paper": paper, "paper_rules": dataclasses.replace(paper, split=self.fit.split)}


def sample_neurons(layers: Sequence[int], d_mlp: int, per_layer: int, seed: int) -> dict[int, list[int]]:
    """`per_layer` neurons of each layer, drawn without replacement; the same seed gives the same neurons."""
    count = min(per_layer, d_mlp)
    return {layer: sorted(random.Random(f"{seed}:{layer}").sample(range(d_mlp), count)) for layer in layers}


def _say(plan: ReportPlan, text: str) -> None:
    if plan.progress:
        print(f"n2g report {text}", file=sys.stderr, flush=True)


def run_report(model: LoadedModel, plan: ReportPlan) -> dict[str, Any]:
    """Every stage, each resuming what a killed run left; returns the report (as written to report.json)."""
    if plan.mining.signs != "positive":
        raise N2GError("n2g report scores the positive direction only: drop --signs both (negative graphs: "
                       "`n2g ingest --signs both`, then `n2g-search --sign negative`)")
    sample = sample_neurons(plan.layers, model.d_mlp, plan.neurons_per_layer, plan.seed)
    union = sorted({n for neurons in sample.values() for n in neurons})
    exemplar_dir = plan.out / "exemplars"
    _say(plan, f"exemplars of {len(union)} sampled neurons x {len(plan.layers)} layers -> {exemplar_dir}")
    mine_exemplars(model, plan.corpus, exemplar_dir, dataclasses.replace(plan.mining, layers=tuple(plan.layers),
                                                                         neurons=tuple(union)), progress=plan.progress)
    exemplars = ExemplarSet(exemplar_dir)
    graphs: dict[str, list[NeuronGraph]] = {}
    for mode, config in plan.modes().items():
        directory = plan.out / MODE_DIRECTORIES[mode]
        _say(plan, f"graphs ({mode}) -> {directory}")
        fit_graphs(model, exemplars, directory, plan.layers, sample, config, progress=plan.progress)
        graphs[mode] = _read_graphs(GraphDirectory(directory), sample)
    return write_report(plan, model, exemplars, graphs)


def _read_graphs(directory: GraphDirectory, sample: dict[int, list[int]]) -> list[NeuronGraph]:
    wanted = {layer: set(neurons) for layer, neurons in sample.items()}
    return [g for layer in sample for g in directory.graphs(layer) if g.neuron in wanted[layer]]


def write_report(plan: ReportPlan, model: LoadedModel, exemplars: ExemplarSet,
                 graphs: dict[str, list[NeuronGraph]]) -> dict[str, Any]:
    frame = neuron_frame(graphs)
    frame.to_csv(plan.out / "neurons.csv", index=False)
    report = build_report(frame, _settings(plan, exemplars))
    save_json(plan.out / "report.json", report)
    _say(plan, f"plots and gallery -> {plan.out}")
    plots = write_plots(frame[frame["mode"].isin(["default", "paper"])], plan.out / "plots")
    paper_f1 = _paper_f1(frame)
    gallery = write_gallery([_gallery_neuron(g, exemplars, model, plan, paper_f1) for g in graphs["default"]],
                            plan.out, f"N2G quality report: {plan.model_name}", svg=plan.gallery_svg)
    relative = {name: str(path.relative_to(plan.out)) for name, path in plots.items()}
    (plan.out / "report.md").write_text(markdown(report, relative, gallery.name), encoding="utf-8")
    return report


def _settings(plan: ReportPlan, exemplars: ExemplarSet) -> dict[str, Any]:
    split = {"document": "whole documents held out", "window": "a random window split"}[plan.fit.split]
    return {"model": plan.model_name, "corpus": plan.corpus, "layers": plan.layers,
            "layers_spec": format_index_spec(plan.layers), "neurons_per_layer": plan.neurons_per_layer,
            "seed": plan.seed, "paper_mode": plan.paper_mode, "firing_threshold": FIRING_THRESHOLD,
            "split_description": split, "corpus_tokens": exemplars.manifest["tokens"],
            "fit": {mode: config.to_dict() for mode, config in plan.modes().items()}}


def _paper_f1(frame: pd.DataFrame) -> dict[tuple[int, int], float]:
    paper = frame[(frame["mode"] == "paper") & frame["n2g_test_f1"].notna()]
    return {(int(r.layer), int(r.neuron)): float(r.n2g_test_f1) for r in paper.itertuples()}


def _gallery_neuron(graph: NeuronGraph, exemplars: ExemplarSet, model: LoadedModel, plan: ReportPlan,
                    paper_f1: dict[tuple[int, int], float]) -> GalleryNeuron:
    ex = exemplars.neuron(graph.layer, graph.neuron)
    examples = [] if graph.status == "dead" else _examples(graph, ex, model, plan)
    return GalleryNeuron(graph, examples, paper_f1.get((graph.layer, graph.neuron)))


def _examples(graph: NeuronGraph, ex: NeuronExemplars, model: LoadedModel, plan: ReportPlan) -> list[ShadedExample]:
    """The strongest training and held-out windows, half each, with the real and the predicted activations."""
    train, test, _ = plan.fit.split_for(ex)
    half = plan.examples_per_neuron // 2
    chosen = [(i, "train") for i in train[:half]] + [(i, "test") for i in test[: plan.examples_per_neuron - half]]
    vocab = Vocabulary(model.tokenizer, graph.token_matching)
    matcher = GraphMatcher(graph)
    return [ShadedExample(tokens=vocab.texts(ex.tokens[i]), activations=(ex.acts[i] / ex.a_max).tolist(),
                          predicted=matcher.predict(vocab.keys(ex.tokens[i])).tolist(), split=split)
            for i, split in chosen]
