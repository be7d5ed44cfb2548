"""benchmarks/gpu.sh, the one prepared command for a GPU machine: its CPU dry run (the same three benchmarks, tiny
sizes, here on the tiny seeded model) writes every JSON it promises, and without a CUDA GPU the real run stops at
once with a one-line reason instead of benchmarking the CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def gpu_sh(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *argv], cwd=ROOT, capture_output=True, text=True, timeout=480,
                          env={**os.environ, "PYTHON": sys.executable, **env})


@pytest.mark.skipif(shutil.which("timeout") is None, reason="gpu.sh bounds each step with coreutils' timeout")
def test_dry_run_writes_every_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = gpu_sh("--dry-run", str(out), MODEL=str(tiny_model_dir))
    summary = json.loads((out / "summary.json").read_text())
    assert done.returncode == 0, (summary, done.stderr[-3000:])
    assert summary["dry_run"] is True
    assert {summary[name]["status"] for name in ("exemplars", "fit", "scale")} == {"ok"}

    env = json.loads((out / "env.json").read_text())
    assert env["device"] == "cpu" and env["dry_run"] is True and env["torch"] == torch.__version__

    exemplars = json.loads((out / "exemplars.json").read_text())
    assert exemplars["device"] == "cpu" and exemplars["tokens_per_s"] > 0 and exemplars["ratio"] > 0
    fit = json.loads((out / "fit.json").read_text())
    assert fit["device"] == "cpu" and fit["neurons_per_s"] > 0

    scale = json.loads((out / "scale.json").read_text())
    assert scale["device"] == "cpu" and scale["modes"] == (["one", "ray"] if env["ray"] else ["one"])
    (layer,) = scale["layers"]
    for mode in scale["modes"]:
        for stage in ("mine", "fit", "load"):
            assert layer[mode][stage]["seconds"] > 0 and layer[mode][stage]["peak_rss_mb"]["driver_mb"] > 0
        assert layer[mode]["coverage"] and sum(layer[mode]["coverage"].values()) == layer["neurons"]
        assert scale["projection"][mode]["total_hours"] > 0
    for name in ("exemplars", "fit", "scale"):  # each benchmark's stderr is kept beside its JSON
        assert (out / f"{name}.log").exists()


def test_without_a_cuda_gpu_the_real_run_stops_at_once(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the real run would run")
    done = gpu_sh(str(tmp_path / "out"))
    assert done.returncode == 2
    assert "sees no CUDA GPU" in done.stderr and "--dry-run" in done.stderr
    assert not (tmp_path / "out" / "summary.json").exists()
