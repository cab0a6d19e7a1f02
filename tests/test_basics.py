"""Page 1, BatchNorm basics: BN's train/eval semantics on a trained net, the running averages,
the step-by-step arithmetic, the charts and the page itself.

Claims over seeds 0, 1, 2 (EXPERIMENTS.md, "Test-time page"): batch size 1 in train mode collapses
to beta and chance accuracy; eval-mode logits do not depend on which examples share the batch,
train-mode logits do; the running averages approach the population statistics as the run
lengthens; the three nets of a seed (one per decay) train identically. Trained runs are shared
by module-scoped fixtures.
"""
import dataclasses
import json
import re


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnjax import probes, runs, train
from bnjax.charts import basics as charts
from bnjax.data import load_digits
from bnjax.experiments import basics
from bnjax.experiments.basics import BasicsConfig, bn_steps, run_basics
from bnjax.narration import basics as say
from bnjax.nn import batchnorm_init, mlp_apply
from tests.apphelp import charts as charts_of, computed, render, texts

SEEDS = (0, 1, 2)
SMALL = BasicsConfig(steps=40)  # the default view's shapes: its compiled programs


@pytest.fixture(scope="module")
def data():
    return load_digits()


@pytest.fixture(scope="module")
def default_runs():
    """The page's default view (300 steps), one seed per run: seeds 0, 1, 2 (each claim is
    checked on every seed, not on their mean)."""
    return {s: run_basics(BasicsConfig(seed=s, n_seeds=1)) for s in SEEDS}


@pytest.fixture(scope="module")
def long_run():
    """The same nets trained for 1000 steps (the first 300 steps are the default runs'), the
    three seeds side by side."""
    return run_basics(BasicsConfig(steps=1000))


@pytest.fixture(scope="module")
def default_view():
    """What the page runs by default: seeds 0, 1, 2 in one result (the page's own run when
    this process has rendered it: `computed`)."""
    config = BasicsConfig()
    assert config.seeds == SEEDS
    return computed(run_basics, config)


def _spec(result):
    return basics.spec_of(result.config)


def _fresh_state(spec):
    return tuple(batchnorm_init(spec.width)[1] for _ in range(spec.depth))


# ---------------------------------------------------------------------------- batch size 1


def test_train_mode_batch_size_one_outputs_beta(default_runs, data):
    """With one example, z = mu_B, so x_hat = 0 and every unit outputs exactly its beta."""
    r = default_runs[0]
    spec = _spec(r)
    logits = []
    for i in (0, 1, 17, 300, 1200):
        out, _, trace = mlp_apply(r.params, _fresh_state(spec), jnp.asarray(data.x_train[i:i + 1]),
                                  spec=spec, train=True, with_trace=True)
        for layer, h in zip(r.params.hidden, trace.h):
            np.testing.assert_array_equal(np.asarray(h[0]), np.asarray(layer.bn.beta))
        logits.append(np.asarray(out[0]))
    # Every example gets the same logits, so the net predicts one class for everything.
    np.testing.assert_array_equal(np.stack(logits), np.stack([logits[0]] * len(logits)))


def test_train_mode_batch_size_one_is_chance(default_runs):
    for s, r in default_runs.items():
        acc, chance = r.summary["acc_train_batch1"], r.summary["chance"]
        # A constant prediction scores the frequency of its class: at most the largest one.
        assert 0.08 <= acc <= chance + 1e-6, (s, acc, chance)
        assert r.summary["acc_eval_population"] > 0.95, s


def test_batch_statistics_improve_with_test_batch_size(default_runs):
    for s, r in default_runs.items():
        m = r.summary
        assert m["acc_train_batch1"] < m["acc_train_batch8"] - 0.5, s
        assert m["acc_train_batch8"] < m["acc_train_batch64"] - 0.05, s
        assert m["acc_train_batch64"] <= m["acc_train_full"] + 0.01, s
        # The whole test set's statistics are close to the training set's: same accuracy.
        assert abs(m["acc_train_full"] - m["acc_eval_population"]) <= 0.02, s


# ---------------------------------------------------------------------------- batch composition


def _split_logits(params, state, x, perm, sizes, *, spec, train_mode):
    """Logits of x[perm] computed in batches of the given sizes, put back in the original order."""
    xp = x[perm]
    out, start = [], 0
    for n in sizes:
        out.append(np.asarray(mlp_apply(params, state, jnp.asarray(xp[start:start + n]), spec=spec,
                                        train=train_mode)[0]))
        start += n
    assert start == len(x)
    return np.concatenate(out)[np.argsort(perm)]


def test_eval_logits_do_not_depend_on_the_batch(default_runs, data):
    """Eval mode: identical logits under any permutation and split; train mode: not."""
    r = default_runs[0]
    spec = _spec(r)
    x = data.x_test
    full_eval = np.asarray(mlp_apply(r.params, r.population, jnp.asarray(x), spec=spec,
                                     train=False)[0])
    full_train = np.asarray(mlp_apply(r.params, _fresh_state(spec), jnp.asarray(x), spec=spec,
                                      train=True)[0])
    rng = np.random.default_rng(0)
    for sizes in ([540], [1, 7, 100, 432], [270, 270]):
        perm = rng.permutation(len(x))
        ev = _split_logits(r.params, r.population, x, perm, sizes, spec=spec, train_mode=False)
        assert np.abs(ev - full_eval).max() <= 1e-5, sizes
        if sizes != [540]:
            tr = _split_logits(r.params, _fresh_state(spec), x, perm, sizes, spec=spec,
                               train_mode=True)
            assert np.abs(tr - full_train).max() > 0.1, sizes
    for s, r in default_runs.items():
        assert r.summary["logit_diff_eval"] <= 1e-5, s
        assert r.summary["logit_diff_train"] > 0.1, s


# ---------------------------------------------------------------------------- running averages


def _gap(result, seed, decay, step):
    t = result.ema_gap
    return float(t[(t.seed == seed) & (t.stats == f"EMA, decay {decay}")
                   & (t.step == step)].gap.iloc[0])


def test_running_averages_approach_the_population(long_run):
    r = long_run
    for s in SEEDS:
        for d in (0.99, 0.999):
            assert _gap(r, s, d, 1000) < 0.5 * _gap(r, s, d, 100), (s, d)
        assert _gap(r, s, 0.9, 1000) < 0.3 * _gap(r, s, 0.9, 20), s
        slow = [_gap(r, s, 0.999, t) for t in (300, 500, 700, 1000)]
        assert all(a > b for a, b in zip(slow, slow[1:])), (s, slow)
        # After 300 steps the slower the average, the further it still is.
        assert _gap(r, s, 0.9, 300) < _gap(r, s, 0.99, 300) < _gap(r, s, 0.999, 300), s


def test_slow_average_lags_after_a_short_run(default_runs, long_run):
    long = long_run.per_seed.set_index("seed")
    for s in SEEDS:
        short = default_runs[s].summary
        assert short["acc_eval_ema_0.999"] < short["acc_eval_ema_0.9"] - 0.03, s
        assert abs(short["acc_eval_ema_0.9"] - short["acc_eval_population"]) <= 0.02, s
        assert long.loc[s, "acc_eval_ema_0.999"] > short["acc_eval_ema_0.999"] + 0.02, s
        assert long.loc[s, "ema_gap_0.999"] < short["ema_gap_0.999"], s


def test_the_decay_changes_the_running_averages_only(data):
    """What the page says of its three nets per seed: training never reads the running
    averages, so nets that differ only in the decay train identically, bit for bit, and keep
    different running averages. The page's own jobs, on seeds the other tests do not use."""
    config = BasicsConfig(steps=40, seed=11, n_seeds=2)
    assert basics.train_config(config).decay == basics.DECAYS[0]
    jobs = {d: runs.Job(basics.train_config(config, d), train.hparams(lr=config.lr),
                        config.seeds) for d in basics.DECAYS}
    out = runs.train_together(jobs, config.steps, data, chunk=basics.CHUNK)
    first = out[basics.DECAYS[0]]
    for d in basics.DECAYS[1:]:
        np.testing.assert_array_equal(out[d].loss, first.loss)
        for a, b in zip(jax.tree.leaves(out[d].carry.params), jax.tree.leaves(first.carry.params)):
            np.testing.assert_array_equal(a, b)
        assert np.abs(out[d].carry.state[0].mean - first.carry.state[0].mean).max() > 1e-3


def test_the_running_averages_are_the_nets_own_state(default_runs):
    """`ema` holds each decay's net's running statistics; the first is the state the training
    step of the shown net kept (decay 0.9), and the slower ones lag it."""
    for r in default_runs.values():
        for mine, theirs in zip(r.ema, r.state):
            np.testing.assert_array_equal(mine.mean[0], theirs.mean)
            np.testing.assert_array_equal(mine.var[0], theirs.var)
            assert np.abs(mine.mean[2] - theirs.mean).max() > 1e-3


def test_test_time_program_at_level_1_gives_the_same_bits(default_runs, data):
    """The evaluation after training runs once per net, so it compiles at LLVM level 1: the
    same numbers as the default level, to the bit."""
    r = default_runs[0]
    spec = _spec(r)
    perm = np.random.default_rng(0).permutation(len(data.x_test))
    args = (r.params, r.ema, data.x_train, data.x_test, data.y_test, perm)
    kw = dict(spec=spec, batch_sizes=basics.TEST_BATCH_SIZES, split=basics.SPLIT)
    once = probes.test_time_program(*args, **kw)
    full = jax.jit(probes.test_time, static_argnames=("spec", "batch_sizes", "split"))(*args, **kw)
    for a, b in zip(jax.tree.leaves(once), jax.tree.leaves(full)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------------- step by step


def test_bn_steps_match_batchnorm_apply(default_runs, data):
    r = default_runs[0]
    spec = _spec(r)
    xb = jnp.asarray(data.x_train[r.probe["index"]])
    _, _, trace = mlp_apply(r.params, _fresh_state(spec), xb, spec=spec, train=True,
                            with_trace=True)
    for layer, unit in ((1, 0), (2, 5), (4, 63)):
        s = bn_steps(r, layer, unit)
        by = {k: g.sort_values("example").value.to_numpy() for k, g in s.table.groupby("step")}
        np.testing.assert_allclose(by["γ·x̂ + β"], np.asarray(trace.h[layer - 1][:, unit]),
                                   atol=1e-4)
        np.testing.assert_allclose(by["z"], np.asarray(trace.z[layer - 1][:, unit]), atol=1e-5)
        assert abs(by["x̂"].mean()) < 1e-5 and abs(by["x̂"].std() - 1) < 1e-3
        assert abs(by["(z − μ_B)²"].mean() - s.var) < 1e-4 * max(1.0, s.var)
    moved = bn_steps(r, 1, 0, gamma=2.0, beta=-1.0)
    last = moved.table[moved.table.step == "γ·x̂ + β"].value
    assert abs(last.mean() + 1.0) < 1e-4 and abs(last.std(ddof=0) - 2.0) < 1e-2
    # gamma = sigma_B and beta = mu_B undo the normalization: BN can represent the identity.
    undo = bn_steps(r, 1, 0, gamma=moved.std, beta=moved.mean)
    t = undo.table
    np.testing.assert_allclose(t[t.step == "γ·x̂ + β"].value.to_numpy(),
                               t[t.step == "z"].value.to_numpy(), atol=1e-4)


# ---------------------------------------------------------------------------- smoke, presets


def _check_result(r, config):
    assert set(r.accuracy.columns) >= {"group", "setting", "accuracy", "order", "seed"}
    assert len(r.accuracy) == (len(basics.TEST_BATCH_SIZES) + 1 + len(basics.DECAYS) + 1) * \
        config.n_seeds
    assert set(r.ema_gap.columns) == {"seed", "step", "stats", "gap", "test_acc"}
    assert set(r.ema_gap.seed) == set(config.seeds) == set(r.per_seed.seed)
    assert r.ema_gap.step.max() == config.steps
    assert len(r.loss) == config.steps
    assert r.probe["z"].shape == (config.depth, config.batch_size, config.width)
    assert not r.diverged and r.summary["diverged"] == 0.0
    for k in ("acc_train_batch1", "acc_eval_population", "acc_train_full", "chance",
              "logit_diff_eval", "logit_diff_train", *[f"acc_eval_ema_{d}" for d in basics.DECAYS],
              *[f"ema_gap_{d}" for d in basics.DECAYS]):
        assert np.isfinite(r.summary[k]), k
    assert np.isfinite(r.accuracy.accuracy).all() and np.isfinite(r.loss.loss).all()
    assert all(len(t) <= 5000 for t in (r.accuracy, r.ema_gap, r.loss))


@pytest.mark.parametrize("name", list(basics.PRESETS))
def test_presets_run_small(name):
    config = basics.shrink(basics.PRESETS[name])
    _check_result(run_basics(config), config)


def test_progress_is_reported_with_partial_results_and_deterministic():
    seen = []
    a = run_basics(SMALL, progress=lambda f, m, *partial: seen.append((f, m, *partial)))
    b = run_basics(SMALL)
    assert seen and all(0 <= f <= 1 for f, *_ in seen) and seen[-1][1].startswith("evaluating")
    fractions = [f for f, *_ in seen]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.9
    partials = [p[0] for _, _, *p in seen if p]
    assert partials and all(not p.done for p in partials)
    # The live chart's batch: the shown net as trained so far, ending where the result does.
    assert [p.step for p in partials] == [basics.CHUNK, SMALL.steps]  # from the first chunk
    np.testing.assert_array_equal(partials[-1].probe["z"], a.probe["z"])
    assert np.abs(partials[1].probe["z"] - partials[0].probe["z"]).max() > 1e-3  # it trains
    # About four frames over a longer run: each is a new drawing of a slow chart.
    assert basics.frames_every(300, basics.CHUNK, frames=4) == 5
    s = bn_steps(partials[0], 1, 0, 1.0, 0.0)  # the page's live drawing works on a partial
    assert np.isfinite(s.table.value).all()
    assert a.summary == b.summary


def test_a_diverged_run_is_a_flagged_result():
    r = run_basics(dataclasses.replace(SMALL, lr=1e20))
    assert r.diverged and r.summary["diverged"] == 1.0
    assert r.per_seed["diverged"].all() and r.summary["n_diverged"] == 3
    assert "diverged on every seed" in say.short_answer(r.per_seed, r.summary["chance"])
    assert not re.search(r"\bnan\b", " ".join(say.measured_lines(r.per_seed, 0.1, 40)))
    assert np.isnan(r.summary["acc_eval_population"])
    charts.accuracy_chart(r.accuracy, r.summary["chance"]).to_dict()  # still draws


# ---------------------------------------------------------------------------- charts


def test_charts(default_runs):
    r = default_runs[0]
    steps = bn_steps(r, 2, 3, gamma=1.5, beta=0.5)
    d = charts.bn_steps_chart(steps).to_dict()
    assert len(d["hconcat"]) == len(basics.STEPS)
    assert [p["title"]["text"] for p in d["hconcat"]] == list(basics.STEPS)
    # what each step computed is the panel's subtitle (written on the plot, it covered dots)
    assert d["hconcat"][0]["title"]["subtitle"] == f"dashed: μ_B = {steps.mean:.2f}".replace(
        "-", "−")
    assert d["params"] or any("params" in p.get("layer", [{}])[0] for p in d["hconcat"])
    rule_values = [d["datasets"][p["layer"][1]["data"]["name"]][0]["value"] for p in d["hconcat"]]
    assert rule_values == pytest.approx([steps.mean, 0.0, steps.var, 0.0, 0.5], abs=1e-6)
    acc = charts.accuracy_chart(r.accuracy, r.summary["chance"]).to_dict()
    assert acc["layer"][0]["encoding"]["x"]["field"] == "mean"  # the seed mean as the bar
    assert acc["layer"][1]["encoding"]["x"]["field"] == "accuracy"  # each seed as a point
    gap = charts.ema_gap_chart(r.ema_gap).to_dict()
    assert gap["hconcat"][0]["encoding"]["y"]["scale"]["type"] == "log"


def test_charts_show_every_seed_and_say_what_they_show(default_view):
    r, ps = default_view, default_view.per_seed
    acc = charts.accuracy_chart(r.accuracy, r.summary["chance"],
                                say.accuracy_title(ps, r.summary["chance"])).to_dict()
    assert acc["layer"][1]["encoding"]["shape"]["field"] == "seed"  # seeds told apart
    points = next(v for v in acc["datasets"].values() if "seed" in v[0])
    assert {p["seed"] for p in points} == set(SEEDS)
    assert acc["title"]["text"][0].startswith("Train mode, test batch of 1:")
    bars = next(v for v in acc["datasets"].values() if "text" in v[0])
    one = next(b for b in bars if b["label"] == "train mode: test batch of 1")
    assert "x̂ = 0" in one["text"]  # the annotation at the bar to look at
    gap = charts.ema_gap_chart(r.ema_gap, say.ema_title(ps, 300)).to_dict()
    assert gap["hconcat"][0]["encoding"]["detail"]["field"] == "seed"
    assert "0.999" in " ".join(gap["title"]["text"])
    # The first chart: only the two bars the short answer quotes, in its order.
    head = charts.accuracy_chart(r.accuracy, r.summary["chance"], say.headline_title(
        ps, r.summary["chance"]), settings=say.HEADLINE).to_dict()
    bars = next(v for v in head["datasets"].values() if "text" in v[0])
    assert head["layer"][0]["encoding"]["y"]["sort"] == [
        "eval mode: training set's statistics", "train mode: test batch of 1"]
    assert {b["label"] for b in bars} == set(head["layer"][0]["encoding"]["y"]["sort"])
    assert say.acc(ps, "acc_eval_population") in head["title"]["text"][0]
    assert say.acc(ps, "acc_train_batch1") in head["title"]["text"][1]
    # No series in BN's blue but the BN dots, and the statistics' colours apart for CVD.
    from tests.apphelp import palette_problems
    assert not palette_problems(acc) and not palette_problems(gap)


# ---------------------------------------------------------------------------- the page

PAGE = "pages/1_BatchNorm_basics.py"


def _spec_of(chart):
    return json.loads(chart.proto.spec)


def _answer(at) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("**Short answer.**"))


def test_page_default_view(default_view):
    import streamlit as st
    st.cache_data.clear()  # the page trains (the next page tests find its view cached)
    at = render(PAGE)
    assert not at.exception, at.exception
    assert len(charts_of(at)) == 4
    # The first chart shows the two numbers the short answer quotes (its title states them).
    first = _spec_of(charts_of(at)[0])
    assert first["title"]["text"] == say.headline_title(default_view.per_seed,
                                                        default_view.summary["chance"])
    bars = _dataset(charts_of(at)[0], first["layer"][0]["data"]["name"])
    assert sorted(bars["label"]) == ["eval mode: training set's statistics",
                                     "train mode: test batch of 1"]
    # In lecture mode too: the first screen is the question, the short answer and this chart.
    lecture = render(PAGE, lecture="true")
    assert not lecture.exception, lecture.exception
    assert _spec_of(charts_of(lecture)[0])["title"]["text"] == first["title"]["text"]
    assert len(at.get("latex")) >= 3  # the BN formulas and the decay convention
    ps, text = default_view.per_seed, texts(at)
    for key in ("acc_train_batch1", "acc_train_batch8", "acc_eval_population",
                "acc_eval_ema_0.999"):
        assert say.acc(ps, key) in text, key
    assert "What this run measured" in text and "Wu & Johnson" in text
    answer = _answer(at)
    assert answer == "**Short answer.** " + say.short_answer(ps, default_view.summary["chance"])
    assert "Words on this page" in [e.label for e in at.expander]


def test_the_short_answer_changes_with_the_seed(default_view):
    """The answer's numbers are this run's: another seed, other numbers (on the page too)."""
    other = run_basics(BasicsConfig(seed=5))
    assert tuple(other.per_seed.seed) == (5, 6, 7)
    chance = default_view.summary["chance"]
    a, b = say.short_answer(default_view.per_seed, chance), say.short_answer(other.per_seed,
                                                                             chance)
    numbers = lambda t: re.findall(r"\d+\.\d+", t)  # noqa: E731
    assert numbers(a) != numbers(b)
    at = render(PAGE, seed="5")
    assert not at.exception, at.exception
    assert _answer(at) == "**Short answer.** " + b


def test_per_seed_numbers_are_the_single_seed_runs(default_view, default_runs):
    """Training three seeds side by side gives each seed's own numbers (the same as a run of
    that seed alone), and the summary is their mean."""
    ps = default_view.per_seed.set_index("seed")
    for seed, r in default_runs.items():
        for key, value in r.summary.items():
            if key in ps.columns and key != "diverged":
                assert ps.loc[seed, key] == pytest.approx(value, rel=1e-6, abs=1e-7), (seed, key)
    for key in ("acc_train_batch1", "acc_eval_population", "ema_gap_0.999", "logit_diff_train"):
        assert default_view.summary[key] == pytest.approx(ps[key].mean(), rel=1e-9)
    # The net shown step by step is the first seed's.
    np.testing.assert_array_equal(default_view.probe["z"], default_runs[0].probe["z"])


def _dataset(chart, name):
    """A chart's inline data set, which Streamlit ships as Arrow."""
    import pyarrow as pa
    for d in chart.proto.datasets:
        if d.name == name:
            return pa.ipc.open_stream(d.data.data).read_pandas()
    raise KeyError(name)


def test_page_sliders_move_the_last_step(default_runs):
    at = render(PAGE, layer="2", unit="5", gamma="2.0", beta="-1.0")
    assert not at.exception, at.exception
    chart = charts_of(at)[1]  # after the short answer's chart
    last = _spec_of(chart)["hconcat"][-1]
    assert last["title"]["text"] == basics.STEPS[-1]
    assert last["title"]["subtitle"] == "dashed: β = −1.00"  # the slider moves its label
    assert _dataset(chart, last["layer"][1]["data"]["name"]).value.tolist() == [-1.0]
    dots = _dataset(chart, last["layer"][0]["data"]["name"])
    expected = bn_steps(default_runs[0], 2, 5, gamma=2.0, beta=-1.0).table
    pick = lambda t: np.sort(t[t.step == basics.STEPS[-1]].value.to_numpy())  # noqa: E731
    np.testing.assert_allclose(pick(dots), pick(expected), atol=1e-6)


def test_page_malformed_url_gives_notes():
    hostile = {"layer": "9", "gamma": "abc", "steps": "1e12", "seed": "inf", "lr": "<b>x</b>",
               "unit": "nan"}
    at = render(PAGE, **hostile)
    assert not at.exception, at.exception
    notes = " ".join(w.value for w in at.warning)
    for key, value in hostile.items():
        assert f"`{key}=" in notes, key
    assert len(charts_of(at)) == 4  # the default view, drawn anyway
