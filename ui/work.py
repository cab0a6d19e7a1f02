"""Who computes when, on a server of 2 shared cores: one heavy run at a time, viewers first.

`GATE` lets one training run at a time in this process (two side by side are each slower than
one after the other). A viewer's run takes it before the Overview's background warm-up, and a
warm-up run in progress pauses at its next progress report (a chunk of training) while a
viewer waits: a viewer never waits behind warm-up.

`BOARD` shows what each run in progress has reported so far, so a viewer who opens a view that
another thread is computing (the warm-up, or another viewer) watches it fill in instead of
waiting blind, and the result lands in the shared cache once.

No Streamlit here: `ui.panels.run` draws, this module only coordinates threads.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, NamedTuple


class Update(NamedTuple):
    """One progress report of a run: what the progress bar and a live chart draw."""
    fraction: float  # of the run, 0 to 1
    message: str
    partial: Any = None  # the experiment's partial result, when it gives one
    runs: Any = None  # the runner's partial results ({job name: bnjax.runs.Result}), if any


class Gate:
    """One heavy computation at a time; a viewer before a background (warm-up) run."""

    # A background run starts only this long after the last viewer's run ended: a viewer who
    # moves to another page (their next run starts a moment later) keeps the way clear.
    GRACE = 1.5  # seconds

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._holder: str | None = None  # "viewer" or "background"
        self._viewers_waiting = 0
        self._paused = 0  # background runs paused for a viewer
        self._viewer_left = -float("inf")  # time.monotonic() when a viewer's run last ended

    @contextlib.contextmanager
    def hold(self, *, background: bool = False, on_wait: Callable[[], None] | None = None,
             poll: float = 0.5, watched: Callable[[], bool] = lambda: False):
        """Hold the gate for one run. While waiting, `on_wait()` is called every `poll`
        seconds (Streamlit stops a run whose viewer left at such a call). A background run
        waits as long as any viewer waits or runs, and GRACE seconds after the last viewer's
        run, unless `watched()` (a viewer is waiting for this very run: see `Board`)."""
        self._acquire(background, on_wait, poll, watched)
        try:
            yield self
        finally:
            with self._cv:
                self._holder = None
                if not background:
                    self._viewer_left = time.monotonic()
                self._cv.notify_all()

    def _grace(self, watched: Callable[[], bool]) -> float:
        """Seconds a background run still waits after the last viewer's run (0 if watched)."""
        if watched():
            return 0.0
        return max(0.0, self.GRACE - (time.monotonic() - self._viewer_left))

    def _acquire(self, background: bool, on_wait, poll: float, watched) -> None:
        with self._cv:
            if not background:
                self._viewers_waiting += 1
        try:
            while True:
                with self._cv:
                    grace = self._grace(watched) if background else 0.0
                    if self._holder is None and not (background and (
                            self._viewers_waiting or grace > 0)):
                        self._holder = "background" if background else "viewer"
                        if not background:
                            self._viewers_waiting -= 1
                        return
                    self._cv.wait(min(poll, max(grace, 0.01)) if background else poll)
                if on_wait is not None:
                    on_wait()  # outside the lock: it may raise (the viewer left)
        except BaseException:
            if not background:
                with self._cv:
                    self._viewers_waiting -= 1
                    self._cv.notify_all()
            raise

    def yield_to_viewers(self, watched: Callable[[], bool] = lambda: False) -> None:
        """Called by a background run between units of work (its progress reports): when a
        viewer waits, step aside until no viewer waits or runs (and GRACE seconds, unless
        `watched()`), then carry on."""
        with self._cv:
            if self._holder != "background" or not self._viewers_waiting:
                return
            self._holder = None
            self._paused += 1
            self._cv.notify_all()
            while self._holder is not None or self._viewers_waiting or self._grace(watched):
                self._cv.wait(0.1)
            self._paused -= 1
            self._holder = "background"

    def paused(self) -> int:
        """How many background runs are paused (their programs and state still in use)."""
        with self._cv:
            return self._paused

    def viewers_waiting(self) -> int:
        with self._cv:
            return self._viewers_waiting


class Board:
    """The latest `Update` of every run in progress, by its cache key, and who watches it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[Any, Update] = {}
        self._watchers: dict[Any, int] = {}

    @contextlib.contextmanager
    def watching(self, key):
        """A viewer waits for the run of `key` that another thread computes."""
        with self._lock:
            self._watchers[key] = self._watchers.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._watchers[key] -= 1
                if not self._watchers[key]:
                    del self._watchers[key]

    def watched(self, key) -> bool:
        with self._lock:
            return bool(self._watchers.get(key))

    @contextlib.contextmanager
    def computing(self, key):
        """Mark `key` in progress for the block; yields `publish(update)`."""
        with self._lock:
            self._latest[key] = Update(0.0, "starting")

        def publish(update: Update) -> None:
            with self._lock:
                self._latest[key] = update
        try:
            yield publish
        finally:
            with self._lock:
                self._latest.pop(key, None)

    def get(self, key) -> Update | None:
        """The latest update of `key`, or None when nobody is computing it."""
        with self._lock:
            return self._latest.get(key)


GATE = Gate()
BOARD = Board()
