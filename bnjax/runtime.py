"""Process housekeeping for a long-lived server: memory held by compiled programs.

Each compiled XLA program holds tens of MB, and a server that has shown every page holds
dozens of them. With the persistent compilation cache on disk (see `bnjax/__init__.py`),
dropping them is cheap: the next use loads the program instead of compiling it again.
"""
from __future__ import annotations

import ctypes
import gc
import os

import jax

# Above this resident size, compiled programs are dropped after a run (Community Cloud gives
# an app about 1 GB; the rest is Streamlit, Python and the results cache).
RSS_BUDGET_MB = float(os.environ.get("BNJAX_RSS_BUDGET_MB", "600"))


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
    """Drop compiled programs and trim the heap when over budget (or `force`). Returns whether
    it did. Call it only when no computation is running in another thread."""
    if not force and rss_mb() <= RSS_BUDGET_MB:
        return False
    jax.clear_caches()
    gc.collect()
    _malloc_trim()
    return True
