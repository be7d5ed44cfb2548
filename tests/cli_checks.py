"""Helpers for tests of the command line: run an installed console script, check a one-line error, hold a store's
write lock from another process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

# A second process that opens a LadybugDB store for writing and holds it (until killed).
HOLD_WRITER = """
import sys, time
from ingest.store import open_store
store = open_store(sys.argv[1])
store.ensure_schema()
print("holding", flush=True)
time.sleep(60)
"""


def run_cli(*args: str, timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    """Run an installed console script (`n2g`, `n2g-search`) as a user would."""
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
                          input=input)


def assert_one_line_error(capsys: pytest.CaptureFixture, argv: Sequence[str], expected: str,
                          main: Callable[[Sequence[str]], int] | None = None, prog: str = "n2g") -> str:
    """`main(argv)` exits 2 with exactly one line on stderr, `prog: error: ...` containing `expected`."""
    if main is None:
        from n2g.cli.main import main
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{prog}: error:") and "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
    return err


def search_error(capsys: pytest.CaptureFixture, argv: Sequence[str], expected: str) -> str:
    """`assert_one_line_error` for `n2g-search`."""
    from n2g.cli.search import main

    return assert_one_line_error(capsys, argv, expected, main=main, prog="n2g-search")


def write_cypher(directory: Path, text: str, name: str = "q.cypher") -> str:
    """A Cypher file for `--cypher`, written into `directory`; returns its path."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)
