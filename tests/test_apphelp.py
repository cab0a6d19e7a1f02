"""The test helpers the suite's speed rests on: `computed` hands a science fixture exactly what
the experiment function returns, trained once per process (the page's cache)."""
import dataclasses

import numpy as np
import pandas as pd

from bnjax.experiments import basics
from tests.apphelp import computed

CALLS: list = []


def _counted(config, progress=None):
    CALLS.append(config)
    return basics.run_basics(config, progress=progress)


def _assert_same(a, b, where="result"):
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=where)
    elif hasattr(a, "shape") and hasattr(a, "dtype"):  # numpy or JAX arrays
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), (where, a, b)  # NaN equals NaN here


def test_computed_is_the_experiments_result_trained_once():
    config = basics.BasicsConfig(steps=40, n_seeds=2, seed=13)
    CALLS.clear()
    first, again = computed(_counted, config), computed(_counted, config)
    assert CALLS == [config]  # the second one is fetched, not trained
    direct = basics.run_basics(config)
    _assert_same(first, direct)
    _assert_same(again, direct)
