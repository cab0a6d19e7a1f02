"""Charts of page 2: Ioffe's percentile bands (1a) and the layer-1 perturbation (1b).

Every chart shows the seeds one by one (a panel, a row, or a point shape each), so the spread
the sentences state is visible; BN and plain differ by colour and by dash. Titles come from
`bnjax.narration.covariate_shift` (they state the finding with the run's numbers); the labels on
the marks only format numbers already in the tables.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import BLACK, GUIDE_COLOR, present, variant_color, variant_dash
from bnjax.text import TINY, tiny

KIND_TITLE = {"affine": "rescale + shift of each unit", "random": "random direction, same size"}
SEED_SHAPES = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down"]


def _seed_shape(seeds) -> alt.Shape:
    seeds = sorted(set(int(s) for s in seeds))
    return alt.Shape("seed:N", scale=alt.Scale(domain=seeds,
                                               range=SEED_SHAPES[:len(seeds)] or ["circle"]),
                     legend=alt.Legend(orient="top", title="seed", symbolFillColor=BLACK,
                                       symbolStrokeColor=BLACK))


def _title(text, anchor: str = "start") -> alt.TitleParams:
    """A title of one or more lines (a list), all in the title's font: in lecture mode a
    subtitle's small print would be unreadable."""
    lines = [text] if isinstance(text, str) else list(text)
    return alt.TitleParams(lines if len(lines) > 1 else lines[0], anchor=anchor)


def bands_chart(bands: pd.DataFrame, units: pd.DataFrame, unit: int, title=None, *,
                width: int = 250, height: int = 240, y_title: str | None = None
                ) -> alt.FacetChart:
    """Ioffe & Szegedy 2015, Fig. 1(b, c), live: the 15-85th percentile band and the median of one
    last-hidden-layer unit's input to the nonlinearity over training. One panel per seed, BN and
    plain overlaid on a shared y-axis; at the end of the run each net's label says how far its
    median moved (max - min), on the outer side of its band so the two labels part."""
    df = bands[bands["unit"] == unit].dropna().copy()
    drift = units[units["unit"] == unit].set_index(["variant", "seed"])["drift"]
    end = df[df["step"] == df["step"].max()]
    top = end.groupby("seed")["p50"].transform(lambda m: m == m.max())  # the higher median
    df["note"], df["pos"], df["note_y"] = "", "", np.nan
    for i, row in end.iterrows():
        above = bool(top.loc[i]) and (end["seed"] == row["seed"]).sum() > 1
        df.loc[i, "note"] = f"{row['variant']} moved {tiny(drift.get((row['variant'], row['seed']), np.nan), '.2f')}"
        df.loc[i, "pos"] = "above" if above else "below"
        df.loc[i, "note_y"] = row["p85"] if above else row["p15"]
    variants = present(df)
    base = alt.Chart().encode(
        x=alt.X("step:Q", title="training step"),
        color=variant_color(domain=variants, legend=False))  # the labels name the lines
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("p15:Q", title=y_title or f"unit {unit}'s input to its nonlinearity"),
        y2="p85:Q")
    median = base.mark_line(strokeWidth=2.5).encode(
        y="p50:Q", strokeDash=variant_dash(domain=variants),
        tooltip=["variant", "seed", "step", alt.Tooltip("p15:Q", format=".3f"),
                 alt.Tooltip("p50:Q", format=".3f"), alt.Tooltip("p85:Q", format=".3f")])
    notes = [base.transform_filter(alt.datum.pos == pos).mark_text(
        align="right", dx=-2, baseline="bottom" if pos == "above" else "top",
        dy=-3 if pos == "above" else 3, fontWeight="bold").encode(
        y="note_y:Q", text="note:N") for pos in ("above", "below")]
    return alt.layer(band, median, *notes, data=df).properties(width=width, height=height).facet(
        column=alt.Column("seed:N", title=None,
                          header=alt.Header(labelExpr="'seed ' + datum.value")),
        title=_title(title or "15th, 50th (line) and 85th percentiles over the training set"),
    ).resolve_scale(y="shared")


def drift_chart(units: pd.DataFrame, title=None) -> alt.Chart:
    """Per unit of the last hidden layer: how far its median moved over training (max - min),
    one tick per unit, one row per net and seed; the row's mean a black tick at the mean, its value
    written just above that tick."""
    df = units.dropna().copy()
    df["run"] = df["variant"] + ", seed " + df["seed"].astype(str)
    order = [f"{v}, seed {s}" for v in present(df) for s in sorted(df["seed"].unique())]
    order = [r for r in order if r in set(df["run"])]
    means = df.groupby(["run", "variant"], as_index=False)["drift"].agg(["mean", "max"])
    means["label"] = [f"mean {tiny(m, '.2f')}" for m in means["mean"]]
    y = alt.Y("run:N", title=None, sort=order, axis=alt.Axis(labelLimit=200))
    ticks = alt.Chart(df).mark_tick(thickness=2, size=12).encode(
        x=alt.X("drift:Q", title="how far each unit's median moved over training (max − min)"),
        y=y, color=variant_color(domain=present(df), legend=False),
        tooltip=["variant", "seed", "unit", alt.Tooltip("drift:Q", format=".3f")])
    # The row's mean: a black tick where the mean is, its value written just above it (above
    # the row's unit ticks, so the two do not collide).
    mean_tick = alt.Chart(means).mark_tick(thickness=3, size=20, color=BLACK).encode(
        x="mean:Q", y=y, tooltip=["run", alt.Tooltip("mean:Q", format=".3f")])
    labels = alt.Chart(means).mark_text(align="center", baseline="bottom", dy=-11, fontSize=11,
                                        color=BLACK).encode(x="mean:Q", y=y, text="label:N")
    return alt.layer(ticks, mean_tick, labels).properties(
        height=alt.Step(40), title=_title(title or "Every unit of the last hidden layer"))


def perturb_chart(perturb: pd.DataFrame, size: float, title=None, *, height: int = 260
                  ) -> alt.FacetChart:
    """Change of the training loss after perturbing layer 1 of the trained nets, for the affine
    change and a random one of the same norm: one bar per seed, topped by the seed's shape, and
    the seed mean written over each net's bars ("≈ 0 (6e-10)" where every seed is zero up to
    rounding, the largest seed's size in brackets, so an invisible bar still says what it is)."""
    df = perturb[perturb["size"] == size].dropna().copy()
    df["change"] = df["kind"].map(KIND_TITLE)
    means = df.groupby(["change", "variant"])["dloss"].transform("mean")
    tops = df.groupby(["change", "variant"])["dloss"].transform("max")
    # Zero up to rounding on every seed: "≈ 0 (2e-09)" with the largest seed's size in brackets,
    # the same statistic the title and the page's sentences print (narration's `num`).
    largest = df["dloss"].abs().groupby([df["change"], df["variant"]]).transform("max")
    first = ~df.duplicated(["change", "variant"])
    df["note"] = ""
    df.loc[first, "note"] = [tiny(big, ".2f") if big < TINY else f"mean {m:.2f}"
                             for m, big in zip(means[first], largest[first])]
    df["top"] = tops.clip(lower=0)
    variants = present(df)
    base = alt.Chart().encode(
        x=alt.X("variant:N", title=None, sort=variants,
                axis=alt.Axis(labelAngle=0, labelFontWeight="bold")))
    seeded = base.encode(xOffset=alt.XOffset("seed:N"))
    bars = seeded.mark_bar(opacity=0.75).encode(
        y=alt.Y("dloss:Q", title="training loss change (nats)"),
        color=variant_color(domain=variants, legend=False))
    dots = seeded.mark_point(size=60, color=BLACK, filled=True).encode(
        y="dloss:Q", shape=_seed_shape(df["seed"]),
        tooltip=["variant", "seed", alt.Tooltip("dloss:Q", format=".2e")])
    note = base.transform_filter(alt.datum.note != "").mark_text(
        dy=-10, baseline="bottom", color=GUIDE_COLOR, fontWeight="bold").encode(
        y="top:Q", text="note:N")
    return alt.layer(bars, dots, note, data=df).properties(height=height, width=300).facet(
        column=alt.Column("change:N", title=None, sort=list(KIND_TITLE.values())),
        title=_title(title or "Layer 1 changed: what it costs the whole network"))


# What a later layer sees, by the word the page (and its URL) uses: (column, axis title).
MEASURES = {"values": ("rel_change", "how far the values moved (0.1 = 10% of their size)"),
            "mean and spread": ("moment_change",
                                "how far each unit's mean and std moved (0.1 = 10%)")}


def layers_chart(layers: pd.DataFrame, size: float, measure: str = "values", title=None, *,
                 height: int = 260) -> alt.FacetChart:
    """Per layer, how much its input to the nonlinearity moved after layer 1 was changed: the
    values themselves, or their distribution's per-unit mean and spread. One line per net and
    seed (the seed as the point shape); each net named at its last point ("≈ 0" added where
    it is zero up to rounding)."""
    column, axis_title = MEASURES[measure]
    df = layers[layers["size"] == size].dropna().copy()
    df["change"] = df["kind"].map(KIND_TITLE)
    # Each net's name at its last point; "≈ 0 (3e-06)" added where its mean over layers 2 and
    # up is zero up to rounding (the line then hides in the guide at 0).
    last = df["layer"] == df["layer"].max()
    # Per seed, the mean over layers 2 and up; printed as the largest seed's size, as the title
    # and the sentences print it (narration's `num`).
    means = (df[df["layer"] > 1].groupby(["change", "variant", "seed"])[column].mean().abs()
             .groupby(level=["change", "variant"]).max())
    df["note"] = ""
    first = last & ~df.duplicated(["change", "variant", "layer"])
    df.loc[first, "note"] = [
        v + (f" {tiny(means[(c, v)], '.2f')}" if means.get((c, v), 1.0) < TINY else "")
        for c, v in zip(df.loc[first, "change"], df.loc[first, "variant"])]
    df["mean_last"] = df.groupby(["change", "variant", "layer"])[column].transform("mean")
    variants = present(df)
    base = alt.Chart().encode(
        x=alt.X("layer:O", title="hidden layer (1 = the one changed)",
                axis=alt.Axis(labelAngle=0)),
        color=variant_color(domain=variants, legend=False))  # the labels name the lines
    lines = base.mark_line(strokeWidth=2).encode(
        y=alt.Y(f"{column}:Q", title=axis_title), detail="seed:N",
        strokeDash=variant_dash(domain=variants))
    points = base.mark_point(size=45, filled=True).encode(
        y=f"{column}:Q", shape=_seed_shape(df["seed"]),
        tooltip=["variant", "seed", "layer", alt.Tooltip(f"{column}:Q", format=".2e")])
    notes = [base.transform_filter((alt.datum.note != "") & (alt.datum.variant == v)).mark_text(
        align="right", dx=-8, dy=-12 if v == "BN" else 14, fontWeight="bold").encode(
        y="mean_last:Q", text="note:N") for v in variants]
    guide = alt.Chart().mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(y=alt.datum(0))
    return alt.layer(lines, points, *notes, guide, data=df).properties(
        height=height, width=300).facet(
        column=alt.Column("change:N", title=None, sort=list(KIND_TITLE.values())),
        title=_title(title or "What every later layer sees"))


__all__ = ["KIND_TITLE", "MEASURES", "bands_chart", "drift_chart", "layers_chart",
           "perturb_chart"]
