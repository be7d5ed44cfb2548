"""n2g: explain language-model neurons as graphs (Neuron to Graph) and search them.

The public API, importable from here::

    model = n2g.load_model("smollm2-135m")
    n2g.mine_exemplars(model, "python-stdlib", "work/exemplars", n2g.MiningConfig(layers=(0,)))
    n2g.fit_graphs(model, n2g.ExemplarSet("work/exemplars"), "work/graphs", [0], None, n2g.FitConfig())

Names are resolved on first use (PEP 562), so `import n2g` stays cheap: it imports neither torch nor any stage.
Graph fitting is `fit_graphs`, not `fit`: `n2g.fit` is the fitting subpackage, which Python binds to that name
as soon as any of its modules is imported, so an attribute `fit` here would be shadowed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here

# public name -> the module defining it
_EXPORTS = {
    "load_model": "n2g.model.loading",
    "mine_exemplars": "n2g.exemplars.run",
    "ExemplarSet": "n2g.exemplars.files",
    "MiningConfig": "n2g.exemplars.miner",
    "fit_graphs": "n2g.fit.run",
    "FitConfig": "n2g.fit.fitter",
    "NeuronGraph": "n2g.graphs.neuron_graph",
    "GraphMatcher": "n2g.graphs.prediction",
    "NeuronSearch": "queries.search",
}

__all__ = ["load_model", "mine_exemplars", "ExemplarSet", "MiningConfig", "fit_graphs", "FitConfig", "NeuronGraph",
           "GraphMatcher", "NeuronSearch"]  # = _EXPORTS, written out so that tools read it statically

if TYPE_CHECKING:  # for type checkers and IDEs only; at run time the names load lazily
    from n2g.exemplars.files import ExemplarSet
    from n2g.exemplars.miner import MiningConfig
    from n2g.exemplars.run import mine_exemplars
    from n2g.fit.fitter import FitConfig
    from n2g.fit.run import fit_graphs
    from n2g.graphs.neuron_graph import NeuronGraph
    from n2g.graphs.prediction import GraphMatcher
    from n2g.model.loading import load_model
    from queries.search import NeuronSearch


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
