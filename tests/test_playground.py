"""The Playground compares any two normalizations (issue 14), trains them side by side through the
one runner with live partial results (issue 13), and answers in plain words whatever the URL
(issue 12): its experiment, its words for nets other than BN and plain, and the page itself."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from bnjax.charts import STYLE
from bnjax.charts import playground as charts
from bnjax.experiments import playground as exp
from bnjax.narration import playground as say
from tests.apphelp import charts as page_charts
from tests.apphelp import palette_problems, render, texts

SMALL = exp.PlaygroundConfig(depth=2, width=16, steps=200, seed=3)


@pytest.fixture(scope="module")
def pairs():
    """LayerNorm vs plain, BN vs BN, and BN vs plain on the same seeds."""
    return {(a, b): exp.run_playground(dataclasses.replace(SMALL, norm_a=a, norm_b=b))
            for a, b in (("layer", "none"), ("batch", "batch"), ("batch", "none"))}


# ---------------------------------------------------------------------------- the experiment


def test_any_two_normalizations_side_by_side(pairs):
    r = pairs[("layer", "none")]
    assert r.nets == ("LayerNorm", "plain")
    assert list(dict.fromkeys(r.per_seed.variant)) == ["LayerNorm", "plain"]
    assert set(r.per_seed.seed) == {3, 4, 5}
    for key in ("acc", "final_loss", "dead", "update", "steps_to_level"):
        assert r.summary[f"{key}_a"] == r.summary[f"{key}_ln"]
        assert r.summary[f"{key}_b"] == r.summary[f"{key}_plain"]
    assert "acc_bn" not in r.summary
    assert 0.8 < r.summary["acc_ln"] <= 1.0  # a LayerNorm net learns the digits in 200 steps
    # the same plain nets as in BN vs plain: the same seeds and batches, whatever net A is
    plain = pairs[("batch", "none")]
    np.testing.assert_array_equal(r.per_seed[r.per_seed.variant == "plain"].acc,
                                  plain.per_seed[plain.per_seed.variant == "plain"].acc)
    assert set(r.layers.variant) == {"LayerNorm", "plain"}
    assert len(r.layers) == 2 * 2 * 3 * 2  # when x nets x seeds x layers


def test_two_nets_with_one_normalization_are_one_net(pairs):
    """BN vs BN: one network trained once, shown under two names with the same numbers, which
    are BN's own numbers of BN vs plain (same seeds, same batches)."""
    r = pairs[("batch", "batch")]
    assert r.nets == ("net A (BN)", "net B (BN)")
    a = r.per_seed[r.per_seed.variant == "net A (BN)"].drop(columns="variant")
    b = r.per_seed[r.per_seed.variant == "net B (BN)"].drop(columns="variant")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    bn = pairs[("batch", "none")].per_seed
    np.testing.assert_array_equal(a.acc, bn[bn.variant == "BN"].acc)
    assert r.summary["same_net"] == 1.0 and r.summary["acc_a"] == r.summary["acc_b"]
    answer = say.short_answer(r.config, r.per_seed, r.summary)
    assert "Both nets have batch norm, so they are the same network" in answer
    assert say.pct(a.acc) in answer and "Pick another normalization for net B" in answer
    assert "higher" not in answer and "lower" not in answer
    assert say.accuracy_title(r.per_seed)[0] == "Test accuracy: the same net twice"


def test_bn_and_plain_train_as_one_switch_job_and_layernorm_apart():
    """BN vs plain (either way round) is one job of switch nets: one compiled program and full
    waves; its numbers are the BN and the plain nets' own, bit for bit (the tests above compare
    them with LayerNorm vs plain's plain nets and BN vs BN's nets)."""
    seeds = (0, 1, 2)
    for a, b in (("batch", "none"), ("none", "batch")):
        jobs, plan = exp._jobs(dataclasses.replace(SMALL, norm_a=a, norm_b=b), seeds)
        assert len(jobs) == 1 and next(iter(jobs.values())).config.spec.norm == "switch"
        job = next(iter(jobs.values()))
        assert job.seeds == seeds + seeds
        on = np.asarray(job.hp.bn).tolist()
        assert on == ([1.0] * 3 + [0.0] * 3 if a == "batch" else [0.0] * 3 + [1.0] * 3)
        assert [rows for _, rows in plan.values()] == [slice(0, 3), slice(3, 6)]
    jobs, plan = exp._jobs(dataclasses.replace(SMALL, norm_a="layer"), seeds)
    assert sorted(j.config.spec.norm for j in jobs.values()) == ["layer", "none"]
    jobs, plan = exp._jobs(dataclasses.replace(SMALL, norm_b="batch"), seeds)
    a, b = plan.values()
    assert len(jobs) == 1 and a == b  # BN twice: trained once


def test_partial_results_grow_from_the_first_chunk():
    seen = []

    def progress(fraction, message, partial=None):
        if partial is not None:
            seen.append(partial)
    config = dataclasses.replace(SMALL, steps=300, norm_a="layer", norm_b="batch")
    final = exp.run_playground(config, progress=progress)
    assert seen and seen[0].step == exp.chunk_steps(300) == exp.CHUNK and not seen[0].done
    assert exp.chunk_steps(2000) == 100 and exp.chunk_steps(5000) == 250
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and len(steps) >= 3
    for p in seen:
        assert set(p.curves.variant) == set(p.accuracy.variant) == {"LayerNorm", "BN"}
        assert p.curves.step.max() <= p.step and p.accuracy.step.max() <= p.step
        # what was drawn live is what the finished result holds, up to that step
        done = final.curves[final.curves.step <= p.step]
        np.testing.assert_array_equal(p.curves.sort_values(["variant", "seed", "step"]).loss,
                                      done.sort_values(["variant", "seed", "step"]).loss)
    assert final.done and final.accuracy.step.max() == 300


def test_a_live_chart_spans_the_run_and_shows_its_first_point():
    """The first live frame has one test-accuracy point per net: drawn as a dot on an x-axis
    that already spans the whole run (a line of one point draws nothing)."""
    one = pd.DataFrame({"step": [100] * 6, "variant": ["BN"] * 3 + ["plain"] * 3,
                        "seed": [0, 1, 2] * 2, "acc": [0.9, 0.91, 0.92, 0.8, 0.85, 0.82]})
    spec = json.dumps(charts.accuracy_chart(one, x_max=2000).to_dict())
    assert '"domain": [0, 2000.0]' in spec.replace("0.0, 2000.0", "0, 2000.0")
    assert '"point": true' in spec
    assert '"point": true' not in json.dumps(charts.accuracy_chart(
        pd.concat([one, one.assign(step=200), one.assign(step=300)])).to_dict())


def test_a_config_no_control_offers_is_a_clear_error():
    for bad, word in ((dict(norm_a="group"), "norm_a"), (dict(depth=500), "depth"),
                      (dict(lr=-1.0), "learning rate"), (dict(activation="gelu"), "activation")):
        with pytest.raises(ValueError, match=word):
            exp.run_playground(dataclasses.replace(SMALL, **bad))


# ---------------------------------------------------------------------------- the words


def frame(a="LayerNorm", b="BN", **per_net) -> pd.DataFrame:
    values = dict(acc=([0.98, 0.975, 0.983], [0.965, 0.968, 0.972]),
                  final_loss=([1e-3, 1e-3, 2e-3], [1e-3, 1.1e-3, 2e-3]),
                  steps_to_level=([50, 55, 45], [52, 56, 47]), diverged=([0] * 3, [0] * 3),
                  dead=([0.0] * 3, [0.02, 0.01, 0.03]), saturation=([0.5] * 3, [0.5] * 3),
                  update=([-3.4, -3.3, -3.5], [-3.4, -3.3, -3.5]))
    values.update(per_net)
    return pd.DataFrame([dict(variant=v, seed=s, **{k: float(x[i][s]) for k, x in values.items()})
                         for i, v in enumerate((a, b)) for s in range(3)])


def test_sentences_name_the_two_nets_and_flip_with_the_data():
    config = dataclasses.replace(exp.PlaygroundConfig(), norm_a="layer", norm_b="batch")
    up = say.short_answer(config, frame(), {"loss_level": 0.1})
    assert "LayerNorm's test accuracy is **higher** than BN's: 97.9%" in up
    assert "(**fewer with LayerNorm than with BN**)" in say.health_sentence(frame(), "relu")
    assert "dead units" not in up and "update:data" not in up  # said in their own section
    assert "trained **about as fast** as BN" in up
    down = say.short_answer(config, frame(acc=([0.965, 0.968, 0.972], [0.98, 0.975, 0.983])),
                            {"loss_level": 0.1})
    assert "LayerNorm's test accuracy is **lower** than BN's" in down
    assert say.accuracy_title(frame())[0] == "Test accuracy: LayerNorm's higher than BN's"
    # plain as net A: the comparative is said of the normalized net, and still flips
    plain_first = frame("plain", "BN", dead=([0.02, 0.01, 0.03], [0.0] * 3))
    assert "(**fewer with BN**)" in say.health_sentence(plain_first, "relu")
    assert "(**more with BN**)" in say.health_sentence(
        frame("plain", "BN", dead=([0.0] * 3, [0.02, 0.01, 0.03])), "relu")
    assert say.verdict_lines(plain_first, {}, config)[0].startswith("plain net: ")


def test_speed_is_compared_only_when_a_net_got_there_on_every_seed():
    """lr 10: LayerNorm got below the level on one seed of three, BN on none: no "about as
    fast", the sentence says that neither got there on every seed."""
    some = say.training_sentence(frame(steps_to_level=([66, np.nan, np.nan], [np.nan] * 3)),
                                 1.0, 300)
    assert some.startswith("Neither net got its training loss below 1 on every seed within "
                           "300 steps; LayerNorm ended with") and "trained" not in some
    every = say.training_sentence(frame(steps_to_level=([66, 70, 80], [np.nan] * 3)), 1.0, 300)
    assert every.startswith("LayerNorm trained **faster** than BN (loss below 1 for good: after 72 "
                            "(66–80) steps vs not within 300 steps)")


def test_long_chart_titles_break_after_their_colon():
    layers = pd.DataFrame([dict(when="end", variant=v, seed=s, layer="layer 1", dead=0.0,
                                saturation=sat, grad_std=g)
                           for v, sat, g in (("LayerNorm", 0.1, 1e-5), ("BN", 0.3, 1e-7))
                           for s in range(3)])
    title = say.activation_title(layers, "end", "sigmoid", 80)[0]
    assert title == ["Saturated outputs after training:", "less with LayerNorm than with BN"]
    for lines in (say.activation_title(layers, "end", "sigmoid", 80),
                  say.gradient_title(layers, "end", 80), say.update_title(frame(), 80)):
        head = lines[0] if isinstance(lines[0], list) else [lines[0]]
        assert all(len(x) <= say.HEAD for x in head) and all(len(x) <= 80 for x in lines[1:])


def test_two_nets_of_one_normalization_keep_the_palette(pairs):
    r = pairs[("batch", "batch")]
    for chart in (charts.accuracy_chart(r.accuracy), charts.loss_chart(r.curves)):
        spec = chart.to_dict()
        assert not palette_problems(spec), palette_problems(spec)
        text = json.dumps(spec)
        assert STYLE["BN"][0] not in text  # neither of the two BN nets pretends to be "the" BN
        assert "net A (BN)" in text and "net B (BN)" in text
    spec = charts.accuracy_chart(pairs[("layer", "none")].accuracy).to_dict()
    assert not palette_problems(spec) and STYLE["LayerNorm"][0] in json.dumps(spec)


def _titles(spec: dict) -> list:
    """Every title object in a chart spec (the chart's, its layers', its facets')."""
    out = [spec["title"]] if isinstance(spec.get("title"), dict) else []
    for key in ("layer", "hconcat", "vconcat"):
        for sub in spec.get(key, []):
            out += _titles(sub)
    if isinstance(spec.get("spec"), dict):
        out += _titles(spec["spec"])
    return out


@pytest.mark.parametrize("big", [False, True])
def test_every_subtitle_is_readable_and_every_share_is_a_percentage(pairs, big):
    """The numbers under each title at 14 px or more (17 in lecture mode, where the titles
    grow too), and test accuracy in % in the tooltips as on the axes and in the titles (not
    0.98 in one place and 98% in another)."""
    r = pairs[("batch", "none")]
    title = ["Title", "a subtitle line", "another"]
    end = r.activations[r.activations.when == "end"]
    built = [charts.accuracy_chart(r.accuracy, title=title, big=big),
             charts.loss_chart(r.curves, title=title, big=big),
             charts.histogram_chart(end, "ReLU output", title=title, big=big),
             charts.update_ratio_chart(r.update_ratio, title=title, big=big)]
    for chart in built:
        spec = chart.to_dict()
        subtitles = [t for t in _titles(spec) if "subtitle" in t]
        assert subtitles, spec.get("title")
        assert all(t["subtitleFontSize"] >= (17 if big else 14) for t in subtitles)
    text = json.dumps(built[0].to_dict())
    assert '"format": ".1%"' in text and '"format": ".4g"' not in text
    assert '"format": ".0%"' in text  # the axis


# ---------------------------------------------------------------------------- the page


def test_the_page_compares_layernorm_with_plain():
    at = render("pages/6_Playground.py", norm_a="layer", steps="200", depth="2", width="16")
    assert not at.exception, at.exception
    assert at.selectbox(key="norm_a").value == "layer"
    assert at.selectbox(key="norm_b").value == "none"
    text = texts(at)
    assert "LayerNorm's test accuracy is" in text and "LayerNorm net:" in text
    for c in page_charts(at):
        assert not palette_problems(json.loads(c.proto.spec))


def test_hostile_urls_get_a_note_and_never_a_traceback():
    at = render("pages/6_Playground.py", timeout=600, norm_a="foo",
                norm_b="<script>alert(1)</script>", lr="1e999", depth="1e9", width="-5",
                seed="1e400", steps="100", batch_size="0", gain="nan", dropout="0.99",
                optimizer="rmsprop", activation="")
    assert not at.exception, at.exception
    notes = " ".join(w.value for w in at.warning)
    for key in ("norm_a=foo", "norm_b=", "lr=1e999", "depth=1e9", "width=-5", "seed=1e400",
                "batch_size=0", "gain=nan", "dropout=0.99", "optimizer=rmsprop"):
        assert key in notes, key
    assert "<script>" not in " ".join(m.value for m in at.markdown)
    text = texts(at)
    assert "BN's test accuracy is" in text  # the defaults: BN vs plain
    assert page_charts(at)


def test_a_view_too_big_for_the_server_is_refused_with_a_message():
    """The largest URL (10x256 nets, batch 256, 5000 steps: about 9 minutes of training on 2
    cores) gets a message saying how to make it smaller; it never starts training."""
    big = dataclasses.replace(exp.PlaygroundConfig(), depth=10, width=256, batch_size=256,
                              steps=5000)
    with pytest.raises(ValueError, match="about 9.4 minutes"):
        exp.check(big)
    for preset in exp.PRESETS.values():
        exp.check(preset)  # every preset fits
    at = render("pages/6_Playground.py", depth="10", width="256", batch_size="256",
                steps="5000")
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "could not be run" in errors and "fewer steps" in errors
    assert not page_charts(at)


def test_the_same_normalization_twice_is_said_plainly():
    at = render("pages/6_Playground.py", norm_a="none", norm_b="none", steps="100", depth="2",
                width="16")
    assert not at.exception, at.exception
    assert "Both nets have no normalization, so they are the same network" in texts(at)
    for c in page_charts(at):
        assert not palette_problems(json.loads(c.proto.spec))
