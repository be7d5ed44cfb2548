"""The `n2g` command line: help, one-line errors for bad input, and resuming after `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from n2g.cli import main
from n2g.exemplar_mining import MiningConfig, mine_exemplars

BIN = Path(sys.executable).parent


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [["n2g", "--help"], ["n2g", "exemplars", "--help"],
                                     ["n2g", "show", "--help"], ["n2g-search", "--help"]])
def test_help(command: list[str]) -> None:
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def assert_one_line_error(capsys: pytest.CaptureFixture, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("n2g: error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert expected in err, err


def test_empty_corpus(capsys, tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("")
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(corpus),
                                   "--out", str(tmp_path / "out"), "--no-progress"], "gave no text")


@pytest.mark.parametrize("corpus_name, content, expected", [
    ("missing.txt", None, "not found"),
    ("broken.parquet", b"PAR1 this is not parquet", "cannot read parquet"),
    ("bad.jsonl", b'{"text": "fine"}\n{oops\n', "not valid JSON"),
])
def test_unreadable_corpus(capsys, tiny_model_dir: Path, tmp_path: Path, corpus_name: str,
                           content: bytes | None, expected: str) -> None:
    corpus = tmp_path / corpus_name
    if content is not None:
        corpus.write_bytes(content)
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(corpus),
                                   "--out", str(tmp_path / "out"), "--no-progress"], expected)


@pytest.mark.parametrize("spec, expected", [("0:99", "out of range"), ("one", "bad layer spec"),
                                            ("2:1", "backwards"), ("", "empty layer spec")])
def test_bad_layer_spec(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path,
                        spec: str, expected: str) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus",
                                   str(small_corpus_dir), "--layers", spec, "--out", str(tmp_path)], expected)


@pytest.mark.parametrize("model, expected", [
    ("no-such-org/no-such-model-n2g", "no-such-org/no-such-model-n2g"),
    ("./no/such/dir", "model path not usable"),
    ("missing.gguf", "GGUF file not found"),
])
def test_unknown_model(capsys, small_corpus_dir: Path, tmp_path: Path, model: str, expected: str) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", model, "--corpus", str(small_corpus_dir),
                                   "--out", str(tmp_path)], expected)


def test_other_settings_in_same_directory(capsys, tiny_model_dir: Path, small_corpus_dir: Path,
                                          tmp_path: Path) -> None:
    base = ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--out",
            str(tmp_path), "--max-tokens", "500", "--window-len", "16", "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert_one_line_error(capsys, [*base, "--top-k", "3"], "other settings (top_k)")


def test_show_unknown_neuron(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    assert main(["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--out",
                 str(tmp_path), "--max-tokens", "500", "--window-len", "16", "--no-progress"]) == 0
    capsys.readouterr()
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path), "--neuron", "1.999"], "not in")
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path), "--neuron", "x"], "bad neuron")
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path / "nothing"), "--neuron", "0.1"],
                          "no exemplars")


def test_error_through_console_script_has_no_traceback(tmp_path: Path) -> None:
    result = run_cli("n2g", "exemplars", "--model", "./no/such/dir", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_resume_after_kill_9_equals_uninterrupted_run(tiny_model, tiny_model_dir: Path,
                                                      small_corpus_dir: Path, tmp_path: Path) -> None:
    args = ["--window-len", "16", "--batch-size", "2", "--top-k", "4", "--random-windows", "8",
            "--max-tokens", "6000"]
    killed = tmp_path / "killed"
    command = [str(BIN / "n2g"), "exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
               "--out", str(killed), "--checkpoint-every", "0", "--no-progress", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # let it get into the corpus
    assert process.poll() is None, "the run finished before it could be killed: give it more work"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "manifest.json").exists()

    resumed = run_cli("n2g", "exemplars", *command[2:])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert not (killed / "checkpoint.pt").exists()

    reference = tmp_path / "reference"
    config = MiningConfig(layers=(0, 1, 2), top_k=4, window_len=16, batch_size=2, n_random_windows=8,
                          max_tokens=6000)
    mine_exemplars(tiny_model, str(small_corpus_dir), reference, config, progress=False)
    for name in ("layer_00", "layer_01", "layer_02", "random_windows"):
        ours, theirs = (load_file(str(d / f"{name}.safetensors")) for d in (killed, reference))
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}.{key} differs after resume"
    assert (killed / "documents.txt").read_text() == (reference / "documents.txt").read_text()
