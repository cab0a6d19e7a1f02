"""Charts of page 1, BatchNorm basics: one batch through one BN layer; train vs eval accuracy;
the running averages closing in on the population statistics.

Each builder takes the tables of `bnjax.experiments.basics` and returns an `alt.Chart`; nothing
here computes a statistic the page states (the arithmetic is in the experiment module).
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import BLACK, GREEN, GUIDE_COLOR, ORANGE, PURPLE, SKY, STYLE

BN_COLOR = STYLE["BN"][0]  # the shared BN colour: every net on this page is a BN net
HIGHLIGHT = ORANGE
# Where BN's statistics come from: one colour and one dash each, the same in both charts that
# show them (never BN's blue or plain's vermillion; every pair apart under protan/deutan vision).
STATS = ["batch statistics", "EMA, decay 0.9", "EMA, decay 0.99", "EMA, decay 0.999",
         "population"]
STATS_COLOR = dict(zip(STATS, [PURPLE, ORANGE, SKY, GREEN, BLACK]))
STATS_DASH = dict(zip(STATS, [[1, 0], [1, 0], [6, 3], [2, 2], [9, 3, 2, 3]]))
STATS_LABEL = {"population": "training set's statistics (population)"}
# The accuracy bars, in plain words: what the statistics are and where they come from.
SETTING_LABEL = {"test batch 1": "train mode: test batch of 1",
                 "test batch 8": "train mode: test batch of 8",
                 "test batch 64": "train mode: test batch of 64",
                 "EMA, decay 0.9": "eval mode: running average, decay 0.9",
                 "EMA, decay 0.99": "eval mode: running average, decay 0.99",
                 "EMA, decay 0.999": "eval mode: running average, decay 0.999",
                 "whole training set": "eval mode: training set's statistics"}
SEED_SHAPES = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down"]


def _title(lines) -> alt.TitleParams:
    lines = [lines] if isinstance(lines, str) else list(lines)
    return alt.TitleParams(lines if len(lines) > 1 else lines[0], anchor="start")


def _stats_scale(names) -> alt.Scale:
    names = [n for n in STATS if n in set(names)]
    return names, alt.Scale(domain=names, range=[STATS_COLOR[n] for n in names])


def _step_rules(steps) -> pd.DataFrame:
    """The reference line of each panel: what the step computed (mean, 0, variance, 0, beta)."""
    names = list(steps.table.drop_duplicates("step").sort_values("order").step)
    values = [steps.mean, 0.0, steps.var, 0.0, steps.beta]
    labels = [f"μ_B = {steps.mean:.2f}", "0", f"σ²_B = {steps.var:.2f}", "0",
              f"β = {steps.beta:.2f}"]
    return pd.DataFrame({"step": names, "value": values, "label": labels})


def bn_steps_chart(steps, *, panel_width: int = 125, height: int = 240,
                   title=None) -> alt.HConcatChart:
    """Five linked panels, one mini-batch through one BN unit: z; z − μ_B (centred);
    (z − μ_B)², whose mean is σ²_B; x̂ = (z − μ_B) / √(σ²_B + ε); γ·x̂ + β.

    Every dot is one example of the batch, at the same horizontal place in every panel (sorted by
    z); pointing at one highlights it everywhere. A dashed rule marks what the step computed.

    Args:
      steps: a `basics.BnSteps` (its `table` is long form: example, rank, label, step, value).
    """
    df = steps.table
    rules = _step_rules(steps)
    # One y scale for every panel but the squares, so that centring shifts the dots, x̂ squeezes
    # or stretches them, and γ and β visibly move them again.
    shared = df[df.step != rules.step[2]].value
    pad = 0.05 * float(shared.max() - shared.min()) + 1e-6
    domain = [float(shared.min()) - pad, float(shared.max()) + pad]
    pick = alt.selection_point(fields=["example"], on="pointerover", nearest=True,
                               clear="pointerout", empty=False)
    panels = []
    for i, name in enumerate(rules.step):
        base = alt.Chart(df).transform_filter(alt.datum.step == name)
        dots = base.mark_circle(opacity=0.85).encode(
            x=alt.X("rank:Q", title="examples, sorted by z" if i == 0 else None,
                    axis=alt.Axis(labels=False, ticks=False, grid=False)),
            y=alt.Y("value:Q", title=None,
                    scale=alt.Scale(zero=True) if i == 2 else alt.Scale(domain=domain, nice=False)),
            color=alt.condition(pick, alt.value(HIGHLIGHT), alt.value(BN_COLOR)),
            size=alt.condition(pick, alt.value(180), alt.value(45)),
            tooltip=[alt.Tooltip("example:Q", title="example"), alt.Tooltip("label:Q", title="digit"),
                     alt.Tooltip("value:Q", format=".3f", title=name)])
        if i == 0:
            dots = dots.add_params(pick)
        line = alt.Chart(rules[rules.step == name]).mark_rule(
            strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="value:Q")
        # What the step computed, under the panel's name (written on the plot, it sat on dots).
        label = rules.loc[rules.step == name, "label"].iloc[0].replace("-", "−")
        panels.append(alt.layer(dots, line).properties(
            title=alt.TitleParams(name, subtitle=f"dashed: {label}", subtitleColor=GUIDE_COLOR,
                                  subtitleFontSize=12),
            width=panel_width, height=height))
    chart = alt.hconcat(*panels, spacing=12).resolve_scale(y="independent")
    return chart.properties(title=_title(title)) if title else chart


def accuracy_chart(accuracy: pd.DataFrame, chance: float, title=None, *,
                   settings=None, legend: str = "top") -> alt.LayerChart:
    """Test accuracy of the trained BN nets under every test-time choice of statistics: one bar
    per choice (the seed mean), each seed a point of its own shape, the mean and the seeds'
    range written on the bar, and the best constant guess ("chance") as a rule. Bars are
    coloured by where the statistics come from, as in `ema_gap_chart`.

    `settings` (names of the table's `setting` column) keeps only those bars, in that order:
    the page's first chart shows the two its short answer quotes. `legend` places the seeds'
    legend ("right" saves the height a first screen lacks).

    Each bar's name is written above it, not beside it: the names are long, and beside the
    bars they would leave a phone's plot a few pixels wide."""
    df = accuracy.copy()
    if settings is not None:
        settings = list(settings)
        df = df[df["setting"].isin(settings)].copy()
        df["order"] = [settings.index(s) for s in df["setting"]]
    df["label"] = [SETTING_LABEL.get(s, f"train mode: all {s.split()[2]} test images")
                   for s in df["setting"]]
    df["stats"] = [("batch statistics" if g.startswith("batch") else
                    "population" if g.startswith("population") else s)
                   for g, s in zip(df["group"], df["setting"])]
    order = list(df.sort_values("order").drop_duplicates("label")["label"])
    agg = df.groupby(["label", "stats", "order"], as_index=False)["accuracy"].agg(
        ["mean", "min", "max"])
    agg["text"] = [f"{m:.1%}" if lo == hi or not np.isfinite(lo) else
                   f"{m:.1%} ({100 * lo:.1f}–{100 * hi:.1f})" for m, lo, hi in
                   zip(agg["mean"], agg["min"], agg["max"])]
    agg.loc[agg["label"] == "train mode: test batch of 1", "text"] += \
        "  ← x̂ = 0: one answer for every image"
    names, scale = _stats_scale(agg["stats"])
    # One row per bar: its name at the top of the row, the bar (and the seeds) below it.
    y = alt.Y("label:N", sort=order, title=None, axis=None)
    low = 9  # px: the bar and the seeds' points sit this far below the row's middle
    x = alt.X("mean:Q", scale=alt.Scale(domain=[0, 1]), title="test accuracy (540 test digits)",
              axis=alt.Axis(format="%"))
    bars = alt.Chart(agg).mark_bar(opacity=0.85, height=20, yOffset=low).encode(
        y=y, x=x, color=alt.Color("stats:N", scale=scale, legend=None),
        tooltip=["label:N", alt.Tooltip("mean:Q", format=".1%", title="seed mean"),
                 alt.Tooltip("min:Q", format=".1%"), alt.Tooltip("max:Q", format=".1%")])
    seeds = sorted(int(v) for v in df["seed"].unique())
    dots = alt.Chart(df.dropna()).mark_point(filled=True, size=50, color=GUIDE_COLOR,
                                             yOffset=low).encode(
        y=y, x=alt.X("accuracy:Q"),
        shape=alt.Shape("seed:N", scale=alt.Scale(domain=seeds, range=SEED_SHAPES[:len(seeds)]),
                        legend=alt.Legend(orient=legend, title="seed") if len(seeds) > 1
                        else None),
        tooltip=["label:N", "seed:N", alt.Tooltip("accuracy:Q", format=".1%")])
    name = dict(align="left", baseline="middle", x=0, yOffset=-12)
    # a halo of the page's colour under each name, where the chance line crosses it
    halo = alt.Chart(agg).mark_text(color="white", stroke="white", strokeWidth=4, **name).encode(
        y=y, text="label:N")
    names_text = alt.Chart(agg).mark_text(color=GUIDE_COLOR, **name).encode(y=y, text="label:N")
    inside = alt.Chart(agg[agg["mean"] >= 0.5]).mark_text(
        align="right", dx=-6, yOffset=low, color="white", fontWeight="bold").encode(
        y=y, x=x, text="text:N")
    outside = alt.Chart(agg[~(agg["mean"] >= 0.5)]).mark_text(
        align="left", dx=6, yOffset=low, color=GUIDE_COLOR, fontWeight="bold").encode(
        y=y, x=alt.X("max:Q"), text="text:N")
    guide = alt.Chart(pd.DataFrame({"v": [chance], "label": [f"chance {chance:.1%}"]}))
    chance_rule = guide.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(x="v:Q")
    chance_text = guide.mark_text(align="left", dx=4, dy=-6, color=GUIDE_COLOR,
                                  baseline="bottom").encode(x="v:Q", y=alt.value(0),
                                                            text="label:N")
    chart = alt.layer(bars, dots, chance_rule, halo, names_text, inside, outside,
                      chance_text).properties(height=alt.Step(52))
    return chart.properties(title=_title(title)) if title else chart


def ema_gap_chart(ema_gap: pd.DataFrame, title=None, *, width: int = 330,
                  height: int = 250) -> alt.HConcatChart:
    """Left: how far each running average is from the population statistics over the run (the
    root-mean-square change of x̂ it causes, log scale). Right: the test accuracy in eval mode
    with each, and with the population statistics. One line per seed; colours and dashes name
    the statistics (one legend for both panels)."""
    df = ema_gap.copy()
    df["name"] = [STATS_LABEL.get(s, s) for s in df["stats"]]
    names, _ = _stats_scale(df["stats"])
    shown = [STATS_LABEL.get(n, n) for n in names]
    color = alt.Color("name:N", title=None, sort=shown,
                      scale=alt.Scale(domain=shown, range=[STATS_COLOR[n] for n in names]),
                      legend=alt.Legend(orient="top", labelLimit=0, symbolStrokeWidth=3,
                                        columns=2))
    dash = alt.StrokeDash("name:N", sort=shown, legend=None,
                          scale=alt.Scale(domain=shown, range=[STATS_DASH[n] for n in names]))
    x = alt.X("step:Q", title="training step")
    detail = alt.Detail("seed:N")
    gap = alt.Chart(df[df["stats"] != "population"]).mark_line(strokeWidth=2.5).encode(
        x=x, y=alt.Y("gap:Q", scale=alt.Scale(type="log"),
                     title="change of x̂ (rms)"),
        color=color, strokeDash=dash, detail=detail,
        tooltip=["name:N", "seed:N", "step:Q", alt.Tooltip("gap:Q", format=".3f")])
    acc = alt.Chart(df).mark_line(strokeWidth=2.5).encode(
        x=x, y=alt.Y("test_acc:Q", title="eval-mode test accuracy",
                     scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=color, strokeDash=dash, detail=detail,
        tooltip=["name:N", "seed:N", "step:Q", alt.Tooltip("test_acc:Q", format=".1%")])
    chart = alt.hconcat(gap.properties(width=width, height=height),
                        acc.properties(width=width, height=height)).resolve_scale(
        color="shared", strokeDash="shared")
    return chart.properties(title=_title(title)) if title else chart
