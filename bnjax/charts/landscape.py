"""Charts of page 5: the lr x gain heat maps (4a), the effective-lr identity (4b), the lr sweep
(4c) and Santurkar's smoothness probes (4d).

Each key chart says one thing: its title (passed in by the page, built by
`bnjax.narration.landscape` from the result) states the finding, and a mark points at what to
look at: the matched-lr window (4c), each net's fastest learning rate (4c), the monotone edges
of "learns" and "stays finite" (4c), the step where plain's smoothness curve crosses BN's (4d).
"""
from __future__ import annotations

import textwrap

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import (BLACK, GUIDE_COLOR, GREEN, ORANGE, SKY, YELLOW, present,
                          variant_color, variant_dash)

CELL = "cell"  # the name of the heat maps' click selection (the page reads event.selection[CELL])
ACC_SCALE = alt.Scale(domain=[0.0, 1.0], scheme="viridis")
GOOD = 0.90


def _fmt(v: float) -> str:
    return f"{v:g}"


def _lines(text, wrap: int | None):
    """`text` as one line, or as a list of lines of at most `wrap` characters (Vega-Lite clips a
    title wider than its chart; a list is drawn as several lines)."""
    if not wrap or not isinstance(text, str) or len(text) <= wrap:
        return text
    return textwrap.wrap(text, wrap)


def _title(title, wrap: int | None = None) -> alt.TitleParams | str:
    """A title given as a string, a list of lines, or dict(text=..., subtitle=...), its lines
    wrapped at `wrap` characters (for charts in half-width columns)."""
    if title is None:
        return alt.Undefined
    if isinstance(title, dict):  # the subtitle's font is smaller: it fits more characters
        wraps = {"text": wrap, "subtitle": wrap and int(wrap * 1.45)}
        return alt.TitleParams(anchor="start", subtitleFontSize=SUBTITLE, subtitlePadding=4,
                               **{k: _lines(v, wraps[k]) for k, v in title.items()})
    return alt.TitleParams(_lines(title, wrap), anchor="start")


SUBTITLE, SUBTITLE_BIG = 13, 17  # px: a title's numbers, readable (lecture mode: a back row)


def for_lecture(chart, big: bool = True):
    """`chart` with its subtitle at lecture size (`ui.chart` enlarges titles, not subtitles)."""
    title = getattr(chart, "title", alt.Undefined)
    if not big or not isinstance(title, alt.TitleParams):
        return chart
    title = title.copy()
    title.subtitleFontSize = SUBTITLE_BIG
    return chart.properties(title=title)


# Streamlit's theme sizes a chart with autosize "fit": the height given is the whole chart, and
# a two-line title, a subtitle and a legend squash the plot. These charts fit the width only:
# their height is the plot's, and titles and legends add to it.
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")


def heatmap_chart(cells: pd.DataFrame, good: float = GOOD, title=None,
                  wrap: int | None = 80, axes: tuple | None = None) -> alt.Chart:
    """Two heat maps (BN, plain) of seed-mean test accuracy on one colour scale: cells >= `good`
    outlined, the count of good cells in each panel's header, diverged cells marked "✕"; a click
    selects a (lr, gain) cell. `axes` = (lrs, gains) of the whole grid, for a grid still
    training: the maps keep their layout as the cells arrive, and each header counts the cells
    trained so far."""
    df = cells.copy()
    df["lr_label"] = df["lr"].map(_fmt)
    df["gain_label"] = df["gain"].map(_fmt)
    counts = df.groupby("variant")["good"].sum()
    n = df.groupby("variant").size()
    total = None if axes is None else len(axes[0]) * len(axes[1])
    df["panel"] = df["variant"].map(
        lambda v: f"{v}: {int(counts[v])} of {int(n[v])} cells ≥ {good:.0%}"
        + ("" if total is None or n[v] >= total else f" ({int(n[v])} of {total} trained)"))
    df["label"] = np.where(df["diverged"] == df["n_seeds"], "✕",
                           df["acc"].map(lambda a: f"{a:.0%}"))  # the legend's unit
    df["status"] = np.where(df["diverged"] > 0,
                            df["diverged"].astype(str) + " of " + df["n_seeds"].astype(str)
                            + " seeds diverged", "finite")
    lrs, gains = (df["lr"].unique(), df["gain"].unique()) if axes is None else axes
    lr_order = [_fmt(v) for v in sorted(lrs)]
    gain_order = [_fmt(v) for v in sorted(gains, reverse=True)]
    fixed = {} if axes is None else {"scale": alt.Scale(domain=lr_order)}
    sel = alt.selection_point(name=CELL, fields=["lr", "gain"], on="click", clear="dblclick")
    # upright labels at a fixed size (lecture mode's bigger axis labels would collide)
    x = alt.X("lr_label:O", sort=lr_order, title="learning rate",
              axis=alt.Axis(labelAngle=0, labelOverlap=False, labelFontSize=13), **fixed)
    y = alt.Y("gain_label:O", sort=gain_order, title="init gain",
              **({} if axes is None else {"scale": alt.Scale(domain=gain_order)}))
    rect = alt.Chart().mark_rect(strokeWidth=4).encode(
        x=x, y=y,
        color=alt.Color("acc:Q", scale=ACC_SCALE, title=["test accuracy", "(seed mean)"],
                        legend=alt.Legend(format=".0%")),
        stroke=alt.condition(f"datum.acc >= {good}", alt.value("white"), alt.value(None)),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.45)),
        tooltip=["variant", alt.Tooltip("lr:Q", format="g"), alt.Tooltip("gain:Q", format="g"),
                 alt.Tooltip("acc:Q", format=".3f", title="test accuracy (seed mean)"),
                 alt.Tooltip("acc_std:Q", format=".3f", title="seed std"), "status"],
    ).add_params(sel)
    text = alt.Chart().mark_text(fontSize=13).encode(
        x=x, y=y, text="label:N",
        color=alt.condition("datum.acc > 0.6", alt.value("black"), alt.value("white")))
    chart = alt.layer(rect, text, data=df).properties(width=320, height=120).facet(
        column=alt.Column("panel:N", title=None, sort=[p for v in present(df)
                                                       for p in df.loc[df.variant == v, "panel"]
                                                       .unique()],
                          header=alt.Header(labelFontWeight="bold"))
    )
    return chart if title is None else chart.properties(title=_title(title, wrap))


def cell_curves_chart(curves: pd.DataFrame, lr: float, gain: float) -> alt.Chart:
    """Training loss of the networks of one (lr, gain) cell: BN and plain, one line per seed."""
    df = curves[np.isclose(curves["lr"], lr) & np.isclose(curves["gain"], gain)]
    df = df[np.isfinite(df["loss"]) & (df["loss"] > 0)]
    top = 100.0  # a loss blowing up leaves through the top edge (clamped) instead of squashing
    low = float(min(df["loss"].min(), 1.0)) if len(df) else 1e-3
    return alt.Chart(df).mark_line(strokeWidth=2, opacity=0.8).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("loss:Q", title="training batch loss (log)",
                scale=alt.Scale(type="log", domain=[low, top], clamp=True),
                axis=alt.Axis(format="~g")),  # no thousands commas to clip
        color=variant_color(domain=present(df)), strokeDash=variant_dash(domain=present(df)),
        detail="seed:N",
        tooltip=["variant", "seed", "step", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=220, autosize=FIT_X, title=_title(
        f"The cell lr {lr:g}, gain {gain:g}: training loss of every seed (a line that stops "
        f"has diverged)"))


# ---------------------------------------------------------------------------- 4b

# The three runs of 4b are all BN nets: series colours (never BN's blue), and dashes so that B
# drawn over A shows both. Two runs often coincide (B with ε·c² retraces A; both B runs have
# nearly the same ‖W‖), so each is drawn in its own layer, bottom to top in RUN_ORDER, the lower
# ones wider: a wide pale band under a thin dashed line, both visible where they coincide.
RUN_STYLE = {"A": (BLACK, [1, 0]), "B, ε·c²": (ORANGE, [6, 4]), "B, fixed ε": (SKY, [3, 2])}
RUN_ORDER = ("B, fixed ε", "A", "B, ε·c²")  # drawn bottom to top
RUN_WIDTH = {"B, fixed ε": 7.0, "A": 3.5, "B, ε·c²": 2.0}
RUN_OPACITY = {"B, fixed ε": 0.6, "A": 1.0, "B, ε·c²": 1.0}


def _runs(df: pd.DataFrame) -> list:
    return [r for r in RUN_STYLE if r in set(df["run"])]


def _run_color(runs: list) -> alt.Color:
    return alt.Color("run:N", scale=alt.Scale(domain=runs, range=[RUN_STYLE[r][0] for r in runs]),
                     legend=alt.Legend(orient="top", title=None, symbolStrokeWidth=3,
                                       symbolOpacity=1))


def _run_dash(runs: list) -> alt.StrokeDash:
    return alt.StrokeDash("run:N", scale=alt.Scale(domain=runs,
                                                   range=[RUN_STYLE[r][1] for r in runs]),
                          legend=None)


def _run_lines(df: pd.DataFrame, encode: dict, runs: list, widths: dict | None = None) -> list:
    """One line layer per run, bottom to top in RUN_ORDER, each with its width: where two runs
    coincide the upper (thinner, dashed) line sits inside the lower (wider) one, both seen."""
    layers = []
    for r in [r for r in RUN_ORDER if r in runs]:
        layers.append(alt.Chart(df[df["run"] == r]).mark_line(
            strokeWidth=(widths or RUN_WIDTH)[r], opacity=RUN_OPACITY[r]).encode(
            color=_run_color(runs), strokeDash=_run_dash(runs), **encode))
    return layers


def effective_loss_chart(curves: pd.DataFrame, title=None, wrap: int | None = 34) -> alt.Chart:
    """Loss of run A and the two B runs, overlaid (means of 10 steps, readable): B with ε·c²
    hides A exactly."""
    df = curves[np.isfinite(curves["loss"]) & (curves["loss"] > 0)].copy()
    df["step"] = (df["step"] - 1) // 10 * 10 + 5
    df = df.groupby(["run", "step"], as_index=False)["loss"].mean()
    runs = _runs(df)
    return alt.layer(*_run_lines(df, dict(
        x=alt.X("step:Q", title="training step (10-step means)"),
        y=alt.Y("loss:Q", title="training batch loss (log)", scale=alt.Scale(type="log"),
                axis=alt.Axis(format="~g")),
        tooltip=["run", "step", alt.Tooltip("loss:Q", format=".6f")]), runs)).properties(
        height=220, autosize=FIT_X, title=_title(title or "Training loss of A and B", wrap))


def rel_diff_chart(curves: pd.DataFrame, floor: float = 1e-9, title=None,
                   wrap: int | None = 34) -> alt.Chart:
    """|L_B - L_A| / L_A per step, log scale; exact zeros drawn at `floor` (the dashed line)."""
    df = curves[curves["run"] != "A"].copy()
    df = df[df["step"] % 2 == 1]
    df["shown"] = np.maximum(df["rel_diff"].fillna(np.inf), floor).clip(upper=1e3)
    runs = _runs(df)
    line = _run_lines(df, dict(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("shown:Q", title="|L_B − L_A| / L_A (log)",
                scale=alt.Scale(type="log", domain=[floor / 2, 1e3]),
                axis=alt.Axis(labelExpr="datum.value >= 1 ? format(datum.value, '~g') : "
                                        "format(datum.value, '.0e')")),
        tooltip=["run", "step", alt.Tooltip("rel_diff:Q", format=".2e")]), runs,
        # the two B runs never coincide here (one sits at the floor): one width, readable
        widths={"B, fixed ε": 2.5, "A": 2.5, "B, ε·c²": 2.5})
    guide = alt.Chart(pd.DataFrame({"v": [floor]})).mark_rule(
        strokeDash=[6, 4], color=GUIDE_COLOR).encode(y="v:Q")
    label = alt.Chart(pd.DataFrame({"v": [floor], "t": ["0 (identical) is drawn here"]})).mark_text(
        align="left", dx=4, dy=-8, color=GUIDE_COLOR).encode(y="v:Q", x=alt.value(4), text="t:N")
    return alt.layer(guide, label, *line).properties(
        height=220, autosize=FIT_X, title=_title(title or "How far apart? |L_B − L_A| / L_A",
                                                 wrap))


def norm_chart(norms: pd.DataFrame, title=None, wrap: int | None = 34) -> alt.Chart:
    """‖W‖ of the hidden layers over training (mean over layers), per run."""
    df = norms.groupby(["run", "step"], as_index=False)["w_norm"].mean()
    runs = _runs(df)
    return alt.layer(*_run_lines(df, dict(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("w_norm:Q", title="‖W‖, mean over hidden layers", scale=alt.Scale(zero=True)),
        tooltip=["run", "step", alt.Tooltip("w_norm:Q", format=".3f")]), runs)).properties(
        height=220, autosize=FIT_X, title=_title(title or "Weight norms of A and B", wrap))


# ---------------------------------------------------------------------------- 4c


def matched_chart(curves: pd.DataFrame, lr: float, window: tuple[float, float] | None = None,
                  title=None, wrap: int | None = 48) -> alt.Chart:
    """Training loss at one matched small lr: seed mean thick, each seed thin (log scale); the
    window where the page compares the two nets shaded."""
    df = curves[np.isfinite(curves["loss"]) & (curves["loss"] > 0)].copy()
    df["window"] = (df["step"] - 1) // 10 * 10 + 5  # 10-step window means, readable and small
    df = df.groupby(["variant", "seed", "window"], as_index=False)["loss"].mean()
    domain = present(df)
    base = alt.Chart(df).encode(x=alt.X("window:Q", title="training step"))
    seeds = base.mark_line(strokeWidth=1, opacity=0.35).encode(
        y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title="training batch loss (log)",
                axis=alt.Axis(format="~g")),
        detail="seed:N", color=variant_color(domain=domain),
        strokeDash=variant_dash(domain=domain))
    mean = base.mark_line(strokeWidth=3).encode(
        y="mean(loss):Q", color=variant_color(domain=domain),
        strokeDash=variant_dash(domain=domain),
        tooltip=["variant", alt.Tooltip("window:Q", title="step"),
                 alt.Tooltip("mean(loss):Q", format=".3f", title="loss (seed mean)")])
    layers = [seeds, mean]
    if window is not None:
        lo, hi = window
        shade = alt.Chart(pd.DataFrame({"a": [lo], "b": [hi], "t": ["compared here"]}))
        layers = [shade.mark_rect(color=GUIDE_COLOR, opacity=0.10).encode(x="a:Q", x2="b:Q"),
                  shade.mark_text(align="left", baseline="top", dx=4, dy=4,
                                  color=GUIDE_COLOR).encode(x="a:Q", y=alt.value(0), text="t:N"),
                  *layers]
    return alt.layer(*layers).properties(
        height=260, autosize=FIT_X,
        title=_title(title or f"Same small learning rate ({lr:.3g})", wrap))


def steps_chart(sweep: pd.DataFrame, steps: int, title=None,
                wrap: int | None = 48) -> alt.Chart:
    """Steps to the target test accuracy against lr (log x), seed mean; runs that never reach it
    sit on the top edge (triangles), diverged ones as crosses; each net's fastest lr labelled."""
    df = sweep.copy()
    agg = df.groupby(["variant", "lr"], as_index=False).agg(
        steps=("steps_to_target", "mean"), reached=("steps_to_target", "count"),
        diverged=("diverged", "sum"), learns=("learns", "sum"), n=("seed", "count"))
    agg["kind"] = np.where(agg["diverged"] == agg["n"], "diverged",
                           np.where(agg["reached"] == agg["n"], "reached 90%", "never 90%"))
    domain = present(agg)
    # the failures sit above the plot, one row per net (BN lowest), so that neither net's
    # markers hide the other's at the same lr
    top = steps * 1.15
    row = agg["variant"].map({v: top + 0.1 * steps * i for i, v in enumerate(domain)})
    agg["y"] = np.where(agg["kind"] == "reached 90%", agg["steps"], row)
    ceiling = top + 0.1 * steps * max(len(domain) - 1, 0)
    lo, hi = float(agg["lr"].min()), float(agg["lr"].max())
    x = alt.X("lr:Q", scale=alt.Scale(type="log", domain=[lo / 1.3, hi * 1.3], nice=False),
              title="learning rate (log)", axis=alt.Axis(format="~g"))
    color = variant_color(domain=domain)  # the same in every layer, so the legend shows
    shape = alt.Shape("kind:N", scale=alt.Scale(domain=["reached 90%", "never 90%", "diverged"],
                                                range=["circle", "triangle-up", "cross"]),
                      legend=None)  # the subtitle names the shapes (two legends clip)
    reached = agg[agg["kind"] == "reached 90%"]
    line = alt.Chart(reached).mark_line(strokeWidth=2).encode(
        x=x, y=alt.Y("y:Q", title="steps to 90% test accuracy",
                     scale=alt.Scale(domain=[0, ceiling + 0.06 * steps], nice=False),
                     # ticks only up to `steps`: above the dotted line are the failure rows
                     axis=alt.Axis(values=[float(v) for v in np.linspace(0, steps, 6)],
                                   format="d")),
        color=color, strokeDash=variant_dash(domain=domain))
    pts = alt.Chart(agg).mark_point(size=80, filled=True, opacity=0.9).encode(
        x=x, y="y:Q", color=color, shape=shape,
        tooltip=["variant", alt.Tooltip("lr:Q", format=".3g"), "kind",
                 alt.Tooltip("steps:Q", format=".0f", title="steps (seed mean)"), "reached",
                 "learns", "diverged", "n"])
    # each net's fastest lr, ringed (the title states the numbers)
    best = reached.loc[reached.groupby("variant")["steps"].idxmin()] if len(reached) else reached
    ring = alt.Chart(best).mark_point(size=420, strokeWidth=2.5, filled=False).encode(
        x=x, y="y:Q", color=color,
        tooltip=["variant", alt.Tooltip("lr:Q", format=".3g", title="fastest lr"),
                 alt.Tooltip("steps:Q", format=".0f", title="steps to 90%")])
    edge = alt.Chart(pd.DataFrame({"v": [(steps + top) / 2]})).mark_rule(
        strokeDash=[2, 3], color=GUIDE_COLOR).encode(y="v:Q")
    return alt.layer(edge, line, pts, ring).properties(
        height=260, autosize=FIT_X, title=_title(title or "Steps to 90% test accuracy", wrap))


STATES = ("learns", "finite, does not learn", "diverged")
STATE_COLORS = (GREEN, YELLOW, "#cccccc")  # every pair ≥ 15 ΔE under protan/deutan vision


def status_chart(sweep: pd.DataFrame, seeds: pd.DataFrame | None = None, title=None,
                 wrap: int | None = 80) -> alt.Chart:
    """Per lr and seed: learns / finite but not learning / diverged, one row per net and seed, on
    a log lr axis; with `seeds` (the result's per-seed edges), a black tick at the largest lr that
    learns and a grey one at the largest that stays finite (both monotone)."""
    df = sweep.copy()
    df["state"] = np.where(df["diverged"], "diverged", np.where(
        df["learns"], "learns", "finite, does not learn"))
    df["row"] = df["variant"] + " · seed " + df["seed"].astype(str)
    lrs = np.sort(df["lr"].unique())
    half = np.sqrt(lrs[1] / lrs[0]) if len(lrs) > 1 else 2.0
    df["a"], df["b"] = df["lr"] / half, df["lr"] * half  # each lr's cell on the log axis
    rows = [f"{v} · seed {s}" for v in present(df) for s in sorted(df.loc[df.variant == v,
                                                                          "seed"].unique())]
    x = alt.X("a:Q", scale=alt.Scale(type="log", domain=[lrs[0] / half, lrs[-1] * half],
                                     nice=False),
              title="learning rate (log)", axis=alt.Axis(format="~g"))
    y = alt.Y("row:N", title=None, sort=rows)
    cells = alt.Chart(df).mark_rect(stroke="white").encode(
        x=x, x2="b:Q", y=y,
        color=alt.Color("state:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(STATES), range=list(STATE_COLORS))),
        tooltip=["variant", "seed", alt.Tooltip("lr:Q", format=".3g"), "state",
                 alt.Tooltip("final_loss:Q", format=".3f"), alt.Tooltip("acc:Q", format=".3f")])
    layers = [cells]
    if seeds is not None and len(seeds):
        ticks = []
        for _, r in seeds.iterrows():
            row = f"{r['variant']} · seed {r['seed']}"
            # the finite edge first: where both edges coincide, the black one is drawn on top
            for edge, name in (("finite_lr_hi", "finite up to"), ("learn_lr_hi", "learns up to")):
                if np.isfinite(r[edge]):
                    ticks.append(dict(row=row, a=r[edge] * half, edge=name, lr=r[edge]))
        tk = pd.DataFrame(ticks)
        if len(tk):
            layers.append(alt.Chart(tk).mark_tick(thickness=5, orient="vertical").encode(
                x="a:Q", y=y,
                color=alt.Color("edge:N", title=None,
                                # below the plot: beside the states' legend it would be
                                # wider than a phone
                                legend=alt.Legend(orient="bottom", symbolType="square",
                                                  symbolOpacity=1),
                                scale=alt.Scale(domain=["learns up to", "finite up to"],
                                                range=[BLACK, "#888888"])),
                tooltip=["row", "edge", alt.Tooltip("lr:Q", format=".3g")]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        height=alt.Step(26), autosize=FIT_X,
        title=_title(title or "Which learning rates learn, and which stay finite", wrap))


# ---------------------------------------------------------------------------- 4d

MEASURE_ORDER = ("loss range", "gradient change", "gradient smoothness")
# Each measure's panel header, line by line ("|"), with its unit. The experiment's third measure
# ("gradient smoothness", Santurkar's effective β) is a change of the gradient per unit of
# distance: larger is rougher, so the screen names what it measures.
HEADERS = {"loss range": "loss range|(cross-entropy)",
           "gradient change": "gradient change|‖Δg‖",
           "gradient smoothness": "gradient change per|unit distance, ‖Δg‖ / ‖Δw‖"}


def smoothness_chart(bands: pd.DataFrame, crossings: dict | None = None,
                     panels: dict | None = None, title=None,
                     wrap: int | None = 80) -> alt.Chart:
    """Santurkar Fig. 4 as three small multiples: the seed mean as a line, the min-max over
    seeds as a band, BN vs plain, log y; a dashed rule at each measure's crossing step (the step
    from which plain's curve stays below BN's: `experiments.landscape.crossing`). `panels`
    adds each measure's finding under its header (e.g. "cross at step 300")."""
    df = bands[(bands["lo"] > 0) & np.isfinite(bands["hi"])].copy()
    finding = panels or {}

    def header(m):
        h = HEADERS.get(m, m)
        return f"{h}|{finding[m]}" if finding.get(m) else h

    df["panel"] = df["measure"].map(header)
    order = [header(m) for m in MEASURE_ORDER]
    cross = pd.DataFrame([dict(panel=header(m), step=float(s), label=f"step {s:.0f}")
                          for m, s in (crossings or {}).items() if np.isfinite(s)])
    domain = present(df)
    df["kind"] = "band"
    if len(cross):
        cross["kind"] = "cross"
        df = pd.concat([df, cross], ignore_index=True)
    base = alt.Chart().encode(x=alt.X("step:Q", title="training step"))
    is_band = alt.datum.kind == "band"
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("lo:Q", scale=alt.Scale(type="log"), title="log scale, lower = smoother",
                axis=alt.Axis(format="~g")),  # units: in each panel's header
        y2="hi:Q", color=variant_color(domain=domain)).transform_filter(is_band)
    line = base.mark_line(strokeWidth=2, point=True).encode(
        y="mid:Q", color=variant_color(domain=domain), strokeDash=variant_dash(domain=domain),
        tooltip=["variant", "measure", "step", alt.Tooltip("mid:Q", format=".3g"),
                 alt.Tooltip("lo:Q", format=".3g"), alt.Tooltip("hi:Q", format=".3g")]
    ).transform_filter(is_band)
    rule = base.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=2).transform_filter(
        alt.datum.kind == "cross")
    text = base.mark_text(align="left", dx=4, baseline="top", color=GUIDE_COLOR,
                          fontWeight="bold").encode(y=alt.value(2), text="label:N"
                                                    ).transform_filter(alt.datum.kind == "cross")
    chart = alt.layer(band, line, rule, text, data=df).properties(width=190, height=230).facet(
        column=alt.Column("panel:N", title=None, sort=order,  # "measure|unit|finding"
                          header=alt.Header(labelFontWeight="bold",
                                            labelExpr="split(datum.value, '|')"))
    ).resolve_scale(y="independent")
    return chart if title is None else chart.properties(title=_title(title, wrap))
