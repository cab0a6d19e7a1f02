"""Page 1: what batch norm computes on a real mini-batch, and what changes at test time."""
import streamlit as st

import ui
from bnjax.charts import basics as charts
from bnjax.experiments import basics as exp
from bnjax.nn import batchnorm_apply

ui.frame("BatchNorm basics")
st.title("BatchNorm basics: one real batch, step by step, and what changes at test time")
ui.lede("What does batch norm compute on a real batch, and what changes at test time?",
        "Batch norm normalizes each unit with the mean and variance of the mini-batch, then "
        "scales by γ and shifts by β; at test time it uses running averages of those statistics "
        "instead.",
        "A small network with batch norm before every ReLU is trained on the digits data while "
        "you wait. Below, one of its real training mini-batches goes through one BN unit, one "
        "step at a time; then the same trained network is tested with every choice of "
        "statistics there is.")

d = exp.BasicsConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.BasicsConfig(
    depth=ui.slider("Hidden layers", "depth", min_value=1, max_value=8, default=d.depth,
                    container=c1),
    lr=ui.select_slider("Learning rate", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0], d.lr,
                        container=c2, help="SGD with momentum 0.9."),
    batch_size=ui.select("Training batch size", "batch_size", [16, 32, 64, 128], d.batch_size,
                         container=c3, help="Also the size of the batch shown step by step."),
    steps=ui.select_slider("Training steps", "steps", [100, 200, 300, 500, 1000, 2000], d.steps,
                           container=c4, help="A short run leaves the slow running averages "
                                              "behind."),
    seed=ui.seed(d.seed, container=c1),
)
ui.presets(exp.PRESETS, d, container=controls)

result = ui.run(exp.run_basics, config)
if result is None:
    st.stop()
s = result.summary
ui.diverged_note(["the BN net"] if result.diverged else [])

# ---------------------------------------------------------------------------- one batch
st.subheader("One mini-batch through one BN unit")
f1, f2, f3, f4 = st.columns([1, 1.4, 1.1, 0.9])  # the variance needs the room
f1.latex(r"\mu_B = \frac{1}{m}\sum_{i=1}^{m} z_i")
f2.latex(r"\sigma_B^2 = \frac{1}{m}\sum_{i=1}^{m} (z_i - \mu_B)^2")
f3.latex(r"\hat{x}_i = \frac{z_i - \mu_B}{\sqrt{\sigma_B^2 + \varepsilon}}")
f4.latex(r"y_i = \gamma\,\hat{x}_i + \beta")
ui.explain(f"Here *m* = {config.batch_size} training examples and ε = {result.bn['eps']:g}. γ "
           "and β are learned, one pair per unit; the sliders set them for the last step (the "
           "values training learned are under the chart). Point at a dot to follow one example "
           "through every step.")
p1, p2, p3, p4 = st.columns(4)
layer = ui.slider("Hidden layer", "layer", min_value=1, max_value=config.depth, default=1,
                  container=p1)
unit = ui.slider("Unit", "unit", min_value=0, max_value=config.width - 1, default=0,
                 container=p2)
gamma = ui.slider("γ", "gamma", min_value=-3.0, max_value=3.0, default=1.0, step=0.1,
                  container=p3, help="The scale of the last step (1 at initialization).")
beta = ui.slider("β", "beta", min_value=-3.0, max_value=3.0, default=0.0, step=0.1,
                 container=p4, help="The shift of the last step (0 at initialization).")
steps = exp.bn_steps(result, layer, unit, gamma, beta)
ui.chart(charts.bn_steps_chart(steps), key="bn_steps")
ui.explain(
    f"Layer {layer}, unit {unit}: this batch's mean is μ_B = {steps.mean:.3f} and its variance "
    f"σ²_B = {steps.var:.3f} (the mean of the third panel). After subtracting and dividing, x̂ "
    "has mean 0 and variance 1 whatever z looked like. The last step is yours: γ stretches, β "
    f"shifts. Training learned γ = {steps.gamma_trained:.3f} and β = {steps.beta_trained:.3f} "
    f"for this unit; set γ = {steps.std:.2f} and β = {steps.mean:.2f} and the last panel equals "
    "the first: batch norm can undo itself if that is what the loss wants.")

# ---------------------------------------------------------------------------- train vs eval
st.subheader("Train mode vs eval mode: where the statistics come from")
left, right = st.columns([3, 2])
with left:
    ui.chart(charts.accuracy_chart(result.accuracy, s["chance"]), key="accuracy")
with right:
    st.markdown("**Running averages**, updated at every training step, used in eval mode:")
    st.latex(r"\mu_{\mathrm{run}} \leftarrow d\,\mu_{\mathrm{run}} + (1-d)\,\mu_B")
    st.latex(r"\sigma^2_{\mathrm{run}} \leftarrow d\,\sigma^2_{\mathrm{run}} + (1-d)\,\sigma^2_B")
    ui.explain("*d* is the **decay**: the weight of the old value. PyTorch calls 1 − d its "
               "`momentum` (default 0.1, i.e. d = 0.9); Keras and Flax call d itself `momentum` "
               "(0.99). A running average remembers about 1/(1 − d) steps: 10, 100, 1000. They "
               "start at mean 0 and variance 1.")
    ui.explain(
        f"**Batch size 1 in train mode:** z equals its own batch mean, so x̂ = 0 and every unit "
        f"outputs its β: every test image gets the same prediction, {s['acc_train_batch1']:.1%} "
        f"accuracy (always guessing the commonest digit scores at most {s['chance']:.1%}). With "
        f"test batches of 8: {s['acc_train_batch8']:.1%}; of 64: {s['acc_train_batch64']:.1%}; "
        f"the whole test set: {s['acc_train_full']:.1%}.")

st.subheader("The running averages close in on the population statistics")
ui.chart(charts.ema_gap_chart(result.ema_gap), key="ema_gap")
ui.explain(
    "Left: how much x̂ changes (root mean square over the training set) when a running average "
    "replaces the statistics of the whole training set. Right: test accuracy in eval mode with "
    f"each. After {int(s['steps'])} steps the decay-0.999 average is still "
    f"{s['ema_gap_0.999']:.3f} away (decay 0.99: {s['ema_gap_0.99']:.3f}, decay 0.9: "
    f"{s['ema_gap_0.9']:.3f}). Try the 2000-step preset.")


def _pct(v: float) -> str:
    return "n/a (diverged)" if v != v else f"{v:.1%}"


ui.verdict(
    "At training time BN uses the batch's mean and variance; at test time it uses averages "
    "collected during training, so a prediction does not depend on the other test examples.",
    [f"Train mode, test batch of 1: {_pct(s['acc_train_batch1'])} (chance "
     f"{_pct(s['chance'])}); of 8: {_pct(s['acc_train_batch8'])}; whole test set: "
     f"{_pct(s['acc_train_full'])}.",
     f"Eval mode, running averages with decay 0.9 / 0.99 / 0.999: "
     f"{_pct(s['acc_eval_ema_0.9'])} / {_pct(s['acc_eval_ema_0.99'])} / "
     f"{_pct(s['acc_eval_ema_0.999'])} after {int(s['steps'])} steps; population statistics "
     f"of the training set: {_pct(s['acc_eval_population'])}.",
     (f"The slow average has not caught up yet: with decay 0.999 eval mode loses "
      f"{s['ema_lag_0.999']:.1%} against the population statistics."
      if s["ema_lag_0.999"] > 0.01 else
      f"Even the slowest average (decay 0.999) is within {s['ema_lag_0.999']:.1%} of the "
      "population statistics' accuracy."),
     ("Shuffling the test set and splitting it into batches leaves eval-mode logits "
      + ("bit for bit identical" if s["logit_diff_eval"] == 0
         else f"within {s['logit_diff_eval']:.1g}")
      + f" and moves train-mode logits by up to {s['logit_diff_train']:.2f}.")],
    "Ioffe & Szegedy (2015, Sec. 3.1 and Alg. 2) replace the batch statistics by population "
    "statistics at inference, which makes the output a deterministic function of the input; "
    "in practice frameworks use running averages. Wu & Johnson (2021, *Rethinking “Batch” in "
    "BatchNorm*) show that running averages can be inaccurate when the weights move fast or the "
    "decay is slow, and recommend recomputing population statistics after training (\"precise "
    "BN\"), as Karpathy's *makemore part 3* lecture does. Ioffe (2017, *Batch Renormalization*) "
    "attacks the small-batch train/test mismatch seen in the test-batch-1 and -8 bars.")
ui.show_code(batchnorm_apply, exp.bn_steps)
