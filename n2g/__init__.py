"""n2g: explain language-model neurons as graphs (Neuron to Graph) and search them."""

__version__ = "0.1.0"
