"""Training: an optax optimizer, a jitted step, K steps fused with `lax.scan`.

Teaches: what is static (shapes: depth, width, batch size, optimizer name) and what is traced
(learning rate, init gain, noise, dropout), so moving a slider never compiles again; a diverged
run (non-finite loss) that stops updating and is flagged, never an exception.
Leaves out: schedules, weight decay, checkpoints; training many runs at once, which is
`bnjax.runs` (the runner every experiment uses; `train_runs` here is its older front door).

    config = TrainConfig(MLPSpec(depth=4, width=100, bn=True))
    run = train_runs(config, hparams(lr=0.1), seeds=(0, 1, 2), steps=2000, data=load_digits())
    run.loss        # (3, 2000) training batch loss per step, NaN after divergence
    run.test_acc    # (3, 2000 // chunk) test accuracy at the end of every chunk
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bnjax.data import Dataset
from bnjax.nn import (SWITCH, MLPParams, MLPSpec, RowGroups, mlp_apply, mlp_init,
                      population_state, row_groups, set_switch)

# ---------------------------------------------------------------------------- configuration


class TrainConfig(NamedTuple):
    """Everything static about a training run: a new value compiles a new program."""
    spec: MLPSpec = MLPSpec()
    optimizer: str = "momentum"  # a key of OPTIMIZERS
    batch_size: int = 64
    stochastic: bool | str = False  # build dropout and noise: True (both), "dropout", "noise"
    decay: float = 0.9  # BN running-statistics decay
    track: bool = False  # record each hidden layer's update:data ratio every step
    # BN statistics over traced row groups (`nn.RowGroups`): the ghost size `Hparams.ghost` and
    # the effective batch size `Hparams.batch` become data (one program for every value).
    # 0: off. k > 0: groups are made of blocks of k consecutive rows (k divides batch_size;
    # ghost sizes are multiples of k); k = batch_size: no ghost groups, an effective batch only.
    groups: int = 0


class Hparams(NamedTuple):
    """Traced scalars: a slider moves these without compiling anything."""
    lr: jax.Array  # () learning rate
    gain: jax.Array  # () init gain, times He-normal
    noise: jax.Array  # () scale of the per-step noise after BN (0 = none)
    dropout: jax.Array  # () dropout rate
    w_lr_scale: jax.Array  # () extra lr factor for the hidden weights (effective-lr experiment)
    # Read only under `TrainConfig.groups` (see `nn.row_groups`):
    ghost: jax.Array  # () BN statistics over groups of this many rows; 0 = the whole batch
    batch: jax.Array  # () effective batch size: only the first `batch` rows count; 0 = all
    bn: jax.Array  # () 1.0: batch norm on, 0.0: plain; read only by norm "switch" nets


def hparams(lr=0.1, gain=1.0, noise=0.0, dropout=0.0, w_lr_scale=1.0, ghost=0,
            batch=0, bn=1.0) -> Hparams:
    """Hparams of float32 scalars (or equal-length 1-D arrays, one entry per run). `ghost` and
    `batch` act only in a `TrainConfig(groups=True)` program; `bn` only in a net of norm
    "switch" (`nn.SwitchParams`: BN and plain nets of one shape share their programs)."""
    def f32(v):  # numbers convert on the host: no tiny conversion program per new shape
        return jnp.asarray(v, jnp.float32) if isinstance(v, jax.Array) else jax.device_put(
            np.asarray(v, np.float32))
    return Hparams(*(f32(v) for v in (lr, gain, noise, dropout, w_lr_scale, ghost, batch,
                                      bn)))


# Each name maps to an optax factory wrapped in `inject_hyperparams`, built once: the learning
# rate lives in the optimizer state, so a new value is data, not a new program.
OPTIMIZERS = {
    "sgd": optax.inject_hyperparams(optax.sgd),
    "momentum": optax.inject_hyperparams(functools.partial(optax.sgd, momentum=0.9)),
    "adam": optax.inject_hyperparams(optax.adam),
}


def _labels(params: MLPParams):
    """'hidden_w' for every hidden layer's weight matrix, 'other' for the rest."""
    hidden = tuple(h._replace(dense=h.dense._replace(
        w="hidden_w", b=None if h.dense.b is None else "other"),
        bn=None if h.bn is None else type(h.bn)(*("other",) * len(h.bn)))
        for h in params.hidden)
    return MLPParams(hidden, params.out._replace(w="other", b="other"))


@functools.cache
def optimizer(name: str) -> optax.GradientTransformation:
    """The optimizer `name`, with the hidden weights in their own group so that their learning
    rate can be scaled alone (`Hparams.w_lr_scale`, the effective-learning-rate experiment)."""
    make = OPTIMIZERS[name]
    return optax.multi_transform({"hidden_w": make(learning_rate=1.0),
                                  "other": make(learning_rate=1.0)}, _labels)


def _with_lr(opt_state, hp: Hparams):
    """Write the traced learning rates into the optimizer state."""
    inner = dict(opt_state.inner_states)
    for group, lr in (("hidden_w", hp.lr * hp.w_lr_scale), ("other", hp.lr)):
        masked = inner[group]
        inj = masked.inner_state
        inner[group] = masked._replace(inner_state=inj._replace(
            hyperparams={**inj.hyperparams, "learning_rate": lr}))
    return opt_state._replace(inner_states=inner)


# ---------------------------------------------------------------------------- one step


class Carry(NamedTuple):
    """Everything a run carries from one step to the next."""
    params: MLPParams
    state: tuple  # BN running statistics
    opt_state: optax.OptState
    key: jax.Array  # dropout / noise randomness
    diverged: jax.Array  # () bool: a non-finite loss was seen; updates stopped


class StepMetrics(NamedTuple):
    loss: jax.Array  # () training batch loss before the step, NaN once diverged
    update_ratio: jax.Array  # (depth,) std(update) / std(w) per hidden layer, or (0,)


def loss_fn(params, state, x, y, *, spec: MLPSpec, train: bool = True, key=None,
            dropout=None, noise=None, masks=None, decay: float = 0.9,
            groups: RowGroups | None = None):
    """Mean softmax cross-entropy. Returns (loss, (new_state, logits)). With `groups` (traced
    BN row groups) the mean is over the rows of weight 1 only: a traced effective batch."""
    logits, new_state = mlp_apply(params, state, x, spec=spec, train=train, key=key,
                                  dropout=dropout, noise=noise, masks=masks, decay=decay,
                                  groups=groups)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)  # (batch,)
    if groups is None:
        return ce.mean(), (new_state, logits)
    return (groups.weight * ce).sum() / groups.weight.sum(), (new_state, logits)


def init_optimizer(params, hp: Hparams, name: str):
    """The optimizer `name`'s fresh state for `params`, with the traced learning rates of `hp`."""
    return _with_lr(optimizer(name).init(params), hp)


def init_carry(key, hp: Hparams, *, config: TrainConfig) -> Carry:
    """A fresh run: parameters from `key`, gain from `hp` (traced), optimizer state."""
    k_init, k_train = jax.random.split(key)
    params, state = mlp_init(k_init, config.spec, hp.gain)
    params = set_switch(params, hp.bn) if config.spec.norm == SWITCH else params
    return Carry(params, state, init_optimizer(params, hp, config.optimizer), k_train,
                 jnp.array(False))


def train_step(params, state, opt_state, batch, hp: Hparams, key=None, *, config: TrainConfig,
               decay=None):
    """One SGD step on `batch = (x, y)`. Returns (params, state, opt_state, loss, update_ratio).
    `decay` (traced) replaces `config.decay` for the running statistics when given: it changes
    no step of training (train-mode BN uses the batch's statistics), only what is averaged."""
    x, y = batch
    decay = config.decay if decay is None else decay
    kind = config.stochastic
    groups = (row_groups(x.shape[0], hp.ghost, hp.batch, unit=int(config.groups))
              if config.groups else None)
    (loss, (new_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, state, x, y, spec=config.spec, key=key if kind else None,
        dropout=hp.dropout if kind in (True, "dropout") else None,
        noise=hp.noise if kind in (True, "noise") else None, decay=decay, groups=groups)
    tx = optimizer(config.optimizer)
    updates, opt_state = tx.update(grads, _with_lr(opt_state, hp), params)
    new_params = optax.apply_updates(params, updates)
    if config.track:
        ratio = jnp.stack([jnp.std(u.dense.w) / (jnp.std(p.dense.w) + 1e-12)
                           for u, p in zip(updates.hidden, params.hidden)])
    else:
        ratio = jnp.zeros((0,), jnp.float32)
    return new_params, new_state, opt_state, loss, ratio


def _step(carry: Carry, idx, hp: Hparams, x, y, config: TrainConfig, guard: str = "where"):
    """One step of a run. `guard` is how a diverged run is frozen: "where" selects leaf by leaf
    (what vmapped runs need), "cond" branches once (cheaper for a single run)."""
    key, k_step = jax.random.split(carry.key) if config.stochastic else (carry.key, None)
    params, state, opt_state, loss, ratio = train_step(
        carry.params, carry.state, carry.opt_state, (x[idx], y[idx]), hp, k_step, config=config)
    diverged = carry.diverged | ~jnp.isfinite(loss)
    # A diverged run keeps its last finite parameters and stops moving: the flag tells the story.
    new = Carry(params, state, opt_state, key, diverged)
    old = carry._replace(key=key, diverged=diverged)
    if guard == "cond":
        carry = jax.lax.cond(diverged, lambda: old, lambda: new)
    else:
        carry = jax.tree.map(lambda a, b: jnp.where(diverged, b, a), new, old)
    return carry, StepMetrics(jnp.where(diverged, jnp.nan, loss), ratio)


def _chunk(carry: Carry, idx, hp: Hparams, x, y, config: TrainConfig, guard: str = "where"):
    """K steps in one `lax.scan`; idx is (K, batch). Returns (carry, StepMetrics of (K, ...)).
    Unrolling two steps per loop iteration lets XLA overlap them (measured: ~15% faster)."""
    return jax.lax.scan(lambda c, i: _step(c, i, hp, x, y, config, guard), carry, idx, unroll=2)


# Module-level compiled programs: one per static config, shared by every page and session.
train_chunk = jax.jit(functools.partial(_chunk, guard="cond"), static_argnames="config")
train_chunk_runs = jax.jit(jax.vmap(_chunk, in_axes=(0, 0, 0, None, None, None)),
                           static_argnames="config")
# Initialization runs once per network, so its programs compile at LLVM optimization level 1:
# about half the compile time of the default level, the same bits (tests/test_train.py).
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
_init_runs = jax.jit(jax.vmap(lambda k, hp, config: init_carry(k, hp, config=config),
                              in_axes=(0, 0, None)), static_argnames="config",
                     compiler_options=INIT_COMPILER_OPTIONS)


def init_runs(keys, hp: Hparams, config: TrainConfig) -> Carry:
    """Fresh runs, one per key (vmapped). Only the spec and the optimizer shape the result, so
    the other static fields are normalized away: one init program serves them all."""
    return _init_runs(keys, hp, TrainConfig(config.spec, config.optimizer))


def _evaluate(params, state, x_train, x_test, y_test, spec: MLPSpec, stats: str):
    """Test accuracy and loss in eval mode, with population statistics of the training set
    (`stats="population"`) or the running EMA in `state` (`stats="running"`)."""
    if spec.has_stats and stats == "population":
        state = population_state(params, x_train, spec=spec)
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y_test).mean()
    return (logits.argmax(-1) == y_test).mean(), loss


_evaluate_one = jax.jit(_evaluate, static_argnames=("spec", "stats"))
_evaluate_vmap = jax.jit(jax.vmap(_evaluate, in_axes=(0, 0, None, None, None, None, None)),
                         static_argnames=("spec", "stats"))


def evaluate(params, state, x_train, x_test, y_test, spec: MLPSpec, stats: str = "population"):
    """Test (accuracy, loss) of one net; see `_evaluate`. Eval mode never uses ghost groups, so
    every ghost size shares one program."""
    return _evaluate_one(params, state, x_train, x_test, y_test, spec._replace(ghost=0), stats)


def evaluate_runs(params, state, x_train, x_test, y_test, spec: MLPSpec,
                  stats: str = "population"):
    """`evaluate` for R runs at once (leaves with a leading (R,) axis)."""
    return _evaluate_vmap(params, state, x_train, x_test, y_test, spec._replace(ghost=0), stats)


# ---------------------------------------------------------------------------- runs


class Runs(NamedTuple):
    """R runs trained side by side (same config, one seed and hparams each)."""
    carry: Carry  # final state, numpy leaves with a leading (R,) axis (key: raw key data)
    loss: np.ndarray  # (R, steps) training batch loss, NaN after divergence
    update_ratio: np.ndarray  # (R, steps, depth) when config.track, else (R, steps, 0)
    eval_steps: np.ndarray  # (E,) step counts at which test accuracy was measured
    test_acc: np.ndarray  # (R, E) test accuracy (population statistics), NaN once diverged
    test_loss: np.ndarray  # (R, E)
    diverged: np.ndarray  # (R,) bool


def _broadcast(hp: Hparams, n: int) -> Hparams:
    return Hparams(*(jnp.broadcast_to(v, (n,)) for v in hp))


def train_runs(config: TrainConfig, hp: Hparams, seeds, steps: int, data: Dataset, *,
               chunk: int = 100, on_chunk: Callable | None = None,
               progress: Callable | None = None) -> Runs:
    """Train one run per seed (with its own entry of `hp`, or `hp` broadcast) for `steps` steps,
    through the runner (`bnjax.runs.train`: one run per CPU device, chunks, the divergence
    freeze). New code calls the runner itself; this keeps the older result shape.

    Every `chunk` steps it measures test accuracy and calls `on_chunk(step, carry)` (carry with
    numpy leaves (R, ...), step 0 first) so that an experiment can probe the nets, and
    `progress(fraction, message)`. A run whose loss goes non-finite stops; the rest of its
    curves are NaN.
    """
    from bnjax import probes, runs  # noqa: PLC0415  (runs builds on this module)

    def hook(partial):
        on_chunk(int(partial.steps_done.min()), partial.carry)
    # The grid's probe too (weight norms are cheap): one probe program per config for both.
    r = runs.train(config, hp, seeds, steps, data, chunk=chunk,
                   probe=(probes.test_accuracy, probes.weight_norms),
                   on_chunk=None if on_chunk is None else hook,
                   progress=progress, with_carry=on_chunk is not None)
    (acc, loss), _ = r.probes
    return Runs(r.carry, r.loss, r.update_ratio, r.probe_steps[1:], acc[:, 1:], loss[:, 1:],
                r.diverged)


def run_slice(carry: Carry, i: int) -> Carry:
    """Run `i` of a batch of runs (leaves indexed on their leading axis)."""
    return jax.tree.map(lambda a: a[i], carry)
