"""The data sets shipped with tensorweave for its runner and examples (`runner/data/`, each with
a README stating its source and licence); nothing is downloaded at run time."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_digits", "DIGITS_PATH"]

DIGITS_PATH = os.path.join(os.path.dirname(__file__), "data", "digits", "digits.npz")


def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """The 8x8 handwritten digits (1,797 images, see data/digits/README.md) as (x_train,
    y_train, x_test, y_test): images scaled to [0, 1], shape (n, 8, 8), int32 labels; the test
    split is a fixed `seed`ed shuffle."""
    with np.load(DIGITS_PATH, allow_pickle=False) as d:
        images = d["images"].astype(np.float32) / 16.0
        labels = d["labels"].astype(np.int32)
    order = np.random.RandomState(seed).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]
