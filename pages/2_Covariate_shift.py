"""Page 2: "later layers are robust to changes in earlier layers" (experiments 1a and 1b)."""
import streamlit as st

import ui
from bnjax.charts import covariate_shift as charts
from bnjax.experiments import covariate_shift as exp
from bnjax.narration import covariate_shift as say

WORDS = ("covariate shift", "batch norm (BN)", "plain", "pre-activation", "percentile band",
         "drift", "x̂", "γ and β", "affine", "relative change", "mean and spread", "training loss",
         "logits", "population statistics", "running statistics", "EMA", "seed spread")

ui.frame("Covariate shift")
st.title("Covariate shift")
answer = ui.lede(
    "Why are later layers more robust to changes in earlier layers?",
    "Batch norm makes a deep layer's weights more robust to changes to the weights in "
    "earlier layers: whatever the earlier layers do, the mean and variance of the values a "
    "later layer sees stay the same.",
    "Two copies of the same network train on the same three seeds (same initial weights, "
    "same batches), one with batch norm before every nonlinearity and one without (*plain*). "
    "First we watch what one deep unit receives during training, as in Ioffe & Szegedy's "
    "Figure 1; then we change the first layer of the trained nets and see what reaches the "
    "layers after it.")

d = exp.CovariateShiftConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.CovariateShiftConfig(
    lr=ui.select_slider("Learning rate (SGD)", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
                        d.lr, container=c1, help=ui.term("learning rate")),
    steps=ui.select("Training steps", "steps", [500, 1000, 2000], d.steps, container=c1),
    depth=ui.select("Hidden layers", "depth", [3, 4, 6, 8, 10], d.depth, container=c2),
    width=ui.select("Units per layer", "width", [32, 64, 100, 128], d.width, container=c2),
    activation=ui.select("Activation", "activation", ["relu", "tanh", "sigmoid"], d.activation,
                         container=c3),
    batch_size=ui.select("Batch size", "batch_size", [32, 60, 64, 128], d.batch_size,
                         container=c3, help=ui.term("mini-batch")),
    seed=ui.seed(d.seed, container=c4),
)
c4.caption(say.seeds_caption(config.seeds))
ui.presets(exp.PRESETS, d, container=controls)
note = st.container()  # a diverged net is said here, once the result is in
lecture = ui.lecture_mode()
if not lecture:
    ui.glossary(*WORDS)

# ---------------------------------------------------------------------------- 1a
if not lecture:  # in lecture mode the first chart follows the short answer directly
    st.subheader("1a · What a deep unit sees during training")
ui.explain("For one unit of the **last** hidden layer, every 50 steps, the whole training set "
           "goes through the net and we take the 15th, 50th and 85th percentiles of the unit's "
           "input to the nonlinearity (its pre-activation; with BN that is γx̂ + β, the "
           "normalized value after BN's learned scale and shift). One panel per seed; the "
           "y-axis is shared.")
first_chart = st.container()  # training draws here live, then the finished chart
unit = ui.slider("Unit of the last hidden layer", "unit", min_value=0,
                 max_value=config.width - 1, default=0,
                 help="Which unit the bands above follow; the chart below shows every unit.")


def bands(result):
    """The first chart, for a finished or a partial result (the bands so far)."""
    return charts.bands_chart(result.bands, result.units, unit,
                              say.bands_title(result.units, unit, explain=not lecture),
                              height=85 if lecture else 240, width=235 if lecture else 250,
                              y_title=f"input to unit {unit}" if lecture else None)


drawn = {}  # the live chart's spec per partial result: a report with no news redraws it


def live(update):
    """While the nets train: the bands so far, BN and plain side by side."""
    partial = update.partial
    if partial is None or partial.bands.empty:
        return
    if partial.step not in drawn:
        big = lecture
        drawn.clear()
        drawn[partial.step] = bands(partial).configure_axis(
            labelFontSize=17 if big else 13, titleFontSize=19 if big else 14).configure_title(
            fontSize=21 if big else 16).configure_header(
            labelFontSize=18 if big else 14).to_dict(validate=False)
    ui.live_chart(drawn[partial.step])
    st.caption(f"Live: both nets of every seed after {partial.step} of {config.steps} training "
               "steps. The finished page follows when training ends.")


with first_chart:
    result = ui.run(exp.run_covariate_shift, config, live=live)
if result is None:
    st.stop()
s, ps = result.summary, result.per_seed
ui.short_answer(answer, say.short_answer(ps, int(s["n_units"])))
with note:
    ui.diverged_note([f"{v} net" for v, flag in result.diverged.items() if flag])
with first_chart:
    ui.chart(bands(result))
ui.chart(charts.drift_chart(result.units, say.drift_title(ps, int(s["n_units"]))))
ui.explain(f"Averaged over the {int(s['n_units'])} units, a unit's median "
           f"{say.drift_clause(ps)}; {say.spread_clause(ps)}. (Each number is the seed mean, "
           "with the lowest and highest seed in brackets.)")

# ---------------------------------------------------------------------------- 1b
st.subheader("1b · What \"robust\" means exactly")
ui.explain("Now take the trained nets and change layer 1. The **affine** change (a rescale and "
           "a shift) multiplies every unit's weights by its own factor s (at size 1, s between "
           "0.5 and 2) and shifts the unit by half its spread. The **random** change moves W1 "
           "by a random direction of the same size. We measure the training loss and how much "
           "every layer's input moves, with BN normalizing by the whole training set's mean "
           "and variance (its population statistics, not the running averages of page 1).")
p1, p2 = st.columns(2)
size = ui.select_slider("Size of the change", "size", list(exp.SIZES), exp.REFERENCE_SIZE,
                        format_func=lambda v: f"{v:g}", container=p1,
                        help="1 rescales each unit of layer 1 by a factor between 0.5 and 2; "
                             "2 by a factor between 0.25 and 4.")
measure = ui.select("What a later layer sees", "measure", list(charts.MEASURES), "values",
                    container=p2, help="values: how far the numbers a layer receives moved, "
                                       "relative to their size (0.1 = 10%). mean and spread: "
                                       "how far each unit's mean and standard deviation over "
                                       "the training set moved.")
ui.chart(charts.perturb_chart(result.perturb, size, say.perturb_title(result.perturb, size)))
ui.chart(charts.layers_chart(result.layers, size, measure,
                             say.layers_title(result.layers, size, measure)))
ui.explain(f"After a random change of W1 (size {s['reference_size']:g}), "
           f"{say.values_clause(ps)}; {say.moments_clause(ps)}. {say.shields(ps)}")

ui.verdict(
    "Batch norm keeps the distribution of each layer's inputs stable, so later layers need not "
    "re-adapt whenever earlier layers change (\"reducing internal covariate shift\").",
    say.measured_lines(ps, s["reference_size"]),
    "Ioffe & Szegedy (2015) showed the stable percentile bands (their Fig. 1) and proved the "
    "exact invariance of BN to the scale of a layer's weights (Sec. 3.3): that part of "
    "\"robust\" is exact. Santurkar et al. (2018) showed that stable distributions are not why "
    "BN helps: BN trains well even with noise that makes the distributions unstable, and by "
    "their gradient-based measure BN does not reduce internal covariate shift (page 3).")
ui.explain(say.reading(ps))
if lecture:
    ui.glossary(*WORDS)
ui.show_code(*exp.SHOWN_CODE)
