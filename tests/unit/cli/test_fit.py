"""`n2g fit`, `n2g show --graphs` and `n2g predict` on the tiny model: outputs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from n2g.cli.main import main
from n2g.model.loading import native_bf16
from tests.cli_checks import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def fitted(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit-cli")
    assert main(["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--layers", "0:1",
                 "--neurons", "0:5", "--top-k", "8", "--window-len", "32", "--random-windows", "32",
                 "--out", str(root / "ex"), "--no-progress"]) == 0
    assert main(["fit", "--exemplars", str(root / "ex"), "--out", str(root / "graphs"), "--no-progress"]) == 0
    return root


def test_fit_writes_every_neuron(fitted: Path, capsys) -> None:
    lines = (fitted / "graphs" / "layer_01.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["neuron"] for line in lines) == list(range(6))
    assert main(["fit", "--exemplars", str(fitted / "ex"), "--out", str(fitted / "graphs"), "--no-progress"]) == 0
    assert "0 fitted now" in capsys.readouterr().out  # a finished fit is not redone


def test_show_formats(fitted: Path, tmp_path: Path, capsys) -> None:
    graphs = str(fitted / "graphs")
    assert main(["show", "1:2", "--graphs", graphs]) == 0
    assert "neuron 1:2" in capsys.readouterr().out
    assert main(["show", "1:2", "--graphs", graphs, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["neuron"] == 2
    for fmt, magic in (("svg", b"<svg"), ("png", b"\x89PNG"), ("dot", b"digraph")):
        out = tmp_path / f"g.{fmt}"
        assert main(["show", "1:2", "--graphs", graphs, "--format", fmt, "--out", str(out)]) == 0
        assert magic in out.read_bytes()[:400]


def test_show_several_neurons_from_a_directory_or_a_store(fitted: Path, tmp_path: Path, capsys) -> None:
    """One call shows several neurons, read from a graph directory or from a store, alike."""
    graphs, db = str(fitted / "graphs"), str(tmp_path / "n2g.lbdb")
    assert main(["load", "--graphs", graphs, "--db", db, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["show", "1:2", "0:3", "--graphs", graphs]) == 0
    from_directory = capsys.readouterr().out
    assert "neuron 1:2 " in from_directory and "neuron 0:3 " in from_directory
    assert main(["show", "1:2", "0:3", "--db", db]) == 0
    assert capsys.readouterr().out == from_directory
    assert main(["show", "1:2", "0:3", "--db", db, "--format", "json"]) == 0
    assert [json.loads(line)["neuron"] for line in capsys.readouterr().out.splitlines()] == [2, 3]
    assert main(["show", "1:2", "0:3", "--db", db, "--format", "svg", "--out", str(tmp_path / "svgs")]) == 0
    assert sorted(p.name for p in (tmp_path / "svgs").iterdir()) == ["neuron_0_3.svg", "neuron_1_2.svg"]


def test_predict_several_neurons_from_a_store_with_one_model_load(fitted: Path, tmp_path: Path, capsys,
                                                                  monkeypatch) -> None:
    from n2g.model import loading

    db = str(tmp_path / "n2g.lbdb")
    assert main(["load", "--graphs", str(fitted / "graphs"), "--db", db, "--no-progress"]) == 0
    loads = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    capsys.readouterr()
    assert main(["predict", "0:1", "1:2", "import os\nx = 1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert len(loads) == 1 and out.count("predicted") == 2


def test_predict_prints_each_token(fitted: Path, tiny_model_dir: Path) -> None:
    result = run_cli("n2g", "predict", "0:1", "import os\nx = 1", "--graphs", str(fitted / "graphs"),
                     "--model", str(tiny_model_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "predicted" in lines[0] and len(lines) >= 5


@pytest.mark.parametrize("argv, expected", [
    (["show", "1:99", "--graphs", "{g}"], "no graph for neuron 1:99"),
    (["show", "7:1", "--graphs", "{g}"], "no graph for neuron 7:1"),
    (["show", "1-2", "--graphs", "{g}"], "bad neuron"),
    (["show", "1:2", "--graphs", "{missing}"], "no graphs in"),
    (["predict", "1:99", "text", "--graphs", "{g}"], "no graph for neuron"),
    (["fit", "--exemplars", "{missing}", "--out", "{g}"], "no exemplars"),
    (["fit", "--exemplars", "{ex}", "--out", "{g}", "--layers", "0", "--neurons", "40:41"], "have no exemplars"),
    (["fit", "--exemplars", "{ex}", "--out", "{g}", "--neurons", "0:40"], "have no exemplars"),
    (["fit", "--exemplars", "{ex}", "--out", "{g}", "--neurons", "5"], "without --layers"),
    (["show", "1:2", "--graphs", "{g}", "--db", "{missing}"], "give one of"),
    (["show", "1:2"], "give one of --graphs"),
    (["predict", "1:2", "--graphs", "{g}"], "give NEURON... TEXT"),
    (["fit", "--exemplars", "{ex}", "--out", "{g}", "--layers", "2"], "layer 2 not in"),
    (["fit", "--exemplars", "{ex}", "--out", "{g}", "--importance-threshold", "0.9"], "other settings"),
    (["fit", "--exemplars", "{ex}", "--out", "{other}", "--augment", "distilbert", "--augment-model", "{missing}"],
     "distilbert"),
])
def test_bad_input_is_one_line(fitted: Path, tmp_path: Path, capsys, argv: list[str], expected: str) -> None:
    values = {"g": str(fitted / "graphs"), "ex": str(fitted / "ex"), "missing": str(tmp_path / "nothing"),
              "other": str(tmp_path / "other")}
    assert_one_line_error(capsys, [a.format(**values) for a in argv] + (["--no-progress"] if argv[0] == "fit"
                                                                          else []), expected)


def test_lm_dtype_is_a_recorded_fit_setting(fitted: Path, tmp_path: Path, capsys) -> None:
    """The ranking passes' dtype decides which substitutes are tried, so a fit records it, and a graph directory
    fitted with another one is refused."""
    args = ["fit", "--exemplars", str(fitted / "ex"), "--neurons", "0:1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "exact"), "--lm-dtype", "model"]) == 0
    manifest = json.loads((tmp_path / "exact" / "manifest.json").read_text())
    assert manifest["config"]["augment"]["lm_dtype"] == "float32"  # recorded as the dtype the passes ran in
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "exact")]) != 0
    assert "other settings" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0  # auto is recorded as what it came to here
    manifest = json.loads((tmp_path / "auto" / "manifest.json").read_text())
    assert manifest["config"]["augment"]["lm_dtype"] == ("bfloat16" if native_bf16(torch.device("cpu")) else "float32")
