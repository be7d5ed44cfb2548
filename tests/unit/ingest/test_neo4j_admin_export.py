"""`n2g export --format neo4j-admin`: sources of one model must share its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.neo4j_admin_export import export_graphs
from ingest.store_loader import GraphSource
from n2g.errors import N2GError
from tests.factories import SETTINGS, make_graph, write_graph_directory


def test_sources_of_one_model_with_other_settings_are_refused(tmp_path: Path) -> None:
    first = write_graph_directory(tmp_path / "first", [make_graph(0, 0, [(" a", [])])])
    second = write_graph_directory(tmp_path / "second", [make_graph(1, 0, [(" b", [])])],
                                   {**SETTINGS, "config": {"token_matching": "normalised"}})
    assert export_graphs([GraphSource(first), GraphSource(first)], tmp_path / "same") > 0
    with pytest.raises(N2GError) as refused:
        export_graphs([GraphSource(first), GraphSource(second)], tmp_path / "mixed")
    assert str(refused.value) == (f"{second.dir} holds test-model graphs made with other settings: "
                                  'fit.token_matching is "normalised" there, "exact" in an earlier source: '
                                  "export them separately")
