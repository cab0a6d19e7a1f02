"""Page 2, covariate shift: "later layers are robust to changes in earlier layers".

Teaches, with the same trained nets, BN and plain side by side:
  1a  the Ioffe & Szegedy 2015 figure done for real: the 15th / 50th / 85th percentiles of each
      last-hidden-layer unit's input to the nonlinearity (gamma * x_hat + beta under BN), over the
      full training set, every CHUNK = 50 steps. Without BN they drift and widen; with BN they
      stay put.
  1b  what "robust" means exactly: rescale every unit of layer 1 by s in [0.5, 2] and shift it
      (an affine change), or move W1 by a random direction of the same norm, and measure the
      training loss and every later layer's input. BN's invariance to the affine change is exact
      (Ioffe Sec. 3.3); a general change still reaches BN's later layers, only less.
Leaves out: convolutions, the EMA statistics (full-set train-mode statistics are used throughout).

How it runs: config -> `runs.train_together` (BN and plain side by side, the probes
`probes.test_accuracy` and `probes.last_layer_input` every CHUNK steps; BN on or off is data,
norm "switch": one training and one probe program for both) -> `probes.perturb_seeds` on the
trained nets (one program for both) -> summary.

    result = run_covariate_shift(CovariateShiftConfig(seed=0))
    result.summary["drift_plain"], result.summary["drift_bn"]
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import jax
import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import load_digits
from bnjax.nn import MLPSpec, mlp_init
from bnjax.train import TrainConfig, hparams

BN, PLAIN = "BN", "plain"
SIZES = (0.25, 0.5, 1.0, 2.0)  # perturbation sizes measured in one go; 1.0 = s in [0.5, 2]
REFERENCE_SIZE = 1.0  # the size the summary (and the tests) report
PERCENTILES = (15.0, 50.0, 85.0)
CHUNK = 50  # steps between two probes of the percentile bands, shared with page 3
PROBES = (probes.test_accuracy, probes.last_layer_input)  # measured every CHUNK steps
perturb_runs = probes.perturb_runs  # 1b, where page 3 has always found it


@dataclass(frozen=True)
class CovariateShiftConfig:
    """The page's default view: 8x64 ReLU, plain SGD at lr 0.05, 1000 steps, seeds seed..seed+2."""
    seed: int = 0
    depth: int = 8
    width: int = 64
    activation: str = "relu"
    lr: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    n_seeds: int = 3  # seeds seed, seed + 1, ... trained side by side (the seed spread)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))


@dataclass
class CovariateShiftResult:
    config: CovariateShiftConfig
    summary: dict[str, float]  # the numbers the verdict states (seed means)
    bands: pd.DataFrame  # step, variant, seed, unit, p15, p50, p85 (last hidden layer)
    units: pd.DataFrame  # variant, seed, unit, drift, spread_ratio (1a, per unit)
    perturb: pd.DataFrame  # variant, seed, size, kind, dloss (1b, per run)
    layers: pd.DataFrame  # variant, seed, size, kind, layer, rel_change, moment_change (1b)
    runs: pd.DataFrame  # variant, seed, diverged, test_acc, final_loss
    diverged: dict[str, bool] = field(default_factory=dict)  # variant -> any seed diverged
    # One row per variant and seed: the numbers the page states, before the seed mean (its
    # sentences give each with its spread and pick their comparatives from these). Columns:
    # variant, seed, diverged, test_acc, drift, spread_ratio, affine_dloss, random_dloss,
    # w1x3_dlogit, values_change, moments_change (a random change of W1, at REFERENCE_SIZE, mean
    # over layers 2..depth), affine_values_change (the affine change, same layers).
    per_seed: pd.DataFrame = field(default_factory=pd.DataFrame)
    # While training, `run_covariate_shift` hands partial results of this type to its progress
    # callback (done False): `bands` and `units` so far, the 1b tables empty.
    done: bool = True
    step: int = 0  # steps trained by every net in `bands`


# ---------------------------------------------------------------------------- the experiment


def spec_of(config: CovariateShiftConfig, bn: bool) -> MLPSpec:
    return MLPSpec(depth=config.depth, width=config.width, activation=config.activation, bn=bn)


def train_config(config: CovariateShiftConfig, bn: bool = True) -> TrainConfig:
    """Plain SGD, BN or not as data (norm "switch", `hparams(bn=1.0 or 0.0)`): the BN and plain
    nets train in one compiled program and share the probe and the change of layer 1, bit for
    bit the numbers of their own configs (tests/test_nn.py). (`bn` changes nothing.)"""
    return TrainConfig(spec=spec_of(config, True)._replace(norm="switch"), optimizer="sgd",
                       batch_size=config.batch_size)


class _Bands:
    """The percentile bands of every probed step, taken as the runner's probes arrive."""

    def __init__(self, config: CovariateShiftConfig):
        self.config = config
        self.q: dict[str, np.ndarray] = {}  # variant -> (R, P, 3, width)
        self.seen: dict[str, np.ndarray] = {}  # variant -> (P,) columns taken

    def take(self, results: dict) -> None:
        for variant, r in results.items():
            if r.probes is None:
                continue
            h = r.probes[1]  # (R, P, n, width)
            if variant not in self.q:
                self.q[variant] = np.full(h.shape[:2] + (len(PERCENTILES), h.shape[-1]),
                                          np.nan)
                self.seen[variant] = np.zeros(h.shape[1], bool)
            new = (r.probed() if not r.done else np.ones(h.shape[1], bool)) & ~self.seen[variant]
            for col in np.flatnonzero(new):
                with np.errstate(invalid="ignore"):  # a diverged run's columns are NaN
                    self.q[variant][:, col] = np.percentile(
                        h[:, col], PERCENTILES, axis=1).transpose(1, 0, 2)
                self.seen[variant][col] = True

    def tables(self, results: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(bands, units) of the columns every variant has so far."""
        bands, units = [], []
        for variant, r in results.items():
            if variant not in self.q:
                continue
            cols = np.flatnonzero(self.seen[variant])
            b, u = _band_tables(variant, self.config.seeds, r.probe_steps[cols],
                                self.q[variant][:, cols], r.divergence.flag)
            bands.append(b), units.append(u)
        if not bands:
            return (pd.DataFrame(columns=["step", "variant", "seed", "unit", "p15", "p50",
                                          "p85"]),
                    pd.DataFrame(columns=["variant", "seed", "unit", "drift", "spread_ratio"]))
        return pd.concat(bands, ignore_index=True), pd.concat(units, ignore_index=True)


def _band_tables(variant, seeds, steps, q, diverged):
    """Long tables from the percentiles q (R, P, 3, width) at `steps` (P,)."""
    n_runs, n_probes, _, width = q.shape
    rows = pd.DataFrame({
        "step": np.repeat(steps, width)[None].repeat(n_runs, 0).ravel(),
        "variant": variant,
        "seed": np.repeat(np.asarray(seeds), n_probes * width),
        "unit": np.tile(np.arange(width), n_runs * n_probes),
        "p15": q[:, :, 0].ravel(), "p50": q[:, :, 1].ravel(), "p85": q[:, :, 2].ravel()})
    med, spread = q[:, :, 1], q[:, :, 2] - q[:, :, 0]  # (R, P, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        drift = med.max(1) - med.min(1)  # (R, width)
        ratio = spread.max(1) / np.maximum(spread.min(1), 1e-12)
    drift[diverged], ratio[diverged] = np.nan, np.nan
    units = pd.DataFrame({"variant": variant, "seed": np.repeat(np.asarray(seeds), width),
                          "unit": np.tile(np.arange(width), n_runs),
                          "drift": drift.ravel(), "spread_ratio": ratio.ravel()})
    return rows, units


def compile_ahead(config: CovariateShiftConfig, raw_keys, data) -> threading.Thread:
    """Compile 1b's programs (the draws, and the change of layer 1, one for BN and plain) in a
    background thread, while the nets train: XLA compiles without holding Python's lock, and
    the calls after training find them compiled (the same shapes: no second compile)."""
    def compile_all():
        try:
            shape = (spec_of(config, True).n_in, config.width)  # W1's
            probes.perturbation_draws_seeds.lower(raw_keys, shape).compile()
            draws = jax.eval_shape(lambda k: probes._draws_seeds(k, shape), raw_keys)
            spec = train_config(config).spec
            params = jax.eval_shape(lambda: jax.vmap(lambda k: mlp_init(k, spec, 1.0)[0])(
                jax.random.split(jax.random.key(0), len(raw_keys))))  # shapes only
            probes.perturb_layer1_runs.lower(params, draws, data.x_train, data.y_train,
                                             spec, SIZES).compile()
        except Exception:  # noqa: BLE001  the call after training compiles, and says what is wrong
            pass
    thread = threading.Thread(target=compile_all, name="bnjax-compile-1b", daemon=True)
    thread.start()
    return thread


def frames_every(steps: int, chunk: int, frames: int = 6) -> int:
    """Chunks between two partial results: about `frames` over the run. Each one is a new live
    drawing, which costs the training thread as much as a few chunks of training."""
    return max(1, -(-steps // chunk) // (frames - 1))


def run_covariate_shift(config: CovariateShiftConfig, progress=None) -> CovariateShiftResult:
    """Experiments 1a and 1b on BN and plain nets trained side by side on the same seeds and
    batches. `progress(fraction, message)` after every chunk, with a partial result (the bands
    so far) as a third argument about six times over the run, from the first chunk on
    (`frames_every`)."""
    data = load_digits()
    jobs = {BN: runs.Job(train_config(config), hparams(lr=config.lr, bn=1.0), config.seeds),
            PLAIN: runs.Job(train_config(config), hparams(lr=config.lr, bn=0.0), config.seeds)}
    bands = _Bands(config)
    every = frames_every(config.steps, CHUNK)
    # Each seed's change of layer 1 comes from fold_in(key(seed), 1), as it always has (drawn
    # inside the program, from the seeds' raw keys).
    raw_keys = np.stack([runs.key_data(s) for s in config.seeds])
    ahead = []

    def on_chunk(results):
        bands.take(results)
        step = min(int(r.steps_done.min()) for r in results.values())
        report(results, step)  # (a viewer who left stops it here: nothing more starts)
        # The nets train: 1b's programs compile meanwhile, from the second chunk on (the
        # first chunk's drawing goes first: it is the page's first chart).
        if not ahead and step > CHUNK:
            ahead.append(compile_ahead(config, raw_keys, data))

    def report(results, step: int):
        if progress is None:
            return
        chunks = step // CHUNK
        if chunks < 1 or (chunks % every and chunks > 1 and step < config.steps):
            progress(0.95 * step / config.steps, f"step {step} of {config.steps}")
            return  # no new frame for the live chart: its first is the first chunk's
        b, u = bands.tables(results)
        partial = CovariateShiftResult(config, {}, b, u, pd.DataFrame(), pd.DataFrame(),
                                       pd.DataFrame(), done=False,
                                       step=int(b["step"].max()) if len(b) else 0)
        progress(0.95 * step / config.steps, f"step {step} of {config.steps}", partial)

    results = runs.train_together(jobs, config.steps, data, chunk=CHUNK, probe=PROBES,
                                  on_chunk=on_chunk)
    bands.take(results)
    if progress is not None:
        progress(0.96, "changing layer 1 of the trained nets")
    band_table, unit_table = bands.tables(results)
    x, y = data.x_train, data.y_train
    for thread in ahead:
        thread.join()
    perturb, layers, runs_rows, diverged = [], [], [], {}
    for variant, r in results.items():
        spec = r.config.spec
        div = r.divergence.flag
        diverged[variant] = bool(div.any())
        d_aff, d_rand, r_aff, r_rand, dlogit3, m_aff, m_rand = (np.asarray(a) for a in
                                                                probes.perturb_seeds(
                                                                    r.carry.params, raw_keys,
                                                                    x, y, spec, SIZES))
        acc = r.probes[0][0]  # (R, P) test accuracy at every probe
        for i, seed in enumerate(config.seeds):
            nan = np.nan if div[i] else 0.0  # a diverged net has nothing to perturb
            runs_rows.append({"variant": variant, "seed": seed, "diverged": bool(div[i]),
                              "test_acc": float(acc[i, -1]),
                              "final_loss": np.nan if div[i]
                              else float(np.nanmean(r.loss[i, -50:])),
                              "w1x3_dlogit": float(dlogit3[i]) + nan})
            for j, size in enumerate(SIZES):
                for kind, dl, rc, mc in (("affine", d_aff, r_aff, m_aff),
                                         ("random", d_rand, r_rand, m_rand)):
                    perturb.append({"variant": variant, "seed": seed, "size": size,
                                    "kind": kind, "dloss": float(dl[i, j]) + nan})
                    for layer in range(spec.depth):
                        layers.append({"variant": variant, "seed": seed, "size": size,
                                       "kind": kind, "layer": layer + 1,
                                       "rel_change": float(rc[i, j, layer]) + nan,
                                       "moment_change": float(mc[i, j, layer]) + nan})
    perturb, layers, runs_df = pd.DataFrame(perturb), pd.DataFrame(layers), pd.DataFrame(runs_rows)
    if progress is not None:
        progress(1.0, "done")
    return CovariateShiftResult(config, _summary(unit_table, perturb, layers, runs_df),
                                band_table, unit_table, perturb, layers, runs_df, diverged,
                                per_seed=seed_table(unit_table, perturb, layers, runs_df),
                                step=config.steps)


def later_layers(layers: pd.DataFrame, size: float, kind: str) -> pd.DataFrame:
    """variant, seed, values_change, moments_change: how much a change of layer 1 (of `kind`
    and `size`) moved what layers 2..depth see, the mean over those layers, per run."""
    lay = layers[(layers["size"] == size) & (layers["kind"] == kind) & (layers["layer"] > 1)]
    out = lay.groupby(["variant", "seed"], sort=False)[["rel_change", "moment_change"]].mean(
    ).reset_index()
    return out.rename(columns={"rel_change": "values_change",
                               "moment_change": "moments_change"})


def seed_table(units: pd.DataFrame, perturb: pd.DataFrame, layers: pd.DataFrame,
               runs: pd.DataFrame, size: float = REFERENCE_SIZE) -> pd.DataFrame:
    """One row per variant and seed (see `CovariateShiftResult.per_seed`); a diverged run's
    numbers are NaN."""
    out = runs[["variant", "seed", "diverged", "test_acc", "w1x3_dlogit"]].copy()
    out.loc[out["diverged"], "test_acc"] = np.nan
    u = units.groupby(["variant", "seed"], sort=False)[["drift", "spread_ratio"]].mean()
    p = perturb[perturb["size"] == size].pivot_table(
        index=["variant", "seed"], columns="kind", values="dloss", dropna=False)
    p = p.rename(columns={"affine": "affine_dloss", "random": "random_dloss"})
    p["affine_dloss"] = p["affine_dloss"].abs()
    rnd = later_layers(layers, size, "random").set_index(["variant", "seed"])
    aff = later_layers(layers, size, "affine").set_index(["variant", "seed"])
    out = out.join(u, on=["variant", "seed"]).join(
        p[["affine_dloss", "random_dloss"]], on=["variant", "seed"]).join(
        rnd, on=["variant", "seed"]).join(
        aff[["values_change"]].rename(columns={"values_change": "affine_values_change"}),
        on=["variant", "seed"])
    return out.reset_index(drop=True)


def _summary(units: pd.DataFrame, perturb: pd.DataFrame, layers: pd.DataFrame,
             runs: pd.DataFrame) -> dict[str, float]:
    """Seed means (over the runs that did not diverge) of the numbers the page states."""
    out: dict[str, float] = {}
    ref = perturb[perturb["size"] == REFERENCE_SIZE]
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        u = units[units["variant"] == variant].groupby("seed")[["drift", "spread_ratio"]].mean()
        out[f"drift_{tag}"] = float(u["drift"].mean())
        out[f"spread_ratio_{tag}"] = float(u["spread_ratio"].mean())
        p = ref[ref["variant"] == variant]
        out[f"affine_dloss_{tag}"] = float(p[p["kind"] == "affine"]["dloss"].abs().mean())
        out[f"random_dloss_{tag}"] = float(p[p["kind"] == "random"]["dloss"].mean())
        r = runs[runs["variant"] == variant]
        out[f"w1x3_dlogit_{tag}"] = float(r["w1x3_dlogit"].mean())
        out[f"acc_{tag}"] = float(r["test_acc"].mean())
        out[f"diverged_{tag}"] = float(r["diverged"].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        out["drift_ratio"] = float(np.float64(out["drift_plain"]) / out["drift_bn"])
    # Seeds on which a random change of W1 cost BN less than plain (paired by seed).
    rnd = ref[ref["kind"] == "random"].pivot(index="seed", columns="variant", values="dloss")
    out["random_bn_lower_seeds"] = float((rnd[BN] < rnd[PLAIN]).sum())
    out["n_seeds"] = float(len(rnd))
    out["n_compared_seeds"] = float(rnd.notna().all(axis=1).sum())  # neither net diverged
    out["n_units"] = float(units["unit"].nunique())
    # Mean over the later layers (2..depth) and seeds of how much a random change of W1 moves
    # what each layer sees: its values, and the mean and spread of its input distribution.
    lay = layers[(layers["size"] == REFERENCE_SIZE) & (layers["layer"] > 1)
                 & (layers["kind"] == "random")]
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        v = lay[lay["variant"] == variant]
        out[f"random_values_change_{tag}"] = float(v["rel_change"].mean())
        out[f"random_moments_change_{tag}"] = float(v["moment_change"].mean())
    out["reference_size"] = REFERENCE_SIZE
    return out


PRESETS: dict[str, CovariateShiftConfig] = {
    "the lecture's picture: 8x64 ReLU, lr 0.05": CovariateShiftConfig(),
    "Ioffe's setup: 3x100 sigmoid, batch 60": CovariateShiftConfig(
        depth=3, width=100, activation="sigmoid", batch_size=60, lr=0.5),
    "a larger step: lr 0.2": CovariateShiftConfig(lr=0.2),
}


def shrink(config: CovariateShiftConfig, steps: int = 50) -> CovariateShiftConfig:
    """A short version of `config` for smoke tests: fewer steps, the same shapes (so the same
    compiled programs: compiling, not stepping, is what costs)."""
    return replace(config, steps=steps)


# The code the page shows ("The code behind this page"): the drift probe and the change of layer 1.
SHOWN_CODE = (probes.last_layer_input, probes.perturb_layer1)
