"""Cypher templates and the search layer over the neuron-graph store."""
