"""What the Playground says: its short answer, its verdict lines and its chart titles, built from
the per-seed numbers of `bnjax.experiments.playground.run_playground`.

Teaches: "what did the normalization change for my net?" has several answers at once (test
accuracy, training loss, speed, divergence, the health monitors) and they need not agree; each
comparative is chosen by `bnjax.text.compare` from the paired seeds, so a sentence flips when the
data flip. Net A is compared with net B (by default BN with plain); their names come from the
per-seed table itself (its `variant` column, net A's rows first).
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

BN, PLAIN, LN = "BN", "plain", "LayerNorm"
NORM_WORDS = {"batch": "batch norm", "layer": "LayerNorm", "none": "no normalization"}
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
    m = 100 * float(v.mean())
    # a share above 0 that rounds to 0.0: "< 0.1%" (never "0.0%" beside a true "0%")
    small = (lambda text: "< 0.1" if 0 < m < 0.05 else text)  # noqa: E731
    if "(" not in s or lo == hi:
        return f"{small(s.split(' (')[0])}%"
    mean, rest = s.split(" (", 1)
    return f"{small(mean)}% ({rest[:-1]}%)"


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


# ---------------------------------------------------------------------------- the two nets


def nets(per_seed: pd.DataFrame) -> tuple[str, str]:
    """(net A, net B): the two nets' names in the per-seed table, A's rows first."""
    names = list(dict.fromkeys(per_seed.variant))
    if len(names) != 2:
        raise ValueError(f"the Playground compares two nets, got {names}")
    return names[0], names[1]


def identical(per_seed: pd.DataFrame) -> bool:
    """Both nets have the same normalization ("net A (BN)", "net B (BN)"): the same network."""
    a, b = nets(per_seed)
    return a.startswith("net A (") and b.startswith("net B (")


def name(v: str, start: bool = False) -> str:
    """How a sentence names a net: "BN", "LayerNorm", "the plain net", "net A (BN)"."""
    s = "the plain net" if v == PLAIN else v
    return s[0].upper() + s[1:] if start else s


def label(v: str) -> str:
    """A net's label in a list: "BN net", "plain net", "LayerNorm net", "net A (BN)"."""
    return f"{v} net" if v in (BN, PLAIN, LN) else v


def _phrase(x_a, x_b, a: str, b: str, tol: float, words: tuple, short: bool = False) -> str:
    """The comparative of a measure, said of the normalized net: "fewer with BN" (B plain),
    "more with BN" when A is the plain net and BN (net B) has fewer, "fewer with BN than with
    LayerNorm" when neither is plain; the third word when no direction holds on every seed
    ("about as many with BN as without"; in a `short` title, "BN ≈ plain"). "" when nothing
    compares (a net diverged on every seed)."""
    subject, other, x, y = (b, a, x_b, x_a) if a == PLAIN and b != PLAIN else (a, b, x_a, x_b)
    c = compare(x, y, tol=tol, words=words)
    if c.n == 0:
        return ""
    if c.sign == 0 and short and abs(c.diff) > tol:  # apart on average, not on every seed
        d = np.asarray(x, float) - np.asarray(y, float)
        d = d[np.isfinite(d)]
        k = int(np.sum(d > tol)) if c.diff > 0 else int(np.sum(d < -tol))
        than = "" if other == PLAIN else f" than {other}"
        return (f"{words[0] if c.diff > 0 else words[1]} with {subject}{than}, clearly on only "
                f"{k} of {c.n} seeds")
    if c.sign == 0:
        return f"{a} ≈ {b}" if short else \
            f"{c.word} with {subject} as " + ("without" if other == PLAIN else f"with {other}")
    return f"{c.word} with {subject}" + ("" if other == PLAIN else f" than with {other}")


def after(values, total: int) -> str:
    """ "after 51 (45–54) steps", "not within 2000 steps"."""
    text = steps(values, total)
    return text if text.startswith("not within") else "after " + text


# ---------------------------------------------------------------------------- comparisons


def accuracy_comparison(per_seed: pd.DataFrame):
    """Net A vs net B final test accuracy, paired by seed: "higher" / "lower" / "about the
    same"."""
    a, b = nets(per_seed)
    return compare(_col(per_seed, a, "acc"), _col(per_seed, b, "acc"), tol=ACC_TOL)


def _log_loss(per_seed, v):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.maximum(_col(per_seed, v, "final_loss"), 1e-12))


def loss_comparison(per_seed: pd.DataFrame):
    """Net A vs net B final training loss, in log10 (a 2x ratio on every seed to count)."""
    a, b = nets(per_seed)
    return compare(_log_loss(per_seed, a), _log_loss(per_seed, b), tol=LOSS_TOL)


def speed_comparison(per_seed: pd.DataFrame, total: int):
    """Net A vs net B steps to the loss level, in log10 (25% fewer steps on every seed to
    count); a run that never got there counts as "after the end" (total + 1). Words: A
    "slower" / "faster" / "about as fast"."""
    na, nb = nets(per_seed)
    a, b = _col(per_seed, na, "steps_to_level"), _col(per_seed, nb, "steps_to_level")
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


def _monitor_words(column: str) -> tuple:
    return ("more", "fewer" if column == "dead" else "less",
            "about as many" if column == "dead" else "about as much")


def monitor_comparison(per_seed: pd.DataFrame, activation: str):
    """Net A vs net B on the activation's monitor at the end."""
    column, _, tol = monitor(activation)
    a, b = nets(per_seed)
    return compare(_col(per_seed, a, column), _col(per_seed, b, column), tol=tol,
                   words=_monitor_words(column))


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
    """Final test accuracy, net A vs net B, or who diverged."""
    n, c = _n(per_seed), accuracy_comparison(per_seed)
    a, b = nets(per_seed)
    acc = {a: _col(per_seed, a, "acc"), b: _col(per_seed, b, "acc")}
    gone = {v: _diverged(per_seed, v) == n for v in (a, b)}
    if gone[a] and gone[b]:
        return f"both nets diverged on all {n} seeds: neither learned."
    if gone[a] or gone[b]:
        lost, kept = (a, b) if gone[a] else (b, a)
        got = _finite(acc[kept])
        said = f"{name(lost)} diverged on all {n} seeds (its loss became infinite)"
        if got.size and got.max() < CHANCE:
            return (f"{said}; {name(kept)} did not, but stayed near chance with "
                    f"{pct(got)} test accuracy: it learned nothing.")
        return f"{said}, while {name(kept)} reached **{pct(got)}** test accuracy."
    if c.sign == 0:
        head = f"{name(a)}'s test accuracy is **about the same** as {name(b)}'s"
        tail = " (no difference on every seed)"
    else:
        head, tail = f"{name(a)}'s test accuracy is **{c.word}** than {name(b)}'s", f", {c.seeds}"
    chance = [name(v) for v in (a, b) if _finite(acc[v]).size and _finite(acc[v]).max() < CHANCE]
    stuck = (f"; {' and '.join(chance)} stayed near chance (10%): "
             f"{'they' if len(chance) > 1 else 'it'} learned nothing") if chance else ""
    return f"{head}: {pct(acc[a])} vs {pct(acc[b])}{tail}{stuck}."


def training_sentence(per_seed: pd.DataFrame, level: float, total: int) -> str:
    """Speed (steps until the training loss fell below `level`) and the final training loss;
    "and" or "but" as the two point the same way or not."""
    a, b = nets(per_seed)
    to_a, to_b = _col(per_seed, a, "steps_to_level"), _col(per_seed, b, "steps_to_level")
    la, lb = _col(per_seed, a, "final_loss"), _col(per_seed, b, "final_loss")
    speed, favour = "", 0
    # Speed compares only when one net got there on every seed (else: who never did is the news)
    if np.isfinite(to_a).all() or np.isfinite(to_b).all():
        sp = speed_comparison(per_seed, total)
        favour = -sp.sign  # +1: A faster
        than = f"as {name(b)}" if sp.sign == 0 else f"than {name(b)}"
        speed = (f"{name(a, True)} trained **{sp.word}** {than} (loss below {level:g} for "
                 f"good: {after(to_a, total)} vs {after(to_b, total)})")
    neither = (f"Neither net got its training loss below {level:g} on every seed within "
               f"{total} steps")
    if not (_finite(la).size and _finite(lb).size):
        return (speed or neither) + "."
    lc = loss_comparison(per_seed)
    word = "about the same" if lc.sign == 0 else f"the {lc.word}"
    end = f"ended with **{word}** training loss: {loss(la)} vs {loss(lb)}"
    if not speed:
        return f"{neither}; {name(a)} {end}."
    joint = " but " if favour * -lc.sign < 0 else " and "
    return speed + joint + end + "."


def divergence_sentence(per_seed: pd.DataFrame) -> str:
    """Which nets diverged on some seeds ("Neither diverged." if none). A net that diverged on
    every seed is said by `accuracy_sentence` already."""
    n, (a, b) = _n(per_seed), nets(per_seed)
    d = {v: _diverged(per_seed, v) for v in (a, b)}
    if not d[a] and not d[b]:
        return "Neither diverged."
    some = [f"{name(v)} on {d[v]} of {n} seeds" for v in (a, b) if 0 < d[v] < n]
    if not some:
        return ""
    return "Diverged (the loss became infinite): " + " and ".join(some) + "."


def health_sentence(per_seed: pd.DataFrame, activation: str) -> str:
    """The activation's monitor at the end and the update:data ratio, both nets."""
    column, monitor_name, tol = monitor(activation)
    a, b = nets(per_seed)
    xa, xb = _col(per_seed, a, column), _col(per_seed, b, column)
    if not _finite(xa).size and not _finite(xb).size:
        return ""
    if _finite(xa).size and _finite(xb).size:
        verdict = _phrase(xa, xb, a, b, tol, _monitor_words(column))
        monitor_text = f"{monitor_name} {a} {pct(xa)}, {b} {pct(xb)} (**{verdict}**)"
    else:
        alive = a if _finite(xa).size else b
        monitor_text = f"{monitor_name} {alive} {pct(xa if alive == a else xb)}"
    said = [f"{v} {ratio_text(u)}" for v in (a, b)
            if (u := _finite(_col(per_seed, v, "update"))).size]
    ratio = ("; update:data ratio " + ", ".join(said) + " (rule of thumb: 1e-3)") if said else ""
    return f"Health after training: {monitor_text}{ratio}."


def same_net_answer(config, per_seed: pd.DataFrame, summary: dict) -> str:
    """Both nets have the same normalization: they are one network trained twice on the same
    seeds and batches, so every number is the same for both; say so, with its numbers."""
    n, (a, _) = _n(per_seed), nets(per_seed)
    norm = NORM_WORDS.get(config.norm_a, config.norm_a)
    parts = [f"Both nets have {norm}, so they are the same network ({net(config)}; {n} seeds): "
             "on the same seeds and batches they train identically, and every number on this "
             "page is the same for both."]
    if _diverged(per_seed, a) == n:
        parts.append(f"It diverged on all {n} seeds (its loss became infinite).")
    else:
        parts.append(f"Test accuracy **{pct(_col(per_seed, a, 'acc'))}**, final training loss "
                     f"{loss(_col(per_seed, a, 'final_loss'))}.")
    parts.append("Pick another normalization for net B to compare.")
    return " ".join(parts)


def short_answer(config, per_seed: pd.DataFrame, summary: dict, *, health: bool = False) -> str:
    """Two to four plain sentences: what net A's normalization changed against net B's for this
    configuration (accuracy, speed, training loss, divergence; the health monitors only with
    `health`: the page says them in their own section), with the seed spread of every number
    and every comparative chosen by the numbers."""
    if identical(per_seed):
        return same_net_answer(config, per_seed, summary)
    n = _n(per_seed)
    parts = [f"On your net ({net(config)}; {n} seeds), " + accuracy_sentence(per_seed),
             training_sentence(per_seed, summary["loss_level"], config.steps),
             divergence_sentence(per_seed)]
    if health:
        parts.append(health_sentence(per_seed, config.activation))
    return " ".join(p for p in parts if p)


def verdict_lines(per_seed: pd.DataFrame, summary: dict, config) -> list[str]:
    """The "What this run measured" column: one line per net, then the monitors."""
    n, (a, b) = _n(per_seed), nets(per_seed)
    lines = []
    for v in (a, b):
        d = _diverged(per_seed, v)
        if d == n:
            lines.append(f"{label(v)}: diverged on every seed.")
            continue
        lines.append(f"{label(v)}: {pct(_col(per_seed, v, 'acc'))} test accuracy, final "
                     f"training loss {loss(_col(per_seed, v, 'final_loss'))}"
                     + (f" ({d} of {n} seeds diverged)" if d else "") + ".")
    column, monitor_name, _ = monitor(config.activation)
    lines.append(f"{monitor_name.capitalize()} at the end: {a} {pct(_col(per_seed, a, column))}, "
                 f"{b} {pct(_col(per_seed, b, column))} (mean and range over {n} seeds).")
    return lines


# ---------------------------------------------------------------------------- chart titles
TITLE_WIDTH = 50  # characters per subtitle line (14 px): fits a half-width chart at 1280 px
WIDE = 92  # the same for the two-panel charts of the health monitors
LECTURE = (112, 80)  # the same in lecture mode (17 px, ~7 px a character): full-width charts
HEAD = 52  # characters of a title line: a two-panel chart in lecture mode (21 px titles)


def _lines(title: str, subtitle: str, width: int = TITLE_WIDTH, head: int = HEAD) -> list:
    """[title, subtitle lines]: a chart title that states its finding, then its numbers, wrapped
    so that nothing is clipped on a narrow chart. A title longer than `head` characters breaks
    after its colon into two lines (a list)."""
    if len(title) > head and ": " in title:
        first, rest = title.split(": ", 1)
        title = [first + ":", rest]
    return [title] + textwrap.wrap(subtitle, width, break_on_hyphens=False)


def live_titles(step: int, total: int, what: str) -> list[str]:
    """The title of a chart drawn while the nets train."""
    return [f"{what}, live: step {step} of {total}",
            "the nets are training; the finished charts follow. Line: seed mean; band: range"]


def loss_title(per_seed: pd.DataFrame, summary: dict, total: int,
               width: int = TITLE_WIDTH) -> list:
    """Title lines of the training-loss chart: its finding."""
    a, b = nets(per_seed)
    la, lb = _col(per_seed, a, "final_loss"), _col(per_seed, b, "final_loss")
    level = summary["loss_level"]
    reached = (f"Dotted line: loss {level:g}; below it for good "
               f"{after(_col(per_seed, a, 'steps_to_level'), total)} for {a}, "
               f"{after(_col(per_seed, b, 'steps_to_level'), total)} for {b}. Line: seed mean; "
               "band: range")
    if identical(per_seed):
        return _lines("Training loss: the same net twice",
                      f"cross-entropy at the end: {loss(la)}. " + reached, width)
    if not _finite(la).size or not _finite(lb).size:
        gone = [name(v) for v, l in ((a, la), (b, lb)) if not _finite(l).size]
        return ["Training loss: " + " and ".join(gone) + " diverged"]
    c = loss_comparison(per_seed)
    if c.sign == 0:
        head = "Training loss: about the same at the end"
    else:
        low, high = (la, lb) if c.sign < 0 else (lb, la)
        who = a if c.sign < 0 else b
        fl, fh = float(np.mean(_finite(low))), float(np.mean(_finite(high)))
        if loss(low).startswith("≈ 0"):  # a ratio to float32 noise means nothing
            head = f"Training loss: {who} ends lower, ≈ 0"
        else:
            times = f"{fh / fl:,.0f}×" if fl > 0 and fh / fl >= 10 else "lower"
            head = f"Training loss: {who} ends {times}{' lower' if times.endswith('×') else ''}"
    return _lines(head, f"cross-entropy at the end: {a} {loss(la)}, {b} {loss(lb)}. " + reached,
                  width)


def accuracy_title(per_seed: pd.DataFrame, width: int = TITLE_WIDTH) -> list:
    c, (a, b) = accuracy_comparison(per_seed), nets(per_seed)
    acc_a, acc_b = _col(per_seed, a, "acc"), _col(per_seed, b, "acc")
    if identical(per_seed):
        return _lines("Test accuracy: the same net twice",
                      f"at the end: {pct(acc_a)}. Line: seed mean; band: range", width)
    if c.n == 0:
        gone = [name(v) for v, x in ((a, acc_a), (b, acc_b)) if not _finite(x).size]
        kept = [f"{v} {pct(x)}" for v, x in ((a, acc_a), (b, acc_b)) if _finite(x).size]
        return _lines("Test accuracy: " + " and ".join(gone) + " diverged",
                      "at the end: " + ", ".join(kept) if kept else "", width)
    word = "about the same" if c.sign == 0 else c.word
    return _lines(f"Test accuracy: {a}'s {word}" + (f" as {b}'s" if c.sign == 0
                                                     else f" than {b}'s"),
                  f"at the end: {a} {pct(acc_a)}, {b} {pct(acc_b)}"
                  + (f" ({c.seeds})" if c.seeds else "") + ". Line: seed mean; band: range",
                  width)


def _per_net(layers: pd.DataFrame, when: str, columns) -> pd.DataFrame:
    """Layer means per net and seed at `when`, net A's rows first."""
    t = layers[layers.when == when]
    order = list(dict.fromkeys(layers.variant))
    per = t.groupby(["variant", "seed"], sort=False)[columns].mean().reset_index()
    return per.sort_values("variant", key=lambda s: s.map(order.index), kind="stable")


def activation_title(layers: pd.DataFrame, when: str, activation: str,
                     width: int = WIDE) -> list:
    """Title lines of the activation histograms at `when` ("init" or "end"): the monitor's
    verdict (chosen by the per-seed numbers), then the numbers with their seed spread."""
    moment = "at initialization" if when == "init" else "after training"
    per = _per_net(layers, when, ["dead", "saturation"])
    column, monitor_name, tol = monitor(activation)
    a, b = nets(per)
    col = lambda v, c: _col(per, v, c)  # noqa: E731
    verdict = "the same net twice" if identical(per) else _phrase(
        col(a, column), col(b, column), a, b, tol, _monitor_words(column), short=True)
    head = f"{monitor_name.split(' (')[0].capitalize()} {moment}" + (
        f": {verdict}" if verdict else "")
    numbers = f"{a} {pct(col(a, column))}, {b} {pct(col(b, column))}. "
    if activation == "relu":
        # The histogram draws the outputs above 0 (no dead unit shows there): its title says
        # how many there are; the dead units are said with their table (`monitor_heading`).
        on = {v: 1.0 - col(v, "saturation") for v in (a, b)}
        verdict = "the same net twice" if identical(per) else _phrase(
            on[a], on[b], a, b, SAT_TOL, ("more", "fewer", "about as many"), short=True)
        return _lines(f"ReLU outputs above 0 {moment}" + (f": {verdict}" if verdict else ""),
                      f"share of outputs above 0: {a} {pct(on[a])}, {b} {pct(on[b])} (about "
                      "half is normal for ReLU; the outputs exactly 0 are not drawn). Dead "
                      "units, 0 for every training digit: the table below", width)
    return _lines(head, numbers + f"Saturated: {SATURATED[activation]}, where almost no "
                  "gradient passes back", width)


def gradient_title(layers: pd.DataFrame, when: str, width: int = WIDE) -> list:
    """The typical size (std) of the weight gradients, net A vs net B (compared in log10: 1.5x
    on every seed to count)."""
    moment = "at initialization" if when == "init" else "after training"
    per = _per_net(layers, when, ["grad_std"])
    a, b = nets(per)
    xa, xb = _col(per, a, "grad_std"), _col(per, b, "grad_std")
    with np.errstate(divide="ignore", invalid="ignore"):
        verdict = "the same net twice" if identical(per) else _phrase(
            np.log10(xa), np.log10(xb), a, b, math.log10(1.5),
            ("larger", "smaller", "about the same size"), short=True)
    return _lines(f"Weight gradients {moment}" + (f": {verdict}" if verdict else ""),
                  f"typical size (standard deviation): {a} {sci(xa, '.1e')}, {b} "
                  f"{sci(xb, '.1e')}; on all training digits; each panel has its own x-axis",
                  width)


def update_title(per_seed: pd.DataFrame, width: int = WIDE) -> list:
    """The update:data ratio at the end, net A vs net B (log10, 2x on every seed to count)."""
    a, b = nets(per_seed)
    ua, ub = _col(per_seed, a, "update"), _col(per_seed, b, "update")
    verdict = "the same net twice" if identical(per_seed) else _phrase(
        ua, ub, a, b, math.log10(2.0), ("higher", "lower", "about the same"), short=True)
    return _lines("Update:data ratio at the end" + (f": {verdict}" if verdict else ""),
                  f"{a} {ratio_text(ua)}, {b} {ratio_text(ub)}: each step's change of a "
                  "layer's weights ÷ the weights (standard deviations; lines: mean of the "
                  "seeds; below 1e-8 drawn at the bottom). Dashed: Karpathy's rule of "
                  "thumb, 1e-3", width)


def pct_seeds(values) -> str:
    """`pct` with its seeds said when they agree: "0% on all 3 seeds", "1.0% (0.5–1.5%)"."""
    text, n = pct(values), _finite(values).size
    return text if "(" in text or text == "—" or n < 2 else f"{text} on all {n} seeds"


def monitor_heading(layers: pd.DataFrame, when: str, activation: str) -> str:
    """The heading of the monitor's table: the monitor, its verdict (chosen by the per-seed
    layer means) and the nets' numbers with their seeds."""
    moment = "at initialization" if when == "init" else "after training"
    per = _per_net(layers, when, ["dead", "saturation"])
    column, monitor_name, tol = monitor(activation)
    a, b = nets(per)
    xa, xb = _col(per, a, column), _col(per, b, column)
    verdict = "the same net twice" if identical(per) else _phrase(
        xa, xb, a, b, tol, _monitor_words(column))
    n = int(per.seed.nunique())
    return (f"**{monitor_name.capitalize()} per layer** ({moment}; mean and range over {n} "
            "seeds)" + (f": **{verdict}** ({a} {pct_seeds(xa)}, {b} {pct_seeds(xb)}, "
                        "mean of the layers)" if verdict else ""))


def health_table(layers: pd.DataFrame, when: str, activation: str) -> pd.DataFrame:
    """Per layer and net, the activation's monitor with its seed spread, as text ("0% on all
    3 seeds" when the seeds agree)."""
    column, _, _ = monitor(activation)
    t = layers[layers.when == when]
    rows = []
    for layer in dict.fromkeys(t.layer):
        row = {"layer": layer}
        for v in dict.fromkeys(layers.variant):
            row[v] = pct_seeds(
                t[(t.layer == layer) & (t.variant == v)].sort_values("seed")[column])
        rows.append(row)
    return pd.DataFrame(rows).set_index("layer") if rows else pd.DataFrame()


__all__ = ["accuracy_comparison", "accuracy_title", "activation_title", "after",
           "divergence_sentence",
           "gradient_title", "health_sentence", "health_table", "identical", "label",
           "live_titles", "loss", "loss_comparison", "loss_title", "monitor",
           "monitor_comparison", "monitor_heading", "name", "net", "nets", "pct", "pct_seeds", "same_net_answer", "sci",
           "short_answer", "speed_comparison", "steps", "training_sentence", "update_title",
           "verdict_lines"]
