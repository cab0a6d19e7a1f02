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


_RENDERED: dict = {}


def rendered(page: str, **params) -> AppTest:
    """`render(page, **params)` once per process: for tests that only read the result (the same
    page at the same view is not drawn twice in a run)."""
    key = (page, tuple(sorted(params.items())))
    if key not in _RENDERED:
        _RENDERED[key] = render(page, **params)
    return _RENDERED[key]


def computed(fn, config):
    """`fn(config)` through the cache a page's `ui.run` computes in (ui/panels.py's
    st.cache_data, per process): the result of that very call, `fn(config, progress=...)`,
    computed here if no page in this process has computed it yet, else fetched (a copy
    Streamlit unpickles). For the science tests' default-view fixtures: tests/conftest.py runs a
    page's AppTest tests and its science file in one process, so the view trains once."""
    from ui import panels
    name, key = panels._key(fn, config)
    return panels._cached(name, key, fn, config, lambda update: None)


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def texts(at: AppTest) -> str:
    """Everything a viewer reads on the page, as one string."""
    parts = [e.value for kind in ("markdown", "warning", "error", "info", "caption", "title",
                                  "subheader", "header", "success")
             for e in at.get(kind) if isinstance(getattr(e, "value", None), str)]
    return "\n".join(parts)


def _color_scales(node, out: list) -> None:
    """Every colour encoding with an explicit categorical range in a Vega-Lite spec, as
    (domain or None, [colours])."""
    if isinstance(node, dict):
        color = node.get("color")
        if isinstance(color, dict) and color.get("type") in ("nominal", "ordinal", None):
            scale = color.get("scale") or {}
            rng = scale.get("range")
            if isinstance(rng, list) and rng and all(isinstance(c, str) and c.startswith("#")
                                                     for c in rng):
                out.append((scale.get("domain"), rng))
        for v in node.values():
            _color_scales(v, out)
    elif isinstance(node, list):
        for v in node:
            _color_scales(v, out)


def palette_problems(spec: dict) -> list[str]:
    """What breaks the shared palette in one chart: a pair of categorical colours closer than
    ΔE 15 under normal, protan or deutan vision; BN or plain not in their own colour; another
    series in BN's or plain's colour."""
    from bnjax.charts import BN, PLAIN, STYLE
    from bnjax.charts.palette import MIN_DELTA_E, worst_pair
    scales: list = []
    _color_scales(spec, scales)
    problems = []
    own = {STYLE[BN][0].lower(): BN, STYLE[PLAIN][0].lower(): PLAIN}
    for domain, rng in scales:
        d, a, b, vision = worst_pair(rng)
        if d < MIN_DELTA_E:
            problems.append(f"{a} vs {b}: ΔE {d:.1f} under {vision} (domain {domain})")
        for value, color in zip(domain or [], rng):
            if value in (BN, PLAIN) and color.lower() != STYLE[value][0].lower():
                problems.append(f"{value} drawn in {color}")
            elif color.lower() in own and value != own[color.lower()]:
                problems.append(f"{value!r} reuses {own[color.lower()]}'s colour {color}")
        if not domain and any(c.lower() in own for c in rng):
            problems.append(f"unnamed series reuse BN's or plain's colour: {rng}")
    return problems
