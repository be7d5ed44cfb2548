"""Exemplars: corpora cut into windows, one forward sweep keeping every neuron's top-k windows and a random sample,
checkpointed runs, and the files they write."""
