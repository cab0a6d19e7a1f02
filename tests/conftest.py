"""Shared test setup: strict JAX rank promotion, a key fixture, a clean Streamlit cache."""
import bnjax.runtime

# Before JAX computes anything: the CPU devices and the compilation cache, as the app has them
# (BNJAX_DEVICES and BNJAX_COMPILATION_CACHE still choose).
bnjax.runtime.configure()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

# The test process renders every page and holds all their programs: it is not a 1 GB server,
# so it keeps them (the servers the browser tests start keep the real budget).
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
