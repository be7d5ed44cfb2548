"""Neuron graphs as the rows of the store's tables (`ingest.schema`), column by column.

Both engines and the neo4j-admin export load from these rows, so the three hold the same data. A batch dedups
the shared nodes (Token, TokenKey, Band) it needs; `GraphRows.without` then drops those a store already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ingest import schema
from ingest.graph_facts import graph_facts, prefix_rank
from n2g.neuron_graph import TOKEN, NeuronGraph, TrieNode
from n2g.token_keys import normalise_token

Columns = dict[str, list[Any]]


def _empty(columns: Iterable[str]) -> Columns:
    return {name: [] for name in columns}


def _score(graph: NeuronGraph, method: str, split: str, name: str) -> float | None:
    value = graph.scores.get(method, {}).get(split, {}).get(name)
    return None if value is None else float(value)


@dataclass
class GraphRows:
    nodes: dict[str, Columns] = field(default_factory=lambda: {t.name: _empty(t.column_names)
                                                               for t in schema.NODE_TABLES})
    rels: dict[str, Columns] = field(default_factory=lambda: {t.name: _empty(["from", "to", *t.column_names])
                                                              for t in schema.REL_TABLES})

    @property
    def neuron_ids(self) -> list[str]:
        return self.nodes["Neuron"]["id"]

    def elements(self) -> int:
        """Nodes plus relationships."""
        return sum(len(c[next(iter(c))]) for c in (*self.nodes.values(), *self.rels.values()))

    def table(self, name: str) -> Columns:
        return self.nodes[name] if name in self.nodes else self.rels[name]

    def records(self, name: str) -> list[dict[str, Any]]:
        columns = self.table(name)
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*columns.values())]

    def arrow(self, name: str) -> pa.Table:
        return pa.table({column: pa.array(values, type=_ARROW[column_type(name, column)])
                         for column, values in self.table(name).items()})

    def without(self, existing: Mapping[str, set[str]]) -> GraphRows:
        """These rows less the shared nodes a store already has (by table: keys present), and less the
        KEYED_AS edges of tokens that exist (they came with the token)."""
        out = GraphRows(nodes=dict(self.nodes), rels=dict(self.rels))
        for name, present in existing.items():
            out.nodes[name] = _filter(self.nodes[name], schema.node_table(name).key, present)
        out.rels["KEYED_AS"] = _filter(self.rels["KEYED_AS"], "from", existing.get("Token", set()))
        return out


def _filter(columns: Columns, key: str, drop: set[str]) -> Columns:
    keep = [i for i, value in enumerate(columns[key]) if value not in drop]
    return {name: [values[i] for i in keep] for name, values in columns.items()}


_COLUMN_TYPES = {t.name: {"from": schema.STRING, "to": schema.STRING, **dict(t.columns)}
                 for t in (*schema.NODE_TABLES, *schema.REL_TABLES)}


def column_type(table: str, column: str) -> str:
    return _COLUMN_TYPES[table][column]


_ARROW = {schema.STRING: pa.string(), schema.INT64: pa.int64(), schema.DOUBLE: pa.float64(),
          schema.STRING_LIST: pa.list_(pa.string())}


class RowBuilder:
    """Accumulates graphs into one batch of rows."""

    def __init__(self) -> None:
        self.rows = GraphRows()
        self._shared: dict[str, set[str]] = {name: set() for name in schema.SHARED_TABLES}

    def add(self, graph: NeuronGraph, example: str | None = None) -> None:
        nid = schema.neuron_id(graph.model, graph.layer, graph.neuron)
        facts = graph_facts(graph)
        n_nodes = self._add_trie(nid, graph)
        self._add_neuron(nid, graph, facts, n_nodes, example)
        rank = prefix_rank(facts.activating)
        for root in graph.roots:
            self._rel("ACTIVATES_ON", nid, root.key, max_activation=root.max_activation, count=root.count,
                      rank=rank[root.key])
        for key, (importance, depth, count) in _context_edges(graph).items():
            self._rel("HAS_CONTEXT", nid, key, importance=importance, depth=depth, count=count)
        for band in facts.bands:
            if self._new("Band", band):
                self.rows.nodes["Band"]["key"].append(band)
            self._rel("IN_BAND", nid, band)

    def take(self) -> GraphRows:
        """The rows so far; the next rows start empty but still never repeat a shared node already given."""
        rows, self.rows = self.rows, GraphRows()
        return rows

    def add_model(self, name: str, settings: str) -> None:
        """The model node, once per batch (a store that has it keeps its own)."""
        if self._new("Model", name):
            for column, value in (("name", name), ("schema_version", schema.SCHEMA_VERSION), ("settings", settings)):
                self.rows.nodes["Model"][column].append(value)

    def _new(self, table: str, key: str) -> bool:
        if key in self._shared[table]:
            return False
        self._shared[table].add(key)
        return True

    def _rel(self, name: str, source: str, target: str, **values: Any) -> None:
        columns = self.rows.rels[name]
        columns["from"].append(source)
        columns["to"].append(target)
        for column, value in values.items():
            columns[column].append(value)

    def _token(self, text: str) -> None:
        if self._new("Token", text):
            key = normalise_token(text)
            self.rows.nodes["Token"]["text"].append(text)
            self.rows.nodes["Token"]["key"].append(key)
            self._rel("KEYED_AS", text, key)
            if self._new("TokenKey", key):
                self.rows.nodes["TokenKey"]["key"].append(key)

    def _add_trie(self, nid: str, graph: NeuronGraph) -> int:
        """Every trie node, numbered in pre-order; returns how many."""
        columns = self.rows.nodes["GraphNode"]
        count = 0
        stack: list[tuple[TrieNode, int, str | None]] = [(root, 0, None) for root in reversed(graph.roots)]
        while stack:
            node, depth, parent = stack.pop()
            gid = f"{nid}:{count}"
            count += 1
            for column, value in (("id", gid), ("neuron_id", nid), ("kind", node.kind), ("token", node.token),
                                  ("key", node.key), ("depth", depth), ("count", node.count),
                                  ("max_activation", node.max_activation), ("importance", node.importance),
                                  ("end_activation", node.end_activation), ("end_count", node.end_count)):
                columns[column].append(value)
            if parent is None:
                self._rel("HAS_ROOT", nid, gid)
            else:
                self._rel("PRECEDED_BY", parent, gid)
            if node.kind == TOKEN and node.key is not None:
                self._token(node.key)
                self._rel("IS_TOKEN", gid, node.key)
            stack.extend((child, depth + 1, gid) for child in reversed(node.children))
        return count

    def _add_neuron(self, nid: str, graph: NeuronGraph, facts: Any, n_nodes: int, example: str | None) -> None:
        values = {
            "id": nid, "model": graph.model, "layer": graph.layer, "neuron": graph.neuron, "status": graph.status,
            "reason": graph.reason, "a_max": graph.a_max,
            "f1": _score(graph, "n2g", "test", "f1"), "precision": _score(graph, "n2g", "test", "precision"),
            "recall": _score(graph, "n2g", "test", "recall"), "pearson": _score(graph, "n2g", "test", "pearson"),
            "ood_f1": _score(graph, "n2g", "random", "f1"),
            "ood_precision": _score(graph, "n2g", "random", "precision"),
            "ood_recall": _score(graph, "n2g", "random", "recall"),
            "token_lookup_f1": _score(graph, "token_lookup", "test", "f1"),
            "ngram_f1": _score(graph, "ngram5", "test", "f1"),
            "n_graph_nodes": n_nodes, "n_activating": len(facts.activating), "n_context": len(facts.context),
            "activating_tokens": list(facts.activating), "context_tokens": list(facts.context),
            "repeated_tokens": list(facts.repeated),
            "n_repeated": len(facts.repeated), "repeated_share": facts.repeated_share,
            "signature": facts.signature, "example": example, "graph_json": graph.stored_json(),
        }
        columns = self.rows.nodes["Neuron"]
        for column in schema.NEURON.column_names:
            columns[column].append(values[column])


def _context_edges(graph: NeuronGraph) -> dict[str, tuple[float, int, int]]:
    """Context token -> (max importance, nearest depth, number of trie nodes) over the whole graph."""
    edges: dict[str, tuple[float, int, int]] = {}
    for depth, node in graph.nodes():
        if depth == 0 or node.kind != TOKEN or node.key is None:
            continue
        importance, nearest, count = edges.get(node.key, (0.0, depth, 0))
        edges[node.key] = (max(importance, node.importance), min(nearest, depth), count + 1)
    return edges


def graph_rows(graphs: Iterable[NeuronGraph], examples: Mapping[tuple[int, int], str] | None = None) -> GraphRows:
    builder = RowBuilder()
    for graph in graphs:
        builder.add(graph, (examples or {}).get((graph.layer, graph.neuron)))
    return builder.rows
