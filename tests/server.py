"""A real `streamlit run dashboard.py` on a free loopback port, and Debian's Chromium for it."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict | None = None, timeout: float = 90):
    """Start the dashboard headless; yields (base_url, process). Stops it afterwards."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        os.unlink(log.name)


def peak_rss_mb(pid: int) -> float:
    """The most resident memory the process has had so far (Linux's VmHWM), in MB: what an
    out-of-memory kill looks at, unlike the resident memory after a run."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    import psutil
    p = psutil.Process(pid)
    return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20


def page_url(path: str) -> str:
    """The URL path Streamlit serves a page file at: pages/2_Covariate_shift.py -> /Covariate_shift."""
    if path == "dashboard.py":
        return "/"
    name = Path(path).stem
    return "/" + name.split("_", 1)[1] if name.split("_", 1)[0].isdigit() else "/" + name


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def first_chart_seconds(page, url: str, chart: bool = True, timeout_s: float = 180,
                        finish: bool = True) -> float:
    """Open `url` in `page`; seconds until a chart is drawn (with `chart=False`, until the page's
    links show, for the Overview); then, with `finish`, wait until the script has finished."""
    t0 = time.time()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stSidebar']", timeout=timeout_s * 1000)
    target = ".vega-embed canvas, .vega-embed svg" if chart else "[data-testid='stMain'] [data-testid='stPageLink']"
    page.wait_for_selector(target, timeout=timeout_s * 1000)
    seconds = time.time() - t0
    if finish:
        wait_until_run_finished(page, timeout_s)
    return seconds


# The app's own record of its script run, on its root element (what Streamlit's end-to-end tests
# wait on). Not the "Running…" status widget: that one shows only after half a second of a run,
# so a page drawn from the cache can be mid-run without it.
_FINISHED = """() => { const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.dataset.testConnectionState === 'CONNECTED'
         && ['notRunning', 'compilationError'].includes(app.dataset.testScriptState); }"""

# Every chart drawn (an svg or canvas in each visible chart's box) and no chart box or drawing
# changed size since the last poll: Vega has done its last redraw (a chart at full width redraws
# when its column settles, a live chart is replaced by the final one).
_SETTLED = """() => {
  const sizes = [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => {
    const g = c.querySelector('svg, canvas'), a = c.getBoundingClientRect();
    if (!a.width) return 'hidden';  // in a closed expander or tab: nothing to draw yet
    if (!g) return null;
    const b = g.getBoundingClientRect();
    const own = g.tagName === 'svg' ? g.viewBox.baseVal.width : g.width;
    return [a.width, a.height, b.width, b.height, own].map(Math.round).join(','); });
  const now = JSON.stringify(sizes), same = window.__bnjaxSizes === now;
  window.__bnjaxSizes = now;
  return same && !sizes.includes(null);
}"""


def wait_until_run_finished(page, timeout_s: float = 180) -> None:
    """Until the page's script run has ended and its charts have settled (two polls 300 ms
    apart see the same sizes)."""
    page.wait_for_function(_FINISHED, timeout=timeout_s * 1000, polling=100)
    page.evaluate("() => { window.__bnjaxSizes = undefined; }")
    page.wait_for_function(_SETTLED, timeout=timeout_s * 1000, polling=300)


def tour(browser, base: str, proc) -> list[tuple]:
    """Every page at its default view on the server at `base`, in the order of the sidebar, the
    Overview first; rows of (page, seconds to its first chart, exceptions, sidebar links,
    charts)."""
    from ui.frame import PAGES, page_exists
    rows = []
    built = [p for p in PAGES if page_exists(p)]
    for p in built:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        overview = p.path == "dashboard.py"
        seconds = first_chart_seconds(page, base + page_url(p.path), chart=not overview,
                                      finish=not overview)
        links = "[data-testid='stSidebar'] [data-testid='stPageLink']"
        with contextlib.suppress(Exception):  # (none at all: the count below says so)
            # On a loaded machine the Overview's cards once showed before the sidebar's links
            # were counted (CI, 2026-12-03: 0 links; the same tour run alone found all 8).
            page.wait_for_function(f"n => document.querySelectorAll(\"{links}\").length >= n",
                                   arg=len(built), timeout=30_000)
        rows.append((p, seconds, exceptions_on(page), page.locator(links).count(),
                     page.locator(".vega-embed").count()))
        page.close()
    print("\nfresh server (compilation cache on disk as earlier processes left it):")
    for p, seconds, *_ in rows:
        print(f"  {p.label:32s} first chart {seconds:5.1f} s")
    print(f"  server RSS after every default view: {rss_mb(proc.pid):.0f} MB")
    return rows


def exceptions_on(page) -> list[str]:
    return [e.inner_text() for e in page.locator("[data-testid='stException']").all()]
