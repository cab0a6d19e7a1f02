"""Page 7's sentences follow the numbers: feed results where a comparison flips and check that
the words flip with it (no comparative is typed in)."""
import dataclasses

import numpy as np
import pandas as pd

from bnjax.experiments import normalization as exp
from bnjax.narration import normalization as say

SEEDS = (0, 1, 2)


def part(answer: str, label: str) -> str:
    """The text of one labelled part of the short answer ("" when the part is absent)."""
    marks = ["**Normalizing is enough**", "**It takes the batch**", "**The batch's price**",
             "*Still training"]
    start = answer.find(label)
    if start < 0:
        return ""
    ends = [answer.find(m, start + 1) for m in marks if answer.find(m, start + 1) > start]
    return answer[start:min(ends) if ends else len(answer)]


def _inv(values: dict) -> exp.InvarianceResult:
    """values[(variant, change)] = per-seed relative changes."""
    rows = [dict(variant=v, seed=s, change=c, rel_change=float(x))
            for (v, c), xs in values.items() for s, x in zip(SEEDS, xs)]
    return exp.InvarianceResult(exp.InvarianceConfig(), pd.DataFrame(rows),
                                pd.DataFrame(columns=["variant", "seed", "diverged"]), {})


def _measured(ln_affine):
    tiny, big = [1e-6, 2e-6, 3e-6], [0.4, 0.5, 0.45]
    return _inv({("BN", "unit_affine"): tiny, ("BN", "layer_scale"): tiny,
                 ("BN", "random"): [0.3, 0.32, 0.31],
                 ("LayerNorm", "unit_affine"): ln_affine, ("LayerNorm", "layer_scale"): tiny,
                 ("LayerNorm", "random"): [0.36, 0.37, 0.35],
                 ("plain", "unit_affine"): big, ("plain", "layer_scale"): [1.9, 1.8, 2.0],
                 ("plain", "random"): [0.29, 0.3, 0.28]})


def test_invariance_words_follow_the_numbers():
    lost = _measured([0.3, 0.35, 0.34])
    table = say.invariance_table(lost)
    row_a = next(line for line in table.splitlines() if line.startswith("| (a)"))
    assert row_a.count("**invariant**") == 1  # BN only
    assert "≈ 0 (at most 3e-06)" in row_a and "0.33 (0.30–0.35)" in row_a
    assert "LayerNorm to (b);" in say.invariance_title(lost)[0]
    kept = _measured([1e-7, 2e-7, 1e-7])
    row_a = next(line for line in say.invariance_table(kept).splitlines()
                 if line.startswith("| (a)"))
    assert row_a.count("**invariant**") == 2
    assert "LayerNorm to (a) and (b)" in say.invariance_title(kept)[0]
    # One seed above the float-rounding line is enough to lose "invariant".
    assert not say.is_exact([1e-7, 1e-7, 2e-3])
    assert say.is_exact([0.0, 1e-7]) and not say.is_exact([np.nan])


def test_the_short_answer_sorts_claims_by_the_measurements():
    lost = say.short_answer(inv=_measured([0.3, 0.35, 0.34]))
    need, enough = part(lost, "**It takes the batch**"), part(lost, "**Normalizing is enough**")
    assert "each unit's own scale" in need and "a whole layer's scale" in enough
    assert "a whole layer's scale" not in need
    assert "Still training" in lost and "the batch noise" in lost
    kept = say.short_answer(inv=_measured([1e-7, 2e-7, 1e-7]))
    assert "**It takes the batch**" not in kept
    assert "each unit's own scale" in part(kept, "**Normalizing is enough**")


def _small(ln4, bn4, pop4, big=128) -> exp.SmallBatchResult:
    rows = []
    for variant, at4 in (("LayerNorm", ln4), (exp.BN_RUNNING, bn4), ("BN", pop4),
                         ("plain", [0.9, 0.9, 0.9])):
        for s, a in zip(SEEDS, at4):
            rows.append(dict(variant=variant, batch_size=4, seed=s, acc=a, diverged=False))
            rows.append(dict(variant=variant, batch_size=big, seed=s, acc=0.9, diverged=False))
    return exp.SmallBatchResult(exp.SmallBatchConfig(), pd.DataFrame(rows), {})


def test_small_batch_words_follow_the_numbers():
    behind = _small([0.96, 0.97, 0.96], [0.87, 0.88, 0.89], [0.85, 0.86, 0.85])
    assert "LayerNorm is ahead of BN" in say.small_title(behind)[0]
    lines = say.small_lines(behind)
    assert "lower than the running statistics" in lines[1] and "do not rescue" in lines[1]
    assert "LayerNorm beats BN" in say.short_answer(small=behind)
    ahead = _small([0.80, 0.81, 0.79], [0.90, 0.91, 0.92], [0.95, 0.96, 0.94])
    assert "LayerNorm is behind BN" in say.small_title(ahead)[0]
    assert "higher than the running" in say.small_lines(ahead)[1]
    assert "with them BN is above LayerNorm" in say.small_lines(ahead)[1]
    # population statistics win back a few points, not LayerNorm's lead (seen on a CPU whose
    # rounding differs: 0.04 back of a 0.21 gap)
    part_back = _small([0.96, 0.97, 0.96], [0.74, 0.75, 0.76], [0.78, 0.79, 0.80])
    line = say.small_lines(part_back)[1]
    assert "higher than the running" in line and "recover part of the loss" in line
    assert "BN stays below LayerNorm" in line and "done in training" in line
    assert "LayerNorm trails BN" in say.short_answer(small=ahead)
    mixed = _small([0.90, 0.95, 0.90], [0.92, 0.91, 0.91], [0.9, 0.9, 0.9])
    assert "level with" in say.small_title(mixed)[0]


def test_batch_2_is_named_with_its_numbers_and_the_lr_rule():
    r = _small([0.96, 0.97, 0.96], [0.87, 0.88, 0.89], [0.85, 0.86, 0.85])
    two = []
    for variant, accs in (("LayerNorm", [0.95, 0.96, 0.95]), (exp.BN_RUNNING, [0.17, 0.2, 0.15]),
                          ("BN", [0.22, 0.25, 0.2]), ("plain", [0.95, 0.95, 0.96])):
        two += [dict(variant=variant, batch_size=2, seed=s, acc=a, diverged=False)
                for s, a in zip(SEEDS, accs)]
    r.acc = pd.concat([r.acc, pd.DataFrame(two)], ignore_index=True)
    title = say.small_title(r)
    assert "at batch 2, 95.3% (95.0–96.0%) vs 17.3%" in title[0], title
    assert f"× √(B/{exp.LR_BATCH})" in title[1], title
    line = [ln for ln in say.small_lines(r) if ln.startswith("At batch 2")][0]
    assert "higher than the running ones" in line and "and below LayerNorm" in line, line
    same = exp.SmallBatchResult(exp.replace(exp.SmallBatchConfig(), lr_scaling="none"), r.acc, {})
    assert "at every batch size" in say.small_title(same)[1]


def _noise(ln_std) -> exp.NoiseResult:
    rows = []
    for b in (4, 16, 64):
        for s in SEEDS:
            rows.append(dict(variant="BN", seed=s, batch_size=b, std=1.4 / np.sqrt(b)))
            rows.append(dict(variant="LayerNorm", seed=s, batch_size=b, std=ln_std))
    return exp.NoiseResult(exp.NoiseConfig(), pd.DataFrame(rows),
                           {"b_min": 4.0, "b_max": 64.0})


def test_noise_words_follow_the_numbers():
    assert "does not move at all" in say.noise_title(_noise(0.0))[0]
    zero = _noise(5e-8)  # float rounding: said so, with its size
    assert "does not move (at most 5e-08: float rounding)" in say.noise_title(zero)[0]
    assert "−0.50" in say.noise_lines(zero)[0]  # the slope of a pure 1/sqrt(B) law
    assert "no batch noise" in say.noise_lines(zero)[1]
    fitted = _noise(0.0)  # the slope over the fitting range only: a flat B = 4 left out
    fitted.std.loc[(fitted.std.variant == "BN") & (fitted.std.batch_size == 4), "std"] = 0.3
    fitted.summary.update(fit_min=16.0, fit_max=64.0)
    assert "from B = 16 to 64 is −0.50" in say.noise_lines(fitted)[0]
    assert "at B = 4, like 1/√B from B = 16)" in say.noise_title(fitted)[0]
    flat = _noise(0.0)
    flat.std.loc[flat.std.variant == "BN", "std"] = 0.5 / flat.std.batch_size ** 0.3
    assert "like B^-0.30)" in say.noise_title(flat)[0]
    assert "regularizing noise" in part(say.short_answer(noise=zero), "**It takes the batch**")
    moving = _noise(0.2)
    assert "moves by 0.20" in say.noise_title(moving)[0]
    assert "not zero" in say.noise_lines(moving)[1]
    assert "regularizing noise" in part(say.short_answer(noise=moving), "**Normalizing is enough**")


def _land(good: dict, largest: dict) -> exp.LandscapeResult:
    """Per variant, per seed: how many of 21 cells are good; the largest learning lr."""
    lrs, gains = exp.LR_LADDER, exp.GAINS
    cells = [(lr, g) for lr in lrs for g in gains]
    per_seed, sweep = [], []
    for variant, counts in good.items():
        for s, k in zip(SEEDS, counts):
            for i, (lr, g) in enumerate(cells):
                per_seed.append(dict(variant=variant, lr=lr, gain=g, seed=s,
                                     acc=0.95 if i < k else 0.5, grid=True))
            for lr in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
                ok = lr <= largest[variant][s]
                sweep.append(dict(variant=variant, lr=lr, seed=s, learns=ok,
                                  diverged=not ok and variant == "plain",
                                  final_loss=0.1 if ok else (np.nan if variant == "plain"
                                                             else 2.31)))
    summary = {"n_cells": 21.0, "n_seeds": 3.0}
    return exp.LandscapeResult(exp.LandscapeConfig(), pd.DataFrame(), pd.DataFrame(per_seed),
                               pd.DataFrame(sweep), pd.DataFrame(), summary)


def test_landscape_words_follow_the_numbers():
    ordered = _land({"BN": [18, 17, 18], "LayerNorm": [12, 10, 14], "plain": [6, 6, 5]},
                    {"BN": [3.0] * 3, "LayerNorm": [1.0] * 3, "plain": [0.3, 0.3, 0.1]})
    title = say.landscape_title(ordered)[0]
    assert "BN has more good cells than LayerNorm, and LayerNorm more than plain" in title
    lines = say.landscape_lines(ordered)
    assert ("BN's is larger than LayerNorm's on every seed; LayerNorm's is larger than plain's "
            "on every seed") in lines[1]
    curves = say.curves_title(ordered, 3.0)[0]
    assert curves == ("At lr 3, gain 1: BN learns on 3 of 3; LayerNorm stuck near ln 10 on 3 of "
                      "3; plain diverged on 3 of 3"), curves
    assert "plain 0.21 (0.1–0.3)" in lines[1]  # a geometric mean (the arithmetic: 0.23)
    assert "geometric mean of the seeds" in lines[1]
    sweep = say.sweep_title(ordered)[0]
    assert "stuck near ln 10 on 6 of 6 runs and diverges on 0" in sweep
    assert sweep.startswith("Past its largest lr that learns, LayerNorm") and \
        "learning lr" not in sweep
    heat = say.landscape_title(ordered)
    assert "(per seed: 18 (17–18), 12 (10–14) and 6 (5–6) of 21 reach 90%)" in heat[0]
    assert "counted in each map's header: the cells whose seed mean is ≥ 90%" in heat[1]
    assert "after 250 steps (page 5 trains 1000 steps, so its counts differ)" in heat[1]
    longer = _land({"BN": [18] * 3, "LayerNorm": [12] * 3, "plain": [6] * 3},
                   {"BN": [3.0] * 3, "LayerNorm": [1.0] * 3, "plain": [0.3] * 3})
    longer = dataclasses.replace(longer, config=dataclasses.replace(longer.config, steps=1000))
    assert "page 5" not in say.landscape_title(longer)[1]  # the same steps: the same counts
    assert "plain diverges on" in sweep
    answer = say.short_answer(land=ordered)
    assert "part of the wider workable range" in part(answer, "**Normalizing is enough**")
    assert "the rest of that range" in part(answer, "**It takes the batch**")
    same = _land({"BN": [12, 12, 13], "LayerNorm": [12, 13, 12], "plain": [6, 6, 5]},
                 {"BN": [1.0] * 3, "LayerNorm": [1.0] * 3, "plain": [0.3] * 3})
    assert "BN has about as many good cells as LayerNorm" in say.landscape_title(same)[0]
    assert "BN's is the same as LayerNorm's on every seed" in say.landscape_lines(same)[1]
    mixed = _land({"BN": [12, 12, 13], "LayerNorm": [12, 13, 12], "plain": [6, 6, 5]},
                  {"BN": [3.0] * 3, "LayerNorm": [0.3, 0.3, 1.0], "plain": [0.1, 0.3, 0.3]})
    assert ("LayerNorm's is larger than plain's on 2 of 3 seeds, equal on 1"
            in say.landscape_lines(mixed)[1])
    assert "**It takes the batch**" not in say.short_answer(land=same)


def _deep(bn_rank, ln_rank, bn_ratio) -> exp.DepthResult:
    rows = []
    for variant, rank, ratio in (("BN", bn_rank, bn_ratio), ("LayerNorm", ln_rank, 0.5),
                                 ("plain", 2.9, 0.8)):
        for s in SEEDS:
            rows.append(dict(variant=variant, seed=s, layer=1, rank=60.0, grad_norm=ratio))
            rows.append(dict(variant=variant, seed=s, layer=50, rank=rank, grad_norm=1.0))
    return exp.DepthResult(exp.DepthConfig(), pd.DataFrame(rows),
                           {"depth": 50.0, "width": 64.0})


def test_depth_words_follow_the_numbers():
    diverse = _deep(45.0, 2.8, 8e3)
    assert "only BN's activations stay diverse" in say.depth_titles(diverse)[0][0]
    assert "BN's gradients grow toward the input (on 3 of 3 seeds)" in say.depth_lines(diverse)[1]
    grad = say.depth_titles(diverse)[1]
    assert grad[0] == ("BN's gradients grow toward the input; LayerNorm's and plain's stay "
                       "within 10× from layer to layer")
    assert "BN 8,000×" in grad[1] and "e+03" not in grad[1]  # readable, not raw notation
    assert "LayerNorm 0.5×" in grad[1]
    assert "diverse representations at depth 50" in part(say.short_answer(depth=diverse),
                                             "**It takes the batch**")
    flat = _deep(3.0, 2.8, 1.2)
    assert "no more diverse" in say.depth_titles(flat)[0][0]
    assert "stay level" in say.depth_lines(flat)[1]
    assert say.depth_titles(flat)[1][0] == ("BN's, LayerNorm's and plain's gradients stay "
                                             "within 10× from layer to layer")
    assert "**It takes the batch**" not in say.short_answer(depth=flat)


def test_chart_titles_keep_the_finding_apart_from_its_numbers():
    """The finding is the title (bold); how to read the chart is a subtitle of normal weight,
    not run together with it in one bold block."""
    from bnjax.charts import normalization as charts
    t = charts._title(["Invariant: BN to (a) and (b)", "a point per seed"], 75)["title"]
    assert t.text == "Invariant: BN to (a) and (b)" and t.subtitle == ["a point per seed"]
    assert charts._title(["only the finding"], 75)["title"].subtitle is alt_undefined()


def alt_undefined():
    import altair as alt
    return alt.Undefined
