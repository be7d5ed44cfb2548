"""The quality report's plots: real PNGs, not blank, drawn from the right numbers, and no crash on thin data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from n2g.report import plots as report_plots
from n2g.report.plots import PLOTS, layer_means, size_vs_f1_figure, write_plots

matplotlib = pytest.importorskip("matplotlib")

METHODS = ("n2g", "token_lookup", "ngram5")
SCORES = [f"{method}_{split}_{metric}" for method in METHODS for split in ("test", "random")
          for metric in ("precision", "recall", "f1", "pearson")]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scores(seed: int = 0, layers: tuple[int, ...] = (0, 1, 2), per_layer: int = 12,
           modes: tuple[str, ...] = ("default", "paper")) -> pd.DataFrame:
    """Random per-neuron scores with ~10% NaNs, one dead and one failed neuron."""
    rng = np.random.default_rng(seed)
    rows = [{"mode": mode, "layer": layer, "neuron": neuron, "status": "fitted",
             "graph_nodes": int(rng.integers(1, 5000))}
            for mode in modes for layer in layers for neuron in range(per_layer)]
    frame = pd.DataFrame(rows)
    values = pd.DataFrame(rng.uniform(0, 1, (len(frame), len(SCORES))), columns=SCORES)
    frame = pd.concat([frame, values.mask(rng.random(values.shape) < 0.1)], axis=1)
    frame.loc[0, "status"] = "dead"
    frame.loc[0, SCORES] = np.nan
    frame.loc[0, "graph_nodes"] = 0
    frame.loc[1, "status"] = "failed"
    return frame


def assert_pngs(paths: dict[str, Path], out_dir: Path) -> None:
    import matplotlib.image

    assert list(paths) == list(PLOTS)
    for name, path in paths.items():
        assert path == out_dir / PLOTS[name]
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, name
        assert len(data) > 5000, name
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 300, name
        assert pixels[..., :3].var() > 1e-3, f"{name} looks blank"


def test_write_plots_writes_three_valid_non_blank_pngs(tmp_path: Path) -> None:
    out = tmp_path / "plots" / "nested"
    assert_pngs(write_plots(scores(), out), out)


def _one_layer() -> pd.DataFrame:
    return scores(layers=(4,))


def _nan_method_in_a_layer() -> pd.DataFrame:
    frame = scores()
    frame.loc[frame["layer"] == 1, ["token_lookup_test_f1", "n2g_random_f1"]] = np.nan
    frame["ngram5_test_f1"] = np.nan
    return frame


def _no_paper() -> pd.DataFrame:
    return scores(modes=("default",))


def _no_mode_column() -> pd.DataFrame:
    return scores(modes=("default",)).drop(columns="mode")


def _no_fitted() -> pd.DataFrame:
    return scores().assign(status="dead")


def _empty() -> pd.DataFrame:
    return scores().iloc[0:0]


def _no_columns() -> pd.DataFrame:
    return pd.DataFrame()


@pytest.mark.parametrize("build", [_one_layer, _nan_method_in_a_layer, _no_paper, _no_mode_column, _no_fitted,
                                   _empty, _no_columns])
def test_thin_data_still_gives_three_pngs(tmp_path: Path, build) -> None:
    assert_pngs(write_plots(build(), tmp_path), tmp_path)


def test_layer_means_match_a_hand_computation() -> None:
    nan = np.nan
    base = {"neuron": 0, "graph_nodes": 5, "token_lookup_test_f1": 0.1, "ngram5_test_f1": 0.2,
            "n2g_random_f1": 0.3}
    rows = [
        {"mode": "default", "layer": 0, "status": "fitted", "n2g_test_f1": 0.2},
        {"mode": "default", "layer": 0, "status": "fitted", "n2g_test_f1": 0.4, "n2g_random_f1": 0.5},
        {"mode": "default", "layer": 0, "status": "fitted", "n2g_test_f1": nan, "ngram5_test_f1": 0.8},
        {"mode": "default", "layer": 0, "status": "dead", "n2g_test_f1": 0.9, "token_lookup_test_f1": 0.9},
        {"mode": "default", "layer": 2, "status": "fitted", "n2g_test_f1": 0.6, "token_lookup_test_f1": nan},
        {"mode": "default", "layer": 2, "status": "failed", "n2g_test_f1": 0.0},
        {"mode": "paper", "layer": 0, "status": "fitted", "n2g_test_f1": 0.7},
        {"mode": "paper", "layer": 2, "status": "fitted", "n2g_test_f1": 0.1},
        {"mode": "paper", "layer": 2, "status": "fitted", "n2g_test_f1": 0.3},
        {"mode": "paper", "layer": 2, "status": "dead", "n2g_test_f1": 1.0},
    ]
    means = layer_means(pd.DataFrame([base | row for row in rows]))
    expected = pd.DataFrame({"n2g": [0.3, 0.6], "token_lookup": [0.1, nan], "ngram5": [0.4, 0.2],
                             "n2g_random": [(0.3 + 0.5 + 0.3) / 3, 0.3], "n2g_paper": [0.7, 0.2]},
                            index=pd.Index([0, 2], name="layer"))
    pd.testing.assert_frame_equal(means, expected, check_index_type=False)


def test_layer_means_has_no_paper_column_without_paper_rows() -> None:
    means = layer_means(scores(modes=("default",)))
    assert list(means.columns) == ["n2g", "token_lookup", "ngram5", "n2g_random"]
    assert means.index.tolist() == [0, 1, 2]


def test_by_layer_figure_draws_layer_means() -> None:
    neurons = scores()
    means = layer_means(neurons)
    ax = report_plots.f1_by_layer_figure(neurons).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {label for label, *_ in report_plots.LINES.values()}
    for name, (label, *_rest) in report_plots.LINES.items():
        np.testing.assert_array_equal(lines[label].get_xdata(), [0, 1, 2])
        np.testing.assert_allclose(lines[label].get_ydata(), means[name].to_numpy())
    assert lines["N2G, random windows"].get_linestyle() == "--"


def test_size_axis_is_log_only_over_two_decades() -> None:
    wide = scores(modes=("default",)).assign(graph_nodes=lambda f: np.geomspace(2, 4000, len(f)).round())
    narrow = wide.assign(graph_nodes=lambda f: np.linspace(10, 500, len(f)).round())
    with_zero = wide.assign(graph_nodes=lambda f: np.where(f.index == 5, 0, f["graph_nodes"]),
                            n2g_test_f1=lambda f: f["n2g_test_f1"].fillna(0.5))
    assert size_vs_f1_figure(wide).axes[0].get_xscale() == "log"
    assert size_vs_f1_figure(narrow).axes[0].get_xscale() == "linear"
    assert size_vs_f1_figure(with_zero).axes[0].get_xscale() == "symlog"
