"""Page 3, layer decoupling: "each layer learns more independently".

Teaches, with BN and plain nets trained on the same seeds and batches:
  the concrete example first: what "coupling" means. Multiply layer 1's weights W1 of the trained
      nets by c (2 by default) and look at a later layer: with BN its inputs and the gradient of
      its weights do not change at all (BN divides the factor out); without BN they change by as
      much as their own size. Later layers are decoupled from the *scale* of earlier ones.
  2a  internal covariate shift as Santurkar et al. 2018 define it (Def. 2.1): for layer i, the
      gradient G of W_i, and G' after layers 1..i-1 took their SGD step, on the same batch;
      cos(G, G') and ||G - G'|| / ||G|| per layer over training. BN does *not* make this smaller
      (the paper: "similar, or even worse"), and this run shows it.
  2b  noisy BN: after every BN layer, noise whose mean and scale are redrawn every step
      (Santurkar Sec. 2.1), the same noise on the plain net as a control: learning survives a
      layer input distribution that never sits still.
  2c  the synthesis: BN decouples the *statistics* of consecutive layers exactly (1b's affine
      change of layer 1 does not reach any later layer), not their *gradients* (2a).
Leaves out: the loss-landscape explanation of why BN helps anyway (page 5).

How it runs: config -> `runs.train_together` (BN and plain side by side, clean or noisy, the
probes `probes.test_accuracy` and, clean, `probes.def21` every PROBE_EVERY steps; partial results
after every chunk to `progress(fraction, message, partial)`) -> on the trained clean nets,
in one program (`probes.decoupling_runs`; its random draws made on the host), page 2's
affine change of layer 1 (2c) and the example W1 -> c * W1 (`probes.rescale_layer1`),
compiled in a background thread while the nets train (`compile_ahead`) -> summary. Clean and
noisy nets, BN and plain, share one static config (the noise scale and BN on/off are data): the
same compiled programs.

    result = run_decoupling(DecouplingConfig(seed=0))
    result.summary["ics_cos_bn"], result.summary["ics_cos_plain"]
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import jax
import numpy as np
import pandas as pd

from bnjax import probes, runs
from bnjax.data import load_digits
# Page 2's tick (steps between reports) and its change of layer 1 (2c shows it at REFERENCE_SIZE).
from bnjax.experiments.covariate_shift import CHUNK, REFERENCE_SIZE
from bnjax.nn import MLPSpec
from bnjax.train import TrainConfig, hparams

BN, PLAIN, NOISY_BN, NOISY_PLAIN = "BN", "plain", "noisy BN", "noisy plain"
PROBE_EVERY = 100  # steps between Def. 2.1 probes (a multiple of CHUNK)
LOSS_EVERY = 10  # the learning curves average the batch loss over windows of this many steps
# The concrete example: W1 -> c * W1, each c (traced) in one program. Powers of two, so that
# with eps scaled BN's invariance is exact to the bit; another c (10, say) leaves rounding
# (~1e-6), which now and then flips a ReLU input sitting at 0 (~1e-3 for that layer).
FACTORS = (0.5, 2.0, 8.0)
EXAMPLE_FACTOR = 2.0  # the factor the summary (and the page's default view) reports
N_WEIGHTS = 300  # weights of the example layer drawn in the scatter (a fixed sample)


@dataclass(frozen=True)
class DecouplingConfig:
    """The page's default view: 8x64 ReLU, plain SGD at lr 0.05, 1000 steps, seeds seed..seed+2,
    Def. 2.1 probed every 100 steps, noise a = 0.25 after every BN (or linear) layer."""
    seed: int = 0
    depth: int = 8
    width: int = 64
    activation: str = "relu"
    lr: float = 0.05
    steps: int = 1000
    batch_size: int = 64
    noise: float = 0.25  # a: mean ~ U(-a, a), std ~ U(0, a) per unit, redrawn every step
    n_seeds: int = 3

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))

    def clean(self) -> "DecouplingConfig":
        """The same nets without noise: what `run_gradients` trains."""
        return replace(self, noise=0.0)

    @property
    def mid_layer(self) -> int:
        """The layer (1-based) whose Def. 2.1 cosine the summary reports: 5 of 8."""
        return self.depth // 2 + 1


EXAMPLE_COLUMNS = ["variant", "seed", "factor", "layer", "input_change", "grad_change",
                   "grad_ratio"]
WEIGHT_COLUMNS = ["variant", "seed", "factor", "weight", "g", "g_scaled"]


@dataclass
class DecouplingResult:
    config: DecouplingConfig
    summary: dict[str, float]  # the numbers the verdict states (seed means)
    ics: pd.DataFrame  # step, variant, seed, layer, cos, rel (2a, layers 2..depth)
    curves: pd.DataFrame  # step, variant, seed, loss (2b, window means of the batch loss)
    accuracy: pd.DataFrame  # step, variant, seed, test_acc (2b)
    stats: pd.DataFrame  # variant, seed, layer, rel_change (2c: affine change of layer 1)
    runs: pd.DataFrame  # variant, seed, diverged, test_acc
    diverged: dict[str, bool] = field(default_factory=dict)
    # The concrete example (clean nets): W1 -> factor * W1. Per later layer: the relative change
    # of its input and of its weights' gradient, ||G' - G|| / ||G|| and ||G'|| / ||G||.
    example: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXAMPLE_COLUMNS))
    # A fixed sample of the example layer's weights: each one's gradient before and after.
    weights: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WEIGHT_COLUMNS))
    # While training, the experiment hands partial results of this type to its progress
    # callback (done False): ics, curves and accuracy so far, the rest empty.
    done: bool = True
    step: int = 0  # steps trained by every net in the tables


# ---------------------------------------------------------------------------- the experiment
# config -> `runs.train_together` (BN and plain side by side, the probes every PROBE_EVERY steps)
# -> the program after training (`probes.decoupling_runs`) -> summary.
# BN and plain, clean and noisy nets train with one static config (BN on or off and the noise
# scale are data), so they share their training, probe and after-training programs.

# Every PROBE_EVERY steps, and at step 0. The noisy nets get the same probes once, at the end
# (their test accuracy; their Def. 2.1 numbers are not shown): the same probe program as the
# clean nets', not a second one.
CLEAN_PROBES = (probes.test_accuracy, probes.def21)
NOISY_PROBES = CLEAN_PROBES
ics_probe = probes.ics  # Def. 2.1, as the page shows its code
rescale_probe = probes.rescale_layer1  # the concrete example, as the page shows its code


def example_spec(spec: MLPSpec) -> MLPSpec:
    """The spec the concrete example evaluates with: BN's eps = 0, the one part of BN that does
    not scale with W1. (With eps = 1e-5 the changes are ~1e-6, and up to ~1e-3 where the
    rounding flips a ReLU input sitting at 0.) Plain nets have no eps: the rest is the same."""
    return spec._replace(eps=0.0)


def train_config(config: DecouplingConfig, bn: bool = True, noisy: bool = False) -> TrainConfig:
    """Plain SGD, with the per-step noise built in ("noise": no dropout masks, which would cost
    as much again), and BN or not as data (norm "switch": `hparams(bn=1.0 or 0.0)`). The noise
    scale is data too (`hparams(noise=...)`: 0 draws nothing and adds exactly nothing), so BN
    and plain, clean and noisy nets all train in one compiled program, and share every program
    after it (bit for bit the numbers of norm "batch" and "none" nets without noise,
    tests/test_decoupling.py). (`bn` and `noisy` change nothing: the hparams say which.)

    Measured (timeline, fresh servers, 2 cores): the clean nets in a program without the noise
    (stochastic False: page 2's program, 0.76 s to compile alone instead of 1.65 s, the same
    numbers to the bit) draw the first chart ~0.6 s sooner (5.25 -> 4.6 s), but the noisy nets
    then compile their own training program (~2 s), which found no idle core to hide in (while
    the clean nets train or run the program after training, both cores are busy): the page
    completed 1.5-2 s later (12.0 -> 13.7-14.2 s). Kept shared."""
    spec = MLPSpec(depth=config.depth, width=config.width, activation=config.activation,
                   norm="switch")
    return TrainConfig(spec=spec, optimizer="sgd", batch_size=config.batch_size,
                       stochastic="noise")


def train_hparams(config: DecouplingConfig, bn: bool, noisy: bool):
    """The traced half of a net's setup: learning rate, BN on or off, noise scale (0: clean)."""
    return hparams(lr=config.lr, noise=config.noise if noisy else 0.0, bn=1.0 if bn else 0.0)


def _after_args(config: DecouplingConfig, data) -> tuple:
    """The arguments of the program after training (`probes.decoupling_runs`) for the trained
    clean nets of one variant, as shapes (what `compile_ahead` compiles it for) and the static
    ones: (args, kwargs)."""
    spec = train_config(config).spec
    n = len(config.seeds)
    params, state = runs.net_shapes(spec, n)
    draws = tuple(jax.ShapeDtypeStruct((n, config.width), np.float32) for _ in range(2))
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    factors = np.asarray(FACTORS, np.float32)
    return (params, state, draws, x, y, factors), dict(spec=spec, example=example_spec(spec),
                                                       sizes=(REFERENCE_SIZE,))


def compile_ahead(config: DecouplingConfig, data) -> tuple:
    """Compile the program after training (`probes.decoupling_runs`) in a background thread
    while the clean nets train (XLA compiles without holding Python's lock); the call after
    training waits for it and finds it compiled (the same shapes: no second compile,
    tests/test_decoupling.py). On 2 cores it slows training about as much as it saves after it:
    a small gain (timeline, fresh servers, 4 A/B pairs on a shared machine: the page complete
    0.25 s sooner in 3, 0.3 s later in 1; the first chart unchanged). Returns (thread, event
    set once it is compiled or failed)."""
    ready = threading.Event()

    def compile_all():
        try:
            args, kwargs = _after_args(config, data)
            probes.decoupling_runs.lower(*args, **kwargs).compile()
        except Exception:  # noqa: BLE001  the call after training compiles, and says what is wrong
            pass
        finally:
            ready.set()
    thread = threading.Thread(target=compile_all, name="bnjax-compile-after-training",
                              daemon=True)
    thread.start()
    return thread, ready


def _tables(config: DecouplingConfig, results: dict, final: bool) -> dict:
    """ics, curves, accuracy and runs tables from the runner's (partial) results: the columns
    and windows every run has completed. (Built with numpy, one frame per variant and table:
    the page rebuilds them after every chunk while the nets train.)"""
    seeds = np.asarray(config.seeds, np.int64)
    n, layers = len(seeds), np.arange(2, config.depth + 1, dtype=np.int64)
    ics, curves, accuracy, runs_rows = [], [], [], []
    for variant, r in results.items():
        div = r.divergence.flag
        nan = np.where(div, np.nan, 0.0)  # (n,) a diverged run's numbers mean nothing
        done = config.steps if final else int(r.steps_done.min())
        cols = [] if r.probes is None else np.flatnonzero(  # (live: the columns measured so far)
            r.probe_steps <= done if final else r.probed())
        if len(cols) and r.probes is not None and len(r.probes):
            (acc, _), rest = r.probes[0], r.probes[1:]
            if rest and variant in (BN, PLAIN):
                at = [c for c in cols if r.probe_steps[c] < config.steps
                      and r.probe_steps[c] % PROBE_EVERY == 0]
                if at:
                    cos, rel = rest[0]  # (n, P, depth - 1), rows step-major, then seed, layer
                    k = len(at) * n * len(layers)
                    value = lambda a: (a[:, at].astype(np.float64)  # noqa: E731
                                       + nan[:, None, None]).transpose(1, 0, 2).ravel()
                    ics.append(pd.DataFrame({
                        "step": np.repeat(r.probe_steps[at].astype(np.int64), n * len(layers)),
                        "variant": [variant] * k,
                        "seed": np.tile(np.repeat(seeds, len(layers)), len(at)),
                        "layer": np.tile(layers, len(at) * n),
                        "cos": value(cos), "rel": value(rel)}))
            measured = [c for c in cols if r.probe_steps[c] > 0]
            accuracy.append(pd.DataFrame({"step": np.tile(r.probe_steps[measured], n),
                                          "variant": variant,
                                          "seed": np.repeat(seeds, len(measured)),
                                          "test_acc": acc[:, measured].ravel()}))
        w = min(done, config.steps) // LOSS_EVERY * LOSS_EVERY
        win = r.loss[:, :w].reshape(n, -1, LOSS_EVERY).mean(-1)  # (n, windows)
        steps = np.arange(win.shape[1]) * LOSS_EVERY + LOSS_EVERY
        curves.append(pd.DataFrame({"step": np.tile(steps, n), "variant": variant,
                                    "seed": np.repeat(seeds, len(steps)),
                                    "loss": win.ravel()}))
        if final:
            runs_rows += [{"variant": variant, "seed": int(seed), "diverged": bool(div[i]),
                           "test_acc": float(r.probes[0][0][i, -1])}
                          for i, seed in enumerate(seeds)]
    empty = lambda cols: pd.DataFrame(columns=cols)  # noqa: E731
    return {"ics": pd.concat(ics, ignore_index=True) if ics
            else pd.DataFrame([], columns=["step", "variant", "seed", "layer", "cos", "rel"]),
            "curves": pd.concat(curves, ignore_index=True) if curves
            else empty(["step", "variant", "seed", "loss"]),
            "accuracy": pd.concat(accuracy, ignore_index=True) if accuracy
            else empty(["step", "variant", "seed", "test_acc"]),
            "runs": pd.DataFrame(runs_rows, columns=["variant", "seed", "diverged", "test_acc"])}


def _run(config: DecouplingConfig, noisy: bool, progress) -> DecouplingResult:
    """Train BN and plain (clean or noisy) side by side; measure the clean ones once trained.
    `progress(fraction, message, partial)` gets a partial result (done False) after every
    chunk: the curves and probes so far."""
    data = load_digits()
    seeds = config.seeds
    names = (NOISY_BN, NOISY_PLAIN) if noisy else (BN, PLAIN)
    jobs = {name: runs.Job(train_config(config, bn, noisy), train_hparams(config, bn, noisy),
                           seeds) for name, bn in zip(names, (True, False))}
    train_share = 0.95 if noisy else 0.85
    ahead = []  # (thread, ready): the program after training, compiling while the nets train

    def on_chunk(together):
        results = runs.split_joint(together[""], jobs)
        step = min(int(r.steps_done.min()) for r in results.values())
        if progress is not None:
            t = _tables(config, results, final=False)
            partial = DecouplingResult(config, {}, t["ics"], t["curves"], t["accuracy"],
                                       pd.DataFrame(columns=["variant", "seed", "layer",
                                                             "rel_change"]),
                                       t["runs"], done=False, step=step)
            progress(train_share * step / config.steps, f"step {step} of {config.steps}",
                     partial)
        # The clean nets train: the program after training compiles meanwhile, from the first
        # chunk on, beside the probes' (`probe_lag`: theirs starts once training's is in).
        # Waiting for the probes' first made the page complete later (fresh servers, A/B
        # alternated, 2026-12-04: 16.1-17.3 s against 14.6-16.4 s).
        if not noisy and not ahead and step >= CHUNK:
            ahead.append(compile_ahead(config, data))

    # BN and plain as one job (`runs.joint_job`): 3 calls per chunk instead of 4.
    results = runs.split_joint(runs.train_together(
        {"": runs.joint_job(jobs)}, config.steps, data, chunk=CHUNK,
        probe=NOISY_PROBES if noisy else CLEAN_PROBES,
        # The noisy nets' test accuracy is shown once trained (2b), their Def. 2.1 never: one
        # probe at the end (3 calls instead of 33).
        probe_every=config.steps if noisy else PROBE_EVERY, probe_at_start=not noisy,
        # The first chart is the training loss: it does not wait for the probes to compile.
        probe_lag=not noisy, on_chunk=on_chunk)[""], jobs)
    t = _tables(config, results, final=True)
    diverged = {name: bool(r.divergence.any()) for name, r in results.items()}
    stats, example, weights = [], [], []
    if not noisy:
        if progress is not None:
            progress(train_share, "changing layer 1 of the trained nets")
        x, y, factors = data.x_train, data.y_train, np.asarray(FACTORS, np.float32)
        # Each seed's change of layer 1 comes from fold_in(key(seed), 1), as on page 2.
        # (drawn on the host, bit for bit as page 2's program draws them: no threefry to compile)
        for _, ready in ahead:  # (the program after training: compiled, or compiling)
            ready.wait()
        draws = probes.perturbation_draws_host(np.stack([runs.key_data(s) for s in seeds]),
                                               config.width)
        # The scatter's sample of the example layer's weights: the same for every net and seed.
        pick = np.random.default_rng(0).choice(config.width * config.width,
                                               min(N_WEIGHTS, config.width * config.width),
                                               replace=False)
        for variant, r in results.items():
            spec, div = r.config.spec, r.divergence.flag
            # 2c: the affine change of layer 1 (experiment 1b) on the clean nets; and the
            # concrete example: W1 -> c * W1 on the trained nets, the whole training set: one
            # program (`probes.decoupling_runs`, compiled while the nets trained).
            rel_aff, rescaled = probes.decoupling_runs(
                r.carry.params, r.carry.state, draws, x, y, factors, spec=spec,
                example=example_spec(spec), sizes=(REFERENCE_SIZE,))
            rel_aff = np.asarray(rel_aff)[:, 0]  # 2c shows page 2's reference size only
            for i, seed in enumerate(seeds):
                for layer in range(spec.depth):
                    stats.append({"variant": variant, "seed": seed, "layer": layer + 1,
                                  "rel_change": float(rel_aff[i, layer])
                                  + (np.nan if div[i] else 0.0)})
            rel_h, rel_g, ratio_g, g0, g1 = (np.asarray(a) for a in rescaled)
            for i, seed in enumerate(seeds):
                nan = np.nan if div[i] else 0.0
                for f, factor in enumerate(FACTORS):
                    for layer in range(1, spec.depth):  # layers 2..depth: the later layers
                        example.append({"variant": variant, "seed": seed, "factor": factor,
                                        "layer": layer + 1,
                                        "input_change": float(rel_h[i, f, layer]) + nan,
                                        "grad_change": float(rel_g[i, f, layer]) + nan,
                                        "grad_ratio": float(ratio_g[i, f, layer]) + nan})
                    weights.append(pd.DataFrame({
                        "variant": variant, "seed": seed, "factor": factor, "weight": pick,
                        "g": g0[i].ravel()[pick] + nan, "g_scaled": g1[i, f].ravel()[pick] + nan}))
    result = DecouplingResult(
        config, {}, t["ics"], t["curves"], t["accuracy"],
        pd.DataFrame(stats, columns=["variant", "seed", "layer", "rel_change"]),
        t["runs"], diverged, pd.DataFrame(example, columns=EXAMPLE_COLUMNS),
        pd.concat(weights, ignore_index=True) if weights
        else pd.DataFrame(columns=WEIGHT_COLUMNS), step=config.steps)
    result.summary = _summary(result)
    if progress is not None:
        progress(1.0, "done")
    return result


def run_gradients(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiments 2a and 2c: BN and plain nets without noise (`config.noise` is not used; the
    page passes `config.clean()` so the noise slider does not retrain them)."""
    return _run(config, False, progress)


def run_noisy(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiment 2b: noisy BN and, as the control, noisy plain, with noise `config.noise`."""
    return _run(config, True, progress)


def run_decoupling(config: DecouplingConfig, progress=None) -> DecouplingResult:
    """Experiments 2a, 2b and 2c: `run_gradients` and `run_noisy` in one result."""
    scaled = (lambda lo, hi: lambda f, m, *partial: progress(lo + (hi - lo) * f, m, *partial)
              ) if progress else None
    clean = run_gradients(config, scaled(0.0, 0.4) if scaled else None)
    noisy = run_noisy(config, scaled(0.4, 1.0) if scaled else None)
    return merge(clean, noisy)


def merge(*results: DecouplingResult) -> DecouplingResult:
    """One result from the parts (the tables concatenated, the summaries recomputed)."""
    def cat(name):
        parts = [getattr(r, name) for r in results if len(getattr(r, name))]
        return (pd.concat(parts, ignore_index=True) if parts
                else getattr(results[0], name).iloc[:0].copy())

    out = DecouplingResult(results[-1].config, {}, cat("ics"), cat("curves"), cat("accuracy"),
                           cat("stats"), cat("runs"),
                           {k: v for r in results for k, v in r.diverged.items()},
                           cat("example"), cat("weights"))
    out.summary = _summary(out)
    return out


def _summary(result: DecouplingResult) -> dict[str, float]:
    """Seed means of the numbers the page states (the variants present in `result`)."""
    c, out = result.config, {}
    ics, present = result.ics, set(result.runs["variant"])
    for variant, tag in ((BN, "bn"), (PLAIN, "plain")):
        if variant not in present:
            continue
        v = ics[ics["variant"] == variant]
        per_layer = v.groupby("layer")[["cos", "rel"]].mean()  # mean over steps and seeds
        out[f"ics_cos_{tag}"] = float(per_layer.loc[c.mid_layer, "cos"])
        out[f"ics_rel_{tag}"] = float(per_layer.loc[c.mid_layer, "rel"])
        out[f"ics_gap_{tag}"] = 1.0 - out[f"ics_cos_{tag}"]  # 1 - cos: 0 = fully decoupled
        out[f"ics_cos_last_{tag}"] = float(per_layer.loc[c.depth, "cos"])
        # The median over probes and seeds: robust to the rare step where a plain net's gradient
        # turns round (a loss spike), which pulls the plain mean down.
        out[f"ics_cos_median_{tag}"] = float(v[v["layer"] == c.mid_layer]["cos"].median())
        s = result.stats[(result.stats["variant"] == variant) & (result.stats["layer"] > 1)]
        out[f"stats_change_{tag}"] = float(s["rel_change"].mean())  # layers 2..depth
        e = result.example[(result.example["variant"] == variant)
                           & (result.example["factor"] == EXAMPLE_FACTOR)]
        at_mid = e[e["layer"] == c.mid_layer]
        # W1 x 2 at the example layer (seed means), and the largest change over layers 2..depth.
        out[f"example_grad_{tag}"] = float(at_mid["grad_change"].mean())
        out[f"example_input_{tag}"] = float(at_mid["input_change"].mean())
        out[f"example_ratio_{tag}"] = float(at_mid["grad_ratio"].mean())
        out[f"example_grad_max_{tag}"] = float(e["grad_change"].max())
    for variant, tag in ((BN, "bn"), (PLAIN, "plain"), (NOISY_BN, "noisy_bn"),
                         (NOISY_PLAIN, "noisy_plain")):
        if variant not in present:
            continue
        r = result.runs[result.runs["variant"] == variant]
        out[f"acc_{tag}"] = float(r["test_acc"].mean())
        out[f"diverged_{tag}"] = float(r["diverged"].sum())
        late = result.curves[(result.curves["variant"] == variant)
                             & (result.curves["step"] > 0.9 * c.steps)]
        out[f"late_loss_{tag}"] = float(late["loss"].mean())
    out["mid_layer"] = float(c.mid_layer)
    out["noise"] = float(c.noise)
    out["n_seeds"] = float(c.n_seeds)
    return out


PRESETS: dict[str, DecouplingConfig] = {
    "Santurkar's setup: 8x64 ReLU, noise 0.25": DecouplingConfig(),
    "stronger noise: a = 0.5": DecouplingConfig(noise=0.5),
    "too much noise: a = 1": DecouplingConfig(noise=1.0),
    "a larger step: lr 0.2": DecouplingConfig(lr=0.2),
}


def shrink(config: DecouplingConfig, steps: int = 50) -> DecouplingConfig:
    """A short version of `config` for smoke tests: fewer steps, the same shapes (so the same
    compiled programs: compiling, not stepping, is what costs)."""
    return replace(config, steps=steps)
