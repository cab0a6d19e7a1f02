"""What the server does once, when it starts, before it answers its first viewer.

`streamlit run dashboard.py` finds the `st.App` that dashboard.py defines and serves it; the
App's lifespan calls `run()` once Streamlit's runtime has started and before the server answers
(`ui`'s caches need the runtime: dashboard.py imports this module only then).

Without it, the first viewer's first page paid for the process's one-time work: importing JAX,
Altair and pandas and every page's modules, starting XLA's CPU client and LLVM, reading the
digits, loading the Vega-Lite schema (about two seconds on two cores, before any network could
train). Now the server's start pays for it, and compiles the one program every page's first
training call needs whatever its net (the initial weights' draws): the viewer who opens a deep
link (a lecture slide's link, a woken Community Cloud app) meets a process ready to compile and
train their page. On Community Cloud the first visitor of a sleeping app waits for it on the
"waking up" screen instead of on the page; every later start (a deploy, a restart) has it done
before anyone arrives.

What it does not do: compile a page's own programs (they depend on its view; the Overview's
background warm-up does that, and yields to viewers), train, or draw anything.
"""
from __future__ import annotations

import logging
import os
import time

_log = logging.getLogger("bnjax.startup")


def preload() -> float:
    """Import and initialize what every page needs; returns the seconds it took."""
    t0 = time.perf_counter()
    from bnjax import runtime
    runtime.configure()  # before JAX's backend starts: its CPU devices, the compilation cache

    import importlib
    import pkgutil

    import altair as alt
    import pandas as pd

    import bnjax.charts
    import bnjax.experiments
    import bnjax.narration
    import ui
    import ui.live
    from bnjax import data

    # What a first session imported late (found by diffing sys.modules around a page's run).
    for name in ("pandas.io.formats.string", "streamlit.material_icon_names",
                 "streamlit.runtime.scriptrunner.magic_funcs"):
        importlib.import_module(name)
    for package in (bnjax.experiments, bnjax.charts, bnjax.narration):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    data.load_digits()  # scikit-learn's digits, split and standardized (cached per process)
    runtime.warm_start()  # XLA's CPU client and LLVM, and the initial weights' draw program
    # Altair's Vega-Lite schema and its validator load at the first chart's to_dict().
    alt.Chart(pd.DataFrame({"x": [0.0], "y": [0.0]})).mark_line().encode(
        x="x:Q", y="y:Q").to_dict()
    del ui  # imported for its modules (frame, controls, panels, export, live) only
    return time.perf_counter() - t0


def run() -> None:
    """Preload, logging how long it took; a failure is logged, never raised: the server must
    start whatever happens here (a page then loads what it needs itself, as before).
    `BNJAX_PRELOAD=0` turns it off (to measure what it saves: `bench/first_chart.py`)."""
    if os.environ.get("BNJAX_PRELOAD", "1") == "0":
        return
    try:
        _log.info("preloaded JAX, Altair and the digits in %.1f s", preload())
    except Exception:  # noqa: BLE001
        _log.exception("preload failed; pages will load what they need themselves")
