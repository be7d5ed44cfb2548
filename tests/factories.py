"""Hand-built neuron graphs, graph directories and stores, so tests know exactly what went in: the planted store
gives every search one exact, known answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep
from n2g.graphs.scoring import FiringScore, GraphScores, PredictorScores

MODEL = "test-model"
SETTINGS = {"model": MODEL, "exemplars": "/nonexistent/exemplars", "exemplar_settings": {"corpus": "test"},
            "exemplar_tokens": 0,
            "config": {"token_matching": "exact"}, "prepend_bos": False}


def step(key: str | None, importance: float = 0.9) -> PatternStep:
    return PatternStep(GAP) if key is None else PatternStep(TOKEN, key, key, importance)


def make_graph(layer: int, neuron: int, patterns: Sequence[tuple[str, Sequence[str | None]]],
               model: str = MODEL, f1: float | None = 0.75) -> NeuronGraph:
    """A fitted graph: each pattern is (activating token, context nearest first; None is a gap)."""
    graph = NeuronGraph(model=model, layer=layer, neuron=neuron, a_max=2.5, token_matching="exact")
    for i, (key, context) in enumerate(patterns):
        graph.insert(key, key, 1.0 - 0.1 * i, 1.0, [step(c) for c in context])
    graph.scores = uniform_scores(f1)
    return graph


def uniform_scores(f1: float | None = 0.75) -> GraphScores:
    """The same score (held-out F1 `f1`) for every predictor on every text set."""
    score = FiringScore(tokens=100, tp=7, fp=2, fn=3, precision=0.8, recall=0.7, f1=f1, pearson=0.6)
    both = PredictorScores(test=score, random=score)
    return GraphScores(n2g=both, token_lookup=both, ngram5=both)


def dead_graph(layer: int, neuron: int, model: str = MODEL) -> NeuronGraph:
    return NeuronGraph(model=model, layer=layer, neuron=neuron, a_max=0.0, token_matching="exact", status="dead",
                       reason="never fired in the corpus")


def sample_graphs() -> list[NeuronGraph]:
    """Planted: an `import` neuron, an in-context neuron, an exact cross-layer duplicate, a dead neuron,
    and tokens that need care (quotes, backslash, newline, a Cypher keyword)."""
    return [
        make_graph(0, 0, [(" import", ["\n"]), (" from", ["\n", None, " import"])]),
        make_graph(0, 1, [(" x", [" =", " x"]), (" y", [" x"])]),
        make_graph(0, 2, [("'", ['"', "\\"]), ("\n", ["MATCH"])]),
        make_graph(1, 0, [(" import", ["\n"]), (" from", ["\n", None, " import"])]),
        dead_graph(1, 1),
    ]


def write_graph_directory(path: Path, graphs: Sequence[NeuronGraph], settings: dict | None = None) -> GraphDirectory:
    directory = GraphDirectory(path)
    directory.open_for_fit(settings or SETTINGS)
    for layer in sorted({g.layer for g in graphs}):
        directory.append(layer, [g for g in graphs if g.layer == layer])
    return directory


T = [f" t{i}" for i in range(11)]
C = [f" c{i}" for i in range(10)]


def planted_graphs() -> list:
    near_a = make_graph(1, 4, [(t, C) for t in T[:10]])
    near_b = make_graph(3, 4, [(t, C) for t in T[:9] + [T[10]]])  # 9 of 10 activating tokens shared
    return [
        make_graph(0, 0, [(" import", [" from"])]),  # the import neuron
        make_graph(0, 1, [(" x", [" =", " x"]), (" y", [" ="])]),  # in-context: " x" repeats
        make_graph(0, 2, [(" def", ["\n"]), (" class", ["\n"])]),  # exact duplicate of 2:2
        make_graph(2, 2, [(" class", ["\n", None]), (" def", ["\n"])]),
        near_a, near_b,  # near duplicates
        make_graph(1, 5, [(" for", [":"]), (" while", [":"])]),  # a subset of 3:5
        make_graph(3, 5, [(" for", [":", " in"]), (" while", [":"]), (" if", []), (" elif", []), (" else", [])]),
        make_graph(2, 0, [("'", ['"', "\\"]), ("\n", ["MATCH", "}"])]),  # tokens that need care
        make_graph(3, 0, [("Import", [])], f1=0.2),  # title case: `import` finds it, `--exact ' import'` not
        dead_graph(2, 9),
    ]


def planted_store(root: Path) -> Path:
    """A LadybugDB store of `planted_graphs()` (model test-model) and one graph of another model."""
    from ingest.store import open_store
    from ingest.store_loader import GraphSource, load_graphs

    db = root / "n2g.lbdb"
    other = {**SETTINGS, "model": "other-model"}
    with open_store(str(db)) as store:
        load_graphs(store, GraphSource(write_graph_directory(root / "graphs", planted_graphs())), progress=False)
        other_graphs = [make_graph(0, 0, [(" import", [])], model="other-model")]
        load_graphs(store, GraphSource(write_graph_directory(root / "other", other_graphs, other)), progress=False)
    return db
