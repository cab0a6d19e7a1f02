"""Page 1, BatchNorm basics: what BN computes on a real mini-batch, and what changes at test time.

Teaches:
  * one mini-batch of real digits through one BN layer of a trained net, step by step:
    z, the batch mean and variance, x_hat = (z - mu_B) / sqrt(var_B + eps), gamma * x_hat + beta;
  * train mode vs eval mode: the accuracy of the same trained net when the statistics come from
    the test batch itself (test batch sizes 1, 8, 64, all of it), from the running averages
    (decay 0.9 / 0.99 / 0.999, `running = decay * running + (1 - decay) * batch`), or from the
    whole training set (population statistics);
  * eval mode makes every prediction depend on its own example only; train mode does not;
  * the running averages approach the population statistics as the run lengthens; a slow decay
    needs a long run to forget its initial values (mean 0, variance 1).
Leaves out: convolutions, batch renormalization, the gradient through the batch statistics.

How it runs: config -> `runs.train_together` (probes `probes.running_gap` and
`probes.batch_preactivations` every CHUNK steps) -> `probes.test_time_program` per seed ->
summary. Each seed trains three BN nets that differ only in the decay of their running averages,
as three framework BN layers with three momentum settings would: the decay is not used in train
mode (BN normalizes with the batch's own statistics), so the three train identically, the same
losses and weights bit for bit (tests/test_basics.py), and each keeps its own running averages.
The runner takes the decay as data, so one compiled program trains all three (the decay-0.9
config is page 4's); the decay-0.9 net is the one shown step by step.

    result = run_basics(BasicsConfig(seed=0))
    result.summary["acc_train_batch1"], result.summary["acc_eval_population"]
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import Dataset, load_digits
from bnjax.nn import MLPSpec, batchnorm_apply, mlp_init, normalize, normalize_backward
from bnjax.train import TrainConfig, hparams

DECAYS = (0.9, 0.99, 0.999)  # the running-average decays compared on the page
TEST_BATCH_SIZES = (1, 8, 64)  # train-mode evaluation at these test batch sizes, plus "full"
CHUNK = 20  # training steps between two measurements of the running averages
SPLIT = 60  # the permutation test splits the 540 test examples into batches of 60
PROBES = (probes.running_gap, probes.batch_preactivations)  # measured every CHUNK steps


@dataclass(frozen=True)
class BasicsConfig:
    """The page's default view: a BN net trained briefly, then evaluated every way there is."""
    depth: int = 4  # hidden layers, each with BN before the ReLU
    width: int = 64
    activation: str = "relu"
    optimizer: str = "momentum"  # SGD with momentum 0.9
    lr: float = 0.05
    batch_size: int = 64  # training batch size, also the size of the mini-batch shown step by step
    steps: int = 300  # a short run: the slow running averages have not caught up yet
    seed: int = 0
    n_seeds: int = 3  # seeds seed, seed + 1, ... trained side by side (the seed spread);
    # the first is the net shown step by step

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))


@dataclass
class BasicsResult:
    """Every measured number per seed (`per_seed`, `accuracy`, `ema_gap`) and as the seed mean
    (`summary`); the net shown step by step (probe, bn, params, ...) is the first seed's.

    While training, `run_basics` hands partial results of this type to its progress callback
    (`done` False): `probe` and `ema_gap` hold what is measured so far, the rest is empty."""
    config: BasicsConfig
    summary: dict[str, float]  # seed means (over the seeds that did not diverge)
    accuracy: pd.DataFrame  # group, setting, order, seed, accuracy: the train-vs-eval bars
    ema_gap: pd.DataFrame  # seed, step, stats, gap, test_acc: running vs population over the run
    loss: pd.DataFrame  # step, loss: the first seed's training batch loss (every step)
    probe: dict  # the mini-batch shown step by step: z (depth, B, width), labels (B,), index (B,)
    bn: dict  # trained gamma, beta (depth, width); eps
    params: object  # trained MLPParams (numpy leaves), for tests and probes
    population: tuple  # population BN statistics of the training set (numpy)
    ema: tuple  # running statistics, leaves with a leading (len(DECAYS),) axis (numpy)
    state: tuple  # the network's own running statistics, kept by the training step (decay 0.9)
    diverged: bool  # some seed's net diverged (per seed: per_seed.diverged)
    per_seed: pd.DataFrame = None  # one row per seed: seed, diverged, and every summary number
    done: bool = True  # False in the partial results handed out while training
    step: int = 0  # steps trained when the probe batch was measured (partial results)


# ---------------------------------------------------------------------------- the runs


def spec_of(config: BasicsConfig) -> MLPSpec:
    return MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=True)


def train_config(config: BasicsConfig, decay: float = DECAYS[0]) -> TrainConfig:
    """The training config of the net whose running averages use `decay`: page 4's, but for the
    decay, which the runner passes to its compiled program as data."""
    return TrainConfig(spec=spec_of(config), optimizer=config.optimizer,
                       batch_size=config.batch_size, decay=decay)


def shown_batch(config: BasicsConfig, n_train: int) -> np.ndarray:
    """(batch_size,) indices of the training examples the page takes through BN step by step."""
    return np.random.default_rng(config.seed + 10_000).choice(n_train, config.batch_size,
                                                              replace=False)


def frames_every(steps: int, chunk: int, frames: int = 6) -> int:
    """Probe columns between two partial results: about `frames` over the run. Each one is a
    new live drawing, which costs the training thread as much as a few chunks of training."""
    return max(1, -(-steps // chunk) // (frames - 1))


def compile_ahead(config: BasicsConfig, data: Dataset) -> threading.Thread:
    """Compile the evaluation after training (`probes.test_time_program`) in a background
    thread while the nets train: XLA compiles without holding Python's lock, and the calls after
    training find it compiled (the same shapes: no second compile)."""
    def compile_it():
        try:
            spec = spec_of(config)
            params, state = jax.eval_shape(lambda: mlp_init(jax.random.key(0), spec, 1.0))
            running = jax.tree.map(
                lambda a: jax.ShapeDtypeStruct((len(DECAYS),) + a.shape, a.dtype), state)
            perm = np.arange(len(data.x_test))
            probes.test_time_program.lower(
                params, running, data.x_train, data.x_test, data.y_test, perm, spec=spec,
                batch_sizes=TEST_BATCH_SIZES, split=SPLIT).compile()
        except Exception:  # noqa: BLE001  the call after training compiles, and says what is wrong
            pass
    thread = threading.Thread(target=compile_it, name="bnjax-compile-test-time", daemon=True)
    thread.start()
    return thread


def _job_name(decay: float) -> str:
    return f"decay {decay}"


def _ema_rows(config: BasicsConfig, results: dict) -> list[tuple]:
    """seed, step, stats, gap, test_acc: every probed step of every seed, each running average
    and the population statistics (gap 0 by definition), from the finished runs. A diverged
    seed's rows end with the chunk in which it diverged (NaN there)."""
    main = results[_job_name(DECAYS[0])]
    measured = {d: results[_job_name(d)].probes[0] for d in DECAYS}  # (gap, acc, acc_pop)
    rows = []
    for i, seed in enumerate(config.seeds):
        for col, step in enumerate(main.probe_steps):
            for d in DECAYS:
                gap, acc, _ = (float(a[i, col]) for a in measured[d])
                rows.append((seed, int(step), f"EMA, decay {d}", gap, acc))
            pop = float(measured[DECAYS[0]][2][i, col])
            rows.append((seed, int(step), "population", 0.0 if np.isfinite(pop) else np.nan,
                         pop))
            if main.divergence.flag[i] and step >= main.divergence.step[i]:
                break  # nothing more to learn from this run: it stopped moving
    return rows


def _z(result, col: int) -> np.ndarray:
    """The shown batch's z at probe column `col` of the first seed (NaN once it diverged: then
    the last column measured before)."""
    z = result.probes[1][0]  # (P, depth, B, width)
    finite = [c for c in range(col + 1) if np.isfinite(z[c]).all()]
    return np.array(z[finite[-1] if finite else col])


def _partial(config: BasicsConfig, results: dict, index: np.ndarray, labels) -> BasicsResult:
    """What is measured so far, as a `BasicsResult` (done False) for live charts: the shown
    batch at the latest probed step of the first seed's decay-0.9 net."""
    main = results[_job_name(DECAYS[0])]
    cols = np.flatnonzero(main.probed()) if main.probes is not None else []
    spec = spec_of(config)
    nan = np.full((config.depth, config.width), np.nan)
    probe = {"z": np.full((config.depth, config.batch_size, config.width), np.nan),
             "labels": labels, "index": index}
    step = 0
    if len(cols):
        probe["z"], step = _z(main, int(cols[-1])), int(main.probe_steps[cols[-1]])
    empty = pd.DataFrame(columns=["group", "setting", "order", "seed", "accuracy"])
    return BasicsResult(
        config=config, summary={}, accuracy=empty,
        ema_gap=pd.DataFrame(columns=["seed", "step", "stats", "gap", "test_acc"]),
        loss=pd.DataFrame({"step": [], "loss": []}), probe=probe,
        bn={"gamma": nan, "beta": nan, "eps": spec.eps}, params=None, population=(), ema=(),
        state=(), diverged=bool(main.divergence.any()), per_seed=None, done=False, step=step)


def _seed_numbers(config: BasicsConfig, i: int, results: dict, gap_rows, data) -> tuple:
    """Every number the page states for seed number `i`'s trained nets (a dict), with that
    net's population statistics and its running averages (leaves (len(DECAYS), ...))."""
    seed = config.seeds[i]
    main = results[_job_name(DECAYS[0])]
    params = jax.tree.map(lambda a: a[i], main.carry.params)
    running = jax.tree.map(lambda *a: np.stack(a),
                           *[jax.tree.map(lambda a: a[i], results[_job_name(d)].carry.state)
                             for d in DECAYS])
    perm = np.random.default_rng(seed).permutation(len(data.x_test))
    ev = jax.device_get(probes.test_time_program(
        params, running, data.x_train, data.x_test, data.y_test, perm, spec=spec_of(config),
        batch_sizes=TEST_BATCH_SIZES, split=SPLIT))
    out = {f"acc_train_batch{b}": float(v) for b, v in zip(TEST_BATCH_SIZES, ev["train_batch"])}
    out["acc_train_full"] = float(ev["train_full"])
    out |= {f"acc_eval_ema_{d}": float(v) for d, v in zip(DECAYS, ev["eval_running"])}
    out["acc_eval_population"] = float(ev["eval_population"])
    out["logit_diff_eval"] = float(ev["logit_diff_eval"])
    out["logit_diff_train"] = float(ev["logit_diff_train"])
    out = dict(sorted(out.items()))  # the columns in the order the page has always had
    diverged = bool(main.divergence.flag[i])
    if diverged:  # a diverged net has no meaningful test-time numbers: flagged, drawn as such
        out = {k: float("nan") for k in out}
    mine = [r for r in gap_rows if r[0] == seed]
    last = max(r[1] for r in mine)
    for d in DECAYS:
        out[f"ema_gap_{d}"] = next(r[3] for r in mine
                                   if r[1] == last and r[2] == f"EMA, decay {d}")
    for d in DECAYS:  # test accuracy lost by using this running average instead of the population
        out[f"ema_lag_{d}"] = out["acc_eval_population"] - out[f"acc_eval_ema_{d}"]
    loss = main.loss[i]
    out["final_loss"] = float(np.nanmean(loss[-CHUNK:])) if not diverged else float("nan")
    out["diverged"] = float(diverged)
    return out, ev["population"], running


def run_basics(config: BasicsConfig, progress: Callable | None = None,
               data: Dataset | None = None) -> BasicsResult:
    """Train the BN nets of every seed in `config.seeds` side by side for `config.steps` steps,
    one per decay in DECAYS (identical but for their running averages), measuring the running
    averages against the population statistics every CHUNK steps; then evaluate each seed's net
    with batch, running and population statistics. The summary holds seed means; `per_seed`
    each seed's numbers.

    `progress(fraction, message)` after every chunk, with a partial `BasicsResult` as a third
    argument about four times over the run, from the first chunk on (`frames_every`): the
    shown batch through the first seed's net as trained so far.

    >>> r = run_basics(BasicsConfig(steps=40, n_seeds=1))
    >>> r.summary["acc_train_batch1"] < 0.2 < r.summary["acc_eval_population"]
    True
    """
    data = load_digits() if data is None else data
    spec = spec_of(config)
    index = shown_batch(config, len(data.x_train))
    labels = np.asarray(data.y_train)[index]
    jobs = {_job_name(d): runs.Job(train_config(config, d), hparams(lr=config.lr), config.seeds)
            for d in DECAYS}
    shown = [-1]  # the last probe column of the shown net handed out
    every = frames_every(config.steps, CHUNK, frames=4)  # its chart is slow to build
    ahead = []

    def on_chunk(results):
        step = min(int(r.steps_done.min()) for r in results.values())
        report(results, step)  # (a viewer who left stops it here: nothing more starts)
        # The nets train: the evaluation's program compiles meanwhile, from the second
        # chunk on (the first chunk's drawing goes first: it is the page's first chart).
        if not ahead and step > CHUNK:
            ahead.append(compile_ahead(config, data))

    def report(results, step: int):
        if progress is None:
            return
        message = f"step {step} of {config.steps}"
        main = results[_job_name(DECAYS[0])]
        col = int(main.probed().sum()) - 1 if main.probes is not None else -1
        first = col == 1  # the first chunk of training: the first frame
        if col == shown[0] or col < 1 or (col % every and not first and step < config.steps):
            progress(0.9 * step / config.steps, message)  # no new frame for the live chart
            return
        shown[0] = col
        progress(0.9 * step / config.steps, message, _partial(config, results, index, labels))

    # One compiled program trains the three decays' nets (the runner takes the decay as data).
    results = runs.train_together(jobs, config.steps, data, chunk=CHUNK, probe=PROBES,
                                  probe_args=np.asarray(data.x_train[index]), on_chunk=on_chunk)
    if progress is not None:
        progress(0.95, "evaluating with batch, running and population statistics")
    for thread in ahead:
        thread.join()
    gap_rows = _ema_rows(config, results)
    per_seed, first = [], None
    for i, seed in enumerate(config.seeds):
        numbers, pop, running = _seed_numbers(config, i, results, gap_rows, data)
        per_seed.append({"seed": seed, **numbers})
        if first is None:
            first = (pop, running)
    main = results[_job_name(DECAYS[0])]
    params = jax.tree.map(lambda a: np.asarray(a[0]), main.carry.params)
    pop, ema = first

    table = pd.DataFrame(per_seed)
    summary = {}
    for k in table.columns.drop(["seed", "diverged"]):
        v = table[k].to_numpy(float)
        summary[k] = float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
    y_counts = np.bincount(data.y_test, minlength=10)
    summary["chance"] = float(y_counts.max() / y_counts.sum())  # best constant prediction
    summary["steps"] = float(config.steps)
    summary["diverged"] = float(table["diverged"].any())
    summary["n_diverged"] = float(table["diverged"].sum())
    summary["n_seeds"] = float(len(config.seeds))
    summary["n_test"] = float(len(data.x_test))
    table["diverged"] = table["diverged"].astype(bool)
    loss = main.loss[0]
    return BasicsResult(
        config=config, summary=summary, accuracy=_accuracy_table(table, len(data.x_test)),
        ema_gap=pd.DataFrame(gap_rows, columns=["seed", "step", "stats", "gap", "test_acc"]),
        loss=pd.DataFrame({"step": np.arange(1, len(loss) + 1), "loss": loss}),
        probe={"z": _z(main, len(main.probe_steps) - 1), "labels": labels, "index": index},
        bn={"gamma": np.stack([h.bn.gamma for h in params.hidden]),
            "beta": np.stack([h.bn.beta for h in params.hidden]), "eps": spec.eps},
        params=params, population=jax.device_get(pop), ema=ema,
        state=jax.tree.map(lambda a: a[0], ema), diverged=bool(table["diverged"].any()),
        per_seed=table, step=config.steps)


def _accuracy_table(per_seed: pd.DataFrame, n_test: int) -> pd.DataFrame:
    """group, setting, order, seed, accuracy: one row per test-time choice and seed."""
    settings = [("batch statistics (train mode)", f"test batch {b}", f"acc_train_batch{b}")
                for b in TEST_BATCH_SIZES]
    settings.append(("batch statistics (train mode)", f"test batch {n_test} (all)",
                     "acc_train_full"))
    settings += [("running averages (eval mode)", f"EMA, decay {d}", f"acc_eval_ema_{d}")
                 for d in DECAYS]
    settings.append(("population statistics (eval mode)", "whole training set",
                     "acc_eval_population"))
    rows = [(group, setting, order, int(row["seed"]), float(row[key]))
            for order, (group, setting, key) in enumerate(settings)
            for _, row in per_seed.iterrows()]
    return pd.DataFrame(rows, columns=["group", "setting", "order", "seed", "accuracy"])


# ---------------------------------------------------------------------------- one batch, step by step


class BnSteps(NamedTuple):
    """One unit of one BN layer on the probe mini-batch, step by step."""
    table: pd.DataFrame  # example, rank, label, step, order, value: one row per example and step
    mean: float  # mu_B, the batch mean of z
    var: float  # var_B, the biased batch variance of z
    std: float  # sqrt(var_B + eps)
    gamma: float  # the gamma used for the last step (the slider)
    beta: float
    gamma_trained: float  # what training learned for this unit
    beta_trained: float


STEPS = ("z", "z − μ_B", "(z − μ_B)²", "x̂", "γ·x̂ + β")  # the mean of the third is var_B


def bn_steps(result: BasicsResult, layer: int, unit: int, gamma: float | None = None,
             beta: float | None = None) -> BnSteps:
    """BN's arithmetic on the probe batch for hidden `layer` (1-based) and `unit`, with the given
    gamma and beta (the trained ones when None): the same formula as `nn.batchnorm_apply`.

    >>> r = run_basics(BasicsConfig(steps=20))
    >>> s = bn_steps(r, 1, 0, gamma=2.0, beta=1.0)
    >>> round(float(s.table[s.table.step == "γ·x̂ + β"].value.mean()), 4)
    1.0
    """
    z = np.asarray(result.probe["z"][layer - 1][:, unit], np.float64)  # (B,)
    eps = result.bn["eps"]
    g_tr = float(result.bn["gamma"][layer - 1, unit])
    b_tr = float(result.bn["beta"][layer - 1, unit])
    gamma = g_tr if gamma is None else float(gamma)
    beta = b_tr if beta is None else float(beta)
    mean, var = z.mean(), z.var()  # biased variance, as BN uses
    std = np.sqrt(var + eps)
    x_hat = (z - mean) / std
    values = (z, z - mean, (z - mean) ** 2, x_hat, gamma * x_hat + beta)
    n = len(z)
    rank = np.empty(n, np.int64)
    rank[np.argsort(z, kind="stable")] = np.arange(n)  # examples sorted by z in every panel
    table = pd.DataFrame({
        "example": np.tile(np.arange(n), len(STEPS)),
        "rank": np.tile(rank, len(STEPS)),
        "label": np.tile(result.probe["labels"], len(STEPS)),
        "step": np.repeat(STEPS, n),
        "order": np.repeat(np.arange(len(STEPS)), n),
        "value": np.concatenate(values).astype(np.float32),
    })
    return BnSteps(table, float(mean), float(var), float(std), gamma, beta, g_tr, b_tr)


# ---------------------------------------------------------------------------- presets

PRESETS = {
    "default: a short run (300 steps)": BasicsConfig(),
    "a very short run (100 steps): slow averages lag": BasicsConfig(steps=100),
    "a long run (2000 steps): every average catches up": BasicsConfig(steps=2000),
    "small training batches (16)": BasicsConfig(batch_size=16),
    "a deeper net (8 layers)": BasicsConfig(depth=8),
}


def shrink(config: BasicsConfig, steps: int = 40) -> BasicsConfig:
    """A short version of `config` for smoke tests: fewer steps and at most the default depth,
    so mostly the default view's compiled programs (compiling, not stepping, is what costs)."""
    return dataclasses.replace(config, steps=min(config.steps, steps),
                               depth=min(config.depth, BasicsConfig.depth))


# The code the page shows ("The code behind this page"): BN itself, its formula and its
# backward pass written out, and the five steps drawn.
SHOWN_CODE = (batchnorm_apply, normalize, normalize_backward, bn_steps)

__all__ = ["BasicsConfig", "BasicsResult", "BnSteps", "CHUNK", "DECAYS", "PRESETS", "PROBES",
           "SHOWN_CODE", "STEPS", "TEST_BATCH_SIZES", "bn_steps", "run_basics", "shown_batch", "shrink",
           "spec_of", "train_config"]
