"""Benchmark the ceiling of the pivot sweep: how much held-out F1 over token lookup any ranking of substitutes
could buy, measured by handing the sweep the answers.

The sweep (`n2g.fit.pivot_sweep`) ranks vocabulary tokens by a first-order gradient and measures the best N at each
source prompt's pivot; a token that fires there becomes a root with the source's context. The quality goal
(issue 6: +0.10 mean held-out F1 over token lookup) hinges on the tokens that fire in held-out text but never in
training, so this fits the quality benchmark's neurons, on its exemplars, in up to four variants:

- `gradient`: the default fit (gradient top-N, a substitute's root keeps its source's context);
- `oracle`: gradient top-N plus every token of the neuron's held-out windows, each measured for real at the
  source pivots and accepted by the same rule. The score sees only held-out text, so no ranking of candidates can
  do more than this: it is a bound, never a mode to ship (it reads the test set);
- `gradient_bare`, `oracle_bare`: the same candidates, but a substitute enters as a bare root (no context), which
  matches wherever the token occurs: the most a found substitute can add to recall.

All variants share one random-window pass per layer and alternate layer by layer. The graphs are scored exactly
as `n2g fit` scores them (`n2g.fit.fitter.score_all`): N2G and token lookup on the held-out windows and on the odd
half of the random windows.

Usage: python benchmarks/sweep_ceiling.py --exemplars DIR [--layers 0:5] [--neurons-per-layer 32] [--seed 0]
       [--variants gradient,oracle,gradient_bare,oracle_bare] [--sweep 64]
DIR: the quality benchmark's exemplars (`benchmarks/quality.py --out R` leaves them in R/exemplars), so the
neurons, windows and split are the quality benchmark's. Prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from n2g.cli.guard import run_guarded
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.fit.augmentation import AugmentConfig
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.fit.pivot_sweep import PivotSweep, Substitute
from n2g.fit.prompt import Prompt
from n2g.fit.random_truth import RandomWindowTruth
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.model.loading import load_model
from n2g.model.token_keys import Vocabulary
from n2g.report.run import sample_neurons
from n2g.report.tables import layer_summaries, margin, neuron_frame
from n2g.specs import parse_index_spec

PROG = "benchmarks/sweep_ceiling.py"
VARIANTS = ("gradient", "oracle", "gradient_bare", "oracle_bare")


class CeilingSweep(PivotSweep):
    """The default sweep, optionally also trying every held-out token (`held_out`: neuron -> token ids) and
    optionally putting substitutes in as bare roots."""

    def __init__(self, like: PivotSweep, held_out: dict[int, list[int]] | None, bare: bool) -> None:
        super().__init__(like.probe, like.candidates, like.prompts, like.excluded.tolist())
        self.held_out, self.bare = held_out, bare

    def ranked(self, sources: Sequence[Prompt], known: dict[int, set[int]]) -> list[list[int]]:
        ranked = super().ranked(sources, known)
        if self.held_out is None:
            return ranked
        excluded = set(self.excluded.tolist())
        out = []
        for prompt, tokens in zip(sources, ranked):
            skip = known.get(prompt.neuron, set()) | {prompt.tokens[prompt.pivot]} | excluded | set(tokens)
            out.append([*tokens, *(t for t in self.held_out.get(prompt.neuron, ()) if t not in skip)])
        return out

    def add(self, graph: NeuronGraph, found: Substitute, vocab: Vocabulary) -> bool:
        if not self.bare:
            return super().add(graph, found, vocab)
        source = found.source
        assert source.importance is not None
        key, text = vocab.keys([found.token])[0], vocab.texts([found.token])[0]
        graph.insert(key, text, found.value / graph.a_max, float(source.importance[source.pivot, source.pivot]), [])
        return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--exemplars", required=True, help="the quality benchmark's exemplars (REPORT/exemplars)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--layers", default="0:5", help="inclusive layer ranges")
    parser.add_argument("--neurons-per-layer", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", type=int, default=FitConfig.sweep_candidates, help="gradient-ranked candidates")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


def _run(args: argparse.Namespace) -> int:
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise N2GError(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
    model = load_model(args.model, device=args.device)
    exemplars = ExemplarSet(args.exemplars)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    sample = sample_neurons(layers, model.d_mlp, args.neurons_per_layer, args.seed)
    config = FitConfig(seed=args.seed, augment=AugmentConfig(method="lm"), sweep_candidates=args.sweep)
    truth = RandomWindowTruth.for_layers(model, exemplars, sample, config.resolved_budget(model.device))
    graphs: dict[str, list[NeuronGraph]] = {v: [] for v in variants}
    seconds = dict.fromkeys(variants, 0.0)
    for layer in layers:
        layer_truth = truth.layer_truth(layer)
        held_out = _held_out_tokens(exemplars, layer, sample[layer], config)
        for variant in variants:  # alternating, so a busy spell of the machine falls on every variant
            start = time.perf_counter()
            fitter = LayerFitter(model, exemplars, layer, sample[layer], config, random_truth=layer_truth)
            fitter.sweep = CeilingSweep(fitter.sweep, held_out if variant.startswith("oracle") else None,
                                        variant.endswith("_bare"))
            for group in fitter.groups():
                graphs[variant] += fitter.fit(group)
            seconds[variant] += time.perf_counter() - start
        print(f"layer {layer} done", file=sys.stderr)
    result = {"model": args.model, "exemplars": args.exemplars, "layers": layers,
              "neurons_per_layer": args.neurons_per_layer, "sweep_candidates": args.sweep,
              "variants": {v: {**_summary(graphs[v], layers), "fit_seconds": round(seconds[v], 1)}
                           for v in variants}}
    print(json.dumps(result))
    return 0


def _held_out_tokens(exemplars: ExemplarSet, layer: int, neurons: Sequence[int],
                     config: FitConfig) -> dict[int, list[int]]:
    """Per neuron, the distinct tokens of its held-out windows (the split `n2g fit` makes)."""
    out = {}
    for neuron in neurons:
        ex = exemplars.neuron(layer, neuron)
        if ex.a_max > 0 and ex.tokens:
            _, test, _ = config.split_for(ex)
            out[neuron] = sorted({int(t) for i in test for t in ex.tokens[i]})
    return out


def _summary(graphs: Sequence[NeuronGraph], layers: Sequence[int]) -> dict[str, Any]:
    """Per layer the mean F1 of N2G and token lookup (held-out, random windows) over fitted neurons, and the
    means over layers of the margins: `n2g.report.tables`'s summaries, as `benchmarks/quality.py` reports them."""
    summaries = {s["layer"]: s for s in layer_summaries(neuron_frame({"variant": graphs}))}
    per_layer: dict[str, dict[str, Any]] = {}
    for layer in layers:
        s = summaries.get(layer, {})
        row = {name: s.get(column) for name, column in _COLUMNS.items()}
        row["margin"] = margin([s], "n2g_test_f1", "token_lookup_test_f1") if s else None
        row["ood_margin"] = margin([s], "n2g_random_f1", "token_lookup_random_f1") if s else None
        row["swept_roots"] = sum(g.stats.swept or 0 for g in graphs if g.layer == layer and g.status == "fitted")
        per_layer[str(layer)] = row
    ordered = [summaries[layer] for layer in layers if layer in summaries]
    return {"layers": per_layer,
            "mean_margin_over_token_lookup": margin(ordered, "n2g_test_f1", "token_lookup_test_f1"),
            "ood_margin_over_token_lookup": margin(ordered, "n2g_random_f1", "token_lookup_random_f1")}


_COLUMNS = {"n2g_f1": "n2g_test_f1", "n2g_ood_f1": "n2g_random_f1", "token_lookup_f1": "token_lookup_test_f1",
            "token_lookup_ood_f1": "token_lookup_random_f1"}  # this benchmark's names -> `n2g.report.tables`'s

if __name__ == "__main__":
    sys.exit(main())
