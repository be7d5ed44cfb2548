"""Benchmark graph quality: the quality report (`n2g report --paper-mode`) on SmolLM2, layers 0-5, 32 neurons each,
on the default offline corpus, reduced to one JSON object.

Per layer: `n2g_f1`, `token_lookup_f1`, `ngram_f1` (held-out top windows from documents the graphs never saw),
`ood_f1` (N2G on random windows), `paper_mode_f1` (the paper-faithful fit on its own random 10/10 split, as the
paper would report it), `paper_rules_f1` (the paper's rules on exactly our held-out windows); overall
`mean_margin_over_token_lookup` (mean over layers of N2G minus token lookup, held-out F1) and the margins over the
paper's modes. The report directory (`--out`, kept) also holds report.md, the plots and the gallery.

Usage: python benchmarks/quality.py [--layers 0:5] [--neurons-per-layer 32] [--out DIR] [--max-tokens N]
Prints exactly one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from n2g.cli.guard import run_guarded
from n2g.exemplars.miner import MiningConfig
from n2g.fit.augmentation import AugmentConfig
from n2g.fit.fitter import FitConfig
from n2g.model.loading import load_model
from n2g.report.run import ReportPlan, run_report
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
    parser.add_argument("--out", default=None, help="report directory (default: a new temporary directory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def _run(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    out = Path(args.out or tempfile.mkdtemp(prefix="n2g-quality-"))
    plan = ReportPlan(model_name=args.model, corpus=args.corpus, layers=layers,
                      neurons_per_layer=args.neurons_per_layer, out=out,
                      mining=MiningConfig(layers=tuple(layers), max_tokens=args.max_tokens, seed=args.seed),
                      fit=FitConfig(seed=args.seed, augment=AugmentConfig(method=args.augment)),
                      seed=args.seed, paper_mode=True)
    start = time.perf_counter()
    report = run_report(model, plan)
    print(json.dumps(summary(report, time.perf_counter() - start, model.device.type, out)))
    return 0


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
