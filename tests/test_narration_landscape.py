"""Page 5's sentences (bnjax/narration/landscape.py): the short answer and the verdicts flip when
the data flip, "the largest lr that ..." is monotone, the 4d crossing step is found and said,
and the short answer's numbers come from the run (they change with the seed)."""
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bnjax.charts import landscape as charts
from bnjax.experiments import landscape as exp
from bnjax.narration import landscape as say

NAN = float("nan")

# ---------------------------------------------------------------------------- synthetic results


def grid(bn_loss=(0.41, 0.46), pl_loss=(0.15, 0.17), bn_good=(18, 18), pl_good=(6, 6),
         bn_hi=(3.0, 3.0), pl_hi=(0.3, 0.3), bn_best=(0.981, 0.978), pl_best=(0.969, 0.976),
         pl_div=(True, True)):
    """A stand-in for a LandscapeResult: the summary and per-seed table the narration reads."""
    rows = []
    for v, loss, good, hi, best, div in (("BN", bn_loss, bn_good, bn_hi, bn_best, (False,) * 2),
                                         ("plain", pl_loss, pl_good, pl_hi, pl_best, pl_div)):
        for seed in range(len(loss)):
            rows.append(dict(variant=v, seed=seed, match_loss=loss[seed], good_cells=good[seed],
                             good_lr_lo=0.01, good_lr_hi=hi[seed], best_acc=best[seed],
                             acc_ref=0.0 if div[seed] else 0.97, diverged_ref=div[seed]))
    t = pd.DataFrame(rows)
    mean_count = {v: int(round(np.mean(t[t.variant == v]["good_cells"]))) for v in ("BN", "plain")}
    summary = dict(good_cells_bn=float(mean_count["BN"]),
                   good_cells_plain=float(mean_count["plain"]), n_cells=21.0, match_lr=0.03,
                   ref_lr=1.0, ref_gain=1.0, match_window_start=100.0, match_window_end=350.0,
                   lr_grid_min=0.003, lr_grid_max=3.0, n_seeds=float(len(bn_loss)))
    return SimpleNamespace(summary=summary, seeds=t)


def test_the_short_answer_at_the_measured_default():
    text = say.short_answer(grid())
    assert text.startswith("**Easier, not faster.**")
    assert "BN is not faster" in text and "is higher" in text and "on 2 of 2 seeds" in text
    assert "0.43 (0.41–0.46) vs 0.16 (0.15–0.17)" in text  # seed mean (min–max)
    assert "18 of 21" in text and "6 without, on both seeds" in text
    assert "from 0.01 up to 3 (the largest tried), plain only up to 0.3" in text


def test_short_answer_speed_flips_with_the_losses():
    faster = say.short_answer(grid(bn_loss=(0.05, 0.06), pl_loss=(0.15, 0.17)))
    assert faster.startswith("**Faster and easier.**") and "BN is faster" in faster
    assert "is lower" in faster and "not faster" not in faster
    same = say.short_answer(grid(bn_loss=(0.15, 0.17), pl_loss=(0.16, 0.16)))
    assert "BN is no faster" in same and "about the same" in same
    assert same.startswith("**Easier, no faster.**")
    mixed = say.short_answer(grid(bn_loss=(0.40, 0.05), pl_loss=(0.15, 0.16)))  # seeds disagree
    assert "about the same" in mixed and "on 2 of 2 seeds" not in mixed.split(".")[1]


def test_a_diverged_matched_run_is_said_not_compared():
    text = say.short_answer(grid(pl_loss=(NAN, NAN)))
    assert "a run diverged, so there is no speed to compare" in text and "faster:" not in text
    assert "a run diverged, nothing to compare" in say.grid_lines(grid(bn_loss=(NAN, NAN)))[2]
    assert say.faster_titles(sweep(bn_match=NAN))["matched"]["text"].endswith("a run diverged")


def test_short_answer_width_flips_with_the_good_cells():
    fewer = say.short_answer(grid(bn_good=(5, 4), pl_good=(9, 10)))
    assert fewer.startswith("**Neither faster nor easier here.**") and "fewer with BN" in fewer
    assert "(4–5 by seed)" in fewer and "(9–10 by seed)" in fewer
    one_agrees = say.short_answer(grid(bn_good=(18, 17), pl_good=(6, 6)))
    assert "with BN, 6 (every seed) without" in one_agrees  # no count without its seeds
    same = say.short_answer(grid(bn_good=(7, 6), pl_good=(6, 7)))
    assert same.startswith("**Neither faster nor easier here.**") and "about as many" in same
    only_faster = say.short_answer(grid(bn_good=(7, 6), pl_good=(6, 7), bn_loss=(0.05, 0.06)))
    assert only_faster.startswith("**Faster, but not easier.**")
    fewer_faster = say.short_answer(grid(bn_good=(5, 4), pl_good=(9, 10), bn_loss=(0.05, 0.06)))
    assert fewer_faster.startswith("**Faster, but not easier.**")
    diverged = say.short_answer(grid(pl_loss=(NAN, NAN)))
    assert diverged.startswith("**Easier.**") and "faster" not in diverged.split("**")[1]


def test_short_answer_learning_rate_reach_flips():
    lower = say.short_answer(grid(bn_hi=(0.1, 0.1), pl_hi=(0.3, 1.0)))
    assert "plain trains well up to a larger learning rate: 0.3–1 vs 0.1 with BN" in lower
    assert "the largest tried" not in lower
    same = say.short_answer(grid(bn_hi=(0.3, 0.3), pl_hi=(0.3, 0.3)))
    assert "both train well up to the same learning rate, 0.3" in same
    none = say.short_answer(grid(bn_hi=(3.0, 3.0), pl_hi=(NAN, NAN)))  # plain never reaches 90%
    assert "plain only up to —" in none
    differ = say.short_answer(grid(bn_hi=(1.0, 3.0), pl_hi=(0.1, 0.3)))
    assert "up to 1–3, plain only up to 0.1–0.3" in differ and "largest tried" not in differ


def test_grid_verdict_lines_flip():
    lines = say.grid_lines(grid())
    assert "3.0× as many with BN (on 2 of 2 seeds)" in lines[0]
    assert "about the same" in lines[1]  # best cells within half a point on one seed
    assert "higher with BN (on 2 of 2 seeds), so BN is not faster" in lines[2]
    assert "plain diverged on every seed" in lines[3]
    lines = say.grid_lines(grid(bn_best=(0.90, 0.91), pl_best=(0.97, 0.96), pl_div=(False, True),
                                bn_loss=(0.05, 0.06)))
    assert "lower with BN (on 2 of 2 seeds)" in lines[1]
    assert "lower with BN (on 2 of 2 seeds): BN is faster here" in lines[2]
    assert "diverged on 1 of 2 seeds" in lines[3]
    title = say.grid_title(grid(bn_good=(5, 4), pl_good=(9, 10)))
    assert title["text"].startswith("Fewer settings train with BN")


# ---------------------------------------------------------------------------- 4c: monotone edges


def test_largest_lr_is_monotone_on_a_non_monotone_sequence():
    """The page's bug: BN finite up to 31.6, diverged at 56, finite again at 100. The largest lr
    that stays finite is 31.6, not 100: every lr below it stays finite."""
    lrs = exp.sweep_lrs(exp.FasterConfig())
    finite = [True] * 15 + [False, True]  # ..., 31.6 finite, 56 diverged, 100 finite
    lo, hi = exp.monotone_edge(lrs, finite)
    assert lo == pytest.approx(0.01) and hi == pytest.approx(31.6227766)
    assert all(f for lr, f in zip(lrs, finite) if lr <= hi)  # every lr below qualifies
    # a gap low down caps the edge there, whatever comes above it
    assert exp.monotone_edge([1, 2, 3, 4, 5], [True, False, True, True, True]) == (1.0, 1.0)
    # too-small lrs that do not learn yet are not a failure above: start at the first that does
    assert exp.monotone_edge([1, 2, 3, 4, 5], [False, True, True, False, True]) == (2.0, 3.0)
    assert exp.monotone_edge([3, 1, 2], [True, True, False]) == (1.0, 1.0)  # order-free
    assert all(np.isnan(exp.monotone_edge([1, 2], [False, False])))


def sweep(bn_first_div=56.2341, bn_any=100.0, bn_hi=3.16228, bn_fin=31.6228,
          bn_match=0.17, pl_match=0.055, bn_steps=30.0, pl_steps=80.0):
    """A stand-in for a FasterResult (one seed), its per-seed table and summary."""
    t = pd.DataFrame([
        dict(variant="BN", seed=0, learn_lr_lo=0.01, learn_lr_hi=bn_hi, finite_lr_hi=bn_fin,
             finite_lr_any=bn_any, first_diverged_lr=bn_first_div, fewest_steps=bn_steps,
             fastest_lr=0.316228, match_loss=bn_match),
        dict(variant="plain", seed=0, learn_lr_lo=0.01, learn_lr_hi=0.316228,
             finite_lr_hi=0.316228, finite_lr_any=0.316228, first_diverged_lr=0.562341,
             fewest_steps=pl_steps, fastest_lr=0.1, match_loss=pl_match)])
    summary = dict(match_lr=0.0562341, match_window_start=100.0, match_window_end=350.0,
                   max_stable_lr_bn=bn_hi, max_stable_lr_plain=0.316228,
                   max_finite_lr_bn=bn_fin, max_finite_lr_plain=0.316228, n_seeds=1.0,
                   lr_sweep_min=0.01, lr_sweep_max=100.0)
    return SimpleNamespace(summary=summary, seeds=t)


def test_4c_says_where_the_monotone_edge_is_and_why_100_does_not_count():
    lines = say.faster_lines(sweep(), seed=0)
    text = "\n".join(lines)
    assert "**BN 3.16, plain 0.316** (10× larger with BN)" in text
    assert "stays finite, the same way: BN 31.6, plain 0.316 (100×)" in text
    assert "first diverged at 56.2 and was finite again at 100" in text
    assert "Between 3.16 and 31.6 BN stays finite but stops learning" in text
    assert "(seed 0, one seed)" in lines[0] and "**plain is faster**" in lines[0]
    # no lucky finite run above a failure: no sentence about it
    clean = "\n".join(say.faster_lines(sweep(bn_any=31.6228), seed=0))
    assert "finite again" not in clean
    titles = say.faster_titles(sweep())
    assert titles["status"]["text"] == ("Every learning rate from 0.01 up to 3.16 learns with BN, "
                                        "up to 0.316 without")
    assert "BN 31.6, plain 0.316" in titles["status"]["subtitle"]


def test_4c_comparatives_flip():
    t = say.faster_titles(sweep(bn_match=0.03, pl_match=0.055))
    assert t["matched"]["text"].endswith("BN's loss falls faster")
    assert say.faster_titles(sweep())["matched"]["text"].endswith("plain's loss falls faster")
    assert say.faster_titles(sweep(bn_match=0.05))["matched"]["text"].endswith("neither is faster")
    assert "**BN is faster**" in say.faster_lines(sweep(bn_match=0.03, pl_match=0.055), 0)[0]
    slow = say.faster_titles(sweep(bn_steps=120.0))["steps"]["text"]
    assert slow.startswith("Plain reaches 90% in fewer steps") and "BN 120" in slow
    assert "BN needs more" in say.faster_lines(sweep(bn_steps=120.0), 0)[-1]
    assert "BN needs fewer, because it can use a larger learning rate" in \
        say.faster_lines(sweep(), 0)[-1]
    worse = "\n".join(say.faster_lines(sweep(bn_hi=0.1, bn_fin=0.316228, bn_first_div=0.562341,
                                             bn_any=0.316228), 0))
    assert "**BN 0.1, plain 0.316** (smaller)" in worse
    assert "finite, the same way: BN 0.316, plain 0.316 (the same)" in worse
    assert "Between 0.1 and 0.316 BN stays finite but stops learning" in worse


# ---------------------------------------------------------------------------- 4d: the crossing


def test_crossing_step():
    steps = [0, 50, 100, 150, 200, 250, 300]
    assert exp.crossing(steps, [False, True, True, True, False, False, False]) == 200
    # one noisy probe on either side does not move it
    assert exp.crossing(steps, [True, True, True, False, True, False, False]) == 150
    assert exp.crossing(steps, [True, False, True, True, False, False, False]) == 200
    # a tie between splits: the earliest
    assert exp.crossing(steps, [True, True, False, True, False, True, False]) == 100
    assert np.isnan(exp.crossing(steps, [True] * 7))  # rougher throughout: no crossing
    assert np.isnan(exp.crossing(steps, [False] * 7))


def smooth(late=(0.005, 0.002, 0.004), cross=(300.0, 250.0, 450.0), step=300.0):
    """A stand-in for a SmoothnessResult: BN's late loss range 0.015 on every seed."""
    rows = []
    for m in say.STEMS:
        for i, seed in enumerate((0, 1, 2)):
            rows.append(dict(measure=m, seed=seed, cross_step=cross[i], early_bn=0.14,
                             early_plain=[1.9, 4.9, 6.3][i], late_bn=0.015,
                             late_plain=late[i], train_late_bn=0.06, train_late_plain=0.004))
    summary = {f"{k}_cross_step": step for k in say.STEMS.values()}
    summary.update(loss_range_plain=2.2, loss_range_bn=0.075, grad_change_plain=12.3,
                   grad_change_bn=1.8, n_seeds=3.0)
    return SimpleNamespace(summary=summary, seeds=pd.DataFrame(rows))


def test_4d_says_when_the_answer_changes():
    s = smooth()
    assert say.smooth_title(s)["text"] == ("Loss range: plain is rougher than BN until step 300, "
                                           "then smoother")
    line = say.smooth_lines(s)[0]
    assert "until step 300 (250–450 by seed), plain rougher (on 3 of 3 seeds)" in line
    assert "plain smoother (on 3 of 3 seeds)" in line
    assert "0.2× (0.1–0.3×)" in line  # per-seed ratios late: 0.33, 0.13, 0.27
    assert say.smooth_panel(s, "loss range") == "cross at step 300"
    # flip the late window: plain stays rougher after the crossing
    rough = smooth(late=(0.05, 0.08, 0.1))
    assert say.smooth_title(rough)["text"].endswith("then rougher")
    mixed = smooth(late=(0.005, 0.08, 0.01))
    assert say.smooth_title(mixed)["text"].endswith("then about as smooth")
    # no crossing: one verdict for the whole run, and it says so
    none = smooth(cross=(NAN, NAN, NAN), step=NAN)
    assert say.smooth_title(none)["text"].startswith("Loss range: plain is rougher than BN throughout (plain/BN ")
    assert "over the whole run (no crossing)" in say.smooth_lines(none)[0]
    assert say.smooth_lines(none)[-1].startswith("Over the whole run: loss range 29×")
    assert say.smooth_lines(s)[-1].startswith("Over the whole run, one ratio would hide the "
                                              "crossing: loss range 29×")
    smoother = smooth(cross=(NAN, NAN, NAN), step=NAN)
    smoother.seeds["early_plain"] = 0.05  # plain below BN's 0.14 on every seed, throughout
    assert say.smooth_title(smoother)["text"] == "Loss range: plain is smoother than BN throughout (plain/BN 0.4×)"
    assert say.smooth_panel(none, "loss range") == "no crossing"


def test_the_4d_chart_marks_the_crossing_and_says_gradient_smoothness():
    bands = pd.DataFrame([dict(variant=v, step=st, measure=m, lo=0.1, hi=1.0, mid=0.5)
                          for v in ("BN", "plain") for st in (0, 50, 100)
                          for m in exp.MEASURES])
    spec = charts.smoothness_chart(bands, {"loss range": 50.0, "gradient change": NAN},
                                   {"loss range": "cross at step 50"},
                                   title={"text": "t", "subtitle": "s"}).to_dict()
    text = json.dumps(spec, ensure_ascii=False)
    assert "step 50" in text and "loss range|(cross-entropy)|cross at step 50" in text
    # the inverted name is not a header: the panel says what it measures, with its unit
    headers = {r["panel"] for r in next(iter(spec["datasets"].values()))}
    assert "gradient change per|unit distance, ‖Δg‖ / ‖Δw‖" in headers
    assert not any("smoothness" in h for h in headers) and "effective β" not in text
    assert "lower = smoother" in text  # the y axes' title
    rows = next(iter(spec["datasets"].values()))
    assert [r["step"] for r in rows if r.get("kind") == "cross"] == [50.0]


# ---------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def small_runs():
    """The 4a grid, small (2 layers of 16, 100 steps, 2 seeds) on seeds 0-1 and 3-4."""
    config = exp.LandscapeConfig(depth=2, width=16, steps=100, n_seeds=2)
    return [exp.run_landscape(exp.replace(config, seed=s)) for s in (0, 3)]


def test_short_answer_numbers_come_from_the_run_and_change_with_the_seed(small_runs):
    a, b = (say.short_answer(r) for r in small_runs)
    assert a != b
    for r, text in zip(small_runs, (a, b)):
        t = r.seeds
        loss = say.num(say.per_seed(t, "BN", "match_loss"))
        assert loss in text  # the matched-lr losses, with their seed spread
        assert f"{int(r.summary['good_cells_bn'])} " in text and " of 21 " in text
    numbers = [re.findall(r"\d+\.\d+", x) for x in (a, b)]
    assert numbers[0] != numbers[1]


def test_per_seed_tables_agree_with_the_charts(small_runs):
    """The short answer's numbers are the charts' numbers: the good cells are the heat map's
    outlined cells, the matched-lr losses are the mean of the curves the page draws."""
    for r in small_runs:
        t, cells, curves, s = r.seeds, r.cells, r.curves, r.summary
        lo, hi = exp.match_window(100)
        for v, key in (("BN", "bn"), ("plain", "plain")):
            mine = cells[cells.variant == v]
            # one test of a good cell (a seed mean of exactly 90% counts, whatever the CPU's
            # float32 rounding), and the chart's header counts the same cells
            assert s[f"good_cells_{key}"] == int(mine["good"].sum()) == int(
                (mine["acc"] >= exp.GOOD - 1e-6).sum())
            assert mine["good"].equals(mine["acc"] >= exp.GOOD - 1e-6)
            for _, row in t[t.variant == v].iterrows():
                c = curves[(curves.variant == v) & np.isclose(curves.lr, s["match_lr"])
                           & (curves.gain == s["ref_gain"]) & (curves.seed == row["seed"])
                           & (curves.step > lo) & (curves.step <= hi)]
                assert len(c) == hi - lo
                assert row["match_loss"] == pytest.approx(c["loss"].mean(), rel=1e-5)


def test_overview_card_5_says_when_the_seeds_agree():
    """Card 5's counts carry their seed spread: the range where the seeds differ, "all 2 seeds
    agree" where they do not (a bare "6 / 21" reads as one run); its lead is the page's."""
    from bnjax.narration import overview as cards
    card = cards.landscape([grid()])
    assert card.answer.startswith("**Easier, not faster.**")
    assert [(m.value, m.spread) for m in card.metrics] == [("18 / 21", "all 2 seeds agree"),
                                                           ("6 / 21", "all 2 seeds agree")]
    card = cards.landscape([grid(pl_good=(6, 7), bn_loss=(0.05, 0.06))])
    assert card.answer.startswith("**Faster and easier.**")
    assert card.metrics[1].spread == "seeds 6 to 7"
    one = cards.agreed(cards.metric("x", [0.5]), [0.5])
    assert one.spread == ""  # one seed: no spread to state


def test_4d_says_when_the_curves_cross_several_times():
    """With the seed-mean curves on record: one swap is "cross at step N"; several swaps are
    counted and said, never a single crossing."""
    def bands(plain):
        return pd.DataFrame([dict(variant=v, step=float(50 * i), measure=m, lo=0.1, hi=2.0,
                                  mid=(p if v == "plain" else 0.5))
                             for m in say.STEMS for i, p in enumerate(plain)
                             for v in ("BN", "plain")])
    once = smooth()
    once.bands = bands([2.0, 1.5, 1.0, 0.2, 0.1, 0.1, 0.1])
    assert say.crossings(once, "loss range") == [150.0]
    assert say.smooth_panel(once, "loss range") == "cross at step 300"
    assert "cross" not in say.smooth_title(once)["text"].split("then")[1]
    many = smooth()
    many.bands = bands([2.0, 0.2, 1.0, 0.2, 0.1, 0.9, 0.1])
    assert say.crossings(many, "loss range") == [50.0, 100.0, 150.0, 250.0, 300.0]
    assert say.smooth_panel(many, "loss range") == "cross 5 times (split: step 300)"
    assert say.smooth_title(many)["text"].endswith("(the seed-mean curves cross 5 times)")
    assert "until about step 300" in say.smooth_title(many)["text"]
    assert say.smooth_lines(many)[2].startswith("**Gradient change per unit distance** (the "
                                                 "seed-mean curves cross 5 times)")
    none = smooth(cross=(NAN, NAN, NAN), step=NAN)
    none.bands = many.bands
    assert say.smooth_panel(none, "loss range") == "cross 5 times, no lasting crossing"


def test_4c_failures_of_both_nets_stay_visible():
    """Where both nets fail at the same lr, their markers sit on separate rows (BN lower)."""
    rows = []
    for v in ("BN", "plain"):
        for lr in (0.1, 1.0, 10.0):
            fail = lr == 10.0 or (v == "plain" and lr == 1.0)
            rows.append(dict(variant=v, lr=lr, seed=0, steps_to_target=NAN if fail else 100.0,
                             diverged=fail and v == "plain", learns=not fail))
    spec = charts.steps_chart(pd.DataFrame(rows), 500).to_dict()
    pts = [r for d in spec["datasets"].values() for r in d if "kind" in r and "reached" in r]
    top = {(r["variant"], r["lr"]): r["y"] for r in pts if r["kind"] != "reached 90%"}
    assert top[("BN", 10.0)] < top[("plain", 10.0)]  # same lr, both failed: two rows
    assert top[("plain", 1.0)] == top[("plain", 10.0)] > 500


def test_heat_map_cells_speak_the_legends_unit():
    cells = pd.DataFrame([dict(variant=v, lr=lr, gain=1.0, acc=a, acc_std=0.0, good=a >= 0.9,
                               diverged=0, n_seeds=2)
                          for v, a in (("BN", 0.934), ("plain", 0.5)) for lr in (0.1, 1.0)])
    spec = charts.heatmap_chart(cells).to_dict()
    labels = {r["label"] for d in spec["datasets"].values() for r in d if "label" in r}
    assert labels == {"93%", "50%"}


def test_4b_every_run_stays_visible_where_runs_coincide():
    """B with ε·c² retraces A, and both B runs have nearly the same ‖W‖: each run is its own
    layer, bottom to top wide to thin (the upper line sits inside the lower one), each with
    its own dash, so no line and no legend entry is hidden under another."""
    steps = np.arange(1, 41)
    curves = pd.DataFrame([dict(run=r, step=int(s), loss=1.0 / s,
                                rel_diff=0.0 if r != "B, fixed ε" else 1e-3)
                           for r in ("A", "B, ε·c²", "B, fixed ε") for s in steps])
    norms = pd.DataFrame([dict(run=r, step=int(s), layer=1, w_norm=2.0 + 0.01 * s)
                          for r in ("A", "B, ε·c²", "B, fixed ε") for s in steps])
    for chart in (charts.effective_loss_chart(curves), charts.norm_chart(norms)):
        spec = chart.to_dict()
        lines = [layer for layer in spec["layer"]
                 if isinstance(layer.get("mark"), dict) and layer["mark"]["type"] == "line"
                 and "color" in layer.get("encoding", {})]
        runs = [spec["datasets"][layer["data"]["name"]][0]["run"] for layer in lines]
        assert runs == [r for r in charts.RUN_ORDER if r in runs] and len(runs) >= 2
        widths = [layer["mark"]["strokeWidth"] for layer in lines]
        assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths)
    dashes = [tuple(d) for _, d in charts.RUN_STYLE.values()]
    assert len(set(dashes)) == len(dashes)


def test_4c_step_axis_prints_whole_steps():
    rows = [dict(variant=v, lr=lr, seed=0, steps_to_target=100.0, diverged=False, learns=True)
            for v in ("BN", "plain") for lr in (0.1, 1.0)]
    text = json.dumps(charts.steps_chart(pd.DataFrame(rows), 500).to_dict())
    assert '"format": "d"' in text  # "500", never "5e+2"


def test_subtitles_grow_in_lecture_mode():
    """The numbers under a title at 13 px, 17 in lecture mode (ui.chart enlarges titles only);
    a chart without a subtitle is left as it is."""
    cells = pd.DataFrame([dict(variant=v, lr=lr, gain=1.0, acc=0.95, acc_std=0.0, good=True,
                               diverged=0, n_seeds=2) for v in ("BN", "plain") for lr in (0.1, 1)])
    chart = charts.heatmap_chart(cells, title=dict(text="Finding", subtitle="numbers"))
    assert chart.to_dict()["title"]["subtitleFontSize"] == 13
    big = charts.for_lecture(chart).to_dict()["title"]
    assert big["subtitleFontSize"] == 17 and big["text"] == "Finding"
    assert chart.to_dict()["title"]["subtitleFontSize"] == 13  # the original is unchanged
    assert charts.for_lecture(chart, big=False) is chart
    plain = charts.heatmap_chart(cells)
    assert charts.for_lecture(plain).to_dict() == plain.to_dict()
