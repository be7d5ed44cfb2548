"""Tests of `n2g.exemplars.corpus`: local files, directories, the stdlib corpus and the offline hub path."""

from __future__ import annotations

import json
import os
import sysconfig
import time
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from n2g.errors import N2GError
from n2g.exemplars.corpus import STDLIB_CORPUS, Document, iter_documents, stdlib_files
from n2g.exemplars.wikipedia import WIKIPEDIA_CORPUS, plain_text


def _docs(spec: str | Path, text_field: str = "text") -> list[Document]:
    """All documents of a corpus spec, as a list."""
    return list(iter_documents(str(spec), text_field))


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    """Write raw lines (already JSON or deliberately not) to `path`."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _write_parquet(path: Path, columns: dict[str, list]) -> Path:
    """Write `columns` as a parquet table with small row groups (so several batches are read)."""
    pq.write_table(pa.table(columns), path, row_group_size=3)
    return path


def _error(spec: str | Path, text_field: str = "text") -> str:
    """The message of the N2GError raised while reading `spec`; fails if none is raised."""
    with pytest.raises(N2GError) as info:
        _docs(spec, text_field)
    message = str(info.value)
    assert "\n" not in message, "N2GError messages are one line"
    return message


# --- .txt -------------------------------------------------------------------------------------------------

def test_txt_file_is_one_document(tmp_path: Path) -> None:
    """A .txt file is a single document named by its path, text unchanged (newlines included)."""
    text = "first line\nsecond line\n\nafter a blank line\n"
    path = tmp_path / "a.txt"
    path.write_text(text, encoding="utf-8")
    assert _docs(path) == [Document(name=str(path), text=text)]


def test_txt_with_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    """Undecodable bytes become U+FFFD instead of aborting the run."""
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xff\xfe end")
    [doc] = _docs(path)
    assert doc.text.startswith("ok ") and doc.text.endswith(" end")
    assert "\ufffd" in doc.text


def test_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    """A file of an unknown kind is refused with the supported suffixes in the message."""
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    message = _error(path)
    assert "unsupported" in message and ".jsonl" in message and ".parquet" in message


# --- .jsonl -----------------------------------------------------------------------------------------------

def test_jsonl_one_document_per_nonempty_line(tmp_path: Path) -> None:
    """Each non-blank line is a document named file:line (1-based, counting blank lines)."""
    path = _write_jsonl(tmp_path / "d.jsonl", [
        json.dumps({"text": "alpha", "id": 1}),
        "",
        "   ",
        json.dumps({"text": "beta\nwith newline"}),
        json.dumps({"text": ""}),
    ])
    assert _docs(path) == [
        Document(f"{path}:1", "alpha"),
        Document(f"{path}:4", "beta\nwith newline"),
        Document(f"{path}:5", ""),
    ]


def test_jsonl_custom_text_field(tmp_path: Path) -> None:
    """`text_field` chooses which field holds the text."""
    path = _write_jsonl(tmp_path / "d.jsonl", [
        json.dumps({"content": "one", "text": "not this"}),
        json.dumps({"content": "two"}),
    ])
    assert [d.text for d in _docs(path, "content")] == ["one", "two"]


def test_jsonl_missing_field_mentions_text_field_option(tmp_path: Path) -> None:
    """A record without the field names file:line, the field and the --text-field option."""
    path = _write_jsonl(tmp_path / "d.jsonl", [json.dumps({"text": "ok"}), json.dumps({"body": "no text"})])
    message = _error(path)
    assert f"{path}:2" in message
    assert "'text'" in message
    assert "--text-field" in message


@pytest.mark.parametrize("record", ['{"text": 5}', '["text", "a list"]', '"just a string"', "null"])
def test_jsonl_non_string_or_non_object_record(tmp_path: Path, record: str) -> None:
    """A record whose field is not a string, or that is not an object, is an N2GError."""
    path = _write_jsonl(tmp_path / "d.jsonl", [record])
    assert "--text-field" in _error(path)


def test_jsonl_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    """A line that is not JSON is reported as file:line."""
    path = _write_jsonl(tmp_path / "d.jsonl", [json.dumps({"text": "ok"}), "", '{"text": "unterminated'])
    message = _error(path)
    assert f"{path}:3" in message
    assert "not valid JSON" in message


# --- .parquet ---------------------------------------------------------------------------------------------

def test_parquet_one_document_per_row(tmp_path: Path) -> None:
    """Each string row is a document named file#row (1-based), across several row groups."""
    texts = [f"row number {i}" for i in range(8)]
    path = _write_parquet(tmp_path / "t.parquet", {"text": texts, "id": list(range(8))})
    docs = _docs(path)
    assert [d.text for d in docs] == texts
    assert [d.name for d in docs] == [f"{path}#{i}" for i in range(1, 9)]


def test_parquet_custom_column_and_null_rows(tmp_path: Path) -> None:
    """`text_field` picks the column; null rows are skipped but still count in the row numbers."""
    path = _write_parquet(tmp_path / "t.parquet", {"body": ["a", None, "c"], "text": ["x", "y", "z"]})
    assert _docs(path, "body") == [Document(f"{path}#1", "a"), Document(f"{path}#3", "c")]


def test_parquet_missing_column_lists_columns(tmp_path: Path) -> None:
    """A missing column is reported with the columns the file does have."""
    path = _write_parquet(tmp_path / "t.parquet", {"body": ["a"], "label": [1]})
    message = _error(path)
    assert "'text'" in message
    assert "body" in message and "label" in message
    assert "--text-field" in message


def test_corrupt_parquet_is_n2g_error(tmp_path: Path) -> None:
    """Random bytes with a .parquet suffix give an N2GError naming the file."""
    path = tmp_path / "junk.parquet"
    path.write_bytes(os.urandom(2048))
    assert str(path) in _error(path)


def test_truncated_parquet_is_n2g_error(tmp_path: Path) -> None:
    """A real parquet file cut short (footer lost) gives an N2GError too."""
    good = _write_parquet(tmp_path / "good.parquet", {"text": ["a" * 100] * 10})
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-20])
    assert str(bad) in _error(bad)


# --- directories ------------------------------------------------------------------------------------------

def test_directory_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    """A directory yields its .txt/.jsonl/.parquet files recursively in path order; others are ignored."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deeper").mkdir()
    (tmp_path / "c.txt").write_text("C")
    (tmp_path / "a.txt").write_text("A")
    _write_jsonl(tmp_path / "b" / "m.jsonl", [json.dumps({"text": "M1"}), json.dumps({"text": "M2"})])
    _write_parquet(tmp_path / "b" / "deeper" / "p.parquet", {"text": ["P1", "P2"]})
    (tmp_path / "b" / "notes.md").write_text("ignored")
    (tmp_path / "b" / "script.py").write_text("ignored = True")
    (tmp_path / "data.csv").write_text("ignored")
    (tmp_path / "d.txt.bak").write_text("ignored")
    docs = _docs(tmp_path)
    # b/deeper/p.parquet sorts before b/m.jsonl ("deeper" < "m.jsonl"), and both before c.txt
    assert [d.text for d in docs] == ["A", "P1", "P2", "M1", "M2", "C"]
    assert docs[0].name == str(tmp_path / "a.txt")
    assert docs[1].name == f"{tmp_path / 'b' / 'deeper' / 'p.parquet'}#1"
    assert docs[3].name == f"{tmp_path / 'b' / 'm.jsonl'}:1"


def test_directory_order_is_stable(small_corpus_dir: Path) -> None:
    """Reading the same directory twice gives the same documents in the same (sorted) order."""
    first, second = _docs(small_corpus_dir), _docs(small_corpus_dir)
    assert first == second
    assert [d.name for d in first] == sorted(str(p) for p in small_corpus_dir.glob("*.txt"))
    assert len(first) == 9


@pytest.mark.parametrize("contents", [[], ["notes.md", "sub/other.csv"]])
def test_directory_without_corpus_files(tmp_path: Path, contents: list[str]) -> None:
    """An empty directory, or one with only other kinds of file, is an N2GError."""
    for name in contents:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    message = _error(tmp_path)
    assert str(tmp_path) in message and "no" in message


# --- missing paths ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["./nope.txt", "nope.jsonl", "nope.parquet", "nope.py", "./missing_dir",
                                  "/definitely/not/here", "~/n2g-test-missing-corpus"])
def test_missing_path_is_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    """A path-like spec that does not exist says 'not found' at once (no attempt at the hub)."""
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    message = _error(spec)
    assert "not found" in message and spec in message
    assert time.monotonic() - started < 5


# --- python-stdlib ----------------------------------------------------------------------------------------

def test_stdlib_corpus_yields_real_stdlib_files() -> None:
    """`python-stdlib` yields the interpreter's own .py sources, with their text."""
    root = Path(sysconfig.get_paths()["stdlib"]).resolve()
    docs = list(islice(iter_documents(STDLIB_CORPUS), 20))
    assert len(docs) == 20
    for doc in docs:
        path = Path(doc.name)
        assert path.suffix == ".py" and path.is_file()
        assert path.resolve().is_relative_to(root)
        assert "site-packages" not in path.parts and "dist-packages" not in path.parts
        assert doc.text == path.read_text(encoding="utf-8", errors="replace")


def test_stdlib_files_deterministic_shuffled_and_complete() -> None:
    """The stdlib list is the same on two calls, has no duplicates or site-packages, and is shuffled."""
    first, second = stdlib_files(), stdlib_files()
    assert first == second
    assert len(first) > 200 and len(set(first)) == len(first)
    assert first != sorted(first)
    names = {p.name for p in first}
    assert {"textwrap.py", "bisect.py", "os.py"} <= names
    assert not any("site-packages" in p.parts for p in first)


def test_stdlib_document_order_matches_across_calls() -> None:
    """Two iterations of `python-stdlib` give the same names in the same, non-alphabetical order."""
    first = [d.name for d in islice(iter_documents(STDLIB_CORPUS), 50)]
    second = [d.name for d in islice(iter_documents(STDLIB_CORPUS), 50)]
    assert first == second
    assert first != sorted(first)
    assert first == [str(p) for p in stdlib_files()[:50]]


# --- Hugging Face dataset names ---------------------------------------------------------------------------

def test_hf_dataset_name_offline_is_one_line_error() -> None:
    """A dataset name that cannot be loaded (hub offline) is a one-line N2GError pointing at python-stdlib."""
    pytest.importorskip("datasets")
    started = time.monotonic()
    message = _error("n2g-test-nobody/no-such-dataset-xyz")
    assert time.monotonic() - started < 20
    assert "n2g-test-nobody/no-such-dataset-xyz" in message
    assert "python-stdlib" in message
    assert "Hugging Face" in message


# --- the prose corpus and mixtures --------------------------------------------------------------------------

def test_wikipedia_excerpt_is_prose_without_markup() -> None:
    documents = list(iter_documents(WIKIPEDIA_CORPUS))
    assert len(documents) >= 100 and documents[0].name.startswith(f"{WIKIPEDIA_CORPUS}:")
    assert len({d.name for d in documents}) == len(documents)
    text = "\n".join(d.text for d in documents)
    assert len(text) > 2_000_000
    for markup in ("{{", "}}", "[[", "]]", "<ref", "#REDIRECT", "'''"):
        assert text.count(markup) < len(documents), markup  # a stray one may survive broken markup, not a rule


def test_wikitext_reduces_to_its_prose() -> None:
    wikitext = ("{{Infobox person|name=Ada {{nowrap|Lovelace}}}}\n'''Ada Lovelace''' was an English "
                "[[mathematician]] and [[Writer|writer]].<ref>{{cite book|title=x}}</ref>\n"
                "[[File:Ada.jpg|thumb|A [[portrait]]]]\n== Early life ==\n{| class=\"wikitable\"\n|-\n| cell\n|}\n"
                "She was born in [[London]].<!-- hidden --> See [https://example.org the site].\n[[Category:People]]")
    assert plain_text(wikitext) == ("Ada Lovelace was an English mathematician and writer.\n\nEarly life\n"
                                    "She was born in London. See the site.")


def test_joined_corpora_take_documents_of_each_in_turn(tmp_path: Path) -> None:
    for name, count in (("a", 3), ("b", 1)):
        (tmp_path / name).mkdir()
        for i in range(count):
            (tmp_path / name / f"{i}.txt").write_text(f"{name}{i}")
    joined = [d.text for d in iter_documents(f"{tmp_path / 'a'}+{tmp_path / 'b'}")]
    assert joined == ["a0", "b0", "a1", "a2"]
    mixed = [d.name for d in islice(iter_documents(f"{STDLIB_CORPUS}+{WIKIPEDIA_CORPUS}"), 4)]
    assert [name.startswith(WIKIPEDIA_CORPUS) for name in mixed] == [False, True, False, True]
