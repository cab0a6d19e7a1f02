"""The Overview (dashboard.py): its cards show the summaries of the pages' default-view runs.

The claim "the Overview's numbers equal the pages' summary values for the same default configs"
is tested in two cheap halves and one slow whole:
  * each question page's default view asks `ui.run` for exactly the (function, config) the
    Overview's card uses, so both read one cached run (recorded at `ui.panels._cached`, the
    cache every page shares; nothing is trained);
  * the Overview writes exactly the numbers of the summaries it gets (stub runs with known
    summaries);
  * slow: the real default runs, through the Overview, against direct calls.
"""
import dataclasses
import threading
import types

import pytest

import ui.panels
from bnjax.experiments import overview
from tests.apphelp import render, texts
from ui.frame import PAGES, page_exists

SUMMARIES = {  # distinctive values, one dict per run function
    "run_basics": {"acc_train_batch1": 0.0963, "acc_eval_population": 0.9778},
    "run_covariate_shift": {"drift_plain": 3.847, "drift_bn": 0.2104,
                            "affine_dloss_plain": 0.4183, "affine_dloss_bn": 0.0},
    "run_gradients": {"ics_cos_plain": 0.8791, "ics_cos_bn": 0.8213, "acc_bn": 0.9623,
                      "acc_plain": 0.94},
    "run_noisy": {"acc_noisy_bn": 0.9711, "acc_noisy_plain": 0.9611},
    "run_noise_meter": {"noise_slope": -0.4843, "noise_std_b16": 0.3694},
    "run_ablation": {"auc_plain": 0.5902, "auc_bn_frozen": 0.5481, "auc_bn_recomputed": 0.6733,
                     "auc_dropout": 0.6804},
    "run_landscape": {"good_cells_bn": 18.0, "good_cells_plain": 6.0, "n_cells": 21.0},
}


def _cards():
    return (overview.BASICS,) + overview.CARDS


def _written():
    """The cards whose experiment modules exist (the others say "coming")."""
    return [c for c in _cards() if overview.exists(c)]


@pytest.fixture
def no_warm_up(monkeypatch):
    """The background warm-up would train every default view in this test process."""
    calls = []
    monkeypatch.setattr(overview, "warm_up", lambda runner, *a, **k: calls.append(runner))
    return calls


@pytest.fixture
def stub_runs(monkeypatch):
    """Every card's run function returns a result with a known summary, instantly."""
    asked = []
    for card in _written():
        for run in card.runs:
            module = __import__(f"bnjax.experiments.{run.module}", fromlist=[run.function])

            def stub(config, progress=None, _name=run.function):
                asked.append((_name, config))
                return types.SimpleNamespace(summary=dict(SUMMARIES[_name]), config=config)
            stub.__qualname__ = f"stub_{run.function}"  # its own cache key
            monkeypatch.setattr(module, run.function, stub)
    return asked


def test_cards_are_the_question_pages():
    assert [c.page for c in overview.CARDS] == [p.path for p in PAGES[2:6]]
    assert overview.BASICS.page == PAGES[1].path
    assert overview.WARM_UP == tuple(r for c in _cards() for r in c.runs)
    for card in _written():
        for run in card.runs:
            fn, config = overview.resolve(run)
            default = type(config)()  # the page's default view
            assert config == (getattr(default, run.view)() if run.view else default)
            assert fn.__name__ == run.function


def test_overview_shows_exactly_the_summaries(stub_runs, no_warm_up, clear_streamlit_cache):
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert no_warm_up == [ui.run]  # the warm-up goes through the pages' cache
    # Every card asked for its page's default config, once per run.
    assert sorted(n for n, _ in stub_runs) == sorted(r.function for c in _written()
                                                     for r in c.runs)
    expected = {r.function: overview.resolve(r)[1] for c in _written() for r in c.runs}
    assert all(config == expected[name] for name, config in stub_runs)
    shown = [(m.label, m.value) for m in at.metric]
    text = texts(at)
    for card in _written():
        summaries = [SUMMARIES[r.function] for r in card.runs]
        for label, value in card.metrics(summaries):
            assert (label, value) in shown
        assert card.headline(summaries) in text
    # The numbers as a viewer reads them.
    assert ("train mode, test batch of 1", "9.6%") in shown
    if overview.exists(overview.CARDS[3]):
        assert ("good cells, BN", "18 / 21") in shown and ("good cells, plain", "6 / 21") in shown
    if overview.exists(overview.CARDS[0]):
        assert ("median drift, plain", "3.85") in shown and ("median drift, BN", "0.21") in shown
    assert "How to use this in a lecture" in text
    assert not at.warning  # every stub summary supports its card's answer


def test_a_run_that_disagrees_is_said_plainly(stub_runs, no_warm_up, monkeypatch,
                                              clear_streamlit_cache):
    monkeypatch.setitem(SUMMARIES, "run_landscape",
                        {"good_cells_bn": 5.0, "good_cells_plain": 9.0, "n_cells": 21.0})
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert len(at.warning) == 1 and "does not support" in at.warning[0].value


def test_a_missing_experiment_says_coming(stub_runs, no_warm_up, monkeypatch,
                                          clear_streamlit_cache):
    missing = dataclasses.replace(overview.CARDS[3],
                                  runs=(overview.Run("not_written_yet", "run_x", "XConfig"),))
    monkeypatch.setattr(overview, "CARDS", overview.CARDS[:3] + (missing,))
    at = render("dashboard.py")
    assert not at.exception, at.exception
    assert "The experiment behind this page is coming." in texts(at)
    assert len(at.metric) == sum(len(c.metrics([SUMMARIES[r.function] for r in c.runs]))
                                 for c in _written() if c is not missing)


def test_a_diverged_summary_reads_not_available():
    nan = float("nan")
    s = [{"good_cells_bn": nan, "good_cells_plain": 6.0, "n_cells": 21.0}]
    card = overview.CARDS[3]
    assert "n/a" in card.headline(s) and not card.holds(s)


# ---------------------------------------------------------------------------- same cached run


def _record_page(page, card, monkeypatch):
    """Open `page` at its default view, recording each `ui.run` cache key. Runs are not trained:
    the card's last run raises (the page then stops), earlier ones return a small real run."""
    keys = []
    last = card.runs[-1].function

    def recorder(name, config_json, _fn, _config, _progress):
        keys.append((name, config_json))
        if name.endswith("." + last):
            raise RuntimeError("recorded")
        module = __import__(_fn.__module__, fromlist=["shrink"])
        return _fn(module.shrink(_config))
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
    shown = [(m.label, m.value) for m in at.metric]
    text = texts(at)
    for card in _written():
        summaries = [fn(config).summary for fn, config in overview.available(card)]
        assert card.holds(summaries), card.page
        for label, value in card.metrics(summaries):
            assert (label, value) in shown, (card.page, label)
        assert card.headline(summaries) in text
