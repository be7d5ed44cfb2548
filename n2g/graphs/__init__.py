"""Graphs: the neuron graph (a trie of token patterns), the matcher that predicts with it, scores, the paper's
baselines, drawing, and graph directories."""
