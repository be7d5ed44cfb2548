"""`n2g fit`: graphs for the requested neurons of every requested layer, written group by group to a graph
directory (`n2g.graphs.files`). Interrupted runs resume where they stopped; finished neurons are skipped.

Groups are also the unit of work spread over workers (`n2g ingest --ray`, `ingest.distributed`): `fit_jobs` cuts
the same groups one process fits in turn, and `fit_group` fits one of them anywhere that sees the graph directory.
Every append holds the directory's lock for the layer (`layer_lock`, an `flock`), re-reads which neurons the file
already has (cutting a line torn by a killed writer) and writes only the others, so concurrent or retried groups
never duplicate a neuron, in one process or many."""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.files import directory_lock
from n2g.fit.augmentation import lm_autocast
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.fit.random_truth import RandomWindowTruth, signed_truth
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import PREDICTORS, Predictor, format_score, mean_defined
from n2g.model.loading import LoadedModel
from n2g.model.probe import ProbeStats
from n2g.model.token_keys import TOKEN_TEXT


@dataclass
class FitSummary:
    """What `n2g fit` reports at the end: neurons by status, and N2G's and the baselines' mean held-out F1."""

    status: Counter = field(default_factory=Counter)
    fitted_now: int = 0
    seconds: float = 0.0
    f1: dict[Predictor, list[float | None]] = field(default_factory=lambda: {name: [] for name in PREDICTORS})
    probe: list[ProbeStats] = field(default_factory=list)

    def add(self, graphs: Sequence[NeuronGraph]) -> None:
        for graph in graphs:
            self.status[graph.status] += 1
            if graph.status == "fitted":
                for name, values in self.f1.items():
                    values.append(None if graph.scores is None else graph.scores.value(name, "test", "f1"))

    def line(self) -> str:
        f1 = ", ".join(f"{name} {format_score(mean_defined(values))}" for name, values in self.f1.items())
        counts = ", ".join(f"{self.status[s]} {s}" for s in ("fitted", "dead", "failed"))
        return f"{counts}; held-out F1: {f1}"


def fit_settings(model: LoadedModel, exemplars: ExemplarSet, config: FitConfig) -> dict[str, Any]:
    """What makes two fits comparable: a graph directory holds graphs of one model, exemplar set and config.
    The exemplars are compared by how they were mined, not where they lie, so a work directory can move.
    `token_text`: how token ids became texts (`n2g.model.token_keys.TOKEN_TEXT`; graphs fitted before it was
    recorded merged the parts of split UTF-8 characters into U+FFFD, so their directory is refused, not mixed)."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("token_budget", "group_size", "sequential")}
    if config.augment.method == "lm":  # the dtype the ranking passes ran in here: it decides what substitutes are tried
        ranked_in = lm_autocast(config.augment.lm_dtype, model) or model.dtype
        settings["augment"]["lm_dtype"] = str(ranked_in).replace("torch.", "")
    mined = {k: v for k, v in exemplars.manifest["settings"].items() if k not in ("layers", "neurons")}
    return {"model": exemplars.manifest["settings"]["model"], "exemplars": str(exemplars.dir.resolve()),
            "exemplar_settings": mined, "exemplar_tokens": exemplars.manifest["tokens"], "config": settings,
            "prepend_bos": model.prepend_bos, "token_text": TOKEN_TEXT}


def fit_graphs(model: LoadedModel, exemplars: ExemplarSet, out: str | Path, layers: Sequence[int],
               neurons: Sequence[int] | Mapping[int, Sequence[int]] | None, config: FitConfig,
               progress: bool = True) -> FitSummary:
    """`neurons`: the same for every layer, one list per layer, or None for every mined neuron."""
    with directory_lock(Path(out), "n2g fit"):
        return _fit_graphs(model, exemplars, GraphDirectory(out), layers, neurons, config, progress)


def _fit_graphs(model: LoadedModel, exemplars: ExemplarSet, directory: GraphDirectory, layers: Sequence[int],
                neurons: Sequence[int] | Mapping[int, Sequence[int]] | None, config: FitConfig,
                progress: bool) -> FitSummary:
    directory.open_for_fit(fit_settings(model, exemplars, config))
    todo_by_sign = {sign: fit_todo(exemplars, directory, layers, neurons, sign) for sign in exemplars.signs}
    wanted = todo_by_sign[1][0]
    summary = FitSummary()
    start = time.perf_counter()
    total = sum(map(len, wanted.values())) * len(exemplars.signs)
    left = sum(len(todo[layer]) for _, todo in todo_by_sign.values() for layer in layers)
    bar = tqdm(total=total, initial=total - left, unit="graph", disable=not progress, dynamic_ncols=True)
    # one random-window pass serves both signs: the negative direction reads the same values negated
    either = {layer: sorted({n for _, todo in todo_by_sign.values() for n in todo[layer]}) for layer in layers}
    truth = RandomWindowTruth.for_layers(model, exemplars, either, config.resolved_budget(model.device))
    summary.probe.append(truth.probe.stats)
    with bar:
        for layer in layers:
            if not either[layer]:
                continue
            layer_truth = truth.layer_truth(layer)
            for sign, (_, todo) in todo_by_sign.items():
                if not todo[layer]:
                    continue
                fitter = LayerFitter(model, exemplars, layer, todo[layer], config,
                                     random_truth=signed_truth(layer_truth, sign), sign=sign)
                for group in fitter.groups():
                    bar.set_description(f"layer {layer}{' negative' if sign < 0 else ''}")
                    graphs = fitter.fit(group)
                    append_new(directory, layer, graphs)
                    summary.fitted_now += len(graphs)
                    bar.update(len(graphs))
                summary.probe.append(fitter.context.probe.stats)
                del fitter  # its layer's random-window values, before the next layer's are measured
    summary.seconds = time.perf_counter() - start
    return summarise(directory, wanted, summary)


def summarise(directory: GraphDirectory, wanted: Mapping[int, Sequence[int]], summary: FitSummary) -> FitSummary:
    """`summary` with the statuses and scores of every wanted neuron's graph in `directory`."""
    for layer, neurons in wanted.items():
        requested = set(neurons)
        summary.add([g for g in directory.graphs(layer) if g.neuron in requested])
    return summary


def fit_todo(exemplars: ExemplarSet, directory: GraphDirectory, layers: Sequence[int],
             neurons: Sequence[int] | Mapping[int, Sequence[int]] | None, sign: int = 1
             ) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """(wanted, todo): per layer the neurons asked for, and those of them the directory holds no graph of this
    sign of yet."""
    wanted = {layer: _neurons(exemplars, layer, neurons[layer] if isinstance(neurons, Mapping) else neurons)
              for layer in layers}
    todo = {}
    for layer in layers:
        with layer_lock(directory, layer):
            done = directory.done(layer, sign)
        todo[layer] = [n for n in wanted[layer] if n not in done]
    return wanted, todo


@dataclass(frozen=True)
class FitJob:
    """One group of one layer's neurons in one direction: what one process fits in one `LayerFitter.fit` call."""

    layer: int
    neurons: tuple[int, ...]
    sign: int = 1


def fit_jobs(todo: Mapping[int, Sequence[int]], group_size: int, sign: int = 1) -> list[FitJob]:
    """The groups `fit_graphs` fits, in its order: each layer's neurons still to do, `group_size` at a time."""
    return [FitJob(layer, tuple(neurons[start: start + group_size]), sign)
            for layer, neurons in todo.items() for start in range(0, len(neurons), group_size)]


def fit_group(model: LoadedModel, exemplars: ExemplarSet, out: str | Path, job: FitJob, config: FitConfig) -> int:
    """A worker's side of a spread fit: the graphs of `job` into the graph directory `out` (opened by the caller
    with `fit_settings`), skipping neurons it already holds. The group's random-window values come from a pass of
    its own over the same windows, which gives the values `fit_graphs`'s shared pass gives. Returns the number of
    graphs written now (0 when a retried or repeated job finds them all there)."""
    directory = GraphDirectory(out)
    with layer_lock(directory, job.layer):
        done = directory.done(job.layer, job.sign)
    neurons = [n for n in job.neurons if n not in done]
    if not neurons:
        return 0
    fitter = LayerFitter(model, exemplars, job.layer, neurons, config, sign=job.sign)
    graphs = fitter.fit(neurons)
    return append_new(directory, job.layer, graphs)


@contextmanager
def layer_lock(directory: GraphDirectory, layer: int) -> Iterator[None]:
    """Exclusive access to a layer's graph file among processes (also on other machines, where the shared file
    system supports `flock`, as NFSv4 and most cluster file systems do). Released when its holder dies."""
    directory.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory.dir / f".layer_{layer:02d}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_new(directory: GraphDirectory, layer: int, graphs: Sequence[NeuronGraph]) -> int:
    """Append the graphs whose (neuron, sign) the layer's file does not hold yet; returns how many were written."""
    with layer_lock(directory, layer):
        done = {sign: directory.done(layer, sign) for sign in {g.sign for g in graphs}}  # also cuts a torn line
        new = [g for g in graphs if g.neuron not in done[g.sign]]
        if new:
            directory.append(layer, new)
    return len(new)


def _neurons(exemplars: ExemplarSet, layer: int, neurons: Sequence[int] | None) -> list[int]:
    exemplars.layer(layer)  # an unknown layer fails here, in one line
    available = exemplars.neurons
    if neurons is None:
        return list(available)
    missing = sorted(set(neurons) - set(available))
    if missing:
        raise N2GError(f"neurons {missing[:5]}{'...' if len(missing) > 5 else ''} have no exemplars in "
                       f"{exemplars.dir} (it has {exemplars.manifest['neurons_spec']})")
    return list(neurons)
