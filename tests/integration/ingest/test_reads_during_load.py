"""Reading a LadybugDB store while a load writes it: searches never fail while the writer checkpoints (they wait
for it, bounded), and a store left by a writer killed mid-checkpoint is read right away (the reader finishes the
recovery a writer would)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ingest.store import open_store
from ingest.store_loader import load_graphs
from ingest.synthetic import make_model
from queries.search import NeuronSearch
from tests.cli_checks import run_cli

# A real load of synthetic graphs, 50 neurons per transaction, checkpointing after every batch once 0.2 s of loading
# is unprotected: many checkpoints in a short load.
WRITER = """
import sys
from ingest.ladybug_store import LadybugStore
from ingest.store import open_store
from ingest.store_loader import load_graphs
from ingest.synthetic import make_model
LadybugStore.checkpoint_interval_s = 0.2
with open_store(sys.argv[1]) as store:
    load_graphs(store, make_model(neurons=int(sys.argv[2]), layers=2, seed=1, mean_nodes=20).source(), batch_size=50,
                progress=False)
"""


def _seed_store(db: Path) -> None:
    with open_store(str(db)) as store:
        load_graphs(store, make_model(neurons=20, layers=1, seed=3).source(), progress=False)


def _checkpoint_in_flight(db: Path) -> bool:
    return any(os.path.getsize(f) > 0 for f in glob.glob(f"{db}*.shadow"))


def test_searches_during_a_load_never_fail(tmp_path: Path) -> None:
    db = tmp_path / "n2g.lbdb"
    _seed_store(db)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "3000"], stderr=subprocess.PIPE, text=True)
    failures, searches, during_checkpoints = [], 0, 0
    try:
        while writer.poll() is None:
            checkpointing = _checkpoint_in_flight(db)
            try:
                with NeuronSearch(str(db)) as search:
                    search.best(1)
                searches += 1
                during_checkpoints += checkpointing
            except Exception as err:  # noqa: BLE001 - any failure is what this test counts
                failures.append(f"{type(err).__name__}: {err}")
    finally:
        _, stderr = writer.communicate(timeout=600)
    assert writer.returncode == 0, stderr
    assert not failures, failures[:3]
    assert searches >= 20, searches
    cli = run_cli("n2g-search", "--db", str(db), "--best", "1", "--format", "csv")
    assert cli.returncode == 0 and cli.stdout.count("\n") >= 2, cli.stderr


def test_a_search_right_after_a_kill_during_a_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "n2g.lbdb"
    _seed_store(db)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "4000"], stderr=subprocess.DEVNULL)
    seen = 0
    deadline = time.monotonic() + 300
    while writer.poll() is None and time.monotonic() < deadline:
        if _checkpoint_in_flight(db):
            seen += 1
            if seen == 3:  # the third checkpoint: committed batches exist on both sides of it
                os.kill(writer.pid, signal.SIGKILL)
                break
        time.sleep(0.002)
    writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL, "the load ended before a third checkpoint: give it more work"
    assert glob.glob(f"{db}*.shadow"), "killed outside a checkpoint"
    result = run_cli("n2g-search", "--db", str(db), "--best", "1", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with NeuronSearch(str(db)) as search:
        stored = int(search.query("MATCH (n:Neuron) RETURN count(n) AS n")["n"][0])
    assert stored >= 20  # at least the seed store's neurons survive
    rerun = subprocess.run([sys.executable, "-c", WRITER, str(db), "4000"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
