"""A store with planted neurons, so every search has one exact, known answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.store import open_store
from ingest.store_loader import GraphSource, load_graphs
from tests.ingest.graph_factory import SETTINGS, dead_graph, make_graph, write_graph_directory

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


@pytest.fixture(scope="session")
def planted_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    db = root / "n2g.lbdb"
    other = {**SETTINGS, "model": "other-model"}
    with open_store(str(db)) as store:
        load_graphs(store, GraphSource(write_graph_directory(root / "graphs", planted_graphs())), progress=False)
        other_graphs = [make_graph(0, 0, [(" import", [])], model="other-model")]
        load_graphs(store, GraphSource(write_graph_directory(root / "other", other_graphs, other)), progress=False)
    return db
