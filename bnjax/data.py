"""The digits data set, the one every page trains on.

Teaches: a fixed, stratified split and standardization with *training* statistics only.
Leaves out: any download. Digits (1797 images of 8x8 pixels) ships inside scikit-learn; we read
its file and split it exactly as scikit-learn would, without importing it (a faster cold start).
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    x_train: np.ndarray  # (1257, 64) float32, standardized
    y_train: np.ndarray  # (1257,) int32
    x_test: np.ndarray  # (540, 64) float32, standardized with the training statistics
    y_test: np.ndarray  # (540,) int32


def _digits_file() -> str:
    """scikit-learn's copy of the digits (1797 rows: 64 pixels 0..16, then the label), found
    without importing scikit-learn (an import of ~0.7 s that a cold process would pay)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-learn is required: it ships the digits data")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")


@functools.cache
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """(x (1797, 64) float64 in 0..16, y (1797,) int): what `sklearn.datasets.load_digits`
    returns, read from the same file the same way; read once per process (read-only)."""
    with gzip.open(_digits_file(), mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    x, y = data[:, :-1], data[:, -1].astype(int)
    for a in (x, y):
        a.setflags(write=False)
    return x, y


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState):
    """Per class, how many of `n_draws` go to it (scikit-learn's `_approximate_mode`): floor of
    the proportional share, then the left-over draws to the largest remainders, ties at random."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add = min(len(inds), need)
            floored[rng.choice(inds, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


def stratified_split(y: np.ndarray, test_size: float, seed: int):
    """(train indices, test indices) of `train_test_split(..., test_size, stratify=y,
    random_state=seed)` in scikit-learn (its `StratifiedShuffleSplit`), the same draws from the
    same generator; tests/test_data.py checks it against scikit-learn, index for index."""
    n_test = math.ceil(test_size * len(y))
    n_train = len(y) - n_test
    _, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(y_index, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for members, n, t in zip(by_class, n_i, t_i):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        train.extend(shuffled[:n])
        test.extend(shuffled[n:n + t])
    return rng.permutation(train), rng.permutation(test)


@functools.cache
def load_digits(split_seed: int = 0) -> Dataset:
    """Digits, stratified 70/30 split, standardized with training statistics.

    A pixel that is constant in the training split gets scale 1 (as `StandardScaler`
    does): dividing by `std + 1e-8` would turn a test pixel that is 0 in every training
    image into ~1e8 and one such example would wreck BN's batch statistics.

    >>> d = load_digits()
    >>> d.x_train.shape, d.x_test.shape
    ((1257, 64), (540, 64))
    """
    x, y = _raw_digits()
    x = x / 16.0
    train, test = stratified_split(y, 0.3, split_seed)
    x_tr, x_te, y_tr, y_te = x[train], x[test], y[train], y[test]
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # constant pixels: scale 1, as StandardScaler does
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    out = Dataset(f32((x_tr - mean) / std), y_tr.astype(np.int32),
                  f32((x_te - mean) / std), y_te.astype(np.int32))
    for a in out:
        a.setflags(write=False)  # cached and shared: nobody may mutate it
    return out


def digit_image(index: int, split: str = "train", split_seed: int = 0) -> np.ndarray:
    """The raw 8x8 image (0..16) behind training or test example `index`, for display."""
    x, y = _raw_digits()
    train, test = stratified_split(y, 0.3, split_seed)
    return x[(train if split == "train" else test)[index]].reshape(8, 8)


def batch_indices(seed: int, steps: int, batch_size: int, n: int) -> np.ndarray:
    """Pre-sampled mini-batch indices, (steps, batch_size) int32: shuffled epochs, no repeats
    within an epoch. Deterministic in `seed`, the same for BN and plain nets."""
    rng = np.random.default_rng(seed)
    per_epoch = n // batch_size
    if per_epoch == 0:  # batch larger than the data: sample with replacement
        return rng.integers(0, n, size=(steps, batch_size)).astype(np.int32)
    epochs = -(-steps // per_epoch)
    perms = [rng.permutation(n)[: per_epoch * batch_size] for _ in range(epochs)]
    idx = np.concatenate(perms).reshape(-1, batch_size)[:steps]
    return idx.astype(np.int32)
