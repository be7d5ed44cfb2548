"""`n2g serve` as a command: its help, and one-line errors before anything listens (the browser test runs it)."""

from __future__ import annotations

from pathlib import Path

from n2g.cli.main import main
from tests.cli_checks import assert_one_line_error


def test_help_names_the_defaults(capsys) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--db" in out and "127.0.0.1" in out and "8000" in out and "Read-only" in out


def test_a_missing_store_is_one_line(capsys, tmp_path: Path) -> None:
    assert_one_line_error(capsys, ["serve", "--db", str(tmp_path / "none.lbdb")], "no graph store")


def test_a_bad_address_is_one_line(capsys) -> None:
    assert_one_line_error(capsys, ["serve", "--db", "http://example.invalid:7687"], "a Neo4j address starts with")
    assert_one_line_error(capsys, ["serve", "--port", "0"], "0")
