"""`n2g ingest --ray local` from the command line (its own local Ray, 2 workers): the same exemplars, graphs and
store as `n2g ingest` in one process, and the one-line refusals of option mixes that make no sense."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from n2g.cli.main import main
from tests.integration.cli.test_ingest import BIN, ingest_args, store_snapshot

pytest.importorskip("ray")


def exemplar_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "work" / "exemplars").iterdir())
            if not p.name.endswith(".lock")}


def graph_lines(root: Path) -> dict[str, list[str]]:
    return {p.name: sorted(p.read_text().splitlines()) for p in sorted((root / "work" / "graphs").glob("*.jsonl"))}


def test_ingest_ray_local_reproduces_the_one_process_store(tiny_model_dir: Path, small_corpus_dir: Path,
                                                           tmp_path: Path, capsys) -> None:
    one, ray = tmp_path / "one", tmp_path / "ray"
    one.mkdir()
    ray.mkdir()
    assert main(ingest_args(tiny_model_dir, small_corpus_dir, one)) == 0
    expected = capsys.readouterr().out.strip().splitlines()[-1]
    result = subprocess.run([str(BIN / "n2g"), *ingest_args(tiny_model_dir, small_corpus_dir, ray, "--ray", "local",
                                                           "--ray-workers", "2")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == expected
    assert expected.startswith("coverage: 24 of 24 requested neurons stored")
    assert exemplar_files(ray) == exemplar_files(one)
    assert graph_lines(ray) == graph_lines(one)
    assert store_snapshot(ray / "n2g.lbdb") == store_snapshot(one / "n2g.lbdb")


@pytest.mark.parametrize(("extra", "expected"), [
    (("--ray", "local", "--shard", "0/2"), "--shard is for runs started by hand"),
    (("--ray-workers", "2"), "--ray-workers needs --ray"),
])
def test_option_mixes_are_refused_in_one_line(extra: tuple[str, ...], expected: str, tiny_model_dir: Path,
                                              small_corpus_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(ingest_args(tiny_model_dir, small_corpus_dir, tmp_path, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("n2g: error:") and expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "work").exists() and not (tmp_path / "n2g.lbdb").exists()
