"""pytest plugin (tests/conftest.py loads it): one real Neo4j server for the tests marked `neo4j`.

Where the server comes from, in this order:
  1. NEO4J_URI is set: that server (credentials from NEO4J_USER / NEO4J_PASSWORD, NEO4J_DATABASE if set). Its
     database must be empty when the first test needs it: tests empty it between them.
  2. `java` (17+) and Maven are here (or the launcher is already built): n2g's own server
     (`ingest.neo4j_server`) in a temporary home, on a free port, with a generated password, started once when
     the first neo4j test runs and stopped when the session ends. It watches this process, so even a killed
     test run leaves no server behind. A server that does not start is an error, not a skip.
  3. Neither: every neo4j test is skipped with one line saying why.

In case 2 the address is reserved (NEO4J_URI set to it) when pytest starts, before test modules are imported, so
tests that read NEO4J_URI at import time find it too; the server itself starts only when a neo4j test runs, and
NEO4J_PASSWORD / NEO4J_USER are set only while a neo4j test runs.

Where a server can be had (cases 1 and 2 with Java and Maven), a neo4j test that was skipped fails the run: the
tier exists to run, not to be skipped silently.

Fixtures: `neo4j_server` (the target: uri, user, password, database, home), `neo4j_env` (an environment for
subprocesses: the credentials set), `neo4j_empty` (the database emptied, nodes, relationships, constraints and
indexes, before and after the test) and `neo4j_store` (the same, with an open `GraphStore` on it), and
`local_neo4j` (skips unless this machine can run n2g's own server: for tests that start, stop or kill servers
of their own).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MARKER = "neo4j"
NO_SERVER = ("no Neo4j server: set NEO4J_URI (and NEO4J_PASSWORD), or install Java 17+ and Maven so the tests "
             "start a local one")


@dataclass
class Neo4jTarget:
    """A server the tests may use (and empty)."""

    uri: str
    user: str
    password: str
    database: str | None = None
    home: Path | None = None  # n2g's own server: its directory; None for NEO4J_URI's
    own: bool = False

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for `n2g` subprocesses: the credentials set (and the database, when one was chosen)."""
        env = dict(os.environ if base is None else base, NEO4J_USER=self.user, NEO4J_PASSWORD=self.password)
        if self.database:
            env["NEO4J_DATABASE"] = self.database
        else:
            env.pop("NEO4J_DATABASE", None)
        return env

    def driver(self) -> Any:
        import neo4j

        return neo4j.GraphDatabase.driver(self.uri, auth=(self.user, self.password), notifications_min_severity="OFF")


@dataclass
class _State:
    mode: str = "none"  # external | local | none
    reason: str = NO_SERVER
    target: Neo4jTarget | None = None
    started: bool = False
    failure: str | None = None
    checked_empty: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)
    saved_env: dict[str, str | None] = field(default_factory=dict)


STATE = _State()


def local_server_possible() -> bool:
    """This machine can build and run n2g's own Neo4j server: Java, and Maven or an already built launcher."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return False
    if shutil.which("mvn") is not None:
        return True
    from ingest import neo4j_server

    return (neo4j_server.launcher_dir() / "classes").is_dir()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("NEO4J_URI"):
        STATE.mode = "external"
        STATE.target = Neo4jTarget(os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"),
                                   os.environ.get("NEO4J_PASSWORD", ""), os.environ.get("NEO4J_DATABASE") or None)
    elif local_server_possible():
        from ingest import neo4j_server

        STATE.mode = "local"
        home = Path(tempfile.mkdtemp(prefix="n2g-test-neo4j-")) / "home"
        port = neo4j_server.free_port()
        STATE.target = Neo4jTarget(f"bolt://127.0.0.1:{port}", "neo4j", "n2g-test-" + secrets.token_urlsafe(12),
                                   None, home, own=True)
        os.environ["NEO4J_URI"] = STATE.target.uri  # reserved now; the server starts when a test needs it
        config.add_cleanup(_stop_local)


def _stop_local() -> None:
    from ingest import neo4j_server

    target = STATE.target
    if target is None or target.home is None:
        return
    if STATE.started:
        neo4j_server.stop(target.home)
    shutil.rmtree(target.home.parent, ignore_errors=True)
    if os.environ.get("NEO4J_URI") == target.uri:
        del os.environ["NEO4J_URI"]


def _server() -> Neo4jTarget:
    """The target, its server started (n2g's own) or checked empty (NEO4J_URI's) the first time."""
    if STATE.mode == "none" or STATE.target is None:
        pytest.skip(STATE.reason)
    if STATE.failure is not None:  # one failed start is enough: every later test errors with the same line
        raise RuntimeError(STATE.failure)
    target = STATE.target
    if STATE.mode == "local" and not STATE.started:
        from ingest import neo4j_server

        port = int(target.uri.rsplit(":", 1)[1])
        if neo4j_server._port_in_use(port):  # taken since it was reserved: another one (tests reading it at
            port = neo4j_server.free_port()  # import time would miss it; a rare race)
            target.uri = f"bolt://127.0.0.1:{port}"
            os.environ["NEO4J_URI"] = target.uri
        try:
            neo4j_server.start(target.home, port, password=target.password, timeout_s=300, watch_pid=os.getpid())
        except Exception as err:
            STATE.failure = f"the local Neo4j server for the neo4j tests did not start: {err}"
            raise RuntimeError(STATE.failure) from err
        STATE.started = True
    if STATE.mode == "external" and not STATE.checked_empty:
        held = _count(target, "MATCH (n) RETURN count(n) AS n")
        if held:
            STATE.failure = (f"the database at NEO4J_URI={target.uri} holds {held} nodes: the neo4j tests empty it "
                             "between tests, so give them an empty, throwaway database")
            raise RuntimeError(STATE.failure)
        STATE.checked_empty = True
    return target


def _count(target: Neo4jTarget, cypher: str) -> int:
    with target.driver() as driver:
        records, _, _ = driver.execute_query(cypher, database_=target.database)
        return int(records[0][0])


def empty_database(target: Neo4jTarget) -> None:
    """Every node and relationship deleted, and every constraint and index but the built-in lookup indexes
    dropped (n2g creates its own in `ensure_schema`; a test may check that it does)."""
    with target.driver() as driver, driver.session(database=target.database) as session:
        session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        for record in list(session.run("SHOW CONSTRAINTS YIELD name RETURN name")):
            session.run(f"DROP CONSTRAINT `{record['name']}` IF EXISTS").consume()
        for record in list(session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name")):
            session.run(f"DROP INDEX `{record['name']}` IF EXISTS").consume()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A neo4j test: the server is up and the credentials are in the environment while it runs."""
    if item.get_closest_marker(MARKER) is None:
        return
    if "local_neo4j" in item.fixturenames and "neo4j_server" not in item.fixturenames:
        return  # it runs servers of its own (the `local_neo4j` fixture skips where it cannot)
    target = _server()
    STATE.saved_env = {name: os.environ.get(name) for name in ("NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE")}
    os.environ.update(NEO4J_USER=target.user, NEO4J_PASSWORD=target.password)
    if target.database:
        os.environ["NEO4J_DATABASE"] = target.database


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    for name, value in STATE.saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    STATE.saved_env = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and MARKER in report.keywords and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        STATE.skipped.append((report.nodeid, str(reason).removeprefix("Skipped: ")))


def _must_run() -> bool:
    """Skipping a neo4j test fails the run where a server can be had."""
    return STATE.mode == "local" or (STATE.mode == "external" and local_server_possible())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if STATE.skipped and _must_run() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATE.skipped:
        return
    if _must_run():
        terminalreporter.section("neo4j tests skipped: the run FAILS", sep="=", red=True, bold=True)
        terminalreporter.line("this machine can run Neo4j (Java and Maven, or NEO4J_URI), so every test marked "
                              "neo4j must run; skipped:")
    else:
        terminalreporter.section("neo4j tests skipped", sep="=", yellow=True)
    for nodeid, reason in STATE.skipped:
        terminalreporter.line(f"  {nodeid}: {reason}")


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def neo4j_server() -> Neo4jTarget:
    """The server of the neo4j tests (mark the test `@pytest.mark.neo4j`)."""
    return _server()


@pytest.fixture()
def neo4j_env(neo4j_server: Neo4jTarget) -> dict[str, str]:
    """An environment for `n2g` / `n2g-search` subprocesses that talk to the server."""
    return neo4j_server.env()


@pytest.fixture()
def neo4j_empty(neo4j_server: Neo4jTarget) -> Iterator[Neo4jTarget]:
    """The one database of the server, empty (Community has one user database): emptied before the test and
    after it."""
    empty_database(neo4j_server)
    yield neo4j_server
    empty_database(neo4j_server)


@pytest.fixture()
def neo4j_store(neo4j_empty: Neo4jTarget) -> Iterator[Any]:
    """A `GraphStore` on the emptied database."""
    from ingest.store import open_store

    with open_store(neo4j_empty.uri) as store:
        yield store


@pytest.fixture(scope="session")
def local_neo4j() -> None:
    """For tests that start, stop or kill servers of their own: skips unless n2g's own server can run here."""
    if not local_server_possible():
        pytest.skip("needs Java 17+ and Maven (n2g's local Neo4j server)")
