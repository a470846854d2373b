"""TensorArray: TF1 API on its own and as a while_loop variable, with gradients."""
import numpy as np
import pytest

import tensorweave as tw
from tensorweave.test import check_gradients


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


def test_write_read_stack_size():
    ta = tw.TensorArray(tw.float32, size=3)
    ta = ta.write(0, [1.0, 2.0]).write(2, [5.0, 6.0]).write(1, [3.0, 4.0])
    r = run([ta.read(1), ta.stack(), ta.size()])
    np.testing.assert_allclose(r[0], [3.0, 4.0])
    np.testing.assert_allclose(r[1], [[1, 2], [3, 4], [5, 6]])
    assert r[2] == 3
    assert ta.stack().shape.as_list() == [3, 2]


def test_writes_do_not_change_earlier_handles():
    ta0 = tw.TensorArray(tw.float32, size=2).write(0, 1.0).write(1, 2.0)
    ta1 = ta0.write(0, 10.0)
    r = run([ta0.stack(), ta1.stack()])
    np.testing.assert_allclose(r[0], [1.0, 2.0])
    np.testing.assert_allclose(r[1], [10.0, 2.0])


def test_unstack_gather_scatter_concat_split():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    ta = tw.TensorArray(tw.float32, size=4).unstack(x)
    g = ta.gather([3, 0])
    sc = tw.TensorArray(tw.float32, size=4).scatter([1, 3, 0, 2], x)
    sp = tw.TensorArray(tw.float32, size=2).split(x, [1, 3])
    r = run([g, sc.stack(), sp.concat(), sp.read(1)])
    np.testing.assert_allclose(r[0], x[[3, 0]])
    np.testing.assert_allclose(r[1], x[[2, 0, 3, 1]])
    np.testing.assert_allclose(r[2], x)
    np.testing.assert_allclose(r[3], x[1:])


def test_dynamic_size_and_errors():
    ta = tw.TensorArray(tw.int32, size=0, dynamic_size=True).write(4, 7)
    assert run(ta.size()) == 5
    fixed = tw.TensorArray(tw.int32, size=2)
    with pytest.raises(tw.errors.InvalidArgumentError, match="not resizeable"):
        run(fixed.write(5, 1).size())
    with pytest.raises(tw.errors.InvalidArgumentError, match="has not yet been written"):
        run(fixed.write(0, 1).read(1))
    with pytest.raises(TypeError, match="TensorArray dtype is int32"):
        fixed.write(0, tw.constant(1.0))


def test_tensor_array_in_while_loop():
    x = tw.placeholder(tw.float32, [5, 2])
    inp = tw.TensorArray(tw.float32, size=5).unstack(x)

    def body(t, acc, out):
        acc = acc + inp.read(t)
        return t + 1, acc, out.write(t, acc)
    _, _, out = tw.while_loop(lambda t, a, o: t < 5, body,
                              [tw.constant(0), tw.zeros([2]), tw.TensorArray(tw.float32, 5)])
    xv = np.random.RandomState(0).rand(5, 2).astype(np.float32)
    np.testing.assert_allclose(run(out.stack(), {x: xv}), np.cumsum(xv, axis=0), rtol=1e-6)


def test_gradients_through_tensor_array_ops():
    def f(x):
        ta = tw.TensorArray(tw.float64, size=3).unstack(x)
        return ta.read(2) * ta.read(0) + tw.reduce_sum(ta.stack() ** 2, axis=0)
    check_gradients(f, [np.random.RandomState(1).randn(3, 2)])

    def g(x):
        ta = tw.TensorArray(tw.float64, size=3).write(0, x[0]).write(1, x[1] * 2.0)
        return ta.gather([1, 0]) * 3.0
    check_gradients(g, [np.random.RandomState(2).randn(3, 2)])


def test_gradient_of_a_dynamic_rnn_style_loop_matches_the_unrolled_graph():
    xv = np.random.RandomState(3).randn(4, 2, 3) * 0.5
    wv = np.random.RandomState(4).randn(3, 3) * 0.5

    def looped(x, w):
        inp = tw.TensorArray(tw.float64, size=4).unstack(x)

        def body(t, h, out):
            h = tw.tanh(tw.matmul(inp.read(t), w) + h)
            return t + 1, h, out.write(t, h)
        _, _, out = tw.while_loop(lambda t, h, o: t < 4, body,
                                  [tw.constant(0), tw.zeros([2, 3], tw.float64),
                                   tw.TensorArray(tw.float64, 4)])
        return out.stack()
    check_gradients(looped, [xv, wv])

    # and the same numbers as a static unroll
    x = tw.constant(xv)
    w = tw.constant(wv)
    h = tw.zeros([2, 3], tw.float64)
    outs = []
    for t in range(4):
        h = tw.tanh(tw.matmul(x[t], w) + h)
        outs.append(h)
    unrolled = tw.stack(outs)
    loop_out = looped(x, w)
    gu = tw.gradients(tw.reduce_sum(unrolled * unrolled), w)[0]
    gl = tw.gradients(tw.reduce_sum(loop_out * loop_out), w)[0]
    r = run([unrolled, loop_out, gu, gl])
    np.testing.assert_allclose(r[0], r[1], rtol=1e-12)
    np.testing.assert_allclose(r[2], r[3], rtol=1e-10)


def test_stack_fills_unwritten_elements_with_zeros_when_the_shape_is_known():
    ta = tw.TensorArray(tw.float32, size=3, element_shape=[2]).write(1, [1.0, 2.0])
    np.testing.assert_allclose(run(ta.stack()), [[0, 0], [1, 2], [0, 0]])
    unknown = tw.TensorArray(tw.float32, size=2).write(0, tw.placeholder_with_default([1.0], [None]))
    with pytest.raises(tw.errors.InvalidArgumentError, match="has not yet been written"):
        run(unknown.stack())
