"""Charts of page 3: Santurkar's Def. 2.1 cosines (2a), noisy BN (2b), the synthesis (2c)."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from bnjax.charts import GUIDE_COLOR, present, variant_color

METRIC_TITLE = {"cos": "cos(G, G′)", "rel": "‖G − G′‖ / ‖G‖"}
METRICS = {"cosine": "cos", "relative change": "rel"}  # the page's (and URL's) word -> column


def _guide(metric: str, scale=alt.Undefined) -> alt.Chart:
    """The dashed line at cos = 1: a layer whose gradient ignores the layers below."""
    return alt.Chart(pd.DataFrame({metric: [1.0]})).mark_rule(
        strokeDash=[6, 4], color=GUIDE_COLOR).encode(y=alt.Y(f"{metric}:Q", scale=scale))


def ics_time_chart(ics: pd.DataFrame, layer: int, metric: str = "cos") -> alt.Chart:
    """Def. 2.1 at one layer over training: one thin line per seed, the seed mean thick; for the
    cosine, a reference line at 1 (a layer whose gradient ignores the layers below)."""
    df = ics[ics["layer"] == layer].dropna()
    lo = min(0.0, math.floor(float(df[metric].min()) * 10) / 10) if len(df) else 0.0
    scale = (alt.Scale(domain=[lo, 1.0], nice=False) if metric == "cos"
             else alt.Scale(zero=True))
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step"))
    seeds = base.mark_line(strokeWidth=1, opacity=0.4).encode(
        y=alt.Y(f"{metric}:Q", title=METRIC_TITLE[metric], scale=scale), detail="seed:N",
        color=variant_color(domain=present(df), legend=False),
        tooltip=["variant", "seed", "step", alt.Tooltip(f"{metric}:Q", format=".3f")])
    mean = base.mark_line(strokeWidth=3, point=True).encode(
        y=alt.Y(f"mean({metric}):Q", scale=scale), color=variant_color(domain=present(df)))
    layers = [mean, seeds] + ([_guide(metric, scale)] if metric == "cos" else [])
    return alt.layer(*layers).properties(
        height=320, title=f"Layer {layer}: {METRIC_TITLE[metric]} over training")


def ics_layer_chart(ics: pd.DataFrame, metric: str = "cos") -> alt.Chart:
    """Def. 2.1 per layer, averaged over training: the seed mean as a line, each seed a dot."""
    df = (ics.dropna().groupby(["variant", "seed", "layer"], as_index=False)[metric].mean())
    base = alt.Chart(df).encode(x=alt.X("layer:O", title="layer"),
                                color=variant_color(domain=present(df)))
    dots = base.mark_circle(size=60, opacity=0.6).encode(
        y=alt.Y(f"{metric}:Q", title=f"{METRIC_TITLE[metric]}, mean over training",
                scale=alt.Scale(zero=False)),
        tooltip=["variant", "seed", "layer", alt.Tooltip(f"{metric}:Q", format=".3f")])
    line = base.mark_line(strokeWidth=3).encode(y=f"mean({metric}):Q")
    layers = [line, dots] + ([_guide(metric)] if metric == "cos" else [])
    return alt.layer(*layers).properties(height=320, title="Every layer, averaged over training")


def loss_chart(*curves: pd.DataFrame) -> alt.Chart:
    """Training batch loss (window means, log scale): seed mean line, min-max band. Takes the
    curves of one or more results (clean and noisy runs come from two cached runs)."""
    df = pd.concat(curves, ignore_index=True)
    df = df[df["loss"] > 0].dropna()
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step"))
    band = base.mark_area(opacity=0.15).encode(
        color=variant_color(domain=present(df), legend=False),
        y=alt.Y("min(loss):Q", title="training batch loss (log)", scale=alt.Scale(type="log")),
        y2="max(loss):Q")
    line = base.mark_line(strokeWidth=2.5).encode(
        y="mean(loss):Q", color=variant_color(domain=present(df)),
        tooltip=["variant", "step", alt.Tooltip("mean(loss):Q", format=".4f")])
    return alt.layer(line, band).properties(height=320, title="Learning curves")


def accuracy_chart(*runs: pd.DataFrame) -> alt.Chart:
    """Final test accuracy per variant: the seed mean as a bar, each seed as a dot."""
    df = pd.concat(runs, ignore_index=True)
    df = df[~df["diverged"].astype(bool)]
    order = present(df)
    base = alt.Chart(df).encode(y=alt.Y("variant:N", title=None, sort=order),
                                color=variant_color(domain=order, legend=False))
    lo = max(0.0, math.floor(float(df["test_acc"].min()) * 20) / 20 - 0.05) if len(df) else 0.0
    bars = base.mark_bar(opacity=0.8).encode(
        x=alt.X("mean(test_acc):Q", title="test accuracy", scale=alt.Scale(domain=[lo, 1.0])))
    dots = base.mark_circle(size=70, color="black", opacity=0.7).encode(
        x="test_acc:Q", tooltip=["variant", "seed", alt.Tooltip("test_acc:Q", format=".3f")])
    return alt.layer(bars, dots).properties(height=alt.Step(36),  # a row per variant, any font
                                            title="Test accuracy after training")


SYNTHESIS = ("statistics: change of the layer's input after an affine change of layer 1",
             "gradients: 1 − cos(G, G′) after the layers below take a step")


def synthesis_chart(stats: pd.DataFrame, ics: pd.DataFrame) -> alt.Chart:
    """2c: per layer, BN vs plain, the two meanings of "coupling" side by side (seed means)."""
    a = (stats.dropna().groupby(["variant", "layer"], as_index=False)["rel_change"].mean()
         .rename(columns={"rel_change": "value"}).assign(measure=SYNTHESIS[0]))
    b = (ics.dropna().groupby(["variant", "layer"], as_index=False)["cos"].mean()
         .assign(value=lambda d: 1.0 - d["cos"]).drop(columns="cos").assign(measure=SYNTHESIS[1]))
    df = pd.concat([a, b], ignore_index=True)
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("layer:O", title="layer"), xOffset=alt.XOffset("variant:N", sort=present(df)),
        y=alt.Y("value:Q", title="coupling (0 = none)"),
        color=variant_color(domain=present(df)),
        tooltip=["variant", "layer", alt.Tooltip("value:Q", format=".3g")],
    ).properties(height=280, width=290).facet(
        column=alt.Column("measure:N", title=None, sort=list(SYNTHESIS),
                          # two lines, broken before "after", so the pair fits the page
                          header=alt.Header(labelExpr="[slice(datum.value, 0, "
                                            "indexof(datum.value, ' after')), slice(datum.value, "
                                            "indexof(datum.value, 'after'))]")),
    ).resolve_scale(y="independent")
