"""`n2g ingest --ray`: the ingest pipeline as Ray tasks, data-parallel where the work is.

    --ray local      start a Ray on this machine (stopped again at the end)
    --ray auto       join the cluster this machine belongs to (`ray start` ran here)
    --ray ADDRESS    join the cluster at ADDRESS (ray://head:10001 or head:6379)

Workers are Ray actors (`N2GWorker`), one per GPU of the cluster (`num_gpus=1` each) or, without GPUs, one per
CPU on small machines and one per 4 CPUs on large ones (`--ray-workers` overrides). Each loads the model once and
runs the three stages' tasks:

- mining: the corpus is read and windowed here, in chunks of whole batches, and each chunk is a task that keeps
  the running top-k of every requested neuron over its windows (`n2g.exemplars.run.mine_chunk`); this process
  merges the results in corpus order (`ExemplarMiner.merge`, exact and associative) and checkpoints the merged
  prefix in the one-process format. One forward sweep in all; the exemplars are byte-identical to a one-process
  run's.
- fitting: each group of neurons of one sign (the groups a single process fits, `n2g.fit.run.fit_jobs`) is a task
  that writes its graphs into the shared work directory (`fit_group`: under the layer's file lock, skipping neurons
  already there, so retried tasks never duplicate one).
- loading: into Neo4j, every group's graphs are a task of their own, all loading into the one server at once;
  into LadybugDB (one writer), this process loads them as the one-process pipeline does.

A task whose worker dies (a crash, a lost node, `kill -9`) is retried on the restarted worker (Ray's actor
restarts and task retries, `RayConfig.retries` times). Every worker must see the work directory at the same path
(a shared file system on a cluster) and have n2g installed with the same model files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ingest.graph_store import GraphStore
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import WindowChunk, mine_chunk
from n2g.fit.fitter import FitConfig
from n2g.fit.run import FitJob, fit_group, fit_jobs, fit_settings, fit_todo
from n2g.graphs.files import GraphDirectory
from n2g.model.loading import LoadedModel, ModelConfig, resolve_dtype

T = TypeVar("T")
RAY_INSTALL = 'pip install "n2g[ray]"'
_FORWARDED_ENV = ("NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "N2G_CACHE_DIR", "HF_HOME", "HF_HUB_OFFLINE")
_QUIET_ENV = {"TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}


@dataclass(frozen=True)
class RayConfig:
    """Where the workers run and how many there are."""

    address: str = "local"  # "local", "auto" or a cluster address
    workers: int | None = None  # None: one per GPU, else one per CPU (up to 4 CPUs) or per 4 CPUs
    retries: int = 3  # restarts of a dead worker, and retries of the task it was running


def import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise N2GError(f"--ray needs Ray, which is not installed: {RAY_INSTALL}") from err
    return ray


class N2GWorker:
    """One worker: the model, loaded once, and the stages' tasks. Made a Ray actor by `RayWorkers`."""

    def __init__(self, model: ModelConfig, threads: int | None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model = model.load()

    def pid(self) -> int:
        return os.getpid()

    def device(self) -> str:
        return self.model.device.type

    def mine(self, config: MiningConfig, chunk: WindowChunk) -> dict[str, Any]:
        return mine_chunk(self.model, config, chunk.windows)

    def fit_settings(self, exemplar_dir: str, config: FitConfig) -> dict[str, Any]:
        """What the graph directory records: it depends on the device the fit runs on (the lm ranking's dtype)."""
        return fit_settings(self.model, ExemplarSet(exemplar_dir), config)

    def fit(self, exemplar_dir: str, graph_dir: str, job: FitJob, config: FitConfig) -> int:
        return fit_group(self.model, ExemplarSet(exemplar_dir), graph_dir, job, config)

    def load(self, db: str, graph_dir: str, exemplar_dir: str, job: FitJob, batch: int | None) -> int:
        """Store one group's graphs into the Neo4j server at `db` (neurons already there are skipped)."""
        from ingest.store import open_store
        from ingest.store_loader import GraphSource, TopExamples, load_graphs

        source = GraphSource(GraphDirectory(graph_dir), {job.layer: list(job.neurons)},
                             TopExamples(ExemplarSet(exemplar_dir), self.model.tokenizer))
        with open_store(db) as store:
            return load_graphs(store, source, batch, progress=False).stored_now


class RayWorkers:
    """The workers of one `n2g ingest --ray` run (a context manager: Ray is started or joined on entry, and what
    this run started is stopped on exit). Implements `ingest.pipeline.Workers`."""

    def __init__(self, config: RayConfig, model: ModelConfig, progress: bool = True) -> None:
        self.config, self.model_config, self.progress = config, model, progress
        self.ray: Any = None
        self.started_ray = False
        self.actors: list[Any] = []
        self.device_type = "cpu"
        self.workers = 0

    # -- the cluster ---------------------------------------------------------------------------------------------
    def __enter__(self) -> RayWorkers:
        ray = self.ray = import_ray()
        try:
            if not ray.is_initialized():
                if self.config.address == "local":
                    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                             configure_logging=False)
                else:
                    ray.init(address=self.config.address, log_to_driver=False, configure_logging=False)
                self.started_ray = True
            self._start_workers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ray is None:
            return
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()
            self.started_ray = False

    def _start_workers(self) -> None:
        ray = self.ray
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        wants_gpu = self.model_config.device != "cpu"
        if self.model_config.device.startswith("cuda") and not gpus:
            raise N2GError(f"--device {self.model_config.device} with --ray, but the Ray cluster has no GPU")
        if gpus and wants_gpu:
            self.device_type, count = "cuda", self.config.workers or gpus
            per_worker: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
            threads = None
        else:
            self.device_type = "cpu"
            count = self.config.workers or (cpus if cpus <= 4 else cpus // 4)
            threads = max(1, cpus // count)
            per_worker = {"num_cpus": threads}
        worker_model = replace(self.model_config, device=self.device_type)
        env = dict(_QUIET_ENV, **{k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ})
        actor = ray.remote(N2GWorker).options(max_restarts=self.config.retries, max_task_retries=self.config.retries,
                                              runtime_env={"env_vars": env}, **per_worker)
        self.actors = [actor.remote(worker_model, threads) for _ in range(count)]
        self.workers = count
        self._get([a.device.remote() for a in self.actors])  # every worker up, or a clear error now

    def driver_model(self) -> LoadedModel:
        """The model for this process's own part (tokenising, settings, merging): on the CPU, in the dtype the
        workers run in, so that what is recorded is what they ran."""
        dtype = resolve_dtype(self.model_config.dtype, _device(self.device_type))
        name = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[str(dtype).replace("torch.", "")]
        return replace(self.model_config, device="cpu", dtype=name).load()  # type: ignore[arg-type]

    # -- running tasks -------------------------------------------------------------------------------------------
    def _get(self, refs: Any) -> Any:
        try:
            return self.ray.get(refs)
        except Exception as err:  # noqa: BLE001 - Ray's errors become one line
            raise self._error(err) from err

    def _error(self, err: BaseException) -> BaseException:
        cause = getattr(err, "cause", None)
        if isinstance(cause, N2GError):
            return N2GError(str(cause))
        if type(err).__name__ in ("RayActorError", "ActorDiedError", "ActorUnavailableError"):
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            return N2GError(f"a Ray worker died {self.config.retries + 1} times on the same task: {first}")
        if isinstance(err, N2GError):
            return err
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return N2GError(f"a Ray task failed: {first}")

    def run(self, items: Iterator[T], submit: Callable[[Any, T], Any], per_worker: int = 2
            ) -> Iterator[tuple[T, Any]]:
        """Each item submitted to a worker (`submit(actor, item)` returns the task's ref), at most `per_worker`
        queued per worker (the next one's input travels while the current one runs); (item, result) pairs as
        tasks finish. Items are drawn from `items` only as workers free up."""
        slots = [actor for _ in range(per_worker) for actor in self.actors]
        running: dict[Any, tuple[Any, T]] = {}
        exhausted = False
        while True:
            while slots and not exhausted:
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                    break
                actor = slots.pop(0)
                running[submit(actor, item)] = (actor, item)  # type: ignore[arg-type]
            if not running:
                return
            ready, _ = self.ray.wait(list(running), num_returns=1)
            actor, item = running.pop(ready[0])
            slots.append(actor)
            yield item, self._get(ready[0])

    def _bar(self, total: int, what: str) -> tqdm:
        return tqdm(total=total, unit="task", desc=f"{what} on {self.workers} workers", disable=not self.progress,
                    dynamic_ncols=True, mininterval=1.0)

    # -- the stages ----------------------------------------------------------------------------------------------
    def mine(self, config: MiningConfig, chunks: Iterator[WindowChunk]) -> Iterator[tuple[WindowChunk, Any]]:
        """`n2g.exemplars.run.ChunkExecutor`: each chunk mined by a worker."""
        config_ref = self.ray.put(config)
        yield from self.run(chunks, lambda actor, chunk: actor.mine.remote(config_ref, chunk))

    def fit_graphs(self, exemplars: ExemplarSet, out: Path, neurons: Mapping[int, Sequence[int]],
                   config: FitConfig) -> int:
        """Every requested neuron's graph into `out`, a task per group; returns the graphs written now."""
        directory = GraphDirectory(out)
        directory.open_for_fit(self._get(self.actors[0].fit_settings.remote(str(exemplars.dir), config)))
        jobs = [job for sign in exemplars.signs
                for job in fit_jobs(fit_todo(exemplars, directory, list(neurons), neurons, sign)[1],
                                    config.resolved_group(_device(self.device_type)), sign)]
        written = 0
        with self._bar(len(jobs), "graphs") as bar:
            for _, count in self.run(iter(jobs), lambda actor, job: actor.fit.remote(
                    str(exemplars.dir), str(out), job, config), per_worker=1):
                written += count
                bar.update(1)
        return written

    def loads(self, store: GraphStore) -> bool:
        """Whether the workers load the store themselves (Neo4j takes concurrent writers; LadybugDB has one)."""
        return store.engine == "neo4j"

    def load_graphs(self, db: str, exemplars: ExemplarSet, graph_dir: Path, neurons: Mapping[int, Sequence[int]],
                    config: FitConfig, batch: int | None) -> int:
        """Every group's graphs into the Neo4j server at `db`, a task per group, concurrently."""
        jobs = fit_jobs(neurons, config.resolved_group(_device(self.device_type)))
        stored = 0
        with self._bar(len(jobs), "store") as bar:
            for _, count in self.run(iter(jobs), lambda actor, job: actor.load.remote(
                    db, str(graph_dir), str(exemplars.dir), job, batch)):
                stored += count
                bar.update(1)
        return stored

    def worker_pids(self) -> list[int]:
        return self._get([a.pid.remote() for a in self.actors])


_END = object()


def _device(kind: str) -> Any:
    import torch

    return torch.device(kind)
