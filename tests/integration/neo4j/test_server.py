"""The local Neo4j server (ingest.neo4j_server): a real Neo4j 5.26 process, reached with the official driver.

Needs Java 17+ and Maven; the first run downloads Neo4j's jars (about 125 MB) into the n2g cache. These tests start,
stop and kill servers of their own (not the session's server of tests/neo4j_fixture.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import neo4j_server as ns
from n2g.errors import N2GError

neo4j = pytest.importorskip("neo4j")

pytestmark = [pytest.mark.neo4j, pytest.mark.usefixtures("local_neo4j")]


@pytest.fixture(scope="module")
def password() -> str:
    return "n2g-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, password: str) -> Iterator[ns.ServerHandle]:
    """One server for the module, started on a fresh home and a free port with a generated password."""
    home = tmp_path_factory.mktemp("neo4j-home")
    handle = ns.start(home, password=password, timeout_s=180, watch_pid=os.getpid())
    try:
        yield handle
    finally:
        ns.stop(home)


def _driver(uri: str, password: str):  # noqa: ANN202 - neo4j.Driver
    return neo4j.GraphDatabase.driver(uri, auth=("neo4j", password))


def _count(uri: str, password: str, query: str) -> int:
    with _driver(uri, password) as driver:
        records, _, _ = driver.execute_query(query)
        return int(records[0][0])


def test_driver_connects_and_writes(server: ns.ServerHandle, password: str) -> None:
    assert server.uri == f"bolt://127.0.0.1:{server.port}"
    with _driver(server.uri, password) as driver:
        records, _, _ = driver.execute_query("CREATE (n:X {v: 1}) RETURN n.v")
    assert [r[0] for r in records] == [1]
    assert ns.status(server.home) == server


def test_wrong_password_is_refused(server: ns.ServerHandle) -> None:
    with pytest.raises(neo4j.exceptions.AuthError):
        with _driver(server.uri, "not-the-password") as driver:
            driver.verify_connectivity()


def test_second_start_on_same_port_fails_with_one_line(server: ns.ServerHandle, password: str,
                                                       tmp_path: Path) -> None:
    with pytest.raises(N2GError) as error:
        ns.start(tmp_path / "other", server.port, password=password)
    assert "already in use" in str(error.value) and "\n" not in str(error.value)


def test_java_refuses_a_taken_port_itself(password: str, tmp_path: Path) -> None:
    """The launcher's own check (the Python pre-check races with other processes): one line, exit 3."""
    import subprocess

    launcher = ns.build_launcher(progress=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(ns.java_binary()), "-cp", ns._classpath(launcher), ns.MAIN_CLASS,
                               "--home", str(tmp_path), "--port", str(port)], capture_output=True, text=True,
                              env=dict(os.environ, NEO4J_PASSWORD=password), timeout=120)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.strip() == f"n2g-neo4j: port {port} on 127.0.0.1 is already in use"


def test_start_refuses_a_short_or_missing_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    with pytest.raises(N2GError, match="set NEO4J_PASSWORD"):
        ns.start(tmp_path)
    with pytest.raises(N2GError, match="at least 8"):
        ns.start(tmp_path, password="short")


def test_stop_is_clean_and_data_persists(server: ns.ServerHandle, password: str) -> None:
    """Last of the shared-server tests: stops it (SIGTERM, exit 0), restarts on the same home, finds the node."""
    home = server.home
    with _driver(server.uri, password) as driver:
        driver.execute_query("CREATE (:Kept {v: 42})")
    assert ns.stop(home, timeout_s=60) is True
    assert server.process is not None and server.process.returncode == 0
    assert ns.status(home) is None
    assert not (home / ns.PID_FILE).exists()
    assert ns.stop(home) is False
    with ns.running_server(home, password=password) as again:
        assert _count(again.uri, password, "MATCH (n:Kept) RETURN n.v") == 42
        with pytest.raises(N2GError, match="already runs"):
            ns.start(home, password=password)
    assert ns.status(home) is None


def test_wrong_password_for_existing_home(server: ns.ServerHandle) -> None:
    """A home keeps the password it was created with: another one is refused with one line (exit 4)."""
    assert ns.status(server.home) is None  # the shared server was stopped by the previous test
    with pytest.raises(N2GError) as error:
        ns.start(server.home, password="another-password-123")
    message = str(error.value)
    assert "NEO4J_PASSWORD is not the password" in message and "\n" not in message
    assert "another-password-123" not in message


def test_admin_import_then_count(tmp_path: Path, password: str) -> None:
    home = tmp_path / "imported"
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "people_header.csv").write_text("id:ID(Person),name\n")
    (csv / "people.csv").write_text("1,Ada\n2,Alan\n3,Grace\n")
    (csv / "knows_header.csv").write_text(":START_ID(Person),:END_ID(Person),since:int\n")
    (csv / "knows.csv").write_text("1,2,1936\n2,3,1952\n")
    with ns.running_server(home, password=password):  # a home that has run before: the import must replace
        with pytest.raises(N2GError, match="stop it before a bulk import"):
            ns.admin_import(home, [("Person", f"{csv}/people_header.csv,{csv}/people.csv")])
    summary = ns.admin_import(home, [("Person", f"{csv}/people_header.csv,{csv}/people.csv")],
                              [("KNOWS", f"{csv}/knows_header.csv,{csv}/knows.csv")])
    assert "IMPORT DONE" in summary
    with ns.running_server(home, password=password) as handle:
        assert _count(handle.uri, password, "MATCH (p:Person) RETURN count(p)") == 3
        assert _count(handle.uri, password, "MATCH ()-[k:KNOWS]->() RETURN sum(k.since)") == 1936 + 1952
    with pytest.raises(N2GError, match="import into"):
        ns.admin_import(home, [("Person", f"{csv}/missing.csv")])


def test_password_never_written(server: ns.ServerHandle, password: str, tmp_path: Path) -> None:
    """Runs after the others: greps every file the servers wrote (pid/port files, stdout/stderr, Neo4j's logs)."""
    homes = [server.home, *(p for p in tmp_path.parent.iterdir() if p.is_dir())]
    checked = 0
    for home in homes:
        for path in home.rglob("*"):
            if path.is_file() and "databases" not in path.parts and "transactions" not in path.parts:
                assert password.encode() not in path.read_bytes(), path
                checked += 1
    assert checked > 3


def test_maven_refusal_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Maven Central: an empty local repository behind a dead proxy; Maven's own reason is quoted."""
    if shutil.which("mvn") is None:
        pytest.skip("needs Maven")
    monkeypatch.setenv("N2G_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MAVEN_OPTS", f"-Dmaven.repo.local={tmp_path / 'm2'} -Dhttps.proxyHost=127.0.0.1 "
                                     "-Dhttps.proxyPort=9 -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=9")
    with pytest.raises(N2GError) as error:
        ns.build_launcher(progress=False)
    message = str(error.value)
    assert message.startswith("Maven could not build the Neo4j") and "\n" not in message
    assert not ns.launcher_dir().exists()
    assert not list((tmp_path / "cache").glob(".neo4j-server-*-*"))  # no half-built folder left behind


def test_no_java_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(N2GError, match="needs Java 17"):
        ns.java_binary()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(N2GError, match="JAVA_HOME"):
        ns.java_binary()


def test_no_maven_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = ns.java_binary()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").symlink_to(java.resolve())
    monkeypatch.setenv("N2G_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(N2GError, match=r"needs Maven 3.6\+ \(`mvn` on PATH"):
        ns.build_launcher(progress=False)


def test_server_stops_when_the_watched_process_ends(password: str, tmp_path: Path) -> None:
    """`watch_pid`: a test run or benchmark killed with -9 leaves no server behind."""
    import subprocess
    import time

    watched = subprocess.Popen(["sleep", "600"])
    handle = ns.start(tmp_path / "watched", password=password, watch_pid=watched.pid)
    try:
        assert ns.status(handle.home) is not None
        watched.kill()
        watched.wait()
        deadline = time.monotonic() + 60
        while handle.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.process.returncode == 0  # a clean stop, as SIGTERM would give
        assert ns.status(handle.home) is None
    finally:
        ns.stop(handle.home)
