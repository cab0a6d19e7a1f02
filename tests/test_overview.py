"""The Overview (dashboard.py): each card says what its page says, with the page's numbers.

The claim "a card never states the opposite of its page, and its numbers are the page's" is
tested on real (small) runs of every card's experiments, computed once:
  * each question page's default view asks `ui.run` for exactly the (function, config) the
    Overview's card uses, so both read one cached run (recorded at `ui.panels._cached`, the
    cache every page shares; nothing is trained);
  * fed the same results, a page and the Overview show the same short answer, word for word;
  * the card's big numbers are the seed means of the page's summary, with their seed range;
  * slow: the real default runs, through the Overview, against direct calls.
"""
import dataclasses
import threading

import numpy as np
import pytest

import ui.panels
from bnjax.experiments import overview
from bnjax.narration import overview as cards_say
from tests.apphelp import render, texts
from ui.frame import PAGES, page_exists


def _cards():
    return (overview.BASICS,) + overview.CARDS


def _written():
    """The cards whose experiment modules exist (the others say "coming")."""
    return [c for c in _cards() if overview.exists(c)]


NORMALIZATION_SMALL = {  # page 7's configs, small (as tests/test_normalization.py's _tiny)
    "InvarianceConfig": dict(steps=20, depth=2, width=16),
    "NoiseConfig": dict(steps=20, batches=8, batch_sizes=(4, 16), depth=2, width=16),
    "SmallBatchConfig": dict(epochs=1, batch_sizes=(4, 32), depth=2, width=16),
    "LandscapeConfig": dict(steps=100, gains=(1.0,), depth=2, width=16, sweep_min=0.3),
    "DepthConfig": dict(batch_size=32),
}


def _small(config):
    """A small version of a page's default config (the same programs where the module has a
    `shrink`), so every card's experiments run in seconds."""
    module = __import__(type(config).__module__, fromlist=["shrink"])
    if hasattr(module, "shrink"):
        return module.shrink(config)
    if type(config).__module__.endswith(".normalization"):  # page 7: the smoke-test sizes
        return dataclasses.replace(config, **NORMALIZATION_SMALL[type(config).__name__])
    if type(config).__name__ == "LandscapeConfig":
        return dataclasses.replace(config, steps=100, depth=2, width=32, n_seeds=2)
    return config


def _key(fn):
    return f"{fn.__module__}.{fn.__name__}"


def _run_key(run):
    return f"bnjax.experiments.{run.module}.{run.function}"


@pytest.fixture(scope="module")
def small_results():
    """{function name: result} of every card's runs at the small default views, trained once."""
    out = {}
    for card in _written():
        for fn, config in overview.available(card):
            if _key(fn) not in out:  # page 4 and page 7 both have a run_noise_meter
                out[_key(fn)] = fn(_small(config))
    return out


@pytest.fixture
def no_warm_up(monkeypatch):
    """The background warm-up would train every default view in this test process."""
    calls = []
    monkeypatch.setattr(overview, "warm_up", lambda runner, *a, **k: calls.append(runner))
    return calls


@pytest.fixture
def served(small_results, monkeypatch, clear_streamlit_cache):
    """`ui.run` serves the small results by function name (nothing trains); a run without one
    fails as a page's bad configuration would, and the page stops there. Records the names."""
    asked = []

    def cached(name, *args, **kwargs):
        asked.append(name)
        if name not in small_results:
            raise RuntimeError(f"not served in this test: {name}")
        return small_results[name]
    monkeypatch.setattr(ui.panels, "_cached", cached)
    return asked


def test_cards_are_the_question_pages():
    assert [c.page for c in overview.CARDS] == [p.path for p in PAGES[2:6] + PAGES[7:8]]
    assert overview.BASICS.page == PAGES[1].path
    assert overview.WARM_UP == tuple(r for c in _cards() for r in c.runs)
    for card in _written():
        for run in card.runs:
            fn, config = overview.resolve(run)
            default = type(config)()  # the page's default view
            assert config == (getattr(default, run.view)() if run.view else default)
            assert fn.__name__ == run.function


def _card_text(card, small_results):
    return card.text([small_results[_run_key(r)] for r in card.runs])


def test_overview_shows_each_pages_answer_and_numbers(served, small_results, no_warm_up):
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert no_warm_up == [ui.panels.warm]  # the pages' cache, yielding to viewers
    assert not at.error, [e.value for e in at.error]
    shown = {m.label: m for m in at.metric}
    text = texts(at)
    for card in _written():
        said = _card_text(card, small_results)
        assert said.answer in text, card.page
        assert said.note and said.note in text, card.page  # units and direction, on screen
        assert 2 <= len(said.metrics) <= 3
        for m in said.metrics:
            assert len(m.label) <= cards_say.LABEL_MAX  # labels that fit, not "ablation AUC, d…"
            assert shown[m.label].value == m.value, (card.page, m.label)
    assert "How to use this in a lecture" in text
    assert "Measuring live" not in text  # every card got its numbers
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels == [p.label for p in PAGES if page_exists(p)]


# The card numbers that a page's summary states too: (card, metric label, summary key, scale).
SUMMARY_OF = [
    ("pages/1_BatchNorm_basics.py", "train mode, batch of 1", "run_basics", "acc_train_batch1",
     100),
    ("pages/1_BatchNorm_basics.py", "eval mode", "run_basics", "acc_eval_population", 100),
    ("pages/2_Covariate_shift.py", "input drift, BN", "run_covariate_shift", "drift_bn", 1),
    ("pages/2_Covariate_shift.py", "input drift, plain", "run_covariate_shift", "drift_plain",
     1),
    ("pages/3_Layer_decoupling.py", "gradient cosine, BN", "run_gradients", "ics_cos_bn", 1),
    ("pages/3_Layer_decoupling.py", "gradient cosine, plain", "run_gradients", "ics_cos_plain",
     1),
    ("pages/4_Regularization_noise.py", "batch-noise slope", "run_noise_meter", "noise_slope",
     1),
    ("pages/5_Hyperparameter_landscape.py", "good cells, BN", "run_landscape", "good_cells_bn",
     1),
    ("pages/5_Hyperparameter_landscape.py", "good cells, plain", "run_landscape",
     "good_cells_plain", 1),
    ("pages/7_Batch_or_normalization.py", "batch of 4, LayerNorm", "run_small_batches",
     "acc_b4_ln", 100),
    ("pages/7_Batch_or_normalization.py", "batch of 4, BN", "run_small_batches",
     "acc_b4_bn_running", 100),
]


@pytest.mark.parametrize("page,label,function,key,scale", SUMMARY_OF,
                         ids=[f"{p.split('/')[-1][:2]}{label}" for p, label, *_ in SUMMARY_OF])
def test_card_numbers_are_the_pages_summary(small_results, page, label, function, key, scale):
    card = next(c for c in _written() if c.page == page)
    m = next(m for m in _card_text(card, small_results).metrics if m.label == label)
    run = next(r for r in card.runs if r.function == function)
    mean = small_results[_run_key(run)].summary[key] * scale
    value = float(m.value.split("/")[0].rstrip("% ").replace("−", "-"))
    decimals = len(m.value.split("/")[0].strip().rstrip("%").partition(".")[2])
    assert value == pytest.approx(mean, abs=0.51 * 10 ** -decimals), (label, m.value, mean)


@pytest.mark.parametrize("card", [c for c in _written()
                                  if page_exists(next(p for p in PAGES if p.path == c.page))],
                         ids=lambda c: c.page)
def test_a_card_says_what_its_page_says(card, served, small_results):
    """Fed the same results, the page's short answer and the card's answer are the same words:
    the card cannot state the opposite of its page."""
    at = render(card.page)
    assert not at.exception, at.exception
    answers = [m.value for m in at.markdown if m.value.startswith("**Short answer.**")]
    assert len(answers) == 1, answers
    assert answers[0] == f"**Short answer.** {_card_text(card, small_results).answer}"


def test_every_card_says_what_its_numbers_mean(small_results):
    """A bare "gradient cosine 0.78" does not say which way is more change: every card's note
    gives its numbers' units and direction."""
    notes = {c.page: _card_text(c, small_results).note for c in _written()}
    assert all(notes.values()), notes
    note = notes["pages/3_Layer_decoupling.py"]
    assert "1 = it kept its direction" in note and "lower = it turned more" in note
    assert "higher is better" in notes["pages/1_BatchNorm_basics.py"]
    assert "Lower = steadier" in notes["pages/2_Covariate_shift.py"]


def test_metric_spread_and_zero():
    m = cards_say.metric("input drift, BN", [0.2, 0.25, 0.18])
    assert (m.value, m.spread) == ("0.21", "seeds 0.18 to 0.25")
    assert cards_say.metric("x", [3e-9, 1e-9]).value == "≈ 0"  # never 0.0e+00 or 3e-09 raw
    assert cards_say.metric("x", [0.5, 0.5]).spread == ""  # the seeds agree: no range
    assert cards_say.metric("x", [np.nan]).value == "—"  # every run diverged
    assert cards_say.count("good cells, BN", 18, [18, 17], 21) == ("good cells, BN", "18 / 21",
                                                                   "seeds 17 to 18", "")
    assert cards_say.ranged("batch-noise slope", -0.48, -0.52, -0.45).spread == \
        "seeds −0.52 to −0.45"  # a typeset minus, as on the pages
    with pytest.raises(ValueError):
        cards_say.metric("ablation AUC, dropout recomputed", [0.5])  # would be clipped


def test_a_missing_experiment_says_coming(served, no_warm_up, monkeypatch):
    missing = dataclasses.replace(overview.CARDS[3],
                                  runs=(overview.Run("not_written_yet", "run_x", "XConfig"),))
    monkeypatch.setattr(overview, "CARDS", overview.CARDS[:3] + (missing,))
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert "The experiment behind this page is coming." in texts(at)
    assert not any(m.label.startswith("good cells") for m in at.metric)


def test_a_broken_page_narration_is_said_not_raised(served, no_warm_up, monkeypatch):
    def broken(results):
        raise KeyError("a summary key the page renamed")
    monkeypatch.setattr(overview, "CARDS", (dataclasses.replace(overview.CARDS[0], text=broken),)
                        + overview.CARDS[1:])
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "could not be built" in at.error[0].value
    assert any(m.label.startswith("good cells") for m in at.metric)  # the others still fill


# ---------------------------------------------------------------------------- same cached run


def _record_page(page, card, monkeypatch):
    """Open `page` at its default view, recording each `ui.run` cache key. Runs are not trained:
    the card's last run raises (the page then stops), earlier ones return a small real run."""
    keys = []
    last = card.runs[-1].function

    def recorder(name, config_json, _fn, _config, *args, **kwargs):
        keys.append((name, config_json))
        if name.endswith("." + last):
            raise RuntimeError("recorded")
        return _fn(_small(_config))
    monkeypatch.setattr(ui.panels, "_cached", recorder)
    at = render(page)
    assert not at.exception, at.exception
    return keys


@pytest.mark.parametrize("card", [c for c in _written()
                                  if page_exists(next(p for p in PAGES if p.path == c.page))],
                         ids=lambda c: c.page)
def test_the_page_default_view_is_the_cards_run(card, monkeypatch, clear_streamlit_cache):
    keys = _record_page(card.page, card, monkeypatch)
    for fn, config in overview.available(card):
        assert (f"{fn.__module__}.{fn.__qualname__}", ui.panels.config_key(config)) in keys


# ---------------------------------------------------------------------------- warm-up


def test_warm_up_runs_once_per_process(monkeypatch):
    monkeypatch.setattr(overview, "_warm_thread", None)
    done, calls = threading.Event(), []

    def runner(fn, config):
        calls.append((fn.__name__, config))
        if len(calls) == 1:
            done.set()
    runs = (overview.BASICS.runs[0], overview.Run("not_written_yet", "run_x", "XConfig"))
    assert overview.warm_up(runner, runs, pause=0.0) is True
    assert overview.warm_up(runner, runs, pause=0.0) is False  # already running
    overview._warm_thread.join(timeout=30)
    assert done.is_set() and len(calls) == 1  # the missing module is passed over
    name, config = calls[0]
    assert name == "run_basics" and config == type(config)()


# ---------------------------------------------------------------------------- the whole thing


@pytest.mark.slow
def test_overview_numbers_equal_the_default_runs(no_warm_up, clear_streamlit_cache):
    """Minutes: every default view trained through the Overview, then directly."""
    at = render("dashboard.py", timeout=1800)
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    text = texts(at)
    for card in _written():
        said = card.text([fn(config) for fn, config in overview.available(card)])
        assert said.answer in text, card.page
        for m in said.metrics:
            assert shown[m.label] == m.value, (card.page, m.label)
