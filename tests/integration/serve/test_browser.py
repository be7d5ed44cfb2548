"""`n2g serve` used as a person would: a real server (the `n2g serve` command, on a free port) over a store that
`n2g ingest` built from the tiny model, driven by Debian's Chromium (headless, through Playwright's driver; no
browser is downloaded). Types a token, clicks a result, sees the neuron page's graph and shaded windows; types a
text and clicks a token; screenshots of each step are kept in the test's temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from n2g.cli.main import main
from n2g.serve.process import running_server
from queries.search import NeuronSearch

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def store(tiny_model_dir: Path, small_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-store")
    assert main(["ingest", "--model", str(tiny_model_dir), "--corpus", str(small_corpus_dir), "--layers", "0:1",
                 "--neurons", "0:15", "--max-tokens", "6000", "--top-k", "8", "--work-dir", str(root / "work"),
                 "--db", str(root / "n2g.lbdb"), "--no-progress"]) == 0
    return root


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[str]:
    with running_server(str(store / "n2g.lbdb"), "--work-dir", str(store / "work"),
                        log_path=store / "serve.log") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (apt-get install -y chromium): the browser test needs it")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (n2g[dev])")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


def a_token_and_its_text(store: Path) -> tuple[str, str, str]:
    """A word some fitted neuron fires on (as a person would type it), that neuron's id, and its stored example."""
    with NeuronSearch(str(store / "n2g.lbdb")) as search:
        rows = search.query("MATCH (n:Neuron)-[:ACTIVATES_ON]->(t:Token) WHERE n.status = 'fitted' AND "
                            "n.example IS NOT NULL RETURN t.text AS token, n.id AS id, n.example AS example, "
                            "n.f1 AS f1 ORDER BY n.f1 DESC, n.id")
    for row in rows.itertuples():
        word = str(row.token).strip()
        if len(word) >= 2 and word.isalpha() and word in str(row.example):
            return word, str(row.id), str(row.example)
    raise AssertionError(f"no fitted neuron fires on a word: {rows.head()}")


def check_screenshot(path: Path) -> None:
    from matplotlib import image

    assert path.is_file() and path.stat().st_size > 15_000, path
    pixels = image.imread(str(path))
    colours = {tuple(p) for p in pixels[::9, ::9].reshape(-1, pixels.shape[2]).round(2).tolist()}
    assert len(colours) > 20, path  # text, shading, a graph: far from a blank page


@pytest.mark.integration
def test_type_a_token_click_a_neuron_see_its_graph_and_windows(server: str, store: Path, browser: Any,
                                                               tmp_path: Path) -> None:
    word, nid, _ = a_token_and_its_text(store)
    page = browser.new_page()
    page.goto(server + "/")
    page.click("#q")
    page.keyboard.type(word)
    page.keyboard.press("Enter")
    page.wait_for_selector("#summary")
    page.screenshot(path=str(tmp_path / "1-search.png"), full_page=True)
    links = page.locator("a.neuron-link")
    assert links.count() >= 1, page.content()[:3000]
    layer, neuron = nid.rsplit(":", 2)[1:]
    wanted = page.locator(f'a.neuron-link[href^="/neuron/{layer}:{neuron}?"]')
    assert wanted.count() == 1
    page.locator("table.results th", has_text="f1").first.click()  # sort by F1: the header says which way
    assert page.locator("table.results th[aria-sort]").count() == 1
    wanted.click()
    page.wait_for_selector("#graph svg")
    assert page.url.startswith(f"{server}/neuron/{layer}:{neuron}")
    assert page.locator("#graph svg g.node.activating").count() >= 1
    assert "fires here" in page.inner_text("#graph")  # the legend is drawn
    assert page.locator("#scores tr.n2g td.f1").count() == 2  # held-out and random-text F1
    windows = page.locator("#windows .example")
    assert windows.count() >= 2
    assert page.locator("#windows .tok.pred").count() > 10  # every token shaded, a prediction under each
    assert "mined windows" in page.inner_text("#windows-note")
    page.screenshot(path=str(tmp_path / "2-neuron.png"), full_page=True)
    for shot in ("1-search.png", "2-neuron.png"):
        check_screenshot(tmp_path / shot)
    page.close()


@pytest.mark.integration
def test_type_a_text_click_a_token(server: str, store: Path, browser: Any, tmp_path: Path) -> None:
    word, nid, example = a_token_and_its_text(store)
    page = browser.new_page()
    page.goto(server + "/")
    page.fill("#q", example)
    page.select_option("#as", "text")
    page.click("#go")
    page.wait_for_selector("#text-tokens")
    tokens = page.locator(".text-token")
    assert tokens.count() >= 3
    firing = page.locator(".text-token.fires")
    assert firing.count() >= 1, page.inner_text("#text-tokens")
    last = firing.nth(firing.count() - 1)
    position = last.get_attribute("data-pos")
    last.click()
    panel = page.locator(f'.token-neurons[data-pos="{position}"]')
    assert panel.is_visible()
    assert page.locator(".token-neurons:visible").count() == 1  # only the clicked token's neurons show
    assert panel.locator("a.neuron-link").count() >= 1
    page.screenshot(path=str(tmp_path / "3-text.png"), full_page=True)
    check_screenshot(tmp_path / "3-text.png")
    panel.locator("a.neuron-link").first.click()
    page.wait_for_selector("#graph svg")
    page.close()


@pytest.mark.integration
def test_the_api_from_the_browser(server: str, browser: Any) -> None:
    page = browser.new_page()
    response = page.goto(server + "/api/search?repeated_token=true&limit=3")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    bad = page.goto(server + "/api/neuron/99:99")
    assert bad is not None and bad.status == 404 and '"error"' in page.content()
    spec = page.goto(server + "/openapi.json")
    assert spec is not None and spec.status == 200 and "/api/search" in page.content()
    page.close()
