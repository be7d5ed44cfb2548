"""`n2g serve` as a process of its own, for whoever needs a real server to ask over HTTP (the browser tests, the
serve benchmark): started on a free local port, waited for, stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STOP_WAIT_S = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(db: str, *extra: str, log_path: Path | None = None, timeout_s: float = 120) -> Iterator[int]:
    """`n2g serve --db DB EXTRA...` on a free port of 127.0.0.1, yielded once it accepts connections, and stopped
    on exit (terminate, then kill). Its output goes to `log_path` (a temporary file without one); a server that
    exits or does not listen within `timeout_s` raises RuntimeError with the log's tail."""
    port = free_port()
    with (log_path.open("w+") if log_path is not None else tempfile.TemporaryFile(mode="w+")) as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "n2g"), "serve", "--db", db, "--port", str(port),
                                    *extra], stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"n2g serve did not start: {log.read()[-2000:]}") from None
                    time.sleep(0.2)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
