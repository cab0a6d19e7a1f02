"""Page 5, hyperparameter landscape: the claims of 4a-4d over seeds 0, 1, 2 (EXPERIMENTS.md,
issue 6), the grid trainer, smoke runs of every preset, the charts, the page under AppTest."""
import json

import jax
import numpy as np
import pytest

from bnjax.charts import landscape as charts
from bnjax.data import load_digits
from bnjax.experiments import landscape as exp
from bnjax.grid import MESH, grid_chunk, pair_chunk, train_grid
from bnjax.nn import MLPSpec
from bnjax import runs
from bnjax.train import TrainConfig
from tests.apphelp import charts as page_charts
from tests.apphelp import computed, render, texts

PAGE = "pages/5_Hyperparameter_landscape.py"
SEEDS = (0, 1, 2)


# ---------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def grid():
    """4a on seeds 0, 1, 2 in one grid per net: 8x64, SGD, 1000 steps, 7 lrs x 3 gains."""
    config = exp.LandscapeConfig(n_seeds=3)
    assert exp.grid_axes(config) == ([0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], [0.5, 1.0, 2.0])
    return exp.run_landscape(config)


@pytest.fixture(scope="module")
def sweep():
    """4c on seeds 0, 1, 2: 17 lrs from 0.01 to 100, gain 1, 500 steps."""
    return exp.run_faster(exp.FasterConfig(n_seeds=3))


@pytest.fixture(scope="module")
def smooth():
    """4d on seeds 0, 1, 2: the page's default view (`computed`: its own run, if it has
    rendered in this process)."""
    return computed(exp.run_smoothness, exp.SmoothnessConfig(n_seeds=3))


# ---------------------------------------------------------------------------- 4a claims


def test_bn_has_at_least_twice_the_good_cells(grid):
    """Pilot (2 seeds): BN 17/21 vs plain 7/21."""
    s = grid.summary
    assert s["n_cells"] == 21
    assert s["good_cells_bn"] >= 2 * s["good_cells_plain"], s
    assert s["good_cells_plain"] >= 1, s  # the plain net does train somewhere


def test_a_cell_at_exactly_90_percent_is_good_whatever_the_rounding():
    """Test accuracies are multiples of 1/540: three seeds at 486/540 average to 0.9 up to float32
    rounding, below or above it by the summation order. Labelled "90%", such a cell counts."""
    acc = np.full(3, 486 / 540, np.float32)
    for mean in (acc.mean(), np.float32(0.9) - np.float32(6e-8), np.nextafter(np.float32(0.9), 0)):
        assert exp.is_good(mean)
    assert not exp.is_good(np.float32(485 / 540))  # one digit fewer is not


def test_lr_1_gain_1_trains_with_bn_and_diverges_without(grid):
    s, cells = grid.summary, grid.cells
    assert s["acc_lr1_gain1_bn"] >= 0.9, s
    assert s["acc_lr1_gain1_plain"] < 0.2, s
    plain = cells[(cells.variant == "plain") & (cells.lr == 1.0) & (cells.gain == 1.0)]
    assert int(plain["diverged"].iloc[0]) == 3  # diverged on every seed, drawn as such


def test_best_bn_cell_is_as_good_as_best_plain(grid):
    s = grid.summary
    assert s["best_acc_bn"] >= s["best_acc_plain"] - 0.01, s


def test_grid_tables(grid):
    cells, curves = grid.cells, grid.curves
    assert len(cells) == 42 and set(cells.variant) == {"BN", "plain"}
    assert cells["acc"].between(0, 1).all() and (cells["n_seeds"] == 3).all()
    assert set(curves.seed) == set(SEEDS)
    assert len(curves) == 2 * 21 * 3 * 200  # every 5th step


# ---------------------------------------------------------------------------- 4b claims


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_effective_lr_identity_is_exact_with_scaled_eps(c):
    """Hidden W times c, their lr times c^2, eps times c^2: the same run at every step (the
    pilot measured a max relative difference of 0). With a fixed eps they separate: chaos."""
    r = exp.run_effective_lr(exp.EffectiveLrConfig(c=c))
    s = r.summary
    assert s["effective_lr_max_rel_diff"] <= 1e-6, s
    assert s["w_norm_ratio_start"] == pytest.approx(c, rel=1e-6)
    assert s["effective_lr_fixed_eps_max_rel_diff"] > 1e-3, s  # the honest negative result
    assert np.isfinite(r.curves["loss"]).all()


# ---------------------------------------------------------------------------- 4c claims


def _per_seed(sweep, column):
    """The monotone edges per seed (`exp.monotone_edge`), one column per net."""
    return sweep.seeds.pivot(index="seed", columns="variant", values=column)


def test_bn_learns_at_3x_and_stays_finite_at_10x_larger_lr(sweep):
    """Pilot (seed 0, 1000 steps): learns up to 0.56 plain vs 3.2 BN; finite to 0.56 vs 56.
    Both edges are monotone: every smaller lr of the sweep learns (stays finite) too."""
    learns, finite = _per_seed(sweep, "learn_lr_hi"), _per_seed(sweep, "finite_lr_hi")
    assert (learns["BN"] >= 3 * learns["plain"]).all(), learns
    assert (finite["BN"] >= 10 * finite["plain"]).all(), finite
    s = sweep.summary
    assert s["max_stable_lr_bn"] >= 3 * s["max_stable_lr_plain"], s
    assert s["max_finite_lr_bn"] >= 10 * s["max_finite_lr_plain"], s
    # BN's finite range reaches past where it learns: finite is not the same as learning
    assert (finite["BN"] > learns["BN"]).all()


def test_the_largest_lrs_are_monotone_in_the_sweep(sweep):
    """No lr below an edge fails: the page's "largest lr that stays finite" can never be a
    lucky finite run above a diverged one (BN at 100 after diverging at 56)."""
    t, rows = sweep.seeds, sweep.sweep
    for _, e in t.iterrows():
        runs = rows[(rows.variant == e["variant"]) & (rows.seed == e["seed"])]
        assert runs[runs.lr <= e["finite_lr_hi"] * (1 + 1e-6)]["finite"].all()
        assert runs[(runs.lr >= e["learn_lr_lo"] * (1 - 1e-6))
                    & (runs.lr <= e["learn_lr_hi"] * (1 + 1e-6))]["learns"].all()
        above = runs[runs.lr > e["finite_lr_hi"] * (1 + 1e-6)]
        assert len(above) == 0 or not above.sort_values("lr")["finite"].iloc[0]
        first = e["first_diverged_lr"]
        assert np.isnan(first) or first > e["finite_lr_hi"]


def test_bn_reaches_90_percent_in_fewer_steps_over_the_sweep(sweep):
    """Pilot (seed 0): 22 steps BN at lr 1 vs ~80 plain at lr 0.1-0.18 (we evaluate every 10)."""
    s = sweep.summary
    assert s["fewest_steps_bn"] < s["fewest_steps_plain"], s


def test_at_a_matched_small_lr_bn_is_not_faster(sweep):
    """Pilot (lr 0.05, steps 100-350): plain 0.06 vs BN 0.22. Asserted so nobody "fixes" it."""
    s = sweep.summary
    assert s["match_loss_plain"] <= s["match_loss_bn"], s


# ---------------------------------------------------------------------------- 4d claims


def test_bn_is_smoother_along_the_gradient(smooth):
    """Santurkar Fig. 4. Pilot ratios plain/BN: loss range ~28, gradient change ~8, beta ~1.7."""
    s = smooth.summary
    assert s["loss_range_ratio"] > 5, s
    assert s["grad_change_ratio"] > 3, s
    assert s["beta_bn"] < s["beta_plain"], s  # the smallest ratio: direction only


def test_plain_is_rougher_early_and_smoother_after_the_curves_cross(smooth):
    """The whole-run ratio hides a crossing: measured (seeds 0-2) loss range plain/BN 9-21x
    before step 250-450 and 0.08-0.22x after, when plain has nearly fit its batches (training
    loss 0.004 vs BN's 0.06). Asserted per seed, so the page's "until step N" is earned."""
    s, t = smooth.summary, smooth.seeds
    assert 100 <= s["loss_range_cross_step"] <= 500, s
    for m in ("loss range", "gradient change"):
        r = t[t.measure == m]
        assert r["cross_step"].between(100, 550).all(), r
        assert (r["early_plain"] > 3 * r["early_bn"]).all(), r
        assert (r["late_plain"] < 0.7 * r["late_bn"]).all(), r
    r = t[t.measure == "loss range"]
    assert (r["train_late_plain"] < r["train_late_bn"]).all(), r


def test_smoothness_tables(smooth):
    assert set(smooth.bands.measure) == set(exp.MEASURES)
    assert sorted(smooth.probes.step.unique()) == list(range(0, 600, 50))
    assert (smooth.bands["lo"] <= smooth.bands["hi"]).all()


# ---------------------------------------------------------------------------- the grid trainer

SMALL = TrainConfig(MLPSpec(depth=2, width=16, bn=True), optimizer="sgd")


def test_grid_order_determinism_progress_and_one_program():
    data = load_digits()
    calls = []
    g = train_grid(SMALL, [0.1, 30.0], [1.0, 2.0], [0, 1], 40, data, every=10, chunk=20,
                   group=2, progress=lambda f, m: calls.append((f, m)))
    np.testing.assert_allclose(g.lr[:3], [0.1, 0.1, 0.1])
    assert list(g.gain[:3]) == [1.0, 1.0, 2.0] and list(g.seed[:3]) == [0, 1, 0]
    assert g.loss.shape == (8, 40) and g.test_acc.shape == (8, 4) and g.w_norm.shape == (8, 4, 2)
    assert calls[-1] == (1.0, "8 of 8 networks trained")
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    # a single run is padded to the call's shape and trained like any other
    one = train_grid(SMALL, [0.1], [1.0], [0], 40, data, every=10, chunk=20, group=2)
    assert one.loss.shape == (1, 40) and np.isfinite(one.loss).all()
    # same config, same numbers; new lrs, gains and seeds reuse the compiled program
    before = grid_chunk._cache_size()
    again = train_grid(SMALL, [0.1, 30.0], [1.0, 2.0], [0, 1], 40, data, every=10, chunk=20,
                       group=2)
    np.testing.assert_array_equal(g.loss, again.loss)
    train_grid(SMALL, [0.05, 3.0], [0.5, 1.5], [4, 5], 40, data, every=10, chunk=20, group=2)
    assert grid_chunk._cache_size() == before
    # both devices share the work
    assert MESH.size == len(jax.devices())


def test_single_runs_compile_once_for_every_device():
    """Group 1 trains one run per device per call, all devices in one program: a new grid of
    the same architecture compiles nothing."""
    data = load_digits()
    config = SMALL._replace(optimizer="momentum")
    train_grid(config, [0.1, 0.3, 1.0], [1.0], [0], 40, data, every=10, chunk=20)
    programs = (pair_chunk, runs.draw_program, runs.build_program)
    before = [p._cache_size() for p in programs]
    g = train_grid(config, [0.01, 3.0], [0.5, 1.5, 2.0], [7, 8], 40, data, every=10, chunk=20)
    assert [p._cache_size() for p in programs] == before
    assert g.loss.shape == (12, 40) and not np.isnan(g.loss[:, :5]).any()


def test_a_diverged_run_is_flagged_with_nan_curves():
    data = load_digits()
    g = train_grid(SMALL._replace(spec=SMALL.spec._replace(bn=False)), [1e4], [4.0], [0], 40,
                   data, every=10, group=1)
    assert g.diverged.all()
    assert np.isnan(g.loss[0, -1]) and np.isnan(g.test_acc[0, -1])


# ---------------------------------------------------------------------------- the runner


def test_page_5_shares_one_training_program_and_draws_live():
    """4a's grid, 4c's sweep, 4d's runs and 4b's fixed-ε runs of one architecture train with
    one compiled program (lr, gain, the hidden-W lr scale are traced; only 4b's ε·c² net has
    its own); a progress callback with a third argument gets partial results: heat-map cells
    as they finish (ending with the final cells), 4c's and 4d's curves as they grow."""
    small = dict(depth=2, width=16)
    cells = []
    a = exp.run_landscape(exp.LandscapeConfig(n_seeds=1, steps=100, **small),
                          progress=lambda f, m, p=None: p is not None and cells.append(p.cells))
    sizes = [len(c) for c in cells]
    assert sizes == sorted(sizes) and 0 < sizes[1] < len(a.cells) and sizes[-1] == len(a.cells)
    assert cells[-1].equals(a.cells)
    before = runs.chunk_program._cache_size()
    grown = []
    exp.run_faster(exp.FasterConfig(steps=40, n_lrs=3, **small),
                   progress=lambda f, m, p=None: grown.append(int(p.curves.loss.notna().sum())))
    assert grown == sorted(grown) and grown[0] < grown[-1]
    bands = []
    s = exp.run_smoothness(exp.SmoothnessConfig(steps=150, n_seeds=1, **small),
                           progress=lambda f, m, p=None: bands.append(len(p.bands)))
    assert bands == sorted(bands) and bands[-1] == len(s.bands)
    exp.run_effective_lr(exp.EffectiveLrConfig(c=2.0, steps=20, **small))
    assert runs.chunk_program._cache_size() == before + 1  # the ε·c² net only


def test_the_same_grid_whatever_the_runs_in_flight(monkeypatch):
    """The numbers do not depend on how many runs train side by side."""
    config = exp.LandscapeConfig(n_seeds=1, steps=60, depth=2, width=16, lr_min=0.3)
    first = exp.run_landscape(config)
    monkeypatch.setattr(exp, "GRID_IN_FLIGHT", 1)
    again = exp.run_landscape(config)
    assert first.cells.equals(again.cells) and first.curves.equals(again.curves)


# ---------------------------------------------------------------------------- smoke runs


TINY = dict(depth=2, width=16, steps=40)


@pytest.mark.parametrize("name", list(exp.PRESETS))
def test_every_preset_runs_small(name):
    config = exp.replace(exp.PRESETS[name], n_seeds=1, **TINY)
    r = exp.run_landscape(config)
    lrs, gains = exp.grid_axes(config)
    assert len(r.cells) == 2 * len(lrs) * len(gains)
    assert r.summary["n_cells"] == len(lrs) * len(gains)
    assert {"good_cells_bn", "good_cells_plain", "best_acc_bn", "best_acc_plain"} <= set(r.summary)
    assert r.cells["acc"].between(0, 1).all()
    assert set(r.curves.columns) == {"variant", "lr", "gain", "seed", "step", "loss"}


def test_every_run_function_runs_small():
    progress = []
    e = exp.run_effective_lr(exp.EffectiveLrConfig(**TINY),
                             progress=lambda f, m: progress.append(m))
    assert progress[-1] == "3 of 3 networks trained"
    assert set(e.curves.run) == set(exp.EFFECTIVE_RUNS) and len(e.norms)
    f = exp.run_faster(exp.FasterConfig(depth=2, width=16, steps=40, n_lrs=5))
    assert len(f.sweep) == 10 and {"learns", "finite", "steps_to_target"} <= set(f.sweep.columns)
    assert {"max_stable_lr_bn", "max_stable_lr_plain", "max_finite_lr_bn",
            "fewest_steps_bn"} <= set(f.summary)
    s = exp.run_smoothness(exp.SmoothnessConfig(depth=2, width=16, steps=100, n_seeds=1))
    assert np.isfinite([s.summary["loss_range_ratio"], s.summary["grad_change_ratio"]]).all()
    assert exp.follow(exp.LandscapeConfig(steps=100))[1].steps == 100


def test_no_url_trains_for_minutes():
    biggest = exp.LandscapeConfig(depth=10, width=128, steps=2000, n_seeds=3, lr_min=0.001,
                                  lr_max=10.0, gain_min=0.25, gain_max=4.0)
    config, note = exp.within_budget(biggest)
    assert note and exp._work(config) <= exp.MAX_WORK
    assert exp.within_budget(exp.LandscapeConfig()) == (exp.LandscapeConfig(), None)
    for preset in exp.PRESETS.values():
        assert exp.within_budget(preset)[1] is None


# ---------------------------------------------------------------------------- charts


def test_heatmap_spec(grid):
    spec = charts.heatmap_chart(grid.cells).to_dict()
    text = json.dumps(spec, ensure_ascii=False)
    assert charts.CELL in text and "click" in text
    s = grid.summary
    assert f"BN: {int(s['good_cells_bn'])} of 21" in text
    assert f"plain: {int(s['good_cells_plain'])} of 21" in text
    assert "✕" in text  # diverged cells are marked
    curves = charts.cell_curves_chart(grid.curves, 1.0, 1.0).to_dict()
    assert len(curves["data"]["values"] if "values" in curves["data"] else
               next(iter(curves["datasets"].values()))) <= 5000


def test_other_charts_build(sweep, smooth):
    e = exp.run_effective_lr(exp.EffectiveLrConfig(**TINY))
    for c in (charts.effective_loss_chart(e.curves), charts.rel_diff_chart(e.curves),
              charts.norm_chart(e.norms), charts.matched_chart(sweep.curves, 0.056),
              charts.steps_chart(sweep.sweep, 500), charts.status_chart(sweep.sweep),
              charts.smoothness_chart(smooth.bands)):
        spec = c.to_dict()
        rows = sum(len(v) for v in spec.get("datasets", {}).values())
        assert 0 < rows <= 5000


# ---------------------------------------------------------------------------- the page

FAST = dict(steps="100", depth="2", width="32", n_seeds="1")


def test_page_renders_small_and_states_the_numbers():
    at = render(PAGE, **FAST)
    assert not at.exception, at.exception
    assert len(page_charts(at)) >= 8
    text = texts(at)
    assert "Cells reaching 90% test accuracy" in text and "Largest learning rate" in text
    assert "Bjorck" in text and "Santurkar" in text and "Arora" in text and "Ioffe" in text
    heat = json.loads(page_charts(at)[0].proto.spec)
    assert charts.CELL in json.dumps(heat)
    # the short answer, and "effective β" renamed everywhere on screen
    assert "**Short answer.**" in text and "At the same small learning rate" in text
    specs = json.dumps([json.loads(c.proto.spec) for c in page_charts(at)], ensure_ascii=False)
    # "effective β" renamed on screen: the 4d panel says what it measures, lower = smoother
    assert "effective β" not in text + specs and "gradient change per" in specs
    assert "lower = smoother" in specs


def test_page_cell_click_shows_that_cell():
    """A click on the heat map is a selection event; the curves chart follows it."""
    at = render(PAGE, **FAST)
    assert not at.exception
    at.session_state["cell_pick"] = {"selection": {charts.CELL: [{"lr": 0.1, "gain": 2.0}]}}
    at.run()
    assert not at.exception, at.exception
    titles = [json.loads(c.proto.spec).get("title", "") for c in page_charts(at)]
    assert any("lr 0.1, gain 2" in str(t) for t in titles), titles
