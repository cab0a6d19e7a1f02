"""Page 5: "batch norm makes hyperparameter search easier: is it only faster?" (4a to 4d)."""
import streamlit as st

import ui
from ui import live
from bnjax.charts import landscape as charts
from bnjax.experiments import landscape as exp
from bnjax.narration import landscape as say


def show(chart, **kw):
    """`ui.chart`, with the subtitle (the chart's numbers) at lecture size in lecture mode."""
    return ui.chart(charts.for_lecture(chart, ui.lecture_mode()), **kw)


def words(*names: str) -> str:
    """The glossary's definitions of `names`, for a header's help tooltip."""
    return "\n\n".join(f"**{n}**: {ui.term(n)}" for n in names)


ui.frame("Hyperparameter landscape")
st.title("Hyperparameter landscape")
answer = ui.lede(
    "Does batch norm make hyperparameter search easier, or only faster?",
    "With batch norm the search over hyperparameters becomes much easier: the network is "
    "far more robust to the choice of learning rate and initialization.",
    "We train a whole grid of networks, with and without BN, on the same seeds and "
    "batches, and look at where training works (4a). Then three follow-ups: why BN's good "
    "region runs diagonally (4b), whether BN is simply faster (4c), and what the loss looks "
    "like along the gradient (4d).")

d = exp.LandscapeConfig()
# lecture mode: the heat maps sit right under the short answer, above the folded controls
first = st.container() if ui.lecture_mode() else None
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
lr_fmt = lambda v: f"{v:g}"  # noqa: E731
config = exp.LandscapeConfig(
    depth=ui.select("Hidden layers", "depth", [2, 3, 4, 6, 8, 10], d.depth, container=c1),
    width=ui.select("Units per layer", "width", [32, 64, 128], d.width, container=c1),
    steps=ui.select("Training steps", "steps", [100, 250, 500, 1000, 2000], d.steps,
                    container=c2),
    optimizer=ui.select("Optimizer", "optimizer", ["sgd", "momentum", "adam"], d.optimizer,
                        format_func=str, container=c2,
                        help="sgd: plain SGD; momentum: SGD with momentum 0.9; adam: Adam."),
    lr_min=ui.select_slider("Smallest learning rate", "lr_min", exp.LR_LADDER, d.lr_min,
                            format_func=lr_fmt, container=c3, help=ui.term("learning rate")),
    lr_max=ui.select_slider("Largest learning rate", "lr_max", exp.LR_LADDER, d.lr_max,
                            format_func=lr_fmt, container=c3),
    gain_min=ui.select_slider("Smallest init gain", "gain_min", exp.GAIN_LADDER, d.gain_min,
                              format_func=lr_fmt, container=c4, help=ui.term("init gain")),
    gain_max=ui.select_slider("Largest init gain", "gain_max", exp.GAIN_LADDER, d.gain_max,
                              format_func=lr_fmt, container=c4),
    n_seeds=ui.slider("Seeds per cell", "n_seeds", min_value=1, max_value=3, default=d.n_seeds,
                      container=c1, help=ui.term("seed")),
    seed=ui.seed(d.seed, container=c2),
)
ui.presets(exp.PRESETS, d, container=controls)
config, note = exp.within_budget(config)
if note:
    st.warning(note, icon=":material/timer:")

grid_lrs, grid_gains = exp.grid_axes(config)


def live_grid(update):
    """While the grid trains: the heat maps cell by cell, as each cell's nets finish (before
    the first cell, the median training loss of the nets training)."""
    cells = getattr(update.partial, "cells", None)
    if cells is None or cells.empty:
        curves = exp.grid_live_curves(update.runs or {})
        if len(curves) and curves["loss"].notna().any():
            ui.live_chart(charts.matched_chart(
                curves, 0.0, title="Training loss, live: the median of the grid's first nets"))
            st.caption(f"Live: {update.message}. The heat maps fill in as the nets finish.")
        return
    ui.live_chart(charts.heatmap_chart(
        cells, axes=(grid_lrs, grid_gains),
        title=f"Test accuracy after {config.steps} steps, cell by cell as the nets finish"))
    st.caption(f"Live: {update.message}. The full page follows when the grid is trained.")


with first or st.container():
    result = ui.run(exp.run_landscape, config, what="Landscape", live=live_grid)
if result is None:
    st.stop()
s = result.summary
ui.short_answer(answer, say.short_answer(result))

# ---------------------------------------------------------------------------- 4a
with first or st.container():
    st.header("4a · Where does training work?",
              help=words("learning rate", "init gain", "good cell", "diverged"))
    ui.explain(f"Each cell: test accuracy after {config.steps} steps, mean over "
               f"{config.n_seeds} seed(s); outlined cells reach 90%; ✕ marks a cell whose runs "
               f"all diverged (counted as accuracy 0). **Click a cell** to see its training "
               f"curves.")
    title = say.grid_title(result)
    if ui.lecture_mode():  # the first screen's room goes to the maps (the lecturer explains)
        title.pop("subtitle")
    event = show(charts.heatmap_chart(result.cells, title=title),
                     key="cell_pick", on_select="rerun", selection_mode=charts.CELL)
picked = ((event or {}).get("selection", {}).get(charts.CELL) or [{}])[0]
lr0, gain0 = exp.default_cell(config)
cell_lr, cell_gain = picked.get("lr", lr0), picked.get("gain", gain0)
show(charts.cell_curves_chart(result.curves, cell_lr, cell_gain))
st.caption(f"Showing the cell lr {cell_lr:g}, gain {cell_gain:g}"
           + ("" if picked else " (click a cell of the heat map to pick another)") + ".")
ui.diverged_note([f"{int(s['diverged_cells_' + k])} {v} cell(s) with a diverged run"
                  for k, v in (("bn", "BN"), ("plain", "plain")) if s["diverged_cells_" + k]])
ui.verdict(
    "BN makes the network far less sensitive to the learning rate and the initialization.",
    say.grid_lines(result),
    "Ioffe & Szegedy (2015) trained with 30x larger learning rates with BN and less care at "
    "initialization; Bjorck et al. (2018) find the extra learning rates BN tolerates are the "
    "main source of its benefit.")

# ---------------------------------------------------------------------------- 4b
st.header("4b · Why the good region runs diagonally: the effective learning rate",
          help=words("effective learning rate", "ε", "init gain"))
ui.explain("BN divides each unit by its batch standard deviation, so scaling a hidden weight "
           "matrix W by c changes nothing the net computes, while its gradient shrinks by 1/c. "
           "Run B starts with c·W and gives the hidden W the learning rate c²·η: step for step "
           "it is run A, scaled. It is *exact* only if BN's ε scales by c² too.")
e1, e2 = st.columns(2)
de = exp.EffectiveLrConfig()
econfig, fconfig, sconfig = exp.follow(
    config,
    c=ui.select("Scale c of the hidden W", "c", [0.5, 2.0, 3.0], de.c, format_func=lr_fmt,
                container=e1),
    lr=ui.select_slider("Learning rate η (SGD)", "elr", [0.05, 0.1, 0.5, 1.0], de.lr,
                        format_func=lr_fmt, container=e2))
eff = ui.run(exp.run_effective_lr, econfig, what="Effective learning rate",
             live=live.training_curves(title="Training loss, live: run A and the two runs B"))
if eff is not None:
    titles = say.effective_titles(eff)
    left, mid, right = st.columns(3)
    with left:
        show(charts.effective_loss_chart(eff.curves, title=titles["loss"]))
    with mid:
        show(charts.rel_diff_chart(eff.curves, title=titles["rel"]))
    with right:
        show(charts.norm_chart(eff.norms, title=titles["norm"]))
    ui.verdict(
        "BN makes a layer invariant to the scale of its weights.",
        say.effective_lines(eff, econfig.seed),
        "Ioffe & Szegedy (2015), Sec. 3.3: BN(aW u) = BN(W u), and larger weights get smaller "
        "gradients. Arora et al. (2019) prove the effective learning rate η/‖w‖² adapts on its "
        "own, so BN trains with a wide range of learning rates.")

# ---------------------------------------------------------------------------- 4c
st.header("4c · Only faster?", help=words("matched learning rate", "largest lr that learns",
                                          "largest lr that stays finite", "diverged"))
ui.explain(f"A finer sweep: {fconfig.n_lrs} learning rates from {fconfig.lr_min:g} to "
           f"{fconfig.lr_max:g} at init gain {fconfig.gain:g}, {fconfig.steps} steps, seed "
           f"{fconfig.seed} (one seed, to stay within the page's time budget). A run *learns* "
           f"when its final training loss is below half its first; the largest learning rate "
           f"that learns counts only if every smaller one learns too, so a lucky run above a "
           f"failure does not move it.")
def live_matched(update):
    """While the sweep trains: the curves at the matched small lr, growing."""
    p = update.partial
    if p is None or p.curves.empty or not p.curves["loss"].notna().any():
        return
    ui.live_chart(charts.matched_chart(p.curves, p.summary["match_lr"],
                                       title="Same small learning rate, live"))
    st.caption(f"Live: {update.message}.")


fast = ui.run(exp.run_faster, fconfig, what="Learning-rate sweep", live=live_matched)
if fast is not None:
    fs = fast.summary
    titles = say.faster_titles(fast)
    if fs["match_lr"] != s["match_lr"]:  # two small learning rates on one page: say why
        ui.explain(f"The short answer compares BN and plain at 4a's small learning rate "
                   f"({say.lr_text(s['match_lr'])}, the grid's nets and seeds); this sweep "
                   f"compares them at its own ({say.lr_text(fs['match_lr'])}, seed "
                   f"{fconfig.seed}, {fconfig.steps} steps).")
    left, right = st.columns(2)
    with left:
        show(charts.matched_chart(fast.curves, fs["match_lr"],
                                      (fs["match_window_start"], fs["match_window_end"]),
                                      title=titles["matched"]))
    with right:
        show(charts.steps_chart(fast.sweep, fconfig.steps, title=titles["steps"]))
    show(charts.status_chart(fast.sweep, fast.seeds, title=titles["status"]))
    ui.verdict(
        "BN trains faster.",
        say.faster_lines(fast, fconfig.seed),
        "Bjorck et al. (2018), *Understanding batch normalization*: at equal learning rates BN "
        "and no-BN train similarly; BN's speed and accuracy come from the much larger learning "
        "rates it allows, where unnormalized nets' activations explode with depth.")

# ---------------------------------------------------------------------------- 4d
st.header("4d · Smoother along the gradient?",
          help=words("loss range", "gradient change", "gradient change per unit distance",
                     "crossing step"))
def live_smooth(update):
    """While the 4d nets train: the measures along the gradient, probe by probe."""
    p = update.partial
    if p is None or p.bands.empty:
        return
    ui.live_chart(charts.smoothness_chart(p.bands, title="Along the gradient, live"))
    st.caption(f"Live: {update.message}.")


smooth = ui.run(exp.run_smoothness, sconfig, what="Smoothness probes", live=live_smooth)
if smooth is not None:
    ui.explain(f"Every {sconfig.every} steps (SGD, lr {sconfig.lr:g}, {sconfig.n_seeds} seeds), "
               f"we step along the current gradient g with sizes {sconfig.s_min:g} to "
               f"{sconfig.s_max:g} and measure how much the loss varies (loss range), how much "
               f"the gradient changes (gradient change), and that change per unit of distance "
               f"(gradient change per unit distance, Santurkar et al.'s smoothness constant). "
               f"Smaller is smoother. Where plain's curve crosses BN's, the ratios are given "
               f"before and after the crossing step (typical values: geometric means over the "
               f"probes).")
    show(charts.smoothness_chart(
        smooth.bands, {m: smooth.summary[f"{k}_cross_step"] for m, k in say.STEMS.items()},
        {m: say.smooth_panel(smooth, m) for m in say.STEMS}, title=say.smooth_title(smooth)))
    ui.verdict(
        "(The lecture does not say why; it credits reduced covariate shift.)",
        say.smooth_lines(smooth),
        "Santurkar et al. (2018), *How does batch normalization help optimization?*, Fig. 4: "
        "with BN the loss changes less and the gradient is more predictive along the gradient "
        "direction, which lets larger steps work.")

ui.glossary("learning rate", "init gain", "good cell", "diverged", "seed spread",
            "effective learning rate", "ε", "matched learning rate", "largest lr that learns",
            "largest lr that stays finite", "loss range", "gradient change",
            "gradient change per unit distance", "crossing step")
ui.show_code(exp.run_landscape, exp.grid_jobs)
