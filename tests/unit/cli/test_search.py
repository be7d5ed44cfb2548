"""`n2g-search` on the planted store: outputs in three formats, --explain, raw Cypher, and hostile input that
gets one clear line, no traceback, and leaves the store as it was."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from n2g.cli.search import main
from tests.cli_checks import HOLD_WRITER


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_json_csv_carry_the_same_columns(planted_db: Path, capsys) -> None:
    base = ("--db", str(planted_db), "--activating-token", "import", "--model", "test-model")
    code, table, _ = run(capsys, *base)
    assert code == 0 and "␣import" in table and "Import" in table
    header = table.splitlines()[0].split()
    _, as_json, _ = run(capsys, *base, "--format", "json")
    rows = json.loads(as_json)
    _, as_csv, _ = run(capsys, *base, "--format", "csv")
    csv_rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert header == list(rows[0]) == list(csv_rows[0])
    assert {r["neuron"] for r in rows} == {0} and {r["layer"] for r in rows} == {0, 3}
    assert json.loads(csv_rows[0]["activating_tokens"]) == rows[0]["activating_tokens"]


def test_sign_option_keeps_one_direction(planted_db: Path, capsys) -> None:
    """3:0- (the negative graph of 3:0) fires on ` import` after `from`: --sign negative finds it alone,
    --sign positive never; the id says which direction a row is."""
    base = ("--db", str(planted_db), "--activating-token", "import", "--model", "test-model", "--format", "json")
    ids = {sign: [r["id"] for r in json.loads(run(capsys, *base, "--sign", sign)[1])]
           for sign in ("negative", "positive", "any")}
    assert ids["negative"] == ["test-model:3:0-"]
    assert ids["positive"] == ["test-model:0:0", "test-model:3:0"]
    assert sorted(ids["any"]) == sorted(ids["negative"] + ids["positive"])
    code, out, _ = run(capsys, "--db", str(planted_db), "--neuron", "3:0-", "--model", "test-model")
    assert code == 0 and out.startswith("neuron 3:0- of test-model: fitted") and "negative direction" in out
    code, _, err = run(capsys, "--db", str(planted_db), "--activating-token", "import", "--sign", "both")
    assert code == 2 and "Traceback" not in err


def test_explain_prints_cypher_and_parameters(planted_db: Path, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(planted_db), "--activating-token", "x'); MATCH (n) DETACH DELETE n //",
                       "--explain")
    assert code == 0
    assert out.startswith("MATCH (k:TokenKey {key: $key})")
    assert "then neuron_rows" in out
    assert "DETACH DELETE" not in out.split("// parameters")[0]  # the value is a parameter, not Cypher text


def test_duplicates_and_repeated_from_the_command_line(planted_db: Path, capsys) -> None:
    _, out, _ = run(capsys, "--db", str(planted_db), "--duplicates", "--mode", "subset", "--model", "test-model",
                    "--format", "json")
    assert {(r["layer"], r["neuron"], r["other_layer"], r["other_neuron"]) for r in json.loads(out)} == \
        {(0, 2, 2, 2), (1, 4, 3, 4), (1, 5, 3, 5)}
    _, out, _ = run(capsys, "--db", str(planted_db), "--repeated-token", "--format", "json")
    assert [(r["layer"], r["neuron"]) for r in json.loads(out)] == [(0, 1)]


def test_neuron_table_shows_the_graph(planted_db: Path, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(planted_db), "--neuron", "0:1", "--model", "test-model")
    assert code == 0 and out.startswith("neuron 0:1 of test-model: fitted")


def test_raw_cypher_from_stdin_with_params(planted_db: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("MATCH (n:Neuron) WHERE n.layer = $layer RETURN count(n) AS n"))
    code, out, _ = run(capsys, "--db", str(planted_db), "--cypher", "-", "--param", "layer=3", "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 4}]  # 3:0, 3:0- (its negative graph), 3:4, 3:5


HOSTILE_TOKENS = ["it's", 'say "hi"', "back\\slash", "MATCH (n) DETACH DELETE n", "line\nbreak", "x" * 10_000,
                  "{", "$tokens", "\u0000"]


@pytest.mark.parametrize("token", HOSTILE_TOKENS)
def test_hostile_tokens_are_just_values(planted_db: Path, capsys, token: str) -> None:
    before = snapshot_of(planted_db)
    for flag in ("--activating-token", "--context-token"):
        code, out, err = run(capsys, "--db", str(planted_db), flag, token, "--format", "json")
        assert code == 0, err
        assert json.loads(out) == []
    assert snapshot_of(planted_db) == before


def test_hostile_token_that_exists_is_found(planted_db: Path, capsys) -> None:
    for token in ("'", "\n"):
        code, out, _ = run(capsys, "--db", str(planted_db), "--activating-token", token, "--exact", "--format", "json")
        assert [(r["layer"], r["neuron"]) for r in json.loads(out)] == [(2, 0)]


def snapshot_of(db: Path) -> dict:
    with open_store(str(db), read_only=True) as store:
        return snapshot(store)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--activating-token", ""], "empty token"),
    (["--neuron", "3"], "bad neuron"),
    (["--neuron", "a:b"], "bad neuron"),
    (["--neuron", "99:1", "--model", "test-model"], "not in"),
    (["--similar-to", "0:0"], "several models"),
    (["--neuron", "0:0", "--model", "nope"], "model 'nope' is not in"),
    (["--cypher", "-", "--param", "oops"], "bad --param"),
    (["--duplicates", "--min-overlap", "1.5"], "--min-overlap"),
    (["--layer", "x", "--repeated-token"], "bad layer spec"),
    (["--limit", "0", "--repeated-token"], "--limit"),
    (["--repeated-token", "--duplicates"], "choose one search"),
    ([], "choose one search"),
])
def test_bad_input_is_one_line(planted_db: Path, capsys, monkeypatch, argv: list[str], expected: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("RETURN 1"))
    before = snapshot_of(planted_db)
    code, _, err = run(capsys, "--db", str(planted_db), *argv)
    assert code == 2
    assert err.startswith("n2g-search: error:") and len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    assert snapshot_of(planted_db) == before


def test_writes_are_refused_and_change_nothing(planted_db: Path, tmp_path: Path, capsys) -> None:
    before = snapshot_of(planted_db)
    for cypher in ("MATCH (n:Neuron) DETACH DELETE n", "MATCH (n:Neuron) SET n.f1 = 0.0",
                   "CREATE (:Token {text: 'x', key: 'x'})"):
        script = tmp_path / "q.cypher"
        script.write_text(cypher)
        code, _, err = run(capsys, "--db", str(planted_db), "--cypher", str(script))
        assert code == 2 and "writes" in err and len(err.strip().splitlines()) == 1
    assert snapshot_of(planted_db) == before


def test_missing_database_and_missing_file(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "none.lbdb"), "--repeated-token")
    assert code == 2 and "no graph store at" in err and not (tmp_path / "none.lbdb").exists()
    code, _, err = run(capsys, "--db", str(tmp_path / "none.lbdb"), "--cypher", str(tmp_path / "none.cypher"))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_malformed_cypher_is_one_line(planted_db: Path, tmp_path: Path, capsys) -> None:
    script = tmp_path / "bad.cypher"
    script.write_text("MATCH (n:Neuron RETURN n")
    code, _, err = run(capsys, "--db", str(planted_db), "--cypher", str(script))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_search_works_while_a_writer_holds_the_store(planted_db: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "busy.lbdb"
    copy.write_bytes(planted_db.read_bytes())
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(copy)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[2])
    try:
        assert holder.stdout.readline().strip() == "holding"
        code, out, err = run(capsys, "--db", str(copy), "--repeated-token", "--format", "json")
        assert code == 0, err
        assert [(r["layer"], r["neuron"]) for r in json.loads(out)] == [(0, 1)]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(("argv", "expected"), [
    (["--duplicates", "--min-overlap", "0.5"], "--mode subset"),
    (["--cypher", "-", "--param", 'x=[1, "a"]'], "LadybugDB"),
])
def test_more_bad_input_is_one_line(planted_db: Path, capsys, monkeypatch, argv: list[str], expected: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("RETURN $x AS x"))
    code, _, err = run(capsys, "--db", str(planted_db), *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


def test_non_utf8_cypher_and_export_are_refused(planted_db: Path, tmp_path: Path, capsys) -> None:
    latin = tmp_path / "latin.cypher"
    latin.write_bytes("RETURN 'caf\xe9'".encode("latin-1"))
    code, _, err = run(capsys, "--db", str(planted_db), "--cypher", str(latin))
    assert code == 2 and "not UTF-8" in err
    export = tmp_path / "export.cypher"
    export.write_text(f"EXPORT DATABASE '{tmp_path / 'dump'}'")
    code, _, err = run(capsys, "--db", str(planted_db), "--cypher", str(export))
    assert code == 2 and "writes" in err and not (tmp_path / "dump").exists()


def test_search_never_creates_a_database(tmp_path: Path, capsys) -> None:
    script = tmp_path / "q.cypher"
    script.write_text("RETURN 1 AS one")
    code, _, err = run(capsys, "--db", str(tmp_path / "typo.lbdb"), "--cypher", str(script), "--write")
    assert code == 2 and "no graph store" in err and not list(tmp_path.glob("typo.lbdb*"))


def test_credentials_in_the_address_are_refused_and_not_echoed(capsys) -> None:
    code, _, err = run(capsys, "--db", "neo4j://bob:s3cret@localhost:7687", "--repeated-token")
    assert code == 2 and "NEO4J_PASSWORD" in err and "s3cret" not in err


def test_best_explain_prints_without_running(planted_db: Path, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(planted_db), "--best", "2", "--explain")
    assert code == 0 and out.startswith("MATCH (n:Neuron)") and "$layer" in out
