"""Rendering a page under Streamlit's AppTest, the way the sidebar opens it."""
from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def render(page: str, timeout: float = 300, **params) -> AppTest:
    """Open dashboard.py, switch to `page` with query `params`, run it; returns the AppTest."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
    if page != "dashboard.py":
        at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def texts(at: AppTest) -> str:
    """Everything a viewer reads on the page, as one string."""
    parts = [e.value for kind in ("markdown", "warning", "error", "info", "caption", "title",
                                  "subheader", "header", "success")
             for e in at.get(kind) if isinstance(getattr(e, "value", None), str)]
    return "\n".join(parts)
