"""The bulk path, as the README gives it, on n2g's own server: `n2g export --format neo4j-admin` -> `n2g neo4j
import` (neo4j-admin on the launcher's classpath, the server stopped) -> `n2g neo4j start` (which runs the export's
schema.cypher) -> `n2g-search` answers what the embedded store answers, and later loads add to the imported store
as they add to the embedded one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ingest import neo4j_server, schema
from ingest.neo4j_admin_export import schema_statements
from ingest.store import open_store, snapshot
from tests.factories import SETTINGS, make_graph, planted_graphs, write_graph_directory
from tests.integration.neo4j.helpers import command, run, search_json, synthetic_directories

pytestmark = [pytest.mark.neo4j, pytest.mark.usefixtures("local_neo4j")]

SEARCHES = [["--activating-token", "import"], ["--activating-token", " import", "--exact"],
            ["--context-token", ":", "--model", "test-model"], ["--repeated-token"], ["--duplicates"],
            ["--duplicates", "--mode", "subset", "--layer", "0:1"], ["--best", "2"],
            ["--neuron", "3:5", "--model", "test-model"], ["--similar-to", "0:2", "--model", "test-model"]]


def test_export_import_start_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    password = "bulk-" + os.urandom(6).hex()
    env = dict(os.environ, NEO4J_PASSWORD=password, NEO4J_USER="neo4j")
    env.pop("NEO4J_DATABASE", None)
    planted = write_graph_directory(tmp_path / "planted", planted_graphs()).dir
    (synthetic,) = synthetic_directories(tmp_path, 600)
    sources = ["--graphs", str(planted), "--graphs", str(synthetic)]
    lbdb, csv_dir, home = tmp_path / "n2g.lbdb", tmp_path / "csv", tmp_path / "neo4j-home"

    run(env, "n2g", "load", *sources, "--db", str(lbdb), "--no-progress")
    exported = run(env, "n2g", "export", "--format", "neo4j-admin", str(csv_dir), *sources)
    assert "import.sh" in exported.stdout
    imported = run(env, "n2g", "neo4j", "import", str(csv_dir), "--home", str(home))
    with open_store(str(lbdb), read_only=True) as lady:
        counts = lady.counts()
    nodes = sum(counts[t.name] for t in schema.NODE_TABLES)
    assert f"imported {nodes:,} nodes and {sum(counts.values()) - nodes:,} relationships" in imported.stdout
    assert (home / neo4j_server.PENDING_SCHEMA).is_file()

    port = neo4j_server.free_port()
    started = run(env, "n2g", "neo4j", "start", "--home", str(home), "--port", str(port))
    uri = f"bolt://127.0.0.1:{port}"
    try:
        statements = len(schema_statements())
        assert f"created the imported store's constraints and indexes ({statements} statements)" in started.stdout
        assert not (home / neo4j_server.PENDING_SCHEMA).exists()
        monkeypatch.setenv("NEO4J_PASSWORD", password)  # for open_store in this process
        with open_store(uri) as neo, open_store(str(lbdb), read_only=True) as lady:
            assert snapshot(neo) == snapshot(lady)
            online = neo.rows("SHOW INDEXES YIELD name, state WHERE state <> 'ONLINE' RETURN name")
            names = {r["name"] for r in neo.rows("SHOW CONSTRAINTS YIELD name RETURN name")}
        assert online == [] and {"neuron_id", "token_text", "graphnode_id", "band_key"} <= names
        for search in SEARCHES:
            on_neo4j = search_json(capsys, "--db", uri, *search)
            assert on_neo4j == search_json(capsys, "--db", str(lbdb), *search) and on_neo4j, search
        assert run(env, "n2g-search", "--db", uri, *SEARCHES[0]).stdout.startswith("id ")  # the installed command

        # a later load adds to the imported store as to the embedded one (GraphNode ids go on from the import's)
        more = write_graph_directory(tmp_path / "more", [make_graph(0, 7, [(" import", [" as"])], model="third")],
                                     {**SETTINGS, "model": "third"}).dir
        for db in (uri, str(lbdb)):
            run(env, "n2g", "load", "--graphs", str(more), "--db", db, "--no-progress")
        with open_store(uri) as neo, open_store(str(lbdb), read_only=True) as lady:
            assert snapshot(neo) == snapshot(lady)
        refused = subprocess.run(command("n2g", "neo4j", "import", str(csv_dir), "--home", str(home)),
                                 capture_output=True, text=True, env=env)
        assert refused.returncode == 2 and "stop it first" in refused.stderr and len(refused.stderr.splitlines()) == 1
    finally:
        run(env, "n2g", "neo4j", "stop", "--home", str(home))
    assert neo4j_server.status(home) is None and not (home / neo4j_server.PID_FILE).exists()
