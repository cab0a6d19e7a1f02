"""Process setup and housekeeping: the CPU devices, the compilation cache, compiled programs' memory.

Importing `bnjax` changes nothing in the process. Whoever owns the process (the dashboard's
pages through `ui.frame`, the tests' `conftest.py`, the bench scripts) calls `configure()` once,
before the first JAX computation:

    from bnjax import runtime
    runtime.configure()                      # 2 CPU devices, the shared disk cache
    runtime.configure(devices=1, cache_dir=None)   # or explicit choices

Environment variables give the defaults, so a deployment or a cold-start measurement needs no
code: `BNJAX_DEVICES` (XLA CPU devices, default 2) and `BNJAX_COMPILATION_CACHE` (the folder of
the persistent compilation cache, default `<tmp>/bnjax-xla-cache`; "0" turns it off).

This module does not import JAX at import time (`ui.frame` calls `configure` before a page has
loaded JAX: the Overview's first paint does not wait for it).
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import tempfile
import threading
from typing import NamedTuple

_log = logging.getLogger("bnjax.runtime")

# Above this resident size, compiled programs are dropped after a run (Community Cloud gives
# an app about 1 GB; the rest is Streamlit, Python and the results cache).
RSS_BUDGET_MB = float(os.environ.get("BNJAX_RSS_BUDGET_MB", "600"))

# A program that compiles faster than this is not written to the disk cache (reading it back
# would cost about as much as compiling it).
CACHE_MIN_COMPILE_SECS = 0.2


class Settings(NamedTuple):
    devices: int  # XLA CPU devices asked for (the runner trains one run per device)
    cache_dir: str | None  # the persistent compilation cache, or None when off


_settings: Settings | None = None
_lock = threading.Lock()


def _default_cache_dir() -> str | None:
    value = os.environ.get("BNJAX_COMPILATION_CACHE",
                           os.path.join(tempfile.gettempdir(), "bnjax-xla-cache"))
    return None if value in ("", "0") else value


def configure(devices: int | None = None, cache_dir: str | os.PathLike | None | bool = True
              ) -> Settings:
    """Set up JAX for this process; returns the settings in effect.

    Args:
      devices: XLA CPU devices (`jax_num_cpu_devices`): 2 lets the runner train two runs at
        once, one per core. Default: `BNJAX_DEVICES`, else 2. It only takes effect before the
        first JAX computation; later, the count already in place stays (and is logged).
      cache_dir: the persistent compilation cache's folder: a cold process (Community Cloud
        after a sleep) loads compiled programs instead of compiling them. True (the default):
        `BNJAX_COMPILATION_CACHE`, else `<tmp>/bnjax-xla-cache`; None or False: no cache.

    The first call applies the settings; a later call with the same settings does nothing
    (every page calls it), one with different settings applies what still can be applied.
    """
    global _settings
    if devices is None:
        devices = int(os.environ.get("BNJAX_DEVICES", "2"))
    if cache_dir is True:
        cache_dir = _default_cache_dir()
    elif cache_dir is False:
        cache_dir = None
    wanted = Settings(max(1, int(devices)), None if cache_dir is None else os.fspath(cache_dir))
    with _lock:
        if _settings == wanted:
            return _settings
        if "jax" not in sys.modules:
            # JAX reads these when it is imported: nothing is loaded now.
            os.environ["JAX_NUM_CPU_DEVICES"] = str(wanted.devices)
            if wanted.cache_dir is not None:
                os.environ["JAX_COMPILATION_CACHE_DIR"] = wanted.cache_dir
                os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(
                    CACHE_MIN_COMPILE_SECS)
                os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
            else:
                os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
        else:
            _apply_to_loaded_jax(wanted)
        _settings = wanted
        return _settings


def _apply_to_loaded_jax(wanted: Settings) -> None:
    import jax
    from jax._src import xla_bridge

    if not xla_bridge.backends_are_initialized():
        jax.config.update("jax_num_cpu_devices", wanted.devices)
    elif len(jax.devices("cpu")) != wanted.devices:
        _log.warning("JAX already runs on %d CPU device(s); configure(devices=%d) came too late",
                     len(jax.devices("cpu")), wanted.devices)
    if wanted.cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", wanted.cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECS)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    else:
        jax.config.update("jax_compilation_cache_dir", None)


def settings() -> Settings | None:
    """The settings `configure` applied, or None when it has not been called."""
    return _settings


# ---------------------------------------------------------------------------- memory


def warm_start() -> None:
    """What a server's start-up does in JAX (`ui/startup.py`), after `configure`: start XLA's CPU
    client and LLVM with a tiny compile, and compile the initial weights' draw program that every
    page's first training call needs whatever its net (`runs.compile_draws`)."""
    import jax
    import jax.experimental.multihost_utils  # noqa: F401  a first session imported it late
    import jax.numpy as jnp

    from bnjax import runs
    jax.block_until_ready(jax.jit(lambda x: jnp.tanh(x) @ x)(jnp.ones((4, 4))))
    runs.compile_draws()


def rss_mb() -> float:
    """This process's resident memory in MB (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def release_memory(force: bool = False) -> bool:
    """Drop compiled programs and trim the heap when over budget (or `force`), unless trimming
    the heap alone brings the process under it. Returns whether it dropped them. Call it only
    when no computation (nor compile) is running in another thread. With the persistent
    compilation cache on, the next use loads a dropped program instead of compiling it again."""
    if not force and rss_mb() <= RSS_BUDGET_MB:
        return False
    if not force:  # freed heap the allocator kept (a big run's temporaries) goes back first
        _malloc_trim()
        if rss_mb() <= RSS_BUDGET_MB:
            return False
    import jax

    jax.clear_caches()
    runs = sys.modules.get("bnjax.runs")
    if runs is not None:
        runs.forget_compiled()  # its record of compiled programs is out of date now
    gc.collect()
    _malloc_trim()
    return True
