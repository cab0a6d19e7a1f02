"""Page 6: a BN net and a plain net of your choosing, trained side by side."""
import streamlit as st

import ui
from bnjax.charts import playground as charts
from bnjax.experiments import playground as exp

ui.frame("Playground")
st.title("Playground: your network, with and without batch norm")
ui.lede("What happens with my own network?",
        "Batch norm lets you train deeper nets with larger learning rates and less care about "
        "initialization.",
        "Pick a network and an optimizer. Two copies train on the same three seeds (same "
        "initial weights, same batches): one with batch norm before every nonlinearity, one "
        "without. Below the curves are the health monitors from Karpathy's BatchNorm lecture.")

d = exp.PlaygroundConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
config = exp.PlaygroundConfig(
    depth=ui.slider("Hidden layers", "depth", min_value=1, max_value=10, default=d.depth,
                    container=c1),
    width=ui.slider("Units per layer", "width", min_value=8, max_value=256, default=d.width,
                    step=8, container=c1),
    activation=ui.select("Activation", "activation", ["relu", "tanh", "sigmoid"], d.activation,
                         container=c2),
    optimizer=ui.select("Optimizer", "optimizer", ["sgd", "momentum", "adam"], d.optimizer,
                        format_func=lambda o: {"momentum": "sgd+momentum"}.get(o, o),
                        container=c2),
    lr=ui.select_slider("Learning rate", "lr", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
                        d.lr, container=c3),
    gain=ui.select_slider("Init gain (x He)", "gain", [0.1, 0.2, 0.5, 1.0, 2.0, 5.0], d.gain,
                          container=c3),
    batch_size=ui.select("Batch size", "batch_size", [8, 16, 32, 64, 128, 256], d.batch_size,
                         container=c4),
    steps=ui.slider("Steps", "steps", min_value=100, max_value=5000, default=d.steps, step=100,
                    container=c4),
    dropout=ui.select_slider("Dropout", "dropout", [0.0, 0.1, 0.2, 0.3, 0.5], d.dropout,
                             container=c4),
    seed=ui.seed(d.seed, container=c1),
)
ui.presets(exp.PRESETS, d, container=controls)

result = ui.run(exp.run_playground, config)
if result is None:
    st.stop()
s = result.summary
ui.diverged_note([f"{v} net, seed {seed}" for v, seeds in result.diverged.items() for seed in seeds])

left, right = st.columns(2)
with left:
    ui.chart(charts.loss_chart(result.curves, result.diverged_at))
with right:
    ui.chart(charts.accuracy_chart(result.accuracy))


def _acc(v: str) -> str:
    n = int(s[f"diverged_{v}"])
    if n == s["n_seeds"]:
        return "diverged on every seed"
    return f"{s[f'acc_{v}']:.1%} test accuracy" + (f" ({n} seed(s) diverged)" if n else "")


ui.verdict(
    "Batch norm makes training faster and more robust to the learning rate and the "
    "initialization.",
    [f"BN net: {_acc('bn')}; plain net: {_acc('plain')} (mean over {int(s['n_seeds'])} seeds).",
     f"Saturated or dead activations at the end: BN {s['saturation_bn']:.0%}, "
     f"plain {s['saturation_plain']:.0%}." if s["saturation_plain"] == s["saturation_plain"]
     else f"Saturated or dead activations at the end: BN {s['saturation_bn']:.0%}."],
    "Ioffe & Szegedy (2015) trained with 30x larger learning rates thanks to BN; Bjorck et al. "
    "(2018) showed that its benefit comes mostly from the large learning rates it tolerates. "
    "The health monitors are those of Karpathy's *makemore part 3* BatchNorm lecture.")

st.subheader("Health monitors")
ui.explain("Activations should be spread out, not piled at 0 (dead relu) or at ±1 (saturated "
           "tanh/sigmoid). The update:data ratio says how much each step changes a layer's "
           "weights; Karpathy's rule of thumb is about 1e-3 (the dashed line).")
when = st.radio("Snapshot", ["init", "end"], index=1, horizontal=True,
                format_func=lambda w: {"init": "at initialization", "end": "after training"}[w])
ui.chart(charts.histogram_chart(result.activations[result.activations.when == when],
                                "activation value"))
sat = result.saturation[result.saturation.when == when]
st.dataframe(sat.pivot(index="layer", columns="variant", values="saturation")
             .style.format("{:.1%}"), width="content")
ui.chart(charts.histogram_chart(result.gradients[result.gradients.when == when],
                                "weight gradient"))
ui.chart(charts.update_ratio_chart(result.update_ratio))
ui.show_code(exp.run_playground, charts.loss_chart)
