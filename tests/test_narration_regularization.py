"""Page 4's sentences (bnjax.narration.regularization) on synthetic results: every comparison
flips with the data, numbers come from the table, the size word from the stated threshold."""
import re

import numpy as np
import pandas as pd
import pytest

from bnjax.narration import regularization as say

SEEDS = 16


def table(on, off, train_on=None, train_off=None) -> pd.DataFrame:
    """A per-seed table as `run_regularization` returns it."""
    on, off = np.asarray(on, float), np.asarray(off, float)
    train_on = np.ones_like(on) if train_on is None else np.asarray(train_on, float)
    train_off = np.ones_like(off) if train_off is None else np.asarray(train_off, float)
    rows = []
    for s in range(len(on)):
        for arm, test, train in (("noise on", on[s], train_on[s]),
                                 ("noise off", off[s], train_off[s])):
            rows.append((s, arm, train, test, train - test, 0.01, 0.4))
    return pd.DataFrame(rows, columns=["seed", "arm", "train_acc", "test_acc", "gap",
                                       "train_loss", "test_loss"])


def wobble(seed=0, scale=0.002):
    return np.random.default_rng(seed).normal(0, scale, SEEDS)


BASE = 0.90 + wobble(1, 0.01)  # noise-off test accuracy per seed, gap ~ 10 points


def test_effect_up_flips_to_down_and_to_no_difference():
    up = table(BASE + 0.015 + wobble(2), BASE)
    down = table(BASE - 0.015 + wobble(2), BASE)
    none = table(BASE + np.r_[0.01, -0.01] .repeat(SEEDS // 2) + wobble(2), BASE)

    s_up = say.effect_sentence(up, 192, 32)
    assert s_up.startswith("**Yes, slightly.**") and "higher on 16 of 16 seeds" in s_up
    assert "a slight regularizer" in s_up and "includes 0" not in s_up
    assert "higher" in say.effect_title(up) and "lower" not in say.effect_title(up)

    s_down = say.effect_sentence(down, 192, 32)
    assert s_down.startswith("**Not here: it hurt.**") and "lower on 16 of 16 seeds" in s_down
    assert "regularizer" not in s_down
    assert "lower" in say.effect_title(down) and "higher" not in say.effect_title(down)

    s_none = say.effect_sentence(none, 192, 32)
    assert s_none.startswith("**Not measurably, here.**") and "includes 0" in s_none
    assert "cannot be told from luck" in s_none and "higher" not in s_none
    assert "includes 0" in say.effect_title(none)


def test_the_size_word_follows_the_share_of_the_gap_closed():
    """Slight below SLIGHT (25%) of the noise-off train/test gap (10 points here), more above."""
    slight = table(BASE + 0.015 + wobble(3), BASE)  # 1.5 of ~10 points: 15%
    large = table(BASE + 0.05 + wobble(3), BASE)  # 5 of ~10: 50%
    assert say.effect(slight).size == "slight" and say.effect(large).size == "clear"
    assert "**Yes, slightly.**" in say.effect_sentence(slight, 192, 32)
    text = say.effect_sentence(large, 192, 32)
    assert text.startswith("**Yes.**") and "more than a slight regularizer" in text
    share = say.effect(large).share
    assert f"closing {share:.0%} (95% CI " in text and 0.4 < share < 0.6


def test_the_numbers_are_the_tables_numbers():
    on, off = BASE + 0.02 + wobble(4), BASE
    text = say.effect_sentence(table(on, off), 192, 32)
    assert f"+{100 * np.mean(on - off):.1f} points" in text
    assert f"{np.mean(on):.1%} ({100 * on.min():.1f}–{100 * on.max():.1f})" in text
    assert f"{np.mean(off):.1%}" in text and "192 digits" in text
    assert "groups of 32" in text
    low, high = say.effect(table(on, off)).acc.low, say.effect(table(on, off)).acc.high
    assert f"95% CI {100 * low:+.1f} to {100 * high:+.1f}" in text
    # Another result, other numbers: nothing is typed in.
    other = say.effect_sentence(table(on + 0.01, off), 384, 8)
    assert other != text and "384 digits" in other and "groups of 8" in other


def test_gap_sentence_flips():
    on, off = BASE + 0.02 + wobble(5), BASE
    assert "narrower" in say.gap_sentence(table(on, off))
    assert "wider" in say.gap_sentence(table(off - 0.02, off))
    assert "100% on every seed" in say.gap_sentence(table(on, off))
    partial = say.gap_sentence(table(on, off, train_on=np.full(SEEDS, 0.98)))
    assert "100% on every seed" not in partial and "Train accuracy: 98.0% on" in partial


def curves(aucs: dict) -> pd.DataFrame:
    """Ablation curves whose per-seed AUC (mean over fractions) is the given value."""
    rows = []
    for v, per_seed in aucs.items():
        for s, a in enumerate(per_seed):
            rows += [(v, s, f, a + d) for f, d in zip((0.0, 0.5, 0.9), (0.1, 0.0, -0.1))]
    return pd.DataFrame(rows, columns=["variant", "seed", "fraction", "acc"])


def test_dropout_answer_follows_the_aucs():
    plain = [0.59, 0.60, 0.58]
    unlike = curves({"plain": plain, "dropout": [0.70, 0.69, 0.71],
                     "BN (frozen stats)": [0.55, 0.54, 0.56]})
    text = say.dropout_answer(unlike)
    assert text.startswith("Unlike dropout") and "a dropout net copes better." in text
    assert "a BN net copes worse than a plain net" in text
    like = curves({"plain": plain, "dropout": [0.70, 0.69, 0.71],
                   "BN (frozen stats)": [0.65, 0.66, 0.64]})
    assert say.dropout_answer(like).startswith("Like dropout")
    assert "a BN net copes better than a plain net" in say.dropout_answer(like)
    neither = curves({"plain": plain, "dropout": [0.60, 0.58, 0.59],
                      "BN (frozen stats)": [0.55, 0.54, 0.56]})
    assert say.dropout_answer(neither).startswith("Compared with dropout")
    assert "a dropout net copes about as well." in say.dropout_answer(neither)


def test_dropout_answer_says_frozen_and_recomputed_statistics():
    """Switching units off can cost BN more with frozen statistics and less with recomputed
    ones: the sentence says both where they differ, one phrase where they agree."""
    plain, drop = [0.59, 0.60, 0.58], [0.70, 0.69, 0.71]
    mixed = say.dropout_answer(curves({"plain": plain, "dropout": drop,
                                       "BN (frozen stats)": [0.55, 0.54, 0.56],
                                       "BN (recomputed stats)": [0.67, 0.66, 0.68]}))
    assert mixed.startswith("Compared with dropout")
    assert ("copes worse than a plain net at test time and better than it once its statistics "
            "are recomputed") in mixed
    both = say.dropout_answer(curves({"plain": plain, "dropout": drop,
                                      "BN (frozen stats)": [0.65, 0.66, 0.64],
                                      "BN (recomputed stats)": [0.67, 0.66, 0.68]}))
    assert both.startswith("Like dropout") and "recomputed" not in both
    assert "a BN net copes better than a plain net" in both
    worse = say.dropout_answer(curves({"plain": plain, "dropout": drop,
                                       "BN (frozen stats)": [0.55, 0.54, 0.56],
                                       "BN (recomputed stats)": [0.50, 0.51, 0.52]}))
    assert worse.startswith("Unlike dropout") and "copes worse than a plain net" in worse


def test_the_gap_carries_its_seed_spread():
    gaps_off = 1.0 - BASE  # train accuracy 100%: the gap is 100% minus test accuracy
    text = say.effect_sentence(table(BASE + 0.015 + wobble(3), BASE), 192, 32)
    lo, hi = 100 * gaps_off.min(), 100 * gaps_off.max()
    assert f"-point ({lo:.1f}–{hi:.1f} by seed) train/test gap" in text
    assert say.gap_text([0.098, 0.098]) == "9.8-point"  # seeds agree: no range


def test_ablation_sentences_flip():
    plain = [0.59, 0.60, 0.58]
    less = say.ablation_sentences(curves({"plain": plain, "BN (frozen stats)": [0.5] * 3,
                                          "BN (recomputed stats)": [0.7] * 3}))
    assert less["frozen"].startswith("less robust") and less["recomputed"].startswith("more")
    more = say.ablation_sentences(curves({"plain": plain, "BN (frozen stats)": [0.7] * 3,
                                          "BN (recomputed stats)": [0.5] * 3}))
    assert more["frozen"].startswith("more robust") and more["recomputed"].startswith("less")
    mixed = say.ablation_sentences(curves({"plain": plain,
                                           "BN (frozen stats)": [0.62, 0.57, 0.59]}))
    assert mixed["frozen"].startswith("about as robust")


def single(drops: dict) -> pd.DataFrame:
    return pd.DataFrame([(v, s, 1, d) for v, per_seed in drops.items()
                         for s, d in enumerate(per_seed)],
                        columns=["variant", "seed", "rank", "drop"])


def test_single_unit_sentence_flips():
    smaller = say.single_unit_sentence(single({"plain": [0.007, 0.008, 0.006],
                                               "BN (frozen stats)": [0.003, 0.004, 0.004]}))
    assert "smaller with BN" in smaller and "on 3 of 3 seeds" in smaller
    larger = say.single_unit_sentence(single({"plain": [0.003, 0.004, 0.004],
                                              "BN (frozen stats)": [0.007, 0.008, 0.006]}))
    assert "larger with BN" in larger


def noise_std(slope: float) -> pd.DataFrame:
    sizes = [4, 8, 16, 32, 64, 128, 256]
    return pd.DataFrame([(b, s, 1.45 * (1 + 0.02 * s) * b ** slope) for s in range(3)
                         for b in sizes], columns=["batch_size", "seed", "std"])


def noise_summary(slopes) -> dict:
    return {"noise_slope": float(np.mean(slopes)), "noise_slope_min": float(min(slopes)),
            "noise_slope_max": float(max(slopes)), "noise_std_full": 3e-7, "n_train": 1257.0}


def test_noise_sentence_says_one_over_root_b_only_when_the_slopes_do():
    text = say.noise_sentence(noise_std(-0.5), noise_summary([-0.52, -0.49, -0.47]))
    assert "like 1/√B" in text
    std16 = noise_std(-0.5)
    assert f"{std16[std16.batch_size == 16]['std'].mean():.2f} (" in text
    flat = say.noise_sentence(noise_std(-0.3), noise_summary([-0.32, -0.30, -0.28]))
    assert "like 1/√B" not in flat and "B^-0.30" in flat


def test_tiny_full_batch_noise_prints_as_about_zero():
    assert "≈ 0 (3e-07)" in say.full_batch_clause(noise_summary([-0.5] * 3))
    assert say.full_batch_clause({**noise_summary([-0.5] * 3), "noise_std_full": 0.0}
                                 ).startswith("0 when")


def ghost_acc(g8, g128) -> pd.DataFrame:
    return pd.DataFrame([(f"G = {g}", g, s, a) for g, per_seed in ((8, g8), (128, g128))
                         for s, a in enumerate(per_seed)],
                        columns=["variant", "ghost", "seed", "acc"])


def test_ghost_sentence_flips():
    up = [0.95, 0.94, 0.96, 0.95], [0.93, 0.92, 0.94, 0.93]
    assert say.ghost_sentence(ghost_acc(*up)).endswith(": higher.")
    assert say.ghost_sentence(ghost_acc(*up[::-1])).endswith(": lower.")
    mixed = say.ghost_sentence(ghost_acc([0.95, 0.92, 0.96, 0.93], [0.93, 0.94, 0.94, 0.95]))
    assert mixed.endswith("not distinguishable from luck.") and "4 seeds" in mixed
    # Two seeds that agree are still not enough when the interval includes 0.
    two = say.ghost_sentence(ghost_acc([0.95, 0.93], [0.94, 0.925]))
    assert "higher on 2 of 2 seeds" in two and two.endswith("not distinguishable from luck.")
    assert say.ghost_title(ghost_acc(*up))[1].startswith("G = 8 vs 128: +2.0 points")
    assert say.ghost_title(ghost_acc(*up))[1].endswith("higher")


def test_short_answer_and_verdict_agree_and_grow_as_results_land():
    up = table(BASE + 0.015 + wobble(6), BASE)
    first = say.short_answer(up, 192, 32)
    n = noise_summary([-0.5, -0.49, -0.47])
    second = say.short_answer(up, 192, 32, noise_std=noise_std(-0.5), noise_summary=n)
    c = curves({"plain": [0.59, 0.60, 0.58], "dropout": [0.70, 0.69, 0.71],
                "BN (frozen stats)": [0.55, 0.54, 0.56]})
    third = say.short_answer(up, 192, 32, noise_std=noise_std(-0.5), noise_summary=n, curves=c)
    assert second.startswith(first) and third.startswith(second) and "Unlike dropout" in third
    assert len(re.findall(r"(?<=[.!])\s+[A-Z*]", third)) + 1 <= 4  # a lead and 3 sentences
    lines = say.verdict_lines(up, 192, 32, noise_std=noise_std(-0.5), noise_summary=n, curves=c)
    assert "slight" in lines[0] and "luck" not in lines[0]
    assert "BN, frozen statistics 55.0% (54.0–56.0), less robust (3 of 3 seeds)" in lines[2]
    assert "dropout 70.0% (69.0–71.0), more robust" in lines[2]
    flat = say.verdict_lines(table(BASE + np.r_[0.01, -0.01].repeat(SEEDS // 2) + wobble(2),
                                   BASE), 192, 32)
    assert "not distinguishable from luck" in flat[0] and "slight" not in flat[0]


@pytest.mark.parametrize("bad", [np.nan])
def test_a_diverged_seed_is_left_out_not_a_crash(bad):
    on = BASE + 0.02 + wobble(7)
    on[0] = bad
    e = say.effect(table(on, BASE))
    assert e.acc.n == SEEDS - 1
    assert "on 15 of 15 seeds" in say.effect_sentence(table(on, BASE), 192, 32)


def test_ablation_and_single_unit_titles_carry_the_seed_spread():
    c = curves({"plain": [0.59, 0.60, 0.58], "dropout": [0.70, 0.69, 0.71],
                "BN (frozen stats)": [0.55, 0.54, 0.56]})
    lines = say.ablation_title(c, ["plain", "dropout", "BN (frozen stats)"])
    assert "3 seeds" in lines[1] and "plain 59.0% (58.0–60.0)" in lines[2]
    assert all(len(x) <= 70 for x in lines)  # 21 px titles in lecture mode: none clipped
    assert "BN frozen 55.0% (54.0–56.0)" in " ".join(lines)
    drops = single({"plain": [0.007, 0.008, 0.006], "BN (frozen stats)": [0.003, 0.004, 0.005]})
    lines = say.single_unit_title(drops, ["plain", "BN (frozen stats)"], 2)
    assert "layer 2" in lines[0] and "plain 0.70 (0.60–0.80) points" in lines[2]
    assert all(len(x) <= 70 for x in lines)


def test_morcos_clause_and_dropout_shape_follow_the_data():
    plain = [0.59, 0.60, 0.58]
    only_recomputed = curves({"plain": plain, "BN (frozen stats)": [0.5] * 3,
                              "BN (recomputed stats)": [0.7] * 3})
    assert "appears only in that mode" in say.recomputed_clause(only_recomputed)
    both = curves({"plain": plain, "BN (frozen stats)": [0.7] * 3,
                   "BN (recomputed stats)": [0.7] * 3})
    assert "appears in both modes" in say.recomputed_clause(both)
    neither = curves({"plain": plain, "BN (frozen stats)": [0.5] * 3,
                      "BN (recomputed stats)": [0.5] * 3})
    assert "does not appear here" in say.recomputed_clause(neither)
    flat = say.dropout_flat_clause({"dropout_min_acc_to_f3": 0.933, "acc_dropout": 0.97})
    falling = say.dropout_flat_clause({"dropout_min_acc_to_f3": 0.80, "acc_dropout": 0.97})
    assert flat.startswith("nearly flat") and "93.3%" in flat
    assert falling.startswith("already falling") and "80.0%" in falling


def test_one_spread_convention_and_never_an_empty_range():
    """Mean (min–max over seeds) everywhere on the page, never ± sd; a range whose ends print
    alike gets more digits, or says the seeds agree ("0.37 (0.37–0.37)" shows nothing)."""
    assert say.seeds_text([0.372, 0.369, 0.374]) == "0.372 (0.369–0.374)"
    assert say.seeds_text([0.37, 0.37, 0.37]) == "0.37 on every seed"
    for values in ([0.3721, 0.3719, 0.3724], [0.37001, 0.37002], [0.5, 0.51]):
        text = say.seeds_text(values)
        low, high = text.split("(")[1].rstrip(")").split("–") if "(" in text else ("a", "b")
        assert low != high, text
    up = table(BASE + 0.015 + wobble(6), BASE)
    n = noise_summary([-0.5, -0.49, -0.47])
    c = curves({"plain": [0.59, 0.60, 0.58], "dropout": [0.70, 0.69, 0.71],
                "BN (frozen stats)": [0.55, 0.54, 0.56]})
    drops = single({"plain": [0.007, 0.008, 0.006], "BN (frozen stats)": [0.003, 0.004, 0.005]})
    shown = ["plain", "dropout", "BN (frozen stats)"]
    texts = [say.short_answer(up, 192, 32, noise_std=noise_std(-0.5), noise_summary=n, curves=c),
             *say.verdict_lines(up, 192, 32, noise_std=noise_std(-0.5), noise_summary=n,
                                curves=c, single=drops),
             *say.ablation_title(c, shown), *say.single_unit_title(drops, shown, 2),
             *say.noise_title(noise_std(-0.5), n), say.single_unit_sentence(drops)]
    for text in texts:
        assert "±" not in text, text
        for low, high in re.findall(r"\(([-+\d.]+)%?–([-+\d.]+)%?\)", text):
            assert low != high, text


def test_the_short_answer_is_short_and_moves_with_the_data():
    """Two or three plain sentences that fit the first lecture screen with the first chart;
    their numbers change with the result."""
    n = noise_summary([-0.5, -0.49, -0.47])
    both = curves({"plain": [0.59, 0.60, 0.58], "dropout": [0.70, 0.69, 0.71],
                   "BN (frozen stats)": [0.55, 0.54, 0.56],
                   "BN (recomputed stats)": [0.67, 0.66, 0.68]})
    texts = []
    for on in (BASE + 0.015 + wobble(6), BASE + 0.05 + wobble(6), BASE - 0.02 + wobble(6),
               BASE + np.r_[0.01, -0.01].repeat(SEEDS // 2) + wobble(2)):
        text = say.short_answer(table(on, BASE), 192, 32, noise_std=noise_std(-0.5),
                                noise_summary=n, curves=both)
        plain = text.replace("**", "")
        assert len(re.findall(r"[.!?](?:\s|$)", plain)) <= 3, text
        assert len(plain) <= 560, (len(plain), text)
        texts.append(text)
    assert len(set(texts)) == len(texts)
    assert texts[0].startswith("**Yes, slightly**") and texts[1].startswith("**Yes, clearly**")
    assert texts[2].startswith("**Not here: it hurt**") and "lower" in texts[2]
    assert texts[3].startswith("**Not measurably, here**") and "includes 0" in texts[3]


def _layers(spec: dict) -> list:
    out = []
    for layer in spec.get("layer", []):
        out += [layer, *_layers(layer)]
    return out


def test_the_dropout_rate_label_sits_where_no_curve_runs():
    """The label of the dropout-rate rule sits at its foot, below the chance line: at the
    dropout rate every curve is far above chance (it was drawn under the curves at the top);
    the ghost chart's bars are the min–max over seeds, the page's one spread convention."""
    from bnjax.charts import regularization as charts
    c = curves({"plain": [0.59, 0.60, 0.58], "dropout": [0.70, 0.69, 0.71],
                "BN (frozen stats)": [0.55, 0.54, 0.56]})
    spec = charts.ablation_chart(c, ["plain", "dropout", "BN (frozen stats)"],
                                 dropout=0.2).to_dict()
    datasets = spec["datasets"]
    labels = [m for m in _layers(spec) if m.get("mark", {}).get("type") == "text"
              and any("dropout's rate" in str(r.get("note", ""))
                      for r in datasets.get(m.get("data", {}).get("name", ""), []))]
    assert len(labels) == 1
    label = labels[0]
    rows = datasets[label["data"]["name"]]
    assert label["encoding"]["y"]["field"] == "v" and rows[0]["v"] == 0.0
    assert label["mark"]["baseline"] == "bottom"
    # at the rule's share every curve of this data is above chance: nothing covers the label
    at = c[np.isclose(c.fraction, 0.5)].groupby("variant")["acc"].mean()
    assert (at > 0.1).all()
    acc = pd.DataFrame([(f"G = {g}", g, s, 0.9 + 0.01 * s) for g in (128, 8) for s in range(3)],
                       columns=["variant", "ghost", "seed", "acc"])
    ghost = str(charts.ghost_chart(acc).to_dict())
    assert "errorbar" not in ghost and "stdev" not in ghost and "'aggregate': 'min'" in ghost


def test_single_unit_drops_are_points_on_the_axis_as_in_the_title():
    from bnjax.charts import regularization as charts
    drops = single({"plain": [0.007, 0.008, 0.006], "BN (frozen stats)": [0.003, 0.004, 0.005]})
    shown = ["plain", "BN (frozen stats)"]
    spec = charts.single_unit_chart(drops, shown, say.single_unit_title(drops, shown, 2)).to_dict()
    y = [layer["encoding"]["y"] for layer in _layers(spec) if "y" in layer.get("encoding", {})]
    y = y or [spec["encoding"]["y"]]
    assert y[0]["field"] == "points" and "(points)" in y[0]["title"]
    rows = next(d for d in spec["datasets"].values() if d and "points" in d[0])
    assert max(r["points"] for r in rows) == pytest.approx(0.7)  # 0.7 points, not 0.007
    assert "points" in " ".join(say.single_unit_title(drops, shown, 2))
