"""Many networks at once: a learning-rate x gain x seed grid, on both CPU cores.

Teaches: how to train a grid of configurations with as few compiled programs as possible. Every
configuration of one architecture shares one program: learning rate and gain are traced values
(`Hparams`), the seed only picks the init key and the pre-sampled batches. By default
(`group=1`) each call trains one run, un-vmapped, and calls are dealt in turn to the 2 XLA CPU
devices (`bnjax/__init__.py` sets `--xla_force_host_platform_device_count=2`); JAX dispatches
asynchronously, so both cores train at once. This measured twice as fast as vmapping groups of
runs per device (`group > 1`, split over the devices by `shard_map`, also here): on a CPU a
vmapped stack of runs falls out of cache (`bench/landscape_bnjax.py --groups 1,2,4` measures it).
A few runs stay queued ahead, so the progress bar counts networks as they finish.
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
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from bnjax.data import Dataset, batch_indices
from bnjax.train import (Hparams, TrainConfig, _broadcast, _chunk, _evaluate, hparams, init_carry,
                         init_runs)

# Runs per device per compiled call. 1 (one un-vmapped run per call, calls dealt alternately to
# the devices) measured fastest: 11 s vs 23 s for 4 per device on the reference landscape
# (bench/landscape_bnjax.py --groups 1,4).
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


# One run per call (group 1): no vmap, and a diverged run is frozen by one `cond` per step.
one_chunk = jax.jit(functools.partial(_blocks, guard="cond"), static_argnames=("config", "every"))
init_one = jax.jit(lambda key, hp, config: init_carry(key, hp, config=config),
                   static_argnames="config")


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
IN_FLIGHT = 4


def _train_dealt(config, lr, gain, seed, scale, idx_seed, arrays, steps, every, chunk, out,
                 progress):
    """Group 1: one run per call, runs dealt in turn to the devices. JAX dispatches
    asynchronously; a few waves stay queued so the devices never wait for Python."""
    loss, acc, test_loss, w_norm, diverged = out
    devices = jax.devices()
    on = [jax.device_put(arrays, d) for d in devices]  # the data, once per device
    n = len(lr)
    queue = collections.deque()

    def fetch():
        i, carry, parts = queue.popleft()
        loss[i] = np.concatenate([np.asarray(p[0]) for p in parts])
        acc[i] = np.concatenate([np.asarray(p[1]) for p in parts])
        test_loss[i] = np.concatenate([np.asarray(p[2]) for p in parts])
        w_norm[i] = np.concatenate([np.asarray(p[3]) for p in parts])
        diverged[i] = bool(carry.diverged)
        if progress is not None:
            progress((i + 1) / n, f"{i + 1} of {n} networks trained")

    for i in range(n):
        dev = devices[i % len(devices)]
        hp = jax.device_put(hparams(lr=lr[i], gain=gain[i], w_lr_scale=scale[i]), dev)
        carry = init_one(jax.device_put(jax.random.key(int(seed[i])), dev), hp, config)
        idx = jax.device_put(idx_seed[seed[i]], dev)
        parts = []
        for start in range(0, steps, chunk):
            k = min(chunk, steps - start)
            carry, *res = one_chunk(carry, idx[start:start + k], hp, *on[i % len(devices)],
                                    config=config, every=every)
            parts.append(res)
        queue.append((i, carry, parts))
        if len(queue) > IN_FLIGHT * len(devices):
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
        per call, calls dealt in turn to the devices. More: `group` runs vmapped per device,
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
        _train_dealt(config, lr, gain, seed, scale, idx_seed, arrays, steps, every, chunk,
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
