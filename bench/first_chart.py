"""Seconds to a page's first chart and to the complete page, as a newcomer meets them.

    python bench/first_chart.py                 # every page: by URL, and through the Overview
    python bench/first_chart.py --only 2_ 5_    # some pages
    python bench/first_chart.py --warm-cache    # the compilation cache filled by a first tour

For each page, a fresh `streamlit run dashboard.py` with an empty compilation cache (a Community
Cloud wake), in headless Chromium:
  * by URL: the page's deep link; seconds until a chart is drawn (a live chart counts) and until
    the script has finished (every chart drawn);
  * through the Overview: open the Overview (it computes its cards and starts the background
    warm-up), click the page's sidebar link 3 s later, and time the same two events from the click;
  * server start: from launching `streamlit run` until its health check answers (it includes the
    start-up preload, `ui/startup.py`: the imports every page needs), the lower of the two servers.
The issue's table ("first chart", "page complete") comes from these two columns.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.server import (exceptions_on, launch_chromium, page_url,  # noqa: E402
                          streamlit_server)
from ui.frame import PAGES, page_exists  # noqa: E402

CHART = ".vega-embed canvas, .vega-embed svg"
RUNNING = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def _times(page, t0: float, timeout_s: float) -> tuple[float, float]:
    page.wait_for_selector(CHART, timeout=timeout_s * 1000)
    first = time.time() - t0
    time.sleep(0.5)  # the status widget shows up once the run is under way
    page.wait_for_function(RUNNING, timeout=timeout_s * 1000)
    return first, time.time() - t0


def measure(browser, page_def, cache: str, via_overview: bool, timeout_s: float = 600):
    """(first chart s, complete s, exceptions, server start s): the first two from the URL's
    opening or the click; the last from launching `streamlit run` until it answers."""
    launched = time.time()
    with streamlit_server(env={"BNJAX_COMPILATION_CACHE": cache}) as (base, _proc):
        ready = time.time() - launched
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        if via_overview:
            page.goto(base + "/", wait_until="domcontentloaded")
            page.wait_for_selector("[data-testid='stSidebar'] [data-testid='stPageLink']",
                                   timeout=timeout_s * 1000)
            time.sleep(3.0)
            link = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a").filter(
                has_text=page_def.label)
            t0 = time.time()
            link.first.click()
        else:
            t0 = time.time()
            page.goto(base + page_url(page_def.path), wait_until="domcontentloaded")
        first, done = _times(page, t0, timeout_s)
        errors = exceptions_on(page)
        page.close()
        return first, done, errors, ready


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="page file prefixes, e.g. 2_ 5_")
    ap.add_argument("--warm-cache", action="store_true",
                    help="keep one compilation cache across servers (filled by the first)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    pages = [p for p in PAGES if page_exists(p) and p.path != "dashboard.py"
             and (not args.only or any(pathlib.Path(p.path).name.startswith(o)
                                       for o in args.only))]
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    print(f"{'page':32s} {'by URL: first chart':>20s} {'complete':>9s}   "
          f"{'via Overview: first chart':>26s} {'complete':>9s}   {'server start':>12s}",
          flush=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as shared:
        browser = launch_chromium(p)
        for page_def in pages:
            row, starts = [], []
            for via in (False, True):
                with tempfile.TemporaryDirectory() as fresh:
                    first, done, errors, ready = measure(
                        browser, page_def, shared if args.warm_cache else fresh, via)
                row += [first, done]
                starts.append(ready)
                if errors:
                    print(f"  EXCEPTION on {page_def.label}: {errors}")
            print(f"{page_def.label:32s} {row[0]:20.1f} {row[1]:9.1f}   {row[2]:26.1f} "
                  f"{row[3]:9.1f}   {min(starts):12.1f}", flush=True)
        browser.close()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
