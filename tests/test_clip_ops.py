"""Clip ops: values against numpy, TF1 names, None entries and IndexedSlices, gradients."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tensorweave as tw
from tensorweave.test import check_gradients


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


def randn(seed, *shape):
    return np.asarray(np.random.RandomState(seed).standard_normal(shape))


def test_clip_by_value_values_name_and_broadcast_bounds():
    v = randn(0, 3, 4).astype(np.float32)
    c = tw.clip_by_value(v, -0.5, 0.5)
    assert c.op.name == "clip_by_value" and c.op.type == "Maximum"
    np.testing.assert_allclose(run(c), np.clip(v, -0.5, 0.5))
    lo, hi = np.array([-1, -0.2, 0, -3], np.float32), np.array([1, 0.2, 0.5, 3], np.float32)
    np.testing.assert_allclose(run(tw.clip_by_value(v, lo, hi)), np.clip(v, lo, hi))
    n = run(tw.clip_by_value(tw.constant([1, 5, 9]), 2, 6))
    assert n.tolist() == [2, 5, 6] and n.dtype == np.int32
    with pytest.raises(ValueError, match="broadcast"):
        tw.clip_by_value(tw.constant([1.0, 2.0]), tw.zeros([3, 2]), 1.0)


def test_clip_by_value_on_indexed_slices():
    s = tw.IndexedSlices(tw.constant([[-2.0, 0.5]]), tw.constant([3]), tw.constant([5, 2]))
    c = tw.clip_by_value(s, -1.0, 1.0)
    assert isinstance(c, tw.IndexedSlices) and c.indices is s.indices
    assert run(c.values).tolist() == [[-1.0, 0.5]]


@pytest.mark.parametrize("axes", [None, [0], [1]])
def test_clip_by_norm(axes):
    v = randn(1, 3, 4)
    c = tw.clip_by_norm(v, 1.5, axes=axes)
    assert c.op.name == "clip_by_norm"
    norm = np.sqrt(np.sum(v * v, axis=None if axes is None else tuple(axes), keepdims=True))
    np.testing.assert_allclose(run(c), v * 1.5 / np.maximum(norm, 1.5))
    small = run(tw.clip_by_norm(v * 1e-3, 1.5, axes=axes))
    np.testing.assert_allclose(small, v * 1e-3)
    assert run(tw.clip_by_norm(np.zeros(3), 1.0)).tolist() == [0, 0, 0]


def test_clip_by_norm_gradient_is_finite_at_zero():
    x = tw.constant(np.zeros(3))
    g = run(tw.gradients(tw.clip_by_norm(x, 1.0), x)[0])
    assert np.all(np.isfinite(g))


def test_global_norm_skips_none_and_densifies_nothing():
    a, b = randn(2, 2, 3), randn(3, 4)
    s = tw.IndexedSlices(tw.constant([[3.0, 4.0]], tw.float64), tw.constant([1]),
                         tw.constant([4, 2]))
    g = tw.global_norm([a, None, b, s])
    assert g.op.name == "global_norm/global_norm"
    np.testing.assert_allclose(run(g), np.sqrt(np.sum(a * a) + np.sum(b * b) + 25))
    with pytest.raises(TypeError, match="sequence"):
        tw.global_norm(tw.constant([1.0]))


def test_clip_by_global_norm():
    a, b = randn(4, 2, 3), randn(5, 4)
    gn = np.sqrt(np.sum(a * a) + np.sum(b * b))
    clipped, norm = tw.clip_by_global_norm([a, None, b], 1.0)
    assert clipped[1] is None
    assert clipped[0].op.name == "clip_by_global_norm/clip_by_global_norm/_0"
    ca, cb, n = run([clipped[0], clipped[2], norm])
    np.testing.assert_allclose(n, gn)
    np.testing.assert_allclose(ca, a / gn)
    np.testing.assert_allclose(cb, b / gn)
    big, _ = tw.clip_by_global_norm([a], 100.0)
    np.testing.assert_allclose(run(big[0]), a)
    # a given norm is used as is
    used, n2 = tw.clip_by_global_norm([a], 1.0, use_norm=tw.constant(2.0, tw.float64))
    np.testing.assert_allclose(run(used[0]), a / 2)
    # an infinite norm makes everything NaN, as in TF1
    inf, _ = tw.clip_by_global_norm([np.array([np.inf, 1.0])], 1.0)
    assert np.all(np.isnan(run(inf[0])))


def test_clip_by_global_norm_keeps_indexed_slices():
    s = tw.IndexedSlices(tw.constant([[3.0, 4.0]]), tw.constant([1]), tw.constant([4, 2]))
    dense = tw.constant([[0.0, 0.0]])
    (cs, cd), n = tw.clip_by_global_norm([s, dense], 1.0)
    assert isinstance(cs, tw.IndexedSlices) and cs.indices is s.indices
    np.testing.assert_allclose(run(cs.values), [[0.6, 0.8]], rtol=1e-6)
    assert run(n) == np.float32(5.0)


def test_clip_by_average_norm():
    v = randn(6, 2, 3).astype(np.float32)
    c = run(tw.clip_by_average_norm(v, 0.1))
    avg = np.sqrt(np.sum(v * v)) / v.size
    np.testing.assert_allclose(c, v * 0.1 / max(avg, 0.1), rtol=1e-5)


@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1), clip=st.floats(0.3, 3.0))
def test_clip_gradients(seed, clip):
    x = randn(seed, 2, 3)
    x = np.where(np.abs(np.abs(x) - 0.5) < 0.1, x + 0.3, x)  # away from the clip bounds
    check_gradients(lambda t: tw.clip_by_value(t, -0.5, 0.5), [x], name="clip_by_value")
    if abs(np.sqrt(np.sum(x * x)) - clip) > 1e-2:  # away from the norm == clip kink
        check_gradients(lambda t: tw.clip_by_norm(t, clip), [x], name="clip_by_norm")
        check_gradients(lambda t, u: tw.clip_by_global_norm([t, None, u], clip)[0][0], [x, x[0]],
                        name="clip_by_global_norm")
