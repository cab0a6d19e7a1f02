"""The Overview (dashboard.py): four student questions, each answered by one page, with the
headline numbers of that page's default view, measured live.

Teaches nothing new on its own: it is the table of contents with numbers. Every number a card
states comes from the `summary` of the page's own experiment at the page's default config, so
the Overview and the page agree and share one cached run.
Leaves out: any Streamlit. The page runs the experiments through `ui.run` (the cache every page
shares); `warm_up` only starts a background thread that calls a runner it is given.

Experiment modules are imported lazily by name: a page whose module does not exist yet shows
as "coming", and importing this module does not compile anything.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

_log = logging.getLogger("bnjax.overview")


@dataclass(frozen=True)
class Run:
    """One experiment behind a card: `bnjax.experiments.<module>.<function>(<config>())`, or
    `<function>(<config>().<view>())` when the page runs a view of its config."""
    module: str
    function: str
    config: str
    view: str = ""  # a method of the config returning the config the page actually runs


@dataclass(frozen=True)
class Card:
    """One question: the page (its label and question come from ui/frame.py's page table), the
    answer in one sentence, and the runs whose summaries give the measured numbers."""
    page: str  # the page file, a path of ui/frame.py's table
    answer: str  # one sentence: what the page's experiments show
    runs: tuple[Run, ...]  # the page's default-view experiments the headline reads
    headline: Callable[[Sequence[dict]], str]  # summaries (one per run) -> the measured numbers
    holds: Callable[[Sequence[dict]], bool]  # do these numbers support the answer?
    metrics: Callable[[Sequence[dict]], list]  # summaries -> [(label, value text)], big numbers


def _f(v: float, spec: str = ".2f") -> str:
    """A number for a sentence; "n/a" when a run diverged (NaN)."""
    return "n/a" if v is None or not math.isfinite(v) else format(v, spec)


def _tiny(v: float) -> str:
    """A loss change that may be exactly zero or tiny: "0", "3e-07", "0.42"."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return "0" if v == 0 else (f"{v:.0e}" if abs(v) < 1e-3 else f"{v:.2f}")


def _covariate_headline(s: Sequence[dict]) -> str:
    m = s[0]
    return (f"Over training, a deep unit's median input drifts by {_f(m['drift_plain'])} without "
            f"BN and {_f(m['drift_bn'])} with BN. Rescaling and shifting layer 1 changes the "
            f"training loss by {_tiny(m['affine_dloss_plain'])} without BN and "
            f"{_tiny(m['affine_dloss_bn'])} with BN.")


def _decoupling_headline(s: Sequence[dict]) -> str:
    m, noisy = s
    return (f"Gradient agreement of a middle layer before and after the layers below it step "
            f"(cosine, 1 = no coupling): {_f(m['ics_cos_plain'])} without BN, "
            f"{_f(m['ics_cos_bn'])} with BN. Test accuracy with BN {_f(m['acc_bn'], '.1%')}; "
            f"with noise that shifts every BN layer's output each step "
            f"{_f(noisy['acc_noisy_bn'], '.1%')}.")


def _regularization_headline(s: Sequence[dict]) -> str:
    noise, abl = s
    return (f"One example's normalized value changes with its batch-mates: std "
            f"{_f(noise['noise_std_b16'])} at batch size 16, falling as "
            f"B^{_f(noise['noise_slope'])} (1/√B would be B^-0.50). Accuracy kept while units are "
            f"removed (area under the curve): plain {_f(abl['auc_plain'])}, BN "
            f"{_f(abl['auc_bn_frozen'])}, dropout {_f(abl['auc_dropout'])}.")


def _landscape_headline(s: Sequence[dict]) -> str:
    m = s[0]
    return (f"Good learning-rate × init cells (test accuracy ≥ 90%): BN "
            f"{_f(m['good_cells_bn'], '.0f')} of {_f(m['n_cells'], '.0f')}, plain "
            f"{_f(m['good_cells_plain'], '.0f')}.")


def _basics_headline(s: Sequence[dict]) -> str:
    m = s[0]
    return (f"The same trained net scores {_f(m['acc_train_batch1'], '.1%')} in train mode on "
            f"test batches of one image (x̂ = 0, so every output is β) and "
            f"{_f(m['acc_eval_population'], '.1%')} in eval mode.")


def _covariate_metrics(s):
    m = s[0]
    return [("median drift, plain", _f(m["drift_plain"])), ("median drift, BN", _f(m["drift_bn"]))]


def _decoupling_metrics(s):
    m = s[0]
    return [("gradient cosine, plain", _f(m["ics_cos_plain"])),
            ("gradient cosine, BN", _f(m["ics_cos_bn"]))]


def _regularization_metrics(s):
    noise, abl = s
    return [("batch-noise slope", _f(noise["noise_slope"])),
            ("ablation AUC, BN", _f(abl["auc_bn_frozen"])),
            ("ablation AUC, dropout", _f(abl["auc_dropout"]))]


def _landscape_metrics(s):
    m = s[0]
    n = _f(m["n_cells"], ".0f")
    return [("good cells, BN", f"{_f(m['good_cells_bn'], '.0f')} / {n}"),
            ("good cells, plain", f"{_f(m['good_cells_plain'], '.0f')} / {n}")]


def _basics_metrics(s):
    m = s[0]
    return [("train mode, test batch of 1", _f(m["acc_train_batch1"], ".1%")),
            ("eval mode", _f(m["acc_eval_population"], ".1%"))]


def _lt(a, b) -> bool:
    return math.isfinite(a) and math.isfinite(b) and a < b


CARDS: tuple[Card, ...] = (
    Card("pages/2_Covariate_shift.py",
         "BN fixes the mean and scale of every unit's input, so a rescale-and-shift of an earlier "
         "layer changes nothing downstream, exactly; other kinds of change still get through.",
         (Run("covariate_shift", "run_covariate_shift", "CovariateShiftConfig"),),
         _covariate_headline,
         lambda s: _lt(s[0]["drift_bn"], s[0]["drift_plain"])
         and _lt(s[0]["affine_dloss_bn"], s[0]["affine_dloss_plain"]),
         _covariate_metrics),
    Card("pages/3_Layer_decoupling.py",
         "Not in the gradient sense: with BN a layer's gradient changes as much or more when the "
         "layers below it move (Santurkar et al. 2018); what BN decouples is the statistics, and "
         "learning survives even when those are shaken every step.",
         (Run("decoupling", "run_gradients", "DecouplingConfig", "clean"),
          Run("decoupling", "run_noisy", "DecouplingConfig")),
         _decoupling_headline,
         lambda s: s[0]["ics_cos_bn"] <= s[0]["ics_cos_plain"] + 0.02
         and s[1]["acc_noisy_bn"] >= s[0]["acc_bn"] - 0.02,
         _decoupling_metrics),
    Card("pages/4_Regularization_noise.py",
         "Through noise: each example's normalized value depends on which examples share its "
         "batch, about as 1/√B; but unlike dropout it does not make the trained net robust to "
         "losing units unless the statistics are recomputed.",
         (Run("regularization", "run_noise_meter", "NoiseConfig"),
          Run("regularization", "run_ablation", "AblationConfig")),
         _regularization_headline,
         lambda s: s[0]["noise_slope"] < 0 and _lt(s[1]["auc_bn_frozen"], s[1]["auc_dropout"]),
         _regularization_metrics),
    Card("pages/5_Hyperparameter_landscape.py",
         "Easier: with BN far more learning-rate × initialization settings train well, mostly "
         "because BN tolerates much larger learning rates; at the same small learning rate it is "
         "not faster.",
         (Run("landscape", "run_landscape", "LandscapeConfig"),),
         _landscape_headline,
         lambda s: _lt(s[0]["good_cells_plain"], s[0]["good_cells_bn"]),
         _landscape_metrics),
)

BASICS = Card("pages/1_BatchNorm_basics.py",
              "In training each unit is normalized with its batch's own mean and variance; at "
              "test time with averages collected during training, so a prediction no longer "
              "depends on the other test examples.",
              (Run("basics", "run_basics", "BasicsConfig"),), _basics_headline,
              lambda s: _lt(s[0]["acc_train_batch1"], s[0]["acc_eval_population"]),
              _basics_metrics)

# The default views warmed in the background, in the order the Overview shows them: page 1,
# then the four cards. (The Overview's own script computes the same runs; the thread goes on
# when the viewer leaves the Overview for a page before they are done.)
WARM_UP: tuple[Run, ...] = BASICS.runs + tuple(r for c in CARDS for r in c.runs)


def exists(card: Card) -> bool:
    """Whether every experiment module behind the card is written (found, not imported)."""
    return all(importlib.util.find_spec(f"bnjax.experiments.{r.module}") is not None
               for r in card.runs)


def resolve(run: Run):
    """`(function, default config)` of a run, or None when its module is not written yet."""
    try:
        module = importlib.import_module(f"bnjax.experiments.{run.module}")
    except ModuleNotFoundError as err:
        if err.name != f"bnjax.experiments.{run.module}":
            raise  # the module exists but is broken: say so, do not hide it as "coming"
        return None
    fn, config = getattr(module, run.function, None), getattr(module, run.config, None)
    if fn is None or config is None:
        return None
    config = default_config(config)
    return fn, getattr(config, run.view)() if run.view else config


def default_config(config_class):
    """The page's default view. (Tests replace this to shrink every card's runs.)"""
    return config_class()


def available(card: Card) -> list | None:
    """The card's `(function, config)` pairs, or None when one of its modules is missing."""
    pairs = [resolve(r) for r in card.runs]
    return None if any(p is None for p in pairs) else pairs


# ---------------------------------------------------------------------------- warm-up

_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def warm_up(runner: Callable, runs: Sequence[Run] = WARM_UP, *, pause: float = 1.0) -> bool:
    """Start, once per process, a daemon thread that calls `runner(function, config)` for the
    default view of every page in `runs`, one after the other, so the programs are compiled
    and the results cached before a viewer asks. Returns True if this call started it.

    `pause` seconds between runs let a viewer's own run take the training lock first.
    """
    global _warm_thread
    with _warm_lock:
        if _warm_thread is not None:
            return False
        _warm_thread = threading.Thread(target=_warm, args=(runner, tuple(runs), pause),
                                        name="bnjax-warm-up", daemon=True)
        _warm_thread.start()
        return True


def _warm(runner: Callable, runs: tuple[Run, ...], pause: float) -> None:
    for run in runs:
        t0 = time.perf_counter()
        try:
            pair = resolve(run)
            if pair is not None:
                runner(*pair)
        except Exception:  # noqa: BLE001  a failed warm-up must not stop the others; logged
            _log.exception("warm-up of %s.%s failed", run.module, run.function)
        else:
            _log.info("warm-up of %s.%s: %.1f s", run.module, run.function,
                      time.perf_counter() - t0)
        time.sleep(pause)


__all__ = ["BASICS", "CARDS", "Card", "Run", "WARM_UP", "available", "default_config",
           "exists", "resolve", "warm_up"]
