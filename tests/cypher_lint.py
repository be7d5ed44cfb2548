"""Offline Neo4j Cypher linting for tests, via Neo4j's own parser in tools/cypher-lint (installed by scripts/setup.sh).

Each query is a ``(name, cypher, parameter_names)`` tuple; every ``$param`` the query uses must be among its
parameter names. Queries are checked as CYPHER 5 without a database schema: syntax and semantic errors (undefined
variables, undeclared parameters, more than one statement) are errors; deprecations are warnings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

LINT_DIR = Path(__file__).resolve().parent.parent / "tools" / "cypher-lint"
_PACKAGE = LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support" / "package.json"

Query = tuple[str, str, Sequence[str]]


def linter_available() -> str | None:
    """None if the linter can run, else why not."""
    if shutil.which("node") is None:
        return "node (Node.js >= 20) is not on PATH"
    if not _PACKAGE.is_file():
        return f"{LINT_DIR / 'node_modules'} is not installed"
    return None


def lint_all(queries: Sequence[Query]) -> dict[str, list[dict]]:
    """All diagnostics ({severity, message, line, column, offset}) per query name, from one node process."""
    names = [name for name, _, _ in queries]
    if len(set(names)) != len(names):
        raise ValueError("query names must be unique")
    reason = linter_available()
    if reason:
        raise RuntimeError(f"Cypher linter unavailable: {reason} (run `bash scripts/setup.sh`)")
    payload = {"queries": [{"name": n, "cypher": c, "parameters": list(p)} for n, c, p in queries]}
    proc = subprocess.run(["node", str(LINT_DIR / "lint.mjs")], input=json.dumps(payload), capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"Cypher linter failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return {r["name"]: r["diagnostics"] for r in json.loads(proc.stdout)["results"]}


def lint_cypher(queries: Sequence[Query]) -> dict[str, list[dict]]:
    """Error diagnostics per query name (an empty list when the query is valid); warnings are left out."""
    return {name: [d for d in diags if d["severity"] == "error"] for name, diags in lint_all(queries).items()}
