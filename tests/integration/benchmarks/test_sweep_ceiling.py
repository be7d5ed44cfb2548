"""The sweep-ceiling benchmark, run as the script it is on the tiny seeded Llama: its JSON, and what its variants
must show whatever the weights. Its `CeilingSweep` reads the held-out windows (a bound, never a mode to ship), so it
stays in `benchmarks/` and is tested through the script's output.

The four variants fit the same neurons from the same prompts: `gradient` is the default sweep; `gradient_bare`
measures the same substitutes but adds every one as a bare root (the default adds one only where its source pattern
still has an end), so it adds at least as many; `oracle_bare` also tries every held-out token at the same sources, so
it finds every substitute `gradient_bare` finds, and maybe more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.model.loading import LoadedModel

ROOT = Path(__file__).resolve().parents[3]
VARIANTS = ("gradient", "oracle", "gradient_bare", "oracle_bare")
LAYER_FIELDS = {"n2g_f1", "n2g_ood_f1", "token_lookup_f1", "token_lookup_ood_f1", "margin", "ood_margin",
                "swept_roots"}


@pytest.fixture(scope="module")
def result(tiny_model: LoadedModel, tiny_model_dir: Path, small_corpus_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> dict:
    exemplars = tmp_path_factory.mktemp("ceiling-exemplars")
    mine_exemplars(tiny_model, str(small_corpus_dir), exemplars, MiningConfig(
        layers=(1,), top_k=10, window_len=32, n_random_windows=32, batch_size=16, max_tokens=20_000), progress=False)
    done = subprocess.run([sys.executable, "benchmarks/sweep_ceiling.py", "--exemplars", str(exemplars),
                           "--model", str(tiny_model_dir), "--device", "cpu", "--layers", "1",
                           "--neurons-per-layer", "4", "--sweep", "8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # exactly one JSON object on stdout
    return json.loads(lines[0])


def test_the_json_has_every_variant_and_the_settings_it_ran_with(result: dict, tiny_model_dir: Path) -> None:
    assert result["model"] == str(tiny_model_dir) and result["layers"] == [1]
    assert result["neurons_per_layer"] == 4 and result["sweep_candidates"] == 8
    assert tuple(result["variants"]) == VARIANTS
    for variant in result["variants"].values():
        assert set(variant) == {"layers", "mean_margin_over_token_lookup", "ood_margin_over_token_lookup",
                                "fit_seconds"}
        layer = variant["layers"]["1"]
        assert set(layer) == LAYER_FIELDS and variant["fit_seconds"] >= 0
        for name in ("n2g_f1", "token_lookup_f1"):
            assert layer[name] is None or 0.0 <= layer[name] <= 1.0
        if layer["n2g_f1"] is not None and layer["token_lookup_f1"] is not None:
            assert layer["margin"] == pytest.approx(layer["n2g_f1"] - layer["token_lookup_f1"])
            assert variant["mean_margin_over_token_lookup"] == pytest.approx(layer["margin"])  # one layer


def test_bare_substitutes_and_the_oracle_only_add_roots(result: dict) -> None:
    swept = {name: variant["layers"]["1"]["swept_roots"] for name, variant in result["variants"].items()}
    assert all(isinstance(count, int) and count >= 0 for count in swept.values())
    assert swept["oracle_bare"] >= swept["gradient_bare"] >= swept["gradient"]
    assert swept["oracle_bare"] > 0, swept  # the held-out tokens include ones that fire: the bound finds some
