"""What page 3 (layer decoupling) says, as pure functions of its results.

Teaches: a sentence beside a chart is chosen by the numbers the chart draws. Every comparative
("more", "less", "about as much", "higher", "lower", "ends lowest") comes from
`bnjax.text.compare` over per-seed numbers (paired by seed); every number carries its seed
spread; a value that is zero up to float rounding prints as "≈ 0 (7e-09)", an exact zero as "0".
Test accuracy (unseen digits) and training loss (how closely a net fits its training batches)
answer different questions, and the sentences say which one they use.
The functions read a `DecouplingResult`'s tables (`example`, `ics`, `stats`, `runs`, `curves`),
so a test can feed them numbers where a comparison flips and watch the sentence flip with it.
Leaves out: Streamlit (markdown strings out), and the lecture's and the papers' claims, which are
quotations, not measurements.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bnjax.text import compare, is_zero, spread
from bnjax.text import finite as _finite

BN, PLAIN, NOISY_BN, NOISY_PLAIN = "BN", "plain", "noisy BN", "noisy plain"
TEST_IMAGES = 540  # the digits test split: a difference under one image is "about the same"
ONE_IMAGE = 1.0 / TEST_IMAGES
LATE = 0.9  # "late training": the last 10% of the steps

# ---------------------------------------------------------------------------- numbers


def _spread(v: np.ndarray, spec: str) -> str:
    """`spread`, with one or two more digits when the min–max would print as one number
    ("0.96 (0.96–0.96)"): the spread is shown, never rounded away. A single seed says so
    ("0.53 (1 seed)"); seeds that agree exactly say so too ("0.97 (every seed)")."""
    text = first = spread(v, spec)
    if "(" not in text:
        return f"{text} (1 seed)" if v.size == 1 else f"{text} (every seed)"
    for _ in range(2):
        if "(" not in text:
            return text
        ends = text.rsplit(" (", 1)[1][:-1].split("–")
        if len(ends) != 2 or ends[0] != ends[1]:
            return text
        alt = "#" if spec.startswith("#") else ""  # "#.2g" keeps trailing zeros: 0.00070
        digits = int(spec.lstrip("#")[1:-1]) + 1
        spec = f"{alt}.{digits}{spec[-1]}"
        text = spread(v, spec)
    return first.split(" (", 1)[0] + " (every seed)" if "(" in text else text


def num(values, spec: str = ".2f") -> str:
    """The seed mean with its min–max spread, "0.42 (0.41–0.44)"; "0" when every seed is exactly
    0; "≈ 0 (7e-09)" when every seed is zero up to rounding (the largest in brackets); "—" when
    there is no finite value (every run diverged)."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    if is_zero(v):
        top = float(np.abs(v).max())
        return "0" if top == 0 else f"≈ 0 ({top:.0e})"
    return _spread(v, spec)


def sig(values, digits: int = 2) -> str:
    """`num` to `digits` significant digits, trailing zeros kept so the seed spread reads alike:
    "0.00081 (0.00070–0.00093)", never "(0.0007–0.00093)"."""
    return re.sub(r"(\d)\.(?!\d)", r"\1", num(values, f"#.{digits}g"))


def pct(values, spec: str = ".0f") -> str:
    """`num` in percent: "96% (95–97%)"; zero up to rounding stays "0" or "≈ 0 (7e-09)"."""
    v = _finite(values)
    if v.size == 0 or is_zero(v):
        return num(v)
    text = _spread(100 * v, spec)
    if text.endswith(" seed)"):
        return text.replace(" (", "% (", 1)
    if "(" in text:
        head, rest = text.split(" (", 1)
        return f"{head}% ({rest[:-1]}%)"
    return text + "%"


def times(values, spec: str = ".2g") -> str:
    """A ratio with its seed spread: "0.16× (0.11–0.22×)"."""
    v = _finite(values)
    if v.size == 0 or is_zero(v):
        return num(v) + ("×" if v.size else "")
    top = float(np.abs(v).max())
    if spec.endswith("g") and top >= 100:  # "131×", never "1.3e+02×"
        spec = f".{max(int(spec[1:-1]), len(str(int(top))))}g"
    text = _spread(v, spec)
    if text.endswith(" seed)"):
        return text.replace(" (", "× (", 1)
    if "(" in text:
        head, rest = text.split(" (", 1)
        return f"{head}× ({rest[:-1]}×)"
    return text + "×"


def change(values, whose: str = "its") -> str:
    """A relative change ‖new − old‖ / ‖old‖: "96% (95–97%) of its size", or "61× (31–91×) its
    size" once it is 10 times the old size or more."""
    v = _finite(values)
    if v.size and float(v.mean()) >= 10:  # the spread keeps two digits: "45× (0.87–131×)"
        return f"{times(v, '.2g')} {whose} size"
    return f"{pct(v)} of {whose} size" if v.size and not is_zero(v) else pct(v)


def points(diffs, *, signed: bool = True) -> str:
    """Per-seed differences of accuracies in percentage points: "+1.2 (+0.9 to +1.4) points";
    `signed=False` drops the signs (for a sentence whose verb already says up or down)."""
    v = 100 * _finite(diffs)
    if v.size == 0:
        return "—"
    f = "+.1f" if signed else ".1f"
    if not signed:
        v = np.abs(v)
    if v.size == 1 or format(v.max(), f) == format(v.min(), f):
        return f"{format(v.mean(), f)} points"
    return f"{format(v.mean(), f)} ({format(v.min(), f)} to {format(v.max(), f)}) points"


def _seeds(result) -> list[int]:
    return list(result.config.seeds)


def _by_seed(frame: pd.DataFrame, column: str, seeds) -> np.ndarray:
    """Per-seed means of `column` (over whatever else is in `frame`), in `seeds` order, NaN where
    a seed has no finite value."""
    means = frame.groupby("seed")[column].mean() if len(frame) else pd.Series(dtype=float)
    return np.array([float(means.get(s, np.nan)) for s in seeds])


def example_per_seed(result, variant: str, column: str, factor: float,
                     layer: int | None = None) -> np.ndarray:
    """The concrete example (W1 -> factor * W1): `column` of one variant at `layer` (default:
    the example layer), per seed."""
    e = result.example
    layer = result.config.mid_layer if layer is None else layer
    rows = e[(e["variant"] == variant) & (e["factor"] == factor) & (e["layer"] == layer)]
    return _by_seed(rows, column, _seeds(result))


def example_extreme(result, variant: str, column: str, factor: float,
                    how: str = "max") -> np.ndarray:
    """Per seed, the largest (or smallest) `column` over every later layer (2..depth)."""
    e = result.example
    rows = e[(e["variant"] == variant) & (e["factor"] == factor)]
    top = rows.groupby("seed")[column].agg(how) if len(rows) else pd.Series(dtype=float)
    return np.array([float(top.get(s, np.nan)) for s in _seeds(result)])


def ics_per_seed(result, variant: str, metric: str = "cos", layer: int | None = None,
                 how: str = "mean") -> np.ndarray:
    """Santurkar's Def. 2.1 at `layer` (default: the example layer), averaged over training
    (`how`: "mean" or "median" over the probes), per seed."""
    ics = result.ics
    layer = result.config.mid_layer if layer is None else layer
    rows = ics[(ics["variant"] == variant) & (ics["layer"] == layer)]
    agg = rows.groupby("seed")[metric].agg(how) if len(rows) else pd.Series(dtype=float)
    return np.array([float(agg.get(s, np.nan)) for s in _seeds(result)])


def stats_per_seed(result, variant: str) -> np.ndarray:
    """2c: the relative change of the inputs of layers 2..depth after the affine change of
    layer 1, mean over those layers, per seed."""
    s = result.stats
    rows = s[(s["variant"] == variant) & (s["layer"] > 1)]
    return _by_seed(rows, "rel_change", _seeds(result))


def acc_per_seed(result, variant: str) -> np.ndarray:
    """Final test accuracy per seed (NaN for a diverged run)."""
    r = result.runs
    rows = r[r["variant"] == variant]
    rows = rows.assign(test_acc=rows["test_acc"].where(~rows["diverged"].astype(bool)))
    return _by_seed(rows, "test_acc", _seeds(result))


def late_loss_per_seed(result, variant: str) -> np.ndarray:
    """The training batch loss over the last 10% of the steps, per seed."""
    c = result.curves
    rows = c[(c["variant"] == variant) & (c["step"] > LATE * result.config.steps)]
    return _by_seed(rows, "loss", _seeds(result))


def lost(result, variants=(BN, PLAIN)) -> list[str]:
    """The variants present in `result` whose every seed diverged."""
    r = result.runs
    out = []
    for v in variants:
        d = r[r["variant"] == v]
        if len(d) and bool(d["diverged"].astype(bool).all()):
            out.append(v)
    return out


def _factor_words(factor: float) -> tuple[str, str]:
    """("Double", "W1 × 2") for 2; ("Halve", "W1 × 0.5"); ("Multiply by 8", "W1 × 8")."""
    short = f"W1 × {factor:g}"
    verb = {2.0: "Double", 0.5: "Halve"}.get(float(factor), f"Multiply by {factor:g}")
    return verb, short


def _layers(result) -> str:
    c = result.config
    return f"layers 1–{c.mid_layer - 1}" if c.mid_layer > 2 else "layer 1"


def _unchanged(values) -> bool:
    """The example's change is zero up to float rounding on every finite seed."""
    return is_zero(values)


def size_verb(ratios, *, past: bool = False) -> str:
    """Which way a gradient's size went, from its per-seed ratio new/old: "shrinks" when it
    shrank on every seed, "grows" when it grew on every seed, else "goes" (seeds disagree)."""
    v = _finite(ratios)
    if v.size and bool(np.all(v < 1)):
        return "shrank" if past else "shrinks"
    if v.size and bool(np.all(v > 1)):
        return "grew" if past else "grows"
    return "went" if past else "goes"


def _diverged_answer(gone: list[str]) -> str:
    return (f"The {' and the '.join(gone)} net diverged on every seed at this setting, so this "
            f"view cannot answer the question: try a smaller learning rate.")


# ---------------------------------------------------------------------------- the short answer


def short_answer(result, factor: float = 2.0) -> str:
    """Two or three sentences that answer "does each layer learn more independently with BN?",
    from the clean nets: the concrete example (W1 × factor) and Santurkar's Def. 2.1 cosine."""
    gone = lost(result)
    if gone:
        return _diverged_answer(gone)
    mid = result.config.mid_layer
    verb, _ = _factor_words(factor)
    g_bn = example_per_seed(result, BN, "grad_change", factor)
    g_pl = example_per_seed(result, PLAIN, "grad_change", factor)
    cos_bn, cos_pl = ics_per_seed(result, BN), ics_per_seed(result, PLAIN)
    turn = compare(cos_bn, cos_pl, words=("less", "more", "about as much"))
    cos_word = compare(cos_bn, cos_pl)
    exact = _unchanged(g_bn) and not _unchanged(g_pl)

    if exact:
        r_pl = example_per_seed(result, PLAIN, "grad_ratio", factor)
        size = (f", and its size {size_verb(r_pl)} to {times(r_pl)} the old one"
                if _finite(r_pl).size else "")
        first = (f"{verb} layer 1's weights: with BN, layer {mid}'s gradient stays exactly "
                 f"the same (change {num(g_bn)} on every seed); without BN it changes by "
                 f"{change(g_pl)}{size}.")
    else:
        same = compare(g_bn, g_pl, words=("more", "less", "about as much"))
        first = (f"{verb} layer 1's weights: layer {mid}'s gradient changes by {pct(g_bn)} "
                 f"with BN and {pct(g_pl)} without, {same.word} with BN"
                 f"{', ' + same.seeds if same.seeds else ''}.")
    if turn.sign == 0 and turn.n == 0:
        second = "The gradient measure during training has no finite values to compare."
    else:
        versus = "as" if turn.sign == 0 else "than"
        which = f", {cos_word.word} with BN {cos_word.seeds}" if cos_word.sign else ""
        second = (f"But when {_layers(result)} take a real training step, layer {mid}'s gradient "
                  f"turns **{turn.word}** with BN {versus} without (cosine of before and after, "
                  f"1 = unchanged: {num(cos_bn)} vs {num(cos_pl)}{which}).")
    if exact and turn.sign <= 0:
        lead = "**Only in one sense.**"
        last = "BN decouples the *scale* a layer sees, not what it has to learn."
    elif exact:
        lead = "**Yes, in both senses here.**"
        last = ("In this run BN decoupled the scale exactly and the gradients a little; "
                "Santurkar et al. found the gradients as coupled or worse.")
    elif turn.sign > 0:
        lead = "**Partly.**"
        last = "BN's later layers were not fully shielded from layer 1's scale here."
    else:
        lead = "**Not in this run.**"
        last = "Here BN shielded neither the scale nor the gradients."
    return f"{lead} {first} {second} {last}"


# ---------------------------------------------------------------------------- the example


def example_title(result, factor: float) -> list[str]:
    """The scatter's title, two lines: what happened to the example layer's gradient."""
    mid = result.config.mid_layer
    _, short = _factor_words(factor)
    g_bn = example_per_seed(result, BN, "grad_change", factor)
    g_pl = example_per_seed(result, PLAIN, "grad_change", factor)
    if _unchanged(g_bn):
        bn_part = f"is unchanged with BN ({num(g_bn)})"
    else:
        bn_part = f"changes by {pct(g_bn)} with BN"
    big = _finite(g_pl).size and float(np.nanmean(g_pl)) >= 10  # "45× its size", not "4451%"
    return [f"{short}: layer {mid}'s gradient {bn_part},",
            f"changes by {change(g_pl) if big else pct(g_pl)} without BN"]


def panel_label(result, variant: str, factor: float) -> str:
    """The header over one panel of the scatter."""
    seed = result.config.seed
    g = example_per_seed(result, variant, "grad_change", factor)[:1]
    name = "with BN" if variant == BN else "without BN"
    if not np.isfinite(g).all():
        return f"{name}: diverged"
    what = ("unchanged" if _unchanged(g) else f"changed by {100 * float(g[0]):.0f}%"
            if float(g[0]) < 10 else f"changed by {float(g[0]):.3g}× its size")
    return f"{name}, seed {seed}: {what}"


def example_caption(result, factor: float) -> str:
    """Under the scatter: how to read it, and the numbers for the inputs and every layer."""
    c = result.config
    mid = c.mid_layer
    _, short = _factor_words(factor)
    in_bn = example_per_seed(result, BN, "input_change", factor)
    in_pl = example_per_seed(result, PLAIN, "input_change", factor)
    g_pl = example_per_seed(result, PLAIN, "grad_change", factor)
    ratio_pl = example_per_seed(result, PLAIN, "grad_ratio", factor)
    top_bn = example_extreme(result, BN, "grad_change", factor, "max")
    low_pl = example_extreme(result, PLAIN, "grad_change", factor, "min")
    how = f"{size_verb(ratio_pl, past=True)} to {times(ratio_pl)} its old size"
    w = result.weights
    drawn = int(((w["variant"] == BN) & (w["seed"] == c.seed) & (w["factor"] == factor)).sum())
    return (f"Each dot is one weight of layer {mid} ({c.width * c.width:,} weights, "
            f"{drawn} drawn, seed {c.seed}): the gradient the training "
            f"loss gives it before (x) and after (y) {short}. On the dashed line, nothing "
            f"changed. **With BN**, layer {mid}'s inputs changed by {num(in_bn)} and its gradient "
            f"by {num(example_per_seed(result, BN, 'grad_change', factor))}; the largest gradient "
            f"change over layers 2–{c.depth} is {num(top_bn)}. **Without BN**, layer {mid}'s "
            f"inputs changed by {change(in_pl, 'their')} and its gradient by {change(g_pl)}: "
            f"it {how}. At every later layer the gradient changed by at least "
            f"{change(low_pl)}. "
            f"Seed spread in brackets (min–max over {c.n_seeds} seeds).")


# ---------------------------------------------------------------------------- 2a


METRIC_NAMES = {"cos": "cos(G, G′)", "rel": "‖G − G′‖/‖G‖"}


def _change_cmp(result, metric: str, layer: int | None = None):
    """How BN's gradient change compares with plain's: "more", "less", "about as much"."""
    bn = ics_per_seed(result, BN, metric, layer)
    pl = ics_per_seed(result, PLAIN, metric, layer)
    if metric == "cos":  # a lower cosine is a larger change
        return compare(bn, pl, words=("less", "more", "about as much")), bn, pl
    return compare(bn, pl, words=("more", "less", "about as much")), bn, pl


def _step_words(result, metric: str, layer: int | None = None) -> list[tuple[int, str, int]]:
    """(probe step, word, sign) of BN's gradient change vs plain's at each probe step, compared
    over the seeds as `_change_cmp` compares the means over training."""
    ics = result.ics
    layer = result.config.mid_layer if layer is None else layer
    rows = ics[ics["layer"] == layer]
    seeds = _seeds(result)
    out = []
    for step in sorted(rows["step"].unique()):
        r = rows[rows["step"] == step]
        bn = _by_seed(r[r["variant"] == BN], metric, seeds)
        pl = _by_seed(r[r["variant"] == PLAIN], metric, seeds)
        words = (("less", "more", "about as much") if metric == "cos"
                 else ("more", "less", "about as much"))
        c = compare(bn, pl, words=words)
        if c.n:
            out.append((int(step), c.word, c.sign))
    return out


def phases(result, metric: str = "cos", layer: int | None = None) -> str | None:
    """When the answer flips during training ("less at steps 100–200, more from step 300"), from
    the per-step comparisons; None when BN's change is never both clearly more and clearly less
    than plain's at some probe steps."""
    steps = _step_words(result, metric, layer)
    if {s for _, _, s in steps} >= {1, -1}:
        runs: list[list] = []
        for step, word, _ in steps:
            if runs and runs[-1][0] == word:
                runs[-1][2] = step
            else:
                runs.append([word, step, step])
        if len(runs) > 4:
            signs = [sign for _, _, sign in steps if sign]
            flips = sum(1 for a, b in zip(signs, signs[1:]) if a != b)
            n = {1: "once", 2: "twice"}.get(flips, f"{flips} times")
            words = {sign: word for _, word, sign in steps}
            return (f"{words[1]} at some probe steps and {words[-1]} at others "
                    f"(the sign flips {n})")
        last = steps[-1][0]
        parts = []
        for i, (word, a, b) in enumerate(runs):
            if i == len(runs) - 1 and a != b and b == last:
                parts.append(f"{word} from step {a}")
            else:
                parts.append(f"{word} at step {a}" if a == b else f"{word} at steps {a}–{b}")
        return ", ".join(parts)
    return None


def crossings(result, metric: str = "cos", layer: int | None = None) -> str | None:
    """Where the seed-mean curves (what the over-training chart draws) point against the answer
    over the whole of training, though the seeds there do not all agree: "less at steps 100–200,
    on at most 1 of 3 seeds at each". None when they never do, or when the overall answer is
    "about as much" (then there is nothing to point against)."""
    overall, _, _ = _change_cmp(result, metric, layer)
    if overall.sign == 0:
        return None
    ics = result.ics
    layer = result.config.mid_layer if layer is None else layer
    rows = ics[ics["layer"] == layer]
    seeds = _seeds(result)
    against = []  # (step, seeds pointing against the overall answer, seeds compared)
    for step in sorted(rows["step"].unique()):
        r = rows[rows["step"] == step]
        d = (_by_seed(r[r["variant"] == BN], metric, seeds)
             - _by_seed(r[r["variant"] == PLAIN], metric, seeds))
        d = d[np.isfinite(d)]  # the sign `compare(bn, plain)` gives overall
        if d.size and np.sign(d.mean()) == -overall.sign:
            against.append((int(step), int(np.sum(np.sign(d) == -overall.sign)), int(d.size)))
    if not against:
        return None
    word = {"more": "less", "less": "more"}[overall.word]  # the other way round
    probes = sorted(rows["step"].unique())
    runs: list[list] = []
    for step, k, n in against:
        i = probes.index(step)
        if runs and probes.index(runs[-1][1]) == i - 1:
            runs[-1][1] = step
            runs[-1][2] = max(runs[-1][2], k)
        else:
            runs.append([step, step, k, n])
    if len(runs) > 3:
        return f"{word} at {len(against)} probe steps, never on every seed"
    parts = [f"{word} at step {a}, on {k} of {n} seeds" if a == b else
             f"{word} at steps {a}–{b}, on at most {k} of {n} seeds there"
             for a, b, k, n in runs]
    return "; ".join(parts)


def ics_time_title(result, layer: int, metric: str = "cos") -> list[str]:
    """The over-training chart's title: the layer, the measure, BN vs plain with spreads, and
    when the answer flips during training, when."""
    cmp_, bn, pl = _change_cmp(result, metric, layer)
    verb = "turns" if metric == "cos" else "changes"
    when = phases(result, metric, layer)
    cross = None if when else crossings(result, metric, layer)
    ing = "turning" if metric == "cos" else "changing"
    extra = ([f"but by probe step, BN's {ing}"] + _wrap(when) if when else
             [f"the seed means cross, BN's {ing}"] + _wrap(cross) if cross else [])
    return [f"Layer {layer}: BN's gradient {verb} {cmp_.word}",
            f"mean {METRIC_NAMES[metric]} BN {num(bn)},",
            f"plain {num(pl)}" + (";" if extra else "")] + extra


def _wrap(text: str, width: int = 48) -> list[str]:
    """A long title line split at its commas into lines of about `width` characters."""
    lines: list[str] = []
    for part in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            if lines:
                lines[-1] += ","
            lines.append(part)
    return lines


def ics_layer_title(result, metric: str = "cos") -> list[str]:
    """The every-layer chart's title: at how many layers BN's gradient changes more or less."""
    layers = sorted(result.ics["layer"].unique())
    counts = {"more": 0, "less": 0, "about as much": 0}
    for layer in layers:
        cmp_, _, _ = _change_cmp(result, metric, layer)
        if cmp_.word in counts:
            counts[cmp_.word] += 1
    n = sum(counts.values())
    parts = [f"{word} at {k}" for word, k in counts.items() if k]
    if not parts:
        return ["Every layer, mean over training", "nothing to compare"]
    return ["Every layer, mean over training:",
            f"BN's gradient changes {parts[0]} of {n} layers" + ("," if parts[1:] else ""),
            ] + ([", ".join(parts[1:])] if parts[1:] else [])


def _coupled(sign: int) -> str:
    return {-1: "more coupled than plain's", 1: "less coupled than plain's"}.get(
        sign, "about as coupled as plain's")


def coupling_lines(result) -> list[str]:
    """"What this run measured" for 2a."""
    gone = lost(result)
    if gone:
        return [_diverged_answer(gone)]
    mid = result.config.mid_layer
    turn, cos_bn, cos_pl = _change_cmp(result, "cos")
    rel, rel_bn, rel_pl = _change_cmp(result, "rel")
    med_bn = ics_per_seed(result, BN, how="median")
    med_pl = ics_per_seed(result, PLAIN, how="median")
    med = compare(med_bn, med_pl, words=("less", "more", "about as much"))
    agree = "agree" if med.sign == turn.sign else "do not agree"

    def seeds(c):
        return f", {c.seeds}" if c.seeds else ""

    when = phases(result, "cos")
    cross = None if when else crossings(result, "cos")
    lines = [
        f"At layer {mid}, after {_layers(result)} take their step, the gradient keeps a cosine of "
        f"**{num(cos_bn)}** with its old direction with BN and **{num(cos_pl)}** without (mean "
        f"over training; min–max over seeds in brackets): it turns {turn.word} with BN"
        f"{seeds(turn)}"
        + (f". But the answer changes during training: BN's gradient turns {when}." if when
           else f". The seed-mean curves cross, though: BN's gradient turns {cross}: the "
           f"seeds do not agree on it." if cross else "."),
        f"Relative change ‖G − G′‖/‖G‖: {num(rel_bn)} with BN vs {num(rel_pl)} without: "
        f"{rel.word} with BN{seeds(rel)}.",
        f"The medians over training, which ignore plain's rare loss spikes, {agree}: "
        f"{num(med_bn)} with BN vs {num(med_pl)} without.",
    ]
    if when:
        lines.append(f"So by this measure the answer depends on when you look: BN's gradients "
                     f"are {_coupled(turn.sign)} on average over training, but not at every stage "
                     f"({when}).")
    elif turn.sign < 0:
        lines.append("So by this measure BN does **not** decouple the layers: its gradients "
                     "are more coupled, as Santurkar et al. found.")
    elif turn.sign == 0:
        lines.append("So by this measure BN does **not** decouple the layers: its gradients "
                     "are about as coupled as plain's.")
    else:
        lines.append("In this run BN's gradients turned **less** than plain's: by this measure "
                     "BN decoupled the layers, unlike the paper's finding.")
    return lines


# ---------------------------------------------------------------------------- 2b


def _acc(result, variant):
    return acc_per_seed(result, variant)


def noise_effect(after, before):
    """What the noise did to a net's test accuracy, per seed: (Comparison with `compare` at one
    test image's tolerance, the finite per-seed differences, seeds up, seeds down, seeds within
    one image). The chart title, the accuracy line and the verdict all read this one result."""
    c = compare(after, before, tol=ONE_IMAGE, words=("higher", "lower", "about the same"))
    a_, b_ = np.asarray(after, float), np.asarray(before, float)
    ok = np.isfinite(a_) & np.isfinite(b_)
    d = (a_ - b_)[ok]
    up, down = int(np.sum(d > ONE_IMAGE)), int(np.sum(d < -ONE_IMAGE))
    return c, d, up, down, int(d.size) - up - down


def noise_phrase(after, before, name: str) -> str:
    """"raises BN's by 1.2 (1.0 to 1.5) points on 3 of 3 seeds" when every seed agrees (the
    comparison claims a direction); else the seeds counted each way, "raises BN's on 2 of 3
    seeds (+1.7 (+0.0 to +2.6) points)", or "leaves BN's about the same (+0.1 (-0.1 to +0.2)
    points)" when no seed moved by a test image."""
    c, d, up, down, same = noise_effect(after, before)
    if c.n == 0:
        return f"{name.removesuffix(chr(39) + 's')}: no seed where both trained"
    if c.sign:
        verb = "raises" if c.sign > 0 else "lowers"
        return f"{verb} {name} by {points(d, signed=False)} {c.seeds}"
    if not up and not down:
        return f"leaves {name} about the same ({points(d)})"
    moves = []
    if up:
        moves.append(f"raises {name} on {up}")
    if down:
        moves.append(f"lowers {'it' if moves else name} on {down}")
    return f"{', '.join(moves)} of {c.n} seeds ({points(d)})"


def noise_lines(clean, noisy) -> list[str]:
    """"What this run measured" for 2b. Test accuracy and training loss are separate lines:
    they answer different questions, and here they can point opposite ways."""
    a_bn, a_pl = _acc(clean, BN), _acc(clean, PLAIN)
    a_nbn, a_npl = _acc(noisy, NOISY_BN), _acc(noisy, NOISY_PLAIN)
    noise = noisy.config.noise
    bn_noise, _, bn_up, bn_down, _ = noise_effect(a_nbn, a_bn)
    pl_noise, _, pl_up, pl_down, _ = noise_effect(a_npl, a_pl)
    npl_bn = compare(a_npl, a_bn, tol=ONE_IMAGE,
                     words=("higher than", "lower than", "about the same as"))

    def seeds(c):
        return f" ({c.seeds})" if c.seeds else ""

    def counted(c, up, down, tail=""):
        """The comparison's word, or, when the seeds do not all agree, how many went each way."""
        if c.sign or not (up or down):
            return f"{c.word}{tail}{seeds(c)}"
        ways = [f"{w} on {k}" for w, k in (("higher", up), ("lower", down)) if k]
        return f"not clearly different{tail} ({', '.join(ways)} of {c.n} seeds)"

    none = "no seed where both trained"
    acc_line = (
        f"**Test accuracy** (unseen digits, noise a = {noise:g}): noisy BN "
        f"**{pct_acc(a_nbn)}** vs BN **{pct_acc(a_bn)}**, "
        + (counted(bn_noise, bn_up, bn_down, " with the noise") if bn_noise.n else none)
        + f"; noisy plain {pct_acc(a_npl)} vs plain {pct_acc(a_pl)}, "
        + (counted(pl_noise, pl_up, pl_down) if pl_noise.n else none)
        + (f". Noisy plain is {npl_bn.word} clean BN{seeds(npl_bn)}." if npl_bn.n else "."))

    losses, common = _late_losses(clean, noisy)
    l_bn, l_nbn = losses[BN], losses[NOISY_BN]
    low, second = _lowest(losses)
    fit = compare(l_nbn, l_bn, words=("higher than", "lower than", "about the same as"))
    if low is None:
        loss_line = "**Training loss**: no finite values to compare."
    else:
        other = BN if low != BN else PLAIN
        ends = (f"{low} ends lowest" if second is None else f"{low} and {second} end lowest")
        where = "" if common else " (on the seeds where every net trained)"
        loss_line = (
            f"**Training loss** (how closely a net fits its training batches, last 10% of the "
            f"steps{where}): {ends}, {sig(losses[low])}; {other}'s "
            f"{sig(losses[other])} is {ratio_words(losses[other], losses[low])}. "
            f"Noisy BN's {sig(l_nbn)} is {fit.word} BN's{seeds(fit)}"
            + (": the noise costs fit." if fit.sign > 0 else "."))

    if bn_noise.sign == 0 and bn_noise.n == 0:
        verdict = "Some nets diverged on every seed: compare the ones that trained."
    elif bn_noise.sign > 0 or (bn_noise.sign == 0 and not (bn_up or bn_down)):
        verdict = (f"So inputs whose distribution never sits still did not stop BN from "
                   f"learning: noisy BN's test accuracy is {bn_noise.word}"
                   f"{' as' if bn_noise.sign == 0 else ' than'} clean BN's.")
    elif bn_noise.sign == 0:
        verdict = (f"So inputs whose distribution never sits still did not clearly change how "
                   f"well BN learns: the noise "
                   f"{noise_phrase(a_nbn, a_bn, 'its test accuracy')}.")
    else:
        verdict = ("At this noise size noisy BN's test accuracy is lower than clean BN's: "
                   "noise this large does hurt.")
    # "too" only when the noise moved both nets the same way.
    if pl_noise.sign > 0:
        also = " too" if bn_noise.sign > 0 else ", though" if bn_noise.sign < 0 else ""
        verdict += (f" The noise raised the plain net's test accuracy{also}: like dropout, it "
                    "makes memorizing the training images harder (page 4).")
    elif pl_noise.sign < 0:
        also = " too" if bn_noise.sign < 0 else ""
        verdict += f" The noise lowered the plain net's test accuracy{also}."
    return [acc_line, loss_line, verdict]


def _flip(word: str) -> str:
    """The comparison read the other way round: "higher than" -> "lower than"."""
    return {"higher than": "lower than", "lower than": "higher than"}.get(word, word)


def pct_acc(values) -> str:
    """An accuracy with its seed spread: "96.2% (95.6–96.9%)"."""
    return pct(values, ".1f")


def ratio_words(a, b) -> str:
    """"27× (24–31×) as high" for per-seed a / b (paired)."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a_) & np.isfinite(b_) & (b_ > 0)
    if not ok.any():
        return "no ratio"
    r = a_[ok] / b_[ok]
    text = _spread(r, ".2g")
    if text.endswith(" seed)"):
        return text.replace(" (", "× (", 1) + " as high"
    if "(" in text:
        head, rest = text.split(" (", 1)
        return f"{head}× ({rest[:-1]}×) as high"
    return f"{text}× as high"


def _late_losses(clean, noisy) -> tuple[dict, bool]:
    """Each variant's late training loss per seed, kept only on the seeds where all four nets
    trained, so that "lowest" and "× as high" compare like with like; and whether that is every
    seed. (Where no seed has all four, each keeps its own.)"""
    losses = {PLAIN: late_loss_per_seed(clean, PLAIN), BN: late_loss_per_seed(clean, BN),
              NOISY_PLAIN: late_loss_per_seed(noisy, NOISY_PLAIN),
              NOISY_BN: late_loss_per_seed(noisy, NOISY_BN)}
    ok = np.all([np.isfinite(v) for v in losses.values()], axis=0)
    if ok.all() or not ok.any():
        return losses, bool(ok.all())
    return {k: np.where(ok, v, np.nan) for k, v in losses.items()}, False


def _lowest(losses: dict) -> tuple[str | None, str | None]:
    """The variant with the lowest seed-mean loss, and the runner-up when the two cannot be told
    apart over the seeds (else None)."""
    means = {v: float(np.nanmean(x)) for v, x in losses.items() if _finite(x).size}
    if not means:
        return None, None
    order = sorted(means, key=means.get)
    if len(order) < 2:
        return order[0], None
    first, second = order[0], order[1]
    tie = compare(losses[first], losses[second]).sign == 0
    return first, (second if tie else None)


def loss_title(clean, noisy) -> list[str]:
    """The learning curves' title: which net fits its training batches closest."""
    losses, _ = _late_losses(clean, noisy)
    low, second = _lowest(losses)
    if low is None:
        return ["Training batch loss (log scale)", "no finite values"]
    other = BN if low != BN else PLAIN
    head = f"{low} and {second} fit" if second else f"{low} fits"
    return ["Training batch loss (log scale):", f"{head} its training batches closest;",
            f"last 10%: {low} {sig(losses[low])},",
            f"{other} {sig(losses[other])}"]


def accuracy_title(clean, noisy) -> list[str]:
    """The accuracy chart's title: what the noise did to each net's test accuracy."""
    a_bn, a_pl = _acc(clean, BN), _acc(clean, PLAIN)
    a_nbn, a_npl = _acc(noisy, NOISY_BN), _acc(noisy, NOISY_PLAIN)
    return ["Test accuracy (unseen digits): the noise",
            noise_phrase(a_nbn, a_bn, "BN's") + ",", noise_phrase(a_npl, a_pl, "plain's")]


# ---------------------------------------------------------------------------- 2c


def stats_title(result) -> list[str]:
    """2c, left: the statistics a later layer sees after an affine change of layer 1."""
    bn, pl = stats_per_seed(result, BN), stats_per_seed(result, PLAIN)
    word = "unchanged" if is_zero(bn) else "changed"
    return ["Statistics: layer 1 rescaled and shifted;",
            f"later inputs {word} with BN: {pct(bn)},",
            f"without BN: {pct(pl)}"]


def gradients_title(result) -> list[str]:
    """2c, right: Def. 2.1 as 1 − cos at every layer."""
    mid = result.config.mid_layer
    _, bn, pl = _change_cmp(result, "cos")
    return ["Gradients: the layers below take a step",
            f"1 − cos(G, G′) at layer {mid} (0 = unchanged):",
            f"BN {num(1 - bn)}, plain {num(1 - pl)}"]


def zero_label(result) -> str | None:
    """The label over 2c's BN bars when they are too small to see ("BN ≈ 0 (3e-06) at every
    layer"); None when they are visible."""
    e = result.stats
    rows = e[(e["variant"] == BN) & (e["layer"] > 1)]["rel_change"]
    if not is_zero(rows):
        return None
    return f"BN: {num(rows)} at every layer (blue ticks)"


def synthesis_text(result) -> str:
    """2c's sentence under the two charts."""
    gone = lost(result)
    if gone:
        return _diverged_answer(gone)
    c = result.config
    bn, pl = stats_per_seed(result, BN), stats_per_seed(result, PLAIN)
    turn, cos_bn, cos_pl = _change_cmp(result, "cos")
    stats_word = "exactly" if is_zero(bn) and not is_zero(pl) else "not exactly"
    grads = ("not" if turn.sign <= 0 else "a little")
    return (f"**Statistics, {stats_word}:** an affine change of layer 1 (each unit rescaled and "
            f"shifted) moves the inputs of layers 2–{c.depth} by {pct(bn)} with BN and by "
            f"{pct(pl)} without (relative change, mean over layers; page 2 has the full "
            f"experiment). **Gradients, {grads}:** at layer {c.mid_layer}, 1 − cos is "
            f"{num(1 - cos_bn)} with BN and {num(1 - cos_pl)} without: BN's gradient turns "
            f"{turn.word}{' as' if turn.sign == 0 else ' than'} plain's"
            f"{', ' + turn.seeds if turn.seeds else ''}.")
