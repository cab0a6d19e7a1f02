"""Page 2, covariate shift: "later layers are robust to changes in earlier layers".

Teaches, with the same trained nets, BN and plain side by side:
  1a  the Ioffe & Szegedy 2015 figure done for real: the 15th / 50th / 85th percentiles of each
      last-hidden-layer unit's input to the nonlinearity (gamma * x_hat + beta under BN), over the
      full training set, every CHUNK = 50 steps. Without BN they drift and widen; with BN they
      stay put.
  1b  what "robust" means exactly: rescale every unit of layer 1 by s in [0.5, 2] and shift it
      (an affine change), or move W1 by a random direction of the same norm, and measure the
      training loss and every later layer's input. BN's invariance to the affine change is exact
      (Ioffe Sec. 3.3); a general change still reaches BN's later layers, only less.
Leaves out: convolutions, the EMA statistics (full-set train-mode statistics are used throughout).

    result = run_covariate_shift(CovariateShiftConfig(seed=0))
    result.summary["drift_plain"], result.summary["drift_bn"]
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from bnjax.data import load_digits
from bnjax.nn import DenseParams, MLPSpec, batchnorm_init, mlp_apply
from bnjax.train import TrainConfig, hparams, train_runs

BN, PLAIN = "BN", "plain"
SIZES = (0.25, 0.5, 1.0, 2.0)  # perturbation sizes measured in one go; 1.0 = s in [0.5, 2]
REFERENCE_SIZE = 1.0  # the size the summary (and the tests) report
PERCENTILES = (15.0, 50.0, 85.0)
CHUNK = 50  # steps per compiled chunk: the percentile probe interval, shared with page 3


@dataclass(frozen=True)
class CovariateShiftConfig:
    """The page's default view: 8x64 ReLU, plain SGD at lr 0.05, 1000 steps, seeds seed..seed+2."""
    seed: int = 0
    depth: int = 8
    width: int = 64
    activation: str = "relu"
    lr: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    n_seeds: int = 3  # seeds seed, seed + 1, ... trained side by side (the seed spread)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))


@dataclass
class CovariateShiftResult:
    config: CovariateShiftConfig
    summary: dict[str, float]  # the numbers the verdict states (seed means)
    bands: pd.DataFrame  # step, variant, seed, unit, p15, p50, p85 (last hidden layer)
    units: pd.DataFrame  # variant, seed, unit, drift, spread_ratio (1a, per unit)
    perturb: pd.DataFrame  # variant, seed, size, kind, dloss (1b, per run)
    layers: pd.DataFrame  # variant, seed, size, kind, layer, rel_change, moment_change (1b)
    runs: pd.DataFrame  # variant, seed, diverged, test_acc, final_loss
    diverged: dict[str, bool] = field(default_factory=dict)  # variant -> any seed diverged
    # One row per variant and seed: the numbers the page states, before the seed mean (its
    # sentences give each with its spread and pick their comparatives from these). Columns:
    # variant, seed, diverged, test_acc, drift, spread_ratio, affine_dloss, random_dloss,
    # w1x3_dlogit, values_change, moments_change (a random change of W1, at REFERENCE_SIZE, mean
    # over layers 2..depth), affine_values_change (the affine change, same layers).
    per_seed: pd.DataFrame = field(default_factory=pd.DataFrame)


# ---------------------------------------------------------------------------- probes (jitted)


def _fresh_state(params, spec: MLPSpec):
    return tuple(None if layer.bn is None else batchnorm_init(spec.width)[1]
                 for layer in params.hidden)


def full_pass(params, x, y, spec: MLPSpec):
    """Train-mode pass over the whole set (BN on full-set statistics). Returns (loss, logits, h)."""
    logits, _, trace = mlp_apply(params, _fresh_state(params, spec), x, spec=spec, train=True,
                                 with_trace=True)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, logits, trace.h


def last_layer_input(params, x, spec: MLPSpec):
    """(n, width): the last hidden layer's input to the nonlinearity, over the whole set `x` as
    one batch. Its percentiles are taken on the host (numpy's sort beats XLA's on CPU)."""
    _, _, h = full_pass(params, x, jnp.zeros((x.shape[0],), jnp.int32), spec)
    return h[-1]


def _with_layer1(params, w, b):
    """`params` with layer 1's dense weights replaced (b may be added even under BN: a no-op)."""
    first = params.hidden[0]._replace(dense=DenseParams(w, b))
    return params._replace(hidden=(first,) + tuple(params.hidden[1:]))


def perturb_layer1(params, key, x, y, spec: MLPSpec, sizes: tuple):
    """Experiment 1b on one trained net.

    Affine change of layer 1: W1 -> W1 diag(s), s = 2 ** (size * U(-1, 1)) per unit, and a shift
    of size * 0.5 * std(z1) per unit with a random sign. Random change: W1 -> W1 + R, R a
    Gaussian direction with ||R|| = ||W1 diag(s) - W1||. Returns, per size, the loss changes
    (affine, random), each layer's relative change ||h' - h|| / ||h|| of its input to the
    nonlinearity (the values it sees, (size, depth)), the relative change of that input's
    per-unit mean and std over the set ((||mu' - mu|| + ||sd' - sd||) / ||sd||: its distribution's
    first two moments, (size, depth)); and the max |logit change| when W1 is scaled by 3.
    """
    w1, b1 = params.hidden[0].dense.w, params.hidden[0].dense.b  # (n_in, width), (width,) | None
    width, k = w1.shape[1], len(sizes)
    k_s, k_sign, k_r = jax.random.split(key, 3)
    u = jax.random.uniform(k_s, (width,), minval=-1.0, maxval=1.0)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (width,)), 1.0, -1.0)
    r = jax.random.normal(k_r, w1.shape)  # (n_in, width)
    b0 = jnp.zeros((width,), jnp.float32) if b1 is None else b1
    std1 = (x @ w1).std(0)  # (width,) spread of layer 1's linear output
    size = jnp.asarray(sizes, jnp.float32)[:, None]  # (k, 1)
    w_aff = w1[None] * (2.0 ** (size * u[None, :]))[:, None, :]  # (k, n_in, width)
    b_aff = b0[None] + size * 0.5 * std1[None] * sign[None]  # (k, width)
    step = jnp.sqrt(((w_aff - w1[None]) ** 2).sum((1, 2)))  # (k,) norm of the affine change
    w_rand = w1[None] + r[None] * (step / jnp.linalg.norm(r))[:, None, None]
    # One batched pass over every version of layer 1: original, k affine, k random, W1 x 3.
    ws = jnp.concatenate([w1[None], w_aff, w_rand, 3.0 * w1[None]])  # (2k + 2, n_in, width)
    bs = jnp.concatenate([b0[None], b_aff, jnp.broadcast_to(b0, (k, width)), b0[None]])
    loss, logits, h = jax.vmap(lambda w, b: full_pass(_with_layer1(params, w, b), x, y, spec))(
        ws, bs)
    rel = jnp.stack([jnp.sqrt(((a - a[:1]) ** 2).sum((1, 2)) / ((a[0] ** 2).sum() + 1e-24))
                     for a in h], 1)  # (2k + 2, depth)

    def moments(a):  # (2k + 2, n, width) -> (2k + 2,)
        mu, sd = a.mean(1), a.std(1)  # (2k + 2, width)
        norm = lambda v: jnp.sqrt((v ** 2).sum(-1))  # noqa: E731
        return (norm(mu - mu[:1]) + norm(sd - sd[:1])) / (norm(sd[:1]) + 1e-12)

    mom = jnp.stack([moments(a) for a in h], 1)  # (2k + 2, depth)
    dloss = loss - loss[0]
    dlogit3 = jnp.abs(logits[-1] - logits[0]).max()
    return (dloss[1:k + 1], dloss[k + 1:2 * k + 1], rel[1:k + 1], rel[k + 1:2 * k + 1], dlogit3,
            mom[1:k + 1], mom[k + 1:2 * k + 1])


# Module-level compiled probes, vmapped over runs: one program per network shape.
last_h_runs = jax.jit(jax.vmap(last_layer_input, in_axes=(0, None, None)), static_argnames="spec")
perturb_runs = jax.jit(jax.vmap(perturb_layer1, in_axes=(0, 0, None, None, None, None)),
                       static_argnames=("spec", "sizes"))


# ---------------------------------------------------------------------------- the experiment


def _spec(config: CovariateShiftConfig, bn: bool) -> MLPSpec:
    return MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=bn)


def _train(config: CovariateShiftConfig, bn: bool, data, progress, lo: float, hi: float):
    """Train the seeds of one variant, probing the percentile bands every CHUNK steps."""
    spec = _spec(config, bn)
    tcfg = TrainConfig(spec=spec, optimizer="sgd", batch_size=config.batch_size)
    x = jnp.asarray(data.x_train)
    probes = []  # (step, (R, 3, width))

    def on_chunk(step, carry):
        h = np.asarray(last_h_runs(carry.params, x, spec))  # (R, n, width)
        with np.errstate(invalid="ignore"):  # a diverged run may hold inf
            probes.append((step, np.percentile(h, PERCENTILES, axis=1).transpose(1, 0, 2)))

    def prog(frac, msg):
        if progress is not None:
            progress(lo + (hi - lo) * frac, f"{BN if bn else PLAIN}: {msg}")

    runs = train_runs(tcfg, hparams(lr=config.lr), config.seeds, config.steps, data,
                      chunk=CHUNK, on_chunk=on_chunk, progress=prog)
    return spec, runs, probes


def _band_tables(variant, seeds, probes, diverged):
    steps = np.array([s for s, _ in probes])
    q = np.stack([p for _, p in probes], 1)  # (R, P, 3, width)
    n_runs, n_probes, _, width = q.shape
    rows = pd.DataFrame({
        "step": np.repeat(steps, width)[None].repeat(n_runs, 0).ravel(),
        "variant": variant,
        "seed": np.repeat(np.asarray(seeds), n_probes * width),
        "unit": np.tile(np.arange(width), n_runs * n_probes),
        "p15": q[:, :, 0].ravel(), "p50": q[:, :, 1].ravel(), "p85": q[:, :, 2].ravel()})
    med, spread = q[:, :, 1], q[:, :, 2] - q[:, :, 0]  # (R, P, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        drift = med.max(1) - med.min(1)  # (R, width)
        ratio = spread.max(1) / np.maximum(spread.min(1), 1e-12)
    drift[diverged], ratio[diverged] = np.nan, np.nan
    units = pd.DataFrame({"variant": variant, "seed": np.repeat(np.asarray(seeds), width),
                          "unit": np.tile(np.arange(width), n_runs),
                          "drift": drift.ravel(), "spread_ratio": ratio.ravel()})
    return rows, units


def run_covariate_shift(config: CovariateShiftConfig, progress=None) -> CovariateShiftResult:
    """Experiments 1a and 1b on BN and plain nets trained on the same seeds and batches."""
    data = load_digits()
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in config.seeds])
    bands, units, perturb, layers, runs_rows, diverged = [], [], [], [], [], {}
    for i, (variant, bn) in enumerate(((BN, True), (PLAIN, False))):
        spec, runs, probes = _train(config, bn, data, progress, 0.5 * i, 0.5 * (i + 1))
        div = np.asarray(runs.diverged)
        diverged[variant] = bool(div.any())
        b, u = _band_tables(variant, config.seeds, probes, div)
        bands.append(b), units.append(u)
        d_aff, d_rand, r_aff, r_rand, dlogit3, m_aff, m_rand = (np.asarray(a) for a in perturb_runs(
            runs.carry.params, keys, x, y, spec, SIZES))
        for r, seed in enumerate(config.seeds):
            nan = np.nan if div[r] else 0.0  # a diverged net has nothing to perturb
            runs_rows.append({"variant": variant, "seed": seed, "diverged": bool(div[r]),
                              "test_acc": float(runs.test_acc[r, -1]),
                              "final_loss": np.nan if div[r]
                              else float(np.nanmean(runs.loss[r, -50:])),
                              "w1x3_dlogit": float(dlogit3[r]) + nan})
            for j, size in enumerate(SIZES):
                for kind, d, rc, mc in (("affine", d_aff, r_aff, m_aff),
                                        ("random", d_rand, r_rand, m_rand)):
                    perturb.append({"variant": variant, "seed": seed, "size": size,
                                    "kind": kind, "dloss": float(d[r, j]) + nan})
                    for layer in range(spec.depth):
                        layers.append({"variant": variant, "seed": seed, "size": size,
                                       "kind": kind, "layer": layer + 1,
                                       "rel_change": float(rc[r, j, layer]) + nan,
                                       "moment_change": float(mc[r, j, layer]) + nan})
    bands, units = pd.concat(bands, ignore_index=True), pd.concat(units, ignore_index=True)
    perturb, layers, runs_df = pd.DataFrame(perturb), pd.DataFrame(layers), pd.DataFrame(runs_rows)
    if progress is not None:
        progress(1.0, "done")
    return CovariateShiftResult(config, _summary(units, perturb, layers, runs_df), bands, units,
                                perturb, layers, runs_df, diverged,
                                per_seed=seed_table(units, perturb, layers, runs_df))


def later_layers(layers: pd.DataFrame, size: float, kind: str) -> pd.DataFrame:
    """variant, seed, values_change, moments_change: how much a change of layer 1 (of `kind`
    and `size`) moved what layers 2..depth see, the mean over those layers, per run."""
    lay = layers[(layers["size"] == size) & (layers["kind"] == kind) & (layers["layer"] > 1)]
    out = lay.groupby(["variant", "seed"], sort=False)[["rel_change", "moment_change"]].mean(
    ).reset_index()
    return out.rename(columns={"rel_change": "values_change",
                               "moment_change": "moments_change"})


def seed_table(units: pd.DataFrame, perturb: pd.DataFrame, layers: pd.DataFrame,
               runs: pd.DataFrame, size: float = REFERENCE_SIZE) -> pd.DataFrame:
    """One row per variant and seed (see `CovariateShiftResult.per_seed`); a diverged run's
    numbers are NaN."""
    out = runs[["variant", "seed", "diverged", "test_acc", "w1x3_dlogit"]].copy()
    out.loc[out["diverged"], "test_acc"] = np.nan
    u = units.groupby(["variant", "seed"], sort=False)[["drift", "spread_ratio"]].mean()
    p = perturb[perturb["size"] == size].pivot_table(
        index=["variant", "seed"], columns="kind", values="dloss", dropna=False)
    p = p.rename(columns={"affine": "affine_dloss", "random": "random_dloss"})
    p["affine_dloss"] = p["affine_dloss"].abs()
    rnd = later_layers(layers, size, "random").set_index(["variant", "seed"])
    aff = later_layers(layers, size, "affine").set_index(["variant", "seed"])
    out = out.join(u, on=["variant", "seed"]).join(
        p[["affine_dloss", "random_dloss"]], on=["variant", "seed"]).join(
        rnd, on=["variant", "seed"]).join(
        aff[["values_change"]].rename(columns={"values_change": "affine_values_change"}),
        on=["variant", "seed"])
    return out.reset_index(drop=True)


def _summary(units: pd.DataFrame, perturb: pd.DataFrame, layers: pd.DataFrame,
             runs: pd.DataFrame) -> dict[str, float]:
    """Seed means (over the runs that did not diverge) of the numbers the page states."""
    out: dict[str, float] = {}
    ref = perturb[perturb["size"] == REFERENCE_SIZE]
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        u = units[units["variant"] == variant].groupby("seed")[["drift", "spread_ratio"]].mean()
        out[f"drift_{tag}"] = float(u["drift"].mean())
        out[f"spread_ratio_{tag}"] = float(u["spread_ratio"].mean())
        p = ref[ref["variant"] == variant]
        out[f"affine_dloss_{tag}"] = float(p[p["kind"] == "affine"]["dloss"].abs().mean())
        out[f"random_dloss_{tag}"] = float(p[p["kind"] == "random"]["dloss"].mean())
        r = runs[runs["variant"] == variant]
        out[f"w1x3_dlogit_{tag}"] = float(r["w1x3_dlogit"].mean())
        out[f"acc_{tag}"] = float(r["test_acc"].mean())
        out[f"diverged_{tag}"] = float(r["diverged"].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        out["drift_ratio"] = float(np.float64(out["drift_plain"]) / out["drift_bn"])
    # Seeds on which a random change of W1 cost BN less than plain (paired by seed).
    rnd = ref[ref["kind"] == "random"].pivot(index="seed", columns="variant", values="dloss")
    out["random_bn_lower_seeds"] = float((rnd[BN] < rnd[PLAIN]).sum())
    out["n_seeds"] = float(len(rnd))
    out["n_compared_seeds"] = float(rnd.notna().all(axis=1).sum())  # neither net diverged
    out["n_units"] = float(units["unit"].nunique())
    # Mean over the later layers (2..depth) and seeds of how much a random change of W1 moves
    # what each layer sees: its values, and the mean and spread of its input distribution.
    lay = layers[(layers["size"] == REFERENCE_SIZE) & (layers["layer"] > 1)
                 & (layers["kind"] == "random")]
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        v = lay[lay["variant"] == variant]
        out[f"random_values_change_{tag}"] = float(v["rel_change"].mean())
        out[f"random_moments_change_{tag}"] = float(v["moment_change"].mean())
    out["reference_size"] = REFERENCE_SIZE
    return out


PRESETS: dict[str, CovariateShiftConfig] = {
    "the lecture's picture: 8x64 ReLU, lr 0.05": CovariateShiftConfig(),
    "Ioffe's setup: 3x100 sigmoid, batch 60": CovariateShiftConfig(
        depth=3, width=100, activation="sigmoid", batch_size=60, lr=0.5),
    "a larger step: lr 0.2": CovariateShiftConfig(lr=0.2),
}


def shrink(config: CovariateShiftConfig, steps: int = 50) -> CovariateShiftConfig:
    """A short version of `config` for smoke tests: fewer steps, the same shapes (so the same
    compiled programs: compiling, not stepping, is what costs)."""
    return replace(config, steps=steps)
