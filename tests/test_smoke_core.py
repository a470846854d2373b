"""Smoke tests of the core path: a feed, an add, a variable, a gradient."""
import numpy as np

import tensorweave as tw
from tensorweave.test import check_gradients


def test_add_fed_scalars():
    a = tw.placeholder(tw.float32, [])
    b = tw.placeholder(tw.float32, [])
    with tw.Session() as s:
        r = s.run(a + b, {a: 1.5, b: 2.0})
    assert r == np.float32(3.5) and isinstance(r, np.float32)


def test_matmul_gradient_matches_finite_differences():
    check_gradients(lambda a, b: tw.matmul(a, b),
                    [np.random.RandomState(0).randn(2, 3), np.random.RandomState(1).randn(3, 4)])


def test_broadcast_mul_gradient():
    check_gradients(lambda a, b: a * b + a,
                    [np.random.RandomState(0).randn(2, 3), np.random.RandomState(1).randn(3)])


def test_check_gradients_detects_a_wrong_gradient():
    @tw.RegisterGradient("TestWrongSquareGrad")
    def _wrong(op, grad):
        return grad * op.inputs[0]  # missing the factor 2

    def f(x):
        g = tw.get_default_graph()
        with g.gradient_override_map({"Square": "TestWrongSquareGrad"}):
            return tw.square(x)
    import pytest
    with pytest.raises(AssertionError, match="gradient mismatch in f"):
        check_gradients(f, [np.array([1.0, 2.0])])
