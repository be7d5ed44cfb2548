"""Helpers of the neo4j tests: synthetic graph directories big enough for many load transactions, the installed
commands, and a whole store in a form that does not depend on the GraphNode ids it handed out."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ingest import schema
from ingest.graph_rows import GRAPH_NODE_ID_COLUMNS
from ingest.store import GraphStore, snapshot
from ingest.synthetic import MODEL, make_model
from tests.cli_checks import BIN
from tests.factories import SETTINGS, write_graph_directory

SYNTHETIC_SETTINGS = {**SETTINGS, "model": MODEL}


def synthetic_directories(root: Path, neurons: int, parts: int = 1, seed: int = 3) -> list[Path]:
    """`neurons` synthetic graphs (ingest.synthetic, 4 layers) as `parts` graph directories, neuron i in part
    i % parts, all of one model with one set of settings (as shards of one ingest are)."""
    graphs = make_model(neurons, 4, seed).graphs
    out = []
    for part in range(parts):
        path = root / f"graphs-{part}"
        write_graph_directory(path, graphs[part::parts], SYNTHETIC_SETTINGS)
        out.append(path)
    return out


def command(name: str, *args: str) -> list[str]:
    return [str(BIN / name), *args]


def run(env: dict[str, str], name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """An installed command that must succeed."""
    done = subprocess.run(command(name, *args), capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def load_args(uri: str, directories: Sequence[Path], batch: int) -> list[str]:
    return ["load", *(a for d in directories for a in ("--graphs", str(d))), "--db", uri, "--load-batch", str(batch),
            "--no-progress"]


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout_s: float = 300) -> None:
    """SIGKILL `process` as soon as `ready()` holds; it must still be running then."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert process.poll() is None, f"it ended before it could be killed: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "never got there"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def canonical(store: GraphStore) -> dict[str, list[tuple[Any, ...]]]:
    """`snapshot(store)` with each GraphNode id replaced by (its neuron, its pre-order place in that neuron's graph),
    in every column that holds one (`GRAPH_NODE_ID_COLUMNS`: keys, relationship ends, ACTIVATES_ON.root): ids are
    handed out in load order, which concurrent loads decide, but each neuron's nodes are numbered consecutively in
    pre-order, so the place within the neuron is what the ids mean."""
    rows = snapshot(store)
    first: dict[str, int] = {}
    for row in rows["GraphNode"]:
        first[row[1]] = min(first.get(row[1], row[0]), row[0])  # (id, neuron_id, ...)
    owner = {row[0]: row[1] for row in rows["GraphNode"]}

    def node(gid: int | None) -> tuple[str, int] | None:
        return None if gid is None else (owner[gid], gid - first[owner[gid]])

    out = dict(rows)
    for table in (*schema.NODE_TABLES, *schema.REL_TABLES):
        columns = schema.rel_columns(table) if isinstance(table, schema.RelTable) else table.columns
        names = [name for name, _ in columns]  # a snapshot row's order: (source, target, properties) for edges
        at = {names.index(c) for c in GRAPH_NODE_ID_COLUMNS.get(table.name, ())}
        if at:
            out[table.name] = sorted((tuple(node(v) if i in at else v for i, v in enumerate(r))
                                      for r in rows[table.name]), key=repr)
    return out


def duplicated_keys(store: GraphStore) -> dict[str, int]:
    """Shared nodes stored more than once, per label (must be none)."""
    out = {}
    for table in schema.NODE_TABLES:
        found = store.rows(f"MATCH (n:{table.name}) WITH n.{table.key} AS k, count(*) AS c WHERE c > 1 "
                           "RETURN count(*) AS n")[0]["n"]
        if found:
            out[table.name] = found
    return out


def search_json(capsys: Any, *args: str) -> list[dict[str, Any]]:
    """`n2g-search ... --format json` in this process (its credentials from this process's environment)."""
    import json

    from n2g.cli.search import main

    capsys.readouterr()
    code = main([*args, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def wait_for_the_lock_out_to_end(address: str, env: dict[str, str], timeout: float = 60) -> None:
    """Wrong passwords in a row lock the user out for a few seconds (the server's rate limit, which n2g reports in
    one line): wait it out, so the tests after this one log in."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(command("n2g-search", "--db", address, "--repeated-token", "--format", "json"),
                              capture_output=True, text=True, env=env, timeout=120)
        if done.returncode == 0:
            return
        assert "too many wrong passwords" in done.stderr and time.monotonic() < deadline, done.stderr
        time.sleep(1)
