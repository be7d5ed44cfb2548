"""The one schema both engines hold, designed for the queries (see `queries/`).

    (:Model {name})                                    one per model; `settings` records how its graphs were made
    (:Neuron {id, model, layer, neuron, sign, ...})    one direction of a neuron (sign 1 or -1, `--signs both`):
                                                       scores, status, graph JSON and facts precomputed at ingest
    (:Token {text})                                    a graph key (what matching compares), the lookup entry point
    (:TokenKey {key})                                  the normalised form (`n2g.model.token_keys.normalise_token`)
    (:GraphNode {id, ...})                             one trie node; walk (:Neuron)-[:HAS_ROOT]->()-[:PRECEDED_BY*]->()
    (:Band {key})                                      a MinHash LSH band (an integer) shared by candidate duplicates

    (:Neuron)-[:ACTIVATES_ON {max_activation, count, rank, root, max_end, bare_end, test_hits, test_predictions,
                              random_hits, random_predictions}]->(:Token)
    (:Neuron)-[:HAS_CONTEXT {importance, depth, count}]->(:Token)
    (:Neuron)-[:HAS_ROOT]->(:GraphNode)-[:PRECEDED_BY]->(:GraphNode)   a child is the token before its parent
    (:GraphNode)-[:IS_TOKEN]->(:Token)
    (:Token)-[:KEYED_AS]->(:TokenKey)
    (:Neuron)-[:IN_BAND]->(:Band)

The first column of a node table is its primary key (LadybugDB's only index; a uniqueness constraint in Neo4j).
Neuron ids are `model:layer:neuron` (`model:layer:neuron-` for a neuron's negative direction, `n2g.specs`), so
several models share one database. GraphNode ids are integers handed out
by the store in load order (a neuron's nodes numbered in pre-order from the store's next free id): integer keys load
twice as fast as strings. `SCHEMA_VERSION` changes with the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from n2g.specs import NeuronRef, format_neuron, parse_neuron_id

SCHEMA_VERSION = 5  # 2: Neuron.context_tokens, ACTIVATES_ON.rank; 3: integer GraphNode ids and Band keys, packed JSON;
# 4: ACTIVATES_ON root, max_end, bare_end and evidence, GraphNode.patterns (text search, evidence); Neuron parts
# (polysemantic neurons) and activation_sample (duplicates confirmed by co-activation); 5: Neuron.sign (negative-
# direction graphs, ids `model:layer:neuron-`)

# Column types in LadybugDB's names; Neo4j and neo4j-admin map them (see `NEO4J_ADMIN_TYPES`).
STRING, INT64, DOUBLE, STRING_LIST = "STRING", "INT64", "DOUBLE", "STRING[]"
# Text carried packed (`ingest.packed_text`, zstd in a BLOB): rows hold it so and LadybugDB stores it so, unpacking
# it on every read (readers see the text); Neo4j and neo4j-admin get the text. Long strings are the slowest thing
# LadybugDB writes.
PACKED_TEXT = "BLOB"


@dataclass(frozen=True)
class NodeTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type); the first is the primary key

    @property
    def key(self) -> str:
        return self.columns[0][0]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


@dataclass(frozen=True)
class RelTable:
    name: str
    source: str
    target: str
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


MODEL = NodeTable("Model", (("name", STRING), ("schema_version", INT64), ("settings", STRING)))
NEURON = NodeTable("Neuron", (
    ("id", STRING), ("model", STRING), ("layer", INT64), ("neuron", INT64), ("sign", INT64), ("status", STRING),
    ("reason", STRING),
    ("a_max", DOUBLE),
    ("f1", DOUBLE), ("precision", DOUBLE), ("recall", DOUBLE), ("pearson", DOUBLE),  # N2G on held-out windows
    ("ood_f1", DOUBLE), ("ood_precision", DOUBLE), ("ood_recall", DOUBLE),  # N2G on random windows
    ("token_lookup_f1", DOUBLE), ("ngram_f1", DOUBLE),  # the paper's baselines, held-out windows
    ("n_graph_nodes", INT64), ("n_activating", INT64), ("n_context", INT64),
    ("activating_tokens", STRING_LIST), ("context_tokens", STRING_LIST),
    ("repeated_tokens", STRING_LIST), ("n_repeated", INT64), ("repeated_share", DOUBLE),
    ("n_parts", INT64), ("part_balance", DOUBLE), ("parts", STRING),  # `graph_facts.graph_parts`, parts as JSON
    ("activation_sample", STRING),  # `n2g.graphs.activation_sample`: base64 int8, from the graph
    ("signature", STRING), ("example", STRING), ("graph_json", PACKED_TEXT),
))
TOKEN = NodeTable("Token", (("text", STRING), ("key", STRING)))
TOKEN_KEY = NodeTable("TokenKey", (("key", STRING),))
GRAPH_NODE = NodeTable("GraphNode", (
    ("id", INT64), ("neuron_id", STRING), ("kind", STRING), ("token", STRING), ("key", STRING), ("depth", INT64),
    ("count", INT64), ("max_activation", DOUBLE), ("importance", DOUBLE), ("end_activation", DOUBLE),
    ("end_count", INT64),
    ("patterns", STRING),  # roots only: every complete pattern below, as JSON (`graph_facts.root_facts`)
))
BAND = NodeTable("Band", (("key", INT64),))

# `rank`: the token's place among the neuron's activating tokens in a fixed hash order (`graph_facts.prefix_rank`),
# so a subset search can start from a short prefix of each set instead of every token (prefix filtering).
# `root`: the root's GraphNode id; `max_end` and `bare_end`: the largest end of the root's patterns and the root's own
# end (the token alone; None if it is no pattern) (`graph_facts.root_facts`), by which text search picks candidates
# reading edges only (numbers: LadybugDB reads them fast along an edge list, and a node's text fast by its key); the
# evidence counts are the root's `RootEvidence` (None for graphs fitted before it was measured).
ACTIVATES_ON = RelTable("ACTIVATES_ON", "Neuron", "Token", (
    ("max_activation", DOUBLE), ("count", INT64), ("rank", INT64), ("root", INT64), ("max_end", DOUBLE),
    ("bare_end", DOUBLE),
    ("test_hits", INT64), ("test_predictions", INT64), ("random_hits", INT64), ("random_predictions", INT64)))
HAS_CONTEXT = RelTable("HAS_CONTEXT", "Neuron", "Token", (("importance", DOUBLE), ("depth", INT64), ("count", INT64)))
HAS_ROOT = RelTable("HAS_ROOT", "Neuron", "GraphNode")
PRECEDED_BY = RelTable("PRECEDED_BY", "GraphNode", "GraphNode")
IS_TOKEN = RelTable("IS_TOKEN", "GraphNode", "Token")
KEYED_AS = RelTable("KEYED_AS", "Token", "TokenKey")
IN_BAND = RelTable("IN_BAND", "Neuron", "Band")

NODE_TABLES: tuple[NodeTable, ...] = (MODEL, NEURON, TOKEN, TOKEN_KEY, GRAPH_NODE, BAND)
REL_TABLES: tuple[RelTable, ...] = (ACTIVATES_ON, HAS_CONTEXT, HAS_ROOT, PRECEDED_BY, IS_TOKEN, KEYED_AS, IN_BAND)
# Shared nodes that many neurons point at: loaded only when absent. Everything else belongs to one neuron.
SHARED_TABLES = ("Model", "Token", "TokenKey", "Band")

NEO4J_ADMIN_TYPES = {STRING: "string", INT64: "long", DOUBLE: "double", STRING_LIST: "string[]", PACKED_TEXT: "string"}


def node_table(name: str) -> NodeTable:
    return next(table for table in NODE_TABLES if table.name == name)


def packed_columns(name: str) -> list[str]:
    table = next(t for t in (*NODE_TABLES, *REL_TABLES) if t.name == name)
    return [column for column, kind in table.columns if kind == PACKED_TEXT]


def key_type(name: str) -> str:
    """The type of a node table's primary key: what relationships to it carry."""
    return node_table(name).columns[0][1]


def rel_columns(table: RelTable) -> tuple[tuple[str, str], ...]:
    """A relationship's row: its endpoints' keys (`from`, `to`), then its properties."""
    return (("from", key_type(table.source)), ("to", key_type(table.target)), *table.columns)


def neuron_id(model: str, layer: int, neuron: int, sign: int = 1) -> str:
    return f"{model}:{format_neuron(layer, neuron, sign)}"


def neuron_ref(nid: str) -> NeuronRef:
    """The layer, neuron and sign of a stored neuron id (the model may hold colons: only the last two parts count)."""
    return parse_neuron_id(":".join(nid.rsplit(":", 2)[1:]))
