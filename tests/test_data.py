"""The digits loader against scikit-learn, the oracle: the same file, the same split, index for
index, without importing scikit-learn at run time."""
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bnjax.data import batch_indices, digit_image, load_digits, stratified_split


@pytest.mark.parametrize("seed", [0, 1, 13, 2024])
def test_digits_split_and_scaling_match_scikit_learn(seed):
    x, y = sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=0.3, stratify=y,
                                              random_state=seed)
    scaler = StandardScaler().fit(x_tr)
    d = load_digits(seed)
    np.testing.assert_array_equal(d.y_train, y_tr)
    np.testing.assert_array_equal(d.y_test, y_te)
    np.testing.assert_allclose(d.x_train, scaler.transform(x_tr), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d.x_test, scaler.transform(x_te), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(digit_image(7, "test", seed), x_te[7].reshape(8, 8) * 16.0)


@pytest.mark.parametrize("test_size, seed", [(0.3, 0), (0.25, 5), (0.5, 99), (0.11, 3)])
def test_stratified_split_matches_scikit_learn_with_ties(test_size, seed):
    """Uneven classes, so the left-over draws tie and go to random classes."""
    y = np.repeat(np.arange(7), [5, 9, 9, 12, 3, 30, 7])
    idx = np.arange(len(y))
    tr, te, *_ = train_test_split(idx, y, test_size=test_size, stratify=y, random_state=seed)
    train, test = stratified_split(y, test_size, seed)
    np.testing.assert_array_equal(train, tr)
    np.testing.assert_array_equal(test, te)


def test_loading_does_not_import_scikit_learn():
    code = ("import sys, bnjax; bnjax.load_digits(); "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batches_are_epochs_without_repeats():
    idx = batch_indices(3, 40, 64, 1257)
    assert idx.shape == (40, 64) and idx.dtype == np.int32
    per_epoch = 1257 // 64
    first = idx[:per_epoch].ravel()
    assert len(set(first.tolist())) == len(first)  # no example twice within an epoch
    np.testing.assert_array_equal(idx, batch_indices(3, 40, 64, 1257))
