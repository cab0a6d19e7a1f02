"""Charts of page 7, "Batch or normalization?": BN, LayerNorm and plain side by side.

Titles come from `bnjax.narration.normalization` (each states its finding with the run's
numbers); these builders only draw. BN, LayerNorm and plain keep their colours, dashes and shapes
from `bnjax.charts.STYLE`; every chart shows the seeds (a point per seed, or a min-max band).
"""
from __future__ import annotations

import math
import textwrap

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import DIVERGED_COLOR, GUIDE_COLOR, SKY, STYLE

ORDER = ["BN", "LayerNorm", "plain"]
# BN evaluated with its running (EMA) statistics: a BN net, so BN's hue family, never BN's blue.
BN_RUNNING = "BN (running stats)"
RUNNING_STYLE = (SKY, [4, 2], "triangle-up")
FLOOR = 1e-9  # a relative change of exactly 0 sits here on the log axis (and says so)
# Streamlit sizes a chart with autosize "fit": the height given would hold the titles and the
# legend too, squashing the plot. These charts fit the width only; `height` is the plot's.
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")
# Title lines of a full-width chart wrap here: what fits at 1280 px with the sidebar open in
# lecture mode's bigger title font (Vega-Lite cuts a longer line with an ellipsis).
WRAP = 75


def _title(text, wrap: int | None = None) -> dict:
    """`properties(**_title(text))`: a title of one or more lines (a list of strings), anchored
    left, each line wrapped at `wrap` characters (charts in half-width columns); no title for
    None. Also the fit-x autosize (see FIT_X)."""
    if text is None:
        return {"autosize": FIT_X}
    lines = [text] if isinstance(text, str) else list(text)
    # The first line is the finding (bold); the others, its numbers and how to read the chart,
    # go in a subtitle of normal weight, so the two do not run together.
    head, rest = lines[:1], lines[1:]
    if wrap:
        head = textwrap.wrap(head[0], wrap) or head
        rest = [part for line in rest for part in textwrap.wrap(line, wrap)]
    sub = {"subtitle": rest, "subtitleFontSize": 14, "subtitleColor": "#333333"} if rest else {}
    return {"title": alt.TitleParams(head if len(head) > 1 else head[0], anchor="start", **sub),
            "autosize": FIT_X}


def _legend(**kw) -> alt.Legend:
    return alt.Legend(**{"orient": "top", "title": None, "labelLimit": 0, "symbolOpacity": 1,
                         "symbolStrokeWidth": 3, **kw})


def _styles(variants):
    """(domain, colours, dashes, shapes) for the variants drawn, BN (running stats) included."""
    table = {**STYLE, BN_RUNNING: RUNNING_STYLE}
    order = ["BN", BN_RUNNING, "LayerNorm", "plain"]
    domain = [v for v in order if v in set(variants)]
    return (domain, [table[v][0] for v in domain], [table[v][1] for v in domain],
            [table[v][2] for v in domain])


def _encodings(variants, legend=True):
    domain, colours, dashes, shapes = _styles(variants)
    color = alt.Color("variant:N", scale=alt.Scale(domain=domain, range=colours),
                      legend=_legend() if legend else None)
    dash = alt.StrokeDash("variant:N", scale=alt.Scale(domain=domain, range=dashes), legend=None)
    shape = alt.Shape("variant:N", scale=alt.Scale(domain=domain, range=shapes), legend=None)
    return color, dash, shape


# ---------------------------------------------------------------------------- Q1


def invariance_chart(changes: pd.DataFrame, labels: dict, title=None,
                     tiny: float = 1e-4, height: int = 300,
                     compact: bool = False) -> alt.LayerChart:
    """The relative change of the logits for each change of W1, one point per net and seed, on a
    log axis: exact invariances sit at float rounding (left of the `tiny` line), real changes
    near 0.1 to 1. A change of exactly 0 is drawn at FLOOR. `compact` (lecture mode, where it
    shares the first screen with the short answer): the legend beside the plot, not above."""
    df = changes.dropna(subset=["rel_change"]).copy()
    df["change of layer 1"] = df["change"].map(labels)
    df["shown"] = np.maximum(df["rel_change"], FLOOR)
    df["value"] = df["rel_change"].map(lambda v: "0" if v == 0 else f"{v:.1e}")
    variants = [v for v in ORDER if v in set(df.variant)]
    y_order = [labels[c] for c in labels]
    color, _, shape = _encodings(variants)
    if compact:
        color = color.legend(_legend(orient="right"))
    points = alt.Chart(df).mark_point(size=110, filled=True, opacity=0.85).encode(
        x=alt.X("shown:Q", title="relative change of the logits on the training set (log)",
                scale=alt.Scale(type="log", domain=[FLOOR, 10.0]),
                axis=alt.Axis(format="~e", values=[1e-9, 1e-7, 1e-5, 1e-3, 1e-1, 10])),
        y=alt.Y(field="change of layer 1", type="nominal", sort=y_order, title=None,
                axis=alt.Axis(labelLimit=180)),
        yOffset=alt.YOffset("variant:N", sort=variants),
        color=color, shape=shape,
        tooltip=["variant:N", "seed:Q", alt.Tooltip(field="change of layer 1", type="nominal"),
                 alt.Tooltip("value:N", title="relative change")])
    # The label sits inside the plot, left of the line, at the bottom: in row (c), whose
    # changes (random directions) are never at rounding level, so no point sits there. Short,
    # so that on a 390 px phone (a plot ~210 px wide) it stays clear of the row labels.
    line = pd.DataFrame({"x": [tiny], "label": [f"rounding (< {tiny:.0e})".replace("e-0", "e-")]})
    rule = alt.Chart(line).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(x="x:Q")
    text = alt.Chart(line).mark_text(align="right", dx=-4, dy=-3, color=GUIDE_COLOR,
                                     baseline="bottom").encode(
        x="x:Q", y=alt.value(height), text="label:N")
    return alt.layer(points, rule, text).properties(height=height, **_title(title, WRAP))


# ---------------------------------------------------------------------------- Q3


def _log2_axis(sizes):
    return alt.Axis(values=[int(b) for b in sizes], format="d", labelOverlap=False)


def noise_chart(std: pd.DataFrame, c: float | None, title=None) -> alt.LayerChart:
    """The spread across batches of one example's x_hat against the batch size (log x, linear y),
    BN and LayerNorm, a point per seed and a line through the seed means; the c/sqrt(B) law
    dashed. LayerNorm's spread is 0 at every batch size."""
    df = std.dropna(subset=["std"])
    sizes = sorted(df.batch_size.unique())
    variants = [v for v in ORDER if v in set(df.variant)]
    color, dash, shape = _encodings(variants)
    x = alt.X("batch_size:Q", title="batch size B (log)", scale=alt.Scale(type="log", base=2),
              axis=_log2_axis(sizes))
    y = alt.Y("std:Q", title=["spread of x̂ across batches", "(std, median over units)"])
    mean = df.groupby(["variant", "batch_size"], as_index=False)["std"].mean()
    line = alt.Chart(mean).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=color,
                                                             strokeDash=dash)
    pts = alt.Chart(df).mark_point(size=70, filled=True, opacity=0.8).encode(
        x=x, y=y, color=color, shape=shape,
        tooltip=["variant:N", "seed:Q", "batch_size", alt.Tooltip("std:Q", format=".2e")])
    layers = [line, pts]
    if c is not None and math.isfinite(c) and sizes:
        grid = np.exp(np.linspace(np.log(sizes[0]), np.log(sizes[-1]), 40))
        law = pd.DataFrame({"batch_size": grid, "std": c / np.sqrt(grid)})
        layers.insert(0, alt.Chart(law).mark_line(strokeDash=[6, 4], color=GUIDE_COLOR).encode(
            x=x, y=y))
        layers.append(alt.Chart(law.iloc[[len(law) // 3]]).mark_text(
            align="left", dx=6, dy=-8, color=GUIDE_COLOR).encode(
            x=x, y=y, text=alt.value(f"{c:.2f} / √B")))
    return alt.layer(*layers).properties(height=280, **_title(title, WRAP))


def small_batch_chart(acc: pd.DataFrame, title=None) -> alt.LayerChart:
    """Test accuracy against the training batch size (log x): BN on population statistics, BN on
    running statistics, LayerNorm and plain; seed means joined by lines, min-max bands."""
    df = acc.copy()
    sizes = sorted(df.batch_size.unique())
    variants = [v for v in ["BN", BN_RUNNING, "LayerNorm", "plain"] if v in set(df.variant)]
    color, dash, shape = _encodings(variants)
    agg = df.groupby(["variant", "batch_size"], as_index=False).agg(
        acc=("acc", "mean"), lo=("acc", "min"), hi=("acc", "max"),
        diverged=("diverged", "sum"), n=("acc", "size"))
    x = alt.X("batch_size:Q", title="training batch size (log)",
              scale=alt.Scale(type="log", base=2), axis=_log2_axis(sizes))
    y = alt.Y("acc:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format=".0%"))
    band = alt.Chart(agg).mark_area(opacity=0.15).encode(x=x, y=alt.Y("lo:Q"), y2="hi:Q",
                                                         color=color)
    line = alt.Chart(agg).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=color,
                                                            strokeDash=dash)
    pts = alt.Chart(agg).mark_point(size=90, filled=True).encode(
        x=x, y=y, color=color, shape=shape,
        tooltip=["variant", "batch_size", alt.Tooltip("acc:Q", format=".3f", title="seed mean"),
                 alt.Tooltip("lo:Q", format=".3f", title="lowest seed"),
                 alt.Tooltip("hi:Q", format=".3f", title="highest seed"),
                 alt.Tooltip("diverged:Q", title="seeds diverged")])
    return alt.layer(band, line, pts).properties(height=300, **_title(title, WRAP))


# ---------------------------------------------------------------------------- Q4

ACC_SCALE = alt.Scale(domain=[0.0, 1.0], scheme="viridis")


def heatmaps_chart(cells: pd.DataFrame, good: float = 0.9, title=None,
                   width: int = 200) -> alt.FacetChart:
    """One heat map per net (BN, LayerNorm, plain) of seed-mean test accuracy over lr x gain, on
    one colour scale: cells whose seed mean is >= `good` outlined in white and counted in each
    panel's header (the chart's title gives the per-seed counts), "✕" where every seed
    diverged. A facet, so that a phone stacks the panels (`ui.export.for_phone`)."""
    df = cells.copy()
    df["lr_label"] = df["lr"].map(lambda v: f"{v:g}")
    df["gain_label"] = df["gain"].map(lambda v: f"{v:g}")
    df["label"] = np.where(df["diverged"] == df["n_seeds"], "✕",
                           df["acc"].map(lambda a: f"{a:.2f}"))
    order = [v for v in ORDER if v in set(df.variant)]
    counts = df.groupby("variant")["good"].sum()
    sizes = df.groupby("variant").size()
    # the seed-mean count (the title's counts are per seed: the header says which this is)
    # three header lines (split at ': '): at lecture width two panels' count lines touched
    df["panel"] = df["variant"].map(lambda v: f"{v}: {int(counts[v])} of {int(sizes[v])}: "
                                              "by seed mean")
    panels = [df.loc[df.variant == v, "panel"].iloc[0] for v in order]
    lr_order = [f"{v:g}" for v in sorted(df["lr"].unique())]
    gain_order = [f"{v:g}" for v in sorted(df["gain"].unique(), reverse=True)]
    x = alt.X("lr_label:O", sort=lr_order, title="learning rate",
              axis=alt.Axis(labelAngle=-45, labelOverlap=False))
    y = alt.Y("gain_label:O", sort=gain_order, title="init gain")
    rect = alt.Chart().mark_rect(strokeWidth=3).encode(
        x=x, y=y,
        color=alt.Color("acc:Q", scale=ACC_SCALE, title=["test accuracy", "(seed mean)"],
                        legend=alt.Legend(format=".0%")),
        stroke=alt.condition(f"datum.acc >= {good}", alt.value("white"), alt.value(None)),
        tooltip=["variant", alt.Tooltip("lr:Q", format="g"), alt.Tooltip("gain:Q", format="g"),
                 alt.Tooltip("acc:Q", format=".3f", title="test accuracy (seed mean)"),
                 alt.Tooltip("acc_std:Q", format=".3f", title="seed std"),
                 alt.Tooltip("diverged:Q", title="seeds diverged")])
    text = alt.Chart().mark_text(fontSize=12).encode(
        x=x, y=y, text="label:N",
        color=alt.condition("datum.acc > 0.6", alt.value("black"), alt.value("white")))
    return alt.layer(rect, text, data=df).properties(width=width, height=130).facet(
        column=alt.Column("panel:N", title=None, sort=panels,
                          # two lines: the net, then its count (one line overlapped its
                          # neighbour's at lecture mode's 165 px panels)
                          header=alt.Header(labelFontWeight="bold", labelAnchor="start",
                                            labelExpr="split(datum.value, ': ')")),
        spacing=8,
    ).properties(**{k: v for k, v in _title(title, WRAP).items() if k != "autosize"})


def sweep_chart(sweep: pd.DataFrame, largest: dict, ln10: float = math.log(10.0),
                title=None, height: int = 260) -> alt.LayerChart:
    """Final training loss against the learning rate (gain 1), a point per seed and a line
    through the seed means of the finite runs; a diverged run is a grey ✕ at the top. The line
    at ln 10 is where a net that predicts nothing sits; each net's largest lr that learns is a
    tick on the axis."""
    df = sweep.copy()
    variants = [v for v in ORDER if v in set(df.variant)]
    color, dash, shape = _encodings(variants)
    finite = df[~df.diverged & np.isfinite(df.final_loss)]
    top = max(4.0, float(np.ceil(finite.final_loss.max())) if len(finite) else 4.0)
    top = min(top, 50.0)
    x = alt.X("lr:Q", title="learning rate (log), init gain 1", scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~g", values=sorted(df.lr.unique()), labelOverlap=False))
    y = alt.Y("final_loss:Q", title="final training loss",
              scale=alt.Scale(domain=[0, top], clamp=True))
    mean = finite.groupby(["variant", "lr"], as_index=False)["final_loss"].mean()
    line = alt.Chart(mean).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=color,
                                                             strokeDash=dash)
    pts = alt.Chart(finite).mark_point(size=80, filled=True, opacity=0.8).encode(
        x=x, y=y, color=color, shape=shape,
        tooltip=["variant:N", "seed:Q", alt.Tooltip("lr:Q", format="g"),
                 alt.Tooltip("final_loss:Q", format=".3f"), "learns:N"])
    dead = df[df.diverged].assign(final_loss=top)
    cross = alt.Chart(dead).mark_text(text="✕", fontSize=16, color=DIVERGED_COLOR,
                                      dy=8).encode(
        x=x, y=y, yOffset=alt.YOffset("variant:N", sort=variants),
        tooltip=["variant:N", "seed:Q", alt.Tooltip("lr:Q", format="g"),
                 alt.Tooltip("diverged:N", title="diverged")])
    chance = pd.DataFrame({"final_loss": [ln10], "label": ["ln 10: predicts nothing"]})
    rule = alt.Chart(chance).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y=y)
    rule_text = alt.Chart(chance).mark_text(align="left", dx=4, dy=-6, color=GUIDE_COLOR).encode(
        y=y, x=alt.value(0), text="label:N")
    edges = pd.DataFrame([dict(variant=v, lr=lr) for v, lr in largest.items() if lr > 0],
                         columns=["variant", "lr"])  # no net learns: no ticks, still a frame
    ticks = alt.Chart(edges).mark_tick(thickness=4, size=22).encode(
        x=x, y=alt.value(height), color=color,
        tooltip=["variant:N", alt.Tooltip("lr:Q", format="g", title="largest lr that learns")])
    return alt.layer(rule, line, pts, cross, rule_text, ticks).properties(
        height=height, **_title(title, WRAP))


def curves_chart(curves: pd.DataFrame, lr: float, ln10: float = math.log(10.0),
                 title=None) -> alt.LayerChart:
    """The training loss of every seed of the three nets at one learning rate (gain 1), against
    ln 10; a line that stops has diverged."""
    df = curves[np.isclose(curves.lr, lr)]
    df = df[np.isfinite(df.loss)]
    variants = [v for v in ORDER if v in set(df.variant)]
    color, dash, _ = _encodings(variants)
    top = 6.0
    line = alt.Chart(df).mark_line(strokeWidth=2, opacity=0.8).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("loss:Q", title="training batch loss", scale=alt.Scale(domain=[0, top],
                                                                        clamp=True)),
        color=color, strokeDash=dash, detail="seed:N",
        tooltip=["variant:N", "seed:Q", "step", alt.Tooltip("loss:Q", format=".3f")])
    chance = pd.DataFrame({"loss": [ln10], "label": ["ln 10"]})
    rule = alt.Chart(chance).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="loss:Q")
    text = alt.Chart(chance).mark_text(align="right", dx=-4, dy=-6, color=GUIDE_COLOR).encode(
        y="loss:Q", x=alt.value(0), text="label:N")
    return alt.layer(rule, line, text).properties(height=200, **_title(title, WRAP))


# ---------------------------------------------------------------------------- depth


def _depth_agg(layers: pd.DataFrame) -> pd.DataFrame:
    return layers.groupby(["variant", "layer"], as_index=False).agg(
        rank=("rank", "mean"), rank_lo=("rank", "min"), rank_hi=("rank", "max"),
        grad=("grad_norm", "mean"), grad_lo=("grad_norm", "min"), grad_hi=("grad_norm", "max"))


def _layer_axis(agg):
    return alt.X("layer:Q", title="hidden layer (1 = next to the input)",
                 scale=alt.Scale(domain=[1, int(agg.layer.max())]))


def depth_rank_chart(layers: pd.DataFrame, title=None, wrap: int = 50) -> alt.LayerChart:
    """Per layer of the deep nets at initialization, the effective rank of its activations over
    the batch: seed means as lines, min-max bands."""
    agg = _depth_agg(layers)
    color, dash, _ = _encodings([v for v in ORDER if v in set(agg.variant)])
    x, base = _layer_axis(agg), alt.Chart(agg)
    return alt.layer(
        base.mark_area(opacity=0.15).encode(x=x, y="rank_lo:Q", y2="rank_hi:Q", color=color),
        base.mark_line(strokeWidth=2.5).encode(
            x=x, y=alt.Y("rank:Q", title="effective rank of the activations"),
            color=color, strokeDash=dash,
            tooltip=["variant", "layer", alt.Tooltip("rank:Q", format=".1f")]),
    ).properties(height=240, **_title(title, wrap))


def depth_grad_chart(layers: pd.DataFrame, title=None, wrap: int = 50) -> alt.LayerChart:
    """Per layer of the deep nets at initialization, ||dL/dW_l|| on a log axis: seed means as
    lines, min-max bands. BN's grow toward the input (layer 1)."""
    agg = _depth_agg(layers)
    color, dash, _ = _encodings([v for v in ORDER if v in set(agg.variant)])
    x, base = _layer_axis(agg), alt.Chart(agg)
    positive = agg.grad_lo[agg.grad_lo > 0]
    floor = max(float(positive.min()) if len(positive) else 1e-6, 1e-12)
    y = alt.Scale(type="log", domainMin=floor)
    return alt.layer(
        base.mark_area(opacity=0.15).encode(x=x, y=alt.Y("grad_lo:Q", scale=y), y2="grad_hi:Q",
                                            color=color),
        base.mark_line(strokeWidth=2.5).encode(
            x=x, y=alt.Y("grad:Q", title="‖∂L/∂W‖ of the layer (log)", scale=y,
                         axis=alt.Axis(format="~e", tickCount=6)),
            color=color, strokeDash=dash,
            tooltip=["variant", "layer", alt.Tooltip("grad:Q", format=".2e")]),
    ).properties(height=240, **_title(title, wrap))
