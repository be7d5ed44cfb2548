"""`n2g-search --text` / `--text-file` / `--verify` / `--polysemantic` / duplicates confirmed by co-activation, from
the command line: the three formats, --explain, and bad input that gets one line and exit status 2."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from n2g.cli.search import main
from queries.text_search import MAX_TEXT_CHARS
from tests.factories import SETTINGS, TINY_TEXT, make_graph, store_of, tiny_text_store


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return tiny_text_store(tmp_path_factory.mktemp("cli-tiny"), tiny_model_dir)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_in_three_formats_and_from_a_file_or_stdin(tiny, tmp_path: Path, capsys, monkeypatch) -> None:
    db = str(tiny[0])
    code, as_json, _ = run(capsys, "--db", db, "--text", TINY_TEXT, "--format", "json", "--per-token", "10")
    rows = json.loads(as_json)
    assert code == 0 and rows and {"position", "token", "id", "predicted", "pattern", "context"} <= set(rows[0])
    _, table, _ = run(capsys, "--db", db, "--text", TINY_TEXT, "--per-token", "10")
    assert table.splitlines()[0].split() == list(rows[0]) and len(table.splitlines()) == len(rows) + 1
    _, as_csv, _ = run(capsys, "--db", db, "--text", TINY_TEXT, "--format", "csv", "--per-token", "10")
    assert len(as_csv.splitlines()) == len(rows) + 1
    source = tmp_path / "text.py"
    source.write_text(TINY_TEXT, encoding="utf-8")
    _, from_file, _ = run(capsys, "--db", db, "--text-file", str(source), "--format", "json", "--per-token", "10")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(TINY_TEXT.encode("utf-8"))))
    _, from_stdin, _ = run(capsys, "--db", db, "--text-file", "-", "--format", "json", "--per-token", "10")
    assert json.loads(from_file) == json.loads(from_stdin) == rows


def test_verify_prints_the_searchs_own_precision_and_recall(tiny, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(tiny[0]), "--text", TINY_TEXT, "--verify")
    assert code == 0 and out.strip().splitlines()[-1].startswith("verify: on ")
    assert "actual" in out.splitlines()[0] and "kind" in out.splitlines()[0]
    code, out, err = run(capsys, "--db", str(tiny[0]), "--text", TINY_TEXT, "--verify", "--format", "json")
    assert code == 0 and json.loads(out) and err.startswith("verify: on ")  # stdout stays JSON


def test_explain_names_the_template_and_the_matcher(tiny, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(tiny[0]), "--text", "import os", "--explain")
    assert code == 0 and out.startswith("UNWIND $tokens AS x") and "GraphMatcher" in out and "text_roots" in out


@pytest.mark.parametrize(("argv", "stdin", "expected"), [
    (["--text", ""], None, "empty"),
    (["--text", "x" * (MAX_TEXT_CHARS + 1)], None, "at most"),
    (["--text-file", "-"], b"\xff\xfe not utf-8", "not UTF-8"),
    (["--text-file", "-"], b"x" * (1 << 20), "longer than text search takes"),
    (["--text-file", "/nonexistent/file.txt"], None, "cannot read"),
    (["--text", "a", "--text-file", "-"], b"b", "not both"),
    (["--text", "a", "--per-token", "0"], None, "--per-token"),
    (["--repeated-token", "--verify"], None, "--verify goes with --text"),
    (["--polysemantic", "--min-parts", "1"], None, "--min-parts"),
    (["--duplicates", "--min-correlation", "2"], None, "--min-correlation"),
])
def test_bad_input_is_one_line(tiny, capsys, monkeypatch, argv: list[str], stdin: bytes | None,
                               expected: str) -> None:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code, _, err = run(capsys, "--db", str(tiny[0]), *argv)
    assert code == 2 and err.startswith("n2g-search: error:") and len(err.strip().splitlines()) == 1, err
    assert expected in err, err


def test_verify_on_a_store_whose_model_cannot_be_loaded(tiny, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "weights-gone"
    shutil.copytree(Path(tiny[1][0].model), broken)
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    db = store_of(tmp_path, [make_graph(0, 3, [(tiny[2][1], [])], model=str(broken))],
                  {**SETTINGS, "model": str(broken)})
    code, _, err = run(capsys, "--db", str(db), "--text", TINY_TEXT, "--verify")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot load the store's model" in err, err


def test_polysemantic_and_confirmed_duplicates(tmp_path: Path, capsys) -> None:
    from tests.factories import activation_sample

    graphs = [make_graph(1, 1, [(" a", [" b"]), (" c", [" d"]), (" e", [])]),
              make_graph(0, 2, [(" x", [" y"])]), make_graph(2, 2, [(" x", [" y"])])]
    graphs[1].activation_sample = activation_sample(1)
    graphs[2].activation_sample = activation_sample(2)
    db = str(store_of(tmp_path, graphs))
    _, out, _ = run(capsys, "--db", db, "--polysemantic", "--format", "json")
    (row,) = json.loads(out)
    assert (row["layer"], row["neuron"], row["n_parts"], row["parts"]) == (1, 1, 3, [[" a"], [" c"], [" e"]])
    _, table, _ = run(capsys, "--db", db, "--polysemantic")
    assert "␣a | ␣c | ␣e" in table
    _, out, _ = run(capsys, "--db", db, "--duplicates", "--format", "json")
    assert json.loads(out) == []  # the same tokens, but they do not co-activate
    _, out, _ = run(capsys, "--db", db, "--duplicates", "--no-correlation-check", "--format", "json")
    (pair,) = json.loads(out)
    assert abs(pair["correlation"]) < 0.2
