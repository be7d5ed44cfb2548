"""Loading into the real server the hard ways: `kill -9` of `n2g load` mid-load and a re-run, two `n2g load`
processes writing at once, and a transaction that the server aborts as a deadlock victim."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from ingest.store_loader import GraphSource, load_graphs
from n2g.graphs.files import GraphDirectory
from tests.integration.neo4j.helpers import (
    canonical,
    command,
    duplicated_keys,
    kill_when,
    load_args,
    run,
    synthetic_directories,
)
from tests.neo4j_fixture import empty_database

pytestmark = pytest.mark.neo4j

NEURONS = 1200
BATCH = 10  # neurons per transaction: 120 transactions


def neurons_stored(store) -> int:
    return store.rows("MATCH (n:Neuron) RETURN count(n) AS n")[0]["n"]


def test_kill_9_mid_load_then_rerun_equals_an_uninterrupted_load(neo4j_store, neo4j_env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    graphs = synthetic_directories(tmp_path, NEURONS)
    args = load_args(neo4j_store.location, graphs, BATCH)
    run(neo4j_env, "n2g", *args)
    uninterrupted = snapshot(neo4j_store)
    assert len(uninterrupted["Neuron"]) == NEURONS

    empty_database(neo4j_env_target(neo4j_store, neo4j_env))
    killed = subprocess.Popen(command("n2g", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=neo4j_env)
    kill_when(killed, lambda: neurons_stored(neo4j_store) >= 5 * BATCH)  # the first batches are committed
    partial = neurons_stored(neo4j_store)
    assert 5 * BATCH <= partial < NEURONS and partial % BATCH == 0  # whole batches only
    resumed = run(neo4j_env, "n2g", *args)
    assert f"{NEURONS - partial} neurons stored now, {partial} already stored" in resumed.stdout
    assert snapshot(neo4j_store) == uninterrupted
    run(neo4j_env, "n2g", *args)  # a finished load again: nothing changes
    assert snapshot(neo4j_store) == uninterrupted


def neo4j_env_target(store, env: dict[str, str]):
    from tests.neo4j_fixture import Neo4jTarget

    return Neo4jTarget(store.location, env["NEO4J_USER"], env["NEO4J_PASSWORD"], env.get("NEO4J_DATABASE"))


def test_two_loads_at_once_equal_one(neo4j_store, neo4j_env: dict[str, str], tmp_path: Path) -> None:
    """Two processes, each a shard's graphs, into the one server at the same time: the same store as one process
    loading both (GraphNode ids aside, which load order decides), no shared node twice, no error left over."""
    shards = synthetic_directories(tmp_path, NEURONS, parts=2)
    run(neo4j_env, "n2g", *load_args(neo4j_store.location, shards, BATCH))
    one_process = canonical(neo4j_store)

    empty_database(neo4j_env_target(neo4j_store, neo4j_env))
    processes = [subprocess.Popen(command("n2g", *load_args(neo4j_store.location, [shard], BATCH)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=neo4j_env)
                 for shard in shards]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        assert f"{NEURONS // 2} neurons stored now, 0 already stored" in out
    assert duplicated_keys(neo4j_store) == {}
    assert canonical(neo4j_store) == one_process
    ids = [r["id"] for r in neo4j_store.rows("MATCH (g:GraphNode) RETURN g.id AS id ORDER BY id")]
    assert ids == list(range(len(ids)))  # the two shared one range of ids: no gap, no overlap


def test_a_deadlocked_transaction_is_retried(neo4j_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server aborts a write as a deadlock victim (a transient error): the store runs the whole batch again,
    and what it stores is what an undisturbed load stores."""
    from neo4j.exceptions import Neo4jError, TransientError

    from ingest import neo4j_store as backend

    graphs = [GraphDirectory(d) for d in synthetic_directories(tmp_path, 40)]
    with open_store(str(tmp_path / "ref.lbdb")) as lady:
        load_graphs(lady, GraphSource(graphs[0]), batch_size=BATCH, progress=False)
        expected = snapshot(lady)

    renumber, failures = backend.renumber_graph_nodes, []

    def deadlock_once(name, table, shift):
        if name == "Band" and len(failures) < 2:  # late in a batch: after its ids, tokens and nodes were written
            failures.append(name)
            error = Neo4jError._hydrate_neo4j(code="Neo.TransientError.Transaction.DeadlockDetected",
                                              message="ForsetiClient can't acquire ExclusiveLock (test)")
            assert isinstance(error, TransientError)
            raise error
        return renumber(name, table, shift)

    monkeypatch.setattr(backend, "renumber_graph_nodes", deadlock_once)
    load_graphs(neo4j_store, GraphSource(graphs[0]), batch_size=BATCH, progress=False)
    assert len(failures) == 2
    assert snapshot(neo4j_store) == expected
    assert duplicated_keys(neo4j_store) == {}
