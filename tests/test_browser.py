"""The shop assistant page in a real headless browser: Debian's chromium driven by Playwright (no browser download),
against a real app on Milvus Lite with the sample catalog and the offline SmolLM2.

Where no chromium is installed the test is skipped, except when ``MMRAG_REQUIRE_BROWSER=1`` (``.ci/run`` sets it,
after installing chromium), where that is a failure. The screenshot goes to ``$MMRAG_TEST_ARTIFACTS`` (else the
test's temporary folder).
"""

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra: pip install -e '.[serve]'")

from multimodal_rag.catalog.sample import make_sample_catalog
from multimodal_rag.config import load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.server.app import create_app
from tests.serving import running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        message = ("no chromium here (apt-get install -y chromium)" if CHROMIUM is None else
                   "the [browser] extra is not installed: pip install -e '.[browser]'")
        if os.environ.get("MMRAG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run: {message}")
        pytest.skip(message)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, default_embedders):
    folder = tmp_path_factory.mktemp("browser")
    catalog = make_sample_catalog(folder / "sample")
    config = load_config(None, [f"store.db={json.dumps(str(folder / 'shop.db'))}"])
    ingest(catalog, config, progress=False, embedders=default_embedders)
    with running(create_app(config)) as url:  # the offline default chat model
        yield url, catalog.parent


def test_search_photo_and_a_cited_answer_in_the_browser(browser, site, tmp_path):
    url, sample = site
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    # Type a query: cards with photos.
    page.fill("#query", "blue ceramic mug")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .card")
    first = page.locator("#results .card").first
    assert first.get_attribute("id") == "product-mug-blue"
    assert page.locator("#results .card").count() == 12
    page.wait_for_function("() => document.querySelector('#results .card img').naturalWidth > 0")
    assert page.inner_text("#understood") == "understood: Color=Blue, Material=Ceramic, category=Mugs"
    # Upload a photo: its product first.
    page.set_input_files("#photo", str(sample / "images" / "lamp-blue.png"))
    page.wait_for_selector("#product-lamp-blue:first-child")
    assert page.locator("#results .card").first.get_attribute("id") == "product-lamp-blue"
    # Ask: a streamed answer whose citation points at a card.
    page.fill("#question", "How much is the Northwind Blue Ceramic Coffee Mug?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages .shop a.cite", timeout=120_000)
    assert page.inner_text(".messages .shop") == "The price of Northwind Blue Ceramic Coffee Mug is 349 INR [1]."
    link = page.locator(".messages .shop a.cite")
    assert (link.count(), link.inner_text(), link.get_attribute("href"), link.get_attribute("title")) == (
        1, "1", "#product-mug-blue", "Northwind Blue Ceramic Coffee Mug")
    page.click(".messages .shop a.cite")
    assert page.get_attribute("#product-mug-blue", "class") == "card cited"
    artifacts = Path(os.environ.get("MMRAG_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "shop-assistant.png"), full_page=True)
    assert (artifacts / "shop-assistant.png").stat().st_size > 10_000
    page.close()


def test_phone_width_keyboard_and_an_unavailable_catalog(browser, site):
    url, _ = site
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(url)
    columns = page.evaluate("getComputedStyle(document.querySelector('main')).gridTemplateColumns")
    assert len(columns.split()) == 1  # search and chat stack on a phone
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "query"
    page.keyboard.type("red mug")
    page.keyboard.press("Enter")
    page.wait_for_selector("#product-mug-red")
    # The store going away is said plainly.
    page.route("**/healthz", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body=json.dumps({"status": "unavailable", "reason": "the store does not answer"})))
    page.reload()
    page.wait_for_selector("#status:not([hidden])")
    assert page.inner_text("#status") == "The catalog is unavailable: the store does not answer"
    page.close()
