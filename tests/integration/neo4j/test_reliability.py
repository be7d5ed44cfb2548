"""Issue 20's checks on a real Neo4j server, where the user meets them: the command line (`n2g-search`, `n2g load`),
as tests/unit/cli/test_reliability.py makes them on LadybugDB. Every bad input gets one line and exit 2, no
traceback; the store stays usable whatever valid Cypher ran; no password is ever printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ingest.store import snapshot
from ingest.store_loader import GraphSource, load_graphs
from n2g.cli.main import main as n2g
from n2g.cli.search import main as search
from tests.cli_checks import search_error, write_cypher
from tests.factories import SETTINGS, TINY_TEXT, make_graph, planted_graphs, tiny_text_store, write_graph_directory
from tests.integration.neo4j.helpers import command, wait_for_the_lock_out_to_end

pytestmark = pytest.mark.neo4j


@pytest.fixture()
def served(neo4j_store, tiny_model_dir: Path, tmp_path: Path):
    """The planted graphs (test-model) and the tiny model's text-search graphs (a model with a tokenizer, so that
    `--text` and `--verify` run) in the emptied server: (store, the tiny model's name)."""
    load_graphs(neo4j_store, GraphSource(write_graph_directory(tmp_path / "planted", planted_graphs())),
                progress=False)
    (tmp_path / "tiny").mkdir()
    _, graphs, _, _ = tiny_text_store(tmp_path / "tiny", tiny_model_dir)
    spec = str(tiny_model_dir)
    load_graphs(neo4j_store, GraphSource(write_graph_directory(tmp_path / "text", graphs, {**SETTINGS, "model": spec})),
                progress=False)
    return neo4j_store, spec


def searches(spec: str) -> list[list[str]]:
    """Every kind of search n2g-search has (with --explain too)."""
    test = ["--model", "test-model"]
    return [["--activating-token", "import", *test], ["--activating-token", " import", "--exact", *test],
            ["--activating-token", "import", "--context-token", "from", *test], ["--context-token", ":", *test],
            ["--repeated-token"], ["--duplicates"], ["--duplicates", "--mode", "subset"],
            ["--similar-to", "0:2", *test], ["--neuron", "0:0", *test], ["--best", "2"], ["--polysemantic"],
            ["--text", TINY_TEXT, "--model", spec], ["--text", TINY_TEXT, "--model", spec, "--verify"],
            ["--activating-token", "import", *test, "--explain"]]


# 1 -----------------------------------------------------------------------------------------------------------------
def test_a_foreign_node_leaves_the_store_usable(served, tmp_path: Path, capsys) -> None:
    """`CREATE (m:Model {name:'scratch'})` through --write: every search and a load still work."""
    store, spec = served
    db = store.location
    assert search(["--db", db, "--cypher", write_cypher(tmp_path, "CREATE (m:Model {name: 'scratch'})"),
                   "--write"]) == 0
    assert store.rows("MATCH (m:Model {name: 'scratch'}) RETURN count(m) AS n")[0]["n"] == 1
    capsys.readouterr()
    for argv in searches(spec):
        fmt = [] if "--explain" in argv or "--neuron" in argv else ["--format", "json"]
        assert search(["--db", db, *argv, *fmt]) == 0, (argv, capsys.readouterr().err)
        out, err = capsys.readouterr()
        assert out.strip() and "Traceback" not in err, argv
        if fmt and "--verify" not in argv:
            assert json.loads(out), argv  # rows found, the scratch model in the way of none
    assert search(["--db", db, "--text", "x", "--format", "json"]) == 2  # two models (not three): give --model
    assert f"holds several models ({', '.join(sorted([spec, 'test-model']))})" in capsys.readouterr().err
    graphs = write_graph_directory(tmp_path / "more", [make_graph(5, 5, [(" more", [])])])
    assert n2g(["load", "--graphs", str(graphs.dir), "--db", db, "--no-progress"]) == 0
    assert "1 neurons stored now" in capsys.readouterr().out
    assert search(["--db", db, "--activating-token", "more", "--model", "test-model", "--format", "json"]) == 0
    assert [row["neuron"] for row in json.loads(capsys.readouterr().out)] == [5]


# 2 -----------------------------------------------------------------------------------------------------------------
def test_several_statements_are_refused_before_anything_runs(served, tmp_path: Path, capsys) -> None:
    store, _ = served
    db = store.location
    before = snapshot(store)
    search_error(capsys, ["--db", db, "--cypher", write_cypher(tmp_path, "RETURN 1 AS x; RETURN 2 AS y")],
                 "one Cypher statement at a time (this has 2")
    for write in (["--write"], []):
        search_error(capsys, ["--db", db, *write, "--cypher",
                              write_cypher(tmp_path, "CREATE (m:Model {name: 'a'}); CREATE (m:Model {name: 'b'})")],
                     "nothing was run")
    search_error(capsys, ["--db", db, "--write", "--cypher",
                          write_cypher(tmp_path, "CREATE (:Sneaky {x: 1}); MATCH (n:Neuron) DETACH DELETE n")],
                 "(this has 2")
    assert snapshot(store) == before  # nothing committed
    assert store.rows("MATCH (n) WHERE n:Sneaky OR n.name IN ['a', 'b'] RETURN count(n) AS n")[0]["n"] == 0
    assert search(["--db", db, "--cypher", write_cypher(tmp_path, "RETURN 'a;b' AS x; // c;d\n")]) == 0
    assert "a;b" in capsys.readouterr().out


# 5 -----------------------------------------------------------------------------------------------------------------
def test_no_address_and_no_output_ever_prints_a_password(served, neo4j_env: dict[str, str]) -> None:
    """Addresses of the real server with the password in their userinfo, query or fragment, the right password
    and a wrong one in NEO4J_PASSWORD, through every command that takes --db, with --explain too: the installed
    commands, so whatever the driver logs is seen as well."""
    store, _ = served
    password = neo4j_env["NEO4J_PASSWORD"]
    wrong = "wrong-pw-" + password[::-1][:6]
    host = store.location.split("://", 1)[1]
    addresses = [f"bolt://neo4j:{password}@{host}", f"neo4j://neo4j:{wrong}@{host}/?x=1#{password}",
                 f"bolt+routing://neo4j:{password}@{host}", f"neo4j://{host}?password={password}",
                 f"bolt://{host}?password={password}", f"neo4j://{host}#{password}", f"bolt://{host}/db#{password}",
                 store.location]
    every_command = {addresses[0], addresses[1], store.location}  # the rest: through one command
    for env_password in (password, wrong):
        env = dict(neo4j_env, NEO4J_PASSWORD=env_password)
        for address in [store.location, *addresses[:-1]]:  # the plain address first, before any lock-out
            commands = (("n2g-search", "--db", address, "--activating-token", "import", "--model", "test-model"),
                        ("n2g-search", "--db", address, "--repeated-token", "--explain"),
                        ("n2g-search", "--db", address, "--repeated-token", "--format", "json"),
                        ("n2g", "load", "--graphs", "/nonexistent", "--db", address),
                        ("n2g", "show", "0:1", "--db", address, "--model", "test-model"))
            for argv in commands if address in every_command else commands[:1]:
                done = subprocess.run(command(*argv), capture_output=True, text=True, env=env, timeout=120)
                said = done.stdout + done.stderr
                assert password not in said and wrong not in said, (argv, said[-2000:])
                assert "Traceback" not in done.stderr, (argv, done.stderr[-2000:])
                if done.returncode != 0:
                    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
                if address == store.location and argv[0] == "n2g-search":  # the one plain address
                    assert (done.returncode == 0) == (env_password == password), (argv, done.stderr)
                    if env_password == wrong:
                        assert "refused" in done.stderr, (argv, done.stderr)
    wait_for_the_lock_out_to_end(store.location, neo4j_env)



# 8 -----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, expected", [
    (["--min-f1", "nan"], "not a finite number"), (["--min-f1", "inf"], "not in the range"),
    (["--best", "0"], "not in the range x>=1"), (["--best", "-1"], "not in the range x>=1"),
    (["--min-share", "nan", "--repeated-token"], "not a finite number"),
    (["--limit", str(2**64), "--repeated-token"], "not in the range"),
])
def test_unchecked_values_are_refused(served, capsys, extra: list[str], expected: str) -> None:
    search_error(capsys, ["--db", served[0].location, *extra], expected)


def test_a_parameter_named_set_is_not_a_write(served, tmp_path: Path, capsys) -> None:
    query = write_cypher(tmp_path, "MATCH (n:Neuron) WHERE n.layer = $set RETURN n.layer AS layer LIMIT 1")
    assert search(["--db", served[0].location, "--cypher", query, "--param", "set=3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["layer"] == 3


def test_cypher_takes_the_limit_and_says_what_it_cut(served, tmp_path: Path, capsys) -> None:
    store, _ = served
    total = store.rows("MATCH (n:Neuron) RETURN count(n) AS n")[0]["n"]
    query = write_cypher(tmp_path, "MATCH (n:Neuron) RETURN n.id AS id")
    assert search(["--db", store.location, "--cypher", query, "--limit", "3", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 3 and f"showing 3 of {total} rows" in captured.err
    assert search(["--db", store.location, "--cypher", query, "--limit", str(total), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == total and not captured.err


def test_json_output_is_strict_json(served, tmp_path: Path, capsys) -> None:
    """Neo4j's float division gives Infinity and NaN (its integer division by zero is an error): JSON gets null."""
    query = write_cypher(tmp_path, "RETURN 1.0 / 0.0 AS inf, -1.0 / 0.0 AS ninf, 0.0 / 0.0 AS nan, 1.0 AS one, "
                                   "0.0 AS zero, 'x' AS text")
    assert search(["--db", served[0].location, "--cypher", query, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    assert json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}")) == [
        {"inf": None, "ninf": None, "nan": None, "one": 1.0, "zero": 0.0, "text": "x"}]
    search_error(capsys, ["--db", served[0].location, "--cypher", write_cypher(tmp_path, "RETURN 1 / 0 AS x")],
                 "/ by zero")
