"""Charts of page 3: the concrete example (W1 × c), Santurkar's Def. 2.1 (2a), noisy BN (2b),
the synthesis (2c).

Each builder takes its title from the page (`bnjax.narration.decoupling` states the finding with
the run's numbers) and draws what to look at: the dashed "unchanged" line of the example, the
cos = 1 line of 2a, a label on 2c's BN bars, which are too small to see.
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import (BN, GUIDE_COLOR, STYLE, present, variant_color, variant_dash,
                          variant_shape)

METRIC_TITLE = {"cos": "cos(G, G′)", "rel": "‖G − G′‖ / ‖G‖"}
METRICS = {"cosine": "cos", "relative change": "rel"}  # the page's (and URL's) word -> column


def _title(title, default: str):
    """An Altair title from a line or a list of lines (the page's finding), left-aligned."""
    text = default if title is None else title
    return alt.TitleParams(text=text, anchor="start")


def _height(plot: int, title, legend: bool = True) -> int:
    """The chart height for a plot area of `plot` px: Streamlit fits a single chart's title,
    legend and axes inside its height, so a three-line title would squash the plot."""
    lines = 1 if title is None or isinstance(title, str) else len(title)
    return plot + 24 * lines + (34 if legend else 0) + 52


# ---------------------------------------------------------------------------- the example


def example_chart(weights: pd.DataFrame, factor: float, seed: int, title=None,
                  labels: dict | None = None, layer: int = 5, height: int = 220,
                  width: int = 300, font: int = 13) -> alt.Chart:
    """The concrete example: each dot one weight of the example layer, its gradient before (x)
    and after (y) W1 × factor, BN and plain side by side, the dashed diagonal where nothing
    changed, each panel labelled inside (`labels`: variant -> what happened). Gradients are in
    units of the net's typical gradient before the change (their RMS), so both panels read the
    same way."""
    df = weights[(weights["factor"] == factor) & (weights["seed"] == seed)].dropna().copy()
    rms = df.groupby("variant")["g"].transform(lambda g: float(np.sqrt((g ** 2).mean())) or 1.0)
    df["before"] = df["g"] / rms
    df["after"] = df["g_scaled"] / rms
    labels = labels or {}
    df["panel"] = df["variant"].map(lambda v: labels.get(v, v))
    order = present(df)
    points = alt.Chart().mark_point(filled=True, size=28, opacity=0.55).encode(
        x=alt.X("before:Q", title=f"layer {layer} gradient before (1 = typical size)"),
        y=alt.Y("after:Q", title=f"after W1 × {factor:g}"),
        color=variant_color(domain=order, legend=False),
        shape=variant_shape(domain=order),
        tooltip=["variant", alt.Tooltip("before:Q", format=".3f"),
                 alt.Tooltip("after:Q", format=".3f")])
    diagonal = alt.Chart().mark_line(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=1.5
                                     ).encode(x="before:Q", y="before:Q")
    note = alt.Chart().mark_text(align="right", baseline="top", dx=2, dy=16,
                                 color=GUIDE_COLOR, fontSize=font - 1).encode(
        x="max(before):Q", y="max(before):Q", text=alt.value("dashed: unchanged ↑"))
    # The panel's name and finding, top left inside the plot (one row per panel).
    name = alt.Chart().transform_aggregate(n="count()", groupby=["panel", "variant"]).mark_text(
        align="left", baseline="top", fontSize=font, fontWeight="bold").encode(
        x=alt.value(6), y=alt.value(6), text="panel:N",
        color=variant_color(domain=order, legend=False))
    return alt.layer(diagonal, points, note, name, data=df).properties(
        width=width, height=height).facet(
        column=alt.Column("variant:N", sort=order, title=None, header=alt.Header(labels=False)),
        title=_title(title, f"W1 × {factor:g}: layer {layer}'s gradient before and after"),
    ).resolve_scale(x="independent", y="independent")


# ---------------------------------------------------------------------------- 2a


def _line_legend(order: list) -> dict:
    """Colour and dash encodings whose legends merge into one: a dashed, coloured stroke per
    variant (a circle with a dashed outline reads as a blob)."""
    legend = dict(orient="top", title=None, symbolType="stroke", symbolStrokeWidth=3,
                  symbolSize=300)
    color = variant_color(domain=order, legend=False).legend(**legend)
    dash = variant_dash(domain=order).legend(**legend)
    return {"color": color, "strokeDash": dash}


def _point_legend(order: list) -> dict:
    """Colour and shape encodings whose legends merge into one: a filled coloured shape per
    variant, the shape its dots have."""
    legend = dict(orient="top", title=None, symbolStrokeWidth=0, symbolOpacity=1)
    return {"color": variant_color(domain=order, legend=False).legend(**legend),
            "shape": variant_shape(domain=order).legend(**legend)}


def _guide(metric: str, scale=alt.Undefined, font: int = 12) -> list:
    """The dashed line where layer i's gradient ignores the layers below (cos 1, change 0),
    labelled."""
    at = 1.0 if metric == "cos" else 0.0
    text = ("1 = unchanged; lower = turned more" if metric == "cos"
            else "0 = unchanged; higher = changed more")
    data = pd.DataFrame({metric: [at], "label": [text]})
    rule = alt.Chart(data).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(
        y=alt.Y(f"{metric}:Q", scale=scale))
    label = alt.Chart(data).mark_text(align="left", baseline="bottom", dx=4, dy=-4,
                                      color=GUIDE_COLOR, fontSize=font).encode(
        y=alt.Y(f"{metric}:Q", scale=scale), x=alt.value(0), text="label:N")
    return [rule, label]


def ics_time_chart(ics: pd.DataFrame, layer: int, metric: str = "cos", title=None,
                   font: int = 12) -> alt.Chart:
    """Def. 2.1 at one layer over training: one thin line per seed, the seed mean thick; a
    labelled reference line where the layers below would have changed nothing."""
    df = ics[ics["layer"] == layer].dropna()
    order = present(df)
    lo = min(0.0, math.floor(float(df[metric].min()) * 10) / 10) if len(df) else 0.0
    # Room above cos = 1 for the guide's label.
    scale = (alt.Scale(domain=[lo, 1.0 + 0.12 * (1.0 - lo)], nice=False) if metric == "cos"
             else alt.Scale(zero=True))
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step"))
    seeds = base.mark_line(strokeWidth=1, opacity=0.4).encode(
        y=alt.Y(f"{metric}:Q", title=METRIC_TITLE[metric], scale=scale), detail="seed:N",
        color=variant_color(domain=order, legend=False), strokeDash=variant_dash(domain=order),
        tooltip=["variant", "seed", "step", alt.Tooltip(f"{metric}:Q", format=".3f")])
    mean = base.mark_line(strokeWidth=3).encode(
        y=alt.Y(f"mean({metric}):Q", scale=scale), strokeDash=variant_dash(domain=order),
        color=variant_color(domain=order, legend=False))
    # The legend comes from the points alone: a filled shape per variant, no dashed outline.
    points = base.mark_point(size=50, filled=True, opacity=1).encode(
        y=alt.Y(f"mean({metric}):Q", scale=scale), **_point_legend(order))
    return alt.layer(points, mean, seeds, *_guide(metric, scale, font)).properties(
        height=_height(240, title),
        title=_title(title, f"Layer {layer}: {METRIC_TITLE[metric]} over training"))


def ics_layer_chart(ics: pd.DataFrame, metric: str = "cos", title=None,
                    font: int = 12) -> alt.Chart:
    """Def. 2.1 per layer, averaged over training: the seed mean as a line, each seed a dot."""
    df = (ics.dropna().groupby(["variant", "seed", "layer"], as_index=False)[metric].mean())
    order = present(df)
    scale = alt.Scale(zero=False)
    if metric == "cos" and len(df):  # room above cos = 1 for the guide's label
        lo = math.floor(float(df[metric].min()) * 20) / 20
        scale = alt.Scale(domain=[lo, 1.0 + 0.15 * (1.0 - lo)], nice=False)
    base = alt.Chart(df).encode(x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)))
    dots = base.mark_point(size=60, opacity=0.7, filled=True).encode(
        y=alt.Y(f"{metric}:Q", title=f"{METRIC_TITLE[metric]}, mean over training",
                scale=scale),
        tooltip=["variant", "seed", "layer", alt.Tooltip(f"{metric}:Q", format=".3f")],
        **_point_legend(order))
    line = base.mark_line(strokeWidth=3).encode(y=alt.Y(f"mean({metric}):Q", scale=scale),
                                                color=variant_color(domain=order, legend=False),
                                                strokeDash=variant_dash(domain=order))
    return alt.layer(dots, line, *_guide(metric, scale, font)).properties(
        height=_height(240, title), title=_title(title, "Every layer, averaged over training"))


# ---------------------------------------------------------------------------- 2b


def loss_chart(*curves: pd.DataFrame, title=None) -> alt.Chart:
    """Training batch loss (window means, log scale): seed mean line, min-max band. Takes the
    curves of one or more results (clean and noisy runs come from two cached runs)."""
    df = pd.concat(curves, ignore_index=True)
    df = df[df["loss"] > 0].dropna()
    order = present(df)
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step"))
    band = base.mark_area(opacity=0.15).encode(
        color=variant_color(domain=order, legend=False),
        y=alt.Y("min(loss):Q", title="training batch loss (log scale)",
                scale=alt.Scale(type="log")),
        y2="max(loss):Q")
    line = base.mark_line(strokeWidth=2.5).encode(
        y="mean(loss):Q", **_line_legend(order),
        tooltip=["variant", "step", alt.Tooltip("mean(loss):Q", format=".4f")])
    return alt.layer(line, band).properties(height=_height(260, title),
                                            title=_title(title, "Learning curves"))


def accuracy_chart(*runs: pd.DataFrame, title=None, font: int = 12) -> alt.Chart:
    """Final test accuracy per variant: each seed a dot, the seed mean a bold tick with its
    value. Dots on an axis that starts near the data, not bars cut off at a false zero."""
    df = pd.concat(runs, ignore_index=True)
    df = df[~df["diverged"].astype(bool)].copy()
    order = present(df)
    lo = max(0.0, math.floor(float(df["test_acc"].min()) * 50) / 50 - 0.01) if len(df) else 0.0
    x_scale = alt.Scale(domain=[lo, 1.0], nice=False)
    base = alt.Chart(df).encode(y=alt.Y("variant:N", title=None, sort=order))
    color = variant_color(domain=order, legend=False)
    dots = base.mark_point(size=90, filled=True, opacity=0.7).encode(
        x=alt.X("test_acc:Q", title="test accuracy (unseen digits)", scale=x_scale,
                axis=alt.Axis(format=".0%")),
        color=color, shape=variant_shape(domain=order),
        tooltip=["variant", "seed", alt.Tooltip("test_acc:Q", format=".1%")])
    mean = base.mark_tick(thickness=3, size=24).encode(
        x=alt.X("mean(test_acc):Q", scale=x_scale), color=color)
    # The seed mean's value sits where the mean is: centred over its tick, above the dots.
    text = base.mark_text(align="center", baseline="bottom", dy=-13, fontSize=font,
                          color="black").encode(
        x=alt.X("mean(test_acc):Q", scale=x_scale),
        text=alt.Text("mean(test_acc):Q", format=".1%"))
    return alt.layer(mean, dots, text).properties(
        height=alt.Step(56), title=_title(title, "Test accuracy after training"))


# ---------------------------------------------------------------------------- 2c


def _bars(df: pd.DataFrame, y_title: str, title, scale=alt.Undefined, *,
          percent: bool = False) -> alt.Chart:
    """Bars per layer, BN and plain side by side; `percent`: the values are fractions printed as
    percentages, as the title beside them prints them (one unit per chart)."""
    order = present(df)
    fmt = ".1%" if percent else ".3g"
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("variant:N", sort=order),
        y=alt.Y("value:Q", title=y_title, scale=scale,
                axis=alt.Axis(format="%") if percent else alt.Undefined),
        color=variant_color(domain=order),
        tooltip=["variant", "layer", alt.Tooltip("value:Q", format=fmt)],
    ).properties(height=_height(230, title.text if title is not None else None), title=title)


def stats_chart(stats: pd.DataFrame, title=None, zero_label: str | None = None,
                font: int = 13) -> alt.Chart:
    """2c, statistics: per later layer, the relative change of its input after an affine change
    of layer 1 (seed means). BN's bars are ≈ 0, too small to see: a tick marks each, and
    `zero_label` says their size."""
    df = (stats[stats["layer"] > 1].dropna().groupby(["variant", "layer"], as_index=False)
          ["rel_change"].mean().rename(columns={"rel_change": "value"}))
    top = float(df["value"].max()) if len(df) else 1.0
    room = 1.3 if zero_label else 1.0  # headroom for the label above the bars
    bars = _bars(df, "change of the layer's input (% of its size)", _title(
        title, "Statistics: after an affine change of layer 1"),
        scale=alt.Scale(domain=[0, top * room], nice=False), percent=True)
    layers = [bars]
    bn = df[df["variant"] == BN]
    if len(bn):
        order = present(df)
        ticks = alt.Chart(bn).mark_tick(thickness=3, color=STYLE[BN][0]).encode(
            x="layer:O", xOffset=alt.XOffset("variant:N", sort=order,
                                             scale=alt.Scale(domain=order)),
            y="value:Q")
        layers.append(ticks)
        if zero_label:
            note = alt.Chart(pd.DataFrame({"layer": [int(bn["layer"].min())],
                                           "value": [top * 1.22], "label": [zero_label]})
                             ).mark_text(align="left", baseline="middle", dx=-20, fontSize=font,
                                         fontWeight="bold", color=STYLE[BN][0]).encode(
                x="layer:O", y="value:Q", text="label:N")
            layers.append(note)
    return alt.layer(*layers)


def gradient_gap_chart(ics: pd.DataFrame, title=None) -> alt.Chart:
    """2c, gradients: per layer, 1 − cos(G, G′) averaged over training and seeds."""
    df = (ics.dropna().groupby(["variant", "layer"], as_index=False)["cos"].mean()
          .assign(value=lambda d: 1.0 - d["cos"]).drop(columns="cos"))
    return _bars(df, "1 − cos(G, G′)  (0 = unchanged)", _title(
        title, "Gradients: after the layers below take a step"))
