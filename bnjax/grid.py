"""Many networks at once: a learning-rate x gain x seed grid, through the runner.

Teaches: a grid of configurations is just many runs of one architecture. Learning rate and gain
are traced values (`Hparams`), the seed only picks the init key and the pre-sampled batches, so
every configuration of one architecture shares one compiled program, and `bnjax.runs` deals the
runs to the CPU devices, one run per device per call (both cores train). A few waves of runs
advance together, so the cells of a grid complete one after another (a live heat map fills in).
Leaves out: everything the runner does (chunks, the divergence freeze, probes): see `bnjax.runs`.

    grid = train_grid(TrainConfig(MLPSpec(depth=8, width=64), optimizer="sgd"),
                      lrs=[0.01, 0.1, 1.0], gains=[1.0], seeds=(0, 1), steps=1000,
                      data=load_digits())
    grid.test_acc[:, -1]   # (6,) final test accuracy, runs in (lr, gain, seed) order
"""
from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

import numpy as np

from bnjax import probes, runs
from bnjax.data import Dataset
from bnjax.train import TrainConfig, hparams

# Runs per device per call: always 1 now (one un-vmapped run per device measured about twice as
# fast as vmapped groups: 11 s vs 23 s for 4 per device on the reference landscape). Kept for
# callers that pass `group`.
GROUP = 1

# Waves (one run per device each) trained side by side: enough that the devices never wait for
# Python, few enough that a grid's cells complete one after another while it trains.
IN_FLIGHT = 8


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


def train_grid(config: TrainConfig, lrs, gains, seeds, steps: int, data: Dataset, *,
               w_lr_scale=1.0, every: int = 50, chunk: int | None = None,
               group: int = GROUP, progress: Callable | None = None,
               on_chunk: Callable | None = None) -> Grid:
    """Train every (lr, gain, seed) configuration for `steps` steps; see the module docstring.

    Args:
      config: the static training setup, shared by every run.
      lrs, gains, seeds: the grid axes; runs are their product, in that order.
      steps: training steps per run (rounded up to a multiple of `every`).
      w_lr_scale: hidden-weight learning-rate factor, a scalar or one per run (`Hparams`).
      every: evaluate the test set (and the weight norms) every this many steps.
      chunk, group: no longer used (the runner's calls have one length; one run per device).
      progress: `progress(fraction, message)`, the message counting the networks trained.
      on_chunk: `on_chunk(partial runs.Result)` as the grid trains (live heat maps).
    """
    del chunk, group
    lr, gain, seed = configurations(lrs, gains, seeds)
    n = len(lr)
    steps = -(-steps // every) * every
    scale = np.broadcast_to(np.asarray(w_lr_scale, np.float32), (n,))

    def counted(fraction: float, _message: str) -> None:
        progress(fraction, f"{int(fraction * n)} of {n} networks trained")

    r = runs.train(config, hparams(lr=lr, gain=gain, w_lr_scale=scale), seed, steps, data,
                   chunk=every, probe=(probes.test_accuracy, probes.weight_norms),
                   probe_at_start=False, together=IN_FLIGHT, on_chunk=on_chunk,
                   progress=None if progress is None else counted)
    (acc, test_loss), w_norm = r.probes
    return Grid(lr, gain, seed, r.loss, r.probe_steps, acc, test_loss, w_norm, r.diverged)


def __getattr__(name: str):
    """Names of the grid's former programs, for older callers: the runner's now."""
    if name == "MESH":
        return runs.mesh(runs.devices())
    if name in ("grid_chunk", "pair_chunk"):
        return runs.chunk_program
    raise AttributeError(f"module 'bnjax.grid' has no attribute {name!r}")
