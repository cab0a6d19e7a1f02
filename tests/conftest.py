"""Shared test setup: strict JAX rank promotion, a key fixture, a clean Streamlit cache."""
import re

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
    """Browser tests last in a one-process run: their fresh server then finds the compilation
    cache on disk that the in-process tests filled, as a Community Cloud app finds it after a
    sleep. (Under xdist the order of files is the scheduler's, below.)"""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


# ---------------------------------------------------------------------------- AppTest's overhead
def _scan_components_once() -> None:
    """Every AppTest run scans all installed distributions for Streamlit components (~0.3 s on a
    quiet core, hundreds of renders in the suite); nothing gets installed during a run, so scan
    once per process."""
    import functools

    from streamlit.components.v2 import manifest_scanner
    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):
        cached = functools.lru_cache(maxsize=None)(lambda: tuple(scan()))
        manifest_scanner.scan_component_manifests = lambda *a, **k: list(cached())
        manifest_scanner.scan_component_manifests.cache_info = cached.cache_info


_scan_components_once()


# ---------------------------------------------------------------------------- two workers
# pytest-xdist (pytest.ini: -n 2 --dist loadfile): each unit below runs whole on one worker, so
# its module fixtures are computed once. The units, instead of plain loadfile's one per file:
#   * the browser files: they share one server and one Chromium (fixtures below);
#   * one unit per question page: that page's tests in the AppTest files (tests/test_app.py,
#     test_urls.py and test_export.py, which render every page at its default or small view) and
#     its science file. One process then computes each view once (Streamlit's cache is per
#     process): the science file's default-view fixtures fetch the page's own runs through that
#     cache (`tests.apphelp.computed`), its page renders find them too;
#   * every other file on its own.
# The units go out longest first (seconds of a quiet 2-core machine, estimated on 2026-12-02
# from runs on a loaded one; a unit not listed counts 5 s), so that the two workers finish
# together. The browser unit is the longest but its worker mostly waits (its server and Chromium
# compute): it goes out second, beside the longest page unit, and the other units fill the
# cores around it (handed out after three units, it finished last). Its fresh server finds the
# compilation cache on disk that earlier runs left (the default cache), as a Community Cloud app
# after a sleep; its tour (time budgets) shares the cores with that page unit.
UNITS = {"tests/test_browser.py": "browser", "tests/test_browser_views.py": "browser"}
SCIENCE = {"tests/test_basics.py": 1, "tests/test_covariate_shift.py": 2,
           "tests/test_decoupling.py": 3, "tests/test_regularization.py": 4,
           "tests/test_landscape.py": 5, "tests/test_playground.py": 6,
           "tests/test_normalization.py": 7}
BY_PAGE = ("tests/test_app.py", "tests/test_urls.py", "tests/test_export.py")
PLAYGROUND = 6  # tests/test_app.py's tests of no page parameter render the Playground
FILE_SECONDS = {"browser": 185, "page 5": 90, "page 7": 55, "page 3": 43, "page 4": 25,
                "page 6": 20, "page 2": 17, "page 1": 15, "tests/test_overview.py": 9,
                "tests/test_nn.py": 8, "tests/test_train.py": 7, "tests/test_startup.py": 6}
BROWSER_AFTER = 1  # units handed out before the browser unit


def _order(units: list[str]) -> list[str]:
    """Longest first, the browser unit after the first BROWSER_AFTER."""
    units = sorted(units, key=lambda u: -FILE_SECONDS.get(u, 5))
    if "browser" in units:
        units.remove("browser")
        units.insert(min(BROWSER_AFTER, len(units)), "browser")
    return units


def _unit(nodeid: str) -> str:
    file, _, test = nodeid.partition("::")
    if file in UNITS:
        return UNITS[file]
    if file in SCIENCE:
        return f"page {SCIENCE[file]}"
    if file in BY_PAGE:
        page = re.search(r"\[pages/(\d+)_", test)
        if page:
            return f"page {int(page.group(1))}"
        if file == "tests/test_app.py":
            return f"page {PLAYGROUND}"
    return file


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

        def schedule(self) -> None:
            if self.collection is None and self.collection_is_completed:
                self._ordered = False
            super().schedule()

        def _assign_work_unit(self, node) -> None:
            if not getattr(self, "_ordered", True):  # the first time: the whole queue in order
                units = dict(self.workqueue)
                self.workqueue.clear()
                self.workqueue.update((u, units[u]) for u in _order(list(units)))
                self._ordered = True
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False
    return LongestFirst(config, log)


# ---------------------------------------------------------------------------- the running app
# One Chromium and one server for both browser files (one xdist unit, above): the server first
# tours every page at its default view, fresh (tests/test_browser.py checks that tour); the
# phone and dark-theme checks (tests/test_browser_views.py) then see the same default views,
# computed once.
@pytest.fixture(scope="session")
def chromium():
    """(playwright, browser): Debian's Chromium, headless."""
    from playwright.sync_api import sync_playwright

    from tests.server import launch_chromium
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield p, b
        b.close()


@pytest.fixture(scope="session")
def fresh_tour(chromium):
    """A fresh server process; every page at its default view, in the order of the sidebar, as a
    visitor would: the Overview first (its first paint; it keeps computing its numbers and warming
    the default views in the background). The compilation cache on disk is what earlier processes
    left, as after a sleep on Community Cloud. `bench/memory.py` measures the same tour with an
    empty cache. Yields (rows, base, process): rows of (page, seconds to its first chart,
    exceptions, sidebar links, charts)."""
    from tests.server import streamlit_server, tour
    with streamlit_server() as (base, proc):
        yield tour(chromium[1], base, proc), base, proc
