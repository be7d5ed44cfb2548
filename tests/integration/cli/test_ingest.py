"""`n2g ingest`, `n2g load` and `n2g export` end to end on the tiny model: coverage, resume after kill -9,
idempotency, shards, and one-line errors that leave the store as it was."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from n2g.cli.main import main

BIN = Path(sys.executable).parent


def ingest_args(model: Path, corpus: Path, root: Path, *extra: str) -> list[str]:
    return ["ingest", "--model", str(model), "--corpus", str(corpus), "--layers", "0:1", "--neurons", "0:11",
            "--max-tokens", "6000", "--top-k", "8", "--work-dir", str(root / "work"), "--db", str(root / "n2g.lbdb"),
            "--no-progress", *extra]


def store_snapshot(db: Path) -> dict:
    with open_store(str(db), read_only=True) as store:
        return snapshot(store)


@pytest.fixture(scope="module")
def clean_run(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ingest-clean")
    assert main(ingest_args(tiny_model_dir, small_corpus_dir, root)) == 0
    return root


def test_ingest_accounts_for_every_neuron(clean_run: Path, tiny_model_dir: Path, small_corpus_dir: Path,
                                          capsys) -> None:
    with open_store(str(clean_run / "n2g.lbdb"), read_only=True) as store:
        rows = store.rows("MATCH (n:Neuron) RETURN n.layer AS layer, n.neuron AS neuron, n.status AS status, "
                          "n.example AS example, n.graph_json AS g")
    assert sorted((r["layer"], r["neuron"]) for r in rows) == [(layer, n) for layer in (0, 1) for n in range(12)]
    assert all(r["status"] in ("fitted", "dead", "failed") for r in rows)
    assert any(r["example"] for r in rows)
    before = store_snapshot(clean_run / "n2g.lbdb")
    assert main(ingest_args(tiny_model_dir, small_corpus_dir, clean_run)) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("coverage: 24 of 24 requested neurons stored:"), line
    assert store_snapshot(clean_run / "n2g.lbdb") == before  # re-running a finished job changes nothing


def _kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()


def _has_stored_neurons(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with open_store(str(db), read_only=True) as store:
            return bool(store.rows("MATCH (n:Neuron) RETURN n.id LIMIT 1"))
    except Exception:  # noqa: BLE001 - the writer may be mid-commit; try again
        return False


def test_kill_9_at_any_stage_then_resume_equals_a_clean_run(clean_run: Path, tiny_model_dir: Path,
                                                              small_corpus_dir: Path, tmp_path: Path) -> None:
    args = ingest_args(tiny_model_dir, small_corpus_dir, tmp_path, "--load-batch", "1")
    work, db = tmp_path / "work", tmp_path / "n2g.lbdb"
    moments = [lambda: (work / "exemplars").exists(),  # mining
               lambda: (work / "graphs" / "layer_00.jsonl").exists(),  # between fitted groups
               lambda: _has_stored_neurons(db)]  # between store transactions
    for i, moment in enumerate(moments):
        for _ in range(3):  # the store stage is short: a run may end before the moment is seen, so load again
            process = subprocess.Popen([str(BIN / "n2g"), *args], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            _kill_when(process, moment)
            if process.returncode == -signal.SIGKILL or i < 2:
                break
            for path in (db, db.with_name(db.name + ".wal")):
                path.unlink(missing_ok=True)
        assert process.returncode == -signal.SIGKILL, f"moment {i}: the run ended ({process.returncode}) before it"
    with open_store(str(db)) as store:  # what was checkpointed before the kill survives it
        assert store.rows("MATCH (n:Neuron) RETURN count(n) AS c")[0]["c"] > 0
    result = subprocess.run([str(BIN / "n2g"), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "coverage: 24 of 24" in result.stdout
    assert store_snapshot(db) == store_snapshot(clean_run / "n2g.lbdb")


def test_shards_loaded_together_hold_every_neuron(clean_run: Path, tiny_model_dir: Path, small_corpus_dir: Path,
                                                  tmp_path: Path, capsys) -> None:
    for shard in ("0/2", "1/2"):
        args = ingest_args(tiny_model_dir, small_corpus_dir, tmp_path, "--shard", shard)
        args[args.index("--db") + 1] = str(tmp_path / f"shard{shard[0]}.lbdb")
        assert main(args) == 0
        assert "coverage: 12 of 12" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["shard-0-of-2", "shard-1-of-2"]
    assert main(["load", "--work-dir", str(tmp_path / "work"), "--db", str(tmp_path / "all.lbdb"),
                 "--no-progress"]) == 0
    merged, clean = store_snapshot(tmp_path / "all.lbdb"), store_snapshot(clean_run / "n2g.lbdb")
    assert [row[:6] for row in merged["Neuron"]] == [row[:6] for row in clean["Neuron"]]  # id .. status
    assert merged["Token"] == clean["Token"]


def test_export_writes_what_the_store_holds(clean_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert main(["export", str(out), "--work-dir", str(clean_run / "work")]) == 0
    with open_store(str(clean_run / "n2g.lbdb"), read_only=True) as store:
        counts = store.counts()
    for name, count in counts.items():
        with (out / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header = next(csv.reader((out / f"{name}_header.csv").open(encoding="utf-8")))
        assert len(rows) == count, name
        assert all(len(row) == len(header) for row in rows), name
    neuron_header = next(csv.reader((out / "Neuron_header.csv").open(encoding="utf-8")))
    assert neuron_header[:4] == ["id:ID(Neuron)", "model:string", "layer:long", "neuron:long"]
    assert "activating_tokens:string[]" in neuron_header
    script = (out / "import.sh").read_text()
    assert all(f"{name}_header.csv,{name}.csv" in script for name in counts)
    assert "CREATE CONSTRAINT" in (out / "schema.cypher").read_text()


def _one_line_failure(argv: list[str], expected: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("n2g: error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected in err, err


def test_bad_input_is_one_line_and_loses_nothing(clean_run: Path, tiny_model_dir: Path, small_corpus_dir: Path,
                                                 tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ingest_args(tiny_model_dir, small_corpus_dir, clean_run)
    db = clean_run / "n2g.lbdb"
    before = store_snapshot(db)
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    unreachable = [*args[:-1], "--db", "bolt://127.0.0.1:1", "--no-progress"]
    _one_line_failure(unreachable, "cannot reach Neo4j at bolt://127.0.0.1:1", capsys)
    _one_line_failure([*args, "--shard", "2/2"], "bad --shard", capsys)
    _one_line_failure(["load", "--work-dir", str(tmp_path), "--db", str(db)], "no graphs under", capsys)

    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(clean_run / "work"), str(broken)], check=True)
    (broken / "graphs" / "manifest.json").write_text("{ not json")
    _one_line_failure(["load", "--work-dir", str(broken), "--db", str(db)], "not valid JSON", capsys)
    (broken / "graphs" / "manifest.json").write_text((clean_run / "work" / "graphs" / "manifest.json").read_text())
    (broken / "exemplars" / "layer_00.safetensors").write_bytes(b"\0garbage" * 100)
    fresh_db = [*args[:-5], "--work-dir", str(broken), "--db", str(tmp_path / "new.lbdb"), "--no-progress"]
    _one_line_failure(fresh_db, "damaged", capsys)
    (broken / "exemplars" / "manifest.json").write_text("[]")
    _one_line_failure(fresh_db, "exemplars", capsys)
    assert store_snapshot(db) == before


def test_a_second_ingest_into_a_work_dir_in_use_is_refused_with_the_holders_pid(
        clean_run: Path, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path, capsys) -> None:
    """Two ingests sharing --work-dir used to collide mid-run; the second is now refused before it touches a file,
    and the first finishes as if alone."""
    for attempt in range(3):  # the tiny run is short: if it ends before the second starts, run both again
        root = tmp_path / f"try{attempt}"
        root.mkdir()
        lock = root / "work" / ".n2g.lock"
        first = subprocess.Popen([str(BIN / "n2g"), *ingest_args(tiny_model_dir, small_corpus_dir, root,
                                                                   "--load-batch", "1")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while first.poll() is None and not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() in (None, 0), first.communicate()[1][-2000:]
        second = ingest_args(tiny_model_dir, small_corpus_dir, root)
        second[second.index("--db") + 1] = str(root / "other.lbdb")
        status = main(second)
        still_running = first.poll() is None
        out, err_first = first.communicate(timeout=300)
        if status != 0 or not still_running:
            break
    assert still_running, "the first ingest ended before the second started, three times"
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert f"in use by process {first.pid} (n2g ingest)" in err
    assert not (root / "other.lbdb").exists()  # refused before it created anything
    assert first.returncode == 0 and "coverage: 24 of 24" in out, err_first[-2000:]
    assert store_snapshot(root / "n2g.lbdb") == store_snapshot(clean_run / "n2g.lbdb")
