"""The runner: many training runs side by side, over the CPU devices, in chunks, with probes.

Teaches: how to train many small networks at once with few compiled programs, and how to watch
them while they train. Every experiment of the lab is "config -> runs.train(..., probe) ->
summary":

    from bnjax import probes, runs
    result = runs.train(TrainConfig(MLPSpec(depth=8, width=64), "sgd"), hparams(lr=0.05),
                        seeds=(0, 1, 2), steps=1000, data=load_digits(), chunk=50,
                        probe=probes.test_accuracy,      # measured after every chunk
                        on_chunk=draw)                   # draw(partial result): live charts
    result.loss                   # (3, 1000) training batch loss per step, NaN once diverged
    result.probes                 # (acc, loss), each (3, 21): at result.probe_steps 0, 50, ...
    result.divergence             # Divergence(flag (3,), step (3,)): the one divergence type

How it works:
  * One run per device. `runtime.configure` gives XLA 2 CPU devices; the runs are dealt to them
    in waves of one run per device, each wave one call of one compiled program (`shard_map` over
    the devices, a single un-vmapped run on each). The program depends on the static config
    only (`TrainConfig`: shapes, optimizer, BN or not, what is random), never on how many runs,
    seeds or steps, the chunk length, nor on the learning rate, gain, noise, dropout or the
    running statistics' decay (all data): a page's 3 seeds and the landscape's 42 networks of
    the same architecture share one program, on both cores. (One run per device measured about
    twice as fast as a vmapped stack of runs per device: on a CPU the stack falls out of cache.)
  * Calls of up to CALL_STEPS steps, a `lax.scan` each, with a traced count of steps to take:
    a shorter chunk or the end of a run skips the rest, so any length uses the same program.
  * Fresh runs: one program draws the initial weights' normals for every net of up to 15
    hidden layers of up to 128 x 128 weights (whatever its shape, normalization or activation:
    `DrawBucket`), a small one scales them and assembles each config's parameters and
    optimizer state; bit for bit `train.init_carry`.
  * The divergence freeze: a run whose training loss goes non-finite keeps its last finite
    parameters, stops moving, and is flagged (`Divergence`); never an exception.
  * Probes: after every chunk (or every `probe_every` steps, and at step 0), a measurement of
    each run (`probe(snapshot, config) -> arrays`, e.g. `probes.test_accuracy`), compiled apart
    from training so that pages which measure different things share the training program.
    With `probe_lag`, reports do not wait for it: training's first chunk (a live chart) comes
    first, and the probe measures the states it missed once it has compiled.
  * Waves advance together, chunk by chunk (JAX dispatches asynchronously: the devices never
    wait for Python), so `on_chunk` sees every run's curve grow; `together=k` advances k waves
    at a time instead (grids whose cells should complete one after another).
Leaves out: anything but the training step of `bnjax.train`, which it reuses unchanged.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bnjax.data import Dataset, batch_indices
from bnjax.nn import SWITCH, MLPParams, MLPSpec, init_std, mlp_init, set_switch
from bnjax.train import (INIT_COMPILER_OPTIONS, Carry, Hparams, TrainConfig, init_optimizer,
                         train_step)

# K: steps one compiled call can take; shorter chunks skip the rest. 250: a page's 50-step chunk
# is one call, the reference landscape's 500-step run two (with K = 50, ten: its warm time
# 18.6-19.9 s against 15.9-16.2 s, `python bench/landscape_bnjax.py --repeats 3`, 2026-12-04,
# AVX2 machine; bench/README.md).
CALL_STEPS = 250
UNROLL = 1  # training steps per loop iteration, 1 or 2 (bench/xla_options.py --unroll 1 2)
CHUNK = 50  # steps between probes and reports by default: the live charts' tick

# ---------------------------------------------------------------------------- result types


class Divergence(NamedTuple):
    """Which runs diverged (a non-finite training loss) and at which step: a result, drawn as
    such, never an error. After it, a run keeps its last finite parameters and its curves
    and probes are NaN."""
    flag: np.ndarray  # (R,) bool
    step: np.ndarray  # (R,) int: the step (1-based) whose loss was first non-finite; 0 = never

    def any(self) -> bool:
        return bool(np.any(self.flag))

    def of(self, labels: Sequence) -> list:
        """The labels (seeds, names, ...) of the runs that diverged, in order."""
        return [label for label, f in zip(labels, self.flag) if f]


class Snapshot(NamedTuple):
    """What a probe sees of one run between two chunks (jax arrays, inside a compiled program)."""
    params: Any  # MLPParams
    state: tuple  # BN running statistics
    hp: Hparams  # this run's traced hyperparameters, scalars
    batch: tuple  # (x (B, n_in), y (B,)): the batch of the run's next step
    data: Dataset  # x_train, y_train, x_test, y_test
    args: Any  # the runner's `probe_args`, the same for every run (traced)
    decay: Any = None  # () the running statistics' decay of this run's config (traced)


class Job(NamedTuple):
    """Runs of one static config trained side by side: one per seed, each with its own entry of
    `hp` (or `hp` broadcast). `rows` > 0: each step's batch holds `rows` examples sampled as a
    batch of that size would be (shuffled epochs), padded to `config.batch_size` with unused
    rows; the config masks them (`TrainConfig.groups`, `hparams(batch=rows)`), so one program
    trains every batch size up to its own."""
    config: TrainConfig
    hp: Hparams
    seeds: tuple
    rows: int = 0


@dataclass
class Result:
    """The runs of one `Job`. A partial result (given to `on_chunk` while training) has the
    same fields, NaN where nothing was computed yet; `steps_done` says how far each run is."""
    config: TrainConfig
    seeds: np.ndarray  # (R,)
    hp: Hparams  # numpy, each (R,)
    steps: int
    loss: np.ndarray  # (R, steps) training batch loss before each step; NaN after divergence
    update_ratio: np.ndarray  # (R, steps, depth) when config.track, else (R, steps, 0)
    probe_steps: np.ndarray  # (P,) steps after which the probe ran (0: the fresh nets)
    probes: Any  # the probe's pytree, leaves (R, P, ...); float leaves NaN once diverged
    divergence: Divergence
    steps_done: np.ndarray  # (R,) steps trained so far (== steps when finished)
    carry: Carry | None = None  # final state, numpy leaves (R, ...); None in a partial result
    # (R, P) bool: a probe of this run at that column whose program is still compiling
    # (`probe_lag`): trained past it, not measured yet. None: nothing owed.
    owed: np.ndarray | None = None

    @property
    def diverged(self) -> np.ndarray:
        """(R,) bool: `divergence.flag`."""
        return self.divergence.flag

    @property
    def done(self) -> bool:
        return bool(np.all(self.steps_done >= self.steps))

    def probed(self) -> np.ndarray:
        """(P,) bool: which probe columns hold measurements of every run so far."""
        return _probed_columns(self)


def _probed_columns(r: Result) -> np.ndarray:
    trained = np.array([bool(np.all(r.steps_done >= s)) for s in r.probe_steps], bool)
    return trained if r.owed is None else trained & ~r.owed.any(0)


# ---------------------------------------------------------------------------- compiled programs


@functools.cache
def mesh(n: int) -> Mesh:
    """The first `n` CPU devices, one axis "runs": a wave puts one run on each."""
    return Mesh(np.array(jax.devices()[:n]), ("runs",))


def devices() -> int:
    """How many runs one call trains at once: the XLA CPU devices (`runtime.configure`)."""
    return len(jax.devices())


def _squeeze(tree):
    return jax.tree.map(lambda a: a[0], tree)


def _expand(tree):
    return jax.tree.map(lambda a: a[None], tree)


def _one_call(carry: Carry, idx, hp: Hparams, n, decay, x, y, config: TrainConfig):
    """The first `n` of up to K steps of one run (idx is (K, B)), `n` traced: one program
    serves every chunk length up to K. A run whose loss turns non-finite is frozen by one
    `cond` per step. Returns (carry, loss (K,), update_ratio (K, depth or 0)), NaN past `n`."""
    depth = config.spec.depth if config.track else 0

    def step(t, s):
        c, losses, ratios = s
        i = idx[t]  # (B,) this step's batch
        key, k_step = jax.random.split(c.key) if config.stochastic else (c.key, None)
        params, state, opt_state, loss, ratio = train_step(
            c.params, c.state, c.opt_state, (x[i], y[i]), hp, k_step, config=config,
            decay=decay)
        diverged = c.diverged | ~jnp.isfinite(loss)
        # A diverged run keeps its last finite parameters and stops moving: the flag tells.
        c = jax.lax.cond(diverged, lambda: c._replace(key=key, diverged=diverged),
                         lambda: Carry(params, state, opt_state, key, diverged))
        return c, losses.at[t].set(jnp.where(diverged, jnp.nan, loss)), ratios.at[t].set(ratio)

    s = (carry, jnp.full((idx.shape[0],), jnp.nan, jnp.float32),
         jnp.full((idx.shape[0], depth), jnp.nan, jnp.float32))
    if config.stochastic or UNROLL == 1:
        # One step per loop iteration: measured (2026-12-02, 8x64 / 4x100 / 3x128 BN and plain)
        # 30-45% less CPU to compile than two, and no slower per call (CPU time per call within
        # +-8% either way). A loop with a traced trip count costs nothing per step (a per-step
        # "skip" branch cost 25%).
        return jax.lax.fori_loop(0, n, step, s)
    # Two steps per loop iteration (UNROLL = 2) let XLA overlap them.
    s = jax.lax.fori_loop(0, n // 2, lambda j, s: step(2 * j + 1, step(2 * j, s)), s)
    return jax.lax.cond(n % 2 == 1, lambda s: step(n - 1, s), lambda s: s, s)


def train_calls(carry: Carry, idx, hp: Hparams, n, decay, x, y, *, config: TrainConfig):
    """Up to K = CALL_STEPS steps of one run per device: leading axis D (the devices) on carry,
    idx (D, K, B), hp and n (D,), the steps each device trains (0 for the slot that pads a wave
    with fewer runs than devices: that device rests). One program per static config,
    whatever the number of runs, steps or the chunk length; `decay` (the running statistics'
    decay, traced) is data too: the runner compiles `config` with its decay normalized."""
    def one(c, i, h, n, decay, x, y):
        c = _squeeze(c)
        c = c._replace(key=jax.random.wrap_key_data(c.key))  # the runner stores raw key data
        c, loss, ratio = _one_call(c, i[0], _squeeze(h), n[0], decay, x, y, config)
        return _expand((c._replace(key=jax.random.key_data(c.key)), loss, ratio))
    run, rep = P("runs"), P()
    return jax.shard_map(one, mesh=mesh(idx.shape[0]),
                         in_specs=(run, run, run, run, rep, rep, rep), out_specs=run,
                         check_vma=False)(carry, idx, hp, n, decay, x, y)


def init_weights(raw_key, bucket: "DrawBucket"):
    """The random part of a fresh run, as `train.init_carry` draws it: the normals of every
    layer's weights (before their scale) and the run's training key. `mlp_init` draws layer l
    from the l-th of `split(k_init, depth + 1)` keys as `normal(key_l, (fan_in, fan_out))`;
    with threefry's partitionable counters (JAX's default) these are the first keys of a
    longer split and the first fan_in * fan_out values of a longer flat draw, so this draws
    `bucket.layers` keys x `bucket.size` normals (one vmapped draw: threefry compiles once, not
    once per layer) and `init_one` takes each layer's prefix. Every net that fits the bucket
    (any depth, width, normalization or activation) shares this program."""
    k_init, k_train = jax.random.split(jax.random.wrap_key_data(raw_key))
    keys = jax.random.split(k_init, bucket.layers)
    return jax.vmap(_erf_inv_draw, in_axes=(0, None))(keys, bucket.size), \
        jax.random.key_data(k_train)


# `jax.random.normal` is sqrt(2) * erf_inv(u), u ~ U(nextafter(-1, 0), 1). The draws stop
# before the factor sqrt(2): `init_one` multiplies it in with the layer's scale, in the same
# expression as `nn.dense_init`, where XLA folds sqrt(2) into the scale (the same bits).
_NORMAL_LOW = np.nextafter(np.float32(-1.0), np.float32(0.0))
_SQRT2 = np.array(np.sqrt(2), np.float32)


def _erf_inv_draw(key, size: int):
    u = jax.random.uniform(key, (size,), jnp.float32, _NORMAL_LOW, np.float32(1.0))
    return jax.lax.erf_inv(u)


def init_one(weights, hp: Hparams, config: TrainConfig) -> Carry:
    """A fresh run of `config` from `init_weights`' draws: each layer's weights are the prefix
    of its row of normals times `nn.init_std` (as `mlp_init` scales them); `mlp_init` gives the
    structure and the key-free leaves (biases, norm parameters and statistics; its own random
    weights are unused and compiled away), the optimizer its state. Bit for bit
    `train.init_carry` (tests/test_runs.py)."""
    normals, raw_key = weights
    spec = config.spec
    ref, state = mlp_init(jax.random.key(0), spec, hp.gain)
    shapes = [h.dense.w.shape for h in ref.hidden] + [ref.out.w.shape]
    ws = [init_std(spec, i, hp.gain) * jax.lax.mul(_SQRT2, normals[i, :a * b].reshape(a, b))
          for i, (a, b) in enumerate(shapes)]
    hidden = tuple(h._replace(dense=h.dense._replace(w=w)) for h, w in zip(ref.hidden, ws))
    params = MLPParams(hidden, ref.out._replace(w=ws[-1]))
    params = set_switch(params, hp.bn) if config.spec.norm == SWITCH else params
    return Carry(params, state, init_optimizer(params, hp, config.optimizer), raw_key,
                 jnp.array(False))


def net_shapes(spec: MLPSpec, n: int):
    """(params, state) of n trained nets of `spec` as a `Result.carry` holds them (leading axis
    n), as shapes: what an experiment compiles its after-training program for while the nets
    still train (`jit(f).lower(shapes...).compile()`; the call after training then finds it)."""
    def fresh():  # a trained net has the structure of a fresh one (`init_one`)
        params, state = mlp_init(jax.random.key(0), spec, 1.0)
        return set_switch(params, 1.0) if spec.norm == SWITCH else params, state
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((n,) + a.shape, a.dtype),
                        jax.eval_shape(fresh))


def draw_calls(raw_keys, *, bucket: "DrawBucket"):
    """`init_weights` of one run per device (leading axis D)."""
    run = P("runs")
    return jax.shard_map(lambda k: _expand(init_weights(k[0], bucket)),
                         mesh=mesh(raw_keys.shape[0]), in_specs=(run,), out_specs=run,
                         check_vma=False)(raw_keys)


def build_calls(weights, hp: Hparams, *, config: TrainConfig) -> Carry:
    """`init_one` of one run per device, laid out over the devices exactly as `train_calls`
    returns them (so the first training call compiles nothing new)."""
    run = P("runs")
    return jax.shard_map(lambda w, h: _expand(init_one(_squeeze(w), _squeeze(h), config)),
                         mesh=mesh(hp.lr.shape[0]), in_specs=(run, run), out_specs=run,
                         check_vma=False)(weights, hp)


# Initialization runs once per network: compiled at LLVM level 1 (half the compile time, the
# same bits: tests/test_runs.py). The draws compile once per bucket (`DrawBucket`: one for
# every net of up to 15 hidden layers of up to 128 x 128 weights), the assembly (no random
# numbers: small) once per (spec, optimizer); neither depends on the number of runs.
draw_program = jax.jit(draw_calls, static_argnames="bucket",
                       compiler_options=INIT_COMPILER_OPTIONS)
build_program = jax.jit(build_calls, static_argnames="config",
                        compiler_options=INIT_COMPILER_OPTIONS)


def init_program(raw_keys, hp: Hparams, *, config: TrainConfig, ahead=None) -> Carry:
    """Fresh runs of `config`, one per device, from raw keys (D, 2) and hparams (D,)."""
    shape, fresh = _drawn_shape(config.spec), TrainConfig(config.spec, config.optimizer)
    if ahead is not None:
        ahead.wait(("draw", shape))
    weights = draw_program(raw_keys, bucket=shape)
    if ahead is not None:
        ahead.wait(("build", fresh))
    return build_program(weights, hp, config=fresh)


def probe_calls(carry: Carry, hp: Hparams, idx, data: Dataset, args, decay, *, fns: tuple,
                config: TrainConfig):
    """The probe functions `fns` on one run per device (leading axis D); idx (D, B) is each
    run's next batch. One program per (probe functions, static config)."""
    def one(c, h, i, data, args, decay):
        c, h = _squeeze(c), _squeeze(h)
        i = i[0]
        snap = Snapshot(c.params, c.state, h, (data.x_train[i], data.y_train[i]), data, args,
                        decay)
        return _expand(tuple(f(snap, config) for f in fns))
    run, rep = P("runs"), P()
    return jax.shard_map(one, mesh=mesh(idx.shape[0]), in_specs=(run, run, run, rep, rep, rep),
                         out_specs=run, check_vma=False)(carry, hp, idx, data, args, decay)


def shared(config: TrainConfig) -> TrainConfig:
    """The static config a program is compiled for: the running statistics' decay is passed as
    data (`train_calls`), so nets that differ only in it share their programs."""
    return config._replace(decay=TrainConfig().decay)


# The compiled programs, one per static config (and probe). XLA options per program kind:
# training runs thousands of steps (full optimization); a probe runs briefly between chunks
# (`bench/xla_options.py` measures compile and run time of each option).
TRAIN_COMPILER_OPTIONS: dict = {}
PROBE_COMPILER_OPTIONS: dict = {}
chunk_program = jax.jit(train_calls, static_argnames="config",
                        compiler_options=TRAIN_COMPILER_OPTIONS or None)
probe_program = jax.jit(probe_calls, static_argnames=("fns", "config"),
                        compiler_options=PROBE_COMPILER_OPTIONS or None)

# ---------------------------------------------------------------------------- compiling ahead

# Programs this process has compiled, by (kind, static key): `precompile` skips them; and
# those compiling now (their futures): a second call waits for them instead of compiling again.
_compiled: set = set()
_compiling: dict = {}
_compiled_lock = threading.Lock()
_log = logging.getLogger("bnjax.runs")


def forget_compiled() -> None:
    """After `jax.clear_caches()` (`runtime.release_memory`): nothing is compiled any more."""
    with _compiled_lock:
        _compiled.clear()


class _Ahead:
    """Programs compiling in background threads; `wait(key)` before a program's first call.
    While it waits it calls `beat()` every BEAT seconds: the progress callback, where a page
    whose viewer left stops at once, and where a background run gives way to a viewer."""

    def __init__(self, futures: dict, beat: Callable | None = None):
        self._futures, self.beat = futures, beat

    def add(self, other: "_Ahead") -> None:
        """Wait for `other`'s programs too."""
        self._futures.update(other._futures)

    def cancel(self) -> None:
        """Drop the compiles that have not started (a call that stops early): they would only
        compete for the cores with whatever runs next."""
        for key, future in list(self._futures.items()):
            if future.cancel():
                with _compiled_lock:
                    _compiling.pop(key, None)
        self._futures.clear()

    def done(self, key) -> bool:
        """The program is compiled (or failed to compile, or was never compiling here): its
        call will not wait."""
        future = self._futures.get(key)
        return future is None or future.done()

    def wait(self, key) -> None:
        future = self._futures.pop(key, None)
        while future is not None and not future.done():
            if self.beat is not None:
                self.beat()
            wait([future], timeout=BEAT)


BEAT = 0.25  # seconds between two progress reports while a program compiles

# Threads that compile a call's programs ahead (`compile_threads` sets it for a context).
_workers: contextvars.ContextVar[int] = contextvars.ContextVar("bnjax_runs_workers", default=2)


@contextlib.contextmanager
def compile_threads(n: int):
    """Within the block, runner calls in this thread compile their cold programs in `n`
    threads side by side (0: at their first call instead). A background warm-up takes 1: at
    most one compile of its own competes with a viewer who arrives meanwhile."""
    token = _workers.set(int(n))
    try:
        yield
    finally:
        _workers.reset(token)


def precompile(jobs: Mapping[str, Job], data: Dataset, fns: tuple = (), probe_args: Any = (),
               workers: int = 2, training: bool = True, after: "_Ahead | None" = None) -> _Ahead:
    """Compile, side by side in `workers` threads, every program the jobs will call first: the
    draws, each config's assembly, training and probe programs. XLA compiles without holding
    Python's lock, so on 2 cores a cold page waits for the longest chains, not their sum; the
    calls that follow find the programs compiled (the same shapes and layouts: no second
    compile, tests/test_runs.py). `training=False`: the probe programs only. `after`: they
    start once `after`'s programs have compiled (a queue, not a competitor for the cores)."""
    d = devices()
    run_sh, rep_sh = NamedSharding(mesh(d), P("runs")), NamedSharding(mesh(d), P())
    on = lambda tree, sh: jax.tree.map(  # noqa: E731
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype, sharding=sh), tree)
    hp = Hparams(*(jax.ShapeDtypeStruct((d,), np.float32, sharding=run_sh)
                   for _ in Hparams._fields))
    keys = jax.ShapeDtypeStruct((d,) + key_data(0).shape, np.uint32, sharding=run_sh)
    arrays = on(Dataset(*(np.asarray(a) for a in data)), rep_sh)
    args = on(jax.tree.map(np.asarray, probe_args), rep_sh)
    decay = np.float32(TrainConfig().decay)
    n = jax.ShapeDtypeStruct((d,), np.int32, sharding=run_sh)
    tasks, probe_tasks = {}, {}
    for job in jobs.values():
        cfg, shape = job.config, _drawn_shape(job.config.spec)
        fresh = TrainConfig(cfg.spec, cfg.optimizer)
        weights = on(jax.eval_shape(functools.partial(draw_calls, bucket=shape), keys), run_sh)
        carry = on(jax.eval_shape(functools.partial(build_calls, config=fresh), weights, hp),
                   run_sh)
        idx = jax.ShapeDtypeStruct((d, CALL_STEPS, cfg.batch_size), np.int32, sharding=run_sh)
        nxt = jax.ShapeDtypeStruct((d, cfg.batch_size), np.int32, sharding=run_sh)
        tasks[("draw", shape)] = lambda k=keys, s=shape: draw_program.lower(
            k, bucket=s).compile()
        tasks[("build", fresh)] = lambda w=weights, c=fresh: build_program.lower(
            w, hp, config=c).compile()
        tasks[("train", shared(cfg))] = lambda c=carry, i=idx, k=shared(cfg): \
            chunk_program.lower(c, i, hp, n, decay, arrays.x_train, arrays.y_train,
                                config=k).compile()
        if fns:
            probe_tasks[("probe", fns, shared(cfg))] = lambda c=carry, i=nxt, k=shared(cfg): \
                probe_program.lower(c, hp, i, arrays, args, decay, fns=fns, config=k).compile()
    tasks = {**(tasks if training else {}), **probe_tasks}  # the probes last

    first = [] if after is None else list(after._futures.values())

    def run(key, task):
        try:
            wait(first)
            if any(f.cancelled() for f in first):  # the call stopped (its viewer left)
                return
            task()
        except (TypeError, ValueError, RuntimeError):  # the call itself will say what is wrong
            _log.debug("compiling %s ahead failed", key[0], exc_info=True)
        else:
            with _compiled_lock:
                _compiled.add(key)
        finally:
            with _compiled_lock:
                _compiling.pop(key, None)

    futures, pool = {}, None
    with _compiled_lock:
        for key, task in tasks.items():
            if key in _compiled:
                continue
            if key not in _compiling:  # (a call that stopped early may still be compiling it)
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=workers,
                                              thread_name_prefix="bnjax-compile")
                _compiling[key] = pool.submit(run, key, task)
            futures[key] = _compiling[key]
    if pool is not None:
        pool.shutdown(wait=False)  # the threads end with their tasks
    return _Ahead(futures)


def compile_draws() -> None:
    """Compile the draw program of the lab's usual nets (`DrawBucket`: up to 15 hidden layers of
    up to 128 x 128) now, for the devices in place: a server's start-up calls it, since every
    page's first training call needs it whatever its net."""
    d = devices()
    shape = DrawBucket(DRAW_LAYERS, DRAW_SIZE)
    with _compiled_lock:
        if ("draw", shape) in _compiled:
            return
    keys = jax.ShapeDtypeStruct((d,) + key_data(0).shape, np.uint32,
                                sharding=NamedSharding(mesh(d), P("runs")))
    draw_program.lower(keys, bucket=shape).compile()
    with _compiled_lock:
        _compiled.add(("draw", shape))


class DrawBucket(NamedTuple):
    """What the initial draws of a net depend on (`init_weights`): at least depth + 1 keys, at
    least as many normals per key as its largest layer has weights."""
    layers: int
    size: int


# The smallest bucket: every net of up to 15 hidden layers of up to 128 x 128 weights (the
# lab's usual nets) shares one draw program; its draw costs a few ms per run.
DRAW_LAYERS, DRAW_SIZE = 16, 128 * 128


def _drawn_shape(spec: MLPSpec) -> DrawBucket:
    """What the initial draws depend on: a bucket of the net's size (powers of two above the
    smallest bucket), not its normalization, activation, ghost groups or eps."""
    largest = max(spec.n_in * spec.width, spec.width * spec.width, spec.width * spec.n_out)
    pow2 = lambda n: 1 << max(int(n) - 1, 0).bit_length()  # noqa: E731
    return DrawBucket(max(DRAW_LAYERS, pow2(spec.depth + 1)), max(DRAW_SIZE, pow2(largest)))


# ---------------------------------------------------------------------------- the host loop

# Who watches the runs of this thread's computation (see `observe`).
_observers: contextvars.ContextVar[tuple] = contextvars.ContextVar("bnjax_runs_observers",
                                                                   default=())


@contextlib.contextmanager
def observe(callback: Callable):
    """Within the block, every runner call in this thread (or context) also gives its partial
    results to `callback({name: partial Result})` after each chunk, as `on_chunk` does: the
    dashboard draws live charts from an experiment that does not pass partial results itself
    (a `train` call's job is named "")."""
    token = _observers.set(_observers.get() + (callback,))
    try:
        yield
    finally:
        _observers.reset(token)


# Who hears, while a runner call waits for its programs to compile, that it is still waiting.
_waiters: contextvars.ContextVar[tuple] = contextvars.ContextVar("bnjax_runs_waiters",
                                                                 default=())


@contextlib.contextmanager
def while_compiling(callback: Callable[[], None]):
    """Within the block, a runner call of this thread (or context) that waits for its programs
    to compile calls `callback()` every BEAT seconds, as it calls its `progress`: the dashboard
    lets a background run step aside there for a viewer who arrived (a compile takes seconds;
    a chunk of training, where it would step aside otherwise, comes only after), and stops a
    viewer's run whose viewer left. The callback may raise: the call stops."""
    token = _waiters.set(_waiters.get() + (callback,))
    try:
        yield
    finally:
        _waiters.reset(token)


def key_data(seed: int) -> np.ndarray:
    """`jax.random.key_data(jax.random.key(seed))`, computed on the host: with the default
    threefry PRNG it is (seed >> 32, seed & 0xffffffff) as uint32 (tests/test_runs.py checks it),
    which spares a tiny compiled program per call."""
    if jax.config.jax_default_prng_impl != "threefry2x32" or jax.config.jax_enable_x64:
        return np.asarray(jax.random.key_data(jax.random.key(seed)))
    s = np.int64(np.int32(seed)) & 0xFFFFFFFF  # the seed as int32, as JAX takes it
    return np.array([0, s], np.uint32)


def _as_hparams(hp: Hparams, n: int) -> Hparams:
    return Hparams(*(np.broadcast_to(np.asarray(v, np.float32), (n,)).copy() for v in hp))


class _Wave:
    """Up to D runs of one job, one per device, trained by one call per K steps."""

    def __init__(self, name: str, members: np.ndarray, rows: np.ndarray, hp: Hparams, idx):
        self.name, self.members, self.rows = name, members, rows  # rows: members, padded to D
        self.hp, self.idx = hp, idx  # idx: numpy (D, padded steps, B)
        self.carry = None  # on the devices, the state after the last dispatched call
        self.retired = None  # the state after the last chunk whose results were read
        self.next = 0  # the next chunk to dispatch
        self.stopped = False  # every run of the wave diverged: nothing left to train


def train(config: TrainConfig, hp: Hparams, seeds: Sequence[int], steps: int, data: Dataset,
          **options) -> Result:
    """Train one run per seed (with its own entry of `hp`, or `hp` broadcast) for `steps` steps.
    See `train_together` for the options; `on_chunk` receives the partial `Result`."""
    on_chunk = options.pop("on_chunk", None)
    hook = None if on_chunk is None else (lambda partials: on_chunk(partials[""]))
    return train_together({"": Job(config, hp, tuple(seeds))}, steps, data, on_chunk=hook,
                          **options)[""]


def train_together(jobs: Mapping[str, Job], steps: int, data: Dataset, *, chunk: int = CHUNK,
                   probe: Callable | tuple | None = None, probe_every: int | None = None,
                   probe_at_start: bool = True, probe_args: Any = (),
                   on_chunk: Callable | None = None, progress: Callable | None = None,
                   together: int | None = None, with_carry: bool = False,
                   probe_lag: bool = False) -> dict[str, Result]:
    """Train every job's runs for `steps` steps, side by side; returns one `Result` per job.

    Args:
      jobs: name -> Job(config, hp, seeds). Jobs with different configs (BN and plain) train
        in the same loop, chunk by chunk, so their curves grow together.
      steps: training steps of every run.
      data: the data set; every run's batches come from `batch_indices(seed, ...)`, so BN and
        plain nets of one seed see the same batches.
      chunk: steps between two reports (and probes): the live charts' tick. Any value uses
        the same compiled program (calls of up to CALL_STEPS steps).
      probe: `fn(snapshot, config) -> pytree of arrays`, or a tuple of them (results in a
        tuple): measured on every run at step 0 (`probe_at_start`), after every `probe_every`
        steps (a multiple of `chunk`; default every chunk) and at the end.
      probe_args: traced arguments every probe call gets as `snapshot.args`.
      on_chunk: `on_chunk({name: partial Result})` after every chunk, for live charts. The
        partial's arrays are the runner's own buffers: read them during the call, copy what
        you keep.
      progress: `progress(fraction, message)` after every chunk.
      together: waves (calls of one run per device) advanced side by side; default all. A
        grid passes a small number so that its cells complete one after another.
      with_carry: partial results hold the runs' current state too (a copy per chunk; needs
        every wave advanced together).
      probe_lag: a report does not wait for the probe program: on a cold start it compiles
        after the training programs (not beside them: the first chunk comes sooner), training
        goes on meanwhile, and the probe measures the states it missed once compiled (the same
        numbers); a partial result's `probed()` says which columns are in. For a page whose
        first chart needs training's numbers only.
    """
    d = devices()
    run_sh, rep_sh = NamedSharding(mesh(d), P("runs")), NamedSharding(mesh(d), P())
    chunk, steps = max(1, int(chunk)), max(1, int(steps))
    n_chunks = math.ceil(steps / chunk)
    fns = () if probe is None else (probe if isinstance(probe, tuple) else (probe,))
    every = chunk if probe_every is None else max(chunk, int(probe_every) // chunk * chunk)
    ends = [c for c in range(1, n_chunks + 1) if (c * chunk) % every == 0 or c == n_chunks]
    slot = {c: i + int(probe_at_start) for i, c in enumerate(ends)}  # chunk end -> probe column
    probe_steps = np.asarray(([0] if probe_at_start else []) + [min(c * chunk, steps)
                                                               for c in ends], np.int64)
    padded = n_chunks * chunk + CALL_STEPS  # every call's K-step slice of idx exists
    arrays = Dataset(*(jax.device_put(np.asarray(a), rep_sh) for a in data))
    args = jax.device_put(probe_args, rep_sh)
    n_train = len(data.x_train)

    workers = _workers.get()
    lag = bool(probe_lag) and bool(fns) and workers > 0
    out: dict[str, Result] = {}
    waves: list[_Wave] = []
    for name, job in jobs.items():
        seeds = np.asarray([int(s) for s in job.seeds], np.int64)
        r = len(seeds)
        hp = _as_hparams(job.hp, r)
        depth = job.config.spec.depth if job.config.track else 0
        out[name] = Result(
            job.config, seeds, hp, steps, np.full((r, steps), np.nan, np.float32),
            np.full((r, steps, depth), np.nan, np.float32), probe_steps, None,
            Divergence(np.zeros(r, bool), np.zeros(r, np.int64)), np.zeros(r, np.int64),
            owed=np.zeros((r, len(probe_steps)), bool) if lag else None)
        idx_of = {}  # seed -> its pre-sampled batches, padded
        for s in sorted(set(seeds.tolist())):
            idx = batch_indices(s, steps, job.rows or job.config.batch_size, n_train)
            if idx.shape[1] < job.config.batch_size:  # padded rows: row 0 again, weight 0
                idx = np.concatenate([idx, np.repeat(idx[:, :1], job.config.batch_size
                                                     - idx.shape[1], axis=1)], axis=1)
            idx_of[s] = np.concatenate([idx, np.zeros((padded - steps, idx.shape[1]), idx.dtype)])
        for first in range(0, r, d):
            members = np.arange(first, min(first + d, r))
            rows = np.concatenate([members, np.full(d - len(members), members[-1])])  # padded
            waves.append(_Wave(name, members, rows, Hparams(*(v[rows] for v in hp)),
                               np.stack([idx_of[s] for s in seeds[rows]])))
    if with_carry and together is not None and together < len(waves):
        raise ValueError("with_carry needs every wave advanced together (together=None)")

    def start(w: _Wave):
        """Put the wave on the devices and initialize its runs (asynchronously)."""
        config = jobs[w.name].config
        keys = np.stack([key_data(int(s)) for s in out[w.name].seeds[w.rows]])
        w.hp = jax.device_put(w.hp, run_sh)
        # Only the spec and the optimizer shape a fresh run: one init program serves the rest.
        w.carry = init_program(jax.device_put(keys, run_sh), w.hp, config=config, ahead=ahead)
        w.retired = w.carry

    def measure(w: _Wave, carry, step: int, c: int = -1, owe: bool = True):
        """The probe on the wave's runs in state `carry`, `step` steps trained (after chunk
        `c`); with `probe_lag` (and `owe`), None while its program compiles: owed, measured
        later."""
        config = jobs[w.name].config
        key = ("probe", fns, shared(config))
        if lag and owe and (owed or not ahead.done(key)):  # (in order: none overtakes an owed one)
            owed.append((w, c, carry, step))
            out[w.name].owed[w.members, 0 if c < 0 else slot[c + 1]] = True
            return None
        nxt = jax.device_put(w.idx[:, min(step, steps - 1)], run_sh)  # each run's next batch
        ahead.wait(key)
        return probe_program(carry, w.hp, nxt, arrays, args, np.float32(config.decay), fns=fns,
                             config=shared(config))

    def dispatch(w: _Wave) -> tuple:
        """Chunk `w.next` of the wave: calls of up to CALL_STEPS steps, and the probe after it."""
        c = w.next
        lo, hi = c * chunk, min((c + 1) * chunk, steps)
        losses, ratios = [], []
        # A device trains a run of the wave, not the padding nor a run known to have diverged
        # (frozen, its steps would change nothing): it rests, and its partner device trains
        # faster (the two cores share caches and memory bandwidth).
        live = np.zeros(d, bool)
        live[:len(w.members)] = ~out[w.name].divergence.flag[w.members]
        for a in range(lo, hi, CALL_STEPS):
            idx = jax.device_put(w.idx[:, a:a + CALL_STEPS], run_sh)
            config = jobs[w.name].config
            ahead.wait(("train", shared(config)))
            count = np.where(live, min(CALL_STEPS, hi - a), 0)
            w.carry, loss, ratio = chunk_program(
                w.carry, idx, w.hp, jax.device_put(count.astype(np.int32), run_sh),
                np.float32(config.decay), arrays.x_train, arrays.y_train, config=shared(config))
            losses.append(loss), ratios.append(ratio)
        w.next = c + 1
        measured = measure(w, w.carry, hi, c) if fns and (c + 1) in slot else None
        return (w, c, w.carry, losses, ratios, measured)

    total = len(waves) * n_chunks
    counted = [0]  # chunks read back (or skipped by a stopped wave), for the progress bar
    # Cold programs compile side by side (`compile_threads(0)`: each at its first call). A probe
    # first measured after the first chunk compiles once that chunk is reported: the first
    # chunk (a live chart's first data) trains on idle cores (page 5, fresh server: its first
    # chart ~0.2 s sooner; compiled beside it, the probes only slowed it down).
    late = bool(fns) and not probe_at_start and ends[0] > 1 and workers > 0 and not lag
    ahead = precompile(jobs, data, () if late or lag else fns, probe_args, workers=workers) \
        if workers else _Ahead({})
    owed: list = []  # (wave, chunk, carry, step): probes waiting for their program (`lag`)
    if lag:  # the probes compile after training's programs, not beside them
        ahead.add(precompile(jobs, data, fns, probe_args, workers=workers, training=False,
                             after=ahead))
    waiters = _waiters.get()
    if progress is not None or waiters:
        def beat():
            if progress is not None:
                progress(min(1.0, counted[0] / total), "compiling the programs of this view…")
            for waiter in waiters:
                waiter()
        ahead.beat = beat

    def retire(item):
        """Read one dispatched chunk (c = -1: the probe of the fresh nets; losses None: an owed
        probe alone) into the buffers."""
        w, c, carry, losses, ratios, measured = item
        res, m = out[w.name], len(w.members)
        if losses is not None:
            w.retired = carry
        if c >= 0 and losses is not None:
            lo, hi = c * chunk, min((c + 1) * chunk, steps)
            loss = np.concatenate([np.asarray(a) for a in losses], axis=1)[:m, :hi - lo]
            res.loss[w.members, lo:hi] = loss
            if res.update_ratio.shape[-1]:
                ratio = np.concatenate([np.asarray(a) for a in ratios], axis=1)
                res.update_ratio[w.members, lo:hi] = ratio[:m, :hi - lo]
            res.steps_done[w.members] = hi
            div = np.asarray(carry.diverged)[:m]
            new = div & ~res.divergence.flag[w.members]
            if new.any():
                first = lo + 1 + np.argmax(~np.isfinite(loss), axis=1)  # 1-based step
                res.divergence.step[w.members[new]] = first[new]
                res.divergence.flag[w.members[new]] = True
            w.stopped = bool(div.all())
            counted[0] += 1
        if measured is None:
            return
        col = 0 if c < 0 else slot[c + 1]
        measured = jax.tree.map(lambda a: np.asarray(a)[:m], measured)
        if res.owed is not None:
            res.owed[w.members, col] = False
        if res.probes is None:  # the first measurement gives the shapes
            res.probes = jax.tree.map(lambda a: np.full(
                (len(res.seeds), len(probe_steps)) + a.shape[1:],
                np.nan if np.issubdtype(a.dtype, np.floating) else 0, a.dtype), measured)
        # (diverged by the column's step: an owed probe is read after later chunks)
        dead = res.divergence.flag[w.members] & (res.divergence.step[w.members]
                                                 <= probe_steps[col])

        def put(buf, a):
            if np.issubdtype(a.dtype, np.floating):  # a diverged net's numbers mean nothing
                a = np.where(dead.reshape((-1,) + (1,) * (a.ndim - 1)), np.nan, a)
            buf[w.members, col] = a
        jax.tree.map(put, res.probes, measured)

    observers = _observers.get()

    def report():
        if on_chunk is not None:
            if with_carry:
                for name, res in out.items():
                    res.carry = _gather([(w, w.retired) for w in waves if w.name == name])
            on_chunk(out)
        for watch in observers:
            watch(out)
        if progress is not None:
            frac = min(1.0, counted[0] / total)
            if together is None or together >= len(waves):
                progress(frac, f"step {min(steps, round(frac * n_chunks) * chunk)} of {steps}")
            else:
                n_runs = sum(len(r.seeds) for r in out.values())
                finished = sum(int(np.sum(r.steps_done >= steps)) for r in out.values())
                progress(frac, f"{finished} of {n_runs} networks trained")

    queue, active, pending = list(waves), [], []
    width = len(waves) if together is None else max(1, int(together))
    try:
        while queue or active or pending or owed:
            fresh = []
            while queue and len(active) < width:
                w = queue.pop(0)
                start(w)
                active.append(w)
                if fns and probe_at_start:
                    measured = measure(w, w.carry, 0)
                    if measured is not None:
                        pending.append((w, -1, w.carry, [], [], measured))
            # Every active wave's next chunk is dispatched before the previous chunk is read:
            # the devices train while Python stores, probes and draws.
            for w in active:
                if not w.stopped and w.next < n_chunks:
                    fresh.append(dispatch(w))
            # Owed probes, in order, once their program is in (or when nothing else is left).
            if owed and (not (queue or active or fresh) or all(
                    ahead.done(("probe", fns, shared(jobs[w.name].config)))
                    for w, *_ in owed)):
                todo = owed[:]
                owed.clear()
                for w, c, carry, step in todo:
                    fresh.append((w, c, carry, None, None,
                                  measure(w, carry, step, c, owe=False)))
            for item in pending:
                retire(item)
            if pending:
                report()
                if late:  # (after the report: a viewer who left stops it, nothing starts)
                    late = False
                    ahead.add(precompile(jobs, data, fns, probe_args, workers=workers,
                                         training=False))
            pending = fresh
            for w in list(active):
                if (w.stopped or w.next >= n_chunks) and not any(i[0] is w for i in pending):
                    active.remove(w)
                    counted[0] += n_chunks - w.next  # chunks a stopped wave never needed
                    w.next = n_chunks
    except BaseException:  # stopped early (the viewer left): no more compiling for it
        ahead.cancel()
        raise
    for name, res in out.items():
        res.carry = _gather([(w, w.retired) for w in waves if w.name == name])
        res.steps_done[:] = steps
        if res.probes is None:
            res.probes = ()
        elif not isinstance(probe, tuple):
            res.probes = res.probes[0]  # one probe function: its own output
    return out


def _gather(parts: list) -> Carry:
    """The runs' state from their waves' carries: numpy leaves (R, ...), padding dropped."""
    pieces = [jax.tree.map(lambda a, m=len(w.members): np.asarray(a)[:m], carry)
              for w, carry in parts]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *pieces)


__all__ = ["CALL_STEPS", "CHUNK", "Divergence", "DrawBucket", "Job", "Result", "Snapshot",
           "build_calls", "chunk_program", "compile_draws", "devices", "draw_calls",
           "forget_compiled", "init_one", "init_program", "init_weights", "key_data", "mesh",
           "observe", "precompile", "probe_calls", "probe_program", "shared", "train",
           "train_calls", "train_together"]


# ---------------------------------------------------------------------------- joint jobs


def joint_job(jobs: Mapping[str, Job]) -> Job:
    """Jobs of one static config (each with its own hparams: BN on or off, a dropout rate, a
    learning rate) as one job of all their runs, in order. The runner deals a job's runs to the
    devices one per device, so two jobs of 3 seeds take 4 calls per chunk on 2 devices (each
    pads its last wave with a resting device) and their joint job 3; every run computes
    exactly what it computed in its own job (its own device, seed, batches and hparams).
    `split_joint` gives back one `Result` per job."""
    parts = list(jobs.values())
    if len({j.config for j in parts}) != 1 or len({j.rows for j in parts}) != 1:
        raise ValueError("joint_job: the jobs differ in their static config")
    hp = Hparams(*(np.concatenate([np.broadcast_to(np.asarray(v, np.float32), (len(j.seeds),))
                                   for j, v in zip(parts, vals)])
                   for vals in zip(*(j.hp for j in parts))))
    return Job(parts[0].config, hp, tuple(s for j in parts for s in j.seeds), parts[0].rows)


def split_joint(result: Result, jobs: Mapping[str, Job]) -> dict[str, Result]:
    """A (partial or final) `Result` of `joint_job(jobs)` as one `Result` per job, as
    `train_together(jobs, ...)` returns them."""
    out, first = {}, 0
    for name, job in jobs.items():
        rows = slice(first, first + len(job.seeds))
        first = rows.stop
        cut = lambda tree, rows=rows: None if tree is None else jax.tree.map(  # noqa: E731
            lambda a: a[rows], tree)
        out[name] = Result(
            result.config, result.seeds[rows], cut(result.hp), result.steps, result.loss[rows],
            result.update_ratio[rows], result.probe_steps, cut(result.probes),
            Divergence(result.divergence.flag[rows], result.divergence.step[rows]),
            result.steps_done[rows], cut(result.carry),
            None if result.owed is None else result.owed[rows])
    return out


__all__ += ["joint_job", "split_joint", "while_compiling"]
