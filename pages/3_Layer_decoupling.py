"""Page 3: "each layer learns more independently" (experiments 2a, 2b and 2c)."""
import streamlit as st

import ui
from bnjax.charts import decoupling as charts
from bnjax.experiments import decoupling as exp

ui.frame("Layer decoupling")
st.title("Layer decoupling: does each layer learn more independently?")
ui.lede("Does each layer really learn more independently?",
        "Batch norm weakens the coupling between what the early layers' parameters have to do "
        "and what the later layers' parameters have to do, so each layer can learn a little "
        "more by itself.",
        "\"Coupling\" can mean two things, and we measure both on BN and plain nets trained on "
        "the same three seeds: does a later layer's *gradient* change when the layers below "
        "take their step (Santurkar et al.'s definition of internal covariate shift), and does "
        "learning survive when the *distribution* a layer sees never sits still (noisy BN)?")

d = exp.DecouplingConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.DecouplingConfig(
    lr=ui.select_slider("Learning rate (SGD)", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                        d.lr, container=c1),
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

# Two cached runs: the clean nets first (2a, 2c: the noise slider does not retrain them), then
# the noisy ones (2b), so the first charts appear before the slower noisy training.
result = ui.run(exp.run_gradients, config.clean())
if result is None:
    st.stop()
s = result.summary
ui.diverged_note([f"{v} net" for v, flag in result.diverged.items() if flag])
mid = int(s["mid_layer"])


def num(summary: dict, key: str, fmt: str) -> str:
    """A summary number, or a dash where every seed of that net diverged."""
    v = summary[key]
    return "—" if v != v else format(v, fmt)


# ---------------------------------------------------------------------------- 2a
st.header("2a · Does a layer's gradient depend less on the layers below?")
ui.explain("Santurkar et al. (2018, Def. 2.1): every 100 steps, take layer i's gradient G; let "
           "layers 1 … i−1 take their SGD step; compute layer i's gradient G′ again **on the "
           "same batch**. If the layers were decoupled, G′ = G: cosine 1 (dashed line), relative "
           "change 0.")
p1, p2 = st.columns(2)
layer = ui.slider("Layer", "layer", min_value=2, max_value=config.depth, default=mid,
                  container=p1)
metric = charts.METRICS[ui.select("Measure", "metric", list(charts.METRICS), "cosine",
                                  container=p2)]
left, right = st.columns(2)
with left:
    ui.chart(charts.ics_time_chart(result.ics, layer, metric))
with right:
    ui.chart(charts.ics_layer_chart(result.ics, metric))

lost = [v for v, tag in (("BN", "bn"), ("plain", "plain")) if s[f"diverged_{tag}"] == s["n_seeds"]]
if lost:
    coupling = (f"The {' and the '.join(lost)} net diverged on every seed at this learning rate: "
                f"there is nothing to compare.")
elif s["ics_cos_bn"] <= s["ics_cos_plain"] + 0.02:
    coupling = ("So by this measure BN does **not** decouple the layers: their gradients are as "
                "coupled, or more.")
else:
    coupling = "In this run BN's gradients moved **less** than plain's, unlike the paper's finding."
ui.verdict(
    "With batch norm, each layer's parameters depend less on what the earlier layers do.",
    [f"At layer {mid}, the gradient after the layers below stepped keeps a cosine of "
     f"**{num(s, 'ics_cos_plain', '.2f')}** with the old one without BN and "
     f"**{num(s, 'ics_cos_bn', '.2f')}** with BN (mean over training and {int(s['n_seeds'])} "
     f"seeds; medians {num(s, 'ics_cos_median_plain', '.2f')} and "
     f"{num(s, 'ics_cos_median_bn', '.2f')}).",
     f"Relative change ‖G − G′‖/‖G‖: {num(s, 'ics_rel_plain', '.2f')} plain vs "
     f"{num(s, 'ics_rel_bn', '.2f')} BN.",
     coupling],
    "Santurkar et al. (2018), *How does batch normalization help optimization?*, Fig. 3: by "
    "this gradient-based definition of internal covariate shift, networks with BN show "
    "\"similar, or even worse\" shift than networks without. Their explanation of BN's benefit "
    "is a smoother loss landscape instead (page 5).")

# ---------------------------------------------------------------------------- 2b
st.header("2b · Noisy BN: learning with inputs that never sit still")
ui.explain(f"After every BN layer we add noise whose mean and scale are redrawn every step "
           f"(a = {config.noise:g}), so the distribution each layer sees changes all the time: "
           f"the opposite of \"stable inputs\". The same noise on the plain net is the control. "
           f"Test accuracy is measured without noise.")
noisy = ui.run(exp.run_noisy, config, what="Training the noisy nets")
if noisy is None:
    st.stop()
n = noisy.summary
ui.diverged_note([f"{v} net" for v, flag in noisy.diverged.items() if flag])
left, right = st.columns([3, 2])
with left:
    ui.chart(charts.loss_chart(result.curves, noisy.curves))
with right:
    ui.chart(charts.accuracy_chart(result.runs, noisy.runs))
accs = (n["acc_noisy_bn"], s["acc_bn"], s["acc_plain"])
if any(a != a for a in accs):
    survival = "Some nets diverged on every seed: compare the ones that trained."
elif n["acc_noisy_bn"] >= s["acc_bn"] - 0.02 and n["acc_noisy_bn"] > s["acc_plain"]:
    survival = ("Noisy BN learns as well as BN and better than plain: an unstable input "
                "distribution did not stop it.")
else:
    survival = "At this noise size noisy BN falls behind: too much noise does hurt."
ui.verdict(
    "BN helps because it keeps each layer's input distribution stable.",
    [f"Test accuracy: BN **{num(s, 'acc_bn', '.1%')}**, noisy BN "
     f"**{num(n, 'acc_noisy_bn', '.1%')}**, plain **{num(s, 'acc_plain', '.1%')}**, noisy plain "
     f"{num(n, 'acc_noisy_plain', '.1%')} (a = {num(n, 'noise', 'g')}).",
     survival,
     f"Late training batch loss: BN {num(s, 'late_loss_bn', '.3f')}, noisy BN "
     f"{num(n, 'late_loss_noisy_bn', '.3f')}, plain {num(s, 'late_loss_plain', '.3f')}."],
    "Santurkar et al. (2018), Sec. 2.1 and Fig. 2: BN with injected, time-varying noise "
    "(non-zero mean, non-unit variance) trains almost exactly as well as standard BN and better "
    "than no BN, for moderate noise. Noise that is large relative to the unit scale does hurt.")

# ---------------------------------------------------------------------------- 2c
st.header("2c · What batch norm decouples, and what it does not")
ui.chart(charts.synthesis_chart(result.stats, result.ics))
st.markdown(
    f"**Statistics, exactly:** an affine change of layer 1 (each unit rescaled and shifted) "
    f"moves the inputs of layers 2–{config.depth} by {num(s, 'stats_change_bn', '.1e')} with "
    f"BN and by {num(s, 'stats_change_plain', '.2f')} without (relative change, mean over layers "
    f"and seeds; page 2 has the full experiment). **Gradients, not:** at layer {mid}, 1 − cos is "
    f"{num(s, 'ics_gap_bn', '.2f')} with BN and {num(s, 'ics_gap_plain', '.2f')} without. What "
    f"batch norm does for optimization is on the "
    f"[hyperparameter landscape page](/Hyperparameter_landscape).")
ui.show_code(exp.ics_probe)
