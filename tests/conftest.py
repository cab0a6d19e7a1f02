"""Shared test setup: strict JAX rank promotion, a key fixture, a clean Streamlit cache."""
import jax
import pytest

import bnjax  # noqa: F401  (sets the XLA device flags before jax initializes its backend)

jax.config.update("jax_numpy_rank_promotion", "raise")

# The test process renders every page and holds all their programs: it is not a 1 GB server,
# so it keeps them (the servers the browser tests start keep the real budget).
import bnjax.runtime  # noqa: E402

bnjax.runtime.RSS_BUDGET_MB = float("inf")


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def clear_streamlit_cache():
    import streamlit as st
    st.cache_data.clear()
    yield
    st.cache_data.clear()


# ---------------------------------------------------------------------------- CI: a skip fails
_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {report.longrepr}")


def pytest_collectreport(report):
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    import os
    if os.environ.get("CI") == "true" and _skipped:
        print("\nCI=true: a skipped test counts as a failure:\n  " + "\n  ".join(_skipped))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items):
    """Browser tests last: their fresh servers then find the compilation cache on disk that the
    in-process tests filled, as a Community Cloud app finds it after a sleep."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
