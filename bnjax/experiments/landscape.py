"""Page 5: "batch norm makes hyperparameter search easier: is it only because it is faster?"

Four experiments, each a frozen config, a result with a `summary`, and a `run_*` function:

- 4a `run_landscape`: test accuracy over learning rate x init gain, BN vs plain (the heat maps).
- 4b `run_effective_lr`: hidden W scaled by c with their learning rate scaled by c^2 is the same
  run under BN, exactly when eps scales by c^2 too (Ioffe & Szegedy 2015 Sec. 3.3; Arora et al.
  2019); why BN's good region in 4a runs diagonally.
- 4c `run_faster`: a fine learning-rate sweep: the largest lr that still learns, the largest that
  stays finite, and steps to 90% test accuracy at every lr (Bjorck et al. 2018).
- 4d `run_smoothness`: Santurkar et al. 2018, Fig. 4: loss and gradient along the current gradient.

Each experiment is config -> runner jobs -> `bnjax.runs.train_together(probe=...)` -> summary.
Every net of one architecture and optimizer (4a's grid, 4c's sweep, 4d's runs, 4b's ε-fixed
runs) shares one training program: learning rate, gain and the hidden-weight lr scale are
traced. The measurements are `bnjax.probes` functions (4a to 4c: `test_accuracy` and
`weight_norms`, the same pair as the rest of the lab; 4d: `along_gradient`). Diverged runs are
flagged results (`runs.Divergence`): accuracy 0 in the heat map, NaN curves after divergence.
A progress callback that takes a third argument receives partial results (the heat maps' cells
so far, 4c's and 4d's curves so far): the page draws them live.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import load_digits
from bnjax.nn import MLPSpec
from bnjax.runs import Job
from bnjax.train import TrainConfig, hparams
from bnjax.experiments import reporter

# Ladders the page's range controls choose from ("nice" log-spaced values).
LR_LADDER = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
GAIN_LADDER = (0.25, 0.5, 1.0, 2.0, 4.0)
GOOD = 0.90  # a "good" cell: mean test accuracy at least this
# Test accuracies are multiples of 1/540, so a seed mean often lands on 0.9 itself, which float32
# rounds either way by the CPU's summation order: the chart labels such a cell "90%", so it counts.
GOOD_TOL = 1e-6


def is_good(acc):
    """Test accuracy (a number or an array) that reaches GOOD, to float rounding: the one test
    of a good cell, for the heat map's outline, the per-seed tables and the summary."""
    return np.asarray(acc) >= GOOD - GOOD_TOL
VARIANTS = (("BN", True), ("plain", False))
MATCH_LR = 0.05  # "the same small learning rate" of the speed comparison (the pilot's)


def match_window(steps: int) -> tuple[int, int]:
    """The steps over which "who is faster" is measured: 100 to 350 (the pilot's window), or the
    last three quarters of a shorter run. Losses at indices lo:hi are steps lo + 1 to hi."""
    return (100, 350) if steps >= 350 else (steps // 4, steps)


def monotone_edge(lrs, ok) -> tuple[float, float]:
    """(lo, hi): lo is the smallest lr with `ok`, hi the largest lr such that *every* lr from lo
    up to hi has `ok` too; (nan, nan) when none has. So "the largest lr that learns" never skips
    a failure: on `ok` = [T, T, F, T] over lrs [1, 2, 3, 4] it is 2, not 4.

    >>> monotone_edge([0.1, 1.0, 10.0, 100.0], [True, True, False, True])
    (0.1, 1.0)
    """
    lrs, ok = np.asarray(lrs, float), np.asarray(ok, bool)
    order = np.argsort(lrs)
    lrs, ok = lrs[order], ok[order]
    if not ok.any():
        return float("nan"), float("nan")
    i = j = int(np.argmax(ok))
    while j + 1 < len(ok) and ok[j + 1]:
        j += 1
    return float(lrs[i]), float(lrs[j])


def _geomean(values) -> float:
    """The geometric mean over seeds of positive lrs; nan if any seed has none."""
    v = np.asarray(values, float)
    return float(np.exp(np.mean(np.log(v)))) if v.size and np.all(v > 0) else float("nan")


def _gmean(values) -> float:
    """The geometric mean of positive finite values; nan if there are none."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.mean(np.log(v)))) if v.size else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def _config(depth: int, width: int, bn: bool, optimizer: str, eps: float = 1e-5) -> TrainConfig:
    return TrainConfig(MLPSpec(depth=depth, width=width, bn=bn, eps=eps), optimizer=optimizer)




# ---------------------------------------------------------------------------- 4a the landscape


@dataclass(frozen=True)
class LandscapeConfig:
    seed: int = 0  # first seed; the grid uses seed, seed + 1, ...
    n_seeds: int = 2
    depth: int = 8
    width: int = 64
    steps: int = 1000
    optimizer: str = "sgd"
    lr_min: float = 0.003
    lr_max: float = 3.0
    gain_min: float = 0.5
    gain_max: float = 2.0


@dataclass
class LandscapeResult:
    cells: pd.DataFrame  # variant, lr, gain, acc (seed mean, diverged = 0), acc_std, diverged, good
    curves: pd.DataFrame  # variant, lr, gain, seed, step, loss (every 5th step)
    summary: dict[str, float]
    # variant, seed, good_cells, best_acc, match_loss, good_lr_lo, good_lr_hi, acc_ref, diverged_ref
    # (one row per net and seed: what the short answer compares, seed by seed)
    seeds: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def _ladder(ladder, lo, hi):
    values = [v for v in ladder if lo - 1e-12 <= v <= hi + 1e-12]
    return values or [min(ladder, key=lambda v: abs(v - lo))]


def grid_axes(config: LandscapeConfig):
    """The learning rates and gains of the grid, from the ladders within the config's ranges."""
    return (_ladder(LR_LADDER, config.lr_min, config.lr_max),
            _ladder(GAIN_LADDER, config.gain_min, config.gain_max))


def default_cell(config: LandscapeConfig) -> tuple[float, float]:
    """The cell whose curves the page shows before any click: lr 1, gain 1 when in the grid."""
    lrs, gains = grid_axes(config)
    return (1.0 if 1.0 in lrs else lrs[len(lrs) // 2],
            1.0 if 1.0 in gains else gains[len(gains) // 2])


def _work(config: LandscapeConfig) -> float:
    """Multiply-adds of the whole grid, roughly: networks x steps x depth x width^2."""
    lrs, gains = grid_axes(config)
    networks = 2 * len(lrs) * len(gains) * config.n_seeds
    return networks * config.steps * config.depth * config.width ** 2


MAX_WORK = 3 * _work(LandscapeConfig())  # about a minute on 2 quiet cores


def within_budget(config: LandscapeConfig) -> tuple[LandscapeConfig, str | None]:
    """The config, with fewer seeds and then fewer steps when the grid would train for more than
    about a minute (no URL may keep the server busy longer); and a note saying what changed."""
    original = config
    while _work(config) > MAX_WORK and config.n_seeds > 1:
        config = dataclasses.replace(config, n_seeds=config.n_seeds - 1)
    while _work(config) > MAX_WORK and config.steps > 100:
        config = dataclasses.replace(config, steps=max(100, config.steps // 2))
    if config == original:
        return config, None
    return config, (f"This grid would train for several minutes; running it with "
                    f"{config.n_seeds} seed(s) and {config.steps} steps instead.")


def _counter(report, make_partial: Callable | None = None, each: bool = False):
    """An `on_chunk` for the runner: "k of n networks trained" (the fraction counts every run's
    steps), and the experiment's partial result built by `make_partial(partials)`: after every
    chunk when `each` (growing curves), else only when a network finished since the last call
    (a heat map gets its new cells; nothing is rebuilt in between)."""
    finished = [-1]

    def on_chunk(partials: dict) -> None:
        if report is None:
            return
        done = sum(int(r.steps_done.sum()) for r in partials.values())
        total = sum(len(r.seeds) * r.steps for r in partials.values())
        n = sum(len(r.seeds) for r in partials.values())
        k = sum(int(np.sum(r.steps_done >= r.steps)) for r in partials.values())
        partial = None
        if make_partial is not None and (each or k != finished[0]):
            finished[0] = k
            partial = make_partial(partials)
        report(min(1.0, done / max(total, 1)), f"{k} of {n} networks trained", partial)
    return on_chunk


def grid_jobs(config: TrainConfig, lrs, gains, seeds, *, prefix: str = "") -> dict[str, Job]:
    """One runner job per learning rate: its (gain, seed) runs, `hparams` traced (one training
    program for every job of `config`). Named f"{prefix}{lr:g}"."""
    gain = np.repeat(np.asarray(gains, np.float32), len(seeds))
    seed = tuple(int(s) for s in np.tile(np.asarray(seeds), len(gains)))
    return {f"{prefix}{float(lr):g}": Job(config, hparams(lr=np.full(len(seed), lr, np.float32),
                                                         gain=gain), seed)
            for lr in lrs}


# The measurements of 4a to 4c: the same probe functions as `bnjax.grid` and `bnjax.train`, so
# every page's 8 x 64 SGD nets share one probe program per architecture.
ACCURACY = (probes.test_accuracy, probes.weight_norms)


def _grid_arrays(results: dict, config: LandscapeConfig, name: str):
    """(acc (lr, gain, seed), diverged, loss (lr, gain, seed, steps), done (lr, gain, seed)) of
    one variant from the runner's (partial) results; acc is NaN where a run is not done."""
    lrs, gains = grid_axes(config)
    shape = (len(gains), config.n_seeds)
    acc, div, loss, done = [], [], [], []
    for lr in lrs:
        r = results[f"{name} {lr:g}"]
        finished = r.steps_done >= r.steps
        (a, _), _ = r.probes if r.probes is not None and len(r.probes) else ((None, None), None)
        final = np.full(len(r.seeds), np.nan) if a is None else \
            np.nan_to_num(a[:, -1], nan=0.0)  # a diverged run counts as 0
        final = np.where(finished, final, np.nan)
        acc.append(final.reshape(shape))
        div.append(np.asarray(r.diverged).reshape(shape))
        loss.append(r.loss.reshape(*shape, -1))
        done.append(finished.reshape(shape))
    return np.stack(acc), np.stack(div), np.stack(loss), np.stack(done)


def landscape_cells(config: LandscapeConfig, results: dict) -> pd.DataFrame:
    """The heat maps' cells (variant, lr, gain, acc, acc_std, diverged, n_seeds, good) of every
    cell whose runs have all finished, from the runner's (partial) results: what the live heat
    maps draw while the grid trains, and the final result's `cells`."""
    lrs, gains = grid_axes(config)
    cells = []
    for name, _ in VARIANTS:
        acc, div, _, done = _grid_arrays(results, config, name)
        for i, lr in enumerate(lrs):
            for j, gain in enumerate(gains):
                if done[i, j].all():
                    cells.append(dict(variant=name, lr=lr, gain=gain,
                                      acc=float(acc[i, j].mean()), acc_std=float(acc[i, j].std()),
                                      diverged=int(div[i, j].sum()), n_seeds=config.n_seeds))
    cells = pd.DataFrame(cells, columns=["variant", "lr", "gain", "acc", "acc_std", "diverged",
                                         "n_seeds"])
    cells["good"] = is_good(cells["acc"])
    return cells


def grid_live_curves(partials: dict) -> pd.DataFrame:
    """variant, seed ("median"), step, loss: the median training loss over the grid's nets
    training so far (the runner's partial results of `run_landscape`), up to the step every
    started net has reached: what the page draws before the first cell is in."""
    frames = []
    for name, _ in VARIANTS:
        rs = [r for job, r in partials.items() if job.startswith(name + " ")]
        started = [r for r in rs if r.steps_done.max() > 0]
        if not started:
            continue
        loss = np.concatenate([r.loss[r.steps_done > 0] for r in started])
        done = int(min(r.steps_done[r.steps_done > 0].min() for r in started))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a step where every net diverged
            median = np.nanmedian(loss[:, :done], axis=0)
        frames.append(pd.DataFrame(dict(variant=name, seed="median", step=np.arange(1, done + 1),
                                        loss=median)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["variant", "seed", "step", "loss"])


def run_landscape(config: LandscapeConfig = LandscapeConfig(), progress=None) -> LandscapeResult:
    """4a: every (lr, gain, seed) for BN and plain; test accuracy at the end, seed mean.

    config -> runner jobs (`grid_jobs`: one per variant and lr, BN and plain interleaved so both
    heat maps fill in together) -> `runs.train_together(probe=ACCURACY)` -> cells and summary.
    With a progress callback that takes a third argument, it receives a partial result whose
    `cells` hold the cells finished so far (the page's live heat maps)."""
    lrs, gains = grid_axes(config)
    seeds = tuple(range(config.seed, config.seed + config.n_seeds))
    jobs: dict[str, Job] = {}
    for lr in lrs:  # BN and plain side by side, cell by cell
        for name, bn in VARIANTS:
            jobs.update(grid_jobs(_config(config.depth, config.width, bn, config.optimizer),
                                  [lr], gains, seeds, prefix=f"{name} "))
    every = min(50, config.steps)
    steps = -(-config.steps // every) * every
    report = reporter(progress)
    partial = (lambda partials: LandscapeResult(landscape_cells(config, partials),
                                                pd.DataFrame(), {}))
    results = runs.train_together(jobs, steps, load_digits(), chunk=every, probe=ACCURACY,
                                  probe_every=steps, probe_at_start=False,
                                  together=GRID_IN_FLIGHT, on_chunk=_counter(report, partial))
    return _landscape_result(config, results)


# Waves (one run per device each) in flight while a grid trains: enough that the devices never
# wait for Python, few enough that the cells complete one after another.
GRID_IN_FLIGHT = 8


def _landscape_result(config: LandscapeConfig, results: dict) -> LandscapeResult:
    lrs, gains = grid_axes(config)
    seeds = tuple(range(config.seed, config.seed + config.n_seeds))
    curves, per_seed, summary = [], [], {}
    cells = landscape_cells(config, results)
    # the speed comparison: the grid lr nearest MATCH_LR, at the reference gain (1 if in the grid)
    ref_lr, ref_gain = default_cell(config)
    match = min(lrs, key=lambda v: abs(np.log(v / MATCH_LR)))
    lo, hi = match_window(config.steps)
    k_every = 5 if config.steps >= 500 else 1
    for name, bn in VARIANTS:
        acc, div, loss, _ = _grid_arrays(results, config, name)
        for i, lr in enumerate(lrs):
            for j, gain in enumerate(gains):
                for k, seed in enumerate(seeds):
                    curves.append(pd.DataFrame(dict(
                        variant=name, lr=float(np.float32(lr)), gain=float(np.float32(gain)),
                        seed=int(seed), step=np.arange(1, config.steps + 1)[::k_every],
                        loss=loss[i, j, k, :config.steps:k_every])))
        mean = acc.mean(-1)
        key = "bn" if bn else "plain"
        i, j = lrs.index(match), gains.index(ref_gain)
        for k, seed in enumerate(seeds):
            good_lo, good_hi = monotone_edge(lrs, is_good(acc[:, j, k]))
            per_seed.append(dict(
                variant=name, seed=seed, good_cells=int(is_good(acc[..., k]).sum()),
                best_acc=float(acc[..., k].max()),
                match_loss=float(loss[i, j, k, lo:hi].mean()),  # NaN if it diverged
                good_lr_lo=good_lo, good_lr_hi=good_hi,
                acc_ref=float(acc[lrs.index(ref_lr), j, k]),
                diverged_ref=bool(div[lrs.index(ref_lr), j, k])))
        summary[f"match_loss_{key}"] = float(np.mean([r["match_loss"] for r in per_seed
                                                      if r["variant"] == name]))
        summary[f"good_lr_max_{key}"] = _geomean([r["good_lr_hi"] for r in per_seed
                                                  if r["variant"] == name])
        # the heat map's cells: its outline and its header's count
        summary[f"good_cells_{key}"] = float(cells[cells.variant == name].good.sum())
        summary[f"best_acc_{key}"] = float(cells[cells.variant == name].acc.max())
        summary[f"diverged_cells_{key}"] = float(div.any(-1).sum())
        if 1.0 in lrs and 1.0 in gains:
            summary[f"acc_lr1_gain1_{key}"] = float(mean[lrs.index(1.0), gains.index(1.0)])
    summary["n_cells"] = float(len(lrs) * len(gains))
    summary.update(match_lr=float(match), ref_lr=float(ref_lr), ref_gain=float(ref_gain),
                   match_window_start=float(lo), match_window_end=float(hi),
                   lr_grid_min=float(lrs[0]), lr_grid_max=float(lrs[-1]),
                   n_seeds=float(len(seeds)))
    return LandscapeResult(cells, pd.concat(curves, ignore_index=True),
                           summary, pd.DataFrame(per_seed))


# ---------------------------------------------------------------------------- 4b effective lr


@dataclass(frozen=True)
class EffectiveLrConfig:
    seed: int = 0
    c: float = 2.0  # hidden-W scale; lr of the hidden W times c^2
    lr: float = 0.5
    steps: int = 1000
    depth: int = 8
    width: int = 64
    optimizer: str = "sgd"
    eps: float = 1e-5


@dataclass
class EffectiveLrResult:
    curves: pd.DataFrame  # run, step, loss, rel_diff (vs run A)
    norms: pd.DataFrame  # run, step, layer, w_norm
    summary: dict[str, float]


# A: hidden W, lr; B: c·W with lr c²·η for the hidden W, ε scaled by c² or fixed
EFFECTIVE_RUNS = ("A", "B, ε·c²", "B, fixed ε")


def run_effective_lr(config: EffectiveLrConfig = EffectiveLrConfig(),
                     progress=None) -> EffectiveLrResult:
    """4b: run A (gain 1) against run B (hidden W times c, their lr times c^2), same seed and
    batches, with eps scaled by c^2 and with eps fixed. The init gain multiplies exactly the
    hidden weights (the output layer ignores it), so B's init is A's hidden W scaled by c
    (bit for bit when c is a power of 2). Three runs, two runner jobs (ε is part of the static
    network shape: the ε·c² net has its own training program), the weight norms probed every
    10 steps."""
    c = float(config.c)
    every = 10
    steps_run = -(-config.steps // every) * every
    seed = int(config.seed)
    jobs = {
        "fixed": Job(_config(config.depth, config.width, True, config.optimizer, config.eps),
                     hparams(lr=np.full(2, config.lr, np.float32),
                             gain=np.array([1.0, c], np.float32),
                             w_lr_scale=np.array([1.0, c * c], np.float32)), (seed, seed)),
        "scaled": Job(_config(config.depth, config.width, True, config.optimizer,
                              config.eps * c * c),
                      hparams(lr=config.lr, gain=c, w_lr_scale=c * c), (seed,)),
    }
    # only the weight norms: a probe that small compiles in a moment
    r = runs.train_together(jobs, steps_run, load_digits(), chunk=every,
                            probe=probes.weight_norms, probe_at_start=False,
                            on_chunk=_counter(reporter(progress)))
    fixed, scaled = r["fixed"], r["scaled"]
    losses = (fixed.loss[0], scaled.loss[0], fixed.loss[1])
    norms = (fixed.probes[0], scaled.probes[0], fixed.probes[1])
    steps = np.arange(1, config.steps + 1)
    curves, tables = [], []
    for name, loss, norm in zip(EFFECTIVE_RUNS, losses, norms):
        rel = np.abs(loss - losses[0]) / np.abs(losses[0])
        curves.append(pd.DataFrame(dict(run=name, step=steps, loss=loss[:config.steps],
                                        rel_diff=rel[:config.steps])))
        e = fixed.probe_steps
        for layer in range(norm.shape[1]):
            tables.append(pd.DataFrame(dict(run=name, step=e, layer=layer + 1,
                                            w_norm=norm[:, layer])))
    curves = pd.concat(curves, ignore_index=True)
    rel_scaled = np.abs(losses[1] - losses[0]) / np.abs(losses[0])
    rel_fixed = np.abs(losses[2] - losses[0]) / np.abs(losses[0])

    def first_above(rel, tol):
        hit = np.flatnonzero(~(rel <= tol))  # NaN (a diverged run) counts as a separation
        return float(hit[0] + 1) if len(hit) else float("nan")

    last = slice(-min(50, config.steps), None)
    summary = dict(
        effective_lr_max_rel_diff=float(np.max(rel_scaled)),
        effective_lr_fixed_eps_max_rel_diff=float(np.max(rel_fixed)),
        effective_lr_fixed_eps_rel_diff_100=float(np.max(rel_fixed[:100])),
        effective_lr_fixed_eps_first_step_1e3=first_above(rel_fixed, 1e-3),
        effective_lr_scaled_first_step_1e3=first_above(rel_scaled, 1e-3),
        final_loss_a=float(np.nanmean(losses[0][last])),
        final_loss_scaled=float(np.nanmean(losses[1][last])),
        final_loss_fixed_eps=float(np.nanmean(losses[2][last])),
        c=c, w_norm_ratio_start=float(norms[1][0].sum() / norms[0][0].sum()),
        w_norm_ratio_end=float(norms[1][-1].sum() / norms[0][-1].sum()),
    )
    return EffectiveLrResult(curves, pd.concat(tables, ignore_index=True), summary)


# ---------------------------------------------------------------------------- 4c only faster?


@dataclass(frozen=True)
class FasterConfig:
    seed: int = 0
    n_seeds: int = 1
    steps: int = 500
    depth: int = 8
    width: int = 64
    optimizer: str = "sgd"
    gain: float = 1.0
    lr_min: float = 0.01
    lr_max: float = 100.0
    n_lrs: int = 17  # log-spaced: 17 from 0.01 to 100 is four per decade
    match_lr: float = 0.056  # the matched small lr of the side-by-side curves (nearest sweep lr)
    target: float = 0.90  # test accuracy that counts as "trained"


@dataclass
class FasterResult:
    sweep: pd.DataFrame  # variant, lr, seed, learns, finite, steps_to_target, final_loss, acc
    curves: pd.DataFrame  # variant, seed, step, loss (at the matched lr)
    summary: dict[str, float]
    # variant, seed, learn_lr_lo, learn_lr_hi, finite_lr_hi (monotone edges), finite_lr_any (the
    # largest finite lr, gaps allowed), first_diverged_lr, fewest_steps, fastest_lr, match_loss
    seeds: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def sweep_lrs(config: FasterConfig) -> list[float]:
    return [float(v) for v in np.logspace(np.log10(config.lr_min), np.log10(config.lr_max),
                                          config.n_lrs)]


def _matched(name: str, res, match: float, steps: int) -> pd.DataFrame:
    """The training loss of the runs at the matched lr (the side-by-side curves)."""
    rows = [pd.DataFrame(dict(variant=name, seed=int(res.seeds[r]), step=np.arange(1, steps + 1),
                              loss=np.array(res.loss[r, :steps])))
            for r in range(len(res.seeds)) if abs(res.hp.lr[r] - match) < 1e-6 * match]
    return pd.concat(rows, ignore_index=True)


def _faster_curves(config: FasterConfig, partials: dict, match: float) -> "FasterResult":
    """A partial 4c result for the live chart: the matched-lr curves so far (NaN not yet
    trained)."""
    curves = pd.concat([_matched(name, partials[name], match, config.steps)
                        for name, _ in VARIANTS], ignore_index=True)
    return FasterResult(pd.DataFrame(), curves, {"match_lr": float(match)})


def run_faster(config: FasterConfig = FasterConfig(), progress=None) -> FasterResult:
    """4c: a fine log-lr sweep for both nets. A run *learns* when it stays finite and its final
    training loss (mean of the last 10% of steps) is below half its first-step loss. The largest
    lrs (`max_stable_lr_*`, `max_finite_lr_*`) are monotone (`monotone_edge`: every smaller lr of
    the sweep, from the smallest that learns, qualifies too; a net that diverges at 56 and is
    finite again at 100 stays finite "up to 31.6"), per seed, then a geometric mean over seeds;
    `fewest_steps_*` is the fewest steps to the target over the sweep, per seed, then the mean
    (test accuracy is measured every 10 steps)."""
    lrs = sweep_lrs(config)
    seeds = tuple(range(config.seed, config.seed + config.n_seeds))
    match = min(lrs, key=lambda v: abs(np.log(v / config.match_lr)))
    every = 10
    steps_run = -(-config.steps // every) * every
    jobs = {name: Job(_config(config.depth, config.width, bn, config.optimizer),
                      hparams(lr=np.repeat(np.asarray(lrs, np.float32), len(seeds)),
                              gain=config.gain), tuple(seeds) * len(lrs))
            for name, bn in VARIANTS}
    report = reporter(progress)
    results = runs.train_together(
        jobs, steps_run, load_digits(), chunk=every, probe=ACCURACY, probe_at_start=False,
        on_chunk=_counter(report, lambda p: _faster_curves(config, p, match), each=True))
    rows, curves, per_seed, summary = [], [], [], {}
    for name, bn in VARIANTS:
        res = results[name]
        (test_acc, _), _ = res.probes
        lr_r, seed_r = res.hp.lr, res.seeds
        tail = max(1, config.steps // 10)
        start = res.loss[:, 0]
        final = res.loss[:, config.steps - tail:config.steps].mean(axis=1)  # NaN if diverged
        finite = ~res.diverged & np.isfinite(final)
        learns = finite & (final < 0.5 * start)
        hit = np.nan_to_num(test_acc, nan=0.0) >= config.target
        to_target = np.where(hit.any(1), res.probe_steps[hit.argmax(1)], np.nan)
        for r in range(len(lr_r)):
            rows.append(dict(variant=name, lr=float(lr_r[r]), seed=int(seed_r[r]),
                             learns=bool(learns[r]), finite=bool(finite[r]),
                             diverged=bool(res.diverged[r]), steps_to_target=float(to_target[r]),
                             final_loss=float(final[r]),
                             acc=float(np.nan_to_num(test_acc[r, -1], nan=0.0))))
        curves.append(_matched(name, res, match, config.steps))
        key = "bn" if bn else "plain"
        shape = (len(lrs), len(seeds))
        learns_, finite_, div_ = (a.reshape(shape) for a in (learns, finite, res.diverged))
        steps_ = to_target.reshape(shape)
        lo, hi = match_window(config.steps)
        window = res.loss.reshape(*shape, -1)[lrs.index(match), :, lo:hi]
        for k, seed in enumerate(seeds):
            learn_lo, learn_hi = monotone_edge(lrs, learns_[:, k])
            _, finite_hi = monotone_edge(lrs, finite_[:, k])
            reached = np.isfinite(steps_[:, k])
            fastest = int(np.argmin(np.where(reached, steps_[:, k], np.inf)))
            per_seed.append(dict(
                variant=name, seed=seed, learn_lr_lo=learn_lo, learn_lr_hi=learn_hi,
                finite_lr_hi=finite_hi,
                finite_lr_any=max([v for v, f in zip(lrs, finite_[:, k]) if f], default=np.nan),
                first_diverged_lr=min([v for v, d in zip(lrs, div_[:, k]) if d],
                                      default=np.nan),
                fewest_steps=float(steps_[fastest, k]) if reached.any() else np.nan,
                fastest_lr=float(lrs[fastest]) if reached.any() else np.nan,
                match_loss=float(window[k].mean())))  # NaN if it diverged
        mine = [r for r in per_seed if r["variant"] == name]
        # the largest lr that learns / stays finite: monotone (every smaller lr of the sweep,
        # from the smallest that learns, qualifies too), per seed, then a geometric mean
        summary[f"max_stable_lr_{key}"] = _geomean([r["learn_lr_hi"] for r in mine])
        summary[f"min_stable_lr_{key}"] = _geomean([r["learn_lr_lo"] for r in mine])
        summary[f"max_finite_lr_{key}"] = _geomean([r["finite_lr_hi"] for r in mine])
        diverged_at = [r["first_diverged_lr"] for r in mine if np.isfinite(r["first_diverged_lr"])]
        summary[f"first_diverged_lr_{key}"] = float(min(diverged_at, default=np.nan))
        summary[f"fewest_steps_{key}"] = float(np.mean([r["fewest_steps"] for r in mine]))
        summary[f"fastest_lr_{key}"] = _geomean([r["fastest_lr"] for r in mine])
        # the matched small lr: mean training loss over steps 100 to 350 (the pilot's window)
        summary[f"match_loss_{key}"] = float(window.mean())  # NaN if a run diverged
    summary["match_lr"] = float(match)
    summary["match_window_start"], summary["match_window_end"] = float(lo), float(hi)
    summary["stable_lr_ratio"] = _ratio(summary["max_stable_lr_bn"], summary["max_stable_lr_plain"])
    summary["finite_lr_ratio"] = _ratio(summary["max_finite_lr_bn"], summary["max_finite_lr_plain"])
    summary["n_seeds"] = float(len(seeds))
    summary["lr_sweep_min"], summary["lr_sweep_max"] = float(lrs[0]), float(lrs[-1])
    return FasterResult(pd.DataFrame(rows), pd.concat(curves, ignore_index=True), summary,
                        pd.DataFrame(per_seed))


# ---------------------------------------------------------------------------- 4d smoothness


@dataclass(frozen=True)
class SmoothnessConfig:
    seed: int = 0
    n_seeds: int = 3
    steps: int = 600
    every: int = 50
    lr: float = 0.05
    depth: int = 8
    width: int = 64
    optimizer: str = "sgd"
    s_min: float = 0.05  # step sizes along the gradient: 8 values from s_min to s_max
    s_max: float = 0.4


@dataclass
class SmoothnessResult:
    probes: pd.DataFrame  # variant, seed, step, s, loss, grad_change, beta
    bands: pd.DataFrame  # variant, step, measure, lo, hi, mid (min / max / mean over seeds)
    summary: dict[str, float]
    # measure, seed, cross_step, early_bn, early_plain, late_bn, late_plain (geometric means over
    # the probes before and from the seed's crossing step), train_late_bn, train_late_plain
    # (training loss from that step on)
    seeds: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


# On screen, and the summary keys' stems. "Gradient smoothness" is what Santurkar et al. call
# effective β-smoothness (a Lipschitz constant of the gradient), not BN's β.
MEASURES = ("loss range", "gradient change", "gradient smoothness")
MEASURE_KEYS = {"loss range": "loss_range", "gradient change": "grad_change",
                "gradient smoothness": "beta"}


def crossing(steps, rougher) -> float:
    """The step where "plain is rougher than BN" turns into "plain is not": of every split of
    the probes into before and after, the one that agrees with the most of them (rougher before,
    not rougher from it on; the earliest of ties). NaN when the best split is at either end:
    one side throughout, no crossing.

    >>> crossing([0, 50, 100, 150, 200], [True, True, False, True, False])
    100.0
    """
    r = np.asarray(rougher, bool)
    scores = [int(r[:k].sum() + (~r[k:]).sum()) for k in range(len(r) + 1)]
    k = int(np.argmax(scores))
    return float(steps[k]) if 0 < k < len(r) else float("nan")


def _smooth_measures(loss, change, gnorm, sizes) -> dict:
    """Per measure, (seeds, probes): the loss range, gradient change and gradient smoothness
    from the along-gradient probe's (loss, change (seeds, probes, S), ‖g‖ (seeds, probes))."""
    s = np.asarray(sizes, np.float64)
    beta = change / (s[None, None, :] * gnorm[..., None])
    return {"loss range": loss.max(-1) - loss.min(-1), "gradient change": change.max(-1),
            "gradient smoothness": beta.max(-1)}


def _bands(name: str, measures: dict, at) -> list[dict]:
    rows = []
    for measure in MEASURES:
        v = measures[measure]
        for j, step in enumerate(at):
            with np.errstate(all="ignore"):
                if np.isnan(v[:, j]).all():
                    continue
                rows.append(dict(variant=name, step=int(step), measure=measure,
                                 lo=float(np.nanmin(v[:, j])), hi=float(np.nanmax(v[:, j])),
                                 mid=float(np.nanmean(v[:, j]))))
    return rows


def _smooth_partial(config: SmoothnessConfig, partials: dict, sizes) -> "SmoothnessResult":
    """A partial 4d result for the live chart: the bands of the probes measured so far."""
    bands = []
    for name, _ in VARIANTS:
        res = partials[name]
        if res.probes is None:
            continue
        cols = res.probed()[:-1]  # measured on every seed, the last (unused) probe left out
        # (the runner's partial results hold a single probe's output in a 1-tuple)
        measured = res.probes[0] if len(res.probes) == 1 else res.probes
        loss, change, gnorm = (np.asarray(a[:, :-1][:, cols], np.float64) for a in measured)
        bands += _bands(name, _smooth_measures(loss, change, gnorm, sizes),
                        res.probe_steps[:-1][cols])
    return SmoothnessResult(pd.DataFrame(), pd.DataFrame(bands), {})


def run_smoothness(config: SmoothnessConfig = SmoothnessConfig(),
                   progress=None) -> SmoothnessResult:
    """4d: every `every` steps, step sizes s along the current gradient g: the loss range
    max_s L(θ - s·g) - min_s L(θ - s·g), the gradient change max_s ‖g - ∇L(θ - s·g)‖ and the
    gradient smoothness (Santurkar's effective β-smoothness) max_s ‖g - ∇L(θ - s·g)‖ / ‖s·g‖
    (Santurkar et al. 2018, Fig. 4). Plain is rougher early and often smoother late, once it has
    fit its batches: per measure and seed, `crossing` finds the step where that changes
    (`*_cross_step`: the seeds' median), and the summary gives the plain/BN ratio of the seeds'
    geometric means before it (`*_ratio_early`) and from it on (`*_ratio_late`), as well as of
    the plain means over the whole run (`*_ratio`, as in the pilot)."""
    data = load_digits()
    seeds = tuple(range(config.seed, config.seed + config.n_seeds))
    steps = -(-config.steps // config.every) * config.every
    sizes = np.linspace(config.s_min, config.s_max, 8).astype(np.float32)
    jobs = {name: Job(_config(config.depth, config.width, bn, config.optimizer),
                      hparams(lr=config.lr), seeds) for name, bn in VARIANTS}
    report = reporter(progress)
    results = runs.train_together(
        jobs, steps, data, chunk=config.every, probe=probes.along_gradient, probe_args=sizes,
        on_chunk=_counter(report, lambda p: _smooth_partial(config, p, sizes), each=True))
    rows, bands, summary, per, train = [], [], {}, {}, {}
    for k, (name, bn) in enumerate(VARIANTS):
        res = results[name]
        # the probes before each block of `every` steps (the one after the last is not used)
        loss, change, gnorm = (np.asarray(a[:, :-1], np.float64) for a in res.probes)
        train[name] = np.asarray(res.loss, np.float64)  # (seeds, steps)
        s = np.asarray(sizes, np.float64)
        beta = change / (s[None, None, :] * gnorm[..., None])  # (seeds, probes, S)
        at = np.arange(loss.shape[1]) * config.every
        for i, seed in enumerate(seeds):
            for j, step in enumerate(at):
                for m, sv in enumerate(s):
                    rows.append(dict(variant=name, seed=seed, step=int(step), s=float(sv),
                                     loss=loss[i, j, m], grad_change=change[i, j, m],
                                     beta=beta[i, j, m]))
        per[name] = {"loss range": loss.max(-1) - loss.min(-1),
                     "gradient change": change.max(-1),
                     "gradient smoothness": beta.max(-1)}  # each (seeds, probes)
        for measure in MEASURES:
            v = per[name][measure]
            for j, step in enumerate(at):
                bands.append(dict(variant=name, step=int(step), measure=measure,
                                  lo=float(np.nanmin(v[:, j])), hi=float(np.nanmax(v[:, j])),
                                  mid=float(np.nanmean(v[:, j]))))
        key = "bn" if bn else "plain"
        for measure in MEASURES:
            summary[f"{MEASURE_KEYS[measure]}_{key}"] = float(np.nanmean(per[name][measure]))
    table = []
    for measure in MEASURES:
        stem, bn, plain = MEASURE_KEYS[measure], per["BN"][measure], per["plain"][measure]
        summary[f"{stem}_ratio"] = _ratio(summary[f"{stem}_plain"], summary[f"{stem}_bn"])
        cross = np.array([crossing(at, plain[i] > bn[i]) for i in range(len(seeds))])
        # the seeds' crossing step: their median, if at least half of them cross
        step = float(np.median(cross[np.isfinite(cross)])) if np.isfinite(cross).sum() * 2 >= \
            len(seeds) else float("nan")
        step = float(at[np.argmin(np.abs(at - step))]) if np.isfinite(step) else step  # a probe
        trained = np.arange(train["BN"].shape[1])
        for i, seed in enumerate(seeds):
            # each seed split at its own crossing (the seeds' step if it has none); geometric
            # means over the probes of a window (these measures span decades)
            split = cross[i] if np.isfinite(cross[i]) else step
            early = at < split if np.isfinite(split) else np.ones(len(at), bool)
            late = ~early
            late_steps = trained >= split if np.isfinite(split) else trained >= trained.size // 2
            table.append(dict(
                measure=measure, seed=seed, cross_step=cross[i],
                early_bn=_gmean(bn[i, early]), early_plain=_gmean(plain[i, early]),
                late_bn=_gmean(bn[i, late]), late_plain=_gmean(plain[i, late]),
                train_late_bn=float(np.nanmean(train["BN"][i, late_steps])),
                train_late_plain=float(np.nanmean(train["plain"][i, late_steps]))))
        mine = table[-len(seeds):]
        summary[f"{stem}_cross_step"] = step
        for part in ("early", "late"):
            summary[f"{stem}_ratio_{part}"] = _ratio(
                float(np.mean([r[f"{part}_plain"] for r in mine])),
                float(np.mean([r[f"{part}_bn"] for r in mine])))
    summary["n_seeds"] = float(len(seeds))
    summary["last_probe_step"] = float(at[-1])
    return SmoothnessResult(pd.DataFrame(rows), pd.DataFrame(bands), summary, pd.DataFrame(table))


# ---------------------------------------------------------------------------- presets

PRESETS = {
    "the lecture's grid (8 layers, SGD)": LandscapeConfig(),
    "shallow net (3 layers)": LandscapeConfig(depth=3),
    "with momentum 0.9": LandscapeConfig(optimizer="momentum", lr_min=0.001, lr_max=1.0),
    "wide gain range (0.25 to 4)": LandscapeConfig(gain_min=0.25, gain_max=4.0),
    "three seeds": LandscapeConfig(n_seeds=3),
}


def follow(config: LandscapeConfig, *, c: float = 2.0, lr: float = 0.5):
    """The page's 4b, 4c and 4d configs for the 4a `config`: same seed, depth and width, at most
    its number of steps (the default view: 1000, 500 and 600 steps)."""
    # the follow-ups run at most the default's 8 x 64: they train many more steps per network
    shape = dict(seed=config.seed, depth=min(config.depth, 8), width=min(config.width, 64))
    return (EffectiveLrConfig(c=c, lr=lr, steps=config.steps, **shape),
            FasterConfig(steps=min(FasterConfig.steps, config.steps), **shape),
            SmoothnessConfig(steps=min(SmoothnessConfig.steps, config.steps), **shape))


def replace(config, **changes):
    """`dataclasses.replace`, for tests and pages that shrink a config."""
    return dataclasses.replace(config, **changes)
