"""A real Neo4j Community server on this machine, without Docker: started, stopped and bulk-loaded by n2g.

Neo4j (`NEO4J_VERSION`) runs embedded in a tiny Java main (tools/neo4j-server) that opens Bolt on 127.0.0.1 with
auth on. `build_launcher()` fetches Neo4j's jars from Maven Central once, with Maven, into the n2g cache
($N2G_CACHE_DIR, else the user cache dir), so a user needs only a JDK 17+ and Maven, not a Neo4j download.

    home/data, home/logs             Neo4j's store and its own logs (debug.log, security.log, ...)
    home/logs/n2g-neo4j.out          the launcher's stdout and stderr (its ready line, or its one-line failure)
    home/n2g-neo4j.pid, .port        written by `start`, so `stop`/`status` work from another process
    home/neo4j.conf                  optional extra settings, read by the server and by neo4j-admin
    home/n2g-schema.cypher           left by `import_export` (the export's schema.cypher): the next `start` runs
                                     it once the server is up (constraints, indexes, their population), then
                                     renames it n2g-schema.applied.cypher

The password comes from NEO4J_PASSWORD (at least 8 characters). On a fresh home it replaces the initial
neo4j/neo4j; on an existing home it must match, as a server started elsewhere would require. It travels to Java in
the environment only, never on a command line, in a file or in a message.

Packaging note: the launcher sources live at <repo>/tools/neo4j-server, found relative to this file. A wheel has
to ship them as package data (or move them under a package) before `build_launcher` works from an install.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from n2g.errors import N2GError

NEO4J_VERSION = "5.26.30"
MIN_JAVA = 17
MIN_PASSWORD = 8
HOST = "127.0.0.1"
MAIN_CLASS = "n2g.Neo4jServer"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
READY = "n2g-neo4j ready "
PID_FILE = "n2g-neo4j.pid"
PORT_FILE = "n2g-neo4j.port"
OUT_FILE = Path("logs") / "n2g-neo4j.out"
PENDING_SCHEMA = "n2g-schema.cypher"
APPLIED_SCHEMA = "n2g-schema.applied.cypher"
_BUILD_INFO = "n2g-build.json"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"  # as in the pom
# What Neo4j's own start script passes on Java 17/21: without the add-opens the page cache falls back to a slower
# mode and native fadvise calls fail ("Incorrect file descriptor" warnings in debug.log).
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)b?\s*$", re.IGNORECASE)

# Servers this process started: stop() must wait() on its own children, or they linger as zombies that look alive.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServerHandle:
    """A running server: where its data lives and how to reach it."""

    home: Path
    port: int
    pid: int
    uri: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    schema_applied: int = field(default=0, compare=False)  # statements of a pending schema run by this start


# --- locating things --------------------------------------------------------------------------------------------


def source_dir() -> Path:
    """The launcher's Maven project: <repo>/tools/neo4j-server, the repo root being the parent of `ingest/`."""
    return Path(__file__).resolve().parent.parent / "tools" / "neo4j-server"


def launcher_dir() -> Path:
    """Where the built launcher lives: the same cache root as n2g's models, one folder per Neo4j version."""
    env = os.environ.get("N2G_CACHE_DIR")
    if env:
        root = Path(env).expanduser()
    else:
        from platformdirs import user_cache_dir

        root = Path(user_cache_dir("n2g"))
    return root / f"neo4j-server-{NEO4J_VERSION}"


def java_binary() -> Path:
    """$JAVA_HOME/bin/java when JAVA_HOME is set (what Maven uses too), else `java` on PATH; must be 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / ("java.exe" if os.name == "nt" else "java")
        if not java.is_file():
            raise N2GError(f"JAVA_HOME is {java_home} but {java} does not exist: point it at a JDK {MIN_JAVA}+")
    else:
        found = shutil.which("java")
        if found is None:
            raise N2GError(f"Neo4j needs Java {MIN_JAVA} or newer: no `java` on PATH and JAVA_HOME is not set "
                           f"(install a JDK, e.g. `apt install openjdk-17-jdk-headless`)")
        java = Path(found)
    major = _java_major(str(java))
    if major < MIN_JAVA:
        raise N2GError(f"Neo4j {NEO4J_VERSION} needs Java {MIN_JAVA} or newer; {java} is Java {major} "
                       f"(set JAVA_HOME to a newer JDK)")
    return java


@lru_cache(maxsize=8)
def _java_major(java: str) -> int:
    """The feature version `java -version` reports: '1.8.0_392' -> 8, '17.0.15' -> 17, '25' -> 25."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        raise N2GError(f"cannot run {java}: {e}") from e
    found = re.search(r'version "([^"]+)"', done.stderr + done.stdout)
    if found is None:
        raise N2GError(f"cannot tell the Java version of {java}: `java -version` printed no version")
    parts = found.group(1).split(".")
    return int(parts[1] if parts[0] == "1" and len(parts) > 1 else re.match(r"\d+", parts[0]).group(0))


def _source_key() -> str:
    """A hash of what the build depends on, so a changed pom or main rebuilds an old cache."""
    digest = hashlib.sha256(NEO4J_VERSION.encode())
    src = source_dir()
    for path in [src / "pom.xml", *sorted((src / "src").rglob("*.java"))]:
        digest.update(path.relative_to(src).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _built(target: Path, key: str) -> bool:
    try:
        info = json.loads((target / _BUILD_INFO).read_text())
    except (OSError, ValueError):
        return False
    return info.get("source_key") == key and (target / "classes").is_dir()


# --- building -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes, so two first runs do not download and rename the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.5)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _maven_refusal(output: str) -> str:
    """Maven's first [ERROR] line (its reason), trimmed to one readable line."""
    for line in output.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if line.startswith("[ERROR]") and len(line) > len("[ERROR]") + 1:
            reason = line[len("[ERROR]"):].strip().removesuffix("-> [Help 1]").strip()
            parts = reason.split(": ")  # Maven chains causes as "what: why: deeper why"
            if len(reason) > 400 and len(parts) > 3:  # keep what failed and the root cause, e.g. the refused connect
                reason = f"{parts[0]}: ...: {': '.join(parts[-2:])}"
            return reason if len(reason) <= 400 else reason[:397] + "..."
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"


def build_launcher(progress: bool = True) -> Path:
    """Download Neo4j's jars and compile the launcher once into `launcher_dir()`; instant when already built.

    Built in a temporary sibling folder and renamed into place under a file lock: an interrupted or concurrent
    first run never leaves a half-filled launcher behind.
    """
    target = launcher_dir()
    key = _source_key()
    if _built(target, key):
        return target
    pom = source_dir() / "pom.xml"
    if not pom.is_file():
        raise N2GError(f"the Neo4j launcher sources are missing ({pom}): reinstall n2g from a source checkout")
    java = java_binary()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise N2GError("building the local Neo4j server needs Maven 3.6+ (`mvn` on PATH, e.g. `apt install maven`)")
    with _file_lock(target.parent / f".neo4j-server-{NEO4J_VERSION}.lock"):
        if _built(target, key):  # another process built it while this one waited
            return target
        if progress:
            print(f"n2g: fetching Neo4j {NEO4J_VERSION} from Maven Central once (about 125 MB) into {target}",
                  file=sys.stderr, flush=True)
        work = Path(tempfile.mkdtemp(prefix=f".neo4j-server-{NEO4J_VERSION}-", dir=target.parent))
        try:
            env = dict(os.environ)
            env.setdefault("JAVA_HOME", str(java.resolve().parent.parent))  # Maven compiles with the same JDK
            command = [mvn, "-q", "-B", "-f", str(pom), f"-Dneo4j.version={NEO4J_VERSION}",
                       f"-Dn2g.build.directory={work / 'build'}", f"-DoutputDirectory={work / 'lib'}",
                       # full coordinates: with a bare "dependency:" prefix an offline Maven only says "No plugin
                       # found for prefix", hiding the connection error this message should quote
                       f"{_DEPENDENCY_PLUGIN}:copy-dependencies", "compile"]
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                reason = _maven_refusal(done.stdout + "\n" + done.stderr)
                raise N2GError(f"Maven could not build the Neo4j {NEO4J_VERSION} launcher (is Maven Central "
                               f"reachable?): {reason}")
            (work / "build" / "classes").rename(work / "classes")
            shutil.rmtree(work / "build")
            lib_bytes = sum(p.stat().st_size for p in (work / "lib").iterdir())
            (work / _BUILD_INFO).write_text(json.dumps({
                "neo4j_version": NEO4J_VERSION, "source_key": key, "build_seconds": round(time.monotonic()
                                                                                          - started, 1),
                "lib_bytes": lib_bytes, "jars": len(list((work / "lib").glob("*.jar")))}, indent=1))
            work.chmod(0o755)  # mkdtemp made it private; the launcher is plain data
            if target.exists():  # an older build of another source key: swap it out, then delete it
                old = target.with_name(f"{target.name}.old-{os.getpid()}")
                target.rename(old)
                work.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if progress:
        print(f"n2g: Neo4j {NEO4J_VERSION} launcher ready in {target}", file=sys.stderr, flush=True)
    return target


def _classpath(launcher: Path) -> str:
    return os.pathsep.join([str(launcher / "lib" / "*"), str(launcher / "classes")])


# --- processes ----------------------------------------------------------------------------------------------------


def _size_bytes(size: str, what: str) -> int:
    found = _SIZE.match(size)
    if found is None:
        raise N2GError(f"{what} must look like 512m or 1g, not {size!r}")
    return int(found.group(1)) * 1024 ** " kmgt".index((found.group(2) or " ").lower())


def _password(password: str | None) -> str:
    value = password if password is not None else os.environ.get("NEO4J_PASSWORD")
    if not value:
        raise N2GError("set NEO4J_PASSWORD: the local Neo4j server always runs with authentication")
    if len(value) < MIN_PASSWORD:
        raise N2GError(f"NEO4J_PASSWORD is too short: Neo4j needs at least {MIN_PASSWORD} characters")
    return value


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _bolt_answers(port: int, timeout_s: float = 2.0) -> bool:
    """True when a Bolt server answers the handshake on 127.0.0.1:port (not merely some open port)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            # Magic preamble, then four proposals: 5.0-5.4, 4.4, none, none. The server answers with one.
            conn.sendall(b"\x60\x60\xb0\x17" + b"\x00\x04\x04\x05" + b"\x00\x00\x04\x04" + b"\x00" * 8)
            reply = b""
            while len(reply) < 4:
                chunk = conn.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            return reply != b"\x00\x00\x00\x00"
    except OSError:
        return False


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the pid: not our server
        return False
    return True


def _is_our_server(pid: int, home: Path) -> bool:
    """The pid is alive and runs the launcher for this home (a stale pid file may name a reused pid)."""
    if not _alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        words = cmdline.read_bytes().split(b"\0")
        text = [w.decode(errors="replace") for w in words]
    except OSError:
        done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                              check=False)
        text = done.stdout.split()
    return MAIN_CLASS in text and str(home) in text


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _forget(home: Path) -> None:
    for name in (PID_FILE, PORT_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def _lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def _failure_line(home: Path) -> str:
    """What to show when the server fails: the launcher's own one-line reason, else the last line Neo4j logged,
    else the last line the JVM printed (JVM warnings alone rarely say why)."""
    out = _lines(home / OUT_FILE)
    own = [line for line in out if line.startswith("n2g-neo4j: ")]
    if own:
        return own[-1].removeprefix("n2g-neo4j: ")
    logged = _lines(home / "logs" / "debug.log")
    if logged:
        return logged[-1]
    return out[-1] if out else "no output"


def status(home: Path | str) -> ServerHandle | None:
    """The server running on `home`, when its pid is alive and its port answers Bolt; None otherwise."""
    home = Path(home).expanduser().resolve()
    pid, port = _read_int(home / PID_FILE), _read_int(home / PORT_FILE)
    if pid is None or port is None or not _is_our_server(pid, home) or not _bolt_answers(port):
        return None
    return ServerHandle(home=home, port=port, pid=pid, uri=f"bolt://{HOST}:{port}", process=_CHILDREN.get(pid))


def start(home: Path | str, port: int | None = None, *, password: str | None = None, timeout_s: float = 120,
          heap: str = "1g", pagecache: str = "256m", tx_memory: str = "1g",
          watch_pid: int | None = None) -> ServerHandle:
    """Start Neo4j on `home` (created if needed) and return once Bolt accepts logins.

    The server is a separate process in its own session: it outlives this Python process until `stop(home)`,
    and Ctrl-C in the terminal does not reach it. `password` None means $NEO4J_PASSWORD. With `watch_pid` (tests,
    benchmarks: `os.getpid()`) it also stops cleanly once that process has ended, even when it was killed.
    """
    home = Path(home).expanduser().resolve()
    secret = _password(password)
    heap_bytes = _size_bytes(heap, "heap")
    _size_bytes(pagecache, "pagecache")
    _size_bytes(tx_memory, "tx_memory")
    running = _read_int(home / PID_FILE)
    if running is not None and _is_our_server(running, home):
        raise N2GError(f"a Neo4j server already runs on {home} (pid {running}): stop it first")
    if port is None:
        port = free_port()
    elif _port_in_use(port):
        raise N2GError(f"port {port} on {HOST} is already in use: pick another port or stop what listens there")
    launcher = build_launcher()
    java = java_binary()
    home.mkdir(parents=True, exist_ok=True)
    (home / OUT_FILE).parent.mkdir(parents=True, exist_ok=True)
    initial = min(heap_bytes, 128 * 1024 ** 2)  # any -Xms quiets Neo4j's warning; small keeps idle RSS small
    command = [str(java), f"-Xmx{heap_bytes // 1024}k", f"-Xms{initial // 1024}k", *JVM_FLAGS,
               "-cp", _classpath(launcher), MAIN_CLASS, "--home", str(home), "--port", str(port),
               "--pagecache", pagecache, "--tx-memory", tx_memory,
               *(["--watch-pid", str(watch_pid)] if watch_pid is not None else [])]
    env = dict(os.environ, NEO4J_PASSWORD=secret)
    out_path = home / OUT_FILE
    with open(out_path, "wb") as out:  # a file, not a pipe: the server must not die of SIGPIPE after we exit
        kwargs: dict[str, object] = {}
        if os.name == "nt":  # pragma: no cover - Windows
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=home, **kwargs)  # type: ignore[call-overload]
    _CHILDREN[process.pid] = process
    (home / PID_FILE).write_text(f"{process.pid}\n")
    (home / PORT_FILE).write_text(f"{port}\n")
    deadline = time.monotonic() + timeout_s
    while True:
        text = out_path.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith(READY):
                uri = line[len(READY):].strip()
                try:
                    applied = _apply_pending_schema(home, uri, secret)
                except BaseException:
                    stop(home)
                    raise
                return ServerHandle(home=home, port=port, pid=process.pid, uri=uri, process=process,
                                    schema_applied=applied)
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            _forget(home)
            reason = _failure_line(home)
            raise N2GError(f"Neo4j on {home} did not start (exit {process.returncode}): {reason}")
        if time.monotonic() > deadline:
            _terminate(process.pid, 10)
            _forget(home)
            reason = _failure_line(home)
            raise N2GError(f"Neo4j on {home} was not ready within {timeout_s:g} s (stopped it); last log line: "
                           f"{reason}")
        time.sleep(0.1)


def _apply_pending_schema(home: Path, uri: str, password: str) -> int:
    """Run the schema a bulk import left (`PENDING_SCHEMA`) against the new server, once; the statements it ran."""
    pending = home / PENDING_SCHEMA
    if not pending.is_file():
        return 0
    import neo4j
    from neo4j import exceptions

    from ingest.neo4j_admin_export import read_schema_script

    statements = read_schema_script(pending)
    try:
        with neo4j.GraphDatabase.driver(uri, auth=("neo4j", password), notifications_min_severity="OFF") as driver, \
                driver.session() as session:
            for statement in statements:
                session.run(statement).consume()
    except exceptions.Neo4jError as err:
        raise N2GError(f"Neo4j on {home} started, but the imported schema ({pending}) failed: "
                       f"{' '.join(str(err.message or err).split())}") from err
    pending.replace(home / APPLIED_SCHEMA)
    return len(statements)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM, wait up to timeout_s, then SIGKILL; reaps the process when it is this process's child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL if os.name != "nt" else signal.SIGTERM)
        while _alive(pid):
            time.sleep(0.05)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()


def stop(home: Path | str, timeout_s: float = 60) -> bool:
    """Stop the server on `home` cleanly (SIGTERM; SIGKILL after timeout_s). False when none was running."""
    home = Path(home).expanduser().resolve()
    pid = _read_int(home / PID_FILE)
    if pid is None or not _is_our_server(pid, home):
        _forget(home)
        return False
    _terminate(pid, timeout_s)
    _forget(home)
    return True


@contextlib.contextmanager
def running_server(home: Path | str, port: int | None = None, **options: object) -> Iterator[ServerHandle]:
    """A server for the duration of a with-block (tests, benchmarks): always stopped afterwards."""
    handle = start(home, port, **options)  # type: ignore[arg-type]
    try:
        yield handle
    finally:
        stop(handle.home)


# --- bulk import --------------------------------------------------------------------------------------------------

Group = tuple[str, str] | str


def _group_arg(flag: str, group: Group) -> str:
    """('Neuron', 'h.csv,d.csv') -> --nodes=Neuron=h.csv,d.csv; a bare string is the files without a label."""
    if isinstance(group, str):
        return f"{flag}={group}"
    label, files = group
    return f"{flag}={label}={files}" if label else f"{flag}={files}"


def admin_import(home: Path | str, nodes: Sequence[Group], relationships: Sequence[Group] = (), *,
                 database: str = "neo4j", extra_args: Sequence[str] = (), heap: str = "1g") -> str:
    """`neo4j-admin database import full` into `home` (REPLACES `database`); returns the tool's summary.

    Runs org.neo4j.cli.AdminTool on the launcher's classpath with NEO4J_HOME/NEO4J_CONF = home, so it writes
    exactly where the server reads. The server must be stopped: the import needs the store to itself.
    """
    home = Path(home).expanduser().resolve()
    if not nodes:
        raise N2GError("neo4j-admin import needs at least one --nodes file group")
    pid = _read_int(home / PID_FILE)
    if pid is not None and _is_our_server(pid, home):
        raise N2GError(f"the Neo4j server on {home} is running (pid {pid}): stop it before a bulk import")
    heap_bytes = _size_bytes(heap, "heap")
    launcher = build_launcher()
    java = java_binary()
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    conf = home / "neo4j.conf"
    if not conf.exists():
        conf.write_text("# Extra settings for n2g's local Neo4j server and neo4j-admin (ingest/neo4j_server.py)\n")
    report = home / "logs" / "import.report"
    command = [str(java), f"-Xmx{heap_bytes // 1024}k", *JVM_FLAGS, "-cp", _classpath(launcher), ADMIN_CLASS,
               # the database name comes first: --nodes/--relationships take several values and would swallow it
               "database", "import", "full", database, "--overwrite-destination", f"--report-file={report}",
               *extra_args, *(_group_arg("--nodes", g) for g in nodes),
               *(_group_arg("--relationships", g) for g in relationships)]
    env = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(home))
    env.pop("NEO4J_PASSWORD", None)  # the import needs no credentials
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=home, check=False,
                          stdin=subprocess.DEVNULL)
    output = (done.stdout + "\n" + done.stderr).strip()
    if done.returncode != 0:
        raise N2GError(f"neo4j-admin import into {home} failed: {_admin_reason(output)} (full report: {report})")
    summary = output.rfind("IMPORT DONE")  # skip the progress bars
    return output[summary:] if summary >= 0 else output


def _admin_reason(output: str) -> str:
    """The line of neo4j-admin's output that says why: its error line when there is one, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"(error|exception|invalid|not found|does not exist|failed)", line, re.IGNORECASE) and \
                not line.startswith("at "):
            return line[:400]
    return lines[-1][:400] if lines else "no output"


@dataclass(frozen=True)
class ImportResult:
    nodes: int
    relationships: int
    properties: int
    seconds: float  # the whole neo4j-admin run, JVM start included
    summary: str


def import_export(home: Path | str, export_dir: Path | str, *, database: str = "neo4j",
                  heap: str = "1g") -> ImportResult:
    """`neo4j-admin database import full` of an `n2g export --format neo4j-admin` directory into `home` (the
    server stopped; it REPLACES `database`), with the options its import.sh uses. Its schema.cypher is left in
    the home (`PENDING_SCHEMA`) for the next `start`, which runs it once the server is up."""
    from ingest.neo4j_admin_export import IMPORT_OPTIONS, SCHEMA_FILE, check_export_directory, file_groups

    directory = check_export_directory(export_dir).resolve()
    home = Path(home).expanduser().resolve()
    nodes, relationships = file_groups(directory)
    started = time.monotonic()
    summary = admin_import(home, nodes, relationships, database=database, extra_args=IMPORT_OPTIONS, heap=heap)
    seconds = time.monotonic() - started
    shutil.copyfile(directory / SCHEMA_FILE, home / PENDING_SCHEMA)
    with contextlib.suppress(FileNotFoundError):
        (home / APPLIED_SCHEMA).unlink()

    def count(what: str) -> int:
        found = re.search(rf"(\d+) {what}", summary)
        return int(found.group(1)) if found else 0

    return ImportResult(count("nodes"), count("relationships"), count("properties"), seconds, summary)
