"""`n2g-search` against the real server when things go wrong: a write without --write (refused by the server's
read access mode, nothing changes), a wrong password, an unknown database, the server killed while searches run.
Each is one line on stderr, exit 2, no traceback, and the password is never printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest import neo4j_server
from ingest.store import open_store
from ingest.store_loader import GraphSource, load_graphs
from n2g.errors import N2GError
from queries.search import NeuronSearch
from tests.factories import planted_graphs, write_graph_directory
from tests.integration.neo4j.helpers import command, wait_for_the_lock_out_to_end

pytestmark = pytest.mark.neo4j


def search(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command("n2g-search", *args), capture_output=True, text=True, env=env, timeout=timeout)


def assert_one_line(done: subprocess.CompletedProcess, expected: str, *secrets: str) -> str:
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err)
    assert err.startswith("n2g-search: error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected in err, err
    for secret in secrets:
        assert secret not in done.stderr + done.stdout
    return err


@pytest.fixture()
def planted(neo4j_store, tmp_path: Path):
    load_graphs(neo4j_store, GraphSource(write_graph_directory(tmp_path / "graphs", planted_graphs())),
                progress=False)
    return neo4j_store


def property_keys(store) -> set[str]:
    """Every property key the database knows, used or not."""
    return {r["key"] for r in store.rows("CALL db.propertyKeys() YIELD propertyKey RETURN propertyKey AS key")}


def test_a_write_without_write_is_refused_by_the_server(planted, neo4j_env: dict[str, str], tmp_path: Path) -> None:
    before = planted.counts()
    sneaky = tmp_path / "sneaky.cypher"
    sneaky.write_text("CALL db.createProperty('sneaky_key')")  # writes, but has no writing clause n2g would spot
    err = assert_one_line(search(neo4j_env, "--db", planted.location, "--cypher", str(sneaky)), "read",
                          neo4j_env["NEO4J_PASSWORD"])
    assert "sneaky_key" not in property_keys(planted)
    with NeuronSearch(planted.location) as searching:  # the Python API, a plain CREATE past the clause check
        with pytest.raises(N2GError, match="read") as refused:
            searching.store.rows("CREATE (:Sneaky {sneaky_key: 1})")
    assert len(str(refused.value).splitlines()) == 1
    assert "sneaky_key" not in property_keys(planted) and planted.counts() == before
    assert "Writing in read access mode not allowed" in err

    allowed = search(neo4j_env, "--db", planted.location, "--cypher", str(sneaky), "--write")
    assert allowed.returncode == 0, allowed.stderr
    assert "sneaky_key" in property_keys(planted) and planted.counts() == before


def test_wrong_password_is_one_line_never_printed(planted, neo4j_env: dict[str, str]) -> None:
    wrong = "wrong-" + os.urandom(6).hex()
    env = dict(neo4j_env, NEO4J_PASSWORD=wrong)
    for extra in ([], ["--explain"], ["--format", "json"]):
        assert_one_line(search(env, "--db", planted.location, "--activating-token", "import", *extra),
                        "refused the credentials", wrong, neo4j_env["NEO4J_PASSWORD"])
    for argv in (["load", "--graphs", "/nonexistent", "--db", planted.location],
                 ["neo4j", "status", "--home", "/nonexistent"]):
        done = subprocess.run(command("n2g", *argv), capture_output=True, text=True, env=env)
        assert wrong not in done.stdout + done.stderr and "Traceback" not in done.stderr
    wait_for_the_lock_out_to_end(planted.location, neo4j_env)


def test_unknown_database_is_one_line(planted, neo4j_env: dict[str, str]) -> None:
    env = dict(neo4j_env, NEO4J_DATABASE="nope")
    for extra in ([], ["--explain"]):
        err = assert_one_line(search(env, "--db", planted.location, "--repeated-token", *extra), "nope",
                              neo4j_env["NEO4J_PASSWORD"])
        assert "NEO4J_DATABASE" in err, err


LOOP = """
import contextlib, io, sys
from n2g.cli.search import main
runs = 0
while True:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(sys.argv[1:])
    if code != 0:
        sys.exit(code)
    runs += 1
    if runs == 3:
        print("searching", flush=True)
"""


def wait_for_line(process: subprocess.Popen, expected: str, timeout_s: float = 120) -> None:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            process.kill()
            raise AssertionError(f"no {expected!r} within {timeout_s} s: {process.communicate()}")
    line = process.stdout.readline().strip()
    if line != expected:
        process.kill()
        raise AssertionError(f"{line!r} instead of {expected!r}: {process.communicate()}")


@pytest.mark.usefixtures("local_neo4j")
def test_server_killed_while_searches_run(tmp_path: Path) -> None:
    """kill -9 of the server under a loop of searches, and under one long search: one line each, exit 2."""
    password = "kill-" + os.urandom(6).hex()
    env = dict(os.environ, NEO4J_PASSWORD=password, NEO4J_USER="neo4j")
    env.pop("NEO4J_DATABASE", None)
    home = tmp_path / "home"
    for case in ("loop", "long"):
        handle = neo4j_server.start(home, password=password, watch_pid=os.getpid())
        try:
            if case == "loop":
                os.environ["NEO4J_PASSWORD"] = password
                try:
                    with open_store(handle.uri) as store:
                        load_graphs(store, GraphSource(write_graph_directory(tmp_path / "g", planted_graphs())),
                                    progress=False)
                finally:
                    os.environ.pop("NEO4J_PASSWORD")
                argv = [sys.executable, "-c", LOOP, "--db", handle.uri, "--activating-token", "import",
                        "--context-token", "from"]
                ready = "searching"
            else:
                slow = tmp_path / "slow.cypher"
                slow.write_text("UNWIND range(1, 2000000000) AS i RETURN sum(i) AS s")
                argv = command("n2g-search", "--db", handle.uri, "--cypher", str(slow))
                ready = None
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            if ready:
                wait_for_line(process, ready)
            else:
                time.sleep(8)  # well into the query (it runs for minutes)
                if process.poll() is not None:
                    raise AssertionError(f"the long search ended early: {process.communicate()}")
            os.kill(handle.pid, signal.SIGKILL)
            started = time.monotonic()
            try:
                out, err = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
            waited = time.monotonic() - started
        finally:
            neo4j_server.stop(home)
        done = subprocess.CompletedProcess(argv, process.returncode, out, err)
        line = assert_one_line(done, "Neo4j", password)
        assert waited < 20, (case, waited, line)
