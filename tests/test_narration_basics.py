"""Page 1's sentences follow the numbers: fed per-seed results where a comparison flips, the
sentence flips with it (bnjax.narration.basics). No training here: synthetic tables."""
import re

import numpy as np
import pandas as pd

from bnjax.narration import basics as say

CHANCE = 0.102
# Numbers of the size the default view measures (seeds 0-2, 300 steps).
BASE = {"acc_train_batch1": [0.096, 0.096, 0.096], "acc_train_batch8": [0.82, 0.848, 0.843],
        "acc_train_batch64": [0.961, 0.967, 0.964], "acc_train_full": [0.972, 0.983, 0.978],
        "acc_eval_ema_0.9": [0.972, 0.98, 0.976], "acc_eval_ema_0.99": [0.969, 0.98, 0.976],
        "acc_eval_ema_0.999": [0.844, 0.896, 0.893], "acc_eval_population": [0.972, 0.978, 0.977],
        "logit_diff_eval": [0.0, 0.0, 0.0], "logit_diff_train": [9.6, 7.8, 21.9],
        "ema_gap_0.9": [0.018, 0.014, 0.02], "ema_gap_0.99": [0.037, 0.03, 0.035],
        "ema_gap_0.999": [0.395, 0.37, 0.38]}


def frame(**changes) -> pd.DataFrame:
    cols = {k: changes.get(k, v) for k, v in BASE.items()}
    return pd.DataFrame({"seed": [0, 1, 2], "diverged": [False] * 3, **cols})


def test_the_short_answer_states_this_runs_numbers_with_their_spread():
    a = say.short_answer(frame(), CHANCE)
    assert "the net scores 97.6% (97.2–97.8)" in a
    assert "9.6% on every seed, about as good as chance (10.2%)" in a
    assert "depends on its image alone" in a
    b = say.short_answer(frame(acc_eval_population=[0.95, 0.96, 0.94]), CHANCE)
    assert "95.0% (94.0–96.0)" in b and a != b


def test_the_chance_comparison_flips():
    better = frame(acc_train_batch1=[0.5, 0.55, 0.6])
    assert "better than chance" in say.short_answer(better, CHANCE)
    assert "on 3 of 3 seeds" in say.measured_lines(better, CHANCE, 300)[0]
    worse = frame(acc_train_batch1=[0.01, 0.02, 0.03])
    assert "worse than chance" in say.short_answer(worse, CHANCE)
    assert "about as good as chance" in say.short_answer(frame(), CHANCE)
    assert "about as good as chance" in say.accuracy_title(frame(), CHANCE)[0]
    assert "better than chance" in say.accuracy_title(better, CHANCE)[0]


def test_independence_of_the_batch_is_claimed_only_when_measured():
    moved = frame(logit_diff_eval=[0.3, 0.2, 0.5])
    a = say.short_answer(moved, CHANCE)
    assert "depends on its image alone" not in a
    assert "still moved its outputs by 0.33 (0.2–0.5)" in a
    assert "bit for bit unchanged" not in say.logits_clause(moved)
    tiny = frame(logit_diff_eval=[1e-7, 3e-7, 0.0])
    assert "depends on its image alone" in say.short_answer(tiny, CHANCE)
    assert "≈ 0 (3e-07)" in say.logits_clause(tiny)
    assert "bit for bit unchanged on every seed" in say.logits_clause(frame())


def test_the_running_average_verdict_flips():
    assert say.lag_clause(frame(), 0.999).startswith("lags behind the population statistics by "
                                                    "9.8 (8.2–12.8) percentage points")
    caught_up = frame(**{"acc_eval_ema_0.999": [0.972, 0.977, 0.976]})
    assert say.lag_clause(caught_up, 0.999).startswith("matches the population statistics")
    ahead = frame(**{"acc_eval_ema_0.999": [0.99, 0.995, 0.993]})
    assert say.lag_clause(ahead, 0.999).startswith("beats the population statistics by")
    assert say.ema_title(frame(), 300)[3].startswith("lags behind")
    assert say.ema_title(caught_up, 300)[3].startswith("matches")
    assert max(len(line) for line in say.ema_title(frame(), 300)) <= 90  # none cut at 1280 px
    assert "decay 0.9 matches them" in " ".join(say.measured_lines(frame(), CHANCE, 300))


def test_every_accuracy_carries_its_spread():
    text = say.short_answer(frame(), CHANCE) + " ".join(say.measured_lines(frame(), CHANCE, 300))
    for m in re.finditer(r"\d+\.\d%", text):
        rest = text[m.end():m.end() + 20]
        assert rest.startswith(" (") or rest.startswith(" on every seed") or \
            text[max(0, m.start() - 12):m.start()].endswith("chance ("), (m.group(), rest)
    assert say.acc(frame(acc_train_batch1=[0.1, np.nan, 0.12]), "acc_train_batch1") == \
        "11.0% (10.0–12.0)"


def test_a_net_that_diverged():
    ps = frame()
    ps["diverged"] = True
    for col in BASE:
        ps[col] = np.nan
    assert "diverged on every seed" in say.short_answer(ps, CHANCE)
    lines = say.measured_lines(ps, CHANCE, 300)
    assert lines[0].startswith("The net diverged on 3 of 3 seeds")
    assert "nan" not in " ".join(lines).lower()
    one = frame()
    one.loc[1, "diverged"] = True
    for col in BASE:
        one.loc[1, col] = np.nan
    assert say.measured_lines(one, CHANCE, 300)[0].startswith("The net diverged on 1 of 3")
    assert "diverged" not in say.short_answer(one, CHANCE)


def test_titles():
    assert say.steps_title(2, 5, 64, 0, -0.27, 2.09, explain=False) == [
        "One batch of 64 (seed 0), layer 2, unit 5: μ_B = −0.27, σ²_B = 2.09"]
    gaps = say.ema_title(frame(), 300)
    # three digits: at two, decay 0.9's spread read "0.02 (0.01–0.02)"
    assert gaps[1] == ("decay 0.9: 0.017 (0.014–0.020), 0.99: 0.034 (0.030–0.037), "
                       "0.999: 0.382 (0.370–0.395)")


def test_the_first_charts_title_states_the_short_answers_numbers():
    """The chart under the short answer shows the numbers it quotes, and its verdict flips."""
    t = say.headline_title(frame(), CHANCE)
    a = say.short_answer(frame(), CHANCE)
    assert "97.6% (97.2–97.8)" in t[0] and "97.6% (97.2–97.8)" in a
    assert "9.6% on every seed, about as good as chance" in t[1]
    assert "better than chance" in say.headline_title(frame(acc_train_batch1=[0.5, 0.55, 0.6]),
                                                      CHANCE)[1]
