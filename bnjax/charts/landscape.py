"""Charts of page 5: the lr x gain heat maps (4a), the effective-lr identity (4b), the lr sweep
(4c) and Santurkar's smoothness probes (4d)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import DIVERGED_COLOR, GUIDE_COLOR, present, variant_color

CELL = "cell"  # the name of the heat maps' click selection (the page reads event.selection[CELL])
ACC_SCALE = alt.Scale(domain=[0.0, 1.0], scheme="viridis")
GOOD = 0.90


def _fmt(v: float) -> str:
    return f"{v:g}"


def heatmap_chart(cells: pd.DataFrame, good: float = GOOD) -> alt.Chart:
    """Two heat maps (BN, plain) of seed-mean test accuracy on one colour scale: cells >= `good`
    outlined, the count of good cells in each panel's title, diverged cells marked "✕"; a click
    selects a (lr, gain) cell."""
    df = cells.copy()
    df["lr_label"] = df["lr"].map(_fmt)
    df["gain_label"] = df["gain"].map(_fmt)
    counts = df.groupby("variant")["good"].sum()
    n = df.groupby("variant").size()
    df["panel"] = df["variant"].map(lambda v: f"{v}: {int(counts[v])} of {int(n[v])} cells ≥ "
                                              f"{good:.0%}")
    df["label"] = np.where(df["diverged"] == df["n_seeds"], "✕",
                           df["acc"].map(lambda a: f"{a:.2f}"))
    df["status"] = np.where(df["diverged"] > 0,
                            df["diverged"].astype(str) + " of " + df["n_seeds"].astype(str)
                            + " seeds diverged", "finite")
    lr_order = [_fmt(v) for v in sorted(df["lr"].unique())]
    gain_order = [_fmt(v) for v in sorted(df["gain"].unique(), reverse=True)]
    sel = alt.selection_point(name=CELL, fields=["lr", "gain"], on="click", clear="dblclick")
    x = alt.X("lr_label:O", sort=lr_order, title="learning rate")
    y = alt.Y("gain_label:O", sort=gain_order, title="init gain")
    rect = alt.Chart().mark_rect(strokeWidth=4).encode(
        x=x, y=y,
        color=alt.Color("acc:Q", scale=ACC_SCALE, title="test accuracy"),
        stroke=alt.condition(f"datum.acc >= {good}", alt.value("white"), alt.value(None)),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.45)),
        tooltip=["variant", alt.Tooltip("lr:Q", format="g"), alt.Tooltip("gain:Q", format="g"),
                 alt.Tooltip("acc:Q", format=".3f", title="test accuracy (seed mean)"),
                 alt.Tooltip("acc_std:Q", format=".3f", title="seed std"), "status"],
    ).add_params(sel)
    text = alt.Chart().mark_text(fontSize=13).encode(
        x=x, y=y, text="label:N",
        color=alt.condition("datum.acc > 0.6", alt.value("black"), alt.value("white")))
    return alt.layer(rect, text, data=df).properties(width=280, height=200).facet(
        column=alt.Column("panel:N", title=None, sort=[p for v in present(df)
                                                       for p in df.loc[df.variant == v, "panel"]
                                                       .unique()]))


def cell_curves_chart(curves: pd.DataFrame, lr: float, gain: float) -> alt.Chart:
    """Training loss of the networks of one (lr, gain) cell: BN and plain, one line per seed."""
    df = curves[np.isclose(curves["lr"], lr) & np.isclose(curves["gain"], gain)]
    df = df[np.isfinite(df["loss"]) & (df["loss"] > 0)]
    return alt.Chart(df).mark_line(strokeWidth=2, opacity=0.8).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("loss:Q", title="training batch loss (log)", scale=alt.Scale(type="log"),
                axis=alt.Axis(format="~g")),  # no thousands commas to clip
        color=variant_color(domain=present(df)), detail="seed:N",
        tooltip=["variant", "seed", "step", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=300, title=f"lr {lr:g}, gain {gain:g}: training loss, every seed "
                                   f"(a line that stops has diverged)")


# ---------------------------------------------------------------------------- 4b

RUN_COLORS = alt.Scale(range=["#1f77b4", "#ff7f0e", "#7f7f7f"])


def effective_loss_chart(curves: pd.DataFrame) -> alt.Chart:
    """Loss of run A and the two B runs, overlaid (every 2nd step): B with ε·c² hides A exactly."""
    df = curves[curves["step"] % 2 == 1]
    df = df[np.isfinite(df["loss"]) & (df["loss"] > 0)]
    dash = alt.condition("indexof(datum.run, 'ε·c²') >= 0", alt.value([6, 3]), alt.value([1, 0]))
    return alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("loss:Q", title="training batch loss (log)", scale=alt.Scale(type="log")),
        color=alt.Color("run:N", scale=RUN_COLORS, legend=alt.Legend(orient="top", title=None)),
        strokeDash=dash,
        tooltip=["run", "step", alt.Tooltip("loss:Q", format=".6f")],
    ).properties(height=300, title="The same run? Training loss of A and B")


def rel_diff_chart(curves: pd.DataFrame, floor: float = 1e-9) -> alt.Chart:
    """|L_B - L_A| / L_A per step, log scale; exact zeros drawn at `floor` (the dashed line)."""
    df = curves[curves["run"] != curves["run"].iloc[0]].copy()
    df = df[df["step"] % 2 == 1]
    df["shown"] = np.maximum(df["rel_diff"].fillna(np.inf), floor).clip(upper=1e3)
    line = alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("shown:Q", title="relative difference to A (log)",
                scale=alt.Scale(type="log", domain=[floor / 2, 1e3])),
        color=alt.Color("run:N", scale=alt.Scale(range=["#ff7f0e", "#7f7f7f"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["run", "step", alt.Tooltip("rel_diff:Q", format=".2e")])
    guide = alt.Chart(pd.DataFrame({"v": [floor]})).mark_rule(
        strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="v:Q")
    label = alt.Chart(pd.DataFrame({"v": [floor], "t": ["0 (identical) is drawn here"]})).mark_text(
        align="left", dx=4, dy=-8, color=GUIDE_COLOR).encode(y="v:Q", x=alt.value(4), text="t:N")
    return alt.layer(guide, label, line).properties(
        height=300, title="How far apart? |L_B − L_A| / L_A")


def norm_chart(norms: pd.DataFrame) -> alt.Chart:
    """‖W‖ of the hidden layers over training (mean over layers), per run."""
    df = norms.groupby(["run", "step"], as_index=False)["w_norm"].mean()
    return alt.Chart(df).mark_line(strokeWidth=2).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("w_norm:Q", title="‖W‖, mean over hidden layers", scale=alt.Scale(zero=True)),
        color=alt.Color("run:N", scale=RUN_COLORS, legend=alt.Legend(orient="top", title=None)),
        tooltip=["run", "step", alt.Tooltip("w_norm:Q", format=".3f")],
    ).properties(height=300, title="Weight norms: B's are c times A's")


# ---------------------------------------------------------------------------- 4c


def matched_chart(curves: pd.DataFrame, lr: float) -> alt.Chart:
    """Training loss at one matched small lr: seed mean thick, each seed thin (log scale)."""
    df = curves[np.isfinite(curves["loss"]) & (curves["loss"] > 0)].copy()
    df["window"] = (df["step"] - 1) // 10 * 10 + 5  # 10-step window means, readable and small
    df = df.groupby(["variant", "seed", "window"], as_index=False)["loss"].mean()
    base = alt.Chart(df).encode(x=alt.X("window:Q", title="training step"))
    seeds = base.mark_line(strokeWidth=1, opacity=0.35).encode(
        y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title="training batch loss (log)"),
        detail="seed:N", color=variant_color(domain=present(df), legend=False))
    mean = base.mark_line(strokeWidth=3).encode(
        y="mean(loss):Q", color=variant_color(domain=present(df)),
        tooltip=["variant", "window", alt.Tooltip("mean(loss):Q", format=".3f")])
    return alt.layer(seeds, mean).properties(
        height=300, title=f"Same small learning rate ({lr:.3g}): who is faster?")


def steps_chart(sweep: pd.DataFrame, steps: int) -> alt.Chart:
    """Steps to the target test accuracy against lr (log x), seed mean; runs that never reach it
    sit on the top edge as hollow circles, diverged ones as ✕."""
    df = sweep.copy()
    df["state"] = np.where(df["diverged"], "diverged", np.where(
        df["learns"], "learns", "finite, does not learn"))
    agg = df.groupby(["variant", "lr"], as_index=False).agg(
        steps=("steps_to_target", "mean"), reached=("steps_to_target", "count"),
        diverged=("diverged", "sum"), learns=("learns", "sum"), n=("seed", "count"))
    agg["kind"] = np.where(agg["diverged"] == agg["n"], "diverged",
                           np.where(agg["reached"] == agg["n"], "reached", "not reached"))
    agg["y"] = np.where(agg["kind"] == "reached", agg["steps"], steps * 1.25)
    x = alt.X("lr:Q", scale=alt.Scale(type="log"), title="learning rate (log)")
    shape = alt.Shape("kind:N", scale=alt.Scale(domain=["reached", "not reached", "diverged"],
                                                range=["circle", "triangle-up", "cross"]),
                      legend=alt.Legend(orient="top", title=None))
    reached = agg[agg["kind"] == "reached"]
    line = alt.Chart(reached).mark_line(strokeWidth=2).encode(
        x=x, y=alt.Y("y:Q", title="steps to 90% test accuracy (seed mean)"),
        color=variant_color(domain=present(agg), legend=False))
    pts = alt.Chart(agg).mark_point(size=90, filled=True, opacity=0.9).encode(
        x=x, y="y:Q", color=variant_color(domain=present(agg)), shape=shape,
        tooltip=["variant", alt.Tooltip("lr:Q", format=".3g"), "kind",
                 alt.Tooltip("steps:Q", format=".0f"), "reached", "learns", "diverged", "n"])
    top = alt.Chart(pd.DataFrame({"v": [steps * 1.25]})).mark_rule(
        strokeDash=[2, 3], color=DIVERGED_COLOR).encode(y="v:Q")
    return alt.layer(top, line, pts).properties(
        height=320, title="Fewer steps is faster; the top row never got there")


def status_chart(sweep: pd.DataFrame) -> alt.Chart:
    """Per lr and seed: learns / finite but not learning / diverged, one row per net."""
    df = sweep.copy()
    df["state"] = np.where(df["diverged"], "diverged", np.where(
        df["learns"], "learns", "finite, does not learn"))
    df["row"] = df["variant"] + " · seed " + df["seed"].astype(str)
    return alt.Chart(df).mark_rect(stroke="white").encode(
        x=alt.X("lr:O", title="learning rate", axis=alt.Axis(format=".2g", labelAngle=-45)),
        y=alt.Y("row:N", title=None),
        color=alt.Color("state:N", title=None, legend=alt.Legend(orient="top"), scale=alt.Scale(
            domain=["learns", "finite, does not learn", "diverged"],
            range=["#2ca02c", "#ffbf00", DIVERGED_COLOR])),
        tooltip=["variant", "seed", alt.Tooltip("lr:Q", format=".3g"), "state",
                 alt.Tooltip("final_loss:Q", format=".3f"), alt.Tooltip("acc:Q", format=".3f")],
    ).properties(height=alt.Step(22), title="Which learning rates learn, and which stay finite")


# ---------------------------------------------------------------------------- 4d


def smoothness_chart(bands: pd.DataFrame) -> alt.Chart:
    """Santurkar Fig. 4 as three small multiples: min-max band over step sizes and seeds, the
    mean as a line, BN vs plain, log y."""
    df = bands[(bands["lo"] > 0) & np.isfinite(bands["hi"])]
    base = alt.Chart().encode(x=alt.X("step:Q", title="training step"),
                              color=variant_color(domain=present(df)))
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("lo:Q", scale=alt.Scale(type="log"), title=None), y2="hi:Q")
    line = base.mark_line(strokeWidth=2, point=True).encode(
        y="mid:Q", tooltip=["variant", "measure", "step", alt.Tooltip("mid:Q", format=".3g"),
                            alt.Tooltip("lo:Q", format=".3g"), alt.Tooltip("hi:Q", format=".3g")])
    return alt.layer(band, line, data=df).properties(width=190, height=240).facet(
        column=alt.Column("measure:N", title=None,
                          sort=["loss range", "gradient change", "effective β"])
    ).resolve_scale(y="independent")
