"""Server-side time of a rerun of an already-computed view, every page at its default view.

    python bench/rerun.py

Renders each page under Streamlit's AppTest (in this process, as the server would run it), once
to compute its default view and once more: the second render is a rerun of a cached view (the
page script, the cache look-up, building the charts). The browser adds its own drawing on top
(`bench/memory.py` times a whole second visit in Chromium).
"""
from __future__ import annotations

import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.apphelp import render  # noqa: E402
from ui.frame import PAGES, page_exists  # noqa: E402


def main():
    print(f"{'page':34s} {'first render (s)':>17s} {'cached rerun (s), median of 3':>31s}")
    for page in PAGES:
        if not page_exists(page):
            continue
        t0 = time.perf_counter()
        render(page.path)
        first = time.perf_counter() - t0
        reruns = []
        for _ in range(3):
            t0 = time.perf_counter()
            at = render(page.path)
            reruns.append(time.perf_counter() - t0)
            assert not at.exception, (page.path, at.exception)
        print(f"{page.label:34s} {first:17.1f} {statistics.median(reruns):31.2f}", flush=True)


if __name__ == "__main__":
    main()
