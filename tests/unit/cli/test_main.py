"""The `n2g` command line: help, one-line errors for bad input, and resuming after `kill -9`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from n2g.cli.main import main
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from tests.cli_checks import BIN, assert_one_line_error, run_cli


@pytest.mark.parametrize("command", [["n2g", "--help"], ["n2g", "exemplars", "--help"],
                                     ["n2g", "show", "--help"], ["n2g", "fit", "--help"],
                                     ["n2g", "predict", "--help"], ["n2g-search", "--help"]])
def test_help(command: list[str]) -> None:
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


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


RESUME_ARGS = ["--window-len", "16", "--batch-size", "2", "--top-k", "4", "--random-windows", "8",
               "--max-tokens", "6000"]
RESUME_CONFIG = MiningConfig(layers=(0, 1, 2), top_k=4, window_len=16, batch_size=2, n_random_windows=8,
                             max_tokens=6000)


def start_then_stop(command: list[str], out: Path, stop_signal: int) -> subprocess.CompletedProcess:
    """Run `command`, send `stop_signal` once it has written a checkpoint, and wait for it to end."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # let it get into the corpus
    assert process.poll() is None, "the run finished before it could be stopped: give it more work"
    os.kill(process.pid, stop_signal)
    stdout, stderr = process.communicate(timeout=120)
    assert not (out / "manifest.json").exists()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def assert_same_as_uninterrupted(tiny_model, corpus: Path, resumed: Path, reference: Path) -> None:
    mine_exemplars(tiny_model, str(corpus), reference, RESUME_CONFIG, progress=False)
    for name in ("layer_00", "layer_01", "layer_02", "random_windows"):
        ours, theirs = (load_file(str(d / f"{name}.safetensors")) for d in (resumed, reference))
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}.{key} differs after resume"
    assert (resumed / "documents.txt").read_text() == (reference / "documents.txt").read_text()
    assert not (resumed / "checkpoint.pt").exists()


def exemplars_command(model_dir: Path, corpus: Path, out: Path) -> list[str]:
    return [str(BIN / "n2g"), "exemplars", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(out),
            "--checkpoint-every", "0", "--no-progress", *RESUME_ARGS]


def test_resume_after_kill_9_equals_uninterrupted_run(tiny_model, tiny_model_dir: Path,
                                                      small_corpus_dir: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    command = exemplars_command(tiny_model_dir, small_corpus_dir, killed)
    start_then_stop(command, killed, signal.SIGKILL)
    resumed = run_cli("n2g", *command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert_same_as_uninterrupted(tiny_model, small_corpus_dir, killed, tmp_path / "reference")


def test_ctrl_c_checkpoints_whole_batches_and_a_changed_corpus_is_refused(
        tiny_model, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus_dir, corpus)
    out = tmp_path / "interrupted"
    command = exemplars_command(tiny_model_dir, corpus, out)
    stopped = start_then_stop(command, out, signal.SIGINT)
    assert stopped.returncode == 2 and "interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    unfinished = run_cli("n2g", "show", "--exemplars", str(out), "--neuron", "0.1")
    assert unfinished.returncode == 2 and "unfinished" in unfinished.stderr

    (corpus / "aaa_new_first_file.txt").write_text("def inserted():\n    return 'this shifts every window'\n" * 20)
    refused = run_cli("n2g", *command[1:])
    assert refused.returncode == 2 and "corpus changed" in refused.stderr, refused.stderr

    (corpus / "aaa_new_first_file.txt").unlink()
    resumed = run_cli("n2g", *command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert_same_as_uninterrupted(tiny_model, corpus, out, tmp_path / "reference")


def test_out_is_a_file(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--out", str(tmp_path / "afile")], "is a file")


def test_broken_models(capsys, small_corpus_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "config.json").write_text("{}")
    (tmp_path / "bad.gguf").write_bytes(b"not a gguf file at all")
    for model in (tmp_path / "fake", tmp_path / "bad.gguf"):
        assert_one_line_error(capsys, ["exemplars", "--model", str(model), "--corpus", str(small_corpus_dir),
                                       "--out", str(tmp_path / "out")], "cannot ")


def test_window_longer_than_the_model_context(capsys, tiny_model_dir: Path, small_corpus_dir: Path,
                                              tmp_path: Path) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--window-len", "300", "--out", str(tmp_path)], "context of 256")


def test_unsupported_device(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--device", "mps", "--out", str(tmp_path)], "not supported")
