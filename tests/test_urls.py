"""Hostile URLs: no traceback, the default view, and a note saying why.

Every hostile value meets every kind of URL-bound control (`ui.controls`) on a small script
that trains nothing; every page then meets a share of them on all its own controls at once
(the shares rotate, so that the pages together meet every value): the page-level test checks
that each page's controls go through `ui.controls` and that a bad URL leaves the default
view's numbers, the script-level test checks the parsing of each value.
"""
import pytest
from streamlit.testing.v1 import AppTest

from tests.apphelp import render, rendered, texts
from ui.frame import PAGES, page_exists

HOSTILE = ["abc", "-4", "1e12", "nan", "", "<script>alert(1)</script>", ["1", "2"], "inf",
           "-inf", "1e400", "0x1F", " ", "%00", "None", "[]", "1,2", "\U0001F600", "9" * 400,
           "-1e-9", "'; DROP TABLE runs;--"]
assert len(HOSTILE) == 20
WIDGETS = ("slider", "select_slider", "selectbox", "toggle", "radio", "checkbox", "number_input")
QUESTION_PAGES = [p.path for p in PAGES[1:] if page_exists(p)]
PER_PAGE = 4  # hostile values each page meets (rotating: page i gets values i, i + n, ...)


def _bound_keys(at):
    """The keys of the page's own widgets (the URL parameters), lecture mode aside."""
    keys = [w.key for kind in WIDGETS for w in at.main.get(kind) if getattr(w, "key", None)]
    return [k for k in keys if k != "lecture" and not k.startswith("$$")]


def _measured(at):
    """The verdict's 'What this run measured' sentences and the notes."""
    return [line for line in texts(at).splitlines() if line.startswith("- ")]


def _controls_script():
    """One control of each kind, as the pages make them; prints what each returns."""
    import streamlit as st

    import ui
    st.markdown(f"int {ui.slider('n', 'n', min_value=1, max_value=5, default=3)}")
    st.markdown(f"float {ui.slider('x', 'x', min_value=0.0, max_value=1.0, default=0.5)}")
    st.markdown(f"seed {ui.seed(7)}")
    st.markdown(f"select {ui.select('s', 's', ['a', 'b', 'c'], 'b')}")
    st.markdown(f"lr {ui.select_slider('lr', 'lr', [0.01, 0.1, 1.0], 0.1)}")
    st.markdown(f"flag {ui.toggle('t', 't', True)}")


DEFAULTS = {"int": "3", "float": "0.5", "seed": "7", "select": "b", "lr": "0.1", "flag": "True"}


def _values(at) -> dict:
    out = {}
    for m in at.markdown:
        name, _, value = m.value.partition(" ")
        out[name] = value
    return out


@pytest.mark.parametrize("value", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_every_hostile_value_on_every_kind_of_control(value):
    at = AppTest.from_function(_controls_script, default_timeout=30)
    for key in ("n", "x", "seed", "s", "lr", "t"):
        at.query_params[key] = value
    at.run()
    assert not at.exception, (value, at.exception)
    notes = [w.value for w in at.warning if w.value.startswith("URL parameter")]
    assert len(notes) == 6, (value, notes)  # one per control: none took the value silently
    got = _values(at)
    for name, default in DEFAULTS.items():
        assert got.get(name, "").startswith(default), (value, name, got)


def test_a_good_url_value_is_used_without_a_note():
    at = AppTest.from_function(_controls_script, default_timeout=30)
    for key, v in {"n": "5", "x": "0.25", "seed": "12", "s": "c", "lr": "0.10", "t": "false"
                   }.items():
        at.query_params[key] = v
    at.run()
    assert not at.exception
    assert not [w for w in at.warning if w.value.startswith("URL parameter")]
    got = _values(at)
    assert got["int"] == "5" and got["float"].startswith("0.25") and got["seed"] == "12"
    assert got["select"] == "c" and got["lr"].startswith("0.1") and got["flag"] == "False"


@pytest.mark.parametrize("page", QUESTION_PAGES)
def test_hostile_urls(page):
    default = rendered(page)  # the default view, as tests/test_app.py drew it
    assert not default.exception
    keys = _bound_keys(default)
    assert keys, f"{page} binds no control to the URL"
    expected = _measured(default)
    i = QUESTION_PAGES.index(page)
    share = HOSTILE[i::len(QUESTION_PAGES)][:PER_PAGE] + [HOSTILE[(i * 3 + 1) % len(HOSTILE)]]
    for value in share:
        at = render(page, **{k: value for k in keys})
        assert not at.exception, (page, value, at.exception)
        notes = [w.value for w in at.warning if w.value.startswith("URL parameter")]
        assert notes, (page, value)
        assert _measured(at) == expected, (page, value)


def test_the_pages_meet_every_hostile_value():
    n = len(QUESTION_PAGES)
    met = {repr(v) for i in range(n) for v in
           HOSTILE[i::n][:PER_PAGE] + [HOSTILE[(i * 3 + 1) % len(HOSTILE)]]}
    assert met == {repr(v) for v in HOSTILE}
