"""Hand-built neuron graphs, graph directories and stores, so tests know exactly what went in: the planted store
gives every search one exact, known answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from n2g.graphs.activation_sample import SAMPLE_TOKENS, decode, encode
from n2g.graphs.files import GraphDirectory
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep, RootEvidence
from n2g.graphs.scoring import FiringScore, GraphScores, PredictorScores

MODEL = "test-model"
SETTINGS = {"model": MODEL, "exemplars": "/nonexistent/exemplars", "exemplar_settings": {"corpus": "test"},
            "exemplar_tokens": 0,
            "config": {"token_matching": "exact"}, "prepend_bos": False}


def step(key: str | None, importance: float = 0.9) -> PatternStep:
    return PatternStep(GAP) if key is None else PatternStep(TOKEN, key, key, importance)


def make_graph(layer: int, neuron: int, patterns: Sequence[tuple[str, Sequence[str | None]]],
               model: str = MODEL, f1: float | None = 0.75, sign: int = 1) -> NeuronGraph:
    """A fitted graph: each pattern is (activating token, context nearest first; None is a gap)."""
    graph = NeuronGraph(model=model, layer=layer, neuron=neuron, a_max=2.5, token_matching="exact", sign=sign)
    for i, (key, context) in enumerate(patterns):
        graph.insert(key, key, 1.0 - 0.1 * i, 1.0, [step(c) for c in context])
    graph.scores = uniform_scores(f1)
    return graph


def activation_sample(seed: int, like: str | None = None, noise: float = 0.02) -> str:
    """A made-up activation sample (`n2g.graphs.activation_sample`): noise and a few firing spikes, or a noisy copy
    of `like` (which then correlates with it strongly)."""
    rng = np.random.default_rng(seed)
    if like is not None:
        return encode(decode(like) + rng.normal(0.0, noise, SAMPLE_TOKENS))
    values = rng.normal(0.0, noise, SAMPLE_TOKENS)
    values[rng.integers(0, SAMPLE_TOKENS, 12)] = rng.uniform(0.5, 1.0, 12)
    return encode(values)


def with_evidence(graph: NeuronGraph, **evidence: tuple[int, int, int, int]) -> NeuronGraph:
    """`graph` with evidence on the roots named (by key; keyword-unsafe keys through **{" import": ...})."""
    for root in graph.roots:
        if root.key in evidence:
            root.evidence = RootEvidence(*evidence[root.key])
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
    graphs = [
        with_evidence(make_graph(0, 0, [(" import", [" from"])]),  # the import neuron
                      **{" import": (40, 45, 5, 5)}),
        make_graph(0, 1, [(" x", [" =", " x"]), (" y", [" ="])]),  # in-context: " x" repeats
        make_graph(0, 2, [(" def", ["\n"]), (" class", ["\n"])]),  # exact duplicate of 2:2
        make_graph(2, 2, [(" class", ["\n", None]), (" def", ["\n"])]),
        near_a, near_b,  # near duplicates
        make_graph(1, 5, [(" for", [":"]), (" while", [":"])]),  # a subset of 3:5
        make_graph(3, 5, [(" for", [":", " in"]), (" while", [":"]), (" if", []), (" elif", []), (" else", [])]),
        make_graph(2, 0, [("'", ['"', "\\"]), ("\n", ["MATCH", "}"])]),  # tokens that need care
        with_evidence(make_graph(3, 0, [("Import", [])], f1=0.2),  # title case: `import` finds it,
                      Import=(1, 1, 0, 0)),  # `--exact ' import'` not; 1 of 1: ranks below 45 of 50
        dead_graph(2, 9),
        # the negative direction of 3:0 (goes most negative on ` import` after `from`): only --sign any|negative
        with_evidence(make_graph(3, 0, [(" import", [" from"])], f1=0.6, sign=-1), **{" import": (2, 4, 0, 0)}),
    ]
    # Activation samples: the duplicate, near-duplicate and subset pairs co-activate; the rest are unrelated
    by_name = {g.name: g for g in graphs if g.status == "fitted"}
    for seed, name in enumerate(sorted(by_name)):
        by_name[name].activation_sample = activation_sample(seed)
    for copy, original in (("2:2", "0:2"), ("3:4", "1:4"), ("3:5", "1:5")):
        by_name[copy].activation_sample = activation_sample(100 + len(copy), like=by_name[original].activation_sample)
    return graphs


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


# A text, as token texts, and neurons planted to fire at known positions of it (`text_graphs`): `TEXT_HITS` is the
# whole answer of a text search, (position, neuron, predicted, the pattern that matched in reading order).
TEXT = ["from", " os", " import", " path", "\n", "import", " sys", "\n", "x", " =", " path", ".", "join"]
TEXT_MODEL = "text-model"
TEXT_HITS = [
    (2, "0:1", 1.0, [" os", " import"]),  # " import" after " os"
    (2, "1:2", 0.9, [" import"]),  # " import" anywhere (its second pattern: 0.9)
    (3, "2:3", 1.0, ["from", None, " import", " path"]),  # " path" after " import", a gap, and "from"
    (4, "0:4", 1.0, ["\n"]),  # every newline
    (5, "1:5", 1.0, ["\n", "import"]),  # "import" at a line start (not " import")
    (7, "0:4", 1.0, ["\n"]),
    (10, "2:6", 1.0, [" =", " path"]),  # " path" after " =", not after " import"
    (12, "3:7", 1.0, [" path", ".", "join"]),  # the longer pattern is the stronger one (1.0 against 0.9)
]


def text_graphs(model: str = TEXT_MODEL) -> list[NeuronGraph]:
    """Neurons whose firing positions in `TEXT` are known exactly (`TEXT_HITS`), and some that fire nowhere in it."""
    return [
        make_graph(0, 1, [(" import", [" os"])], model=model),
        make_graph(1, 2, [(" x", []), (" import", [])], model=model),
        make_graph(2, 3, [(" path", [" import", None, "from"])], model=model),
        make_graph(0, 4, [("\n", [])], model=model),
        make_graph(1, 5, [("import", ["\n"])], model=model),
        make_graph(2, 6, [(" path", [" ="])], model=model),
        make_graph(3, 7, [("join", [".", " path"]), ("join", ["."])], model=model),
        make_graph(0, 8, [(" import", [" sys"])], model=model),  # " sys" comes after " import", never before
        make_graph(1, 9, [(" Import", [])], model=model),  # another form: an exact graph never fires on " import"
        make_graph(2, 10, [(" path", [" path", None, "from"])], model=model),  # needs an earlier " path"
        dead_graph(3, 11, model=model),
    ]


def store_of(root: Path, graphs: Sequence[NeuronGraph], settings: dict | None = None, name: str = "n2g.lbdb") -> Path:
    """A LadybugDB store of these graphs (one model: `settings`' model, by default `SETTINGS`')."""
    from ingest.store import open_store
    from ingest.store_loader import GraphSource, load_graphs

    db = root / name
    with open_store(str(db)) as store:
        load_graphs(store, GraphSource(write_graph_directory(root / f"{name}.graphs", graphs, settings)),
                    progress=False)
    return db


def text_store(root: Path) -> Path:
    return store_of(root, text_graphs(), {**SETTINGS, "model": TEXT_MODEL})


TINY_TEXT = "import os\nfrom os import path\n\ndef join(a, b):\n    return path.join(a, b)\n"


def tiny_text_store(root: Path, model_dir: Path) -> tuple[Path, list[NeuronGraph], list[str], list[int]]:
    """A store of graphs of the tiny test model (tests/conftest.py), planted on tokens of `TINY_TEXT` as its tokenizer
    splits it: (store, graphs, token texts, token ids). a_max is small, as the tiny model's activations are."""
    from n2g.model.loading import load_tokenizer
    from n2g.model.token_keys import Vocabulary

    spec = str(model_dir)
    vocab = Vocabulary(load_tokenizer(spec), "exact")
    ids = [int(i) for i in vocab.tokenizer(TINY_TEXT, add_special_tokens=False)["input_ids"]]
    texts = vocab.texts(ids)
    graphs = [
        make_graph(0, 3, [(texts[3], [texts[2]]), (texts[1], [])], model=spec),
        make_graph(1, 5, [(texts[-2], [None, texts[0]])], model=spec),
        make_graph(2, 7, [(texts[5], []), (texts[9], [texts[8], texts[7]])], model=spec),
        make_graph(2, 8, [("never-a-token", [])], model=spec),
    ]
    for graph in graphs:
        graph.a_max = 0.05
    return store_of(root, graphs, {**SETTINGS, "model": spec}), graphs, texts, ids
