"""Hostile URLs on every page: no traceback, the default view, and a note saying why."""
import pytest

from tests.apphelp import render, rendered, texts
from ui.frame import PAGES, page_exists

HOSTILE = ["abc", "-4", "1e12", "nan", "", "<script>alert(1)</script>", ["1", "2"], "inf",
           "-inf", "1e400", "0x1F", " ", "%00", "None", "[]", "1,2", "\U0001F600", "9" * 400,
           "-1e-9", "'; DROP TABLE runs;--"]
assert len(HOSTILE) == 20
WIDGETS = ("slider", "select_slider", "selectbox", "toggle", "radio", "checkbox", "number_input")
QUESTION_PAGES = [p.path for p in PAGES[1:] if page_exists(p)]


def _bound_keys(at):
    """The keys of the page's own widgets (the URL parameters), lecture mode aside."""
    keys = [w.key for kind in WIDGETS for w in at.main.get(kind) if getattr(w, "key", None)]
    return [k for k in keys if k != "lecture" and not k.startswith("$$")]


def _measured(at):
    """The verdict's 'What this run measured' sentences and the notes."""
    return [line for line in texts(at).splitlines() if line.startswith("- ")]


@pytest.mark.parametrize("page", QUESTION_PAGES)
def test_hostile_urls(page):
    default = rendered(page)  # the default view, as tests/test_app.py drew it
    assert not default.exception
    keys = _bound_keys(default)
    assert keys, f"{page} binds no control to the URL"
    expected = _measured(default)
    for value in HOSTILE:
        at = render(page, **{k: value for k in keys})
        assert not at.exception, (page, value, at.exception)
        notes = [w.value for w in at.warning if w.value.startswith("URL parameter")]
        assert notes, (page, value)
        assert _measured(at) == expected, (page, value)
