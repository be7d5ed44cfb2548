"""Hand-built neuron graphs and graph directories, so store tests know exactly what went in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from n2g.graph_files import GraphDirectory
from n2g.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep

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
    score = {"f1": f1, "precision": 0.8, "recall": 0.7, "pearson": 0.6, "tp": 7, "fp": 2, "fn": 3, "tokens": 100}
    graph.scores = {"n2g": {"test": score, "random": score}, "token_lookup": {"test": score, "random": score},
                    "ngram5": {"test": score, "random": score}}
    return graph


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
