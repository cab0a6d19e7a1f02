"""What the Playground says: its short answer, its verdict lines and its chart titles, built from
the per-seed numbers of `bnjax.experiments.playground.run_playground`.

Teaches: "what did BN change for my net?" has several answers at once (test accuracy, training
loss, speed, divergence, the health monitors) and they need not agree; each comparative is chosen
by `bnjax.text.compare` from the paired seeds, so a sentence flips when the data flip.
Leaves out: any Streamlit or JAX; the numbers come in as a DataFrame with one row per net and seed
(`PlaygroundResult.per_seed`).
"""
from __future__ import annotations

import math
import textwrap
import numpy as np
import pandas as pd

from bnjax.probes import SATURATED
from bnjax.text import compare, spread

BN, PLAIN = "BN", "plain"
NAMES = {BN: "BN", PLAIN: "the plain net"}  # how a sentence names each net
ACC_TOL = 0.005  # half a point of test accuracy (about 3 of the 540 test digits)
LOSS_TOL = math.log10(2.0)  # training losses compared in log10: "lower" = 2x lower on every seed
DEAD_TOL = 0.0  # dead units: a difference on every seed counts (BN nets rarely have any)
SAT_TOL = 0.02  # two points of saturated outputs
SPEED_TOL = math.log10(1.25)  # steps to the loss level, in log10: 25% fewer on every seed
CHANCE = 0.2  # below this test accuracy a net "learned nothing" (chance is 10%)
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam"}


# ---------------------------------------------------------------------------- numbers


def _col(per_seed: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    """One column for one net, in seed order (rows paired by seed across the nets)."""
    t = per_seed[per_seed.variant == variant].sort_values("seed")
    return t[column].to_numpy(dtype=float)


def _finite(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v[np.isfinite(v)]


def pct(values) -> str:
    """Percentages with their seed spread: "98.0% (97.6–98.3%)"; one number when the seeds agree
    to the digit shown."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    lo, hi = format(float(v.min()) * 100, ".1f"), format(float(v.max()) * 100, ".1f")
    s = spread(v * 100, ".1f")
    if "(" not in s or lo == hi:
        return f"{s.split(' (')[0]}%"
    mean, rest = s.split(" (", 1)
    return f"{mean}% ({rest[:-1]}%)"


FROZEN = 1e-7  # an update:data ratio below float32's resolution: the weights no longer move


def sci(values, spec: str = ".0e", *, zero: float = 0.0) -> str:
    """Small positive numbers with their seed spread: "4e-04 (3e-04–5e-04)". When every seed
    is below `zero`, "≈ 0 (1e-12)" (the largest seed in brackets)."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    if v.max() < zero:
        top = float(v.max())
        return "0" if top < 1e-25 else f"≈ 0 ({top:.0e})"
    show = lambda x: "0" if x < 1e-25 else format(float(x), spec)  # noqa: E731
    m, lo, hi = show(v.mean()), show(v.min()), show(v.max())
    return m if lo == hi else f"{m} ({lo}–{hi})"


def ratio_text(log10_values) -> str:
    """Update:data ratios from their per-seed log10: "4e-04 (2e-04–6e-04)", "≈ 0 (1e-12)"."""
    return sci(10.0 ** _finite(log10_values), zero=FROZEN)


def loss(values) -> str:
    """Training losses with their spread; one that is zero up to float32 precision (below 1e-4)
    prints as "≈ 0 (1e-05; seeds 8e-06–2e-05)"."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    if v.max() < 1e-4:
        m, lo, hi = (format(float(x), ".0e") for x in (v.mean(), v.min(), v.max()))
        return f"≈ 0 ({m})" if lo == hi else f"≈ 0 ({m}; seeds {lo}–{hi})"
    if format(float(v.min()), ".2g") == format(float(v.max()), ".2g"):
        return format(float(v.mean()), ".2g")
    return spread(v, ".2g")


def steps(values, total: int) -> str:
    """Step counts with their spread, "51 (45–54) steps"; seeds that never got there are
    counted, not averaged."""
    v = np.asarray(values, float)
    got = _finite(v)
    if got.size == 0:
        return f"not within {total} steps"
    s = spread(got, ".0f") + " steps"
    missing = v.size - got.size
    return s if not missing else f"{s} ({missing} of {v.size} seeds never)"


# ---------------------------------------------------------------------------- comparisons


def accuracy_comparison(per_seed: pd.DataFrame):
    """BN vs plain final test accuracy, paired by seed: "higher" / "lower" / "about the same"."""
    return compare(_col(per_seed, BN, "acc"), _col(per_seed, PLAIN, "acc"), tol=ACC_TOL)


def loss_comparison(per_seed: pd.DataFrame):
    """BN vs plain final training loss, in log10 (a 2x ratio on every seed to count)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log10(np.maximum(_col(per_seed, BN, "final_loss"), 1e-12))
        b = np.log10(np.maximum(_col(per_seed, PLAIN, "final_loss"), 1e-12))
    return compare(a, b, tol=LOSS_TOL)


def speed_comparison(per_seed: pd.DataFrame, total: int):
    """BN vs plain steps to the loss level, in log10 (25% fewer steps on every seed to count);
    a run that never got there counts as "after the end" (total + 1). Words: BN "slower" /
    "faster" / "about as fast"."""
    a = _col(per_seed, BN, "steps_to_level")
    b = _col(per_seed, PLAIN, "steps_to_level")
    a, b = np.where(np.isfinite(a), a, total + 1), np.where(np.isfinite(b), b, total + 1)
    return compare(np.log10(np.maximum(a, 1)), np.log10(np.maximum(b, 1)), tol=SPEED_TOL,
                   words=("slower", "faster", "about as fast"))


def monitor(activation: str) -> tuple[str, str, float]:
    """The health monitor that matters for `activation`: (column, name, tolerance). For relu the
    dead units (zero outputs are about half by design); for tanh and sigmoid the saturated
    outputs (Karpathy's saturation)."""
    if activation == "relu":
        return "dead", "dead units", DEAD_TOL
    return "saturation", f"saturated outputs ({SATURATED[activation]})", SAT_TOL


def monitor_comparison(per_seed: pd.DataFrame, activation: str):
    column, _, tol = monitor(activation)
    return compare(_col(per_seed, BN, column), _col(per_seed, PLAIN, column), tol=tol,
                   words=("more", "fewer" if column == "dead" else "less",
                          "about as many" if column == "dead" else "about as much"))


# ---------------------------------------------------------------------------- sentences


def net(config) -> str:
    """ "4×100 ReLU, SGD with momentum, lr 0.1" (and init gain, dropout when not the default)."""
    act = {"relu": "ReLU"}.get(config.activation, config.activation)
    extra = [f"init gain {config.gain:g}"] if config.gain != 1.0 else []
    extra += [f"dropout {config.dropout:g}"] if config.dropout else []
    return ", ".join([f"{config.depth}×{config.width} {act}",
                      f"{OPTIMIZERS.get(config.optimizer, config.optimizer)}, lr {config.lr:g}",
                      *extra])


def _diverged(per_seed: pd.DataFrame, variant: str) -> int:
    return int(np.nansum(_col(per_seed, variant, "diverged")))


def _n(per_seed: pd.DataFrame) -> int:
    return int(per_seed.seed.nunique())


def accuracy_sentence(per_seed: pd.DataFrame) -> str:
    """Final test accuracy, BN vs plain, or who diverged."""
    n, c = _n(per_seed), accuracy_comparison(per_seed)
    acc_bn, acc_pl = _col(per_seed, BN, "acc"), _col(per_seed, PLAIN, "acc")
    gone = {v: _diverged(per_seed, v) == n for v in (BN, PLAIN)}
    if gone[BN] and gone[PLAIN]:
        return f"both nets diverged on all {n} seeds: neither learned."
    if gone[BN] or gone[PLAIN]:
        lost, kept = (BN, PLAIN) if gone[BN] else (PLAIN, BN)
        acc = _finite(acc_pl if lost == BN else acc_bn)
        said = f"{NAMES[lost]} diverged on all {n} seeds (its loss became infinite)"
        if acc.size and acc.max() < CHANCE:
            return (f"{said}; {NAMES[kept]} did not, but stayed near chance with "
                    f"{pct(acc)} test accuracy: it learned nothing.")
        return f"{said}, while {NAMES[kept]} reached **{pct(acc)}** test accuracy."
    if c.sign == 0:
        head, tail = "BN's test accuracy is **about the same**", " (no difference on every seed)"
    else:
        head, tail = f"BN's test accuracy is **{c.word}**", f", {c.seeds}"
    chance = [NAMES[v] for v, a in ((BN, acc_bn), (PLAIN, acc_pl))
              if _finite(a).size and _finite(a).max() < CHANCE]
    stuck = (f"; {' and '.join(chance)} stayed near chance (10%): "
             f"{'they' if len(chance) > 1 else 'it'} learned nothing") if chance else ""
    return f"{head}: {pct(acc_bn)} vs {pct(acc_pl)} without BN{tail}{stuck}."


def training_sentence(per_seed: pd.DataFrame, level: float, total: int) -> str:
    """Speed (steps until the training loss fell below `level`) and the final training loss;
    "and" or "but" as the two point the same way or not."""
    to_bn, to_pl = _col(per_seed, BN, "steps_to_level"), _col(per_seed, PLAIN, "steps_to_level")
    lb, lp = _col(per_seed, BN, "final_loss"), _col(per_seed, PLAIN, "final_loss")
    speed, favour = "", 0
    if np.isfinite(to_bn).any() or np.isfinite(to_pl).any():
        sp = speed_comparison(per_seed, total)
        favour = -sp.sign  # +1: BN faster
        speed = (f"BN trained **{sp.word}** (loss below {level:g} after {steps(to_bn, total)} vs "
                 f"{steps(to_pl, total)})")
    if not (_finite(lb).size and _finite(lp).size):
        if speed:
            return speed + "."
        return f"Neither net got its training loss below {level:g} within {total} steps."
    lc = loss_comparison(per_seed)
    word = "about the same" if lc.sign == 0 else f"the {lc.word}"
    end = f"ended with **{word}** training loss: {loss(lb)} vs {loss(lp)}"
    if not speed:
        return (f"Neither net got its training loss below {level:g} within {total} steps; BN "
                f"{end}.")
    joint = " but " if favour * -lc.sign < 0 else " and "
    return speed + joint + end + "."


def divergence_sentence(per_seed: pd.DataFrame) -> str:
    """Which nets diverged on some seeds ("Neither diverged." if none). A net that diverged on
    every seed is said by `accuracy_sentence` already."""
    n = _n(per_seed)
    d = {v: _diverged(per_seed, v) for v in (BN, PLAIN)}
    if not d[BN] and not d[PLAIN]:
        return "Neither diverged."
    some = [f"{NAMES[v]} on {d[v]} of {n} seeds" for v in (BN, PLAIN) if 0 < d[v] < n]
    if not some:
        return ""
    return "Diverged (the loss became infinite): " + " and ".join(some) + "."


def health_sentence(per_seed: pd.DataFrame, activation: str) -> str:
    """The activation's monitor at the end and the update:data ratio, both nets."""
    column, name, _ = monitor(activation)
    a, b = _col(per_seed, BN, column), _col(per_seed, PLAIN, column)
    if not _finite(a).size and not _finite(b).size:
        return ""
    if _finite(a).size and _finite(b).size:
        c = monitor_comparison(per_seed, activation)
        verdict = f"{c.word} with BN as without" if c.sign == 0 else f"{c.word} with BN"
        monitor_text = f"{name} BN {pct(a)}, plain {pct(b)} (**{verdict}**)"
    else:
        alive = BN if _finite(a).size else PLAIN
        monitor_text = f"{name} {alive} {pct(a if alive == BN else b)}"
    ub, up = _finite(_col(per_seed, BN, "update")), _finite(_col(per_seed, PLAIN, "update"))
    said = [f"{ratio_text(u)} {w}" for u, w in ((ub, "with BN"), (up, "without")) if u.size]
    ratio = ("; update:data ratio " + ", ".join(said) + " (rule of thumb: 1e-3)") if said else ""
    return f"Health after training: {monitor_text}{ratio}."


def short_answer(config, per_seed: pd.DataFrame, summary: dict, *, health: bool = True) -> str:
    """Two to four plain sentences: what BN changed for this configuration (accuracy, speed,
    training loss, divergence and, with `health`, the health monitors), with the seed spread
    of every number and every comparative chosen by the numbers."""
    n = _n(per_seed)
    parts = [f"On your net ({net(config)}; {n} seeds), " + accuracy_sentence(per_seed),
             training_sentence(per_seed, summary["loss_level"], config.steps),
             divergence_sentence(per_seed)]
    if health:
        parts.append(health_sentence(per_seed, config.activation))
    return " ".join(p for p in parts if p)


def verdict_lines(per_seed: pd.DataFrame, summary: dict, config) -> list[str]:
    """The "What this run measured" column: one line per net, then the monitors."""
    n = _n(per_seed)
    lines = []
    for v in (BN, PLAIN):
        d = _diverged(per_seed, v)
        label = "BN net" if v == BN else "plain net"
        if d == n:
            lines.append(f"{label}: diverged on every seed.")
            continue
        lines.append(f"{label}: {pct(_col(per_seed, v, 'acc'))} test accuracy, final training "
                     f"loss {loss(_col(per_seed, v, 'final_loss'))}"
                     + (f" ({d} of {n} seeds diverged)" if d else "") + ".")
    column, name, _ = monitor(config.activation)
    lines.append(f"{name.capitalize()} at the end: BN {pct(_col(per_seed, BN, column))}, "
                 f"plain {pct(_col(per_seed, PLAIN, column))} (mean and range over {n} seeds).")
    return lines


# ---------------------------------------------------------------------------- chart titles
TITLE_WIDTH = 58  # characters per subtitle line: fits a half-width chart at 1280 px
WIDE = 110  # the same for the two-panel charts of the health monitors


def _lines(title: str, subtitle: str, width: int = TITLE_WIDTH) -> list[str]:
    """[title, subtitle lines]: a chart title that states its finding, then its numbers, wrapped
    so that nothing is clipped on a narrow chart."""
    return [title] + textwrap.wrap(subtitle, width, break_on_hyphens=False)



def loss_title(per_seed: pd.DataFrame, summary: dict, total: int,
               width: int = TITLE_WIDTH) -> list[str]:
    """Title lines of the training-loss chart: its finding."""
    lb, lp = _col(per_seed, BN, "final_loss"), _col(per_seed, PLAIN, "final_loss")
    if not _finite(lb).size or not _finite(lp).size:
        gone = [NAMES[v] for v, l in ((BN, lb), (PLAIN, lp)) if not _finite(l).size]
        return ["Training loss: " + " and ".join(gone) + " diverged"]
    c = loss_comparison(per_seed)
    if c.sign == 0:
        head = "Training loss: about the same at the end"
    else:
        low, high = (lb, lp) if c.sign < 0 else (lp, lb)
        who = "BN" if c.sign < 0 else "plain"
        fl, fh = float(np.mean(_finite(low))), float(np.mean(_finite(high)))
        times = f"{fh / fl:,.0f}×" if fl > 0 and fh / fl >= 10 else "lower"
        head = f"Training loss: {who} ends {times}{' lower' if times.endswith('×') else ''}"
    level = summary["loss_level"]
    return _lines(head, f"cross-entropy at the end: BN {loss(lb)}, plain {loss(lp)}. Dotted "
                        f"line: loss {level:g}, reached after "
                        f"{steps(_col(per_seed, BN, 'steps_to_level'), total)} with BN, "
                        f"{steps(_col(per_seed, PLAIN, 'steps_to_level'), total)} plain. Line: "
                        f"seed mean; band: range", width)


def accuracy_title(per_seed: pd.DataFrame, width: int = TITLE_WIDTH) -> list[str]:
    c = accuracy_comparison(per_seed)
    acc_bn, acc_pl = _col(per_seed, BN, "acc"), _col(per_seed, PLAIN, "acc")
    if c.n == 0:
        gone = [NAMES[v] for v, a in ((BN, acc_bn), (PLAIN, acc_pl)) if not _finite(a).size]
        kept = [f"{v} {pct(a)}" for v, a in ((BN, acc_bn), (PLAIN, acc_pl)) if _finite(a).size]
        return _lines("Test accuracy: " + " and ".join(gone) + " diverged",
                      "at the end: " + ", ".join(kept) if kept else "", width)
    word = "about the same" if c.sign == 0 else c.word
    return _lines(f"Test accuracy: BN's {word}" + (" as plain's" if c.sign == 0
                                                    else " than plain's"),
                  f"at the end: BN {pct(acc_bn)}, plain {pct(acc_pl)}"
                  + (f" ({c.seeds})" if c.seeds else "") + ". Line: seed mean; band: range",
                  width)


def _verdict(c) -> str:
    """A chart title's verdict from a Comparison: "fewer with BN", "BN ≈ plain" (short: a title
    must fit a two-panel chart in lecture mode); "" when there is nothing to compare (a net
    diverged on every seed)."""
    if c.n == 0:
        return ""
    return "BN ≈ plain" if c.sign == 0 else f"{c.word} with BN"


def activation_title(layers: pd.DataFrame, when: str, activation: str,
                     width: int = WIDE) -> list[str]:
    """Title lines of the activation histograms at `when` ("init" or "end"): the monitor's
    verdict (chosen by the per-seed numbers), then the numbers with their seed spread."""
    t = layers[layers.when == when]
    moment = "at initialization" if when == "init" else "after training"
    per = t.groupby(["variant", "seed"])[["dead", "saturation"]].mean().reset_index()
    column, name, _ = monitor(activation)
    verdict = _verdict(monitor_comparison(per, activation))
    head = f"{name.split(' (')[0].capitalize()} {moment}" + (f": {verdict}" if verdict else "")
    col = lambda v, c: _col(per, v, c)  # noqa: E731
    numbers = f"BN {pct(col(BN, column))}, plain {pct(col(PLAIN, column))}. "
    if activation == "relu":
        return _lines(head, numbers + "Dead: 0 for every training digit. Outputs exactly 0 "
                      f"(not drawn): BN {pct(col(BN, 'saturation'))}, plain "
                      f"{pct(col(PLAIN, 'saturation'))}; about half is normal for ReLU", width)
    return _lines(head, numbers + f"Saturated: {SATURATED[activation]}, where almost no "
                  "gradient passes back", width)


def gradient_title(layers: pd.DataFrame, when: str, width: int = WIDE) -> list[str]:
    """The typical size (std) of the weight gradients, BN vs plain (compared in log10: 1.5x on
    every seed to count)."""
    t = layers[layers.when == when]
    moment = "at initialization" if when == "init" else "after training"
    per = t.groupby(["variant", "seed"]).grad_std.mean().reset_index()
    a, b = _col(per, BN, "grad_std"), _col(per, PLAIN, "grad_std")
    with np.errstate(divide="ignore", invalid="ignore"):
        c = compare(np.log10(a), np.log10(b), tol=math.log10(1.5),
                    words=("larger", "smaller", "about the same size"))
    verdict = _verdict(c)
    return _lines(f"Weight gradients {moment}" + (f": {verdict}" if verdict else ""),
                  f"typical size (standard deviation): BN {sci(a, '.1e')}, plain "
                  f"{sci(b, '.1e')}; on all training digits; each panel has its own x-axis",
                  width)


def update_title(per_seed: pd.DataFrame, width: int = WIDE) -> list[str]:
    """The update:data ratio at the end, BN vs plain (log10, 2x on every seed to count)."""
    ub, up = _col(per_seed, BN, "update"), _col(per_seed, PLAIN, "update")
    verdict = _verdict(compare(ub, up, tol=math.log10(2.0)))
    return _lines("Update:data ratio at the end" + (f": {verdict}" if verdict else ""),
                  f"BN {ratio_text(ub)}, plain {ratio_text(up)}: each step's change of a "
                  "layer's weights ÷ the weights (standard deviations; lines: mean of the "
                  "seeds; below 1e-8 drawn at the bottom). Dashed: Karpathy's rule of "
                  "thumb, 1e-3", width)


def health_table(layers: pd.DataFrame, when: str, activation: str) -> pd.DataFrame:
    """Per layer and net, the activation's monitor with its seed spread, as text."""
    column, name, _ = monitor(activation)
    t = layers[layers.when == when]
    rows = []
    for layer in dict.fromkeys(t.layer):
        row = {"layer": layer}
        for v in (BN, PLAIN):
            row[v] = pct(t[(t.layer == layer) & (t.variant == v)].sort_values("seed")[column])
        rows.append(row)
    return pd.DataFrame(rows).set_index("layer") if rows else pd.DataFrame()


__all__ = ["accuracy_comparison", "accuracy_title", "activation_title", "divergence_sentence",
           "gradient_title", "health_sentence", "health_table", "loss", "loss_comparison",
           "loss_title", "monitor", "monitor_comparison", "net", "pct", "sci", "short_answer",
           "speed_comparison", "steps", "training_sentence", "update_title", "verdict_lines"]
