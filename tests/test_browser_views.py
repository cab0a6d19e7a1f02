"""Every page in a real Chromium under the dark theme and on a 390 px phone, the downloads
clicked for real, and each page's "Download this view" opened with the network blocked.

On the server and Chromium the browser files share (tests/conftest.py), after the fresh-server
tour of tests/test_browser.py: every page at its default view (what a phone opens), computed once
by that tour. With BNJAX_SHOTS=1, screenshots of every page (whole, at 390 px and in the dark)
go to $TMPDIR/bnjax-views/ for a look; without, none are taken (they cost seconds each and
nobody looks at them in CI)."""
import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from tests.server import chromium_path, exceptions_on, page_url, wait_until_run_finished
from ui.frame import PAGES, page_exists

pytestmark = pytest.mark.browser
if chromium_path() is None:  # a failure, never a skip: these tests are part of every run
    raise RuntimeError("no Chromium on this machine: the browser tests need Debian's `chromium` "
                       "(apt-get install chromium), as the README says.")

QUESTION_PAGES = [p for p in PAGES if page_exists(p) and p.path != "dashboard.py"]
# Pages whose phone check is marked slow (deselected from the default run, never skipped) while
# a failure found there is open. None now. Run them: python -m pytest -m slow tests/test_browser_views.py
PHONE_PENDING: set = set()
SHOTS = Path(tempfile.gettempdir()) / "bnjax-views"
SHOOT = os.environ.get("BNJAX_SHOTS") == "1"
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text.replace("−", "-").replace(",", ""))


@pytest.fixture(scope="module")
def server(fresh_tour):
    """The shared server, after its tour of every default view."""
    return fresh_tour[1]


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


def _open(context, url: str, overview: bool = False):
    return _ready(_goto(context, url), overview)


def _goto(context, url: str):
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    return page


def _ready(page, overview: bool = False):
    """Until the page's script has finished and its charts have settled (an error where a chart
    would be ends the wait too: fail fast, with the error)."""
    # On a phone the sidebar starts folded (hidden), so wait for it to exist, not to show.
    page.wait_for_selector("[data-testid='stSidebar'], [data-testid=stException]",
                           state="attached", timeout=600_000)
    page.wait_for_selector("[data-testid='stMain'] [data-testid='stPageLink']" if overview else
                           ".vega-embed svg, .vega-embed canvas, [data-testid=stException]",
                           timeout=600_000)
    wait_until_run_finished(page, 600)
    return page


def _full_shot(page, path: Path, width: int) -> None:
    """The whole page: stMain scrolls inside the window, so grow the window to its height."""
    if not SHOOT:
        return
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(max(height, 700), 16000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))


# What overflows a phone's width: the document, the scrolling main area, and any chart whose
# drawing is wider than its box (its box would scroll: part of the chart hidden).
_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth, main = document.querySelector('[data-testid=stMain]');
  const charts = [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => {
    const g = c.querySelector('svg, canvas'); const box = c.getBoundingClientRect();
    const r = g ? g.getBoundingClientRect() : box;
    // the size Vega drew at (an svg's viewBox; a canvas's pixels over the device ratio)
    const natural = !g ? r.width : g.tagName === 'svg' ? (g.viewBox.baseVal.width || r.width)
                                 : g.width / devicePixelRatio;
    // any text of it (a label, a title, a legend's entry) cut off at its sides
    const cut = !g || g.tagName !== 'svg' ? [] : [...g.querySelectorAll('text')].filter(t => {
      const q = t.getBoundingClientRect();
      return t.textContent.trim() && (q.right > box.right + 3 || q.left < box.left - 3); })
      .map(t => t.textContent.slice(0, 30));
    return {box: Math.round(box.width), drawn: Math.round(r.width), right: Math.round(r.right),
            scaled: Math.abs(r.width - natural) > 2, cut}; });
  // any text cut off in its box (a link's label, a caption) that a reader cannot scroll to
  const clipped = [...main.querySelectorAll('*')].filter(e => {
    const s = getComputedStyle(e);
    return e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 && ['hidden', 'clip'].includes(s.overflowX)
           && !e.closest('.katex-mathml') && (e.innerText || '').trim(); })  // katex-mathml: for screen readers
    .map(e => e.innerText.slice(0, 50));
  return {W, doc: document.documentElement.scrollWidth, main: main.scrollWidth,
          mainClient: main.clientWidth, charts, clipped};
}"""


# Luminance contrast of every chart text and grey line against the page's background.
_CONTRAST = """() => {
  // a colour as [r, g, b]; null for none or a transparent one (Vega strokes symbols 'transparent')
  const rgb = s => { const m = s.match(/[\\d.]+/g); return m && !(m.length > 3 && +m[3] === 0)
                     ? m.slice(0, 3).map(Number) : null; };
  // what shows on the page: a colour at opacity a over the colour under it
  const over = (c, a, u) => c.map((v, i) => a * v + (1 - a) * u[i]);
  const hex = s => s && s[0] === '#' ? (s.length === 4 ? [...s.slice(1)].map(h => parseInt(h + h, 16))
                    : [1, 3, 5].map(i => parseInt(s.slice(i, i + 2), 16))) : null;
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
                     : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const bg = rgb(getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor);
  const bad = []; let texts = 0;
  for (const svg of document.querySelectorAll('.vega-embed svg')) {
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      const c = rgb(getComputedStyle(t).fill) || hex(t.getAttribute('fill'));
      if (!c) continue; texts++;
      // A halo (text stroked in its own fill, under a label) is meant to blend in.
      if (parseFloat(getComputedStyle(t).strokeWidth) > 0 && getComputedStyle(t).stroke === getComputedStyle(t).fill) continue;
      // Judged against what is under it: a bar or a cell (Vega draws them as paths in a
      // .mark-rect group) whose box holds the text's centre, else the page.
      const r = t.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
      let under = bg;
      for (const e of svg.querySelectorAll('.mark-rect path')) {
        const b = e.getBoundingClientRect();
        if (b.left <= x && x <= b.right && b.top <= y && y <= b.bottom) {
          const st = getComputedStyle(e), f = rgb(st.fill);
          if (f) under = over(f, (+st.fillOpacity) * (+st.opacity), bg); }
      }
      if (contrast(c, under) < 3) bad.push(['text', t.textContent.slice(0, 40), c.join(','), under.join(',')]);
    }
    for (const p of svg.querySelectorAll('.mark-rule.role-mark line, .mark-rule.role-mark path, .mark-symbol.role-mark path, .role-legend-symbol path')) {
      const c = rgb(getComputedStyle(p).stroke) || rgb(getComputedStyle(p).fill);
      if (!c || Math.max(...c) - Math.min(...c) > 24) continue;  // only greys: colours are data
      if (contrast(c, bg) < 3) bad.push(['grey mark', p.closest('g').getAttribute('class'), c.join(',')]);
    }
  }
  // White boxes: any sizeable element with a near-white background on the dark page.
  const boxes = [...document.querySelectorAll('[data-testid=stMain] *')].filter(e => {
    const c = rgb(getComputedStyle(e).backgroundColor); const r = e.getBoundingClientRect();
    const a = (getComputedStyle(e).backgroundColor.match(/[\\d.]+/g) || [])[3];
    return c && (a === undefined || +a > 0.5) && lum(c) > 0.6 && r.width * r.height > 4000;
  }).map(e => e.getAttribute('data-testid') || e.tagName);
  return {bg, texts, bad: bad.slice(0, 10), boxes: boxes.slice(0, 10)};
}"""


@pytest.fixture(scope="module")
def visits(server, browser, request):
    """Every page (of the selected tests) once on a phone and once at 1400 px in the dark theme;
    for the question pages also the view downloaded from the dark page. Returns {path: dict of
    what was seen}."""
    p, b = browser
    SHOTS.mkdir(exist_ok=True)
    seen = {}
    wanted = {item.callspec.params["page_def"].path for item in request.session.items
              if "page_def" in getattr(getattr(item, "callspec", None), "params", {})}
    # A phone's width, touch and user agent; one pixel per CSS pixel (the layout is the same,
    # the drawing three times cheaper).
    phone = b.new_context(**{**p.devices["iPhone 13"], "device_scale_factor": 1},
                          accept_downloads=True)
    dark = b.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark",
                         accept_downloads=True)
    for page_def in [p for p in QUESTION_PAGES + [PAGES[0]] if p.path in wanted]:
        overview = page_def.path == "dashboard.py"
        url = server + page_url(page_def.path)
        stem = Path(page_def.path).stem
        row = {}
        t0 = time.monotonic()
        on_phone, in_dark = _goto(phone, url), _goto(dark, url)
        page = _ready(on_phone, overview)
        row["phone"] = page.evaluate(_OVERFLOW)
        row["phone_errors"] = exceptions_on(page)
        _full_shot(page, SHOTS / f"{stem}_390.png", 390)
        page.close()

        page = _ready(in_dark, overview)
        row["dark"] = page.evaluate(_CONTRAST)
        row["dark_errors"] = exceptions_on(page)
        row["n_charts"] = page.locator("[data-testid=stVegaLiteChart]").count()
        row["aria"] = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => "
            "(c.querySelector('[aria-label]') || c).getAttribute('aria-label') || '')")
        if not overview:
            answer = page.locator("[data-testid=stMarkdownContainer]",
                                  has_text=re.compile(r"^Short answer\.")).all()
            row["answer"] = answer[0].inner_text() if answer else None
            row["measured"] = page.evaluate(
                "() => [...document.querySelectorAll('[data-testid=stMain] strong')]"
                ".filter(e => e.innerText.trim() === 'What this run measured')"
                ".map(e => e.closest('[data-testid=stVerticalBlock]').innerText)")
            with page.expect_download(timeout=120_000) as dl:
                page.get_by_role("button", name="Download this view").click()
            row["view"] = dl.value.path().read_text(encoding="utf-8")
            row["view_name"] = dl.value.suggested_filename
        if SHOOT:
            page.screenshot(path=str(SHOTS / f"{stem}_dark_first_screen.png"))
        _full_shot(page, SHOTS / f"{stem}_dark.png", 1400)
        page.close()
        seen[page_def.path] = row
        print(f"{page_def.label}: {time.monotonic() - t0:.0f} s")
    phone.close()
    dark.close()
    if SHOOT:
        print(f"\nscreenshots: {SHOTS}")
    return seen


@pytest.mark.parametrize("page_def", [pytest.param(p, marks=pytest.mark.slow)
                                      if p.path in PHONE_PENDING else p
                                      for p in QUESTION_PAGES + [PAGES[0]]], ids=lambda p: p.label)
def test_a_phone_never_scrolls_sideways(visits, page_def):
    row = visits[page_def.path]
    info = row["phone"]
    assert row["phone_errors"] == []
    assert info["doc"] <= info["W"] and info["main"] <= info["mainClient"], info
    assert info["clipped"] == [], info["clipped"]
    for chart in info["charts"]:  # whole, not clipped, not shrunk: panels stack instead
        assert chart["drawn"] <= chart["box"] and chart["right"] <= info["W"], info["charts"]
        assert not chart["scaled"], info["charts"]
        assert chart["cut"] == [], info["charts"]


@pytest.mark.parametrize("page_def", QUESTION_PAGES + [PAGES[0]], ids=lambda p: p.label)
def test_the_dark_theme_is_readable(visits, page_def):
    row = visits[page_def.path]
    info = row["dark"]
    assert row["dark_errors"] == []
    assert max(info["bg"]) < 60, info["bg"]  # the page did turn dark
    assert page_def.path == "dashboard.py" or info["texts"] > 0
    assert info["bad"] == [], info["bad"]  # no chart text or grey line fading into the page
    assert info["boxes"] == [], info["boxes"]  # no white boxes


@pytest.mark.parametrize("page_def", QUESTION_PAGES, ids=lambda p: p.label)
def test_every_chart_has_an_aria_label(visits, page_def):
    labels = visits[page_def.path]["aria"]
    assert labels and all(len(a) > 20 for a in labels), labels


@pytest.mark.parametrize("page_def", QUESTION_PAGES, ids=lambda p: p.label)
def test_the_view_opens_offline_with_the_pages_numbers(visits, browser, page_def):
    p, b = browser
    row = visits[page_def.path]
    assert row["view_name"].endswith(".html")
    path = SHOTS / row["view_name"]
    path.write_text(row["view"], encoding="utf-8")
    context = b.new_context(offline=True, viewport={"width": 1200, "height": 900})
    asked = []

    def block(route):  # the network is blocked: only the file itself may load
        if route.request.url.startswith("file:"):
            return route.continue_()
        asked.append(route.request.url)
        return route.abort()

    context.route("**/*", block)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("() => window.drawn !== undefined", timeout=30_000)
    page.evaluate("() => window.drawn.then(() => true)")
    assert errors == [] and asked == [], (errors, asked)
    # every chart drawn, each with its text alternative
    assert page.locator(".chart").count() == row["n_charts"] > 0
    assert page.locator(".chart svg.marks").count() == row["n_charts"]
    assert all(a for a in page.locator(".chart").evaluate_all("e => e.map(x => x.getAttribute('aria-label'))"))
    # the same numbers as the page: its short answer and each "What this run measured"
    if row["answer"] is not None:
        assert numbers(page.inner_text("#answer")) == numbers(row["answer"])
    else:
        assert page.locator("#answer").count() == 0
    view_measured = [page.inner_text(f"#verdict-{i} .measured")
                     for i in range(page.locator(".verdict").count())]
    assert [numbers(t) for t in view_measured] == [numbers(t) for t in row["measured"]]
    assert page.locator("#numbers td").count() > 0
    link = page.get_attribute("#url a", "href")
    assert page_url(page_def.path) in link
    if SHOOT:
        page.screenshot(path=str(SHOTS / (path.stem + ".png")))
    context.close()


def test_chart_downloads_from_the_browser(server, browser):
    """The real buttons: a chart's Download menu gives CSV, SVG and PNG files that parse."""
    import io
    import xml.etree.ElementTree as ET

    import pandas as pd
    from PIL import Image
    p, b = browser
    context = b.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    from bnjax.experiments.playground import PlaygroundConfig
    steps = PlaygroundConfig().steps
    page = _open(context, server + "/Playground")  # its default view, computed by the tour
    files = {}
    for label in ("Data (CSV)", "Figure (SVG)", "Figure (PNG, 2×)"):
        page.locator("[data-testid=stPopover] button").first.click()
        with page.expect_download(timeout=120_000) as dl:
            page.get_by_role("button", name=label).click()
        files[label] = (dl.value.suggested_filename, dl.value.path().read_bytes())
        page.keyboard.press("Escape")
    name, csv = files["Data (CSV)"]
    df = pd.read_csv(io.BytesIO(csv))
    assert name.endswith(".csv") and len(df) > 10 and "config_steps" in df
    assert (df.config_steps == steps).all()
    name, svg = files["Figure (SVG)"]
    root = ET.fromstring(svg)
    assert name.endswith(".svg") and root.tag.endswith("svg")
    assert "accuracy" in " ".join(root.itertext()).lower()
    name, png = files["Figure (PNG, 2×)"]
    im = Image.open(io.BytesIO(png))
    assert name.endswith(".png") and im.size[0] == round(2 * float(root.get("width")))
    assert exceptions_on(page) == []
    context.close()
