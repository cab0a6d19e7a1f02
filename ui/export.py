"""Taking charts and whole views out of the app: files for slides, a page to keep, text for
screen readers, and the same charts on a dark or a narrow screen.

Every chart on every page goes through `ui.chart`, which calls `prepare` here: the Altair chart
becomes one Vega-Lite spec (its data kept as the DataFrames the page built), gets a text
alternative (`describe`), and is recorded into the page's `View`. From the recorded spec, on
demand only (a download button runs its callable when it is clicked):

- `csv_text`: the chart's data, tidy, one row per data point the chart draws, with the config of
  the run behind it as `config_<field>` columns (seed included);
- `svg_text` / `png_bytes`: the figure, rendered on the server from the same spec by
  vl-convert (the renderer Altair's own `chart.save` uses), light theme, for a slide;
- `view_html`: the whole view in one self-contained HTML file: the short answer, every chart
  (interactive Vega-Lite, with the Vega, Vega-Lite and vega-embed scripts inlined, so it opens
  offline), the measured numbers, the config and the URL that reproduces the view.

The spec the browser gets is adjusted for the viewer (`for_dark`, `for_phone`); exports never
are: a file made on a phone at night looks like one made on a laptop.

What a page records, with no extra call: `ui.lede` starts the view (its question), `ui.run`
adds each run (config and summary), `ui.short_answer` the answer, `ui.chart` each chart and
`ui.verdict` the three-way verdict. Nothing here imports JAX.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import html
import io
import json
import re
import threading
from contextlib import nullcontext

import altair as alt
import pandas as pd

# ---------------------------------------------------------------------------- the view


@dataclasses.dataclass
class RunRecord:
    name: str  # the experiment function, e.g. "run_covariate_shift"
    config: dict  # its config's fields
    summary: dict  # result.summary: the numbers the page's sentences state


@dataclasses.dataclass
class ChartRecord:
    index: int  # 1, 2, ... in the order the page draws them
    spec: dict  # Vega-Lite as Streamlit gets it ("datasets": Arrow bytes by name)
    frames: dict  # dataset name -> the page's DataFrame
    description: str
    config: dict  # the config of the latest run before the chart (the run it shows)
    page: str  # a slug of the page, for file names

    @property
    def title(self) -> str:
        return title_text(self.spec)

    def file_name(self, ext: str) -> str:
        words = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")[:48].rstrip("-")
        return f"{self.page}-chart{self.index}{'-' + words if words else ''}.{ext}"


@dataclasses.dataclass
class View:
    """What one run of a page showed: enough to rebuild it as a file."""
    title: str = "bnjax"
    question: str = ""
    page: str = "view"  # slug for file names
    answer: str | None = None  # markdown
    runs: list = dataclasses.field(default_factory=list)  # RunRecord
    charts: list = dataclasses.field(default_factory=list)  # ChartRecord
    verdicts: list = dataclasses.field(default_factory=list)  # (claim, [measured], research)
    url: str = ""

    @property
    def config(self) -> dict:
        return self.runs[-1].config if self.runs else {}


_KEY = "_bnjax_view"


def _ctx():
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover
        return None
    return get_script_run_ctx(suppress_warning=True)


def current() -> View | None:
    """This session's view being drawn; None outside a script run (e.g. a warm-up thread)."""
    if _ctx() is None:
        return None
    import streamlit as st
    view = st.session_state.get(_KEY)
    if not isinstance(view, View):
        view = begin()
    return view


def begin(question: str = "") -> View:
    """Start the view of this run of the page (`ui.lede` calls it)."""
    import streamlit as st
    page = _current_page()
    view = View(title=page.label.split("·")[-1].strip() if page else "bnjax",
                question=question,
                page=_slug(page.path) if page else "view")
    view.url = _url(page)
    st.session_state[_KEY] = view
    return view


def _slug(path: str) -> str:
    name = path.rsplit("/", 1)[-1].removesuffix(".py")
    name = name.split("_", 1)[1] if name.split("_", 1)[0].isdigit() else name
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "overview"


def _current_page():
    """The entry of ui.frame.PAGES this script run draws, if any."""
    from ui.frame import PAGES
    ctx = _ctx()
    if ctx is None:
        return None
    try:
        pm = ctx.pages_manager
        info = pm.get_pages().get(pm.current_page_script_hash) or {}
        path = str(info.get("script_path", ""))
    except (AttributeError, TypeError):
        return None
    return next((p for p in PAGES if path.endswith(p.path)), None)


def _url(page=None) -> str:
    """The URL that reproduces the view: the page's address and its query parameters now."""
    import streamlit as st
    from urllib.parse import urlencode
    base = ""
    try:
        base = st.context.url or ""
    except (AttributeError, RuntimeError):
        pass
    if not base and page is not None:  # AppTest: no browser, so the page's path
        stem = page.path.rsplit("/", 1)[-1].removesuffix(".py")
        base = "/" if page.path == "dashboard.py" else "/" + stem.split("_", 1)[-1]
    params = [(k, v) for k in st.query_params for v in st.query_params.get_all(k)]
    return base + ("?" + urlencode(params) if params else "")


def note_url() -> None:
    """Refresh the view's URL: bound widgets write the query string as they are drawn."""
    view = current()
    if view is not None:
        view.url = _url(_current_page())


def record_run(fn, config, result) -> None:
    view = current()
    if view is None or result is None:
        return
    summary = getattr(result, "summary", None) or {}
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    view.runs.append(RunRecord(getattr(fn, "__name__", str(fn)), fields, dict(summary)))


def record_answer(markdown: str) -> None:
    view = current()
    if view is not None:
        view.answer = markdown
        view.url = _url(_current_page())


def record_verdict(claim: str, measured, research: str) -> None:
    view = current()
    if view is not None:
        lines = [measured] if isinstance(measured, str) else list(measured)
        view.verdicts.append((claim, lines, research))
        view.url = _url(_current_page())


# ---------------------------------------------------------------------------- spec and data

# Streamlit guards Altair's global theme and data-transformer switches with this lock; use
# the same one so a chart converted here never races one converted by Streamlit.
try:
    from streamlit.elements.vega_charts import _altair_globals_lock as _ALTAIR_LOCK
except ImportError:  # pragma: no cover
    _ALTAIR_LOCK = threading.Lock()


def to_spec(chart) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The Vega-Lite spec of an Altair chart, as Streamlit would send it (datasets as Arrow
    bytes under a content hash, so a chart keeps its identity across reruns), and the
    DataFrames behind each dataset name."""
    from streamlit import dataframe_util
    from streamlit.util import calc_hash
    frames: dict[str, pd.DataFrame] = {}
    arrow: dict[str, bytes] = {}

    def keep(data, **_):
        if isinstance(data, pd.DataFrame):
            raw = dataframe_util.convert_anything_to_arrow_bytes(data)
            name = calc_hash(raw)
            frames[name], arrow[name] = data, raw
            return {"name": name}
        return alt.data.to_values(data)

    alt.data_transformers.register("bnjax_frames", keep)
    with _ALTAIR_LOCK:
        theme = alt.theme.enable("none") if alt.theme.active == "default" else nullcontext()
        with theme, alt.data_transformers.enable("bnjax_frames"):
            spec = chart.to_dict()
    spec["datasets"] = {**(spec.get("datasets") or {}), **arrow}
    return spec, frames


def with_frames(spec: dict, frames: dict[str, pd.DataFrame]) -> dict:
    """The spec with its datasets as JSON records (for vl-convert and the HTML view)."""
    out = {k: v for k, v in spec.items() if k != "datasets"}
    data = {}
    for name, value in (spec.get("datasets") or {}).items():
        if name in frames:
            data[name] = json.loads(frames[name].to_json(orient="records", date_format="iso"))
        elif value is not None and not isinstance(value, bytes):
            data[name] = value
    out["datasets"] = data
    return out


def _walk(node, fn, path=()):
    """Call fn(dict, path) on every dict in a spec, depth first."""
    if isinstance(node, dict):
        fn(node, path)
        for k, v in node.items():
            if k != "datasets":
                _walk(v, fn, path + (k,))
    elif isinstance(node, list):
        for v in node:
            _walk(v, fn, path)


def _dataset_marks(spec: dict) -> dict[str, list[str]]:
    """Which marks draw each named dataset (to label the rows of a many-dataset CSV)."""
    uses: dict[str, list[str]] = {}

    def visit(node, inherited):
        if not isinstance(node, dict):
            return
        data = node.get("data")
        name = data.get("name") if isinstance(data, dict) else None
        name = name or inherited
        mark = node.get("mark")
        if mark is not None and name:
            kind = mark if isinstance(mark, str) else mark.get("type", "mark")
            if kind not in uses.setdefault(name, []):
                uses[name].append(kind)
        for key in ("layer", "hconcat", "vconcat", "concat"):
            for child in node.get(key, []) or []:
                visit(child, name)
        if isinstance(node.get("spec"), dict):
            visit(node["spec"], name)

    visit(spec, None)
    return uses


def chart_frame(record: ChartRecord) -> pd.DataFrame:
    """The chart's data, tidy: one row per data point it draws, plus the run's config."""
    datasets = record.spec.get("datasets") or {}
    frames = record.frames
    parts = []
    marks = _dataset_marks(record.spec)
    for name in datasets:
        df = frames.get(name)
        if df is None:
            value = datasets[name]
            if isinstance(value, list):
                df = pd.DataFrame(value)
            else:
                continue
        parts.append((name, df))
    if len(parts) == 1:
        out = parts[0][1].copy()
    else:
        out = pd.concat([df.assign(drawn_as="+".join(marks.get(name, ["data"])))
                         for name, df in parts], ignore_index=True)
    for key, value in record.config.items():
        out[f"config_{key}"] = value if isinstance(value, (int, float, str, bool)) \
            else json.dumps(value, default=str)
    return out


def csv_text(record: ChartRecord) -> str:
    buf = io.StringIO()
    chart_frame(record).to_csv(buf, index=False)
    return buf.getvalue()


def export_spec(record: ChartRecord) -> dict:
    """The spec as drawn in the light theme, data inlined, a width for single views."""
    spec = with_frames(record.spec, record.frames)
    if not any(k in spec for k in ("facet", "hconcat", "vconcat", "concat", "repeat")) \
            and "width" not in spec:
        spec["width"] = 640  # Streamlit stretches single views to the page; a slide needs a size
    spec.setdefault("background", "white")
    return spec


_VL_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def svg_text(record: ChartRecord) -> str:
    import vl_convert as vlc
    return vlc.vegalite_to_svg(export_spec(record), vl_version=_VL_VERSION)


PNG_SCALE = 2  # twice the chart's size: sharp on a projector or a slide


def png_bytes(record: ChartRecord) -> bytes:
    import vl_convert as vlc
    return vlc.vegalite_to_png(export_spec(record), vl_version=_VL_VERSION, scale=PNG_SCALE)


# ---------------------------------------------------------------------------- text alternative


def title_text(spec: dict) -> str:
    """The chart's title (and subtitle) as one plain string; '' if it has none."""
    found: list[str] = []

    def grab(t):
        if isinstance(t, str):
            return t
        if isinstance(t, list):
            return " ".join(str(x) for x in t)
        if isinstance(t, dict):
            text = grab(t.get("text", ""))
            sub = grab(t.get("subtitle", "")) if t.get("subtitle") else ""
            return f"{text}. {sub}" if text and sub else text or sub
        return ""

    def visit(node, path):
        if "title" in node and path[-1:] in ((), ("spec",), ("layer",), ("hconcat",),
                                             ("vconcat",), ("concat",)):
            text = grab(node["title"])
            if text and text not in found:
                found.append(text)

    _walk(spec, visit)
    return "; ".join(found)


_MARK_WORDS = {"line": "lines", "area": "bands", "errorband": "bands", "point": "points",
               "circle": "points", "square": "points", "tick": "ticks", "bar": "bars",
               "rect": "cells", "rule": "reference lines", "text": "labels",
               "errorbar": "error bars", "boxplot": "box plots", "trail": "lines"}


def _field_title(enc: dict) -> str:
    if not isinstance(enc, dict):
        return ""
    if enc.get("title"):
        t = enc["title"]
        return " ".join(t) if isinstance(t, list) else str(t)
    field = enc.get("field")
    if isinstance(field, dict):
        field = field.get("repeat")
    if not field:
        return ""
    agg = enc.get("aggregate")
    return f"{agg} of {field}" if agg else str(field)


def describe(spec: dict) -> str:
    """A text alternative: the title (which states the finding, with the run's numbers), then
    what is drawn against what, the series and the panels."""
    marks: list[str] = []
    axes: dict[str, list[tuple[bool, str]]] = {"x": [], "y": []}
    series: list[tuple[str, str]] = []  # (text, domain)
    panels: list[str] = []

    def visit(node, path):
        mark = node.get("mark")
        if mark is not None:
            kind = mark if isinstance(mark, str) else mark.get("type", "")
            word = _MARK_WORDS.get(kind, kind)
            if word and word not in marks:
                marks.append(word)
        enc = node.get("encoding")
        if isinstance(enc, dict):
            for ch in ("x", "y"):
                c = enc.get(ch)
                t = _field_title(c)
                if t and t not in [a for _, a in axes[ch]]:
                    axes[ch].append((bool(isinstance(c, dict) and c.get("title")), t))
            for ch in ("color", "strokeDash", "shape"):
                c = enc.get(ch)
                if isinstance(c, dict) and c.get("field"):
                    dom = (c.get("scale") or {}).get("domain")
                    listed = isinstance(dom, list) and len(dom) <= 8
                    name = str(c["field"])
                    key = json.dumps(dom) if listed else name
                    if all(k != key and not t.startswith(name) for t, k in series):
                        series.append((f"{name} ({', '.join(map(str, dom))})" if listed
                                       else name, key))
        facet = node.get("facet")
        if isinstance(facet, dict):
            for f in ([facet] if "field" in facet else facet.values()):
                t = (f.get("field") if isinstance(f, dict) else "") or ""
                if t and t not in panels:
                    panels.append(str(t))
        for key in ("hconcat", "vconcat", "concat"):
            if isinstance(node.get(key), list) and len(node[key]) > 1:
                word = f"{len(node[key])} panels"
                if word not in panels:
                    panels.append(word)

    _walk(spec, visit)

    def axis(ch):  # the titled fields if any (an axis shows the first layer's title)
        titled = [t for has, t in axes[ch] if has]
        return " / ".join((titled or [t for _, t in axes[ch]])[:2])

    title = title_text(spec)
    sentence = f"Chart of {' and '.join(marks[:3]) or 'marks'}"
    if axes["y"]:
        sentence += f": {axis('y')}" + (f" against {axis('x')}" if axes["x"] else "")
    elif axes["x"]:
        sentence += f" along {axis('x')}"
    if series:
        sentence += "; one colour per " + ", ".join(t for t, _ in series[:2])
    if panels:
        sentence += "; " + ", ".join(p if "panels" in p or p == "panel" else
                                     f"one panel per {p}" for p in panels[:2])
        sentence = sentence.replace("; panel", "; several panels")
    sentence += "."
    return f"{title.rstrip('.')}. {sentence}" if title else sentence


# ---------------------------------------------------------------------------- dark and narrow

# Dark theme: a chart's dark greys and blacks (guide lines, per-seed dots, subtitles, a black
# series) would vanish on Streamlit's dark background (#171614). There they are mirrored to
# light greys. Colours, and colours inside a condition (black or white text picked against the
# cell under it), are left alone.
def dark_grey(value):
    """'#444444' -> '#aaaaaa', 'black' -> '#eeeeee'; anything else unchanged."""
    if not isinstance(value, str):
        return value
    v = value.strip().lower()
    if v == DARK_BACKGROUND:  # put there on purpose (text on a light mark)
        return value
    v = {"black": "#000000"}.get(v, v)
    if re.fullmatch(r"#[0-9a-f]{3}", v):
        v = "#" + "".join(ch * 2 for ch in v[1:])
    if not re.fullmatch(r"#[0-9a-f]{6}", v):
        return value
    rgb = [int(v[i:i + 2], 16) for i in (1, 3, 5)]
    if max(rgb) - min(rgb) > 24 or sum(rgb) / 3 >= 110:  # a colour, or already light
        return value
    return "#" + f"{238 - round(sum(rgb) / 3):02x}" * 3


DARK_BACKGROUND = "#171614"  # Streamlit's dark theme


def for_dark(spec: dict) -> dict:
    """A copy of `spec` readable on a dark background (datasets shared, not copied)."""
    out = _copy_without_data(spec)

    def visit(node, path):
        if "condition" in node:
            return
        mark = node.get("mark")
        if isinstance(mark, dict) and mark.get("type") == "text":
            # White text sits on a mark (a black bar turns light here): make it dark instead;
            # a white halo under a label becomes the dark background's colour.
            for key in ("color", "fill", "stroke"):
                if str(mark.get(key, "")).lower() in ("white", "#fff", "#ffffff"):
                    mark[key] = DARK_BACKGROUND
        for key, value in list(node.items()):
            if key in ("color", "fill", "stroke") or key.endswith("Color"):
                node[key] = dark_grey(value)
        if path[-1:] in (("color",), ("fill",), ("stroke",)) and "value" in node:
            node["value"] = dark_grey(node["value"])
        if path[-1:] == ("scale",) and isinstance(node.get("range"), list):
            node["range"] = [dark_grey(v) for v in node["range"]]

    _walk(out, visit)
    # Vega's own default subtitle colour is black, and Streamlit's dark theme leaves it.
    config = out["config"] = dict(out.get("config") or {})
    config["title"] = {"subtitleColor": "#bdbdbd", **(config.get("title") or {})}
    return out


PHONE_PANEL = 250  # px: the widest panel that fits a 390 px phone with its axis labels


def for_phone(spec: dict) -> dict:
    """A copy of `spec` for a phone: panels side by side are stacked instead (a BN vs plain
    comparison stays legible, one above the other), and no panel is wider than the screen."""
    out = _copy_without_data(spec)
    facet = out.get("facet")
    if isinstance(facet, dict) and "column" in facet and "row" not in facet:
        out["facet"] = facet["column"]  # a wrapped facet, one panel per row, headers on top
        out["columns"] = 1
        inner = out.get("spec")
        if isinstance(inner, dict) and _narrower(inner):  # stacked: each panel takes the width
            inner["width"] = PHONE_PANEL
    if "hconcat" in out:
        out["vconcat"] = out.pop("hconcat")
    if not any(k in out for k in _COMPOSED) and "autosize" not in out:
        # One view: Streamlit fits it whole (titles, legends, plot) into its height, and a
        # phone's wrapped title and stacked legend would squeeze the plot; fit the width only.
        out["autosize"] = {"type": "fit-x", "contains": "padding"}
    if isinstance(out.get("vconcat"), list):
        # Streamlit stretches every plain panel of a stack to the page's width, its axes not
        # counted (they then stick out of a phone's screen); a panel inside a stack of one keeps
        # its own width. Stacked, a narrow panel may take the phone's width.
        out["vconcat"] = [_own_width(p) for p in out["vconcat"]]

    size = ((out.get("config") or {}).get("title") or {}).get("fontSize", 16)
    config = out["config"] = dict(out.get("config") or {})
    config["legend"] = {**(config.get("legend") or {}), "orient": "bottom"}  # not beside

    def narrow(node, path):
        if isinstance(node.get("width"), (int, float)) and node["width"] > PHONE_PANEL:
            node["width"] = PHONE_PANEL
        if isinstance(node.get("columns"), int) and node.get("columns", 1) > 1 \
                and path[-1:] != ("legend",):
            node["columns"] = 1  # a wrapped facet or concat: one panel per row
        if "title" in node and path[-1:] in ((), ("spec",)):  # a chart's title, not an axis's
            node["title"] = _wrap_title(node["title"], size)
        if path[-1:] == ("x",) and isinstance(node.get("title"), str):  # an x-axis title
            node["title"] = _lines(node["title"], 14, PHONE_PANEL)
        if path[-1:] and path[-1] in _LEGEND_CHANNELS and node.get("field") \
                and node.get("legend", {}) is not None:
            legend = dict(node.get("legend") or {})
            if legend.get("orient") in ("right", "left"):
                legend["orient"] = "bottom"  # a legend beside the plot takes a phone's width
            domain = (node.get("scale") or {}).get("domain")
            if legend.get("orient", "bottom") in ("top", "bottom") and isinstance(domain, list):
                columns = _legend_columns([str(d) for d in domain],
                                          legend.get("labelFontSize", 13))
                if columns:  # a row of entries wider than a phone: in columns instead
                    legend["columns"] = columns
            node["legend"] = legend

    _walk(out, narrow)
    return out


_COMPOSED = ("hconcat", "vconcat", "concat", "facet", "repeat")
_LEGEND_CHANNELS = ("color", "fill", "stroke", "shape", "strokeDash")


def _legend_columns(labels: list[str], px: float) -> int | None:
    """How many columns a legend's entries need to fit a phone (None: one row fits). A legend
    starts where the plot does, after the y axis: it has about a panel's width."""
    entries = [0.6 * px * len(label) + 30 for label in labels]  # symbol, gap, label
    if sum(entries) <= PHONE_PANEL:
        return None
    return max(1, min(len(labels) - 1, int(PHONE_PANEL // max(entries))))


def _narrower(panel: dict) -> bool:
    """A panel of a fixed width below PHONE_PANEL, or of none (Streamlit would choose it)."""
    width = panel.get("width")
    return width is None or isinstance(width, (int, float)) and width < PHONE_PANEL


def _own_width(panel):
    """A stacked panel at least PHONE_PANEL wide (a width in steps stays), wrapped in a stack
    of one so that Streamlit leaves its width alone."""
    if not isinstance(panel, dict) or any(k in panel for k in _COMPOSED):
        return panel
    if _narrower(panel):
        panel = {**panel, "width": PHONE_PANEL}
    return {"vconcat": [panel]}


PHONE_TEXT = 330  # px of title line on a 390 px phone


def _lines(text, px: float, room: float = PHONE_TEXT):
    """Text in lines that fit `room` pixels at font size `px` (about 0.6 em a character)."""
    import textwrap
    chars = max(16, int(room / (0.6 * px)))
    parts = text if isinstance(text, list) else [text]
    out = [w for part in parts if isinstance(part, str) for w in (textwrap.wrap(part, chars) or [""])]
    return out[0] if len(out) == 1 else out


def _wrap_title(title, size: float):
    """Vega-Lite draws a title on one line however long: wrap it (lines as a list)."""
    if isinstance(title, (str, list)):
        return _lines(title, size)
    if isinstance(title, dict):
        out = dict(title)
        if out.get("text"):
            out["text"] = _lines(out["text"], out.get("fontSize", size))
        if out.get("subtitle"):
            out["subtitle"] = _lines(out["subtitle"], out.get("subtitleFontSize", 12))
        return out
    return title


def _copy_without_data(spec: dict) -> dict:
    data = {k: spec[k] for k in ("datasets",) if k in spec}
    out = copy.deepcopy({k: v for k, v in spec.items() if k not in data})
    out.update(data)
    return out


# ---------------------------------------------------------------------------- the HTML view


@functools.lru_cache(maxsize=1)
def _scripts() -> str:
    """Vega, Vega-Lite and vega-embed in one classic script (vl-convert bundles them: about
    900 kB, 4 to 10 s to build, so it is kept on disk for the next process too)."""
    import os
    import tempfile
    from pathlib import Path

    import vl_convert as vlc
    path = Path(tempfile.gettempdir()) / f"bnjax-vega-bundle-{vlc.__version__}-{_VL_VERSION}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=_VL_VERSION)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic: another process never reads half a file
    except OSError:
        pass
    return text


def _md(text: str) -> str:
    """The markdown our narration uses (bold, italics, code, links) as HTML."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return out.replace("\n", "<br>")


def _script_json(value) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, default=str).replace("</", "<\\/")


def _number(v) -> str:
    if isinstance(v, float):
        return "NaN" if v != v else f"{v:.6g}"
    return html.escape(str(v))


_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 1.5rem auto;
       padding: 0 1rem; color: #2f2d2b; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.question { font-size: 1.2rem; font-style: italic; }
#answer { border: 1px solid #ccc; border-radius: .5rem; padding: .6rem 1rem; }
figure { margin: 1.5rem 0; overflow-x: auto; } figcaption { color: #555; font-size: .9rem; }
table { border-collapse: collapse; font-size: .9rem; } td, th { padding: .15rem .6rem;
  border-bottom: 1px solid #ddd; text-align: left; } td.n { text-align: right;
  font-variant-numeric: tabular-nums; }
.verdict { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr));
  gap: 1rem; } .verdict > div { border: 1px solid #ccc; border-radius: .5rem; padding: .5rem 1rem; }
"""


def view_html(view: View) -> str:
    """The whole view as one HTML file that opens offline."""
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{e(view.title)} · bnjax</title><style>{_CSS}</style>"
             f"<script>{_scripts()}</script></head><body>",
             f"<h1>{e(view.title)}</h1>"]
    if view.question:
        parts.append(f"<p class='question'>“{e(view.question)}”</p>")
    if view.answer:
        parts.append(f"<section id='answer'><strong>Short answer.</strong> {_md(view.answer)}"
                     f"</section>")
    specs = []
    if view.charts:
        parts.append("<section id='charts'>")
        for rec in view.charts:
            specs.append(export_spec(rec))
            parts.append(f"<figure><div class='chart' id='chart-{rec.index}' role='img' "
                         f"aria-label='{e(rec.description)}'></div>"
                         f"<figcaption>{e(rec.description)}</figcaption></figure>")
        parts.append("</section>")
    for i, (claim, measured, research) in enumerate(view.verdicts):
        parts.append(
            f"<section class='verdict' id='verdict-{i}'>"
            f"<div><strong>What the lecture claims</strong><p>{_md(claim)}</p></div>"
            f"<div class='measured'><strong>What this run measured</strong><ul>"
            + "".join(f"<li>{_md(m)}</li>" for m in measured)
            + f"</ul></div><div><strong>What the research found</strong><p>{_md(research)}</p>"
            f"</div></section>")
    if view.runs:
        parts.append("<section id='numbers'><h2>Measured numbers</h2>")
        for run in view.runs:
            rows = "".join(f"<tr><td>{e(k)}</td><td class='n'>{_number(v)}</td></tr>"
                           for k, v in run.summary.items())
            parts.append(f"<h3>{e(run.name)}</h3><table data-run='{e(run.name)}'>{rows}</table>")
        parts.append("</section><section id='config'><h2>Configuration</h2>")
        for run in view.runs:
            rows = "".join(f"<tr><td>{e(k)}</td><td>{_number(v)}</td></tr>"
                           for k, v in run.config.items())
            parts.append(f"<h3>{e(run.name)}</h3><table>{rows}</table>")
        parts.append("</section>")
    parts.append(f"<p id='url'>This view again: <a href='{e(view.url)}'>{e(view.url)}</a> "
                 f"(the same URL gives the same numbers).</p>")
    parts.append("<script>const SPECS = " + _script_json(specs) + ";\n"
                 "const IDS = " + _script_json([r.index for r in view.charts]) + ";\n"
                 "window.drawn = Promise.all(SPECS.map((s, i) => vegaEmbed('#chart-' + IDS[i], s,"
                 " {actions: false, renderer: 'svg'})));</script></body></html>")
    return "".join(parts)


def record_chart(spec: dict, frames: dict) -> ChartRecord | None:
    """Add a chart to the view being drawn (`ui.chart` calls it)."""
    view = current()
    if view is None:
        return None
    # The Arrow bytes were for the browser; the record keeps the names and the DataFrames.
    data = {k: (None if isinstance(v, bytes) else v) for k, v in spec.get("datasets", {}).items()}
    record = ChartRecord(len(view.charts) + 1, {**spec, "datasets": data}, frames,
                         spec.get("description", ""), view.config, view.page)
    view.charts.append(record)
    view.url = _url(_current_page())
    return record
