"""One module per dashboard page: a frozen <Name>Config, a <Name>Result with a `summary`, a
`run_<name>(config, progress=None)` function and `PRESETS`. Import the modules directly:
`from bnjax.experiments import landscape`."""

from __future__ import annotations

import inspect
from typing import Callable


def reporter(progress: Callable | None):
    """`progress(fraction, message, partial)` when the callback takes a partial result (the
    page's live charts), `progress(fraction, message)` otherwise; None without a callback."""
    if progress is None:
        return None
    try:
        params = inspect.signature(progress).parameters.values()
        takes = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 3 \
            or any(p.kind == p.VAR_POSITIONAL for p in params)
    except (TypeError, ValueError):
        takes = False
    return (lambda f, m, partial=None: progress(f, m, partial)) if takes else \
        (lambda f, m, partial=None: progress(f, m))
