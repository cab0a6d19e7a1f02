"""The digits data set, the one every page trains on.

Teaches: a fixed, stratified split and standardization with *training* statistics only.
Leaves out: any download. Digits (1797 images of 8x8 pixels) ships inside scikit-learn.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    x_train: np.ndarray  # (1257, 64) float32, standardized
    y_train: np.ndarray  # (1257,) int32
    x_test: np.ndarray  # (540, 64) float32, standardized with the training statistics
    y_test: np.ndarray  # (540,) int32


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
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    x, y = _sk_digits(return_X_y=True)
    x = x.astype(np.float64) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=split_seed)
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
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    x, y = _sk_digits(return_X_y=True)
    x_tr, x_te, *_ = train_test_split(x, y, test_size=0.3, stratify=y, random_state=split_seed)
    return (x_tr if split == "train" else x_te)[index].reshape(8, 8)


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
