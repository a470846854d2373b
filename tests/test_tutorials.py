"""Ported TF1 tutorial programs (examples/) train to a stated loss."""
import numpy as np
import pytest

from examples import digits_cnn, digits_mlp, linear_regression


def _numpy_linear_regression(epochs, lr):
    """The same per-sample SGD in float32 numpy: the trusted reference."""
    xs = linear_regression.TRAIN_X.astype(np.float32)
    ys = linear_regression.TRAIN_Y.astype(np.float32)
    n = np.float32(len(xs))
    w, b = np.float32(0.3), np.float32(-0.2)
    lr = np.float32(lr)
    for _ in range(epochs):
        for x, y in zip(xs, ys):
            err = x * w + b - y          # d/dw of (err^2)/(2n) = err*x/n
            w, b = w - lr * (err * x / n), b - lr * (err / n)
    cost = np.sum((xs * w + b - ys) ** 2) / (2 * n)
    return float(cost), float(w), float(b)


def test_linear_regression_matches_numpy_sgd():
    r = linear_regression.main(epochs=300, verbose=False)
    cost, w, b = _numpy_linear_regression(300, 0.01)
    assert r["W"] == pytest.approx(w, rel=1e-4)
    assert r["b"] == pytest.approx(b, rel=1e-4)
    assert r["cost"] == pytest.approx(cost, rel=1e-4)
    assert r["cost"] < 0.11  # stated loss after 300 epochs (starts at 0.30)


def test_digits_softmax_mlp_with_adam_reaches_stated_loss():
    r = digits_mlp.main(steps=600, verbose=False)
    assert r["train_loss"] < 0.1
    assert r["test_accuracy"] > 0.95


def test_digits_cnn_reaches_stated_loss():
    r = digits_cnn.main(steps=400, verbose=False)
    assert r["train_loss"] < 0.15
    assert r["test_accuracy"] > 0.95
