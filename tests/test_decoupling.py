"""Page 3, layer decoupling: the claims of 2a, 2b, 2c over seeds 0, 1, 2 (EXPERIMENTS.md, issue 4),
the Def. 2.1 probe against a direct computation, smoke runs of every preset, the charts, and the
page under AppTest."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnjax import probes, runs
from bnjax.charts import decoupling as charts
from bnjax.data import load_digits
from bnjax.experiments import decoupling as exp
from bnjax.narration import decoupling as say
from bnjax.nn import MLPSpec, mlp_init
from bnjax.train import TrainConfig, hparams, loss_fn
from tests.apphelp import charts as page_charts
from tests.apphelp import computed, render, texts

PAGE = "pages/3_Layer_decoupling.py"
FAST = {"steps": "500"}  # AppTest views: half the default's steps, the same compiled programs


@pytest.fixture(scope="module")
def default():
    """The page's default view: 8x64 ReLU, SGD lr 0.05, batch 64, 1000 steps, seeds 0, 1, 2,
    Def. 2.1 every 100 steps, noise a = 0.25."""
    config = exp.DecouplingConfig()
    assert config.seeds == (0, 1, 2) and config.mid_layer == 5
    assert (config.depth, config.width, config.lr, config.steps, config.noise) == (
        8, 64, 0.05, 1000, 0.25)
    # `run_decoupling(config)` as the page computes it: its two parts, through the page's cache
    # (`computed`: trained once in a process that renders the page), merged; that the parts
    # make the whole: test_same_config_same_numbers_and_the_parts_make_the_whole.
    return exp.merge(computed(exp.run_gradients, config.clean()),
                     computed(exp.run_noisy, config))


# ---------------------------------------------------------------------------- 2a claims


def test_bn_does_not_reduce_def21_coupling(default):
    """Santurkar et al. 2018, Fig. 3: "similar, or even worse". Pilot at layer 5: cos 0.93-0.96
    plain vs 0.72-0.84 BN. Never write the reverse test (cos with BN > cos without): it fails,
    and the literature says it should."""
    s = default.summary
    assert s["ics_cos_bn"] <= s["ics_cos_plain"] + 0.02, s
    assert s["ics_rel_bn"] >= s["ics_rel_plain"] - 0.02, s


def test_def21_is_probed_on_every_layer_but_the_first(default):
    ics = default.ics
    assert sorted(ics["layer"].unique()) == list(range(2, 9))
    assert sorted(ics["step"].unique()) == list(range(0, 1000, 100))
    assert set(ics["variant"]) == {"BN", "plain"} and set(ics["seed"]) == {0, 1, 2}
    assert ((ics["cos"] >= -1 - 1e-5) & (ics["cos"] <= 1 + 1e-5)).all()
    assert (ics["rel"] >= 0).all()


@pytest.mark.parametrize("bn", [True, False])
def test_probe_matches_a_direct_computation(bn):
    """Layer 3 of fresh 8x64 nets (the compiled probe of the default view, three runs): G'
    computed by hand, with W1 and W2 moved by -lr * their gradients, on the same batch."""
    spec = MLPSpec(depth=8, width=64, bn=bn)
    params, state = jax.vmap(lambda k: mlp_init(k, spec))(
        jnp.stack([jax.random.key(s) for s in (0, 1, 2)]))
    data = load_digits()
    xb = jnp.asarray(data.x_train[:192].reshape(3, 64, 64))
    yb = jnp.asarray(data.y_train[:192].reshape(3, 64))
    lr = 0.5
    ics_runs = jax.jit(jax.vmap(probes.ics, in_axes=(0, 0, 0, 0, None, None)),
                       static_argnums=5)
    got_cos, got_rel = (np.asarray(a) for a in ics_runs(params, state, xb, yb,
                                                         jnp.float32(lr), spec))
    assert got_cos.shape == (3, 7)

    p0, s0 = jax.tree.map(lambda a: a[0], (params, state))
    grad = jax.jit(jax.grad(lambda q: loss_fn(q, s0, xb[0], yb[0], spec=spec, train=True)[0]))
    g = grad(p0)
    moved = tuple(h._replace(dense=h.dense._replace(w=h.dense.w - lr * gh.dense.w)) if j < 2
                  else h for j, (h, gh) in enumerate(zip(p0.hidden, g.hidden)))
    g1, g2 = g.hidden[2].dense.w, grad(p0._replace(hidden=moved)).hidden[2].dense.w
    cos = float(jnp.vdot(g1, g2) / (jnp.linalg.norm(g1) * jnp.linalg.norm(g2)))
    np.testing.assert_allclose(got_cos[0, 1], cos, rtol=1e-4)
    np.testing.assert_allclose(got_rel[0, 1],
                               float(jnp.linalg.norm(g1 - g2) / jnp.linalg.norm(g1)), rtol=1e-3)
    # With no step, nothing moves: G' = G up to float summation order.
    c0, r0 = (np.asarray(a) for a in ics_runs(params, state, xb, yb, jnp.float32(0.0), spec))
    np.testing.assert_allclose(c0, 1.0, rtol=1e-5)
    assert r0.max() < 1e-5


# ---------------------------------------------------------------------------- 2b, 2c claims


def test_noisy_bn_learns_as_well_as_bn_and_better_than_plain(default):
    s = default.summary
    assert s["acc_noisy_bn"] >= s["acc_bn"] - 0.02, s  # pilot 0.973 vs 0.960
    assert s["acc_noisy_bn"] > s["acc_plain"], s  # pilot 0.973 vs 0.936
    assert s["late_loss_noisy_bn"] > s["late_loss_bn"], s  # the noise is real: it costs fit


def test_statistics_are_decoupled_exactly_gradients_not(default):
    s = default.summary
    assert s["stats_change_bn"] < 1e-4, s  # an affine change of layer 1 reaches no later layer
    assert s["stats_change_plain"] > 0.05, s


# ---------------------------------------------------------------------------- the example


def test_doubling_w1_leaves_bn_later_layers_unchanged_and_moves_plain(default):
    """The concrete example, over seeds 0-2 and every later layer (2..8): W1 x 2 changes a BN
    net's later inputs and gradients by nothing (BN divides the factor out; with eps scaled,
    exactly), a plain net's by about their own size (measured 0.95-1.10)."""
    e = default.example
    assert set(e["seed"]) == {0, 1, 2} and sorted(e["layer"].unique()) == list(range(2, 9))
    x2 = e[e["factor"] == 2.0]
    bn, plain = x2[x2["variant"] == "BN"], x2[x2["variant"] == "plain"]
    assert len(bn) == len(plain) == 3 * 7
    assert bn["grad_change"].max() <= 1e-4, bn["grad_change"].max()
    assert bn["input_change"].max() <= 1e-4, bn["input_change"].max()
    assert plain["grad_change"].min() >= 0.1, plain["grad_change"].min()
    assert plain["input_change"].min() >= 0.1, plain["input_change"].min()
    # Every factor the page offers (powers of two): BN does not notice, to the bit.
    assert set(e["factor"]) == set(exp.FACTORS)
    assert e[e["variant"] == "BN"]["grad_change"].max() <= 1e-4
    s = default.summary
    assert s["example_grad_bn"] <= 1e-4 and s["example_grad_plain"] >= 0.1, s


def test_the_example_factor_is_traced_and_eps_is_what_breaks_exactness():
    """One compiled program for every factor; with BN's usual eps = 1e-5 the invariance holds
    only up to ~1e-3 (eps does not scale with W1), with eps = 0 a power of two is exact."""
    spec = MLPSpec(depth=4, width=32, bn=True)
    params, state = jax.vmap(lambda k: mlp_init(k, spec))(
        jnp.stack([jax.random.key(s) for s in (3, 4)]))
    data = load_digits()
    x, y = jnp.asarray(data.x_train[:256]), jnp.asarray(data.y_train[:256])
    exact = exp.example_spec(spec)
    out = probes.rescale_runs(params, state, x, y, jnp.asarray([0.5, 2.0, 4.0]), exact)
    size = probes.rescale_runs._cache_size()
    again = probes.rescale_runs(params, state, x, y, jnp.asarray([3.0, 7.0, 10.0]), exact)
    assert probes.rescale_runs._cache_size() == size  # new factors, no new program
    rel_g = np.asarray(out[1])  # (runs, factors, depth)
    assert np.all(rel_g[:, :, 1:] == 0.0)  # powers of two: not one bit moves downstream
    # Layer 1's own gradient does change: G1 -> G1 / c, a relative change |1/c - 1|.
    np.testing.assert_allclose(rel_g[:, :, 0], [[1.0, 0.5, 0.75]] * 2, rtol=1e-5)
    # Other factors: float rounding (~1e-6; a ReLU input sitting at 0 may flip, ~1e-3).
    assert np.asarray(again[1])[:, :, 1:].max() < 1e-2
    loose = np.asarray(probes.rescale_runs(params, state, x, y, jnp.asarray([2.0]), spec)[1])
    assert 0 < loose[:, :, 1:].max() < 1e-2  # eps = 1e-5: close, not exact
    # Compiled at LLVM level 1 for speed: the same numbers as the default level.
    default = jax.jit(jax.vmap(probes.rescale_layer1, in_axes=(0, 0, None, None, None, None)),
                      static_argnames="spec")
    for a, b in zip(out, default(params, state, x, y, jnp.asarray([0.5, 2.0, 4.0]), exact)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-12)


def test_summary_has_the_design_keys(default):
    s = default.summary
    for k in ("ics_cos_plain", "ics_cos_bn", "acc_plain", "acc_bn", "acc_noisy_bn",
              "acc_noisy_plain", "ics_rel_plain", "ics_rel_bn"):
        assert np.isfinite(s[k]), k
    assert all(s[f"diverged_{v}"] == 0 for v in ("bn", "plain", "noisy_bn", "noisy_plain"))


# ---------------------------------------------------------------------------- smoke, charts


@pytest.mark.parametrize("name", list(exp.PRESETS))
def test_every_preset_runs_small(name):
    r = exp.run_decoupling(exp.shrink(exp.PRESETS[name]))
    assert set(r.ics.columns) == {"step", "variant", "seed", "layer", "cos", "rel"}
    assert set(r.curves.columns) == {"step", "variant", "seed", "loss"}
    assert set(r.diverged) == {"BN", "plain", "noisy BN", "noisy plain"}
    assert all(isinstance(v, bool) for v in r.diverged.values())
    ok = r.runs[~r.runs["diverged"]]
    assert np.isfinite(ok["test_acc"]).all()
    assert sorted(r.ics["step"].unique()) == [0]  # 50 steps: one Def. 2.1 probe, at step 0


def test_same_config_same_numbers_and_the_parts_make_the_whole():
    config = exp.shrink(exp.DecouplingConfig(seed=7))
    whole = exp.run_decoupling(config)
    assert whole.summary == exp.run_decoupling(config).summary
    # The page runs the parts (clean nets keyed without the noise, then the noisy ones).
    clean, noisy = exp.run_gradients(config.clean()), exp.run_noisy(config)
    assert set(clean.runs["variant"]) == {"BN", "plain"}
    assert set(noisy.runs["variant"]) == {"noisy BN", "noisy plain"}
    assert exp.merge(clean, noisy).summary == {**whole.summary}


def test_2c_draws_on_the_host_are_page_2s_draws_bit_for_bit():
    """2c's change of layer 1 is drawn with numpy (no threefry program to compile): the same
    bits as page 2's program draws them, and the after-training program with those draws gives
    the same numbers as the one drawing inside; seeds the other tests never use."""
    seeds = (11, 12, 21, 22, 123456, -3)
    raw = np.stack([runs.key_data(s) for s in seeds])
    u, sign = probes.perturbation_draws_host(raw, 32)
    ju, jsign, _ = probes.perturbation_draws_seeds(raw, (64, 32))
    np.testing.assert_array_equal(u, np.asarray(ju))
    np.testing.assert_array_equal(sign, np.asarray(jsign))
    spec = MLPSpec(depth=4, width=32, bn=True)
    params, state = jax.vmap(lambda k: mlp_init(k, spec))(
        jnp.stack([jax.random.key(s) for s in seeds[:2]]))
    data = load_digits()
    x, y, factors = data.x_train[:256], data.y_train[:256], np.float32([2.0])
    kw = dict(spec=spec, example=exp.example_spec(spec), sizes=(1.0,))
    # the same program drawing inside (as it did before its draws came from the host)
    drawing = jax.jit(lambda p, st, keys, x, y, f, **kw: probes._decoupling_after(
        p, st, probes._draws_seeds(keys, (64, 32))[:2], x, y, f, **kw),
        static_argnames=("spec", "example", "sizes"),
        compiler_options=probes.AFTER_COMPILER_OPTIONS)
    inside = drawing(params, state, raw[:2], x, y, factors, **kw)
    host = probes.decoupling_runs(params, state, (u[:2], sign[:2]), x, y, factors, **kw)
    for a, b in zip(jax.tree.leaves(inside), jax.tree.leaves(host)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_every_net_shares_one_program_and_reports_partials():
    """BN and plain, clean and noisy nets: one static config (BN on or off and the noise scale
    are data), so one compiled training program for all four; BN off/on and a noise scale of 0
    change nothing else: the clean nets train bit for bit as page 2's configs (norm "batch" or
    "none", no noise built) do. Every chunk hands the page a partial result whose curves and
    Def. 2.1 probes grow, the last one the finished tables."""
    config = exp.shrink(exp.DecouplingConfig(seed=4), 100)
    data = load_digits()
    one = exp.train_config(config)
    for bn in (True, False):  # page 2's setup: 8x64 ReLU, plain SGD, batch 64
        for noisy in (True, False):
            assert exp.train_config(config, bn, noisy) == one
        page2 = TrainConfig(MLPSpec(depth=8, width=64, bn=bn), optimizer="sgd", batch_size=64)
        ours = runs.train(one, exp.train_hparams(config, bn, False), (4,), 60, data,
                          probe=probes.test_accuracy)
        theirs = runs.train(page2, hparams(lr=config.lr), (4,), 60, data,
                            probe=probes.test_accuracy)
        np.testing.assert_array_equal(ours.loss, theirs.loss)
        np.testing.assert_array_equal(ours.probes[0], theirs.probes[0])
        noisy = runs.train(one, exp.train_hparams(config, bn, True), (4,), 60, data)
        assert not np.allclose(noisy.loss, ours.loss)  # the noise is there when asked
    seen = []
    result = exp.run_gradients(config, progress=lambda f, m, *p: seen.append((f, p)))
    partials = [p[0] for _, p in seen if p]
    assert [p.step for p in partials] == [0, 50, 100] and not any(p.done for p in partials)
    assert [len(p.curves) for p in partials] == [0, 2 * 3 * 5, 2 * 3 * 10]
    assert sorted(partials[0].ics["step"].unique()) == [0]
    np.testing.assert_array_equal(partials[-1].curves["loss"].to_numpy(),
                                  result.curves["loss"].to_numpy())
    assert result.done and result.step == 100
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_program_after_training_compiles_while_the_nets_train():
    """`probes.decoupling_runs` compiles in a background thread from the second report of the
    clean nets' training on, and the call after training finds it compiled (a shape no other
    test uses: the compile happens here)."""
    import threading

    from jax import monitoring

    seen = []
    monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: seen.append((kw.get("fun_name"),
                                               threading.current_thread().name))
        if event == "/jax/core/compile/backend_compile_duration" else None)
    config = exp.shrink(exp.DecouplingConfig(seed=7, depth=4, width=24), 100)
    result = exp.run_gradients(config)
    threads = [t for name, t in seen if name == "jit(_decoupling_after)"]
    assert threads == ["bnjax-compile-after-training"], seen
    assert len(result.example) and result.example["input_change"].notna().all()


def _mark(layer: dict) -> str:
    mark = layer["mark"]
    return mark if isinstance(mark, str) else mark["type"]


def test_charts_are_small_typed_and_titled_by_their_findings(default):
    labels = {v: say.panel_label(default, v, 2.0) for v in ("BN", "plain")}
    specs = {
        "example": charts.example_chart(default.weights, 2.0, 0, say.example_title(default, 2.0),
                                        labels).to_dict(),
        "time": charts.ics_time_chart(default.ics, 5, "cos",
                                      say.ics_time_title(default, 5)).to_dict(),
        "time_rel": charts.ics_time_chart(default.ics, 8, "rel").to_dict(),
        "layers": charts.ics_layer_chart(default.ics, "cos",
                                         say.ics_layer_title(default)).to_dict(),
        "loss": charts.loss_chart(default.curves, title=say.loss_title(default, default)
                                  ).to_dict(),
        "acc": charts.accuracy_chart(default.runs,
                                     title=say.accuracy_title(default, default)).to_dict(),
        "stats": charts.stats_chart(default.stats, say.stats_title(default),
                                    say.zero_label(default)).to_dict(),
        "gap": charts.gradient_gap_chart(default.ics, say.gradients_title(default)).to_dict(),
    }
    for name, spec in specs.items():
        rows = sum(len(v) for v in spec.get("datasets", {}).values())
        assert 0 < rows <= 5000, (name, rows)
    # The example: both nets side by side, the "unchanged" diagonal, each panel labelled.
    example = specs["example"]
    assert example["facet"]["column"]["field"] == "variant"
    layers = example["spec"]["layer"]
    assert layers[0]["encoding"]["x"]["field"] == layers[0]["encoding"]["y"]["field"] == "before"
    assert "unchanged" in json.dumps(layers) and labels["BN"] in json.dumps(example,
                                                                           ensure_ascii=False)
    assert example["title"]["text"][0].startswith("W1 × 2: layer 5's gradient is unchanged")
    # 2a: the labelled guide at cos = 1, with room above it for the label.
    time = specs["time"]
    guide = next(layer for layer in time["layer"] if _mark(layer) == "rule")
    assert guide["encoding"]["y"]["field"] == "cos"
    assert [row["cos"] for row in time["datasets"][guide["data"]["name"]]] == [1.0]  # cos = 1
    assert time["layer"][0]["encoding"]["y"]["scale"]["domain"][1] > 1.0
    # the word from the seeds (3 pairs: a direction only when every seed agrees); at seeds 0-2
    # BN's turns more on one CPU, about as much on another (one seed's rounding crosses over)
    bn, pl = (np.asarray(say.ics_per_seed(default, v, "cos", 5)) for v in ("BN", "plain"))
    word = "more" if np.all(bn < pl) else "less" if np.all(bn > pl) else "about as much"
    assert time["title"]["text"][0] == f"Layer 5: BN's gradient turns {word}"
    assert time["title"]["text"][1].startswith("mean cos(G, G′) BN ")
    rel_guides = [layer for layer in specs["time_rel"]["layer"] if _mark(layer) == "rule"]
    assert rel_guides and "1.0" not in json.dumps(rel_guides)  # the rel chart's guide is at 0
    # 2c: BN's invisible bars are labelled with their size, and ticked.
    stats = json.dumps(specs["stats"], ensure_ascii=False)
    assert say.zero_label(default) is not None and say.zero_label(default) in stats
    assert '"tick"' in stats


# ---------------------------------------------------------------------------- the page


def _measured(at) -> str:
    return "\n".join(m.value for m in at.markdown
                     if m.value.startswith("- At layer") or m.value.startswith("- **Test accuracy"))


def _answer(at) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("**Short answer.**"))


@pytest.fixture(scope="module")
def page_seed0():
    at = render(PAGE, timeout=600, **FAST)
    assert not at.exception, at.exception
    return at


def test_page_renders_with_its_charts_and_verdicts(page_seed0):
    at = page_seed0
    specs = [json.loads(c.proto.spec) for c in page_charts(at)]
    assert len(specs) == 7
    # The concrete example comes first, before the gradient measure.
    assert "before" in json.dumps(specs[0])
    assert "W1 × 2" in json.dumps(specs[0]["title"], ensure_ascii=False)
    text = texts(at)
    assert text.count("What this run measured") == 2 and "Santurkar" in text
    assert "Hyperparameter_landscape" in text  # 2c links to page 5
    assert _measured(at)
    answer = _answer(at)
    assert "layer 5's gradient" in answer and "on every seed" in answer


def test_the_page_opens_with_the_short_answer_above_the_controls(page_seed0):
    values = [m.value for m in page_seed0.main.markdown]
    first = next(i for i, v in enumerate(values) if v.startswith("**Short answer.**"))
    presets = next(i for i, v in enumerate(values) if v.startswith("**Presets:**"))
    assert first < presets


def test_another_seed_changes_the_verdicts_numbers(page_seed0):
    at = render(PAGE, timeout=600, seed="1", **FAST)
    assert not at.exception, at.exception
    assert "Seeds 1 to 3" in texts(at)
    a, b = _measured(page_seed0), _measured(at)
    assert a and b and a != b
    a, b = _answer(page_seed0), _answer(at)  # the short answer's numbers follow the seed
    assert a and b and a != b


def test_the_url_sets_the_view():
    at = render(PAGE, timeout=600, layer="8", metric="relative change", scale="8", **FAST)
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="metric").value == "relative change"
    assert at.select_slider(key="scale").value == 8.0
    specs = [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in page_charts(at)]
    assert "W1 × 8" in specs[0] and "Layer 8" in specs[1]


@pytest.mark.parametrize("params,expect", [
    ({"layer": "99"}, "layer=99"),
    ({"noise": "abc"}, "noise=abc"),
    ({"metric": "<script>"}, "metric="),
    ({"metric": "cos"}, "metric=cos"),
    ({"seed": "1e400"}, "seed=1e400"),
    ({"scale": "3"}, "scale=3"),
])
def test_bad_url_values_give_a_note(params, expect):
    at = render(PAGE, timeout=600, **{**FAST, **params})
    assert not at.exception, at.exception
    assert expect in " ".join(w.value for w in at.warning)
