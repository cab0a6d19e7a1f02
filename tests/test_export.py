"""Charts and views leave the app: every chart of every page has working CSV, SVG and PNG
downloads and a text alternative; every page's view exports; the dark and phone variants of a
spec keep what matters; the downloads cost a page little render time."""
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from html import escape

import altair as alt
import pandas as pd
import pyarrow as pa
import pytest

from tests.apphelp import charts, palette_problems, render
from ui import export
from ui.frame import PAGES, page_exists

QUESTION_PAGES = [p.path for p in PAGES if page_exists(p) and p.path != "dashboard.py"]
# The views tests/test_app.py renders: in the suite the same process has computed them
# (tests/conftest.py runs the AppTest default-view files as one unit), so nothing trains here.
FAST = {"pages/6_Playground.py": {"steps": "300"},
        "pages/5_Hyperparameter_landscape.py": {"steps": "100", "depth": "2", "width": "32",
                                                "n_seeds": "1"}}
LABELS = ("Data (CSV)", "Figure (SVG)", "Figure (PNG, 2×)")

_rendered: dict = {}


def _page(path):
    """Render a page once for this module: (AppTest, its View, CPU seconds the page's script
    thread spent in the added export work during that run: its own work, whatever else loads
    the machine, e.g. the other test worker)."""
    if path not in _rendered:
        import ui.panels as panels
        spent = [0.0]

        def timed(fn):
            def wrapper(*a, **k):
                t = time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    spent[0] += time.thread_time() - t
            return wrapper

        # Everything the downloads and the view add to a run, beside drawing the chart itself.
        names = [(export, "describe"), (export, "record_chart"), (export, "record_run"),
                 (export, "record_answer"), (export, "record_verdict"), (export, "begin"),
                 (panels, "_chart_downloads"), (panels, "view_download")]
        saved = [(mod, name, getattr(mod, name)) for mod, name in names]
        # Keep the callables Streamlit registers for deferred downloads: AppTest's runtime is
        # gone after the run, so a "click" here calls what the button would have called.
        from streamlit.runtime.media_file_manager import MediaFileManager
        add_deferred = MediaFileManager.add_deferred
        deferred = {}

        def keep(self, fn, *a, **k):
            file_id = add_deferred(self, fn, *a, **k)
            deferred[file_id] = fn
            return file_id

        try:
            for mod, name, fn in saved:
                setattr(mod, name, timed(fn))
            MediaFileManager.add_deferred = keep
            at = render(path, **FAST.get(path, {}))
        finally:
            for mod, name, fn in saved:
                setattr(mod, name, fn)
            MediaFileManager.add_deferred = add_deferred
        assert not at.exception, at.exception
        _rendered[path] = (at, at.session_state[export._KEY], spent[0], deferred)
    return _rendered[path]


def _clicked(page, label):
    """What each download button labelled `label` hands out when clicked, in page order."""
    at, _, _, deferred = _page(page)
    return [deferred[b.proto.deferred_file_id]() for b in at.get("download_button")
            if b.proto.label == label]


def _rows(chart_element) -> int:
    """Rows of data the chart was sent (its named datasets, Arrow)."""
    total = 0
    for ds in chart_element.proto.datasets:
        total += pa.ipc.open_stream(ds.data.data).read_all().num_rows
    return total


# Pages whose cases are marked slow (deselected from the default run, never skipped) while a
# failure found on them is open. None now (page 7's AppTest render once timed out at 300 s under
# load, 2026-12-02, training its view here: now tests/test_app.py has computed it).
KNOWN_OPEN: set = set()


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in KNOWN_OPEN
                                  else p for p in QUESTION_PAGES])
def test_every_chart_has_csv_svg_png_downloads_that_parse(page):
    at, view, *_ = _page(page)
    drawn = charts(at)
    assert drawn and len(view.charts) == len(drawn)
    labels = [b.proto.label for b in at.get("download_button")]
    for label in LABELS:  # one of each per chart, all deferred (rendered only when clicked)
        assert labels.count(label) == len(drawn), (label, labels)
    assert all(b.proto.deferred_file_id for b in at.get("download_button"))

    csvs = _clicked(page, "Data (CSV)")
    for element, record, csv in zip(drawn, view.charts, csvs):
        df = pd.read_csv(io.StringIO(csv))
        assert len(df) == _rows(element) > 0, record.title  # one row per data point drawn
        assert record.config and "seed" in record.config  # the run behind the chart
        assert all(f"config_{field}" in df.columns for field in record.config)

    # Figures: every chart's SVG (XML, with its title); the PNG of the first, at twice its size.
    svgs = _clicked(page, "Figure (SVG)")
    for record, svg in zip(view.charts, svgs):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        text = " ".join(t for t in root.itertext())
        words = [w.strip(".;,:") for w in record.title.split() if len(w) > 4][:4]
        assert all(w in text for w in words), (record.title, text[:300])
    png = export.png_bytes(view.charts[0])
    from PIL import Image
    im = Image.open(io.BytesIO(png))
    im.load()
    root = ET.fromstring(svgs[0])
    w, h = float(root.get("width")), float(root.get("height"))
    assert abs(im.size[0] - export.PNG_SCALE * w) <= 2 and abs(im.size[1] - export.PNG_SCALE * h) <= 2


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in KNOWN_OPEN
                                  else p for p in QUESTION_PAGES])
def test_every_chart_has_a_text_alternative_with_its_finding(page):
    at, view, *_ = _page(page)
    for element, record in zip(charts(at), view.charts):
        spec = json.loads(element.proto.spec)
        description = spec.get("description", "")
        assert len(description) > 20, spec.get("title")
        assert description == record.description
        # what it plots and its finding, with the run's numbers (from the title, which states it)
        assert any(ch.isdigit() for ch in description), description


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in KNOWN_OPEN
                                  else p for p in QUESTION_PAGES])
def test_the_view_holds_the_page(page):
    at, view, *_ = _page(page)
    html = export.view_html(view)
    assert html.count("<figure>") == len(charts(at)) == len(view.charts)
    assert not re.search(r"<script[^>]*src=|<link[^>]*href=", html)  # nothing to fetch
    assert html.count("vegaEmbed") >= 2 and "window.vegaEmbed" in html  # scripts inlined
    if view.answer:
        assert "id='answer'" in html
    for run in view.runs:
        for key, value in run.summary.items():
            assert f"<td>{key}</td>" in html
    slug = page.split("/")[-1].removesuffix(".py").split("_", 1)[1]
    assert view.url.startswith("/" + slug) and escape(view.url) in html
    for k, v in FAST.get(page, {}).items():
        assert f"{k}={v}" in view.url


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in KNOWN_OPEN
                                  else p for p in QUESTION_PAGES])
def test_downloads_cost_a_page_little(page):
    """What the downloads and the view add to a page's run (describing, recording, the
    buttons; the files themselves are made only on a click) stays well under 0.3 s. (One page a
    case: tests/conftest.py runs each page's cases with its other tests, where its views are.)"""
    spent = _page(page)[2]
    print(f"\nexport work in a run of {page} (s): {spent:.3f}")
    assert spent <= 0.3, (page, spent)


# ---------------------------------------------------------------------------- pure functions

def _bars():
    df = pd.DataFrame({"variant": ["BN", "plain", "BN", "plain"], "seed": [0, 0, 1, 1],
                       "acc": [0.97, 0.95, 0.96, 0.94]})
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("variant:N", title="net"), y=alt.Y("mean(acc):Q", title="test accuracy"),
        color=alt.Color("variant:N", scale=alt.Scale(domain=["BN", "plain"],
                                                     range=["#0072B2", "#D55E00"])))
    guide = alt.Chart(pd.DataFrame({"v": [0.95]})).mark_rule(color="#444444").encode(y="v:Q")
    return alt.layer(bars, guide).properties(
        title=alt.Title("BN 0.965 vs plain 0.945", subtitle="mean of 2 seeds"), width=300)


def test_describe_states_the_title_axes_and_series():
    spec, _ = export.to_spec(_bars())
    text = export.describe(spec)
    assert text.startswith("BN 0.965 vs plain 0.945. mean of 2 seeds.")
    assert "test accuracy against net" in text and "variant (BN, plain)" in text
    assert "bars" in text and "reference lines" in text


def test_csv_is_tidy_with_the_config_and_names_its_layers():
    spec, frames = export.to_spec(_bars())
    record = export.ChartRecord(1, spec, frames, "", {"seed": 3, "lr": 0.1, "sizes": (1, 2)},
                                "page")
    df = pd.read_csv(io.StringIO(export.csv_text(record)))
    assert len(df) == 4 + 1  # the 4 bars' rows and the guide's
    assert set(df.drawn_as) == {"bar", "rule"}
    assert (df.config_seed == 3).all() and (df.config_lr == 0.1).all()
    assert df.config_sizes.iloc[0] == "[1, 2]"
    assert record.file_name("csv") == "page-chart1-bn-0-965-vs-plain-0-945-mean-of-2-seeds.csv"


def test_dark_variant_lightens_greys_only():
    spec, _ = export.to_spec(_bars().configure_title(subtitleColor="#333333"))
    dark = export.for_dark(spec)
    text = json.dumps({k: v for k, v in dark.items() if k != "datasets"})
    assert "#444444" not in text and "#333333" not in text
    assert "#0072B2" in text and "#D55E00" in text  # colours stay (BN blue, plain vermillion)
    assert export.dark_grey("black") == "#eeeeee" and export.dark_grey("#7f7f7f") == "#7f7f7f"
    cond = {"encoding": {"color": {"condition": {"test": "x", "value": "black"},
                                   "value": "white"}}}
    assert export.for_dark(cond)["encoding"] == cond["encoding"]  # text picked against its cell
    assert export.for_dark(cond)["config"]["title"]["subtitleColor"] != "#000"  # Vega's default
    on_bar = {"layer": [{"mark": {"type": "text", "color": "white"}}]}
    assert export.for_dark(on_bar)["layer"][0]["mark"]["color"] == export.DARK_BACKGROUND
    assert dark["datasets"] is spec["datasets"]  # the data is shared, not copied
    # A black series (e.g. "BN (recomputed stats)") becomes light, and the palette stays safe.
    from bnjax.charts import series_color
    s = alt.Chart(pd.DataFrame({"k": list("abcde")})).mark_point().encode(
        color=series_color("k:N", list("abcde")))
    dark = export.for_dark(export.to_spec(s)[0])
    dark.pop("datasets")
    assert "#000000" not in json.dumps(dark) and palette_problems(dark) == []


def test_phone_variant_stacks_panels_and_wraps_titles():
    df = pd.DataFrame({"variant": ["BN", "plain"] * 2, "x": [0, 0, 1, 1], "y": [1, 2, 3, 4]})
    facet = alt.Chart(df).mark_line().encode(x="x:Q", y="y:Q").properties(width=320).facet(
        column=alt.Column("variant:N")).properties(title="A long title " * 8)
    spec = export.for_phone(export.to_spec(facet)[0])
    assert "column" not in spec["facet"] and spec["facet"]["field"] == "variant"
    assert spec["columns"] == 1 and spec["spec"]["width"] <= export.PHONE_PANEL
    assert isinstance(spec["title"], list) and len(spec["title"]) > 1
    pair = alt.hconcat(alt.Chart(df).mark_point().encode(x="x:Q"),
                       alt.Chart(df).mark_point().encode(x="y:Q"))
    assert "vconcat" in export.for_phone(export.to_spec(pair)[0])
    # Streamlit would stretch a plain stacked panel to the page, its axes sticking out: each
    # stacked panel (a layer too) sits in a stack of one, at the phone's panel width, never
    # narrower (stacked, it need not share the width) nor wider.
    narrow = alt.Chart(df).mark_point().encode(x="x:Q", y="y:Q").properties(width=120)
    wide = alt.layer(narrow, narrow.mark_line()).properties(width=600)
    spec = export.for_phone(export.to_spec(alt.hconcat(narrow, wide))[0])
    assert [list(p) for p in spec["vconcat"]] == [["vconcat"], ["vconcat"]]
    assert [p["vconcat"][0]["width"] for p in spec["vconcat"]] == [export.PHONE_PANEL] * 2
    assert "layer" in spec["vconcat"][1]["vconcat"][0]
    # One view fits a phone's width only: its height is the plot's, not shared with a title
    # wrapped on a phone and a legend in columns.
    assert export.for_phone(export.to_spec(narrow)[0])["autosize"]["type"] == "fit-x"
    # A legend whose row of entries is wider than a phone goes in columns; a short one stays.
    states = ["learns", "finite, does not learn", "diverged"]
    long = alt.Chart(pd.DataFrame({"s": states, "x": [1, 2, 3]})).mark_point().encode(
        x="x:Q", color=alt.Color("s:N", scale=alt.Scale(domain=states),
                                 legend=alt.Legend(orient="top")))
    legend = export.for_phone(export.to_spec(long)[0])["encoding"]["color"]["legend"]
    assert legend["orient"] == "top" and legend["columns"] == 1
    short = long.encode(color=alt.Color("s:N", scale=alt.Scale(domain=["BN", "plain"])))
    assert "columns" not in export.for_phone(export.to_spec(short)[0])["encoding"]["color"].get(
        "legend", {})
