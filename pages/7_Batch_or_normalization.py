"""Page 7: "why not LayerNorm?": BN, LayerNorm and plain side by side, one section per claim, to
see which of batch norm's effects come from normalizing and which from the batch."""
import streamlit as st

import ui
from ui import live
from bnjax.charts import normalization as charts
from bnjax.experiments import normalization as exp
from bnjax.narration import normalization as say

WORDS = ("batch norm (BN)", "LayerNorm", "plain", "relative change", "affine", "batch noise",
         "x̂", "running statistics", "population statistics", "good cell",
         "largest lr that learns", "ln 10", "invariant", "effective rank", "gradient")

ui.frame("Batch or normalization?")
st.title("Batch or normalization? BN beside LayerNorm")
answer = ui.lede(
    "Why not LayerNorm? Which of batch norm's effects need the batch?",
    "Batch norm normalizes each unit over the mini-batch; that is what makes later layers "
    "robust, adds a little regularizing noise, and makes the learning rate easier to choose.",
    "LayerNorm (Ba et al. 2016) normalizes each example over its own units instead: the same "
    "formula, γ·x̂ + β before the nonlinearity, with no batch in it. So three copies of one "
    "network, with BN, with LayerNorm and with no normalization (plain), trained on the same "
    "seeds and batches, sort the lecture's claims: what LayerNorm keeps comes from "
    "normalizing, what it loses comes from the batch.")
lecture = ui.lecture_mode()
first_chart = st.container()  # lecture mode: the first chart right under the short answer

d = exp.PageConfig()
epochs = exp.SmallBatchConfig().epochs
controls = ui.controls_area()
c1, c2, c3, c4 = controls.columns(4)
lr_fmt = lambda v: f"{v:g}"  # noqa: E731
SCALING = {"sqrt": f"× √(B/{exp.LR_BATCH})", "none": "unchanged"}
page = exp.PageConfig(
    seed=ui.seed(d.seed, container=c1),
    n_seeds=ui.slider("Seeds", "n_seeds", min_value=1, max_value=3, default=d.n_seeds,
                      container=c1, help=ui.term("seed spread")),
    lr=ui.select_slider("Learning rate, Q1 (SGD)", "lr", [0.01, 0.02, 0.05, 0.1, 0.2], d.lr,
                        format_func=lr_fmt, container=c2, help=ui.term("learning rate")),
    sb_lr=ui.select_slider(f"Learning rate at batch {exp.LR_BATCH}, small batches (SGD)",
                           "sb_lr", [0.005, 0.01, 0.02, 0.05, 0.1], d.sb_lr, format_func=lr_fmt,
                           container=c3, help=f"Every batch size trains for the same {epochs} "
                           f"epochs (batch {exp.TINY_BATCH}: at most "
                           f"{exp.tiny_batch_steps():,} steps per net)."),
    sb_scaling=ui.select("Learning rate at other batch sizes", "sb_scaling",
                         list(exp.LR_SCALINGS), d.sb_scaling, container=c3,
                         format_func=SCALING.get,
                         help=f"× √(B / {exp.LR_BATCH}): a smaller batch gives noisier "
                              "gradients, so it takes smaller steps, the same gradient noise per "
                              "epoch at every batch size (Hoffer et al. 2017). Unchanged: batch "
                              f"{exp.TINY_BATCH} takes steps as large as batch "
                              f"{exp.LR_BATCH}'s."),
    steps=ui.select("Training steps, landscape", "steps", [250, 500, 1000], d.steps,
                    container=c4, help=f"Steps of every network of the Q4 grid (page 5 uses "
                    f"{exp.PAGE5_STEPS}; three nets and three seeds train here)."),
)
c1.caption(f"Seeds {page.seed} to {page.seed + page.n_seeds - 1}: the same initial weights "
           "and batches for the three nets.")
ui.presets(exp.PRESETS, d, container=controls)
inv_cfg, noise_cfg, small_cfg, land_cfg, depth_cfg = exp.configs(page)
if not lecture:
    ui.glossary(*WORDS)
done: dict = {}


def answer_now() -> None:
    ui.short_answer(answer, say.short_answer(**done))


# ---------------------------------------------------------------------------- Q1
if not lecture:
    st.header("Q1 · Robust to which changes?")
    ui.explain(f"Three {inv_cfg.depth}x{inv_cfg.width} ReLU nets per seed train "
               f"{inv_cfg.steps} steps (SGD, lr {inv_cfg.lr:g}). Then we change their first "
               "layer three ways and measure how far the logits on the training set move "
               "(‖new − old‖ / ‖old‖; BN uses the training set's own statistics): **(a)** "
               "every unit's weights times its own factor between 0.5 and 2, plus a shift of "
               "half its spread; **(b)** the whole W1 times 3; **(c)** a random direction of "
               "size 0.5‖W1‖.")
# While they train, their loss curves, live: the first chart (in lecture mode under the answer).
with first_chart if lecture else st.container():
    inv = ui.run(exp.run_invariances, inv_cfg, what="Q1 invariances",
                 live=live.training_curves(
                     title="Training loss, live: BN, LayerNorm and plain (each line a seed)",
                     height=150 if lecture else 300))
if inv is not None:
    done["inv"] = inv
    answer_now()
    ui.diverged_note([f"{v} (seed {s})" for v, s in
                      inv.runs[inv.runs.diverged][["variant", "seed"]].itertuples(index=False)])
    with first_chart if lecture else st.container():
        title = say.invariance_title(inv)
        ui.chart(charts.invariance_chart(inv.changes, exp.CHANGE_SHORT,
                                         title[:1] if lecture else title,
                                         height=95 if lecture else 300, compact=lecture))
    st.markdown(say.invariance_table(inv))
    ui.verdict(
        "With BN, a later layer is robust to changes in earlier layers: the mean and variance "
        "of what it sees stay the same.",
        say.invariance_lines(inv),
        "Ioffe & Szegedy (2015, Sec. 3.3): BN(aWu) = BN(Wu) for a per-unit scale, and a shift "
        "is removed with the mean. Ba et al. (2016, Table 1): LayerNorm is invariant to "
        "rescaling a whole weight matrix, not to rescaling single units.")

# ---------------------------------------------------------------------------- Q3
st.header("Q3 · Noise from the batch")
ui.explain(f"Page 4's batch-noise meter for both norms: {noise_cfg.depth}x{noise_cfg.width} "
           f"nets like Q1's, trained {noise_cfg.steps} steps (SGD, lr {noise_cfg.lr:g}), then "
           f"training image "
           f"{noise_cfg.example} goes into {noise_cfg.batches} random batches of each size, and "
           f"we measure how much its normalized value x̂ at hidden layer {noise_cfg.layer} "
           f"moves from batch to batch (the std across batches, the median over the layer's "
           f"{noise_cfg.width} units).")
noise = ui.run(exp.run_noise_meter, noise_cfg, what="Q3 batch noise")
if noise is not None:
    done["noise"] = noise
    answer_now()
    ui.chart(charts.noise_chart(noise.std, noise.summary.get("noise_c_bn"),
                                say.noise_title(noise)))
sizes = sorted(small_cfg.batch_sizes)
lr_text = (f"SGD, lr {small_cfg.lr:g} at batch {exp.LR_BATCH}, times √(B/{exp.LR_BATCH}) at "
           f"batch B: {exp.batch_lr(small_cfg, sizes[0]):.2g} at batch {sizes[0]}, "
           f"{exp.batch_lr(small_cfg, sizes[-1]):.2g} at batch {sizes[-1]}, so that every batch "
           "size gets the same gradient noise per epoch"
           if small_cfg.lr_scaling == "sqrt" else f"SGD, lr {small_cfg.lr:g} at every batch size")
capped = exp.capped_sizes(small_cfg, exp.N_TRAIN)
cap_text = (" (" + "; ".join(f"batch {b}: at most {steps:,} steps, {ep:.1f} epochs"
                            for b, steps, ep in capped) + ", to keep the page quick)"
            if capped else "")
ui.explain(f"Then the price of the batch: each net trains for {small_cfg.epochs} epochs at "
           f"batch sizes {', '.join(map(str, sizes[:-1]))} and {sizes[-1]}{cap_text} "
           f"({lr_text}), and BN "
           "is tested twice: with the running statistics it kept while training, and with "
           "population statistics of the whole training set.")
small = ui.run(exp.run_small_batches, small_cfg, what="Q3 small batches")
if small is not None:
    done["small"] = small
    answer_now()
    ui.diverged_note([f"{v} at batch {b} (seed {s})" for v, b, s in small.acc[
        small.acc.diverged & (small.acc.variant != exp.BN_RUNNING)][
        ["variant", "batch_size", "seed"]].itertuples(index=False)])
    ui.chart(charts.small_batch_chart(small.acc, say.small_title(small)))
if noise is not None and small is not None:
    ui.verdict(
        "BN adds noise to each hidden layer's values through the mini-batch statistics, a "
        "slight regularizer, like dropout.",
        say.noise_lines(noise) + say.small_lines(small),
        "Ba et al. (2016) built LayerNorm for the cases where the batch is the problem: small "
        "or variable batches and recurrent nets. Ioffe (2017, Batch Renormalization) shows BN "
        "trained on small batches suffers because training and inference normalize "
        "differently; Wu & He (2018, Group Norm) measure the same collapse at small batches.")

# ---------------------------------------------------------------------------- Q4
st.header("Q4 · The landscape")
ui.explain(f"Page 5's grid for all three nets: every learning rate x init gain, "
           f"{land_cfg.steps} steps of SGD, {land_cfg.n_seeds} seed(s). Then the learning rates "
           "along gain 1, continued to 10: the largest one that still learns (it and every "
           "smaller one, from the smallest that learns, end below half their starting loss), "
           "and what failure looks like.")
land = ui.run(exp.run_landscape, land_cfg, what="Q4 landscape")
if land is not None:
    done["land"] = land
    answer_now()
    ls = land.summary
    runs_ = land.per_seed
    ui.diverged_note([f"{v}: {int(runs_[runs_.variant == v].diverged.sum())} of "
                      f"{int((runs_.variant == v).sum())} runs" for v, _, _ in exp.NETS
                      if runs_[runs_.variant == v].diverged.any()])
    ui.chart(charts.heatmaps_chart(land.cells, exp.GOOD, say.landscape_title(land),
                                   width=165 if lecture else 200))  # fits 1280 px, both modes
    ui.chart(charts.sweep_chart(land.sweep, exp.largest_on_every_seed(land), ls["ln10"],
                                say.sweep_title(land)))
    show = exp.showcase_lr(land)
    ui.chart(charts.curves_chart(land.curves, show, ls["ln10"], say.curves_title(land, show)))
    ui.verdict(
        "With batch norm the search over hyperparameters becomes much easier: the network is "
        "far more robust to the learning rate and the initialization.",
        say.landscape_lines(land),
        "Bjorck et al. (2018): BN's benefit comes mostly from the larger learning rates it "
        "allows. Xiong et al. (2020) show LayerNorm's placement decides how large a learning "
        "rate a Transformer tolerates; here LayerNorm sits where BN does.")

# ---------------------------------------------------------------------------- depth
st.header("Deep nets at initialization")
depth_cfg = exp.replace(depth_cfg, depth=ui.slider(
    "Depth (hidden layers)", "depth", min_value=2, max_value=exp.MAX_DEPTH, default=d.depth,
    help="No training here: a new depth reruns only this section, in a fraction of a second "
         "(the depth is a traced value, so nothing compiles again)."))
ui.explain(f"No training: {depth_cfg.depth}-layer, {depth_cfg.width}-unit ReLU nets straight "
           f"from their He initialization, one batch of {depth_cfg.batch_size} training "
           "images forward and backward (BN on that batch's statistics).")
deep = ui.run(exp.run_depth, depth_cfg, what="Deep nets")
if deep is not None:
    done["depth"] = deep
    answer_now()
    rank_title, grad_title = say.depth_titles(deep)
    left, right = st.columns(2)
    with left:
        ui.chart(charts.depth_rank_chart(deep.layers, rank_title))
    with right:
        ui.chart(charts.depth_grad_chart(deep.layers, grad_title))
    ui.verdict(
        "(The lecture does not discuss depth; BN is usually credited with making deep nets "
        "trainable.)",
        say.depth_lines(deep),
        "Daneshmand et al. (2020): BN provably keeps the representations of a deep random net "
        "from collapsing to rank one. Yang et al. (2019): at initialization, BN makes the "
        "gradients explode toward the input, and deep BN nets are untrainable without skip "
        "connections.")

if lecture:
    ui.glossary(*WORDS)
ui.show_code(exp.run_invariances, exp._changes, exp.run_noise_meter, exp._x0_hat,
             exp.run_small_batches, exp.run_landscape, exp._depth_probe)
