"""The quality report: numbers from hand-made graphs, and `n2g report` end to end on the tiny model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from n2g.cli.main import main
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.report.run import sample_neurons
from n2g.report.tables import COLUMNS, build_report, markdown, neuron_frame, summarise
from tests.cli_checks import assert_one_line_error
from tests.factories import dead_graph, make_graph


def scored(layer: int, neuron: int, n2g: float | None, lookup: float, nodes: int = 1) -> NeuronGraph:
    graph = make_graph(layer, neuron, [(f"t{i}", []) for i in range(nodes)])
    assert graph.scores is not None and graph.scores.n2g.test is not None
    held_out = graph.scores.n2g.test
    graph.scores = replace(graph.scores, n2g=replace(graph.scores.n2g, test=replace(held_out, f1=n2g)),
                           token_lookup=replace(graph.scores.token_lookup, test=replace(held_out, f1=lookup)))
    return graph


@pytest.fixture()
def frame() -> pd.DataFrame:
    ours = [scored(0, 1, 0.9, 0.5), scored(0, 2, None, 0.3), scored(0, 3, 0.4, 0.4, nodes=3), dead_graph(0, 4),
            scored(1, 1, 0.6, 0.7)]
    paper = [scored(0, 1, 0.5, 0.5), scored(0, 2, 0.2, 0.3), scored(0, 3, 0.1, 0.4), dead_graph(0, 4),
             scored(1, 1, 0.3, 0.7)]
    return neuron_frame({"paper": paper, "default": ours})


def test_frame_has_one_row_per_mode_and_neuron(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == COLUMNS
    assert list(frame["mode"]) == ["default"] * 5 + ["paper"] * 5  # ours first, whatever order given
    assert frame.loc[2, "graph_nodes"] == 3 and pd.isna(frame.loc[1, "n2g_test_f1"])
    assert pd.isna(frame.loc[3, "n2g_test_f1"]) and frame.loc[3, "status"] == "dead"


def test_layer_means_skip_undefined_and_dead(frame: pd.DataFrame) -> None:
    layer0 = summarise(frame[(frame["mode"] == "default") & (frame["layer"] == 0)])
    assert (layer0["neurons"], layer0["fitted"], layer0["dead"], layer0["failed"]) == (4, 3, 1, 0)
    assert layer0["n2g_test_f1"] == pytest.approx(0.65)  # (0.9 + 0.4) / 2: the None is not a 0
    assert layer0["n2g_test_f1_defined"] == 2
    assert layer0["token_lookup_test_f1"] == pytest.approx(0.4)
    assert layer0["share_f1_ge_0.8"] == pytest.approx(0.5) and layer0["share_f1_ge_0.5"] == pytest.approx(0.5)


def test_margins(frame: pd.DataFrame) -> None:
    report = build_report(frame, {})
    ours = report["comparison"]["default"]
    assert ours["mean_margin_over_token_lookup"] == pytest.approx(((0.65 - 0.4) + (0.6 - 0.7)) / 2)
    assert (ours["layers_beating_token_lookup"], ours["layers"]) == (1, 2)
    assert report["comparison"]["default_minus_paper"]["test_f1"] == pytest.approx(
        ((0.65 - (0.5 + 0.2 + 0.1) / 3) + (0.6 - 0.3)) / 2)


def test_markdown_is_table1(frame: pd.DataFrame) -> None:
    settings = {"model": "m", "corpus": "c", "layers_spec": "0:1", "neurons_per_layer": 5, "seed": 0,
                "firing_threshold": 0.5, "split_description": "whole documents held out"}
    text = markdown(build_report(frame, settings), {"f1_by_layer": "plots/f1_by_layer.png"}, "gallery.html")
    assert "| layer | neurons | N2G P | N2G R | N2G F1 | token-lookup F1 | 5-gram F1 |" in text
    assert "| 0 | 4 | 0.80 | 0.70 | 0.65 | 0.40 |" in text and "| 1 | 1 |" in text
    assert "paper-faithful" in text and "![f1_by_layer](plots/f1_by_layer.png)" in text and "gallery.html" in text


def test_sample_is_seeded_and_differs_by_layer() -> None:
    sample = sample_neurons([0, 1], 64, 5, seed=0)
    assert sample == sample_neurons([0, 1], 64, 5, seed=0) and sample[0] != sample[1]
    assert all(len(set(n)) == 5 and n == sorted(n) for n in sample.values())
    assert sample_neurons([0], 3, 5, seed=0) == {0: [0, 1, 2]}


@pytest.fixture(scope="module")
def report_dir(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "r"
    assert main(["report", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--layers", "0:1",
                 "--neurons-per-layer", "4", "--paper-mode", "--augment", "none", "--out", str(out),
                 "--no-progress"]) == 0
    return out


def test_report_writes_everything(report_dir: Path) -> None:
    for name in ("report.json", "report.md", "neurons.csv", "gallery.html", "plots/f1_by_layer.png",
                 "plots/f1_distribution.png", "plots/size_vs_f1.png"):
        assert (report_dir / name).stat().st_size > 100, name
    report = json.loads((report_dir / "report.json").read_text())
    neurons = pd.read_csv(report_dir / "neurons.csv")
    assert sorted(set(neurons["mode"])) == ["default", "paper", "paper_rules"] and len(neurons) == 3 * 8
    assert {(s["mode"], s["layer"]) for s in report["layers"]} == {(m, la) for m in ("default", "paper", "paper_rules")
                                                                   for la in (0, 1)}
    ours = neurons[neurons["mode"] == "default"]
    assert report["overall"]["default"]["n2g_test_f1"] == pytest.approx(ours["n2g_test_f1"].mean())
    html = (report_dir / "gallery.html").read_text()
    assert html.count('class="neuron ') == 8 and "<svg" in html


def test_report_resumes_without_redoing_work(report_dir: Path, tiny_model_dir: Path, small_corpus_dir: Path,
                                             capsys) -> None:
    before = (report_dir / "report.json").read_text()
    graph_files = sorted((report_dir / "graphs").glob("*.jsonl"))
    sizes = [p.stat().st_size for p in graph_files]
    assert main(["report", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--layers", "0:1",
                 "--neurons-per-layer", "4", "--paper-mode", "--augment", "none", "--out", str(report_dir),
                 "--no-progress"]) == 0
    assert (report_dir / "report.json").read_text() == before
    assert [p.stat().st_size for p in graph_files] == sizes
    assert "8 fitted" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [
    (["--layers", "7"], "layer"),
    (["--layers", "0", "--corpus", "/nonexistent/corpus"], "nonexistent"),
    (["--layers", "0", "--signs", "both"], "positive direction only"),
])
def test_bad_input_is_one_line(argv: list[str], expected: str, tiny_model_dir: Path, tmp_path: Path,
                               capsys) -> None:
    assert_one_line_error(capsys, ["report", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"),
                                   "--no-progress", *argv], expected)
