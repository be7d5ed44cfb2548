"""Smoke tests of the store and query benchmarks with `--engine both`: a tiny synthetic model, each engine's JSON
keys and sane values (no timing assertions). The benchmarks start local Neo4j servers of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import queries as query_bench
from benchmarks import store as store_bench

pytestmark = [pytest.mark.neo4j, pytest.mark.usefixtures("local_neo4j")]

LOAD_KEYS = ("engine", "neurons", "elements", "nodes", "relationships", "load_seconds", "load_elements_per_s",
             "build_rows_seconds", "lookup_seconds", "write_seconds", "db_bytes", "peak_rss_mb", "counts",
             "planted_duplicates", "duplicates_sharing_signature", "batch_neurons", "generate_seconds")
QUERY_KEYS = ("engine", "neurons", "activating_token_ms", "activating_token_exact_ms", "context_token_ms",
              "context_combo_ms", "repeated_token_ms", "duplicates_sweep_ms", "duplicates_subset_layers_0_1_ms",
              "similar_to_ms", "neuron_graph_ms", "neuron_graph_walk_ms", "planted_duplicates_found")


def one_json(capsys: pytest.CaptureFixture[str], main, *argv: str) -> dict:
    assert main(list(argv)) == 0, capsys.readouterr().err[-2000:]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # exactly one JSON object on stdout
    return json.loads(out[0])


@pytest.fixture()
def own_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmarks start their own local servers here, not the test session's."""
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)


def test_store_benchmark_both_engines(own_servers, capsys: pytest.CaptureFixture[str]) -> None:
    result = one_json(capsys, store_bench.main, "--engine", "both", "--neurons", "240")
    assert result["engine"] == "both" and set(result) == {"engine", "ladybug", "neo4j"}
    lady, neo = result["ladybug"], result["neo4j"]
    for key in LOAD_KEYS:
        assert key in lady and key in neo, key
    assert (lady["engine"], neo["engine"]) == ("ladybug", "neo4j")
    assert neo["counts"] == lady["counts"] and neo["elements"] == lady["elements"] > 0
    assert neo["loader_elements"] == neo["elements"] and neo["batch_neurons"] == 1000
    assert neo["duplicates_sharing_signature"] == neo["planted_duplicates"] > 0
    assert 0 < neo["load_seconds"] and neo["load_elements_per_s"] > 0 and neo["db_bytes"] > 0
    assert neo["import_counts_match"] is True and neo["import_elements"] == neo["elements"]
    assert neo["import_elements_per_s"] > 0 and neo["export_elements_per_s"] > 0 and neo["server_start_seconds"] > 0


def test_query_benchmark_both_engines(own_servers, capsys: pytest.CaptureFixture[str]) -> None:
    result = one_json(capsys, query_bench.main, "--engine", "both", "--neurons", "240", "--repeats", "2",
                      "--sweep-repeats", "1")
    lady, neo = result["ladybug"], result["neo4j"]
    for key in QUERY_KEYS:
        assert key in lady and key in neo, key
    assert (lady["engine"], neo["engine"]) == ("ladybug", "neo4j")
    for key in QUERY_KEYS:
        if key.endswith("_ms"):
            assert lady[key] > 0 and neo[key] > 0, key
    assert lady["planted_duplicates_found"] == neo["planted_duplicates_found"] == lady["planted_duplicates"] > 0
    assert lady["duplicate_pairs_found"] == neo["duplicate_pairs_found"]


def test_query_benchmark_on_its_own_ladybug_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without --db the benchmark builds its store (this failed with a TypeError once)."""
    result = one_json(capsys, query_bench.main, "--neurons", "120", "--repeats", "2", "--sweep-repeats", "1")
    assert result["engine"] == "ladybug" and result["neurons"] == 120
