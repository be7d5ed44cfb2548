"""The pipeline that builds every neuron's graph and loads it into the graph store (not built yet)."""
