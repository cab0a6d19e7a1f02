"""Page 2's sentences follow the numbers: fed per-seed results where a comparison flips, the
sentence flips with it (bnjax.narration.covariate_shift). No training here: synthetic tables."""
import re

import numpy as np
import pandas as pd
import pytest

from bnjax.narration import covariate_shift as say

SEEDS = (0, 1, 2)
# A run like the page's default view (numbers of the same size as seeds 0-2 there).
BASE = {
    "BN": dict(drift=[0.22, 0.21, 0.19], spread_ratio=[1.4, 1.5, 1.3], affine_dloss=[7e-9, 2e-9, 8e-10],
               random_dloss=[0.068, 0.075, 0.055], w1x3_dlogit=[1.4e-5, 1.2e-5, 1.3e-5],
               test_acc=[0.969, 0.963, 0.956], values_change=[0.44, 0.42, 0.41],
               moments_change=[6.9e-7, 6.8e-7, 6.4e-7], affine_values_change=[2e-6, 3e-6, 2e-6]),
    "plain": dict(drift=[3.84, 3.82, 3.89], spread_ratio=[11.7, 8.1, 11.2],
                  affine_dloss=[0.55, 0.30, 0.40], random_dloss=[0.20, 0.19, 0.18],
                  w1x3_dlogit=[113.0, 143.0, 139.0], test_acc=[0.952, 0.933, 0.933],
                  values_change=[0.26, 0.26, 0.25], moments_change=[0.146, 0.134, 0.146],
                  affine_values_change=[0.43, 0.47, 0.38]),
}


def frame(**changes) -> pd.DataFrame:
    """The BASE per-seed table with some columns replaced: changes = {"BN_drift": [...]}."""
    rows = []
    for variant, cols in BASE.items():
        for i, seed in enumerate(SEEDS):
            row = {"variant": variant, "seed": seed, "diverged": False}
            for col, values in cols.items():
                row[col] = changes.get(f"{variant}_{col}", values)[i]
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- the known problem


def test_values_that_move_more_with_bn_are_not_called_shielded():
    """The page used to say "BN shields later layers from a random change only partly" while its
    chart showed the values later layers see moving MORE with BN (0.42) than without (0.26)."""
    ps = frame()
    for text in (say.short_answer(ps), say.shields(ps), say.values_clause(ps),
                 " ".join(say.measured_lines(ps, 1.0)), say.reading(ps)):
        assert "only partly" not in text, text
    assert "more than 0.26 (0.25–0.26) without" in say.short_answer(ps)
    assert say.shields(ps).startswith("BN does **not** shield")
    assert "0.42 (0.41–0.44)" in say.values_clause(ps)


def test_the_shield_verdict_flips_when_the_values_flip():
    less = frame(BN_values_change=[0.10, 0.12, 0.11])  # now BN's later layers move less
    assert "less than 0.26" in say.short_answer(less)
    assert "only partly" in say.shields(less) and "less than without BN" in say.shields(less)
    assert "on 3 of 3 seeds" in say.shields(less)
    mixed = frame(BN_values_change=[0.30, 0.20, 0.27])  # one seed each way: no direction
    assert "about as much as 0.26" in say.short_answer(mixed)
    assert "about as much as without BN" in say.shields(mixed)
    assert "on 3 of 3" not in say.shields(mixed)


def test_bn_moving_not_at_all_is_said_so():
    ps = frame(BN_values_change=[1e-7, 2e-7, 1e-7])
    assert "does not get through either" in say.short_answer(ps)


# ---------------------------------------------------------------------------- 1a, the drift


def test_drift_comparison_flips():
    ps = frame()
    a = say.short_answer(ps)
    assert "0.21 (0.19–0.22) with BN vs 3.85 (3.82–3.89) without, 19× less on 3 of 3 seeds" in a
    flipped = frame(BN_drift=[3.84, 3.82, 3.89], plain_drift=[0.22, 0.21, 0.19])
    b = say.short_answer(flipped)
    assert "**less** stable" in b and "more with BN on 3 of 3 seeds" in b
    assert "less on" not in b
    same = frame(BN_drift=[3.9, 3.7, 3.9], plain_drift=[3.84, 3.82, 3.89])
    c = say.short_answer(same)
    assert "about as much" in c and "×" not in c.split(".")[0]
    assert "more with BN" in say.drift_clause(flipped)
    assert "no clear difference over 3 seeds" in say.drift_clause(same)


def test_spread_clause_flips():
    assert "less with BN, on 3 of 3 seeds" in say.spread_clause(frame())
    up = frame(BN_spread_ratio=[20.0, 21.0, 22.0])
    assert "more with BN, on 3 of 3 seeds" in say.spread_clause(up)


# ---------------------------------------------------------------------------- 1b, the rescale


def test_the_affine_invariance_is_claimed_only_when_measured():
    ps = frame()
    assert "changes nothing downstream with BN (loss ≈ 0 (7e-09) vs +0.42" in say.short_answer(ps)
    assert say.affine_clause(ps).startswith("nothing with BN")
    broken = frame(BN_affine_dloss=[0.05, 0.04, 0.06])
    assert "changes nothing" not in say.short_answer(broken)
    assert "Even a rescale-and-shift" in say.short_answer(broken)
    assert "not zero" in say.affine_clause(broken)
    assert "immune to the *mean and scale*" not in say.reading(broken)
    assert "did not make later layers exactly immune" in say.reading(broken)
    worse = frame(BN_affine_dloss=[0.9, 0.8, 0.7])
    assert "more with BN, on 3 of 3 seeds" in say.affine_clause(worse)


def test_random_loss_and_accuracy_comparatives_flip():
    ps = frame()
    assert "less with BN, on 3 of 3 seeds" in say.random_loss_clause(ps)
    assert "more with BN" in say.random_loss_clause(frame(BN_random_dloss=[0.3, 0.3, 0.3]))
    lines = " ".join(say.measured_lines(ps, 1.0))
    assert "higher with BN, on 3 of 3 seeds" in lines
    lower = " ".join(say.measured_lines(frame(BN_test_acc=[0.90, 0.91, 0.92]), 1.0))
    assert "lower with BN, on 3 of 3 seeds" in lower


def test_tiny_values_print_as_about_zero():
    ps = frame()
    text = say.short_answer(ps) + " ".join(say.measured_lines(ps, 1.0)) + say.reading(ps)
    assert "≈ 0 (7e-09)" in text and "≈ 0 (1e-05)" in text
    bare = re.sub(r"≈ 0 \(\d(\.\d+)?e-\d+\)", "", text)
    assert not re.search(r"\de-\d", bare), bare  # no raw 7e-09 outside "≈ 0 (...)"
    assert say.num([0.0, 0.0]) == "0"
    assert say.num([np.nan, np.nan]) == "—"
    assert say.signed([0.42, 0.40]) == "+0.41 (0.40–0.42)"


def test_every_number_carries_its_spread():
    text = say.short_answer(frame())
    for number in re.findall(r"(?<![\d(–.])\d+\.\d+(?![\d–)])", text):
        # each decimal stands either as a mean followed by its "(lo–hi)" or inside one
        assert re.search(re.escape(number) + r" \(\d", text), (number, text)


def test_a_net_lost_on_every_seed():
    ps = frame()
    ps.loc[ps["variant"] == "plain", "diverged"] = True
    for col in BASE["plain"]:
        ps.loc[ps["variant"] == "plain", col] = np.nan
    assert say.lost(ps) == ["plain"]
    assert "plain net diverged on every seed" in say.short_answer(ps)
    lines = say.measured_lines(ps, 1.0)
    assert lines[0].startswith("The plain net diverged")
    joined = " ".join(lines)
    assert "nan" not in joined.lower().replace("nans", "")
    assert "—" in joined
    assert "not measurable" in say.reading(ps)


# ---------------------------------------------------------------------------- chart titles


def _layers(bn_random: float, plain_random: float) -> pd.DataFrame:
    rows = []
    for variant, rnd, aff in (("BN", bn_random, 2e-6), ("plain", plain_random, 0.4)):
        for seed in SEEDS:
            for layer in range(1, 9):
                for kind, v in (("random", rnd), ("affine", aff)):
                    rows.append({"variant": variant, "seed": seed, "size": 1.0, "kind": kind,
                                 "layer": layer, "rel_change": v + (0.01 * seed if v > 1e-3 else 0),
                                 "moment_change": 1e-7 if variant == "BN" else 0.1})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("bn,plain,word", [(0.42, 0.26, "more than"), (0.10, 0.26, "less than")])
def test_layers_title_states_the_direction_of_its_chart(bn, plain, word):
    lines = say.layers_title(_layers(bn, plain), 1.0)
    assert lines[0] == "How far the values layers 2–8 see moved:"
    assert lines[1].startswith("after a rescale + shift: ≈ 0 (2e-06) with BN, 0.41")
    assert f"with BN, {word} {plain + 0.01:.2f}" in lines[2]
    moments = say.layers_title(_layers(bn, plain), 1.0, "mean and spread")
    assert "mean and spread" in moments[0] and "≈ 0 (1e-07) with BN" in moments[2]


def test_perturb_and_bands_titles_carry_the_seed_spread():
    perturb = pd.DataFrame([{"variant": v, "seed": s, "size": 1.0, "kind": k, "dloss": d}
                            for v, s, k, d in [("BN", 0, "affine", -1e-9), ("BN", 1, "affine", 3e-9),
                                               ("plain", 0, "affine", 0.3), ("plain", 1, "affine", 0.5),
                                               ("BN", 0, "random", 0.05), ("BN", 1, "random", 0.07),
                                               ("plain", 0, "random", 0.2), ("plain", 1, "random", 0.18)]])
    t = say.perturb_title(perturb, 1.0)
    assert t[0] == "Rescale + shift of layer 1: loss ≈ 0 (3e-09) with BN, +0.40 (0.30–0.50) without"
    assert t[1] == "Random change: loss +0.06 (0.05–0.07) with BN, +0.19 (0.18–0.20) without"
    units = pd.DataFrame({"variant": ["BN", "BN", "plain", "plain"], "seed": [0, 1, 0, 1],
                          "unit": [4] * 4, "drift": [0.2, 0.3, 3.0, 5.0]})
    assert say.bands_title(units, 4, explain=False)[0] == \
        "Unit 4's median moved 0.25 (0.20–0.30) with BN, 4.00 (3.00–5.00) without"


def test_seeds_that_agree_are_said_to_agree():
    assert say.num([0.091, 0.094]) == "0.09 on every seed"
    assert say.num([1.61, 1.58], ".1f", "×") == "1.6× on every seed"
    assert say.num([1.3, 1.5, 1.4], ".1f", "×") == "1.4× (1.3–1.5×)"
    ps = frame(BN_spread_ratio=[1.61, 1.58, 1.6])
    assert "changed 1.6× on every seed with BN" in say.spread_clause(ps)


# ---------------------------------------------------------------------------- review fixes


def test_short_answer_says_the_drift_is_an_average_over_the_units():
    """The chart beside it shows one unit's number (e.g. 0.30): the short answer's 0.21 must say
    it is the mean over the layer's units."""
    text = say.short_answer(frame(), 64)
    assert "a deep unit's median input moved 0.21 (0.19–0.22) with BN vs 3.85 (3.82–3.89) " \
           "without (mean of 64 units), 19× less" in text
    assert "32 units" in say.short_answer(frame(), 32)


def test_the_bands_title_says_what_a_band_is_in_lecture_mode_too():
    """Lecture mode hides the narration: the first chart's title itself names the band."""
    units = pd.DataFrame({"variant": ["BN", "plain"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                          "unit": [0] * 6, "drift": [0.2, 3.0, 0.3, 2.0, 0.25, 4.0]})
    for explain in (True, False):
        lines = say.bands_title(units, 0, explain=explain)
        assert lines[0].startswith("Unit 0's median moved 0.25 (0.20–0.30) with BN")
        assert "band: 15th" in lines[1] and "85th percentile" in lines[1]
        assert "line: " in lines[1] and "median" in lines[1]


def _perturb(bn, plain):
    rows = [{"size": 1.0, "kind": k, "variant": v, "seed": s, "dloss": vals[i]}
            for k in ("affine", "random") for v, vals in (("BN", bn), ("plain", plain))
            for i, s in enumerate(SEEDS)]
    return pd.DataFrame(rows)


def test_a_tiny_bar_prints_the_same_number_as_the_title():
    """"≈ 0 (9e-11)" on the bar (the mean) and "≈ 0 (2e-09)" in the title (the largest seed)
    were two numbers for one value: both now print the largest seed's size."""
    from bnjax.charts import covariate_shift as charts
    for bn in ([2e-9, -1e-10, 5e-11], [3e-7, 1e-7, -4e-8]):
        p = _perturb(bn, [0.4, 0.3, 0.5])
        title = say.perturb_title(p, 1.0)[0]
        spec = charts.perturb_chart(p, 1.0, say.perturb_title(p, 1.0)).to_dict()
        rows = [r for rs in spec["datasets"].values() for r in rs]
        notes = {r["note"] for r in rows if r["variant"] == "BN" and r["kind"] == "affine"} - {""}
        assert len(notes) == 1
        note = notes.pop()
        assert note.startswith("≈ 0 (") and note in title, (note, title)
    # Not tiny: the mean, named as a mean.
    p = _perturb([0.1, 0.2, 0.3], [0.4, 0.3, 0.5])
    spec = charts.perturb_chart(p, 1.0).to_dict()
    notes = {r["note"] for rs in spec["datasets"].values() for r in rs} - {""}
    assert "mean 0.20" in notes  # the title's digits (".2f"), not one more on the bar


def test_a_tiny_line_label_prints_the_same_number_as_the_title():
    from bnjax.charts import covariate_shift as charts
    rows = []
    for v, vals in (("BN", [2e-6, -1e-7, 3e-8]), ("plain", [0.4, 0.45, 0.5])):
        for i, s in enumerate(SEEDS):
            for layer in (1, 2, 3):
                for kind in ("affine", "random"):
                    x = 1.0 if layer == 1 else vals[i]
                    rows.append({"size": 0.5, "kind": kind, "variant": v, "seed": s,
                                 "layer": layer, "rel_change": x, "moment_change": x})
    layers = pd.DataFrame(rows)
    title = say.layers_title(layers, 0.5)[1]
    spec = charts.layers_chart(layers, 0.5).to_dict()
    notes = {r["note"] for rs in spec["datasets"].values() for r in rs if r["variant"] == "BN"}
    notes -= {""}
    assert notes == {"BN ≈ 0 (2e-06)"}
    assert "≈ 0 (2e-06) with BN" in title


def test_the_drift_charts_mean_label_sits_at_the_mean():
    """The review found "mean 3.84" drawn at the row's largest value (x ≈ 12): the label and a
    tick are placed at the mean itself."""
    from bnjax.charts import covariate_shift as charts
    units = pd.DataFrame([{"variant": v, "seed": s, "unit": u, "drift": d}
                          for v, ds in (("BN", [0.1, 0.2, 0.9]), ("plain", [1.0, 2.0, 12.0]))
                          for s in SEEDS for u, d in enumerate(ds)])
    spec = charts.drift_chart(units).to_dict()
    marks = [(layer["mark"], layer["encoding"]) for layer in spec["layer"]]
    texts = [e for m, e in marks if (m if isinstance(m, str) else m["type"]) == "text"]
    assert texts and all(e["x"]["field"] == "mean" for e in texts)
    ticks = [e for m, e in marks if (m if isinstance(m, str) else m["type"]) == "tick"]
    assert any(e["x"]["field"] == "mean" for e in ticks)  # a mark where the mean is
    rows = [r for rs in spec["datasets"].values() for r in rs if "label" in r]
    plain = [r for r in rows if r["run"] == "plain, seed 0"][0]
    assert plain["label"] == "mean 5.00" and plain["mean"] == 5.0
