"""The `n2g` command line: help, one-line errors for bad input, and resuming after `kill -9`."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2g.cli.main import main
from n2g.exemplars.miner import MiningConfig
from n2g.fit.fitter import FitConfig
from tests.cli_checks import assert_one_line_error, run_cli


@pytest.mark.parametrize("command", ["exemplars", "fit", "ingest", "report"])
def test_help_shows_each_config_field_with_its_one_default(capsys, command: str) -> None:
    """Every command-line field of the stage's config appears in the help with the dataclass's own default, so a
    default changed in the config changes the help (there is no second copy)."""
    from dataclasses import fields

    from n2g.config import option_spec

    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    configs = {"exemplars": [MiningConfig], "fit": [FitConfig], "ingest": [MiningConfig, FitConfig],
               "report": [MiningConfig, FitConfig]}[command]
    for config in configs:
        for field in fields(config):
            spec = option_spec(field)
            if spec is None:
                continue
            flag = spec.flag or "--" + field.name.replace("_", "-")
            assert flag.split("/")[0] in text, (command, flag)
            if field.default not in (None, False) and not isinstance(field.default, tuple):
                assert f"[default: {field.default}" in text.split(flag.split("/")[0], 1)[1][:600], (command, flag)


def test_ingest_and_fit_take_the_same_fit_options(capsys) -> None:
    """`n2g ingest` can set every fit option `n2g fit` can."""
    import re

    def flags(command: str) -> set[str]:
        assert main([command, "--help"]) == 0
        return set(re.findall(r"(--[a-z][a-z0-9-]+)", capsys.readouterr().out))

    fit_only = {"--exemplars", "--out"}
    assert flags("fit") - fit_only <= flags("ingest")


def test_version_and_help_exit_zero(capsys) -> None:
    from n2g import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    for command in (["--help"], ["show", "--help"], ["predict", "--help"]):
        assert main(command) == 0
        assert "Usage: n2g" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [
    (["fit", "--exemplars", "x", "--out", "y", "--prune-ratio", "nan"], "not a finite number"),
    (["fit", "--exemplars", "x", "--out", "y", "--top-k", "3"], "No such option '--top-k'"),
    (["exemplars", "--out", "y", "--top-k", "0"], "0 is not in the range x>=1"),
    (["exemplars", "--out", "y", "--seed", str(2**64)], "not in the range"),
    (["fit", "--exemplars", "x", "--out", "y", "--split", "bogus"], "'bogus' is not one of 'document', 'window'"),
    (["nonsense"], "No such command 'nonsense'"),
    (["exemplars", "--out", "y", "--quantile-from", "0.95"], "not in the range"),
    (["ingest", "--ray", "local", "--quantile-windows", "5"], "--quantile-windows needs a second pass"),
])
def test_bad_options_are_one_line(capsys, argv: list[str], expected: str) -> None:
    assert_one_line_error(capsys, argv, expected)


def test_empty_corpus(capsys, tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("")
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(corpus),
                                   "--out", str(tmp_path / "out"), "--no-progress"], "gave no text")


@pytest.mark.parametrize("corpus_name, content, expected", [
    ("missing.txt", None, "not found"),
    ("broken.parquet", b"PAR1 this is not parquet", "cannot read parquet"),
    ("bad.jsonl", b'{"text": "fine"}\n{oops\n', "not valid JSON"),
])
def test_unreadable_corpus(capsys, tiny_model_dir: Path, tmp_path: Path, corpus_name: str,
                           content: bytes | None, expected: str) -> None:
    corpus = tmp_path / corpus_name
    if content is not None:
        corpus.write_bytes(content)
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(corpus),
                                   "--out", str(tmp_path / "out"), "--no-progress"], expected)


@pytest.mark.parametrize("spec, expected", [("0:99", "out of range"), ("one", "bad layer spec"),
                                            ("2:1", "backwards"), ("", "empty layer spec")])
def test_bad_layer_spec(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path,
                        spec: str, expected: str) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus",
                                   str(small_corpus_dir), "--layers", spec, "--out", str(tmp_path)], expected)


@pytest.mark.parametrize("model, expected", [
    ("no-such-org/no-such-model-n2g", "no-such-org/no-such-model-n2g"),
    ("./no/such/dir", "model path not usable"),
    ("missing.gguf", "GGUF file not found"),
])
def test_unknown_model(capsys, small_corpus_dir: Path, tmp_path: Path, model: str, expected: str) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", model, "--corpus", str(small_corpus_dir),
                                   "--out", str(tmp_path)], expected)


def test_other_settings_in_same_directory(capsys, tiny_model_dir: Path, small_corpus_dir: Path,
                                          tmp_path: Path) -> None:
    base = ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--out",
            str(tmp_path), "--max-tokens", "500", "--window-len", "16", "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert_one_line_error(capsys, [*base, "--top-k", "3"], "made with other settings: top_k is 20 there, 3 here: ")


def test_show_unknown_neuron(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    assert main(["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--out",
                 str(tmp_path), "--max-tokens", "500", "--window-len", "16", "--no-progress"]) == 0
    capsys.readouterr()
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path), "--neuron", "1:999"], "not in")
    assert_one_line_error(capsys, ["show", "1.5", "--exemplars", str(tmp_path)], "e.g. 1:337 (1:5?)")
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path), "--neuron", "x"], "bad neuron")
    assert_one_line_error(capsys, ["show", "--exemplars", str(tmp_path / "nothing"), "0:1"],
                          "no exemplars")


def test_error_through_console_script_has_no_traceback(tmp_path: Path) -> None:
    result = run_cli("n2g", "exemplars", "--model", "./no/such/dir", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_out_is_a_file(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--out", str(tmp_path / "afile")], "is a file")


def test_broken_models(capsys, small_corpus_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "config.json").write_text("{}")
    (tmp_path / "bad.gguf").write_bytes(b"not a gguf file at all")
    for model in (tmp_path / "fake", tmp_path / "bad.gguf"):
        assert_one_line_error(capsys, ["exemplars", "--model", str(model), "--corpus", str(small_corpus_dir),
                                       "--out", str(tmp_path / "out")], "cannot ")


def test_window_longer_than_the_model_context(capsys, tiny_model_dir: Path, small_corpus_dir: Path,
                                              tmp_path: Path) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--window-len", "300", "--out", str(tmp_path)], "context of 256")


def test_unsupported_device(capsys, tiny_model_dir: Path, small_corpus_dir: Path, tmp_path: Path) -> None:
    assert_one_line_error(capsys, ["exemplars", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir),
                                   "--device", "mps", "--out", str(tmp_path)], "not supported")
