"""Page 6, the Playground: two nets of the viewer's choosing, side by side.

Net A and net B are the same MLP (depth, width, activation, optimizer, learning rate, init
gain, batch size, dropout) with a normalization each: batch norm, LayerNorm or none (a plain
net); by default BN vs plain. Both train on the same seeds (init and batches) through the one
runner (`bnjax.runs.train_together`), chunk by chunk, so their curves grow together: the page
draws them live from the first chunk (`run_playground` hands partial results to its progress
callback). Two nets with the same normalization are the same network: they train once, and the
page says that every number is the same for both.

Three seeds give the bands and every number's spread (`PlaygroundResult.per_seed`, one row per
net and seed, is what the page's sentences compare). The health monitors follow Karpathy's
BatchNorm lecture, measured on every seed's net over the whole training set: activation
histograms, dead units (units in the flat part of their activation for EVERY training digit:
a ReLU at 0, a tanh beyond ±0.97, a sigmoid below 0.03 or above 0.97) and saturation (the share
of all outputs in that flat part: `bnjax.probes`), weight-gradient histograms, and each layer's
update:data ratio over training, against the 1e-3 guide. "Trained faster" is the number of steps
until the smoothed training loss falls below a level both nets can be compared at
(`LOSS_LEVELS`).

    r = run_playground(PlaygroundConfig(norm_a="layer", norm_b="none", steps=500))
    r.per_seed                  # variant ("LayerNorm" / "plain"), seed, acc, final_loss, ...
    r.summary["acc_a"], r.summary["acc_ln"]   # the same number: net A is the LayerNorm net
Leaves out: per-net settings other than the normalization (a comparison changes one thing).
"""
from __future__ import annotations

import dataclasses
import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable

import jax
import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import Dataset, load_digits
from bnjax.nn import SWITCH, MLPSpec, mlp_init
from bnjax.probes import dead_units, histogram, saturation
from bnjax.train import TrainConfig, hparams

N_SEEDS = 3
CURVE_POINTS = 200  # loss curve points per run: keeps the charts under ~5,000 rows
CHUNK = 50  # the shortest chunk: training steps between two reports (the live charts' tick)
CHUNKS = 20  # about this many chunks over a run; test accuracy is measured after each
PROBES = (probes.test_accuracy,)  # after every chunk: (test accuracy, test loss)

# The normalizations a net can have (`MLPSpec.norm`), the name each net gets on the page (the
# shared palette's variant names) and in the summary's keys.
NORMS = ("batch", "layer", "none")
VARIANT = {"batch": "BN", "layer": "LayerNorm", "none": "plain"}
KEY = {"batch": "bn", "layer": "ln", "none": "plain"}


@dataclass(frozen=True)
class PlaygroundConfig:
    norm_a: str = "batch"  # net A's normalization: batch | layer | none
    norm_b: str = "none"  # net B's
    depth: int = 4
    width: int = 100
    activation: str = "relu"  # relu | tanh | sigmoid
    optimizer: str = "momentum"  # sgd | momentum | adam
    lr: float = 0.1
    gain: float = 1.0
    batch_size: int = 64
    steps: int = 2000
    dropout: float = 0.0
    seed: int = 0


@dataclass
class PlaygroundResult:
    config: PlaygroundConfig
    curves: pd.DataFrame  # step, variant, seed, loss (training batch loss, window mean)
    accuracy: pd.DataFrame  # step, variant, seed, acc (test accuracy)
    activations: pd.DataFrame  # when, variant, layer, x, density
    gradients: pd.DataFrame  # when, variant, layer, x, density
    layers: pd.DataFrame  # when, variant, seed, layer, dead, saturation, grad_std
    update_ratio: pd.DataFrame  # step, variant, layer, log10_ratio (seed mean)
    diverged: dict = field(default_factory=dict)  # variant -> list of diverged seeds
    diverged_at: pd.DataFrame | None = None  # variant, seed, step
    summary: dict = field(default_factory=dict)  # seed means, see run_playground
    # One row per net and seed: acc (last test accuracy), final_loss (training loss over the
    # last 10% of steps), diverged (0/1), diverged_step, update (log10 update:data ratio over
    # the last 10%, layer median), steps_to_level (steps until the smoothed training loss falls
    # below summary["loss_level"], NaN if never), dead, saturation (at the end, layer means),
    # dead_init, saturation_init. Diverged runs have NaN measures. Net A's rows come first.
    per_seed: pd.DataFrame = field(default_factory=pd.DataFrame)
    nets: tuple = ("BN", "plain")  # the two nets' names (`net_names`), A first
    done: bool = True  # False in the partial results handed out while training
    step: int = 0  # steps every run has trained (partial results)


# The values each control offers (the page's widgets read them; every preset uses them).
OPTIONS = dict(
    depth=(1, 10), width=(8, 256), steps=(100, 5000),  # slider ranges
    norm_a=list(NORMS), norm_b=list(NORMS),
    activation=["relu", "tanh", "sigmoid"], optimizer=["sgd", "momentum", "adam"],
    lr=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], gain=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0],
    batch_size=[8, 16, 32, 64, 128, 256], dropout=[0.0, 0.1, 0.2, 0.3, 0.5])

# Named by what they set, not by what they show: the page's short answer says what happened.
PRESETS = {
    "Default: BN vs plain, 4x100 relu, momentum, lr 0.1": PlaygroundConfig(),
    "LayerNorm vs plain": PlaygroundConfig(norm_a="layer"),
    "BN vs LayerNorm, batch 8": PlaygroundConfig(norm_b="layer", batch_size=8),
    "Large learning rate: lr 3": PlaygroundConfig(lr=3.0),
    "Deep sigmoid net: 8 layers, SGD, lr 1": PlaygroundConfig(
        depth=8, activation="sigmoid", optimizer="sgd", lr=1.0),
    "Tiny init: gain 0.2, tanh": PlaygroundConfig(activation="tanh", gain=0.2),
    "Adam, lr 0.003": PlaygroundConfig(optimizer="adam", lr=0.003),
}

# "Trained faster": steps until a run's smoothed training loss first falls below a level. The
# level is the lowest of these that every seed of at least one net reaches (so that the
# comparison is about a level the nets actually got to).
LOSS_LEVELS = (0.1, 0.3, 1.0)
END_FRACTION = 0.1  # "at the end": the last 10% of the steps (final loss, update:data ratio)


def net_names(config: PlaygroundConfig) -> tuple[str, str]:
    """The two nets' names on the page: the palette's ("BN", "plain", "LayerNorm"), or
    "net A (BN)" and "net B (BN)" when both have the same normalization."""
    a, b = VARIANT[config.norm_a], VARIANT[config.norm_b]
    return (a, b) if a != b else (f"net A ({a})", f"net B ({b})")


# At most this much arithmetic per view (forward + backward FLOPs of every training step of
# every run: 6 x batch x weights x steps x runs): about a minute on 2 slow cores, so that no URL
# makes the server compute for longer (the default view is about 0.2e12).
MAX_FLOPS = 3e12


def flops(config: PlaygroundConfig) -> float:
    """Forward and backward FLOPs of all the training of `config` (both nets, every seed)."""
    w = config.width
    weights = 64 * w + (config.depth - 1) * w * w + w * 10
    runs_ = N_SEEDS * (1 if config.norm_a == config.norm_b else 2)
    return 6.0 * config.batch_size * weights * config.steps * runs_


def check(config: PlaygroundConfig) -> None:
    """ValueError (a message the page shows) for a config no control offers, or one that would
    keep the server busy for more than about a minute."""
    for name in ("norm_a", "norm_b", "activation", "optimizer"):
        if getattr(config, name) not in OPTIONS[name]:
            raise ValueError(f"{name} must be one of {', '.join(OPTIONS[name])}, "
                             f"not {getattr(config, name)!r}")
    for name in ("depth", "width", "steps"):
        lo, hi = OPTIONS[name]
        if not lo <= getattr(config, name) <= hi:
            raise ValueError(f"{name} must be between {lo} and {hi}")
    if not (config.lr > 0 and config.gain > 0 and 0 <= config.dropout < 1
            and 1 <= config.batch_size <= 1257):
        raise ValueError("the learning rate and init gain must be positive, the dropout rate "
                         "in [0, 1) and the batch size at most 1257")
    if flops(config) > MAX_FLOPS:
        minutes = flops(config) / MAX_FLOPS
        shown = f"{minutes:.{1 if minutes < 10 else 0}f}"
        raise ValueError(
            f"this view would train for about {shown} minutes on this server, longer than it "
            "gives one view. Make it smaller: fewer steps, fewer or narrower layers, or a "
            "smaller batch")


SWITCHED = "BN and plain"  # the job of a BN net and a plain net trained as one switch net


def _jobs(config: PlaygroundConfig, seeds: tuple) -> tuple[dict, dict]:
    """The runner's jobs, and where each net's runs are: {net name: (job name, rows)}.

    BN vs plain is one job of switch nets (`nn.SWITCH`: batch norm on or off is data, bit for
    bit the BN and the plain net), net A's seeds then net B's: one compiled program for both,
    and their 6 runs fill 3 waves of the 2 devices (two jobs of 3 leave a device idle in 2 of
    4). Two nets of one normalization are one job, trained once. LayerNorm is a job of its own.
    """
    hp = dict(lr=config.lr, gain=config.gain, dropout=config.dropout)
    names = net_names(config)
    norms = dict(zip(names, (config.norm_a, config.norm_b)))
    if set(norms.values()) == {"batch", "none"}:
        on = np.array([float(norms[n] == "batch") for n in names for _ in seeds], np.float32)
        job = runs.Job(train_config(config, SWITCH), hparams(**hp, bn=on), seeds + seeds)
        r = len(seeds)
        return {SWITCHED: job}, {names[0]: (SWITCHED, slice(0, r)),
                                 names[1]: (SWITCHED, slice(r, 2 * r))}
    jobs = {VARIANT[norm]: runs.Job(train_config(config, norm), hparams(**hp), seeds)
            for norm in dict.fromkeys(norms.values())}
    return jobs, {n: (VARIANT[norm], slice(None)) for n, norm in norms.items()}


def train_config(config: PlaygroundConfig, norm: str) -> TrainConfig:
    spec = MLPSpec(depth=config.depth, width=config.width, activation=config.activation,
                   norm=norm)
    return TrainConfig(spec, config.optimizer, config.batch_size,
                       stochastic="dropout" if config.dropout > 0 else False, track=True)


# ---------------------------------------------------------------------------- health monitors


def _health(params, state, x, y, *, spec: MLPSpec):
    return probes.health_runs(params, state, x, y, spec)


# The health monitors run twice per net (at initialization and at the end): compiled at LLVM
# level 1 like the other programs that run once (about half the compile time, the same math).
health_program = jax.jit(_health, static_argnames="spec",
                         compiler_options=probes.ONCE_COMPILER_OPTIONS)


def _training_set(data: Dataset):
    """x_train, y_train on the device (`device_put`: no tiny conversion program to compile)."""
    return (jax.device_put(np.asarray(data.x_train, np.float32)),
            jax.device_put(np.asarray(data.y_train, np.int32)))


def compile_ahead(specs, data: Dataset) -> threading.Thread:
    """Compile the health monitors' programs in a background thread while the nets train (XLA
    compiles without holding Python's lock); the calls after training find them compiled."""
    x, y = _training_set(data)

    def compile_them():
        for spec in specs:
            try:
                shapes = jax.eval_shape(lambda s=spec: mlp_init(jax.random.key(0), s, 1.0))
                params, state = jax.tree.map(
                    lambda a: jax.ShapeDtypeStruct((N_SEEDS,) + a.shape, a.dtype), shapes)
                health_program.lower(params, state, x, y, spec=spec).compile()
            except Exception:  # noqa: BLE001  the call after training compiles and says why
                return
    thread = threading.Thread(target=compile_them, name="bnjax-compile-health", daemon=True)
    thread.start()
    return thread


def _health_tables(probed, activation, data, seeds):
    """Health of every seed's net at init and at the end, on the whole training set (BN with
    that set's statistics, which is eval mode with population statistics): per-layer dead units
    and saturation, and histograms of activations and weight gradients (the seeds pooled).
    `probed`: (variant, when) -> (spec, carry with numpy leaves (R, ...), skip (R,) bool)."""
    x, y = _training_set(data)
    act_rows, grad_rows, layer_rows = [], [], []
    for (variant, when), (spec, carry, skip) in probed.items():
        h = jax.device_get(health_program(carry.params, carry.state, x, y, spec=spec))
        keep = ~np.asarray(skip, bool)
        for i, (a, g) in enumerate(zip(h.a, h.grad_w), start=1):
            layer = f"layer {i}"
            a, g = np.asarray(a, np.float64), np.asarray(g, np.float64)  # (R, N, W), (R, in, W)
            for r, seed in enumerate(seeds):
                ok = keep[r] and np.isfinite(a[r]).all()
                layer_rows.append(dict(
                    when=when, variant=variant, seed=seed, layer=layer,
                    dead=dead_units(a[r], activation) if ok else np.nan,
                    saturation=saturation(a[r], activation) if ok else np.nan,
                    grad_std=float(np.std(g[r])) if ok and np.isfinite(g[r]).all() else np.nan))
            if not keep.any():
                continue
            act_rows += [dict(when=when, variant=variant, layer=layer, x=u, density=v)
                         for u, v in zip(*_activation_histogram(a[keep], activation))]
            gs = g[keep].ravel()
            gs = gs[np.isfinite(gs)]
            lim = float(np.percentile(np.abs(gs), 99)) if gs.size else 1.0
            xs, d = histogram(gs, 40, -lim, lim)
            grad_rows += [dict(when=when, variant=variant, layer=layer, x=u, density=v)
                          for u, v in zip(xs, d)]
    return (pd.DataFrame(act_rows, columns=["when", "variant", "layer", "x", "density"]),
            pd.DataFrame(grad_rows, columns=["when", "variant", "layer", "x", "density"]),
            pd.DataFrame(layer_rows, columns=["when", "variant", "seed", "layer", "dead",
                                              "saturation", "grad_std"]))


def _activation_histogram(a: np.ndarray, activation: str):
    """(centers, fraction of all outputs) over the activation's own range: [-1, 1] for tanh,
    [0, 1] for sigmoid; for relu the outputs above 0, up to their 99.5th percentile (the zeros,
    about half by design, are reported as a number, not drawn as a spike that flattens the
    rest; the few largest outputs would stretch the axis)."""
    v = a[np.isfinite(a)]
    if activation == "tanh":
        return histogram(v, 40, -1.0, 1.0)
    if activation == "sigmoid":
        return histogram(v, 40, 0.0, 1.0)
    pos = v[v > 0]
    if pos.size == 0 or v.size == 0:
        return np.zeros(0), np.zeros(0)
    hi = float(np.percentile(pos, 99.5))
    centers, counts = histogram(pos, 40, 0.0, hi)
    return centers, counts * pos.size / v.size  # a fraction of all outputs, zeros included


# ---------------------------------------------------------------------------- curves


def _window(loss: np.ndarray, steps: int, upto: int | None = None):
    """Mean of the training loss over windows, so each run has about CURVE_POINTS points over
    `steps`; only the windows complete by step `upto` (a partial result)."""
    w = max(1, steps // CURVE_POINTS)
    n = (steps if upto is None else upto) // w
    return (np.arange(n) + 1) * w, loss[:, : n * w].reshape(loss.shape[0], n, w).mean(-1)


def _curve_frames(res: runs.Result, name: str, steps: int, upto: int):
    """(loss curve rows, test accuracy rows) of one net, up to step `upto`."""
    seeds = [int(s) for s in res.seeds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x, loss = _window(res.loss, steps, upto)
    curves = pd.DataFrame({"step": np.tile(x, len(seeds)), "variant": name,
                           "seed": np.repeat(seeds, len(x)), "loss": loss.ravel()})
    # (R, P) test accuracy, probed at res.probe_steps (NaN where not yet or once diverged)
    acc = np.zeros((len(seeds), 0)) if res.probes is None else np.asarray(res.probes[0][0])
    cols = [c for c in range(1, acc.shape[1])  # step 0 (the fresh nets) is not drawn
            if res.probe_steps[c] <= upto and c < len(res.probe_steps)]
    accuracy = pd.DataFrame({"step": np.tile(res.probe_steps[cols], len(seeds)),
                             "variant": name, "seed": np.repeat(seeds, len(cols)),
                             "acc": acc[:, cols].ravel().astype(np.float64)})
    return curves, accuracy


def _net(results: dict, plan: dict, name: str) -> runs.Result:
    """Net `name`'s runs (one per seed) out of the runner's results: its job's rows."""
    job, rows = plan[name]
    r = results[job]
    if rows == slice(None):
        return r
    cut = lambda tree: None if tree is None else jax.tree.map(  # noqa: E731
        lambda a: np.asarray(a)[rows] if np.ndim(a) else a, tree)
    return dataclasses.replace(
        r, seeds=r.seeds[rows], hp=cut(r.hp), loss=r.loss[rows],
        update_ratio=r.update_ratio[rows], probes=cut(r.probes), steps_done=r.steps_done[rows],
        divergence=runs.Divergence(r.divergence.flag[rows], r.divergence.step[rows]),
        carry=cut(r.carry), owed=None if r.owed is None else r.owed[rows])


def _partial(config: PlaygroundConfig, results: dict, plan: dict, upto: int):
    """What is trained so far, as a PlaygroundResult (done False) for live charts."""
    names = list(plan)
    parts = [_curve_frames(_net(results, plan, n), n, config.steps, upto) for n in names]
    empty = pd.DataFrame()
    return PlaygroundResult(
        config, pd.concat([p[0] for p in parts], ignore_index=True),
        pd.concat([p[1] for p in parts], ignore_index=True), empty, empty, empty, empty,
        {n: [] for n in names}, pd.DataFrame(columns=["variant", "seed", "step"]), {}, empty,
        tuple(names), done=False, step=upto)


def chunk_steps(steps: int) -> int:
    """Steps per chunk: about CHUNKS chunks over the run, a multiple of CHUNK (2000 steps: 100).
    Every chunk costs a report, a probe and a copy of the nets' state: fewer, longer chunks
    for long runs; the first live drawing comes after the first chunk."""
    return max(CHUNK, round(steps / CHUNKS / CHUNK) * CHUNK)


def steps_to_level(loss: np.ndarray, level: float) -> np.ndarray:
    """Per run (rows of `loss`, (R, steps)), the number of steps after which the training loss,
    as a trailing mean over max(5, steps / 100) steps, stays below `level` to the end (its last
    crossing: a curve that dips below and comes back up has not got there yet); NaN if it never
    does (or the run diverged)."""
    r, steps = loss.shape
    w = max(5, steps // 100)
    out = np.full(r, np.nan)
    if steps < w:
        return out
    c = np.cumsum(np.concatenate([np.zeros((r, 1)), loss.astype(np.float64)], 1), 1)
    smooth = (c[:, w:] - c[:, :-w]) / w  # smooth[:, j] = mean of loss[:, j : j + w]
    for i in range(r):
        above = np.flatnonzero(~(smooth[i] < level))  # NaN (diverged) counts as above
        if above.size < smooth.shape[1]:  # below at the end: the window after the last above
            out[i] = (above[-1] + 1 if above.size else 0) + w  # steps done when it ends
    return out


def _speed(losses: dict) -> tuple[float, dict]:
    """The loss level of the "trained faster" comparison and each net's steps to it."""
    for level in LOSS_LEVELS:
        steps = {v: steps_to_level(l, level) for v, l in losses.items()}
        if any(np.isfinite(s).all() for s in steps.values()):
            return level, steps
    level = LOSS_LEVELS[-1]
    return level, {v: steps_to_level(l, level) for v, l in losses.items()}


# ---------------------------------------------------------------------------- the run


def run_playground(config: PlaygroundConfig, progress: Callable | None = None,
                   data: Dataset | None = None) -> PlaygroundResult:
    """Train net A and net B over N_SEEDS seeds side by side; curves, health monitors,
    per-seed numbers and a summary (seed means: `<measure>_a`, `<measure>_b`, and under each
    net's normalization, `<measure>_bn`, `_ln` or `_plain`, when the two differ).

    `progress(fraction, message, partial)` after every chunk, from the first one on, with a
    partial `PlaygroundResult` (the curves so far: tables only, cheap to build) for live charts.
    """
    check(config)
    data = load_digits() if data is None else data
    seeds = tuple(config.seed + i for i in range(N_SEEDS))
    names = net_names(config)
    jobs, plan = _jobs(config, seeds)
    steps = config.steps
    start, ahead = {}, []

    def on_chunk(results):
        done = min(int(r.steps_done.min()) for r in results.values())
        if done == 0:  # the fresh nets: their state is the health monitors' "at init"
            start.update({n: _net(results, plan, n).carry for n in names})
            return
        report(results, done)  # (a viewer who left stops it here: nothing more starts)
        # The nets train: the health monitors compile meanwhile, from the second chunk on
        # (the first chunk's drawing goes first: it is the page's first chart).
        if not ahead and done > chunk:
            ahead.append(compile_ahead([j.config.spec for j in jobs.values()], data))

    def report(results, done: int):
        if progress is None:
            return
        message = f"step {done} of {steps}"
        if done >= steps:  # the finished result follows at once
            progress(0.9 * done / steps, message)
            return
        # A few milliseconds of tables: the page decides how often it draws them.
        progress(0.9 * done / steps, message, _partial(config, results, plan, done))

    chunk = chunk_steps(steps)
    results = runs.train_together(jobs, steps, data, chunk=chunk, probe=PROBES,
                                  on_chunk=on_chunk, with_carry=True)
    if progress is not None:
        progress(0.92, "measuring the health monitors on every training digit")
    for thread in ahead:
        thread.join()

    end = max(1, int(round(steps * END_FRACTION)))
    curves, accs, ratios, div_rows, probed, losses, per_seed = [], [], [], [], {}, {}, {}
    diverged = {}
    for name in names:
        res = _net(results, plan, name)
        spec = res.config.spec
        div = np.asarray(res.divergence.flag, bool)
        if plan[name] not in [plan[n] for n, _ in probed]:  # one job and rows: measured once
            probed[(name, "init")] = (spec, start[name], np.zeros_like(div))
            probed[(name, "end")] = (spec, res.carry, div)  # a diverged net has no "end"
        c, a = _curve_frames(res, name, steps, steps)
        curves.append(c), accs.append(a)
        div_step = np.where(div, res.divergence.step, np.nan).astype(float)
        div_rows += [dict(variant=name, seed=int(s), step=int(t))
                     for s, t, d in zip(res.seeds, res.divergence.step, div) if d]
        diverged[name] = res.divergence.of([int(s) for s in res.seeds])
        ok = np.isfinite(res.loss)  # (R, steps): the step ran before any divergence
        with np.errstate(all="ignore"):  # the step that blows up has an infinite ratio: NaN
            log_ratio = np.where(ok[..., None] & np.isfinite(res.update_ratio),
                                 np.log10(np.maximum(res.update_ratio, 1e-30)), np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: diverged runs
            r_steps, r = _window(np.nanmean(log_ratio, 0).T, steps)
            # per seed: the median over the last steps and the layers (a layer whose weights
            # stopped moving must not drag a mean of logs to -30)
            update_end = np.nanmedian(log_ratio[:, -end:].reshape(len(seeds), -1), 1)  # (R,)
            final_loss = np.nanmean(res.loss[:, -end:], 1)
        for i in range(config.depth):
            ratios.append(pd.DataFrame(dict(step=r_steps, variant=name, layer=f"layer {i + 1}",
                                            log10_ratio=r[i])))
        acc = np.asarray(res.probes[0][0], np.float64)  # (R, P): NaN once diverged
        last_acc = np.array([a[np.isfinite(a)][-1] if np.isfinite(a).any() else np.nan
                             for a in acc[:, 1:]])
        losses[name] = res.loss
        per_seed[name] = dict(
            seed=np.asarray(seeds), acc=np.where(div, np.nan, last_acc),
            final_loss=np.where(div, np.nan, final_loss), diverged=div.astype(float),
            diverged_step=div_step, update=np.where(div, np.nan, update_end))
    level, speed = _speed(losses)
    act, grad, layers = _health_tables(probed, config.activation, data, seeds)
    # Two nets of one normalization are one net, measured once: each gets its rows, renamed.
    measured = {n: next(m for m, _ in probed if plan[m] == plan[n]) for n in names}
    act, grad, layers = (pd.concat([t[t.variant == measured[n]].assign(variant=n) for n in names],
                                   ignore_index=True) for t in (act, grad, layers))
    rows = []
    for name in names:
        at_end = layers[(layers.variant == name) & (layers.when == "end")]
        at_init = layers[(layers.variant == name) & (layers.when == "init")]
        for s, seed in enumerate(seeds):
            mine = at_end[at_end.seed == seed]
            first = at_init[at_init.seed == seed]
            rows.append(dict(
                variant=name, **{k: v[s] for k, v in per_seed[name].items()},
                steps_to_level=speed[name][s],
                dead=float(mine.dead.mean()), saturation=float(mine.saturation.mean()),
                dead_init=float(first.dead.mean()),
                saturation_init=float(first.saturation.mean())))
    table = pd.DataFrame(rows)
    summary = _summary(config, table, names, level)
    return PlaygroundResult(
        config, pd.concat(curves, ignore_index=True), pd.concat(accs, ignore_index=True), act,
        grad, layers, pd.concat(ratios, ignore_index=True), diverged,
        pd.DataFrame(div_rows, columns=["variant", "seed", "step"]), summary, table,
        tuple(names), done=True, step=steps)


def _summary(config: PlaygroundConfig, table: pd.DataFrame, names, level: float) -> dict:
    """Seed means of every per-seed measure, per net: `<measure>_a`, `<measure>_b`, and under
    the net's normalization (`_bn`, `_ln`, `_plain`) when the two nets' differ."""
    summary = {}
    keys = {names[0]: ["a"], names[1]: ["b"]}
    if config.norm_a != config.norm_b:
        keys[names[0]].append(KEY[config.norm_a])
        keys[names[1]].append(KEY[config.norm_b])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a mean over only NaN: NaN, as meant
        for name in names:
            t = table[table.variant == name]
            for key in ("acc", "final_loss", "dead", "saturation", "update", "steps_to_level"):
                value = float(np.nanmean(t[key])) if t[key].notna().any() else float("nan")
                summary.update({f"{key}_{k}": value for k in keys[name]})
            summary.update({f"diverged_{k}": float(t.diverged.sum()) for k in keys[name]})
    summary["loss_level"] = float(level)
    summary["n_seeds"] = float(N_SEEDS)
    summary["same_net"] = float(config.norm_a == config.norm_b)
    return summary


def shrink(config: PlaygroundConfig, steps: int = 200) -> PlaygroundConfig:
    """A short version of `config` for smoke tests."""
    return dataclasses.replace(config, steps=min(config.steps, steps))


def config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(PlaygroundConfig)]
