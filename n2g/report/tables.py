"""The quality report's numbers: every sampled neuron's scores flattened into one table, and per-layer means laid
out like the paper's Table 1, for our method, both baselines and (when asked) the paper-faithful mode.

Means are macro averages over the neurons whose score is defined, as the paper averaged per layer: a neuron with no
firing token in the truth or the prediction has no F1, and counting it as 0 or 1 would invent a result. Shares of
neurons with F1 >= 0.8 / 0.5 are over the same neurons. Every mean comes with how many neurons it averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import METRICS, PREDICTORS, TEXT_SETS, format_score, mean_defined

METHODS = PREDICTORS  # N2G and the paper's two baselines (`n2g.graphs.scoring`)
METHOD_NAMES = {"n2g": "N2G", "token_lookup": "token lookup", "ngram5": "5-gram"}
SCORE_SPLITS = TEXT_SETS  # held-out top windows; random (out-of-distribution) windows
F1_LEVELS = (0.8, 0.5)
MODES = ("default", "paper", "paper_rules")  # ours; the paper as published; the paper's rules on our split
MODE_NAMES = {"default": "ours", "paper": "paper-faithful", "paper_rules": "paper rules, our split"}
STATUSES = ("fitted", "dead", "failed")


def score_column(method: str, split: str, metric: str) -> str:
    return f"{method}_{split}_{metric}"


SCORE_COLUMNS = [score_column(m, s, k) for m in METHODS for s in SCORE_SPLITS for k in METRICS]
COLUMNS = ["mode", "layer", "neuron", "status", "reason", "graph_nodes", "a_max", "split", *SCORE_COLUMNS]


# -- per neuron -----------------------------------------------------------------------------------------------
def neuron_row(graph: NeuronGraph, mode: str) -> dict[str, Any]:
    row: dict[str, Any] = {"mode": mode, "layer": graph.layer, "neuron": graph.neuron, "status": graph.status,
                           "reason": graph.reason, "graph_nodes": graph.node_count(),
                           "a_max": graph.a_max, "split": graph.stats.split}
    for method in METHODS:
        for split in SCORE_SPLITS:
            for metric in METRICS:
                value = None if graph.scores is None else graph.scores.value(method, split, metric)
                row[score_column(method, split, metric)] = np.nan if value is None else float(value)
    return row


def neuron_frame(graphs_by_mode: Mapping[str, Iterable[NeuronGraph]]) -> pd.DataFrame:
    """One row per (mode, neuron), sorted by mode, layer and neuron; the columns of `COLUMNS`."""
    rows = [neuron_row(graph, mode) for mode, graphs in graphs_by_mode.items() for graph in graphs]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["mode", "layer", "neuron"], key=_mode_order, kind="stable").reset_index(drop=True)


def _mode_order(column: pd.Series) -> pd.Series:
    return column.map(lambda mode: MODES.index(mode) if mode in MODES else len(MODES)) if column.name == "mode" \
        else column


# -- per layer ------------------------------------------------------------------------------------------------
def _share_at_least(values: pd.Series, level: float) -> float | None:
    defined = values.dropna()
    return float((defined >= level).mean()) if len(defined) else None


def summarise(rows: pd.DataFrame) -> dict[str, Any]:
    """Counts and mean scores of a set of neurons (one layer of one mode, or all of them)."""
    fitted = rows[rows["status"] == "fitted"]
    summary: dict[str, Any] = {"neurons": len(rows), **{s: int((rows["status"] == s).sum()) for s in STATUSES}}
    for column in SCORE_COLUMNS:
        summary[column] = mean_defined(fitted[column])
    summary["n2g_test_f1_defined"] = int(fitted["n2g_test_f1"].notna().sum())
    summary["n2g_random_f1_defined"] = int(fitted["n2g_random_f1"].notna().sum())
    for level in F1_LEVELS:
        summary[f"share_f1_ge_{level}"] = _share_at_least(fitted["n2g_test_f1"], level)
    summary["mean_graph_nodes"] = mean_defined(fitted["graph_nodes"].astype(float))
    return summary


def layer_summaries(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"mode": mode, "layer": int(layer), **summarise(rows)}
            for (mode, layer), rows in frame.groupby(["mode", "layer"], sort=False)]


def margin(summaries: Iterable[dict[str, Any]], a: str, b: str) -> float | None:
    """Mean over layers of a - b (layers where both are defined)."""
    gaps = [s[a] - s[b] for s in summaries if s[a] is not None and s[b] is not None]
    return float(np.mean(gaps)) if gaps else None


def build_report(frame: pd.DataFrame, settings: dict[str, Any]) -> dict[str, Any]:
    """What `report.json` holds: settings, per-layer summaries, per-mode totals and the comparisons."""
    layers = layer_summaries(frame)
    modes = [m for m in MODES if m in set(frame["mode"])]
    overall = {mode: summarise(frame[frame["mode"] == mode]) for mode in modes}
    comparison: dict[str, Any] = {}
    for mode in modes:
        own = [s for s in layers if s["mode"] == mode]
        comparison[mode] = {
            "mean_margin_over_token_lookup": margin(own, "n2g_test_f1", "token_lookup_test_f1"),
            "mean_margin_over_ngram5": margin(own, "n2g_test_f1", "ngram5_test_f1"),
            "ood_margin_over_token_lookup": margin(own, "n2g_random_f1", "token_lookup_random_f1"),
            "layers_beating_token_lookup": sum(1 for s in own if (s["n2g_test_f1"] or 0) > (s["token_lookup_test_f1"]
                                                                                          or 0)),
            "layers": len(own)}
    for other in ("paper_rules", "paper"):
        if other in modes:
            paired = _paired_layers(layers, other)
            comparison[f"default_minus_{other}"] = {"test_f1": margin(paired, "default_f1", f"{other}_f1"),
                                                    "random_f1": margin(paired, "default_random_f1",
                                                                        f"{other}_random_f1")}
    return {"format": "n2g-report", "version": 1, "settings": settings, "layers": layers, "overall": overall,
            "comparison": comparison}


def _paired_layers(layers: list[dict[str, Any]], other: str) -> list[dict[str, Any]]:
    """Per layer, ours and the other mode's N2G F1 side by side (layers that have both)."""
    by_layer: dict[int, dict[str, Any]] = {}
    for s in layers:
        entry = by_layer.setdefault(s["layer"], {})
        entry[f"{s['mode']}_f1"], entry[f"{s['mode']}_random_f1"] = s["n2g_test_f1"], s["n2g_random_f1"]
    return [e for e in by_layer.values() if "default_f1" in e and f"{other}_f1" in e]


# -- Markdown -------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 2) -> str:
    return format_score(value, digits, missing="-")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


TABLE1_HEADER = ("| layer | neurons | N2G P | N2G R | N2G F1 | token-lookup F1 | 5-gram F1 | N2G OOD F1 (n) "
                 "| token-lookup OOD F1 | N2G corr | F1 >= 0.8 | F1 >= 0.5 | dead | failed |")


def _table1_row(label: str, s: dict[str, Any]) -> str:
    cells = [label, str(s["neurons"]), _fmt(s["n2g_test_precision"]), _fmt(s["n2g_test_recall"]),
             _fmt(s["n2g_test_f1"]), _fmt(s["token_lookup_test_f1"]), _fmt(s["ngram5_test_f1"]),
             f"{_fmt(s['n2g_random_f1'])} ({s['n2g_random_f1_defined']})", _fmt(s["token_lookup_random_f1"]),
             _fmt(s["n2g_test_pearson"]), _pct(s["share_f1_ge_0.8"]), _pct(s["share_f1_ge_0.5"]), str(s["dead"]),
             str(s["failed"])]
    return "| " + " | ".join(cells) + " |"


def table1(report: dict[str, Any], mode: str) -> str:
    """The paper's Table 1 layout (firing-token P/R/F1 per layer, both baselines), plus our extra columns."""
    rows = [_table1_row(str(s["layer"]), s) for s in report["layers"] if s["mode"] == mode]
    rows.append(_table1_row("**all**", report["overall"][mode]))
    return "\n".join([TABLE1_HEADER, "|" + "---|" * TABLE1_HEADER.count(" | ") + "---|", *rows])


SIDE_BY_SIDE = (("n2g_test_f1", "F1"), ("n2g_test_precision", "P"), ("n2g_test_recall", "R"),
                ("n2g_random_f1", "OOD F1"), ("n2g_random_precision", "OOD P"))


def side_by_side(report: dict[str, Any]) -> str:
    """Ours next to the paper's modes on the same neurons: one row per (layer, mode)."""
    modes = [m for m in MODES if m in report["overall"]]
    header = "| layer | mode | " + " | ".join(label for _, label in SIDE_BY_SIDE) + " | token-lookup F1 |"
    by_layer: dict[Any, dict[str, dict[str, Any]]] = {}
    for s in report["layers"]:
        by_layer.setdefault(s["layer"], {})[s["mode"]] = s
    by_layer["**all**"] = report["overall"]
    rows = ["| " + " | ".join([str(layer), MODE_NAMES[m], *(_fmt(by_mode[m][key]) for key, _ in SIDE_BY_SIDE),
                               _fmt(by_mode[m]["token_lookup_test_f1"])]) + " |"
            for layer, by_mode in by_layer.items() for m in modes if m in by_mode]
    return "\n".join([header, "|" + "---|" * (3 + len(SIDE_BY_SIDE)), *rows])


def markdown(report: dict[str, Any], plots: Mapping[str, str], gallery: str | None) -> str:
    """report.md: the tables, the comparisons in words, and the plots (paths relative to the report)."""
    settings = report["settings"]
    lines = [f"# N2G quality report: {settings['model']}", "",
             f"Corpus `{settings['corpus']}`, layers {settings['layers_spec']}, {settings['neurons_per_layer']} "
             f"neurons per layer sampled with seed {settings['seed']}. Firing = activation >= "
             f"{settings['firing_threshold']} x a_max. Held-out = top windows the graph never saw "
             f"({settings['split_description']}); OOD = random corpus windows. Means over neurons with a defined "
             "score; `(n)` = how many.", "", "## Ours (default mode)", "", table1(report, "default"), ""]
    lines += _comparison_lines(report)
    if "paper" in report["overall"]:
        lines += ["## Ours vs the paper's settings, same neurons", "",
                  "Paper-faithful: a random 10/10 split of the top windows (same-document windows on both sides, "
                  "which flatters held-out scores), one pivot per window, first-insertion node values, "
                  "longest-match prediction, no check of patterns against the training text. \"Paper rules, our "
                  "split\": the same rules scored on exactly our held-out windows, so that column and ours differ "
                  "only by the method. The OOD columns score every mode on the same random windows (the odd half of "
                  "the sample; ours checks its patterns against the even half).", "",
                  side_by_side(report), "", "### Paper-faithful mode, Table 1 layout", "", table1(report, "paper"),
                  ""]
    lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()] + [""]
    if gallery:
        lines += [f"Browse every sampled neuron: [{gallery}]({gallery}) (opens from disk, sortable by F1).", ""]
    return "\n".join(lines)


def _comparison_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for mode, c in report["comparison"].items():
        if mode.startswith("default_minus_"):
            other = MODE_NAMES[mode.removeprefix("default_minus_")]
            lines.append(f"- Ours minus {other}: held-out F1 {_fmt(c['test_f1'], 3)}, "
                         f"OOD F1 {_fmt(c['random_f1'], 3)} (mean over layers).")
            continue
        lines.append(f"- {MODE_NAMES[mode].capitalize()}: N2G minus token lookup, held-out F1 "
                     f"{_fmt(c['mean_margin_over_token_lookup'], 3)} (beats it in {c['layers_beating_token_lookup']} "
                     f"of {c['layers']} layers); minus 5-gram {_fmt(c['mean_margin_over_ngram5'], 3)}; OOD F1 "
                     f"minus token lookup {_fmt(c['ood_margin_over_token_lookup'], 3)}.")
    return [*lines, ""]
