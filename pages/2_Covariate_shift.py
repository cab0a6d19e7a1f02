"""Page 2: "later layers are robust to changes in earlier layers" (experiments 1a and 1b)."""
import streamlit as st

import ui
from bnjax.charts import covariate_shift as charts
from bnjax.experiments import covariate_shift as exp

ui.frame("Covariate shift")
st.title("Covariate shift: are later layers robust to changes in earlier ones?")
ui.lede("Why are later layers more robust to changes in earlier layers?",
        "Batch norm makes a deep layer's weights more robust to changes to the weights in "
        "earlier layers: whatever the earlier layers do, the mean and variance of the values a "
        "later layer sees stay the same.",
        "Two copies of the same network train on the same three seeds (same initial weights, "
        "same batches), one with batch norm before every nonlinearity and one without. First we "
        "watch what one deep unit receives during training, as in Ioffe & Szegedy's Figure 1; "
        "then we change the first layer of the trained nets and see what reaches the layers "
        "after it.")

d = exp.CovariateShiftConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.CovariateShiftConfig(
    lr=ui.select_slider("Learning rate (SGD)", "lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
                        d.lr, container=c1),
    steps=ui.select("Training steps", "steps", [500, 1000, 2000], d.steps, container=c1),
    depth=ui.select("Hidden layers", "depth", [3, 4, 6, 8, 10], d.depth, container=c2),
    width=ui.select("Units per layer", "width", [32, 64, 100, 128], d.width, container=c2),
    activation=ui.select("Activation", "activation", ["relu", "tanh", "sigmoid"], d.activation,
                         container=c3),
    batch_size=ui.select("Batch size", "batch_size", [32, 60, 64, 128], d.batch_size,
                         container=c3),
    seed=ui.seed(d.seed, container=c4),
)
c4.caption(f"Seeds {config.seeds[0]} to {config.seeds[-1]} train side by side.")
ui.presets(exp.PRESETS, d, container=controls)

result = ui.run(exp.run_covariate_shift, config)
if result is None:
    st.stop()
s = result.summary
ui.diverged_note([f"{v} net" for v, flag in result.diverged.items() if flag])


def num(key: str, fmt: str) -> str:
    """A summary number, or a dash where every seed of that net diverged."""
    return "—" if s[key] != s[key] else format(s[key], fmt)


lost = [v for v, tag in (("BN", "bn"), ("plain", "plain")) if s[f"diverged_{tag}"] == s["n_seeds"]]

# ---------------------------------------------------------------------------- 1a
st.header("1a · What a deep unit sees during training")
ui.explain("For one unit of the **last** hidden layer, every 50 steps, the whole training set "
           "goes through the net and we take the 15th, 50th and 85th percentiles of the unit's "
           "input to the nonlinearity (γx̂ + β with BN). One band per seed; the y-axis is "
           "shared.")
unit = ui.slider("Unit of the last hidden layer", "unit", min_value=0,
                 max_value=config.width - 1, default=0)
ui.chart(charts.bands_chart(result.bands, unit))
ui.chart(charts.drift_chart(result.units))
ui.explain(
    f"Averaged over the {int(s['n_units'])} units and {int(s['n_seeds'])} seeds, the median "
    f"moved by **{num('drift_plain', '.2f')}** without BN and **{num('drift_bn', '.2f')}** with "
    f"BN over training; the 15–85 spread changed **{num('spread_ratio_plain', '.1f')}×** "
    f"without BN and **{num('spread_ratio_bn', '.1f')}×** with BN.")

# ---------------------------------------------------------------------------- 1b
st.header("1b · What \"robust\" means exactly")
ui.explain("Now take the trained nets and change layer 1. The **affine** change multiplies every "
           "unit's weights by its own factor s (at size 1, s between 0.5 and 2) and shifts the "
           "unit by half its spread. The **random** change moves W1 by a random direction of the "
           "same size. We measure the training loss (BN on full-set statistics) and how much "
           "every layer's input moves.")
p1, p2 = st.columns(2)
size = ui.select_slider("Size of the change", "size", list(exp.SIZES), exp.REFERENCE_SIZE,
                        format_func=lambda v: f"{v:g}", container=p1)
measure = ui.select("What a later layer sees", "measure", list(charts.MEASURES), "values",
                    container=p2)
ui.chart(charts.perturb_chart(result.perturb, size))
ui.chart(charts.layers_chart(result.layers, size, measure))
ui.explain(
    f"A random change of W1 moves the **values** later layers see by "
    f"{num('random_values_change_bn', '.2f')} with BN and "
    f"{num('random_values_change_plain', '.2f')} without (relative change, mean over layers 2 "
    f"and up), but the **mean and spread** of their inputs by "
    f"{num('random_moments_change_bn', '.1e')} with BN and "
    f"{num('random_moments_change_plain', '.2f')} without: BN pins the first two moments of every "
    f"layer's input whatever happens upstream, so what still moves is which example gets "
    f"which value.")


def _exact(key: str) -> str:
    v = s[key]
    if v != v:
        return "—"
    return "nothing, up to float rounding" if v < 1e-4 else f"{v:.2g}: not zero"


agree_1a = s["drift_ratio"] > 5 and s["spread_ratio_bn"] < 2 < s["spread_ratio_plain"]
agree_1b = s["random_bn_lower_seeds"] * 2 > s["n_compared_seeds"] > 0
measured = [f"The {' and the '.join(lost)} net diverged on every seed at this learning rate: "
            f"its numbers are shown as —."] if lost else []
measured += [
    f"Median drift of a last-layer unit's input: **{num('drift_plain', '.2f')}** plain vs "
    f"**{num('drift_bn', '.2f')}** BN ({num('drift_ratio', '.0f')}× less with BN); spread "
    f"change {num('spread_ratio_plain', '.1f')}× vs {num('spread_ratio_bn', '.1f')}×."
    + ("" if agree_1a or lost else " **This run does not show the lecture's picture clearly.**"),
    f"Affine change of layer 1 (size {s['reference_size']:g}): training loss "
    f"+{num('affine_dloss_plain', '.3f')} plain vs {_exact('affine_dloss_bn')} with BN "
    f"({num('affine_dloss_bn', '.1e')}). Scaling W1 by 3 moves the logits by up to "
    f"{num('w1x3_dlogit_plain', '.3g')} plain vs {num('w1x3_dlogit_bn', '.1e')} with BN.",
    f"Random change of W1 of the same size: +{num('random_dloss_plain', '.3f')} plain vs "
    f"+{num('random_dloss_bn', '.3f')} with BN"
    + ("." if lost else
       f", lower with BN on {int(s['random_bn_lower_seeds'])} of "
       f"{int(s['n_compared_seeds'])} seeds"
       + (": BN shields later layers from it only partly." if agree_1b
          else ": here BN did **not** shield the later layers.")),
    f"Test accuracy: {num('acc_bn', '.1%')} BN, {num('acc_plain', '.1%')} plain."]
ui.verdict(
    "Batch norm keeps the distribution of each layer's inputs stable, so later layers need not "
    "re-adapt whenever earlier layers change (\"reducing internal covariate shift\").",
    measured,
    "Ioffe & Szegedy (2015) showed the stable percentile bands (their Fig. 1) and proved the "
    "exact invariance of BN to the scale of a layer's weights (Sec. 3.3): that part of "
    "\"robust\" is exact. Santurkar et al. (2018) showed that stable distributions are not why "
    "BN helps: BN trains well even with noise that makes the distributions unstable, and by "
    "their gradient-based measure BN does not reduce internal covariate shift (page 3).")
ui.explain("**The honest reading:** batch norm makes later layers immune to the *mean and scale* "
           "of an upstream change, exactly, and only partly to the rest of it.")
ui.show_code(exp.last_layer_input, exp.perturb_layer1)
