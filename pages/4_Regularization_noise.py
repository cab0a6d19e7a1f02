"""Page 4: "mini-batch statistics add noise to the hidden units, a slight regularizer like
dropout": the regularization itself (noise on vs off), then the noise, then ablation and ghosts."""
import streamlit as st

import ui
from bnjax.charts import regularization as charts
from bnjax.experiments import regularization as exp
from bnjax.narration import regularization as say

WORDS = ("regularization", "batch noise", "train/test gap", "confidence interval", "paired seeds",
         "mini-batch", "x̂", "full-batch gradient descent", "ghost batch", "dropout",
         "ablation", "AUC", "frozen statistics", "recomputed statistics",
         "population statistics", "eval mode", "momentum", "test accuracy", "seed spread")

ui.frame("Regularization noise")
st.title("Regularization noise")
answer = ui.lede(
    "How is batch norm a regularizer, like dropout?",
    "Batch norm adds some noise to the values of each hidden layer, because the mean and "
    "variance come from the mini-batch. Like dropout, this has a slight regularization "
    "effect: downstream units cannot rely too much on any one hidden unit.",
    "First the effect itself: the same networks trained with BN's batch noise on and off, "
    "on a training set small enough to overfit, over many seeds. Then the noise: one "
    "training image gets a different normalized value x̂ in every batch. Then whether the "
    "networks rely less on single units, as dropout nets do (Morcos et al. 2018). One "
    "convention for seed spreads on this page: a number in brackets after a mean, "
    "mean (lowest–highest), gives the lowest and highest seed; a 95% CI is a confidence "
    "interval of a mean over paired seeds.")
lecture = ui.lecture_mode()
first_chart = st.container()  # lecture mode: the first chart, right under the short answer
seed = ui.seed(0, container=ui.controls_area("Seed (every experiment on this page)"))
if not lecture:
    ui.glossary(*WORDS)

# ---------------------------------------------------------------------------- 3d
if not lecture:  # in lecture mode the first chart follows the short answer directly
    st.header("1 · Batch noise on vs off")
d = exp.RegularizationConfig()
controls = ui.controls_area()
c1, c2, c3 = controls.columns(3)
reg_config = exp.RegularizationConfig(
    group=ui.select_slider("BN group size (noise on)", "group", [8, 16, 32, 64, 96], d.group,
                           container=c1, help="The noise-on nets normalize each random group "
                           "of this many examples by its own mean and variance, as if it were a "
                           "mini-batch. Smaller groups, more noise. " + ui.term("batch noise")),
    subset=ui.select("Training digits", "subset", [192, 384], d.subset, container=c2,
                     help="A small training set, so the nets overfit and regularization has "
                          "something to do. " + ui.term("train/test gap")),
    seeds=ui.select_slider("Paired seeds", "reg_seeds", [10, 16, 24, 32], d.seeds,
                           container=c3, help=ui.term("confidence interval")),
    seed=seed)
ui.presets(exp.presets_of(exp.RegularizationConfig), d, keys={"seeds": "reg_seeds"},
           container=controls)


def effect_chart(result, live: bool = False):
    """The first chart, of a finished or a partial result (the seeds trained so far)."""
    s = result.summary
    title = say.effect_title(result.per_seed)
    if live:
        title = f"{title} · live: {int(s['n_seeds'])} of {result.config.seeds} seeds so far"
    chart = charts.regularization_chart(
        result.per_seed, s["test_acc_diff_low"], s["test_acc_diff_high"], title,
        subset=int(s["subset"]), group=int(s["group"]), height=150 if lecture else 240,
        panel_titles=not lecture)
    if live:  # a drawing that the final chart replaces: not recorded for downloads
        ui.live_chart(chart)
    else:
        ui.chart(chart)


def draw_live(update):
    """The first chart while the seeds train: it fills in seed by seed."""
    if update.partial is not None:
        effect_chart(update.partial, live=True)


with first_chart if lecture else st.container():
    reg = ui.run(exp.run_regularization, reg_config, what="Noise on vs off", live=draw_live)
    if reg is None:
        st.stop()
    r = reg.summary
    subset, group = int(r["subset"]), int(r["group"])
    ui.short_answer(answer, say.short_answer(reg.per_seed, subset, group))
    ui.diverged_note([f"{arm}, seed {s}" for arm, seeds in reg.diverged.items() for s in seeds])
    effect_chart(reg)
ui.explain(
    f"**How it is measured.** Each seed draws its own {subset} training digits and initial "
    f"weights, and trains two copies of a {reg_config.depth}x{reg_config.width} BN net for "
    f"{reg_config.steps} steps of gradient descent (momentum 0.9, learning rate "
    f"{reg_config.lr:g}). Every step uses **all** {subset} digits, so gradient descent adds no "
    "noise of its own: the only thing that differs between the copies is where BN takes its "
    f"mean and variance from. **Noise on**: every step the digits are dealt at random into "
    f"groups of {group}, each normalized by its own statistics, exactly as mini-batches of "
    f"{group} would be, so a digit's x̂ depends on who shares its group. **Noise off**: every "
    f"digit is normalized by the statistics of all {subset}: the same every time. Both are "
    "then tested the same way (eval mode, statistics of the training digits) on the 540 test "
    f"digits. {say.effect_sentence(reg.per_seed, subset, group, lead=False)} "
    f"{say.gap_sentence(reg.per_seed)} The interval is a 95% confidence interval of "
    f"the mean paired difference over {int(r['n_paired'])} seeds (Student t); it shrinks with "
    f"more seeds. ({2 * int(r['n_seeds'])} networks, trained in {reg.seconds:.1f} s.)")

# ---------------------------------------------------------------------------- 3a
st.header("2 · Where the noise comes from: the batch-noise meter")
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
                        container=c3, help=ui.term("momentum")),
    seed=seed)
ui.presets(exp.presets_of(exp.NoiseConfig), d, container=controls)
noise = ui.run(exp.run_noise_meter, noise_config, what="Noise meter")
if noise is None:
    st.stop()
n = noise.summary
ui.short_answer(answer, say.short_answer(reg.per_seed, subset, group, noise_std=noise.std,
                                         noise_summary=n))
ui.diverged_note([f"BN net, seed {s}" for s in noise.diverged])
left, right = st.columns([3, 2])
with left:
    ui.chart(charts.noise_chart(noise.std, n["noise_c"], say.noise_title(noise.std, n)))
with right:
    st.image(charts.digit_pixels(noise.image, 12),
             caption=f"training example {noise_config.example}, a {noise.label}")
    ui.chart(charts.strip_chart(noise.strip, "x_hat"))
    ui.chart(charts.strip_chart(noise.strip, "p_true"))
ui.explain(
    f"A {noise_config.depth}x{noise_config.width} BN net trained for {noise_config.steps} steps "
    f"(seeds {int(n['seed_first'])} to {int(n['seed_last'])}), then frozen. Training example "
    f"{noise_config.example} goes into {noise_config.batches} random batches of each size B, with "
    f"B - 1 other training images drawn at random; for each batch we record its x̂ at hidden "
    f"layer {noise_config.layer}, every unit. {say.noise_sentence(noise.std, n)} In numbers, "
    f"{say.slope_clause(n)}. It is "
    f"{say.full_batch_clause(n)}. Why: the mean of B random examples has variance σ²/B. The "
    "noise reaches the prediction: at B = 8 the probability of its class ranged from "
    f"{n['p_true_min_b8']:.0%} to {n['p_true_max_b8']:.0%} over 50 batches, at B = 128 from "
    f"{n['p_true_min_b128']:.0%} to {n['p_true_max_b128']:.0%} (first seed, the strips on the "
    "right).\n\n"
    "The slope depends on the example. This one sits at mean |x̂| = "
    f"{n['example_offset']:.2f} ({n['example_offset_min']:.2f}–{n['example_offset_max']:.2f}) "
    "from the mean under the population statistics. For an example far from the mean, 1/√B "
    "can only hold at large B, because at small B, |x̂| ≤ √(B-1) caps the spread: try example "
    "1, and compare the slope. The optimizer matters too (momentum shapes the units' "
    "distributions): try plain SGD.")

# ---------------------------------------------------------------------------- 3b
st.header("3 · Like dropout? Switching units off")
d = exp.AblationConfig()
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
ablation_config = exp.AblationConfig(
    dropout=ui.select_slider("Dropout rate", "dropout", [0.1, 0.2, 0.3, 0.5], d.dropout,
                             container=c1, help=ui.term("dropout")),
    dropout_lr=ui.select_slider("Dropout net's learning rate", "dropout_lr", [0.01, 0.02, 0.05],
                                d.dropout_lr, container=c2,
                                help="Dropout 0.5 fails to train at 0.05 with momentum; use 0.01."),
    steps=ui.select("Training steps", "steps", [1000, 3000], d.steps, container=c3),
    seed=seed)
stats = ui.select("BN statistics after ablation", "stats", ["both", "frozen", "recomputed"],
                  "both", container=c4,
                  format_func=lambda s: {"both": "both", "frozen": "frozen (inference)",
                                         "recomputed": "recomputed"}[s],
                  help=ui.term("frozen statistics") + " " + ui.term("recomputed statistics"))
ui.presets(exp.presets_of(exp.AblationConfig), d, container=controls)
ablation = ui.run(exp.run_ablation, ablation_config, what="Ablation")
if ablation is None:
    st.stop()
a = ablation.summary
ui.short_answer(answer, say.short_answer(reg.per_seed, subset, group, noise_std=noise.std,
                                         noise_summary=n, curves=ablation.curves))
ui.diverged_note([f"{v} net, seed {s}" for v, seeds in ablation.diverged.items() for s in seeds
                  if not v.startswith("BN (recomputed")])
shown = ["plain", "dropout"] + {"both": ["BN (frozen stats)", "BN (recomputed stats)"],
                                "frozen": ["BN (frozen stats)"],
                                "recomputed": ["BN (recomputed stats)"]}[stats]
layer = int(ablation_config.single_layer)
ui.chart(charts.ablation_chart(ablation.curves, shown, say.ablation_title(ablation.curves, shown),
                               dropout=ablation_config.dropout))
ui.chart(charts.single_unit_chart(ablation.single, shown,
                                  say.single_unit_title(ablation.single, shown, layer)))
found = say.ablation_sentences(ablation.curves)
ui.explain(
    f"Three {ablation_config.depth}x{ablation_config.width} nets per seed (plain, BN, dropout "
    f"{a['dropout']:.1f}), {ablation_config.steps} steps, the same initial weights and batches, "
    f"{int(a['n_seeds'])} seeds. Then units are switched off (their output set to 0) in a random "
    f"order, the same share in every hidden layer, {ablation_config.orders} random orders. The "
    "area under each curve (AUC, the mean accuracy over 0 to 90% switched off) sums up how "
    "well a net copes.\n\n"
    f"With **frozen** statistics (what a BN net does at test time), removing units shifts the "
    "mean and scale of every later layer's input away from the statistics BN was calibrated on: "
    f"the BN net is {found.get('frozen', '—')}. When the later BN layers **re-normalize** "
    "(statistics recomputed on the training set with the units removed), it is "
    f"{found.get('recomputed', '—')}. {say.recomputed_clause(ablation.curves)} "
    + (f"The dropout net did not train at this learning rate (test accuracy "
       f"{a['acc_dropout']:.1%}): lower its learning rate. " if not a["acc_dropout"] >= 0.5 else
       f"Dropout trains for exactly this: the dropout net is {found.get('dropout', '—')}, "
       f"{say.dropout_flat_clause(a)}. ")
    + "\n\nSingle units (second chart, layer "
    f"{layer}, the 16 largest drops, seed means): "
    f"{say.single_unit_sentence(ablation.single) or '—'}. One test image is worth "
    f"{100 * a['one_test_image']:.2f} points, so these rest on a handful of images.")

# ---------------------------------------------------------------------------- 3c
st.header("4 · Ghost batch norm: BN's noise inside an SGD batch")
d = exp.GhostConfig()
controls = ui.controls_area()
c1, c2 = controls.columns([1, 2])
run_ghost = ui.toggle("Train the ghost-batch nets", "ghost", False, container=c1,
                      help="5 variants x the seeds below, 2000 steps each: the slowest part of "
                           "this page. " + ui.term("ghost batch"))
ghost_config = exp.GhostConfig(
    seeds=ui.slider("Seeds", "ghost_seeds", min_value=2, max_value=6, default=d.seeds,
                    container=c2), seed=seed)
controls.markdown("**Presets:** " + " · ".join(  # these links also switch the experiment on
    f'<a href="?ghost=true&ghost_seeds={c.seeds}" target="_self">{name}</a>'
    for name, c in exp.presets_of(exp.GhostConfig).items()), unsafe_allow_html=True)
ui.explain(
    f"Section 1 removed SGD's noise to isolate BN's. This is the everyday setting: SGD batches of "
    f"{d.batch_size} examples, and only the group over which BN computes its mean and variance "
    "shrinks (Hoffer et al.'s ghost batches), so BN's noise grows while SGD's stays the same. A "
    f"{d.subset}-example training subset and {d.seeds} seeds by default: an effect of about a "
    f"point needs many more paired seeds to tell from luck (section 1 uses {reg_config.seeds}).")
g = None
if run_ghost:
    ghost = ui.run(exp.run_ghost, ghost_config, what="Ghost batches")
    if ghost is not None:
        g = ghost.summary
        ui.diverged_note([f"{v}, seed {s}" for v, seeds in ghost.diverged.items() for s in seeds])
        ui.chart(charts.ghost_chart(ghost.acc, say.ghost_title(ghost.acc)))
        ui.explain(
            f"Test accuracy over {int(g['n_seeds'])} seeds (mean, lowest–highest seed): BN with "
            f"{say.ghost_numbers(ghost.acc)}. {say.ghost_sentence(ghost.acc)}")
else:
    st.info("Switch on *Train the ghost-batch nets* (controls above) to run this experiment: "
            "20 networks or more, the slowest part of this page.", icon=":material/play_circle:")

measured = say.verdict_lines(reg.per_seed, subset, group, noise_std=noise.std, noise_summary=n,
                             curves=ablation.curves, single=ablation.single)
if g is not None:
    measured.append(say.ghost_sentence(ghost.acc))
ui.verdict(
    "BN adds noise to each hidden layer's values through the mini-batch statistics; like "
    "dropout, this has a slight regularization effect, so downstream units do not rely too "
    "much on any one unit.",
    measured,
    "The noise is real and shrinks like 1/√B (Luo et al. 2019 derive BN's batch-size-dependent "
    "regularizer; Hoffer et al. 2017 use ghost batches to keep it at large batch sizes). Ioffe "
    "& Szegedy 2015 found BN can reduce the need for dropout. Morcos et al. 2018 found that "
    "nets which generalize better rely less on single units, and BN nets less than others.")
if lecture:
    ui.glossary(*WORDS)
ui.show_code(exp.run_regularization, exp.subset_batches, exp.run_noise_meter, exp.x0_in_batch,
             exp.run_ablation, exp.masked_accuracy_recomputed)
