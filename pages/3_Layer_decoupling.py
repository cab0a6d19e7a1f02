"""Page 3: "each layer learns more independently": a concrete example of coupling (W1 × c),
then Santurkar's gradient measure (2a), noisy BN (2b) and the synthesis (2c)."""
import streamlit as st

import ui
from bnjax.charts import decoupling as charts
from bnjax.experiments import decoupling as exp
from bnjax.narration import decoupling as say

WORDS = ("coupling", "W1", "gradient", "Def. 2.1", "cos(G, G′)", "‖G − G′‖/‖G‖", "noisy BN",
         "test accuracy", "training loss", "affine", "ε", "seed spread")

ui.frame("Layer decoupling")
st.title("Layer decoupling")
answer = ui.lede(
    "Does each layer really learn more independently?",
    "Batch norm weakens the coupling between what the early layers' parameters have to do and "
    "what the later layers' parameters have to do, so each layer can learn a little more by "
    "itself.",
    "\"Coupling\" can mean two things, and we measure both on BN and plain nets trained on the "
    "same three seeds: does a later layer notice when an earlier layer's weights are "
    "*rescaled*, and does a later layer's *gradient* change when the layers below take a "
    "training step (Santurkar et al.'s definition)? Then: does learning survive when the "
    "distribution a layer sees never sits still (noisy BN)?")

lecture = ui.lecture_mode()
# In lecture mode the first chart follows the short answer directly, above the folded controls.
first_chart = st.container() if lecture else None
d = exp.DecouplingConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.DecouplingConfig(
    lr=ui.select_slider("Learning rate (SGD)", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                        d.lr, container=c1, help=ui.term("learning rate")),
    steps=ui.select("Training steps", "steps", [500, 1000, 2000], d.steps, container=c1),
    depth=ui.select("Hidden layers", "depth", [4, 6, 8, 10], d.depth, container=c2),
    width=ui.select("Units per layer", "width", [32, 64, 128], d.width, container=c2),
    noise=ui.select_slider("Noise size a (2b)", "noise", [0.0, 0.1, 0.25, 0.5, 1.0, 2.0],
                           d.noise, format_func=lambda v: f"{v:g}", container=c3,
                           help="After every BN (or linear) layer, every step: a mean drawn "
                                "from U(−a, a) and a std from U(0, a) per unit, times N(0, 1) "
                                "per example."),
    seed=ui.seed(d.seed, container=c4),
)
c4.caption(f"Seeds {config.seeds[0]} to {config.seeds[-1]} train side by side.")
ui.presets(exp.PRESETS, d, container=controls)
if not lecture:
    ui.glossary(*WORDS)

mid = config.mid_layer
font = 16 if lecture else 12  # labels on the charts: a back row can read them in lecture mode


def show_live(chart) -> None:
    """A live chart (drawn while the nets train, replaced when the result is in)."""
    ui.live_chart(chart)


def live_clean(update) -> None:
    """While the clean nets train: 2a's measure at layer `mid` and the training loss so far,
    BN and plain side by side."""
    partial = update.partial
    if partial is None or (partial.ics.empty and partial.curves.empty):
        return
    left, right = st.columns(2)
    with left:
        if partial.ics.empty:  # its program compiles while the nets train: it follows
            st.caption(f"Layer {mid}'s cos(G, G′) (Def. 2.1, below) appears here in a few "
                       "seconds, as soon as the program that measures it has compiled.")
        else:
            show_live(charts.ics_time_chart(
                partial.ics, mid, "cos", [f"Layer {mid}: cos(G, G′) while the nets train",
                                          f"after {partial.step} of {config.steps} steps"],
                font=font))
    with right:
        if not partial.curves.empty:
            show_live(charts.loss_chart(partial.curves, title="Training loss, live"))
    st.caption(f"Live: BN and plain nets of seeds {config.seeds[0]} to {config.seeds[-1]} "
               f"after {partial.step} of {config.steps} training steps. The finished page "
               "follows when training ends.")


# Two cached runs: the clean nets first (the example, 2a, 2c: the noise slider does not retrain
# them), then the noisy ones (2b), so the first charts appear before the slower noisy training.
with first_chart if first_chart is not None else st.container():
    result = ui.run(exp.run_gradients, config.clean(), live=live_clean)
if result is None:
    st.stop()
ui.short_answer(answer, say.short_answer(result, exp.EXAMPLE_FACTOR))
ui.diverged_note([f"{v} net" for v, flag in result.diverged.items() if flag])

# ---------------------------------------------------------------------------- the example
if not lecture:
    st.subheader(f"What coupling means: rescale layer 1, watch layer {mid}")
ui.explain(f"Take the trained nets and multiply every weight of layer 1 (**W1**) by a factor. "
           f"If layer {mid} were coupled to layer 1, what it sees and the gradient that tells it "
           f"how to change would change too. (BN's ε, the 1e-5 added to the variance, is set "
           f"to 0 here: it is the one part of BN that does not scale with W1.)")
if first_chart is None:
    first_chart = st.container()
factor = ui.select_slider("Multiply W1 by", "scale", list(exp.FACTORS), exp.EXAMPLE_FACTOR,
                          format_func=lambda v: f"{v:g}", help=ui.term("W1"),
                          container=st.columns([1, 2])[0])
labels = {v: say.panel_label(result, v, factor) for v in ("BN", "plain")}
with first_chart:
    ui.chart(charts.example_chart(result.weights, factor, config.seed,
                                  say.example_title(result, factor), labels, layer=mid,
                                  height=165 if lecture else 230,
                                  width=330 if lecture else 300, font=font + 1))
ui.explain(say.example_caption(result, factor))

# ---------------------------------------------------------------------------- 2a
st.header("2a · During training: Santurkar's gradient measure")
ui.explain("The same question during real training, as Santurkar et al. (2018) measure it "
           "(their **Def. 2.1**): every 100 steps, take layer i's gradient G; let layers "
           "1 … i−1 take their SGD step; compute layer i's gradient G′ again **on the same "
           "batch**. If layer i learned independently of the layers below, G′ = G: "
           "**cos(G, G′)** = 1 (the dashed line) and **‖G − G′‖/‖G‖** = 0.")
p1, p2 = st.columns(2)
layer = ui.slider("Layer", "layer", min_value=2, max_value=config.depth, default=mid,
                  container=p1)
metric = charts.METRICS[ui.select("Measure", "metric", list(charts.METRICS), "cosine",
                                  container=p2, help=ui.term("cos(G, G′)") + " Relative change: "
                                  + ui.term("‖G − G′‖/‖G‖"))]
left, right = st.columns(2)
with left:
    ui.chart(charts.ics_time_chart(result.ics, layer, metric,
                                   say.ics_time_title(result, layer, metric), font=font))
with right:
    ui.chart(charts.ics_layer_chart(result.ics, metric, say.ics_layer_title(result, metric),
                                    font=font))
ui.verdict(
    "With batch norm, each layer's parameters depend less on what the earlier layers do.",
    say.coupling_lines(result),
    "Santurkar et al. (2018), *How does batch normalization help optimization?*, Fig. 3: by "
    "this gradient-based definition of internal covariate shift, networks with BN show "
    "\"similar, or even worse\" shift than networks without. Their explanation of BN's benefit "
    "is a smoother loss landscape instead (page 5).")

# ---------------------------------------------------------------------------- 2b
st.header("2b · Noisy BN: learning with inputs that never sit still")
ui.explain(f"After every BN layer we add noise whose mean and scale are redrawn every step "
           f"(a = {config.noise:g}), so the distribution each layer sees changes all the time: "
           f"the opposite of \"stable inputs\". The same noise on the plain net is the control. "
           f"Two different questions: **training loss** (how closely a net fits the batches it "
           f"trains on) and **test accuracy** (how many unseen digits it gets right, measured "
           f"without noise).")


def live_noisy(update) -> None:
    """While the noisy nets train: their training loss growing beside the clean nets'."""
    partial = update.partial
    if partial is None or partial.curves.empty:
        return
    show_live(charts.loss_chart(result.curves, partial.curves, title=[
        "Training loss: noisy nets, live", f"after {partial.step} of {config.steps} steps"]))


noisy = ui.run(exp.run_noisy, config, what="Training the noisy nets", live=live_noisy)
if noisy is None:
    st.stop()
ui.diverged_note([f"{v} net" for v, flag in noisy.diverged.items() if flag])
left, right = st.columns(2)
with left:
    ui.chart(charts.loss_chart(result.curves, noisy.curves, title=say.loss_title(result, noisy)))
with right:
    ui.chart(charts.accuracy_chart(result.runs, noisy.runs,
                                   title=say.accuracy_title(result, noisy), font=font))
ui.verdict(
    "BN helps because it keeps each layer's input distribution stable.",
    say.noise_lines(result, noisy),
    "Santurkar et al. (2018), Sec. 2.1 and Fig. 2: BN with injected, time-varying noise "
    "(non-zero mean, non-unit variance) trains almost exactly as well as standard BN and better "
    "than no BN, for moderate noise. Noise that is large relative to the unit scale does hurt.")

# ---------------------------------------------------------------------------- 2c
st.header("2c · What batch norm decouples, and what it does not")
left, right = st.columns(2)
with left:
    ui.chart(charts.stats_chart(result.stats, say.stats_title(result), say.zero_label(result),
                                font=font + 1))
with right:
    ui.chart(charts.gradient_gap_chart(result.ics, say.gradients_title(result)))
st.markdown(say.synthesis_text(result) + " What batch norm does for optimization is on the "
            "[hyperparameter landscape page](/Hyperparameter_landscape).")
if lecture:
    ui.glossary(*WORDS)
ui.show_code(exp.rescale_probe, exp.ics_probe)
