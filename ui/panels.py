"""What every question page shows: lede, charts, the three-way verdict, presets, the code.

Also `run`, the one way a page trains: cached across sessions, one heavy run at a time per
process (viewers before the warm-up: `ui.work`), with a progress bar fed by the experiment and,
for pages that pass `live=`, charts that fill in as the nets train.
"""
from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import json
import logging
import time
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import streamlit as st

from ui import export, work
from ui.controls import lecture_mode

_log = logging.getLogger("bnjax.ui")

@st.cache_data(max_entries=48, show_spinner=False)
def _cached(name: str, config_json: str, _fn: Callable, _config, _report: Callable,
            _background: bool = False):
    """`_fn(_config)` computed once for every viewer, keyed by the function's name and the
    config's fields (the callables and flags stay out of the key). One heavy run at a time
    (`work.GATE`), a viewer's before the warm-up's; every progress report goes to `_report` as a
    `work.Update` and to `work.BOARD`, where other viewers of the same view watch it."""
    from bnjax import runs  # here: `import ui` must not load JAX
    from bnjax.runtime import release_memory

    latest = work.Update(0.0, "starting")
    key = (name, config_json)

    def watched() -> bool:
        return work.BOARD.watched(key)

    with work.BOARD.computing(key) as publish:
        def report(**changes) -> None:
            nonlocal latest
            if _background:  # a unit of work is done: a waiting viewer goes first
                work.GATE.yield_to_viewers(watched)
            latest = latest._replace(**changes)
            publish(latest)
            _report(latest)

        def progress(fraction: float, message: str, partial: Any = None) -> None:
            report(fraction=float(fraction), message=message,
                   **({} if partial is None else {"partial": partial}))

        # Waiting reports to the progress bar: each report is a point where Streamlit stops a
        # run whose viewer left or moved a slider, so no queued work outlives its viewer.
        queued = work.Update(0.0, "queued behind another run on this server…")
        with work.GATE.hold(background=_background, on_wait=lambda: _report(queued),
                            watched=watched):
            # A background run compiles one program at a time: at most one compile of its own
            # (which nothing can interrupt) competes with a viewer who arrives meanwhile.
            try:
                with runs.observe(lambda partials: report(runs=partials)), \
                        runs.while_compiling(report), \
                        runs.compile_threads(1 if _background else 2):
                    return _fn(_config, progress=progress)
            finally:
                if not work.GATE.paused():  # no paused warm-up still using compiled programs
                    release_memory()  # under the gate: no other run is computing


def config_key(config) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def _key(fn: Callable, config) -> tuple[str, str]:
    return f"{fn.__module__}.{fn.__qualname__}", config_key(config)


# Seconds between two live drawings of one run: twice a second reads as live, and each drawing
# costs the server (tables, the chart's spec) and the browser (Vega lays it out again). 0.25 s
# measured 0.3-0.4 s later to a complete Playground than 0.5 s (A/B, fresh servers, Chromium
# on the same 2 cores).
LIVE_EVERY = 0.5
# ...and at least this many times the last drawing's own cost: drawing happens in the thread
# that feeds the devices, so it takes at most a third of a run's time (page 4's chart costs
# 0.18 s and came every 0.32 s: the devices waited half the time).
LIVE_COST_SHARE = 3.0


def run(fn: Callable, config, *, what: str = "Training", live: Callable | None = None) -> Any:
    """`fn(config, progress=...)`, cached for every viewer; None (with a message) on failure.

    Live charts: with `live=draw`, the page's first chart appears after the first chunk of
    training and grows as chunks arrive. `draw(update)` is called with a `work.Update`
    (`fraction`, `message`, `partial`, `runs`) inside a placeholder right here, each call
    replacing the previous drawing, at most every LIVE_EVERY seconds (and LIVE_COST_SHARE times
    the last drawing's cost), the first chart at once; the placeholder empties
    when the result is in, and the page draws the final result as usual.
      * `update.partial` is what the experiment passes as a third argument to its progress
        callback: `progress(fraction, message, partial)`, by convention a result of its own
        type holding the chunks so far (the same charts then draw partial and final results).
      * `update.runs` is the runner's latest partial results, `{job name: bnjax.runs.Result}`
        (a `runs.train` / `train.train_runs` call's job is named ""): loss curves and probes
        so far, NaN where not yet computed; for experiments that do not pass partials yet.
      Either may be None; the arrays may be written while `draw` reads them (draw, don't keep).
    The cache stores only the final result: a cached view draws at once and `draw` is never
    called. A viewer who opens a view another thread is computing (another viewer, the
    Overview's warm-up) watches that run's progress and partial results instead of waiting
    blind, and gets the same cached result.
    """
    slot = st.empty()
    view = st.empty() if live is not None else None
    # Progress and live drawings run in the context from before the cached call: there
    # Streamlit does not record them for replay (a cache hit replaying a progress bar of
    # another run would fail).
    outside = contextvars.copy_context()
    drawn, charted, cost = [0.0], [False], [0.0]

    def report(update: work.Update) -> None:
        outside.run(slot.progress, min(max(float(update.fraction), 0.0), 1.0),
                    text=f"{what}: {update.message}")
        # Until a live chart is on the page every report may draw (the first chart comes
        # first); then spaced by LIVE_EVERY, or more where drawing is costly.
        now = time.monotonic()
        if view is not None and (update.partial is not None or update.runs is not None) \
                and (not charted[0] or now - drawn[0] >= max(LIVE_EVERY,
                                                           LIVE_COST_SHARE * cost[0])):
            drawn[0] = now
            charted[0] = outside.run(_draw_live, view, live, update) or charted[0]
            cost[0] = time.monotonic() - now

    name, key = _key(fn, config)
    with work.BOARD.watching((name, key)):
        while (update := work.BOARD.get((name, key))) is not None:  # computing elsewhere
            report(update)
            time.sleep(0.1)
    try:
        result = _cached(name, key, fn, config, report)
    except (ValueError, TypeError, FloatingPointError, RuntimeError, MemoryError) as err:
        _log.exception("run failed for %s", config)
        slot.error(f"This configuration could not be run: {err}", icon=":material/error:")
        return None
    slot.empty()
    if view is not None:
        view.empty()
    export.record_run(fn, config, result)  # for "Download this view"
    return result


_charts_drawn: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "bnjax_live_charts", default=None)


def _draw_live(view, live: Callable, update: work.Update) -> bool:
    """`live(update)` in the view's placeholder; True when it drew a chart (`live_chart`)."""
    charts: list = []
    token = _charts_drawn.set(charts)
    try:
        with view.container():
            live(update)
    finally:
        _charts_drawn.reset(token)
    return bool(charts)


def warm(fn: Callable, config) -> None:
    """`fn(config)` into the shared cache, from a background thread (the Overview's warm-up):
    it waits while any viewer waits or runs, pauses at every progress report when a viewer
    arrives, and draws nothing (so it needs no Streamlit session)."""
    name, key = _key(fn, config)
    _cached(name, key, fn, config, lambda update: None, _background=True)


def lede(question: str, claim: str, text: str | None = None):
    """The student's question, the lecture's claim and (outside lecture mode) a plain lede.

    Returns the slot of the short answer, right under the question: the page fills it with
    `short_answer(slot, ...)` once its result is in. In lecture mode the claim and the lede
    give their room to the short answer and the first chart (the claim is in the verdict).
    """
    st.markdown(f"#### “{question}”")
    slot = st.empty()
    view_download(export.begin(question))  # this run's view starts here
    if not lecture_mode():
        st.markdown(f"**The lecture says:** {claim}")
        if text:
            explain(text)
    return slot


def short_answer(slot, markdown: str, *, label: str = "Short answer") -> None:
    """The page's answer in two or three plain sentences, built from its result, in `slot`."""
    with slot.container(border=True):
        st.markdown(f"**{label}.** {markdown}")
    export.record_answer(markdown)


def explain(markdown: str) -> None:
    """Narration that lecture mode hides (the charts stay)."""
    if not lecture_mode():
        st.markdown(markdown)


def chart(c, *, key: str | None = None, on_select="ignore", selection_mode=None, height=None,
          description: str | None = None):
    """An Altair chart at full width; bigger fonts and marks in lecture mode.

    Every chart also carries a text alternative (`description`, else derived from its title,
    axes and series: `ui.export.describe`), follows the viewer's theme and screen (dark: light
    guides; a phone: panels stacked), offers its data (CSV) and figure (SVG, PNG) under a
    "Download" button, rendered only when clicked, and is recorded for "Download this view".
    """
    c = _sized(c)
    spec, frames = export.to_spec(c)
    if description or not spec.get("description"):
        spec["description"] = description or export.describe(spec)
    record = export.record_chart(spec, frames)
    shown = export.for_dark(spec) if _dark() else spec
    shown = export.for_phone(shown) if _phone() else dict(shown)
    kw = {"selection_mode": selection_mode} if selection_mode else {}
    out = st.vega_lite_chart(shown, width="stretch", key=key, on_select=on_select,
                             **({"height": height} if height else {}), **kw)
    _chart_downloads(record)
    return out


def _sized(c):
    """`c` with the page's fonts: bigger fonts and marks in lecture mode."""
    big = lecture_mode()
    c = (c.configure_axis(labelFontSize=17 if big else 13, titleFontSize=19 if big else 14)
          .configure_legend(labelFontSize=17 if big else 13, titleFontSize=17 if big else 13,
                            symbolSize=200 if big else 100)
          .configure_title(fontSize=21 if big else 16)
          .configure_header(labelFontSize=18 if big else 14, titleFontSize=18 if big else 14))
    if big:  # marks a back row can see
        c = c.configure_line(strokeWidth=4).configure_point(size=140).configure_rule(strokeWidth=3)
        c = c.configure_text(fontSize=15)  # labels on the marks (explicit sizes stay)
        if isinstance(getattr(c, "height", None), int):  # bigger fonts take room from the plot
            c = c.properties(height=round(c.height * 1.25))
    return c


def live_chart(c, container=None) -> None:
    """A chart drawn while the nets train, which the finished chart replaces: sized like
    `chart` (an Altair chart; a dict is a spec already sized), fitted to the viewer's theme and
    screen like it, but neither recorded for "Download this view" nor given downloads."""
    spec = c if isinstance(c, dict) else export.to_spec(_sized(c))[0]
    shown = export.for_dark(spec) if _dark() else spec
    shown = export.for_phone(shown) if _phone() else shown
    (container or st).vega_lite_chart(shown, width="stretch")
    charts = _charts_drawn.get()
    if charts is not None:
        charts.append(True)


def _dark() -> bool:
    """The viewer's theme is dark (Streamlit follows the system's light or dark setting)."""
    try:
        return st.context.theme.type == "dark"
    except (AttributeError, RuntimeError):
        return False


def _phone() -> bool:
    """A phone's browser (its user agent says "Mobi", as every phone browser's does)."""
    try:
        return "Mobi" in (st.context.headers.get("User-Agent") or "")
    except (AttributeError, RuntimeError):
        return False


def _chart_downloads(record) -> None:
    """The chart's data and figure as files. Rendered on click only (a callable `data` runs when
    the button is pressed), and a click does not rerun the page."""
    if record is None:
        return
    with st.popover("Download", icon=":material/download:", type="tertiary"):
        for label, fn, ext, mime, icon in (
                ("Data (CSV)", export.csv_text, "csv", "text/csv", ":material/table:"),
                ("Figure (SVG)", export.svg_text, "svg", "image/svg+xml", ":material/image:"),
                ("Figure (PNG, 2×)", export.png_bytes, "png", "image/png", ":material/image:")):
            st.download_button(label, data=functools.partial(fn, record),
                               file_name=record.file_name(ext), mime=mime, on_click="ignore",
                               icon=icon, width="stretch")


def view_download(view=None) -> None:
    """The sidebar button "Download this view": the page as one HTML file that opens offline.
    Built when clicked, from what this run of the page recorded (`ui.export.View`)."""
    view = view or export.current()
    if view is None:
        return
    st.sidebar.download_button(
        "Download this view", data=functools.partial(export.view_html, view),
        file_name=f"bnjax-{view.page}.html", mime="text/html", on_click="ignore",
        icon=":material/download:",
        help="One HTML file: the short answer, every chart (interactive), the measured numbers, "
             "the configuration and the URL of this view. It opens without a network.")


def verdict(claim: str, measured: str | list[str], research: str) -> None:
    """Three columns: what the lecture claims, what this run measured, what the research found."""
    cols = st.columns(3)
    lines = [measured] if isinstance(measured, str) else measured
    export.record_verdict(claim, lines, research)
    for col, title, body in zip(cols, ("What the lecture claims", "What this run measured",
                                       "What the research found"),
                                (claim, "\n".join(f"- {m}" for m in lines), research)):
        with col.container(border=True):
            st.markdown(f"**{title}**")
            st.markdown(body)


def diverged_note(names: list[str]) -> None:
    """Say plainly which runs diverged (non-finite loss): a result, not a crash."""
    if names:
        st.warning("Diverged (the loss became infinite or NaN; training stopped there): "
                   + ", ".join(names) + ".", icon=":material/trending_up:")


def presets(table: Mapping[str, Any], default_config, *, keys: Mapping[str, str] | None = None,
            container=st):
    """Links that load each preset's config by URL. A field goes in the link when it differs from
    the default; `keys` maps config fields to URL keys where they differ."""
    keys = dict(keys or {})
    links = []
    for name, config in table.items():
        params = {}
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if value != getattr(default_config, f.name):
                params[keys.get(f.name, f.name)] = str(value).lower() if isinstance(value, bool) \
                    else value
        href = "?" + urlencode(params) if params else "?"
        links.append(f'<a href="{href}" target="_self">{name}</a>')
    container.markdown("**Presets:** " + " · ".join(links), unsafe_allow_html=True)


def show_code(*objects) -> None:
    """The bnjax functions behind the main chart, one click away (not in lecture mode)."""
    if lecture_mode():
        return
    with st.expander("Show the code"):
        for obj in objects:
            st.code(inspect.getsource(obj), language="python")
