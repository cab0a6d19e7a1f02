"""Page 1: what batch norm computes on a real mini-batch, and what changes at test time."""
import math

import streamlit as st

import ui
from bnjax.charts import basics as charts
from bnjax.experiments import basics as exp
from bnjax.narration import basics as say

WORDS = ("batch norm (BN)", "mini-batch", "pre-activation", "μ_B and σ²_B", "x̂", "ε",
         "γ and β", "train mode", "eval mode", "running statistics", "EMA", "decay",
         "population statistics", "logits", "test accuracy", "chance", "seed spread")

ui.frame("BatchNorm basics")
st.title("BatchNorm basics")
answer = ui.lede(
    "What does batch norm compute, and what changes at test time?",
    "Batch norm normalizes each unit with the mean and variance of the mini-batch, then "
    "scales by γ and shifts by β; at test time it uses running averages of those statistics "
    "instead.",
    "Small networks with batch norm before every ReLU train on the digits data while you "
    "wait, one per seed. Below, one real training mini-batch goes through one BN unit, one "
    "step at a time; then the trained networks are tested with every choice of statistics "
    "there is.")

d = exp.BasicsConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.BasicsConfig(
    depth=ui.slider("Hidden layers", "depth", min_value=1, max_value=8, default=d.depth,
                    container=c1),
    lr=ui.select_slider("Learning rate", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0], d.lr,
                        container=c2, help="SGD with momentum 0.9. " + ui.term("learning rate")),
    batch_size=ui.select("Training batch size", "batch_size", [16, 32, 64, 128], d.batch_size,
                         container=c3, help="Also the size of the batch shown step by step."),
    steps=ui.select_slider("Training steps", "steps", [100, 200, 300, 500, 1000, 2000], d.steps,
                           container=c4, help="A short run leaves the slow running averages "
                                              "behind."),
    seed=ui.seed(d.seed, container=c1),
)
c2.caption(f"Seeds {config.seeds[0]} to {config.seeds[-1]} train side by side; the batch "
           f"shown is seed {config.seed}'s.")
ui.presets(exp.PRESETS, d, container=controls)
note = st.container()  # a diverged net is said here, once the result is in
lecture = ui.lecture_mode()
if not lecture:
    ui.glossary(*WORDS)


def formulas():
    f1, f2, f3, f4 = st.columns([1, 1.4, 1.1, 0.9])  # the variance needs the room
    f1.latex(r"\mu_B = \frac{1}{m}\sum_{i=1}^{m} z_i")
    f2.latex(r"\sigma_B^2 = \frac{1}{m}\sum_{i=1}^{m} (z_i - \mu_B)^2")
    f3.latex(r"\hat{x}_i = \frac{z_i - \mu_B}{\sqrt{\sigma_B^2 + \varepsilon}}")
    f4.latex(r"y_i = \gamma\,\hat{x}_i + \beta")


# ---------------------------------------------------------------------------- the answer's chart
# The two numbers the short answer quotes, right under it (in lecture mode, on the first screen).
# While the nets train, the batch below is drawn here live, step by step.
if not lecture:
    st.subheader("At test time: the training set's statistics, or the image's own?")
headline = st.container()

# ---------------------------------------------------------------------------- one batch
st.subheader("One mini-batch through one BN unit")
formulas()
ui.explain(f"Here *m* = {config.batch_size} training examples (a mini-batch), *z* is a unit's "
           f"pre-activation, and ε = {exp.spec_of(config).eps:g} keeps the division safe. γ "
           "and β are learned, one pair per unit; the sliders under the chart set them for the "
           "last step (the values training learned are given below it). Point at a dot to "
           "follow one example through every step.")
steps_slot = st.container()
p1, p2, p3, p4 = st.columns(4)
layer = ui.slider("Hidden layer", "layer", min_value=1, max_value=config.depth, default=1,
                  container=p1)
unit = ui.slider("Unit", "unit", min_value=0, max_value=config.width - 1, default=0,
                 container=p2)
gamma = ui.slider("γ", "gamma", min_value=-3.0, max_value=3.0, default=1.0, step=0.1,
                  container=p3, help="The scale of the last step (1 at initialization). "
                                     + ui.term("γ and β"))
beta = ui.slider("β", "beta", min_value=-3.0, max_value=3.0, default=0.0, step=0.1,
                 container=p4, help="The shift of the last step (0 at initialization).")


def steps_chart(result):
    """The step-by-step chart, for a finished or a partial result (the net as trained so far)."""
    steps = exp.bn_steps(result, layer, unit, gamma, beta)
    return steps, charts.bn_steps_chart(
        steps, height=190 if lecture else 240, panel_width=115 if lecture else 125,
        title=say.steps_title(layer, unit, config.batch_size, config.seed, steps.mean,
                              steps.var, explain=not lecture))


drawn = {}  # the live chart's spec per partial result: a report with no news redraws it


def live(update):
    """While the nets train: the shown batch through the first seed's net as it is now."""
    partial = update.partial
    if partial is None:
        return
    if partial.step not in drawn:
        steps, chart = steps_chart(partial)
        if not math.isfinite(steps.var):  # nothing measured yet
            return
        big = lecture
        drawn.clear()
        drawn[partial.step] = chart.configure_axis(
            labelFontSize=17 if big else 13, titleFontSize=19 if big else 14).configure_title(
            fontSize=21 if big else 16).to_dict(validate=False)
    ui.live_chart(drawn[partial.step])
    st.caption(f"Live: seed {config.seed}'s net after {partial.step} of {config.steps} training "
               "steps, one mini-batch through one BN unit. The test-time accuracies follow "
               "when training ends.")


with headline:
    result = ui.run(exp.run_basics, config, live=live)
if result is None:
    st.stop()
s, ps = result.summary, result.per_seed
ui.short_answer(answer, say.short_answer(ps, s["chance"]))
with note:
    ui.diverged_note([f"the net of seed {int(seed)}" for seed in ps[ps["diverged"]]["seed"]])
with headline:
    ui.chart(charts.accuracy_chart(result.accuracy, s["chance"],
                                   say.headline_title(ps, s["chance"]), settings=say.HEADLINE,
                                   legend="right"),
             key="headline")
steps, chart = steps_chart(result)
with steps_slot:
    ui.chart(chart, key="bn_steps")
ui.explain(
    f"Layer {layer}, unit {unit}: this batch's mean is μ_B = {steps.mean:.2f} and its variance "
    f"σ²_B = {steps.var:.2f} (the mean of the third panel). After subtracting and dividing, x̂ "
    "has mean 0 and variance 1 whatever z looked like. The last step is yours: γ stretches, β "
    f"shifts. Training learned γ = {steps.gamma_trained:.3f} and β = {steps.beta_trained:.3f} "
    f"for this unit (seed {config.seed}); set γ = {steps.std:.2f} and β = {steps.mean:.2f} and "
    "the last panel equals the first: batch norm can undo itself if that is what the loss "
    "wants.")

# ---------------------------------------------------------------------------- train vs eval
st.subheader("Train mode vs eval mode: where the statistics come from")
ui.chart(charts.accuracy_chart(result.accuracy, s["chance"],
                               say.accuracy_title(ps, s["chance"])), key="accuracy")
left, right = st.columns(2)
with left:
    st.markdown("**Running averages** (EMA), updated at every training step, used in eval "
                "mode:")
    st.latex(r"\mu_{\mathrm{run}} \leftarrow d\,\mu_{\mathrm{run}} + (1-d)\,\mu_B")
    st.latex(r"\sigma^2_{\mathrm{run}} \leftarrow d\,\sigma^2_{\mathrm{run}} + (1-d)\,\sigma^2_B")
    ui.explain("*d* is the **decay**: the weight of the old value. PyTorch calls 1 − d its "
               "`momentum` (default 0.1, i.e. d = 0.9); Keras and Flax call d itself `momentum` "
               "(0.99). A running average remembers about 1/(1 − d) steps: 10, 100, 1000. They "
               "start at mean 0 and variance 1. The **population statistics** are the mean and "
               "variance over the whole training set, computed once after training. Each seed "
               "trains three copies of the net, one per decay: training never reads the running "
               "averages, so the copies train identically, step for step, and differ only in "
               "them.")
with right:
    c = say.chance_comparison(ps, s["chance"])
    ui.explain(
        f"**Batch size 1 in train mode:** z equals its own batch mean, so x̂ = 0 and every unit "
        f"outputs its β: every test image gets the same prediction: "
        f"accuracy {say.acc(ps, 'acc_train_batch1')}, {c.word} always guessing the commonest "
        f"digit ({s['chance']:.1%}). In train mode, {say.train_mode_clause(ps)}.")

st.subheader("Running averages vs the population statistics, over training")
ui.chart(charts.ema_gap_chart(result.ema_gap, say.ema_title(ps, int(s["steps"])),
                              height=250), key="ema_gap")  # its axis titles need 250 px
ui.explain(
    "Left: how much x̂ changes (root mean square over the training set) when a running average "
    "replaces the statistics of the whole training set; one line per seed. Right: test "
    f"accuracy in eval mode with each. After {int(s['steps'])} steps the decay-0.999 average "
    f"{say.lag_clause(ps, 0.999)}."
    + (" Try the 2000-step preset." if config.steps < 2000 else ""))

ui.verdict(
    "At training time BN uses the batch's mean and variance; at test time it uses averages "
    "collected during training, so a prediction does not depend on the other test examples.",
    say.measured_lines(ps, s["chance"], int(s["steps"])),
    "Ioffe & Szegedy (2015, Sec. 3.1 and Alg. 2) replace the batch statistics by population "
    "statistics at inference, which makes the output a deterministic function of the input; "
    "in practice frameworks use running averages. Wu & Johnson (2021, *Rethinking “Batch” in "
    "BatchNorm*) show that running averages can be inaccurate when the weights move fast or the "
    "decay is slow, and recommend recomputing population statistics after training (\"precise "
    "BN\"), as Karpathy's *makemore part 3* lecture does. Ioffe (2017, *Batch Renormalization*) "
    "attacks the small-batch train/test mismatch seen in the test-batch-1 and -8 bars.")
if lecture:
    ui.glossary(*WORDS)
ui.show_code(*exp.SHOWN_CODE)
