"""Benchmark loading neuron graphs into the graph store: elements (nodes + relationships) stored per second.

A synthetic model is made first (not timed): `--neurons` graphs over `--layers` layers, about 30 trie nodes each,
built with `NeuronGraph.insert` from patterns that look like real ones: a vocabulary of 20,000 distinct token
strings drawn with a Zipf-like frequency (leading-space words, bare and capitalised words, sub-word pieces,
punctuation, whitespace and newlines, numbers, a few non-ASCII pieces), so tokens are shared between neurons as
LM tokens are; 1-4 activating tokens (roots) per neuron; context up to 5 steps deep with `gap` nodes (never two
in a row, never last, as `n2g.fit.building.context_steps` makes them); a few induction-like neurons whose activating
token is also in context; random counts, activations and importances; ~5% dead and ~1% failed neurons; scores
and stats shaped like `n2g.fit.fitter`'s; a top example per neuron; and exact duplicates planted across layers (~2%),
which must share a signature and band keys. Everything is drawn from `--seed`, so a run is deterministic. Each
graph keeps its JSON text as reading it from a graph file leaves it (`NeuronGraph.source_json`), so the load
stores the JSON as read, as `n2g load` does, instead of serialising it again.

Timed (`load_seconds`): the real loader, `ingest.store_loader.load_graphs`, given an in-memory stand-in for a
`GraphSource` (graphs, settings, top examples): the schema, the model-settings check, then per `--batch-neurons`
neurons its batch function: stored-neuron check, `RowBuilder` rows (Arrow tables), less the shared keys the store
has, in one `store.write` transaction of COPY FROM those tables; automatic checkpoints are off during the load
and the loader's one CHECKPOINT at its end (the write-ahead log into the database file) is timed too. Reading and
parsing graph files is not (the graphs are already objects), and the generated graphs are moved out of the
garbage collector's sight (`gc.freeze`) first: the real loader holds one batch of graphs, not all of them. The
store's methods are wrapped with timers: `write_seconds` (inside `store.write`, which pulls the batch's tables from
`RowBuilder.tables` as they are built and COPYs each on a second thread while the next is built),
`build_rows_seconds` (Python: graphs into Arrow tables, the time spent pulling them), `lookup_seconds` (stored-
neuron, next graph-node id and existing-key queries), `arrow_seconds` (the graph JSON packed, on a packing thread
while the tries are walked), `copy_seconds` (the COPYs, on the copier thread, plus the COMMIT), `commit_seconds`
(the COMMIT alone) and `checkpoint_seconds` (a checkpoint inside a write, once 20 M elements are logged, counts in
`write_seconds` too). Building and COPY overlap, so the parts add up to more than `load_seconds` where the machine
has a core to spare.

`elements` is counted from the store afterwards (`store.counts()`), `db_bytes` is the size of the database file(s)
after closing. The store goes into a temporary directory that is deleted at the end, unless `--db PATH` / `--keep`.

Usage: python benchmarks/store.py [--neurons 50000] [--layers 12] [--nodes 30] [--batch-neurons 50000]
       [--seed 0] [--db PATH] [--keep] [--profile]
Prints exactly one JSON object on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import functools
import gc
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from ingest import graph_rows, schema
from ingest.store import GraphStore, open_store
from ingest.store_loader import LoadResult, load_graphs
from n2g.cli.main import run_guarded
from n2g.errors import N2GError
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep

PROG = "benchmarks/store.py"
MODEL = "synthetic-lm"
VOCAB_SIZE = 20_000
ZIPF_S = 1.05  # token frequency ~ 1 / (rank + 3) ** s: a few tokens everywhere, a long tail
DEAD_RATE, FAILED_RATE, DUPLICATE_RATE, INDUCTION_RATE = 0.05, 0.01, 0.02, 0.08
DEFAULT_BATCH = 50_000  # neurons per transaction: the fastest of 2k / 10k / 25k / 50k (benchmarks/RESULTS.md)
SIGNATURES = "MATCH (n:Neuron) WHERE n.signature IS NOT NULL RETURN n.id AS id, n.signature AS signature"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=50_000, help="neurons in all, spread over the layers")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--nodes", type=int, default=30, help="mean trie nodes per live neuron")
    parser.add_argument("--batch-neurons", type=int, default=DEFAULT_BATCH, help="neurons per transaction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None, help="database file (default: one in a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the database file afterwards")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the load; the top functions go to stderr (slows the load down)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: _run(args), prog=PROG)


# -- the synthetic model (not timed) -------------------------------------------------------------------------
WHITESPACE = ("\n", "\n\n", " ", "  ", "    ", "        ", "\t", "\n    ", "\n        ", "\n\n\n", "\r\n", " \n")
PUNCTUATION = (".", ",", ":", ";", "(", ")", "[", "]", "{", "}", '"', "'", "=", "==", "!=", "->", "_", "-", "+", "*",
               "/", "#", "@", "!", "?", "%", "<", ">", "&", "|", "\\", '"""', "):", "()", "),", "])", "('", "')",
               "._", "__", "...", "'s", "’s", "—", "–", "…", "“", "”", ".\n", ",\n", ":\n", "):\n", ".\n\n", " (",
               " =", " ==", " +", " -", " *", " #", ' "', " '", " [", " {", " <", " >", " >=", " <=", " +=", " ->")
COMMON = ("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "at", "by",
          "this", "have", "from", "or", "an", "they", "which", "one", "you", "had", "not", "but", "what", "all",
          "were", "when", "we", "there", "can", "are", "their", "has", "been", "if", "more", "will", "would", "who",
          "so", "no", "he", "she", "his", "her", "its", "do", "some", "time", "into", "than", "first", "also",
          "new", "may", "only", "over", "after", "most", "other", "years", "people", "such", "like", "between",
          "def", "return", "import", "self", "class", "else", "elif", "None", "True", "False", "print", "len",
          "range", "str", "int", "list", "dict", "value", "name", "data", "path", "file", "args", "kwargs", "error",
          "raise", "try", "except", "while", "yield", "lambda", "assert", "pass", "break", "continue", "global",
          "with", "open", "read", "write", "line", "text", "result", "index", "key", "items", "get", "set", "type",
          "object", "string", "number", "function", "module", "test", "model", "token", "layer", "neuron", "graph",
          "state", "city", "world", "house", "water", "school", "country", "family", "game", "party", "music")
SUFFIXES = ("s", "ed", "ing", "er", "ly", "tion", "ment", "ness", "al", "ic", "ous", "ive", "able", "ize", "ist")
ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cl",
          "cr", "dr", "fl", "gr", "pl", "pr", "sh", "sl", "sp", "st", "str", "th", "tr", "qu", "")
NUCLEI = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou", "y", "oo", "ie")
CODAS = ("", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ck", "ng", "rk", "x", "ph")
UNICODE = ("é", "è", "ü", "ö", "ñ", "ç", "ß", "ø", "中", "文", "の", "は", "ж", "и", "π", "λ", "€", "°", "→", "✓")


def make_vocabulary(rng: random.Random, size: int = VOCAB_SIZE) -> list[str]:
    """`size` distinct token strings, most frequent first."""
    seen: dict[str, None] = {}

    def add(token: str) -> None:
        if token and len(seen) < size:
            seen.setdefault(token)

    for token in (*WHITESPACE[:4], *PUNCTUATION[:24]):
        add(token)
    for word in COMMON:  # the frequent forms first: ' the', 'the', ' The', 'The'
        add(" " + word)
    for word in COMMON:
        add(word)
    for token in (*WHITESPACE[4:], *PUNCTUATION[24:]):
        add(token)
    for word in COMMON:
        add(" " + word.capitalize())
        add(word.capitalize())
    for n in range(100):
        add(f" {n}")
        add(str(n))
    for suffix in SUFFIXES:
        add(suffix)
    for char in UNICODE:
        add(char)
        add(" " + char)
    while len(seen) < size:  # the long tail: made-up words and word pieces in their usual forms
        syllables = rng.choice((1, 1, 2, 2, 3))
        word = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS) for _ in range(syllables))
        if rng.random() < 0.15:
            word += rng.choice(SUFFIXES)
        form = rng.random()
        if form < 0.55:
            add(" " + word)
        elif form < 0.80:
            add(word)
        elif form < 0.92:
            add(" " + word.capitalize())
        elif form < 0.96:
            add(word.capitalize())
        elif form < 0.98:
            add(" " + word.upper())
        else:
            add(word + rng.choice(UNICODE))
    tokens = list(seen)
    # a little rank noise inside the tail, so made-up tokens are not ordered by when they were made
    head, tail = tokens[:1000], tokens[1000:]
    rng.shuffle(tail)
    return head + tail


@dataclass
class Vocab:
    tokens: list[str]
    cum_weights: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.cum_weights = list(accumulate(1.0 / (rank + 3) ** ZIPF_S for rank in range(len(self.tokens))))

    def draw(self, rng: random.Random, k: int = 1) -> list[str]:
        total = self.cum_weights[-1]
        return [self.tokens[bisect.bisect(self.cum_weights, rng.random() * total)] for _ in range(k)]

    def distinct(self, rng: random.Random, k: int) -> list[str]:
        out: dict[str, None] = {}
        while len(out) < k:
            out.setdefault(self.draw(rng)[0])
        return list(out)


@dataclass
class SyntheticModel:
    graphs: list[NeuronGraph]
    examples: list[str | None]
    duplicates: list[tuple[str, str]]  # (planted copy, its original), neuron ids, always in different layers
    settings: dict[str, Any]

    def source(self) -> MemorySource:
        return MemorySource(self)


class MemorySource:
    """What `load_graphs` needs of an `ingest.store_loader.GraphSource`, over graphs in memory."""

    def __init__(self, model: SyntheticModel) -> None:
        self.model = model
        self._examples = {(g.layer, g.neuron): e for g, e in zip(model.graphs, model.examples)}

    def settings(self) -> dict[str, Any]:
        return self.model.settings

    def total(self) -> int:
        return len(self.model.graphs)

    def graphs(self) -> Iterator[NeuronGraph]:
        return iter(self.model.graphs)

    def example(self, graph: NeuronGraph) -> str | None:
        return self._examples.get((graph.layer, graph.neuron))


def _split_scores(rng: random.Random, quality: float, tokens: int) -> dict[str, Any]:
    positives = max(1, int(tokens * rng.uniform(0.01, 0.2)))
    tp = int(positives * min(1.0, max(0.0, rng.gauss(quality, 0.15))))
    fn = positives - tp
    fp = int(tp * rng.uniform(0.0, 0.6))
    return {"tokens": tokens, "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "pearson": rng.uniform(-0.1, 0.95) if rng.random() > 0.02 else None}


def _scores(rng: random.Random) -> dict[str, Any]:
    test_tokens, random_tokens = rng.randint(200, 1200), 256 * 64
    scores: dict[str, Any] = {}
    for name, quality in (("n2g", rng.uniform(0.1, 0.9)), ("token_lookup", rng.uniform(0.1, 0.9)),
                          ("ngram5", rng.uniform(0.0, 0.3))):
        scores[name] = {"test": _split_scores(rng, quality, test_tokens),
                        "random": _split_scores(rng, quality * 0.7, random_tokens)}
    scores["test"], scores["random"] = scores["n2g"]["test"], scores["n2g"]["random"]  # as n2g.fit.fitter does
    return scores


def _stats(rng: random.Random) -> dict[str, Any]:
    train = rng.randint(8, 16)
    return {"train_windows": train, "test_windows": 20 - train, "split": rng.choice(("document", "window")),
            "prompts": train * rng.randint(1, 8), "unpruned": rng.randint(0, 3),
            "mean_prompt_tokens": rng.uniform(4, 40), "augmented": rng.randint(0, 60),
            "pivot_at_first_position": rng.randint(0, 2), "mask_token": "<|endoftext|>",
            "fire_rate": rng.uniform(1e-5, 0.05)}


def _context(rng: random.Random, vocab: Vocab, pool: list[str]) -> list[tuple[str, str | None]]:
    """A pattern's context, nearest first: (kind, token) steps, gaps never two in a row nor last."""
    depth = rng.choices((0, 1, 2, 3, 4, 5), weights=(8, 30, 26, 16, 11, 9))[0]
    steps: list[tuple[str, str | None]] = []
    while len(steps) < depth:
        if steps and steps[-1][0] != GAP and len(steps) < depth - 1 and rng.random() < 0.18:
            steps.append((GAP, None))
        else:
            steps.append((TOKEN, rng.choice(pool) if rng.random() < 0.8 else vocab.draw(rng)[0]))
    return steps


def make_graph(rng: random.Random, vocab: Vocab, layer: int, neuron: int, mean_nodes: int) -> NeuronGraph:
    graph = NeuronGraph(model=MODEL, layer=layer, neuron=neuron, a_max=round(rng.lognormvariate(0.5, 0.6), 4),
                        token_matching="exact")
    roll = rng.random()
    if roll < DEAD_RATE:
        graph.a_max, graph.status, graph.reason = 0.0, "dead", "never fired in the corpus"
        return graph
    graph.stats = _stats(rng)
    if roll < DEAD_RATE + FAILED_RATE:
        graph.status, graph.reason = "failed", f"no training window reaches {graph.activation_threshold} x a_max"
        graph.scores = _scores(rng)
        return graph
    roots = vocab.distinct(rng, rng.choices((1, 2, 3, 4), weights=(40, 30, 18, 12))[0])
    pool = vocab.distinct(rng, rng.randint(4, 14))  # the few context tokens this neuron cares about
    if rng.random() < INDUCTION_RATE:
        pool += roots
    target = min(4 * mean_nodes, max(len(roots), round(rng.gauss(mean_nodes, mean_nodes / 3))))
    paths: set[tuple[Any, ...]] = set()
    tries = 0
    while len(paths) < target and tries < 40 * mean_nodes:
        tries += 1
        root = roots[min(int(rng.expovariate(1.2)), len(roots) - 1)]  # the first roots carry most patterns
        steps = _context(rng, vocab, pool)
        path: tuple[Any, ...] = (root,)
        paths.add(path)
        for step in steps:
            path += (step,)
            paths.add(path)
        for _ in range(1 + int(rng.expovariate(0.7))):  # seen a few times, at various strengths
            activation = rng.uniform(graph.activation_threshold, 1.0)
            context = [PatternStep(GAP) if kind == GAP else PatternStep(TOKEN, token, token, rng.uniform(0.75, 1.0))
                       for kind, token in steps]
            graph.insert(root, root, activation, rng.uniform(0.0, 1.0), context)
    graph.scores = _scores(rng)
    return graph


def _copy(graph: NeuronGraph, layer: int, neuron: int, rng: random.Random) -> NeuronGraph:
    """An exact duplicate of `graph`'s trie as another neuron, with its own a_max and scores."""
    roots = copy.deepcopy(graph.roots)
    return NeuronGraph(model=graph.model, layer=layer, neuron=neuron, a_max=round(rng.lognormvariate(0.5, 0.6), 4),
                       token_matching=graph.token_matching, roots=roots, scores=_scores(rng), stats=_stats(rng))


def make_model(neurons: int, layers: int, seed: int, mean_nodes: int = 30) -> SyntheticModel:
    rng = random.Random(seed)
    vocab = Vocab(make_vocabulary(rng))
    per_layer = [neurons // layers + (i < neurons % layers) for i in range(layers)]
    graphs: list[NeuronGraph] = []
    examples: list[str | None] = []
    duplicates: list[tuple[str, str]] = []
    live: list[NeuronGraph] = []
    for layer, count in enumerate(per_layer):
        earlier = len(live)  # live graphs of the layers before this one
        for neuron in range(count):
            if earlier and rng.random() < DUPLICATE_RATE:
                original = live[rng.randrange(earlier)]
                graph = _copy(original, layer, neuron, rng)
                duplicates.append((_nid(graph), _nid(original)))
            else:
                graph = make_graph(rng, vocab, layer, neuron, mean_nodes)
            graphs.append(graph)
            if graph.roots:
                live.append(graph)
                examples.append("".join(vocab.draw(rng, 11)) + graph.roots[0].token)
            else:
                examples.append(None)
    settings = {"model": MODEL, "prepend_bos": True,
                "fit": {"activation_threshold": 0.5, "importance_threshold": 0.75, "token_matching": "exact",
                        "augment": {"method": "lm"}, "token_budget": 4096, "pivots_per_window": 8},
                "exemplars": {"corpus": "synthetic", "max_tokens": 10_000_000, "top_k": 20, "context": 64}}
    for graph in graphs:
        graph.source_json = graph.to_json()  # what reading the graph from its file keeps
    return SyntheticModel(graphs, examples, duplicates, settings)


def _nid(graph: NeuronGraph) -> str:
    return schema.neuron_id(graph.model, graph.layer, graph.neuron)


# -- the timed load ------------------------------------------------------------------------------------------
@dataclass
class Timers:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("write", "arrow", "lookup", "build", "copy", "commit", "checkpoint"), 0.0))

    def wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed

    def iterate(self, name: str, items: Iterable[Any]) -> Iterator[Any]:
        """`items`, the time spent making each one counted under `name`."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds[name] += time.perf_counter() - start
            yield item


@contextlib.contextmanager
def instrumented(store: GraphStore, timers: Timers) -> Iterator[None]:
    """Time on this instance the store's lookups, its writes, and inside a write the rows' building (the tables
    the store pulls from `RowBuilder.tables`), the graph JSON's packing, the COPYs (on the copier thread) and the
    COMMIT."""
    store.stored_neurons = timers.wrap("lookup", store.stored_neurons)  # type: ignore[method-assign]
    store.next_graph_node_id = timers.wrap("lookup", store.next_graph_node_id)  # type: ignore[method-assign]
    store.existing_keys = timers.wrap("lookup", store.existing_keys)  # type: ignore[method-assign]
    write = store.write
    store.write = timers.wrap("write", lambda tables: write(timers.iterate("build", tables)))  # type: ignore
    for name, method in (("copy", "copy_table"), ("commit", "commit"), ("checkpoint", "checkpoint")):
        if hasattr(store, method):
            setattr(store, method, timers.wrap(name, getattr(store, method)))
    pack = graph_rows.pack_column
    graph_rows.pack_column = timers.wrap("arrow", pack)
    try:
        yield
    finally:
        graph_rows.pack_column = pack


def load(store: GraphStore, model: SyntheticModel, batch_neurons: int) -> LoadResult:
    """`ingest.store_loader.load_graphs` over the graphs in memory (it ends with LadybugDB's checkpoint)."""
    return load_graphs(store, model.source(), batch_size=batch_neurons, progress=False)  # type: ignore[arg-type]


def db_files(path: Path) -> list[Path]:
    """The database file and what LadybugDB keeps beside it (write-ahead log, shadow pages)."""
    return [p for p in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".shadow"))
            if p.is_file()]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextlib.contextmanager
def _profiled(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)


def _run(args: argparse.Namespace) -> int:
    if args.neurons < 1 or args.layers < 1 or args.batch_neurons < 1:
        raise N2GError("--neurons, --layers and --batch-neurons must be at least 1")
    start = time.perf_counter()
    model = make_model(args.neurons, args.layers, args.seed, args.nodes)
    generate_seconds = time.perf_counter() - start
    print(f"generated {len(model.graphs)} graphs in {generate_seconds:.1f} s", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        if args.db is None:
            directory = Path(tempfile.mkdtemp(prefix="n2g-store-bench-"))
            if not args.keep:
                stack.callback(_remove_tree, directory)
            path = directory / "bench.lbdb"
        else:
            path = Path(args.db)
            if db_files(path):
                raise N2GError(f"{path} exists: the benchmark needs a new database file")
            if not args.keep:
                stack.callback(lambda: [p.unlink() for p in db_files(path)])
        result = _measure(args, model, path)
    result["generate_seconds"] = generate_seconds
    print(json.dumps(result))
    return 0


def _measure(args: argparse.Namespace, model: SyntheticModel, path: Path) -> dict[str, Any]:
    from ingest.ladybug_store import ladybug_version

    timers = Timers()
    gc.collect()
    gc.freeze()  # the generated graphs: a real load holds one batch of graphs, not all of them
    try:
        rss_before = _rss_mb()
        with open_store(str(path)) as store, instrumented(store, timers):
            with _profiled(args.profile):
                start = time.perf_counter()
                loaded = load(store, model, args.batch_neurons)
                load_seconds = time.perf_counter() - start
            counts = store.counts()
            stored = {row["id"]: row["signature"] for row in store.rows(SIGNATURES)}
            engine = store.engine
    finally:
        gc.unfreeze()
    elements = sum(counts.values())
    seconds = timers.seconds
    statuses: dict[str, int] = {}
    for graph in model.graphs:
        statuses[graph.status] = statuses.get(graph.status, 0) + 1
    live = [g for g in model.graphs if g.roots]
    return {
        "engine": engine, "ladybug_version": ladybug_version(), "neurons": len(model.graphs),
        "layers": args.layers, "seed": args.seed, "batch_neurons": args.batch_neurons,
        "elements": elements, "nodes": sum(counts[t.name] for t in schema.NODE_TABLES),
        "relationships": sum(counts[t.name] for t in schema.REL_TABLES),
        "load_seconds": load_seconds, "load_elements_per_s": elements / load_seconds,
        "build_rows_seconds": seconds["build"], "lookup_seconds": seconds["lookup"], "write_seconds": seconds["write"],
        "arrow_seconds": seconds["arrow"], "copy_seconds": seconds["copy"] + seconds["commit"],
        "commit_seconds": seconds["commit"], "checkpoint_seconds": seconds["checkpoint"],
        "db_bytes": sum(p.stat().st_size for p in db_files(path)),
        "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_before_load_mb": round(rss_before, 1),
        "loader_elements": loaded.elements, "counts": counts, "statuses": statuses,
        "mean_graph_nodes": sum(1 for g in live for _ in g.nodes()) / max(1, len(live)),
        "planted_duplicates": len(model.duplicates),
        "duplicates_sharing_signature": sum(stored.get(a) is not None and stored.get(a) == stored.get(b)
                                            for a, b in model.duplicates),
        "profiled": args.profile,
    }


def _remove_tree(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
