"""Mining in chunks merged afterwards (what `n2g ingest --ray` does, here with an in-process executor) gives files
byte-identical to one sweep, whatever the chunk size and the order chunks finish in, and either kind of run resumes
the other's checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from n2g.errors import N2GError
from n2g.exemplars import files as store
from n2g.exemplars.files import CHECKPOINT
from n2g.exemplars.miner import ExemplarMiner, MiningConfig
from n2g.exemplars.run import (
    WindowChunk,
    chunk_windows,
    fingerprint,
    mine_chunk,
    mine_exemplars,
    window_batches,
    window_stream,
)

CONFIG = MiningConfig(layers=(0, 2), top_k=6, window_len=16, min_window_len=4, max_tokens=6000, batch_size=8,
                      max_windows_per_doc=0, n_random_windows=10, dedup_context=3, checkpoint_every_s=0)


class Stop(Exception):
    pass


class InProcess:
    """A `ChunkExecutor` in this process: chunks finish in reversed pairs (1, 0, 3, 2, ...), and it can fail after
    a number of chunks, as a run stopped mid-way."""

    device_type = "cpu"

    def __init__(self, model: Any, workers: int, fail_after: int | None = None) -> None:
        self.model, self.workers, self.fail_after = model, workers, fail_after
        self.chunks: list[int] = []

    def mine(self, config: MiningConfig, chunks: Iterator[WindowChunk]) -> Iterator[tuple[WindowChunk, Any]]:
        held = []
        for chunk in chunks:
            if self.fail_after is not None and len(self.chunks) >= self.fail_after:
                raise Stop
            self.chunks.append(len(chunk.windows))
            held.append((chunk, mine_chunk(self.model, config, chunk.windows)))
            if len(held) == 2:
                yield from reversed(held)
                held = []
        yield from held


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def straight(tiny_model, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("straight")
    mine_exemplars(tiny_model, str(small_corpus_dir), out, CONFIG, progress=False)
    return files(out)


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_merged_are_byte_identical(workers: int, tiny_model, small_corpus_dir: Path, tmp_path: Path,
                                          straight: dict[str, bytes]) -> None:
    executor = InProcess(tiny_model, workers)
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False, executor=executor)
    assert len(executor.chunks) >= 3 and all(n % CONFIG.batch_size == 0 for n in executor.chunks[:-1])
    assert files(tmp_path) == straight


def test_both_signs_chunks_merged_are_byte_identical(tiny_model, small_corpus_dir: Path, tmp_path: Path) -> None:
    """`--signs both` through the merge Ray uses: the negative shards too equal one sweep's, byte for byte."""
    both = MiningConfig(**{**CONFIG.__dict__, "signs": "both", "max_tokens": 3000})
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path / "one", both, progress=False)
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path / "chunked", both, progress=False,
                   executor=InProcess(tiny_model, 2))
    assert (tmp_path / "one" / "layer_02_neg.safetensors").is_file()
    assert files(tmp_path / "chunked") == files(tmp_path / "one")
    with pytest.raises(Stop):  # stopped with both sides checkpointed, resumed in one process
        mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path / "resumed", both, progress=False,
                       executor=InProcess(tiny_model, 2, fail_after=2))
    assert (tmp_path / "resumed" / CHECKPOINT).is_file()
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path / "resumed", both, progress=False)
    assert files(tmp_path / "resumed") == files(tmp_path / "one")


@pytest.mark.parametrize("resume_chunked", [False, True])
def test_stopped_chunked_run_resumes_identically(resume_chunked: bool, tiny_model, small_corpus_dir: Path,
                                                 tmp_path: Path, straight: dict[str, bytes]) -> None:
    """Stopped after 3 chunks (its checkpoint holds the merged prefix), then resumed in one process or in chunks."""
    with pytest.raises(Stop):
        mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False,
                       executor=InProcess(tiny_model, 3, fail_after=3))
    assert (tmp_path / CHECKPOINT).is_file()
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False,
                   executor=InProcess(tiny_model, 2) if resume_chunked else None)
    assert files(tmp_path) == straight


def test_chunked_run_resumes_a_one_process_checkpoint(tiny_model, small_corpus_dir: Path, tmp_path: Path,
                                                      straight: dict[str, bytes]) -> None:
    """The checkpoint a one-process sweep leaves after 5 batches (as `_sweep` saves it), resumed in chunks."""
    config = CONFIG.for_device("cpu")
    miner = ExemplarMiner(tiny_model, config)
    for i, batch in enumerate(window_batches(iter(window_stream(tiny_model, str(small_corpus_dir), config)),
                                             tiny_model, config)):
        if i == 5:
            break
        miner.process(batch)
    store.save_checkpoint(tmp_path, {"settings": fingerprint(tiny_model, str(small_corpus_dir), config),
                                     "state": miner.state()})
    mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False,
                   executor=InProcess(tiny_model, 3))
    assert files(tmp_path) == straight


def test_an_executor_that_drops_a_chunk_is_refused(tiny_model, small_corpus_dir: Path, tmp_path: Path) -> None:
    class Dropping(InProcess):
        def mine(self, config: MiningConfig, chunks: Iterator[WindowChunk]) -> Iterator[tuple[WindowChunk, Any]]:
            for chunk, part in super().mine(config, chunks):
                if chunk.index != 1:
                    yield chunk, part

    with pytest.raises(N2GError, match="never did"):
        mine_exemplars(tiny_model, str(small_corpus_dir), tmp_path, CONFIG, progress=False,
                       executor=Dropping(tiny_model, 3))


def test_chunks_are_whole_batches() -> None:
    config = CONFIG.for_device("cpu")
    assert chunk_windows(config, 2, 6000) % config.batch_size == 0
    assert chunk_windows(config, 2, None) == 64 * config.batch_size
    assert chunk_windows(config, 1000, 100) == config.batch_size
