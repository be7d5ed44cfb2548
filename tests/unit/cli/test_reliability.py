"""What a careful but hostile user found (issue 20), each case where the user meets it: the command line. Every bad
input gets one line and exit 2; a store stays usable whatever valid Cypher ran; no password is ever printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from n2g.cli.main import main as n2g
from n2g.cli.search import main as search
from tests.cli_checks import assert_one_line_error, search_error, write_cypher
from tests.factories import make_graph, write_graph_directory


@pytest.fixture()
def store_copy(planted_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "n2g.lbdb"
    shutil.copy(planted_db, copy)
    return copy


# 1 -----------------------------------------------------------------------------------------------------------------
def test_a_foreign_node_leaves_the_store_usable(store_copy: Path, tmp_path: Path, capsys) -> None:
    """`CREATE (m:Model {name:'scratch'})` through --write used to make every later command crash."""
    db = str(store_copy)
    assert search(["--db", db, "--cypher", write_cypher(tmp_path, "CREATE (m:Model {name: 'scratch'})"),
                   "--write"]) == 0
    capsys.readouterr()
    assert search(["--db", db, "--activating-token", "import", "--model", "test-model", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["neuron"] == 0
    assert search(["--db", db, "--neuron", "0:0", "--model", "test-model", "--format", "json"]) == 0
    graphs = write_graph_directory(tmp_path / "more", [make_graph(5, 5, [(" more", [])])])
    assert n2g(["load", "--graphs", str(graphs.dir), "--db", db, "--no-progress"]) == 0
    assert "1 neurons stored now" in capsys.readouterr().out


# 2 -----------------------------------------------------------------------------------------------------------------
def test_several_statements_are_refused_before_anything_runs(store_copy: Path, tmp_path: Path, capsys) -> None:
    db = str(store_copy)
    before = _snapshot(store_copy)
    search_error(capsys, ["--db", db, "--cypher", write_cypher(tmp_path, "RETURN 1 AS x; RETURN 2 AS y")],
                 "one Cypher statement at a time (this has 2")
    search_error(capsys, ["--db", db, "--write", "--cypher",
                          write_cypher(tmp_path, "CREATE (m:Model {name: 'a'}); CREATE (m:Model {name: 'b'})")],
                 "nothing was run")
    assert _snapshot(store_copy) == before
    assert search(["--db", db, "--cypher", write_cypher(tmp_path, "RETURN 'a;b' AS x; // c;d\n")]) == 0
    assert "a;b" in capsys.readouterr().out


# 4 -----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, expected", [
    (b"{}", "line 2 is not a graph (no \"neuron\" field)"),
    (b'{"format": "n2g-graph", "neuron": 3, "tor', "line 2 is not a graph (not JSON"),
    (b'{"neuron": "\xff\xfe"}', "line 2 is not a graph (not UTF-8 text at byte"),
    (b'{"format": "n2g-graph", "version": 1, "neuron": 9}', "line 2: damaged n2g graph"),
])
def test_load_refuses_a_bad_line_naming_file_and_line(tmp_path: Path, capsys, bad: bytes, expected: str) -> None:
    directory = write_graph_directory(tmp_path / "graphs", [make_graph(0, n, [(f" t{n}", [])]) for n in range(3)])
    path = directory.dir / "layer_00.jsonl"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], bad, *lines[1:]]))
    err = assert_one_line_error(capsys, ["load", "--graphs", str(directory.dir), "--db", str(tmp_path / "s.lbdb"),
                                         "--no-progress"], expected)
    assert "layer_00.jsonl" in err
    assert not (tmp_path / "s.lbdb").exists()  # a failed first load leaves no empty store behind


def test_load_skips_only_a_torn_last_line_and_says_so(tmp_path: Path, capsys, caplog) -> None:
    directory = write_graph_directory(tmp_path / "graphs", [make_graph(0, n, [(f" t{n}", [])]) for n in range(3)])
    path = directory.dir / "layer_00.jsonl"
    path.write_bytes(path.read_bytes() + b'{"format": "n2g-graph", "neuron": 7, "tor')
    assert n2g(["load", "--graphs", str(directory.dir), "--db", str(tmp_path / "s.lbdb"), "--no-progress"]) == 0
    assert "3 neurons stored now" in capsys.readouterr().out
    assert "skipped the torn last line 4" in caplog.text


# 5 -----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["bolt+routing://u:secret123@127.0.0.1:1", "https://u:secret123@x.org/db",
                                     " bolt://u:secret123@127.0.0.1:1", "bolt:/u:secret123@h",
                                     "bolt://127.0.0.1:1?password=secret123", "neo4j://h:1/db#secret123",
                                     "neo4j://u:secret123@127.0.0.1:1"])
def test_no_address_ever_prints_its_password(capsys, address: str) -> None:
    for command, argv in ((search, ["--db", address, "--activating-token", "x"]),
                          (n2g, ["load", "--graphs", "nowhere", "--db", address]),
                          (n2g, ["show", "0:1", "--db", address])):
        assert command(argv) == 2
        captured = capsys.readouterr()
        assert "secret123" not in captured.err + captured.out
        assert len(captured.err.strip().splitlines()) == 1


# 6 -----------------------------------------------------------------------------------------------------------------
def test_predict_on_a_text_longer_than_the_model_context(tiny_model_dir: Path, small_corpus_dir: Path,
                                                         tmp_path: Path, capsys) -> None:
    assert n2g(["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--layers", "0",
                "--neurons", "0:1", "--top-k", "4", "--window-len", "32", "--random-windows", "8",
                "--out", str(tmp_path / "ex"), "--no-progress"]) == 0
    assert n2g(["fit", "--exemplars", str(tmp_path / "ex"), "--out", str(tmp_path / "g"), "--no-progress",
                "--sweep", "0"]) == 0
    text = (small_corpus_dir / "textwrap.py.txt").read_text()[:12000]  # thousands of tokens; the context is 256
    capsys.readouterr()
    assert n2g(["predict", "0:1", text, "--graphs", str(tmp_path / "g")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) > 1000


# 7, 8 --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, expected", [
    (["--min-f1", "nan"], "not a finite number"), (["--min-f1", "inf"], "not in the range"),
    (["--min-f1", "2"], "not in the range"), (["--min-share", "nan", "--repeated-token"], "not a finite number"),
    (["--best", "0"], "not in the range x>=1"), (["--best", "-1"], "not in the range x>=1"),
    (["--best", str(2**64)], "not in the range"), (["--limit", str(2**64), "--repeated-token"], "not in the range"),
    (["--layer", "0:99999999999", "--repeated-token"], "at most"),
    (["--neuron", "-1:5"], "bad neuron '-1:5'"), (["--similar-to", "1.5"], "(1:5?)"),
])
def test_unchecked_values_are_refused(planted_db: Path, capsys, extra: list[str], expected: str) -> None:
    search_error(capsys, ["--db", str(planted_db), *extra], expected)


@pytest.mark.parametrize("value, expected", [
    (str(2**64), "does not fit a 64-bit integer"), ("[" * 3000 + "]" * 3000, "nested too deeply"),
    ("[" * 40 + "1" + "]" * 40, "nested more than 32 levels"),
])
def test_hostile_parameters_are_one_line(planted_db: Path, tmp_path: Path, capsys, value: str, expected: str) -> None:
    search_error(capsys, ["--db", str(planted_db), "--cypher", write_cypher(tmp_path, "RETURN $x AS x"),
                          "--param", f"x={value}"], expected)


def test_a_token_that_is_not_utf8_is_one_line(planted_db: Path, capsys) -> None:
    search_error(capsys, ["--db", str(planted_db), "--activating-token", "a\udcff"], "not valid UTF-8")


def test_a_parameter_named_set_is_not_a_write(planted_db: Path, tmp_path: Path, capsys) -> None:
    query = write_cypher(tmp_path, "MATCH (n:Neuron) WHERE n.layer = $set RETURN n.layer AS layer LIMIT 1")
    assert search(["--db", str(planted_db), "--cypher", query, "--param", "set=3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["layer"] == 3


def test_cypher_takes_the_limit_and_says_what_it_cut(planted_db: Path, tmp_path: Path, capsys) -> None:
    query = write_cypher(tmp_path, "MATCH (n:Neuron) RETURN n.id AS id")
    assert search(["--db", str(planted_db), "--cypher", query, "--limit", "3", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 3 and "showing 3 of 13 rows" in captured.err


def test_json_output_is_strict_json(planted_db: Path, tmp_path: Path, capsys) -> None:
    query = write_cypher(tmp_path, "RETURN 1.0 / 0.0 AS inf, 0.0 / 0.0 AS nan, 'x' AS text")
    assert search(["--db", str(planted_db), "--cypher", query, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    assert json.loads(out) == [{"inf": None, "nan": None, "text": "x"}]


def test_a_negative_positional_neuron_is_explained(capsys) -> None:
    assert_one_line_error(capsys, ["show", "-1:5", "--db", "x.lbdb"], "never negative")


# 10 ----------------------------------------------------------------------------------------------------------------
def test_a_failed_ingest_leaves_no_empty_store(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    db = tmp_path / "fresh.lbdb"
    assert_one_line_error(capsys, ["ingest", "--model", str(tiny_model_dir), "--db", str(db), "--layers", "0:99",
                                   "--work-dir", str(tmp_path / "w")], "out of range")
    assert not list(tmp_path.glob("fresh.lbdb*"))


def test_damaged_and_empty_files_are_named_for_what_they_are(planted_db: Path, tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "truncated.lbdb"
    truncated.write_bytes(planted_db.read_bytes()[: planted_db.stat().st_size // 3])
    search_error(capsys, ["--db", str(truncated), "--repeated-token"], "is damaged (truncated")
    empty = tmp_path / "empty.lbdb"
    empty.write_bytes(b"")
    search_error(capsys, ["--db", str(empty), "--repeated-token"], "is an empty file, not an n2g store")


def _snapshot(db: Path) -> dict:
    with open_store(str(db), read_only=True) as store:
        return snapshot(store)


def test_what_counts_as_a_write() -> None:
    from queries.search import statement_count, writes

    assert not writes("MATCH (n) WHERE n.layer = $set RETURN n.set AS s, n.set_x AS t")
    assert writes("MATCH (n) SET n.x = 1") and writes("match (n) detach delete n") and writes("CREATE (:A)")
    assert not writes("RETURN 'CREATE (x)' AS text // SET in a comment")
    assert statement_count("RETURN 1;") == 1 and statement_count("RETURN ';' AS x; RETURN 2") == 2
    assert statement_count("  ;  ") == 0
