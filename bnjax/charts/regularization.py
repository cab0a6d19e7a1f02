"""Charts of page 4, regularization noise: the batch-noise meter, ablation curves, ghost batches."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import GUIDE_COLOR, variant_color

_BATCH_AXIS = alt.Axis(values=[4, 8, 16, 32, 64, 128, 256], format="d")


def _color(variants) -> alt.Color:
    """The shared variant colours, with only the variants drawn in the legend."""
    return variant_color(domain=list(variants))


def noise_chart(std: pd.DataFrame, c: float) -> alt.Chart:
    """Log-log: std across batches of x0's x_hat against the batch size B (seed mean, min-max
    band over seeds), with the dashed line c / sqrt(B)."""
    b = np.sort(std.batch_size.unique()).astype(float)
    guide = pd.DataFrame({"batch_size": b, "std": c / np.sqrt(b),
                          "line": f"{c:.2f} / √B"})
    x = alt.X("batch_size:Q", title="batch size B (log)", scale=alt.Scale(type="log"),
              axis=_BATCH_AXIS)
    y_scale = alt.Scale(type="log")
    base = alt.Chart(std).encode(x=x)
    band = base.mark_area(opacity=0.2, color="#1f77b4").encode(
        y=alt.Y("min(std):Q", title="std of x̂ across batches (log)", scale=y_scale),
        y2="max(std):Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=90), strokeWidth=3, color="#1f77b4").encode(
        y=alt.Y("mean(std):Q", scale=y_scale),
        tooltip=[alt.Tooltip("batch_size:Q", title="B"),
                 alt.Tooltip("mean(std):Q", title="std (seed mean)", format=".3f")])
    ref = alt.Chart(guide).mark_line(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=2).encode(
        x=x, y=alt.Y("std:Q", scale=y_scale),
        tooltip=[alt.Tooltip("line:N", title="guide"), alt.Tooltip("std:Q", format=".3f")])
    label = alt.Chart(guide.head(1)).mark_text(align="left", dx=10, dy=-14, color=GUIDE_COLOR,
                                               fontSize=14).encode(
        x=x, y=alt.Y("std:Q", scale=y_scale), text="line:N")
    return alt.layer(band, line, ref, label).properties(
        title="Batch noise of one example falls like 1/√B", height=340)


def strip_chart(strip: pd.DataFrame, field: str = "x_hat") -> alt.Chart:
    """One point per batch: x0's value (`x_hat` of one unit, or `p_true`) for B = 8 and B = 128,
    first seed only. The same example, a different hidden value in every batch."""
    df = strip[strip.seed == strip.seed.min()].assign(B=lambda d: "B = " + d.batch_size.astype(str))
    title = {"x_hat": "x̂ of one unit", "p_true": "predicted probability of its class"}[field]
    return alt.Chart(df).mark_circle(size=70, opacity=0.7, color="#1f77b4").encode(
        x=alt.X(f"{field}:Q", title=title,
                scale=alt.Scale(domain=[0, 1]) if field == "p_true" else alt.Scale(zero=False)),
        y=alt.Y("B:N", title=None, sort=["B = 8", "B = 128"]),
        yOffset=alt.YOffset("batch:Q", scale=alt.Scale(domain=[-10, 60])),
        tooltip=["B", "batch", alt.Tooltip(f"{field}:Q", format=".3f")],
    ).properties(height=200, title=f"{title}, in {df.batch.nunique()} batches")


def ablation_chart(curves: pd.DataFrame, variants) -> alt.Chart:
    """Test accuracy against the fraction of hidden units ablated: seed mean line, min-max band."""
    df = curves[curves.variant.isin(list(variants))].dropna()
    base = alt.Chart(df).encode(
        x=alt.X("fraction:Q", title="fraction of hidden units ablated (every layer)",
                axis=alt.Axis(format="%")),
        color=_color(variants))
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("min(acc):Q", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
        y2="max(acc):Q")
    line = base.mark_line(point=True, strokeWidth=3).encode(
        y="mean(acc):Q",
        tooltip=["variant", alt.Tooltip("fraction:Q", format=".0%"),
                 alt.Tooltip("mean(acc):Q", title="accuracy (seed mean)", format=".3f")])
    chance = alt.Chart(pd.DataFrame({"v": [0.1]})).mark_rule(
        strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="v:Q")
    return alt.layer(band, line, chance).properties(
        title="Cumulative random ablation (dashed: chance)", height=360)


def single_unit_chart(single: pd.DataFrame, variants, top: int = 16) -> alt.Chart:
    """The `top` largest accuracy drops from removing one unit, sorted, seed mean."""
    df = (single[single.variant.isin(list(variants)) & (single["rank"] <= top)]
          .groupby(["variant", "rank"], as_index=False)["drop"].mean())
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("rank:O", title="units, sorted by the accuracy their removal costs",
                axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("variant:N"),
        y=alt.Y("drop:Q", title="accuracy drop", axis=alt.Axis(format=".1%")),
        color=_color(variants),
        tooltip=["variant", "rank", alt.Tooltip("drop:Q", format=".2%")],
    ).properties(title="Removing one unit at a time (layer 2)", height=320)


def ghost_chart(acc: pd.DataFrame) -> alt.Chart:
    """Final test accuracy per ghost-group size: one point per seed, mean ± std."""
    order = list(dict.fromkeys(acc.sort_values("ghost", ascending=False).variant))
    order = [v for v in order if v != "plain"] + (["plain"] if "plain" in order else [])
    x = alt.X("variant:N", title="BN statistics over groups of G examples (SGD batch fixed)",
              sort=order, axis=alt.Axis(labelAngle=0))
    base = alt.Chart(acc.dropna())
    points = base.mark_circle(size=80, opacity=0.5, color="#1f77b4").encode(
        x=x, y=alt.Y("acc:Q", title="test accuracy", scale=alt.Scale(zero=False)),
        tooltip=["variant", "seed", alt.Tooltip("acc:Q", format=".3f")])
    err = base.mark_errorbar(extent="stdev", thickness=2, color=GUIDE_COLOR).encode(
        x=x, y=alt.Y("acc:Q"))
    mean = base.mark_tick(size=30, thickness=3, color=GUIDE_COLOR).encode(
        x=x, y="mean(acc):Q",
        tooltip=["variant", alt.Tooltip("mean(acc):Q", title="mean", format=".3f")])
    return alt.layer(points, err, mean).properties(
        title="Ghost batch norm: more BN noise, same SGD batch", height=340)


def digit_pixels(image: np.ndarray, size: int = 20) -> np.ndarray:
    """The 8x8 digit (0..16 ink) as a (8*size, 8*size) uint8 picture, white paper, black ink,
    each pixel a size x size square (for `st.image`)."""
    grey = (255 - np.asarray(image, float) * (255 / 16)).round().astype(np.uint8)
    return np.kron(grey, np.ones((size, size), np.uint8))
