"""tw.nn: activations, bias_add, softmax, cross entropies, l2 ops, moments, batch norm, dropout
and embedding_lookup -- values against numpy (and TF1 known values), dtypes, op types and node
names, build-time errors, and gradients against float64 central differences (inputs kept away
from kinks)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorweave as tw
from tensorweave.ops import nn_ops
from tensorweave.test import check_gradients

SCALE, ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717

REF = {
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(np.minimum(x, 0))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "softplus": lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
}
OP_TYPE = {"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu",
           "leaky_relu": "LeakyRelu", "softplus": "Softplus", "softsign": "Softsign"}


def run(t, feed=None):
    with tw.Session() as s:
        return s.run(t, feed)


def evaluate(fn, *inputs):
    """fn(*constants) built in a fresh graph and run."""
    with tw.Graph().as_default():
        return run(fn(*[tw.constant(v) for v in inputs]))


def away_from(points, margin=0.05):
    """Floats in [-8, 8] at least `margin` from each of `points` (the kinks)."""
    return st.floats(-8, 8).filter(lambda v: all(abs(v - p) > margin for p in points))


def arrays(elements, max_side=4):
    return st.lists(elements, min_size=1, max_size=max_side * 3).map(
        lambda v: np.array(v, dtype=np.float64).reshape(-1, 1) if len(v) % 3 else
        np.array(v, dtype=np.float64).reshape(-1, 3))


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REF))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_activation_values_and_dtypes(name, dtype):
    x = np.array([[-7.5, -2.0, -0.5, 0.0], [0.25, 1.0, 5.5, 30.0]], dtype=dtype)
    y = tw.nn.__dict__[name](x)
    assert y.op.type == OP_TYPE[name] and y.dtype == tw.as_dtype(dtype)
    got = run(y)
    assert got.dtype == dtype
    tol = 2e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(got, REF[name](x.astype(np.float64)), rtol=tol, atol=tol)


def test_activation_tf_known_values():
    np.testing.assert_allclose(evaluate(tw.nn.selu, np.float32([1.0, -1.0])),
                               [1.0507009, -1.1113307], rtol=1e-6)
    np.testing.assert_allclose(evaluate(tw.nn.softplus, np.float32([0.0, 1.0])),
                               [0.6931472, 1.3132616], rtol=1e-6)
    np.testing.assert_allclose(evaluate(tw.nn.elu, np.float32([-1.0])), [-0.6321206], rtol=1e-6)
    np.testing.assert_array_equal(evaluate(tw.nn.relu6, np.float32([-1, 3, 7])), [0, 3, 6])
    y = evaluate(lambda x: tw.nn.leaky_relu(x, alpha=0.1), np.float32([-2, 2]))
    np.testing.assert_allclose(y, [-0.2, 2], rtol=1e-6)
    # softplus of a huge input is the input, not inf
    assert evaluate(tw.nn.softplus, np.float32([1000.0]))[0] == 1000.0


def test_activation_names_and_integer_inputs():
    x = tw.constant([-2, 3])
    assert tw.nn.relu(x).op.name == "Relu"
    assert tw.nn.relu6(x).op.name == "Relu6"
    assert tw.nn.relu(x, name="r").op.name == "r"
    np.testing.assert_array_equal(run(tw.nn.relu(x)), [0, 3])
    lr = tw.nn.leaky_relu(x)  # integers are cast to float32, as in TF1
    assert lr.dtype == tw.float32 and lr.op.get_attr("alpha") == pytest.approx(0.2)
    np.testing.assert_allclose(run(lr), [-0.4, 3.0], rtol=1e-6)
    with pytest.raises(TypeError, match="int32"):
        tw.nn.elu(x)


@pytest.mark.parametrize("name,kinks", [("relu", [0]), ("relu6", [0, 6]), ("elu", [0]),
                                        ("selu", [0]), ("leaky_relu", [0]), ("softplus", []),
                                        ("softsign", [0])])
@given(data=st.data())
@settings(max_examples=15)
def test_activation_gradients(name, kinks, data):
    x = data.draw(arrays(away_from(kinks)))
    check_gradients(tw.nn.__dict__[name], [x], name=name)


@pytest.mark.parametrize("name,fused", [("relu", "ReluGrad"), ("relu6", "Relu6Grad"),
                                        ("elu", "EluGrad"), ("selu", "SeluGrad"),
                                        ("leaky_relu", "LeakyReluGrad"),
                                        ("softplus", "SoftplusGrad"),
                                        ("softsign", "SoftsignGrad")])
def test_activation_gradients_are_fused_ops(name, fused):
    x = tw.placeholder(tw.float32, [3])
    g = tw.gradients(tw.nn.__dict__[name](x), x)[0]
    assert g.op.type == fused


@pytest.mark.parametrize("name,kinks", [("relu", [0]), ("relu6", [0, 6]), ("elu", [0]),
                                        ("selu", [0]), ("leaky_relu", [0]),
                                        ("softplus", [])])
def test_activation_second_order(name, kinks):
    rng = np.random.RandomState(0)
    x = rng.uniform(-7, 7, size=(3, 4))
    for p in kinks:
        x[np.abs(x - p) < 0.1] += 0.3
    w = rng.randn(3, 4)

    def first_derivative(a):
        return tw.gradients(tw.nn.__dict__[name](a) * tw.constant(w), a)[0]
    check_gradients(first_derivative, [x], name=f"d/dx {name}")


# ----------------------------------------------------------------------------------------------
# bias_add
# ----------------------------------------------------------------------------------------------
def test_bias_add_values_formats_and_errors():
    rng = np.random.RandomState(1)
    v, b = rng.randn(2, 3, 4, 5), rng.randn(5)
    y = tw.nn.bias_add(v, b)
    assert y.op.type == "BiasAdd" and y.op.name == "BiasAdd"
    np.testing.assert_allclose(run(y), v + b)
    b3 = rng.randn(3)
    np.testing.assert_allclose(run(tw.nn.bias_add(v, b3, data_format="NCHW")),
                               v + b3[:, None, None])
    with pytest.raises(ValueError, match=r"Dimensions must be equal, but are 5 and 3 .*"
                                         r"\[2,3,4,5\], \[3\]"):
        tw.nn.bias_add(v, b3)
    with pytest.raises(ValueError, match="at least rank 2 but is rank 1"):
        tw.nn.bias_add(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="data_format must be of the form"):
        tw.nn.bias_add(v, b, data_format="HWC")


def test_run_time_shape_errors_name_the_node():
    v, b = tw.placeholder(tw.float32, [2, None]), tw.placeholder(tw.float32, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"as many biases.*\n.*BiasAdd"):
        run(tw.nn.bias_add(v, b), {v: np.zeros((2, 3)), b: np.zeros(1)})
    lg, lb = tw.placeholder(tw.float32, [None, 3]), tw.placeholder(tw.int32, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match="same first dimension"):
        run(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=lb, logits=lg),
            {lg: np.zeros((2, 3)), lb: [0]})
    x, f = tw.placeholder(tw.float32, [1, 4, 4, None]), tw.placeholder(tw.float32)
    with pytest.raises(tw.errors.InvalidArgumentError, match="input depth 2 does not match"):
        run(tw.nn.conv2d(x, f, 1, "SAME"), {x: np.zeros((1, 4, 4, 2)),
                                            f: np.zeros((3, 3, 3, 1))})


def test_bias_add_gradients():
    rng = np.random.RandomState(2)
    v, b = rng.randn(2, 3, 4), rng.randn(4)
    check_gradients(tw.nn.bias_add, [v, b])
    check_gradients(lambda a, c: tw.nn.bias_add(a, c, data_format="NCHW"), [v, rng.randn(3)])
    x = tw.placeholder(tw.float64, [2, 3, 4])
    g = tw.gradients(tw.nn.bias_add(x, tw.zeros([4], tw.float64)), x)
    bias = tw.placeholder(tw.float64, [4])
    gb = tw.gradients(tw.nn.bias_add(x, bias), bias)[0]
    assert gb.op.type == "BiasAddGrad" and g[0] is not None
    # second order: the gradient of BiasAddGrad
    w = rng.randn(4)
    check_gradients(lambda a: tw.gradients(tw.reduce_sum(tw.nn.bias_add(a, tw.zeros([4],
                    tw.float64)) * tw.nn.bias_add(a, tw.constant(w))), a)[0], [v])


def test_xw_plus_b_and_relu_layer():
    rng = np.random.RandomState(3)
    x, w, b = rng.randn(2, 3), rng.randn(3, 4), rng.randn(4)
    np.testing.assert_allclose(evaluate(tw.nn.xw_plus_b, x, w, b), x @ w + b)
    np.testing.assert_allclose(evaluate(tw.nn.relu_layer, x, w, b), np.maximum(x @ w + b, 0))


# ----------------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_softmax_values_stable_and_dtypes(dtype):
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]], dtype=dtype)
    sm, lsm = tw.nn.softmax(x), tw.nn.log_softmax(x)
    assert (sm.op.type, lsm.op.type) == ("Softmax", "LogSoftmax")
    a, b = run([sm, lsm])
    assert a.dtype == dtype and b.dtype == dtype and np.all(np.isfinite(b))
    tol = 2e-3 if dtype == np.float16 else 1e-6
    ref = softmax_ref(x.astype(np.float64))
    np.testing.assert_allclose(a, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(b[0], np.log(ref[0]), rtol=tol, atol=tol)
    np.testing.assert_allclose(b[1], [-np.log(2), -np.log(2), -2000 - np.log(2)], rtol=tol)


def test_softmax_tf_known_value():
    np.testing.assert_allclose(evaluate(tw.nn.softmax, np.float32([1.0, 2.0, 3.0])),
                               [0.09003057, 0.24472848, 0.66524094], rtol=1e-6)


def test_softmax_axis_and_dim():
    x = np.random.RandomState(4).randn(2, 3, 4)
    for axis in (0, 1, -2):
        np.testing.assert_allclose(evaluate(lambda t: tw.nn.softmax(t, axis=axis), x),
                                   softmax_ref(x, axis), rtol=1e-12)
    np.testing.assert_allclose(evaluate(lambda t: tw.nn.log_softmax(t, dim=1), x),
                               np.log(softmax_ref(x, 1)), rtol=1e-12)
    check_gradients(lambda t: tw.nn.softmax(t, axis=1), [x])
    with pytest.raises(tw.errors.InvalidArgumentError, match="must be in the range"):
        tw.nn.softmax(x, axis=3)
    with pytest.raises(ValueError, match="at least rank 1"):
        tw.nn.softmax(1.0)


@given(x=arrays(st.floats(-5, 5)))
@settings(max_examples=20)
def test_softmax_gradients(x):
    check_gradients(tw.nn.softmax, [x], name="softmax")
    check_gradients(tw.nn.log_softmax, [x], name="log_softmax")


# ----------------------------------------------------------------------------------------------
# cross entropies
# ----------------------------------------------------------------------------------------------
def test_softmax_xent_tf_known_value_and_node_names():
    logits = np.float32([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
    labels = np.float32([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]])
    loss = tw.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert loss.op.type == "SoftmaxCrossEntropyWithLogits"
    assert loss.op.name == "softmax_cross_entropy_with_logits"
    np.testing.assert_allclose(run(loss), [0.16984604, 0.82474494], rtol=1e-6)
    v1 = tw.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert v1.op.name == "softmax_cross_entropy_with_logits_sg"
    np.testing.assert_allclose(run(v1), [0.16984604, 0.82474494], rtol=1e-6)


def test_softmax_xent_stable_and_dtypes():
    logits = np.array([[1000.0, 0.0], [-1000.0, 1000.0]])
    labels = np.array([[0.0, 1.0], [0.5, 0.5]])
    for dt in (np.float16, np.float32, np.float64):
        got = run(tw.nn.softmax_cross_entropy_with_logits_v2(labels=labels.astype(dt),
                                                             logits=logits.astype(dt)))
        assert got.dtype == dt
        np.testing.assert_allclose(got, [1000.0, 1000.0], rtol=1e-3)


def test_softmax_xent_gradients_v1_blocks_labels_v2_does_not():
    rng = np.random.RandomState(5)
    logits, labels = rng.randn(3, 4), softmax_ref(rng.randn(3, 4))
    check_gradients(lambda lb, lg: tw.nn.softmax_cross_entropy_with_logits_v2(
        labels=lb, logits=lg), [labels, logits])
    lg, lb = tw.placeholder(tw.float64, [3, 4]), tw.placeholder(tw.float64, [3, 4])
    loss = tw.nn.softmax_cross_entropy_with_logits(labels=lb, logits=lg)
    g_logits, g_labels = tw.gradients(loss, [lg, lb])
    assert g_labels is None
    got = run(g_logits, {lg: logits, lb: labels})
    np.testing.assert_allclose(got, softmax_ref(logits) - labels, rtol=1e-12)
    # second order through the backprop output
    check_gradients(lambda a: tw.gradients(tw.nn.softmax_cross_entropy_with_logits_v2(
        labels=tw.constant(labels), logits=a), a)[0], [logits])


def test_softmax_xent_rank3_and_axis():
    rng = np.random.RandomState(6)
    logits, labels = rng.randn(2, 3, 4), softmax_ref(rng.randn(2, 3, 4))
    ref = -(labels * np.log(softmax_ref(logits))).sum(-1)
    loss = tw.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert loss.shape.as_list() == [2, 3]
    np.testing.assert_allclose(run(loss), ref, rtol=1e-12)
    lab1 = softmax_ref(rng.randn(2, 3, 4), 1)
    got = run(tw.nn.softmax_cross_entropy_with_logits_v2(labels=lab1, logits=logits, axis=1))
    np.testing.assert_allclose(got, -(lab1 * np.log(softmax_ref(logits, 1))).sum(1),
                               rtol=1e-12)


def test_softmax_xent_errors():
    with pytest.raises(ValueError, match="must have the same shape"):
        tw.nn.softmax_cross_entropy_with_logits_v2(labels=np.zeros((2, 3)),
                                                   logits=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Only call `softmax_cross_entropy_with_logits` with "
                                         "named arguments"):
        tw.nn.softmax_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Both labels and logits must be provided"):
        tw.nn.sparse_softmax_cross_entropy_with_logits(logits=np.zeros((2, 3)))


def test_sparse_softmax_xent_values_names_and_gradient():
    rng = np.random.RandomState(7)
    logits, labels = rng.randn(4, 5), np.array([0, 4, 2, 2], np.int32)
    loss = tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert loss.op.type == "SparseSoftmaxCrossEntropyWithLogits"
    assert loss.op.name == ("SparseSoftmaxCrossEntropyWithLogits/"
                            "SparseSoftmaxCrossEntropyWithLogits")
    ref = -np.log(softmax_ref(logits))[np.arange(4), labels]
    np.testing.assert_allclose(run(loss), ref, rtol=1e-12)
    check_gradients(lambda lg: tw.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tw.constant(labels.astype(np.int64)), logits=lg), [logits])
    check_gradients(lambda a: tw.gradients(tw.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tw.constant(labels), logits=a), a)[0], [logits], name="second order")


def test_sparse_softmax_xent_rank3_float16_and_errors():
    rng = np.random.RandomState(8)
    logits, labels = rng.randn(2, 3, 4), rng.randint(0, 4, size=(2, 3))
    ref = -np.log(softmax_ref(logits))[np.arange(2)[:, None], np.arange(3), labels]
    loss = tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert loss.shape.as_list() == [2, 3]
    np.testing.assert_allclose(run(loss), ref, rtol=1e-12)
    half = run(tw.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits.astype(np.float16)))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, ref, rtol=5e-3, atol=5e-3)
    with pytest.raises(ValueError, match="Rank mismatch"):
        tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits[0])
    with pytest.raises(ValueError, match="Shape mismatch"):
        tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, :2], logits=logits)
    with pytest.raises(TypeError, match="labels"):
        tw.nn.sparse_softmax_cross_entropy_with_logits(labels=np.zeros(3), logits=logits[0])
    lab = tw.placeholder(tw.int32, [2])
    bad = tw.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=logits[0, :2])
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"label value of 4 which is outside the valid range of \[0, 4\)"):
        run(bad, {lab: [1, 4]})


def test_sigmoid_xent_values_stable_and_gradients():
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    z = np.array([0.0, 1.0, 0.5, 0.2, 1.0])
    loss = tw.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    assert loss.op.name == "logistic_loss"
    ref = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
    np.testing.assert_allclose(run(loss), ref, rtol=1e-12)
    rng = np.random.RandomState(9)
    xs = rng.randn(3, 2) + np.sign(rng.randn(3, 2)) * 0.2
    check_gradients(lambda a, b: tw.nn.sigmoid_cross_entropy_with_logits(labels=b, logits=a),
                    [xs, rng.rand(3, 2)])
    with pytest.raises(ValueError, match="same shape"):
        tw.nn.sigmoid_cross_entropy_with_logits(labels=np.zeros(3), logits=np.zeros(2))


# ----------------------------------------------------------------------------------------------
# l2_loss, l2_normalize, moments, batch_normalization
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_l2_loss(dtype):
    x = np.array([[1.0, -2.0], [3.0, 0.5]], dtype=dtype)
    y = tw.nn.l2_loss(x)
    assert y.op.type == "L2Loss" and y.shape.as_list() == []
    got = run(y)
    assert got.dtype == dtype and got == pytest.approx(7.125)
    check_gradients(tw.nn.l2_loss, [np.random.RandomState(10).randn(3, 2)])


def test_l2_normalize():
    rng = np.random.RandomState(11)
    x = rng.randn(3, 4)
    y = tw.nn.l2_normalize(x, axis=1)
    assert y.op.name == "l2_normalize"
    np.testing.assert_allclose(run(y), x / np.linalg.norm(x, axis=1, keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(evaluate(lambda t: tw.nn.l2_normalize(t, dim=0), x),
                               x / np.linalg.norm(x, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(evaluate(lambda t: tw.nn.l2_normalize(t, 0), np.zeros(3)),
                                  np.zeros(3))
    check_gradients(lambda t: tw.nn.l2_normalize(t, axis=0), [x])


def test_moments():
    rng = np.random.RandomState(12)
    x = rng.randn(4, 3, 2)
    mean, var = tw.nn.moments(x, axes=[0, 1])
    assert mean.op.name.startswith("moments/") and mean.shape.as_list() == [2]
    m, v = run([mean, var])
    np.testing.assert_allclose(m, x.mean((0, 1)), rtol=1e-12)
    np.testing.assert_allclose(v, x.var((0, 1)), rtol=1e-12)
    mk, vk = tw.nn.moments(x, [0], keep_dims=True)
    assert mk.shape.as_list() == [1, 3, 2] and vk.shape.as_list() == [1, 3, 2]
    half = run(tw.nn.moments(x.astype(np.float16), [0]))
    assert half[0].dtype == np.float16
    np.testing.assert_allclose(half[1], x.var(0), rtol=1e-2, atol=1e-2)
    check_gradients(lambda t: list(tw.nn.moments(t, [0, 2])), [x[:, :2]])


def test_batch_normalization():
    rng = np.random.RandomState(13)
    x, mean, var = rng.randn(4, 3), rng.randn(3), rng.rand(3) + 0.5
    offset, scale = rng.randn(3), rng.randn(3)
    y = tw.nn.batch_normalization(x, mean, var, offset, scale, 1e-3)
    assert y.op.name.startswith("batchnorm/")
    np.testing.assert_allclose(run(y), (x - mean) / np.sqrt(var + 1e-3) * scale + offset,
                               rtol=1e-12)
    y0 = tw.nn.batch_normalization(x, mean, var, None, None, 1e-3)
    np.testing.assert_allclose(run(y0), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    check_gradients(lambda a, m, v, o, s: tw.nn.batch_normalization(a, m, v, o, s, 1e-3),
                    [x, mean, var, offset, scale])


def test_fused_batch_norm_training_and_inference():
    rng = np.random.RandomState(14)
    x = rng.randn(4, 3, 2, 5)
    scale, offset = rng.rand(5) + 0.5, rng.randn(5)
    y, m, v = tw.nn.fused_batch_norm(x, scale, offset, epsilon=1e-3)
    assert y.op.type == "FusedBatchNormV3" and m.shape.as_list() == [5]
    yv, mv, vv = run([y, m, v])
    n = 4 * 3 * 2
    bm, bv = x.mean((0, 1, 2)), x.var((0, 1, 2))
    np.testing.assert_allclose(yv, (x - bm) / np.sqrt(bv + 1e-3) * scale + offset, rtol=1e-10)
    np.testing.assert_allclose(mv, bm, rtol=1e-12)
    np.testing.assert_allclose(vv, bv * n / (n - 1), rtol=1e-12)  # Bessel-corrected, as TF
    mean, var = rng.randn(5), rng.rand(5) + 0.1
    yi, mi, vi = run(tw.nn.fused_batch_norm(x, scale, offset, mean, var, is_training=False))
    np.testing.assert_allclose(yi, (x - mean) / np.sqrt(var + 1e-3) * scale + offset,
                               rtol=1e-10)
    np.testing.assert_allclose(mi, mean)
    half = run(tw.nn.fused_batch_norm(x.astype(np.float16), scale.astype(np.float32),
                                      offset.astype(np.float32))[0])
    assert half.dtype == np.float16
    nchw = run(tw.nn.fused_batch_norm(x.transpose(0, 3, 1, 2), scale, offset, epsilon=1e-3,
                                      data_format="NCHW")[0])
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), yv, rtol=1e-10)
    with pytest.raises(ValueError, match="must be None if is_training"):
        tw.nn.fused_batch_norm(x, scale, offset, mean, var)
    with pytest.raises(ValueError, match="channel size"):
        tw.nn.fused_batch_norm(x, scale[:4], offset[:4])


def test_fused_batch_norm_gradients():
    rng = np.random.RandomState(15)
    x, scale, offset = rng.randn(3, 2, 2, 3), rng.rand(3) + 0.5, rng.randn(3)
    check_gradients(lambda a, s, o: tw.nn.fused_batch_norm(a, s, o)[0], [x, scale, offset])
    mean, var = rng.randn(3), rng.rand(3) + 0.5
    check_gradients(lambda a, s, o: tw.nn.fused_batch_norm(
        a, s, o, tw.constant(mean), tw.constant(var), is_training=False)[0],
        [x, scale, offset], name="fused_batch_norm inference")


def test_local_response_normalization():
    rng = np.random.RandomState(16)
    x = rng.randn(2, 2, 3, 7).astype(np.float32)
    y = tw.nn.lrn(x, depth_radius=2, bias=1.5, alpha=0.3, beta=0.75)
    assert y.op.type == "LRN"
    sq = np.zeros_like(x)
    for d in range(7):
        sq[..., d] = (x[..., max(d - 2, 0):d + 3] ** 2).sum(-1)
    np.testing.assert_allclose(run(y), x / (1.5 + 0.3 * sq) ** 0.75, rtol=1e-5)
    check_gradients(lambda a: tw.nn.lrn(a, 1, 1.0, 0.5, 0.5), [rng.randn(1, 2, 2, 6)])
    check_gradients(lambda a: tw.nn.lrn(a, 3, 2.0, 0.1, 0.75), [rng.randn(2, 1, 2, 5)])


def test_in_top_k():
    p = np.float32([[0.1, 0.3, 0.3, 0.2], [0.5, 0.1, 0.2, 0.2], [np.nan, 1, 0, 0],
                    [0.1, 0.2, 0.3, 0.4]])
    top1 = tw.nn.in_top_k(p, [2, 2, 1, 7], 1)
    assert top1.op.name == "in_top_k/InTopKV2" and top1.dtype == tw.bool
    got = run(top1)
    np.testing.assert_array_equal(got, [True, False, False, False])  # a tie at the top is in
    np.testing.assert_array_equal(run(tw.nn.in_top_k(p, np.int64([3, 3, 1, 0]), 3)),
                                  [True, True, False, False])


def test_weighted_xent_log_poisson_zero_fraction():
    rng = np.random.RandomState(17)
    x, z = rng.randn(3, 4) * 3, rng.rand(3, 4)
    q = 2.5
    got = run(tw.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=q))
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(got, -(q * z * np.log(sig) + (1 - z) * np.log(1 - sig)),
                               rtol=1e-10)
    check_gradients(lambda a: tw.nn.weighted_cross_entropy_with_logits(
        labels=tw.constant(z), logits=a, pos_weight=q), [x])
    t, li = rng.rand(5) * 3, rng.randn(5)
    np.testing.assert_allclose(run(tw.nn.log_poisson_loss(t, li)), np.exp(li) - li * t)
    full = run(tw.nn.log_poisson_loss(t, li, compute_full_loss=True))
    stirling = t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t)
    np.testing.assert_allclose(full, np.exp(li) - li * t + np.where(t <= 1, 0, stirling))
    zf = tw.nn.zero_fraction(np.array([0.0, 1.0, 0.0, 3.0]))
    assert zf.dtype == tw.float32 and run(zf) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------------------------
def test_dropout_scaling_and_mask():
    x = np.ones((200, 50), np.float32)
    y = tw.nn.dropout(x, keep_prob=0.25, seed=1)
    got = run(y)
    assert got.dtype == np.float32 and set(np.unique(got)) <= {0.0, 4.0}
    assert 0.2 < (got > 0).mean() < 0.3
    tw.set_random_seed(3)
    z = tw.nn.dropout(x, rate=0.75, seed=1)
    assert 0.2 < (run(z) > 0).mean() < 0.3
    assert y.op.name.startswith("dropout")


def test_dropout_noise_shape_seed_and_identity():
    x = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    tw.set_random_seed(5)
    y = tw.nn.dropout(x, 0.5, noise_shape=[3, 1], seed=2)
    a = run(y)
    for row in a:  # one draw per row
        assert np.all(row == 0) or np.all(row > 0)
    np.testing.assert_array_equal(run(y), a)  # same seeds, new session: same mask
    xt = tw.constant(x)
    assert tw.nn.dropout(xt, keep_prob=1.0) is xt


def test_dropout_errors_and_gradient():
    with pytest.raises(ValueError, match="range"):
        tw.nn.dropout(np.ones(3, np.float32), rate=1.0)
    with pytest.raises(ValueError, match="You must provide a rate"):
        tw.nn.dropout(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="floating point"):
        tw.nn.dropout(np.ones(3, np.int32), 0.5)
    x = tw.placeholder(tw.float64, [20])
    y = tw.nn.dropout(x, 0.5, seed=4)
    tw.get_default_graph().seed = 7
    g = tw.gradients(y, x)[0]
    yv, gv = run([y, g], {x: np.ones(20)})
    np.testing.assert_array_equal(gv, yv)  # d/dx (x * mask / p) = mask / p


# ----------------------------------------------------------------------------------------------
# embedding_lookup
# ----------------------------------------------------------------------------------------------
def test_embedding_lookup_single_tensor_and_indexed_slices_gradient():
    params = np.arange(12, dtype=np.float64).reshape(6, 2)
    p = tw.placeholder(tw.float64, [6, 2])
    ids = np.array([[0, 5], [2, 2]])
    y = tw.nn.embedding_lookup(p, ids)
    assert y.shape.as_list() == [2, 2, 2]
    np.testing.assert_array_equal(run(y, {p: params}), params[ids])
    g = tw.gradients(y, p)[0]
    assert isinstance(g, tw.IndexedSlices)
    check_gradients(lambda t: tw.nn.embedding_lookup(t, ids), [params])


@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_embedding_lookup_sharded(strategy):
    full = np.arange(20, dtype=np.float64).reshape(10, 2)
    if strategy == "mod":
        shards = [full[i::3] for i in range(3)]
    else:  # 10 ids over 3 shards: sizes 4, 3, 3
        shards = [full[:4], full[4:7], full[7:]]
    ids = np.array([[9, 0, 4], [3, 7, 7]])
    y = tw.nn.embedding_lookup([tw.constant(s) for s in shards], ids,
                               partition_strategy=strategy)
    assert y.shape.as_list() == [2, 3, 2]
    np.testing.assert_array_equal(run(y), full[ids])
    check_gradients(lambda a, b, c: tw.nn.embedding_lookup([a, b, c], ids,
                                                           partition_strategy=strategy),
                    shards)
    ps = [tw.placeholder(tw.float64, s.shape) for s in shards]
    dyn = tw.placeholder(tw.int32, [None])
    e = tw.nn.embedding_lookup(ps, dyn, partition_strategy=strategy)
    assert e.shape.as_list() == [None, 2]
    grads = tw.gradients(e, ps)
    assert all(isinstance(g, tw.IndexedSlices) for g in grads)
    feed = {dyn: [7, 1, 1], **dict(zip(ps, shards))}
    np.testing.assert_array_equal(run(e, feed), full[[7, 1, 1]])


def test_embedding_lookup_errors_and_max_norm():
    with pytest.raises(ValueError, match="Unrecognized partition strategy"):
        tw.nn.embedding_lookup(np.zeros((3, 2)), [0], partition_strategy="x")
    with pytest.raises(ValueError, match="Need at least one param"):
        tw.nn.embedding_lookup([], [0])
    params = np.array([[3.0, 4.0], [0.3, 0.4]])
    got = run(tw.nn.embedding_lookup(params, [0, 1], max_norm=1.0))
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# namespace
# ----------------------------------------------------------------------------------------------
def test_nn_namespace_reexports_other_families():
    assert tw.nn.sigmoid is tw.sigmoid and tw.nn.tanh is tw.tanh
    assert tw.nn.top_k is nn_ops.top_k and tw.math.top_k is nn_ops.top_k
    for name in ("relu", "softmax", "conv2d", "max_pool", "embedding_lookup", "dropout",
                 "moments", "batch_normalization", "l2_loss"):
        assert callable(getattr(tw.nn, name))
    assert not hasattr(tw, "relu")  # tf.compat.v1 has tf.nn.relu only
