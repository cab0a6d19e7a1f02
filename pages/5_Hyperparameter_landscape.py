"""Page 5: "batch norm makes hyperparameter search easier: is it only faster?" (4a to 4d)."""
import streamlit as st

import ui
from bnjax.charts import landscape as charts
from bnjax.experiments import landscape as exp

ui.frame("Hyperparameter landscape")
st.title("Hyperparameter landscape: easier search, or only faster training?")
ui.lede("Does batch norm make hyperparameter search easier, or only faster?",
        "With batch norm the search over hyperparameters becomes much easier: the network is "
        "far more robust to the choice of learning rate and initialization.",
        "We train a whole grid of networks, with and without BN, on the same seeds and "
        "batches, and look at where training works. Then three follow-ups: why BN's good "
        "region runs diagonally (4b), whether BN is simply faster (4c), and what the loss looks "
        "like along the gradient (4d).")

d = exp.LandscapeConfig()
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
                            format_func=lr_fmt, container=c3),
    lr_max=ui.select_slider("Largest learning rate", "lr_max", exp.LR_LADDER, d.lr_max,
                            format_func=lr_fmt, container=c3),
    gain_min=ui.select_slider("Smallest init gain", "gain_min", exp.GAIN_LADDER, d.gain_min,
                              format_func=lr_fmt, container=c4,
                              help="The hidden layers' He-normal weights times this gain."),
    gain_max=ui.select_slider("Largest init gain", "gain_max", exp.GAIN_LADDER, d.gain_max,
                              format_func=lr_fmt, container=c4),
    n_seeds=ui.slider("Seeds per cell", "n_seeds", min_value=1, max_value=3, default=d.n_seeds,
                      container=c1),
    seed=ui.seed(d.seed, container=c2),
)
ui.presets(exp.PRESETS, d, container=controls)
config, note = exp.within_budget(config)
if note:
    st.warning(note, icon=":material/timer:")

result = ui.run(exp.run_landscape, config, what="Landscape")
if result is None:
    st.stop()
s = result.summary

# ---------------------------------------------------------------------------- 4a
st.header("4a · Where does training work?")
ui.explain(f"Each cell: test accuracy after {config.steps} steps, mean over "
           f"{config.n_seeds} seed(s); outlined cells reach 90%; ✕ marks a cell whose runs all "
           f"diverged (counted as accuracy 0). **Click a cell** to see its training curves.")
event = ui.chart(charts.heatmap_chart(result.cells), key="cell_pick", on_select="rerun",
                 selection_mode=charts.CELL)
picked = ((event or {}).get("selection", {}).get(charts.CELL) or [{}])[0]
lr0, gain0 = exp.default_cell(config)
cell_lr, cell_gain = picked.get("lr", lr0), picked.get("gain", gain0)
ui.chart(charts.cell_curves_chart(result.curves, cell_lr, cell_gain))
st.caption(f"Showing the cell lr {cell_lr:g}, gain {cell_gain:g}"
           + ("" if picked else " (click a cell of the heat map to pick another)") + ".")
ui.diverged_note([f"{int(s['diverged_cells_' + k])} {v} cell(s) with a diverged run"
                  for k, v in (("bn", "BN"), ("plain", "plain")) if s["diverged_cells_" + k]])
n = int(s["n_cells"])
more = s["good_cells_bn"] >= 2 * s["good_cells_plain"]
measured = [f"Cells reaching 90% test accuracy: **BN {int(s['good_cells_bn'])} of {n}**, "
            f"**plain {int(s['good_cells_plain'])} of {n}**"
            + (" (at least twice as many with BN)." if more else "."),
            f"Best cell: BN {s['best_acc_bn']:.1%}, plain {s['best_acc_plain']:.1%}."]
if "acc_lr1_gain1_bn" in s:
    measured.append(f"At learning rate 1, gain 1: BN {s['acc_lr1_gain1_bn']:.1%}, plain "
                    f"{s['acc_lr1_gain1_plain']:.1%}.")
ui.verdict(
    "BN makes the network far less sensitive to the learning rate and the initialization.",
    measured,
    "Ioffe & Szegedy (2015) trained with 30x larger learning rates with BN and less care at "
    "initialization; Bjorck et al. (2018) find the extra learning rates BN tolerates are the "
    "main source of its benefit.")

# ---------------------------------------------------------------------------- 4b
st.header("4b · Why the good region runs diagonally: the effective learning rate")
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
eff = ui.run(exp.run_effective_lr, econfig, what="Effective learning rate")
if eff is not None:
    es = eff.summary
    left, mid, right = st.columns(3)
    with left:
        ui.chart(charts.effective_loss_chart(eff.curves))
    with mid:
        ui.chart(charts.rel_diff_chart(eff.curves))
    with right:
        ui.chart(charts.norm_chart(eff.norms))
    exact = es["effective_lr_max_rel_diff"] == 0
    ui.verdict(
        "BN makes a layer invariant to the scale of its weights.",
        [f"With ε·c² (c = {es['c']:g}) the largest relative difference between the two loss "
         f"curves over all steps is **{es['effective_lr_max_rel_diff']:.1e}**"
         + (": the same run, bit for bit." if exact else
            ": float rounding, amplified by chaotic training, separates them."),
         (f"With a fixed ε the curves differ by more than 0.1% from step "
          f"{es['effective_lr_fixed_eps_first_step_1e3']:.0f} and by up to "
          f"{es['effective_lr_fixed_eps_rel_diff_100']:.1e} (relative) in the first 100 steps"
          if es["effective_lr_fixed_eps_first_step_1e3"] > 0 else
          f"With a fixed ε the curves never differ by more than 0.1% here (largest "
          f"{es['effective_lr_fixed_eps_max_rel_diff']:.1e})")
         + f"; final losses {es['final_loss_a']:.3f} (A) vs {es['final_loss_fixed_eps']:.3f}.",
         "Same function, not the same trajectory: a larger init behaves like a smaller "
         "learning rate, so BN's good cells in 4a slide to larger lr as the gain grows."],
        "Ioffe & Szegedy (2015), Sec. 3.3: BN(aW u) = BN(W u), and larger weights get smaller "
        "gradients. Arora et al. (2019) prove the effective learning rate η/‖w‖² adapts on its "
        "own, so BN trains with a wide range of learning rates.")

# ---------------------------------------------------------------------------- 4c
st.header("4c · Only faster?")
fast = ui.run(exp.run_faster, fconfig, what="Learning-rate sweep")
if fast is not None:
    fs = fast.summary
    left, right = st.columns(2)
    with left:
        ui.chart(charts.matched_chart(fast.curves, fs["match_lr"]))
    with right:
        ui.chart(charts.steps_chart(fast.sweep, fconfig.steps))
    ui.chart(charts.status_chart(fast.sweep))
    ui.verdict(
        "BN trains faster.",
        [f"At the same small learning rate ({fs['match_lr']:.3g}) the mean training loss over "
         f"steps 100–350 is {fs['match_loss_plain']:.3f} plain vs {fs['match_loss_bn']:.3f} "
         f"BN: " + ("plain is as fast or faster." if fs["match_loss_plain"] <= fs["match_loss_bn"]
                    else "BN is faster here."),
         f"Largest learning rate that still learns: **{fs['max_stable_lr_bn']:.3g} BN vs "
         f"{fs['max_stable_lr_plain']:.3g} plain** ({fs['stable_lr_ratio']:.1f}x).",
         f"Largest that stays finite: {fs['max_finite_lr_bn']:.3g} BN vs "
         f"{fs['max_finite_lr_plain']:.3g} plain ({fs['finite_lr_ratio']:.0f}x): beyond "
         f"{fs['max_stable_lr_bn']:.3g}, BN stays finite but stops learning.",
         f"Fewest steps to 90% test accuracy over the sweep: **{fs['fewest_steps_bn']:.0f} BN** "
         f"(at lr {fs['fastest_lr_bn']:.3g}) vs **{fs['fewest_steps_plain']:.0f} plain** (at lr "
         f"{fs['fastest_lr_plain']:.3g}), measured every 10 steps."],
        "Bjorck et al. (2018), *Understanding batch normalization*: at equal learning rates BN "
        "and no-BN train similarly; BN's speed and accuracy come from the much larger learning "
        "rates it allows, where unnormalized nets' activations explode with depth.")

# ---------------------------------------------------------------------------- 4d
st.header("4d · Smoother along the gradient?")
smooth = ui.run(exp.run_smoothness, sconfig, what="Smoothness probes")
if smooth is not None:
    ss = smooth.summary
    ui.explain(f"Every {sconfig.every} steps (SGD, lr {sconfig.lr:g}), we step along the "
               f"current gradient g with sizes {sconfig.s_min:g} to {sconfig.s_max:g} and "
               f"measure the spread of the loss, how much the gradient changes, and that "
               f"change per unit of distance (effective β). Bands: min to max over step sizes "
               f"and {sconfig.n_seeds} seeds.")
    ui.chart(charts.smoothness_chart(smooth.bands))
    ui.verdict(
        "(The lecture does not say why; it credits reduced covariate shift.)",
        [f"Loss range along the gradient: plain {ss['loss_range_plain']:.3f} vs BN "
         f"{ss['loss_range_bn']:.3f} (**{ss['loss_range_ratio']:.0f}x**).",
         f"Gradient change: plain {ss['grad_change_plain']:.2f} vs BN "
         f"{ss['grad_change_bn']:.2f} ({ss['grad_change_ratio']:.1f}x); effective β "
         f"{ss['beta_plain']:.1f} vs {ss['beta_bn']:.1f} ({ss['beta_ratio']:.1f}x)."],
        "Santurkar et al. (2018), *How does batch normalization help optimization?*, Fig. 4: "
        "with BN the loss changes less and the gradient is more predictive along the gradient "
        "direction, which lets larger steps work.")

ui.show_code(exp.run_landscape, exp.train_grid)
