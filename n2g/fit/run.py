"""`n2g fit`: graphs for the requested neurons of every requested layer, written group by group to a graph
directory (`n2g.graphs.files`). Interrupted runs resume where they stopped; finished neurons are skipped."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.fit.augmentation import lm_autocast
from n2g.fit.fitter import FitConfig, LayerFitter
from n2g.fit.random_truth import RandomWindowTruth
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import PREDICTORS, Predictor, format_score, mean_defined
from n2g.model.loading import LoadedModel
from n2g.model.probe import ProbeStats


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
    The exemplars are compared by how they were mined, not where they lie, so a work directory can move."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("token_budget", "group_size", "sequential")}
    if config.augment.method == "lm":  # the dtype the ranking passes ran in here: it decides what substitutes are tried
        ranked_in = lm_autocast(config.augment.lm_dtype, model) or model.dtype
        settings["augment"]["lm_dtype"] = str(ranked_in).replace("torch.", "")
    mined = {k: v for k, v in exemplars.manifest["settings"].items() if k not in ("layers", "neurons")}
    return {"model": exemplars.manifest["settings"]["model"], "exemplars": str(exemplars.dir.resolve()),
            "exemplar_settings": mined, "exemplar_tokens": exemplars.manifest["tokens"], "config": settings,
            "prepend_bos": model.prepend_bos}


def fit_graphs(model: LoadedModel, exemplars: ExemplarSet, out: str | Path, layers: Sequence[int],
               neurons: Sequence[int] | Mapping[int, Sequence[int]] | None, config: FitConfig,
               progress: bool = True) -> FitSummary:
    """`neurons`: the same for every layer, one list per layer, or None for every mined neuron."""
    directory = GraphDirectory(out)
    directory.open_for_fit(fit_settings(model, exemplars, config))
    wanted = {layer: _neurons(exemplars, layer, neurons[layer] if isinstance(neurons, Mapping) else neurons)
              for layer in layers}
    todo = {layer: [n for n in wanted[layer] if n not in directory.done(layer)] for layer in layers}
    summary = FitSummary()
    start = time.perf_counter()
    bar = tqdm(total=sum(map(len, wanted.values())), initial=sum(len(wanted[k]) - len(todo[k]) for k in layers),
               unit="neuron", disable=not progress, dynamic_ncols=True)
    truth = RandomWindowTruth.for_layers(model, exemplars, todo, config.resolved_budget(model.device))
    summary.probe.append(truth.probe.stats)
    with bar:
        for layer in layers:
            if not todo[layer]:
                continue
            fitter = LayerFitter(model, exemplars, layer, todo[layer], config, random_truth=truth.layer_truth(layer))
            for group in fitter.groups():
                bar.set_description(f"layer {layer}")
                graphs = fitter.fit(group)
                directory.append(layer, graphs)
                summary.fitted_now += len(graphs)
                bar.update(len(graphs))
            summary.probe.append(fitter.context.probe.stats)
            del fitter  # its layer's random-window values, before the next layer's are measured
    summary.seconds = time.perf_counter() - start
    for layer in layers:
        requested = set(wanted[layer])
        summary.add([g for g in directory.graphs(layer) if g.neuron in requested])
    return summary


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
