"""The quality report's three plots: how well N2G graphs predict their neurons, next to the two baselines.

The report's tables give averages; the plots show what averages hide: the spread of held-out F1 in each layer
(f1_distribution), the trend with depth, in and out of distribution (f1_by_layer), and whether bigger graphs buy
better F1 (size_vs_f1). Only fitted neurons of mode "default" are drawn, except the paper-faithful line.

Figures are built with matplotlib's object API and saved through an Agg canvas: no pyplot, so no display, no
global figure registry to close, and matplotlib is imported only when a plot is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from n2g.graphs.rendering import _matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS = {"f1_distribution": "f1_distribution.png", "f1_by_layer": "f1_by_layer.png", "size_vs_f1": "size_vs_f1.png"}
METHODS = {"n2g": "N2G", "token_lookup": "token lookup", "ngram5": "5-gram"}
COLORS = {"n2g": "#d62728", "token_lookup": "#1f77b4", "ngram5": "#2ca02c", "paper": "#9467bd"}
# layer_means column -> (legend label, colour, line style, marker) of its line in f1_by_layer.png
LINES = {
    "n2g": ("N2G, held-out", COLORS["n2g"], "-", "o"),
    "token_lookup": ("token lookup, held-out", COLORS["token_lookup"], "-", "s"),
    "ngram5": ("5-gram, held-out", COLORS["ngram5"], "-", "^"),
    "n2g_random": ("N2G, random windows", COLORS["n2g"], "--", "o"),
    "n2g_paper": ("N2G paper-faithful, held-out", COLORS["paper"], "-.", "D"),
}
DPI = 110
HEIGHT = 4.8  # inches
LOG_SPAN = 100.0  # graph sizes spanning more than two decades get a log x axis
MAX_TICKED = 12  # at most this many colorbar ticks: every layer, or every 2nd, 3rd... when there are more
MAX_LAYER_TICKS = 36  # up to this many layers, f1_by_layer ticks every layer on its x axis
NO_FITTED = "no fitted neurons"


# --- data ------------------------------------------------------------------------------------------------------


def fitted(neurons: pd.DataFrame, mode: str = "default") -> pd.DataFrame:
    """The fitted rows of one mode, `layer` as int; a frame without a `mode` column counts as all "default"."""
    if not {"status", "layer"} <= set(neurons.columns):
        return pd.DataFrame({"layer": pd.Series(dtype=int)})
    modes = neurons["mode"] if "mode" in neurons.columns else pd.Series("default", index=neurons.index)
    rows = neurons[(neurons["status"] == "fitted") & (modes == mode)]
    return rows.assign(layer=rows["layer"].astype(int))


def _means(rows: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Per-layer means of the source columns (values of `columns`), renamed to its keys; NaNs skipped."""
    values = rows.reindex(columns=list(columns.values())).astype(float)
    values.columns = list(columns)
    values.index = pd.Index(rows["layer"].to_numpy(), name="layer")
    return values.groupby(level="layer").mean()


def layer_means(neurons: pd.DataFrame) -> pd.DataFrame:
    """Mean F1 per layer (index `layer`) for each line of f1_by_layer.png, over fitted neurons, NaNs skipped.

    Columns: "n2g", "token_lookup", "ngram5" (held-out windows, mode "default"), "n2g_random" (N2G on random
    windows) and, only when fitted mode "paper" rows exist, "n2g_paper" (paper-faithful N2G, held-out).
    A layer where a series has no defined F1 holds NaN there.
    """
    columns = {name: f"{name}_test_f1" for name in METHODS} | {"n2g_random": "n2g_random_f1"}
    means = _means(fitted(neurons), columns)
    paper = fitted(neurons, "paper")
    if len(paper):
        means = means.join(_means(paper, {"n2g_paper": "n2g_test_f1"}), how="outer")
    return means.sort_index()


# --- drawing helpers -------------------------------------------------------------------------------------------


def _figure(width: float = 6.4) -> tuple[Figure, Axes]:
    figure_class = _matplotlib()
    fig = figure_class(figsize=(width, HEIGHT), layout="constrained")
    return fig, fig.add_subplot()


def _note(ax: Axes, text: str) -> None:
    """Say why a plot is empty, in place of the data."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=14, color="#555555",
            style="italic")


def _f1_axis(ax: Axes, label: str) -> None:
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(label)
    ax.grid(axis="y", alpha=0.3)


def _save(fig: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})


# --- the three figures -----------------------------------------------------------------------------------------


def _boxes(ax: Axes, rows: pd.DataFrame, layers: list[int], method: str, offset: float, width: float) -> bool:
    """One box per layer for one method's held-out F1, shifted by `offset`; False when it had no data at all."""
    column = rows.reindex(columns=[f"{method}_test_f1"]).iloc[:, 0].astype(float)
    groups = [(i + offset, column[rows["layer"] == layer].dropna().to_numpy()) for i, layer in enumerate(layers)]
    groups = [(position, values) for position, values in groups if len(values)]
    if not groups:
        return False
    color = COLORS[method]
    ax.boxplot([values for _, values in groups], positions=[position for position, _ in groups],
               widths=width * 0.85, patch_artist=True, showmeans=True, manage_ticks=False,
               boxprops={"facecolor": color, "alpha": 0.55, "edgecolor": color},
               medianprops={"color": "black"}, whiskerprops={"color": color}, capprops={"color": color},
               flierprops={"marker": ".", "markersize": 3, "markeredgecolor": color},
               meanprops={"marker": "D", "markersize": 3.5, "markerfacecolor": "white", "markeredgecolor": "black"})
    return True


def f1_distribution_figure(neurons: pd.DataFrame) -> Figure:
    """Box plots of held-out F1 per layer, N2G and both baselines side by side, with medians and means."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = fitted(neurons)
    layers = sorted(rows["layer"].unique().tolist())
    fig, ax = _figure(max(6.4, 2.0 + 0.55 * len(layers)))
    ax.set_title(f"Held-out F1 per layer: N2G vs baselines ({len(rows)} fitted neurons)")
    if rows.empty:
        _note(ax, NO_FITTED)
        return fig
    width = 0.8 / len(METHODS)
    handles = []
    for j, (method, label) in enumerate(METHODS.items()):
        drawn = _boxes(ax, rows, layers, method, (j - (len(METHODS) - 1) / 2) * width, width)
        handles.append(Patch(facecolor=COLORS[method], alpha=0.55, label=label if drawn else f"{label} (no data)"))
    handles += [Line2D([], [], color="black", label="median"),
                Line2D([], [], marker="D", markersize=4, markerfacecolor="white", markeredgecolor="black",
                       linestyle="none", label="mean")]
    counts = rows["layer"].value_counts()
    ax.set_xticks(range(len(layers)), [f"{layer}\nn={counts[layer]}" for layer in layers])
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_xlabel("layer")
    _f1_axis(ax, "F1 on held-out windows")
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return fig


def _layer_ticks(ax: Axes, layers: list[int]) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(layers[0] - 0.5, layers[-1] + 0.5)
    if len(layers) <= MAX_LAYER_TICKS:
        ax.set_xticks(layers)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def f1_by_layer_figure(neurons: pd.DataFrame) -> Figure:
    """Mean F1 by layer: one line per layer_means column; series with no data anywhere are left out."""
    means = layer_means(neurons)
    fig, ax = _figure(max(6.4, 3.0 + 0.25 * len(means)))
    ax.set_title(f"Mean F1 by layer ({len(fitted(neurons))} fitted neurons)")
    series = [name for name in LINES if name in means.columns and means[name].notna().any()]
    if not series:
        _note(ax, NO_FITTED if means.empty else "no defined F1 in any layer")
        return fig
    layers = means.index.astype(int).tolist()
    for name in series:
        label, color, style, marker = LINES[name]
        ax.plot(layers, means[name].to_numpy(), color=color, linestyle=style, marker=marker, markersize=5,
                label=label)
    _layer_ticks(ax, layers)
    ax.set_xlabel("layer")
    _f1_axis(ax, "mean F1")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    return fig


def _size_scale(ax: Axes, sizes: np.ndarray) -> None:
    """Log x axis when the positive sizes span more than two decades (symlog when some are 0, to keep them)."""
    positive = sizes[sizes > 0]
    if len(positive) and positive.max() / positive.min() > LOG_SPAN:
        if (sizes <= 0).any():
            ax.set_xscale("symlog", linthresh=1)
        else:
            ax.set_xscale("log")


def size_vs_f1_figure(neurons: pd.DataFrame) -> Figure:
    """Scatter of graph size against N2G held-out F1, one point per fitted neuron, coloured by layer."""
    import matplotlib
    from matplotlib.colors import BoundaryNorm

    rows = fitted(neurons)
    points = rows.reindex(columns=["layer", "graph_nodes", "n2g_test_f1"]).astype(float).dropna()
    fig, ax = _figure()
    ax.set_title(f"Graph size vs N2G held-out F1 ({len(points)} fitted neurons with an F1)")
    if points.empty:
        _note(ax, NO_FITTED if rows.empty else "no fitted neuron has both a graph size and a held-out F1")
        return fig
    layers = sorted(points["layer"].astype(int).unique().tolist())
    cmap = matplotlib.colormaps["viridis"]
    norm = BoundaryNorm(np.arange(layers[0] - 0.5, layers[-1] + 1.5), cmap.N)
    dots = ax.scatter(points["graph_nodes"], points["n2g_test_f1"], c=points["layer"], cmap=cmap, norm=norm, s=18,
                      alpha=0.8, edgecolors="#333333", linewidths=0.3)
    bar = fig.colorbar(dots, ax=ax, label="layer")
    bar.set_ticks(layers[:: math.ceil(len(layers) / MAX_TICKED)])
    _size_scale(ax, points["graph_nodes"].to_numpy())
    ax.set_xlabel("graph size (nodes)")
    _f1_axis(ax, "N2G F1 on held-out windows")
    return fig


FIGURES: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "f1_distribution": f1_distribution_figure,
    "f1_by_layer": f1_by_layer_figure,
    "size_vs_f1": size_vs_f1_figure,
}


def write_plots(neurons: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write the PNGs into out_dir (created if missing) and return {plot name: path}, in PLOTS order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, filename in PLOTS.items():
        paths[name] = out / filename
        _save(FIGURES[name](neurons), paths[name])
    return paths
