"""Page 6, the Playground: a BN net and a plain net of the viewer's choosing, side by side.

Both train on the same seeds (init and batches); three seeds give the bands. The health monitors
follow Karpathy's BatchNorm lecture: activation histograms with saturation, weight-gradient
histograms, and each layer's update:data ratio over training, against the 1e-3 guide.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd

from bnjax.data import load_digits
from bnjax.nn import MLPSpec
from bnjax.probes import health, histogram, saturation
from bnjax.train import TrainConfig, hparams, run_slice, train_runs

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
    saturation: pd.DataFrame  # when, variant, layer, saturation
    update_ratio: pd.DataFrame  # step, variant, layer, log10_ratio (seed mean)
    diverged: dict = field(default_factory=dict)  # variant -> list of diverged seeds
    diverged_at: pd.DataFrame | None = None  # variant, seed, step
    summary: dict = field(default_factory=dict)


PRESETS = {
    "Default: 4x100 relu, momentum, lr 0.1": PlaygroundConfig(),
    "Plain net diverges at lr 3": PlaygroundConfig(lr=3.0),
    "Deep sigmoid net (BN rescues saturation)": PlaygroundConfig(
        depth=8, activation="sigmoid", optimizer="sgd", lr=0.5),
    "Tiny init gain 0.2, tanh": PlaygroundConfig(activation="tanh", gain=0.2),
    "Adam, lr 0.003": PlaygroundConfig(optimizer="adam", lr=0.003),
}

VARIANTS = (("BN", True), ("plain", False))


def _snapshots(config, spec, data, store, name):
    """on_chunk callback: activation and gradient probes at init and at the last chunk."""
    x, y = data.x_train[:256], data.y_train[:256]  # a fixed probe batch

    def probe(step, carry):
        if step not in (0, config.steps):
            return
        c = run_slice(carry, 0)  # the first seed
        store[(name, "init" if step == 0 else "end")] = jax.device_get(
            health(c.params, c.state, x, y, spec))
    return probe


def _histograms(store, activation):
    act_rows, grad_rows, sat_rows = [], [], []
    for (variant, when), h in store.items():
        for i, (a, g) in enumerate(zip(h.a, h.grad_w), start=1):
            layer = f"layer {i}"
            xs, d = histogram(a, 40)
            act_rows += [dict(when=when, variant=variant, layer=layer, x=u, density=v)
                         for u, v in zip(xs, d)]
            gs = np.asarray(g).ravel()
            lim = float(np.percentile(np.abs(gs[np.isfinite(gs)]), 99)) if np.isfinite(gs).any() else 1.0
            xs, d = histogram(gs, 40, -lim, lim)
            grad_rows += [dict(when=when, variant=variant, layer=layer, x=u, density=v)
                          for u, v in zip(xs, d)]
            sat_rows.append(dict(when=when, variant=variant, layer=layer,
                                 saturation=saturation(np.asarray(a), activation)))
    return pd.DataFrame(act_rows), pd.DataFrame(grad_rows), pd.DataFrame(sat_rows)


def _window(loss: np.ndarray, steps: int):
    """Mean of the training loss over windows, so each run has about CURVE_POINTS points."""
    w = max(1, steps // CURVE_POINTS)
    n = steps // w
    return (np.arange(n) + 1) * w, loss[:, : n * w].reshape(loss.shape[0], n, w).mean(-1)


def run_playground(config: PlaygroundConfig, progress=None) -> PlaygroundResult:
    """Train BN and plain nets over 3 seeds; curves, health monitors and a summary."""
    data = load_digits()
    seeds = tuple(config.seed + i for i in range(N_SEEDS))
    hp = hparams(lr=config.lr, gain=config.gain, dropout=config.dropout)
    curves, accs, ratios, diverged, div_rows, store = [], [], [], {}, [], {}
    chunk = min(100, config.steps)  # one scan length for every step count: no recompiles
    for k, (name, bn) in enumerate(VARIANTS):
        spec = MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=bn)
        tc = TrainConfig(spec, config.optimizer, config.batch_size,
                         stochastic="dropout" if config.dropout > 0 else False, track=True)
        sub = None if progress is None else (
            lambda f, m, k=k, name=name: progress((k + f) / len(VARIANTS), f"{name} net, {m}"))
        runs = train_runs(tc, hp, seeds, config.steps, data, chunk=chunk,
                          on_chunk=_snapshots(config, spec, data, store, name), progress=sub)
        steps, loss = _window(runs.loss, config.steps)
        for s, seed in enumerate(seeds):
            curves.append(pd.DataFrame(dict(step=steps, variant=name, seed=seed, loss=loss[s])))
            accs.append(pd.DataFrame(dict(step=runs.eval_steps, variant=name, seed=seed,
                                          acc=runs.test_acc[s])))
            if runs.diverged[s]:
                first_nan = int(np.argmax(~np.isfinite(runs.loss[s])))
                div_rows.append(dict(variant=name, seed=seed, step=first_nan))
        diverged[name] = [seed for s, seed in enumerate(seeds) if runs.diverged[s]]
        r_steps, r = _window(np.log10(np.maximum(runs.update_ratio, 1e-30)).mean(0).T, config.steps)
        for i in range(config.depth):
            ratios.append(pd.DataFrame(dict(step=r_steps, variant=name, layer=f"layer {i + 1}",
                                            log10_ratio=r[i])))
    act, grad, sat = _histograms(store, config.activation)
    acc = pd.concat(accs, ignore_index=True)
    cl = pd.concat(curves, ignore_index=True)
    summary = {}
    for name, _ in VARIANTS:
        v = name.lower()
        # Each run's last measured accuracy; a diverged run has none (NaN), and says so.
        last = acc[acc.variant == name].dropna().groupby("seed").acc.last()
        summary[f"acc_{v}"] = float(last.mean()) if len(last) else float("nan")
        summary[f"diverged_{v}"] = float(len(diverged[name]))
        end = sat[(sat.variant == name) & (sat.when == "end")].saturation
        summary[f"saturation_{v}"] = float(end.mean()) if len(end) else float("nan")
        fin = cl[(cl.variant == name) & (cl.step == cl.step.max())].loss.dropna()
        summary[f"final_loss_{v}"] = float(fin.mean()) if len(fin) else float("nan")
    summary["n_seeds"] = float(N_SEEDS)
    return PlaygroundResult(config, cl, acc, act, grad, sat,
                            pd.concat(ratios, ignore_index=True), diverged,
                            pd.DataFrame(div_rows, columns=["variant", "seed", "step"]), summary)


def config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(PlaygroundConfig)]
