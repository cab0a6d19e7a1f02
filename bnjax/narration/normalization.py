"""What page 7 says: the short answer, each section's chart title and verdict lines, built from
the results of `bnjax.experiments.normalization`.

Every comparative ("higher", "more", "about the same") is chosen by `bnjax.text.compare` from
per-seed numbers; whether LayerNorm keeps a claim or loses it is decided from the measurements
(an invariance is "exact" when every seed's change is below `TINY`), never typed in. Each
function takes the results it needs and tolerates a missing one (None: not computed yet), so the
short answer can grow as the page's sections finish.
"""
from __future__ import annotations

import math

import numpy as np

from bnjax.experiments import normalization as exp
from bnjax.text import TINY, compare, spread

BN, LN, PLAIN = exp.BN, exp.LN, exp.PLAIN
CHANGE = {"unit_affine": "each unit's own rescale and shift of layer 1",
          "layer_scale": "a rescale of the whole of layer 1",
          "random": "a random change of layer 1"}


# ---------------------------------------------------------------------------- small helpers


def _finite(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v[np.isfinite(v)]


def change_text(values) -> str:
    """A relative change with its seed spread; changes at float rounding as "≈ 0 (max 3e-06)"."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    if v.max() < TINY:
        return "0" if v.max() == 0 else f"≈ 0 (at most {v.max():.0e})"
    return _spread(v, ".2f")


def _spread(values, spec: str = ".2f") -> str:
    """`bnjax.text.spread`, printing one number when every seed rounds to it."""
    v = _finite(values)
    if v.size and format(float(v.min()), spec) == format(float(v.max()), spec):
        return f"{format(float(v.mean()), spec)} on every seed" if v.size > 1 else \
            format(float(v[0]), spec)
    return spread(v, spec)


def is_exact(values) -> bool:
    """Invariant up to float rounding on every seed (and at least one seed measured)."""
    v = _finite(values)
    return v.size > 0 and bool(v.max() < TINY)


def _pct(values) -> str:
    """Accuracies as percentages with their seed spread: "97.3% (96.5–97.8%)"."""
    v = _finite(np.asarray(values, float) * 100)
    if v.size == 0:
        return "—"
    if v.size == 1 or v.min() == v.max():
        return f"{v.mean():.1f}%"
    return f"{v.mean():.1f}% ({v.min():.1f}–{v.max():.1f}%)"


def _signed(values, spec: str = ".2f") -> str:
    """Signed numbers with a true minus sign and their spread: "−0.48 (−0.50 to −0.47)"."""
    v = _finite(values)
    if v.size == 0:
        return "—"
    f = lambda x: format(x, spec).replace("-", "−")  # noqa: E731
    if v.size == 1 or v.min() == v.max():
        return f(v.mean())
    return f"{f(v.mean())} ({f(v.min())} to {f(v.max())})"


def _than(c) -> str:
    """The comparative and its preposition: "more than", "about as many as", "the same as"."""
    return f"{c.word} {'than' if c.sign else 'as'}"


def _cmp(c, noun: str = "") -> str:
    """"more good cells than", "about as many good cells as": the word, a noun, the preposition."""
    return " ".join(w for w in (c.word, noun, "than" if c.sign else "as") if w)


def _lr(v: float) -> str:
    return "none" if not v or not math.isfinite(v) else f"{v:g}"


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------- Q1 invariances


def invariance_values(result, variant: str, change: str) -> np.ndarray:
    c = result.changes
    return c[(c.variant == variant) & (c.change == change)].sort_values("seed").rel_change \
        .to_numpy(float)


def invariance_table(result) -> str:
    """A markdown table: the change of the logits for (a), (b), (c) and each net, with its seed
    spread, and a word chosen from the numbers (exact invariance, or a real change)."""
    head = "| change of layer 1 | " + " | ".join(v for v, _, _ in exp.NETS) + " |"
    rows = [head, "|---|" + "---|" * len(exp.NETS)]
    for change in exp.CHANGES:
        cells = []
        for variant, _, _ in exp.NETS:
            v = invariance_values(result, variant, change)
            word = "**invariant**" if is_exact(v) else "changes"
            cells.append(f"{change_text(v)}: {word}")
        rows.append(f"| {exp.CHANGE_LABELS[change]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _invariant_to(result, variant: str) -> list[str]:
    return [c for c in exp.CHANGES if is_exact(invariance_values(result, variant, c))]


def invariance_title(result) -> list[str]:
    names = {"unit_affine": "(a)", "layer_scale": "(b)", "random": "(c)"}
    parts = []
    for variant, _, _ in exp.NETS:
        inv = _invariant_to(result, variant)
        parts.append(f"{variant} to {_join([names[c] for c in inv])}" if inv
                     else f"{variant} to none")
    ln = [c for c in ("unit_affine", "layer_scale", "random")
          if not is_exact(invariance_values(result, LN, c))]
    moved = (f". {names[ln[0]]} moves LayerNorm's logits by "
             f"{change_text(invariance_values(result, LN, ln[0]))}" if ln else "")
    return ["Invariant: " + "; ".join(parts) + moved,
            "no change of the logits beyond float rounding (left of the dashed line); a point "
            "per seed"]


def invariance_lines(result) -> list[str]:
    names = {"unit_affine": "(a)", "layer_scale": "(b)", "random": "(c)"}
    lines = []
    for variant, _, _ in exp.NETS:
        inv = _invariant_to(result, variant)
        other = [c for c in exp.CHANGES if c not in inv]
        said = [f"invariant to {_join([names[c] for c in inv])}" if inv else "invariant to none"]
        if other:
            said.append("moved by " + _join(
                [f"{names[c]} {change_text(invariance_values(result, variant, c))}"
                 for c in other]))
        lines.append(f"**{variant}**: " + "; ".join(said) + ".")
    ln = invariance_values(result, LN, "random")
    bn = invariance_values(result, BN, "random")
    c = compare(bn, ln, tol=0.01, words=("more", "less", "about as much"))
    lines.append(f"(c), a random change, moves BN's logits {_than(c)} LayerNorm's"
                 + (f" ({c.seeds})" if c.seeds else "") + ": neither norm is immune to a change "
                 "that is not a rescale.")
    return lines


# ---------------------------------------------------------------------------- Q3 noise


def noise_values(result, variant: str, batch_size: int) -> np.ndarray:
    s = result.std
    return s[(s.variant == variant) & (s.batch_size == batch_size)].sort_values("seed")["std"] \
        .to_numpy(float)


def _slopes(result) -> np.ndarray:
    s = result.std[result.std.variant == BN]
    out = []
    lo = result.summary.get("fit_min", -np.inf)
    hi = result.summary.get("fit_max", np.inf)
    for _, d in s.groupby("seed"):
        d = d.dropna(subset=["std"]).sort_values("batch_size")
        d = d[(d.batch_size >= lo) & (d.batch_size <= hi)]
        if len(d) >= 2 and (d["std"] > 0).all():
            out.append(exp.loglog_slope(d.batch_size, d["std"]))
    return np.array(out)


# A fitted slope within this of -0.5 is said to follow 1/sqrt(B); another is printed as B^slope.
SQRT_LAW_TOL = 0.08


def noise_title(result) -> list[str]:
    b = int(result.summary["b_min"])
    bn, ln = noise_values(result, BN, b), noise_values(result, LN, b)
    ln_all = result.std[result.std.variant == LN]["std"]
    top = _finite(ln_all)
    ln_says = ("it does not move at all" if top.size and top.max() == 0 else
               f"it does not move (at most {top.max():.0e}: float rounding)"
               if is_exact(ln_all) else f"it moves by {change_text(ln)}")
    slopes = _slopes(result)
    law = ""
    if slopes.size:  # the law the fitted slope supports, not one typed in
        slope = float(np.mean(slopes))
        law = ("like 1/√B" if abs(slope + 0.5) <= SQRT_LAW_TOL else f"like B^{slope:.2f}") + (
            f" from B = {int(result.summary['fit_min'])}" if "fit_min" in result.summary else "")
        law = ", " + law
    return [f"One image's x̂ moves with its batch under BN ({_spread(bn)} at B = {b}{law}); "
            f"under LayerNorm " + ln_says,
            f"the spread of x̂ across {result.config.batches} random batches holding the image; "
            "a point per seed" + (f"; the dashed c/√B fitted from B = "
                                  f"{int(result.summary['fit_min'])} to "
                                  f"{int(result.summary['fit_max'])}"
                                  if "fit_min" in result.summary else "")]


def noise_lines(result) -> list[str]:
    s = result.summary
    b = int(s["b_min"])
    ln_all = result.std[result.std.variant == LN]["std"].to_numpy(float)
    slopes = _slopes(result)
    lines = [f"BN: the same training image's x̂ varies by {_spread(noise_values(result, BN, b))} "
             f"across batches of {b} and by {_spread(noise_values(result, BN, int(s['b_max'])))} "
             f"across batches of {int(s['b_max'])}; the slope of log spread on log B"
             + (f" from B = {int(s['fit_min'])} to {int(s['fit_max'])}" if "fit_min" in s
                else "") + f" is {_signed(slopes)}, where exactly 1/√B would be −0.5"
             + (" (below that range x̂ cannot move freely, |x̂| ≤ √(B − 1); above it the "
                "batches share many images)." if "fit_min" in s else ".")]
    lines.append("LayerNorm: " + (f"{change_text(ln_all)} at every batch size: its x̂ depends on "
                                  "the image alone, so there is no batch noise to regularize with."
                                  if is_exact(ln_all) else
                                  f"the spread is {change_text(ln_all)}, not zero."))
    return lines


# ---------------------------------------------------------------------------- Q3 small batches


def small_values(result, variant: str, batch_size: int) -> np.ndarray:
    return exp._per_seed(result.acc, variant, batch_size)


def _lr_rule(config) -> str:
    if config.lr_scaling == "sqrt":
        return f"SGD lr {config.lr:g} at batch {exp.LR_BATCH}, × √(B/{exp.LR_BATCH}) at batch B"
    return f"SGD lr {config.lr:g} at every batch size"


def _cap_text(result) -> str:
    """" (batch 2: 3,200 steps, 5.1 epochs)" where the step cap cut a batch size's epochs."""
    capped = exp.capped_sizes(result.config, exp.N_TRAIN)
    if not capped:
        return ""
    return " (" + "; ".join(f"batch {b}: {steps:,} steps, {ep:.1f} epochs"
                            for b, steps, ep in capped) + ")"


def small_title(result) -> list[str]:
    b = exp.GAP_BATCH
    ln, bn = small_values(result, LN, b), small_values(result, exp.BN_RUNNING, b)
    c = compare(ln, bn, tol=0.01, words=("ahead of", "behind", "level with"))
    first = min(result.acc.batch_size.unique())
    also = ""
    if first < b:
        also = (f"; at batch {first}, {_pct(small_values(result, LN, first))} vs "
                f"{_pct(small_values(result, exp.BN_RUNNING, first))}")
    return [f"At batch {b}, LayerNorm is {c.word} BN ({_pct(ln)} vs {_pct(bn)} test accuracy, "
            f"BN on running statistics){also}",
            f"the same {result.config.epochs} epochs at every batch size{_cap_text(result)}, "
            f"{_lr_rule(result.config)}; lines: seed means, bands: lowest to highest seed"]


def small_lines(result) -> list[str]:
    b = exp.GAP_BATCH
    sizes = sorted(result.acc.batch_size.unique())
    ln, run = small_values(result, LN, b), small_values(result, exp.BN_RUNNING, b)
    pop = small_values(result, exp.BN_POPULATION, b)
    c = compare(ln, run, tol=0.01)
    lines = [f"Test accuracy at batch {b}: LayerNorm {_pct(ln)}, BN {_pct(run)} with running "
             f"statistics: LayerNorm is {c.word}" + (f" ({c.seeds})." if c.seeds else ".")]
    p = compare(pop, run, tol=0.01, words=("higher", "lower", "about the same"))
    q = compare(pop, ln, tol=0.01, words=("above", "below", "level with"))
    damage = ("the damage is done in training, where every step normalized with the statistics "
              "of a handful of examples.")
    if p.sign <= 0:
        verdict = "they do not rescue BN; " + damage
    elif q.sign < 0:
        verdict = (f"they recover part of the loss, and BN stays {q.word} LayerNorm"
                   + (f" ({q.seeds})" if q.seeds else "") + ": most of " + damage)
    else:
        verdict = f"with them BN is {q.word} LayerNorm" + (f" ({q.seeds})." if q.seeds else ".")
    lines.append(f"Population statistics at test time give BN {_pct(pop)}, {_than(p)} the "
                 f"running statistics" + (f" ({p.seeds})" if p.seeds else "") + ": " + verdict)
    first = sizes[0]
    if first < b:
        ln0, run0 = small_values(result, LN, first), small_values(result, exp.BN_RUNNING, first)
        pop0 = small_values(result, exp.BN_POPULATION, first)
        p0 = compare(pop0, run0, tol=0.01, words=("higher", "lower", "about the same"))
        c0 = compare(pop0, ln0, tol=0.01, words=("above", "below", "level with"))
        lines.append(f"At batch {first}: LayerNorm {_pct(ln0)}; BN {_pct(run0)} with running "
                     f"statistics and {_pct(pop0)} with population statistics, {_than(p0)} "
                     f"the running ones" + (f" ({p0.seeds})" if p0.seeds else "")
                     + f", and {c0.word} LayerNorm" + (f" ({c0.seeds})." if c0.seeds else "."))
    big = sizes[-1]
    cb = compare(small_values(result, exp.BN_POPULATION, big), small_values(result, LN, big),
                 tol=0.01)
    lines.append(f"At batch {big}: BN {_pct(small_values(result, exp.BN_POPULATION, big))}, "
                 f"LayerNorm {_pct(small_values(result, LN, big))}: BN is {cb.word}"
                 + (f" ({cb.seeds})." if cb.seeds else "."))
    where = exp.crossover(result)
    if math.isfinite(where):
        lines.append(f"LayerNorm is ahead on every seed up to batch {int(where)}.")
    return lines


# ---------------------------------------------------------------------------- Q4 landscape


def landscape_title(result) -> list[str]:
    g = {v: exp.good_cells_per_seed(result, v) for v, _, _ in exp.NETS}
    n = int(result.summary["n_cells"])
    c1 = compare(g[BN], g[LN], words=("more", "fewer", "about as many"))
    c2 = compare(g[LN], g[PLAIN], words=("more", "fewer", "about as many"))
    return [f"BN has {_cmp(c1, 'good cells')} LayerNorm, and LayerNorm {_cmp(c2)} plain "
            f"(per seed: {_spread(g[BN], '.0f')}, {_spread(g[LN], '.0f')} and "
            f"{_spread(g[PLAIN], '.0f')} of {n} reach 90%)",
            f"test accuracy after {result.config.steps} steps" + _vs_page5(result.config.steps)
            + f", mean of {int(result.summary['n_seeds'])} seed(s); outlined, and counted in "
            "each map's header: the cells whose seed mean is ≥ 90% (the counts above are of "
            "each seed on its own); ✕: every seed diverged"]


def _vs_page5(steps: int) -> str:
    """Page 5 trains its landscape longer: its counts differ from these ones."""
    five = exp.PAGE5_STEPS
    return "" if steps == five else f" (page 5 trains {five} steps, so its counts differ)"


def _past(result, variant: str):
    """The sweep's runs of `variant` above their seed's largest lr that learns."""
    return exp.past_largest(result, variant)


def sweep_title(result) -> list[str]:
    ln, plain = _past(result, LN), _past(result, PLAIN)
    first = (f"Past its largest lr that learns, LayerNorm is stuck near ln 10 on "
             f"{int(exp.stuck(ln).sum())} of {len(ln)} runs and diverges on "
             f"{int(ln.diverged.sum())}" if len(ln) else
             "LayerNorm learns at every lr of the sweep")
    second = (f"; plain diverges on {int(plain.diverged.sum())} of {len(plain)}" if len(plain)
              else "; plain learns at every lr")
    return [first + second,
            "final training loss per seed (gain 1); ✕ diverged; ticks: largest lr that learns"]


def landscape_lines(result) -> list[str]:
    s = result.summary
    g = {v: exp.good_cells_per_seed(result, v) for v, _, _ in exp.NETS}
    m = {v: exp.max_learn_lr_per_seed(result, v) for v, _, _ in exp.NETS}
    n = int(s["n_cells"])
    lines = [f"Cells reaching 90% test accuracy, per seed: BN {_spread(g[BN], '.0f')}, "
             f"LayerNorm {_spread(g[LN], '.0f')}, plain {_spread(g[PLAIN], '.0f')} of {n}."]
    lines.append("Largest learning rate that learns (it and every smaller one in the sweep, from the "
                 "smallest that learns; "
                 "geometric mean of the seeds, as the lrs are a log ladder, and range): "
                 + ", ".join(f"{v} {_lr_spread(m[v])}" for v, _, _ in exp.NETS)
                 + f"; {_lr_vs(m[BN], m[LN], BN, LN)}; "
                 + f"{_lr_vs(m[LN], m[PLAIN], LN, PLAIN)}.")
    for v, _, _ in exp.NETS:
        beyond = _past(result, v)
        if len(beyond) == 0:
            continue
        finite = beyond[~beyond.diverged]
        lines.append(f"{v} past that lr: {int(beyond.diverged.sum())} of {len(beyond)} runs "
                     f"diverged, {int(exp.stuck(beyond).sum())} stuck near ln 10 = "
                     f"{exp.LN10:.2f}"
                     + (f" (final losses {_spread(finite.final_loss, '.2f')})" if len(finite)
                        else "") + ".")
    return lines


def _lr_vs(a, b, name_a: str, name_b: str) -> str:
    """How one net's largest lr that learns compares with another's, seed by seed (the lrs are
    rungs of one ladder, so "equal" is exact): "BN's is larger than LayerNorm's on every seed",
    or each outcome counted when they are mixed."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = a.size
    head = f"{name_a}'s is"
    if n == 0:
        return f"{head} not comparable with {name_b}'s"
    every = "on every seed" if n > 1 else "on its one seed"
    up, same, down = int((a > b).sum()), int((a == b).sum()), int((a < b).sum())
    if up == n:
        return f"{head} larger than {name_b}'s {every}"
    if down == n:
        return f"{head} smaller than {name_b}'s {every}"
    if same == n:
        return f"{head} the same as {name_b}'s {every}"
    first, rest = ("larger", up) if up else ("smaller", down), []
    if same:
        rest.append(f"equal on {same}")
    if up and down:
        rest.append(f"smaller on {down}")
    return (f"{head} {first[0]} than {name_b}'s on {first[1]} of {n} seeds"
            + "".join(f", {r}" for r in rest))


def curves_title(result, lr: float) -> list[str]:
    """The curves chart's title: how each net fares at `lr` (gain 1), seed by seed, from the
    sweep (a net that diverges in the first steps draws no line)."""
    s = result.sweep[np.isclose(result.sweep.lr, lr)]
    parts = []
    for v, _, _ in exp.NETS:
        d = s[s.variant == v]
        if not len(d):
            continue
        n = len(d)
        what = [(int(d.learns.sum()), "learns"), (int(exp.stuck(d).sum()), "stuck near ln 10"),
                (int(d.diverged.sum()), "diverged")]
        parts.append(f"{v} " + ", ".join(f"{w} on {k} of {n}" for k, w in what if k))
    return [f"At lr {lr:g}, gain 1: " + "; ".join(parts),
            "the training loss of every seed; a line that stops has diverged (one that "
            "diverges at once draws none); dashed: ln 10, the loss of a net that has learned "
            "nothing"]


def _lr_spread(values) -> str:
    """One lr per seed: "3" when they agree, else "1 (0.3–3)" (geometric mean), or the seeds'
    values listed when one has none."""
    v = np.asarray(values, float)
    if v.size and v.min() == v.max():
        return _lr(float(v[0]))
    if v.size and v.min() > 0:
        return f"{float(np.exp(np.mean(np.log(v)))):.2g} ({_lr(float(v.min()))}–" \
               f"{_lr(float(v.max()))})"
    return "by seed " + ", ".join(_lr(float(x)) for x in v)


# ---------------------------------------------------------------------------- depth


def depth_values(result, variant: str, what: str) -> np.ndarray:
    """Per seed: "rank" of the last hidden layer, or "ratio" ||dL/dW1|| / ||dL/dW_depth||."""
    d = result.layers[result.layers.variant == variant]
    last = int(d.layer.max())
    out = []
    for _, s in d.groupby("seed"):
        s = s.set_index("layer")
        with np.errstate(divide="ignore", invalid="ignore"):  # inf / inf: NaN, shown as "—"
            out.append(s.loc[last, "rank"] if what == "rank"
                       else s.loc[1, "grad_norm"] / s.loc[last, "grad_norm"])
    return np.asarray(out, float)


def _ratio_text(values) -> str:
    v = _finite(values)
    if v.size == 0:
        return "—"
    m = float(np.mean(v))
    g = _times
    return g(m) if v.size == 1 else f"{g(m)} ({g(float(v.min()))}–{g(float(v.max()))})"


def _times(x: float) -> str:
    """A ratio as a reader says it: "0.52×", "8,800×" (two significant digits), "3e+07×"."""
    if not math.isfinite(x) or x <= 0:
        return "0×" if x == 0 else "—"
    if x < 100:
        return f"{x:.2g}×"
    if x < 1e6:
        return f"{round(x, 1 - int(math.floor(math.log10(x)))):,.0f}×"
    return f"{x:.0e}×"


def _grad_words(q: dict) -> dict:
    """Per net: do its gradients "grow", "shrink" or "stay level" toward the input (a 10x
    change of ‖∂L/∂W1‖ / ‖∂L/∂W_last‖ on every seed to count)."""
    return {v: compare(np.log(np.maximum(x, 1e-30)), np.zeros(len(x)), tol=math.log(10),
                       words=("grow", "shrink", "stay level")).word for v, x in q.items()}


def _grad_head(q: dict) -> str:
    """ "BN's gradients grow toward the input; LayerNorm's and plain's stay level" (the nets
    grouped by what their gradients do)."""
    words = _grad_words(q)
    groups = {}
    for v, w in words.items():
        groups.setdefault(w, []).append(f"{v}'s")
    say = {"grow": "grow toward the input", "shrink": "shrink toward the input",
           "stay level": "stay within 10× from layer to layer"}
    parts = [f"{_join(names)}{' gradients' if i == 0 else ''} {say.get(w, w)}"
             for i, (w, names) in enumerate(groups.items())]
    return "; ".join(parts)


def depth_titles(result) -> tuple[list[str], list[str]]:
    d = int(result.summary["depth"])
    w = int(result.summary["width"])
    r = {v: depth_values(result, v, "rank") for v, _, _ in exp.NETS}
    q = {v: depth_values(result, v, "ratio") for v, _, _ in exp.NETS}
    c = compare(r[BN], np.maximum(r[LN], r[PLAIN]), tol=1.0)
    lead = ("only BN's activations stay diverse" if c.sign > 0 else
            "BN's activations are no more diverse than the others'")
    return ([f"At layer {d}, {lead}: effective rank BN {_spread(r[BN], '.1f')} of {w}, "
             f"LayerNorm {_spread(r[LN], '.1f')}, plain {_spread(r[PLAIN], '.1f')}",
            "effective rank of each layer's activations over one batch of 256, at initialization"],
            [_grad_head(q),
             f"‖∂L/∂W1‖ / ‖∂L/∂W{d}‖: BN {_ratio_text(q[BN])}, LayerNorm "
             f"{_ratio_text(q[LN])}, plain {_ratio_text(q[PLAIN])} (10× or more on every seed "
             "counts as growing)",
             "each layer's weight gradient, same batch; lines: seed means, bands: min–max"])


def depth_lines(result) -> list[str]:
    d = int(result.summary["depth"])
    r = {v: depth_values(result, v, "rank") for v, _, _ in exp.NETS}
    q = {v: depth_values(result, v, "ratio") for v, _, _ in exp.NETS}
    c = compare(r[LN], r[PLAIN], tol=1.0, words=("higher", "lower", "about the same"))
    ln_vs_plain = _than(c)
    grow = compare(np.log(np.maximum(q[BN], 1e-30)), np.zeros(len(q[BN])), tol=math.log(10),
                   words=("grow", "shrink", "stay level"))
    return [f"Effective rank of layer {d}'s activations: BN {_spread(r[BN], '.1f')}, LayerNorm "
            f"{_spread(r[LN], '.1f')}, plain {_spread(r[PLAIN], '.1f')} (LayerNorm's is "
            f"{ln_vs_plain} plain's)"
            + (": only normalizing over the batch keeps the examples apart."
               if compare(r[BN], r[LN], tol=1.0).sign > 0 else "."),
            f"Gradient of layer 1 over layer {d}: BN {_ratio_text(q[BN])}, LayerNorm "
            f"{_ratio_text(q[LN])}, plain {_ratio_text(q[PLAIN])}: BN's gradients {grow.word} "
            f"toward the input" + (f" ({grow.seeds})." if grow.seeds else ".")]


# ---------------------------------------------------------------------------- the short answer


def _short(values) -> str:
    """A change for the short answer: "≈ 0 (≤ 2e-06)" or the spread."""
    v = _finite(values)
    if v.size and v.max() < TINY:
        return "0" if v.max() == 0 else f"≈ 0 (≤ {v.max():.0e})"
    return change_text(values)


def short_answer(inv=None, noise=None, small=None, land=None, depth=None) -> str:
    """Which claims need the batch and which only need normalizing, from whatever results are in
    (a section still training is named as such). Two or three sentences: what LayerNorm keeps,
    what it loses, and what the batch costs at batch 4."""
    batch, norm, pending = [], [], []
    if inv is not None:
        a = {v: invariance_values(inv, v, "unit_affine") for v, _, _ in exp.NETS}
        b = {v: invariance_values(inv, v, "layer_scale") for v, _, _ in exp.NETS}
        # one number per claim (LayerNorm's, the one that decides): the short answer shares
        # the lecture's first screen with the first chart
        if is_exact(a[BN]):
            (norm if is_exact(a[LN]) else batch).append(
                f"invariance to each unit's own scale (LayerNorm's logits move by "
                f"{_short(a[LN])})")
        if is_exact(b[BN]):
            (norm if is_exact(b[LN]) else batch).append(
                f"invariance to a whole layer's scale (LayerNorm's logits move by "
                f"{_short(b[LN])})")
    else:
        pending.append("the invariances")
    if noise is not None:
        bmin = int(noise.summary["b_min"])
        ln_all = noise.std[noise.std.variant == LN]["std"]
        bn = _short(noise_values(noise, BN, bmin))
        (batch if is_exact(ln_all) else norm).append(
            f"the regularizing noise (an image's x̂ moves by {bn} at B = {bmin} with BN, "
            f"{_short(ln_all)} with LayerNorm)")
    else:
        pending.append("the batch noise")
    if land is not None:
        g = {v: exp.good_cells_per_seed(land, v) for v, _, _ in exp.NETS}
        c_ln = compare(g[LN], g[PLAIN])
        c_bn = compare(g[BN], g[LN])
        counts = (f"good cells BN {_spread(g[BN], '.0f')}, LayerNorm {_spread(g[LN], '.0f')}, "
                  f"plain {_spread(g[PLAIN], '.0f')} of {int(land.summary['n_cells'])}")
        if c_ln.sign > 0 and c_bn.sign > 0:
            norm.append(f"part of the wider workable range of lr and init ({counts})")
            batch.append("the rest of that range")
        elif c_ln.sign > 0:
            norm.append(f"the wider workable range of lr and init ({counts})")
        elif c_bn.sign > 0:
            batch.append(f"the wider workable range of lr and init ({counts})")
    else:
        pending.append("the landscape")
    if depth is not None:
        d = int(depth.summary["depth"])
        r = {v: depth_values(depth, v, "rank") for v, _, _ in exp.NETS}
        (batch if compare(r[BN], r[LN], tol=1.0).sign > 0 else norm).append(
            f"diverse representations at depth {d} (effective rank BN {_spread(r[BN], '.1f')}, "
            f"LayerNorm {_spread(r[LN], '.1f')})")
    else:
        pending.append("the deep nets")
    out = []
    if norm:
        out.append("**Normalizing is enough** (LayerNorm too) for " + _join(norm) + ".")
    if batch:
        out.append("**It takes the batch** (BN only) for " + _join(batch) + ".")
    if small is not None:
        b = exp.GAP_BATCH
        ln, run = small_values(small, LN, b), small_values(small, exp.BN_RUNNING, b)
        c = compare(ln, run, tol=0.01, words=("beats", "trails", "matches"))
        out.append(f"**The batch's price**: with batches of {b}, LayerNorm {c.word} BN, "
                   f"{_pct(ln)} vs {_pct(run)} test accuracy.")
    else:
        pending.append("the small batches")
    if pending:
        out.append(f"*Still training: {_join(pending)}.*")
    return " ".join(out)
