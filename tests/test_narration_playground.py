"""The Playground's words and health monitors: dead units are units off for every example, the
short answer's comparatives flip when the per-seed numbers flip, and its numbers are the run's."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from bnjax.data import load_digits
from bnjax.experiments import playground as exp
from bnjax.narration import playground as say
from bnjax.nn import MLPSpec, mlp_init
from bnjax.probes import dead_units, flat, health_runs, saturation

# ---------------------------------------------------------------------------- dead units


def test_a_relu_layer_half_zero_per_example_has_no_dead_unit():
    """The old "dead 53%": about half of a ReLU layer's outputs are 0 on any example, by design;
    that is not a dead unit. A unit is dead only if it is 0 on every example."""
    rng = np.random.default_rng(3)
    a = np.maximum(rng.normal(size=(1000, 64)), 0.0)  # each unit on for about half the examples
    assert 0.45 < saturation(a, "relu") < 0.55
    assert dead_units(a, "relu") == 0.0
    a[:, [5, 9]] = 0.0  # two units off for every example
    assert dead_units(a, "relu") == pytest.approx(2 / 64)
    a[0, 5] = 0.1  # active on one example out of 1000: alive
    assert dead_units(a, "relu") == pytest.approx(1 / 64)


def test_saturation_is_defined_per_activation():
    a = np.array([[0.98, -0.99, 0.5, 0.96],
                  [-0.975, 0.999, 0.97, -0.2]])
    assert flat(a, "tanh").tolist() == [[True, True, False, False], [True, True, False, False]]
    assert saturation(a, "tanh") == 0.5
    assert dead_units(a, "tanh") == 0.5  # units 0 and 1: saturated on every example
    s = np.array([[0.01, 0.99, 0.5, 0.029], [0.02, 0.98, 0.03, 0.5]])
    assert flat(s, "sigmoid").tolist() == [[True, True, False, True], [True, True, False, False]]
    assert dead_units(s, "sigmoid") == 0.5
    with pytest.raises(ValueError):
        flat(a, "gelu")
    with pytest.raises(ValueError):
        dead_units(a[0], "relu")  # a single example says nothing about "every example"


def test_a_unit_killed_by_its_bias_is_found_dead_on_the_training_set():
    """A plain net whose layer-1 unit 3 has a bias of -1000 outputs 0 for every digit: the
    monitor (activations on all 1257 training digits) counts exactly that unit."""
    data = load_digits()
    spec = MLPSpec(depth=2, width=16, bn=False)
    params, state = mlp_init(jax.random.key(0), spec, 1.0)
    h0 = params.hidden[0]
    params = params._replace(hidden=(h0._replace(dense=h0.dense._replace(
        b=h0.dense.b.at[3].set(-1e3))),) + tuple(params.hidden[1:]))
    stack = lambda t: jax.tree.map(lambda v: v[None], t)  # noqa: E731  one run
    h = health_runs(stack(params), stack(state), jnp.asarray(data.x_train),
                    jnp.asarray(data.y_train), spec)
    a = np.asarray(h.a[0][0])
    assert a.shape == (1257, 16)
    assert dead_units(a, "relu") == pytest.approx(1 / 16)
    assert saturation(a, "relu") > dead_units(a, "relu")  # zeros of live units count there only


def test_steps_to_level():
    loss = np.array([np.linspace(2.0, 0.0, 1000), np.full(1000, 0.5)])
    loss[0, 600:] = np.nan  # a run that diverged keeps its last finite steps
    out = exp.steps_to_level(loss, 0.3)
    assert np.isnan(out[1])
    assert np.isnan(out[0])  # it diverged at step 600, before reaching 0.3
    loss[0, 600:] = np.linspace(2.0, 0.0, 1000)[600:]
    w = 10  # max(5, 1000 // 100): the trailing window of the smoothing
    first = np.flatnonzero(np.convolve(loss[0], np.ones(w) / w, "valid") < 0.3)[0]
    assert exp.steps_to_level(loss, 0.3)[0] == first + w
    assert 840 <= first + w <= 860  # the line crosses 0.3 at step 850


def test_steps_to_level_is_the_last_crossing():
    """A loss that dips below the level and comes back above has not got there: the step
    counted is the one after which it stays below (the old first crossing said "after 51 steps"
    of a plain net whose loss went back above 0.1 from step 180 to 450)."""
    steps = 1000
    dip = np.full(steps, 0.05)
    dip[:50] = 1.0
    dip[180:450] = 0.5  # back above 0.3
    straight = np.full(steps, 0.05)
    straight[:200] = 1.0
    out = exp.steps_to_level(np.stack([dip, straight]), 0.3)
    w = 10  # the trailing window of the smoothing: it ends about w steps after the jump
    assert 450 <= out[0] <= 450 + w and 200 <= out[1] <= 200 + w  # not about 50 for the dip
    # the comparison follows: the dipping net is the slower one, and flips when it doesn't dip
    t = say.training_sentence(frame(steps_to_level=([out[0]] * 3, [out[1]] * 3)), 0.3, steps)
    assert "BN trained **slower**" in t and f"loss below 0.3 for good: after {out[0]:.0f} steps" in t
    dip[180:450] = 0.05
    out = exp.steps_to_level(np.stack([dip, straight]), 0.3)
    t = say.training_sentence(frame(steps_to_level=([out[0]] * 3, [out[1]] * 3)), 0.3, steps)
    assert 50 <= out[0] <= 50 + w and "BN trained **faster**" in t


# ---------------------------------------------------------------------------- sentences flip

CONFIG = exp.PlaygroundConfig()


def frame(**per_variant) -> pd.DataFrame:
    """Per-seed rows for BN and plain: keyword `acc=([bn...], [plain...])` etc."""
    defaults = dict(acc=([0.98, 0.975, 0.983], [0.965, 0.968, 0.972]),
                    final_loss=([2e-3, 1e-3, 3e-3], [1e-5, 1.2e-5, 9e-6]),
                    steps_to_level=([50, 55, 45], [130, 150, 105]),
                    diverged=([0, 0, 0], [0, 0, 0]),
                    dead=([0.0, 0.0, 0.0], [0.03, 0.005, 0.075]),
                    saturation=([0.53, 0.53, 0.54], [0.72, 0.8, 0.71]),
                    update=([-3.4, -3.3, -3.5], [-5.6, -5.5, -5.7]))
    defaults.update(per_variant)
    rows = []
    for i, v in enumerate(("BN", "plain")):
        for s in range(3):
            rows.append(dict(variant=v, seed=s, **{k: float(val[i][s])
                                                    for k, val in defaults.items()}))
    return pd.DataFrame(rows)


SUMMARY = {"loss_level": 0.1}


def answer(per_seed, config=CONFIG):
    return say.short_answer(config, per_seed, SUMMARY)


def test_accuracy_comparative_flips_with_the_data():
    up = frame()
    assert "accuracy is **higher**" in answer(up) and "on 3 of 3 seeds" in answer(up)
    down = frame(acc=([0.965, 0.968, 0.972], [0.98, 0.975, 0.983]))
    assert "accuracy is **lower**" in answer(down)
    mixed = frame(acc=([0.98, 0.96, 0.97], [0.97, 0.97, 0.97]))
    assert "**about the same**" in answer(mixed)
    assert say.accuracy_title(up)[0].endswith("higher than plain's")
    assert say.accuracy_title(down)[0].endswith("lower than plain's")


def test_speed_and_loss_flip_and_their_connective_follows():
    base = frame()
    a = answer(base)
    assert "BN trained **faster**" in a and " but ended with **the higher** training loss" in a
    # plain's loss prints as "≈ 0 (1e-05)": no ratio to float32 noise
    assert say.loss_title(base, SUMMARY, 2000)[0] == "Training loss: plain ends lower, ≈ 0"
    assert "×" not in say.loss_title(base, SUMMARY, 2000)[0]
    real = frame(final_loss=([2e-1, 1e-1, 3e-1], [1e-3, 1.2e-3, 9e-4]))
    assert say.loss_title(real, SUMMARY, 2000)[0] == "Training loss: plain ends 194× lower"
    flipped = frame(steps_to_level=([130, 150, 105], [50, 55, 45]),
                    final_loss=([1e-5, 1.2e-5, 9e-6], [2e-3, 1e-3, 3e-3]))
    b = answer(flipped)
    assert "BN trained **slower**" in b and " but ended with **the lower** training loss" in b
    assert say.loss_title(flipped, SUMMARY, 2000)[0].startswith("Training loss: BN ends")
    both = frame(final_loss=([1e-5, 1.2e-5, 9e-6], [2e-3, 1e-3, 3e-3]))
    assert "**faster**" in answer(both) and " and ended with **the lower**" in answer(both)
    never = frame(steps_to_level=([50, 55, 45], [np.nan] * 3))
    assert "BN trained **faster**" in answer(never) and "not within 2000" in answer(never)


def test_divergence_is_said_and_changes_the_answer():
    gone = frame(diverged=([0, 0, 0], [1, 1, 1]), acc=([0.98, 0.97, 0.98], [np.nan] * 3),
                 final_loss=([2e-3, 1e-3, 3e-3], [np.nan] * 3),
                 steps_to_level=([50, 55, 45], [np.nan] * 3),
                 dead=([0.0] * 3, [np.nan] * 3), update=([-3.4] * 3, [np.nan] * 3))
    a = answer(gone)
    assert "the plain net diverged on all 3 seeds (its loss became infinite)" in a
    assert "while BN reached **97.7% (97.0–98.0%)** test accuracy" in a
    assert "Neither diverged" not in a and "Neither diverged" in answer(frame())
    some = frame(diverged=([1, 0, 0], [0, 0, 0]), acc=([np.nan, 0.97, 0.98], [0.96] * 3))
    assert "Diverged (the loss became infinite): BN on 1 of 3 seeds." in answer(some)
    stuck = frame(diverged=([0, 0, 0], [1, 1, 1]), acc=([0.1, 0.11, 0.09], [np.nan] * 3))
    assert "BN did not, but stayed near chance with 10.0% (9.0–11.0%) test accuracy" in \
        answer(stuck)
    lines = say.verdict_lines(gone, SUMMARY, CONFIG)
    assert lines[1] == "plain net: diverged on every seed."


def test_health_monitor_flips_and_follows_the_activation():
    health = say.health_sentence
    assert "(**fewer with BN**)" in health(frame(), "relu")
    more = frame(dead=([0.03, 0.005, 0.075], [0.0, 0.0, 0.0]))
    assert "(**more with BN**)" in health(more, "relu")
    a = health(frame(), "tanh")
    assert "saturated outputs (|output| > 0.97)" in a and "**less with BN**" in a
    assert "dead units" not in a
    assert "update:data ratio BN 4e-04 (3e-04–5e-04), plain 3e-06 (2e-06–3e-06)" in \
        health(frame(), "relu")


def test_the_short_answer_keeps_to_the_plain_comparison():
    """Accuracy, loss, speed and divergence: the health monitors' jargon is said in their own
    section, not in the short answer."""
    a = answer(frame())
    assert "accuracy is **higher**" in a and "trained **faster**" in a
    assert "update:data" not in a and "dead units" not in a and "rule of thumb" not in a


def test_numbers_print_with_their_seed_spread():
    assert say.pct([0.98, 0.975, 0.983]) == "97.9% (97.5–98.3%)"
    assert say.pct([0.0, 0.0, 0.0]) == "0%"
    assert say.loss([1e-5, 1.2e-5, 9e-6]) == "≈ 0 (1e-05; seeds 9e-06–1e-05)"
    assert say.loss([2e-3, 1e-3, 3e-3]) == "0.002 (0.001–0.003)"
    assert say.loss([2.301, 2.302, 2.303]) == "2.3"  # the seeds agree to the digits shown
    assert say.pct([0.5331, 0.5333, 0.5329]) == "53.3%"
    assert say.sci([1e-30, 1e-30]) == "0"  # weights that no longer move
    assert say.steps([50, 55, np.nan], 2000) == "52 (50–55) steps (1 of 3 seeds never)"


# ---------------------------------------------------------------------------- a real run

SMALL = exp.PlaygroundConfig(depth=2, width=32, steps=200)


@pytest.fixture(scope="module")
def runs():
    return {seed: exp.run_playground(dataclasses.replace(SMALL, seed=seed)) for seed in (0, 7)}


def test_the_short_answer_is_built_from_the_run_and_changes_with_the_seed(runs):
    texts = {}
    for seed, r in runs.items():
        t = say.short_answer(r.config, r.per_seed, r.summary)
        texts[seed] = t
        acc_bn = r.per_seed[r.per_seed.variant == "BN"].acc
        acc_pl = r.per_seed[r.per_seed.variant == "plain"].acc
        assert say.pct(acc_bn) in t and say.pct(acc_pl) in t
        assert f"{r.summary['acc_bn']:.1%}" in t  # the seed mean, the summary's number
        assert "2×32 ReLU" in t and "3 seeds" in t
        assert set(r.per_seed.seed) == {seed, seed + 1, seed + 2}
    assert texts[0] != texts[7]


def test_the_run_measures_dead_units_on_every_seed(runs):
    r = runs[0]
    end = r.layers[r.layers.when == "end"]
    assert len(end) == 2 * 3 * 2  # nets x seeds x layers
    assert end.dead.between(0, 1).all() and end.saturation.between(0.2, 0.95).all()
    # BN's relu layers: zero outputs about half by design, and no dead unit
    bn = end[end.variant == "BN"]
    assert bn.saturation.between(0.35, 0.65).all() and (bn.dead < 0.1).all()
    for key in ("acc", "final_loss", "dead", "saturation", "update", "steps_to_level"):
        for v in ("bn", "plain"):
            assert key + "_" + v in r.summary


def test_every_preset_is_a_view_the_controls_can_show():
    """A preset link with a value no control offers would fall back to the default (the old
    "lr 0.5" preset did): every preset value is one of the page's options."""
    for name, config in exp.PRESETS.items():
        for field in dataclasses.fields(config):
            value, allowed = getattr(config, field.name), exp.OPTIONS.get(field.name)
            if allowed is None:
                continue
            if isinstance(allowed, tuple):  # a slider's range
                assert allowed[0] <= value <= allowed[1], (name, field.name, value)
            else:
                assert value in allowed, (name, field.name, value)


def _layers(dead_bn, dead_plain, grad_bn, grad_plain):
    rows = []
    for v, dead, grad in (("BN", dead_bn, grad_bn), ("plain", dead_plain, grad_plain)):
        for s in range(3):
            for layer in ("layer 1", "layer 2"):
                rows.append(dict(when="end", variant=v, seed=s, layer=layer, dead=dead[s],
                                 saturation=0.5, grad_std=grad[s]))
    return pd.DataFrame(rows)


def test_health_chart_titles_state_a_verdict_that_flips_and_fit():
    few = _layers([0, 0, 0], [0.03, 0.01, 0.05], [1e-5, 2e-5, 1e-5], [1e-7, 2e-7, 1e-7])
    # the ReLU histogram draws the outputs above 0: its title says that, not the dead units
    # (the table's heading does)
    assert say.monitor_heading(few, "end", "relu").startswith(
        "**Dead units per layer** (after training; mean and range over 3 seeds): "
        "**fewer with BN** (BN 0% on all 3 seeds, plain 3.0% (1.0–5.0%)")
    assert say.gradient_title(few, "end")[0] == "Weight gradients after training: larger with BN"
    many = _layers([0.03, 0.01, 0.05], [0, 0, 0], [1e-7, 2e-7, 1e-7], [1e-5, 2e-5, 1e-5])
    assert "**more with BN**" in say.monitor_heading(many, "end", "relu")
    assert say.gradient_title(many, "end")[0].endswith("smaller with BN")
    same = _layers([0, 0, 0], [0, 0, 0], [1e-5, 2e-5, 1e-5], [1.1e-5, 1.9e-5, 1e-5])
    assert "**about as many with BN as without**" in say.monitor_heading(same, "end", "relu")
    assert say.activation_title(same, "end", "relu")[0] == \
        "ReLU outputs above 0 after training: BN ≈ plain"
    on = _layers([0] * 3, [0] * 3, [1e-5] * 3, [1e-5] * 3)
    on.loc[on.variant == "plain", "saturation"] = 0.8  # plain: 20% of outputs above 0
    assert say.activation_title(on, "end", "relu")[0] == \
        "ReLU outputs above 0 after training: more with BN"
    assert "BN 50.0%, plain 20.0%" in " ".join(say.activation_title(on, "end", "relu")[1:])
    assert "Dead" not in say.activation_title(on, "end", "relu")[0]
    table = say.health_table(few, "end", "relu")
    assert table.loc["layer 1", "BN"] == "0% on all 3 seeds"
    assert table.loc["layer 1", "plain"] == "3.0% (1.0–5.0%)"
    assert say.gradient_title(same, "end")[0].endswith("BN ≈ plain")
    assert say.gradient_title(same, "end")[0].endswith("BN ≈ plain")
    up = say.update_title(frame())
    assert up[0] == "Update:data ratio at the end: higher with BN"
    down = say.update_title(frame(update=([-5.6, -5.5, -5.7], [-3.4, -3.3, -3.5])))
    assert down[0].endswith("lower with BN")
    # A two-panel chart is about 640 px wide: in lecture mode (21 px titles) 52 characters fit;
    # the subtitle lines wrap at the width the page asks for.
    for lines in (say.activation_title(few, "end", "sigmoid", 80),
                  say.gradient_title(few, "end", 80), say.update_title(frame(), 80)):
        assert len(lines[0]) <= 52 and all(len(x) <= 80 for x in lines[1:]), lines


def test_apart_on_average_but_not_on_every_seed_is_said_so_not_about_equal():
    """A 3x difference of the means that one seed does not share is no 'BN ≈ plain': the title
    says the direction and on how many seeds it holds (the Deep sigmoid preset's gradients)."""
    split = _layers([0] * 3, [0] * 3, [2.3e-5, 1.2e-5, 5.8e-6], [4.1e-6, 3.9e-6, 4.3e-6])
    title = say.gradient_title(split, "end")[0]
    title = " ".join(title) if isinstance(title, list) else title  # broken after its colon
    assert title.endswith("larger with BN, clearly on only 2 of 3 seeds"), title
    close = _layers([0] * 3, [0] * 3, [1e-5, 2e-5, 1e-5], [1.1e-5, 1.9e-5, 1e-5])
    assert say.gradient_title(close, "end")[0].endswith("BN ≈ plain")


def test_a_share_that_rounds_to_zero_is_not_printed_as_zero():
    assert say.pct([0.0003, 0.0002, 0.0004]) == "< 0.1%"
    assert say.pct_seeds([0.0003, 0.0002, 0.0004]) == "< 0.1% on all 3 seeds"
    assert say.pct([0.0, 0.0, 0.0]) == "0%" and say.pct([0.5, 0.6]) == "55.0% (50.0–60.0%)"
