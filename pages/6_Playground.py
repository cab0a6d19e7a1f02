"""Page 6: two nets of your choosing (BN, LayerNorm or plain), trained side by side, live."""
import time

import streamlit as st

import ui
from bnjax.charts import playground as charts
from bnjax.experiments import playground as exp
from bnjax.narration import playground as say

ui.frame("Playground")
st.title("Playground: your own network")
answer = ui.lede(
    "What happens with my own network?",
    "Batch norm lets you train deeper nets with larger learning rates and less care about "
    "initialization.",
    "Pick a network, an optimizer and a normalization for each of two copies of it: batch norm "
    "(BN), LayerNorm, or none (plain), before every nonlinearity. Both copies train side by "
    "side on the same three seeds (same initial weights, same batches) while you watch. Below "
    "the curves are the health monitors from Karpathy's BatchNorm lecture.")

# Lecture mode: the first chart sits right under the short answer, above the folded controls,
# so that the first 1280x720 screen holds the question, the answer and one whole chart.
lecture = ui.lecture_mode()
first = st.container() if lecture else None
half, wide = say.LECTURE if lecture else (say.TITLE_WIDTH, say.WIDE)  # characters a line

d, O = exp.PlaygroundConfig(), exp.OPTIONS
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
norm_help = "  \n".join([ui.term("normalization")] + [f"**{n}**: {ui.term(t)}" for n, t in (
    ("batch", "batch norm (BN)"), ("layer", "LayerNorm"), ("none", "plain"))])
config = exp.PlaygroundConfig(
    norm_a=ui.select("Net A: normalization", "norm_a", O["norm_a"], d.norm_a, container=c1,
                     help=norm_help),
    norm_b=ui.select("Net B: normalization", "norm_b", O["norm_b"], d.norm_b, container=c2,
                     help=norm_help),
    depth=ui.slider("Hidden layers", "depth", min_value=O["depth"][0], max_value=O["depth"][1],
                    default=d.depth,
                    container=c1, help=ui.term("hidden layer")),
    width=ui.slider("Units per layer", "width", min_value=O["width"][0],
                    max_value=O["width"][1], default=d.width,
                    step=8, container=c1, help=ui.term("unit")),
    activation=ui.select("Activation", "activation", O["activation"], d.activation,
                         container=c2, help=ui.term("activation function")),
    optimizer=ui.select("Optimizer", "optimizer", O["optimizer"], d.optimizer,
                        format_func=lambda o: {"momentum": "sgd+momentum"}.get(o, o),
                        container=c2, help="  \n".join(f"**{o}**: {ui.term(t)}"
                                                      for o, t in (("sgd", "SGD"),
                                                                   ("sgd+momentum", "momentum"),
                                                                   ("adam", "Adam")))),
    lr=ui.select_slider("Learning rate", "lr", O["lr"], d.lr, container=c3,
                        help=ui.term("learning rate")),
    gain=ui.select_slider("Init gain (x He)", "gain", O["gain"], d.gain,
                          container=c3, help=ui.term("init gain")),
    batch_size=ui.select("Batch size", "batch_size", O["batch_size"], d.batch_size,
                         container=c4, help=ui.term("mini-batch")),
    steps=ui.slider("Steps", "steps", min_value=O["steps"][0], max_value=O["steps"][1],
                    default=d.steps, step=100,
                    container=c4, help=ui.term("training step")),
    dropout=ui.select_slider("Dropout", "dropout", O["dropout"], d.dropout,
                             container=c4, help=ui.term("dropout")),
    seed=ui.seed(d.seed, container=c1),
)
ui.presets(exp.PRESETS, d, container=controls)

curves = first if lecture else st.container()  # the live charts, then the finished ones
drawn = {"at": -1.0, "step": 0}  # the live charts' specs: a report with no news redraws them
# A new live drawing at most every REDRAW seconds and every 1/FRAMES of the run: building one
# costs the training thread ~0.1 s of CPU, more on a busy server, where runs take longer.
REDRAW, FRAMES = 1.0, 8


def live(update):
    """While the nets train: their test accuracy and training loss so far, as they grow."""
    p = update.partial
    if p is None or p.accuracy.empty:
        return
    if "specs" not in drawn or (time.monotonic() - drawn["at"] >= REDRAW
                                and p.step - drawn["step"] >= config.steps / FRAMES):
        drawn["at"], drawn["step"] = time.monotonic(), p.step
        drawn["specs"] = [charts.live_spec(c, lecture) for c in (
            charts.accuracy_chart(p.accuracy, title=say.live_titles(
                p.step, config.steps, "Test accuracy"), big=lecture,
                plot=100 if lecture else charts.PLOT_HEIGHT, x_max=config.steps),
            charts.loss_chart(p.curves, title=say.live_titles(
                p.step, config.steps, "Training loss"), big=lecture, x_max=config.steps))]
    acc_spec, loss_spec = drawn["specs"]
    if lecture:
        ui.live_chart(acc_spec)
    else:
        left, right = st.columns(2)
        ui.live_chart(acc_spec, left)
        ui.live_chart(loss_spec, right)


with curves:
    result = ui.run(exp.run_playground, config, live=live)
if result is None:
    st.stop()
s, per_seed = result.summary, result.per_seed
ui.short_answer(answer, say.short_answer(config, per_seed, s))

accuracy = charts.accuracy_chart(result.accuracy, title=say.accuracy_title(per_seed, half),
                                 big=lecture, plot=100 if lecture else charts.PLOT_HEIGHT)
loss = charts.loss_chart(result.curves, result.diverged_at,
                         title=say.loss_title(per_seed, s, config.steps, half),
                         level=s["loss_level"], big=lecture)
with curves:
    if lecture:
        ui.chart(accuracy)
    else:
        left, right = st.columns(2)
        with left:
            ui.chart(accuracy)
        with right:
            ui.chart(loss)
ui.diverged_note([f"{say.label(v)}, seed {seed}" for v, seeds in result.diverged.items()
                  for seed in seeds])
if lecture:
    ui.chart(loss)

ui.verdict(
    "Batch norm makes training faster and more robust to the learning rate and the "
    "initialization; LayerNorm normalizes each example on its own, without the batch.",
    say.verdict_lines(per_seed, s, config),
    "Ioffe & Szegedy (2015) trained with 30x larger learning rates thanks to BN; Bjorck et al. "
    "(2018) showed that its benefit comes mostly from the large learning rates it tolerates. "
    "Ba, Kiros & Hinton (2016) introduced LayerNorm for settings where batch statistics are "
    "unreliable (small batches, recurrent nets). The health monitors are those of Karpathy's "
    "*makemore part 3* BatchNorm lecture.")

st.subheader("Health monitors")
ui.explain("Activations should be spread out, not piled up where the activation is flat, "
           "where almost no gradient passes back. A **dead** unit is flat for every training "
           "digit (a ReLU unit that outputs 0 for all of them; one ReLU output in two being 0 "
           "is normal). A **saturated** output is in the flat part: tanh beyond ±0.97, sigmoid "
           "below 0.03 or above 0.97. "
           "The weight gradients should be of similar size in every layer. The **update:data "
           "ratio** says how much each step changes a layer's weights; Karpathy's rule of thumb "
           "is about 1e-3 (the dashed line). Measured on all 1,257 training digits, every seed.")
if health := say.health_sentence(per_seed, config.activation):
    st.markdown(health)
when = st.radio("Snapshot", ["init", "end"], index=1, horizontal=True,
                format_func=lambda w: {"init": "at initialization", "end": "after training"}[w])
relu = config.activation == "relu"
ui.chart(charts.histogram_chart(
    result.activations[result.activations.when == when],
    "ReLU output, above 0 (axis to the 99.5th percentile)" if relu
    else f"{config.activation} output",
    title=say.activation_title(result.layers, when, config.activation, wide),
    y_title="share of all outputs", independent_x=relu, big=lecture))
st.markdown(say.monitor_heading(result.layers, when, config.activation),
            help=ui.term("dead unit" if relu else "saturation"))
st.table(say.health_table(result.layers, when, config.activation))
ui.chart(charts.histogram_chart(
    result.gradients[result.gradients.when == when], "weight gradient ∂loss/∂w",
    title=say.gradient_title(result.layers, when, wide), y_title="share of weights",
    independent_x=True, big=lecture, x_format=".0e"))
ui.chart(charts.update_ratio_chart(result.update_ratio, title=say.update_title(per_seed, wide),
                                   big=lecture))
ui.glossary("normalization", "batch norm (BN)", "LayerNorm", "plain", "test accuracy",
            "training loss", "seed", "seed spread", "diverged", "hidden layer", "unit",
            "activation function",
            "dead unit", "saturated unit", "saturation", "update:data ratio", "init gain",
            "He initialization", "learning rate", "SGD", "momentum", "Adam", "mini-batch",
            "training step", "dropout")
ui.show_code(exp.run_playground, say.short_answer, charts.loss_chart)
