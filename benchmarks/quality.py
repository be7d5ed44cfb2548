"""Benchmark graph quality on SmolLM2, layers 0-5, 32 neurons each, as one JSON object.

`--protocol split` (the default; issue 23's protocol): the corpus is split by document into a fitting part and an
evaluation part (seeded by a hash of each document's text, `--eval-fraction` of the documents to evaluation).
Exemplars of the fitting part train the graphs and both baselines (token lookup, 5-gram), all of their windows;
every score is on the evaluation part: its own top `--eval-top-k` windows per neuron (held-out) and its random
windows (random text). Fitting switches (`--top-k`, `--quantile-windows`, `--max-tokens`, `--corpus`,
`--token-matching`) change only the fitting part, so their scores are comparable. Per layer: precision, recall and
F1 of each predictor on both, the median held-out firing positions per neuron, a bootstrap 95% interval of each
layer's mean F1; overall `min_layer_recall`, `min_layer_f1`, `min_layer_random_f1` (N2G) and the seconds of each stage.

`--protocol report` (the earlier benchmark, kept for continuity): the quality report (`n2g report --paper-mode`):
held-out windows are the other documents among each neuron's own top windows, and the paper's modes beside ours.

Usage: python benchmarks/quality.py [--layers 0:5] [--neurons-per-layer 32] [--out DIR] [--max-tokens N]
       [--top-k K] [--eval-exemplars DIR] [--protocol split|report]
Prints exactly one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from n2g.cli.guard import run_guarded
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.fit.augmentation import AugmentConfig
from n2g.fit.fitter import FitConfig
from n2g.fit.run import fit_graphs
from n2g.graphs.files import GraphDirectory
from n2g.graphs.scoring import PREDICTORS, TEXT_SETS
from n2g.model.loading import LoadedModel, load_model
from n2g.model.token_keys import MATCHING_MODES
from n2g.report.heldout import evaluate, minimum_over_layers, summarise
from n2g.report.run import ReportPlan, run_report, sample_neurons
from n2g.specs import parse_index_spec

PROG = "benchmarks/quality.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="python-stdlib")
    parser.add_argument("--layers", default="0:5", help="inclusive layer ranges")
    parser.add_argument("--neurons-per-layer", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=None, help="corpus tokens mined (default: by device)")
    parser.add_argument("--augment", default="lm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="work/report directory (default: a new temporary directory)")
    parser.add_argument("--protocol", choices=("split", "report"), default="split")
    parser.add_argument("--top-k", type=int, default=MiningConfig.top_k, help="fitting windows per neuron (split)")
    parser.add_argument("--quantile-windows", type=int, default=MiningConfig.quantile_windows, metavar="N",
                        help="fitting windows per neuron in each decile of window max / a_max from --quantile-from "
                        "up, besides the top-k (split; 0: off)")
    parser.add_argument("--quantile-from", type=float, default=MiningConfig.quantile_from, metavar="RATIO",
                        help="lowest decile --quantile-windows samples (split)")
    parser.add_argument("--token-matching", choices=MATCHING_MODES, default=FitConfig.token_matching)
    parser.add_argument("--eval-fraction", type=float, default=MiningConfig.eval_fraction)
    parser.add_argument("--eval-top-k", type=int, default=100, help="evaluation top windows per neuron (split)")
    parser.add_argument("--eval-tokens", type=int, default=400_000, help="evaluation part tokens mined (split)")
    parser.add_argument("--eval-random-windows", type=int, default=512)
    parser.add_argument("--eval-corpus", default=None, help="corpus of the evaluation part (default: --corpus); "
                        "its documents are split as the fitting corpus's, so no text is on both sides")
    parser.add_argument("--eval-exemplars", default=None,
                        help="evaluation exemplars to reuse across runs (default: OUT/eval-exemplars)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def _run(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    out = Path(args.out or tempfile.mkdtemp(prefix="n2g-quality-"))
    if args.protocol == "split":
        print(json.dumps(split_protocol(model, layers, out, args)))
        return 0
    plan = ReportPlan(model_name=args.model, corpus=args.corpus, layers=layers,
                      neurons_per_layer=args.neurons_per_layer, out=out,
                      mining=MiningConfig(layers=tuple(layers), max_tokens=args.max_tokens, seed=args.seed),
                      fit=FitConfig(seed=args.seed, augment=AugmentConfig(method=args.augment)),
                      seed=args.seed, paper_mode=True)
    start = time.perf_counter()
    report = run_report(model, plan)
    print(json.dumps(summary(report, time.perf_counter() - start, model.device.type, out)))
    return 0


def split_protocol(model: LoadedModel, layers: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any]:
    neurons = sample_neurons(layers, model.d_mlp, args.neurons_per_layer, args.seed)
    union = tuple(sorted({n for chosen in neurons.values() for n in chosen}))
    base = MiningConfig(layers=tuple(layers), neurons=union, seed=args.seed, eval_fraction=args.eval_fraction)
    fit_mining = replace(base, corpus_part="fit", top_k=args.top_k, max_tokens=args.max_tokens,
                         quantile_windows=args.quantile_windows, quantile_from=args.quantile_from)
    eval_mining = replace(base, corpus_part="eval", top_k=args.eval_top_k, max_tokens=args.eval_tokens,
                          max_windows_per_doc=0, n_random_windows=args.eval_random_windows)  # every eval token
    eval_dir = Path(args.eval_exemplars) if args.eval_exemplars else out / "eval-exemplars"
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    eval_corpus = args.eval_corpus or args.corpus
    mine_exemplars(model, eval_corpus, eval_dir, eval_mining)
    seconds["mine_eval"] = time.perf_counter() - start
    start = time.perf_counter()
    fit_manifest = mine_exemplars(model, args.corpus, out / "fit-exemplars", fit_mining)
    seconds["mine_fit"] = time.perf_counter() - start
    config = FitConfig(seed=args.seed, train_fraction=1.0, token_matching=args.token_matching,
                       augment=AugmentConfig(method=args.augment))
    fit_set, eval_set = ExemplarSet(out / "fit-exemplars"), ExemplarSet(eval_dir)
    start = time.perf_counter()
    fit_graphs(model, fit_set, out / "graphs", layers, neurons, config)
    seconds["fit"] = time.perf_counter() - start
    directory = GraphDirectory(out / "graphs")
    graphs = [g for layer in layers for g in directory.graphs(layer) if g.neuron in set(neurons[layer])]
    start = time.perf_counter()
    results = evaluate(model, graphs, fit_set, eval_set, config.resolved_budget(model.device))
    seconds["evaluate"] = time.perf_counter() - start
    summaries = summarise(results, PREDICTORS, TEXT_SETS, seed=args.seed)
    fitted = sum(g.status == "fitted" for g in graphs)
    per_layer = {str(s.layer): {"neurons_scored": s.neurons, "median_firing_positions": s.median_firing_positions,
                                **{k: _round(v) for k, v in s.means.items()},
                                **{f"{k}_f1_95": None if v is None else [_round(v[0]), _round(v[1])]
                                   for k, v in s.f1_interval.items()}}
                 for s in summaries}
    return {"protocol": "split", "model": model.name, "corpus": args.corpus, "eval_corpus": eval_corpus,
            "device": model.device.type,
            "split": {"by": "document (hash of its text)", "eval_fraction": args.eval_fraction, "seed": args.seed,
                      "fit_tokens": fit_manifest["tokens"], "fit_top_k": args.top_k,
                      **({"fit_quantile_windows": args.quantile_windows, "fit_quantile_from": args.quantile_from}
                         if args.quantile_windows else {}),
                      "eval_top_k": args.eval_top_k, "eval_tokens": eval_set.manifest["tokens"],
                      "eval_random_windows": args.eval_random_windows},
            "token_matching": args.token_matching, "neurons_per_layer": args.neurons_per_layer,
            "graphs": {"fitted": fitted, "other": len(graphs) - fitted},
            "layers": per_layer,
            "min_layer_recall": _round(minimum_over_layers(summaries, "n2g_test_recall")),
            "min_layer_precision": _round(minimum_over_layers(summaries, "n2g_test_precision")),
            "min_layer_f1": _round(minimum_over_layers(summaries, "n2g_test_f1")),
            "min_layer_random_f1": _round(minimum_over_layers(summaries, "n2g_random_f1")),
            "layers_n2g_at_least_token_lookup": sum(
                (s.means["n2g_test_f1"] or 0) >= (s.means["token_lookup_test_f1"] or 0) for s in summaries),
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "fit_seconds_per_neuron": round(seconds["fit"] / max(1, len(graphs)), 3), "out": str(out)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summary(report: dict[str, Any], seconds: float, device: str, out: Path) -> dict[str, Any]:
    by_mode = {(s["mode"], s["layer"]): s for s in report["layers"]}
    layers = sorted({layer for _, layer in by_mode})
    per_layer = {}
    for layer in layers:
        ours = by_mode[("default", layer)]
        per_layer[str(layer)] = {
            "n2g_f1": ours["n2g_test_f1"], "token_lookup_f1": ours["token_lookup_test_f1"],
            "ngram_f1": ours["ngram5_test_f1"], "ood_f1": ours["n2g_random_f1"],
            "token_lookup_ood_f1": ours["token_lookup_random_f1"],
            "n2g_precision": ours["n2g_test_precision"], "n2g_recall": ours["n2g_test_recall"],
            "paper_mode_f1": by_mode[("paper", layer)]["n2g_test_f1"],
            "paper_mode_token_lookup_f1": by_mode[("paper", layer)]["token_lookup_test_f1"],
            "paper_rules_f1": by_mode[("paper_rules", layer)]["n2g_test_f1"],
            "paper_rules_ood_f1": by_mode[("paper_rules", layer)]["n2g_random_f1"],
            "fitted": ours["fitted"], "dead": ours["dead"], "failed": ours["failed"]}
    comparison = report["comparison"]
    return {"model": report["settings"]["model"], "corpus": report["settings"]["corpus"], "device": device,
            "neurons_per_layer": report["settings"]["neurons_per_layer"],
            "corpus_tokens": report["settings"]["corpus_tokens"], "layers": per_layer,
            "mean_margin_over_token_lookup": comparison["default"]["mean_margin_over_token_lookup"],
            "layers_beating_token_lookup": comparison["default"]["layers_beating_token_lookup"],
            "ood_margin_over_token_lookup": comparison["default"]["ood_margin_over_token_lookup"],
            "margin_over_paper_rules": comparison["default_minus_paper_rules"],
            "margin_over_paper_mode": comparison["default_minus_paper"],
            "paper_mode_margin_over_token_lookup": comparison["paper"]["mean_margin_over_token_lookup"],
            "seconds": round(seconds, 1), "report_dir": str(out)}


if __name__ == "__main__":
    sys.exit(main())
