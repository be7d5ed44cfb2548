"""What bounds a graph's held-out recall and precision (issue 23): a decomposition of a fidelity run's errors.

Takes the graphs and fitting exemplars of a `benchmarks/quality.py --out DIR` run and the evaluation exemplars it
was scored on (`--eval-exemplars`), and sorts every held-out firing position (evaluation top windows, activation
>= threshold x the graph's a_max, as the scores count it) by what the fitting evidence knew of its token:

- `hit`: N2G predicts it (recall's numerator);
- `root_context_missed`: the token is one of the graph's activating tokens (a trie root), but no pattern of it
  matched there: the context the graph requires was absent (or the root's patterns predict below threshold);
- `fired_in_fit_not_root`: the token fired (>= threshold) somewhere in the fitting windows but is not a root
  (pruning, the importance threshold or the pattern check dropped it);
- `seen_in_fit_never_fired`: the token occurs in the fitting windows, never at firing strength;
- `unseen_in_fit`: the token does not occur in the fitting windows at all.

The first two are what N2G could reach from its roots (`root_ceiling`); the first three, what any explanation keyed
on tokens seen firing could reach (`token_ceiling`, a token lookup's recall). The last two bound recall from
the evidence, not from the trie. Each N2G false positive is sorted by the neuron's activation there relative to the
threshold (`near_miss`: >= half the threshold, i.e. >= 0.25 a_max at the default 0.5: the neuron responds, more
weakly than the binary score counts; `silent`: below). Shares are pooled over the layer's positions, and also
averaged per neuron. No model pass: evaluation activations are read from the exemplars.

Usage: python benchmarks/recall_bound.py --run /tmp/fid/default --eval-exemplars /tmp/fid/eval
Prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from n2g.cli.guard import run_guarded
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.model.loading import load_tokenizer
from n2g.model.token_keys import Vocabulary

PROG = "benchmarks/recall_bound.py"
RECALL_CLASSES = ("hit", "root_context_missed", "fired_in_fit_not_root", "seen_in_fit_never_fired", "unseen_in_fit")
PRECISION_CLASSES = ("true_positive", "near_miss", "silent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a `benchmarks/quality.py --out` directory (graphs/, "
                        "fit-exemplars/)")
    parser.add_argument("--eval-exemplars", required=True, help="the evaluation exemplars the run was scored on")
    return parser


def classify_neuron(graph: NeuronGraph, fit_keys: Sequence[list[str]], fit_acts: Sequence[np.ndarray],
                    eval_keys: Sequence[list[str]], eval_acts: Sequence[np.ndarray]) -> tuple[Counter, Counter]:
    """(recall classes of the held-out firing positions, precision classes of N2G's predictions); activations
    are on the graph's scale (divided by its a_max)."""
    threshold = graph.activation_threshold
    fired_in_fit: set[str] = set()
    seen_in_fit: set[str] = set()
    for keys, acts in zip(fit_keys, fit_acts):
        seen_in_fit.update(keys)
        fired_in_fit.update(keys[t] for t in np.flatnonzero(acts >= threshold).tolist())
    roots = {str(root.key) for root in graph.roots}
    matcher = GraphMatcher(graph)
    recall: Counter = Counter()
    precision: Counter = Counter()
    for keys, acts in zip(eval_keys, eval_acts):
        predicted = matcher.predict(keys) >= threshold
        for t in np.flatnonzero(acts >= threshold).tolist():
            key = keys[t]
            recall["hit" if predicted[t] else "root_context_missed" if key in roots else
                   "fired_in_fit_not_root" if key in fired_in_fit else
                   "seen_in_fit_never_fired" if key in seen_in_fit else "unseen_in_fit"] += 1
        for t in np.flatnonzero(predicted).tolist():
            precision["true_positive" if acts[t] >= threshold else
                      "near_miss" if acts[t] >= threshold / 2 else "silent"] += 1
    return recall, precision


def shares(counts: Counter, classes: Sequence[str]) -> dict[str, float] | None:
    total = sum(counts[c] for c in classes)
    return {c: round(counts[c] / total, 4) for c in classes} if total else None


def layer_summary(rows: list[tuple[Counter, Counter]]) -> dict[str, Any]:
    pooled_recall: Counter = sum((r for r, _ in rows), Counter())
    pooled_precision: Counter = sum((p for _, p in rows), Counter())
    per_neuron = [shares(r, RECALL_CLASSES) for r, _ in rows]
    defined = [s for s in per_neuron if s is not None]
    mean = {c: round(float(np.mean([s[c] for s in defined])), 4) for c in RECALL_CLASSES} if defined else None
    pooled = shares(pooled_recall, RECALL_CLASSES)
    out: dict[str, Any] = {"neurons": len(rows), "firing_positions": sum(pooled_recall.values()),
                           "recall_pooled": pooled, "recall_mean_over_neurons": mean,
                           "precision_pooled": shares(pooled_precision, PRECISION_CLASSES)}
    if mean is not None:
        out["root_ceiling"] = round(mean["hit"] + mean["root_context_missed"], 4)
        out["token_ceiling"] = round(out["root_ceiling"] + mean["fired_in_fit_not_root"], 4)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir, eval_dir = Path(args.run), Path(args.eval_exemplars)
    for path in (run_dir / "graphs", run_dir / "fit-exemplars", eval_dir):
        if not path.is_dir():
            raise N2GError(f"{path}: no such directory (a quality.py --out run and its --eval-exemplars)")
    graphs = GraphDirectory(run_dir / "graphs")
    fit, evaluation = ExemplarSet(run_dir / "fit-exemplars"), ExemplarSet(eval_dir)
    vocabularies: dict[str, Vocabulary] = {}
    tokenizer = None
    layers: dict[str, Any] = {}
    for layer in graphs.layers():
        rows = []
        for graph in graphs.graphs(layer):
            if graph.status != "fitted":
                continue
            if graph.token_matching not in vocabularies:
                tokenizer = tokenizer or load_tokenizer(graph.model)
                vocabularies[graph.token_matching] = Vocabulary(tokenizer, graph.token_matching)
            vocab = vocabularies[graph.token_matching]
            fitted = fit.neuron(layer, graph.neuron, graph.sign, quantiles=True)  # all the evidence the graph had
            held_out = evaluation.neuron(layer, graph.neuron, graph.sign)
            rows.append(classify_neuron(
                graph, [vocab.keys(t) for t in fitted.tokens], [a.numpy() / graph.a_max for a in fitted.acts],
                [vocab.keys(t) for t in held_out.tokens], [a.numpy() / graph.a_max for a in held_out.acts]))
        layers[str(layer)] = layer_summary(rows)
    return {"run": str(run_dir), "eval_exemplars": str(eval_dir), "layers": layers}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        print(json.dumps(run(args)))
        return 0

    return run_guarded(action, PROG)


if __name__ == "__main__":
    sys.exit(main())
