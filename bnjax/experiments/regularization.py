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

Every training run goes through the runner (`bnjax.runs.train_together`: one run per CPU
device, chunks of `lax.scan`, the divergence freeze, `runs.Divergence`); the trained nets are
measured once with the page's functions in `bnjax.probes` (vmapped over runs, module-level jitted
programs). An experiment here is config -> runs -> probes -> summary.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import jax
import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import Dataset, batch_indices, load_digits
from bnjax.nn import MLPSpec
from bnjax.train import TrainConfig, hparams
from bnjax.experiments import reporter

# The page's probes (bnjax.probes), under the names this module's code and tests use.
noise_probe = probes.noise_probe
x0_in_batch, masked_accuracy_recomputed = probes.x0_in_batch, probes.masked_accuracy_recomputed

# ---------------------------------------------------------------------------- shared helpers




def _stage(progress: Callable | None, lo: float, hi: float, what: str) -> Callable | None:
    """A progress callback that maps [0, 1] onto [lo, hi] of the whole run."""
    if progress is None:
        return None
    return lambda f, m: progress(lo + (hi - lo) * f, f"{what}: {m}")


def _seeds(seed: int, n: int) -> tuple:
    return tuple(range(int(seed), int(seed) + int(n)))


def _train(jobs: dict, steps: int, data: Dataset, progress=None, then=None) -> dict:
    """The runner (`bnjax.runs.train_together`) with the jobs side by side; no probes (this
    page measures the trained nets once, with `bnjax.probes`). {name: runs.Result}.

    `then`: a function that compiles the program measuring the trained nets (`jit(...).lower(
    abstract arguments).compile()`), called in a background thread from the first chunk on:
    XLA compiles without holding Python's lock while the nets train, and the call after
    training finds the program compiled (the same shapes; tests/test_regularization.py)."""
    ahead: list = []

    def report(fraction, message):
        if progress is not None:
            progress(fraction, message)  # (a viewer who left stops it here: nothing starts)
        if then is not None and not ahead and fraction > 0:  # (0: its programs compile)
            ahead.append(threading.Thread(target=_quietly, args=(then,), daemon=True,
                                          name="bnjax-compile-after-training"))
            ahead[0].start()
    out = runs.train_together(jobs, steps, data, chunk=min(steps, 100), progress=report)
    for thread in ahead:  # (a run stopped early leaves it: it ends with its compile)
        thread.join()
    return out


def _quietly(compile_it: Callable) -> None:
    try:
        compile_it()
    except Exception:  # noqa: BLE001  the call after training compiles, and says what is wrong
        pass


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
    """std over batches per (run, batch size), the strip samples, and x0's offset (mean |x̂|
    under the population statistics). `batch_sizes` and `batches` may be tuples of equal length
    (the batches per size); one program measures every size and the offset
    (`probes.noise_meter`)."""
    layer = config.layer - 1
    counts = batches if isinstance(batches, tuple) else (batches,) * len(batch_sizes)
    idx = tuple(np.stack([noise_batches(rng, i0, len(x), b, k) for _ in range(n_runs)])
                for b, k in zip(batch_sizes, counts))
    out, offset = probes.noise_meter(params, state, x, y0, idx, i0, spec=spec, layer=layer,
                                     with_p=_with_p(batch_sizes, len(x)))
    std = np.zeros((n_runs, len(batch_sizes)))
    strips = {}
    for j, (b, (x_hat, p)) in enumerate(zip(batch_sizes, out)):
        x_hat = np.asarray(x_hat, np.float64)  # (R, N, width)
        p = None if p is None else np.asarray(p)  # (R, N)
        std[:, j] = x_hat.std(axis=1).mean(axis=1)
        if b in STRIP_BATCH_SIZES:
            strips[b] = (x_hat[:, :STRIP_BATCHES, config.unit], p[:, :STRIP_BATCHES])
    return std, strips, np.asarray(offset)


def _with_p(batch_sizes, n: int) -> tuple:
    """x0's class probability only where the page shows it (the strips) and for the full set."""
    return tuple(b in STRIP_BATCH_SIZES or b >= n for b in batch_sizes)


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
    job = runs.Job(TrainConfig(spec, config.optimizer, 64), hparams(lr=config.lr), seeds)
    rng = np.random.default_rng([config.seed, i0])
    x = jax.device_put(data.x_train)
    y0 = int(data.y_train[i0])
    sizes = tuple(int(b) for b in config.batch_sizes)
    # The batch sizes and, last, the limit: every "batch" is the whole training set (in a new
    # order, 8 times): no noise left. One program measures them all.
    all_sizes, counts = sizes + (n,), (config.batches,) * len(sizes) + (8,)

    def compile_meter():
        params, state = runs.net_shapes(spec, len(seeds))
        idx = tuple(jax.ShapeDtypeStruct((len(seeds), k, min(b, n)), np.int32)
                    for b, k in zip(all_sizes, counts))
        probes.noise_meter.lower(params, state, x, y0, idx, i0, spec=spec,
                                 layer=config.layer - 1, with_p=_with_p(all_sizes, n)).compile()
    trained = _train({"BN": job}, config.steps, data,
                     progress=_stage(progress, 0.0, 0.6, "training"), then=compile_meter)["BN"]
    carry = trained.carry
    if progress is not None:
        progress(0.6, f"measuring: {config.batches} batches x {len(config.batch_sizes)} sizes")
    both, strips, offset = _noise_stats(spec, carry.params, carry.state, x, i0, y0, len(seeds),
                                        config, all_sizes, counts, rng)
    std, full = both[:, :-1], both[:, -1:]

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
        digit_image(i0), y0, trained.divergence.of(seeds),
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
    # BN on or off and the dropout rate are data (norm "switch"; a rate of 0 draws no mask and
    # changes nothing): the three nets train in one compiled program, bit for bit as a BN net
    # and a plain net (with or without dropout) of their own configs would, and share every
    # program after training.
    plain = bn = MLPSpec(depth=config.depth, width=config.width, norm="switch")
    one = TrainConfig(plain, "momentum", 64, stochastic="dropout")
    jobs = {  # the same seeds, so the same initial weights and batches in all three
        "dropout": runs.Job(one, hparams(lr=config.dropout_lr, dropout=config.dropout, bn=0.0),
                            seeds),
        "plain": runs.Job(one, hparams(lr=config.lr, dropout=0.0, bn=0.0), seeds),
        "BN": runs.Job(one, hparams(lr=config.lr, dropout=0.0, bn=1.0), seeds),
    }
    rng = np.random.default_rng(config.seed)
    layer = int(np.clip(config.single_layer, 1, config.depth)) - 1
    masks = jax.device_put(np.concatenate([
        ablation_masks(rng, config.depth, config.width, config.orders),
        single_unit_masks(config.depth, config.width, layer)]))
    n_curve = config.orders * len(FRACTIONS)
    x_tr, x_te, y_te = jax.device_put((data.x_train, data.x_test, data.y_test))
    # One program: every net with frozen statistics (a plain net reads none: the same numbers
    # as with its own), and the BN nets with recomputed statistics.
    names = ("BN", "plain", "dropout")

    def compile_ablation():
        params = runs.net_shapes(bn, len(seeds))[0]
        stacked = jax.tree.map(lambda a: a.update(shape=(len(names) * a.shape[0],)
                                                  + a.shape[1:]), params)
        probes.ablation_nets.lower(stacked, params, x_tr, x_te, y_te, masks, spec=bn).compile()
    # As one job (`runs.joint_job`): 9 runs in 5 calls per chunk on 2 devices, not 6.
    trained = runs.split_joint(_train({"": runs.joint_job(jobs)}, config.steps, data,
                                      progress=_stage(progress, 0.0, 0.85,
                                                      "training plain, BN and dropout nets"),
                                      then=compile_ablation)[""],
                               jobs)
    carries = {name: r.carry for name, r in trained.items()}
    if progress is not None:
        progress(0.85, "ablating units")
    stacked = jax.tree.map(lambda *a: np.concatenate(a), *(carries[k].params for k in names))
    frozen_all, recomputed = probes.ablation_nets(stacked, carries["BN"].params, x_tr, x_te,
                                                  y_te, masks, spec=bn)
    frozen, plain_acc, dropout_acc = np.split(np.asarray(frozen_all), len(names))
    acc = {k: np.asarray(v, np.float64) for k, v in (
        ("BN (recomputed stats)", recomputed), ("BN (frozen stats)", frozen),
        ("plain", plain_acc), ("dropout", dropout_acc))}
    variant_net = {"plain": "plain", "dropout": "dropout", "BN (frozen stats)": "BN",
                   "BN (recomputed stats)": "BN"}
    diverged = {v: trained[t].divergence.of(seeds) for v, t in variant_net.items()}

    curve_rows, single_rows, summary = [], [], {}
    for v in ABLATION_VARIANTS:
        a = acc[v]
        dead = trained[variant_net[v]].diverged
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


def run_ghost(config: GhostConfig, progress=None) -> GhostResult:
    """3c: the same seeds and batches, BN statistics over ghost groups of each size."""
    full = load_digits()
    data = Dataset(full.x_train[:config.subset], full.y_train[:config.subset], full.x_test,
                   full.y_test)
    seeds = _seeds(config.seed, config.seeds)
    base = MLPSpec(depth=config.depth, width=config.width, bn=True)
    # Every ghost size in one job: the group size is data (`TrainConfig(groups=True)`, one
    # compiled program for all of them); a group as large as the batch is ordinary BN.
    ghosts = [int(g) for g in config.ghosts]
    sizes = np.repeat([0 if g >= config.batch_size else g for g in ghosts], len(seeds))
    unit = int(np.gcd.reduce([config.batch_size] + [g for g in ghosts if g < config.batch_size]))
    jobs = {"BN": runs.Job(TrainConfig(base, "momentum", config.batch_size, groups=unit),
                           hparams(lr=np.full(len(sizes), config.lr, np.float32),
                                   ghost=sizes.astype(np.float32)),
                           tuple(seeds) * len(ghosts))}
    if config.plain:
        jobs["plain"] = runs.Job(TrainConfig(base._replace(bn=False), "momentum",
                                             config.batch_size), hparams(lr=config.lr), seeds)
    n_runs = len(ghosts) * len(seeds) + (len(seeds) if config.plain else 0)
    done = _train(jobs, config.steps, data,
                  progress=_stage(progress, 0.0, 0.95, f"training {n_runs} nets"))
    trained = {}  # one result per variant, as before: {name: (config, carry, divergence)}
    n = len(seeds)
    for j, g in enumerate(ghosts):
        part = slice(j * n, (j + 1) * n)
        r = done["BN"]
        trained[ghost_name(g, config.batch_size)] = (
            r.config, jax.tree.map(lambda a: a[part], r.carry),
            runs.Divergence(r.divergence.flag[part], r.divergence.step[part]))
    if config.plain:
        r = done["plain"]
        trained["plain"] = (r.config, r.carry, r.divergence)
    n = len(seeds)
    x_sub = np.broadcast_to(data.x_train, (n,) + data.x_train.shape)
    y_sub = np.broadcast_to(data.y_train, (n,) + data.y_train.shape)
    rows, summary, diverged = [], {}, {}
    accs = {}
    for name, (cfg, carry, divergence) in trained.items():
        # evaluation: population statistics of the subset, no ghost groups
        a = np.asarray(probes.subset_scores_runs(carry.params, x_sub, y_sub, data.x_test,
                                                 data.y_test, spec=cfg.spec),
                       np.float64)[:, 2]
        a[divergence.flag] = np.nan
        diverged[name] = divergence.of(seeds)
        g = 0 if name == "plain" else int(name.split()[2])
        rows += [(name, g, s, float(a[r])) for r, s in enumerate(seeds)]
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


GROUP_UNIT = 8  # rows per block of BN's traced groups: the page's group sizes 8 ... 96
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


def subset_of(seed: int, n_train: int, size: int) -> np.ndarray:
    """The training examples of one seed: `size` indices into the training split, at random."""
    return np.random.default_rng([int(seed), 3]).permutation(n_train)[:size].astype(np.int32)


def subset_batches(seed: int, steps: int, subset: np.ndarray) -> np.ndarray:
    """(steps, N): every step the whole subset, in a new random order (so the groups of the
    noise-on arm are new every step; the noise-off arm does not care about the order). These
    are the runner's batches (`batch_indices`: shuffled epochs of the seed) of a batch as large
    as the subset, as indices into the training split."""
    return subset[batch_indices(int(seed), steps, len(subset), len(subset))]


def _table(seeds, scores: dict) -> pd.DataFrame:
    """The per-seed table from {arm: (R, 4) scores}."""
    rows = [(s, arm, m[r, 0], m[r, 2], m[r, 0] - m[r, 2], m[r, 1], m[r, 3])
            for arm in ARMS for m in [scores[arm]] for r, s in enumerate(seeds)]
    return pd.DataFrame(rows, columns=["seed", "arm", "train_acc", "test_acc", "gap",
                                       "train_loss", "test_loss"])


def run_regularization(config: RegularizationConfig, progress=None) -> RegularizationResult:
    """Noise on vs off, paired by seed, through the runner (`bnjax.runs`): each seed's two nets
    train side by side, one per CPU device, on that seed's own subset (the runner's data set),
    seed after seed; each pair is scored as soon as it is trained (`probes.subset_scores_runs`,
    one program for both arms), so `progress(fraction, message, partial)` gets a partial
    result that grows by one seed at a time: the page's live chart.

    The two arms are one static config (`TrainConfig(groups=True)`): BN's group size is data
    (`hparams(ghost=...)`: `group` in the noise-on arm, 0 = the whole subset in the other), so
    both nets train in one compiled program, side by side on the two devices."""
    t0 = time.perf_counter()
    report = reporter(progress)
    data = load_digits()
    n_train = len(data.x_train)
    group = int(np.clip(config.group, 2, n_train))
    size = int(np.clip(config.subset, group, n_train)) // group * group  # whole groups
    seeds = _seeds(config.seed, max(2, int(config.seeds)))
    base = MLPSpec(depth=config.depth, width=config.width, bn=True)
    # Groups are made of blocks of GROUP_UNIT rows (every group size the page offers is a
    # multiple of it: one program for all); another size falls back to blocks of its own.
    unit = GROUP_UNIT if group % GROUP_UNIT == 0 and size % GROUP_UNIT == 0 else group
    train_config = TrainConfig(base, "momentum", size, groups=unit)
    hp = hparams(lr=np.full(len(ARMS), config.lr, np.float32),  # one run per arm, ARMS order
                 ghost=np.array([0 if arm == "noise off" else group for arm in ARMS],
                                np.float32))
    x_test, y_test = jax.device_put((data.x_test, data.y_test))
    scores = {arm: np.full((len(seeds), 4), np.nan) for arm in ARMS}
    diverged = {arm: [] for arm in ARMS}
    extra = dict(subset=float(size), group=float(group), steps=float(config.steps),
                 lr=float(config.lr))
    # The scoring program compiles beside the training program (on the core the first pair's
    # compile leaves idle; page 4's first data ~0.1 s sooner on a fresh server): the first
    # scoring finds it compiled (the same shapes, tests/test_regularization.py).
    ahead = threading.Thread(target=_quietly, args=(lambda: probes.subset_scores_runs.lower(
        runs.net_shapes(base, len(ARMS))[0],
        *(jax.ShapeDtypeStruct((len(ARMS), size) + a.shape[1:], a.dtype)
          for a in (data.x_train, data.y_train)),
        x_test, y_test, spec=base).compile(),), daemon=True, name="bnjax-compile-after-training")
    ahead.start()
    for r, s in enumerate(seeds):
        sub = subset_of(s, n_train, size)
        own = Dataset(data.x_train[sub], data.y_train[sub], data.x_test, data.y_test)
        pair = runs.train_together({"": runs.Job(train_config, hp, (s,) * len(ARMS))},
                                   config.steps, own, chunk=config.steps)[""]
        params = pair.carry.params  # (arms, ...) in ARMS order
        ahead.join()
        xs = np.broadcast_to(own.x_train, (len(ARMS),) + own.x_train.shape)
        ys = np.broadcast_to(own.y_train, (len(ARMS),) + own.y_train.shape)
        both = np.asarray(probes.subset_scores_runs(params, xs, ys, x_test, y_test, spec=base),
                          np.float64)  # (arms, 4)
        for j, arm in enumerate(ARMS):
            if pair.diverged[j]:
                diverged[arm].append(s)  # a diverged run has no accuracy
            else:
                scores[arm][r] = both[j]
        if report is not None:
            partial = None
            if r >= 1 and r + 1 < len(seeds):  # two seeds or more: a chart with an interval
                table = _table(seeds[:r + 1], {a: m[:r + 1] for a, m in scores.items()})
                summary = {**summarize_regularization(table), **extra}
                partial = RegularizationResult(config, table, diverged, summary,
                                               time.perf_counter() - t0)
            report(0.97 * (r + 1) / len(seeds), f"{r + 1} of {len(seeds)} seeds trained",
                   partial)
    per_seed = _table(seeds, scores)
    summary = summarize_regularization(per_seed)
    summary.update(extra)
    if report is not None:
        report(1.0, "done")
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
