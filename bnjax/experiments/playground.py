"""Page 6, the Playground: a BN net and a plain net of the viewer's choosing, side by side.

Both train on the same seeds (init and batches); three seeds give the bands and every number's
spread (`PlaygroundResult.per_seed`, one row per net and seed, is what the page's sentences
compare). The health monitors follow Karpathy's BatchNorm lecture, measured on every seed's net
over the whole training set: activation histograms, dead units (ReLU units at 0 for every
training digit) and saturation (tanh |a| > 0.97, sigmoid < 0.03 or > 0.97: `bnjax.probes`),
weight-gradient histograms, and each layer's update:data ratio over training, against the 1e-3
guide. "Trained faster" is the number of steps until the smoothed training loss falls below a
level both nets can be compared at (`LOSS_LEVELS`).
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bnjax.data import load_digits
from bnjax.nn import MLPSpec
from bnjax.probes import dead_units, health_runs, histogram, saturation
from bnjax.train import TrainConfig, hparams, train_runs

N_SEEDS = 3
CURVE_POINTS = 200  # loss curve points per run: keeps the charts under ~5,000 rows


@dataclass(frozen=True)
class PlaygroundConfig:
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
    # the last 10%, layer mean), steps_to_level (steps until the smoothed training loss falls
    # below summary["loss_level"], NaN if never), dead, saturation (at the end, layer means),
    # dead_init, saturation_init. Diverged runs have NaN measures.
    per_seed: pd.DataFrame = field(default_factory=pd.DataFrame)


# The values each control offers (the page's widgets read them; every preset uses them).
OPTIONS = dict(
    depth=(1, 10), width=(8, 256), steps=(100, 5000),  # slider ranges
    activation=["relu", "tanh", "sigmoid"], optimizer=["sgd", "momentum", "adam"],
    lr=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], gain=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0],
    batch_size=[8, 16, 32, 64, 128, 256], dropout=[0.0, 0.1, 0.2, 0.3, 0.5])

# Named by what they set, not by what they show: the page's short answer says what happened.
PRESETS = {
    "Default: 4x100 relu, momentum, lr 0.1": PlaygroundConfig(),
    "Large learning rate: lr 3": PlaygroundConfig(lr=3.0),
    "Deep sigmoid net: 8 layers, SGD, lr 1": PlaygroundConfig(
        depth=8, activation="sigmoid", optimizer="sgd", lr=1.0),
    "Tiny init: gain 0.2, tanh": PlaygroundConfig(activation="tanh", gain=0.2),
    "Adam, lr 0.003": PlaygroundConfig(optimizer="adam", lr=0.003),
}

VARIANTS = (("BN", True), ("plain", False))
# "Trained faster": steps until a run's smoothed training loss first falls below a level. The
# level is the lowest of these that every seed of at least one net reaches (so that the
# comparison is about a level the nets actually got to).
LOSS_LEVELS = (0.1, 0.3, 1.0)
END_FRACTION = 0.1  # "at the end": the last 10% of the steps (final loss, update:data ratio)


def _probe_store(store):
    """on_chunk callback: keep the carry (every seed) at initialization and at the last chunk."""
    def probe(step, carry):
        store["init" if step == 0 else "end"] = carry
    return probe


def _health_tables(probes, activation, data, seeds):
    """Health of every seed's net at init and at the end, on the whole training set (BN with
    that set's statistics, which is eval mode with population statistics): per-layer dead units
    and saturation, and histograms of activations and weight gradients (the seeds pooled)."""
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    act_rows, grad_rows, layer_rows = [], [], []
    for (variant, when), (spec, carry, skip) in probes.items():
        h = jax.device_get(health_runs(carry.params, carry.state, x, y, spec))
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
            pd.DataFrame(layer_rows))


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


def _window(loss: np.ndarray, steps: int):
    """Mean of the training loss over windows, so each run has about CURVE_POINTS points."""
    w = max(1, steps // CURVE_POINTS)
    n = steps // w
    return (np.arange(n) + 1) * w, loss[:, : n * w].reshape(loss.shape[0], n, w).mean(-1)


def steps_to_level(loss: np.ndarray, level: float) -> np.ndarray:
    """Per run (rows of `loss`, (R, steps)), the number of steps after which the training loss,
    as a trailing mean over max(5, steps / 100) steps, first falls below `level`; NaN if it never
    does (or the run diverged first)."""
    r, steps = loss.shape
    w = max(5, steps // 100)
    out = np.full(r, np.nan)
    if steps < w:
        return out
    c = np.cumsum(np.concatenate([np.zeros((r, 1)), loss.astype(np.float64)], 1), 1)
    smooth = (c[:, w:] - c[:, :-w]) / w  # smooth[:, j] = mean of loss[:, j : j + w]
    for i in range(r):
        below = np.flatnonzero(smooth[i] < level)  # NaN compares False
        if below.size:
            out[i] = below[0] + w  # steps done when that window ends
    return out


def _speed(losses: dict) -> tuple[float, dict]:
    """The loss level of the "trained faster" comparison and each variant's steps to it."""
    for level in LOSS_LEVELS:
        steps = {v: steps_to_level(l, level) for v, l in losses.items()}
        if any(np.isfinite(s).all() for s in steps.values()):
            return level, steps
    level = LOSS_LEVELS[-1]
    return level, {v: steps_to_level(l, level) for v, l in losses.items()}


def run_playground(config: PlaygroundConfig, progress=None) -> PlaygroundResult:
    """Train BN and plain nets over 3 seeds; curves, health monitors, per-seed numbers and a
    summary (seed means)."""
    data = load_digits()
    seeds = tuple(config.seed + i for i in range(N_SEEDS))
    hp = hparams(lr=config.lr, gain=config.gain, dropout=config.dropout)
    curves, accs, ratios, diverged, div_rows, probes = [], [], [], {}, [], {}
    losses, per_seed = {}, {}
    chunk = min(100, config.steps)  # one scan length for every step count: no recompiles
    end = max(1, int(round(config.steps * END_FRACTION)))
    for k, (name, bn) in enumerate(VARIANTS):
        spec = MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=bn)
        tc = TrainConfig(spec, config.optimizer, config.batch_size,
                         stochastic="dropout" if config.dropout > 0 else False, track=True)
        sub = None if progress is None else (
            lambda f, m, k=k, name=name: progress((k + f) / len(VARIANTS), f"{name} net, {m}"))
        store = {}
        runs = train_runs(tc, hp, seeds, config.steps, data, chunk=chunk,
                          on_chunk=_probe_store(store), progress=sub)
        div = np.asarray(runs.diverged, bool)
        probes[(name, "init")] = (spec, store["init"], np.zeros_like(div))
        probes[(name, "end")] = (spec, store["end"], div)  # a diverged net has no "end"
        steps, loss = _window(runs.loss, config.steps)
        div_step = np.full(len(seeds), np.nan)
        for s, seed in enumerate(seeds):
            curves.append(pd.DataFrame(dict(step=steps, variant=name, seed=seed, loss=loss[s])))
            accs.append(pd.DataFrame(dict(step=runs.eval_steps, variant=name, seed=seed,
                                          acc=runs.test_acc[s])))
            if runs.diverged[s]:
                div_step[s] = int(np.argmax(~np.isfinite(runs.loss[s])))
                div_rows.append(dict(variant=name, seed=seed, step=int(div_step[s])))
        diverged[name] = [seed for s, seed in enumerate(seeds) if runs.diverged[s]]
        ok = np.isfinite(runs.loss)  # (R, steps): the step ran before any divergence
        with np.errstate(all="ignore"):  # the step that blows up has an infinite ratio: NaN
            log_ratio = np.where(ok[..., None] & np.isfinite(runs.update_ratio),
                                 np.log10(np.maximum(runs.update_ratio, 1e-30)), np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: diverged runs
            r_steps, r = _window(np.nanmean(log_ratio, 0).T, config.steps)
            # per seed: the median over the last steps and the layers (a layer whose weights
            # stopped moving must not drag a mean of logs to -30)
            update_end = np.nanmedian(log_ratio[:, -end:].reshape(len(seeds), -1), 1)  # (R,)
            final_loss = np.nanmean(runs.loss[:, -end:], 1)
        for i in range(config.depth):
            ratios.append(pd.DataFrame(dict(step=r_steps, variant=name, layer=f"layer {i + 1}",
                                            log10_ratio=r[i])))
        last_acc = np.array([a[np.isfinite(a)][-1] if np.isfinite(a).any() else np.nan
                             for a in runs.test_acc])
        losses[name] = runs.loss
        per_seed[name] = dict(
            seed=np.asarray(seeds), acc=np.where(div, np.nan, last_acc),
            final_loss=np.where(div, np.nan, final_loss), diverged=div.astype(float),
            diverged_step=div_step, update=np.where(div, np.nan, update_end))
    level, speed = _speed(losses)
    act, grad, layers = _health_tables(probes, config.activation, data, seeds)
    rows = []
    for name, _ in VARIANTS:
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
    acc = pd.concat(accs, ignore_index=True)
    cl = pd.concat(curves, ignore_index=True)
    summary = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a mean over only NaN: NaN, as meant
        for name, _ in VARIANTS:
            v, t = name.lower(), table[table.variant == name]
            for key in ("acc", "final_loss", "dead", "saturation", "update", "steps_to_level"):
                summary[f"{key}_{v}"] = float(np.nanmean(t[key])) if t[key].notna().any() \
                    else float("nan")
            summary[f"diverged_{v}"] = float(t.diverged.sum())
    summary["loss_level"] = float(level)
    summary["n_seeds"] = float(N_SEEDS)
    return PlaygroundResult(config, cl, acc, act, grad, layers,
                            pd.concat(ratios, ignore_index=True), diverged,
                            pd.DataFrame(div_rows, columns=["variant", "seed", "step"]), summary,
                            table)


def config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(PlaygroundConfig)]
