"""What the Overview's cards say: each page's own short answer, and its headline numbers with
their seed spread, from the same results the page draws (the shared cache).

Teaches nothing new: a card repeats its page. Its answer is the page's short answer, built by the
page's own narration module from the same results, so a card can never state the opposite of its
page; its big numbers are seed means with the min–max over seeds, read from the page's per-seed
tables.
Leaves out: Streamlit; which runs a card needs (the card table in `bnjax.experiments.overview`).

Each page's adapter (`basics`, `covariate_shift`, ...) takes the card's results, in the order of
the card's runs, and returns a `CardText`. Page narration modules are imported when a card is
filled, not when this module is imported.
"""
from __future__ import annotations

import importlib
import math
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from bnjax.text import TINY

BN, PLAIN = "BN", "plain"
LABEL_MAX = 24  # characters: a metric label that fits a third of a card at 1280 px, unclipped


class Metric(NamedTuple):
    """One big number on a card: its label, the seed mean, the min–max over seeds ("seeds 0.20
    to 0.22"; "" when the seeds agree or there is one), and a plain explanation for the label's
    (?) help."""
    label: str
    value: str
    spread: str = ""
    help: str = ""


class CardText(NamedTuple):
    answer: str  # markdown: the page's short answer, as the page shows it
    metrics: list  # [Metric]
    # What the big numbers are, in their units, and which way is "more" (shown under them, not
    # only in a (?) tooltip): "1 = kept its direction; lower = it turned more".
    note: str = ""


def _say(page: str):
    return importlib.import_module(f"bnjax.narration.{page}")


def _finite(values) -> np.ndarray:
    v = np.asarray(values, float).ravel()
    return v[np.isfinite(v)]


def column(table: pd.DataFrame, column_name: str, variant: str | None = None,
           where: dict | None = None) -> np.ndarray:
    """One column of a per-seed table, in seed order; rows of `variant` (and `where`) only."""
    rows = table if variant is None else table[table["variant"] == variant]
    for k, v in (where or {}).items():
        rows = rows[rows[k] == v]
    if "seed" in rows:
        rows = rows.sort_values("seed")
    return rows[column_name].to_numpy(float)


def _minus(text: str) -> str:
    """A typeset minus sign, as the notes and the pages print it: "−0.48", not "-0.48"."""
    return text.replace("-", "−")


def metric(label: str, values, spec: str = ".2f", *, help: str = "", scale: float = 1.0,
           unit: str = "") -> Metric:
    """A Metric from per-seed values: mean and min–max as `spec` prints them (times `scale`, with
    `unit`); "≈ 0" when every seed is zero up to float rounding; "—" when none is finite."""
    if len(label) > LABEL_MAX:
        raise ValueError(f"metric label {label!r} is longer than {LABEL_MAX} characters")
    v = _finite(values) * scale
    if v.size == 0:
        return Metric(label, "—", "", help)
    if np.all(np.abs(v) < TINY * scale):
        top = float(np.abs(v).max())
        return Metric(label, "0" if top == 0 else "≈ 0", "" if top == 0 else f"max {top:.0e}",
                      help)
    show = lambda x: f"{_minus(format(float(x), spec))}{unit}"  # noqa: E731
    lo, hi = show(v.min()), show(v.max())
    return Metric(label, show(v.mean()), "" if lo == hi else f"seeds {lo} to {hi}", help)


def ranged(label: str, mean: float, low: float, high: float, spec: str = ".2f", *,
           help: str = "") -> Metric:
    """A Metric from a seed mean and its min and max (a summary that keeps the three)."""
    if len(label) > LABEL_MAX:
        raise ValueError(f"metric label {label!r} is longer than {LABEL_MAX} characters")
    if not math.isfinite(mean):
        return Metric(label, "—", "", help)
    lo, hi = _minus(format(low, spec)), _minus(format(high, spec))
    return Metric(label, _minus(format(mean, spec)), "" if lo == hi else f"seeds {lo} to {hi}",
                  help)


def count(label: str, value: float, per_seed, of: float, *, help: str = "") -> Metric:
    """A count out of `of` ("18 / 21"), with the range of the count seed by seed ("seeds 17 to
    19") where the seeds differ."""
    if not math.isfinite(value):
        return Metric(label, "—", "", help)
    v = _finite(per_seed)
    n = f"{int(of)}" if math.isfinite(of) else "?"
    lo, hi = (f"{v.min():.0f}", f"{v.max():.0f}") if v.size else ("", "")
    return Metric(label, f"{value:.0f} / {n}", "" if lo == hi else f"seeds {lo} to {hi}", help)


def agreed(m: Metric, per_seed) -> Metric:
    """`m`, saying "all 3 seeds agree" where its seeds agree to the digits shown (several finite
    seeds, no range): a bare number would look like one run without a spread."""
    n = _finite(per_seed).size
    if m.spread or n < 2 or m.value == "—":
        return m
    return m._replace(spread=f"all {n} seeds agree")


def _term(name: str) -> str:
    """A glossary definition when ui's glossary is importable (it is pure data), else ""."""
    try:
        from ui.glossary import TERMS
    except ImportError:  # pragma: no cover  bnjax without the app
        return ""
    return TERMS.get(name, "")


# ---------------------------------------------------------------------------- the pages


def basics(results: Sequence) -> CardText:
    """Page 1: train mode on test batches of one image vs eval mode."""
    (r,) = results
    say = _say("basics")
    ps = r.per_seed
    train, evals = column(ps, "acc_train_batch1"), column(ps, "acc_eval_population")
    return CardText(say.short_answer(ps, r.summary["chance"]), [
        agreed(metric("train mode, batch of 1", train, ".1f", scale=100, unit="%",
                      help=_term("train mode")), train),
        agreed(metric("eval mode", evals, ".1f", scale=100, unit="%", help=_term("eval mode")),
               evals)],
        f"Test accuracy: % of the {int(r.summary.get('n_test', 540))} test digits right "
        f"(higher is better; always guessing the commonest digit gets "
        f"{r.summary['chance']:.1%}). Train mode on test batches of one image; eval mode with "
        "the training set's statistics.")


def covariate_shift(results: Sequence) -> CardText:
    """Page 2: how far a deep unit's input drifts, and what a change of layer 1 does later."""
    (r,) = results
    ps = r.per_seed
    n_units = r.summary.get("n_units")
    return CardText(_say("covariate_shift").short_answer(
        ps, None if n_units is None else int(n_units)), [
        agreed(metric("input drift, BN", column(ps, "drift", BN), help=_term("drift")),
               column(ps, "drift", BN)),
        agreed(metric("input drift, plain", column(ps, "drift", PLAIN), help=_term("drift")),
               column(ps, "drift", PLAIN))],
        "Input drift: how far a last-hidden-layer unit's median input moved over training "
        "(largest minus smallest, in the units of that input; mean over the layer's units). "
        "Lower = steadier input.")


def decoupling(results: Sequence) -> CardText:
    """Page 3: the concrete example (W1 x 2) and Santurkar's gradient cosine."""
    clean = results[0]
    say = _say("decoupling")
    factor = importlib.import_module("bnjax.experiments.decoupling").EXAMPLE_FACTOR
    mid = clean.config.mid_layer
    below = f"layers 1–{mid - 1}" if mid > 2 else "layer 1"
    how = (f"Gradient cosine: layer {mid}'s gradient before vs after {below} take a training "
           "step, on the same batch (mean over training): 1 = it kept its direction, lower = "
           "it turned more, so lower means more coupled.")
    bn, plain = say.ics_per_seed(clean, BN), say.ics_per_seed(clean, PLAIN)
    return CardText(say.short_answer(clean, factor), [
        agreed(metric("gradient cosine, BN", bn, help=how + " " + _term("cosine similarity")),
               bn),
        agreed(metric("gradient cosine, plain", plain,
                      help=how + " " + _term("cosine similarity")), plain)], how)


def regularization(results: Sequence) -> CardText:
    """Page 4: noise on vs off (test accuracy, paired seeds), the noise meter, the ablation."""
    reg, noise, ablation = results
    say = _say("regularization")
    subset, group = int(reg.summary["subset"]), int(reg.summary["group"])
    answer = say.short_answer(reg.per_seed, subset, group, noise_std=noise.std,
                              noise_summary=noise.summary, curves=ablation.curves)
    e = say.effect(reg.per_seed)
    return CardText(answer, [
        metric("noise on − off, test", e.on - e.off, "+.1f", scale=100, unit=" pts",
               help="Test accuracy with BN's batch noise on minus off, paired seed by seed. "
                    + _term("regularization")),
        ranged("batch-noise slope", noise.summary["noise_slope"],
               noise.summary["noise_slope_min"], noise.summary["noise_slope_max"],
               help="How fast batch noise shrinks as the batch grows: the slope of the "
                    "noise against the batch size B on log-log axes. −0.5 means the noise "
                    "falls like 1/√B (4× the batch, half the noise); 0 would mean it does not "
                    "shrink at all. " + _term("batch noise"))],
        "Noise on − off: percentage points of test accuracy, paired seed by seed (+ = the "
        "batch noise helped). Batch-noise slope: −0.5 = the noise halves when the batch is 4× "
        "larger; 0 = it does not shrink.")


def landscape(results: Sequence) -> CardText:
    """Page 5: the learning-rate x init-gain grid."""
    (grid,) = results
    s, seeds, n = grid.summary, grid.seeds, grid.summary["n_cells"]
    bn, plain = column(seeds, "good_cells", BN), column(seeds, "good_cells", PLAIN)
    return CardText(_say("landscape").short_answer(grid), [
        agreed(count("good cells, BN", s["good_cells_bn"], bn, n, help=_term("good cell")), bn),
        agreed(count("good cells, plain", s["good_cells_plain"], plain, n,
                     help=_term("good cell")), plain)],
        f"Good cells: settings of the learning-rate × init-gain grid ({n:.0f} in all) whose "
        f"nets reach {importlib.import_module('bnjax.experiments.landscape').GOOD:.0%} test "
        "accuracy (seed mean); more = a wider workable region.")


def normalization(results: Sequence) -> CardText:
    """Page 7: what LayerNorm keeps and loses; test accuracy at the page's small batch, LayerNorm
    vs BN on its running statistics (the page's "price of the batch")."""
    inv, noise, small, land, depth = results
    say = _say("normalization")
    exp = importlib.import_module("bnjax.experiments.normalization")
    b = exp.GAP_BATCH
    answer = say.short_answer(inv=inv, noise=noise, small=small, land=land, depth=depth)
    return CardText(answer, [
        metric(f"batch of {b}, LayerNorm", say.small_values(small, exp.LN, b), ".1f", scale=100,
               unit="%", help=f"Test accuracy after training with batches of {b}. "
               + _term("LayerNorm")),
        metric(f"batch of {b}, BN", say.small_values(small, exp.BN_RUNNING, b), ".1f",
               scale=100, unit="%", help=f"Test accuracy after training with batches of {b}, "
               "BN on its running averages. " + _term("running statistics"))],
        f"Test accuracy (% of test digits right, higher is better) after training with "
        f"batches of {b}; BN tested on its running averages.")


__all__ = ["CardText", "LABEL_MAX", "Metric", "agreed", "basics", "column", "count",
           "covariate_shift",
           "decoupling", "landscape", "metric", "normalization", "ranged",
           "regularization"]
