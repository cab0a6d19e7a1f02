"""Charts of page 4, regularization noise: batch noise on vs off, the batch-noise meter,
ablation curves, ghost batches.

Titles come from `bnjax.narration.regularization` (each states its finding with the run's
numbers); these builders only draw. Every series differs by colour and by dash or shape, and
every chart shows the seeds (one line or point per seed, or a min-max band).
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import (BLACK, BLUE, GUIDE_COLOR, ORANGE, PLAIN, STYLE, variant_color,
                          variant_dash, variant_shape)

_BATCH_AXIS = alt.Axis(values=[4, 8, 16, 32, 64, 128, 256], format="d")
# The two arms of the first experiment: both are BN nets, so neither takes BN's own blue.
STYLE_PLAIN = STYLE[PLAIN]
ARM_STYLE = {"noise off": (BLACK, "square", [6, 3]), "noise on": (ORANGE, "circle", [1, 0])}


def _title(text, anchor: str = "start") -> alt.TitleParams:
    """A title of one or more lines (a list of strings), anchored left."""
    lines = [text] if isinstance(text, str) else list(text)
    return alt.TitleParams(lines if len(lines) > 1 else lines[0], anchor=anchor)


def _legend(**kw) -> alt.Legend:
    """A legend above the plot whose labels are never cut (two columns when long)."""
    return alt.Legend(orient="top", title=None, labelLimit=0, symbolOpacity=1,
                      symbolStrokeWidth=3, **kw)


def _color(variants, columns: int | None = None) -> alt.Color:
    """The shared variant colours, with only the variants drawn in the legend."""
    c = variant_color(domain=list(variants))
    return c.legend(_legend(**({"columns": columns} if columns else {})))


def regularization_chart(per_seed: pd.DataFrame, low: float, high: float, title, *,
                         subset: int, group: int, height: int = 240, width: int = 340,
                         diff_width: int = 260, panel_titles: bool = True
                         ) -> alt.HConcatChart:
    """Batch noise on vs off, paired by seed. Left: each seed's test accuracy in both arms, a
    grey line joining its pair, the arms' means as ticks. Right: each seed's difference (on -
    off, percentage points), the mean and its 95% confidence interval [low, high] (fractions),
    and the line at 0 = no effect. The accuracy axis is zoomed to the data and says so."""
    df = per_seed.dropna(subset=["test_acc"]).assign(
        acc=lambda d: 100 * d.test_acc,
        label=lambda d: d.arm.map({"noise off": f"off: all {subset}",
                                   "noise on": f"on: groups of {group}"}))
    order = [f"off: all {subset}", f"on: groups of {group}"]
    lo = math.floor(df.acc.min() - 0.5) if len(df) else 0.0
    hi = math.ceil(df.acc.max() + 0.5) if len(df) else 100.0
    arms = list(ARM_STYLE)
    color = alt.Color("arm:N", scale=alt.Scale(domain=arms, range=[ARM_STYLE[a][0] for a in arms]),
                      legend=None)
    shape = alt.Shape("arm:N", scale=alt.Scale(domain=arms, range=[ARM_STYLE[a][1] for a in arms]),
                      legend=None)
    x = alt.X("label:N", sort=order, title="batch noise: BN statistics from",
              axis=alt.Axis(labelAngle=0, labelLimit=0))
    # The axis is zoomed to the data (its lowest label says where it starts): at 0-100% the
    # 1-2 point differences between the arms would be invisible.
    y = alt.Y("acc:Q", title="test accuracy (%)", scale=alt.Scale(domain=[lo, hi], zero=False))
    base = alt.Chart(df)
    pairs = base.mark_line(color="#b0b0b0", strokeWidth=1.2).encode(x=x, y=y, detail="seed:N")
    dots = base.mark_point(filled=True, size=70, opacity=0.9).encode(
        x=x, y=y, color=color, shape=shape,
        tooltip=["seed", "arm", alt.Tooltip("acc:Q", title="test accuracy (%)", format=".1f"),
                 alt.Tooltip("gap:Q", title="train - test accuracy", format=".1%")])
    means = base.mark_tick(thickness=3, size=44).encode(x=x, y="mean(acc):Q", color=color)
    # Each mean written on the outer side of its tick: between the arms the pair lines run.
    mean_text = [base.transform_filter(alt.datum.label == lab).mark_text(
        align=side, dx=dx_, fontSize=13, fontWeight="bold").encode(
        x=x, y="mean(acc):Q", color=color, text=alt.Text("mean(acc):Q", format=".1f"))
        for lab, side, dx_ in ((order[0], "right", -26), (order[1], "left", 26))]
    left = alt.layer(pairs, dots, means, *mean_text).properties(width=width, height=height)
    if panel_titles:
        left = left.properties(title=_title("Test accuracy, each seed (a line joins a pair)"))

    wide = df.pivot(index="seed", columns="arm", values="acc").dropna()
    diffs = pd.DataFrame({"seed": wide.index, "diff": (wide["noise on"] - wide["noise off"]).values
                          if {"noise on", "noise off"} <= set(wide.columns) else []})
    diffs["what"] = "on − off"
    mean = float(diffs["diff"].mean()) if len(diffs) else float("nan")
    ci = pd.DataFrame({"what": ["on − off"], "mean": [mean], "low": [100 * low],
                       "high": [100 * high]})
    dx = alt.X("what:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=0))
    # "0 = no effect" in the axis title: written on the plot, the seeds' dots covered it.
    dy = alt.Y("diff:Q", title=["on − off (points)", "dashed: 0 = no effect"])
    zero = alt.Chart(pd.DataFrame({"v": [0.0]}))
    zero_rule = zero.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=1.5).encode(
        y="v:Q")
    seeds = alt.Chart(diffs).mark_circle(size=55, opacity=0.55, color=ORANGE).encode(
        x=dx, y=dy, xOffset=alt.XOffset("seed:N"),
        tooltip=["seed", alt.Tooltip("diff:Q", title="on − off (points)", format="+.2f")])
    bar = alt.Chart(ci).mark_rule(strokeWidth=4, color=BLACK).encode(
        x=dx, y="low:Q", y2="high:Q",
        tooltip=[alt.Tooltip("mean:Q", title="mean (points)", format="+.2f"),
                 alt.Tooltip("low:Q", title="95% CI low", format="+.2f"),
                 alt.Tooltip("high:Q", title="95% CI high", format="+.2f")])
    dot = alt.Chart(ci).mark_point(shape="diamond", filled=True, size=160, color=BLACK).encode(
        x=dx, y="mean:Q")
    label = alt.Chart(ci).mark_text(align="left", dx=14, fontSize=13, fontWeight="bold",
                                    color=BLACK).encode(
        x=dx, y="mean:Q", text=alt.Text("mean:Q", format="+.1f"))
    right = alt.layer(zero_rule, seeds, bar, dot, label).properties(
        width=diff_width, height=height)
    if panel_titles:
        right = right.properties(title=_title("Difference per seed; ◆ mean, bar: 95% CI"))
    return alt.hconcat(left, right, spacing=30).properties(
        title=_title(title), padding={"top": 6, "left": 5, "right": 5, "bottom": 5})


def noise_chart(std: pd.DataFrame, c: float, title=None, *, height: int = 360) -> alt.Chart:
    """Log-log: std across batches of x0's x_hat against the batch size B (seed mean, min-max
    band over seeds), with the dashed line c / sqrt(B)."""
    b = np.sort(std.batch_size.unique()).astype(float)
    guide = pd.DataFrame({"batch_size": b, "std": c / np.sqrt(b), "line": f"{c:.2f} / √B"})
    x = alt.X("batch_size:Q", title="batch size B (log)", axis=_BATCH_AXIS,
              scale=alt.Scale(type="log", domain=[b.min() * 0.8, b.max() * 1.25], nice=False))
    y_scale = alt.Scale(type="log")
    base = alt.Chart(std).encode(x=x)
    band = base.mark_area(opacity=0.2, color=BLUE).encode(
        y=alt.Y("min(std):Q", title="std of x̂ between batches (log)", scale=y_scale),
        y2="max(std):Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=90, color=BLUE), strokeWidth=3,
                          color=BLUE).encode(
        y=alt.Y("mean(std):Q", scale=y_scale),
        tooltip=[alt.Tooltip("batch_size:Q", title="B"),
                 alt.Tooltip("mean(std):Q", title="std (seed mean)", format=".3f"),
                 alt.Tooltip("min(std):Q", title="lowest seed", format=".3f"),
                 alt.Tooltip("max(std):Q", title="highest seed", format=".3f")])
    ref = alt.Chart(guide).mark_line(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=2).encode(
        x=x, y=alt.Y("std:Q", scale=y_scale),
        tooltip=[alt.Tooltip("line:N", title="guide"), alt.Tooltip("std:Q", format=".3f")])
    label = alt.Chart(guide.tail(1)).mark_text(align="right", dx=-4, dy=16, color=GUIDE_COLOR,
                                               fontSize=13).encode(
        x=x, y=alt.Y("std:Q", scale=y_scale), text="line:N")
    b16 = std[std.batch_size == 16]
    notes = []
    if len(b16):  # what to look at: the noise at B = 16, the number the page quotes
        at = pd.DataFrame({"batch_size": [16.0], "std": [float(b16["std"].mean())],
                           "note": [f"B = 16: {b16['std'].mean():.2f}"]})
        notes.append(alt.Chart(at).mark_text(align="left", dx=10, dy=-12, fontSize=13,
                                             fontWeight="bold", color=BLUE).encode(
            x=x, y=alt.Y("std:Q", scale=y_scale), text="note:N"))
    return alt.layer(band, line, ref, label, *notes).properties(
        title=_title(title or "Batch noise of one example falls like 1/√B"), height=height,
        padding={"top": 6, "left": 5, "right": 5, "bottom": 5})


def strip_chart(strip: pd.DataFrame, field: str = "x_hat", *, height: int = 210) -> alt.Chart:
    """One point per batch: x0's value (`x_hat` of one unit, or `p_true`) for B = 8 and B = 128,
    first seed only. The same example, a different hidden value in every batch."""
    df = strip[strip.seed == strip.seed.min()].assign(B=lambda d: "B = " + d.batch_size.astype(str))
    axis = {"x_hat": "x̂ of one unit", "p_true": "probability of its own class"}[field]
    title = {"x_hat": f"Its x̂ in {df.batch.nunique()} batches",
             "p_true": f"Its class probability, {df.batch.nunique()} batches"}[field]
    sizes = sorted(df.batch_size.unique())
    shape = alt.Shape("B:N", scale=alt.Scale(domain=[f"B = {b}" for b in sizes],
                                             range=["circle", "square", "triangle-up"][:len(sizes)]),
                      legend=None)
    return alt.Chart(df).mark_point(size=55, opacity=0.7, filled=True, color=BLUE).encode(
        x=alt.X(f"{field}:Q", title=axis,
                scale=alt.Scale(domain=[-0.02, 1.02], nice=False) if field == "p_true"
                else alt.Scale(zero=False),
                axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".0%")
                if field == "p_true" else alt.Axis(tickCount=6)),
        y=alt.Y("B:N", title=None, sort=[f"B = {b}" for b in sizes]),
        yOffset=alt.YOffset("batch:Q", scale=alt.Scale(domain=[-10, 60])),
        shape=shape,
        tooltip=["B", "batch", alt.Tooltip(f"{field}:Q", format=".3f")],
    ).properties(height=height, title=_title(title))


def ablation_chart(curves: pd.DataFrame, variants, title=None, *, height: int = 440,
                   dropout: float | None = None) -> alt.Chart:
    """Test accuracy against the fraction of hidden units ablated: seed mean line (dash and
    point shape per variant), min-max band over seeds, chance dashed, and (with `dropout`) a
    rule at the dropout net's training rate: what to look at is where its curve bends."""
    variants = list(variants)
    df = curves[curves.variant.isin(variants)].dropna()
    base = alt.Chart(df).encode(
        x=alt.X("fraction:Q", title="share of hidden units switched off (every layer)",
                axis=alt.Axis(format="%")),
        color=_color(variants, columns=4))
    band = base.mark_area(opacity=0.13).encode(
        y=alt.Y("min(acc):Q", title="test accuracy", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        y2="max(acc):Q")
    line = base.mark_line(strokeWidth=3).encode(
        y="mean(acc):Q", strokeDash=variant_dash(domain=variants))
    points = base.mark_point(filled=True, size=60).encode(
        y="mean(acc):Q", shape=variant_shape(domain=variants),
        tooltip=["variant", alt.Tooltip("fraction:Q", format=".0%"),
                 alt.Tooltip("mean(acc):Q", title="accuracy (seed mean)", format=".3f"),
                 alt.Tooltip("min(acc):Q", title="lowest seed", format=".3f"),
                 alt.Tooltip("max(acc):Q", title="highest seed", format=".3f")])
    chance = pd.DataFrame({"v": [0.1], "note": ["chance (10%)"]})
    rule = alt.Chart(chance).mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="v:Q")
    note = alt.Chart(chance).mark_text(align="left", baseline="bottom", x=4, dy=-3,
                                       color=GUIDE_COLOR, fontSize=12).encode(y="v:Q", text="note:N")
    marks = [band, line, points, rule, note]
    if dropout is not None and "dropout" in variants:
        at = pd.DataFrame({"f": [float(dropout)], "note": [f"dropout's rate ({dropout:.0%})"]})
        marks.append(alt.Chart(at).mark_rule(strokeDash=[2, 3], color=GUIDE_COLOR).encode(
            x="f:Q"))
        # At the foot of its rule, below the chance line: at the dropout rate (≤ 50%) every
        # curve is still far above chance, so nothing is drawn there to cover the label.
        marks.append(alt.Chart(at.assign(v=0.0)).mark_text(
            align="left", baseline="bottom", dx=4, dy=-2, color=GUIDE_COLOR, fontSize=12).encode(
            x="f:Q", y="v:Q", text="note:N"))
    return alt.layer(*marks).properties(
        title=_title(title or "Cumulative random ablation"), height=height)


def single_unit_chart(single: pd.DataFrame, variants, title=None, top: int = 16, *,
                      height: int = 400) -> alt.Chart:
    """The `top` largest accuracy drops from removing one unit, largest first, seed mean: one
    line of points per variant (dash and shape differ)."""
    variants = list(variants)
    df = (single[single.variant.isin(variants) & (single["rank"] <= top)]
          .groupby(["variant", "rank"], as_index=False)["drop"].mean()
          .assign(points=lambda d: 100 * d["drop"]))  # in points, like the title and the text
    base = alt.Chart(df).encode(
        x=alt.X("rank:O", title="units, largest drop first", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("points:Q", title="test accuracy lost (points)", axis=alt.Axis(format=".1f"),
                scale=alt.Scale(zero=True)),
        color=_color(variants, columns=4))
    line = base.mark_line(strokeWidth=2).encode(strokeDash=variant_dash(domain=variants))
    points = base.mark_point(filled=True, size=55).encode(
        shape=variant_shape(domain=variants),
        tooltip=["variant", "rank", alt.Tooltip("points:Q", format=".2f",
                                                title="accuracy lost, points (seed mean)")])
    return alt.layer(line, points).properties(
        title=_title(title or "Removing one unit at a time"), height=height)


def ghost_chart(acc: pd.DataFrame, title=None, *, height: int = 380) -> alt.Chart:
    """Final test accuracy per ghost-group size: one point per seed, the mean (tick) and the
    lowest to highest seed (a bar, the page's one spread convention); BN nets in BN's colour
    (circles), plain in plain's (squares)."""
    order = list(dict.fromkeys(acc.sort_values("ghost", ascending=False).variant))
    order = [v for v in order if v != "plain"] + (["plain"] if "plain" in order else [])
    x = alt.X("variant:N", title="BN statistics over groups of G examples (SGD batch fixed)",
              sort=order, axis=alt.Axis(labelAngle=0, labelLimit=0))
    y = alt.Y("acc:Q", title="test accuracy", scale=alt.Scale(zero=False),
              axis=alt.Axis(format=".1%"))
    df = acc.dropna()
    layers = []
    for part, color, shape in ((df[df.variant != "plain"], BLUE, "circle"),
                               (df[df.variant == "plain"], STYLE_PLAIN[0], "square")):
        if len(part):
            layers.append(alt.Chart(part).mark_point(size=70, opacity=0.7, filled=True,
                                                     color=color, shape=shape).encode(
                x=x, y=y, tooltip=["variant", "seed", alt.Tooltip("acc:Q", format=".3f")]))
    base = alt.Chart(df)
    err = base.mark_rule(strokeWidth=2, color=GUIDE_COLOR).encode(
        x=x, y="min(acc):Q", y2="max(acc):Q",
        tooltip=["variant", alt.Tooltip("min(acc):Q", title="lowest seed", format=".3f"),
                 alt.Tooltip("max(acc):Q", title="highest seed", format=".3f")])
    mean = base.mark_tick(size=30, thickness=3, color=GUIDE_COLOR).encode(
        x=x, y="mean(acc):Q",
        tooltip=["variant", alt.Tooltip("mean(acc):Q", title="mean", format=".3f")])
    return alt.layer(*layers, err, mean).properties(
        title=_title(title or "Ghost batch norm: more BN noise, same SGD batch"), height=height)


def digit_pixels(image: np.ndarray, size: int = 20) -> np.ndarray:
    """The 8x8 digit (0..16 ink) as a (8*size, 8*size, 4) uint8 RGBA picture for `st.image`:
    mid-grey ink whose opacity is the ink, on a transparent ground, so it reads on the light
    and the dark theme alike (no white box on a dark page); each pixel a size x size square."""
    ink = (np.asarray(image, float) * (255 / 16)).round().astype(np.uint8)
    rgba = np.empty(ink.shape + (4,), np.uint8)
    rgba[..., :3] = 128  # grey: contrast with white paper and with the dark theme's background
    rgba[..., 3] = ink
    return np.kron(rgba, np.ones((size, size, 1), np.uint8))
