"""A whole `n2g exemplars` run: drive the miner over a corpus without ever losing work.

- The state is checkpointed every `checkpoint_every_s`, on Ctrl-C (which is deferred to the end of the batch
  in flight, so a checkpoint never holds a half-merged batch), and once more before the shards are written.
- Re-running the same command resumes from the checkpoint. The windows it skips are re-read and checked
  against a digest of those the checkpoint processed, so a corpus that changed in between is refused.
- Re-running a finished run does nothing; the same directory with other settings is refused.

Mining spread over workers (`n2g ingest --ray`, `ingest.distributed`) runs the same sweep in chunks: this process
reads and windows the corpus (it alone writes `documents.txt` and extends the digest chain), hands chunks of whole
batches to a `ChunkExecutor`, and merges what each worker's `mine_chunk` returns, in corpus order, into its own
miner (`ExemplarMiner.merge`, exact). Its checkpoints are the one-process format, so either kind of run resumes
the other's, and the exemplars are byte-identical to one sweep in one process.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from n2g.errors import N2GError
from n2g.exemplars import files as store
from n2g.exemplars.corpus import corpus_part, iter_documents
from n2g.exemplars.miner import ExemplarMiner, MiningConfig, chain_digest
from n2g.exemplars.prefetch import prefetch
from n2g.exemplars.windows import Window, WindowBatch, WindowStream, batch_windows
from n2g.files import MANIFEST, check_same_settings, directory_lock, prepare_directory, read_manifest, save_json
from n2g.model.hooks import NEURON_HOOK
from n2g.model.loading import LoadedModel
from n2g.specs import format_index_spec, portable_spec

log = logging.getLogger(__name__)
_VOLATILE = ("batch_size", "checkpoint_every_s", "sparse_merge")  # settings that do not change the result
QUANTILES_NOT_CHUNKED = ("--quantile-windows needs a second pass over the corpus after the top-k one, which mining "
                         "with --ray does not run: mine without --ray, or without --quantile-windows")


def fingerprint(model: LoadedModel, corpus: str, config: MiningConfig) -> dict[str, Any]:
    """Everything that changes the result; a resumed run must match it exactly."""
    settings = dataclasses.asdict(config)
    for volatile in _VOLATILE:
        settings.pop(volatile)
    if not config.quantile_windows:  # off: recorded as before the option existed
        settings.pop("quantile_windows")
        settings.pop("quantile_from")
    if config.corpus_part == "all":  # the whole corpus: recorded as before the split existed
        settings.pop("corpus_part")
        settings.pop("eval_fraction")
    if config.signs == "positive":  # recorded as before negative mining existed, so old directories still match
        settings.pop("signs")
    settings.update(model=model.name, corpus=portable_spec(corpus), prepend_bos=model.prepend_bos,
                    dtype=str(model.dtype), format_version=store.FORMAT_VERSION, layers=list(config.layers),
                    neurons=None if config.neurons is None else list(config.neurons))
    return settings


def window_stream(model: LoadedModel, corpus: str, config: MiningConfig,
                  on_document: Callable[[str], object] | None = None) -> WindowStream:
    """The corpus as the windows this config mines."""
    documents = corpus_part(iter_documents(corpus, config.text_field), config.corpus_part, config.eval_fraction,
                            config.seed)
    return WindowStream(documents, model.tokenizer, config.window_len,
                        config.min_window_len, config.max_tokens or None, config.max_windows_per_doc or None,
                        on_document)


def window_batches(windows: Iterable[Window], model: LoadedModel, config: MiningConfig) -> Iterator[WindowBatch]:
    """Windows batched as the model takes them (BOS column by its policy, right-padded)."""
    return batch_windows(windows, config.batch_size, config.window_len, model.pad_token_id, model.bos_to_prepend)


@dataclass(frozen=True)
class WindowChunk:
    """Consecutive windows of the corpus, a whole number of batches, mined by one task."""

    index: int  # 0, 1, ... in corpus order (counted from where this run started or resumed)
    windows: list[Window]
    digest: str  # the digest chain over every window up to and including this chunk's last


class ChunkExecutor(Protocol):
    """Mines chunks somewhere else (`ingest.distributed` runs `mine_chunk` on Ray workers)."""

    device_type: str  # where the chunks are mined ("cpu", "cuda"): it decides the settings left to the device
    workers: int

    def mine(self, config: MiningConfig, chunks: Iterator[WindowChunk]) -> Iterator[tuple[WindowChunk, Any]]:
        """Each chunk with `mine_chunk(model, config, chunk.windows)` as run by a worker, yielded as they finish
        (in any order); `chunks` is read lazily, a few ahead of the workers."""
        ...


def mine_chunk(model: LoadedModel, config: MiningConfig, windows: Sequence[Window]) -> dict[str, Any]:
    """The worker's side of a chunked sweep: one miner over `windows` (whole batches, as one sweep cuts them);
    returns `ExemplarMiner.part()`."""
    miner = ExemplarMiner(model, config)
    for batch in prefetch(window_batches(windows, model, config)):
        miner.process(batch)
    return miner.part()


def chunk_windows(config: MiningConfig, workers: int, remaining_tokens: int | None) -> int:
    """Windows per chunk: a whole number of batches (so every batch is the one a single sweep runs), about four
    chunks per worker over the token budget (load balance, little work lost to a failed task), at most 64 batches
    (without a budget, or with a huge one)."""
    assert config.batch_size is not None
    batches = 64
    if remaining_tokens:
        windows = -(-remaining_tokens // config.window_len)
        batches = min(batches, max(1, -(-windows // (config.batch_size * 4 * max(1, workers)))))
    return batches * config.batch_size


def mine_exemplars(model: LoadedModel, corpus: str, out_dir: str | Path, config: MiningConfig,
                   progress: bool = True, executor: ChunkExecutor | None = None) -> dict[str, Any]:
    """Mine exemplars of `corpus` into `out_dir`, resuming an unfinished run there; returns the manifest. Settings
    left to the device (`MiningConfig.for_device`) are made concrete first, and recorded so. With `executor`, the
    forward passes run there, a chunk per task, and `model` (any device) serves only this process's bookkeeping:
    its tokenizer, its settings and the merged state."""
    out = Path(out_dir)
    config = config.for_device(executor.device_type if executor is not None else model.device.type)
    if not config.layers:
        raise N2GError("no layers to mine")
    if executor is not None and config.quantile_windows:
        raise N2GError(QUANTILES_NOT_CHUNKED)
    _check_fits_model(model, config)
    settings = fingerprint(model, corpus, config)
    with directory_lock(out, "n2g exemplars"):
        done = _finished_run(out, settings)
        if done is not None:
            return done
        return _mine(model, corpus, out, config, settings, progress, executor)


def _mine(model: LoadedModel, corpus: str, out: Path, config: MiningConfig, settings: dict[str, Any],
          progress: bool, executor: ChunkExecutor | None) -> dict[str, Any]:
    prepare_directory(out)
    miner = ExemplarMiner(model, config)
    checkpoint = store.load_checkpoint(out)
    if checkpoint is not None:
        _check_same_settings(out, checkpoint["settings"], settings)
        miner.load_state(checkpoint["state"])
        log.warning("resuming %s after %d windows (%d tokens)", out, miner.windows_done, miner.tokens_done)
    with store.documents_writer(out) as names:
        stream = window_stream(model, corpus, config, lambda name: names.write(store.document_line(name)))
        if executor is None:
            _sweep(miner, stream, out, settings, progress)
        else:
            _sweep_chunks(miner, stream, out, settings, progress, executor)
        if miner.windows_done == 0:
            raise N2GError(f"corpus {corpus!r} gave no text: no window of at least {config.min_window_len} tokens")
        documents = stream.documents_read
    if config.quantile_windows:
        _quantile_sweep(miner, window_stream(model, corpus, config, lambda name: None), out, settings, progress)
    _save(out, settings, miner)  # a kill while the shards are written loses nothing
    return _write_results(miner, documents, out, settings)


def _check_fits_model(model: LoadedModel, config: MiningConfig) -> None:
    n_ctx = int(getattr(model.bridge.cfg, "n_ctx", 0) or 0)
    needed = config.window_len + int(model.prepend_bos)
    if n_ctx and needed > n_ctx:
        raise N2GError(f"--window-len {config.window_len} needs {needed} positions"
                       f"{' with BOS' if model.prepend_bos else ''}, but {model.name} has a context of {n_ctx}")


def _finished_run(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    manifest = read_manifest(out)
    if manifest is None:
        return None
    _check_same_settings(out, manifest["settings"], settings)
    store.remove_leftovers(out)  # a kill between the manifest and the clean-up left these behind
    log.warning("%s already holds these exemplars: nothing to do", out)
    return manifest


def _check_same_settings(out: Path, found: dict[str, Any], wanted: dict[str, Any]) -> None:
    check_same_settings(found, wanted, where=str(out), what="exemplars",
                        remedy="use another --out directory or delete it")


def _save(out: Path, settings: dict[str, Any], miner: ExemplarMiner) -> None:
    store.save_checkpoint(out, {"settings": settings, "state": miner.state()})


@contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """While active, Ctrl-C only raises a flag, read between batches (main thread only)."""
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield received.is_set
        return
    previous = signal.signal(signal.SIGINT, lambda *_: received.set())
    try:
        yield received.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _skip_processed(windows: Iterator[Window], count: int, expected: str) -> Iterator[Window]:
    """Advance past the `count` windows a resumed checkpoint already holds, checking they are the same windows (the
    digest chain over them is `expected`)."""
    digest = ""
    for _ in range(count):
        window = next(windows, None)
        if window is None:
            break
        digest = chain_digest(digest, np.asarray(window.tokens, dtype=np.int64))
    if digest != expected:
        raise N2GError("the corpus changed since this run was checkpointed (its first windows differ): "
                       "restore it, or delete the --out directory to start over")
    return windows


def _sweep(miner: ExemplarMiner, stream: WindowStream, out: Path, settings: dict[str, Any],
           progress: bool) -> None:
    windows = _skip_processed(iter(stream), miner.windows_done, miner.digest)
    _run_batches(miner, windows, miner.tokens_done, "exemplars", out, settings, progress)


def _quantile_sweep(miner: ExemplarMiner, stream: WindowStream, out: Path, settings: dict[str, Any],
                    progress: bool) -> None:
    """The second pass of `MiningConfig.quantile_windows` (`n2g.exemplars.quantiles`), over the windows of the
    first, with checkpoints and resume as the first's."""
    if miner.second is None:
        miner.start_quantiles()
    second = miner.second
    assert second is not None
    windows = _skip_processed(iter(stream), second.windows_done, second.digest)
    _run_batches(miner, windows, second.tokens_done, "quantiles", out, settings, progress)
    if (second.windows_done, second.digest) != (miner.windows_done, miner.digest):
        raise N2GError("the corpus changed while it was mined (the quantile pass read other windows than the top-k "
                       "pass): restore it, or delete the --out directory to start over")


def _run_batches(miner: ExemplarMiner, windows: Iterator[Window], tokens_done: int, what: str, out: Path,
                 settings: dict[str, Any], progress: bool) -> None:
    """Process `windows` in batches, with a progress bar and checkpoints (`_checkpoint_when_due`)."""
    config = miner.config
    batches = prefetch(window_batches(windows, miner.model, config))
    bar = tqdm(total=config.max_tokens or None, initial=tokens_done, unit="tok", unit_scale=True,
               disable=not progress, desc=f"{what} L{format_index_spec(list(config.layers))}", mininterval=1.0)
    last_save = time.monotonic()
    with deferred_interrupt() as interrupted, bar:
        for batch in batches:
            miner.process(batch)
            bar.update(batch.n_tokens)
            last_save = _checkpoint_when_due(interrupted, out, settings, miner, last_save)


def _checkpoint_when_due(interrupted: Callable[[], bool], out: Path, settings: dict[str, Any], miner: ExemplarMiner,
                         last_save: float) -> float:
    """After a batch: save and stop on an interrupt (Ctrl-C), save when a checkpoint is due; returns the time of
    the last save."""
    if interrupted():
        _save(out, settings, miner)
        raise N2GError(f"interrupted after {miner.tokens_done} tokens; checkpoint saved in {out}: "
                       f"run the same command again to resume")
    if time.monotonic() - last_save >= miner.config.checkpoint_every_s:
        _save(out, settings, miner)
        return time.monotonic()
    return last_save


def _chunks(windows: Iterator[Window], size: int, digest: str) -> Iterator[WindowChunk]:
    """`windows` cut into chunks of `size`, each with the digest chain as it stands after its last window."""
    index = 0
    while True:
        group = []
        for window in windows:
            group.append(window)
            digest = chain_digest(digest, np.asarray(window.tokens, dtype=np.int64))
            if len(group) == size:
                break
        if not group:
            return
        yield WindowChunk(index, group, digest)
        index += 1


def _sweep_chunks(miner: ExemplarMiner, stream: WindowStream, out: Path, settings: dict[str, Any], progress: bool,
                  executor: ChunkExecutor) -> None:
    """`_sweep` with the forward passes on the executor's workers: chunks are merged into `miner` in corpus order
    (results that arrive early wait), so every checkpoint holds a prefix of the corpus, as in one sweep."""
    config = miner.config
    remaining = config.max_tokens - miner.tokens_done if config.max_tokens else None
    size = chunk_windows(config, executor.workers, remaining)
    windows = _skip_processed(iter(stream), miner.windows_done, miner.digest)
    estimate = -(-remaining // (size * config.window_len)) if remaining else None
    bar = tqdm(total=estimate, unit="task", disable=not progress, mininterval=1.0,
               desc=f"exemplars L{format_index_spec(list(config.layers))} on {executor.workers} workers")
    waiting: dict[int, tuple[WindowChunk, Any]] = {}
    merged = 0  # chunks merged so far: the next one to merge (a disabled bar counts nothing)
    last_save = time.monotonic()
    with deferred_interrupt() as interrupted, bar:
        for chunk, part in executor.mine(config, prefetch(_chunks(windows, size, miner.digest))):
            waiting[chunk.index] = (chunk, part)
            while merged in waiting:
                done, part = waiting.pop(merged)
                miner.merge(part, done.digest)
                merged += 1
                if bar.total is not None and merged > bar.total:
                    bar.total = merged
                bar.update(1)
                bar.set_postfix_str(f"{miner.tokens_done:,} tok", refresh=False)
            last_save = _checkpoint_when_due(interrupted, out, settings, miner, last_save)
        bar.total = merged
    if waiting:  # an executor that drops chunks would leave the sweep with a gap: refuse to write that
        raise N2GError(f"mining chunks {sorted(waiting)} came back but chunk {merged} never did")


def _write_results(miner: ExemplarMiner, documents: int, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    config, model = miner.config, miner.model
    for layer in config.layers:
        for sign in config.sign_values():
            store.save_tensors(store.layer_file(out, layer, sign), miner.layer_shard(layer, sign))
    store.save_tensors(out / store.RANDOM_WINDOWS, miner.sample.tensors(config.window_len, model.pad_token_id))
    neurons = list(config.neurons) if config.neurons is not None else list(range(model.d_mlp))
    manifest = {"status": "complete", "settings": settings, "layers": list(config.layers),
                "layers_spec": format_index_spec(list(config.layers)), "neurons": neurons,
                "neurons_spec": format_index_spec(neurons), "d_mlp": model.d_mlp, "n_layers": model.n_layers,
                "tokens": miner.tokens_done, "windows": miner.windows_done, "documents": documents,
                "signs": list(config.sign_values()), "hook": NEURON_HOOK,
                "tensors": store.LAYER_TENSORS | (store.QUANTILE_TENSORS if config.quantile_windows else {})}
    save_json(out / MANIFEST, manifest)  # written last: its presence means every file is whole
    store.remove_leftovers(out)
    return manifest

