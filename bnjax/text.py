"""Words chosen by numbers: the comparatives and number formats every page's sentences use.

Teaches: a sentence next to a chart must not be able to contradict it, so no comparative is typed
in. `compare` picks "higher", "lower" or "about the same" from per-seed numbers (paired by seed),
and says how many seeds agree; `spread` and `tiny` print a number with its seed spread, and a
value that is zero up to float rounding as "≈ 0 (3e-09)".
Leaves out: any Streamlit; sentences themselves (each page's narration builds them from these).

    >>> compare([0.9, 0.92, 0.91], [0.8, 0.81, 0.79]).word
    'higher'
    >>> spread([0.42, 0.40, 0.45])
    '0.42 (0.40–0.45)'
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

TINY = 1e-4  # below this a change is "zero up to float rounding" (float32 BN invariances: ~1e-6)
# Two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def _finite(values: Iterable[float]) -> np.ndarray:
    v = np.asarray(list(values), dtype=float).ravel()
    return v[np.isfinite(v)]


def finite(values: Iterable[float]) -> np.ndarray:
    """The finite values, flattened (a diverged seed's NaN dropped)."""
    return _finite(values)


def is_zero(values: Iterable[float]) -> bool:
    """Every finite value is zero up to float rounding (|v| < TINY), and there is at least one.

    >>> is_zero([3e-9, 0.0, float("nan")]), is_zero([3e-9, 0.2]), is_zero([])
    (True, False, False)
    """
    v = _finite(values)
    return v.size > 0 and bool(np.all(np.abs(v) < TINY))


def fmt(v: float, spec: str = ".2f") -> str:
    """One number, or "—" for NaN/inf (a run that diverged)."""
    return "—" if v is None or not math.isfinite(v) else format(v, spec)


def tiny(v: float, spec: str = ".2f", *, below: float = TINY) -> str:
    """A value that may be zero up to rounding: "≈ 0 (3e-09)", "0", or `format(v, spec)`.

    >>> tiny(3e-9), tiny(0.0), tiny(0.4213)
    ('≈ 0 (3e-09)', '0', '0.42')
    """
    if v is None or not math.isfinite(v):
        return "—"
    if v == 0:
        return "0"
    if abs(v) < below:
        return f"≈ 0 ({v:.0e})"
    return format(v, spec)


def spread(values: Iterable[float], spec: str = ".2f", *, style: str = "range") -> str:
    """The seed mean with its spread: "0.42 (0.40–0.45)" (style "range", min–max) or
    "0.42 ± 0.02" (style "pm", standard deviation over seeds); one value prints alone.
    Tiny values print as `tiny` does."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    m = float(v.mean())
    show = (lambda x: tiny(x, spec)) if abs(m) < TINY or v.max() < TINY else \
        (lambda x: format(x, spec))
    if v.size == 1 or float(v.max() - v.min()) == 0.0:
        return show(m)
    if style == "pm":
        return f"{show(m)} ± {format(float(v.std(ddof=1)), spec)}"
    return f"{show(m)} ({show(float(v.min()))}–{show(float(v.max()))})"


def seeds_text(values, spec: str = ".2f") -> str:
    """`spread` with as many decimals (up to two more than `spec`) as it takes for the seeds'
    min and max to differ, "0.372 (0.369–0.374)" rather than "0.37 (0.37–0.37)"; seeds that
    agree to that precision read "0.37 on every seed".

    >>> seeds_text([0.372, 0.369, 0.374]), seeds_text([0.5, 0.5, 0.5])
    ('0.372 (0.369–0.374)', '0.50 on every seed')
    """
    v = np.asarray(values, float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "—"
    if v.size == 1:
        return spread(v, spec)
    kind, digits = spec[-1], int(spec[1:-1] or 2) if spec[1:-1].isdigit() else 2
    for d in range(digits, digits + 3):
        s_ = f".{d}{kind}"
        if format(v.min(), s_) != format(v.max(), s_):
            return spread(v, s_)
    return f"{tiny(float(v.mean()), spec)} on every seed"


def ci95(diffs: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% confidence interval of a mean, Student t, from paired
    differences; (mean, nan, nan) for fewer than 2 values."""
    d = _finite(diffs)
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(d.mean())
    if d.size < 2:
        return m, float("nan"), float("nan")
    t = _T95[d.size - 2] if d.size - 1 <= len(_T95) else 1.96
    half = t * float(d.std(ddof=1)) / math.sqrt(d.size)
    return m, m - half, m + half


@dataclass(frozen=True)
class Comparison:
    """How a compares with b over paired seeds."""
    word: str  # "higher", "lower", "about the same" (or the caller's words), "not comparable"
    sign: int  # +1 a above b, -1 below, 0 no clear difference
    n: int  # paired seeds with both numbers finite
    above: int  # seeds where a > b
    diff: float  # mean of a - b
    low: float  # 95% CI of the mean difference (nan for n < 2)
    high: float

    @property
    def seeds(self) -> str:
        """"on 3 of 3 seeds" for the direction found; "" when there is none."""
        if self.sign == 0 or self.n == 0:
            return ""
        k = self.above if self.sign > 0 else self.n - self.above
        return f"on {k} of {self.n} seeds"


def compare(a: Sequence[float], b: Sequence[float], *, tol: float = 0.0,
            words: tuple[str, str, str] = ("higher", "lower", "about the same")) -> Comparison:
    """Compare per-seed numbers `a` and `b` (paired by position; unpaired if lengths differ).

    A direction is claimed only when the data carry it: with fewer than 5 pairs, every pair must
    differ in the same direction by more than `tol`; with 5 or more, the 95% CI of the mean
    difference must exclude 0 and the mean must exceed `tol`. Otherwise: words[2].

    >>> compare([1.0, 1.1, 0.9], [1.05, 1.0, 0.95]).word
    'about the same'
    """
    a_, b_ = np.asarray(list(a), float).ravel(), np.asarray(list(b), float).ravel()
    if a_.size != b_.size:  # unpaired: compare the means against the larger spread
        fa, fb = _finite(a_), _finite(b_)
        if fa.size == 0 or fb.size == 0:
            return Comparison("not comparable", 0, 0, 0, float("nan"), float("nan"), float("nan"))
        diff = float(fa.mean() - fb.mean())
        lo = float(fa.min() - fb.max())
        hi = float(fa.max() - fb.min())
        sign = 1 if lo > tol else -1 if hi < -tol else 0
        return Comparison(words[0] if sign > 0 else words[1] if sign < 0 else words[2], sign,
                          min(fa.size, fb.size), int(sign > 0) * min(fa.size, fb.size),
                          diff, lo, hi)
    ok = np.isfinite(a_) & np.isfinite(b_)
    d = (a_ - b_)[ok]
    if d.size == 0:
        return Comparison("not comparable", 0, 0, 0, float("nan"), float("nan"), float("nan"))
    m, lo, hi = ci95(d)
    if d.size < 5:
        sign = 1 if np.all(d > tol) else -1 if np.all(d < -tol) else 0
    else:
        sign = 1 if (lo > 0 and m > tol) else -1 if (hi < 0 and m < -tol) else 0
    word = words[0] if sign > 0 else words[1] if sign < 0 else words[2]
    return Comparison(word, sign, int(d.size), int(np.sum(d > 0)), m, lo, hi)


def ratio(a: float, b: float, spec: str = ".1f") -> str:
    """"4.2×" for a / b; "—" where undefined; "> 1000×" where b is zero up to rounding."""
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0 and b == 0:
        return "—"
    if abs(b) < TINY * max(abs(a), 1e-30) or b == 0:
        return "> 1000×"
    return f"{format(a / b, spec)}×"
