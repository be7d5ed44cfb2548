"""The quality report: Table 1 per layer, plots, the HTML gallery and `n2g report` runs."""
