"""Page 4: batch norm's noise, measured; unit ablations against dropout; ghost batches."""
import streamlit as st

import ui
from bnjax.charts import regularization as charts
from bnjax.experiments import regularization as exp

ui.frame("Regularization noise")
st.title("Regularization noise: how batch norm is (a little) like dropout")
ui.lede("How is batch norm a regularizer, like dropout?",
        "Batch norm adds some noise to the values of each hidden layer, because the mean and "
        "variance come from the mini-batch. Like dropout, this has a slight regularization "
        "effect: downstream units cannot rely too much on any one hidden unit.",
        "Three experiments. **The noise meter** shows the noise itself: one training image, put "
        "into hundreds of random batches, gets a different normalized value x̂ in every batch. "
        "**Unit ablation** asks whether the network relies less on single units (Morcos et al. "
        "2018). **Ghost batches** isolate BN's noise from SGD's and ask whether more of it helps.")
seed = ui.seed(0, container=ui.controls_area("Seed (all three experiments)"))

# ---------------------------------------------------------------------------- 3a
st.header("1 · The batch-noise meter")
d = exp.NoiseConfig()
controls = ui.controls_area()
c1, c2, c3 = controls.columns([2, 1, 1])
noise_config = exp.NoiseConfig(
    example=ui.slider("Training example", "example", min_value=0, max_value=1256,
                      default=d.example, container=c1,
                      help="The image whose hidden value is measured in every batch."),
    layer=ui.select("Hidden layer", "layer", [1, 2, 3, 4], d.layer, container=c2),
    optimizer=ui.select("Optimizer", "optimizer", ["momentum", "sgd"], d.optimizer,
                        format_func=lambda o: {"momentum": "sgd+momentum"}.get(o, o),
                        container=c3),
    seed=seed)
ui.presets(exp.presets_of(exp.NoiseConfig), d, container=controls)
noise = ui.run(exp.run_noise_meter, noise_config, what="Noise meter")
if noise is None:
    st.stop()
n = noise.summary
ui.diverged_note([f"BN net, seed {s}" for s in noise.diverged])
left, right = st.columns([3, 2])
with left:
    ui.chart(charts.noise_chart(noise.std, n["noise_c"]))
with right:
    st.image(charts.digit_pixels(noise.image, 16),
             caption=f"training example {noise_config.example}, a {noise.label}")
    ui.chart(charts.strip_chart(noise.strip, "x_hat"))
    ui.chart(charts.strip_chart(noise.strip, "p_true"))
ui.explain(
    f"A {noise_config.depth}x{noise_config.width} BN net trained for {noise_config.steps} steps "
    f"(seeds {int(n['seed_first'])} to {int(n['seed_last'])}), then frozen. Training example "
    f"{noise_config.example} goes into {noise_config.batches} random batches of each size B, with "
    f"B - 1 other training images drawn at random; for each batch we record its x̂ at hidden "
    f"layer {noise_config.layer}, every unit. The spread across batches is the noise BN adds to "
    f"this one image: **{n['noise_std_bmin']:.2f} at B = {int(n['b_min'])}, "
    f"{n['noise_std_b16']:.2f} at B = 16, {n['noise_std_bmax']:.3f} at B = {int(n['b_max'])}**, "
    f"and {n['noise_std_full']:.0e} when the batch is the whole training set of "
    f"{int(n['n_train'])}. The slope on log-log axes is "
    f"**{n['noise_slope']:.2f}** (seeds range {n['noise_slope_min']:.2f} to "
    f"{n['noise_slope_max']:.2f}); a pure 1/√B law has slope -0.5. Why: the batch mean of B "
    "random examples has variance σ²/B. The noise reaches the prediction: at B = 8 the "
    f"probability of its class ranged from {n['p_true_min_b8']:.2f} to {n['p_true_max_b8']:.2f} "
    f"over 50 batches, at B = 128 from {n['p_true_min_b128']:.2f} to {n['p_true_max_b128']:.2f}.\n\n"
    f"The slope depends on the example. This one sits at mean |x̂| = {n['example_offset']:.2f} "
    "from the batch mean under the population statistics; an example far from the mean has a "
    "flatter slope (1/√B only holds for it at large B: at small B, |x̂| ≤ √(B-1) caps the "
    "spread). Try example 1. Without momentum the units' distributions have heavier tails and "
    "the slope is a little flatter too.")

# ---------------------------------------------------------------------------- 3b
st.header("2 · Reliance on single units: ablation, BN against dropout")
d = exp.AblationConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
ablation_config = exp.AblationConfig(
    dropout=ui.select_slider("Dropout rate", "dropout", [0.1, 0.2, 0.3, 0.5], d.dropout,
                             container=c1),
    dropout_lr=ui.select_slider("Dropout net's learning rate", "dropout_lr", [0.01, 0.02, 0.05],
                                d.dropout_lr, container=c2,
                                help="Dropout 0.5 fails to train at 0.05 with momentum; use 0.01."),
    steps=ui.select("Training steps", "steps", [1000, 3000], d.steps, container=c3),
    seed=seed)
stats = ui.select("BN statistics after ablation", "stats", ["both", "frozen", "recomputed"],
                  "both", container=c4,
                  format_func=lambda s: {"both": "both", "frozen": "frozen (inference)",
                                         "recomputed": "recomputed"}[s],
                  help="Frozen: the population statistics of the intact net. Recomputed: the "
                       "statistics measured again on the training set with the units removed.")
ui.presets(exp.presets_of(exp.AblationConfig), d, container=controls)
ablation = ui.run(exp.run_ablation, ablation_config, what="Ablation")
if ablation is None:
    st.stop()
a = ablation.summary
ui.diverged_note([f"{v} net, seed {s}" for v, seeds in ablation.diverged.items() for s in seeds
                  if not v.startswith("BN (recomputed")])
shown = ["plain", "dropout"] + {"both": ["BN (frozen stats)", "BN (recomputed stats)"],
                                "frozen": ["BN (frozen stats)"],
                                "recomputed": ["BN (recomputed stats)"]}[stats]
left, right = st.columns([3, 2])
with left:
    ui.chart(charts.ablation_chart(ablation.curves, shown))
with right:
    ui.chart(charts.single_unit_chart(ablation.single, shown))
ui.explain(
    f"Three {ablation_config.depth}x{ablation_config.width} nets per seed (plain, BN, dropout "
    f"{a['dropout']:.1f}), {ablation_config.steps} steps, the same initial weights and batches, "
    f"{int(a['n_seeds'])} seeds. Then units are switched off (their output set to 0) in a random "
    f"order, the same fraction in every hidden layer, {ablation_config.orders} random orders. "
    "The area under each curve (AUC, the mean accuracy over fractions 0 to 90%) sums up the "
    f"robustness: **plain {a['auc_plain']:.3f}, BN with frozen statistics "
    f"{a['auc_bn_frozen']:.3f}, BN with recomputed statistics {a['auc_bn_recomputed']:.3f}, "
    f"dropout {a['auc_dropout']:.3f}**.\n\n"
    "With **frozen** statistics (what a BN net does at test time), removing units shifts the "
    "mean and scale of every downstream layer's input away from the statistics BN was calibrated "
    "on, and this MLP's BN net is "
    + ("*less* robust than the plain one" if a["auc_bn_frozen"] < a["auc_plain"]
       else "not less robust than the plain one in this run") + ". When the downstream BN "
    "layers **re-normalize** (statistics recomputed on the training set with the units removed), "
    + ("BN absorbs much of the damage and beats the plain net: Morcos et al.'s claim appears "
       "only in that mode. " if a["auc_bn_recomputed"] > a["auc_plain"]
       else "BN still does not beat the plain net in this run. ")
    + (f"The dropout net did not train at this learning rate (test accuracy "
       f"{a['acc_dropout']:.1%}): lower its learning rate. " if not a["acc_dropout"] >= 0.5 else
       "Dropout is flat up to about its own rate, then collapses: it trained for exactly this "
       f"(worst accuracy up to 30% ablated: {a['dropout_min_acc_to_f3']:.1%}). ")
    + "\n\n"
    f"Single units (right, layer {ablation_config.single_layer}, the 16 largest drops): the "
    f"largest drop is {a['max_drop_plain']:.2%} plain, {a['max_drop_bn_frozen']:.2%} BN frozen, "
    f"{a['max_drop_bn_recomputed']:.2%} BN recomputed, {a['max_drop_dropout']:.2%} dropout "
    f"(seed means; one test image is {a['one_test_image']:.2%}, so these rest on a handful of "
    "images).")

# ---------------------------------------------------------------------------- 3c
st.header("3 · Ghost batch norm: BN's noise alone")
d = exp.GhostConfig()
controls = ui.controls_area()
c1, c2 = controls.columns([1, 2])
run_ghost = ui.toggle("Train the ghost-batch nets", "ghost", False, container=c1,
                      help="5 variants x the seeds below, 2000 steps each: the slowest part of this page.")
ghost_config = exp.GhostConfig(
    seeds=ui.slider("Seeds", "ghost_seeds", min_value=2, max_value=6, default=d.seeds,
                    container=c2), seed=seed)
controls.markdown("**Presets:** " + " · ".join(  # these links also switch the experiment on
    f'<a href="?ghost=true&ghost_seeds={c.seeds}" target="_self">{name}</a>'
    for name, c in exp.presets_of(exp.GhostConfig).items()), unsafe_allow_html=True)
ui.explain(
    f"The SGD batch stays at {d.batch_size} examples; only the group over which BN computes its "
    "mean and variance shrinks (Hoffer et al.'s ghost batches), so BN's noise grows while "
    f"SGD's stays the same. A {d.subset}-example training subset, where regularization matters.")
g = None
if run_ghost:
    ghost = ui.run(exp.run_ghost, ghost_config, what="Ghost batches")
    if ghost is not None:
        g = ghost.summary
        ui.diverged_note([f"{v}, seed {s}" for v, seeds in ghost.diverged.items() for s in seeds])
        ui.chart(charts.ghost_chart(ghost.acc))
        ui.explain(
            f"Test accuracy over {int(g['n_seeds'])} seeds: BN with G = 128 "
            f"{g['acc_g128']:.3f} ± {g['acc_g128_std']:.3f}, G = 32 {g['acc_g32']:.3f}, "
            f"G = 8 {g['acc_g8']:.3f} ± {g['acc_g8_std']:.3f}, G = 4 {g['acc_g4']:.3f}; "
            f"plain {g['acc_plain']:.3f}. G = 8 minus G = 128 on the same seeds: "
            f"{g['ghost_gain_8_vs_128']:+.3f} ± {g['ghost_gain_8_vs_128_std']:.3f}. The effect is "
            "about one seed standard deviation: shown here, not claimed. The test suite asserts "
            "it only over 10 paired seeds (paired t-test).")
else:
    st.info("Switch on *Train the ghost-batch nets* (controls above) to run this experiment: "
            "20 networks or more, the slowest part of this page.", icon=":material/play_circle:")

measured = [
    f"One image's x̂ varies from batch to batch with std {n['noise_std_b16']:.2f} at B = 16, "
    f"falling like B^{n['noise_slope']:.2f} (1/√B is B^-0.5); {n['noise_std_full']:.0e} with "
    "the full training set as the batch.",
    f"Ablation AUC: plain {a['auc_plain']:.3f}; BN {a['auc_bn_frozen']:.3f} with frozen "
    f"statistics ({'less' if a['auc_bn_frozen'] < a['auc_plain'] else 'more'} robust than plain), "
    f"{a['auc_bn_recomputed']:.3f} recomputed; dropout {a['auc_dropout']:.3f}.",
    f"Largest single-unit drop: plain {a['max_drop_plain']:.2%}, BN {a['max_drop_bn_frozen']:.2%} "
    f"(frozen), dropout {a['max_drop_dropout']:.2%}.",
]
if g is not None:
    measured.append(f"Ghost batches: G = 8 vs 128, {g['ghost_gain_8_vs_128']:+.3f} test accuracy "
                    f"(seed std {g['ghost_gain_8_vs_128_std']:.3f}).")
ui.verdict(
    "BN adds noise to each hidden layer's values through the mini-batch statistics; like "
    "dropout, this has a slight regularization effect, so downstream units do not rely too "
    "much on any one unit.",
    measured,
    "The noise is real and shrinks like 1/√B (Luo et al. 2019 derive BN's batch-size-dependent "
    "regularizer; Hoffer et al. 2017 use ghost batches to keep it at large batch sizes). Morcos "
    "et al. 2018 found BN nets rely less on single units; here that holds only when BN "
    "re-normalizes after the ablation. Ioffe & Szegedy 2015 found BN can reduce the need for "
    "dropout; Hoffer et al.'s ghost batches gain about a point of accuracy, a slight effect, "
    "the size of the seed-to-seed spread here.")
ui.show_code(exp.run_noise_meter, exp._x0_in_batch, exp.run_ablation, exp._accuracy_recomputed)
