"""benchmarks/quality.py at a tiny size: both protocols run and report what their keys say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--layers", "0:1", "--neurons-per-layer", "3", "--max-tokens", "3000"]


def run(*args: str) -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), *TINY, *args],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_split_protocol_scores_on_documents_the_fit_never_saw(tmp_path: Path) -> None:
    found = run("--eval-tokens", "3000", "--eval-top-k", "8", "--eval-random-windows", "16", "--top-k", "6",
                "--out", str(tmp_path))
    assert found["protocol"] == "split" and found["split"]["fit_tokens"] == 3000
    assert set(found["layers"]) == {"0", "1"}
    for layer in found["layers"].values():
        assert layer["neurons_scored"] <= 3 and layer["median_firing_positions"] >= 0
        for key in ("n2g_test_recall", "token_lookup_test_f1", "ngram5_random_f1"):
            assert key in layer
    defined = [layer["n2g_test_f1"] for layer in found["layers"].values() if layer["n2g_test_f1"] is not None]
    assert found["min_layer_f1"] == min(defined)
    fit_docs, eval_docs = ((tmp_path / part / "documents.txt").read_text().splitlines()
                           for part in ("fit-exemplars", "eval-exemplars"))
    assert fit_docs and eval_docs and not set(fit_docs) & set(eval_docs)
    # benchmarks/recall_bound.py on the same run: its `hit` share is the scorer's recall, from its own matcher pass
    bound = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recall_bound.py"), "--run", str(tmp_path),
                            "--eval-exemplars", str(tmp_path / "eval-exemplars")],
                           capture_output=True, text=True, timeout=300)
    assert bound.returncode == 0, bound.stderr[-2000:]
    decomposed = json.loads(bound.stdout)["layers"]
    assert set(decomposed) == set(found["layers"])
    for name, layer in decomposed.items():
        mean = layer["recall_mean_over_neurons"]
        if mean is None:
            continue
        assert sum(mean.values()) == pytest.approx(1.0, abs=1e-3)
        assert mean["hit"] == pytest.approx(found["layers"][name]["n2g_test_recall"], abs=1e-3)
        assert layer["root_ceiling"] >= mean["hit"]


def test_recall_bound_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recall_bound.py"), "--run", str(tmp_path),
                             "--eval-exemplars", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no such directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
