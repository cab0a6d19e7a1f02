"""Charts of the Playground: curves with seed bands, health histograms, update:data ratios.

Each chart takes its title lines from `bnjax.narration.playground` (the first line is the
finding, the others its numbers), so a title cannot say what the data do not. The two nets are
named by their normalization ("BN", "LayerNorm", "plain": the shared palette's colours and
dashes); two nets with the same normalization ("net A (BN)", "net B (BN)") get colours no
variant owns (`net_color`), in the order of the data (net A first).
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from bnjax.charts import (GUIDE_COLOR, ORANGE, SERIES, SKY, STYLE, series_color,
                          variant_color, variant_dash)

# Layers differ by dash as well as colour (one pattern per series colour).
LAYER_DASHES = [[1, 0], [7, 3], [2, 2], [10, 3, 2, 3], [4, 4], [12, 2, 2, 2, 2, 2]]


# Nets that are not palette variants (both nets with one normalization): net A, net B.
OTHER_NETS = [(SKY, [1, 0]), (ORANGE, [7, 4])]


def nets(df: pd.DataFrame) -> list:
    """The nets in `df`, in their order (net A first)."""
    return list(dict.fromkeys(df.variant))


def _styles(domain: list) -> list:
    others = iter(OTHER_NETS)
    return [STYLE[v][:2] if v in STYLE else next(others) for v in domain]


def net_color(domain: list, legend=True) -> alt.Color:
    """Each net's colour: a palette variant's own, or one no variant owns."""
    if all(v in STYLE for v in domain):
        return variant_color(domain=domain, legend=legend)
    return alt.Color("variant:N", title=None, legend=alt.Legend(orient="top") if legend else None,
                     scale=alt.Scale(domain=domain, range=[c for c, _ in _styles(domain)]))


def net_dash(domain: list) -> alt.StrokeDash:
    """Each net's dash pattern, so lines differ by more than colour."""
    if all(v in STYLE for v in domain):
        return variant_dash(domain=domain)
    return alt.StrokeDash("variant:N", legend=None,
                          scale=alt.Scale(domain=domain, range=[d for _, d in _styles(domain)]))


PLOT_HEIGHT = 200  # the plot area of a stretched chart, in px
LOSS_CAP = 100.0  # the loss axis ends here (chance is 2.3); a diverging run is drawn at the top
RATIO_FLOOR = -8  # log10 update:data axis floor: below float32 resolution nothing moves anyway


def _height(lines, plot: int = PLOT_HEIGHT) -> int:
    """Streamlit fits a stretched chart's title, legend, axes and plot into `height`: so the
    height grows with the title's lines, and the plot keeps its size. (A y-axis title longer
    than the plot would take height too: keep them short.)"""
    lines = [lines] if isinstance(lines, str) else lines
    n = sum(len(x) if isinstance(x, list) else 1 for x in lines)
    return plot + 145 + 18 * n  # measured in Chromium: title lines, legend, x axis, paddings


SUBTITLE, SUBTITLE_BIG = 14, 17  # px: the numbers under a title, readable (lecture: a back row)


def _title(lines, big: bool = False) -> alt.Title:
    """The first line as the title (the finding; a list: its lines), the others as its subtitle
    (the numbers); `big` for lecture mode (ui.chart enlarges titles, not subtitles)."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    return alt.Title(lines[0], subtitle=lines[1:] or alt.Undefined, anchor="start",
                     subtitleFontSize=SUBTITLE_BIG if big else SUBTITLE, subtitleColor="#333333")


def _band(df: pd.DataFrame, y: str, axis: alt.Axis | None, scale: alt.Scale,
          x_max: float | None = None) -> alt.Chart:
    """Seed mean as a line (each net its colour and dash), min-max over seeds as a band. With
    `x_max` (a live chart: the run's length) the x-axis spans the whole run from the start, so
    the curves grow left to right; a curve of one or two points also gets dots (a line of one
    point draws nothing)."""
    domain = nets(df)
    legend = alt.Legend(orient="top", title=None, symbolType="stroke", symbolStrokeWidth=3,
                        symbolOpacity=1, symbolSize=300)
    x_scale = alt.Undefined if x_max is None else alt.Scale(domain=[0, float(x_max)])
    base = alt.Chart(df).encode(x=alt.X("step:Q", title="training step", scale=x_scale))
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y(f"min({y}):Q", axis=axis, scale=scale), y2=f"max({y}):Q",
        color=_legend(net_color(domain), legend))
    line = base.mark_line(strokeWidth=2.5, point=df.step.nunique() < 3).encode(
        y=f"mean({y}):Q", color=_legend(net_color(domain), legend),
        strokeDash=_legend(net_dash(domain), legend),
        # the tooltip in the axis's unit: accuracy in %, like the axis and the titles
        tooltip=["variant", "step", alt.Tooltip(
            f"mean({y}):Q", format=".1%" if y == "acc" else ".4g",
            title={"acc": "test accuracy", "loss": "training loss"}.get(y, y) + " (seed mean)")])
    return band + line


def _legend(channel, legend):
    """`channel` with `legend` (colour and dash share one legend: the same title and look)."""
    channel.legend = legend
    return channel


def _level(value: float, label: str, x: float) -> alt.Chart:
    """A dotted guide line at y = value, labelled at its right end."""
    d = pd.DataFrame({"v": [value], "x": [x], "label": [label]})
    base = alt.Chart(d)
    text = [base.mark_text(align="right", baseline="bottom", dy=-3, fontSize=13,
                           fontWeight="bold", **style).encode(x="x:Q", y="v:Q", text="label:N")
            for style in (dict(stroke="white", strokeWidth=4, color="white"),
                          dict(color=GUIDE_COLOR))]  # a white halo under the label
    return alt.layer(base.mark_rule(strokeDash=[2, 3], color=GUIDE_COLOR, strokeWidth=1.5)
                     .encode(y="v:Q"), *text)


def loss_chart(curves: pd.DataFrame, diverged_at: pd.DataFrame | None = None, *,
               title=("Training loss",), level: float | None = None, big: bool = False,
               plot: int = PLOT_HEIGHT, x_max: float | None = None) -> alt.Chart:
    """Training loss (log scale) with the seed band; a cross where a run diverged; a dotted line
    at the loss level of the "trained faster" comparison."""
    df = curves[curves.loss > 0]
    lo, hi = (np.floor(np.log10(df.loss.min())), np.ceil(np.log10(df.loss.max()))) \
        if len(df) else (-3.0, 1.0)
    hi = min(hi, np.log10(LOSS_CAP))  # a run blowing up to 1e24 would flatten every other curve
    axis = alt.Axis(title="training loss (log)",  # a grid line per decade only, "1e-6" below 0.01
                    values=[float(10.0 ** k) for k in range(int(lo), int(hi) + 1)],
                    labelExpr="datum.value >= 0.01 ? format(datum.value, '~g') "
                              ": format(datum.value, '.0e')")
    chart = _band(df, "loss", axis, alt.Scale(type="log", domain=[10.0 ** lo, 10.0 ** hi],
                                              clamp=True), x_max)
    if level is not None and len(df):
        chart = chart + _level(level, f"loss {level:g}", float(df.step.max()))
    if diverged_at is not None and len(diverged_at):
        top = float(10.0 ** hi)
        marks = alt.Chart(diverged_at.assign(loss=top)).mark_point(
            shape="cross", size=300, filled=True, strokeWidth=3).encode(
            x="step:Q", y="loss:Q", color=net_color(nets(df), legend=False),
            tooltip=["variant", "seed", alt.Tooltip("step:Q", title="diverged at step")])
        chart = chart + marks
    return chart.properties(title=_title(title, big), height=_height(title, plot))


def accuracy_chart(acc: pd.DataFrame, *, title=("Test accuracy",), big: bool = False,
                   plot: int = PLOT_HEIGHT, x_max: float | None = None) -> alt.Chart:
    """Test accuracy over training with the seed band. The axis runs to 100% and starts at the
    lowest value shown, rounded down to 5% (at most 90%), which its labels show."""
    df = acc.dropna()
    lo = min(0.9, float(np.floor(df.acc.min() * 20) / 20)) if len(df) else 0.0
    axis = alt.Axis(title="test accuracy", format=".0%")
    return _band(df, "acc", axis, alt.Scale(domain=[lo, 1.0], nice=False), x_max).properties(
        title=_title(title, big), height=_height(title, plot))


def _shown_layers(layers) -> list:
    """At most len(SERIES) layers, evenly spread, always the first and the last."""
    layers = list(dict.fromkeys(layers))
    if len(layers) <= len(SERIES):
        return layers
    idx = np.unique(np.round(np.linspace(0, len(layers) - 1, len(SERIES))).astype(int))
    return [layers[i] for i in idx]


def _layer_encodings(df: pd.DataFrame):
    """Colour and dash per layer, with one legend that shows both (a line per entry)."""
    every = list(dict.fromkeys(df.layer))
    shown = _shown_layers(every)
    title = "hidden layer" if len(shown) == len(every) else \
        f"hidden layer ({len(shown)} of {len(every)} shown)"
    legend = alt.Legend(orient="top", title=title, symbolType="stroke",
                        symbolStrokeWidth=3, symbolOpacity=1, symbolSize=300)
    return shown, dict(
        color=_legend(series_color("layer:N", shown, title=title), legend),
        strokeDash=alt.StrokeDash("layer:N", title=title, legend=legend,
                                  scale=alt.Scale(domain=shown,
                                                  range=LAYER_DASHES[:len(shown)])))


def histogram_chart(df: pd.DataFrame, x_title: str, *, title=None, y_title="share",
                    independent_x: bool = False, big: bool = False,
                    x_format: str = "~r") -> alt.Chart:
    """One density line per layer, BN and plain side by side (the seeds pooled)."""
    shown, enc = _layer_encodings(df)
    data = df[df.layer.isin(shown)]
    chart = alt.Chart(data).mark_line(strokeWidth=2).encode(
        x=alt.X("x:Q", title=x_title, axis=alt.Axis(
            labelExpr=f"datum.value == 0 ? '0' : format(datum.value, '{x_format}')",
            labelOverlap=True, tickCount=5)),
        y=alt.Y("density:Q", title=y_title, axis=alt.Axis(format=".0%")),
        tooltip=["layer", alt.Tooltip("x:Q", format=".3g"),
                 alt.Tooltip("density:Q", format=".1%")], **enc,
    ).properties(height=200, width=300).facet(
        column=alt.Column("variant:N", title=None, sort=nets(data),
                          header=alt.Header(labelFontWeight="bold")))
    if independent_x:
        chart = chart.resolve_scale(x="independent")
    if title is not None:
        chart = chart.properties(title=_title(title, big))
    return chart


def update_ratio_chart(df: pd.DataFrame, *, title=None, big: bool = False) -> alt.Chart:
    """Each layer's update:data ratio (std of the step's update / std of the weights) over
    training, seed mean on a log axis, with Karpathy's 1e-3 rule of thumb as a labelled line."""
    shown, enc = _layer_encodings(df)
    data = df[df.layer.isin(shown) & np.isfinite(df.log10_ratio)]
    top = max(0, int(np.ceil(data.log10_ratio.max()))) if len(data) else 0
    base = alt.Chart(data)
    lines = base.mark_line(strokeWidth=2, clip=True).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("log10_ratio:Q", title="update ÷ weights (log scale)",
                scale=alt.Scale(domain=[RATIO_FLOOR, top], clamp=True),
                axis=alt.Axis(labelExpr="'1e' + datum.value", tickMinStep=1)),
        tooltip=["layer", "step", alt.Tooltip("log10_ratio:Q", format=".2f",
                                                title="log10 update:data")], **enc)
    guide = base.mark_rule(strokeDash=[6, 4], color=GUIDE_COLOR, strokeWidth=1.5).encode(
        y=alt.datum(-3.0))
    # The label sits on the line where the curves may pass: a white halo under black text.
    label = [base.mark_text(align="right", baseline="bottom", dy=-3, fontSize=13,
                            fontWeight="bold", **style).encode(
        x="max(step):Q", y=alt.datum(-3.0), text=alt.value("1e-3: rule of thumb"))
        for style in (dict(stroke="white", strokeWidth=4, color="white"),
                      dict(color=GUIDE_COLOR))]
    chart = alt.layer(lines, guide, *label).properties(height=240, width=300).facet(
        column=alt.Column("variant:N", title=None, sort=nets(data),
                          header=alt.Header(labelFontWeight="bold")))
    if title is not None:
        chart = chart.properties(title=_title(title, big))
    return chart


def live_spec(chart: alt.Chart, big: bool = False) -> dict:
    """A chart drawn while the nets train, as a Vega-Lite spec with the page's font sizes
    (`ui.chart`'s, without its downloads: the finished chart replaces it)."""
    chart = chart.configure_axis(labelFontSize=17 if big else 13, titleFontSize=19 if big else 14)
    chart = chart.configure_legend(labelFontSize=17 if big else 13, symbolSize=200 if big else 100)
    return chart.configure_title(fontSize=21 if big else 16).to_dict(validate=False)
