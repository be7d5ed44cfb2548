"""A static HTML gallery of fitted neuron graphs, for reading a quality report by eye.

Numbers alone (mean F1 against the baselines) do not show *why* a graph scores well or badly; a page with each
neuron's scores, its drawn graph and a few real windows shaded by activation does. The page is one file with
inline CSS, JS and SVG, so it opens from disk (file://) with no server and no network, can be attached to a
report or archived as is, and sorts itself (by F1, out-of-distribution F1, node count or layer/neuron) with a
few lines of plain JS; `gallery.html#sort=f1-desc` opens already sorted.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.rendering import mix_colour, render, visible_text
from n2g.graphs.scoring import Metric, Predictor, TextSet, format_score, mean_defined

FILENAME = "gallery.html"
RED, BLUE, GREEN, PALE = (214, 39, 40), (31, 119, 180), (44, 160, 44), (230, 230, 230)
SORTS = {"f1": "N2G F1", "ood": "random-window (OOD) F1", "nodes": "node count", "layer": "layer / neuron",
         "paper": "paper-mode F1"}
DEFAULT_SORT = "layer-asc"  # the order the cards are written in


@dataclass(frozen=True)
class ShadedExample:
    """One window to show: a token's background is its real activation, a bar under it the graph's prediction."""

    tokens: list[str]  # token texts as decoded, one per position
    activations: list[float]  # the neuron's real activation per token, as a fraction of a_max
    predicted: list[float] | None = None  # the graph's prediction per token (fraction of a_max), when known
    split: str = "train"  # "train" | "test" | "random": where this window was used


@dataclass(frozen=True)
class GalleryNeuron:
    graph: NeuronGraph
    examples: list[ShadedExample]
    paper_f1: float | None = None  # held-out F1 of the same neuron fitted in paper-faithful mode, when run


# --- numbers -----------------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite float, or None for anything undefined (None, NaN, infinities, non-numbers, bools)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _score(graph: NeuronGraph, method: Predictor, split: TextSet, metric: Metric) -> float | None:
    """One metric of the graph's scores: None where the graph was never scored or the score is undefined."""
    return None if graph.scores is None else _number(graph.scores.value(method, split, metric))


def _f1(graph: NeuronGraph) -> float | None:
    return _score(graph, "n2g", "test", "f1")


def _ood_f1(graph: NeuronGraph) -> float | None:
    return _score(graph, "n2g", "random", "f1")


def _fmt(value: float | None, digits: int = 3) -> str:
    return format_score(value, digits, missing="–")


def _attr(value: float | None) -> str:
    """A data-* attribute value: the number with full precision, or empty when undefined."""
    return "" if value is None else repr(value)


# --- shading -----------------------------------------------------------------------------------------------------


def activation_colour(value: float) -> str:
    """White to red for 0..1 (clamped); negative values a light blue; undefined values grey."""
    number = _number(value)
    if number is None:
        return "#dddddd"
    return mix_colour(BLUE, min(-number, 1.0) * 0.4) if number < 0 else mix_colour(RED, number)


def _prediction_colour(value: float) -> str:
    """Pale grey (predicted 0) to green (predicted a_max), so a known zero prediction still shows."""
    number = _number(value)
    return mix_colour(GREEN, number if number is not None else 0.0, PALE)


def _token_html(token: str, activation: float, predicted: float | None) -> str:
    style = f"background:{activation_colour(activation)}"
    if _number(activation) is not None and activation > 0.6:
        style += ";color:#ffffff"
    tip = f"activation {_fmt(_number(activation))}"
    if predicted is not None:
        style += f";border-bottom-color:{_prediction_colour(predicted)}"
        tip += f", predicted {_fmt(_number(predicted))}"
    tip += f" | token {token!r}"
    css = "tok pred" if predicted is not None else "tok"
    return (f'<span class="{css}" style="{style}" title="{html.escape(tip)}">'
            f"{html.escape(visible_text(token))}</span>")


def example_html(example: ShadedExample) -> str:
    """One window: a split badge, then each token shaded by activation (and underlined by prediction)."""
    predicted: Sequence[float | None] = example.predicted or [None] * len(example.tokens)
    spans = "".join(_token_html(token, activation, guess)
                    for token, activation, guess in zip(example.tokens, example.activations, predicted))
    peak = max((v for v in map(_number, example.activations) if v is not None), default=None)
    split = html.escape(example.split)
    return (f'<div class="example split-{split}"><span class="split" title="peak {_fmt(peak, 2)}">{split}</span>'
            f'<span class="toks">{spans}</span></div>')


# --- one neuron --------------------------------------------------------------------------------------------------


def inline_svg(graph: NeuronGraph, prefix: str) -> str:
    """The graph's SVG ready to sit inside HTML: no XML prolog, DOCTYPE or metadata, and its ids prefixed so that
    several drawings on one page do not share (and clash on) clip-path or element ids."""
    text = render(graph, "svg").decode("utf-8")
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = re.sub(r'\bid="([^"]*)"', rf'id="{prefix}\1"', text)
    text = re.sub(r'url\(#([^)]*)\)', rf"url(#{prefix}\1)", text)
    return re.sub(r'(xlink:href|href)="#([^"]*)"', rf'\1="#{prefix}\2"', text)


def _metric_cells(item: GalleryNeuron) -> list[tuple[str, str, str]]:
    """(heading, tooltip, value) for the neuron's score table."""
    graph = item.graph
    cells = [
        ("P", "N2G held-out precision", _fmt(_score(graph, "n2g", "test", "precision"))),
        ("R", "N2G held-out recall", _fmt(_score(graph, "n2g", "test", "recall"))),
        ("F1", "N2G held-out F1", _fmt(_f1(graph))),
        ("token F1", "token-lookup baseline, held-out F1", _fmt(_score(graph, "token_lookup", "test", "f1"))),
        ("5-gram F1", "5-gram baseline, held-out F1", _fmt(_score(graph, "ngram5", "test", "f1"))),
        ("OOD F1", "N2G F1 on random (out-of-distribution) windows", _fmt(_ood_f1(graph))),
        ("Pearson", "N2G held-out Pearson correlation", _fmt(_score(graph, "n2g", "test", "pearson"))),
        ("nodes", "nodes in the graph's trie", str(graph.node_count())),
    ]
    if item.paper_f1 is not None:
        cells.append(("paper F1", "held-out F1 fitted in paper-faithful mode", _fmt(_number(item.paper_f1))))
    return cells


def _metrics_html(item: GalleryNeuron) -> str:
    cells = _metric_cells(item)
    head = "".join(f'<th title="{html.escape(tip)}">{html.escape(name)}</th>' for name, tip, _ in cells)
    body = "".join(f"<td>{html.escape(value)}</td>" for _, _, value in cells)
    return f'<table class="metrics"><tr>{head}</tr><tr>{body}</tr></table>'


def _status_html(graph: NeuronGraph) -> str:
    status = html.escape(graph.status)
    reason = f": {html.escape(graph.reason)}" if graph.reason and graph.status != "fitted" else ""
    return f'<span class="status status-{status}">{status}{reason}</span>'


def card_id(graph: NeuronGraph) -> str:
    return f"neuron-{graph.layer}-{graph.neuron}"


def _data_attrs(item: GalleryNeuron) -> str:
    graph = item.graph
    values = {"layer": str(graph.layer), "neuron": str(graph.neuron), "f1": _attr(_f1(graph)),
              "ood": _attr(_ood_f1(graph)), "nodes": str(graph.node_count()), "paper": _attr(_number(item.paper_f1))}
    return " ".join(f'data-{key}="{html.escape(value)}"' for key, value in values.items())


def card_html(item: GalleryNeuron, svg: bool = True) -> str:
    """One neuron: name, status, scores, its drawn graph (not for dead neurons) and its shaded examples."""
    graph = item.graph
    ident = card_id(graph)
    drawing = ""
    if svg and graph.status != "dead":
        drawing = f'<div class="graph">{inline_svg(graph, ident + "-")}</div>'
    examples = "".join(example_html(example) for example in item.examples) or '<p class="none">no examples</p>'
    return (f'<section class="neuron status-{html.escape(graph.status)}" id="{ident}" {_data_attrs(item)}>'
            f"<header><h2>{html.escape(graph.name)}</h2>{_status_html(graph)}</header>"
            f'{_metrics_html(item)}{drawing}<div class="examples">{examples}</div></section>')


# --- the page ----------------------------------------------------------------------------------------------------


def _summary_html(neurons: Sequence[GalleryNeuron]) -> str:
    graphs = [item.graph for item in neurons]
    n2g = mean_defined(_f1(graph) for graph in graphs)
    lookup = mean_defined(_score(graph, "token_lookup", "test", "f1") for graph in graphs)
    ngram = mean_defined(_score(graph, "ngram5", "test", "f1") for graph in graphs)
    scored = sum(1 for graph in graphs if _f1(graph) is not None)
    statuses = ", ".join(f"{sum(1 for g in graphs if g.status == s)} {html.escape(s)}"
                         for s in sorted({g.status for g in graphs}))
    return (f'<p class="summary"><b>{len(neurons)}</b> neurons ({statuses}); {scored} with a held-out F1. '
            f"Mean held-out F1: N2G <b>{_fmt(n2g)}</b> vs token lookup <b>{_fmt(lookup)}</b> "
            f"(5-gram {_fmt(ngram)}).</p>")


def _controls_html() -> str:
    options = "".join(f'<option value="{key}-{way}">{html.escape(label)} {arrow}</option>'
                      for key, label in SORTS.items() for way, arrow in (("desc", "↓"), ("asc", "↑")))
    buttons = "".join(f'<button type="button" data-key="{key}">{html.escape(label)}</button>'
                      for key, label in SORTS.items())
    return (f'<div class="controls"><label>Sort by <select id="sort">{options}</select></label> '
            f'<span class="buttons">{buttons}</span> <span class="hint">(click again to reverse; neurons without '
            "a value go last; the URL keeps the order, e.g. <code>#sort=f1-desc</code>)</span></div>")


def legend_html() -> str:
    """What the shading of a window means (token background: activation; the bar under it: prediction)."""
    return ('<p class="legend">Token background: the neuron\'s real activation as a fraction of a_max '
            f'(<span class="tok" style="background:{activation_colour(0.0)}">0</span> '
            f'<span class="tok" style="background:{activation_colour(0.5)}">0.5</span> '
            f'<span class="tok" style="background:{activation_colour(1.0)};color:#fff">1</span>, negative '
            f'<span class="tok" style="background:{activation_colour(-1.0)}">blue</span>); the bar under a token: '
            f'the graph\'s prediction (<span class="tok pred" style="border-bottom-color:{_prediction_colour(0.0)}">'
            f'0</span> <span class="tok pred" style="border-bottom-color:{_prediction_colour(1.0)}">1</span>). '
            "Whitespace is shown as ␣ ⏎ ⇥. Hover a token for its values.</p>")


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 1.5em;
       color: #222; background: #fafafa; }
h1 { margin: 0 0 .3em 0; font-size: 1.5em; }
.summary, .legend { margin: .3em 0; }
.controls { margin: .8em 0 1em 0; position: sticky; top: 0; background: #fafafa; padding: .4em 0; z-index: 1; }
.controls button { margin: 0 .2em; padding: .2em .6em; border: 1px solid #bbb; border-radius: 4px; background: #fff;
                   cursor: pointer; }
.controls button.active { background: #333; color: #fff; }
.hint { color: #777; font-size: .85em; }
.neuron { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .7em 1em; margin: 0 0 1em 0; }
.neuron header { display: flex; align-items: baseline; gap: .8em; }
.neuron h2 { margin: 0; font-size: 1.2em; font-family: ui-monospace, Menlo, Consolas, monospace; }
.status { font-size: .85em; padding: .05em .5em; border-radius: 3px; background: #e8f3e8; }
.status-dead { background: #eee; color: #666; }
.status-failed { background: #fde2e2; color: #a00; }
.neuron.status-dead, .neuron.status-failed { opacity: .85; }
table.metrics { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
table.metrics th, table.metrics td { border: 1px solid #e2e2e2; padding: .15em .6em; text-align: right; }
table.metrics th { background: #f3f3f3; font-weight: 600; cursor: help; }
.graph svg { max-width: 100%; height: auto; }
.example { margin: .25em 0; line-height: 1.9; }
.split { display: inline-block; min-width: 5em; margin-right: .6em; font-size: .75em; color: #555;
         text-transform: uppercase; }
.split-test .split { color: #1f77b4; }
.split-random .split { color: #9467bd; }
.tok { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; padding: 0 1px; margin: 0 1px 0 0;
       border-radius: 2px; white-space: pre; }
.tok.pred { border-bottom: 4px solid transparent; }
.none { color: #888; font-style: italic; }
"""

JS = """
(function () {
  var KEYS = {f1: ["f1"], ood: ["ood"], nodes: ["nodes"], paper: ["paper"], layer: ["layer", "neuron"]};
  var list = document.getElementById("neurons");
  var select = document.getElementById("sort");
  var current = null;
  function value(card, name) {
    var text = card.getAttribute("data-" + name);
    if (text === null || text === "") { return null; }
    var number = parseFloat(text);
    return isFinite(number) ? number : null;
  }
  function compare(a, b, spec) {
    var names = KEYS[spec.key], sign = spec.dir === "asc" ? 1 : -1;
    for (var i = 0; i < names.length; i++) {
      var x = value(a, names[i]), y = value(b, names[i]);
      if (x === null && y === null) { continue; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      if (x !== y) { return sign * (x - y); }
    }
    return (value(a, "layer") - value(b, "layer")) || (value(a, "neuron") - value(b, "neuron"));
  }
  function parse(text) {
    var match = /(?:^|[#&?])sort=([a-z0-9]+)-(asc|desc)\\b/.exec(text || "");
    return match && KEYS[match[1]] ? {key: match[1], dir: match[2]} : null;
  }
  function apply(spec) {
    var cards = Array.prototype.slice.call(list.querySelectorAll("section.neuron"));
    cards.sort(function (a, b) { return compare(a, b, spec); });
    cards.forEach(function (card) { list.appendChild(card); });
    current = spec;
    var name = spec.key + "-" + spec.dir;
    list.setAttribute("data-sorted", name);
    select.value = name;
    Array.prototype.forEach.call(document.querySelectorAll(".controls button"), function (button) {
      button.className = button.getAttribute("data-key") === spec.key ? "active" : "";
    });
  }
  function choose(spec) {
    var name = spec.key + "-" + spec.dir;
    if (window.location.hash !== "#sort=" + name) { window.location.hash = "sort=" + name; } else { apply(spec); }
  }
  select.addEventListener("change", function () { choose(parse("sort=" + select.value)); });
  Array.prototype.forEach.call(document.querySelectorAll(".controls button"), function (button) {
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-key");
      var dir = current && current.key === key ? (current.dir === "desc" ? "asc" : "desc")
                                               : (key === "layer" ? "asc" : "desc");
      choose({key: key, dir: dir});
    });
  });
  window.addEventListener("hashchange", function () {
    var spec = parse(window.location.hash);
    if (spec) { apply(spec); }
  });
  apply(parse(window.location.hash) || parse("sort=" + list.getAttribute("data-default")));
})();
"""


def page_html(neurons: Sequence[GalleryNeuron], title: str, svg: bool = True) -> str:
    """The whole page: header, summary, sort controls, one card per neuron (in layer/neuron order), inline JS."""
    ordered = sorted(neurons, key=lambda item: (item.graph.layer, item.graph.neuron))
    cards = "\n".join(card_html(item, svg=svg) for item in ordered)
    name = html.escape(title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{name}</title>'
            f"<style>{CSS}</style></head><body><h1>{name}</h1>{_summary_html(neurons)}{legend_html()}"
            f'{_controls_html()}<main id="neurons" data-default="{DEFAULT_SORT}">\n{cards}\n</main>'
            f"<script>{JS}</script></body></html>\n")


def write_gallery(neurons: Sequence[GalleryNeuron], out_dir: str | Path, title: str, *, svg: bool = True) -> Path:
    """Write out_dir/gallery.html (one self-contained file: inline CSS, inline JS, SVGs embedded inline) and return
    its path."""
    path = Path(out_dir) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page_html(neurons, title, svg=svg), encoding="utf-8")
    return path
