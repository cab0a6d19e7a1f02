"""Page 7, "Batch or normalization?": batch norm beside layer norm and the plain net.

LayerNorm (Ba et al. 2016) normalizes each example over its own units: it keeps normalization
and drops the batch. So BN, LN and plain, trained on the same seeds and batches, sort the
lecture's claims into those that come from normalizing (LN keeps them) and those that come from
the batch (LN loses them). One experiment per claim, each a frozen config, a result with a
`summary` (means over seeds) and a `run_*` function:

- Q1 `run_invariances`: trained 8x64 nets; the relative change of the logits on the training set
  when (a) every unit of W1 is rescaled by its own factor in [0.5, 2] and shifted, (b) the whole
  W1 is multiplied by 3, (c) W1 moves in a random direction of norm 0.5 ||W1||. BN is invariant
  to (a) and (b), LN to (b) only, plain to neither.
- Q3 `run_noise_meter`: page 4's batch-noise meter for both norms: one training example in many
  random batches, the spread of its normalized value x_hat (BN's falls like 1/sqrt(B); LN's is 0).
- Q3 `run_small_batches`: test accuracy over training batch sizes 2 to 128 (the same epochs,
  the lr scaled by sqrt(B / 64)), BN evaluated on running (EMA) and on population statistics.
  Batches of 2 to 16 train in one program per net (16 rows, the unused ones masked).
- Q4 `run_landscape`: page 5's learning-rate x init-gain grid for the three nets, and the
  largest learning rate that learns (monotone, as page 5: it and every smaller one in the sweep,
  from the smallest that learns, learn).
- `run_depth`: depth-50 nets at initialization (no training): the effective rank of the last
  hidden layer's activations over a batch, and ||dL/dW1|| / ||dL/dW_depth|| (Daneshmand et al.
  2020; Yang et al. 2019). The depth is a traced value: one compiled program serves every depth.

Every training run goes through the runner (`bnjax.runs`), and every trained net's test
accuracy through one program (`evaluate`). Leaves out: GroupNorm and RMSNorm (`bnjax.nn.NORMS`
has room for them), convolutions.

    result = run_invariances(InvarianceConfig(seed=0))
    result.summary["invariance_layer_scale_ln"]   # ~1e-7: LN ignores the scale of a layer
"""
from __future__ import annotations

import dataclasses
import functools
import math
import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from bnjax import runs
from bnjax.data import load_digits
from bnjax.experiments import landscape as _landscape
from bnjax.grid import IN_FLIGHT, configurations
from bnjax.nn import (ACTIVATIONS, SWITCH, BatchNormParams, DenseParams, MLPParams, MLPSpec,
                      batchnorm_apply, batchnorm_init, dense_apply,
                      layernorm_apply, layernorm_init, mlp_apply, population_state)
from bnjax.train import INIT_COMPILER_OPTIONS, TrainConfig, hparams

# The probes run once per view (not once per step): compiled at LLVM level 1, like the
# initialization, about half the compile time (the same numbers up to float rounding:
# tests/test_normalization.py), and without LLVM's expensive passes (the depth probe: 1.75 ->
# 1.47 CPU s to compile, 0.46 -> 0.44 s to run; level 0 would compile in 0.86 s but run in 0.87).
ONCE = {**INIT_COMPILER_OPTIONS, "xla_llvm_disable_expensive_passes": True}

# The three nets, as (name on screen, MLPSpec.norm, summary tag). The names are the palette's
# variant names (bnjax.charts.STYLE).
BN, LN, PLAIN = "BN", "LayerNorm", "plain"
NETS = ((BN, "batch", "bn"), (LN, "layer", "ln"), (PLAIN, "none", "plain"))
PAGE5_STEPS = _landscape.LandscapeConfig().steps  # page 5's landscape: steps of every net
GOOD = _landscape.GOOD  # a good landscape cell: test accuracy at least this (page 5's test)


def _seeds(seed: int, n: int) -> tuple[int, ...]:
    return tuple(range(int(seed), int(seed) + max(1, int(n))))


class _Trained(NamedTuple):
    """Nets as `_train_nets` returns them (the fields of `runs.Result` the sections read)."""
    config: TrainConfig
    carry: object  # train.Carry, numpy leaves (R, ...)
    diverged: np.ndarray  # (R,)


# Nets kept on the way (`_train_nets(keep=...)`): Q1 trains its 8x64 nets 1000 steps at lr
# 0.05, and the noise meter needs the same BN and LN nets (same seeds, batches, lr) after 500
# steps: at the page's default view it takes Q1's nets as they were then (the same bits:
# tests/test_normalization.py) instead of training them again. Key: `_trained_key`; a few kept.
_ON_THE_WAY: dict = {}
_ON_THE_WAY_LOCK = threading.Lock()
_ON_THE_WAY_SIZE = 8


def _trained_key(norm: str, optimizer: str, batch_size: int, lr: float, seeds, steps: int,
                 depth: int, width: int, pad: int) -> tuple:
    return (norm, optimizer, int(batch_size), float(lr), tuple(int(s) for s in seeds),
            int(steps), int(depth), int(width), int(pad))


def _train_nets(nets, optimizer: str, batch_size: int, lr: float, seeds, steps: int, data,
                depth: int, width: int, progress=None, pad: int = 0,
                keep: tuple = (), then: Callable | None = None
                ) -> dict[str, runs.Result | _Trained]:
    """The nets (name, norm, tag) trained side by side by the runner (`bnjax.runs`), on the same
    seeds, hence the same initial weights and batches; nothing measured while they train (the
    test accuracy after training: `evaluate`, one program for every section's nets).
    `pad` > `batch_size`: the batches of `batch_size` examples are padded to `pad` rows that
    count in no statistic and no loss (`runs.Job.rows`): one program per net for every batch
    size up to `pad`. `keep`: steps (chunk ends, a tenth of `steps` each) after which the nets
    are kept for a later call that trains them that many steps (`_ON_THE_WAY`): that call then
    trains nothing. `then`: a function that compiles what measures the trained nets, called in
    a background thread once the first chunk is reported (after its live drawing: the page's
    first chart goes first); it ends before this returns. Returns name -> runs.Result or
    `_Trained` (final state in `.carry`)."""
    key = functools.partial(_trained_key, optimizer=optimizer, batch_size=batch_size, lr=lr,
                            seeds=seeds, depth=depth, width=width, pad=pad)
    with _ON_THE_WAY_LOCK:
        kept = {name: _ON_THE_WAY.get(key(norm, steps=steps)) for name, norm, _ in nets}
    if all(v is not None for v in kept.values()):
        return kept
    masked = pad >= batch_size and pad > 0
    rows = int(pad) if masked else int(batch_size)
    jobs = {name: runs.Job(TrainConfig(MLPSpec(depth=depth, width=width, norm=norm), optimizer,
                                       rows, groups=rows if masked else 0),
                           hparams(lr=lr, batch=batch_size if masked else 0), tuple(seeds),
                           rows=int(batch_size) if masked else 0)
            for name, norm, _ in nets}
    chunk = max(1, math.ceil(steps / 10))
    keep = tuple(int(k) for k in keep if 0 < int(k) < steps and int(k) % chunk == 0)

    def on_chunk(partials: dict) -> None:
        for name, norm, _ in nets:
            r = partials[name]
            done = int(r.steps_done.min())
            if done in keep and int(r.steps_done.max()) == done:
                copy = _Trained(r.config, jax.tree.map(np.array, r.carry),
                                np.array(r.diverged))
                with _ON_THE_WAY_LOCK:
                    _ON_THE_WAY[key(norm, steps=done)] = copy
                    while len(_ON_THE_WAY) > _ON_THE_WAY_SIZE:
                        _ON_THE_WAY.pop(next(iter(_ON_THE_WAY)))

    ahead: list[threading.Thread] = []

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)  # (a viewer who left stops it here: nothing starts)
        if then is not None and not ahead and fraction > 0:  # (0: its programs compile)
            ahead.append(threading.Thread(target=then, daemon=True,
                                          name="bnjax-compile-after-training"))
            ahead[0].start()

    try:
        return runs.train_together(jobs, steps, data, chunk=chunk, probe_at_start=False,
                                   progress=report if progress is not None or then is not None
                                   else None, on_chunk=on_chunk if keep else None,
                                   with_carry=bool(keep))
    finally:
        for thread in ahead:  # (after a stop too: its compile ends, nothing else follows)
            thread.join()


def _final_acc(trained: dict[str, runs.Result], data) -> dict[str, np.ndarray]:
    """name -> (R,) test accuracy after training (population statistics, `evaluate`), NaN
    where a run diverged."""
    names = list(trained)
    measured = evaluate([(trained[k].carry.params, trained[k].carry.state) for k in names],
                        [trained[k].config.spec for k in names], data)
    return {k: np.where(np.asarray(trained[k].diverged), np.nan, np.asarray(pop, np.float64))
            for k, (pop, _) in zip(names, measured)}


def _stage(progress: Callable | None, lo: float, hi: float, what: str) -> Callable | None:
    """A progress callback mapping [0, 1] of one part onto [lo, hi] of the whole run."""
    if progress is None:
        return None
    return lambda f, m: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), f"{what}: {m}")


# ---------------------------------------------------------------------------- Q1 invariances

CHANGES = ("unit_affine", "layer_scale", "random")  # the summary's names of (a), (b), (c)
CHANGE_LABELS = {"unit_affine": "(a) each unit of W1 rescaled and shifted",
                 "layer_scale": "(b) the whole W1 times 3",
                 "random": "(c) W1 moved in a random direction"}
CHANGE_SHORT = {"unit_affine": "(a) each unit × s, shifted", "layer_scale": "(b) W1 × 3",
                "random": "(c) W1 + random"}  # chart labels that fit a phone


@dataclass(frozen=True)
class InvarianceConfig:
    """Q1: 8x64 ReLU nets, plain SGD, then three changes of their first layer."""
    seed: int = 0
    n_seeds: int = 3
    depth: int = 8
    width: int = 64
    lr: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    scale: float = 3.0  # (b): W1 times this
    random_size: float = 0.5  # (c): ||R|| = random_size * ||W1||


@dataclass
class InvarianceResult:
    config: InvarianceConfig
    changes: pd.DataFrame  # variant, seed, change, rel_change (relative change of the logits)
    runs: pd.DataFrame  # variant, seed, test_acc, diverged
    summary: dict[str, float] = field(default_factory=dict)


def _full_logits(params, x, spec: MLPSpec):
    """Logits of the whole set `x` as one batch: BN on the set's own statistics (what population
    statistics recomputed after the change give); LN and plain do not care about the batch."""
    state = tuple(batchnorm_init(spec.width)[1] if spec.norm == "batch" else None
                  for _ in params.hidden)
    logits, _ = mlp_apply(params, state, x, spec=spec, train=True)
    return logits  # (n, 10)


def _changes(params, draws, x, spec: MLPSpec, scale: float, random_size: float):
    """The relative change ||logits' - logits|| / ||logits|| for (a), (b), (c): (3,). `draws`:
    `change_draws` of the seed."""
    dense = params.hidden[0].dense
    w1 = dense.w  # (n_in, width)
    b0 = jnp.zeros((w1.shape[1],), w1.dtype) if dense.b is None else dense.b  # + 0 is exact
    u, flip, r = draws
    s = 2.0 ** u  # [0.5, 2]
    sign = jnp.where(flip, 1.0, -1.0)
    shift = 0.5 * (x @ w1).std(0) * sign  # half of each unit's spread, up or down
    r = r * (random_size * jnp.linalg.norm(w1) / jnp.linalg.norm(r))
    ws = jnp.stack([w1, w1 * s[None, :], scale * w1, w1 + r])  # original, (a), (b), (c)
    bs = jnp.stack([b0, b0 + shift, b0, b0])

    def logits(w, b):
        first = params.hidden[0]._replace(dense=DenseParams(w, b))
        return _full_logits(params._replace(hidden=(first,) + tuple(params.hidden[1:])), x, spec)

    out = jax.vmap(logits)(ws, bs)  # (4, n, 10)
    diff = jnp.sqrt(((out[1:] - out[:1]) ** 2).sum((1, 2)))
    return diff / jnp.sqrt((out[0] ** 2).sum())


def change_draws(seed: int, n_in: int, width: int) -> tuple:
    """A seed's random changes (a, c), drawn on the host (numpy; inside the compiled probe the
    draws cost about a third of its compile time), apart from its training batches: per unit
    u ~ U(-1, 1) (the factor 2^u) and a coin (shift up or down); a (n_in, width) normal
    direction for (c)."""
    rng = np.random.default_rng([int(seed), 7])
    return (rng.uniform(-1.0, 1.0, width).astype(np.float32), rng.random(width) < 0.5,
            rng.standard_normal((n_in, width), np.float32))


@functools.partial(jax.jit, static_argnames=("specs", "scale", "random_size"),
                   compiler_options=ONCE)
def invariance_probe(params, draws, x, *, specs: tuple, scale: float, random_size: float):
    """`_changes` for R trained nets of each net in `specs` (params a tuple over the nets,
    leading axis R; draws the seeds' `change_draws`, leading axis R): a tuple over the nets of
    (R, 3). One program for the three nets."""
    out = []
    for p_net, spec in zip(params, specs):
        f = functools.partial(_changes, spec=spec, scale=scale, random_size=random_size)
        out.append(jax.vmap(lambda p, d: f(p, d, x))(p_net, draws))
    return tuple(out)


def _net_specs(nets, depth: int, width: int) -> tuple[MLPSpec, ...]:
    return tuple(MLPSpec(depth=depth, width=width, norm=norm) for _, norm, _ in nets)


def compile_after_training(config: InvarianceConfig, data) -> None:
    """Compile, for shapes, the programs that measure Q1's trained nets and the noise meter's
    (the same nets after NOISE_STEPS steps, the page's next section): `invariance_probe`,
    `evaluate_nets` and `noise_probe` at the page's defaults. `run_invariances` calls it in a
    background thread while the nets train (XLA compiles without holding Python's lock); the
    calls after training find the programs compiled (the same shapes: no second compile,
    tests/test_normalization.py). Errors are left to those calls, which say what is wrong."""
    try:
        n = len(_seeds(config.seed, config.n_seeds))
        specs = _net_specs(NETS, config.depth, config.width)
        x = np.asarray(data.x_train)
        draws = (jax.ShapeDtypeStruct((n, config.width), np.float32),
                 jax.ShapeDtypeStruct((n, config.width), np.bool_),
                 jax.ShapeDtypeStruct((n, x.shape[1], config.width), np.float32))
        invariance_probe.lower(tuple(runs.net_shapes(s, n)[0] for s in specs), draws, x,
                               specs=specs, scale=float(config.scale),
                               random_size=float(config.random_size)).compile()
        block = [runs.net_shapes(s, EVAL_RUNS) for s in specs]
        evaluate_nets.lower(tuple(p for p, _ in block), tuple(st for _, st in block),
                            x, np.asarray(data.x_test), np.asarray(data.y_test),
                            specs=specs).compile()
        meter = NoiseConfig(seed=config.seed, n_seeds=config.n_seeds, depth=config.depth,
                            width=config.width)
        sizes = tuple(int(b) for b in meter.batch_sizes if 2 <= int(b) <= len(x))
        noise_probe.lower(tuple(runs.net_shapes(s, n)[0] for s in specs[:2]), x,
                          tuple(jax.ShapeDtypeStruct((n, meter.batches, b), np.int32)
                                for b in sizes),
                          specs=specs[:2], layer=int(np.clip(meter.layer, 1, meter.depth)) - 1
                          ).compile()
    except Exception:  # noqa: BLE001  (see the docstring)
        pass


def run_invariances(config: InvarianceConfig = InvarianceConfig(),
                    progress=None) -> InvarianceResult:
    """Train BN, LN and plain on the same seeds and batches, then change W1 three ways."""
    data = load_digits()
    seeds = _seeds(config.seed, config.n_seeds)
    x = data.x_train  # numpy: the call puts it on the device (jnp.asarray compiles a program)
    trained = _train_nets(NETS, "sgd", config.batch_size, config.lr, seeds, config.steps, data,
                          config.depth, config.width, _stage(progress, 0.0, 0.95, "training"),
                          keep=(NOISE_STEPS,),
                          then=functools.partial(compile_after_training, config, data))
    rows, table, summary = [], [], {}
    nets = [trained[name] for name, _, _ in NETS]
    per_seed = [change_draws(s, x.shape[1], config.width) for s in seeds]
    draws = tuple(np.stack(parts) for parts in zip(*per_seed))
    measured = invariance_probe(tuple(r.carry.params for r in nets), draws, x,
                                specs=tuple(r.config.spec for r in nets),
                                scale=float(config.scale), random_size=float(config.random_size))
    accs = _final_acc(trained, data)
    for (name, norm, tag), r, rel in zip(NETS, nets, measured):
        rel = np.array(rel, np.float64)  # (R, 3)
        div = np.asarray(r.diverged)
        rel[div] = np.nan  # a diverged net has nothing to perturb
        acc = accs[name]
        for j, seed in enumerate(seeds):
            table.append(dict(variant=name, seed=seed, diverged=bool(div[j]),
                              test_acc=float(acc[j])))
            for k, change in enumerate(CHANGES):
                rows.append(dict(variant=name, seed=seed, change=change,
                                 rel_change=float(rel[j, k])))
        for k, change in enumerate(CHANGES):
            summary[f"invariance_{change}_{tag}"] = float(np.nanmean(rel[:, k])) \
                if np.isfinite(rel[:, k]).any() else float("nan")
        summary[f"acc_{tag}"] = float(np.nanmean(acc)) if np.isfinite(acc).any() \
            else float("nan")
        summary[f"diverged_{tag}"] = float(div.sum())
    summary["n_seeds"] = float(len(seeds))
    if progress is not None:
        progress(1.0, "measured")
    return InvarianceResult(config, pd.DataFrame(rows), pd.DataFrame(table), summary)


# ---------------------------------------------------------------------------- Q3 batch noise

NOISE_BATCH_SIZES = (4, 8, 16, 32, 64, 128, 256)
NOISE_STEPS = 500  # the meter's nets: Q1's after this many steps


@dataclass(frozen=True)
class NoiseConfig:
    """Q3: page 4's meter (example 0, 300 random batches of each size, hidden layer 2) for BN and
    LN, on nets shaped and trained as Q1's (8x64, plain SGD, batch 64): the same compiled
    training programs, so the meter adds only its own."""
    seed: int = 0
    n_seeds: int = 3
    depth: int = 8
    width: int = 64
    lr: float = 0.05
    steps: int = NOISE_STEPS  # Q1's nets after this many steps (`_train_nets(keep=...)`)
    example: int = 0  # the training example x0
    layer: int = 2  # hidden layer whose x_hat is measured, from 1
    batches: int = 300  # random batches per batch size, each holding x0
    batch_sizes: tuple = NOISE_BATCH_SIZES
    # The slope of log spread on log B is fitted over these batch sizes, where 1/sqrt(B) is the
    # theory: below 16, x_hat saturates (|x_hat| <= sqrt(B - 1) for any batch); above about a
    # tenth of the 1257 training images, batches drawn without replacement overlap and the
    # spread shrinks faster (by sqrt(1 - B/n)).
    fit: tuple = (16, 128)


@dataclass
class NoiseResult:
    config: NoiseConfig
    std: pd.DataFrame  # variant, seed, batch_size, std (over batches of x0's x_hat, unit mean)
    summary: dict[str, float] = field(default_factory=dict)


def _x0_hat(params, z1, *, spec: MLPSpec, layer: int):
    """x0's normalized value at hidden layer `layer` (0-based) in one batch (x0 in row 0), as
    the net's own normalization computes it in training: over the batch per unit (BN, at this
    layer and every one before it) or over x0's units (LN). `z1` (B, width) is the batch's
    first linear output, `x @ W1 (+ b)`. (width,)."""
    act = ACTIVATIONS[spec.activation]
    z, h = z1, None
    for i in range(layer + 1):
        hidden = params.hidden[i]
        if i > 0:
            z = dense_apply(hidden.dense, act(h))  # (B, width)
        if spec.norm == "batch":  # over the batch, per unit: x0's value moves with the batch
            x_hat = (z - z.mean(0, keepdims=True)) / jnp.sqrt(z.var(0, keepdims=True) + spec.eps)
        elif spec.norm == "layer":  # over each example's own units
            x_hat = (z - z.mean(1, keepdims=True)) / jnp.sqrt(z.var(1, keepdims=True) + spec.eps)
        else:
            x_hat = z
        h = x_hat if hidden.norm is None else \
            hidden.norm.gamma[None, :] * x_hat + hidden.norm.beta[None, :]
    return x_hat[0]


@functools.partial(jax.jit, static_argnames=("specs", "layer"), compiler_options=ONCE)
def noise_probe(params, x_train, idxs, *, specs: tuple, layer: int):
    """The std over batches of x0's x_hat, median over units, for R runs of each net in `specs`
    (params a tuple over the nets, leading axis R) and every batch size at once: `idxs` is a
    tuple over batch sizes of (R, N, B) indices (x0 in column 0). One program for both nets
    whatever the sizes' count; the first layer's linear output is computed once per run for
    the whole training set and gathered. The median over units: a few units whose values are
    mostly zero with rare large ones approach 1/sqrt(B) only at large B and would pull a mean
    over units (measured: slopes -0.40 to -0.50 by seed with the mean, -0.46 to -0.53 with the
    median). Returns a tuple over the nets of (R, sizes)."""
    def per_net(p_net, spec):
        def one_run(inp):
            p, idx_run = inp
            z1 = dense_apply(p.hidden[0].dense, x_train)  # (n, width)
            per = functools.partial(_x0_hat, p, spec=spec, layer=layer)
            out = [jnp.median(jax.vmap(lambda i: per(z1[i]))(idx).std(axis=0))
                   for idx in idx_run]
            return jnp.stack(out)  # (sizes,)
        # one run at a time: the largest batches of one run are (N, 256, width), 20 MB
        return jax.lax.map(one_run, (p_net, tuple(idxs)))
    return tuple(per_net(p, spec) for p, spec in zip(params, specs))


def noise_batches(rng: np.random.Generator, i0: int, n: int, batch_size: int,
                  batches: int) -> np.ndarray:
    """(batches, batch_size) indices: x0 first, the other B - 1 drawn without replacement."""
    others = np.delete(np.arange(n), i0)
    pick = np.argsort(rng.random((batches, n - 1)), axis=1)[:, :batch_size - 1]
    return np.concatenate([np.full((batches, 1), i0), others[pick]], axis=1).astype(np.int32)


def loglog_slope(batch_sizes, std) -> float:
    """Least-squares slope of log std on log B (-0.5 for a pure 1/sqrt(B) law)."""
    return float(np.polyfit(np.log(np.asarray(batch_sizes, float)), np.log(std), 1)[0])


def run_noise_meter(config: NoiseConfig = NoiseConfig(), progress=None) -> NoiseResult:
    """Train a BN and an LN net (same seeds and batches), then put x0 in `batches` random
    batches of each size and measure how much its x_hat moves."""
    data = load_digits()
    n = len(data.x_train)
    i0 = int(np.clip(config.example, 0, n - 1))
    layer = int(np.clip(config.layer, 1, config.depth)) - 1
    sizes = tuple(int(b) for b in config.batch_sizes if 2 <= int(b) <= n)
    seeds = _seeds(config.seed, config.n_seeds)
    rows, summary = [], {}
    nets = NETS[:2]  # the plain net normalizes nothing
    trained = _train_nets(nets, "sgd", 64, config.lr, seeds, config.steps, data,
                          config.depth, config.width, _stage(progress, 0.0, 0.8, "training"))
    rng = np.random.default_rng([config.seed, i0])  # the same batches for both nets
    idxs = tuple(np.stack([noise_batches(rng, i0, n, b, config.batches) for _ in seeds])
                 for b in sizes)  # per size (R, batches, B)
    measured = noise_probe(tuple(trained[name].carry.params for name, _, _ in nets),
                           data.x_train, idxs, layer=layer,
                           specs=tuple(trained[name].config.spec for name, _, _ in nets))
    fit = np.array([config.fit[0] <= b <= config.fit[1] for b in sizes])
    if fit.sum() < 2:  # too few sizes in the fitting range: every size
        fit[:] = True
    for i, ((name, norm, tag), std) in enumerate(zip(nets, measured)):
        r = trained[name]
        std = np.array(std, np.float64)  # (R, sizes)
        if progress is not None:
            progress(0.8 + 0.1 * (i + 1), f"{name}: {config.batches} batches of each size")
        div = np.asarray(r.diverged)
        std[div] = np.nan
        for k, seed in enumerate(seeds):
            for j, b in enumerate(sizes):
                rows.append(dict(variant=name, seed=seed, batch_size=b, std=float(std[k, j])))
        ok = ~div & np.isfinite(std).all(axis=1)
        summary[f"noise_std_b{sizes[0]}_{tag}"] = float(np.nanmean(std[:, 0])) \
            if ok.any() else float("nan")
        summary[f"noise_std_max_{tag}"] = float(np.nanmax(std)) if ok.any() else float("nan")
        if norm == "batch" and ok.any() and (std[ok] > 0).all():
            slopes = np.array([loglog_slope(np.asarray(sizes)[fit], std[k][fit])
                               for k in np.flatnonzero(ok)])
            summary["noise_slope_bn"] = float(slopes.mean())
            summary["noise_slope_bn_min"] = float(slopes.min())
            summary["noise_slope_bn_max"] = float(slopes.max())
            summary["noise_c_bn"] = float(np.exp(np.mean(np.log(
                (std[ok] * np.sqrt(sizes))[:, fit]))))
        summary[f"diverged_{tag}"] = float(div.sum())
    summary.setdefault("noise_slope_bn", float("nan"))
    # LN's spread is exactly 0 by construction: the largest measured over every batch size and
    # seed, so that "0" on screen is a measurement, not an assumption.
    summary["noise_std_ln"] = summary["noise_std_max_ln"]
    summary["b_min"], summary["b_max"] = float(sizes[0]), float(sizes[-1])
    fitted = np.asarray(sizes)[fit]
    summary["fit_min"], summary["fit_max"] = float(fitted[0]), float(fitted[-1])
    summary["n_seeds"] = float(len(seeds))
    return NoiseResult(config, pd.DataFrame(rows), summary)


# ---------------------------------------------------------------------------- Q3 small batches

# 64 trains with the programs of Q1 and the landscape; 2, 4 and 16 with one program per net (a
# batch of PAD rows, the unused ones masked: `_train_nets`); 128 with programs of its own.
SMALL_BATCH_SIZES = (2, 4, 16, 64, 128)
PAD = 16  # batches of up to this many examples share one training program per net
TINY_BATCH = 2  # the smallest batch
LR_BATCH = 64  # the batch size whose learning rate is `SmallBatchConfig.lr`
BN_RUNNING, BN_POPULATION = "BN (running stats)", BN  # BN's two evaluations
GAP_BATCH = 4  # small_batch_gap: LN minus BN (running statistics) at this batch size
N_TRAIN = 1257  # training images of the digits split (`bnjax.data.load_digits`; tests check)
LR_SCALINGS = ("sqrt", "none")


@dataclass(frozen=True)
class SmallBatchConfig:
    """Q3: 8x64 ReLU nets, plain SGD, the same number of epochs at every batch size, the
    learning rate `lr` at batch LR_BATCH and times sqrt(B / LR_BATCH) at batch B
    (`lr_scaling="sqrt"`: the same gradient noise per epoch, Hoffer et al. 2017) or the same
    at every batch size (`"none"`)."""
    seed: int = 0
    n_seeds: int = 3
    depth: int = 8
    width: int = 64
    lr: float = 0.05
    lr_scaling: str = "sqrt"
    optimizer: str = "sgd"
    epochs: int = 10
    batch_sizes: tuple = SMALL_BATCH_SIZES
    # At most this many steps per net (0: no cap): batch 2's 10 epochs would be 6,285 steps,
    # half of the page's small-batch compute; capped, batch 2 trains about 5 epochs.
    max_steps: int = 3200


def batch_lr(config: SmallBatchConfig, batch_size: int) -> float:
    """The learning rate at `batch_size`: `config.lr` scaled as `config.lr_scaling` says."""
    if config.lr_scaling == "sqrt":
        return float(config.lr) * math.sqrt(batch_size / LR_BATCH)
    return float(config.lr)


@dataclass
class SmallBatchResult:
    config: SmallBatchConfig
    # variant (BN (running stats) | BN | LayerNorm | plain), batch_size, seed, acc, diverged
    acc: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)


def small_batch_steps(epochs: int, batch_size: int, n: int) -> tuple[int, int]:
    """(steps, chunk): `epochs` passes over n examples in batches of `batch_size` (rounded up),
    reported in 10 chunks."""
    steps = max(1, math.ceil(epochs * n / batch_size))
    return steps, max(1, math.ceil(steps / 10))


def ladder_steps(config: SmallBatchConfig, batch_size: int, n: int) -> int:
    """Training steps per net at `batch_size`: `config.epochs` epochs of n examples, at most
    `config.max_steps` (when > 0)."""
    steps = small_batch_steps(config.epochs, batch_size, n)[0]
    return min(steps, int(config.max_steps)) if config.max_steps > 0 else steps


def capped_sizes(config: SmallBatchConfig, n: int) -> list[tuple[int, int, float]]:
    """The batch sizes whose epochs the step cap cuts: (batch size, steps, epochs trained)."""
    out = []
    for b in sorted({int(v) for v in config.batch_sizes if 2 <= int(v) <= n}):
        steps = ladder_steps(config, b, n)
        if steps < small_batch_steps(config.epochs, b, n)[0]:
            out.append((b, steps, steps * b / n))
    return out


def tiny_batch_steps(config: SmallBatchConfig | None = None) -> int:
    """Training steps per net at the smallest batch (TINY_BATCH) for `config`: what the page's
    control says that batch costs."""
    config = SmallBatchConfig() if config is None else config
    return ladder_steps(config, TINY_BATCH, len(load_digits().y_train))


def _test_accuracy(params, state, x_train, x_test, y_test, *, spec: MLPSpec, stats: str):
    """One net's test accuracy in eval mode: BN on population statistics of the training set
    (`stats="population"`, Ioffe Alg. 2) or on its running EMA (`"running"`)."""
    if spec.has_stats and stats == "population":
        state = population_state(params, x_train, spec=spec)
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False)
    return (logits.argmax(-1) == y_test).mean()


@functools.partial(jax.jit, static_argnames=("specs",), compiler_options=ONCE)
def evaluate_nets(params, states, x_train, x_test, y_test, *, specs: tuple):
    """Test accuracy of R runs of each net (`specs`, params and states tuples over the nets,
    leading axis R): per net (population, running) statistics, each (R,) (the same for a net
    without BN statistics). One program for the three nets, whatever the batch size they
    trained with (`evaluate` calls it with R = EVAL_RUNS)."""
    out = []
    for p, st, spec in zip(params, states, specs):
        acc = {how: jax.vmap(functools.partial(_test_accuracy, x_train=x_train, x_test=x_test,
                                               y_test=y_test, spec=spec, stats=how))(p, st)
               for how in (("population", "running") if spec.has_stats
                           else ("population",))}
        out.append((acc["population"], acc.get("running", acc["population"])))
    return tuple(out)


# Runs of each net per call of `evaluate_nets`: Q1's nets (3 runs each), the small batches' (5
# batch sizes x 3 seeds) and the landscape's (69 each) measure their test accuracy with one
# compiled program, in blocks of this many runs.
EVAL_RUNS = 3


def evaluate(nets: list, specs: list, data) -> list[tuple[np.ndarray, np.ndarray]]:
    """Test accuracy of trained nets after training: `nets` a list of (params, state), numpy
    leaves (R, ...), `specs` their MLPSpecs. Per net (population, running) statistics, each
    (R,) (`evaluate_nets`), in blocks of EVAL_RUNS runs of every net, the last run repeated to
    fill the last block: one compiled program for every section of the page."""
    r = max(len(jax.tree.leaves(p)[0]) for p, _ in nets)
    blocks = max(1, math.ceil(r / EVAL_RUNS))
    arrays = [jax.device_put(np.asarray(a)) for a in (data.x_train, data.x_test, data.y_test)]
    parts = []
    for k in range(blocks):
        rows = np.arange(k * EVAL_RUNS, (k + 1) * EVAL_RUNS)
        block = [jax.tree.map(lambda a: np.asarray(a)[np.minimum(rows, len(a) - 1)], net)
                 for net in nets]
        parts.append(evaluate_nets(tuple(p for p, _ in block), tuple(st for _, st in block),
                                   *arrays, specs=tuple(specs)))
    out = []
    for i, (p, _) in enumerate(nets):
        n = len(jax.tree.leaves(p)[0])
        out.append(tuple(np.concatenate([np.asarray(part[i][j]) for part in parts])[:n]
                         for j in range(2)))
    return out


# The batch size of Q1's, the noise meter's and the landscape's nets: at it the ladder trains
# with their programs (BN, LN and plain apart); at every other size BN and plain are one
# switch net (`nn.SWITCH`: BN on or off is data, bit for bit), one program for both.
SHARED_BATCH = TrainConfig().batch_size


def _from_switch(params: MLPParams, state: tuple, bn: bool) -> tuple[MLPParams, tuple]:
    """Trained switch nets, leaves (R, ...), as the BN (`bn`) or plain nets they compute (their
    test accuracy then compiles nothing new): BN keeps gamma, beta and its statistics and drops
    the linear bias it never used; plain keeps the bias and drops the rest."""
    hidden, states = [], []
    for h, st in zip(params.hidden, state):
        if bn:
            hidden.append(h._replace(dense=DenseParams(h.dense.w, None),
                                     norm=BatchNormParams(h.norm.gamma, h.norm.beta)))
        else:
            hidden.append(h._replace(norm=None))
        states.append(st if bn else None)
    return params._replace(hidden=tuple(hidden)), tuple(states)


def _switch_jobs(spec: MLPSpec, optimizer: str, b: int, lr: float, seeds) -> dict:
    """The ladder's jobs at batch size `b`: BN and plain as one switch job (BN first), LN."""
    masked = b <= PAD
    rows = PAD if masked else b
    hp = dict(lr=lr, batch=b if masked else 0)
    cfg = lambda norm: TrainConfig(spec._replace(norm=norm), optimizer, rows,  # noqa: E731
                                   groups=rows if masked else 0)
    r = len(seeds)
    on = np.concatenate([np.ones(r, np.float32), np.zeros(r, np.float32)])
    return {"switch": runs.Job(cfg(SWITCH), hparams(**hp, bn=on), tuple(seeds) * 2,
                               rows=b if masked else 0),
            LN: runs.Job(cfg("layer"), hparams(**hp), tuple(seeds), rows=b if masked else 0)}


def run_small_batches(config: SmallBatchConfig = SmallBatchConfig(),
                      progress=None) -> SmallBatchResult:
    """Train each net at each batch size for the same epochs; evaluate BN with its running
    (EMA) statistics and with population statistics of the training set. Batches of up to PAD
    examples train in one program per net (PAD rows, the unused ones masked); BN and plain are
    one switch net except at SHARED_BATCH (Q1's programs). The test accuracy is measured after
    training by `evaluate`, one program for every batch size and net (and for Q1's and the
    landscape's nets: every switch net as the BN or plain net it computes)."""
    data = load_digits()
    n = len(data.x_train)
    seeds = _seeds(config.seed, config.n_seeds)
    r = len(seeds)
    sizes = tuple(sorted({int(b) for b in config.batch_sizes if 2 <= int(b) <= n}))
    work = [ladder_steps(config, b, n) for b in sizes]
    spec = MLPSpec(depth=config.depth, width=config.width)
    done = 0
    nets: dict[str, list] = {BN: [], LN: [], PLAIN: []}  # per net: (params, state, diverged)
    for b, steps in zip(sizes, work):  # the three nets of one batch size train side by side
        stage = _stage(progress, done / sum(work), (done + steps) / sum(work),
                       f"batch size {b}")
        lr = batch_lr(config, b)
        if b == SHARED_BATCH:
            trained = _train_nets(NETS, config.optimizer, b, lr, seeds, steps, data,
                                  config.depth, config.width, stage)
            for name, _, _ in NETS:
                t = trained[name]
                nets[name].append((t.carry.params, t.carry.state, np.asarray(t.diverged)))
        else:
            jobs = _switch_jobs(spec, config.optimizer, b, lr, seeds)
            trained = runs.train_together(jobs, steps, data, chunk=max(1, math.ceil(steps / 10)),
                                          progress=stage)
            sw, ln = trained["switch"], trained[LN]
            for name, part in ((BN, slice(0, r)), (PLAIN, slice(r, 2 * r))):
                nets[name].append(_from_switch(jax.tree.map(lambda a: a[part], sw.carry.params),
                                               jax.tree.map(lambda a: a[part], sw.carry.state),
                                               name == BN) + (np.asarray(sw.diverged)[part],))
            nets[LN].append((ln.carry.params, ln.carry.state, np.asarray(ln.diverged)))
        done += steps
    # every batch size's nets measured together: runs stacked (sizes x seeds)
    stack = {name: (jax.tree.map(lambda *a: np.concatenate(a), *[p for p, _, _ in v]),
                    jax.tree.map(lambda *a: np.concatenate(a), *[st for _, st, _ in v]),
                    np.concatenate([d for _, _, d in v])) for name, v in nets.items()}
    measured = evaluate([stack[name][:2] for name, _, _ in NETS],
                        [spec._replace(norm=norm) for _, norm, _ in NETS], data)
    rows = []
    for (name, norm, _), (population, running) in zip(NETS, measured):
        div = stack[name][2]
        accs = {name: population} | ({BN_RUNNING: running} if norm == "batch" else {})
        for variant, acc in accs.items():
            acc = np.where(div, np.nan, np.asarray(acc, np.float64)).reshape(len(sizes), r)
            for j, b in enumerate(sizes):
                for k, seed in enumerate(seeds):
                    rows.append(dict(variant=variant, batch_size=b, seed=seed,
                                     acc=float(np.nan_to_num(acc[j, k], nan=0.0)),
                                     diverged=bool(div.reshape(len(sizes), r)[j, k])))
    df = pd.DataFrame(rows)
    summary: dict[str, float] = {}
    tags = {BN_RUNNING: "bn_running", BN_POPULATION: "bn_population", LN: "ln", PLAIN: "plain"}
    for variant, tag in tags.items():
        for b in sizes:
            v = df[(df.variant == variant) & (df.batch_size == b)]
            summary[f"acc_b{b}_{tag}"] = float(v.acc.mean())
        summary[f"diverged_{tag}"] = float(df[df.variant == variant].diverged.sum())
    if GAP_BATCH in sizes:
        ln = _per_seed(df, LN, GAP_BATCH)
        summary["small_batch_gap"] = float(np.mean(ln - _per_seed(df, BN_RUNNING, GAP_BATCH)))
        summary["population_rescue"] = float(np.mean(_per_seed(df, BN_POPULATION, GAP_BATCH)
                                                     - _per_seed(df, BN_RUNNING, GAP_BATCH)))
    summary["b_min"], summary["b_max"] = float(sizes[0]), float(sizes[-1])
    summary["n_seeds"] = float(len(seeds))
    return SmallBatchResult(config, df, summary)


def _per_seed(df: pd.DataFrame, variant: str, batch_size: int) -> np.ndarray:
    v = df[(df.variant == variant) & (df.batch_size == batch_size)].sort_values("seed")
    return v.acc.to_numpy()


def crossover(result: SmallBatchResult, a: str = LN, b: str = BN_RUNNING) -> float:
    """The largest batch size at which net `a` beats `b` by more than 0.01 on every seed
    (NaN if none): below it, BN falls behind."""
    df = result.acc
    best = float("nan")
    for size in sorted(df.batch_size.unique()):
        if np.all(_per_seed(df, a, size) - _per_seed(df, b, size) > 0.01):
            best = float(size)
    return best


# ---------------------------------------------------------------------------- Q4 landscape

LR_LADDER = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # page 5's grid
GAINS = (0.5, 1.0, 2.0)
SWEEP_EXTRA = (10.0,)  # the sweep continues the grid's gain-1 column upwards


@dataclass(frozen=True)
class LandscapeConfig:
    """Q4: page 5's grid (8x64, plain SGD, lr 0.003-3 x gain 0.5-2) for the three nets, and the
    sweep of the largest lr that learns: the grid's gain-1 column from `sweep_min` up, and
    beyond. 250 steps by default (a quarter of page 5's: three nets and three seeds train here,
    198 networks; the orderings are the same at 500 and 1000, on seeds 0-2 and 5-7)."""
    seed: int = 0
    n_seeds: int = 3
    depth: int = 8
    width: int = 64
    steps: int = 250
    lrs: tuple = LR_LADDER
    gains: tuple = GAINS
    sweep_extra: tuple = SWEEP_EXTRA
    sweep_gain: float = 1.0
    sweep_min: float = 0.01  # page 5's sweep starts here: below it 500 steps are too few to learn


@dataclass
class LandscapeResult:
    config: LandscapeConfig
    cells: pd.DataFrame  # variant, lr, gain, acc (seed mean, diverged = 0), acc_std, good, ...
    per_seed: pd.DataFrame  # variant, lr, gain, seed, acc, final_loss, start_loss, diverged
    sweep: pd.DataFrame  # variant, lr, seed, learns, finite, diverged, final_loss
    curves: pd.DataFrame  # variant, lr, seed, step, loss (sweep gain, every 10th step)
    summary: dict[str, float] = field(default_factory=dict)


def _nice(v) -> float:
    """A float32 grid value (0.029999999) as the ladder wrote it (0.03): 6 significant digits."""
    return float(f"{float(v):.6g}")


def learns(final_loss, start_loss, diverged) -> np.ndarray:
    """Page 5's definition: finite, and the final training loss (mean of the last 10% of the
    steps) below half the first step's."""
    final, start = np.asarray(final_loss, float), np.asarray(start_loss, float)
    return ~np.asarray(diverged, bool) & np.isfinite(final) & (final < 0.5 * start)


def largest_learning_lr(lrs, ok) -> float:
    """Page 5's edge (`landscape.monotone_edge`): the largest lr such that it and every smaller
    lr of the sweep, from the smallest that learns, learn; 0 when none learns. Monotone (a lucky
    lr above a failure does not count), and an lr too small to learn within the steps does not
    count against the larger ones (at 250 steps BN at lr 0.01 ends near half its starting
    loss, below it on one seed of 7, 8, 9: "learns up to 0" would hide that it learns up to 3)."""
    hi = _landscape.monotone_edge(lrs, ok)[1]
    return float(hi) if np.isfinite(hi) else 0.0


def run_landscape(config: LandscapeConfig = LandscapeConfig(), progress=None) -> LandscapeResult:
    """Every (lr, gain, seed) of the grid, and the sweep's extra lrs at the sweep gain, for BN,
    LN and plain, as page 5 trains its grid (one compiled training program per net, shared
    with Q1's nets and page 5's)."""
    data = load_digits()
    seeds = _seeds(config.seed, config.n_seeds)
    lrs, gains = tuple(float(v) for v in config.lrs), tuple(float(v) for v in config.gains)
    extra = tuple(float(v) for v in config.sweep_extra if v > max(lrs))
    g0 = float(config.sweep_gain)
    tail = max(1, config.steps // 10)
    k = 10 if config.steps >= 200 else 1
    n_grid, n_extra = len(lrs) * len(gains) * len(seeds), len(extra) * len(seeds)
    total = 3 * (n_grid + n_extra)
    per_seed, sweep, curves, cells, summary = [], [], [], [], {}
    # Page 5's grid (`bnjax.grid.train_grid`: runs in (lr, gain, seed) order, a few waves at a
    # time), then the sweep's extra lrs, one job per net (its waves of one run per device all
    # full), the three nets in one runner call: no device waits between two grids.
    jobs, parts = {}, []
    for name, norm, _ in NETS:
        tc = TrainConfig(MLPSpec(depth=config.depth, width=config.width, norm=norm), "sgd")
        both = [configurations(lrs, gains, seeds)] + (  # each (lr, gain, seed), each (R,)
            [configurations(extra, (g0,), seeds)] if extra else [])
        lr, gain, seed = (np.concatenate(v) for v in zip(*both))
        jobs[name] = runs.Job(tc, hparams(lr=lr, gain=gain), tuple(seed))
        parts.append((name, lr, gain, seed))
    trained = runs.train_together(
        jobs, config.steps, data, chunk=config.steps, probe_at_start=False, together=IN_FLIGHT,
        progress=None if progress is None else (
            lambda f, m: progress(f, f"{int(round(f * total))} of {total} networks trained")))
    # every net's runs measured together after training: one program for the three nets
    measured = evaluate([(trained[name].carry.params, trained[name].carry.state)
                         for name, _, _ in NETS], [jobs[name].config.spec for name, _, _ in NETS],
                        data)
    for (name, lr, gain, seed), (acc, _) in zip(parts, measured):
        loss, diverged = trained[name].loss, trained[name].diverged
        with warnings.catch_warnings():  # a diverged run's tail is all NaN: its mean too
            warnings.simplefilter("ignore", RuntimeWarning)
            final = np.nanmean(loss[:, config.steps - tail:config.steps], axis=1)
        for r in range(len(lr)):
            run_lr, run_gain = _nice(lr[r]), _nice(gain[r])  # the ladder's values, not float32
            per_seed.append(dict(
                variant=name, lr=run_lr, gain=run_gain, seed=int(seed[r]),
                acc=0.0 if diverged[r] else float(np.nan_to_num(acc[r], nan=0.0)),
                final_loss=float(final[r]) if not diverged[r] else float("nan"),
                start_loss=float(loss[r, 0]), diverged=bool(diverged[r]),
                grid=r < n_grid))
            if abs(run_gain - g0) < 1e-6:
                curves.append(pd.DataFrame(dict(
                    variant=name, lr=run_lr, seed=int(seed[r]),
                    step=np.arange(1, config.steps + 1)[::k],
                    loss=loss[r, :config.steps:k])))
    per_seed = pd.DataFrame(per_seed)
    with np.errstate(invalid="ignore"):
        per_seed["learns"] = learns(per_seed.final_loss, per_seed.start_loss, per_seed.diverged)
    grid = per_seed[per_seed.grid]
    for (name, lr, gain), v in grid.groupby(["variant", "lr", "gain"], sort=False):
        cells.append(dict(variant=name, lr=lr, gain=gain, acc=float(v.acc.mean()),
                          acc_std=float(v.acc.std(ddof=0)), diverged=int(v.diverged.sum()),
                          n_seeds=len(v)))
    cells = pd.DataFrame(cells)
    cells["good"] = _landscape.is_good(cells["acc"])
    on_sweep = ((per_seed.gain - g0).abs() < 1e-6) & (per_seed.lr >= config.sweep_min - 1e-12)
    sw = per_seed[on_sweep]
    sweep = sw[["variant", "lr", "seed", "learns", "diverged", "final_loss", "start_loss",
                "acc"]].copy()
    sweep["finite"] = ~sweep.diverged
    sweep["stuck"] = stuck(sweep)
    result = LandscapeResult(config, cells, per_seed, sweep.reset_index(drop=True),
                             pd.DataFrame(), summary)
    for name, _, tag in NETS:
        per = good_cells_per_seed(result, name)
        summary[f"good_cells_{tag}"] = float(per.mean())
        summary[f"good_cells_{tag}_min"], summary[f"good_cells_{tag}_max"] = (
            float(per.min()), float(per.max()))
        largest = max_learn_lr_per_seed(result, name)
        # a geometric mean over seeds, as page 5 (the lrs are a log ladder)
        summary[f"max_learn_lr_{tag}"] = float(np.exp(np.mean(np.log(np.maximum(largest,
                                                                                1e-12)))))
        summary[f"max_learn_lr_{tag}_min"] = float(largest.min())
        summary[f"max_learn_lr_{tag}_max"] = float(largest.max())
        beyond = past_largest(result, name)  # each seed's runs above its largest learning lr
        summary[f"stuck_runs_{tag}"] = float(stuck(beyond).sum())
        summary[f"diverged_runs_{tag}"] = float(beyond.diverged.sum())
        summary[f"failed_runs_{tag}"] = float((~beyond.learns).sum())
        summary[f"beyond_runs_{tag}"] = float(len(beyond))
        summary[f"best_acc_{tag}"] = float(cells[cells.variant == name].acc.max())
    summary["n_cells"] = float(len(lrs) * len(gains))
    summary["n_seeds"] = float(len(seeds))
    summary["ln10"] = LN10
    result.curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["variant", "lr", "seed", "step", "loss"])
    return result


# The loss of a net that gives all ten digits the same probability: it has learned nothing.
LN10 = math.log(10.0)


def stuck(sweep: pd.DataFrame) -> pd.Series:
    """Runs that stayed finite and ended within 10% of ln 10: stuck, not diverged."""
    return ~sweep.diverged & ((sweep.final_loss / LN10 - 1.0).abs() < 0.1)


def good_cells_per_seed(result: LandscapeResult, variant: str) -> np.ndarray:
    """How many grid cells reach GOOD test accuracy, seed by seed (in seed order)."""
    v = result.per_seed[result.per_seed.grid & (result.per_seed.variant == variant)]
    return np.array([float(_landscape.is_good(d.acc).sum()) for _, d in v.groupby("seed")])


def max_learn_lr_per_seed(result: LandscapeResult, variant: str) -> np.ndarray:
    """The largest lr that learns (monotone), seed by seed (in seed order)."""
    s = result.sweep[result.sweep.variant == variant]
    return np.array([largest_learning_lr(d.lr, d.learns) for _, d in s.groupby("seed")])


def largest_on_every_seed(result: LandscapeResult) -> dict[str, float]:
    """Each net's largest lr that learns on every seed (the smallest of the seeds' own), 0 where
    none learns (the sweep chart's ticks)."""
    out = {}
    for name, _, _ in NETS:
        per = max_learn_lr_per_seed(result, name)
        out[name] = float(per.min()) if per.size else 0.0
    return out


def past_largest(result: LandscapeResult, variant: str) -> pd.DataFrame:
    """The sweep's runs of `variant` above their own seed's largest learning lr: where and how
    learning stopped (diverged, or stuck near ln 10)."""
    s = result.sweep[result.sweep.variant == variant]
    parts = [d[d.lr > largest_learning_lr(d.lr, d.learns)] for _, d in s.groupby("seed")]
    return pd.concat(parts) if parts else s.iloc[:0]


def showcase_lr(result: LandscapeResult) -> float:
    """The sweep lr whose curves show the three failures best: the largest lr at which BN
    still learns on every seed (where LN and plain fail, if they do)."""
    s = result.sweep
    ok = s[s.variant == BN].groupby("lr").learns.all()
    good = [lr for lr, v in ok.items() if v]
    return float(max(good)) if good else float(s.lr.median())


# ---------------------------------------------------------------------------- deep nets at init

MAX_DEPTH = 100  # one compiled program serves every depth up to this


@dataclass(frozen=True)
class DepthConfig:
    """Deep ReLU nets at initialization (He-normal, gain 1), no training: one batch forward and
    backward."""
    seed: int = 0
    n_seeds: int = 3
    depth: int = 50
    width: int = 64
    batch_size: int = 256
    gain: float = 1.0


@dataclass
class DepthResult:
    config: DepthConfig
    layers: pd.DataFrame  # variant, seed, layer, rank, grad_norm (layers 1..depth)
    summary: dict[str, float] = field(default_factory=dict)


def depth_normals(seed: int, n_in: int, width: int, max_depth: int) -> tuple:
    """The standard normals behind a seed's deep net, drawn on the host (numpy): the first
    layer's (n_in, width), the rest stacked (max_depth - 1, width, width), the output layer's
    (width, 10). Drawing them inside the compiled probe cost about half its compile time."""
    rng = np.random.default_rng([int(seed), 50, 1])
    return (rng.standard_normal((n_in, width), np.float32),
            rng.standard_normal((max_depth - 1, width, width), np.float32),
            rng.standard_normal((width, 10), np.float32))


def _deep_net(normals, gain, *, norm: str, width: int):
    """MAX_DEPTH hidden layers from `depth_normals` scaled as `bnjax.nn.dense_init` scales them
    (He-normal times `gain`; the output layer without the gain), so that the net of depth d is
    the first d layers of this one plus the output layer: the first layer (n_in, width), the
    rest stacked (max_depth - 1, width, width). A bias (zero) only without a norm."""
    first_n, rest_n, out_n = normals
    zeros = jnp.zeros((width,), jnp.float32) if norm == "none" else None
    first = DenseParams(gain * jnp.sqrt(2.0 / first_n.shape[0]) * first_n, zeros)
    rest = DenseParams(gain * jnp.sqrt(2.0 / width) * rest_n,
                       None if zeros is None else jnp.zeros(rest_n.shape[:2], jnp.float32))
    out = DenseParams(jnp.sqrt(1.0 / width) * out_n, jnp.zeros((10,), jnp.float32))
    return first, rest, out


def _normalize(z, norm: str, width: int):
    if norm == "batch":
        return batchnorm_apply(*batchnorm_init(width), z, train=True)[0]
    if norm == "layer":
        return layernorm_apply(*layernorm_init(width), z)[0]
    return z


def effective_rank(gram: np.ndarray) -> np.ndarray:
    """exp of the entropy of the normalized singular values of activations A (batch, width),
    from their Gram matrices G = A^T A (..., width, width) (Roy & Vetterli 2007): 1 when every
    example's activations point the same way, up to the width when all directions are used.
    On the host (numpy's LAPACK): an eigensolver in the compiled program cost seconds of compile
    time for microseconds of work."""
    s = np.sqrt(np.maximum(np.linalg.eigvalsh(np.asarray(gram, np.float64)), 0.0))  # (..., w)
    p = s / np.maximum(s.sum(-1, keepdims=True), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return np.exp(h)


def _depth_probe(normals, x, y, depth, gain, *, norm: str, width: int, max_depth: int):
    """Per layer l = 1..max_depth (layers past `depth`, a traced value, pass through): the Gram
    matrix A^T A of its activations over the batch (for the effective rank) and ||dL/dW_l||.
    Returns (gram (max_depth, width, width), grad (max_depth,))."""
    first, rest, out = _deep_net(normals, gain, norm=norm, width=width)

    def hidden(a, dense):  # one hidden layer: dense (bias only when plain), norm, ReLU
        z = a @ dense.w + (0.0 if dense.b is None else dense.b[None, :])  # (batch, width)
        return jax.nn.relu(_normalize(z, norm, width))

    def loss(first, rest):
        a1 = hidden(x, first)

        def layer(a, inp):
            i, dense = inp
            a = jnp.where(i < depth, hidden(a, dense), a)  # past the chosen depth: identity
            return a, a

        a, acts = jax.lax.scan(layer, a1, (jnp.arange(1, max_depth), rest))
        logits = a @ out.w + out.b[None, :]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return ce, jnp.concatenate([a1[None], acts])  # (max_depth, batch, width)

    (_, acts), (g_first, g_rest) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
        first, rest)
    grads = jnp.concatenate([jnp.linalg.norm(g_first.w)[None],
                             jnp.sqrt((g_rest.w ** 2).sum((1, 2)))])  # (max_depth,)
    gram = jnp.einsum("lbi,lbj->lij", acts, acts)  # (max_depth, width, width)
    return gram, grads


@functools.partial(jax.jit, static_argnames=("norms", "width", "max_depth"),
                   compiler_options=ONCE)
def depth_probe(normals, x, y, depth, gain, *, norms: tuple, width: int, max_depth: int):
    """`_depth_probe` of each normalization in `norms`, for R seeds (leading axis R on the
    `depth_normals` of each seed, x, y): a tuple over `norms` of (grams, grads), leading (R,).
    One program for the three nets; `depth` and `gain` are traced: a new depth compiles
    nothing."""
    out = []
    for norm in norms:
        f = functools.partial(_depth_probe, norm=norm, width=width, max_depth=max_depth)
        out.append(jax.vmap(lambda n, x, y: f(n, x, y, depth, gain))(normals, x, y))
    return tuple(out)


def run_depth(config: DepthConfig = DepthConfig(), progress=None) -> DepthResult:
    """Each net at `config.depth` layers, at initialization: one batch of `batch_size` training
    examples (drawn per seed) forward and backward, BN on the batch's statistics."""
    data = load_digits()
    seeds = _seeds(config.seed, config.n_seeds)
    depth = int(np.clip(config.depth, 1, MAX_DEPTH))
    rng = [np.random.default_rng([s, 50]) for s in seeds]
    b = int(min(config.batch_size, len(data.x_train)))
    idx = np.stack([r.choice(len(data.x_train), b, replace=False) for r in rng])
    # numpy in, numpy scalars: jnp.asarray and jnp.int32 would each compile a small program
    x, y = data.x_train[idx], data.y_train[idx]
    rows, summary = [], {}
    per_seed = [depth_normals(s, x.shape[-1], config.width, MAX_DEPTH) for s in seeds]
    normals = tuple(np.stack(parts) for parts in zip(*per_seed))
    measured = depth_probe(normals, x, y, np.int32(depth), np.float32(config.gain),
                           norms=tuple(norm for _, norm, _ in NETS), width=config.width,
                           max_depth=MAX_DEPTH)
    for i, ((name, norm, tag), (gram, grads)) in enumerate(zip(NETS, measured)):
        ranks = effective_rank(np.asarray(gram)[:, :depth])  # (R, depth)
        grads = np.asarray(grads, np.float64)[:, :depth]
        for k, seed in enumerate(seeds):
            rows.append(pd.DataFrame(dict(variant=name, seed=seed, layer=np.arange(1, depth + 1),
                                          rank=ranks[k], grad_norm=grads[k])))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = grads[:, 0] / grads[:, -1]
        summary[f"depth_rank_{tag}"] = float(np.mean(ranks[:, -1]))
        summary[f"depth_grad_ratio_{tag}"] = float(np.mean(ratio))
        summary[f"depth_rank_{tag}_min"] = float(ranks[:, -1].min())
        summary[f"depth_rank_{tag}_max"] = float(ranks[:, -1].max())
        summary[f"depth_grad_ratio_{tag}_min"] = float(ratio.min())
        summary[f"depth_grad_ratio_{tag}_max"] = float(ratio.max())
        if progress is not None:
            progress((i + 1) / 3, f"{name} at depth {depth}")
    summary["depth"], summary["width"] = float(depth), float(config.width)
    summary["n_seeds"] = float(len(seeds))
    return DepthResult(config, pd.concat(rows, ignore_index=True), summary)


# ---------------------------------------------------------------------------- the page's view


@dataclass(frozen=True)
class PageConfig:
    """What the page's URL sets: the seeds, and one knob per section."""
    seed: int = 0
    n_seeds: int = 3
    lr: float = 0.05  # Q1: the nets' training lr (plain SGD)
    sb_lr: float = 0.05  # Q3: the small-batch training lr at batch LR_BATCH (plain SGD)
    sb_scaling: str = "sqrt"  # Q3: the lr at other batch sizes (LR_SCALINGS)
    steps: int = 250  # Q4: training steps of every net of the landscape
    depth: int = 50  # deep nets at initialization


def configs(page: PageConfig):
    """The five experiments' configs for a page view: (invariances, noise, small batches,
    landscape, depth)."""
    common = dict(seed=page.seed, n_seeds=page.n_seeds)
    return (InvarianceConfig(lr=page.lr, **common),
            NoiseConfig(**common),
            SmallBatchConfig(lr=page.sb_lr, lr_scaling=page.sb_scaling if page.sb_scaling
                             in LR_SCALINGS else LR_SCALINGS[0], **common),
            LandscapeConfig(steps=page.steps, **common),
            DepthConfig(depth=page.depth, **common))


PRESETS: dict[str, PageConfig] = {
    "the default: 3 seeds": PageConfig(),
    "other seeds (3 to 5)": PageConfig(seed=3),
    "the same lr (0.05) at every batch size": PageConfig(sb_scaling="none"),
    "the landscape at 1000 steps (page 5's)": PageConfig(steps=1000),
    "depth 100 at initialization": PageConfig(depth=100),
    "one seed (quick)": PageConfig(n_seeds=1),
}


def replace(config, **changes):
    """`dataclasses.replace`, for tests and pages that shrink a config."""
    return dataclasses.replace(config, **changes)
