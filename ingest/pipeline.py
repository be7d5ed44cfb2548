"""`n2g ingest`: exemplars -> graphs -> store for the requested neurons of a model, in one resumable command.

    WORK/exemplars   `n2g exemplars` output (checkpointed; resumes)
    WORK/graphs      `n2g fit` output (appended and fsynced per group of neurons; resumes)
    --db             the store, one transaction per batch of neurons (neurons already stored are skipped)

Each stage resumes from what the one before it left, so after a kill at any moment the same command finishes the
job, and the store ends as an uninterrupted run leaves it; re-running a finished job changes nothing. `--shard i/n`
takes every n-th requested neuron of each layer into WORK/shard-i-of-n, so shards started by hand run on separate
machines or GPUs and `n2g load --work-dir WORK` stores them all. `--ray` runs the stages' work as tasks on Ray
workers instead (`Workers`, implemented by `ingest.distributed.RayWorkers`), with the same results.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ingest import schema
from ingest.graph_store import GraphStore
from ingest.store_loader import GraphSource, TopExamples, load_graphs
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import ChunkExecutor, mine_exemplars
from n2g.files import directory_lock
from n2g.fit.fitter import FitConfig
from n2g.fit.run import fit_graphs
from n2g.graphs.files import GraphDirectory
from n2g.model.loading import LoadedModel
from n2g.specs import describe_selection, union_of_neurons


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if not text:
            return cls()
        parts = text.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise N2GError(f"bad --shard {text!r}: write I/N, e.g. 0/4 (shards 0 to N-1)")
        index, count = int(parts[0]), int(parts[1])
        if count < 1 or index >= count:
            raise N2GError(f"bad --shard {text!r}: need 0 <= I < N")
        return cls(index, count)

    def take(self, selection: Mapping[int, Sequence[int]]) -> dict[int, list[int]]:
        """This shard's share of each layer's neurons: every N-th, starting at I."""
        return {layer: list(neurons[self.index:: self.count]) for layer, neurons in selection.items()}

    def work_dir(self, root: Path) -> Path:
        return root if self.count == 1 else root / f"shard-{self.index}-of-{self.count}"


@dataclass
class IngestPlan:
    corpus: str
    neurons: dict[int, list[int]]  # per layer, this shard's share
    work_dir: Path
    db: str
    mining: MiningConfig
    fit: FitConfig
    load_batch: int | None = None  # None: the engine's default
    progress: bool = True


@dataclass
class Coverage:
    requested: int
    status: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    what: str = "neurons"  # "graphs (both signs)" with --signs both: each neuron is requested twice

    @property
    def missing(self) -> int:
        return self.requested - sum(self.status.values())

    def line(self) -> str:
        parts = [f"{self.status[s]} {s}" for s in ("fitted", "dead", "failed")]
        if self.missing:
            parts.append(f"{self.missing} NOT STORED")
        reasons = "; ".join(f"{count} {reason}" for reason, count in self.reasons.most_common())
        return (f"coverage: {sum(self.status.values())} of {self.requested} requested {self.what} stored: "
                f"{', '.join(parts)}" + (f" (failed: {reasons})" if reasons else ""))


class Workers(ChunkExecutor, Protocol):
    """Where the stages run when not all in this process (`ingest.distributed.RayWorkers`): mining chunks
    (`ChunkExecutor`), graph groups, and loading where the store takes several writers."""

    def fit_graphs(self, exemplars: ExemplarSet, out: Path, neurons: Mapping[int, Sequence[int]],
                   config: FitConfig) -> int: ...

    def loads(self, store: GraphStore) -> bool: ...

    def load_graphs(self, db: str, exemplars: ExemplarSet, graph_dir: Path, neurons: Mapping[int, Sequence[int]],
                    config: FitConfig, batch: int | None) -> int: ...


def _stage(plan: IngestPlan, text: str) -> None:
    if plan.progress:
        print(f"n2g ingest {text}", file=sys.stderr, flush=True)


def run_ingest(model: LoadedModel, plan: IngestPlan, store: GraphStore, workers: Workers | None = None) -> Coverage:
    """The three stages. Open the store before loading the model, so that a wrong --db fails at once. With
    `workers`, the forward passes run there and `model` (on the CPU is enough) serves this process's bookkeeping;
    exemplars, graphs and store come out the same."""
    with directory_lock(plan.work_dir, "n2g ingest"):
        return _run_ingest(model, plan, store, workers)


def _run_ingest(model: LoadedModel, plan: IngestPlan, store: GraphStore, workers: Workers | None) -> Coverage:
    exemplar_dir, graph_dir = plan.work_dir / "exemplars", plan.work_dir / "graphs"
    store.ensure_schema()
    _stage(plan, f"[1/3] exemplars of {describe_selection(plan.neurons)} -> {exemplar_dir}")
    mine_exemplars(model, plan.corpus, exemplar_dir, plan.mining, progress=plan.progress, executor=workers)
    exemplars = ExemplarSet(exemplar_dir)
    _stage(plan, f"[2/3] graphs -> {graph_dir}")
    if workers is None:
        fit_graphs(model, exemplars, graph_dir, list(plan.neurons), plan.neurons, plan.fit, progress=plan.progress)
    else:
        workers.fit_graphs(exemplars, graph_dir, plan.neurons, plan.fit)
    _stage(plan, f"[3/3] store -> {plan.db}")
    if workers is not None and workers.loads(store):
        workers.load_graphs(plan.db, exemplars, graph_dir, plan.neurons, plan.fit, plan.load_batch)
    else:
        source = GraphSource(GraphDirectory(graph_dir), plan.neurons, TopExamples(exemplars, model.tokenizer))
        load_graphs(store, source, plan.load_batch, plan.progress, "store")
    return coverage(store, exemplars.manifest["settings"]["model"], plan.neurons, exemplars.signs)


def mining_config(mining: MiningConfig, selection: Mapping[int, Sequence[int]], d_mlp: int) -> MiningConfig:
    """One sweep mines the same neurons in every layer: the union of the selection's (None when that is all)."""
    union = union_of_neurons(selection)
    return replace(mining, layers=tuple(selection), neurons=None if len(union) == d_mlp else tuple(union))


def coverage(store: GraphStore, model: str, selection: Mapping[int, Sequence[int]],
             signs: Sequence[int] = (1,)) -> Coverage:
    """Every requested neuron (in each of `signs`) accounted for, from what the store holds."""
    wanted = {schema.neuron_id(model, layer, n, sign) for layer, neurons in selection.items() for n in neurons
              for sign in signs}
    result = Coverage(requested=len(wanted), what="neurons" if len(signs) == 1 else "graphs (both signs)")
    for row in store.neuron_status(model):
        if schema.neuron_id(model, row["layer"], row["neuron"], row["sign"]) in wanted:
            result.status[row["status"]] += 1
            if row["status"] == "failed":
                result.reasons[row["reason"] or "no reason recorded"] += 1
    return result
