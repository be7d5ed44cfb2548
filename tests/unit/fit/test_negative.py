"""Both signs of a gated MLP end to end, on a planted neuron that goes NEGATIVE on exactly one token (`tests.planted`:
up weight -3, so silu(3 x) * (-3 x) < 0 there and exactly 0 elsewhere): `--signs both` mines its minimum, fits a
negative graph whose activating token is the planted one, stores it as `L:N-`, and `n2g-search --sign negative`
finds it where `--sign positive` does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from n2g.cli.main import main
from n2g.cli.search import main as search_main
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import mine_exemplars
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.model.loading import LoadedModel, load_model
from n2g.model.probe import LayerProbe
from n2g.model.token_keys import Vocabulary
from tests.planted import frequent_token, plant_neurons

POSITIVE, NEGATIVE = 5, 6  # layer-0 neurons: 5 fires on the token, 6 goes negative on it
FAST = FitConfig(sweep_candidates=0)
MINING = MiningConfig(layers=(0,), neurons=(POSITIVE, NEGATIVE, 7), top_k=12, window_len=32, n_random_windows=64,
                      batch_size=16, max_tokens=0, max_windows_per_doc=0, signs="both")


@pytest.fixture(scope="module")
def planted(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, int]:
    token = frequent_token(tiny_model_dir, small_corpus_dir)
    return plant_neurons(tiny_model_dir, tmp_path_factory.mktemp("signed"), token,
                         {POSITIVE: 3.0, NEGATIVE: -3.0}), token


@pytest.fixture(scope="module")
def model(planted: tuple[Path, int]) -> LoadedModel:
    return load_model(str(planted[0]), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def exemplars(model: LoadedModel, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ExemplarSet:
    out = tmp_path_factory.mktemp("signed-exemplars")
    mine_exemplars(model, str(small_corpus_dir), out, MINING, progress=False)
    return ExemplarSet(out)


def test_planted_negative_neuron_is_exact(planted: tuple[Path, int], model: LoadedModel) -> None:
    _, token = planted
    acts = LayerProbe(model, 0, 1024).neuron_acts([(NEGATIVE, [token, 7, token, 9])])[0]
    assert acts[0] < -10 and acts[1] == acts[3] == 0.0
    negated = LayerProbe(model, 0, 1024, sign=-1).neuron_acts([(NEGATIVE, [token, 7, token, 9])])[0]
    assert np.array_equal(negated, -acts)


def test_negative_exemplars_peak_on_the_planted_token(planted: tuple[Path, int], exemplars: ExemplarSet) -> None:
    """The negative side's strongest windows hold the neuron's minimum, at the planted token; its a_max is -min."""
    _, token = planted
    negative = exemplars.neuron(0, NEGATIVE, -1)
    assert negative.sign == -1 and negative.a_max > 10 and len(negative.tokens) == MINING.top_k
    assert all(tokens[peak] == token for tokens, peak in zip(negative.tokens, negative.peak_pos))
    assert float(negative.values[0]) == negative.a_max == pytest.approx(float(negative.acts[0].max()))
    assert exemplars.neuron(0, NEGATIVE).a_max == 0.0  # never positive: its positive side is dead
    positive = exemplars.neuron(0, POSITIVE, -1)  # the positive neuron never goes below 0
    assert positive.a_max == 0.0


def test_show_negative_exemplars(planted: tuple[Path, int], exemplars: ExemplarSet,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", f"0:{NEGATIVE}-", "--exemplars", str(exemplars.dir), "--top", "1",
                 "--model", str(planted[0])]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"neuron 0:{NEGATIVE}-: a_max of the negated activations ") and "activation < 0 on" in first


def test_negative_graph_fires_on_the_planted_token(planted: tuple[Path, int], model: LoadedModel,
                                                    exemplars: ExemplarSet) -> None:
    _, token = planted
    key = Vocabulary(model.tokenizer, "exact").keys([token])[0]
    graph = LayerFitter(model, exemplars, 0, [NEGATIVE], FAST, sign=-1).fit([NEGATIVE])[0]
    assert (graph.sign, graph.name, graph.status) == (-1, f"0:{NEGATIVE}-", "fitted")
    assert graph.activating_tokens() == [key]
    assert graph.scores is not None
    for split in ("test", "random"):
        assert graph.scores.value("n2g", split, "f1") == 1.0, graph.scores.n2g
    assert graph.stats.firing_rate is not None and graph.stats.firing_rate > 0
    again = NeuronGraph.from_json(graph.to_json())
    assert again.sign == -1 and json.loads(graph.to_json())["sign"] == -1
    dead = LayerFitter(model, exemplars, 0, [NEGATIVE], FAST).fit([NEGATIVE])[0]
    assert (dead.sign, dead.status) == (1, "dead")


def test_ingest_show_and_search_by_sign(planted: tuple[Path, int], model: LoadedModel, small_corpus_dir: Path,
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`n2g ingest --signs both`: both graphs of each neuron stored (0:5- and 0:6 dead: they never go that way);
    `--sign negative` finds 0:6- on the planted token, `--sign positive` finds only 0:5; `n2g show 0:6-` prints the
    negative graph."""
    model_dir, token = planted
    work, db = tmp_path / "work", tmp_path / "signed.lbdb"

    def ingest(signs: str, work_dir: Path) -> str:
        assert main(["ingest", "--model", str(model_dir), "--corpus", str(small_corpus_dir), "--layers", "0",
                     "--neurons", f"{POSITIVE}:{NEGATIVE}", "--signs", signs, "--work-dir", str(work_dir), "--db",
                     str(db), "--top-k", "12", "--window-len", "32", "--max-tokens", "0", "--max-windows-per-doc",
                     "0", "--sweep", "0", "--no-progress"]) == 0
        return capsys.readouterr().out

    assert "2 of 2 requested neurons stored: 1 fitted, 1 dead" in ingest("positive", tmp_path / "positive")
    # the same store takes the negative graphs of a later run (its positive ones are there already)
    assert "4 of 4 requested graphs (both signs) stored: 2 fitted, 2 dead" in ingest("both", work)
    text = Vocabulary(model.tokenizer, "exact").keys([token])[0]

    def ids(*options: str) -> list[str]:
        assert search_main(["--db", str(db), "--activating-token", text, "--exact", "--format", "json",
                            *options]) == 0
        return [row["id"] for row in json.loads(capsys.readouterr().out or "[]")]

    name = model.name
    assert ids("--sign", "negative") == [f"{name}:0:{NEGATIVE}-"]
    assert ids("--sign", "positive") == [f"{name}:0:{POSITIVE}"]
    assert sorted(ids()) == sorted([f"{name}:0:{NEGATIVE}-", f"{name}:0:{POSITIVE}"])
    assert main(["show", f"0:{NEGATIVE}-", "--graphs", str(work / "graphs")]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"neuron 0:{NEGATIVE}- of {name}: fitted") and "negative direction" in shown
    assert main(["show", f"0:{NEGATIVE}", "--db", str(db)]) == 0
    assert f"neuron 0:{NEGATIVE} of {name}: dead" in capsys.readouterr().out


def test_old_graph_json_without_sign_is_positive() -> None:
    graph = NeuronGraph(model="m", layer=1, neuron=2, a_max=1.0, token_matching="exact")
    data = json.loads(graph.to_json())
    assert "sign" not in data  # a positive graph is written exactly as before signs existed
    assert NeuronGraph.from_json(json.dumps(data)).sign == 1
    data["sign"] = 2
    from n2g.errors import N2GError

    with pytest.raises(N2GError, match="sign"):
        NeuronGraph.from_json(json.dumps(data))
