"""Page 4, regularization noise: "batch norm adds noise to the hidden units, a slight regularizer,
like dropout". Four experiments, each a config, a result and a `run_*` function.

- 3d, the regularization itself (`run_regularization`): full-batch gradient descent on a small
  training subset, so BN's batch statistics are the only noise in training; BN over random groups
  (noise on) vs over the whole subset (noise off), paired over >= 10 seeds: test accuracy, the
  train/test gap, and a 95% confidence interval of the paired difference.

- 3a, the batch-noise meter (`run_noise_meter`): one fixed training example, many random batches
  that contain it; the spread across batches of its normalized value x_hat at a hidden layer, for
  batch sizes 4 ... 256. The spread falls like c / sqrt(B): BN's noise is a batch-size knob.
- 3b, reliance on single units (`run_ablation`, Morcos et al. 2018): cumulative random ablation of
  hidden units (post-activation set to 0, the same fraction in every layer), test accuracy against
  the fraction ablated, for plain, BN and dropout nets. The BN statistics after ablation are a
  choice, shown both ways: frozen (the unablated population statistics, inference semantics) or
  recomputed on the training set with the ablation applied.
- 3c, ghost batch norm (`run_ghost`, Hoffer et al. 2017): SGD batch fixed at 128, BN statistics
  over ghost groups of 128 / 32 / 8 / 4: BN's own noise, isolated from SGD's.

Leaves out: label corruption (Morcos Fig. 1; not piloted) and class selectivity (too small an
effect on digits to show honestly).

Every training run goes through `bnjax.train`'s compiled chunk (`train_chunk_runs`, vmapped over
seeds); the runs of one experiment are dealt to the 2 XLA CPU devices so both cores train at once.
The probes are module-level jitted functions, vmapped over seeds and over batches or masks.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from bnjax.data import Dataset, batch_indices, load_digits
from bnjax.nn import MLPSpec, mlp_apply, population_state
from bnjax.train import Hparams, TrainConfig, hparams, init_runs, train_chunk_runs

# ---------------------------------------------------------------------------- shared training


class _Job(NamedTuple):
    """Runs of one static config, one per seed, trained side by side (vmap)."""
    name: str
    config: TrainConfig
    hp: Hparams  # entries broadcast to (R,)
    seeds: tuple
    data: Dataset
    device: int  # index into jax.devices()


def _stage(progress: Callable | None, lo: float, hi: float, what: str) -> Callable | None:
    """A progress callback that maps [0, 1] onto [lo, hi] of the whole run."""
    if progress is None:
        return None
    return lambda f, m: progress(lo + (hi - lo) * f, f"{what}: {m}")


def _train(jobs: list[_Job], steps: int, *, chunk: int = 500, indices=None, progress=None):
    """Train every job for `steps` steps, chunk by chunk, each job on its device; the devices run
    at the same time because JAX dispatches asynchronously. Returns one Carry per job (leaves
    with a leading seed axis; `carry.diverged` flags a run whose loss went non-finite).
    `indices` (R, steps, B), when given, are every job's batches (rows into the training set);
    by default each seed's shuffled epochs (`batch_indices`)."""
    devices = jax.devices()
    live = []
    for job in jobs:
        n = len(job.seeds)
        hp = Hparams(*(jnp.broadcast_to(v, (n,)) for v in job.hp))
        keys = jnp.stack([jax.random.key(int(s)) for s in job.seeds])
        # Initialization depends on neither `stochastic` nor the ghost groups: one init
        # program per architecture.
        carry = init_runs(keys, hp, job.config._replace(
            stochastic=False, spec=job.config.spec._replace(ghost=0)))
        idx = indices if indices is not None else np.stack([
            batch_indices(int(s), steps, job.config.batch_size, len(job.data.x_train))
            for s in job.seeds])  # (R, steps, B)
        dev = devices[job.device % len(devices)]
        live.append([job, *jax.device_put((carry, hp, idx, job.data.x_train, job.data.y_train),
                                          dev)])
    for start in range(0, steps, chunk):
        k = min(chunk, steps - start)
        calls = [functools.partial(train_chunk_runs, carry, idx[:, start:start + k], hp, x, y,
                                   job.config) for job, carry, hp, idx, x, y in live]
        # The first call compiles: compile the jobs' programs in parallel threads (XLA releases
        # the GIL); later calls just dispatch to every device, then wait.
        outs = _parallel(calls) if start == 0 else [c() for c in calls]
        for slot, (carry, _) in zip(live, outs):
            slot[1] = carry
        jax.block_until_ready([slot[1] for slot in live])
        if progress is not None:
            progress((start + k) / steps, f"step {start + k} of {steps}")
    return {slot[0].name: slot[1] for slot in live}


def _parallel(calls: list[Callable]) -> list:
    """Run the calls in 2 threads (the 2 cores): compiling and running overlap."""
    if len(calls) < 2:
        return [c() for c in calls]
    with ThreadPoolExecutor(max_workers=len(jax.devices())) as pool:
        return list(pool.map(lambda c: jax.block_until_ready(c()), calls))


def _seeds(seed: int, n: int) -> tuple:
    return tuple(range(int(seed), int(seed) + int(n)))


# ---------------------------------------------------------------------------- 3a: noise meter

NOISE_BATCH_SIZES = (4, 8, 16, 32, 64, 128, 256)
STRIP_BATCH_SIZES = (8, 128)  # the "same example, different hidden value" picture
STRIP_BATCHES = 50  # batches per strip


@dataclass(frozen=True)
class NoiseConfig:
    example: int = 0  # the training example x0 (index into the training split)
    layer: int = 2  # hidden layer whose x_hat is measured, counted from 1
    unit: int = 0  # the unit shown in the strip plot
    optimizer: str = "momentum"  # "momentum" (SGD, momentum 0.9) or "sgd"
    lr: float = 0.05
    steps: int = 500
    batches: int = 300  # random batches per batch size, each containing x0
    batch_sizes: tuple = NOISE_BATCH_SIZES  # must include 8, 16 and 128
    depth: int = 4
    width: int = 64
    seeds: int = 3  # nets trained side by side: seed, seed + 1, ...
    seed: int = 0


@dataclass
class NoiseResult:
    config: NoiseConfig
    std: pd.DataFrame  # batch_size, seed, std: std over batches of x0's x_hat, mean over units
    strip: pd.DataFrame  # batch_size, seed, batch, x_hat (of `unit`), p_true (x0's class prob.)
    image: np.ndarray  # (8, 8) raw pixels of x0
    label: int  # x0's class
    diverged: list = field(default_factory=list)  # seeds whose training diverged
    summary: dict = field(default_factory=dict)


def _x0_in_batch(params, state, x_train, y0, idx, *, spec: MLPSpec, layer: int):
    """Train-mode forward of the batch x_train[idx], x0 in row 0. Returns x0's x_hat at hidden
    layer `layer` (0-based), (width,), and the predicted probability of x0's class."""
    xb = x_train[idx]  # (B, 64)
    logits, _, trace = mlp_apply(params, state, xb, spec=spec, train=True, with_trace=True)
    z = trace.z[layer]  # (B, width), the linear output BN normalizes
    mean, var = z.mean(0), z.var(0)  # (width,) batch statistics, biased variance as in BN
    x_hat = (z[0] - mean) / jnp.sqrt(var + spec.eps)
    return x_hat, jax.nn.softmax(logits[0])[y0]


@functools.partial(jax.jit, static_argnames=("spec", "layer"))
def noise_probe(params, state, x_train, y0, idx, *, spec: MLPSpec, layer: int):
    """`_x0_in_batch` over runs and batches: idx is (R, N, B). One program per batch size B,
    shared by every example and seed. Returns x_hat (R, N, width) and p (R, N)."""
    f = functools.partial(_x0_in_batch, spec=spec, layer=layer)
    return jax.vmap(jax.vmap(f, in_axes=(None, None, None, None, 0)),
                    in_axes=(0, 0, None, None, 0))(params, state, x_train, y0, idx)


def _x0_offset(params, x_train, i0, *, spec: MLPSpec, layer: int):
    """mean |x_hat| of x0 under the population statistics: how far x0 sits from the mean."""
    pop = population_state(params, x_train, spec=spec)
    _, _, trace = mlp_apply(params, pop, x_train[i0][None, :], spec=spec, train=False,
                            with_trace=True)
    z = trace.z[layer][0]  # (width,)
    return jnp.abs((z - pop[layer].mean) / jnp.sqrt(pop[layer].var + spec.eps)).mean()


@functools.partial(jax.jit, static_argnames=("spec", "layer"))
def x0_offset(params, x_train, i0, *, spec: MLPSpec, layer: int):
    """`_x0_offset` for every run: (R,)."""
    f = functools.partial(_x0_offset, spec=spec, layer=layer)
    return jax.vmap(f, in_axes=(0, None, None))(params, x_train, i0)


def noise_batches(rng: np.random.Generator, i0: int, n: int, batch_size: int,
                  batches: int) -> np.ndarray:
    """(batches, batch_size) indices: x0 first in every batch, the other B - 1 drawn without
    replacement from the rest of the training set."""
    others = np.delete(np.arange(n), i0)
    if batch_size >= n:  # the full set, in a new order every time
        pick = np.argsort(rng.random((batches, n - 1)), axis=1)
    else:
        pick = np.argsort(rng.random((batches, n - 1)), axis=1)[:, :batch_size - 1]
    return np.concatenate([np.full((batches, 1), i0), others[pick]], axis=1).astype(np.int32)


def loglog_slope(batch_sizes, std) -> float:
    """Least-squares slope of log std on log B (-0.5 for a pure 1/sqrt(B) law)."""
    return float(np.polyfit(np.log(np.asarray(batch_sizes, float)), np.log(std), 1)[0])


def _noise_stats(spec, params, state, x, i0, y0, n_runs, config, batch_sizes, batches, rng):
    """std over batches per (run, batch size), and the strip samples."""
    layer = config.layer - 1
    std = np.zeros((n_runs, len(batch_sizes)))
    strips = {}
    devices = jax.devices()
    on = [jax.device_put((params, state, x), d) for d in devices]
    calls = []
    for j, b in enumerate(batch_sizes):  # one program per batch size, dealt to the devices
        idx = np.stack([noise_batches(rng, i0, len(x), b, batches) for _ in range(n_runs)])
        p_, s_, x_ = on[j % len(devices)]
        calls.append(functools.partial(noise_probe, p_, s_, x_, y0, jax.device_put(
            idx, devices[j % len(devices)]), spec=spec, layer=layer))
    for j, (b, (x_hat, p)) in enumerate(zip(batch_sizes, _parallel(calls))):
        x_hat, p = np.asarray(x_hat, np.float64), np.asarray(p)  # (R, N, width), (R, N)
        std[:, j] = x_hat.std(axis=1).mean(axis=1)
        if b in STRIP_BATCH_SIZES:
            strips[b] = (x_hat[:, :STRIP_BATCHES, config.unit], p[:, :STRIP_BATCHES])
    return std, strips


def run_noise_meter(config: NoiseConfig, progress=None) -> NoiseResult:
    """3a: train the nets, then measure x0's x_hat in `batches` random batches per batch size."""
    from bnjax.data import digit_image

    data = load_digits()
    n = len(data.x_train)
    i0 = int(np.clip(config.example, 0, n - 1))
    layer = int(np.clip(config.layer, 1, config.depth))
    config = NoiseConfig(**{**config.__dict__, "example": i0, "layer": layer,
                            "unit": int(np.clip(config.unit, 0, config.width - 1))})
    spec = MLPSpec(depth=config.depth, width=config.width, bn=True)
    seeds = _seeds(config.seed, config.seeds)
    job = _Job("BN", TrainConfig(spec, config.optimizer, 64), hparams(lr=config.lr), seeds,
               data, 0)
    carry = _train([job], config.steps, chunk=min(config.steps, 500),
                   progress=_stage(progress, 0.0, 0.6, "training"))["BN"]
    if progress is not None:
        progress(0.6, f"measuring: {config.batches} batches x {len(config.batch_sizes)} sizes")
    rng = np.random.default_rng([config.seed, i0])
    x = jnp.asarray(data.x_train)
    y0 = int(data.y_train[i0])
    sizes = tuple(int(b) for b in config.batch_sizes)
    std, strips = _noise_stats(spec, carry.params, carry.state, x, i0, y0, len(seeds), config,
                               sizes, config.batches, rng)
    # The limit: every "batch" is the whole training set (in a new order): no noise left.
    full, _ = _noise_stats(spec, carry.params, carry.state, x, i0, y0, len(seeds), config,
                           (n,), 8, rng)
    offset = np.asarray(x0_offset(carry.params, x, i0, spec=spec, layer=config.layer - 1))

    rows = [(b, s, float(std[r, j])) for r, s in enumerate(seeds) for j, b in enumerate(sizes)]
    strip_rows = [(b, s, k, float(xh[r, k]), float(p[r, k]))
                  for b, (xh, p) in strips.items() for r, s in enumerate(seeds)
                  for k in range(xh.shape[1])]
    slopes = np.array([loglog_slope(sizes, std[r]) for r in range(len(seeds))])
    sqrt_b = np.sqrt(np.asarray(sizes, float))
    j16 = sizes.index(16)
    p8, p128 = strips[8][1], strips[128][1]
    summary = {
        "noise_slope": float(slopes.mean()),
        "noise_slope_min": float(slopes.min()),
        "noise_slope_max": float(slopes.max()),
        "noise_std_b16": float(std[:, j16].mean()),
        "b_min": float(sizes[0]), "noise_std_bmin": float(std[:, 0].mean()),
        "b_max": float(sizes[-1]), "noise_std_bmax": float(std[:, -1].mean()),
        "noise_std_full": float(full.max()),
        "noise_c": float(np.exp(np.log(std * sqrt_b[None, :]).mean())),  # c in c / sqrt(B)
        "noise_strip_std_b8": float(strips[8][0].std(axis=1).mean()),
        "noise_strip_std_b128": float(strips[128][0].std(axis=1).mean()),
        "p_true_min_b8": float(p8.min()), "p_true_max_b8": float(p8.max()),
        "p_true_min_b128": float(p128.min()), "p_true_max_b128": float(p128.max()),
        "example_offset": float(offset.mean()),  # mean |x_hat| of x0, population statistics
        "example_offset_min": float(offset.min()), "example_offset_max": float(offset.max()),
        "n_train": float(n), "n_seeds": float(len(seeds)),
        "seed_first": float(seeds[0]), "seed_last": float(seeds[-1]),
    }
    if progress is not None:
        progress(1.0, "done")
    return NoiseResult(
        config, pd.DataFrame(rows, columns=["batch_size", "seed", "std"]),
        pd.DataFrame(strip_rows, columns=["batch_size", "seed", "batch", "x_hat", "p_true"]),
        digit_image(i0), y0, [s for s, d in zip(seeds, np.asarray(carry.diverged)) if d],
        summary)


# ---------------------------------------------------------------------------- 3b: ablation

FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))  # 0, 0.1, ..., 0.9
ABLATION_VARIANTS = ("plain", "BN (frozen stats)", "BN (recomputed stats)", "dropout")


@dataclass(frozen=True)
class AblationConfig:
    dropout: float = 0.2  # the dropout net's rate
    dropout_lr: float = 0.05  # its learning rate (dropout 0.5 needs 0.01 with momentum)
    lr: float = 0.05  # plain and BN nets
    steps: int = 1000
    depth: int = 3
    width: int = 128
    orders: int = 5  # random ablation orders, averaged
    single_layer: int = 2  # hidden layer of the single-unit ablations, counted from 1
    seeds: int = 3
    seed: int = 0


@dataclass
class AblationResult:
    config: AblationConfig
    curves: pd.DataFrame  # variant, seed, fraction, acc (test accuracy, mean over orders)
    single: pd.DataFrame  # variant, seed, rank, drop (accuracy lost per single unit, sorted)
    diverged: dict = field(default_factory=dict)  # variant -> seeds that diverged
    summary: dict = field(default_factory=dict)


def _accuracy(params, state, x_test, y_test, masks, *, spec: MLPSpec):
    """Test accuracy with the hidden units where `masks` (depth, width) is 0 ablated, the BN
    statistics in `state` frozen."""
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False,
                          masks=tuple(masks[i] for i in range(spec.depth)))
    return (logits.argmax(-1) == y_test).mean()


def _accuracy_recomputed(params, x_train, x_test, y_test, masks, *, spec: MLPSpec):
    """The same, with the BN statistics recomputed on the training set with the ablation."""
    m = tuple(masks[i] for i in range(spec.depth))
    state = population_state(params, x_train, spec=spec, masks=m)
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False, masks=m)
    return (logits.argmax(-1) == y_test).mean()


@functools.partial(jax.jit, static_argnames="spec")
def ablation_frozen(params, state, x_test, y_test, masks, *, spec: MLPSpec):
    """`_accuracy` over runs (params, state) and masks (M, depth, width): (R, M)."""
    f = functools.partial(_accuracy, spec=spec)
    return jax.vmap(jax.vmap(f, in_axes=(None, None, None, None, 0)),
                    in_axes=(0, 0, None, None, None))(params, state, x_test, y_test, masks)


@functools.partial(jax.jit, static_argnames="spec")
def ablation_recomputed(params, x_train, x_test, y_test, masks, *, spec: MLPSpec):
    """`_accuracy_recomputed` over runs and masks: (R, M)."""
    f = functools.partial(_accuracy_recomputed, spec=spec)
    return jax.vmap(jax.vmap(f, in_axes=(None, None, None, None, 0)),
                    in_axes=(0, None, None, None, None))(params, x_train, x_test, y_test, masks)


@functools.partial(jax.jit, static_argnames="spec")
def population_runs(params, x_train, *, spec: MLPSpec):
    """Population BN statistics of every run (leading axis R)."""
    return jax.vmap(functools.partial(population_state, spec=spec), in_axes=(0, None))(
        params, x_train)


def ablation_masks(rng: np.random.Generator, depth: int, width: int, orders: int):
    """Cumulative random ablation: per order and layer a random permutation of the units; at
    fraction f the first round(f * width) of them are off. Returns (orders * len(FRACTIONS),
    depth, width) float32 masks in (order, fraction) order."""
    masks = np.ones((orders, len(FRACTIONS), depth, width), np.float32)
    for o in range(orders):
        perm = np.stack([rng.permutation(width) for _ in range(depth)])  # (depth, width)
        for j, f in enumerate(FRACTIONS):
            k = int(round(f * width))
            for layer in range(depth):
                masks[o, j, layer, perm[layer, :k]] = 0.0
    return masks.reshape(-1, depth, width)


def single_unit_masks(depth: int, width: int, layer: int):
    """(width + 1, depth, width): no ablation first, then each unit of `layer` (0-based) alone."""
    masks = np.ones((width + 1, depth, width), np.float32)
    masks[np.arange(1, width + 1), layer, np.arange(width)] = 0.0
    return masks


def run_ablation(config: AblationConfig, progress=None) -> AblationResult:
    """3b: train plain, BN and dropout nets on the same seeds and batches, then ablate."""
    data = load_digits()
    seeds = _seeds(config.seed, config.seeds)
    plain = MLPSpec(depth=config.depth, width=config.width, bn=False)
    bn = plain._replace(bn=True)
    jobs = [  # dropout draws random masks every step, the slow one: a device of its own
        _Job("dropout", TrainConfig(plain, "momentum", 64, stochastic="dropout"),
             hparams(lr=config.dropout_lr, dropout=config.dropout), seeds, data, 1),
        _Job("plain", TrainConfig(plain, "momentum", 64), hparams(lr=config.lr), seeds, data, 0),
        _Job("BN", TrainConfig(bn, "momentum", 64), hparams(lr=config.lr), seeds, data, 0),
    ]
    carries = _train(jobs, config.steps, chunk=min(config.steps, 500),
                     progress=_stage(progress, 0.0, 0.85, "training plain, BN and dropout nets"))
    if progress is not None:
        progress(0.85, "ablating units")
    rng = np.random.default_rng(config.seed)
    layer = int(np.clip(config.single_layer, 1, config.depth)) - 1
    masks = jnp.asarray(np.concatenate([
        ablation_masks(rng, config.depth, config.width, config.orders),
        single_unit_masks(config.depth, config.width, layer)]))
    n_curve = config.orders * len(FRACTIONS)
    x_tr, x_te, y_te = (jnp.asarray(a) for a in (data.x_train, data.x_test, data.y_test))

    p_bn = carries["BN"].params
    calls = {  # variant -> (R, M) test accuracy; the BN ones first, the slowest to compile
        "BN (recomputed stats)": lambda: ablation_recomputed(p_bn, x_tr, x_te, y_te, masks,
                                                             spec=bn),
        "BN (frozen stats)": lambda: ablation_frozen(
            p_bn, population_runs(p_bn, x_tr, spec=bn), x_te, y_te, masks, spec=bn),
        "plain": lambda: ablation_frozen(carries["plain"].params, carries["plain"].state, x_te,
                                         y_te, masks, spec=plain),
        "dropout": lambda: ablation_frozen(carries["dropout"].params, carries["dropout"].state,
                                           x_te, y_te, masks, spec=plain),
    }
    acc = {k: np.asarray(v, np.float64) for k, v in zip(calls, _parallel(list(calls.values())))}
    trained = {"plain": "plain", "dropout": "dropout", "BN (frozen stats)": "BN",
               "BN (recomputed stats)": "BN"}
    diverged = {v: [s for s, d in zip(seeds, np.asarray(carries[t].diverged)) if d]
                for v, t in trained.items()}

    curve_rows, single_rows, summary = [], [], {}
    for v in ABLATION_VARIANTS:
        a = acc[v]
        dead = np.asarray(carries[trained[v]].diverged)
        a[dead] = np.nan  # a diverged run has no curve
        curve = a[:, :n_curve].reshape(len(seeds), config.orders, len(FRACTIONS)).mean(1)
        drops = a[:, n_curve:n_curve + 1] - a[:, n_curve + 1:]  # (R, width) accuracy lost
        drops = -np.sort(-drops, axis=1)  # largest first
        curve_rows += [(v, s, f, float(curve[r, j])) for r, s in enumerate(seeds)
                       for j, f in enumerate(FRACTIONS)]
        single_rows += [(v, s, k + 1, float(drops[r, k])) for r, s in enumerate(seeds)
                        for k in range(config.width)]
        key = {"plain": "plain", "dropout": "dropout", "BN (frozen stats)": "bn_frozen",
               "BN (recomputed stats)": "bn_recomputed"}[v]
        auc = curve.mean(1)  # (R,) area under accuracy vs fraction, fractions 0 ... 0.9
        summary[f"auc_{key}"] = float(np.nanmean(auc)) if (~dead).any() else float("nan")
        summary[f"auc_{key}_min"] = float(np.nanmin(auc)) if (~dead).any() else float("nan")
        summary[f"auc_{key}_max"] = float(np.nanmax(auc)) if (~dead).any() else float("nan")
        summary[f"acc_{key}"] = float(np.nanmean(curve[:, 0])) if (~dead).any() else float("nan")
        summary[f"max_drop_{key}"] = (float(np.nanmean(drops[:, 0])) if (~dead).any()
                                      else float("nan"))
        for f in (0.3, 0.5):
            j = FRACTIONS.index(f)
            summary[f"acc_{key}_f{int(f * 10)}"] = (float(np.nanmean(curve[:, j]))
                                                   if (~dead).any() else float("nan"))
    dc = acc["dropout"][:, :n_curve].reshape(len(seeds), config.orders, len(FRACTIONS)).mean(1)
    summary["dropout_min_acc_to_f3"] = float(np.nanmin(dc[:, :4])) if np.isfinite(dc).any() \
        else float("nan")  # the worst seed and fraction in 0 ... 0.3
    summary["dropout"] = float(config.dropout)
    summary["n_seeds"] = float(len(seeds))
    summary["n_test"] = float(len(data.y_test))
    summary["one_test_image"] = 1.0 / len(data.y_test)  # the accuracy one test image is worth
    if progress is not None:
        progress(1.0, "done")
    return AblationResult(
        config, pd.DataFrame(curve_rows, columns=["variant", "seed", "fraction", "acc"]),
        pd.DataFrame(single_rows, columns=["variant", "seed", "rank", "drop"]),
        diverged, summary)


# ---------------------------------------------------------------------------- 3c: ghost batches

GHOSTS = (128, 32, 8, 4)


@dataclass(frozen=True)
class GhostConfig:
    ghosts: tuple = GHOSTS  # BN statistics over groups of this many examples
    plain: bool = True  # also train the plain net (the no-BN reference)
    subset: int = 300  # training examples used (the first ones of the split)
    batch_size: int = 128  # the SGD batch, fixed
    lr: float = 0.05
    steps: int = 2000
    depth: int = 3
    width: int = 128
    seeds: int = 4
    seed: int = 0


@dataclass
class GhostResult:
    config: GhostConfig
    acc: pd.DataFrame  # variant, ghost, seed, acc (final test accuracy)
    diverged: dict = field(default_factory=dict)  # variant -> seeds that diverged
    summary: dict = field(default_factory=dict)


def ghost_name(g: int, batch_size: int) -> str:
    return f"G = {g}" + (" (plain BN)" if g >= batch_size else "")


def _test_accuracy(params, x_train, x_test, y_test, *, spec: MLPSpec):
    ones = jnp.ones((spec.depth, spec.width), jnp.float32)
    return _accuracy(params, population_state(params, x_train, spec=spec), x_test, y_test, ones,
                     spec=spec)


@functools.partial(jax.jit, static_argnames="spec")
def test_accuracy_runs(params, x_train, x_test, y_test, *, spec: MLPSpec):
    """Test accuracy of every run, population statistics of `x_train`: (R,)."""
    f = functools.partial(_test_accuracy, spec=spec)
    return jax.vmap(f, in_axes=(0, None, None, None))(params, x_train, x_test, y_test)


def run_ghost(config: GhostConfig, progress=None) -> GhostResult:
    """3c: the same seeds and batches, BN statistics over ghost groups of each size."""
    full = load_digits()
    data = Dataset(full.x_train[:config.subset], full.y_train[:config.subset], full.x_test,
                   full.y_test)
    seeds = _seeds(config.seed, config.seeds)
    base = MLPSpec(depth=config.depth, width=config.width, bn=True)
    jobs = []
    for g in config.ghosts:
        # A group as large as the batch is ordinary BN: ghost 0 then shares its compiled program.
        spec = base._replace(ghost=0 if g >= config.batch_size else int(g))
        jobs.append(_Job(ghost_name(g, config.batch_size), TrainConfig(spec, "momentum",
                         config.batch_size), hparams(lr=config.lr), seeds, data, len(jobs)))
    if config.plain:
        jobs.append(_Job("plain", TrainConfig(base._replace(bn=False), "momentum",
                                              config.batch_size), hparams(lr=config.lr),
                         seeds, data, len(jobs)))
    carries = _train(jobs, config.steps, chunk=min(config.steps, 500),
                     progress=_stage(progress, 0.0, 0.95, f"training {len(jobs)} x {len(seeds)}"
                                                          " nets"))
    x_tr, x_te, y_te = (jnp.asarray(a) for a in (data.x_train, data.x_test, data.y_test))
    rows, summary, diverged = [], {}, {}
    accs = {}
    for job in jobs:
        c = carries[job.name]
        spec = job.config.spec._replace(ghost=0)  # evaluation: population statistics
        a = np.asarray(test_accuracy_runs(c.params, x_tr, x_te, y_te, spec=spec), np.float64)
        dead = np.asarray(c.diverged)
        a[dead] = np.nan
        diverged[job.name] = [s for s, d in zip(seeds, dead) if d]
        g = 0 if job.name == "plain" else int(job.name.split()[2])
        rows += [(job.name, g, s, float(a[r])) for r, s in enumerate(seeds)]
        key = "plain" if g == 0 else f"g{g}"
        accs[key] = a
        summary[f"acc_{key}"] = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
        summary[f"acc_{key}_std"] = float(np.nanstd(a)) if np.isfinite(a).any() else float("nan")
    if "g8" in accs and "g128" in accs:
        d = accs["g8"] - accs["g128"]  # paired by seed: same init, same batches
        summary["ghost_gain_8_vs_128"] = float(np.nanmean(d))
        summary["ghost_gain_8_vs_128_std"] = float(np.nanstd(d, ddof=1)) if len(d) > 1 else 0.0
    summary["n_seeds"] = float(len(seeds))
    summary["subset"] = float(len(data.x_train))
    if progress is not None:
        progress(1.0, "done")
    return GhostResult(config, pd.DataFrame(rows, columns=["variant", "ghost", "seed", "acc"]),
                       diverged, summary)


# ---------------------------------------------------------------------------- 3d: noise on vs off


@dataclass(frozen=True)
class RegularizationConfig:
    """The regularization itself. Every training step uses the whole small training subset
    (full-batch gradient descent: SGD adds no noise), so the only randomness left in training
    is BN's. Noise on: the subset is split at random, every step, into groups of `group`
    examples, each normalized with its own mean and variance, as mini-batches would be. Noise
    off: every example is normalized with the statistics of the whole subset. The same initial
    weights, data and steps in both arms (paired by seed). Defaults: the page's first chart."""
    subset: int = 192  # training examples, a random subset per seed: small, so nets overfit
    group: int = 32  # BN's group (mini-batch) size in the noise-on arm; divides `subset`
    lr: float = 0.3  # gradient descent with momentum 0.9
    steps: int = 200
    depth: int = 3
    width: int = 64
    seeds: int = 16  # paired seeds: seed, seed + 1, ...
    seed: int = 0


ARMS = ("noise off", "noise on")  # statistics of the whole subset; of random groups


@dataclass
class RegularizationResult:
    config: RegularizationConfig
    # seed, arm, train_acc, test_acc, gap (train_acc - test_acc), train_loss, test_loss: one
    # row per seed and arm, both arms evaluated with the subset's population statistics
    per_seed: pd.DataFrame
    diverged: dict = field(default_factory=dict)  # arm -> seeds that diverged
    summary: dict = field(default_factory=dict)
    seconds: float = float("nan")  # wall-clock compute of training and evaluation (not a result)


def _eval_subset(params, idx, x_train, y_train, x_test, y_test, *, spec: MLPSpec):
    """Train (on the subset `x_train[idx]`) and test accuracy and loss, in eval mode with the
    subset's population statistics."""
    xs, ys = x_train[idx], y_train[idx]  # (N, 64), (N,)
    pop = population_state(params, xs, spec=spec)
    out = []
    for x, y in ((xs, ys), (x_test, y_test)):
        logits, _ = mlp_apply(params, pop, x, spec=spec, train=False)
        out += [(logits.argmax(-1) == y).mean(),
                optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()]
    return jnp.stack(out)  # train acc, train loss, test acc, test loss


@functools.partial(jax.jit, static_argnames="spec")
def eval_subset_runs(params, idx, x_train, y_train, x_test, y_test, *, spec: MLPSpec):
    """`_eval_subset` for R runs (params and idx with a leading R axis): (R, 4)."""
    f = functools.partial(_eval_subset, spec=spec._replace(ghost=0))
    return jax.vmap(f, in_axes=(0, 0, None, None, None, None))(params, idx, x_train, y_train,
                                                                x_test, y_test)


def subset_of(seed: int, n_train: int, size: int) -> np.ndarray:
    """The training examples of one seed: `size` indices into the training split, at random."""
    return np.random.default_rng([int(seed), 3]).permutation(n_train)[:size].astype(np.int32)


def subset_batches(seed: int, steps: int, subset: np.ndarray) -> np.ndarray:
    """(steps, N): every step the whole subset, in a new random order (so the groups of the
    noise-on arm are new every step; the noise-off arm does not care about the order)."""
    rng = np.random.default_rng([int(seed), 4])
    return np.stack([subset[rng.permutation(len(subset))] for _ in range(steps)])


def run_regularization(config: RegularizationConfig, progress=None) -> RegularizationResult:
    """Noise on vs off, paired by seed; both arms train through `bnjax.train`'s compiled chunk,
    one arm per CPU device, the seeds vmapped on each."""
    import time

    t0 = time.perf_counter()
    data = load_digits()
    n_train = len(data.x_train)
    group = int(np.clip(config.group, 2, n_train))
    size = int(np.clip(config.subset, group, n_train)) // group * group  # whole groups
    seeds = _seeds(config.seed, max(2, int(config.seeds)))
    base = MLPSpec(depth=config.depth, width=config.width, bn=True)
    jobs = [_Job(arm, TrainConfig(base._replace(ghost=group if arm == "noise on" else 0),
                                  "momentum", size), hparams(lr=config.lr), seeds, data, j)
            for j, arm in enumerate(ARMS)]
    subsets = np.stack([subset_of(s, n_train, size) for s in seeds])  # (R, N)
    idx = np.stack([subset_batches(s, config.steps, sub) for s, sub in zip(seeds, subsets)])
    carries = _train(jobs, config.steps, chunk=min(config.steps, 100), indices=idx,
                     progress=_stage(progress, 0.0, 0.95, f"training {len(seeds)} x 2 nets"))
    arrays = tuple(jnp.asarray(a) for a in data)  # x_train, y_train, x_test, y_test
    # Both arms in one evaluation call on one device: one program, not one per device (the
    # parameters are joined on the host: no program for that either).
    params = jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a]),
                          *(carries[arm].params for arm in ARMS))
    both = np.asarray(eval_subset_runs(params, jnp.asarray(np.concatenate([subsets] * len(ARMS))),
                                       *arrays, spec=base), np.float64)  # (arms * R, 4)
    table, diverged = [], {}
    for j, arm in enumerate(ARMS):
        c = carries[arm]
        m = both[j * len(seeds):(j + 1) * len(seeds)]
        dead = np.asarray(c.diverged)
        m[dead] = np.nan  # a diverged run has no accuracy
        diverged[arm] = [s for s, x in zip(seeds, dead) if x]
        table += [(s, arm, m[r, 0], m[r, 2], m[r, 0] - m[r, 2], m[r, 1], m[r, 3])
                  for r, s in enumerate(seeds)]
    per_seed = pd.DataFrame(table, columns=["seed", "arm", "train_acc", "test_acc", "gap",
                                            "train_loss", "test_loss"])
    summary = summarize_regularization(per_seed)
    summary.update(subset=float(size), group=float(group), steps=float(config.steps),
                   lr=float(config.lr))
    if progress is not None:
        progress(1.0, "done")
    return RegularizationResult(config, per_seed, diverged, summary, time.perf_counter() - t0)


def summarize_regularization(per_seed: pd.DataFrame) -> dict:
    """The numbers the page states, from the per-seed table: means and min-max per arm, and the
    paired difference on - off with its 95% confidence interval (Student t)."""
    from bnjax.text import ci95

    wide = per_seed.pivot(index="seed", columns="arm")
    out = {}
    for col in ("test_acc", "train_acc", "gap", "test_loss", "train_loss"):
        for arm, key in (("noise on", "on"), ("noise off", "off")):
            v = wide[col][arm].to_numpy(float)
            ok = v[np.isfinite(v)]
            out[f"{col}_{key}"] = float(ok.mean()) if ok.size else float("nan")
            out[f"{col}_{key}_min"] = float(ok.min()) if ok.size else float("nan")
            out[f"{col}_{key}_max"] = float(ok.max()) if ok.size else float("nan")
        mean, low, high = ci95(wide[col]["noise on"] - wide[col]["noise off"])
        out[f"{col}_diff"], out[f"{col}_diff_low"], out[f"{col}_diff_high"] = mean, low, high
    both = np.isfinite(wide["test_acc"]["noise on"]) & np.isfinite(wide["test_acc"]["noise off"])
    out["n_seeds"] = float(len(wide))
    out["n_paired"] = float(both.sum())
    out["seeds_on_ahead"] = float((wide["test_acc"]["noise on"]
                                   > wide["test_acc"]["noise off"])[both].sum())
    return out


# ---------------------------------------------------------------------------- presets

# The comparisons the page offers, one table for its three experiments (the config's type says
# which experiment a preset belongs to; `RUNNERS` maps it to its run function).
PRESETS: dict[str, RegularizationConfig | NoiseConfig | AblationConfig | GhostConfig] = {
    "noise on vs off: groups of 32, 16 seeds": RegularizationConfig(),
    "more noise: groups of 8": RegularizationConfig(group=8),
    "less noise: groups of 96": RegularizationConfig(group=96),
    "twice the data: 384 digits": RegularizationConfig(subset=384),
    "32 paired seeds": RegularizationConfig(seeds=32),
    "noise meter: example 0, momentum (the pilot)": NoiseConfig(),
    "an atypical example (1)": NoiseConfig(example=1),
    "plain SGD, no momentum": NoiseConfig(optimizer="sgd"),
    "ablation: dropout 0.2, 1000 steps": AblationConfig(),
    "ablation: the pilot's 3000 steps": AblationConfig(steps=3000),
    "ablation: dropout 0.5 (needs lr 0.01)": AblationConfig(dropout=0.5, dropout_lr=0.01),
    "ghost batches: G = 128, 32, 8, 4 over 4 seeds": GhostConfig(),
    "ghost batches: 6 seeds": GhostConfig(seeds=6),
}

RUNNERS = {RegularizationConfig: run_regularization, NoiseConfig: run_noise_meter,
           AblationConfig: run_ablation, GhostConfig: run_ghost}


def presets_of(kind: type) -> dict:
    """The presets of one experiment (one config type)."""
    return {name: c for name, c in PRESETS.items() if isinstance(c, kind)}


def shrink(config):
    """A small version of any of the four configs, for smoke tests."""
    if isinstance(config, RegularizationConfig):
        return replace(config, steps=20, width=16, seeds=4, subset=min(config.subset, 64),
                       group=min(config.group, 16))
    if isinstance(config, NoiseConfig):
        return replace(config, steps=20, batches=60, width=16, seeds=2, batch_sizes=(8, 16, 128))
    if isinstance(config, AblationConfig):
        return replace(config, steps=20, width=16, orders=2, seeds=2)
    return replace(config, steps=20, width=16, seeds=2,
                   ghosts=(config.ghosts[0], config.ghosts[-1]))  # 2 of the ghost programs
