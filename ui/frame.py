"""The page table and the frame every page draws first: page config, sidebar links, lecture mode."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent


class Page(NamedTuple):
    path: str  # relative to the repo root, as st.page_link wants it
    label: str
    icon: str
    question: str  # the student's question the page answers


# The single list of pages: the sidebar, the Overview's cards and the tests all read it.
PAGES = (
    Page("dashboard.py", "Overview", ":material/home:", "Why does batch norm work?"),
    Page("pages/1_BatchNorm_basics.py", "1 · BatchNorm basics", ":material/calculate:",
         "What does batch norm compute on a real batch, and what changes at test time?"),
    Page("pages/2_Covariate_shift.py", "2 · Covariate shift", ":material/stacked_line_chart:",
         "Why are later layers more robust to changes in earlier layers?"),
    Page("pages/3_Layer_decoupling.py", "3 · Layer decoupling", ":material/link_off:",
         "Does each layer really learn more independently?"),
    Page("pages/4_Regularization_noise.py", "4 · Regularization noise", ":material/grain:",
         "How is batch norm a regularizer, like dropout?"),
    Page("pages/5_Hyperparameter_landscape.py", "5 · Hyperparameter landscape", ":material/grid_on:",
         "Does batch norm make hyperparameter search easier, or only faster?"),
    Page("pages/6_Playground.py", "6 · Playground", ":material/science:",
         "What happens with my own network?"),
    Page("pages/7_Batch_or_normalization.py", "7 · Batch or normalization?", ":material/compare:",
         "Why not LayerNorm? Which of batch norm's effects need the batch?"),
)


# Charts above the fold on a shared 1280x720 screen: less empty space above the title, and
# titles one size down from Streamlit's.
_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 4rem; }
[data-testid="stMain"] h1 { font-size: 2.1rem; padding-top: 0.25rem; }
[data-testid="stMain"] h2 { font-size: 1.6rem; }
@media (max-width: 640px) {  /* a phone: nothing wider than the screen, nothing scrolls sideways */
  [data-testid="stMainBlockContainer"] { padding: 3.5rem 0.75rem 2rem; }
  [data-testid="stMain"] h1 { font-size: 1.5rem; }
  [data-testid="stMain"] h2 { font-size: 1.3rem; }
  [data-testid="stVegaLiteChart"] { max-width: 100%; overflow-x: auto; }
  [data-testid="stMarkdownContainer"] { overflow-wrap: anywhere; }
  .katex-display { overflow-x: auto; overflow-y: hidden; }
}
</style>"""
# Lecture mode: charts with bigger fonts need room. Narrow side margins, and charts side by side
# stack (full width) where a column would be too narrow for the lecture fonts.
_LECTURE_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; }
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stVegaLiteChart"])
  { flex-wrap: wrap; }
[data-testid="stColumn"]:has([data-testid="stVegaLiteChart"]) { min-width: min(460px, 100%); }
</style>"""


def _chart_code_preload() -> str:
    """A script that loads the browser code of Streamlit's Vega-Lite charts (~0.8 MB of
    JavaScript, which Streamlit fetches and parses only when the first chart arrives) while the
    server is still compiling and training: the page's first chart then only needs drawing.
    The module files are named by a content hash that changes with Streamlit's version: found
    in Streamlit's static folder; if they are not there, nothing is preloaded.
    `BNJAX_NO_PRELOAD_JS=1` turns it off (to measure it)."""
    import os
    js = Path(st.__file__).parent / "static" / "static" / "js"
    names = sorted(n for n in (os.listdir(js) if js.is_dir() else ())
                   if n.startswith(("embed.", "ArrowVegaLiteChart.")) and n.endswith(".js"))
    if not names or os.environ.get("BNJAX_NO_PRELOAD_JS"):
        return ""
    # Relative to the URL of Streamlit's own entry module, which sits in the same folder (the
    # app may be served under a path prefix, as on Community Cloud).
    return ("<script>(() => { if (window.bnjaxCharts) return; window.bnjaxCharts = 1;"
            " const base = [...document.scripts].map(s => s.src)"
            ".find(u => /\\/static\\/js\\/index\\.[^/]*\\.js$/.test(u));"
            " if (!base) return;"
            f" for (const n of {names!r}) import(new URL(n, base).href).catch(() => {{}});"
            " })();</script>")


def page_exists(page: Page) -> bool:
    return (ROOT / page.path).is_file()


def frame(title: str) -> None:
    """Call first on every page: page config, the sidebar's links, the lecture-mode switch."""
    from bnjax.runtime import configure  # loads no JAX: a deep link may open any page first
    from ui.controls import lecture_mode, toggle  # here, not at import time

    configure()  # CPU devices and compilation cache, before this process's first computation

    st.set_page_config(page_title=f"{title} · bnjax", page_icon=":material/insights:",
                       layout="wide", initial_sidebar_state="auto")  # folded on a phone
    with st.sidebar:
        st.markdown("### bnjax · why batch norm works")
        for page in PAGES:
            if page_exists(page):
                st.page_link(page.path, label=page.label, icon=page.icon)
            else:
                st.markdown(f"{page.label} · *coming*")
        st.divider()
        toggle("Lecture mode", "lecture", False,
               help="Bigger charts and fonts, explanations hidden: for screen-sharing.")
        st.caption("Every chart is a network trained in this process, on scikit-learn's digits.")
        preload = _chart_code_preload()
        if preload:
            st.html(preload, unsafe_allow_javascript=True)
    st.html(_CSS + (_LECTURE_CSS if lecture_mode() else ""))
