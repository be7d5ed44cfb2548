"""The plain-text graph summary of `n2g show`: the firing rate on the neuron's own scale, and escaped token texts."""

from __future__ import annotations

import pytest

from n2g.graphs.display import firing_percent, graph_summary
from n2g.graphs.neuron_graph import GraphStats, NeuronGraph


def _graph(stats: GraphStats) -> NeuronGraph:
    graph = NeuronGraph(model="tiny", layer=0, neuron=3, a_max=2.0, token_matching="exact", stats=stats)
    graph.insert("\\xe2\\x80", "\\xe2\\x80", 0.9, 1.0, [])
    return graph


def test_summary_gives_the_firing_rate_at_the_scores_threshold() -> None:
    text = graph_summary(_graph(GraphStats(fire_rate=0.55, firing_rate=0.0123)))
    assert "fires (>= 0.5 x a_max) on 1.2% of random-window tokens" in text
    assert "55" not in text  # the share above 0 (a sign, on a gated MLP) is not called firing
    assert "[\\xe2\\x80]" in text  # a part of a character, as its escaped bytes


def test_summary_of_a_graph_without_a_firing_rate_says_nothing_of_it() -> None:
    assert "fires" not in graph_summary(_graph(GraphStats(fire_rate=0.55)))


@pytest.mark.parametrize(("rate", "shown"), [(0.0, "0.0%"), (1.0, "100.0%"), (0.5534, "55.3%"), (0.0123, "1.2%"),
                                             (0.00998, "1.00%"), (0.001, "0.10%"), (0.0000612, "0.0061%")])
def test_firing_percent_keeps_two_significant_digits_when_sparse(rate: float, shown: str) -> None:
    assert firing_percent(rate) == shown
