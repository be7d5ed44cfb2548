"""`n2g ingest --ray` on a local Ray (2 CPUs, no dashboard) with the tiny seeded model: the same exemplars (byte for
byte), graphs and store as the one-process pipeline, also when a worker is killed mid-task, and a finished job
re-run changes nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ingest.pipeline import IngestPlan, mining_config, run_ingest
from ingest.store import open_store, snapshot
from n2g.exemplars.miner import MiningConfig
from n2g.fit.fitter import FitConfig
from n2g.model.loading import ModelConfig

ray = pytest.importorskip("ray")
from ingest.distributed import RayConfig, RayWorkers  # noqa: E402 - after the skip

SELECTION = {0: [1, 5, 9, 13, 17, 21, 40, 63], 2: [2, 8, 30, 31, 50]}
MINING = MiningConfig(max_tokens=5000, batch_size=8, checkpoint_every_s=0)
FIT = FitConfig(group_size=3)


def plan(root: Path, corpus: Path, mining: MiningConfig = MINING) -> IngestPlan:
    return IngestPlan(corpus=str(corpus), neurons=SELECTION, work_dir=root / "work", db=str(root / "n2g.lbdb"),
                      mining=mining_config(mining, SELECTION, 64), fit=FIT, progress=False)


def model_config(model_dir: Path) -> ModelConfig:
    return ModelConfig(model=str(model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def one_process(tiny_model, tiny_model_dir: Path, small_corpus_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-process")
    job = plan(root, small_corpus_dir)
    with open_store(job.db) as store:
        coverage = run_ingest(model_config(tiny_model_dir).load(), job, store)
    assert coverage.missing == 0
    return root


def run_on_ray(root: Path, model_dir: Path, corpus: Path, during: Any = None,
               mining: MiningConfig = MINING) -> tuple[str, list[int]]:
    job = plan(root, corpus, mining)
    with RayWorkers(RayConfig("local", workers=2), model_config(model_dir), progress=False) as workers, \
            open_store(job.db) as store:
        assert workers.workers == 2 and workers.device_type == "cpu"
        if during is not None:
            during.start()
        line = run_ingest(workers.driver_model(), job, store, workers).line()
        return line, workers.worker_pids()


def exemplar_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "work" / "exemplars").iterdir())}


def graph_lines(root: Path) -> dict[str, list[str]]:
    """Each layer's graphs (one JSON line per neuron), by neuron: tasks append groups in the order they finish."""
    return {p.name: sorted(p.read_text().splitlines()) for p in sorted((root / "work" / "graphs").glob("*.jsonl"))}


def store_snapshot(root: Path) -> dict:
    with open_store(str(root / "n2g.lbdb"), read_only=True) as store:
        return snapshot(store)


def assert_same_results(root: Path, reference: Path) -> None:
    assert exemplar_files(root) == exemplar_files(reference)
    assert graph_lines(root) == graph_lines(reference)
    assert sum(len(v) for v in graph_lines(root).values()) == sum(map(len, SELECTION.values()))
    assert store_snapshot(root) == store_snapshot(reference)


def test_two_workers_equal_one_process(local_ray: None, one_process: Path, tiny_model_dir: Path,
                                       small_corpus_dir: Path, tmp_path: Path) -> None:
    line, _ = run_on_ray(tmp_path, tiny_model_dir, small_corpus_dir)
    assert line.startswith("coverage: 13 of 13 requested neurons stored")
    assert_same_results(tmp_path, one_process)

    # re-running the finished job changes nothing: no work file is rewritten (lock files aside: every run takes
    # the locks), the store is the same
    before = work_files(tmp_path)
    stored = store_snapshot(tmp_path)
    again, _ = run_on_ray(tmp_path, tiny_model_dir, small_corpus_dir)
    assert again == line
    assert work_files(tmp_path) == before
    assert store_snapshot(tmp_path) == stored


def test_both_signs_on_two_workers_equal_one_process(local_ray: None, tiny_model_dir: Path, small_corpus_dir: Path,
                                                     tmp_path: Path) -> None:
    """`--signs both` on Ray: mined in merged chunks, fitted a group of one sign per task, the same exemplars (both
    sides), graphs (both signs) and store as one process."""
    both = MiningConfig(max_tokens=5000, batch_size=8, checkpoint_every_s=0, signs="both")
    for root in ("one", "ray"):
        (tmp_path / root).mkdir()
    job = plan(tmp_path / "one", small_corpus_dir, both)
    with open_store(job.db) as store:
        assert run_ingest(model_config(tiny_model_dir).load(), job, store).missing == 0
    line, _ = run_on_ray(tmp_path / "ray", tiny_model_dir, small_corpus_dir, mining=both)
    assert line.startswith("coverage: 26 of 26 requested graphs (both signs) stored")
    assert exemplar_files(tmp_path / "ray") == exemplar_files(tmp_path / "one")
    assert graph_lines(tmp_path / "ray") == graph_lines(tmp_path / "one")
    assert sum(len(v) for v in graph_lines(tmp_path / "ray").values()) == 2 * sum(map(len, SELECTION.values()))
    assert store_snapshot(tmp_path / "ray") == store_snapshot(tmp_path / "one")


def work_files(root: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file of the work directory but the locks, with its modification time and bytes."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((root / "work").rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


class Killer(threading.Thread):
    """Kills (SIGKILL) the first worker process seen running a task of `method`: Ray titles a worker process
    `ray::N2GWorker.METHOD` while it runs one."""

    def __init__(self, method: str) -> None:
        super().__init__(daemon=True)
        self.title, self.killed, self.stop = f"ray::N2GWorker.{method}", None, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.killed is None:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmdline = proc.info["cmdline"] or []
                if cmdline and cmdline[0].startswith(self.title):
                    os.kill(proc.info["pid"], signal.SIGKILL)
                    self.killed = proc.info["pid"]
                    return
            time.sleep(0.01)


@pytest.mark.parametrize("stage", ["mine", "fit"])
def test_killed_worker_is_retried(stage: str, local_ray: None, one_process: Path, tiny_model_dir: Path,
                                  small_corpus_dir: Path, tmp_path: Path) -> None:
    killer = Killer(stage)
    try:
        line, pids = run_on_ray(tmp_path, tiny_model_dir, small_corpus_dir, during=killer)
    finally:
        killer.stop.set()
    assert killer.killed is not None, f"no worker was seen running a {stage} task"
    assert killer.killed not in pids  # the restarted worker is a new process
    assert "13 of 13 requested neurons stored" in line
    assert_same_results(tmp_path, one_process)
