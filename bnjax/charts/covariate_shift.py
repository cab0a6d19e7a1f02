"""Charts of page 2: Ioffe's percentile bands (1a) and the layer-1 perturbation (1b)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from bnjax.charts import GUIDE_COLOR, present, variant_color

KIND_TITLE = {"affine": "rescale + shift of each unit", "random": "random direction, same size"}


def bands_chart(bands: pd.DataFrame, unit: int) -> alt.Chart:
    """Ioffe & Szegedy 2015, Fig. 1(b, c), live: the 15-85th percentile band and the median of one
    last-hidden-layer unit's input to the nonlinearity over training, one band per seed, BN and
    plain side by side on a shared y-axis."""
    df = bands[bands["unit"] == unit].dropna()
    base = alt.Chart(df).encode(
        x=alt.X("step:Q", title="training step"),
        color=variant_color(domain=present(df), legend=False),
        detail="seed:N")
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y("p15:Q", title=f"unit {unit}: input to the nonlinearity"), y2="p85:Q")
    median = base.mark_line(strokeWidth=2.5).encode(
        y="p50:Q", tooltip=["variant", "seed", "step",
                            alt.Tooltip("p15:Q", format=".3f"), alt.Tooltip("p50:Q", format=".3f"),
                            alt.Tooltip("p85:Q", format=".3f")])
    return alt.layer(band, median).properties(height=300, width=320).facet(
        column=alt.Column("variant:N", title=None, sort=present(df)),
        title="15th, 50th (line) and 85th percentiles over the whole training set",
    ).resolve_scale(y="shared")


def drift_chart(units: pd.DataFrame) -> alt.Chart:
    """Per unit of the last hidden layer: how far its median moved over training (max - min),
    one dot per unit and seed, BN vs plain."""
    df = units.dropna()
    return alt.Chart(df).mark_tick(thickness=2, size=22).encode(
        x=alt.X("drift:Q", title="drift of the median over training (max - min)"),
        y=alt.Y("variant:N", title=None, sort=present(df)),
        color=variant_color(domain=present(df), legend=False),
        tooltip=["variant", "seed", "unit", alt.Tooltip("drift:Q", format=".3f")],
    ).properties(height=alt.Step(40), title="Every unit of the last hidden layer, every seed")


def perturb_chart(perturb: pd.DataFrame, size: float) -> alt.Chart:
    """Change of the training loss after perturbing layer 1 of the trained nets: the seed mean as
    a bar, each seed as a dot, for the affine change and a random one of the same norm."""
    df = perturb[perturb["size"] == size].dropna().assign(
        change=lambda d: d["kind"].map(KIND_TITLE))
    base = alt.Chart(df).encode(
        x=alt.X("variant:N", title=None, sort=present(df),
                axis=alt.Axis(labels=False, ticks=False)),
        color=variant_color(domain=present(df)))
    bars = base.mark_bar(opacity=0.8).encode(
        y=alt.Y("mean(dloss):Q", title="change of the training loss"))
    dots = base.mark_circle(size=70, color="black", opacity=0.7).encode(
        y="dloss:Q", tooltip=["variant", "seed", alt.Tooltip("dloss:Q", format=".2e")])
    return alt.layer(bars, dots).properties(height=280, width=240).facet(
        column=alt.Column("change:N", title=None, sort=list(KIND_TITLE.values())),
        title="Layer 1 changed: what it costs the whole network")


# What a later layer sees, by the word the page (and its URL) uses: (column, axis title).
MEASURES = {"values": ("rel_change", "values: ‖h′ − h‖ / ‖h‖"),
            "mean and spread": ("moment_change", "per-unit mean and std: relative change")}


def layers_chart(layers: pd.DataFrame, size: float, measure: str = "values") -> alt.Chart:
    """Per layer, how much its input to the nonlinearity moved after layer 1 was changed: the
    values themselves, or their distribution's per-unit mean and spread; seed mean as a line,
    min-max band."""
    measure, title = MEASURES[measure]
    df = layers[layers["size"] == size].dropna().assign(
        change=lambda d: d["kind"].map(KIND_TITLE))
    base = alt.Chart(df).encode(x=alt.X("layer:O", title="layer"))
    band = base.mark_area(opacity=0.2).encode(
        color=variant_color(domain=present(df), legend=False),
        y=alt.Y(f"min({measure}):Q", title=title), y2=f"max({measure}):Q")
    line = base.mark_line(point=True, strokeWidth=2.5).encode(
        y=f"mean({measure}):Q", color=variant_color(domain=present(df)),
        tooltip=["variant", "layer", alt.Tooltip(f"mean({measure}):Q", format=".2e")])
    guide = alt.Chart(df).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y=alt.datum(0))
    return alt.layer(line, band, guide).properties(height=280, width=320).facet(
        column=alt.Column("change:N", title=None, sort=list(KIND_TITLE.values())),
        title="What every later layer sees")
