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

The three running averages are tracked side by side during one training run: the decay does not
change training (in train mode BN normalizes with the batch's own statistics), so one run gives
the EMA for every decay; the network's own running state (decay 0.9) is the first of them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from bnjax import train as _train
from bnjax.data import Dataset, batch_indices, load_digits
from bnjax.nn import MLPSpec, batchnorm_init, mlp_apply, population_state

DECAYS = (0.9, 0.99, 0.999)  # the running-average decays compared on the page
TEST_BATCH_SIZES = (1, 8, 64)  # train-mode evaluation at these test batch sizes, plus "full"
CHUNK = 20  # training steps per compiled chunk; the EMA gap is measured after every chunk
SPLIT = 60  # the permutation test splits the 540 test examples into batches of 60


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
    n_seeds: int = 3  # seeds seed, seed + 1, ... trained one after the other (the seed spread);
    # the first is the net shown step by step

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))


@dataclass
class BasicsResult:
    """Every measured number per seed (`per_seed`, `accuracy`, `ema_gap`) and as the seed mean
    (`summary`); the net shown step by step (probe, bn, params, ...) is the first seed's."""
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


# ---------------------------------------------------------------------------- compiled programs


def _spec(config: BasicsConfig) -> MLPSpec:
    return MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=True)


def _train_config(config: BasicsConfig) -> _train.TrainConfig:
    return _train.TrainConfig(spec=_spec(config), optimizer=config.optimizer,
                              batch_size=config.batch_size, decay=DECAYS[0])


def _ema_update(params, ema, xb, decays, spec):
    """One running-average update per decay, from the batch statistics of `params` on `xb`:
    exactly what a train-mode step does to the network's own state for its decay."""
    return jax.vmap(lambda d, s: mlp_apply(params, s, xb, spec=spec, train=True, decay=d)[1])(
        decays, ema)


def _chunk(carry, ema, idx, hp, x, y, decays, config):
    """K training steps (idx is (K, batch)) that also advance every running average.
    Returns (carry, ema, loss (K,))."""
    def body(c, i):
        carry, ema = c
        xb = x[i]  # (batch, 64)
        new_ema = _ema_update(carry.params, ema, xb, decays, config.spec)
        key, k_step = jax.random.split(carry.key)
        params, state, opt_state, loss, _ = _train.train_step(
            carry.params, carry.state, carry.opt_state, (xb, y[i]), hp, k_step, config=config)
        diverged = carry.diverged | ~jnp.isfinite(loss)
        # As in train.train_runs: a diverged run keeps its last finite values and stops.
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(diverged, b, a), new, old)  # noqa: E731
        carry = _train.Carry(keep(params, carry.params), keep(state, carry.state),
                             keep(opt_state, carry.opt_state), key, diverged)
        return (carry, keep(new_ema, ema)), jnp.where(diverged, jnp.nan, loss)
    (carry, ema), loss = jax.lax.scan(body, (carry, ema), idx)
    return carry, ema, loss


def _gaps(params, ema, x_train, x_test, y_test, spec):
    """How far each running average is from the population statistics, and the test accuracy
    with each of them and with the population statistics.

    The gap of one unit is the root-mean-square change of x_hat over the training set when the
    running (mu_r, var_r) replace the population (mu_p, var_p): with x_hat_p of mean 0 and
    variance 1, x_hat_r = (sigma_p * x_hat_p + mu_p - mu_r) / sigma_r, so
        gap^2 = (sigma_p / sigma_r - 1)^2 + ((mu_p - mu_r) / sigma_r)^2.
    Returns gap (len(decays),) averaged over units and layers, acc (len(decays) + 1,).
    """
    pop = population_state(params, x_train, spec=spec)
    gaps = []
    for p, r in zip(pop, ema):
        sd_p = jnp.sqrt(p.var[None, :] + spec.eps)  # (1, width)
        sd_r = jnp.sqrt(r.var + spec.eps)  # (decays, width)
        g2 = (sd_p / sd_r - 1.0) ** 2 + ((p.mean[None, :] - r.mean) / sd_r) ** 2
        gaps.append(jnp.sqrt(g2).mean(-1))  # (decays,)
    gap = jnp.stack(gaps, 0).mean(0)

    def acc(state):
        logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False)
        return (logits.argmax(-1) == y_test).mean()
    accs = jnp.concatenate([jax.vmap(acc)(ema), acc(pop)[None]])
    return gap, accs


def _train_mode_logits(params, x, spec, group):
    """Logits in train mode with the statistics of consecutive groups of `group` examples (BN's
    own batch statistics at test batch size `group`); a remainder forms one smaller batch."""
    state = tuple(batchnorm_init(spec.width)[1] for _ in range(spec.depth))
    n = x.shape[0]
    full = n - n % group
    parts = []
    if full:
        g = spec._replace(ghost=group if group < full else 0)
        parts.append(mlp_apply(params, state, x[:full], spec=g, train=True)[0])
    if n - full:
        parts.append(mlp_apply(params, state, x[full:], spec=spec, train=True)[0])
    return jnp.concatenate(parts, 0)  # (n, 10)


def _evaluate_modes(params, ema, x_train, x_test, y_test, perm, spec):
    """Every test-time choice for one trained net, in one program.

    `perm` is a permutation of the test set. Returns a dict: accuracies in train mode at each test
    batch size (the batches are consecutive examples of the permuted test set) and on the whole
    test set, with each running average, with the population statistics; and the largest logit
    change when the test set is permuted and split into batches of SPLIT, in eval and train mode.
    """
    xp, yp = x_test[perm], y_test[perm]
    acc = lambda logits, y: (logits.argmax(-1) == y).mean()  # noqa: E731
    out = {}
    for b in TEST_BATCH_SIZES:
        out[f"acc_train_batch{b}"] = acc(_train_mode_logits(params, xp, spec, b), yp)
    out["acc_train_full"] = acc(_train_mode_logits(params, x_test, spec, x_test.shape[0]), y_test)
    for d, s in zip(DECAYS, _unstack(ema, len(DECAYS))):
        out[f"acc_eval_ema_{d}"] = acc(mlp_apply(params, s, x_test, spec=spec, train=False)[0],
                                       y_test)
    pop = population_state(params, x_train, spec=spec)
    eval_full = mlp_apply(params, pop, x_test, spec=spec, train=False)[0]  # (n, 10)
    out["acc_eval_population"] = acc(eval_full, y_test)
    # Permute and split: batches of SPLIT, run one by one, put back in the original order.
    inv = jnp.argsort(perm)
    batches = xp.reshape(-1, SPLIT, xp.shape[-1])  # (n / SPLIT, SPLIT, 64)
    eval_split = jax.vmap(lambda xb: mlp_apply(params, pop, xb, spec=spec, train=False)[0])(
        batches).reshape(-1, 10)[inv]
    train_full = _train_mode_logits(params, x_test, spec, x_test.shape[0])
    train_split = _train_mode_logits(params, xp, spec, SPLIT)[inv]
    out["logit_diff_eval"] = jnp.abs(eval_split - eval_full).max()
    out["logit_diff_train"] = jnp.abs(train_split - train_full).max()
    return out


def _unstack(tree, n):
    return [jax.tree.map(lambda a: a[i], tree) for i in range(n)]


def _probe(params, xb, spec):
    """The mini-batch shown step by step: z and h = gamma * x_hat + beta at every hidden layer."""
    state = tuple(batchnorm_init(spec.width)[1] for _ in range(spec.depth))
    _, _, trace = mlp_apply(params, state, xb, spec=spec, train=True, with_trace=True)
    return jnp.stack(trace.z), jnp.stack(trace.h)  # (depth, B, width) each


# Module-level compiled programs, one per static shape, shared by every session.
train_chunk_ema = jax.jit(_chunk, static_argnames="config")
measure_gaps = jax.jit(_gaps, static_argnames="spec")
evaluate_modes = jax.jit(_evaluate_modes, static_argnames="spec")
probe_batch = jax.jit(_probe, static_argnames="spec")
population = jax.jit(population_state, static_argnames="spec")
_init = jax.jit(_train.init_carry, static_argnames="config")
_init_ema = jax.jit(lambda spec: jax.tree.map(
    lambda a: jnp.broadcast_to(a, (len(DECAYS),) + a.shape),
    tuple(batchnorm_init(spec.width)[1] for _ in range(spec.depth))), static_argnums=0)

# ---------------------------------------------------------------------------- the experiment


def _train_seed(config: BasicsConfig, seed: int, data: Dataset, progress, lo: float, hi: float):
    """Train the net of one seed for `config.steps` steps, tracking the running averages for
    every decay in DECAYS. Returns (carry, ema, ema_gap rows, losses)."""
    spec, tconfig = _spec(config), _train_config(config)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    hp = _train.hparams(lr=config.lr)
    decays = jnp.asarray(DECAYS, jnp.float32)
    idx = batch_indices(seed, config.steps, config.batch_size, len(x))
    carry = _init(jax.random.key(seed), hp, config=tconfig)
    ema = _init_ema(spec)
    rows, losses = [], []

    def record(step):
        gap, acc = jax.device_get(measure_gaps(carry.params, ema, x, x_test, y_test, spec))
        if bool(carry.diverged):  # as in train_runs: no numbers for a diverged net
            gap, acc = np.full_like(gap, np.nan), np.full_like(acc, np.nan)
        for d, g, a in zip(DECAYS, gap, acc[:-1]):
            rows.append((seed, step, f"EMA, decay {d}", float(g), float(a)))
        rows.append((seed, step, "population", 0.0 if np.isfinite(acc[-1]) else np.nan,
                     float(acc[-1])))

    record(0)
    for start in range(0, config.steps, CHUNK):
        k = min(CHUNK, config.steps - start)
        carry, ema, loss = train_chunk_ema(carry, ema, jnp.asarray(idx[start:start + k]), hp,
                                           x, y, decays, tconfig)
        losses.append(np.asarray(loss))
        record(start + k)
        if progress is not None:
            progress(lo + (hi - lo) * (start + k) / config.steps,
                     f"seed {seed}: step {start + k} of {config.steps}")
        if bool(carry.diverged):  # stopped updating: nothing more to learn from this run
            break
    return carry, ema, rows, np.concatenate(losses)


def _seed_numbers(config, seed, carry, ema, gap_rows, loss, data) -> dict[str, float]:
    """Every number the page states, for one seed's trained net."""
    spec = _spec(config)
    x, x_test, y_test = (jnp.asarray(a) for a in (data.x_train, data.x_test, data.y_test))
    perm = np.random.default_rng(seed).permutation(len(x_test))
    ev = {k: float(v) for k, v in jax.device_get(
        evaluate_modes(carry.params, ema, x, x_test, y_test, jnp.asarray(perm), spec)).items()}
    diverged = bool(carry.diverged)
    if diverged:  # a diverged net has no meaningful test-time numbers: flagged, drawn as such
        ev = {k: float("nan") for k in ev}
    out = dict(ev)
    last = max(r[1] for r in gap_rows)
    for d in DECAYS:
        out[f"ema_gap_{d}"] = next(r[3] for r in gap_rows
                                   if r[1] == last and r[2] == f"EMA, decay {d}")
    for d in DECAYS:  # test accuracy lost by using this running average instead of the population
        out[f"ema_lag_{d}"] = out["acc_eval_population"] - out[f"acc_eval_ema_{d}"]
    out["final_loss"] = float(np.nanmean(loss[-CHUNK:])) if not diverged else float("nan")
    out["diverged"] = float(diverged)
    return out


def run_basics(config: BasicsConfig, progress: Callable | None = None,
               data: Dataset | None = None) -> BasicsResult:
    """Train one BN net per seed in `config.seeds` (one after the other: the same compiled
    programs) for `config.steps` steps, tracking the running averages for every decay in DECAYS,
    then evaluate each with batch, running and population statistics. The summary holds seed
    means; `per_seed` each seed's numbers.

    >>> r = run_basics(BasicsConfig(steps=40, n_seeds=1))
    >>> r.summary["acc_train_batch1"] < 0.2 < r.summary["acc_eval_population"]
    True
    """
    data = load_digits() if data is None else data
    spec = _spec(config)
    x = jnp.asarray(data.x_train)
    n = len(config.seeds)
    per_seed, gap_rows, main = [], [], None
    for i, seed in enumerate(config.seeds):
        carry, ema, rows, loss = _train_seed(config, seed, data, progress, 0.9 * i / n,
                                             0.9 * (i + 1) / n)
        gap_rows += rows
        per_seed.append({"seed": seed, **_seed_numbers(config, seed, carry, ema, rows, loss,
                                                       data)})
        if main is None:
            main = (carry, ema, loss)
    if progress is not None:
        progress(0.95, "evaluating with batch, running and population statistics")
    carry, ema, loss = main
    probe_idx = np.random.default_rng(config.seed + 10_000).choice(
        len(x), config.batch_size, replace=False)
    z, _ = jax.device_get(probe_batch(carry.params, x[jnp.asarray(probe_idx)], spec))
    params, ema_np = jax.device_get(carry.params), jax.device_get(ema)
    pop = jax.device_get(population(carry.params, x, spec=spec))

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
    summary["n_seeds"] = float(n)
    summary["n_test"] = float(len(data.x_test))
    table["diverged"] = table["diverged"].astype(bool)
    ema_gap = pd.DataFrame(gap_rows, columns=["seed", "step", "stats", "gap", "test_acc"])
    return BasicsResult(
        config=config, summary=summary, accuracy=_accuracy_table(table, len(data.x_test)),
        ema_gap=ema_gap, loss=pd.DataFrame({"step": np.arange(1, len(loss) + 1), "loss": loss}),
        probe={"z": np.asarray(z), "labels": np.asarray(data.y_train)[probe_idx],
               "index": probe_idx},
        bn={"gamma": np.stack([h.bn.gamma for h in params.hidden]),
            "beta": np.stack([h.bn.beta for h in params.hidden]), "eps": spec.eps},
        params=params, population=pop, ema=ema_np, state=jax.device_get(carry.state),
        diverged=bool(table["diverged"].any()), per_seed=table)


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


__all__ = ["BasicsConfig", "BasicsResult", "BnSteps", "DECAYS", "PRESETS", "STEPS",
           "TEST_BATCH_SIZES", "bn_steps", "run_basics", "shrink"]
