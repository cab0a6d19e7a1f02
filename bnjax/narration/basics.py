"""What page 1 (BatchNorm basics) says, as pure functions of its result.

Teaches: the page's answer to "what does BN compute, and what changes at test time?" is built
from the run's per-seed numbers (`BasicsResult.per_seed`): every accuracy is printed with its
seed spread, every comparative ("about as good as" chance, "still lags") is chosen by
`bnjax.text.compare`, and a difference that is zero up to rounding prints as "≈ 0 (3e-09)".
Leaves out: Streamlit (markdown strings out); the formulas of BN, which are definitions, not
measurements.

    >>> import pandas as pd
    >>> ps = pd.DataFrame({"seed": [0, 1], "acc_train_batch1": [0.10, 0.09]})
    >>> acc(ps, "acc_train_batch1")
    '9.5% (9.0–10.0)'
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bnjax.narration.covariate_shift import is_zero, num
from bnjax.text import compare

DECAYS = (0.9, 0.99, 0.999)


def per_seed(ps: pd.DataFrame, column: str) -> np.ndarray:
    """One value per seed, in seed order (NaN where that seed's net diverged)."""
    return ps.sort_values("seed")[column].to_numpy(float)


def acc(ps: pd.DataFrame, column: str) -> str:
    """An accuracy as a percentage with its spread over seeds: "97.3% (96.9–98.3)", or
    "9.6% on every seed" when the seeds agree to the digit shown."""
    v = per_seed(ps, column)
    f = v[np.isfinite(v)]
    if f.size == 0:
        return "—"
    if f.size > 1 and len({format(x, ".1%") for x in f}) == 1:
        return f"{f.mean():.1%} on every seed"
    if f.size == 1:
        return f"{f[0]:.1%}"
    return f"{f.mean():.1%} ({100 * f.min():.1f}–{100 * f.max():.1f})"


def all_diverged(ps: pd.DataFrame) -> bool:
    return len(ps) > 0 and bool(ps["diverged"].astype(bool).all())


def seeds_note(ps: pd.DataFrame) -> str:
    """"3 seeds (0–2)": what each spread is over."""
    seeds = sorted(int(s) for s in ps["seed"])
    return f"{len(seeds)} seed" + ("" if len(seeds) == 1 else f"s ({seeds[0]}–{seeds[-1]})")


def chance_comparison(ps: pd.DataFrame, chance: float, tol: float = 0.02):
    """Train mode on test batches of one image against always guessing the commonest digit."""
    b1 = per_seed(ps, "acc_train_batch1")
    return compare(b1, np.full_like(b1, chance), tol=tol,
                   words=("better than", "worse than", "about as good as"))


def batch_independent(ps: pd.DataFrame) -> bool:
    """Eval mode's outputs did not move (up to rounding) when the test set was reshuffled and
    split into batches, on every seed that trained."""
    return is_zero(per_seed(ps, "logit_diff_eval"))


def short_answer(ps: pd.DataFrame, chance: float) -> str:
    """Three sentences: what BN computes in training, what it uses at test time and what that
    buys, and what happens without it on a test batch of one (numbers from `ps`)."""
    if all_diverged(ps):
        return ("The net diverged on every seed at this learning rate, so there is nothing to "
                "test: pick a smaller learning rate or a preset.")
    first = ("In training, batch norm normalizes each unit with its mini-batch's mean and "
             "variance (so x̂ has mean 0 and variance 1), then applies a learned scale γ and "
             "shift β.")
    pop = acc(ps, "acc_eval_population")
    if batch_independent(ps):
        second = ("At test time it uses statistics fixed after training: with the training "
                  f"set's, the net scores {pop} and each prediction depends on its image alone.")
    else:
        second = ("At test time it uses statistics fixed after training: with the training "
                  f"set's, the net scores {pop}, yet reshuffling the test set still moved its "
                  f"outputs by {num(per_seed(ps, 'logit_diff_eval'), '.2g')}.")
    c = chance_comparison(ps, chance)
    third = (f"On batch statistics, a lone test image gets x̂ = 0: the net scores "
             f"{acc(ps, 'acc_train_batch1')}, {c.word} chance ({chance:.1%}).")
    return f"{first} {second} {third}"


# ---------------------------------------------------------------------------- chart titles


def steps_title(layer: int, unit: int, m: int, seed: int, mean: float, var: float, *,
                explain: bool = True) -> list[str]:
    """The step-by-step chart: one batch of one net (numbers of this batch, not seed means);
    with `explain`, a second line on what the steps do."""
    lines = [f"One batch of {m} (seed {seed}), layer {layer}, unit {unit}: "
             f"μ_B = {mean:.2f}, σ²_B = {var:.2f}".replace("-", "−")]
    if explain:
        lines.append("subtract μ_B, divide by √(σ²_B + ε): x̂ has mean 0 and variance 1")
    return lines


HEADLINE = ("whole training set", "test batch 1")  # the two bars the short answer quotes


def headline_title(ps: pd.DataFrame, chance: float) -> list[str]:
    """The first chart's title: the short answer's two test-time numbers, in its order."""
    c = chance_comparison(ps, chance)
    return [f"Training set's statistics: {acc(ps, 'acc_eval_population')} of test digits right;",
            f"a lone image's own statistics: {acc(ps, 'acc_train_batch1')}, {c.word} chance"]


def accuracy_title(ps: pd.DataFrame, chance: float) -> list[str]:
    """Every choice of statistics: what the first chart did not show (larger test batches in
    train mode), after its batch-of-1 number."""
    c = chance_comparison(ps, chance)
    return [f"Train mode, test batch of 1: {acc(ps, 'acc_train_batch1')}, {c.word} chance;",
            f"of 8: {acc(ps, 'acc_train_batch8')}; of 64: {acc(ps, 'acc_train_batch64')}"]


def lag_clause(ps: pd.DataFrame, decay: float, what: str = "the population statistics") -> str:
    """How the running average of `decay` compares with the population statistics in eval-mode
    test accuracy, chosen from the per-seed numbers: "lags behind <what> by 9.8 (8.1–12.8)
    percentage points", "beats <what> by ...", or "matches <what> (within 0.2 percentage points
    on every seed)"."""
    ema = per_seed(ps, f"acc_eval_ema_{decay}")
    pop = per_seed(ps, "acc_eval_population")
    c = compare(ema, pop, tol=0.01, words=("beats", "lags behind", "matches"))
    lag = 100 * (pop - ema)
    if c.sign < 0:
        return f"lags behind {what} by {num(lag, '.1f')} percentage points"
    if c.sign > 0:
        return f"beats {what} by {num(-lag, '.1f')} percentage points"
    if c.n == 0:
        return f"cannot be compared with {what} (no seed trained)"
    top = float(np.nanmax(np.abs(lag)))
    return f"matches {what} (within {top:.1f} percentage points on every seed)"


def ema_title(ps: pd.DataFrame, steps: int) -> list[str]:
    gaps = ", ".join(f"{d}: {num(per_seed(ps, f'ema_gap_{d}'), '.3f')}" for d in DECAYS)
    slow = DECAYS[-1]
    return [f"After {steps} steps, each running average still changes x̂ by (rms):",
            f"decay {gaps}",
            f"Test accuracy in eval mode, decay {slow}:",  # two lines: one was cut at 1280 px
            lag_clause(ps, slow, "the population statistics")]


def train_mode_clause(ps: pd.DataFrame) -> str:
    """Train-mode accuracy by test batch size, with spreads."""
    return (f"test batch of 1: {acc(ps, 'acc_train_batch1')}; of 8: "
            f"{acc(ps, 'acc_train_batch8')}; of 64: {acc(ps, 'acc_train_batch64')}; the whole "
            f"test set: {acc(ps, 'acc_train_full')}")


def logits_clause(ps: pd.DataFrame) -> str:
    moved = per_seed(ps, "logit_diff_eval")
    f = moved[np.isfinite(moved)]
    if f.size and np.all(f == 0):
        ev = "left eval-mode outputs (logits) bit for bit unchanged on every seed"
    else:
        ev = f"moved eval-mode outputs (logits) by {num(moved, '.2g')}"
    return (f"Shuffling the test set and splitting it into batches of 60 {ev}, and moved "
            f"train-mode outputs by up to {num(per_seed(ps, 'logit_diff_train'), '.2f')}.")


def measured_lines(ps: pd.DataFrame, chance: float, steps: int) -> list[str]:
    """The verdict's "What this run measured" column."""
    n_div = int(ps["diverged"].astype(bool).sum())
    lines = [f"The net diverged on {n_div} of {len(ps)} seeds: its numbers are left out "
             "(—)."] if n_div else []
    c = chance_comparison(ps, chance)
    ema = " / ".join(acc(ps, f"acc_eval_ema_{d}") for d in DECAYS)
    lines += [
        f"Train mode, {train_mode_clause(ps)}. A test batch of 1 is {c.word} chance "
        f"({chance:.1%})" + (f", {c.seeds}." if c.sign else "."),
        f"Eval mode after {steps} steps, running averages with decay 0.9 / 0.99 / 0.999: {ema}; "
        f"the training set's (population) statistics: {acc(ps, 'acc_eval_population')}.",
        f"The slowest average (decay {DECAYS[-1]}) {lag_clause(ps, DECAYS[-1])}; decay "
        f"{DECAYS[0]} {lag_clause(ps, DECAYS[0], 'them')}.",
        logits_clause(ps),
        f"Each number is the mean over {seeds_note(ps)}, with the lowest and highest seed in "
        "brackets.",
    ]
    return lines
