"""Graph directories (what `n2g fit` writes) into a store, a batch of neurons per transaction.

Neurons already stored are skipped, so re-running a load, or resuming one after a kill, stores each neuron once.
A store holds one set of settings per model (how its exemplars were mined and its graphs fitted): graphs made
otherwise are refused rather than mixed in silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ingest import schema
from ingest.graph_rows import RowBuilder
from ingest.graph_store import GraphStore
from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet, NeuronExemplars
from n2g.files import check_same_settings
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import NeuronGraph

EXAMPLE_TOKENS = 12
T = TypeVar("T")


@dataclass
class LoadResult:
    stored_now: int = 0
    skipped: int = 0
    elements: int = 0


def model_settings(directory: GraphDirectory) -> dict[str, Any]:
    """What must agree between all graphs of one model in a store (the neurons and layers may differ)."""
    manifest = directory.manifest()
    mined = manifest.get("exemplar_settings")
    if mined is None:
        raise N2GError(f"{directory.dir} was fitted by an older n2g (no exemplar settings recorded): fit it again")
    # which directions were mined changes no graph (each sign's top-k is its own): a store of positive graphs takes
    # the negative ones of a later `--signs both` run
    mined = {k: v for k, v in mined.items() if k != "signs"}
    return {"model": manifest["model"], "prepend_bos": manifest["prepend_bos"], "fit": manifest["config"],
            "exemplars": mined}


def exemplar_directory(directory: GraphDirectory) -> Path | None:
    """Where the graphs' exemplars are: as recorded, or beside the graphs in a work directory that moved."""
    for candidate in (Path(directory.manifest()["exemplars"]), directory.dir.parent / "exemplars"):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def check_model_settings(store: GraphStore, model: str, settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True)
    found = store.model_settings(model)
    if found is not None and found != text:
        check_same_settings(json.loads(found), settings, where=f"{store.location} already", what=f"{model} graphs",
                            remedy="load into another --db, or make them with the same settings")
    return text


class TopExamples:
    """The short text before each neuron's strongest activation, for search results; decoded on demand."""

    def __init__(self, exemplars: ExemplarSet | None, tokenizer: Any | None) -> None:
        self.exemplars, self.tokenizer = exemplars, tokenizer

    def text(self, layer: int, neuron: int, sign: int = 1) -> str | None:
        if self.exemplars is None or self.tokenizer is None:
            return None
        try:
            found = self.exemplars.neuron(layer, neuron, sign)
        except N2GError:
            return None
        return top_example(found, self.tokenizer)


def top_example(exemplars: NeuronExemplars, tokenizer: Any) -> str | None:
    if not exemplars.tokens:
        return None
    peak = exemplars.peak_pos[0]
    tokens = exemplars.tokens[0][max(0, peak - EXAMPLE_TOKENS + 1): peak + 1]
    return tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class GraphSource:
    """One graph directory (or the given neurons of each of its layers), with the exemplars it was fitted from."""

    directory: GraphDirectory
    neurons: dict[int, list[int]] | None = None
    examples: TopExamples | None = None

    @property
    def layers(self) -> list[int]:
        return sorted(self.neurons) if self.neurons is not None else self.directory.layers()

    def settings(self) -> dict[str, Any]:
        return model_settings(self.directory)

    def total(self) -> int:
        """Graphs to store: of each selected neuron, one per sign the directory holds."""
        return sum(len(self.directory.neurons(layer, sign) & set(self.neurons[layer]) if self.neurons is not None
                       else self.directory.neurons(layer, sign)) for layer in self.layers for sign in (1, -1))

    def graphs(self) -> Iterator[NeuronGraph]:
        for layer in self.layers:
            keep = None if self.neurons is None else set(self.neurons[layer])
            for graph in self.directory.graphs(layer):
                if keep is None or graph.neuron in keep:
                    yield graph

    def example(self, graph: NeuronGraph) -> str | None:
        return self.examples.text(graph.layer, graph.neuron, graph.sign) if self.examples else None


def load_graphs(store: GraphStore, source: GraphSource, batch_size: int | None = None, progress: bool = True,
                label: str = "load") -> LoadResult:
    """Store the source's graphs (all of one model), `batch_size` neurons per transaction (default: the
    engine's)."""
    batch_size = batch_size or store.default_batch
    store.ensure_schema()
    settings = source.settings()
    settings_text = check_model_settings(store, settings["model"], settings)
    result = LoadResult()
    bar = tqdm(total=source.total(), unit="neuron", desc=label, disable=not progress, dynamic_ncols=True)
    with bar, store.bulk_load():
        for batch in batches(source.graphs(), batch_size):
            _store_batch(store, source, batch, settings["model"], settings_text, result)
            bar.update(len(batch))
    return result


def _store_batch(store: GraphStore, source: GraphSource, batch: Sequence[NeuronGraph], model: str,
                 settings_text: str, result: LoadResult) -> None:
    for graph in batch:
        if graph.model != model:
            raise N2GError(f"graph {graph.name} is of model {graph.model!r}, not {model!r}: one load, one model")
    ids = [schema.neuron_id(g.model, g.layer, g.neuron, g.sign) for g in batch]
    stored = store.stored_neurons(ids)
    result.skipped += len(stored)
    if len(stored) == len(batch):
        return
    builder = RowBuilder(first_node_id=store.next_graph_node_id())
    builder.add_model(model, settings_text)
    for graph, nid in zip(batch, ids):
        if nid not in stored:
            builder.add(graph, source.example(graph))
    result.elements += store.write(builder.tables())
    result.stored_now += len(batch) - len(stored)


def find_graph_directories(work_dir: Path) -> list[Path]:
    """WORK/graphs and every WORK/shard-*/graphs (what `n2g ingest` writes, sharded or not)."""
    found = [p.parent for p in sorted(work_dir.glob("graphs/manifest.json"))]
    found += [p.parent for p in sorted(work_dir.glob("shard-*/graphs/manifest.json"))]
    if not found:
        raise N2GError(f"no graphs under {work_dir} (looked for graphs/ and shard-*/graphs/): "
                       "run `n2g ingest --work-dir` there first")
    return found


def graph_sources(directories: Sequence[Path], with_examples: bool = True) -> list[GraphSource]:
    """A source per graph directory, with the top examples of the exemplars it was fitted from."""
    from n2g.model.loading import load_tokenizer

    sources, tokenizers = [], {}
    for path in directories:
        directory = GraphDirectory(path)
        manifest = directory.manifest()
        examples = None
        exemplars = exemplar_directory(directory)
        if with_examples and exemplars is not None:
            model = manifest["model"]
            if model not in tokenizers:
                tokenizers[model] = load_tokenizer(model)
            examples = TopExamples(ExemplarSet(exemplars), tokenizers[model])
        sources.append(GraphSource(directory, examples=examples))
    return sources
