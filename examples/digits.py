"""The 8x8 handwritten digits shipped with the examples (see data/digits/README.md)."""
import os

import numpy as np

PATH = os.path.join(os.path.dirname(__file__), "data", "digits", "digits.npz")


def load(test_fraction: float = 0.2, seed: int = 0):
    """(x_train, y_train, x_test, y_test): images scaled to [0, 1], shape (n, 8, 8)."""
    with np.load(PATH, allow_pickle=False) as d:
        images = d["images"].astype(np.float32) / 16.0
        labels = d["labels"].astype(np.int32)
    order = np.random.RandomState(seed).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]
