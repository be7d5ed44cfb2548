"""Mining after `kill -9` and Ctrl-C, through the installed `n2g` command: a resumed run equals an uninterrupted one,
and a corpus changed in between is refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from tests.cli_checks import BIN, run_cli

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
    unfinished = run_cli("n2g", "show", "--exemplars", str(out), "0:1")
    assert unfinished.returncode == 2 and "unfinished" in unfinished.stderr

    (corpus / "aaa_new_first_file.txt").write_text("def inserted():\n    return 'this shifts every window'\n" * 20)
    refused = run_cli("n2g", *command[1:])
    assert refused.returncode == 2 and "corpus changed" in refused.stderr, refused.stderr

    (corpus / "aaa_new_first_file.txt").unlink()
    resumed = run_cli("n2g", *command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert_same_as_uninterrupted(tiny_model, corpus, out, tmp_path / "reference")
