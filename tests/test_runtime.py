"""bnjax.runtime's memory housekeeping: compiled programs are dropped only when trimming the
heap does not bring the server under its memory budget."""
import jax
import jax.numpy as jnp

from bnjax import runtime


def _setup(monkeypatch, readings):
    """rss_mb reads `readings` in turn; returns the list of trims made."""
    values, trims = iter(readings), []
    monkeypatch.setattr(runtime, "rss_mb", lambda: next(values))
    monkeypatch.setattr(runtime, "_malloc_trim", lambda: trims.append(True))
    monkeypatch.setattr(runtime, "RSS_BUDGET_MB", 600.0)
    return trims


def _compiled_once():
    f = jax.jit(lambda x: x * 2.0 + 1.0)
    f(jnp.ones(3)).block_until_ready()
    return f


def test_under_budget_nothing_happens(monkeypatch):
    trims = _setup(monkeypatch, [500.0])
    assert runtime.release_memory() is False and trims == []


def test_a_trim_that_is_enough_keeps_the_compiled_programs(monkeypatch):
    f = _compiled_once()
    trims = _setup(monkeypatch, [900.0, 550.0])  # a big run's freed temporaries
    assert runtime.release_memory() is False and trims == [True]
    assert f._cache_size() == 1  # the program is still compiled


def test_over_budget_after_the_trim_drops_the_compiled_programs(monkeypatch):
    f = _compiled_once()
    trims = _setup(monkeypatch, [900.0, 800.0])
    assert runtime.release_memory() is True and len(trims) == 2
    assert f._cache_size() == 0
