"""Many networks at once: a learning-rate x gain x seed grid, on both CPU cores.

Teaches: how to train a grid of configurations with as few compiled programs as possible. Every
configuration of one architecture shares one program: learning rate and gain are traced values
(`Hparams`), the seed only picks the init key and the pre-sampled batches. By default
(`group=1`) each call trains one run per XLA CPU device (`bnjax/__init__.py` sets
`--xla_force_host_platform_device_count=2`), un-vmapped, the devices side by side in one
`shard_map` program: both cores train, and the program compiles once, not once per device (as
a jitted single-run program dealt to each device would). One run per device measured twice as
fast as vmapping groups of runs per device (`group > 1`, also here): on a CPU a vmapped stack of
runs falls out of cache (`bench/landscape_bnjax.py --groups 1,2,4` measures it). JAX dispatches
asynchronously and a few calls stay queued ahead, so the progress bar counts networks as they
finish.
Leaves out: anything but the steps of `bnjax.train`, which this module reuses unchanged.

    grid = train_grid(TrainConfig(MLPSpec(depth=8, width=64), optimizer="sgd"),
                      lrs=[0.01, 0.1, 1.0], gains=[1.0], seeds=(0, 1), steps=1000,
                      data=load_digits())
    grid.test_acc[:, -1]   # (6,) final test accuracy, runs in (lr, gain, seed) order
"""
from __future__ import annotations

import collections
import functools
import itertools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bnjax.data import Dataset, batch_indices
from bnjax.train import Hparams, TrainConfig, _broadcast, _chunk, _evaluate, hparams, init_runs

# Runs per device per compiled call. 1 (one un-vmapped run per device) measured fastest: 11 s vs
# 23 s for 4 per device on the reference landscape (bench/landscape_bnjax.py --groups 1,4).
GROUP = 1


def _blocks(carry, idx, hp: Hparams, x, y, x_test, y_test, config: TrainConfig, every: int,
            guard: str = "where"):
    """`idx` is (K, B): K // every blocks of `every` steps (`bnjax.train._chunk`), each followed by
    a test evaluation (population statistics) and the norm of every hidden weight matrix."""
    n_blocks = idx.shape[0] // every
    blocks = idx.reshape(n_blocks, every, idx.shape[1])  # (blocks, every, B)

    def block(c, i):
        c, m = _chunk(c, i, hp, x, y, config, guard)
        acc, loss = _evaluate(c.params, c.state, x, x_test, y_test, config.spec, "population")
        w_norm = jnp.stack([jnp.sqrt(jnp.sum(h.dense.w ** 2)) for h in c.params.hidden])
        return c, (m.loss, acc, loss, w_norm)

    carry, (loss, acc, test_loss, w_norm) = jax.lax.scan(block, carry, blocks)
    return carry, loss.reshape(-1), acc, test_loss, w_norm


# One mesh over every CPU device: a call's runs are split along their leading axis, one slice per
# device, and `shard_map` runs the slices side by side with no communication between them.
MESH = Mesh(np.array(jax.devices()), ("runs",))


@functools.partial(jax.jit, static_argnames=("config", "every"))
def grid_chunk(carry, idx, hp: Hparams, x, y, x_test, y_test, *, config: TrainConfig, every: int):
    """K steps of R runs (leading axis R on carry, idx and hp; R a multiple of the device
    count), evaluated every `every` steps. Each device vmaps over its R / devices runs.
    Returns (carry, loss (R, K), test_acc (R, K/every), test_loss, w_norm (R, K/every, depth))."""
    f = jax.vmap(functools.partial(_blocks, config=config, every=every),
                 in_axes=(0, 0, 0, None, None, None, None))
    run, rep = P("runs"), P()
    return jax.shard_map(f, mesh=MESH, in_specs=(run, run, run, rep, rep, rep, rep),
                         out_specs=run)(carry, idx, hp, x, y, x_test, y_test)


def _one_per_device(carry, idx, hp: Hparams, x, y, x_test, y_test, *, config: TrainConfig,
                    every: int):
    """The slice of one device in `pair_chunk`: a single run (leading axis 1), un-vmapped, a
    diverged run frozen by one `cond` per step."""
    squeeze = lambda tree: jax.tree.map(lambda a: a[0], tree)  # noqa: E731
    out = _blocks(squeeze(carry), idx[0], squeeze(hp), x, y, x_test, y_test, config, every,
                  guard="cond")
    return jax.tree.map(lambda a: a[None], out)


@functools.partial(jax.jit, static_argnames=("config", "every"))
def pair_chunk(carry, idx, hp: Hparams, x, y, x_test, y_test, *, config: TrainConfig, every: int):
    """Group 1: K steps of one run per device (leading axis = the device count), one program for
    all devices: a run per core at the speed of a single-run program, compiled once (a program
    jitted per device would compile once per device)."""
    run, rep = P("runs"), P()
    return jax.shard_map(functools.partial(_one_per_device, config=config, every=every),
                         mesh=MESH, in_specs=(run, run, run, rep, rep, rep, rep),
                         out_specs=run)(carry, idx, hp, x, y, x_test, y_test)



class Grid(NamedTuple):
    """R runs of one architecture, one per (lr, gain, seed) configuration."""
    lr: np.ndarray  # (R,)
    gain: np.ndarray  # (R,)
    seed: np.ndarray  # (R,)
    loss: np.ndarray  # (R, steps) training batch loss, NaN after divergence
    eval_steps: np.ndarray  # (E,) steps after which the test set was evaluated
    test_acc: np.ndarray  # (R, E) test accuracy, NaN once diverged
    test_loss: np.ndarray  # (R, E)
    w_norm: np.ndarray  # (R, E, depth) Frobenius norm of each hidden weight matrix
    diverged: np.ndarray  # (R,) bool


def configurations(lrs, gains, seeds):
    """The runs of a grid in (lr, gain, seed) order: three (R,) arrays."""
    rows = list(itertools.product([float(v) for v in lrs], [float(v) for v in gains],
                                  [int(s) for s in seeds]))
    lr, gain, seed = (np.array(c) for c in zip(*rows))
    return lr.astype(np.float32), gain.astype(np.float32), seed.astype(np.int64)


# Waves of runs kept in flight: enough that no device waits while Python fetches results, few
# enough that a cancelled view leaves little queued work.
IN_FLIGHT = 8  # calls (of one run per device)


def _train_pairs(config, lr, gain, seed, scale, idx_seed, arrays, steps, every, chunk, out,
                 progress):
    """Group 1: one run per device per call (`pair_chunk`), the last call padded with a copy of
    its last run. JAX dispatches asynchronously; a few calls stay queued so that the devices
    never wait for Python, and the progress bar counts networks as they finish."""
    loss, acc, test_loss, w_norm, diverged = out
    d, n = MESH.size, len(lr)
    runs, rep = NamedSharding(MESH, P("runs")), NamedSharding(MESH, P())
    on = jax.device_put(arrays, rep)  # the data, once on every device
    keys = {s: jax.random.key(int(s)) for s in set(seed)}
    queue = collections.deque()

    def fetch():
        members, carry, parts = queue.popleft()
        m = len(members)
        for j, field in enumerate((loss, acc, test_loss, w_norm)):
            field[members] = np.concatenate([np.asarray(p[j])[:m] for p in parts], axis=1)
        diverged[members] = np.asarray(carry.diverged)[:m]
        if progress is not None:
            progress((members[-1] + 1) / n, f"{members[-1] + 1} of {n} networks trained")

    for first in range(0, n, d):
        members = np.arange(first, min(first + d, n))
        rows = np.concatenate([members, np.full(d - len(members), members[-1])])  # padded
        hp = Hparams(*(np.broadcast_to(np.float32(v), (d,)) if np.ndim(v) == 0 else v[rows]
                       for v in (lr, gain, 0.0, 0.0, scale)))  # lr, gain, noise, dropout, scale
        hp = jax.device_put(hp, runs)
        # `init_runs` on keys split over the devices: one init program for all of them
        carry = init_runs(jax.device_put(jnp.stack([keys[seed[i]] for i in rows]), runs),
                          hp, config)
        idx = np.stack([idx_seed[seed[i]] for i in rows])  # (d, steps, B)
        parts = []
        for start in range(0, steps, chunk):
            carry, *res = pair_chunk(carry, jax.device_put(idx[:, start:start + chunk], runs), hp,
                                     *on, config=config, every=every)
            parts.append(res)
        queue.append((members, carry, parts))
        if len(queue) > IN_FLIGHT:
            fetch()
    while queue:
        fetch()


def train_grid(config: TrainConfig, lrs, gains, seeds, steps: int, data: Dataset, *,
               w_lr_scale=1.0, every: int = 50, chunk: int = 500, group: int = GROUP,
               progress: Callable | None = None) -> Grid:
    """Train every (lr, gain, seed) configuration for `steps` steps; see the module docstring.

    Args:
      config: the static training setup, shared by every run.
      lrs, gains, seeds: the grid axes; runs are their product, in that order.
      steps: training steps per run (rounded up to a multiple of `every`).
      w_lr_scale: hidden-weight learning-rate factor, a scalar or one per run (`Hparams`).
      every: evaluate the test set every this many steps.
      chunk: steps per compiled call (a multiple of `every`); progress moves once per chunk.
      group: runs per device per call. 1 (the default, fastest measured): one un-vmapped run
        per device, the last call padded. More: `group` runs vmapped per device,
        split over the devices by `shard_map`; the last call is padded so every call has one
        shape (a new group size compiles a new program).
      progress: `progress(fraction, message)`, the message counting the networks trained so far.
    """
    lr, gain, seed = configurations(lrs, gains, seeds)
    n = len(lr)
    steps = -(-steps // every) * every
    chunk = max(every, min(chunk, steps) // every * every)
    scale = np.broadcast_to(np.asarray(w_lr_scale, np.float32), (n,))
    size = group * MESH.size  # runs per call
    n_train = len(data.x_train)
    # Batches depend on the seed only: BN and plain nets of one seed see the same batches.
    idx_seed = {s: batch_indices(int(s), steps, config.batch_size, n_train) for s in set(seed)}
    arrays = tuple(jnp.asarray(a) for a in data)  # x_train, y_train, x_test, y_test

    n_eval = steps // every
    loss = np.full((n, steps), np.nan, np.float32)
    acc = np.full((n, n_eval), np.nan, np.float32)
    test_loss = np.full((n, n_eval), np.nan, np.float32)
    w_norm = np.full((n, n_eval, config.spec.depth), np.nan, np.float32)
    diverged = np.zeros(n, bool)
    if group == 1:
        _train_pairs(config, lr, gain, seed, scale, idx_seed, arrays, steps, every, chunk,
                     (loss, acc, test_loss, w_norm, diverged), progress)
    for first in range(0, n if group > 1 else 0, size):
        members = np.arange(first, min(first + size, n))
        rows = np.concatenate([members, np.full(size - len(members), members[-1])])  # padded
        m = len(members)
        hp = _broadcast(hparams(lr=lr[rows], gain=gain[rows], w_lr_scale=scale[rows]), size)
        carry = init_runs(jnp.stack([jax.random.key(int(seed[i])) for i in rows]), hp, config)
        idx = np.stack([idx_seed[seed[i]] for i in rows])  # (size, steps, B)
        for start in range(0, steps, chunk):
            k = min(chunk, steps - start)
            carry, l, a, tl, wn = grid_chunk(carry, jnp.asarray(idx[:, start:start + k]), hp,
                                             *arrays, config=config, every=every)
            e = slice(start // every, (start + k) // every)
            loss[members, start:start + k] = np.asarray(l)[:m]
            acc[members, e] = np.asarray(a)[:m]
            test_loss[members, e] = np.asarray(tl)[:m]
            w_norm[members, e] = np.asarray(wn)[:m]
            done = np.asarray(carry.diverged)[:m].all()  # nothing left to train in this call
            if progress is not None:
                trained = first + m * ((start + k) / steps if not done else 1.0)
                progress(trained / n, f"{int(trained)} of {n} networks trained")
            if done:
                break
        diverged[members] = np.asarray(carry.diverged)[:m]
    # A diverged run keeps its last finite parameters; evaluations after that point mean nothing
    # (and a call whose runs have all diverged stops early: the rest of its curves stay NaN).
    dead = np.maximum.accumulate(np.isnan(loss).reshape(n, n_eval, every).any(-1), axis=1)
    acc[dead], test_loss[dead] = np.nan, np.nan
    return Grid(lr, gain, seed, loss, np.arange(1, n_eval + 1) * every, acc, test_loss, w_norm,
                diverged)
