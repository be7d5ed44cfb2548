"""Synthetic neuron graphs that look like fitted ones, for the store benchmark (`benchmarks/store.py`) and tests:
a model of `neurons` graphs over `layers` layers, about `mean_nodes` trie nodes each, built with
`NeuronGraph.insert` from patterns that look like real ones.

Tokens come from a vocabulary of 20,000 distinct token strings drawn with a Zipf-like frequency (leading-space
words, bare and capitalised words, sub-word pieces, punctuation, whitespace and newlines, numbers, a few non-ASCII
pieces), so tokens are shared between neurons as LM tokens are; 1-4 activating tokens (roots) per neuron; context
up to 5 steps deep with `gap` nodes (never two in a row, never last, as `n2g.fit.building.context_steps` makes
them); a few induction-like neurons whose activating token is also in context; random counts, activations and
importances; ~5% dead and ~1% failed neurons; scores and stats shaped like `n2g.fit.fitter`'s; a top example per
neuron; and exact duplicates planted across layers (~2%), which must share a signature and band keys
(`SIGNATURES` reads them back from a store). Everything is drawn from `seed`, so a model is deterministic. Each
graph keeps its JSON text as reading it from a graph file leaves it (`NeuronGraph.source_json`).

What fitting measures besides the trie is made up too, from a second random stream (so the tries are the same as
before it existed): each root's evidence (hits of predictions on held-out and random text), each live neuron's
activation sample (`n2g.graphs.activation_sample`: noise plus a few firing spikes, a planted duplicate's a noisy
copy of its original's, so the two correlate strongly and unrelated neurons do not), and ~1% polysemantic neurons
planted with 2-3 parts that share no token (`SyntheticModel.polysemantic`). `SyntheticModel.text` draws text from
the same vocabulary, for text search.
"""

from __future__ import annotations

import bisect
import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np

from ingest import schema
from n2g.graphs.activation_sample import SAMPLE_TOKENS, decode, encode
from n2g.graphs.neuron_graph import GAP, TOKEN, GraphStats, NeuronGraph, PatternStep, RootEvidence
from n2g.graphs.scoring import FiringScore, GraphScores, PredictorScores
from n2g.model.token_keys import normalise_token

MODEL = "synthetic-lm"
VOCAB_SIZE = 20_000
ZIPF_S = 1.05  # token frequency ~ 1 / (rank + 3) ** s: a few tokens everywhere, a long tail
DEAD_RATE, FAILED_RATE, DUPLICATE_RATE, INDUCTION_RATE = 0.05, 0.01, 0.02, 0.08
POLYSEMANTIC_RATE = 0.01
SAMPLE_NOISE = 0.05  # activation samples: noise (fractions of a_max) around the few firing spikes
SIGNATURES = "MATCH (n:Neuron) WHERE n.signature IS NOT NULL RETURN n.id AS id, n.signature AS signature"

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
    vocab: Vocab | None = None
    polysemantic: list[tuple[str, int]] = field(default_factory=list)  # (neuron id, parts planted)

    def source(self) -> MemorySource:
        return MemorySource(self)

    def text(self, tokens: int, seed: int) -> list[str]:
        """`tokens` token texts drawn from the model's vocabulary with its token frequencies."""
        assert self.vocab is not None
        return self.vocab.draw(random.Random(seed), tokens)


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


def _split_scores(rng: random.Random, quality: float, tokens: int) -> FiringScore:
    positives = max(1, int(tokens * rng.uniform(0.01, 0.2)))
    tp = int(positives * min(1.0, max(0.0, rng.gauss(quality, 0.15))))
    fn = positives - tp
    fp = int(tp * rng.uniform(0.0, 0.6))
    return FiringScore(tokens=tokens, tp=tp, fp=fp, fn=fn,
                       precision=tp / (tp + fp) if tp + fp else None, recall=tp / (tp + fn) if tp + fn else None,
                       f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
                       pearson=rng.uniform(-0.1, 0.95) if rng.random() > 0.02 else None)


def _scores(rng: random.Random) -> GraphScores:
    """Scores shaped as `n2g.fit.fitter` writes them (the random draws in the order they have always been made)."""
    test_tokens, random_tokens = rng.randint(200, 1200), 256 * 64
    by_predictor: dict[str, PredictorScores] = {}
    for name, quality in (("n2g", rng.uniform(0.1, 0.9)), ("token_lookup", rng.uniform(0.1, 0.9)),
                          ("ngram5", rng.uniform(0.0, 0.3))):
        by_predictor[name] = PredictorScores(test=_split_scores(rng, quality, test_tokens),
                                             random=_split_scores(rng, quality * 0.7, random_tokens))
    return GraphScores(**by_predictor)


def _stats(rng: random.Random) -> GraphStats:
    train = rng.randint(8, 16)
    return GraphStats(train_windows=train, test_windows=20 - train, split=rng.choice(("document", "window")),
                      prompts=train * rng.randint(1, 8), unpruned=rng.randint(0, 3),
                      mean_prompt_tokens=rng.uniform(4, 40), augmented=rng.randint(0, 60),
                      pivot_at_first_position=rng.randint(0, 2), mask_token="<|endoftext|>",
                      fire_rate=rng.uniform(1e-5, 0.05))


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


def make_polysemantic_graph(rng: random.Random, vocab: Vocab, layer: int, neuron: int, parts: int) -> NeuronGraph:
    """A neuron whose graph falls into `parts` parts: each part 1-2 roots and a context pool of its own, no token
    shared between parts in any form."""
    graph = NeuronGraph(model=MODEL, layer=layer, neuron=neuron, a_max=round(rng.lognormvariate(0.5, 0.6), 4),
                        token_matching="exact", stats=_stats(rng))
    taken: set[str] = set()

    def fresh(k: int) -> list[str]:
        out: list[str] = []
        while len(out) < k:
            token = vocab.draw(rng)[0]
            if normalise_token(token) not in taken:  # parts share no token in any form
                taken.add(normalise_token(token))
                out.append(token)
        return out

    for _ in range(parts):
        roots, pool = fresh(rng.randint(1, 2)), fresh(rng.randint(3, 6))
        for _ in range(rng.randint(4, 10)):  # every pattern of a part needs its first pool token: one part
            context = [pool[0], *rng.sample(pool[1:], rng.randint(0, min(2, len(pool) - 1)))]
            steps = [PatternStep(TOKEN, token, token, rng.uniform(0.75, 1.0)) for token in context]
            root = rng.choice(roots)
            graph.insert(root, root, rng.uniform(0.5, 1.0), rng.uniform(0.0, 1.0), steps)
    graph.scores = _scores(rng)
    return graph


def add_measurements(graph: NeuronGraph, rng: np.random.Generator, original: NeuronGraph | None = None) -> None:
    """Evidence for each root and an activation sample for a live neuron, as fitting would record them; a planted
    duplicate's sample is a noisy copy of its `original`'s."""
    for root in graph.roots:
        predictions = int(rng.integers(0, 60))
        test = int(rng.integers(0, predictions + 1))
        quality = float(rng.uniform(0.2, 1.0))
        root.evidence = RootEvidence(int(rng.binomial(test, quality)), test,
                                     int(rng.binomial(predictions - test, quality)), predictions - test)
    if not graph.roots:
        return
    if original is not None and original.activation_sample is not None:
        values = decode(original.activation_sample) + rng.normal(0.0, SAMPLE_NOISE, SAMPLE_TOKENS)
    else:
        values = rng.normal(0.0, SAMPLE_NOISE, SAMPLE_TOKENS)
        spikes = rng.integers(0, SAMPLE_TOKENS, int(rng.integers(2, 20)))
        values[spikes] = rng.uniform(0.5, 1.0, len(spikes))
    graph.activation_sample = encode(values)


def _copy(graph: NeuronGraph, layer: int, neuron: int, rng: random.Random) -> NeuronGraph:
    """An exact duplicate of `graph`'s trie as another neuron, with its own a_max and scores."""
    roots = copy.deepcopy(graph.roots)
    return NeuronGraph(model=graph.model, layer=layer, neuron=neuron, a_max=round(rng.lognormvariate(0.5, 0.6), 4),
                       token_matching=graph.token_matching, roots=roots, scores=_scores(rng), stats=_stats(rng))


def make_model(neurons: int, layers: int, seed: int, mean_nodes: int = 30) -> SyntheticModel:
    """`neurons` graphs spread evenly over `layers` layers (the first layers take the remainder), about
    `mean_nodes` trie nodes per live graph, all drawn from `seed`."""
    rng = random.Random(seed)
    vocab = Vocab(make_vocabulary(rng))
    extra = random.Random(f"{seed}-measured")  # what came later draws from its own stream: the tries stay the same
    measured = np.random.default_rng(seed)
    per_layer = [neurons // layers + (i < neurons % layers) for i in range(layers)]
    graphs: list[NeuronGraph] = []
    examples: list[str | None] = []
    duplicates: list[tuple[str, str]] = []
    polysemantic: list[tuple[str, int]] = []
    live: list[NeuronGraph] = []
    for layer, count in enumerate(per_layer):
        earlier = len(live)  # live graphs of the layers before this one
        for neuron in range(count):
            original = None
            if earlier and rng.random() < DUPLICATE_RATE:
                original = live[rng.randrange(earlier)]
                graph = _copy(original, layer, neuron, rng)
                duplicates.append((_nid(graph), _nid(original)))
            else:
                graph = make_graph(rng, vocab, layer, neuron, mean_nodes)
                if graph.roots and extra.random() < POLYSEMANTIC_RATE:
                    parts = extra.choice((2, 2, 3))
                    graph = make_polysemantic_graph(extra, vocab, layer, neuron, parts)
                    polysemantic.append((_nid(graph), parts))
            add_measurements(graph, measured, original)
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
    return SyntheticModel(graphs, examples, duplicates, settings, vocab, polysemantic)


def _nid(graph: NeuronGraph) -> str:
    return schema.neuron_id(graph.model, graph.layer, graph.neuron, graph.sign)
