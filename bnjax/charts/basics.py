"""Charts of page 1, BatchNorm basics: one batch through one BN layer; train vs eval accuracy;
the running averages closing in on the population statistics.

Each builder takes the tables of `bnjax.experiments.basics` and returns an `alt.Chart`; nothing
here computes a statistic the page states (the arithmetic is in the experiment module).
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from bnjax.charts import COLORS, GUIDE_COLOR

BN_COLOR = COLORS[0]  # the shared BN colour: every net on this page is a BN net
HIGHLIGHT = "#ff7f0e"
GROUP_SCALE = alt.Scale(
    domain=["batch statistics (train mode)", "running averages (eval mode)",
            "population statistics (eval mode)"],
    range=["#9ecae1", "#4292c6", "#08306b"])
DECAY_SCALE = alt.Scale(domain=["EMA, decay 0.9", "EMA, decay 0.99", "EMA, decay 0.999"],
                        range=["#08519c", "#6baed6", "#c6dbef"])


def _step_rules(steps) -> pd.DataFrame:
    """The reference line of each panel: what the step computed (mean, 0, variance, 0, beta)."""
    names = list(steps.table.drop_duplicates("step").sort_values("order").step)
    values = [steps.mean, 0.0, steps.var, 0.0, steps.beta]
    labels = [f"μ_B = {steps.mean:.2f}", "0", f"σ²_B = {steps.var:.2f}", "0",
              f"β = {steps.beta:.2f}"]
    return pd.DataFrame({"step": names, "value": values, "label": labels})


def bn_steps_chart(steps, *, panel_width: int = 105, height: int = 240) -> alt.HConcatChart:
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
        text = alt.Chart(rules[rules.step == name]).mark_text(
            align="left", dx=4, dy=-8, color=GUIDE_COLOR).encode(
            y="value:Q", x=alt.value(2), text="label:N")
        panels.append(alt.layer(dots, line, text).properties(
            title=name, width=panel_width, height=height))
    return alt.hconcat(*panels, spacing=12).resolve_scale(y="independent")


def accuracy_chart(accuracy: pd.DataFrame, chance: float) -> alt.LayerChart:
    """Test accuracy of one trained BN net under every test-time choice of statistics: horizontal
    bars grouped by where the statistics come from, with the best constant guess as a rule."""
    order = list(accuracy.sort_values("order").setting)
    bars = alt.Chart(accuracy).mark_bar().encode(
        y=alt.Y("setting:N", sort=order, title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=260)),
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="test accuracy"),
        color=alt.Color("group:N", scale=GROUP_SCALE, title=None,
                        legend=alt.Legend(orient="top", columns=1, labelLimit=0)),
        tooltip=["group:N", "setting:N", alt.Tooltip("accuracy:Q", format=".3f")])
    labels = bars.mark_text(align="left", dx=4, color=GUIDE_COLOR).encode(
        text=alt.Text("accuracy:Q", format=".3f"), color=alt.value(GUIDE_COLOR))
    guide = alt.Chart(pd.DataFrame({"v": [chance], "label": ["chance"]}))
    chance_rule = guide.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR).encode(x="v:Q")
    chance_text = guide.mark_text(align="left", dx=4, dy=-4, color=GUIDE_COLOR).encode(
        x="v:Q", y=alt.value(0), text="label:N")
    return alt.layer(bars, labels, chance_rule, chance_text).properties(
        height=alt.Step(36))


def ema_gap_chart(ema_gap: pd.DataFrame) -> alt.HConcatChart:
    """Left: how far each running average is from the population statistics over the run (the
    root-mean-square change of x̂ it causes, log scale). Right: the test accuracy with each.
    One legend for both, so the pair fits the page."""
    emas = ema_gap[ema_gap.stats != "population"]
    stats_scale = alt.Scale(domain=DECAY_SCALE.domain + ["population"],
                            range=DECAY_SCALE.range + [BN_COLOR])
    gap = alt.Chart(emas).mark_line(point=False, strokeWidth=3).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("gap:Q", scale=alt.Scale(type="log"), title="running vs population (rms Δx̂)"),
        color=alt.Color("stats:N", scale=stats_scale, title=None, legend=alt.Legend(orient="top")),
        tooltip=["stats:N", "step:Q", alt.Tooltip("gap:Q", format=".3f")])
    acc = alt.Chart(ema_gap).mark_line(strokeWidth=3).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("test_acc:Q", title="test accuracy (eval mode)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("stats:N", scale=stats_scale, title=None, legend=alt.Legend(orient="top")),
        strokeDash=alt.condition(alt.datum.stats == "population", alt.value([6, 3]),
                                 alt.value([1, 0])),
        tooltip=["stats:N", "step:Q", alt.Tooltip("test_acc:Q", format=".3f")])
    return alt.hconcat(gap.properties(width=280, height=260),
                       acc.properties(width=280, height=260)).resolve_scale(color="shared")
