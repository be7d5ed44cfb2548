"""Engine equivalence: every template in queries/templates/, with every parameter set the search tests use, returns
the same rows on Neo4j as on LadybugDB over the same graphs (the planted store of tests/factories.py, both models).

The parameter sets are recorded, not written out twice: the searches of tests/unit/queries/test_search.py (and the
filters it combines them with) run on the LadybugDB store with every prepared template call captured; each captured
call then runs on both engines, through the engine's own variant of the template where there is one. Rows are
compared in order where the template's ORDER BY decides the order (every ranked template ends its ORDER BY on an
id), and as multisets where a template's rows come in no set order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ingest.store import snapshot
from ingest.store_loader import GraphSource, load_graphs
from queries.search import NeuronSearch, PreparedQuery, SearchFilter
from queries.templates import template, templates
from tests.factories import SETTINGS, make_graph, planted_graphs, write_graph_directory

pytestmark = pytest.mark.neo4j

TEST = SearchFilter(model="test-model")
FILTERS = [SearchFilter(), TEST, SearchFilter(model="test-model", layers=[0, 3]), SearchFilter(min_f1=0.5),
           SearchFilter(layers=[1, 2, 3]), SearchFilter(sign=-1), SearchFilter(model="test-model", sign=1)]


def searches() -> list[Callable[[NeuronSearch], Any]]:
    """What the search tests ask, each with every filter they combine searches with."""
    calls: list[Callable[[NeuronSearch], Any]] = [
        lambda s: s.activating(" Import", where=TEST),
        lambda s: s.activating(" import", exact=True, where=TEST),
        lambda s: s.activating("import", exact=True, where=TEST),
        lambda s: s.activating("import", context=[":"], where=TEST),
        lambda s: s.activating(" import", context=[" from"], exact=True, where=TEST),
        lambda s: s.activating(" import", context=["from"], exact=True, where=TEST),
        lambda s: s.activating("for", "while", context=[":"], where=TEST),
        lambda s: s.activating("for", "while", where=TEST),
        lambda s: s.activating("for", "if", where=TEST),
        lambda s: s.activating("for", "nothing-like-it", where=TEST),
        lambda s: s.context(":", "in", where=TEST),
        lambda s: s.context("'", '"', exact=True),
        lambda s: s.duplicates("similar", 0.95, where=TEST),
        lambda s: s.duplicates("subset", 0.56),
        lambda s: s.duplicates("similar", 0.9, cross_layer=False),
        lambda s: s.similar_to("0:2", model="test-model"),
        lambda s: s.similar_to("1:4", model="test-model", where=SearchFilter(layers=[3]), limit=1),
        lambda s: s.neuron("3:5", model="test-model"),
        lambda s: s.neuron("2:9", model="test-model"),
        lambda s: s.graph_nodes("0:2", model="test-model"),
        lambda s: s.graph_nodes("2:0", model="test-model"),
        lambda s: s.graph_nodes("0:0", model="other-model"),
        lambda s: s.best(1, where=TEST),
        lambda s: s.best(2),
        lambda s: s.layers(),
        lambda s: s.repeated_tokens(min_share=0.4, where=TEST),
        lambda s: s.activating("import", limit=1),
        lambda s: s.polysemantic(where=TEST),
        lambda s: s.polysemantic(min_parts=3),
        lambda s: s.text(tokens=["from", " x", " import", " os", "\n", " for", " i", " in", ":"], model="test-model"),
        lambda s: s.text(tokens=[" def", " class", "'", "\n", "MATCH"], model="test-model", exhaustive=True),
        lambda s: s.text(tokens=[" import", " os", " import", "Import"], model="test-model", per_token=1,
                         where=SearchFilter(min_f1=0.5)),
        lambda s: s.text(tokens=["for", " x", ":", "\n"], model="test-model", where=SearchFilter(layers=[1, 2])),
        lambda s: s.fitted_neurons(model="test-model"),  # what --verify reads besides the text search
        lambda s: s.fitted_neurons(model="test-model", where=SearchFilter(layers=[0, 3], min_f1=0.5)),
        lambda s: s.fitted_neurons(model="other-model"),
        lambda s: s.duplicates("similar", 0.9, min_correlation=None),  # candidates without the correlation check
        lambda s: s.duplicates("similar", 0.9, min_correlation=0.99),  # ... and a check that drops some
        lambda s: s.similar_to("0:0", model="test-model"),  # activation samples: the correlation column
        lambda s: s.neuron("3:0-", model="test-model"),  # a negative graph
        lambda s: s.best(2, where=SearchFilter(sign=-1)),
        lambda s: s.polysemantic(where=SearchFilter(sign=1)),
        lambda s: s.similar_to("3:0-", model="test-model", where=SearchFilter(sign=1)),
        lambda s: s.layers(where=SearchFilter(sign=-1)),
        lambda s: s.text(tokens=["from", " import", " os"], model="test-model", where=SearchFilter(sign=-1)),
        lambda s: s.fitted_neurons(model="test-model", where=SearchFilter(sign=-1)),
    ]
    for where in FILTERS:
        calls += [
            lambda s, w=where: s.activating("import", where=w),
            lambda s, w=where: s.context(":", where=w),
            lambda s, w=where: s.context("from", where=w),
            lambda s, w=where: s.activating("import", context=["from"], where=w),
            lambda s, w=where: s.repeated_tokens(where=w),
            lambda s, w=where: s.duplicates("similar", 0.9, where=w),
            lambda s, w=where: s.duplicates("subset", 0.9, where=w),
        ]
    return calls


@pytest.fixture()
def both(planted_db: Path, neo4j_store: Any, tmp_path: Path):
    """LadybugDB's planted store and the same graphs loaded into Neo4j the same way (same order, same batches)."""
    load_graphs(neo4j_store, GraphSource(write_graph_directory(tmp_path / "graphs", planted_graphs())),
                progress=False)
    other = {**SETTINGS, "model": "other-model"}
    load_graphs(neo4j_store, GraphSource(write_graph_directory(tmp_path / "other", [
        make_graph(0, 0, [(" import", [])], model="other-model")], other)), progress=False)
    with NeuronSearch(str(planted_db)) as lady, NeuronSearch(neo4j_store.location) as neo:
        yield lady, neo


def _value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    return value


def _rows(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, Any], ...]]:
    return [tuple((k, _value(v)) for k, v in row.items()) for row in rows]


def _ordered(cypher: str) -> bool:
    """The rows come in an order the statement decides: its last ORDER BY sorts what it returns (one in a WITH
    before the RETURN, as text_candidates has, orders only what it collects)."""
    return cypher.rfind("ORDER BY") > cypher.rfind("RETURN")


def test_every_template_returns_the_same_rows_on_both_engines(both: tuple[NeuronSearch, NeuronSearch]) -> None:
    lady, neo = both
    assert snapshot(lady.store) == snapshot(neo.store)  # the same graphs went in
    calls: list[tuple[str, dict[str, Any]]] = []
    record = lady.records

    def spy(prepared: PreparedQuery) -> list[dict[str, Any]]:
        calls.append((prepared.template.name, prepared.params))
        return record(prepared)

    lady.records = spy  # type: ignore[method-assign]
    for run in searches():
        run(lady)
    unused = set(templates("neo4j")) - {name for name, _ in calls}
    assert not unused, f"templates no search here runs (add one to searches()): {sorted(unused)}"

    compared, seen = Counter(), set()
    for name, params in calls:
        key = (name, repr(sorted(params.items())))
        if key in seen:
            continue
        seen.add(key)
        expected = _rows(lady.store.rows(template("ladybug", name).text, params))
        found = _rows(neo.store.rows(template("neo4j", name).text, params))
        if _ordered(template("neo4j", name).text):
            assert found == expected, (name, params)
        else:
            assert Counter(found) == Counter(expected), (name, params)
        compared[name] += 1
    assert sum(compared.values()) >= 60, compared


def test_every_search_gives_the_same_answer_on_both_engines(both: tuple[NeuronSearch, NeuronSearch]) -> None:
    """What users see: each search's DataFrame, column order and row order included."""
    lady, neo = both
    for i, run in enumerate(searches()):
        a, b = run(lady), run(neo)
        if isinstance(a, pd.DataFrame):
            assert list(a.columns) == list(b.columns), i
            assert _rows(a.astype(object).where(a.notna(), None).to_dict("records")) == \
                _rows(b.astype(object).where(b.notna(), None).to_dict("records")), i
        else:  # fitted_neurons: records, in no particular order
            assert isinstance(a, list) and a, i
            assert sorted(_rows(a), key=repr) == sorted(_rows(b), key=repr), i
