"""The Overview (dashboard.py): four student questions, each answered by one page, with the
page's short answer and headline numbers at its default view, measured live.

Teaches nothing new on its own: it is the table of contents with answers. A card's words are
its page's short answer, built by the page's narration from the results of the page's own
default-view experiments, and its numbers come from the same results (seed means with their
spread), so the Overview and the page agree and share one cached run.
Leaves out: any Streamlit. The page runs the experiments through `ui.run` (the cache every page
shares); `warm_up` only starts a background thread that calls a runner it is given.

Experiment modules are imported lazily by name: a page whose module does not exist yet shows
as "coming", and importing this module does not compile anything.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
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
    runs behind its default view, and what the card says once they are in.

    `text(results)` (results in the order of `runs`) returns a `narration.overview.CardText`:
    the page's own short answer, built by the page's narration from the same results, and the
    headline numbers with their seed spread. Nothing on a card is typed in, so it cannot state
    the opposite of its page. A new page's card: a row in CARDS and an adapter in
    `bnjax.narration.overview`.
    """
    page: str  # the page file, a path of ui/frame.py's table
    runs: tuple[Run, ...]  # the page's default-view experiments, in the order the page runs them
    text: Callable[[Sequence], object]  # results -> CardText(answer, metrics)


def _text(name: str) -> Callable[[Sequence], object]:
    """The adapter `bnjax.narration.overview.<name>`, imported when a card is filled."""
    def text(results):
        return getattr(importlib.import_module("bnjax.narration.overview"), name)(results)
    text.__name__ = text.__qualname__ = name
    return text


CARDS: tuple[Card, ...] = (
    Card("pages/2_Covariate_shift.py",
         (Run("covariate_shift", "run_covariate_shift", "CovariateShiftConfig"),),
         _text("covariate_shift")),
    Card("pages/3_Layer_decoupling.py",  # the answer reads the clean nets; both are warmed
         (Run("decoupling", "run_gradients", "DecouplingConfig", "clean"),
          Run("decoupling", "run_noisy", "DecouplingConfig")),
         _text("decoupling")),
    Card("pages/4_Regularization_noise.py",
         (Run("regularization", "run_regularization", "RegularizationConfig"),
          Run("regularization", "run_noise_meter", "NoiseConfig"),
          Run("regularization", "run_ablation", "AblationConfig")),
         _text("regularization")),
    Card("pages/5_Hyperparameter_landscape.py",
         (Run("landscape", "run_landscape", "LandscapeConfig"),),
         _text("landscape")),
    Card("pages/7_Batch_or_normalization.py",  # the answer reads all five sections
         (Run("normalization", "run_invariances", "InvarianceConfig"),
          Run("normalization", "run_noise_meter", "NoiseConfig"),
          Run("normalization", "run_small_batches", "SmallBatchConfig"),
          Run("normalization", "run_landscape", "LandscapeConfig"),
          Run("normalization", "run_depth", "DepthConfig")),
         _text("normalization")),
)

BASICS = Card("pages/1_BatchNorm_basics.py", (Run("basics", "run_basics", "BasicsConfig"),),
              _text("basics"))

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


def warm_up(runner: Callable, runs: Sequence[Run] = WARM_UP, *, pause: float = 0.0) -> bool:
    """Start, once per process, a daemon thread that calls `runner(function, config)` for the
    default view of every page in `runs`, one after the other, so the programs are compiled
    and the results cached before a viewer asks. Returns True if this call started it.

    The runner (`ui.panels.warm`) gives way to viewers: it waits while a viewer's run waits or
    runs, and pauses a run in progress at its next chunk when a viewer arrives, so a viewer
    never waits behind the warm-up. It draws nothing (the thread has no Streamlit session).
    `pause` seconds between runs are optional breathing room.
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
        if pause:
            time.sleep(pause)


__all__ = ["BASICS", "CARDS", "Card", "Run", "WARM_UP", "available", "default_config",
           "exists", "resolve", "warm_up"]
