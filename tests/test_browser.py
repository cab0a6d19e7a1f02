"""The running app in a real headless Chromium: cold deep links with query parameters."""
import os
import time

import pytest

from tests.server import CHROMIUM_ARGS, ROOT, chromium_path, streamlit_server
from ui.frame import PAGES, page_exists

pytestmark = pytest.mark.browser
CHROMIUM = chromium_path()
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but no Chromium found: install Debian's `chromium`.")
    pytest.skip("no Chromium on this machine (apt-get install chromium); the browser tests "
                "need it and fail under CI=true without it", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (base, proc):
        yield base, proc


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url, timeout_s=120, width=1400, height=1000):
    """Load `url` in a fresh tab; wait until the script has finished and a chart is drawn.
    Returns (page, seconds to the first chart)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    t0 = time.time()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stSidebar']", timeout=timeout_s * 1000)
    return page, t0


def wait_for_chart(page, t0, timeout_s=120):
    page.wait_for_selector(".vega-embed canvas, .vega-embed svg", timeout=timeout_s * 1000)
    first_chart = time.time() - t0
    # The run is over when Streamlit's status widget stops showing "running".
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_s * 1000)
    return first_chart


def assert_clean(page):
    assert page.locator("[data-testid='stException']").count() == 0, \
        page.locator("[data-testid='stException']").first.inner_text()
    links = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']")
    assert links.count() == sum(page_exists(p) for p in PAGES)


def test_overview_cold_deep_link(server, browser):
    base, _ = server
    page, t0 = open_page(browser, base + "/")
    page.wait_for_selector("text=Why does batch norm work?", timeout=60_000)
    assert_clean(page)
    page.close()


def test_playground_deep_link_with_query_params(server, browser):
    base, _ = server
    page, t0 = open_page(browser, base + "/Playground?steps=400&lr=0.3&seed=2")
    seconds = wait_for_chart(page, t0)
    assert_clean(page)
    assert page.locator(".vega-embed").count() >= 4
    assert "lr=0.3" in page.url and "seed=2" in page.url  # the view stays shareable
    page.screenshot(path=str(ROOT / "docs" / "playground.png"), full_page=False)
    print(f"playground first chart {seconds:.1f}s")
    page.close()


def test_malformed_url_shows_a_note_not_a_traceback(server, browser):
    base, _ = server
    page, t0 = open_page(browser, base + "/Playground?lr=abc&depth=-4&steps=1e12&steps=3")
    wait_for_chart(page, t0, timeout_s=180)
    assert_clean(page)
    text = page.inner_text("body")
    assert "lr=abc" in text and "using the default 4" in text
    page.close()
