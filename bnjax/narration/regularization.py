"""Page 4's sentences, as pure functions of its results: "mini-batch statistics add noise to the
hidden units, a slight regularizer, like dropout".

Teaches: how big a claimed effect is, and whether it can be told from luck, is part of the
answer. Every comparative here is chosen by `bnjax.text.compare` from per-seed numbers (paired by
seed), every size word from a stated threshold, every number printed with its seed spread or
its confidence interval. Tests feed results where a comparison flips and check the sentence flips.
Leaves out: Streamlit (markdown strings out) and the experiments themselves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bnjax.text import Comparison, compare, fmt, seeds_text, tiny

# Noise closes a share of the noise-off net's train/test gap; below this share it is "slight".
SLIGHT = 0.25
ON, OFF = "noise on", "noise off"


def _pts(x: float, signed: bool = True) -> str:
    """A difference of accuracies in percentage points: "+1.7"."""
    return "—" if not math.isfinite(x) else format(100 * x, "+.1f" if signed else ".1f")


def _pct(values) -> str:
    """A seed mean of accuracies with its min–max, in percent: "91.9% (90.0–93.7)"."""
    text = seeds_text(100 * np.asarray(values, float), ".1f")
    return text if text == "—" else text.replace(" ", "% ", 1) if " " in text else text + "%"


def _points(values) -> str:
    """Accuracies lost, in percentage points with their min–max over seeds: "0.56 (0.37–0.74)
    points"."""
    text = seeds_text(100 * np.asarray(values, float), ".2f")
    return text if text == "—" else f"{text} points"


# ---------------------------------------------------------------------------- noise on vs off


@dataclass(frozen=True)
class Effect:
    """Batch noise on vs off, paired by seed."""
    acc: Comparison  # test accuracy, on vs off
    on: np.ndarray  # (seeds,) test accuracy, noise on
    off: np.ndarray  # (seeds,) noise off
    gap_on: np.ndarray  # (seeds,) train accuracy minus test accuracy
    gap_off: np.ndarray
    train_on: np.ndarray  # (seeds,) train accuracy
    train_off: np.ndarray

    @property
    def share(self) -> float:
        """The share of the noise-off train/test gap that the noise closed (may be < 0)."""
        g = float(np.nanmean(self.gap_off))
        return self.acc.diff / g if g > 0 and math.isfinite(self.acc.diff) else float("nan")

    @property
    def share_text(self) -> str:
        """"12% (95% CI 5–18%)": the share of the gap closed, with the effect's confidence
        interval over the same gap."""
        g = float(np.nanmean(self.gap_off))
        if not (g > 0 and math.isfinite(self.share)):
            return "—"
        if not math.isfinite(self.acc.low):
            return f"{self.share:.0%}"
        return (f"{self.share:.0%} (95% CI {100 * self.acc.low / g:.0f}–"
                f"{self.acc.high / g:.0%})")

    @property
    def size(self) -> str:
        """"slight", "clear" or "" (no direction), chosen from `share`."""
        if self.acc.sign <= 0:
            return ""
        return "slight" if not self.share >= SLIGHT else "clear"


def effect(per_seed: pd.DataFrame) -> Effect:
    """From the per-seed table (seed, arm, train_acc, test_acc, gap) of `run_regularization`."""
    wide = per_seed.pivot(index="seed", columns="arm")
    col = lambda c, arm: wide[c][arm].to_numpy(float)  # noqa: E731
    return Effect(compare(col("test_acc", ON), col("test_acc", OFF)), col("test_acc", ON),
                  col("test_acc", OFF), col("gap", ON), col("gap", OFF), col("train_acc", ON),
                  col("train_acc", OFF))


def ci_text(c: Comparison) -> str:
    """"95% CI +1.2 to +2.4" in percentage points."""
    return f"95% CI {_pts(c.low)} to {_pts(c.high)}"


def effect_title(per_seed: pd.DataFrame) -> str:
    """The first chart's title: its finding, with the interval."""
    e = effect(per_seed)
    c = e.acc
    if c.sign > 0:
        return (f"Batch noise on: test accuracy {_pts(c.diff)} points ({ci_text(c)}), "
                f"higher {c.seeds}")
    if c.sign < 0:
        return (f"Batch noise on: test accuracy {_pts(c.diff)} points ({ci_text(c)}), "
                f"lower {c.seeds}")
    return (f"Batch noise on vs off: {_pts(c.diff)} points, {ci_text(c)} includes 0 "
            f"({c.n} seeds)")


def effect_answer(per_seed: pd.DataFrame, subset: int) -> str:
    """The short answer's first sentence: yes / no / not measurably, the effect in points with
    its confidence interval, and the share of the train/test gap it closed (with its interval).
    The details (each arm's accuracy, the gap) are in `effect_sentence`, under the chart."""
    e = effect(per_seed)
    c = e.acc
    setup = (f"with BN's batch noise on, nets trained on {subset} digits score "
             f"{_pts(abs(c.diff), signed=False)} points {c.word} on the test set than with it "
             f"off ({ci_text(c)}, {c.n} paired seeds)")
    if c.sign > 0:
        closed = f", closing {e.share_text} of their train/test gap" if e.share_text != "—" \
            else ""
        lead = "**Yes, slightly**: " if e.size == "slight" else "**Yes, clearly**: "
        return f"{lead}{setup}{closed}."
    if c.sign < 0:
        return f"**Not here: it hurt**: {setup}."
    return (f"**Not measurably, here**: with BN's batch noise on, nets trained on {subset} "
            f"digits score {_pts(c.diff)} points on the test set against it off, but the "
            f"{ci_text(c)} includes 0 ({c.n} paired seeds): the difference cannot be told "
            f"from luck.")


def effect_sentence(per_seed: pd.DataFrame, subset: int, group: int, *,
                    lead: bool = True) -> str:
    """The effect in detail: each arm's accuracy, the difference, its interval, the gap (with
    `lead=False`, without the bold yes/no: for the section's text under the chart)."""
    text = _effect_sentence(per_seed, subset, group)
    return text if lead else text.split("** ", 1)[1]


def _effect_sentence(per_seed: pd.DataFrame, subset: int, group: int) -> str:
    e = effect(per_seed)
    c = e.acc
    setup = (f"Trained on {subset} digits, BN over random groups of {group} (batch noise on) "
             f"scores {_pct(e.on)} on the test set, over all {subset} at once (off) "
             f"{_pct(e.off)}")
    gap_off = f"{gap_text(e.gap_off)} train/test gap"
    if c.sign > 0:
        lead, kind = (("**Yes, slightly.** ", "a slight regularizer") if e.size == "slight"
                      else ("**Yes.** ", "more than a slight regularizer"))
        return (f"{lead}{setup}: {_pts(c.diff)} points ({ci_text(c)}, higher {c.seeds}), "
                f"closing {e.share_text} of the {gap_off}: {kind}.")
    if c.sign < 0:
        return (f"**Not here: it hurt.** {setup}: {_pts(c.diff)} points ({ci_text(c)}, lower "
                f"{c.seeds}); the {gap_off} widened to {_pct(e.gap_on)}.")
    return (f"**Not measurably, here.** {setup}: {_pts(c.diff)} points, but the {ci_text(c)} "
            f"includes 0, so over {c.n} paired seeds the difference cannot be told from luck.")


def gap_text(gaps) -> str:
    """A seed mean of gaps in points with its min–max: "9.8-point (7.0–12.1 by seed)"."""
    v = np.asarray(gaps, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "—"
    lo, hi, m = (f"{100 * x:.1f}" for x in (v.min(), v.max(), v.mean()))
    return f"{m}-point" + ("" if lo == hi else f" ({lo}–{hi} by seed)")


def gap_sentence(per_seed: pd.DataFrame) -> str:
    """The train/test gap, for the section's text."""
    e = effect(per_seed)
    g = compare(e.gap_on, e.gap_off, words=("wider", "narrower", "about the same"))
    both_full = np.nanmin(np.r_[e.train_on, e.train_off]) >= 1.0
    train = ("Both arms fit their training digits perfectly (train accuracy 100% on every seed), "
             "so the gap is simply 100% minus test accuracy. " if both_full else
             f"Train accuracy: {_pct(e.train_on)} on, {_pct(e.train_off)} off. ")
    return (f"{train}With batch noise the train/test gap is {g.word} ({_pct(e.gap_on)} vs "
            f"{_pct(e.gap_off)}" + (f", {g.seeds}" if g.seeds else "") + ").")


# ---------------------------------------------------------------------------- the noise meter


def _falls(summary: dict) -> str:
    """"like 1/√B" when every seed's log-log slope is within 0.1 of -0.5, else the slope."""
    if summary["noise_slope_max"] <= -0.4 and summary["noise_slope_min"] >= -0.6:
        return "like 1/√B"
    return f"like B^{summary['noise_slope']:.2f} (1/√B would be B^-0.50)"


def noise_sentence(std: pd.DataFrame, summary: dict) -> str:
    """The mechanism in one sentence: x̂'s spread at B = 16 and how it falls, seed spreads."""
    at16 = std[std.batch_size == 16]["std"]
    return (f"The noise comes from the mini-batch statistics: one image's normalized value x̂ "
            f"varies by {seeds_text(at16)} between batches of 16, shrinking {_falls(summary)}.")


def slope_clause(summary: dict) -> str:
    return (f"the slope on log-log axes is {summary['noise_slope']:.2f} (seeds "
            f"{summary['noise_slope_min']:.2f} to {summary['noise_slope_max']:.2f}; a pure 1/√B "
            f"law has slope −0.5)")


def noise_title(std: pd.DataFrame, summary: dict) -> list[str]:
    """Three short lines (the chart sits in a column): the noise at B = 16, how it falls."""
    at16 = std[std.batch_size == 16]["std"]
    return [f"One image's x̂ varies by {seeds_text(at16)}",
            f"between batches of 16, falling {_falls(summary)}:",
            f"slope {summary['noise_slope']:.2f} (seeds {summary['noise_slope_min']:.2f} to "
            f"{summary['noise_slope_max']:.2f})"]


def full_batch_clause(summary: dict) -> str:
    """The limit: the whole training set as the batch leaves no noise ("≈ 0 (3e-07)")."""
    return (f"{tiny(summary['noise_std_full'], '.3f')} when the batch is the whole training set "
            f"of {int(summary['n_train'])}")


# ---------------------------------------------------------------------------- ablation


def aucs(curves: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per variant, the per-seed AUC (mean test accuracy over the ablated fractions), by seed."""
    wide = curves.groupby(["variant", "seed"])["acc"].mean().unstack("variant").sort_index()
    return {v: wide[v].to_numpy(float) for v in wide.columns}


ROBUST = ("more robust", "less robust", "about as robust")


def ablation_sentences(curves: pd.DataFrame) -> dict[str, str]:
    """The ablation's findings: 'frozen' (BN at test time vs plain), 'recomputed' (BN that
    re-normalizes vs plain), 'dropout' (dropout vs plain); each with numbers and seed counts."""
    a = aucs(curves)
    out = {}
    for key, v in (("frozen", "BN (frozen stats)"), ("recomputed", "BN (recomputed stats)"),
                   ("dropout", "dropout")):
        if v not in a or "plain" not in a:
            continue
        c = compare(a[v], a["plain"], words=ROBUST)
        out[key] = (f"{c.word} than plain (AUC {_pct(a[v])} vs "
                    f"{_pct(a['plain'])}" + (f", {c.seeds}" if c.seeds else "") + ")")
    return out


_SHORT = {"plain": "plain", "BN (frozen stats)": "BN frozen",
          "BN (recomputed stats)": "BN recomputed", "dropout": "dropout"}


def _per_line(parts: list[str], per_line: int = 2) -> list[str]:
    return [" · ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]


def ablation_title(curves: pd.DataFrame, shown) -> list[str]:
    """Title lines: what is plotted, then each variant's AUC, mean (min–max over seeds)."""
    a = aucs(curves)
    n = len(next(iter(a.values()))) if a else 0
    parts = [f"{_SHORT.get(v, v)} {_pct(a[v])}" for v in shown if v in a]
    return ["Average test accuracy as units are switched off (AUC)",
            f"mean (min–max over {n} seeds):", *_per_line(parts)]


def single_unit_title(single: pd.DataFrame, shown, layer: int) -> list[str]:
    """Title lines: the largest single-unit drop per variant, mean (min–max over seeds)."""
    top = single[single["rank"] == 1].pivot(index="seed", columns="variant", values="drop")
    parts = [f"{_SHORT.get(v, v)} {_points(top[v])}" for v in shown if v in top]
    return [f"Accuracy lost by switching off the worst single unit of layer {layer}",
            f"in points, mean (min–max over {len(top)} seeds):", *_per_line(parts)]


def single_unit_sentence(single: pd.DataFrame) -> str:
    """BN vs plain on the largest single-unit drop, per seed."""
    top = single[single["rank"] == 1].pivot(index="seed", columns="variant", values="drop")
    if "plain" not in top or "BN (frozen stats)" not in top:
        return ""
    c = compare(top["BN (frozen stats)"], top["plain"], words=("larger", "smaller",
                                                               "about the same"))
    return (f"the largest drop from removing one unit is {c.word} with BN "
            f"({_points(top['BN (frozen stats)'])}) than plain "
            f"({_points(top['plain'])})" + (f", {c.seeds}" if c.seeds else ""))


def recomputed_clause(curves: pd.DataFrame) -> str:
    """Whether Morcos et al.'s finding (BN nets rely less on single units) shows, and in which
    statistics mode, from the per-seed AUCs."""
    s = ablation_sentences(curves)
    if "recomputed" not in s:
        return ""
    frozen_more = s.get("frozen", "").startswith("more robust")
    rec_more = s["recomputed"].startswith("more robust")
    if rec_more and not frozen_more:
        return "Morcos et al.'s finding (BN nets rely less on single units) appears only in that mode."
    if rec_more and frozen_more:
        return "Morcos et al.'s finding (BN nets rely less on single units) appears in both modes."
    if frozen_more:
        return "Morcos et al.'s finding appears with frozen statistics only."
    return "Morcos et al.'s finding (BN nets rely less on single units) does not appear here."


def dropout_flat_clause(summary: dict) -> str:
    """How the dropout curve behaves up to 30% switched off, from the worst seed and fraction."""
    worst, start = summary["dropout_min_acc_to_f3"], summary["acc_dropout"]
    if not (math.isfinite(worst) and math.isfinite(start)):
        return ""
    shape = "nearly flat" if start - worst <= 0.05 else "already falling"
    return (f"{shape} up to 30% switched off (its lowest accuracy there, over seeds and "
            f"shares: {worst:.1%})")


def _pct_of(a: dict):
    return lambda v: _pct(a[v])


def dropout_answer(curves: pd.DataFrame) -> str:
    """The short answer's last sentence: like dropout or not, in words chosen from the per-seed
    AUCs (the numbers are in section 3's title and text)."""
    a = aucs(curves)
    if not {"plain", "dropout", "BN (frozen stats)"} <= set(a):
        return ""
    cope = ("better than", "worse than", "about as well as")
    frozen, again = "BN (frozen stats)", "BN (recomputed stats)"
    d = compare(a["dropout"], a["plain"], words=cope)
    b = compare(a[frozen], a["plain"], words=cope)
    r = compare(a[again], a["plain"], words=cope) if again in a else None
    signs = [b.sign] if r is None else [b.sign, r.sign]
    like = ("Like dropout" if d.sign > 0 and min(signs) > 0 else
            "Unlike dropout" if d.sign > 0 and max(signs) <= 0 else "Compared with dropout")
    drop = "a dropout net copes " + {1: "better", -1: "worse"}.get(d.sign, "about as well")
    if r is None or r.sign == b.sign:
        return (f"{like}: with units switched off, a BN net copes {b.word} a plain net; "
                f"{drop}.")
    return (f"{like}: with units switched off, a BN net copes {b.word} a plain net at test "
            f"time and {r.word} it once its statistics are recomputed; {drop}.")


# ---------------------------------------------------------------------------- ghost batches


def _ghost_compare(acc: pd.DataFrame, small: int, large: int):
    wide = acc.pivot(index="seed", columns="ghost", values="acc")
    if small not in wide or large not in wide:
        return None
    return compare(wide[small], wide[large])


def _ghost_verdict(c: Comparison) -> str:
    """A direction only when the 95% CI of the paired difference excludes 0 (with few seeds,
    every seed agreeing is not enough)."""
    if math.isfinite(c.low) and (c.low > 0 or c.high < 0):
        return "higher" if c.low > 0 else "lower"
    return "not distinguishable from luck"


def ghost_sentence(acc: pd.DataFrame, small: int = 8, large: int = 128) -> str:
    c = _ghost_compare(acc, small, large)
    if c is None:
        return ""
    interval = ci_text(c) if math.isfinite(c.low) else "no interval from one seed"
    seeds = f"; higher on {c.above} of {c.n} seeds" if c.n else ""
    return (f"Groups of {small} vs {large} on the same {c.n} seeds: test accuracy "
            f"{_pts(c.diff)} points ({interval}{seeds}): {_ghost_verdict(c)}.")


def ghost_numbers(acc: pd.DataFrame) -> str:
    """Each ghost-group size's test accuracy, mean (min–max over seeds)."""
    parts = []
    for (variant, ghost), part in acc.groupby(["variant", "ghost"], sort=False):
        parts.append((-ghost if variant != "plain" else 1, f"{variant} {_pct(part['acc'])}"))
    return "; ".join(p for _, p in sorted(parts, key=lambda x: x[0]))


def ghost_title(acc: pd.DataFrame, small: int = 8, large: int = 128) -> list[str]:
    c = _ghost_compare(acc, small, large)
    head = "Ghost batch norm: more BN noise, the same SGD batch (dots: seeds; bar: min–max)"
    if c is None:
        return [head]
    interval = f" ({ci_text(c)})" if math.isfinite(c.low) else ""
    return [head, f"G = {small} vs {large}: {_pts(c.diff)} points{interval}, "
                  f"{_ghost_verdict(c)}"]


# ---------------------------------------------------------------------------- the page's answer


def short_answer(per_seed: pd.DataFrame, subset: int, group: int, *, noise_std=None,
                 noise_summary=None, curves=None) -> str:
    """Two or three sentences answering "is BN a slight regularizer, like dropout?", from
    whichever results are in (the page fills its answer as they land)."""
    parts = [effect_answer(per_seed, subset)]
    if noise_std is not None and noise_summary is not None:
        parts.append(noise_sentence(noise_std, noise_summary))
    if curves is not None:
        d = dropout_answer(curves)
        if d:
            parts.append(d)
    return " ".join(parts)


def verdict_lines(per_seed: pd.DataFrame, subset: int, group: int, *, noise_std=None,
                  noise_summary=None, curves=None, single=None) -> list[str]:
    """"What this run measured", one line per experiment."""
    e = effect(per_seed)
    c = e.acc
    lines = [f"Batch noise on vs off ({subset} digits, groups of {group}, {c.n} paired seeds): "
             f"test accuracy {_pct(e.on)} vs {_pct(e.off)}, {_pts(c.diff)} points ({ci_text(c)})"
             + (f": {e.size}, {e.share_text} of the train/test gap closed." if c.sign > 0 else
                "; not distinguishable from luck." if c.sign == 0 else ": lower with noise.")]
    if noise_std is not None and noise_summary is not None:
        at16 = noise_std[noise_std.batch_size == 16]["std"]
        lines.append(f"x̂ of one image varies by {seeds_text(at16)} across batches of 16, slope "
                     f"{noise_summary['noise_slope']:.2f} on log-log axes; "
                     f"{full_batch_clause(noise_summary)}.")
    if curves is not None:
        a = aucs(curves)
        parts = []
        for v, name in (("BN (frozen stats)", "BN, frozen statistics"),
                        ("BN (recomputed stats)", "BN, recomputed"), ("dropout", "dropout")):
            if v in a and "plain" in a:
                c = compare(a[v], a["plain"], words=ROBUST)
                parts.append(f"{name} {_pct(a[v])}, {c.word}"
                             + (f" ({c.seeds.removeprefix('on ')})" if c.seeds else ""))
        if parts:
            lines.append(f"Switching units off, average accuracy (AUC) against plain "
                         f"{_pct(a['plain'])}: " + "; ".join(parts) + ".")
    if single is not None:
        u = single_unit_sentence(single)
        if u:
            lines.append(u[0].upper() + u[1:] + ".")
    return lines


def fmt_points(x: float) -> str:
    """Public helper for the page: a difference in percentage points."""
    return _pts(x)


__all__ = ["Effect", "ablation_sentences", "ablation_title", "aucs", "ci_text", "dropout_answer",
           "effect", "effect_answer", "effect_sentence", "effect_title",
           "fmt", "fmt_points", "full_batch_clause", "gap_text", "gap_sentence", "ghost_numbers",
           "ghost_sentence", "noise_sentence", "noise_title", "seeds_text", "short_answer",
           "single_unit_sentence", "single_unit_title", "verdict_lines"]
