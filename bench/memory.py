"""Time to first chart and server memory, every page at its default view, on a fresh server.

    python bench/memory.py             # empty compilation cache: a true cold start
    python bench/memory.py --warm      # the persistent compilation cache filled first

Starts `streamlit run dashboard.py`, opens every page in headless Chromium in order (the
Overview first, as a visitor would: its first paint, while it warms the default views in the
background), and prints the seconds to the first chart and the server's RSS after each page;
then opens every page again, as a second viewer would, and prints the seconds to the first chart
of the cached view.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.server import (exceptions_on, first_chart_seconds, launch_chromium,  # noqa: E402
                          page_url, rss_mb, streamlit_server)
from ui.frame import PAGES, page_exists  # noqa: E402


def tour(cache_dir: str) -> list[list]:
    """Rows of [label, first-visit seconds, server RSS (MB), exceptions, second-visit seconds]."""
    from playwright.sync_api import sync_playwright
    built = [p for p in PAGES if page_exists(p)]
    with streamlit_server(env={"BNJAX_COMPILATION_CACHE": cache_dir}) as (base, proc), \
            sync_playwright() as p:
        browser = launch_chromium(p)

        def visit(page_def) -> tuple[float, list[str]]:
            """Seconds to the first chart and the exceptions shown. The Overview: its first
            paint, then on (it keeps measuring its cards and warming the default views in the
            background), as in tests/test_browser.py's tour."""
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            overview = page_def.path == "dashboard.py"
            seconds = first_chart_seconds(page, base + page_url(page_def.path),
                                          chart=not overview, finish=not overview)
            errors = exceptions_on(page)
            page.close()
            return seconds, errors

        rows = []
        for page_def in built:
            seconds, errors = visit(page_def)
            rows.append([page_def.label, seconds, rss_mb(proc.pid), errors])
        for row, page_def in zip(rows, built):  # a second viewer: the cached view
            seconds, errors = visit(page_def)
            row[3] += errors
            row.append(seconds)
        browser.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", action="store_true", help="fill the compilation cache first")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        if args.warm:
            tour(cache)
        rows = tour(cache)
    print(f"{'page':34s} {'first chart (s)':>16s} {'server RSS (MB)':>16s} {'cached (s)':>11s}")
    for label, seconds, rss, errors, cached in rows:
        print(f"{label:34s} {seconds:16.1f} {rss:16.0f} {cached:11.1f}"
              + (f"  EXCEPTION: {errors}" if errors else ""))


if __name__ == "__main__":
    main()
