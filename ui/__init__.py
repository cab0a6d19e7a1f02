"""The Streamlit pieces every page shares: the frame, URL-bound controls, result panels."""
from ui.controls import controls_area, lecture_mode, seed, select, select_slider, slider, toggle
from ui.frame import PAGES, Page, frame, page_exists
from ui.glossary import TERMS, glossary, term
from ui.panels import (chart, diverged_note, explain, lede, live_chart, presets, run, short_answer,
                       show_code, verdict)

__all__ = ["PAGES", "Page", "chart", "controls_area", "diverged_note", "explain", "frame",
           "lecture_mode", "lede", "live_chart", "page_exists", "presets", "run", "seed", "select",
           "select_slider", "short_answer", "show_code", "slider", "toggle", "verdict", "TERMS",
           "glossary", "term"]
