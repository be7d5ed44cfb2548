"""`n2g ingest --db bolt://...` of a real SmolLM2-135M slice into the real server, through the installed commands;
the same work directory loaded into a LadybugDB file (`n2g load --work-dir`) holds the same rows, and `n2g-search`
gives the same answers on both."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from tests.cli_checks import BIN
from tests.integration.neo4j.helpers import search_json

pytestmark = pytest.mark.neo4j


def n2g(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_ingest_into_neo4j_equals_the_embedded_store(neo4j_empty, neo4j_env: dict[str, str], tmp_path: Path,
                                                     capsys) -> None:
    work, lbdb = tmp_path / "work", tmp_path / "n2g.lbdb"
    done = n2g(neo4j_env, "n2g", "ingest", "--model", "smollm2-135m", "--layers", "0", "--neurons", "0:7",
               "--max-tokens", "20000", "--db", neo4j_empty.uri, "--work-dir", str(work), "--load-batch", "3",
               "--no-progress")
    assert done.stdout.strip().startswith("coverage: 8 of 8 requested neurons stored:"), done.stdout
    assert neo4j_empty.password not in done.stdout + done.stderr
    n2g(neo4j_env, "n2g", "load", "--work-dir", str(work), "--db", str(lbdb), "--no-progress")

    with open_store(neo4j_empty.uri) as neo, open_store(str(lbdb), read_only=True) as lady:
        assert snapshot(neo) == snapshot(lady)
        fitted = lady.rows("MATCH (n:Neuron) WHERE n.status = 'fitted' AND n.n_activating > 0 "
                           "RETURN n.neuron AS neuron, n.activating_tokens AS tokens, n.context_tokens AS context "
                           "ORDER BY n.neuron")
    assert fitted, "no fitted neuron in the slice"
    first = fitted[0]
    context = next((f["context"][0] for f in fitted if f["context"]), None)

    searches = [["--activating-token", first["tokens"][0]], ["--activating-token", first["tokens"][0], "--exact"],
                ["--repeated-token"], ["--duplicates", "--mode", "subset", "--min-overlap", "0.5", "--same-layer"],
                ["--duplicates", "--same-layer"], ["--best", "3"], ["--neuron", f"0:{first['neuron']}"],
                ["--similar-to", f"0:{first['neuron']}"], ["--layer", "0", "--min-f1", "0.1", "--repeated-token"]]
    if context is not None:
        searches += [["--context-token", context], ["--activating-token", first["tokens"][0], "--context-token",
                                                    context]]
    answered = 0
    for search in searches:
        on_neo4j = search_json(capsys, "--db", neo4j_empty.uri, *search)
        assert on_neo4j == search_json(capsys, "--db", str(lbdb), *search), search
        answered += bool(on_neo4j)
    assert answered >= 5  # most searches find something in a real slice
