"""Live charts: the nets' training drawn while they train, before the page's own charts.

`ui.run(fn, config, live=draw)` calls `draw(update)` after every chunk of training (see
`ui.panels.run` for the contract). This module has drawers any page can pass today, built from
the runner's partial results (`update.runs`), so an experiment needs no change to go live:

    result = ui.run(exp.run_playground, config, live=live.training_curves())

Each drawing replaces the previous one in a placeholder that empties when the result is in (the
page then draws its final charts). A drawer may keep state across updates: `training_curves`
keeps the curves of nets trained earlier in the same run (BN first, then plain) on the chart.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from ui.panels import live_chart

MAX_LINES = 12  # more runs than this (a grid): the median over runs, per variant


def variant_of(config) -> str:
    """A runner job's variant name in the shared palette (`bnjax.charts.STYLE`)."""
    if config.spec.norm == "layer":
        return "LayerNorm"
    bn = config.spec.bn
    if config.stochastic in (True, "noise"):
        return "noisy BN" if bn else "noisy plain"
    if config.stochastic == "dropout" and not bn:
        return "dropout"
    return "BN" if bn else "plain"


def _frame(result, window: int) -> pd.DataFrame:
    """Window means of the training loss of every run, up to the steps all runs have done."""
    done = int(result.steps_done.min())
    n = done // window
    if n == 0:
        return pd.DataFrame({"step": [], "seed": [], "loss": []})
    loss = result.loss[:, :n * window].reshape(len(result.seeds), n, window)
    with np.errstate(invalid="ignore"):
        means = np.nanmean(loss, axis=2) if np.isfinite(loss).any() else loss.mean(2)
    steps = (np.arange(n) + 1) * window
    if len(result.seeds) > MAX_LINES:  # a grid: one line, the median run
        with np.errstate(invalid="ignore"):
            return pd.DataFrame({"step": steps, "seed": "median", "loss": np.nanmedian(means, 0)})
    return pd.DataFrame({"step": np.tile(steps, len(result.seeds)),
                         "seed": np.repeat([str(s) for s in result.seeds], n),
                         "loss": means.ravel()})


def training_curves(title: str = "Training loss, live (each line a seed)",
                    window: int = 10, height: int = 300) -> Callable:
    """A `live=` drawer: every net's training loss (window means of `window` steps), one colour
    and dash per variant, one line per seed, growing chunk by chunk; `height` in pixels."""
    from bnjax.charts import variant_color, variant_dash  # altair: loaded when drawing

    import altair as alt

    kept: dict = {}  # (job name, config) -> its latest frame

    def draw(update) -> None:
        if not update.runs:
            return
        for name, result in update.runs.items():
            frame = _frame(result, window)
            frame["variant"] = variant_of(result.config)
            frame["line"] = f"{name}/" + frame["seed"].astype(str)  # one line per job and seed
            kept[(name, result.config)] = frame
        df = pd.concat(kept.values(), ignore_index=True).dropna()
        if df.empty:
            st.caption(f"{update.message}: the first curves appear after {window} steps.")
            return
        variants = list(dict.fromkeys(df["variant"]))
        chart = (alt.Chart(df, title=title).mark_line().encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y("loss:Q", title="training loss", scale=alt.Scale(type="log")),
            color=variant_color(domain=variants), strokeDash=variant_dash(domain=variants),
            detail="line:N").properties(height=height))
        live_chart(chart)
        st.caption(f"Live: {update.message}. The full results follow when training ends.")

    return draw
