"""What page 5 (hyperparameter landscape) says, as pure functions of its results.

Teaches: the answer to "easier search: only faster, or more?" is three comparisons, each made
seed by seed and worded by `bnjax.text.compare`: at the same small learning rate, whose loss
falls faster; how many learning-rate x init-gain cells train with and without BN; and how far up
the learning rates go before training fails. "The largest lr that learns" is monotone (every lr
from the smallest that learns up to it learns too; `experiments.landscape.monotone_edge`), and
where an answer changes over training (4d: plain is rougher early, smoother late) the sentence
says at which step. The functions read the results' `summary` and their per-seed tables
(`seeds`), so a test can feed numbers where a comparison flips and watch the sentence flip.
Leaves out: Streamlit (markdown strings out) and the lecture's and the papers' claims, which are
quotations, not measurements.

    >>> lr_text(3.0), lr_text(0.0316228), span([0.3, 0.3]), span([0.1, 0.3])
    ('3', '0.0316', '0.3', '0.1–0.3')
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from bnjax.text import compare, spread, tiny

BN, PLAIN = "BN", "plain"
SAME_LOSS = math.log(1.25)  # training losses within 25% of each other are "about the same"
SAME_ROUGH = math.log(1.5)  # smoothness measures within 1.5x are "about as smooth"

# ---------------------------------------------------------------------------- numbers


def per_seed(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    """`column` of one variant, one value per seed in seed order (NaN for a diverged run)."""
    rows = table[table["variant"] == variant].sort_values("seed")
    return rows[column].to_numpy(float)


def lr_text(v: float) -> str:
    """A learning rate as the page prints it: "3", "0.316", "—" when there is none."""
    return "—" if v is None or not math.isfinite(v) else f"{v:.3g}"


def span(values: Sequence[float], fmt=lr_text) -> str:
    """Per-seed values that are usually identical: "0.3" when they are, "0.1–0.3" when not."""
    v = [x for x in np.asarray(values, float) if math.isfinite(x)]
    if not v:
        return "—"
    lo, hi = fmt(min(v)), fmt(max(v))
    return lo if lo == hi else f"{lo}–{hi}"


def num(values: Sequence[float], spec: str = ".2f") -> str:
    """The seed mean with its min–max spread: "0.44 (0.42–0.46)"; tiny values "≈ 0 (3e-09)";
    seeds that agree to the digits shown: "97.8% (every seed)"."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size > 1 and format(v.min(), spec) == format(v.max(), spec) and abs(v.mean()) >= 1e-4:
        return f"{spread([v.mean()], spec)} (every seed)"
    return spread(v, spec)


def times(a: float, b: float) -> str:
    """a / b as "10×" (or "3.2×" below 10); "—" where undefined."""
    if not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return "—"
    r = a / b
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×" if r >= 1 else f"{r:.2g}×"


def ratios(a: Sequence[float], b: Sequence[float]) -> str:
    """Per-seed ratios a/b with their spread: "29× (20–41×)"; one seed: "29×"."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    r = a[ok] / b[ok]
    if r.size == 0:
        return "—"
    spec = ".0f" if r.min() >= 10 else ".1f" if r.min() >= 0.1 else ".2f"
    m = float(r.mean())
    if r.size == 1 or format(r.min(), spec) == format(r.max(), spec):
        return f"{m:{spec}}×"
    return f"{m:{spec}}× ({r.min():{spec}}–{r.max():{spec}}×)"


def rel_text(v: float) -> str:
    """A relative difference: "0.12", "120", "3.4e-05", "≈ 0 (3e-09)", "0"."""
    if abs(v) >= 100:
        return f"{v:.0f}"
    return tiny(v, ".2g") if abs(v) >= 0.01 or v == 0 or abs(v) < 1e-4 else f"{v:.1e}"


def _log(values) -> np.ndarray:
    v = np.asarray(values, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)


def _seeds(n: int) -> str:
    return "one seed" if n == 1 else f"{n} seeds"


def _none_as(values, floor: float) -> np.ndarray:
    """Per-seed lrs where NaN means "no lr at all": compared as `floor` (below every lr)."""
    v = np.asarray(values, float)
    return np.where(np.isfinite(v), v, floor)


# ---------------------------------------------------------------------------- 4a and the answer


def speed(grid_seeds: pd.DataFrame):
    """BN's training loss at the matched small lr against plain's, per seed (log scale, within
    25% "about the same"). sign +1: BN's loss is higher, so BN is *slower*."""
    return compare(_log(per_seed(grid_seeds, BN, "match_loss")),
                   _log(per_seed(grid_seeds, PLAIN, "match_loss")), tol=SAME_LOSS,
                   words=("higher", "lower", "about the same"))


def width(grid_seeds: pd.DataFrame):
    """Good cells per seed, BN against plain: "more", "fewer", "about as many"."""
    return compare(per_seed(grid_seeds, BN, "good_cells"),
                   per_seed(grid_seeds, PLAIN, "good_cells"),
                   tol=0.5, words=("more", "fewer", "about as many"))


def reach(bn_hi: Sequence[float], plain_hi: Sequence[float], floor: float):
    """The largest good (or learning) lr per seed, BN against plain, on a log scale; a seed with
    none counts as `floor`. "larger", "smaller", "the same"."""
    return compare(np.log(_none_as(bn_hi, floor)), np.log(_none_as(plain_hi, floor)), tol=0.01,
                   words=("larger", "smaller", "the same"))


def cells_text(grid) -> tuple[str, str, str]:
    """("18", "6", " on both seeds") or ("18 (17–19 by seed)", "6 (6–7 by seed)", ""): the
    counts on the heat map (cells whose seed-mean accuracy reaches 90%), with the per-seed counts
    where they differ, and a suffix when every seed agrees."""
    s, t = grid.summary, grid.seeds
    out, agree, n = [], True, 0
    for v, key in ((BN, "bn"), (PLAIN, "plain")):
        per, k = per_seed(t, v, "good_cells"), int(s[f"good_cells_{key}"])
        n = len(per)
        if n < 2 or np.all(per == k):
            out.append(f"{k}")
        else:
            agree = False
            out.append(f"{k} ({span(per, fmt=lambda x: f'{x:.0f}')} by seed)")
    suffix = "" if n < 2 or not agree else \
        (", on both seeds" if n == 2 else f", on all {n} seeds")
    if not agree:  # a count without a range: say that its seeds agree
        out = [o if "(" in o else f"{o} (every seed)" for o in out]
    return out[0], out[1], suffix


def _lr_range(lo: Sequence[float], hi: Sequence[float]) -> str:
    """"from 0.01 up to 3" with per-seed spans; "no learning rate" when a net has none."""
    if not np.isfinite(np.asarray(hi, float)).any():
        return "at no learning rate"
    return f"at every learning rate from {span(lo)} up to {span(hi)}"


def lead_words(fast, wide) -> str:
    """The short answer's first words, from the two comparisons: is BN faster at the same small
    lr (`fast`, sign -1: BN's loss is lower), and does it have more good cells (`wide`)."""
    easier = {1: "easier", 0: "not easier", -1: "not easier"}[wide.sign]
    if not fast.n:  # a diverged run: no speed to compare
        return {1: "Easier.", 0: "Not easier here.", -1: "Not easier here."}[wide.sign]
    if fast.sign < 0:
        return "Faster and easier." if wide.sign > 0 else f"Faster, but {easier}."
    if wide.sign > 0:
        return "Easier, not faster." if fast.sign > 0 else "Easier, no faster."
    return "Neither faster nor easier here."


def short_answer(grid) -> str:
    """Two or three sentences answering "only faster, or more?" from the 4a grid (its seeds)."""
    s, t = grid.summary, grid.seeds
    fast, wide = speed(t), width(t)
    bn_hi, pl_hi = per_seed(t, BN, "good_lr_hi"), per_seed(t, PLAIN, "good_lr_hi")
    far = reach(bn_hi, pl_hi, floor=s["lr_grid_min"] / 10)
    lead = lead_words(fast, wide)
    lr, g = lr_text(s["match_lr"]), lr_text(s["ref_gain"])
    losses = (f"{num(per_seed(t, BN, 'match_loss'))} vs {num(per_seed(t, PLAIN, 'match_loss'))} "
              f"without BN")  # the mean over steps 100-350 (the 4a grid's curves)
    first = f"At the same small learning rate ({lr}) BN is " + {
        1: f"not faster: its training loss is higher, {losses}, {fast.seeds}.",
        0: f"no faster: the training losses are about the same, {losses}.",
        -1: f"faster: its training loss is lower, {losses}, {fast.seeds}."
    }[fast.sign] if fast.n else (f"At the same small learning rate ({lr}) a run diverged, so "
                                 f"there is no speed to compare.")
    bn_cells, pl_cells, every = cells_text(grid)
    n = int(s["n_cells"])
    room = {1: "Its gain is room", 0: "Room", -1: "Room"}[wide.sign]
    cells = (f"{room}: {bn_cells} of {n} learning-rate × init-gain cells reach 90% accuracy "
             f"with BN, {pl_cells} without{every}"
             + (f" ({wide.word} with BN, {wide.seeds})" if wide.sign < 0 else "")
             + (" (about as many)" if wide.sign == 0 else ""))
    edge = " (the largest tried)" if np.all(np.isclose(bn_hi, s["lr_grid_max"])) else ""
    lo = span(per_seed(t, BN, "good_lr_lo"))
    if not np.isfinite(bn_hi).any():
        tail = f"; at gain {g} BN reaches 90% at no learning rate."
    elif far.sign > 0:  # "only up to" holds on every seed (the spans show where seeds differ)
        tail = (f", and at gain {g} BN trains well at every learning rate from {lo} up to "
                f"{span(bn_hi)}{edge}, plain only up to {span(pl_hi)}.")
    elif far.sign == 0:
        tail = (f"; at gain {g} both train well up to the same learning rate, "
                f"{span(bn_hi)}.")
    else:
        tail = (f"; at gain {g} plain trains well up to a larger learning rate: {span(pl_hi)} "
                f"vs {span(bn_hi)} with BN ({far.seeds}).")
    return f"**{lead}** {first} {cells}{tail}"


def grid_title(grid) -> dict:
    """The heat maps' title (their finding) and subtitle (what to look at)."""
    s, n = grid.summary, int(grid.summary["n_cells"])
    wide = width(grid.seeds)
    word = {1: "More settings train with BN", -1: "Fewer settings train with BN",
            0: "About as many settings train with and without BN"}[wide.sign]
    return dict(text=f"{word}: {int(s['good_cells_bn'])} vs {int(s['good_cells_plain'])} of {n} "
                     f"cells reach 90% test accuracy",
                subtitle="White outline: 90% or more (seed mean) · ✕: every seed diverged · "
                         "click a cell for its training curves")


def grid_lines(grid) -> list[str]:
    """4a's "What this run measured"."""
    s, t = grid.summary, grid.seeds
    wide = width(t)
    bn_cells, pl_cells, every = cells_text(grid)
    n = int(s["n_cells"])
    many = (f"{times(s['good_cells_bn'], s['good_cells_plain'])} as many"
            if wide.sign > 0 and s["good_cells_plain"] > 0 else wide.word)
    lines = [f"Cells reaching 90% test accuracy (seed mean): **BN {bn_cells} of {n}**, "
             f"**plain {pl_cells} of {n}**{every}: "
             + (f"{many} with BN ({wide.seeds})." if wide.sign else "about as many.")]
    best = compare(per_seed(t, BN, "best_acc"), per_seed(t, PLAIN, "best_acc"), tol=0.005,
                   words=("higher", "lower", "about the same"))
    lines.append(f"Best cell: BN {num(per_seed(t, BN, 'best_acc'), '.1%')}, plain "
                 f"{num(per_seed(t, PLAIN, 'best_acc'), '.1%')}: "
                 + (f"{best.word} with BN ({best.seeds})." if best.sign else "about the same."))
    fast = speed(t)
    lines.append(
        f"At the same small learning rate ({lr_text(s['match_lr'])}, gain "
        f"{lr_text(s['ref_gain'])}), mean training loss over steps "
        f"{int(s['match_window_start'])}–{int(s['match_window_end'])}: BN "
        f"{num(per_seed(t, BN, 'match_loss'), '.3f')}, plain "
        f"{num(per_seed(t, PLAIN, 'match_loss'), '.3f')}: "
        + ({1: f"higher with BN ({fast.seeds}), so BN is not faster.",
            0: "about the same.",
            -1: f"lower with BN ({fast.seeds}): BN is faster here."}[fast.sign] if fast.n else
           "a run diverged, nothing to compare."))
    ref = f"learning rate {lr_text(s['ref_lr'])}, gain {lr_text(s['ref_gain'])}"
    parts = []
    for v in (BN, PLAIN):
        div = per_seed(t, v, "diverged_ref").astype(bool)
        acc = per_seed(t, v, "acc_ref")
        if div.all():
            parts.append(f"{v} diverged on every seed")
        elif div.any():
            parts.append(f"{v} {num(acc, '.1%')}, diverged on {int(div.sum())} of {len(div)} "
                         f"seeds")
        else:
            parts.append(f"{v} {num(acc, '.1%')}")
    lines.append(f"At {ref}: " + ", ".join(parts) + ".")
    return lines


# ---------------------------------------------------------------------------- 4b


def effective_titles(eff) -> dict:
    """Titles (a list is two lines) for 4b's three charts, each stating what it shows."""
    s = eff.summary
    same = s["effective_lr_max_rel_diff"]
    exact = "exactly" if same == 0 else f"to {tiny(same, '.0e')}" if same <= 1e-6 else None
    first = s["effective_lr_fixed_eps_first_step_1e3"]
    fixed = (f"fixed ε: apart from step {first:.0f}" if math.isfinite(first)
             else "fixed ε: never 0.1% apart")
    loss = (["B (ε·c²) retraces A " + exact, fixed] if exact
            else ["B (ε·c²) drifts from A", f"(largest difference {same:.1e}); {fixed}"])
    fixed_max = rel_text(s["effective_lr_fixed_eps_max_rel_diff"])
    rel = ["Largest |L_B − L_A| / L_A:", f"ε·c²: {tiny(same, '.1e')} · fixed ε: {fixed_max}"]
    norm = [f"B's weights: {s['w_norm_ratio_start']:.2f}× A's at the start,",
            f"{s.get('w_norm_ratio_end', float('nan')):.2f}× at the end (c = {s['c']:g})"]
    return dict(loss=loss, rel=rel, norm=norm)


def effective_lines(eff, seed: int) -> list[str]:
    s = eff.summary
    same = s["effective_lr_max_rel_diff"]
    first = s["effective_lr_fixed_eps_first_step_1e3"]
    lines = [f"With ε·c² (c = {s['c']:g}) the largest relative difference between the two loss "
             f"curves over all steps is **{tiny(same, '.1e')}**"
             + (": the same run, bit for bit." if same == 0 else
                ": equal up to float rounding." if same <= 1e-6 else
                ": float rounding, amplified by chaotic training, separates them.")]
    if math.isfinite(first):
        lines.append(f"With a fixed ε the curves differ by more than 0.1% from step {first:.0f} "
                     f"and by up to {rel_text(s['effective_lr_fixed_eps_rel_diff_100'])} "
                     f"(relative) in "
                     f"the first 100 steps; final losses {s['final_loss_a']:.3f} (A) vs "
                     f"{s['final_loss_fixed_eps']:.3f}.")
    else:
        lines.append(f"With a fixed ε the curves never differ by more than 0.1% here (largest "
                     f"{s['effective_lr_fixed_eps_max_rel_diff']:.1e}).")
    lines.append(f"One run per setting (seed {seed}): an identity, not an average. Same "
                 "function, not the same trajectory: a larger init behaves like a smaller "
                 "learning rate, so BN's good cells in 4a slide to larger learning rates as the "
                 "gain grows.")
    return lines


# ---------------------------------------------------------------------------- 4c


def _fast_speed(fast):
    return compare(_log(per_seed(fast.seeds, BN, "match_loss")),
                   _log(per_seed(fast.seeds, PLAIN, "match_loss")), tol=SAME_LOSS,
                   words=("higher", "lower", "about the same"))


def faster_titles(fast) -> dict:
    """Titles (text, subtitle) of 4c's three charts: the matched lr, steps to 90%, the edges."""
    s, t = fast.summary, fast.seeds
    lr = lr_text(s["match_lr"])
    c = _fast_speed(fast)
    who = {1: "plain's loss falls faster", -1: "BN's loss falls faster",
           0: "neither is faster"}[c.sign] if c.n else "a run diverged"
    window = f"steps {int(s['match_window_start'])}–{int(s['match_window_end'])}"
    matched = dict(text=f"Same small learning rate ({lr}): {who}",
                   subtitle=f"Mean training loss over {window} (shaded): plain "
                            f"{num(per_seed(t, PLAIN, 'match_loss'), '.3f')}, BN "
                            f"{num(per_seed(t, BN, 'match_loss'), '.3f')}")
    few = compare(per_seed(t, BN, "fewest_steps"), per_seed(t, PLAIN, "fewest_steps"), tol=5,
                  words=("more", "fewer", "about as many"))
    bn_steps, pl_steps = per_seed(t, BN, "fewest_steps"), per_seed(t, PLAIN, "fewest_steps")
    if np.isfinite(bn_steps).any() and np.isfinite(pl_steps).any():
        head = {1: "Plain reaches 90% in fewer steps", -1: "BN reaches 90% in fewer steps",
                0: "Both reach 90% in about as many steps"}[few.sign]
        text = (f"{head}: BN {num(bn_steps, '.0f')} (lr {span(per_seed(t, BN, 'fastest_lr'))}), "
                f"plain {num(pl_steps, '.0f')} (lr {span(per_seed(t, PLAIN, 'fastest_lr'))})")
    else:
        text = "Steps to 90% test accuracy: " + ", ".join(
            f"{v} never" if not np.isfinite(per_seed(t, v, "fewest_steps")).any() else
            f"{v} {num(per_seed(t, v, 'fewest_steps'), '.0f')}" for v in (BN, PLAIN))
    steps = dict(text=text, subtitle="Ringed: each net's fastest learning rate · top rows, "
                                     "one per net (BN lower, plain upper): never reached 90% "
                                     "(triangle) or diverged (cross)")
    lo = {v: span(per_seed(t, v, "learn_lr_lo")) for v in (BN, PLAIN)}
    hi = {v: span(per_seed(t, v, "learn_lr_hi")) for v in (BN, PLAIN)}
    fin = {v: span(per_seed(t, v, "finite_lr_hi")) for v in (BN, PLAIN)}
    if lo[BN] == lo[PLAIN] and "—" not in (hi[BN], hi[PLAIN]):
        text = (f"Every learning rate from {lo[BN]} up to {hi[BN]} learns with BN, up to "
                f"{hi[PLAIN]} without")
    else:
        text = "; ".join(
            f"{v} learns {_lr_range(per_seed(t, v, 'learn_lr_lo'), per_seed(t, v, 'learn_lr_hi'))}"
            for v in (BN, PLAIN))
    status = dict(text=text,
                  subtitle=f"Black tick: the largest lr that learns · grey tick: the largest "
                           f"that stays finite (BN {fin[BN]}, plain {fin[PLAIN]}); every smaller "
                           f"lr does too")
    return dict(matched=matched, steps=steps, status=status)


def faster_lines(fast, seed: int) -> list[str]:
    """4c's "What this run measured"."""
    s, t = fast.summary, fast.seeds
    n = int(s.get("n_seeds", t["seed"].nunique()))
    note = f" (seed {seed}, one seed)" if n == 1 else f" ({n} seeds)"
    c = _fast_speed(fast)
    verdict = {1: "plain is faster", -1: "BN is faster", 0: "about the same"}[c.sign] if c.n \
        else "a run diverged, nothing to compare"
    lines = [f"At the same small learning rate ({lr_text(s['match_lr'])}) the mean training loss "
             f"over steps {int(s['match_window_start'])}–{int(s['match_window_end'])} is "
             f"{num(per_seed(t, PLAIN, 'match_loss'), '.3f')} plain vs "
             f"{num(per_seed(t, BN, 'match_loss'), '.3f')} BN: **{verdict}**{note}."]
    floor = s["lr_sweep_min"] / 10
    bn_hi, pl_hi = per_seed(t, BN, "learn_lr_hi"), per_seed(t, PLAIN, "learn_lr_hi")
    far = reach(bn_hi, pl_hi, floor)
    lines.append(
        f"Largest learning rate that learns, such that every smaller one in the sweep (from "
        f"{span(per_seed(t, BN, 'learn_lr_lo'))}) learns too: **BN {span(bn_hi)}, plain "
        f"{span(pl_hi)}**"
        + (f" ({times(s['max_stable_lr_bn'], s['max_stable_lr_plain'])} larger with BN)."
           if far.sign > 0 else f" ({far.word})."))
    bn_fin, pl_fin = per_seed(t, BN, "finite_lr_hi"), per_seed(t, PLAIN, "finite_lr_hi")
    fin = reach(bn_fin, pl_fin, floor)
    line = (f"Largest that stays finite, the same way: BN {span(bn_fin)}, plain {span(pl_fin)}"
            + (f" ({times(s['max_finite_lr_bn'], s['max_finite_lr_plain'])})" if fin.sign > 0
               else f" ({fin.word})"))
    first, anyf = per_seed(t, BN, "first_diverged_lr"), per_seed(t, BN, "finite_lr_any")
    if np.isfinite(first).any() and np.nanmax(anyf) > np.nanmin(first):
        line += (f". BN first diverged at {span(first)} and was finite again at "
                 f"{span(anyf)}: above its first failure, a finite run does not count")
    lines.append(line + ".")
    if np.nanmin(bn_fin) > np.nanmax(bn_hi):
        lines.append(f"Between {span(bn_hi)} and {span(bn_fin)} BN stays finite but stops "
                     "learning: finite is not the same as trained.")
    bn_steps, pl_steps = per_seed(t, BN, "fewest_steps"), per_seed(t, PLAIN, "fewest_steps")
    few = compare(bn_steps, pl_steps, tol=5, words=("more", "fewer", "about as many"))
    lines.append(
        f"Fewest steps to 90% test accuracy over the sweep: **{num(bn_steps, '.0f')} BN** (at lr "
        f"{span(per_seed(t, BN, 'fastest_lr'))}) vs **{num(pl_steps, '.0f')} plain** (at lr "
        f"{span(per_seed(t, PLAIN, 'fastest_lr'))}), measured every 10 steps: "
        + ({1: "BN needs more", -1: "BN needs fewer", 0: "about as many"}[few.sign]
           + (", because it can use a larger learning rate." if few.sign < 0 and
              np.nanmean(per_seed(t, BN, "fastest_lr")) > np.nanmean(
                  per_seed(t, PLAIN, "fastest_lr")) else ".")))
    return lines


# ---------------------------------------------------------------------------- 4d

STEMS = {"loss range": "loss_range", "gradient change": "grad_change",
         "gradient smoothness": "beta"}
# On screen: the experiment's "gradient smoothness" (Santurkar's effective β, larger = rougher)
# is named by what it measures.
NAMES = {"loss range": "loss range", "gradient change": "gradient change",
         "gradient smoothness": "gradient change per unit distance"}


def crossings(smooth, measure: str) -> list[float]:
    """The probe steps where the seed-mean curves of plain and BN swap order (plain above BN,
    then below, or back): several when they cross several times; [] without bands."""
    bands = getattr(smooth, "bands", None)
    if bands is None or len(bands) == 0:
        return []
    b = bands[bands["measure"] == measure].pivot_table(index="step", columns="variant",
                                                       values="mid")
    if BN not in b or PLAIN not in b:
        return []
    d = (_log(b[PLAIN]) - _log(b[BN]))
    steps, sign = b.index.to_numpy(float), np.sign(d)
    keep = np.isfinite(d) & (sign != 0)
    steps, sign = steps[keep], sign[keep]
    return [float(steps[i]) for i in range(1, len(sign)) if sign[i] != sign[i - 1]]


def _rows(smooth, measure: str) -> pd.DataFrame:
    t = smooth.seeds
    return t[t["measure"] == measure].sort_values("seed")


def rougher(smooth, measure: str, part: str):
    """Plain's `part` ("early" / "late") window mean against BN's, per seed, log scale:
    "rougher", "smoother", "about as smooth" (within 1.5x)."""
    r = _rows(smooth, measure)
    return compare(_log(r[f"{part}_plain"]), _log(r[f"{part}_bn"]), tol=SAME_ROUGH,
                   words=("rougher", "smoother", "about as smooth"))


def cross_text(smooth, measure: str) -> str:
    """"step 300 (250–450 by seed)", or "" when the curves do not cross."""
    step = smooth.summary[f"{STEMS[measure]}_cross_step"]
    if not math.isfinite(step):
        return ""
    per = _rows(smooth, measure)["cross_step"].to_numpy(float)
    by = span(per, fmt=lambda x: f"{x:.0f}")
    return f"step {step:.0f}" + ("" if by == f"{step:.0f}" or len(per) < 2 else
                                 f" ({by} by seed)")


def smooth_panel(smooth, measure: str) -> str:
    """A panel's finding, under its header: "cross at step 300"; "cross 3 times (split: step
    300)" when the seed-mean curves cross more than once; "no crossing"."""
    step = smooth.summary[f"{STEMS[measure]}_cross_step"]
    n = len(crossings(smooth, measure))
    if math.isfinite(step):
        return f"cross at step {step:.0f}" if n <= 1 else \
            f"cross {n} times (split: step {step:.0f})"
    return "no crossing" if n == 0 else f"cross {n} times, no lasting crossing"


def _several(smooth, measure: str) -> str:
    n = len(crossings(smooth, measure))
    return f" (the seed-mean curves cross {n} times)" if n > 1 else ""


def smooth_title(smooth) -> dict:
    """The finding of the loss-range panel (the clearest of the three), and what to look at."""
    m = "loss range"
    early, late = rougher(smooth, m, "early"), rougher(smooth, m, "late")
    step = smooth.summary["loss_range_cross_step"]
    if math.isfinite(step):
        several = _several(smooth, m)
        text = (f"Loss range: plain is {early.word} than BN until {'about ' if several else ''}"
                f"step {step:.0f}, then {late.word if late.sign else 'about as smooth'}"
                f"{several}")
    else:
        r = _rows(smooth, m)
        whole = f" (plain/BN {ratios(r['early_plain'], r['early_bn'])})"
        text = (f"Loss range: plain is {early.word} than BN throughout" if early.sign else
                "Loss range: plain and BN are about as smooth throughout") + whole
    return dict(text=text, subtitle="Log scale, smaller is smoother · dashed line: the step "
                                    "that best splits plain above BN from plain below (median "
                                    "over seeds) · band: min–max over seeds")


def smooth_lines(smooth) -> list[str]:
    """4d's "What this run measured": per measure, the ratio before and after the crossing."""
    s = smooth.summary
    lines = []
    for m in STEMS:
        r = _rows(smooth, m)
        early = rougher(smooth, m, "early")
        when = cross_text(smooth, m)
        name = NAMES[m]
        head = f"**{name[0].upper() + name[1:]}**{_several(smooth, m)}"
        if not when:
            lines.append(f"{head}: plain/BN {ratios(r['early_plain'], r['early_bn'])} over the "
                         f"whole run (no crossing), plain {early.word}"
                         + (f" ({early.seeds})." if early.sign else "."))
            continue
        late = rougher(smooth, m, "late")
        lines.append(
            f"{head}: plain/BN {ratios(r['early_plain'], r['early_bn'])} until {when}, plain "
            f"{early.word}" + (f" ({early.seeds})" if early.sign else "")
            + f"; after, {ratios(r['late_plain'], r['late_bn'])}, plain {late.word}"
            + (f" ({late.seeds})." if late.sign else "."))
    r = _rows(smooth, "loss range")
    if math.isfinite(s["loss_range_cross_step"]):
        fit = compare(_log(r["train_late_plain"]), _log(r["train_late_bn"]), tol=SAME_LOSS,
                      words=("higher", "lower", "about the same"))
        lines.append(
            f"After the crossing, plain's training loss is "
            f"{num(r['train_late_plain'], '.3f')} vs BN's {num(r['train_late_bn'], '.3f')}"
            + (": plain has nearly fit its batches, so along its (small) gradient there is "
               "little loss left to change." if fit.sign < 0 else f" ({fit.word})."))
    crossed = any(math.isfinite(s[f"{k}_cross_step"]) for k in STEMS.values())
    lines.append(("Over the whole run, one ratio would hide the crossing: " if crossed else
                  "Over the whole run: ") + "loss range "
                 + f"{times(s['loss_range_plain'], s['loss_range_bn'])}, gradient change "
                 f"{times(s['grad_change_plain'], s['grad_change_bn'])} (plain/BN, means over "
                 f"{_seeds(int(s.get('n_seeds', 1)))}).")
    return lines
