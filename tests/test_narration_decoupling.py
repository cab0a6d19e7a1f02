"""Page 3's sentences are functions of the numbers: fed synthetic results where a comparison
flips, the sentence flips with it; the numbers in them are the results' numbers, with spreads."""
import numpy as np
import pandas as pd
import pytest

from bnjax.experiments import decoupling as exp
from bnjax.narration import decoupling as say

SEEDS = (0, 1, 2)
LAYERS = range(2, 9)  # the default 8-layer net: layers 2..8 are "later"


def fake(cos_bn=(0.80, 0.85, 0.79), cos_plain=(0.83, 0.97, 0.84), grad_bn=(0.0, 0.0, 0.0),
         grad_plain=(0.95, 1.07, 1.0), stats_bn=(2e-6, 3e-6, 2.5e-6),
         stats_plain=(0.46, 0.50, 0.42), acc=None, loss=None, diverged=(),
         noise: float = 0.25, ratio_plain=None, cos_plain_at=None):
    """A clean and a noisy result with the given per-seed numbers (every layer and probe step
    alike, unless `cos_plain_at` = {step: per-seed cosines} sets plain's at some probe steps;
    probes at steps 0 and 100, or the steps given), shaped like `run_gradients` / `run_noisy`
    output. `ratio_plain`: plain's gradient size after/before (default 1 - 0.8 × its change)."""
    acc = {"BN": (0.968, 0.963, 0.956), "plain": (0.952, 0.933, 0.933),
           "noisy BN": (0.978, 0.978, 0.967), "noisy plain": (0.970, 0.970, 0.963),
           **(acc or {})}
    loss = {"BN": (0.022, 0.024, 0.020), "plain": (0.0008, 0.0007, 0.0009),
            "noisy BN": (0.047, 0.054, 0.056), "noisy plain": (0.0073, 0.0069, 0.0064),
            **(loss or {})}
    config = exp.DecouplingConfig(noise=noise)

    def nan_if(variant, value):
        return float("nan") if variant in diverged else value

    def part(variants, clean):
        ics, example, stats, runs, curves, weights = [], [], [], [], [], []
        for v in variants:
            for i, s in enumerate(SEEDS):
                runs.append({"variant": v, "seed": s, "diverged": v in diverged,
                             "test_acc": nan_if(v, acc[v][i])})
                for step in (900, 950, 1000):
                    curves.append({"step": step, "variant": v, "seed": s,
                                   "loss": nan_if(v, loss[v][i])})
                if not clean:
                    continue
                g = (grad_bn if v == "BN" else grad_plain)[i]
                st = (stats_bn if v == "BN" else stats_plain)[i]
                r = (ratio_plain[i] if ratio_plain is not None and v == "plain"
                     else 1 - 0.8 * g)
                for layer in LAYERS:
                    for step in sorted(cos_plain_at or (0, 100)):
                        cos = (cos_bn if v == "BN" else
                               (cos_plain_at or {}).get(step, cos_plain))[i]
                        ics.append({"step": step, "variant": v, "seed": s, "layer": layer,
                                    "cos": nan_if(v, cos), "rel": nan_if(v, 1.1 * (1 - cos))})
                    for f in exp.FACTORS:
                        example.append({"variant": v, "seed": s, "factor": f, "layer": layer,
                                        "input_change": nan_if(v, g * 0.95),
                                        "grad_change": nan_if(v, g),
                                        "grad_ratio": nan_if(v, r)})
                for layer in range(1, 9):
                    stats.append({"variant": v, "seed": s, "layer": layer,
                                  "rel_change": nan_if(v, st)})
                for f in exp.FACTORS:
                    weights.append({"variant": v, "seed": s, "factor": f, "weight": 0,
                                    "g": 1.0, "g_scaled": 1.0 + g})
        return exp.DecouplingResult(
            config, {}, pd.DataFrame(ics, columns=["step", "variant", "seed", "layer", "cos",
                                                   "rel"]),
            pd.DataFrame(curves), pd.DataFrame(columns=["step", "variant", "seed", "test_acc"]),
            pd.DataFrame(stats, columns=["variant", "seed", "layer", "rel_change"]),
            pd.DataFrame(runs), {v: v in diverged for v in variants},
            pd.DataFrame(example, columns=exp.EXAMPLE_COLUMNS),
            pd.DataFrame(weights, columns=exp.WEIGHT_COLUMNS))

    return part(("BN", "plain"), True), part(("noisy BN", "noisy plain"), False)


# ---------------------------------------------------------------------------- the short answer


def test_short_answer_states_the_runs_numbers_with_spreads():
    clean, _ = fake()
    text = say.short_answer(clean)
    assert text.startswith("**Only in one sense.**")
    assert "exactly the same (change 0 on every seed)" in text
    assert "101% (95–107%)" in text  # plain's gradient change, seed mean (min–max)
    assert "0.81 (0.79–0.85) vs 0.88 (0.83–0.97)" in text  # the cosines, BN vs plain
    assert "turns **more** with BN than without" in text
    assert "lower with BN on 3 of 3 seeds" in text
    assert "layer 5" in text and "layers 1–4" in text


def test_short_answer_numbers_follow_the_result():
    a = say.short_answer(fake()[0])
    b = say.short_answer(fake(cos_bn=(0.70, 0.72, 0.74), grad_plain=(0.5, 0.6, 0.7))[0])
    assert "0.72 (0.70–0.74)" in b and "60% (50–70%)" in b
    assert a != b


def test_short_answer_flips_when_bn_gradients_turn_less():
    clean, _ = fake(cos_bn=(0.95, 0.99, 0.97), cos_plain=(0.80, 0.85, 0.79))
    text = say.short_answer(clean)
    assert "turns **less** with BN than without" in text
    assert "higher with BN on 3 of 3 seeds" in text
    assert text.startswith("**Yes, in both senses here.**")
    assert "turns **more**" not in text


def test_short_answer_says_about_as_much_when_seeds_disagree():
    clean, _ = fake(cos_bn=(0.90, 0.80, 0.85), cos_plain=(0.85, 0.85, 0.85))
    text = say.short_answer(clean)
    assert "turns **about as much** with BN as without" in text
    assert "on 3 of 3 seeds" not in text


def test_short_answer_flips_when_bn_is_not_invariant():
    clean, _ = fake(grad_bn=(0.3, 0.4, 0.5))
    text = say.short_answer(clean)
    assert "exactly the same" not in text
    assert "40% (30–50%) with BN" in text and "less with BN, on 3 of 3 seeds" in text
    assert text.startswith("**Not in this run.**")


def test_tiny_changes_print_as_approximately_zero():
    clean, _ = fake(grad_bn=(3e-7, 1e-7, 2e-7), stats_bn=(3e-7, 1e-7, 2e-7))
    assert "(change ≈ 0 (3e-07) on every seed)" in say.short_answer(clean)
    assert say.zero_label(clean) == "BN: ≈ 0 (3e-07) at every layer (blue ticks)"
    assert "≈ 0 (3e-07)" in say.example_title(clean, 2.0)[0]


def test_partly_diverged_views_compare_like_with_like():
    """Plain diverged on seeds 1 and 2: one seed says "1 seed"; the loss ranking and ratio use
    only the seed where every net trained; a pair with no common seed says so."""
    clean, noisy = fake()
    clean.runs.loc[clean.runs["variant"] == "plain", "test_acc"] = [0.95, np.nan, np.nan]
    gone = clean.curves["variant"].eq("plain") & clean.curves["seed"].isin([1, 2])
    clean.curves.loc[gone, "loss"] = np.nan
    noisy.runs.loc[noisy.runs["variant"] == "noisy plain", "test_acc"] = [np.nan, 0.5, 0.6]
    acc, loss, _ = say.noise_lines(clean, noisy)
    assert "vs plain 95.0% (1 seed), no seed where both trained" in acc
    assert "(on the seeds where every net trained)" in loss
    assert ("plain ends lowest, 0.00080 (1 seed); BN's 0.022 (1 seed) is 27× (1 seed) as high"
            in loss)
    assert say.accuracy_title(clean, noisy)[2] == "plain: no seed where both trained"


def test_a_net_that_diverged_everywhere_gives_no_answer():
    clean, _ = fake(diverged=("BN",))
    assert "diverged on every seed" in say.short_answer(clean)
    assert "diverged on every seed" in say.coupling_lines(clean)[0]


# ---------------------------------------------------------------------------- the example


def test_example_title_and_caption_flip_with_the_invariance():
    exact, _ = fake()
    assert "is unchanged with BN (0)" in say.example_title(exact, 2.0)[0]
    assert say.panel_label(exact, "BN", 2.0) == "with BN, seed 0: unchanged"
    assert say.panel_label(exact, "plain", 2.0) == "without BN, seed 0: changed by 95%"
    caption = say.example_caption(exact, 2.0)
    assert "shrank to 0.19× (0.14–0.24×) its old size" in caption  # ||G'|| / ||G|| = 1 - 0.8 g
    assert "at least 101% (95–107%) of its size" in caption  # the smallest over later layers
    assert "**With BN**, layer 5's inputs changed by 0 and its gradient by 0" in caption
    broken, _ = fake(grad_bn=(0.2, 0.3, 0.4))
    assert say.example_title(broken, 2.0) == ["W1 × 2: layer 5's gradient changes by 30% "
                                              "(20–40%) with BN,",
                                              "changes by 101% (95–107%) without BN"]
    grown, _ = fake(grad_plain=(30.0, 60.0, 90.0))
    assert "60× (30–90×) its size" in say.example_caption(grown, 0.5)


def test_short_answer_says_which_way_plain_gradient_size_went():
    shrank = say.short_answer(fake()[0])  # ratio 1 - 0.8 g: 0.19× (0.14–0.24×)
    assert ("without BN it changes by 101% (95–107%) of its size, and its size shrinks to "
            "0.19× (0.14–0.24×) the old one." in shrank)
    grew = say.short_answer(fake(ratio_plain=(2.0, 3.0, 4.0))[0])
    assert "and its size grows to 3× (2–4×) the old one." in grew
    mixed = say.short_answer(fake(ratio_plain=(0.5, 1.0, 1.5))[0])
    assert "and its size goes to 1× (0.5–1.5×) the old one." in mixed
    caption = say.example_caption(fake(ratio_plain=(2.0, 3.0, 4.0))[0], 2.0)
    assert "grew to 3× (2–4×) its old size" in caption


# ---------------------------------------------------------------------------- 2a


def _when_note(clean, lead: str, when: str) -> None:
    """Layer 5's over-training title: its finding, then the note on when the answer differs."""
    title = say.ics_time_title(clean, 5)
    assert title[0] == "Layer 5: BN's gradient turns more"
    assert title[2].endswith(";") and title[3] == lead and title[4] == when


def test_when_the_answer_flips_during_training_the_title_and_verdict_say_when():
    # BN 0.81 on average at every step; plain 0.70 at steps 100-200 (BN turns less), 0.95 from
    # step 300 on (BN turns more).
    early, late = (0.70, 0.72, 0.69), (0.95, 0.97, 0.96)
    clean, _ = fake(cos_plain_at={100: early, 200: early, 300: late, 400: late, 500: late})
    assert say.phases(clean) == "less at steps 100–200, more from step 300"
    _when_note(clean, "but by probe step, BN's turning",
               "less at steps 100–200, more from step 300")
    lines = say.coupling_lines(clean)
    assert ("But the answer changes during training: BN's gradient turns less at steps "
            "100–200, more from step 300." in lines[0])
    assert "depends on when you look" in lines[-1] and "more coupled than plain's" in lines[-1]
    # Flipped in time: BN turns more early, less late.
    clean, _ = fake(cos_plain_at={100: late, 200: late, 300: early, 400: early, 500: early})
    assert say.phases(clean) == "more at steps 100–200, less from step 300"
    # On average over the five probes the two are level here: the verdict says so.
    assert "about as coupled as plain's" in say.coupling_lines(clean)[-1]
    # A long list wraps over title lines at its commas.
    at = {100: late, 200: early, 300: (0.81, 0.85, 0.79), 400: late, 500: late}
    title = say.ics_time_title(fake(cos_plain_at=at)[0], 5)
    assert " ".join(title[4:]) == ("more at step 100, less at step 200, about as much at step "
                                   "300, more from step 400")
    assert all(len(line) <= 48 for line in title) and len(title) > 5
    # Many flips: counted, not listed.
    at = {100: early, 200: late, 300: early, 400: late, 500: early, 600: late}
    clean, _ = fake(cos_plain_at=at)
    assert say.phases(clean) == ("less at some probe steps and more at others "
                                 "(the sign flips 5 times)")
    assert "BN's gradient turns less at some probe steps and more at others" in \
        say.coupling_lines(clean)[0]
    # One direction throughout: no phases, the old wording.
    plain, _ = fake()
    assert say.phases(plain) is None
    assert len(say.ics_time_title(plain, 5)) == 3
    assert "depends on when" not in say.coupling_lines(plain)[-1]


def test_where_the_seed_means_cross_without_the_seeds_agreeing_it_is_said():
    """The default run's case: plain's seed mean dips below BN's at steps 100–200 from one seed's
    spike while the other seeds keep BN turning more. The title and the first verdict line say
    where, and on how many seeds; the verdict's conclusion stands."""
    steps = {step: (0.83, 0.97, 0.84) for step in range(0, 600, 100)}
    clean, _ = fake(cos_bn=(0.80, 0.85, 0.70), cos_plain_at={**steps, 200: (0.83, 0.97, 0.3)})
    assert say.phases(clean) is None
    assert say.crossings(clean) == "less at step 200, on 1 of 3 seeds"
    _when_note(clean, "the seed means cross, BN's turning", "less at step 200, on 1 of 3 seeds")
    lines = say.coupling_lines(clean)
    assert ("The seed-mean curves cross, though: BN's gradient turns less at step 200, on 1 of "
            "3 seeds: the seeds do not agree on it." in lines[0])
    assert "more coupled, as Santurkar" in lines[-1]
    # Without the spike nothing crosses, and nothing is said.
    clean, _ = fake(cos_bn=(0.80, 0.85, 0.70), cos_plain_at=steps)
    assert say.crossings(clean) is None and len(say.ics_time_title(clean, 5)) == 3
    assert "cross" not in say.coupling_lines(clean)[0]


def test_coupling_verdict_flips():
    more, _ = fake()
    lines = say.coupling_lines(more)
    assert "it turns more with BN, on 3 of 3 seeds" in lines[0]
    assert "**not** decouple" in lines[-1] and "more coupled" in lines[-1]
    less, _ = fake(cos_bn=(0.95, 0.99, 0.97), cos_plain=(0.80, 0.85, 0.79))
    lines = say.coupling_lines(less)
    assert "it turns less with BN, on 3 of 3 seeds" in lines[0]
    assert "unlike the paper's finding" in lines[-1]
    same, _ = fake(cos_bn=(0.90, 0.80, 0.85), cos_plain=(0.85, 0.85, 0.85))
    assert "about as coupled" in say.coupling_lines(same)[-1]


def test_time_title_flips():
    more, _ = fake()
    assert say.ics_time_title(more, 5) == ["Layer 5: BN's gradient turns more",
                                           "mean cos(G, G′) BN 0.81 (0.79–0.85),",
                                           "plain 0.88 (0.83–0.97)"]
    less, _ = fake(cos_bn=(0.95, 0.99, 0.97), cos_plain=(0.80, 0.85, 0.79))
    assert say.ics_time_title(less, 5)[0] == "Layer 5: BN's gradient turns less"
    assert say.ics_time_title(less, 5, "rel")[0] == "Layer 5: BN's gradient changes less"


def test_layer_title_counts_the_layers_each_way():
    more, _ = fake()
    assert say.ics_layer_title(more)[1] == "BN's gradient changes more at 7 of 7 layers"
    less, _ = fake(cos_bn=(0.95, 0.99, 0.97), cos_plain=(0.80, 0.85, 0.79))
    assert say.ics_layer_title(less)[1] == "BN's gradient changes less at 7 of 7 layers"
    # The relative change reads the other way round: higher means more change.
    assert say.ics_layer_title(more, "rel")[1] == "BN's gradient changes more at 7 of 7 layers"


# ---------------------------------------------------------------------------- 2b


def test_noise_lines_separate_test_accuracy_from_training_loss():
    clean, noisy = fake()
    acc, loss, verdict = say.noise_lines(clean, noisy)
    assert acc.startswith("**Test accuracy** (unseen digits, noise a = 0.25)")
    assert "noisy BN **97.4% (96.7–97.8%)** vs BN **96.2% (95.6–96.8%)**" in acc
    assert "higher with the noise (on 3 of 3 seeds)" in acc
    assert "noisy plain 96.8% (96.3–97.0%) vs plain 93.9% (93.3–95.2%), higher" in acc
    # The case the old page left unmentioned: noisy plain beats clean BN.
    assert "Noisy plain is higher than clean BN (on 3 of 3 seeds)" in acc
    # The case the old page contradicted: plain fits its training batches far closer.
    assert loss.startswith("**Training loss**")
    assert "plain ends lowest, 0.00080 (0.00070–0.00090); BN's 0.022 (0.020–0.024)" in loss
    assert "28× (22–34×) as high" in loss
    assert "Noisy BN's 0.052 (0.047–0.056) is higher than BN's (on 3 of 3 seeds)" in loss
    assert "did not stop BN from learning" in verdict
    assert "noisy BN's test accuracy is higher than clean BN's" in verdict
    assert "raised the plain net's test accuracy too" in verdict


def test_noise_lines_flip_with_the_accuracies():
    clean, noisy = fake(acc={"noisy BN": (0.90, 0.91, 0.92), "noisy plain": (0.92, 0.93, 0.90)})
    acc, _, verdict = say.noise_lines(clean, noisy)
    assert "lower with the noise (on 3 of 3 seeds)" in acc
    assert "Noisy plain is lower than clean BN" in acc
    assert "does hurt" in verdict and "did not stop" not in verdict
    assert "raised the plain net's" not in verdict
    # Within one test image (1/540) of each other: about the same.
    clean, noisy = fake(acc={"noisy BN": (0.969, 0.962, 0.957)})
    acc, _, verdict = say.noise_lines(clean, noisy)
    assert "about the same with the noise" in acc
    assert "about the same as clean BN's" in verdict


def test_training_loss_line_flips_with_the_losses():
    clean, noisy = fake(loss={"BN": (0.0005, 0.0004, 0.0006), "plain": (0.02, 0.03, 0.025),
                              "noisy BN": (0.010, 0.012, 0.011)})
    _, loss, _ = say.noise_lines(clean, noisy)
    assert "BN ends lowest" in loss and "plain's 0.025" in loss
    assert "Noisy BN's 0.011 (0.010–0.012) is higher than BN's" in loss
    assert say.loss_title(clean, noisy)[1] == "BN fits its training batches closest;"
    clean, noisy = fake(loss={"noisy BN": (0.020, 0.025, 0.019)})
    _, loss, _ = say.noise_lines(clean, noisy)
    assert "about the same as BN's" in loss and "costs fit" not in loss


def test_accuracy_title_says_what_the_noise_did():
    clean, noisy = fake()
    title = say.accuracy_title(clean, noisy)
    assert title[1] == "raises BN's by 1.2 (1.0 to 1.5) points on 3 of 3 seeds,"
    assert title[2] == "raises plain's by 2.8 (1.8 to 3.7) points on 3 of 3 seeds"
    clean, noisy = fake(acc={"noisy BN": (0.95, 0.95, 0.94)})
    assert (say.accuracy_title(clean, noisy)[1]
            == "lowers BN's by 1.6 (1.3 to 1.8) points on 3 of 3 seeds,")


def test_accuracy_title_and_verdict_read_the_same_seeds():
    """The review's case: +1.7 points on average, but one seed unmoved (CI touching 0). The title
    must not say "barely moves" while the chart shows a clear gap, nor the verdict "about the
    same" while the title says it moved: both count the seeds each way."""
    clean, noisy = fake(acc={"noisy BN": (0.994, 0.989, 0.956)})  # +2.6, +2.6, +0.0 points
    title = say.accuracy_title(clean, noisy)
    assert title[1] == "raises BN's on 2 of 3 seeds (+1.7 (+0.0 to +2.6) points),"
    acc, _, verdict = say.noise_lines(clean, noisy)
    assert "not clearly different with the noise (higher on 2 of 3 seeds)" in acc
    assert "raises its test accuracy on 2 of 3 seeds (+1.7 (+0.0 to +2.6) points)" in verdict
    assert "about the same" not in acc.split(";")[0] + verdict and "barely" not in title[1]
    # One seed down, two up: both counts are said.
    clean, noisy = fake(acc={"noisy BN": (0.994, 0.989, 0.950)})
    assert say.accuracy_title(clean, noisy)[1].startswith(
        "raises BN's on 2, lowers it on 1 of 3 seeds (")
    assert "(higher on 2, lower on 1 of 3 seeds)" in say.noise_lines(clean, noisy)[0]
    # No seed moved by a test image: about the same, everywhere.
    clean, noisy = fake(acc={"noisy BN": (0.969, 0.962, 0.957)})
    assert say.accuracy_title(clean, noisy)[1].startswith("leaves BN's about the same (")
    assert "about the same as clean BN's" in say.noise_lines(clean, noisy)[2]


def test_too_only_when_the_noise_moved_both_nets_the_same_way():
    # Plain up (default numbers) and BN up: "too".
    assert "raised the plain net's test accuracy too" in say.noise_lines(*fake())[2]
    # BN down by ~18 points, plain up: no "too".
    clean, noisy = fake(acc={"noisy BN": (0.78, 0.79, 0.77)})
    verdict = say.noise_lines(clean, noisy)[2]
    assert "does hurt" in verdict
    assert "raised the plain net's test accuracy, though" in verdict and " too" not in verdict
    # BN about the same, plain up: no "too".
    clean, noisy = fake(acc={"noisy BN": (0.969, 0.962, 0.957)})
    verdict = say.noise_lines(clean, noisy)[2]
    assert "raised the plain net's test accuracy:" in verdict and " too" not in verdict
    # Both down: "too" on the plain net's.
    clean, noisy = fake(acc={"noisy BN": (0.90, 0.91, 0.92), "noisy plain": (0.90, 0.90, 0.90)})
    assert "lowered the plain net's test accuracy too" in say.noise_lines(clean, noisy)[2]


# ---------------------------------------------------------------------------- 2c


def test_synthesis_flips_with_the_statistics_and_the_gradients():
    clean, _ = fake()
    text = say.synthesis_text(clean)
    assert "**Statistics, exactly:**" in text and "≈ 0 (3e-06) with BN" in text
    assert "**Gradients, not:**" in text and "turns more than plain's" in text
    assert say.zero_label(clean) is not None
    visible, _ = fake(stats_bn=(0.1, 0.2, 0.15), cos_bn=(0.95, 0.99, 0.97))
    text = say.synthesis_text(visible)
    assert "**Statistics, not exactly:**" in text and "15% (10–20%)" in text
    assert "**Gradients, a little:**" in text and "turns less than plain's" in text
    assert say.zero_label(visible) is None
    assert say.stats_title(visible)[1] == "later inputs changed with BN: 15% (10–20%),"


@pytest.mark.parametrize("values,expect", [
    ((0.0, 0.0, 0.0), "0"),
    ((3e-9, 1e-9), "≈ 0 (3e-09)"),
    ((0.42, 0.40, 0.45), "0.42 (0.40–0.45)"),
    ((0.9591, 0.9593, 0.9596), "0.959 (0.959–0.960)"),  # a spread never rounds away
    ((float("nan"),), "—"),
])
def test_numbers_carry_their_spread(values, expect):
    assert say.num(np.array(values)) == expect


def test_the_accuracy_charts_value_sits_at_the_mean():
    """The review found each net's mean accuracy written at its best seed (x = max): the value
    is now drawn where its tick, the mean, is."""
    from bnjax.charts import decoupling as charts
    clean, noisy = fake(acc={"noisy BN": (0.994, 0.989, 0.956)})
    spec = charts.accuracy_chart(clean.runs, noisy.runs,
                                 title=say.accuracy_title(clean, noisy)).to_dict()
    layers = spec["layer"]
    kind = [lay["mark"] if isinstance(lay["mark"], str) else lay["mark"]["type"]
            for lay in layers]
    text = layers[kind.index("text")]["encoding"]
    tick = layers[kind.index("tick")]["encoding"]
    assert text["x"]["field"] == tick["x"]["field"] == "test_acc"
    assert text["x"]["aggregate"] == tick["x"]["aggregate"] == "mean"


def test_huge_changes_read_as_times_never_in_e_notation():
    """At lr 0.2 plain's gradient changed 45× its size on average (0.87 to 131× by seed): not
    "4451% (87–13149%)" in the title nor "1.3e+02×" in the short answer."""
    huge, _ = fake(grad_plain=(0.87, 3.0, 131.0), ratio_plain=(0.25, 3.0, 131.0))
    title = say.example_title(huge, 2.0)[1]
    assert title == "changes by 45× (0.87–131×) its size without BN", title
    answer = say.short_answer(huge)
    assert "e+0" not in answer and "131×" in answer, answer
    assert "e+0" not in say.times([0.25, 40.0, 131.0])
    assert say.times([2.0, 3.0, 4.0]) == "3× (2–4×)"  # small ratios as before


def test_losses_keep_their_trailing_zeros():
    """Two significant digits on every number of a spread: "0.00081 (0.00070–0.00093)", not
    "(0.0007–0.00093)"."""
    assert say.sig([0.0007, 0.00081, 0.00093]) == "0.00081 (0.00070–0.00093)"
    assert say.sig([0.022, 0.02, 0.024]) == "0.022 (0.020–0.024)"
    assert say.sig([27.0, 28.0]) == "28 (27–28)"  # no "28." from the alternate form
