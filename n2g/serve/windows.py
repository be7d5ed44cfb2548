"""The text a neuron page shows under the graph, shaded as the report gallery shades it (`n2g.report.gallery`):
token backgrounds by the neuron's real activation, a bar under each token by the graph's prediction.

What is reachable decides what is shown, and `Windows.note` says which:

- exemplars (mined with the settings the store recorded) and the model's tokenizer: the strongest training and
  held-out windows (the split the fit used), with every token's real activation and the prediction;
- no exemplars, but the tokenizer: the store's `example` (the tokens up to the top window's peak) tokenized again,
  the prediction under each token; the real activation is known at the peak only (the top window's maximum,
  a_max), the others are grey;
- neither: the example as plain text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from n2g.exemplars.files import NeuronExemplars
from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.model.token_keys import Vocabulary
from n2g.report.gallery import ShadedExample

WINDOWS_SHOWN = 6  # half training windows, half held-out, as the gallery shows them


@dataclass
class Windows:
    source: str  # "exemplars" | "example" | "text" | "none"
    note: str
    examples: list[ShadedExample] = field(default_factory=list)
    text: str | None = None  # the stored example, when it could not be tokenized

    def to_dict(self) -> dict[str, Any]:
        def finite(values: list[float] | None) -> list[float | None] | None:
            return None if values is None else [v if math.isfinite(v) else None for v in values]

        return {"source": self.source, "note": self.note, "text": self.text,
                "windows": [{"split": e.split, "tokens": e.tokens, "activations": finite(e.activations),
                             "predicted": finite(e.predicted)} for e in self.examples]}


def _split(ex: NeuronExemplars, fit: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The train and held-out windows as the fit chose them (its recorded split, fraction and seed)."""
    from n2g.fit.fitter import random_window_split, split_windows

    fraction, seed = float(fit.get("train_fraction", 0.5)), int(fit.get("seed", 0)) + ex.neuron
    if fit.get("split") == "window":
        train, test, _ = random_window_split(len(ex.documents), fraction, seed)
    else:
        train, test, _ = split_windows(ex.documents, fraction, seed)
    return train, test


def from_exemplars(graph: NeuronGraph, ex: NeuronExemplars, tokenizer: Any, fit: dict[str, Any],
                   where: str, count: int = WINDOWS_SHOWN) -> Windows:
    train, test = _split(ex, fit)
    half = count // 2
    chosen = [(i, "train") for i in train[:half]] + [(i, "test") for i in test[:count - half]]
    chosen.sort(key=lambda item: -float(ex.values[item[0]]))
    vocab = Vocabulary(tokenizer, graph.token_matching)
    matcher = GraphMatcher(graph)
    scale = ex.a_max if ex.a_max > 0 else 1.0
    examples = [ShadedExample(tokens=vocab.texts(ex.tokens[i]), activations=(ex.acts[i] / scale).tolist(),
                              predicted=matcher.predict(vocab.keys(ex.tokens[i])).tolist(), split=split)
                for i, split in chosen]
    shown = sum(1 for _, s in chosen if s == "train"), sum(1 for _, s in chosen if s == "test")
    note = (f"The neuron's strongest mined windows ({shown[0]} it was fitted on, {shown[1]} held out), from {where}: "
            "each token's background is the neuron's real activation there, the bar under it the graph's "
            "prediction, both as a fraction of a_max.")
    return Windows("exemplars", note, examples)


def from_example(graph: NeuronGraph, example: str | None, tokenizer: Any | None) -> Windows:
    if not example:
        return Windows("none", "No windows: the store keeps no example for this neuron and no exemplars were "
                       "found (give n2g serve --exemplars DIR or --work-dir DIR).")
    if tokenizer is None:
        return Windows("text", "The store's example (the text up to the neuron's strongest activation, at its last "
                       "token). No tokenizer is available offline for this model, so no prediction is shown; "
                       "give n2g serve --exemplars DIR for shaded windows.", text=example)
    tokens = tokenizer(example, add_special_tokens=False)["input_ids"]
    vocab = Vocabulary(tokenizer, graph.token_matching)
    predicted = GraphMatcher(graph).predict(vocab.keys(tokens)).tolist() if tokens else []
    activations = [math.nan] * len(tokens)
    if activations:
        activations[-1] = 1.0  # the peak of the top window: the neuron's max activation, a_max
    note = ("The store's example: the text up to the neuron's strongest activation (its last token, real activation "
            "a_max), tokenized again; the bar under each token is the graph's prediction. Other tokens' real "
            "activations are not stored (grey); give n2g serve --exemplars DIR for fully shaded windows.")
    return Windows("example", note, [ShadedExample(tokens=vocab.texts(tokens), activations=activations,
                                                   predicted=predicted, split="example")])
