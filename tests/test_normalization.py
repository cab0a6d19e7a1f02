"""Page 7, "Batch or normalization?": the issue's claims over seeds 0, 1, 2 (means), the
definitions behind them, smoke runs of every preset, the charts, the page under AppTest.

Each experiment runs once per module at its default view (seeds 0-2), fetched through the
page's cache (`computed`): tests/conftest.py runs this file with the page's AppTest tests, so the
page's own runs, trained once. The small-batch claim is about batch 4 (read from the page's
ladder); the whole batch-size ladder's claims are a `slow` test.
"""
import json
import math

import jax
import numpy as np
import pandas as pd
import pytest

from bnjax.charts import normalization as charts
from bnjax.experiments import normalization as exp
from bnjax.narration import normalization as say
from bnjax.nn import MLPSpec, mlp_init
from tests.apphelp import charts as page_charts
from tests.apphelp import computed, palette_problems, render, texts

PAGE = "pages/7_Batch_or_normalization.py"
ISSUE_KEYS = [f"{k}_{t}" for k in ("good_cells", "max_learn_lr") for t in ("bn", "ln", "plain")] \
    + ["noise_std_ln", "noise_slope_bn", "small_batch_gap"] \
    + [f"invariance_{c}_{t}" for c in ("unit_affine", "layer_scale", "random")
       for t in ("bn", "ln", "plain")] \
    + [f"depth_{k}_{t}" for k in ("rank", "grad_ratio") for t in ("bn", "ln", "plain")]


# ---------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def inv():
    return computed(exp.run_invariances, exp.InvarianceConfig())


@pytest.fixture(scope="module")
def noise():
    return computed(exp.run_noise_meter, exp.NoiseConfig())


@pytest.fixture(scope="module")
def small4():
    """The page's ladder (batch 4 among its sizes; every (net, batch size) trains on its own)."""
    config = exp.SmallBatchConfig()
    assert exp.GAP_BATCH in config.batch_sizes
    return computed(exp.run_small_batches, config)


@pytest.fixture(scope="module")
def land():
    return computed(exp.run_landscape, exp.LandscapeConfig())


@pytest.fixture(scope="module")
def deep():
    return computed(exp.run_depth, exp.DepthConfig())


def test_every_default_view_is_three_seeds_from_0():
    for config in exp.configs(exp.PageConfig()):
        assert (config.seed, config.n_seeds) == (0, 3), config


def test_the_summaries_have_the_issues_keys(inv, noise, small4, land, deep):
    summary = {**inv.summary, **noise.summary, **small4.summary, **land.summary,
               **deep.summary}
    missing = [k for k in ISSUE_KEYS if k not in summary]
    assert not missing, missing
    assert all(isinstance(summary[k], float) and math.isfinite(summary[k]) for k in ISSUE_KEYS)


# ---------------------------------------------------------------------------- Q1


def test_bn_is_invariant_to_a_per_unit_affine_change_and_a_layer_scale(inv):
    s = inv.summary
    assert s["invariance_unit_affine_bn"] <= 1e-4, s
    assert s["invariance_layer_scale_bn"] <= 1e-4, s
    assert s["invariance_random_bn"] >= 0.1, s


def test_ln_is_invariant_to_the_layer_scale_only(inv):
    s = inv.summary
    assert s["invariance_layer_scale_ln"] <= 1e-4, s
    assert s["invariance_unit_affine_ln"] >= 0.1, s
    assert s["invariance_random_ln"] >= 0.1, s


def test_plain_is_invariant_to_nothing(inv):
    s = inv.summary
    assert s["invariance_unit_affine_plain"] >= 0.1, s
    assert s["invariance_layer_scale_plain"] >= 0.5, s
    assert s["invariance_random_plain"] >= 0.1, s
    assert s["diverged_bn"] == s["diverged_ln"] == s["diverged_plain"] == 0


# ---------------------------------------------------------------------------- Q3


def test_ln_has_no_batch_noise_and_bn_falls_like_one_over_sqrt_b(noise):
    s = noise.summary
    assert s["noise_std_ln"] <= 1e-6, s  # the largest over every batch size and seed
    assert -0.58 <= s["noise_slope_bn"] <= -0.42, s
    assert s["noise_std_b4_bn"] > 0.3, s  # BN's noise is real, not a rounding error


def test_the_noise_meter_takes_q1s_nets_as_they_were_after_its_steps(monkeypatch):
    """The meter's BN and LN nets are Q1's (same seeds, batches and lr) after NOISE_STEPS
    steps: after Q1 trained, the meter trains nothing and measures the same bits."""
    monkeypatch.setattr(exp, "NOISE_STEPS", 20)
    small = dict(seed=11, n_seeds=2, depth=2, width=16)
    config = exp.NoiseConfig(steps=20, batches=8, batch_sizes=(4, 16), **small)
    exp._ON_THE_WAY.clear()
    alone = exp.run_noise_meter(config)
    exp.run_invariances(exp.InvarianceConfig(steps=40, **small))
    trained = []
    train = exp.runs.train_together
    monkeypatch.setattr(exp.runs, "train_together",
                        lambda *a, **k: trained.append(1) or train(*a, **k))
    again = exp.run_noise_meter(config)
    assert not trained
    pd.testing.assert_frame_equal(alone.std, again.std, check_exact=True)
    assert json.dumps(alone.summary) == json.dumps(again.summary)


def test_the_programs_after_training_compile_while_q1s_nets_train():
    """Q1's measuring programs (the changes of W1, the test accuracy) and the noise meter's
    compile in a background thread from Q1's first chunk on; the calls after training find
    them compiled (a shape no other test uses: the compiles happen here)."""
    import threading

    from jax import monitoring

    seen = []
    monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: seen.append((kw.get("fun_name"),
                                               threading.current_thread().name))
        if event == "/jax/core/compile/backend_compile_duration" else None)
    small = dict(seed=4, n_seeds=2, depth=3, width=24)
    exp.run_invariances(exp.InvarianceConfig(steps=40, **small))
    exp.run_noise_meter(exp.NoiseConfig(steps=20, **small))
    for program in ("jit(invariance_probe)", "jit(evaluate_nets)", "jit(noise_probe)"):
        threads = [t for name, t in seen if name == program]
        assert threads == ["bnjax-compile-after-training"], (program, seen)


def test_ln_beats_bn_at_batch_4_and_population_statistics_do_not_rescue_bn(small4):
    s = small4.summary
    assert s["small_batch_gap"] >= 0.03, s
    # The honest finding: the damage is done in training; other test-time statistics do not
    # undo it (measured at 10 epochs: population 0.76 vs running 0.76, LN 0.95). They may win
    # back a few points (0.00 to 0.04 on two CPUs' rounding), never most of LayerNorm's lead.
    assert s["population_rescue"] < 0.5 * s["small_batch_gap"], s
    assert s["acc_b4_ln"] - s["acc_b4_bn_population"] >= 0.03, s


@pytest.mark.slow
def test_the_whole_batch_size_ladder():
    """The default ladder (2, 4, 16, 64, 128; lr 0.05 at batch 64, times sqrt(B/64)): at batch 2
    (3,200 steps) BN learns almost nothing while LN learns (measured 0.18 vs 0.93), and by
    batch 64 BN has caught up with LN. With the same lr 0.05 at every batch size, batch 2 takes
    steps as large as batch 64's: LN and plain learn nothing there either (the preset)."""
    s = exp.run_small_batches(exp.SmallBatchConfig()).summary
    assert s["small_batch_gap"] >= 0.03, s
    assert s["acc_b2_ln"] - s["acc_b2_bn_running"] >= 0.3, s
    assert s["acc_b2_ln"] - s["acc_b2_bn_population"] >= 0.3, s
    assert s["acc_b64_bn_population"] >= s["acc_b64_ln"] - 0.01, s


def test_a_masked_batch_trains_as_a_batch_of_its_size():
    """Batches of 2 to 16 train in one program per net: 16 rows, the unused ones in no statistic
    and no loss (`_train_nets(pad=16)`). Such a run is the run at that batch size: the same
    batches, losses and final weights as a program compiled for batches of 4."""
    from bnjax.data import load_digits
    data = load_digits()
    args = ("sgd", 4, 0.05, (0, 1), 40, data, 3, 16)
    padded = exp._train_nets(exp.NETS, *args, pad=exp.PAD)
    plain = exp._train_nets(exp.NETS, *args)
    for name, _, _ in exp.NETS:
        assert padded[name].config.batch_size == exp.PAD and plain[name].config.batch_size == 4
        # the same sums in another order: equal to float rounding
        np.testing.assert_allclose(padded[name].loss[:, :10], plain[name].loss[:, :10],
                                   rtol=1e-5)
        if name != exp.BN:
            np.testing.assert_allclose(padded[name].loss, plain[name].loss, rtol=1e-5)
            for a, b in zip(jax.tree.leaves(padded[name].carry.params),
                            jax.tree.leaves(plain[name].carry.params)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        else:
            # BN over 4 examples amplifies rounding where a unit's batch variance is near 0
            # (on one CPU: 4e-5 at step 20, 6e-3 at step 22, then 1e-2 to 9e-2; on another
            # within 1e-2 to step 40): the run stays the same run on average
            np.testing.assert_allclose(padded[name].loss.mean(1), plain[name].loss.mean(1),
                                       rtol=0.03)


def test_only_batch_2_is_capped_and_the_page_says_so():
    from bnjax.data import load_digits
    n = len(load_digits().y_train)
    assert n == exp.N_TRAIN
    c = exp.SmallBatchConfig()
    (b, steps, epochs), = exp.capped_sizes(c, n)  # batch 2 only; 4 and up train 10 epochs
    assert (b, steps) == (2, c.max_steps) and 5.0 < epochs < 5.2
    assert exp.ladder_steps(c, 4, n) == exp.small_batch_steps(c.epochs, 4, n)[0]
    assert exp.capped_sizes(exp.replace(c, max_steps=0), n) == []
    r = exp.SmallBatchResult(c, pd.DataFrame(dict(variant=["LayerNorm", exp.BN_RUNNING],
                                                  batch_size=4, seed=0, acc=0.9,
                                                  diverged=False)), {})
    assert "(batch 2: 3,200 steps, 5.1 epochs)" in say.small_title(r)[1]


def test_the_learning_rate_scales_with_the_square_root_of_the_batch():
    c = exp.SmallBatchConfig(lr=0.05)
    assert exp.batch_lr(c, exp.LR_BATCH) == pytest.approx(0.05)
    assert exp.batch_lr(c, 2) == pytest.approx(0.05 * math.sqrt(2 / 64))
    assert exp.batch_lr(exp.replace(c, lr_scaling="none"), 2) == pytest.approx(0.05)


# ---------------------------------------------------------------------------- Q4


def test_good_cells_bn_then_ln_then_plain(land):
    s = land.summary
    assert s["n_cells"] == 21
    assert s["good_cells_bn"] >= s["good_cells_ln"] + 2, s
    assert s["good_cells_ln"] + 2 >= s["good_cells_plain"] + 4, s


def test_largest_lr_that_learns_bn_then_ln_then_plain(land):
    s = land.summary
    assert s["max_learn_lr_bn"] > s["max_learn_lr_ln"] > s["max_learn_lr_plain"], s


def test_ln_gets_stuck_near_ln_10_instead_of_diverging(land):
    s = land.summary
    assert s["beyond_runs_ln"] >= 3, s  # LN stops learning inside the sweep
    assert s["diverged_runs_ln"] == 0, s
    assert s["stuck_runs_ln"] >= s["beyond_runs_ln"] / 2, s
    assert s["diverged_runs_plain"] >= 1, s  # plain does diverge


def test_largest_learning_lr_is_monotone():
    lrs = [0.01, 0.1, 1.0, 10.0]
    assert exp.largest_learning_lr(lrs, [True, True, False, True]) == 0.1  # not 10
    assert exp.largest_learning_lr(lrs[::-1], [True, False, True, True]) == 0.1  # any order
    # too small to learn in the steps given: not a failure of the larger lrs (page 5's edge)
    assert exp.largest_learning_lr(lrs, [False, True, True, True]) == 10.0
    assert exp.largest_learning_lr(lrs, [False, True, False, True]) == 0.1
    assert exp.largest_learning_lr(lrs, [False, False, False, False]) == 0.0
    learns = exp.learns([1.0, 1.3, np.nan, 0.1], [2.4, 2.4, 2.4, 2.4], [False, False, True, False])
    assert learns.tolist() == [True, False, False, True]


# ---------------------------------------------------------------------------- depth


def test_only_bn_keeps_rank_and_its_gradients_grow_toward_the_input(deep):
    s = deep.summary
    assert s["depth"] == 50
    assert s["depth_rank_bn"] >= 30, s
    assert s["depth_rank_ln"] <= 10 and s["depth_rank_plain"] <= 10, s
    assert s["depth_grad_ratio_bn"] >= 1e3, s
    assert s["depth_grad_ratio_ln"] <= 3 and s["depth_grad_ratio_plain"] <= 3, s


def test_the_depth_is_traced_and_the_first_layers_do_not_depend_on_it(deep):
    size = exp.depth_probe._cache_size()
    shallow = exp.run_depth(exp.DepthConfig(depth=20))
    assert exp.depth_probe._cache_size() == size  # a new depth compiled nothing
    a = shallow.layers.set_index(["variant", "seed", "layer"]).grad_norm
    b = deep.layers.set_index(["variant", "seed", "layer"]).grad_norm
    # layer 1's activations are the same net's at any depth: its rank matches exactly
    ra = shallow.layers.set_index(["variant", "seed", "layer"])["rank"]
    rb = deep.layers.set_index(["variant", "seed", "layer"])["rank"]
    np.testing.assert_allclose(ra.xs(1, level="layer"), rb.xs(1, level="layer"), rtol=1e-6)
    assert not np.allclose(a.xs(1, level="layer"), b.xs(1, level="layer"))  # the loss differs


def test_probes_compiled_at_llvm_level_1_give_the_same_numbers(key):
    """The once-per-view probes compile at LLVM level 1 (half the compile time): the same
    numbers up to float rounding."""
    import functools
    import jax
    import jax.numpy as jnp
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 64)), jnp.float32)
    y = jnp.asarray(np.random.default_rng(1).integers(0, 10, size=(2, 32)))
    normals = tuple(np.stack(p) for p in zip(*[exp.depth_normals(s, 64, 16, 6)
                                                for s in (0, 1)]))
    for norm in ("batch", "layer"):
        f = functools.partial(exp._depth_probe, norm=norm, width=16, max_depth=6)
        args = (jnp.int32(4), jnp.float32(1.0))
        plain = jax.jit(jax.vmap(f, in_axes=(0, 0, 0, None, None)))(normals, x, y, *args)
        once, = exp.depth_probe(normals, x, y, *args, norms=(norm,), width=16, max_depth=6)
        for a, b in zip(plain, once):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_layer_norm_trains_through_train_runs_and_train_grid():
    """The spec is all it takes: the older runners train an LN net (and the optimizer's
    parameter labels cover LN's gamma and beta)."""
    from bnjax.data import load_digits
    from bnjax.grid import train_grid
    from bnjax.train import TrainConfig, hparams, train_runs
    config = TrainConfig(MLPSpec(depth=2, width=16, norm="layer"), "sgd")
    r = train_runs(config, hparams(lr=0.1), (0, 1), 200, load_digits(), chunk=100)
    assert np.isfinite(r.loss).all() and (r.loss[:, -20:].mean(1) < 0.5 * r.loss[:, 0]).all()
    assert r.carry.params.hidden[0].norm.gamma.shape == (2, 16)
    g = train_grid(config, [0.1], [1.0], (0,), 100, load_digits(), every=100)
    assert g.test_acc.shape == (1, 1) and g.test_acc[0, -1] > 0.5


def test_the_three_nets_share_their_initial_weights(key):
    params = {n: mlp_init(key, MLPSpec(depth=3, width=16, norm=n))[0]
              for n in ("batch", "layer", "none")}
    for layer in range(3):
        w = [np.asarray(params[n].hidden[layer].dense.w) for n in params]
        np.testing.assert_array_equal(w[0], w[1])
        np.testing.assert_array_equal(w[0], w[2])


# ---------------------------------------------------------------------------- presets, charts


def _tiny(config):
    """A preset's configs at smoke-test size: the same code paths, few steps."""
    inv, noise, small, land, deep = exp.configs(config)
    return (exp.replace(inv, steps=20, depth=2, width=16),
            exp.replace(noise, steps=20, batches=8, batch_sizes=(4, 16), depth=2, width=16),
            exp.replace(small, epochs=1, batch_sizes=(2, 32), depth=2, width=16),
            exp.replace(land, steps=20, lrs=(0.1, 3.0), gains=(1.0,), depth=2, width=16),
            exp.replace(deep, batch_size=32))


@pytest.mark.parametrize("name", list(exp.PRESETS))
def test_every_preset_runs_small(name):
    inv, noise, small, land, deep = (f(c) for f, c in zip(
        (exp.run_invariances, exp.run_noise_meter, exp.run_small_batches, exp.run_landscape,
         exp.run_depth), _tiny(exp.PRESETS[name])))
    n = exp.PRESETS[name].n_seeds
    assert len(inv.changes) == 3 * 3 * n and set(inv.changes.variant) == {"BN", "LayerNorm",
                                                                          "plain"}
    assert np.isfinite(noise.std["std"]).all() and set(noise.std.variant) == {"BN", "LayerNorm"}
    assert set(small.acc.variant) == {"BN", exp.BN_RUNNING, "LayerNorm", "plain"}
    assert len(land.cells) == 3 * 2 and "diverged" in land.sweep
    assert deep.summary["depth"] == exp.PRESETS[name].depth
    assert np.isfinite(deep.layers[["rank", "grad_norm"]].to_numpy()).all()
    assert say.short_answer(inv, noise, small, land, deep)


def _draw_the_page(inv, noise, small, land, deep) -> list:
    """Every chart and sentence page 7 builds from its five results, as the page calls them."""
    lt, gt = say.depth_titles(deep)
    out = [charts.invariance_chart(inv.changes, exp.CHANGE_SHORT, say.invariance_title(inv)),
           charts.invariance_chart(inv.changes, exp.CHANGE_SHORT, say.invariance_title(inv)[:1],
                                   height=110, compact=True),  # lecture mode's
           charts.noise_chart(noise.std, noise.summary.get("noise_c_bn"), say.noise_title(noise)),
           charts.small_batch_chart(small.acc, say.small_title(small)),
           charts.heatmaps_chart(land.cells, exp.GOOD, say.landscape_title(land)),
           charts.sweep_chart(land.sweep, exp.largest_on_every_seed(land),
                              land.summary["ln10"], say.sweep_title(land)),
           charts.curves_chart(land.curves, exp.showcase_lr(land), land.summary["ln10"],
                               say.curves_title(land, exp.showcase_lr(land))),
           charts.depth_rank_chart(deep.layers, lt), charts.depth_grad_chart(deep.layers, gt)]
    for chart in out:
        chart.to_dict()  # the spec builds (Altair validates it)
    text = [say.invariance_table(inv), *say.invariance_lines(inv), *say.noise_lines(noise),
            *say.small_lines(small), *say.landscape_lines(land), *say.depth_lines(deep),
            say.short_answer(inv, noise, small, land, deep)]
    assert all(isinstance(t, str) and t for t in text)
    return out


def _all_diverged(inv, noise, small, land, deep):
    """The five results as if every run had diverged (NaN measurements, diverged flags)."""
    import copy
    inv, noise, small, land, deep = (copy.deepcopy(r) for r in (inv, noise, small, land, deep))
    inv.changes["rel_change"] = np.nan
    inv.runs["diverged"] = True
    noise.std["std"] = np.nan
    noise.summary["noise_c_bn"] = float("nan")
    small.acc["acc"], small.acc["diverged"] = 0.0, True
    for df in (land.per_seed, land.sweep):
        df["diverged"], df["final_loss"], df["learns"] = True, np.nan, False
    land.cells["diverged"] = land.cells["n_seeds"]
    land.cells["acc"], land.cells["good"] = 0.0, False
    land.curves["loss"] = np.nan
    deep.layers["grad_norm"] = np.inf
    return inv, noise, small, land, deep


def test_hostile_views_draw_and_narrate_without_errors():
    """Views where nothing learns (4 steps; lrs too small or far too large), one seed, a large
    seed, depth 2, and the same results with every run diverged: every chart builds and every
    sentence is written (the page shows them; it must never show a traceback)."""
    common = dict(seed=998, n_seeds=1)
    small_net = dict(depth=2, width=16)
    results = (
        exp.run_invariances(exp.InvarianceConfig(steps=4, lr=0.2, **common, **small_net)),
        exp.run_noise_meter(exp.NoiseConfig(steps=4, batches=8, batch_sizes=(4, 16), layer=5,
                                            **common, **small_net)),
        exp.run_small_batches(exp.SmallBatchConfig(epochs=1, lr=100.0, batch_sizes=(2, 4),
                                                   **common, **small_net)),
        exp.run_landscape(exp.LandscapeConfig(steps=4, lrs=(0.003, 1e4), gains=(1.0,),
                                              sweep_extra=(1e5,), **common, **small_net)),
        exp.run_depth(exp.DepthConfig(depth=2, batch_size=16, **common)))
    land = results[3]
    assert not land.sweep.learns.any()  # nothing learns: no ticks on the sweep chart
    assert set(exp.largest_on_every_seed(land).values()) == {0.0}
    _draw_the_page(*results)
    _draw_the_page(*_all_diverged(*results))


def test_the_charts_follow_the_palette(inv, noise, small4, land, deep):
    largest = {v: float(exp.max_learn_lr_per_seed(land, v).min()) for v, _, _ in exp.NETS}
    built = [charts.invariance_chart(inv.changes, exp.CHANGE_SHORT, say.invariance_title(inv)),
             charts.noise_chart(noise.std, noise.summary["noise_c_bn"], say.noise_title(noise)),
             charts.small_batch_chart(small4.acc, say.small_title(small4)),
             charts.heatmaps_chart(land.cells, exp.GOOD, say.landscape_title(land)),
             charts.sweep_chart(land.sweep, largest, title=say.sweep_title(land)),
             charts.curves_chart(land.curves, exp.showcase_lr(land)),
             charts.depth_rank_chart(deep.layers, say.depth_titles(deep)[0]),
             charts.depth_grad_chart(deep.layers, say.depth_titles(deep)[1])]
    for chart in built:
        spec = chart.to_dict()
        assert not palette_problems(spec), palette_problems(spec)
        assert len(json.dumps(spec)) < 2_000_000
    heat = built[3].to_dict()
    assert [p.split(":")[0] for p in heat["facet"]["column"]["sort"]] == ["BN", "LayerNorm",
                                                                          "plain"]
    assert exp.showcase_lr(land) == 3.0  # BN learns at 3 on every seed; LN and plain do not


# ---------------------------------------------------------------------------- the page


def test_the_page_answers_first_and_the_depth_slider_reruns_only_its_section():
    """The default view with a 250-step landscape (the fixtures compiled every program; fewer
    steps train faster): the short answer is whole once every section is in; a new depth changes
    the depth section and nothing else. (tests/test_app.py renders the default view itself.)"""
    at = render(PAGE, steps="250")
    assert not at.exception, at.exception
    text = texts(at)
    assert "Short answer." in text and "It takes the batch" in text
    assert "Still training" not in text  # every section finished: the answer is whole
    drawn = page_charts(at)
    assert len(drawn) >= 8
    for c in drawn:
        assert not palette_problems(json.loads(c.proto.spec))
    before = [c.proto.spec for c in drawn]
    at.slider(key="depth").set_value(12).run()
    assert not at.exception, at.exception
    after = [c.proto.spec for c in page_charts(at)]
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    # the depth section's two charts, last on the page
    assert changed == [len(before) - 2, len(before) - 1], changed
    assert "At layer 12" in after[-2] and "W12" in after[-1]


def test_a_hostile_url_gets_messages_not_a_traceback():
    """One seed, a seed out of range, the largest learning rates (every run at batch 2
    diverges or learns nothing), the shortest landscape and the shallowest depth: the page
    renders every section, with a message where the URL was out of range."""
    at = render(PAGE, seed="999999", n_seeds="1", lr="0.2", sb_lr="0.1", sb_scaling="unchanged",
                steps="250", depth="2")
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    assert any("seed=999999" in w.value for w in at.warning)
    assert len(page_charts(at)) >= 8
