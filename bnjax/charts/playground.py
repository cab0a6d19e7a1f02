"""Charts of the Playground: curves with seed bands, health histograms, update:data ratios."""
from __future__ import annotations

import altair as alt
import pandas as pd

from bnjax.charts import GUIDE_COLOR, present, variant_color


def _band(df: pd.DataFrame, y: str, title: str, log: bool = False) -> alt.Chart:
    """Seed mean as a line, min-max over seeds as a band, per variant."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step"),
                                color=variant_color(domain=present(df)))
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y(f"min({y}):Q", title=title, scale=scale), y2=f"max({y}):Q")
    line = base.mark_line(strokeWidth=2.5).encode(y=f"mean({y}):Q",
                                                  tooltip=["variant", "step", f"mean({y}):Q"])
    return band + line


def loss_chart(curves: pd.DataFrame, diverged_at: pd.DataFrame | None = None) -> alt.Chart:
    """Training loss (log scale) with the seed band; a cross where a run diverged."""
    df = curves[curves.loss > 0]
    chart = _band(df, "loss", "training loss (log)", log=True)
    if diverged_at is not None and len(diverged_at):
        top = float(df.loss.max()) if len(df) else 1.0
        marks = alt.Chart(diverged_at.assign(loss=top)).mark_point(
            shape="cross", size=300, filled=True, strokeWidth=3).encode(
            x="step:Q", y="loss:Q", color=variant_color(legend=False, domain=present(df)),
            tooltip=["variant", "seed", alt.Tooltip("step:Q", title="diverged at step")])
        chart = chart + marks
    return chart.properties(title="Training loss", height=320)


def accuracy_chart(acc: pd.DataFrame) -> alt.Chart:
    return _band(acc.dropna(), "acc", "test accuracy").properties(title="Test accuracy",
                                                                   height=320)


def histogram_chart(df: pd.DataFrame, x_title: str) -> alt.Chart:
    """One density line per layer, BN and plain in two columns."""
    return alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=alt.X("x:Q", title=x_title), y=alt.Y("density:Q", title="fraction"),
        color=alt.Color("layer:N", legend=alt.Legend(orient="top")),
        tooltip=["layer", "x", "density"],
    ).properties(height=220, width=320).facet(column=alt.Column("variant:N", title=None))


def update_ratio_chart(df: pd.DataFrame) -> alt.Chart:
    """log10(std(update) / std(w)) per layer over training, with the 1e-3 guide."""
    base = alt.Chart(df.dropna())
    lines = base.mark_line(strokeWidth=2).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("log10_ratio:Q", title="log10 update:data"),
        color=alt.Color("layer:N", legend=alt.Legend(orient="top")),
        tooltip=["layer", "step", "log10_ratio"])
    guide = base.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y=alt.datum(-3.0))
    return alt.layer(lines, guide).properties(height=260, width=320).facet(
        column=alt.Column("variant:N", title=None))
