"""Altair chart builders: long-form DataFrame -> alt.Chart, one visual vocabulary.

Teaches: BN and plain look the same on every page (one colour scale), reference lines carry the
lesson. Page-specific builders live in the sibling modules; this file holds what they share.
"""
from __future__ import annotations

import altair as alt

BN, PLAIN = "BN", "plain"
VARIANTS = [BN, PLAIN, "noisy BN", "noisy plain", "dropout", "BN (frozen stats)",
            "BN (recomputed stats)"]
COLORS = ["#1f77b4", "#d62728", "#17becf", "#ff9896", "#2ca02c", "#9467bd", "#1f77b4"]
# The same colour for a variant on every page; unknown variants fall back to Altair's scheme.
VARIANT_SCALE = alt.Scale(domain=VARIANTS, range=COLORS)
DIVERGED_COLOR = "#7f7f7f"
GUIDE_COLOR = "#444444"


def variant_color(field: str = "variant:N", title: str | None = None, legend=True,
                  domain=None) -> alt.Color:
    """The shared colour encoding of the BN / plain / other variants. Pass `domain` (the variants
    in the chart) so the legend lists only those; their colours stay the same everywhere."""
    scale = VARIANT_SCALE
    if domain is not None:
        known = [v for v in domain if v in VARIANTS]
        scale = alt.Scale(domain=known, range=[COLORS[VARIANTS.index(v)] for v in known])
    return alt.Color(field, scale=scale, title=title,
                     legend=alt.Legend(orient="top") if legend else None)


def present(df, column: str = "variant") -> list:
    """The variants present in `df`, in the shared order (for `variant_color(domain=...)`)."""
    values = list(dict.fromkeys(df[column]))
    return sorted(values, key=lambda v: VARIANTS.index(v) if v in VARIANTS else len(VARIANTS))


def rule(value: float, axis: str = "y", dash=(6, 4), color: str = GUIDE_COLOR) -> alt.Chart:
    """A reference line (a target, a guide) at `value` on the x or y axis."""
    import pandas as pd
    return alt.Chart(pd.DataFrame({"v": [value]})).mark_rule(
        strokeDash=list(dash), color=color).encode(**{axis: "v:Q"})
