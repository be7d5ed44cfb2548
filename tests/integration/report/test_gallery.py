"""The static HTML gallery: escaping, self-containment, per-neuron content, and (in a real headless chromium) that
the inline JS sorts the cards from the URL hash and the page draws something."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.scoring import GraphScores
from n2g.report.gallery import GalleryNeuron, ShadedExample, activation_colour, write_gallery
from tests.factories import dead_graph, make_graph

HOSTILE = "<script>alert(1)</script>"
TITLE = "Quality <b>report</b> & \"friends\""
# Written in layer/neuron order; F1 is deliberately not monotone in that order, so sorting has work to do.
F1 = {"0:0": 0.3, "0:1": 0.9, "0:2": 0.6, "1:0": None, "1:1": "dead", "2:4": 0.4}
BY_F1_DESC = ["neuron-0-1", "neuron-0-2", "neuron-2-4", "neuron-0-0", "neuron-1-0", "neuron-1-1"]
BY_F1_ASC = ["neuron-0-0", "neuron-2-4", "neuron-0-2", "neuron-0-1", "neuron-1-0", "neuron-1-1"]
BY_LAYER = ["neuron-0-0", "neuron-0-1", "neuron-0-2", "neuron-1-0", "neuron-1-1", "neuron-2-4"]
CARD = re.compile(r'<section class="neuron[^"]*" id="(neuron-\d+-\d+)"')


def _split(f1: float | None, precision: float = 0.8) -> dict[str, Any]:
    return {"tokens": 100, "tp": 7, "fp": 2, "fn": 3, "precision": precision, "recall": 0.7, "f1": f1,
            "pearson": 0.61}


def _scores(f1: float | None) -> dict[str, Any]:
    n2g = {"test": _split(f1), "random": _split(None if f1 is None else f1 / 2)}
    return {"n2g": n2g, "token_lookup": {"test": _split(0.5), "random": _split(0.25)},
            "ngram5": {"test": _split(0.45), "random": _split(0.2)}, "test": n2g["test"], "random": n2g["random"]}


def _graphs() -> list[NeuronGraph]:
    graphs = [make_graph(0, 0, [(" import", ["\n"]), (" from", ["\n", None, " import"])]),
              make_graph(0, 1, [(" x", [" =", " x"]), (" y", [" x"])]),
              make_graph(0, 2, [(HOSTILE, ['"', "&"]), ("\n", ["MATCH"])]),
              make_graph(1, 0, [(" the", [" of"])]),
              dead_graph(1, 1),
              make_graph(2, 4, [(" def", ["\n"])])]
    for graph in graphs:
        f1 = F1[graph.name]
        if f1 != "dead":
            graph.scores = GraphScores.from_dict(_scores(f1))
    return graphs


EXAMPLES = [
    ShadedExample(tokens=["\n", "x", " =", " ", HOSTILE, " &", ' "q\'', "\t"],
                  activations=[0.0, 0.25, 0.5, 1.0, 1.7, -0.4, 0.1, 0.0],
                  predicted=[0.0, 0.0, 0.5, 0.9, 1.0, 0.0, 0.0, 0.0], split="test"),
    ShadedExample(tokens=["a", " b"], activations=[0.2, 0.9], split="random"),
]


def _neurons() -> list[GalleryNeuron]:
    return [GalleryNeuron(graph, EXAMPLES, paper_f1=0.55 if graph.name == "0:1" else None) for graph in _graphs()]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given out of order: the page writes cards in layer/neuron order whatever order it is handed.
    return write_gallery(list(reversed(_neurons())), tmp_path_factory.mktemp("gallery") / "out", TITLE)


@pytest.fixture(scope="module")
def page(gallery: Path) -> str:
    return gallery.read_text(encoding="utf-8")


def _card(page: str, ident: str) -> str:
    start = page.index(f'id="{ident}"')
    return page[start:page.index("</section>", start)]


# --- unit ----------------------------------------------------------------------------------------------------


def test_writes_one_file_named_gallery_html(gallery: Path) -> None:
    assert gallery.name == "gallery.html" and gallery.is_file()
    assert sorted(p.name for p in gallery.parent.iterdir()) == ["gallery.html"]


def test_hostile_text_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only the page's own inline JS
    assert "<b>report</b>" not in page and "Quality &lt;b&gt;report&lt;/b&gt; &amp; &quot;friends&quot;" in page
    card = _card(page, "neuron-0-1")
    assert "␣&amp;" in card and "␣&quot;q&#x27;" in card  # ' &' and ' "q\'' with the space made visible
    assert "⏎" in card and "⇥" in card  # newline and tab shown, not written raw into a span
    assert not re.search(r'<span class="tok[^>]*>[^<]*[\n\t][^<]*</span>', page)


def test_page_is_self_contained(page: str) -> None:
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", page, re.IGNORECASE)
    assert "<link" not in page and "@import" not in page and "<img" not in page and "<iframe" not in page
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:|//)", page)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # the inline SVGs' ids are prefixed per neuron, so they cannot clash


def test_cards_carry_sort_data_in_layer_order(page: str) -> None:
    assert CARD.findall(page) == BY_LAYER
    assert re.search(r'id="neuron-0-1" data-layer="0" data-neuron="1" data-f1="0.9" data-ood="0.45" '
                     r'data-nodes="5" data-paper="0.55"', page)
    assert 'id="neuron-1-0" data-layer="1" data-neuron="0" data-f1="" data-ood=""' in page
    assert 'id="neuron-1-1" data-layer="1" data-neuron="1" data-f1="" data-ood="" data-nodes="0"' in page


def test_card_shows_scores(page: str) -> None:
    card = _card(page, "neuron-0-1")
    cells = re.findall(r"<td>([^<]*)</td>", card)
    # P, R, F1, token F1, 5-gram F1, OOD F1, Pearson, nodes, paper F1
    assert cells == ["0.800", "0.700", "0.900", "0.500", "0.450", "0.450", "0.610", "5", "0.550"]
    assert "<h2>0:1</h2>" in card and ">fitted<" in card
    assert "paper F1" not in _card(page, "neuron-0-0")
    assert re.findall(r"<td>([^<]*)</td>", _card(page, "neuron-1-0"))[2] == "–"


def test_dead_neuron_shows_reason_and_no_svg(page: str) -> None:
    dead = _card(page, "neuron-1-1")
    assert "<svg" not in dead
    assert "dead: never fired in the corpus" in dead
    for ident in BY_LAYER:
        if ident != "neuron-1-1":
            assert "<svg" in _card(page, ident), ident


def test_svg_false_skips_every_drawing(tmp_path: Path) -> None:
    page = write_gallery(_neurons()[:2], tmp_path, "no pictures", svg=False).read_text(encoding="utf-8")
    assert "<svg" not in page
    assert CARD.findall(page) == ["neuron-0-0", "neuron-0-1"]


def test_header_summarises(page: str) -> None:
    summary = page[page.index('<p class="summary">'):page.index("</p>", page.index('<p class="summary">'))]
    assert "<b>6</b> neurons (1 dead, 5 fitted); 4 with a held-out F1" in summary
    assert "N2G <b>0.550</b> vs token lookup <b>0.500</b>" in summary  # mean of 0.3, 0.9, 0.6, 0.4


def test_tokens_are_shaded_by_activation_with_prediction(page: str) -> None:
    assert activation_colour(0.0) == "#ffffff"
    assert activation_colour(1.0) == activation_colour(1.7) == "#d62728"  # clamped at a_max
    assert activation_colour(0.5) not in ("#ffffff", "#d62728")
    red, green, blue = (int(activation_colour(-0.4)[i:i + 2], 16) for i in (1, 3, 5))
    assert blue > red and (red, green, blue) != (255, 255, 255)  # negative: a light blue
    card = _card(page, "neuron-0-0")
    spans = re.findall(r'<span class="(tok[^"]*)" style="([^"]*)" title="([^"]*)">([^<]*)</span>', card)
    assert [text for *_, text in spans] == ["⏎", "x", "␣=", "␣", "&lt;script&gt;alert(1)&lt;/script&gt;",
                                            "␣&amp;", "␣&quot;q&#x27;", "⇥", "a", "␣b"]
    css, style, tip, _ = spans[3]
    assert css == "tok pred" and "background:#d62728" in style and "border-bottom-color:" in style
    assert tip.startswith("activation 1.000, predicted 0.900")
    css, style, tip, _ = spans[9]  # the second example has no predictions: no bar
    assert css == "tok" and "border-bottom" not in style and tip.startswith("activation 0.900 |")
    assert 'class="example split-test"' in card and 'class="example split-random"' in card


# --- a real browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): cannot check the gallery's JS")
    return path


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.integration
@pytest.mark.parametrize(("sort", "expected"), [("f1-desc", BY_F1_DESC), ("f1-asc", BY_F1_ASC),
                                                ("layer-asc", BY_LAYER)])
def test_browser_sorts_from_url_hash(chromium: str, gallery: Path, tmp_path: Path, sort: str,
                                     expected: list[str]) -> None:
    dom = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", f"{gallery.as_uri()}#sort={sort}").stdout
    assert f'data-sorted="{sort}"' in dom  # set by the page's JS, so the script ran
    assert CARD.findall(dom) == expected


@pytest.mark.integration
def test_browser_screenshot_draws_the_page(chromium: str, gallery: Path, tmp_path: Path) -> None:
    from matplotlib import image

    shot = tmp_path / "gallery.png"
    _run_chromium(chromium, tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}",
                  f"{gallery.as_uri()}#sort=f1-desc")
    assert shot.is_file() and shot.stat().st_size > 20_000
    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (2000, 1280)
    colours = {tuple(pixel) for pixel in pixels[::7, ::7].reshape(-1, pixels.shape[2]).round(2).tolist()}
    assert len(colours) > 20  # text, red and blue shading, graph boxes: far from a blank page
