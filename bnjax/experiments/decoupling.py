"""Page 3, layer decoupling: "each layer learns more independently".

Teaches, with BN and plain nets trained on the same seeds and batches:
  the concrete example first: what "coupling" means. Multiply layer 1's weights W1 of the trained
      nets by c (2 by default) and look at a later layer: with BN its inputs and the gradient of
      its weights do not change at all (BN divides the factor out); without BN they change by as
      much as their own size. Later layers are decoupled from the *scale* of earlier ones.
  2a  internal covariate shift as Santurkar et al. 2018 define it (Def. 2.1): for layer i, the
      gradient G of W_i, and G' after layers 1..i-1 took their SGD step, on the same batch;
      cos(G, G') and ||G - G'|| / ||G|| per layer over training. BN does *not* make this smaller
      (the paper: "similar, or even worse"), and this run shows it.
  2b  noisy BN: after every BN layer, noise whose mean and scale are redrawn every step
      (Santurkar Sec. 2.1), the same noise on the plain net as a control: learning survives a
      layer input distribution that never sits still.
  2c  the synthesis: BN decouples the *statistics* of consecutive layers exactly (1b's affine
      change of layer 1 does not reach any later layer), not their *gradients* (2a).
Leaves out: the loss-landscape explanation of why BN helps anyway (page 5).

    result = run_decoupling(DecouplingConfig(seed=0))
    result.summary["ics_cos_bn"], result.summary["ics_cos_plain"]
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from bnjax.data import batch_indices, load_digits
from bnjax.experiments.covariate_shift import CHUNK, REFERENCE_SIZE, SIZES, perturb_runs
from bnjax.nn import MLPSpec, mlp_apply
from bnjax.train import INIT_COMPILER_OPTIONS, TrainConfig, hparams, loss_fn, train_runs

BN, PLAIN, NOISY_BN, NOISY_PLAIN = "BN", "plain", "noisy BN", "noisy plain"
PROBE_EVERY = 100  # steps between Def. 2.1 probes (a multiple of CHUNK)
LOSS_EVERY = 10  # the learning curves average the batch loss over windows of this many steps
# The concrete example: W1 -> c * W1, each c (traced) in one program. Powers of two, so that
# with eps scaled BN's invariance is exact to the bit; another c (10, say) leaves rounding
# (~1e-6), which now and then flips a ReLU input sitting at 0 (~1e-3 for that layer).
FACTORS = (0.5, 2.0, 8.0)
EXAMPLE_FACTOR = 2.0  # the factor the summary (and the page's default view) reports
N_WEIGHTS = 300  # weights of the example layer drawn in the scatter (a fixed sample)


@dataclass(frozen=True)
class DecouplingConfig:
    """The page's default view: 8x64 ReLU, plain SGD at lr 0.05, 1000 steps, seeds seed..seed+2,
    Def. 2.1 probed every 100 steps, noise a = 0.25 after every BN (or linear) layer."""
    seed: int = 0
    depth: int = 8
    width: int = 64
    activation: str = "relu"
    lr: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    noise: float = 0.25  # a: mean ~ U(-a, a), std ~ U(0, a) per unit, redrawn every step
    n_seeds: int = 3

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))

    def clean(self) -> "DecouplingConfig":
        """The same nets without noise: what `run_gradients` trains."""
        return replace(self, noise=0.0)

    @property
    def mid_layer(self) -> int:
        """The layer (1-based) whose Def. 2.1 cosine the summary reports: 5 of 8."""
        return self.depth // 2 + 1


EXAMPLE_COLUMNS = ["variant", "seed", "factor", "layer", "input_change", "grad_change",
                   "grad_ratio"]
WEIGHT_COLUMNS = ["variant", "seed", "factor", "weight", "g", "g_scaled"]


@dataclass
class DecouplingResult:
    config: DecouplingConfig
    summary: dict[str, float]  # the numbers the verdict states (seed means)
    ics: pd.DataFrame  # step, variant, seed, layer, cos, rel (2a, layers 2..depth)
    curves: pd.DataFrame  # step, variant, seed, loss (2b, window means of the batch loss)
    accuracy: pd.DataFrame  # step, variant, seed, test_acc (2b)
    stats: pd.DataFrame  # variant, seed, layer, rel_change (2c: affine change of layer 1)
    runs: pd.DataFrame  # variant, seed, diverged, test_acc
    diverged: dict[str, bool] = field(default_factory=dict)
    # The concrete example (clean nets): W1 -> factor * W1. Per later layer: the relative change
    # of its input and of its weights' gradient, ||G' - G|| / ||G|| and ||G'|| / ||G||.
    example: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXAMPLE_COLUMNS))
    # A fixed sample of the example layer's weights: each one's gradient before and after.
    weights: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WEIGHT_COLUMNS))


# ---------------------------------------------------------------------------- the probe (jitted)


def ics_probe(params, state, x, y, lr, spec: MLPSpec):
    """Santurkar et al. 2018, Def. 2.1, on one batch, for layers 2..depth.

    G_i = dL/dW_i at theta_t; theta' = theta_t with the weights W_j of layers j < i moved by
    -lr * G_j (plain SGD); G'_i = dL/dW_i at theta' on the same batch (train-mode BN).
    Returns (cos(G, G'), ||G - G'|| / ||G||), each (depth - 1,).
    """
    def grads(p):
        return jax.grad(lambda q: loss_fn(q, state, x, y, spec=spec, train=True)[0])(p)

    g = grads(params)
    layers = jnp.arange(1, spec.depth)  # i (0-based) for layers 2..depth

    def lookahead(i):  # G' for every layer at once, with layers j < i moved
        moved = tuple(h._replace(dense=h.dense._replace(
            w=h.dense.w - jnp.where(j < i, lr, 0.0) * gh.dense.w))
            for j, (h, gh) in enumerate(zip(params.hidden, g.hidden)))
        return grads(params._replace(hidden=moved))

    # One batched backward pass for all i (one small program instead of depth - 1 copies).
    g2 = jax.vmap(lookahead)(layers)
    cos, rel = [], []
    for i in range(1, spec.depth):
        g1, gp = g.hidden[i].dense.w, g2.hidden[i].dense.w[i - 1]
        n1, n2 = jnp.linalg.norm(g1), jnp.linalg.norm(gp)
        cos.append(jnp.vdot(g1, gp) / (n1 * n2 + 1e-30))
        rel.append(jnp.linalg.norm(g1 - gp) / (n1 + 1e-30))
    return jnp.stack(cos), jnp.stack(rel)


# Module-level compiled probe, vmapped over runs (each run has its own batch).
ics_runs = jax.jit(jax.vmap(ics_probe, in_axes=(0, 0, 0, 0, None, None)), static_argnames="spec")


def rescale_probe(params, state, x, y, factors, spec: MLPSpec):
    """The concrete example of coupling, on one trained net: W1 -> c * W1 for each c in `factors`.

    Over the whole set (x, y) as one batch (train mode: BN on the set's statistics), for every
    hidden layer i: its input to the nonlinearity h_i and the gradient G_i = dL/dW_i, before and
    after the change. With BN (layer 1 has no bias) c * W1 x normalizes to the same values, so
    for i >= 2 nothing changes, exactly, if BN's eps scales with c too: evaluate with a spec whose
    eps is 0 (`example_spec`) and a power-of-two c changes no bit. Without BN every later value
    moves. `factors` is traced: any c, one compiled program.

    Returns, with a leading (F,) axis: ||h' - h|| / ||h|| and ||G' - G|| / ||G|| (F, depth), the
    norm ratios ||G'|| / ||G|| (F, depth), and the gradient of layer `spec.depth // 2 + 1` (the
    example layer) before (width, width) and after (F, width, width).
    """
    w1 = params.hidden[0].dense.w  # (n_in, width)

    def measure(c):
        first = params.hidden[0]._replace(dense=params.hidden[0].dense._replace(w=c * w1))
        p = params._replace(hidden=(first,) + tuple(params.hidden[1:]))

        def loss(q):
            logits, _, trace = mlp_apply(q, state, x, spec=spec, train=True, with_trace=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), trace.h

        g, h = jax.grad(loss, has_aux=True)(p)
        return h, tuple(layer.dense.w for layer in g.hidden)

    # c = 1 (the trained net) and every factor in one batched pass.
    cs = jnp.concatenate([jnp.ones((1,), jnp.float32), jnp.asarray(factors, jnp.float32)])
    h, g = jax.vmap(measure)(cs)  # leading axis F + 1

    def norm(a):  # (F + 1, ...) -> (F + 1,)
        return jnp.sqrt((a ** 2).sum(tuple(range(1, a.ndim))))

    def rel(a):  # (F + 1, ...) -> (F,): ||a_c - a_1|| / ||a_1||
        return norm(a[1:] - a[:1]) / (norm(a[:1]) + 1e-30)

    rel_h = jnp.stack([rel(a) for a in h], 1)  # (F, depth)
    rel_g = jnp.stack([rel(a) for a in g], 1)  # (F, depth)
    ratio_g = jnp.stack([norm(a)[1:] / (norm(a)[:1] + 1e-30) for a in g], 1)  # (F, depth)
    mid = g[spec.depth // 2]  # (F + 1, width, width): layer depth // 2 + 1
    return rel_h, rel_g, ratio_g, mid[0], mid[1:]


# Module-level compiled probe, vmapped over runs; the factors are traced (no recompile per c).
# It runs once per trained net, so it compiles at LLVM level 1 (as the init programs do): about
# half the compile time, the same numbers (compared in tests/test_decoupling.py).
rescale_runs = jax.jit(jax.vmap(rescale_probe, in_axes=(0, 0, None, None, None, None)),
                       static_argnames="spec", compiler_options=INIT_COMPILER_OPTIONS)


def example_spec(spec: MLPSpec) -> MLPSpec:
    """The spec the concrete example evaluates with: BN's eps = 0, the one part of BN that does
    not scale with W1. (With eps = 1e-5 the changes are ~1e-6, and up to ~1e-3 where the
    rounding flips a ReLU input sitting at 0.) Plain nets have no eps: the rest is the same."""
    return spec._replace(eps=0.0)


# ---------------------------------------------------------------------------- the experiment


def _train(config: DecouplingConfig, bn: bool, noisy: bool, data, progress, lo, hi):
    """The seeds of one variant. Clean runs probe Def. 2.1 every PROBE_EVERY steps; they use
    the same compiled program as page 2 (same config, same chunk), so either page warms the
    other. Noisy runs need fresh noise every step (a separate, slower program)."""
    spec = MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=bn)
    # Noisy runs draw only the noise ("noise"): no dropout masks, which would cost as much again.
    tcfg = TrainConfig(spec=spec, optimizer="sgd", batch_size=config.batch_size,
                      stochastic="noise" if noisy else False)
    # The same batches train_runs draws (batch_indices is deterministic in the seed).
    idx = np.stack([batch_indices(s, config.steps, config.batch_size, len(data.x_train))
                    for s in config.seeds])  # (n, steps, batch)
    lr = jnp.float32(config.lr)
    probes = []  # (step, cos (n, depth - 1), rel (n, depth - 1))

    def on_chunk(step, carry):
        if noisy or step >= config.steps or step % PROBE_EVERY:
            return
        b = idx[:, step]  # (n, batch): the batch of the next step
        cos, rel = ics_runs(carry.params, carry.state, jnp.asarray(data.x_train[b]),
                            jnp.asarray(data.y_train[b]), lr, spec)
        probes.append((step, np.asarray(cos), np.asarray(rel)))

    name = (NOISY_BN if bn else NOISY_PLAIN) if noisy else (BN if bn else PLAIN)

    def prog(frac, msg):
        if progress is not None:
            progress(lo + (hi - lo) * frac, f"{name}: {msg}")

    runs = train_runs(tcfg, hparams(lr=config.lr, noise=config.noise if noisy else 0.0),
                      config.seeds, config.steps, data, chunk=CHUNK, on_chunk=on_chunk,
                      progress=prog)
    return spec, runs, probes


def _run(config: DecouplingConfig, plan, progress) -> DecouplingResult:
    """Train the variants in `plan` ((name, bn, noisy, progress from, progress to), ...)."""
    data = load_digits()
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    seeds = config.seeds
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in seeds])
    ref = SIZES.index(REFERENCE_SIZE)
    ics, curves, accuracy, stats, runs_rows, diverged = [], [], [], [], [], {}
    example, weights = [], []
    mid = config.mid_layer
    # The scatter's sample of the example layer's weights: the same for every net and seed.
    pick = np.random.default_rng(0).choice(config.width * config.width,
                                           min(N_WEIGHTS, config.width * config.width),
                                           replace=False)
    for variant, bn, noisy, lo, hi in plan:
        spec, runs, probes = _train(config, bn, noisy, data, progress, lo, hi)
        div = np.asarray(runs.diverged)
        diverged[variant] = bool(div.any())
        for step, cos, rel in probes:
            for r, seed in enumerate(seeds):
                nan = np.nan if div[r] else 0.0
                for layer in range(1, spec.depth):
                    ics.append({"step": step, "variant": variant, "seed": seed,
                                "layer": layer + 1, "cos": float(cos[r, layer - 1]) + nan,
                                "rel": float(rel[r, layer - 1]) + nan})
        w = config.steps // LOSS_EVERY * LOSS_EVERY
        win = runs.loss[:, :w].reshape(len(seeds), -1, LOSS_EVERY).mean(-1)  # (n, windows)
        steps = np.arange(win.shape[1]) * LOSS_EVERY + LOSS_EVERY
        for r, seed in enumerate(seeds):
            curves.append(pd.DataFrame({"step": steps, "variant": variant, "seed": seed,
                                        "loss": win[r]}))
            accuracy.append(pd.DataFrame({"step": runs.eval_steps, "variant": variant,
                                          "seed": seed, "test_acc": runs.test_acc[r]}))
            runs_rows.append({"variant": variant, "seed": seed, "diverged": bool(div[r]),
                              "test_acc": float(runs.test_acc[r, -1])})
        if noisy:
            continue
        # 2c: the affine change of layer 1 (experiment 1b) on the clean nets.
        rel_aff = np.asarray(perturb_runs(runs.carry.params, keys, x, y, spec, SIZES)[2])[:, ref]
        for r, seed in enumerate(seeds):
            for layer in range(spec.depth):
                stats.append({"variant": variant, "seed": seed, "layer": layer + 1,
                              "rel_change": float(rel_aff[r, layer])
                              + (np.nan if div[r] else 0.0)})
        # The concrete example: W1 -> c * W1 on the trained nets, the whole training set.
        rel_h, rel_g, ratio_g, g0, g1 = (np.asarray(a) for a in rescale_runs(
            runs.carry.params, runs.carry.state, x, y, jnp.asarray(FACTORS, jnp.float32),
            example_spec(spec)))
        for r, seed in enumerate(seeds):
            nan = np.nan if div[r] else 0.0
            for f, factor in enumerate(FACTORS):
                for layer in range(1, spec.depth):  # layers 2..depth: the later layers
                    example.append({"variant": variant, "seed": seed, "factor": factor,
                                    "layer": layer + 1,
                                    "input_change": float(rel_h[r, f, layer]) + nan,
                                    "grad_change": float(rel_g[r, f, layer]) + nan,
                                    "grad_ratio": float(ratio_g[r, f, layer]) + nan})
                weights.append(pd.DataFrame({
                    "variant": variant, "seed": seed, "factor": factor, "weight": pick,
                    "g": g0[r].ravel()[pick] + nan, "g_scaled": g1[r, f].ravel()[pick] + nan}))
    result = DecouplingResult(
        config, {}, pd.DataFrame(ics, columns=["step", "variant", "seed", "layer", "cos", "rel"]),
        pd.concat(curves, ignore_index=True), pd.concat(accuracy, ignore_index=True),
        pd.DataFrame(stats, columns=["variant", "seed", "layer", "rel_change"]),
        pd.DataFrame(runs_rows), diverged, pd.DataFrame(example, columns=EXAMPLE_COLUMNS),
        pd.concat(weights, ignore_index=True) if weights
        else pd.DataFrame(columns=WEIGHT_COLUMNS))
    result.summary = _summary(result)
    if progress is not None:
        progress(1.0, "done")
    return result


def run_gradients(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiments 2a and 2c: BN and plain nets without noise (`config.noise` is not used; the
    page passes `config.clean()` so the noise slider does not retrain them)."""
    return _run(config, ((BN, True, False, 0.0, 0.5), (PLAIN, False, False, 0.5, 1.0)),
                progress)


def run_noisy(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiment 2b: noisy BN and, as the control, noisy plain, with noise `config.noise`."""
    return _run(config, ((NOISY_BN, True, True, 0.0, 0.5), (NOISY_PLAIN, False, True, 0.5, 1.0)),
                progress)


def run_decoupling(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiments 2a, 2b and 2c: `run_gradients` and `run_noisy` in one result."""
    scaled = (lambda lo, hi: lambda f, m: progress(lo + (hi - lo) * f, m)) if progress else None
    clean = run_gradients(config, scaled(0.0, 0.4) if scaled else None)
    noisy = run_noisy(config, scaled(0.4, 1.0) if scaled else None)
    return merge(clean, noisy)


def merge(*results: DecouplingResult) -> DecouplingResult:
    """One result from the parts (the tables concatenated, the summaries recomputed)."""
    def cat(name):
        parts = [getattr(r, name) for r in results if len(getattr(r, name))]
        return (pd.concat(parts, ignore_index=True) if parts
                else getattr(results[0], name).iloc[:0].copy())

    out = DecouplingResult(results[-1].config, {}, cat("ics"), cat("curves"), cat("accuracy"),
                           cat("stats"), cat("runs"),
                           {k: v for r in results for k, v in r.diverged.items()},
                           cat("example"), cat("weights"))
    out.summary = _summary(out)
    return out


def _summary(result: DecouplingResult) -> dict[str, float]:
    """Seed means of the numbers the page states (the variants present in `result`)."""
    c, out = result.config, {}
    ics, present = result.ics, set(result.runs["variant"])
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        if variant not in present:
            continue
        v = ics[ics["variant"] == variant]
        per_layer = v.groupby("layer")[["cos", "rel"]].mean()  # mean over steps and seeds
        out[f"ics_cos_{tag}"] = float(per_layer.loc[c.mid_layer, "cos"])
        out[f"ics_rel_{tag}"] = float(per_layer.loc[c.mid_layer, "rel"])
        out[f"ics_gap_{tag}"] = 1.0 - out[f"ics_cos_{tag}"]  # 1 - cos: 0 = fully decoupled
        out[f"ics_cos_last_{tag}"] = float(per_layer.loc[c.depth, "cos"])
        # The median over probes and seeds: robust to the rare step where a plain net's gradient
        # turns round (a loss spike), which pulls the plain mean down.
        out[f"ics_cos_median_{tag}"] = float(v[v["layer"] == c.mid_layer]["cos"].median())
        s = result.stats[(result.stats["variant"] == variant) & (result.stats["layer"] > 1)]
        out[f"stats_change_{tag}"] = float(s["rel_change"].mean())  # layers 2..depth
        e = result.example[(result.example["variant"] == variant)
                           & (result.example["factor"] == EXAMPLE_FACTOR)]
        at_mid = e[e["layer"] == c.mid_layer]
        # W1 x 2 at the example layer (seed means), and the largest change over layers 2..depth.
        out[f"example_grad_{tag}"] = float(at_mid["grad_change"].mean())
        out[f"example_input_{tag}"] = float(at_mid["input_change"].mean())
        out[f"example_ratio_{tag}"] = float(at_mid["grad_ratio"].mean())
        out[f"example_grad_max_{tag}"] = float(e["grad_change"].max())
    for variant, tag in ((BN, "bn"), (PLAIN, "plain"), (NOISY_BN, "noisy_bn"),
                         (NOISY_PLAIN, "noisy_plain")):
        if variant not in present:
            continue
        r = result.runs[result.runs["variant"] == variant]
        out[f"acc_{tag}"] = float(r["test_acc"].mean())
        out[f"diverged_{tag}"] = float(r["diverged"].sum())
        late = result.curves[(result.curves["variant"] == variant)
                             & (result.curves["step"] > 0.9 * c.steps)]
        out[f"late_loss_{tag}"] = float(late["loss"].mean())
    out["mid_layer"] = float(c.mid_layer)
    out["noise"] = float(c.noise)
    out["n_seeds"] = float(c.n_seeds)
    return out


PRESETS: dict[str, DecouplingConfig] = {
    "Santurkar's setup: 8x64 ReLU, noise 0.25": DecouplingConfig(),
    "stronger noise: a = 0.5": DecouplingConfig(noise=0.5),
    "too much noise: a = 1": DecouplingConfig(noise=1.0),
    "a larger step: lr 0.2": DecouplingConfig(lr=0.2),
}


def shrink(config: DecouplingConfig, steps: int = 50) -> DecouplingConfig:
    """A short version of `config` for smoke tests: fewer steps, the same shapes (so the same
    compiled programs: compiling, not stepping, is what costs)."""
    return replace(config, steps=steps)
