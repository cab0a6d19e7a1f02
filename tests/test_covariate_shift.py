"""Page 2, covariate shift: the claims of 1a and 1b over seeds 0, 1, 2 (EXPERIMENTS.md, issue 4),
smoke runs of every preset, the charts, and the page under AppTest."""
import json
import re

import numpy as np
import pytest

from bnjax.charts import covariate_shift as charts
from bnjax.experiments import covariate_shift as exp
from tests.apphelp import charts as page_charts
from tests.apphelp import render, texts

PAGE = "pages/2_Covariate_shift.py"
FAST = {"steps": "500"}  # AppTest views: half the default's steps, the same compiled programs


@pytest.fixture(scope="module")
def default():
    """The page's default view: 8x64 ReLU, SGD lr 0.05, batch 64, 1000 steps, seeds 0, 1, 2."""
    config = exp.CovariateShiftConfig()
    assert config.seeds == (0, 1, 2)
    assert (config.depth, config.width, config.activation, config.lr, config.steps,
            config.batch_size) == (8, 64, "relu", 0.05, 1000, 64)
    return exp.run_covariate_shift(config)


# ---------------------------------------------------------------------------- 1a claims


def test_median_drifts_far_less_with_bn(default):
    s = default.summary
    assert s["drift_bn"] < 0.3, s  # pilot 0.20-0.24
    assert s["drift_plain"] / s["drift_bn"] > 5, s  # pilot about 15x
    per_seed = default.units.groupby(["variant", "seed"])["drift"].mean().unstack(0)
    assert list(per_seed.index) == [0, 1, 2]


def test_spread_changes_a_lot_without_bn_and_little_with_it(default):
    s = default.summary
    assert s["spread_ratio_plain"] > 4, s  # pilot 6.4-9.6x
    assert s["spread_ratio_bn"] < 2, s  # pilot 1.3-1.5x


def test_bands_are_ordered_and_probed_every_50_steps(default):
    b = default.bands
    assert sorted(b["step"].unique()) == list(range(0, 1001, 50))
    assert (b["p15"] <= b["p50"]).all() and (b["p50"] <= b["p85"]).all()
    assert set(b["unit"]) == set(range(64)) and set(b["variant"]) == {"BN", "plain"}


# ---------------------------------------------------------------------------- 1b claims


def test_affine_change_of_layer1_costs_bn_nothing_and_plain_a_lot(default):
    s = default.summary
    assert s["affine_dloss_bn"] < 1e-4, s  # exact invariance (Ioffe Sec. 3.3), up to eps
    assert s["affine_dloss_plain"] > 0.05, s  # pilot 0.18-0.54
    # No later layer of the BN net sees the change either.
    bn = default.layers[(default.layers["variant"] == "BN") & (default.layers["kind"] == "affine")]
    assert bn["rel_change"].max() < 1e-4


def test_scaling_w1_by_3_does_not_move_bn_logits(default):
    s = default.summary
    assert s["w1x3_dlogit_bn"] < 1e-3, s  # pilot about 1e-5
    assert s["w1x3_dlogit_plain"] > 1.0, s  # pilot about 1e2: the probe is live


def test_random_direction_hurts_bn_less_but_not_zero(default):
    p = default.perturb
    ref = p[(p["size"] == exp.REFERENCE_SIZE) & (p["kind"] == "random")]
    paired = ref.pivot(index="seed", columns="variant", values="dloss")
    assert list(paired.index) == [0, 1, 2]
    assert int((paired["BN"] < paired["plain"]).sum()) >= 2, paired
    assert default.summary["random_bn_lower_seeds"] >= 2
    # Not an invariance: a general change still reaches BN's later layers.
    assert default.summary["random_dloss_bn"] > 1e-3, default.summary


def test_bn_pins_the_mean_and_spread_of_every_layers_input(default):
    """Any change of layer 1, random too, leaves the per-unit mean and std (over the set) of every
    BN layer's input unchanged: x_hat has mean 0 and variance 1 by construction. The values
    still move."""
    s = default.summary
    assert s["random_moments_change_bn"] < 1e-4, s
    assert s["random_moments_change_plain"] > 0.05, s
    assert s["random_values_change_bn"] > 0.05, s
    bn = default.layers[default.layers["variant"] == "BN"]
    assert bn["moment_change"].max() < 1e-4


def test_perturbation_grows_with_its_size(default):
    p = default.perturb[(default.perturb["variant"] == "plain")
                        & (default.perturb["kind"] == "affine")]
    by_size = p.groupby("size")["dloss"].mean()
    assert by_size.loc[2.0] > by_size.loc[0.25]


def test_summary_has_the_design_keys(default):
    s = default.summary
    for k in ("drift_plain", "drift_bn", "affine_dloss_plain", "affine_dloss_bn",
              "spread_ratio_plain", "spread_ratio_bn", "w1x3_dlogit_bn", "random_dloss_bn",
              "random_dloss_plain"):
        assert np.isfinite(s[k]), k
    assert s["diverged_bn"] == 0 and s["diverged_plain"] == 0


# ---------------------------------------------------------------------------- smoke, charts


@pytest.mark.parametrize("name", list(exp.PRESETS))
def test_every_preset_runs_small(name):
    config = exp.shrink(exp.PRESETS[name])
    r = exp.run_covariate_shift(config)
    assert set(r.bands.columns) == {"step", "variant", "seed", "unit", "p15", "p50", "p85"}
    assert set(r.perturb.columns) == {"variant", "seed", "size", "kind", "dloss"}
    assert set(r.diverged) == {"BN", "plain"}
    assert all(isinstance(v, bool) for v in r.diverged.values())
    ok = r.runs[~r.runs["diverged"]]
    assert np.isfinite(ok["test_acc"]).all()
    assert r.summary["affine_dloss_bn"] < 1e-4 or r.diverged["BN"]
    assert set(r.summary) >= {"drift_plain", "drift_bn", "affine_dloss_plain", "affine_dloss_bn"}


def test_same_config_same_numbers():
    config = exp.shrink(exp.CovariateShiftConfig(seed=7))
    a, b = exp.run_covariate_shift(config), exp.run_covariate_shift(config)
    assert a.summary == b.summary


def test_charts_are_small_and_typed(default):
    specs = {
        "bands": charts.bands_chart(default.bands, 3).to_dict(),
        "drift": charts.drift_chart(default.units).to_dict(),
        "perturb": charts.perturb_chart(default.perturb, 1.0).to_dict(),
        "layers": charts.layers_chart(default.layers, 0.5).to_dict(),
        "moments": charts.layers_chart(default.layers, 2.0, "mean and spread").to_dict(),
    }
    for name, spec in specs.items():
        rows = sum(len(v) for v in spec.get("datasets", {}).values())
        assert 0 < rows <= 5000, (name, rows)
    bands = specs["bands"]
    assert bands["facet"]["column"]["field"] == "variant"
    assert bands["resolve"]["scale"]["y"] == "shared"
    layer_marks = [lyr["mark"]["type"] if isinstance(lyr["mark"], dict) else lyr["mark"]
                   for lyr in bands["spec"]["layer"]]
    assert layer_marks == ["area", "line"]
    units = {row["unit"] for rows in bands["datasets"].values() for row in rows}
    assert units == {3}


# ---------------------------------------------------------------------------- the page


def _measured(at) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("- Median drift"))


@pytest.fixture(scope="module")
def page_seed0():
    at = render(PAGE, timeout=600, **FAST)
    assert not at.exception, at.exception
    return at


def test_page_renders_with_its_charts_and_verdict(page_seed0):
    at = page_seed0
    assert len(page_charts(at)) == 4
    text = texts(at)
    assert "What this run measured" in text and "Ioffe & Szegedy" in text
    assert "Santurkar" in text
    assert _measured(at)
    spec = json.loads(page_charts(at)[0].proto.spec)
    assert spec["facet"]["column"]["field"] == "variant"


def test_another_seed_changes_the_verdicts_numbers(page_seed0):
    at = render(PAGE, timeout=600, seed="1", **FAST)
    assert not at.exception, at.exception
    assert "Seeds 1 to 3" in texts(at)
    a, b = _measured(page_seed0), _measured(at)
    assert a and b and a != b


def test_a_diverged_net_is_a_result_not_an_error():
    at = render(PAGE, timeout=600, lr="1.0", **FAST)  # plain SGD at lr 1 diverges on every seed
    assert not at.exception, at.exception
    assert "plain net" in " ".join(w.value for w in at.warning)
    text = texts(at)
    assert "plain net diverged on every seed" in text
    assert not re.search(r"\bnan\b", text), "a NaN reached the narration"  # as Python prints it
    assert len(page_charts(at)) == 4


def test_the_url_sets_the_view():
    at = render(PAGE, timeout=600, size="2", measure="mean and spread", unit="5", **FAST)
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="measure").value == "mean and spread"
    assert at.select_slider(key="size").value == 2.0 and at.slider(key="unit").value == 5
    layers = json.loads(page_charts(at)[3].proto.spec)
    assert "mean and std" in json.dumps(layers)


@pytest.mark.parametrize("params,expect", [
    ({"unit": "999"}, "unit=999"),
    ({"size": "abc"}, "size=abc"),
    ({"lr": "inf"}, "lr=inf"),
    ({"depth": "<b>7</b>"}, "depth="),
    ({"measure": "everything"}, "measure=everything"),
])
def test_bad_url_values_give_a_note(params, expect):
    at = render(PAGE, timeout=600, **{**FAST, **params})
    assert not at.exception, at.exception
    assert expect in " ".join(w.value for w in at.warning)
