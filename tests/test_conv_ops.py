"""Convolution and pooling: values against naive numpy loops (TF geometry: SAME pads more at the
bottom/right), TF1 known values, dtypes, build-time errors, and gradients against float64
central differences."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorweave as tw
from tensorweave.ops import conv_ops
from tensorweave.test import check_gradients


# ----------------------------------------------------------------------------------------------
# naive references (written from TF's definition, independent of the kernels)
# ----------------------------------------------------------------------------------------------
def ref_geometry(n, k, s, d, padding):
    """(output size, padding before) of one dimension."""
    eff = (k - 1) * d + 1
    if padding == "SAME":
        out = math.ceil(n / s)
        return out, max((out - 1) * s + eff - n, 0) // 2
    return math.ceil((n - eff + 1) / s), 0


def ref_taps(h, w, kh, kw, strides, dil, padding):
    """Yield (i, j, a, b, r, c): output (i, j) meets input (r, c) through kernel tap (a, b)."""
    oh, pt = ref_geometry(h, kh, strides[0], dil[0], padding)
    ow, pl = ref_geometry(w, kw, strides[1], dil[1], padding)
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r = i * strides[0] + a * dil[0] - pt
                    c = j * strides[1] + b * dil[1] - pl
                    if 0 <= r < h and 0 <= c < w:
                        yield i, j, a, b, r, c


def out_hw(h, w, kh, kw, strides, dil, padding):
    return (ref_geometry(h, kh, strides[0], dil[0], padding)[0],
            ref_geometry(w, kw, strides[1], dil[1], padding)[0])


def ref_conv2d(x, f, strides=(1, 1), dil=(1, 1), padding="SAME"):
    n, h, w, _ = x.shape
    kh, kw, _, o = f.shape
    oh, ow = out_hw(h, w, kh, kw, strides, dil, padding)
    y = np.zeros((n, oh, ow, o))
    for i, j, a, b, r, c in ref_taps(h, w, kh, kw, strides, dil, padding):
        y[:, i, j, :] += x[:, r, c, :] @ f[a, b]
    return y


def ref_conv2d_transpose(dy, f, in_shape, strides=(1, 1), dil=(1, 1), padding="SAME"):
    n, h, w, c = in_shape
    kh, kw = f.shape[:2]
    dx = np.zeros(in_shape)
    for i, j, a, b, r, cc in ref_taps(h, w, kh, kw, strides, dil, padding):
        dx[:, r, cc, :] += dy[:, i, j, :] @ f[a, b].T
    return dx


def ref_depthwise(x, f, strides=(1, 1), dil=(1, 1), padding="SAME"):
    n, h, w, c = x.shape
    kh, kw, _, m = f.shape
    oh, ow = out_hw(h, w, kh, kw, strides, dil, padding)
    y = np.zeros((n, oh, ow, c, m))
    for i, j, a, b, r, cc in ref_taps(h, w, kh, kw, strides, dil, padding):
        y[:, i, j] += x[:, r, cc, :, None] * f[a, b]
    return y.reshape(n, oh, ow, c * m)


def ref_pool(x, k, strides, padding, reduce):
    n, h, w, c = x.shape
    oh, ow = out_hw(h, w, k[0], k[1], strides, (1, 1), padding)
    windows = {}
    for i, j, _, _, r, cc in ref_taps(h, w, k[0], k[1], strides, (1, 1), padding):
        windows.setdefault((i, j), []).append(x[:, r, cc, :])
    y = np.zeros((n, oh, ow, c))
    for (i, j), vals in windows.items():
        y[:, i, j] = reduce(np.stack(vals), axis=0)
    return y


def in_new_graph(test):
    """Run each hypothesis example in its own graph (node names and sizes do not pile up)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        with tw.Graph().as_default():
            return test(*args, **kwargs)
    return wrapper


def run(t, feed=None):
    with tw.Session() as s:
        return s.run(t, feed)


def distinct(rng, shape, spacing=0.1):
    """Values at least `spacing` apart (no ties, so max-pool stays away from its kinks)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape) + \
        rng.uniform(0, spacing / 4, size=shape)


@st.composite
def conv_case(draw, depthwise=False):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    h = draw(st.integers((kh - 1) * dil[0] + 1, 6))
    w = draw(st.integers((kw - 1) * dil[1] + 1, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    o = draw(st.integers(1, 3 if not depthwise else 2))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    x = rng.randn(n, h, w, c)
    f = rng.randn(kh, kw, c, o)
    return x, f, strides, dil, padding


# ----------------------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------------------
def test_conv2d_same_pads_bottom_right_tf_known_value():
    x = np.ones((1, 3, 3, 1), np.float32)
    f = np.ones((2, 2, 1, 1), np.float32)
    y = run(tw.nn.conv2d(x, f, strides=[1, 1, 1, 1], padding="SAME"))
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    y = run(tw.nn.conv2d(x, f, strides=2, padding="SAME"))
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 2], [2, 1]])


@given(conv_case())
@settings(max_examples=30)
@in_new_graph
def test_conv2d_matches_naive_loop(case):
    x, f, strides, dil, padding = case
    y = tw.nn.conv2d(x, f, strides=list(strides), padding=padding, dilations=list(dil))
    expect = ref_conv2d(x, f, strides, dil, padding)
    assert y.shape.as_list() == list(expect.shape)
    np.testing.assert_allclose(run(y), expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(np.float16, 2e-2), (np.float32, 1e-5),
                                       (np.float64, 1e-12)])
def test_conv2d_dtypes(dtype, tol):
    rng = np.random.RandomState(0)
    x, f = rng.randn(2, 7, 6, 3), rng.randn(3, 2, 3, 4) * 0.3
    y = run(tw.nn.conv2d(x.astype(dtype), f.astype(dtype), [1, 2, 1, 1], "SAME"))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref_conv2d(x, f, (2, 1)), rtol=tol, atol=tol)


def test_conv2d_stride_forms_and_node_name():
    x = tw.placeholder(tw.float32, [None, 8, 8, 2])
    f = tw.zeros([3, 3, 2, 5])
    for s in (2, [2], [2, 2], [1, 2, 2, 1]):
        y = tw.nn.conv2d(x, f, strides=s, padding="SAME")
        assert y.shape.as_list() == [None, 4, 4, 5]
        assert y.op.type == "Conv2D" and y.op.get_attr("strides") == [1, 2, 2, 1]
    assert tw.nn.conv2d(x, f, 1, "VALID", name="c").op.name == "c"


def test_conv2d_nchw_matches_nhwc():
    rng = np.random.RandomState(1)
    x, f = rng.randn(2, 3, 5, 6), rng.randn(3, 3, 3, 2)  # NCHW input
    y = run(tw.nn.conv2d(x, f, [1, 1, 2, 2], "SAME", data_format="NCHW"))
    expect = ref_conv2d(x.transpose(0, 2, 3, 1), f, (2, 2)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, expect, rtol=1e-10)


def test_nchw_gradients():
    rng = np.random.RandomState(11)
    x = distinct(rng, (1, 2, 5, 4))
    kw = dict(strides=[1, 1, 2, 1], padding="SAME", data_format="NCHW")
    check_gradients(lambda a, b: tw.nn.conv2d(a, b, **kw), [x, rng.randn(3, 2, 2, 2)],
                    name="conv2d NCHW")
    check_gradients(lambda a, b: tw.nn.depthwise_conv2d_native(a, b, **kw),
                    [x, rng.randn(2, 2, 2, 2)], name="depthwise NCHW")
    for pool in (tw.nn.max_pool, tw.nn.avg_pool):
        check_gradients(lambda a: pool(a, [1, 1, 2, 2], **kw), [x], name=pool.__name__)


def test_graph_def_round_trip_of_a_cnn_with_gradients():
    rng = np.random.RandomState(12)
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [None, 6, 6, 2], name="x")
        f = tw.constant(rng.randn(3, 3, 2, 4).astype(np.float32), name="f")
        y = tw.nn.max_pool(tw.nn.relu(tw.nn.conv2d(x, f, 1, "SAME")), 2, 2, "VALID")
        y = tw.nn.avg_pool(tw.nn.depthwise_conv2d(y, tw.ones([2, 2, 4, 1]), [1, 1, 1, 1],
                                                  "SAME"), 2, 1, "SAME")
        loss = tw.identity(tw.nn.l2_loss(y), name="loss")
        grad = tw.identity(tw.gradients(loss, f)[0], name="grad")
    g2 = tw.Graph()
    with g2.as_default():
        tw.import_graph_def(tw.GraphDef.FromString(g.as_graph_def().SerializeToString()),
                            name="")
    xv = rng.randn(2, 6, 6, 2).astype(np.float32)
    with tw.Session(graph=g) as s1, tw.Session(graph=g2) as s2:
        a = s1.run([loss, grad], {x: xv})
        b = s2.run(["loss:0", "grad:0"], {"x:0": xv})
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_conv2d_build_errors_name_node_and_shapes():
    x = tw.placeholder(tw.float32, [1, 5, 5, 3])
    with pytest.raises(ValueError, match=r"but are 3 and 4 .*'Conv2D'.*\[1,5,5,3\], \[3,3,4,2\]"):
        tw.nn.conv2d(x, tw.zeros([3, 3, 4, 2]), [1, 1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="padding must be either VALID or SAME: 'same!'"):
        tw.nn.conv2d(x, tw.zeros([3, 3, 3, 2]), [1, 1, 1, 1], "same!")
    with pytest.raises(ValueError, match="batch and depth dimensions"):
        tw.nn.conv2d(x, tw.zeros([3, 3, 3, 2]), [2, 1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="Negative dimension size caused by subtracting 7 from 5"):
        tw.nn.conv2d(x, tw.zeros([7, 1, 3, 2]), [1, 1, 1, 1], "VALID")
    with pytest.raises(ValueError, match="should be of length 1, 2 or 4 but was 3"):
        tw.nn.conv2d(x, tw.zeros([3, 3, 3, 2]), [1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="rank 4 but is rank 3"):
        tw.nn.conv2d(tw.zeros([5, 5, 3]), tw.zeros([3, 3, 3, 2]), 1, "SAME")
    with pytest.raises(TypeError, match="int32"):
        tw.nn.conv2d(tw.zeros([1, 5, 5, 3], tw.int32), tw.zeros([3, 3, 3, 2], tw.int32), 1,
                     "SAME")


def test_conv2d_does_not_mutate_inputs():
    rng = np.random.RandomState(2)
    x, f = rng.randn(1, 4, 4, 2), rng.randn(2, 2, 2, 2)
    x0, f0 = x.copy(), f.copy()
    xp, fp = tw.placeholder(tw.float64, x.shape), tw.placeholder(tw.float64, f.shape)
    y = tw.nn.conv2d(xp, fp, 1, "SAME")
    run([y] + tw.gradients(y, [xp, fp]), {xp: x, fp: f})
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(f, f0)


@given(conv_case())
@settings(max_examples=25)
@in_new_graph
def test_conv2d_gradients(case):
    x, f, strides, dil, padding = case
    check_gradients(lambda a, b: tw.nn.conv2d(a, b, list(strides), padding,
                                              dilations=list(dil)), [x, f])


def test_conv2d_gradient_with_unknown_batch():
    rng = np.random.RandomState(3)
    x = tw.placeholder(tw.float64, [None, 5, 5, 2])
    f = tw.constant(rng.randn(3, 3, 2, 3))
    y = tw.nn.conv2d(x, f, 2, "SAME")
    gx, gf = tw.gradients(tw.reduce_sum(y * y), [x, f])
    xv = rng.randn(2, 5, 5, 2)
    gxv, gfv = run([gx, gf], {x: xv})
    yv = ref_conv2d(xv, run(f), (2, 2))
    np.testing.assert_allclose(gxv, ref_conv2d_transpose(2 * yv, run(f), xv.shape, (2, 2)),
                               rtol=1e-10)
    assert gfv.shape == (3, 3, 2, 3)


# ----------------------------------------------------------------------------------------------
# conv2d_transpose and the backprop ops
# ----------------------------------------------------------------------------------------------
@given(conv_case())
@settings(max_examples=20)
@in_new_graph
def test_conv2d_transpose_matches_naive_loop(case):
    x, f, strides, dil, padding = case
    n, h, w, c = x.shape
    oh, ow = out_hw(h, w, f.shape[0], f.shape[1], strides, (1, 1), padding)
    dy = np.random.RandomState(0).randn(n, oh, ow, f.shape[3])
    y = tw.nn.conv2d_transpose(dy, f, list(x.shape), [1, *strides, 1], padding)
    assert y.op.type == "Conv2DBackpropInput" and y.op.name == "conv2d_transpose"
    np.testing.assert_allclose(run(y), ref_conv2d_transpose(dy, f, x.shape, strides,
                                                            padding=padding), rtol=1e-10,
                               atol=1e-12)


@given(conv_case())
@settings(max_examples=20)
@in_new_graph
def test_conv2d_backprop_ops_gradients(case):
    x, f, strides, dil, padding = case
    h, w = x.shape[1:3]
    oh, ow = out_hw(h, w, f.shape[0], f.shape[1], strides, dil, padding)
    dy = np.random.RandomState(1).randn(x.shape[0], oh, ow, f.shape[3])
    kw = dict(strides=[1, *strides, 1], padding=padding, dilations=[1, *dil, 1])
    check_gradients(lambda b, g: tw.nn.conv2d_backprop_input(list(x.shape), b, g, **kw),
                    [f, dy], name="conv2d_backprop_input")
    check_gradients(lambda a, g: tw.nn.conv2d_backprop_filter(a, list(f.shape), g, **kw),
                    [x, dy], name="conv2d_backprop_filter")


def test_conv2d_transpose_errors():
    v = tw.placeholder(tw.float32, [1, 4, 4, 3])
    with pytest.raises(ValueError, match="input channels does not match filter's input "
                                         "channels, 3 != 2"):
        tw.nn.conv2d_transpose(v, tw.zeros([3, 3, 5, 2]), [1, 8, 8, 5], [1, 2, 2, 1])
    with pytest.raises(ValueError, match="output_shape does not match filter's output "
                                         "channels, 4 != 5"):
        tw.nn.conv2d_transpose(v, tw.zeros([3, 3, 5, 3]), [1, 8, 8, 4], [1, 2, 2, 1])
    with pytest.raises(ValueError, match="out_backprop shape"):
        tw.nn.conv2d_transpose(v, tw.zeros([3, 3, 5, 3]), [1, 20, 20, 5], [1, 2, 2, 1])


def test_conv1d_matches_conv2d():
    rng = np.random.RandomState(4)
    x, f = rng.randn(2, 9, 3), rng.randn(3, 3, 4)
    y = tw.nn.conv1d(x, f, stride=2, padding="SAME")
    assert y.shape.as_list() == [2, 5, 4]
    expect = ref_conv2d(x[:, None], f[None], (1, 2))[:, 0]
    np.testing.assert_allclose(run(y), expect, rtol=1e-10)
    check_gradients(lambda a, b: tw.nn.conv1d(a, b, 1, "VALID"), [x[:1, :5, :2], f[:, :2, :2]])


# ----------------------------------------------------------------------------------------------
# depthwise
# ----------------------------------------------------------------------------------------------
@given(conv_case(depthwise=True))
@settings(max_examples=20)
@in_new_graph
def test_depthwise_matches_naive_loop(case):
    x, f, strides, dil, padding = case
    if max(dil) > 1:
        strides = (1, 1)
    y = tw.nn.depthwise_conv2d(x, f, [1, *strides, 1], padding, rate=list(dil))
    np.testing.assert_allclose(run(y), ref_depthwise(x, f, strides, dil, padding), rtol=1e-10,
                               atol=1e-12)


@given(conv_case(depthwise=True))
@settings(max_examples=20)
@in_new_graph
def test_depthwise_gradients(case):
    x, f, strides, dil, padding = case
    kw = dict(strides=[1, *strides, 1], padding=padding, dilations=[1, *dil, 1])
    check_gradients(lambda a, b: tw.nn.depthwise_conv2d_native(a, b, **kw), [x, f])


def test_depthwise_backprop_ops_gradients():
    rng = np.random.RandomState(5)
    x, f, dy = rng.randn(1, 4, 3, 2), rng.randn(2, 2, 2, 2), rng.randn(1, 2, 2, 4)
    kw = dict(strides=[1, 2, 2, 1], padding="SAME")
    check_gradients(lambda b, g: tw.nn.depthwise_conv2d_native_backprop_input(
        [1, 4, 3, 2], b, g, **kw), [f, dy])
    check_gradients(lambda a, g: tw.nn.depthwise_conv2d_native_backprop_filter(
        a, [2, 2, 2, 2], g, **kw), [x, dy])


def test_depthwise_errors_and_names():
    x = tw.placeholder(tw.float32, [1, 5, 5, 3])
    y = tw.nn.depthwise_conv2d(x, tw.zeros([3, 3, 3, 2]), [1, 1, 1, 1], "SAME")
    assert y.op.type == "DepthwiseConv2dNative" and y.op.name == "depthwise"
    assert y.shape.as_list() == [1, 5, 5, 6]
    with pytest.raises(ValueError, match="but are 3 and 4"):
        tw.nn.depthwise_conv2d(x, tw.zeros([3, 3, 4, 2]), [1, 1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="strides > 1 not supported in conjunction with "
                                         "dilation_rate > 1"):
        tw.nn.depthwise_conv2d(x, tw.zeros([3, 3, 3, 2]), [1, 2, 2, 1], "SAME", rate=[2, 2])


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    h, w = draw(st.integers(k[0], 7)), draw(st.integers(k[1], 7))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    return distinct(rng, (n, h, w, c)), k, strides, padding


def test_pool_same_tf_known_values():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    mp = run(tw.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"))
    np.testing.assert_array_equal(mp[0, :, :, 0], [[5, 6], [8, 9]])
    ap = run(tw.nn.avg_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"))
    np.testing.assert_array_equal(ap[0, :, :, 0], [[3, 4.5], [7.5, 9]])
    neg = run(tw.nn.max_pool(-x, 2, 2, "SAME"))  # padding never wins a max
    np.testing.assert_array_equal(neg[0, :, :, 0], [[-1, -3], [-7, -9]])


@given(pool_case())
@settings(max_examples=30)
@in_new_graph
def test_pools_match_naive_loops(case):
    x, k, strides, padding = case
    mp = tw.nn.max_pool(x, [1, *k, 1], [1, *strides, 1], padding)
    ap = tw.nn.avg_pool(x, list(k), list(strides), padding)
    emax = ref_pool(x, k, strides, padding, np.max)
    assert mp.shape.as_list() == list(emax.shape)
    got_max, got_avg = run([mp, ap])
    np.testing.assert_array_equal(got_max, emax)
    np.testing.assert_allclose(got_avg, ref_pool(x, k, strides, padding, np.mean), rtol=1e-12)


@given(pool_case())
@settings(max_examples=25)
@in_new_graph
def test_pool_gradients(case):
    x, k, strides, padding = case
    kw = dict(ksize=[1, *k, 1], strides=[1, *strides, 1], padding=padding)
    check_gradients(lambda a: tw.nn.max_pool(a, **kw), [x], name="max_pool")
    check_gradients(lambda a: tw.nn.avg_pool(a, **kw), [x], name="avg_pool")


def test_max_pool_grad_ties_go_to_first_maximum():
    x = tw.constant(np.ones((1, 2, 2, 1)))
    y = tw.nn.max_pool(x, 2, 2, "VALID")
    g = run(tw.gradients(y, x)[0])
    np.testing.assert_array_equal(g[0, :, :, 0], [[1, 0], [0, 0]])


def test_pool_second_order():
    rng = np.random.RandomState(9)
    x, w = distinct(rng, (1, 4, 5, 2)), rng.randn(1, 2, 3, 2)
    for padding in ("SAME", "VALID"):
        def grad_of_max_pool(a):
            y = tw.nn.max_pool(a, [1, 2, 2, 1], [1, 2, 2, 1], padding)
            return tw.gradients(y * tw.constant(w[:, :, :y.shape[2]]) * y, a)[0]
        check_gradients(grad_of_max_pool, [x], name=f"d/dx max_pool {padding}")

    def grad_grad(a, g):  # MaxPoolGradGrad's own gradient
        y = tw.nn.max_pool(a, 2, 1, "VALID")
        return conv_ops.max_pool_grad_grad(a, y, g, [1, 2, 2, 1], [1, 1, 1, 1], "VALID")
    check_gradients(grad_grad, [x, rng.randn(*x.shape)], wrt=[1])


def test_separable_and_atrous_conv2d():
    rng = np.random.RandomState(10)
    x, dw, pw = rng.randn(2, 6, 5, 3), rng.randn(3, 3, 3, 2), rng.randn(1, 1, 6, 4)
    y = tw.nn.separable_conv2d(x, dw, pw, [1, 1, 1, 1], "SAME")
    assert y.op.name == "separable_conv2d" and y.op.type == "Conv2D"
    expect = ref_conv2d(ref_depthwise(x, dw), pw, padding="VALID")
    np.testing.assert_allclose(run(y), expect, rtol=1e-10)
    check_gradients(lambda a, b, c: tw.nn.separable_conv2d(a, b, c, [1, 2, 2, 1], "VALID"),
                    [x[:1], dw, pw])
    f = rng.randn(2, 2, 3, 2)
    a = tw.nn.atrous_conv2d(x, f, rate=2, padding="SAME")
    np.testing.assert_allclose(run(a), ref_conv2d(x, f, dil=(2, 2)), rtol=1e-10)
    with pytest.raises(ValueError, match="pointwise_filter"):
        tw.nn.separable_conv2d(x, dw, rng.randn(2, 1, 6, 4), [1, 1, 1, 1], "SAME")


def test_avg_pool_grad_gradient():
    dy = np.random.RandomState(6).randn(1, 2, 2, 2)
    check_gradients(lambda g: conv_ops.avg_pool_grad([1, 3, 4, 2], g, [1, 2, 2, 1],
                                                   [1, 2, 2, 1], "SAME"), [dy])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pool_dtypes_and_nchw(dtype):
    rng = np.random.RandomState(7)
    x = distinct(rng, (2, 5, 6, 3)).astype(dtype)
    nchw = x.transpose(0, 3, 1, 2)
    for fn, red in ((tw.nn.max_pool, np.max), (tw.nn.avg_pool, np.mean)):
        a = run(fn(x, 3, 2, "SAME"))
        b = run(fn(nchw, [1, 1, 3, 3], [1, 1, 2, 2], "SAME", data_format="NCHW"))
        assert a.dtype == dtype and b.dtype == dtype
        np.testing.assert_allclose(b.transpose(0, 2, 3, 1), a, rtol=1e-3)
        np.testing.assert_allclose(a, ref_pool(x.astype(np.float64), (3, 3), (2, 2), "SAME",
                                               red), rtol=2e-3 if dtype == np.float16 else 1e-6)


def test_pool_errors_and_names():
    x = tw.placeholder(tw.float32, [1, 4, 4, 2])
    assert tw.nn.max_pool(x, 2, 2, "VALID").op.name == "MaxPool"
    assert tw.nn.avg_pool(x, 2, 2, "VALID", name="p").op.name == "p"
    with pytest.raises(ValueError, match="padding must be either VALID or SAME"):
        tw.nn.max_pool(x, 2, 2, "FULL")
    with pytest.raises(ValueError, match="batch and depth"):
        tw.nn.max_pool(x, [1, 2, 2, 2], 1, "SAME")
    with pytest.raises(ValueError, match="Negative dimension size"):
        tw.nn.avg_pool(x, 5, 1, "VALID")


def test_small_cnn_trains():
    """Two conv+pool layers on 28x28 inputs: the loss goes down with plain gradient descent."""
    rng = np.random.RandomState(8)
    xs = rng.rand(32, 28, 28, 1).astype(np.float32)
    ys = (xs[:, :14].mean(axis=(1, 2, 3)) > xs[:, 14:].mean(axis=(1, 2, 3))).astype(np.int32)
    x = tw.placeholder(tw.float32, [None, 28, 28, 1])
    y = tw.placeholder(tw.int32, [None])
    vals = [rng.randn(5, 5, 1, 8).astype(np.float32) * 0.2,
            rng.randn(5, 5, 8, 16).astype(np.float32) * 0.05,
            rng.randn(7 * 7 * 16, 2).astype(np.float32) * 0.05]
    params = w1, w2, w3 = [tw.placeholder(tw.float32, v.shape) for v in vals]
    h = tw.nn.max_pool(tw.nn.relu(tw.nn.conv2d(x, w1, 1, "SAME")), 2, 2, "SAME")
    h = tw.nn.max_pool(tw.nn.relu(tw.nn.conv2d(h, w2, 1, "SAME")), 2, 2, "SAME")
    logits = tw.matmul(tw.reshape(h, [-1, 7 * 7 * 16]), w3)
    loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    grads = tw.gradients(loss, list(params))
    with tw.Session() as s:
        first = None
        for _ in range(15):
            feed = {x: xs, y: ys, **dict(zip(params, vals))}
            lv, gv = s.run([loss, grads], feed)
            first = lv if first is None else first
            vals = [v - 0.5 * g for v, g in zip(vals, gv)]
    assert lv < first
