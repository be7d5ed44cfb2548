"""Neuron graphs as the rows of the store's tables (`ingest.schema`): an Arrow table per table, a batch at a time.

Both engines and the neo4j-admin export load from these rows, so the three hold the same data. Python per trie node
is what a load costs, so a batch is built column-wise: one recursive walk over every trie of the batch that reads
each node's fields once, then numpy and Arrow compute over whole columns (parents, context edges, MinHash bands)
instead of row by row. `RowBuilder.tables` hands the tables out one at a time as they are ready, so a store can load
one while the next is built. GraphNode ids are integers from `first_node_id` on, each neuron's nodes numbered in
pre-order; the graph JSON is carried packed (`ingest.packed_text`), compressed on a second thread while the tries
are walked. A batch dedups the shared nodes (Token, TokenKey, Band) it needs; `NewOnly` then drops those a store
already has.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest import schema
from ingest.graph_facts import (
    ACTIVATING_TAG,
    BANDS,
    CONTEXT_TAG,
    RootFacts,
    activating_tokens,
    batch_band_keys,
    graph_parts,
    item_hashes,
    part_balance,
    parts_json,
    prefix_rank,
    repeated_share,
    repeated_tokens,
    root_facts,
    signature,
)
from ingest.packed_text import pack_column, unpack_column
from n2g.graphs.neuron_graph import TOKEN, NeuronGraph, TrieNode
from n2g.graphs.scoring import FiringScore, GraphScores, Metric, Predictor, TextSet
from n2g.model.token_keys import normalise_token

_ARROW = {schema.STRING: pa.string(), schema.INT64: pa.int64(), schema.DOUBLE: pa.float64(),
          schema.STRING_LIST: pa.list_(pa.string()), schema.PACKED_TEXT: pa.large_binary()}
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    **{t.name: pa.schema([(c, _ARROW[k]) for c, k in t.columns]) for t in schema.NODE_TABLES},
    **{t.name: pa.schema([(c, _ARROW[k]) for c, k in schema.rel_columns(t)]) for t in schema.REL_TABLES},
}


def _table(name: str, columns: Mapping[str, Any]) -> pa.Table:
    """The table `name` from its columns (lists, numpy or Arrow arrays), typed as the schema says."""
    table_schema = TABLE_SCHEMAS[name]
    return pa.table([_column(columns[f.name], f.type) for f in table_schema], schema=table_schema)


def _column(values: Any, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(type_)
    return pa.array(values, type=type_)


@dataclass
class GraphRows:
    """A whole batch's tables (`RowBuilder.take`), for the neo4j-admin export and tests."""

    tables: dict[str, pa.Table]

    @classmethod
    def empty(cls) -> GraphRows:
        return cls({name: table_schema.empty_table() for name, table_schema in TABLE_SCHEMAS.items()})

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def column(self, name: str, column: str) -> list[Any]:
        return self.tables[name][column].to_pylist()

    def records(self, name: str) -> list[dict[str, Any]]:
        """Rows as dicts, packed text unpacked."""
        return unpacked(name, self.tables[name]).to_pylist()


class NewOnly:
    """Drops, table by table as a batch streams by, the shared nodes a store already has (`present(table, keys)`
    says which) and the KEYED_AS edges of tokens that exist (they came with the token). Token comes before
    KEYED_AS in every batch (`RowBuilder.tables`)."""

    def __init__(self, present: Callable[[str, list[Any]], set[Any]]) -> None:
        self.present = present
        self._tokens: set[Any] = set()

    def __call__(self, name: str, table: pa.Table) -> pa.Table:
        if name == "KEYED_AS":
            return _drop(table, "from", self._tokens)
        if name not in schema.SHARED_TABLES or not table.num_rows:
            return table
        key = schema.node_table(name).key
        present = self.present(name, table[key].to_pylist())
        if name == "Token":
            self._tokens = present
        return _drop(table, key, present)


def unpacked(name: str, table: pa.Table) -> pa.Table:
    """The table with its packed text columns (`schema.PACKED_TEXT`) as text, for engines that store text."""
    for column in schema.packed_columns(name):
        table = table.set_column(table.schema.get_field_index(column), column, unpack_column(table[column]))
    return table


# Every column of the rows that holds a GraphNode id: the key, the ends of relationships at a GraphNode, and the
# properties naming one (ACTIVATES_ON.root). A batch given another range of ids moves them all.
_ID_PROPERTIES = {"ACTIVATES_ON": ("root",)}
GRAPH_NODE_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "GraphNode": ("id",),
    **{t.name: tuple(c for c, end in (("from", t.source), ("to", t.target)) if end == "GraphNode")
       + _ID_PROPERTIES.get(t.name, ()) for t in schema.REL_TABLES}}


def graph_node_range(tables: Iterable[tuple[str, pa.Table]]) -> tuple[int, int]:
    """(first id, count) of a batch's GraphNode rows, numbered consecutively by `RowBuilder`."""
    nodes = dict(tables).get("GraphNode")
    if nodes is None or not nodes.num_rows:
        return 0, 0
    return int(pc.min(nodes["id"]).as_py()), nodes.num_rows


def renumber_graph_nodes(name: str, table: pa.Table, shift: int) -> pa.Table:
    """The table with every GraphNode id in it moved by `shift` (a batch given another range of ids)."""
    for column in GRAPH_NODE_ID_COLUMNS.get(name, ()) if shift else ():
        table = table.set_column(table.schema.get_field_index(column), column, pc.add(table[column], shift))
    return table


def _drop(table: pa.Table, column: str, values: set[Any]) -> pa.Table:
    if not values or not table.num_rows:
        return table
    present = pc.is_in(table[column], value_set=pa.array(list(values), type=table.schema.field(column).type))
    return table.filter(pc.invert(present))


@dataclass
class _Trie:
    """Every trie node of a batch, in pre-order graph by graph, as columns."""

    fields: dict[str, list[Any]]  # `_NODE_FIELDS`, each a list over the nodes
    graph: np.ndarray  # the node's graph, an index into the batch
    depth: np.ndarray
    sizes: list[int]  # nodes per graph

    def __len__(self) -> int:
        return len(self.depth)

    @classmethod
    def walk(cls, graphs: Sequence[NeuronGraph]) -> _Trie:
        """One recursive walk that reads every field of a node while it is at hand: twice as fast as a list
        comprehension per field afterwards (each pass over 1.5 M scattered objects misses the cache again)."""
        fields: dict[str, list[Any]] = {name: [] for name in _NODE_FIELDS}
        depths: list[int] = []
        kind, token, key, count, activation, importance, end, end_count = (fields[n].append for n in _NODE_FIELDS)
        add_depth = depths.append

        def visit(node: TrieNode, depth: int) -> None:
            kind(node.kind)
            token(node.token)
            key(node.key)
            count(node.count)
            activation(node.max_activation)
            importance(node.importance_sum)
            end(node.end_activation)
            end_count(node.end_count)
            add_depth(depth)
            for child in node.children:
                visit(child, depth + 1)

        sizes = []
        for graph in graphs:
            start = len(depths)
            for root in graph.roots:
                visit(root, 0)
            sizes.append(len(depths) - start)
        graph_index = np.repeat(np.arange(len(graphs), dtype=np.int64), sizes)
        return cls(fields, graph_index, np.array(depths, dtype=np.int64), sizes)

    def parents(self) -> np.ndarray:
        """Each node's parent, an index into the nodes (-1 for a root): in pre-order, the last node before it one
        level up (numpy, level by level, instead of carrying it through the walk)."""
        parent = np.full(len(self.depth), -1, dtype=np.int64)
        positions = np.arange(len(self.depth))
        above = positions[self.depth == 0]
        for depth in range(1, int(self.depth.max(initial=0)) + 1):
            here = positions[self.depth == depth]
            parent[here] = above[np.searchsorted(above, here) - 1]
            above = here
        return parent

    def columns(self) -> dict[str, Any]:
        """The per-node values GraphNode holds (less ids)."""
        fields = self.fields
        count = np.array(fields["count"], dtype=np.int64)
        importance_sum = np.array(fields["importance_sum"], dtype=np.float64)
        importance = np.divide(importance_sum, count, out=np.zeros(len(count)), where=count != 0)  # `.importance`
        return {"kind": pa.array(fields["kind"], pa.string()), "token": pa.array(fields["token"], pa.string()),
                "key": pa.array(fields["key"], pa.string()), "depth": self.depth, "count": count,
                "max_activation": np.array(fields["max_activation"], dtype=np.float64), "importance": importance,
                "end_activation": pa.array(fields["end_activation"], pa.float64()),
                "end_count": np.array(fields["end_count"], dtype=np.int64)}


_NODE_FIELDS = ("kind", "token", "key", "count", "max_activation", "importance_sum", "end_activation", "end_count")


@dataclass
class _Keys:
    """The batch's distinct keys, and each node's as an index into them (-1: a gap)."""

    texts: pa.Array
    index: np.ndarray

    @classmethod
    def of(cls, keys: pa.Array) -> _Keys:
        encoded = pc.dictionary_encode(keys)
        return cls(encoded.dictionary, pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64))


@dataclass
class _Context:
    """Per graph and context token (a HAS_CONTEXT edge): max importance, nearest depth, number of trie nodes;
    graph by graph, tokens in first-seen order (what `NeuronGraph.context_tokens` gives)."""

    graph: np.ndarray
    token: np.ndarray  # index into the batch's keys
    importance: np.ndarray
    depth: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, trie: _Trie, importance: np.ndarray, keys: _Keys, token: np.ndarray) -> _Context:
        nodes = np.flatnonzero(token & (trie.depth > 0))  # pre-order, so graph by graph
        if not len(nodes):
            return cls(*(np.zeros(0, dtype=t) for t in (np.int64, np.int64, np.float64, np.int64, np.int64)))
        pair = trie.graph[nodes] * len(keys.texts) + keys.index[nodes]
        order = np.argsort(pair, kind="stable")  # each (graph, token)'s nodes together, in pre-order
        members = nodes[order]
        starts = np.flatnonzero(np.diff(pair[order], prepend=-1))
        first = members[starts]
        by_first = np.argsort(first)  # the edges in the order their token is first seen
        return cls(trie.graph[first][by_first], keys.index[first][by_first],
                   np.maximum.reduceat(np.maximum(importance[members], 0.0), starts)[by_first],
                   np.minimum.reduceat(trie.depth[members], starts)[by_first],
                   np.diff(np.append(starts, len(members)))[by_first])


# Neuron score columns by where `NeuronGraph.scores` keeps them: (predictor, text set) -> (column, metric)
_SCORES: dict[tuple[Predictor, TextSet], tuple[tuple[str, Metric], ...]] = {
    ("n2g", "test"): (("f1", "f1"), ("precision", "precision"), ("recall", "recall"), ("pearson", "pearson")),
    ("n2g", "random"): (("ood_f1", "f1"), ("ood_precision", "precision"), ("ood_recall", "recall")),
    ("token_lookup", "test"): (("token_lookup_f1", "f1"),),  # the paper's baselines, held-out windows
    ("ngram5", "test"): (("ngram_f1", "f1"),)}
_SCORE_COLUMNS = tuple(column for names in _SCORES.values() for column, _ in names)
# (the score's getter, its metrics): plain attribute reads, as this runs for every neuron of a store load
_SCORE_PARTS = tuple((attrgetter(f"{predictor}.{text_set}"), tuple(metric for _, metric in names))
                     for (predictor, text_set), names in _SCORES.items())


def _score_row(scores: GraphScores | None) -> list[float | None]:
    """One neuron's scores in `_SCORE_COLUMNS` order: numbers or None (Arrow makes them DOUBLE). A row at a time
    reads each neuron's scores once (twice as fast as a column at a time)."""
    if scores is None:
        return [None] * len(_SCORE_COLUMNS)
    row: list[float | None] = []
    for score_of, metrics in _SCORE_PARTS:
        score: FiringScore | None = score_of(scores)
        row += [None] * len(metrics) if score is None else [getattr(score, metric) for metric in metrics]
    return row


def _score_columns(graphs: Sequence[NeuronGraph]) -> dict[str, list[float | None]]:
    rows = [_score_row(g.scores) for g in graphs]
    return {column: list(values) for column, values in zip(_SCORE_COLUMNS, zip(*rows))}


class RowBuilder:
    """Collects graphs; `tables` (or `take`) turns them into one batch of rows."""

    def __init__(self, first_node_id: int = 0) -> None:
        self.next_node_id = first_node_id
        self._shared: dict[str, set[Any]] = {name: set() for name in schema.SHARED_TABLES}
        self._models: list[tuple[str, str]] = []
        self._graphs: list[NeuronGraph] = []
        self._examples: list[str | None] = []

    def add(self, graph: NeuronGraph, example: str | None = None) -> None:
        self._graphs.append(graph)
        self._examples.append(example)

    def add_model(self, name: str, settings: str) -> None:
        """The model node, once per batch (a store that has it keeps its own)."""
        if self._new("Model", [name]):
            self._models.append((name, settings))

    def take(self) -> GraphRows:
        """The rows of what was added since the last call, all tables built."""
        return GraphRows({**GraphRows.empty().tables, **dict(self.tables())})

    def tables(self) -> Iterator[tuple[str, pa.Table]]:
        """The rows of what was added since the last call, table by table, each as soon as it is built and in an
        order COPY can load them (a node table before the relationships that use it): a store can load one table
        while the next is built. Shared nodes already given are not repeated; tables left out are empty."""
        graphs, examples, models = self._graphs, self._examples, self._models
        self._graphs, self._examples, self._models = [], [], []
        yield "Model", _table("Model", {"name": [m for m, _ in models],
                                        "schema_version": [schema.SCHEMA_VERSION] * len(models),
                                        "settings": [s for _, s in models]})
        if not graphs:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="n2g-pack") as packer:
            # The graph JSON is compressed on a second thread (the codec releases the GIL) while this one walks
            # the tries: before the first table is ready a store has nothing to copy, so that core is free.
            graph_json = packer.submit(lambda: pack_column(g.stored_json() for g in graphs))
            batch = _Batch(graphs, self.next_node_id)
            self.next_node_id += len(batch.trie)
            yield from self._tokens(batch.token_texts())  # first: a store looks tokens up while it copies nothing
            yield from batch.trie_tables()
            live = yield from batch.neuron_tables(examples, graph_json)
        graph_index, band_keys = batch.band_keys(live)
        yield "Band", _table("Band", {"key": self._new("Band", pc.unique(pa.array(band_keys)).to_pylist())})
        yield "IN_BAND", _table("IN_BAND", {"from": batch.nids.take(pa.array(graph_index)), "to": band_keys})

    def _new(self, table: str, keys: Iterable[Any]) -> list[Any]:
        """Those of `keys` this builder has not given yet, which it now has."""
        new = [k for k in keys if k not in self._shared[table]]
        self._shared[table].update(new)
        return new

    def _tokens(self, texts: list[str]) -> Iterator[tuple[str, pa.Table]]:
        """Tokens new to this builder, their keys and KEYED_AS edges."""
        new = self._new("Token", texts)
        keys = [normalise_token(t) for t in new]
        yield "Token", _table("Token", {"text": new, "key": keys})
        yield "TokenKey", _table("TokenKey", {"key": self._new("TokenKey", dict.fromkeys(keys))})
        yield "KEYED_AS", _table("KEYED_AS", {"from": new, "to": keys})


class _Batch:
    """One batch of graphs on its way to rows, in stages (`RowBuilder.tables`)."""

    def __init__(self, graphs: list[NeuronGraph], first_node_id: int) -> None:
        self.graphs = graphs
        self.nids = pa.array([schema.neuron_id(g.model, g.layer, g.neuron, g.sign) for g in graphs], pa.string())
        self.trie = _Trie.walk(graphs)
        self.columns = self.trie.columns()
        self.ids = np.arange(first_node_id, first_node_id + len(self.trie), dtype=np.int64)
        self.node_nids = self.nids.take(pa.array(self.trie.graph))
        self.root = self.trie.depth == 0
        self.keys = _Keys.of(self.columns["key"])
        self.token = pc.equal(self.columns["kind"], TOKEN).to_numpy(zero_copy_only=False) & (self.keys.index >= 0)
        self.context = _Context.of(self.trie, self.columns["importance"], self.keys, self.token)
        self.roots = [[root_facts(root) for root in graph.roots] for graph in graphs]  # per graph, root by root

    def token_texts(self) -> list[str]:
        """The batch's tokens (keys of token nodes), in first-seen order."""
        return self.keys.texts.take(pc.unique(pa.array(self.keys.index[self.token]))).to_pylist()

    def trie_tables(self) -> Iterator[tuple[str, pa.Table]]:
        trie, ids, token = self.trie, self.ids, self.token
        patterns: list[str | None] = [None] * len(ids)
        for at, facts in zip(np.flatnonzero(self.root).tolist(), (f for roots in self.roots for f in roots)):
            patterns[at] = facts.patterns
        yield "GraphNode", _table("GraphNode", {"id": ids, "neuron_id": self.node_nids, **self.columns,
                                                "patterns": patterns})
        child = ~self.root
        yield "PRECEDED_BY", _table("PRECEDED_BY", {"from": ids[trie.parents()[child]], "to": ids[child]})
        yield "IS_TOKEN", _table("IS_TOKEN", {"from": ids[token], "to": self.keys.texts.take(self.keys.index[token])})

    def neuron_tables(self, examples: list[str | None],
                      graph_json: Future[pa.Array]) -> Generator[tuple[str, pa.Table], None, np.ndarray]:
        """Neuron and its edges to the trie and tokens; returns which graphs are live (have activating tokens)."""
        context, root, columns = self.context, pa.array(self.root), self.columns
        context_texts = self.keys.texts.take(pa.array(context.token))
        per_graph = np.bincount(context.graph, minlength=len(self.graphs))
        facts = _Facts.of(self.graphs, _split(context_texts.to_pylist(), per_graph), self.roots)
        yield "Neuron", _table("Neuron", {**_neuron_columns(self.graphs, self.nids, self.trie.sizes, facts, examples),
                                          "graph_json": graph_json.result()})
        yield "HAS_ROOT", _table("HAS_ROOT", {"from": self.node_nids.filter(root), "to": self.ids[self.root]})
        yield "ACTIVATES_ON", _table("ACTIVATES_ON", {
            "from": self.node_nids.filter(root), "to": columns["key"].filter(root),
            "max_activation": columns["max_activation"][self.root], "count": columns["count"][self.root],
            "rank": facts.ranks, "root": self.ids[self.root], **facts.root_columns})
        yield "HAS_CONTEXT", _table("HAS_CONTEXT", {
            "from": self.nids.take(pa.array(context.graph)), "to": context_texts, "importance": context.importance,
            "depth": context.depth, "count": context.count})
        return facts.live

    def band_keys(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every live graph's `BANDS` band keys, MinHash over its tagged activating and context tokens
        (`graph_facts.band_items`, done for the batch at once): (graph index, band key) pairs."""
        texts = self.keys.texts.to_pylist()
        hashes = np.concatenate([item_hashes([ACTIVATING_TAG + t for t in texts]),
                                 item_hashes([CONTEXT_TAG + t for t in texts])])
        activating = self.root & (self.keys.index >= 0)
        graph = np.concatenate([self.trie.graph[activating], self.context.graph])
        items = np.concatenate([self.keys.index[activating], len(texts) + self.context.token])
        keep = live[graph]
        order = np.argsort(graph[keep], kind="stable")
        graph, items = graph[keep][order], items[keep][order]
        starts = np.flatnonzero(np.diff(graph, prepend=-1))
        return np.repeat(graph[starts], BANDS), batch_band_keys(hashes, items, starts).ravel()


def _split(values: list[Any], sizes: Iterable[int]) -> list[list[Any]]:
    out, start = [], 0
    for size in sizes:
        out.append(values[start: start + int(size)])
        start += int(size)
    return out


@dataclass
class _Facts:
    """`ingest.graph_facts` for each graph of a batch, as columns (band keys come later, for the whole batch)."""

    activating: list[tuple[str, ...]]
    context: list[list[str]]
    repeated: list[tuple[str, ...]]
    signatures: list[str | None]
    live: np.ndarray  # has activating tokens
    ranks: list[int]  # ACTIVATES_ON.rank, root by root in walk order
    root_columns: dict[str, list[Any]]  # the other per-root ACTIVATES_ON columns (`_ROOT_COLUMNS`), in walk order
    parts: dict[str, list[Any]]  # per graph: n_parts, part_balance, parts

    @classmethod
    def of(cls, graphs: Sequence[NeuronGraph], contexts: list[list[str]], root_facts: list[list[RootFacts]]) -> _Facts:
        facts = cls([], contexts, [], [], np.zeros(len(graphs), dtype=bool), [],
                    {name: [] for name in _ROOT_COLUMNS}, {"n_parts": [], "part_balance": [], "parts": []})
        add_root = [facts.root_columns[name].append for name in _ROOT_COLUMNS]
        for i, (graph, context, roots) in enumerate(zip(graphs, contexts, root_facts)):
            activating = activating_tokens(graph)
            facts.activating.append(activating)
            facts.repeated.append(repeated_tokens(activating, context))
            facts.signatures.append(signature(activating, context) if activating else None)
            facts.live[i] = bool(activating)
            rank = prefix_rank(activating)
            facts.ranks.extend(rank[root.key] for root in graph.roots)
            for root, found in zip(graph.roots, roots):
                evidence = root.evidence
                values = (found.max_end, found.bare_end) + ((None,) * 4 if evidence is None else (
                    evidence.test_hits, evidence.test_predictions, evidence.random_hits, evidence.random_predictions))
                for add, value in zip(add_root, values):
                    add(value)
            parts = graph_parts(graph, roots)
            facts.parts["n_parts"].append(len(parts))
            facts.parts["part_balance"].append(part_balance(parts))
            facts.parts["parts"].append(parts_json(parts))
        return facts


_ROOT_COLUMNS = ("max_end", "bare_end", "test_hits", "test_predictions", "random_hits", "random_predictions")


def _neuron_columns(graphs: Sequence[NeuronGraph], nids: pa.Array, sizes: list[int], facts: _Facts,
                    examples: list[str | None]) -> dict[str, Any]:
    return {
        "id": nids, "model": [g.model for g in graphs], "layer": [g.layer for g in graphs],
        "neuron": [g.neuron for g in graphs], "sign": [g.sign for g in graphs], "status": [g.status for g in graphs],
        "reason": [g.reason for g in graphs], "a_max": [g.a_max for g in graphs], **_score_columns(graphs),
        "n_graph_nodes": sizes, "n_activating": [len(a) for a in facts.activating],
        "n_context": [len(c) for c in facts.context], "activating_tokens": [list(a) for a in facts.activating],
        "context_tokens": facts.context, "repeated_tokens": [list(r) for r in facts.repeated],
        "n_repeated": [len(r) for r in facts.repeated],
        "repeated_share": [repeated_share(a, r) for a, r in zip(facts.activating, facts.repeated)],
        **facts.parts, "activation_sample": [g.activation_sample for g in graphs],
        "signature": facts.signatures, "example": examples,
    }


def graph_rows(graphs: Iterable[NeuronGraph], examples: Mapping[tuple[int, int], str] | None = None) -> GraphRows:
    builder = RowBuilder()
    for graph in graphs:
        builder.add(graph, (examples or {}).get((graph.layer, graph.neuron)))
    return builder.take()
