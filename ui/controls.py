"""URL-bound controls: every widget that defines an experiment is a query parameter.

Streamlit binds a widget to the URL (`bind="query-params"`) and silently drops a value it cannot
use. Here every value from the URL is validated first: a good one is used, a bad
one (not a number, out of range, repeated) falls back to the default, with a note on the page.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import streamlit as st

_MAX_SHOWN = 40  # characters of a bad URL value echoed back in a note


def _raw(key: str) -> list[str] | None:
    """The URL's values for `key` on the first render of its widget, else None."""
    if key in st.session_state:  # the widget exists already: the session owns its value
        return None
    values = st.query_params.get_all(key)
    return values or None


def _note(key: str, raw: Sequence[str], message: str) -> None:
    shown = ", ".join(v[:_MAX_SHOWN].replace("`", "'") or "(empty)" for v in raw)
    st.warning(f"URL parameter `{key}={shown}`: {message}", icon=":material/link_off:")


def _seed(key: str, value: Any) -> None:
    """Give the widget `value` before it is created (the URL's value was unusable)."""
    st.session_state[key] = value


def _check_number(key, raw, lo, hi, default, integer: bool):
    if len(raw) > 1:
        _note(key, raw, f"given {len(raw)} times; using the default {default}.")
        return _seed(key, default)
    try:
        v = float(raw[0])
    except ValueError:
        _note(key, raw, f"not a number; using the default {default}.")
        return _seed(key, default)
    if not math.isfinite(v):
        _note(key, raw, f"not a finite number; using the default {default}.")
        return _seed(key, default)
    if v < lo or v > hi:
        # The default, not the nearest end: a URL must not buy the most expensive view.
        _note(key, raw, f"outside the range {lo} to {hi}; using the default {default}.")
        return _seed(key, default)
    if integer and v != int(v):
        _note(key, raw, f"not a whole number; using the default {default}.")
        return _seed(key, default)


def slider(label: str, key: str, *, min_value, max_value, default, step=None, help=None,
           format=None, container=st):
    """A slider bound to `?key=`. Integers when min, max and default are all ints."""
    integer = all(isinstance(v, int) for v in (min_value, max_value, default))
    raw = _raw(key)
    if raw is not None:
        _check_number(key, raw, min_value, max_value, default, integer)
    kw = {} if key in st.session_state else {"value": default}
    return container.slider(label, min_value=min_value, max_value=max_value, step=step, key=key,
                            help=help, format=format, bind="query-params", **kw)


def _check_option(key, raw, options, default, format_func):
    labels = [format_func(o) for o in options]
    if len(raw) > 1:
        _note(key, raw, f"given {len(raw)} times; using the default {format_func(default)}.")
        return _seed(key, default)
    if raw[0] not in labels:
        # A number written differently (lr=0.10 for 0.1) still finds its option.
        try:
            v = float(raw[0])
            for o in options:
                if isinstance(o, (int, float)) and math.isclose(float(o), v, rel_tol=1e-9):
                    return _seed(key, o)
        except ValueError:
            pass
        choices = ", ".join(labels[:12]) + (" …" if len(labels) > 12 else "")
        _note(key, raw, f"not one of {choices}; using the default {format_func(default)}.")
        return _seed(key, default)


def select(label: str, key: str, options: Sequence, default, *, format_func: Callable = str,
           help=None, container=st):
    """A selectbox bound to `?key=`; the URL holds `format_func(option)`."""
    raw = _raw(key)
    if raw is not None:
        _check_option(key, raw, options, default, format_func)
    kw = {} if key in st.session_state else {"index": list(options).index(default)}
    return container.selectbox(label, options, key=key, format_func=format_func, help=help,
                               bind="query-params", **kw)


def select_slider(label: str, key: str, options: Sequence, default, *,
                  format_func: Callable = str, help=None, container=st):
    """A select_slider (e.g. a log-spaced learning rate) bound to `?key=`."""
    raw = _raw(key)
    if raw is not None:
        _check_option(key, raw, options, default, format_func)
    kw = {} if key in st.session_state else {"value": default}
    return container.select_slider(label, options=options, key=key, format_func=format_func,
                                   help=help, bind="query-params", **kw)


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def toggle(label: str, key: str, default: bool, *, help=None, container=st) -> bool:
    """A toggle bound to `?key=true|false`."""
    raw = _raw(key)
    if raw is not None:
        word = raw[0].strip().lower() if len(raw) == 1 else ""
        if word in _TRUE | _FALSE:
            _seed(key, word in _TRUE)
        else:
            _note(key, raw, f"not true or false; using the default {str(default).lower()}.")
            _seed(key, default)
    kw = {} if key in st.session_state else {"value": default}
    return container.toggle(label, key=key, help=help, bind="query-params", **kw)


def seed(default: int = 0, *, key: str = "seed", container=st) -> int:
    """The random seed: the same seed, the same numbers."""
    return slider("Seed", key, min_value=0, max_value=999, default=default, container=container,
                  help="Every number on this page is a function of the seed: same URL, same result.")


def lecture_mode() -> bool:
    return bool(st.session_state.get("lecture", False))


def controls_area(label: str = "Controls"):
    """Where a page puts the controls that define its experiment, and their presets.

    In plain view normally; in lecture mode folded into a closed expander, so that the first
    screen shows the title, the claim and the first chart. The widgets inside render and bind to
    the URL either way (a widget's identity is its key, not its place on the page).
    """
    if lecture_mode():
        return st.expander(label, expanded=False, icon=":material/tune:")
    return st.container()
