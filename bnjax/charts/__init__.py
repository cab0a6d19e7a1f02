"""Altair chart builders: long-form DataFrame -> alt.Chart, one visual vocabulary.

Teaches: BN and plain look the same on every page (one colour, one dash, one shape each), and
every colour pair in a chart stays apart for colour-blind viewers (Okabe & Ito's palette, checked
by `palette.worst_pair` in the tests). Reference lines carry the lesson. Page-specific builders
live in the sibling modules; this file holds what they share.
"""
from __future__ import annotations

import altair as alt

# Okabe & Ito (2008), "Color Universal Design": eight colours that stay distinct under the common
# colour-vision deficiencies (tests/test_palette.py measures it).
BLUE, VERMILLION, SKY, ORANGE = "#0072B2", "#D55E00", "#56B4E9", "#E69F00"
GREEN, PURPLE, BLACK, YELLOW = "#009E73", "#CC79A7", "#000000", "#F0E442"

BN, PLAIN, LN = "BN", "plain", "LayerNorm"
# Every named variant: (colour, dash, shape). BN and plain own their colours: nothing else uses
# blue or vermillion. Variants that share a colour never share a chart.
STYLE = {
    BN: (BLUE, [1, 0], "circle"),
    PLAIN: (VERMILLION, [7, 4], "square"),
    LN: (GREEN, [2, 2], "diamond"),
    "noisy BN": (SKY, [2, 2], "triangle-up"),
    "noisy plain": (ORANGE, [10, 3, 2, 3], "triangle-down"),
    "dropout": (GREEN, [12, 4], "diamond"),
    "BN (frozen stats)": (SKY, [3, 3], "triangle-up"),
    "BN (recomputed stats)": (BLACK, [1, 0], "cross"),
}
VARIANTS = list(STYLE)
COLORS = [STYLE[v][0] for v in VARIANTS]
# Categories that are not BN/plain variants (layers, run names, ghost sizes): never BN's or
# plain's colour, every pair apart under protanopia and deuteranopia.
SERIES = [ORANGE, SKY, GREEN, PURPLE, BLACK, YELLOW]
VARIANT_SCALE = alt.Scale(domain=VARIANTS, range=COLORS)
DIVERGED_COLOR = "#7f7f7f"
GUIDE_COLOR = "#444444"


def _known(domain) -> list:
    return [v for v in (VARIANTS if domain is None else domain) if v in STYLE]


def variant_color(field: str = "variant:N", title: str | None = None, legend=True,
                  domain=None) -> alt.Color:
    """The shared colour encoding of the BN / plain / other variants. Pass `domain` (the variants
    in the chart) so the legend lists only those; their colours stay the same everywhere."""
    known = _known(domain)
    scale = alt.Scale(domain=known, range=[STYLE[v][0] for v in known])
    return alt.Color(field, scale=scale, title=title,
                     legend=alt.Legend(orient="top", symbolOpacity=1, symbolStrokeWidth=3)
                     if legend else None)


def variant_dash(field: str = "variant:N", domain=None, legend=False) -> alt.StrokeDash:
    """Each variant's dash pattern, so lines differ by more than colour."""
    known = _known(domain)
    return alt.StrokeDash(field, scale=alt.Scale(domain=known, range=[STYLE[v][1] for v in known]),
                          legend=alt.Legend(orient="top", title=None) if legend else None)


def variant_shape(field: str = "variant:N", domain=None, legend=False) -> alt.Shape:
    """Each variant's point shape, so dots differ by more than colour."""
    known = _known(domain)
    return alt.Shape(field, scale=alt.Scale(domain=known, range=[STYLE[v][2] for v in known]),
                     legend=alt.Legend(orient="top", title=None) if legend else None)


def series_color(field: str, domain: list, title: str | None = None, legend=True) -> alt.Color:
    """Colours for categories that are not variants (layers, runs): from SERIES, in order."""
    if len(domain) > len(SERIES):
        raise ValueError(f"{len(domain)} categories; the safe palette has {len(SERIES)}")
    return alt.Color(field, scale=alt.Scale(domain=list(domain), range=SERIES[:len(domain)]),
                     title=title, legend=alt.Legend(orient="top", symbolOpacity=1)
                     if legend else None)


def present(df, column: str = "variant") -> list:
    """The variants present in `df`, in the shared order (for `variant_color(domain=...)`)."""
    values = list(dict.fromkeys(df[column]))
    return sorted(values, key=lambda v: VARIANTS.index(v) if v in VARIANTS else len(VARIANTS))


def rule(value: float, axis: str = "y", dash=(6, 4), color: str = GUIDE_COLOR) -> alt.Chart:
    """A reference line (a target, a guide) at `value` on the x or y axis."""
    import pandas as pd
    return alt.Chart(pd.DataFrame({"v": [value]})).mark_rule(
        strokeDash=list(dash), color=color).encode(**{axis: "v:Q"})
