"""Screenshots of every page at its default view, for a look: lecture mode at 1280x720.

    python bench/screenshots.py [--out DIR] [--normal] [--width 1400] [--only 3_] [--query seed=3]

Starts the server, opens every page in headless Chromium (`?lecture=true` unless --normal),
and writes one PNG per page: the first screen, and the full page.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.server import (exceptions_on, first_chart_seconds, launch_chromium,  # noqa: E402
                          page_url, streamlit_server)
from ui.frame import PAGES, page_exists  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/bnjax-screenshots")
    ap.add_argument("--normal", action="store_true", help="not lecture mode")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--only", default="", help="only pages whose file name contains this")
    ap.add_argument("--query", default="", help="extra query string, e.g. seed=3&lr=0.1")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    with streamlit_server() as (base, _), sync_playwright() as p:
        browser = launch_chromium(p)
        for page_def in PAGES:
            if not page_exists(page_def) or args.only not in page_def.path:
                continue
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            query = "&".join(q for q in ("" if args.normal else "lecture=true", args.query) if q)
            query = "?" + query if query else ""
            first_chart_seconds(page, base + page_url(page_def.path) + query,
                                chart=page_def.path != "dashboard.py")
            page.wait_for_timeout(1500)  # let Vega finish drawing
            stem = pathlib.Path(page_def.path).stem
            page.screenshot(path=str(out / f"{stem}.png"))
            # The page scrolls inside stMain, not the document: grow the viewport to its height.
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')"
                                   ".scrollHeight")
            page.set_viewport_size({"width": args.width, "height": max(height, args.height)})
            page.wait_for_timeout(1500)  # Vega redraws at the new size
            page.screenshot(path=str(out / f"{stem}_full.png"))
            print(f"{page_def.label}: {out / stem}.png", exceptions_on(page) or "")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
