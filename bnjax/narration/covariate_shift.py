"""What page 2 (covariate shift) says, as pure functions of its result.

Teaches: a sentence beside a chart is chosen by the same numbers the chart draws. Every
comparative here ("less", "more than", "about as much as", "shields") comes from
`bnjax.text.compare` over per-seed numbers (BN and plain paired by seed), every number is printed
with its seed spread, and a value that is zero up to float rounding prints as "≈ 0 (7e-09)".
The functions take the result's tables (`per_seed`, `units`, `perturb`, `layers`), so a test can
feed them numbers where a comparison flips and watch the sentence flip with it.
Leaves out: Streamlit (markdown strings out) and the lecture's and the papers' claims, which are
quotations, not measurements.

    >>> import pandas as pd
    >>> ps = pd.DataFrame({"variant": ["BN", "plain"], "seed": [0, 0], "drift": [0.2, 3.0]})
    >>> drift_clause(ps)
    'moved by 0.20 with BN and 3.00 without: 15× less with BN, on 1 of 1 seeds'
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from bnjax.text import TINY, compare, is_zero, ratio
from bnjax.text import finite as _finite

BN, PLAIN = "BN", "plain"

# ---------------------------------------------------------------------------- numbers


def per_seed(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    """`column` of one variant, one value per seed in seed order (NaN for a diverged run)."""
    rows = table[table["variant"] == variant].sort_values("seed")
    return rows[column].to_numpy(float)


def num(values, spec: str = ".2f", suffix: str = "") -> str:
    """The seed mean with its min–max spread, "0.42 (0.41–0.44)"; "0.09 on every seed" when the
    seeds agree to the digits shown; "≈ 0 (7e-09)" when every seed is zero up to rounding (the
    largest seed's value in brackets); "—" when every run diverged. `suffix` follows each
    number ("1.4× (1.3–1.5×)")."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    if is_zero(v):
        top = float(np.abs(v).max())
        return "0" if top == 0 else f"≈ 0 ({top:.0e})"
    if v.size == 1:
        return format(float(v[0]), spec) + suffix
    lo, hi = format(float(v.min()), spec), format(float(v.max()), spec)
    if lo == hi:
        return f"{format(float(v.mean()), spec)}{suffix} on every seed"
    if abs(float(v.mean())) < TINY:  # mixed signs around 0: the spread says it all
        return f"{format(0.0, spec)}{suffix} ({lo}–{hi}{suffix})"
    return f"{format(float(v.mean()), spec)}{suffix} ({lo}–{hi}{suffix})"


def lost(per_seed_table: pd.DataFrame) -> list[str]:
    """The variants whose every seed diverged (nothing to measure)."""
    out = []
    for v in (BN, PLAIN):
        d = per_seed_table[per_seed_table["variant"] == v]
        if len(d) and bool(d["diverged"].all()):
            out.append(v)
    return out


def _pair(table: pd.DataFrame, column: str):
    return per_seed(table, BN, column), per_seed(table, PLAIN, column)


# ---------------------------------------------------------------------------- 1a: the drift


def drift_clause(ps: pd.DataFrame, column: str = "drift") -> str:
    """"moved by 0.21 (0.19–0.22) with BN and 3.85 (...) without: 18× less with BN, on 3 of 3
    seeds", the comparative chosen from the per-seed drifts."""
    bn, plain = _pair(ps, column)
    c = compare(bn, plain, words=("more", "less", "about as much"))
    head = f"moved by {num(bn)} with BN and {num(plain)} without"
    if c.sign < 0:
        return (f"{head}: {ratio(float(np.nanmean(plain)), float(np.nanmean(bn)), '.0f')} less "
                f"with BN, {c.seeds}")
    if c.sign > 0:
        return f"{head}: more with BN, {c.seeds}"
    if c.n == 0:
        return head
    return f"{head}: no clear difference over {c.n} seeds"


def spread_clause(ps: pd.DataFrame) -> str:
    """How much the 15–85 spread changed over training, BN vs plain."""
    bn, plain = _pair(ps, "spread_ratio")
    c = compare(bn, plain, words=("more", "less", "about as much"))
    tail = {1: f": more with BN, {c.seeds}", -1: f": less with BN, {c.seeds}"}.get(c.sign, "")
    return (f"the 15–85 spread changed {num(bn, '.1f', '×')} with BN and "
            f"{num(plain, '.1f', '×')} without{tail}")


def bands_title(units: pd.DataFrame, unit: int, *, explain: bool = True) -> list[str]:
    """The first chart's title: how far this unit's median moved, per variant, over the seeds,
    and a second line saying what the band and the line are (shorter without `explain`, in
    lecture mode, where no caption says it)."""
    u = units[units["unit"] == unit]
    bn, plain = _pair(u, "drift")
    lines = [f"Unit {unit}'s median moved {num(bn)} with BN, {num(plain)} without"]
    # What a band is, in lecture mode too (its narration is hidden there): shorter there.
    lines.append("line: the median; band: 15th to 85th percentile over the training set"
                 if explain else "line: median; band: 15th–85th percentile of the training set")
    return lines


def drift_title(ps: pd.DataFrame, n_units: int) -> list[str]:
    bn, plain = _pair(ps, "drift")
    return [f"Every unit and seed: the median moved {num(bn)} with BN,",
            f"{num(plain)} without (mean over the {n_units} units)"]


# ---------------------------------------------------------------------------- 1b: perturbations


def signed(values, spec: str = ".2f") -> str:
    """A change with its sign: "+0.42 (0.30–0.55)", or "≈ 0 (7e-09)" (no sign) when zero up to
    rounding."""
    text = num(values, spec)
    return text if text == "0" or text.startswith(("≈", "—", "-")) else f"+{text}"


def perturb_title(perturb: pd.DataFrame, size: float) -> list[str]:
    """Two lines: what each change of layer 1 cost the training loss, BN and plain."""
    p = perturb[perturb["size"] == size]
    lines = []
    for kind, name in (("affine", "Rescale + shift of layer 1"), ("random", "Random change")):
        k = p[p["kind"] == kind]
        bn, plain = per_seed(k, BN, "dloss"), per_seed(k, PLAIN, "dloss")
        if kind == "affine":
            bn, plain = np.abs(bn), np.abs(plain)
        lines.append(f"{name}: loss {signed(bn)} with BN, {signed(plain)} without")
    return lines


def layers_title(layers: pd.DataFrame, size: float, measure: str = "values") -> list[str]:
    """Three lines: what is measured, then how much it moved after each change of layer 1, BN
    vs plain (the comparative for the random change chosen from the per-seed numbers)."""
    column = "rel_change" if measure == "values" else "moment_change"
    depth = int(layers["layer"].max()) if len(layers) else 0
    what = ("the values" if measure == "values" else "the mean and spread of the values")
    lay = layers[(layers["size"] == size) & (layers["layer"] > 1)]
    lines = [f"How far {what} layers 2–{depth} see moved:"]
    for kind, name in (("affine", "after a rescale + shift"), ("random", "after a random change")):
        k = lay[lay["kind"] == kind].groupby(["variant", "seed"])[column].mean().reset_index()
        bn, plain = per_seed(k, BN, column), per_seed(k, PLAIN, column)
        c = compare(bn, plain, words=("more than", "less than", "about as much as"))
        word = f" {c.word}" if c.sign and not is_zero(bn) else ""
        lines.append(f"{name}: {num(bn)} with BN,{word} {num(plain)} without")
    return lines


def affine_clause(ps: pd.DataFrame) -> str:
    """What the rescale-and-shift of layer 1 cost each trained net."""
    bn, plain = _pair(ps, "affine_dloss")
    if is_zero(bn):
        bn_part = f"nothing with BN (training loss {signed(bn)})"
    else:
        bn_part = f"{signed(bn)} training loss with BN: not zero"
    c = compare(bn, plain, words=("more", "less", "about as much"))
    tail = "" if c.sign <= 0 or c.n == 0 else f"; more with BN, {c.seeds}"
    return f"{bn_part}, {signed(plain)} without{tail}"


def values_clause(ps: pd.DataFrame) -> str:
    """How much a random change of layer 1 moved the values later layers see, BN vs plain, the
    comparative chosen from the per-seed numbers: this is where BN does or does not shield."""
    bn, plain = _pair(ps, "values_change")
    c = compare(bn, plain, words=("more than", "less than", "about as much as"))
    if c.n == 0:
        return f"the values later layers see moved {num(bn)} with BN and {num(plain)} without"
    return (f"the values later layers see moved {num(bn)} with BN, {c.word} the {num(plain)} "
            f"without" + (f" ({c.seeds})" if c.sign else ""))


def moments_clause(ps: pd.DataFrame) -> str:
    bn, plain = _pair(ps, "moments_change")
    if is_zero(bn):
        return (f"only their mean and spread stayed fixed with BN ({num(bn)}, vs {num(plain)} "
                f"without)")
    return f"their mean and spread moved {num(bn)} with BN and {num(plain)} without"


def shields(ps: pd.DataFrame) -> str:
    """The verdict on a random change: does BN shield later layers from it? Chosen from the
    values later layers see (paired by seed), never typed in."""
    bn, plain = _pair(ps, "values_change")
    c = compare(bn, plain)
    pinned = is_zero(per_seed(ps, BN, "moments_change"))
    keeps = "it pins their mean and spread, " if pinned else ""
    if c.n == 0:
        return "Not measurable here: a net diverged on every seed."
    if c.sign < 0:
        return (f"BN shields later layers from a random change only partly: {keeps}and the "
                f"values they see move less than without BN ({c.seeds}).")
    if c.sign > 0:
        return (f"BN does **not** shield later layers from a random change: {keeps}but the "
                f"values they see move more than without BN ({c.seeds}).")
    return (f"BN does not shield later layers from a random change: {keeps}but the values they "
            f"see move about as much as without BN.")


def random_loss_clause(ps: pd.DataFrame) -> str:
    bn, plain = _pair(ps, "random_dloss")
    c = compare(bn, plain, words=("more", "less", "about as much"))
    tail = f": {c.word} with BN, {c.seeds}" if c.sign else (
        ": about the same with BN and without" if c.n else "")
    return f"training loss {signed(bn)} with BN, {signed(plain)} without{tail}"


# ---------------------------------------------------------------------------- the page's text


def short_answer(ps: pd.DataFrame, n_units: int | None = None) -> str:
    """Two sentences that answer "why are later layers more robust to changes in earlier
    layers?" from this run's numbers (seed means with their min–max over seeds). The drift is
    the mean over the last hidden layer's units (`n_units` of them), and the sentence says so:
    one unit's chart beside it can show another number."""
    gone = lost(ps)
    if gone:
        names = " and the ".join(gone)
        return (f"The {names} net diverged on every seed at this learning rate, so this run "
                "cannot answer the question: pick a smaller learning rate or a preset.")
    bn_d, pl_d = _pair(ps, "drift")
    c = compare(bn_d, pl_d)
    pinned = is_zero(per_seed(ps, BN, "moments_change"))
    units = f" (mean of {n_units} units)" if n_units else ""
    moved = f"a deep unit's median input moved {num(bn_d)} with BN vs {num(pl_d)} without{units}"
    resets = ("resets the mean and spread of every layer's input" if pinned else
              "re-centres and re-scales every layer's input on each batch")
    if c.sign < 0:
        first = (f"BN {resets}: in training, {moved}, "
                 f"{ratio(float(np.nanmean(pl_d)), float(np.nanmean(bn_d)), '.0f')} less "
                 f"{c.seeds}.")
    elif c.sign > 0:
        first = (f"Batch norm {resets}, yet in this run what a deep unit sees was **less** "
                 f"stable with it: over training, {moved}, more with BN {c.seeds}.")
    else:
        first = (f"Batch norm {resets}, yet in this run what a deep unit sees moved about as "
                 f"much with it as without: over training, {moved}.")
    bn_a, pl_a = _pair(ps, "affine_dloss")
    loss = f"loss {signed(bn_a)} vs {signed(pl_a)} without"
    if is_zero(bn_a):
        second = f"Rescaling and shifting layer 1 changes nothing downstream with BN ({loss})"
    else:
        second = f"Even a rescale-and-shift of layer 1 reaches BN's later layers ({loss})"
    bn_v, pl_v = _pair(ps, "values_change")
    if is_zero(bn_v):
        second += ", and a random change of layer 1 does not get through either."
    else:
        cv = compare(bn_v, pl_v, words=("more than", "less than", "about as much as"))
        second += (f"; a random change gets through: later layers' values moved "
                   f"{num(bn_v)} with BN, {cv.word} {num(pl_v)} without.")
    return f"{first} {second}"


def measured_lines(ps: pd.DataFrame, reference_size: float) -> list[str]:
    """The verdict's "What this run measured" column."""
    gone = lost(ps)
    lines = [f"The {' and the '.join(gone)} net diverged on every seed at this learning rate: "
             "its numbers are shown as —."] if gone else []
    bn_x3, pl_x3 = _pair(ps, "w1x3_dlogit")
    bn_acc, pl_acc = _pair(ps, "test_acc")
    acc = compare(bn_acc, pl_acc)
    lines += [
        f"A last-layer unit's median input {drift_clause(ps)}; {spread_clause(ps)}.",
        f"Rescale + shift of layer 1 (size {reference_size:g}): {affine_clause(ps)}. Scaling "
        f"W1 by 3 moves the network's outputs (logits) by up to {num(bn_x3, '.3g')} with BN, "
        f"{num(pl_x3, '.3g')} without.",
        f"Random change of W1 of the same size: {random_loss_clause(ps)}; {values_clause(ps)}. "
        + shields(ps),
        f"Test accuracy: {num(100 * bn_acc, '.1f', '%')} with BN, "
        f"{num(100 * pl_acc, '.1f', '%')} without"
        + (f": {acc.word} with BN, {acc.seeds}." if acc.sign else "."),
    ]
    return lines


def reading(ps: pd.DataFrame) -> str:
    """The page's closing line, chosen from the numbers."""
    if lost(ps):
        return "**The honest reading:** not measurable at this learning rate (a net diverged)."
    exact = is_zero(per_seed(ps, BN, "affine_dloss")) and is_zero(per_seed(ps, BN,
                                                                           "moments_change"))
    head = ("batch norm makes later layers immune to the *mean and scale* of an upstream "
            "change, exactly" if exact else
            "batch norm did not make later layers exactly immune even to the mean and scale of "
            "an upstream change here")
    return f"**The honest reading:** {head}. {shields(ps)}"


def seeds_caption(seeds: Sequence[int]) -> str:
    return f"Seeds {seeds[0]} to {seeds[-1]} train side by side."
