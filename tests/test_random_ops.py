"""Random ops: node names and static shapes as TF1, distributions against their formulas (large
samples, tolerances of several standard errors), exact dtypes, and TF1's seed semantics."""
import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework import random_seed

N = 200_000  # sample size for the statistics; standard error of a unit-variance mean ~ 0.0022


def _run(t, feed=None):
    with tw.Session() as s:
        return s.run(t, feed)


def _op_names():
    return [o.name for o in tw.get_default_graph().get_operations()]


# ----------------------------------------------------------------------------------------------
# graph structure
# ----------------------------------------------------------------------------------------------
def test_random_normal_builds_tf1_nodes():
    x = tw.random_normal([2, 3], mean=1.0, stddev=2.0)
    assert _op_names() == ["random_normal/shape", "random_normal/mean", "random_normal/stddev",
                           "random_normal/RandomStandardNormal", "random_normal/mul",
                           "random_normal"]
    assert x.name == "random_normal:0"
    assert x.shape.as_list() == [2, 3] and x.dtype is tw.float32
    rnd = tw.get_default_graph().get_operation_by_name("random_normal/RandomStandardNormal")
    assert rnd.type == "RandomStandardNormal" and rnd.get_attr("dtype") is tw.float32
    assert tw.get_default_graph().get_operation_by_name("random_normal/mul").type == "Mul"
    assert x.op.type == "Add"


def test_random_uniform_and_truncated_normal_node_names():
    u = tw.random_uniform([4], name="u")
    t = tw.truncated_normal([4])
    i = tw.random_uniform([4], 0, 10, dtype=tw.int64)
    assert _op_names() == [
        "u/shape", "u/min", "u/max", "u/RandomUniform", "u/sub", "u/mul", "u",
        "truncated_normal/shape", "truncated_normal/mean", "truncated_normal/stddev",
        "truncated_normal/TruncatedNormal", "truncated_normal/mul", "truncated_normal",
        "random_uniform/shape", "random_uniform/min", "random_uniform/max", "random_uniform"]
    assert u.name == "u:0" and t.name == "truncated_normal:0"
    assert i.op.type == "RandomUniformInt" and i.dtype is tw.int64


def test_other_random_op_names_and_types():
    assert tw.random_shuffle([1, 2, 3]).op.name == "RandomShuffle"
    m = tw.multinomial([[0.0, 1.0]], 3)
    assert m.op.name == "multinomial/Multinomial" and m.dtype is tw.int64
    assert _op_names() == ["RandomShuffle/value", "RandomShuffle", "multinomial/logits",
                           "multinomial/Multinomial/num_samples", "multinomial/Multinomial"]
    assert tw.random_shuffle(tw.constant([1, 2]), name="sh").op.name == "sh"
    c = tw.random.categorical([[0.0, 1.0]], 3, dtype=tw.int32)
    assert c.op.name == "categorical/Multinomial" and c.dtype is tw.int32
    assert m.shape.as_list() == [1, 3]


@pytest.mark.parametrize("shape", [[2, 3], (2, 3), tw.TensorShape([2, 3]),
                                   np.array([2, 3], np.int64)])
def test_static_shape_from_python_and_numpy_shapes(shape):
    for fn in (tw.random_normal, tw.random_uniform, tw.truncated_normal):
        x = fn(shape)
        assert x.shape.as_list() == [2, 3]
        assert _run(x).shape == (2, 3)


def test_scalar_and_empty_shapes():
    x, e = tw.random_normal([]), tw.random_uniform([0, 3])
    assert x.shape.as_list() == [] and e.shape.as_list() == [0, 3]
    xv, ev = _run([x, e])
    assert np.shape(xv) == () and ev.shape == (0, 3) and ev.dtype == np.float32


def test_shape_given_as_tensor():
    p = tw.placeholder(tw.float32, [5, 7])
    assert tw.random_normal(tw.shape(p)).shape.as_list() == [5, 7]
    s = tw.placeholder(tw.int32, [2])
    x = tw.random_uniform(s)
    assert x.shape.as_list() == [None, None]
    assert _run(x, {s: [3, 4]}).shape == (3, 4)
    unknown = tw.random_normal(tw.placeholder(tw.int32))
    assert unknown.shape.ndims is None


def test_build_time_errors():
    with pytest.raises(TypeError, match="DataType int32 not in list of allowed values"):
        tw.random_normal([2], dtype=tw.int32)
    with pytest.raises(TypeError, match="DataType int32"):
        tw.truncated_normal([2], dtype=tw.int32)
    with pytest.raises(ValueError, match="Must specify maxval for integer dtype"):
        tw.random_uniform([2], dtype=tw.int32)
    with pytest.raises(ValueError, match="Invalid dtype"):
        tw.random_uniform([2], dtype=tw.bool)
    with pytest.raises(TypeError, match="parameter 'shape' has DataType float32"):
        tw.random_normal(tw.constant([2.0, 3.0]))
    with pytest.raises(ValueError, match="Shape must be rank 1 but is rank 2"):
        tw.random_normal([[2, 3]])
    with pytest.raises(ValueError, match="negative dimension"):
        tw.random_uniform([2, -1])
    with pytest.raises(ValueError, match="Need minval < maxval: 5 >= 5"):
        tw.random_uniform([2], 5, 5, dtype=tw.int32)
    with pytest.raises(ValueError, match="logits should be a matrix"):
        tw.multinomial([0.0, 1.0], 2)
    with pytest.raises(ValueError, match="num_samples should be nonnegative"):
        tw.multinomial([[0.0, 1.0]], -1)


def test_run_time_error_for_bad_int_range():
    lo = tw.placeholder(tw.int32, [])
    x = tw.random_uniform([3], lo, 4, dtype=tw.int32)
    with pytest.raises(tw.errors.InvalidArgumentError, match="Need minval < maxval: 7 >= 4"):
        _run(x, {lo: 7})


# ----------------------------------------------------------------------------------------------
# dtypes and distributions
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [tw.float16, tw.float32, tw.float64])
def test_float_ops_produce_exact_dtypes(dtype):
    ops = [tw.random_normal([3], dtype=dtype), tw.random_uniform([3], dtype=dtype),
           tw.truncated_normal([3], dtype=dtype), tw.random_gamma([3], 2.0, dtype=dtype),
           tw.random.stateless_normal([3], [1, 2], dtype=dtype)]
    for x, v in zip(ops, _run(ops)):
        assert x.dtype is dtype and v.dtype == dtype.np, x.name


def test_random_normal_moments():
    v = _run(tw.random_normal([N], mean=3.0, stddev=2.0, seed=1)).astype(np.float64)
    assert abs(v.mean() - 3.0) < 5 * 2.0 / np.sqrt(N)
    assert abs(v.std() - 2.0) < 0.02
    # normal, not something else with the same moments: 4th standardised moment is 3
    z = (v - v.mean()) / v.std()
    assert abs((z ** 4).mean() - 3.0) < 0.05


def test_random_uniform_float_bounds_and_moments():
    v = _run(tw.random_uniform([N], -2.0, 6.0, seed=2)).astype(np.float64)
    assert v.min() >= -2.0 and v.max() < 6.0
    assert abs(v.mean() - 2.0) < 5 * (8 / np.sqrt(12)) / np.sqrt(N)
    assert abs(v.var() - 64 / 12) < 0.05
    hist = np.histogram(v, bins=8, range=(-2, 6))[0] / N
    np.testing.assert_allclose(hist, 1 / 8, atol=0.005)


def test_random_uniform_default_range_is_unit_interval_even_in_float16():
    for dt in (tw.float16, tw.float32, tw.float64):
        v = _run(tw.random_uniform([N], dtype=dt, seed=3))
        assert v.min() >= 0 and v.max() < 1 and abs(v.astype(np.float64).mean() - 0.5) < 0.005


@pytest.mark.parametrize("dtype", [tw.int32, tw.int64])
def test_random_uniform_int_range_and_frequencies(dtype):
    v = _run(tw.random_uniform([N], -3, 7, dtype=dtype, seed=4))
    assert v.dtype == dtype.np
    assert v.min() == -3 and v.max() == 6
    freq = np.bincount(v + 3, minlength=10) / N
    np.testing.assert_allclose(freq, 0.1, atol=0.005)


def test_random_uniform_int_with_tensor_bounds_and_big_int64_range():
    hi = tw.placeholder(tw.int64, [])
    v = _run(tw.random_uniform([1000], 2**40, hi, dtype=tw.int64), {hi: 2**40 + 5})
    assert v.min() >= 2**40 and v.max() < 2**40 + 5


def test_truncated_normal_bounds_and_std():
    v = _run(tw.truncated_normal([N], mean=1.0, stddev=3.0, seed=5)).astype(np.float64)
    assert v.min() >= 1.0 - 6.0 - 1e-5 and v.max() <= 1.0 + 6.0 + 1e-5
    assert abs(v.mean() - 1.0) < 0.03
    # std of a unit normal truncated to [-2, 2]
    assert abs(v.std() - 3.0 * 0.87962566103423978) < 0.02
    # values close to the bounds do occur (the truncation is at 2 sigma, not narrower)
    assert np.abs(v - 1.0).max() > 5.9


def test_truncated_normal_float16_stays_in_bounds():
    v = _run(tw.truncated_normal([N], dtype=tw.float16, seed=6))
    assert v.dtype == np.float16 and np.abs(v).max() <= 2.0


def test_random_shuffle_is_a_permutation_of_rows():
    value = np.arange(30, dtype=np.int64).reshape(10, 3)
    orig = value.copy()
    x = tw.placeholder(tw.int64, [10, 3])
    sh = tw.random_shuffle(x, seed=7)
    assert sh.shape.as_list() == [10, 3] and sh.dtype is tw.int64
    with tw.Session() as s:
        runs = [s.run(sh, {x: value}) for _ in range(5)]
    np.testing.assert_array_equal(value, orig)  # the feed array is not shuffled in place
    for r in runs:
        assert sorted(r[:, 0].tolist()) == list(range(0, 30, 3))
        np.testing.assert_array_equal(r[:, 1:] - r[:, :1], [[1, 2]] * 10)  # rows stay whole
    assert len({tuple(r[:, 0]) for r in runs}) > 1


def test_random_shuffle_permutation_is_uniform():
    sh = tw.random_shuffle(tw.constant([0, 1, 2]), seed=8)
    with tw.Session() as s:
        perms = [tuple(s.run(sh)) for _ in range(3000)]
    counts = np.array([perms.count(p) for p in set(perms)])
    assert len(counts) == 6 and np.all(np.abs(counts / 3000 - 1 / 6) < 0.03)


def test_random_shuffle_of_scalar_and_strings():
    assert _run(tw.random_shuffle(5)) == 5
    v = _run(tw.random_shuffle(["a", "b", "c"]))
    assert sorted(v.tolist()) == [b"a", b"b", b"c"]


def test_multinomial_frequencies_match_softmax():
    logits = np.array([[0.0, 1.0, 2.0, -1.0], [3.0, 3.0, -np.inf, 0.0]], np.float32)
    m = tw.multinomial(logits, 50_000, seed=9)
    v = _run(m)
    assert v.shape == (2, 50_000) and v.dtype == np.int64
    for row, lg in zip(v, logits.astype(np.float64)):
        p = np.exp(lg - lg.max())
        p /= p.sum()
        freq = np.bincount(row, minlength=4) / row.size
        np.testing.assert_allclose(freq, p, atol=0.01)
    assert not np.any(v[1] == 2)  # probability exactly 0


def test_multinomial_output_dtype_and_tensor_num_samples():
    n = tw.placeholder(tw.int32, [])
    m = tw.multinomial(tw.constant([[1.0, 2.0]], tw.float64), n, output_dtype=tw.int32)
    assert m.dtype is tw.int32 and m.shape.as_list() == [1, None]
    v = _run(m, {n: 7})
    assert v.shape == (1, 7) and v.dtype == np.int32 and set(v.ravel()) <= {0, 1}


def test_random_gamma_moments_and_shape():
    alpha = np.array([0.5, 2.0, 9.0], np.float32)
    g = tw.random_gamma([N // 4], alpha, beta=2.0, seed=10)
    assert g.shape.as_list() == [N // 4, 3]
    v = _run(g).astype(np.float64)
    assert v.min() > 0
    np.testing.assert_allclose(v.mean(0), alpha / 2.0, rtol=0.03)
    np.testing.assert_allclose(v.var(0), alpha / 4.0, rtol=0.06)


def test_random_gamma_with_tiny_alpha_stays_positive():
    v = _run(tw.random_gamma([10_000], 1e-3, seed=14))
    assert v.min() > 0 and v.dtype == np.float32


def test_random_gamma_broadcasts_alpha_against_beta():
    g = tw.random_gamma([1000], [[1.0], [4.0]], beta=[1.0, 2.0], seed=11)
    assert g.shape.as_list() == [1000, 2, 2]
    v = _run(g).astype(np.float64)
    np.testing.assert_allclose(v.mean(0), [[1.0, 0.5], [4.0, 2.0]], rtol=0.15)


def test_random_poisson_mean():
    p = tw.random_poisson([1.0, 30.0], [N // 4], dtype=tw.int32, seed=12)
    assert p.shape.as_list() == [N // 4, 2] and p.dtype is tw.int32
    v = _run(p)
    assert v.dtype == np.int32
    np.testing.assert_allclose(v.mean(0), [1.0, 30.0], rtol=0.02)


def test_stateless_ops_depend_only_on_the_seed_tensor():
    seed = tw.placeholder(tw.int64, [2])
    ops = [tw.random.stateless_normal([5], seed), tw.random.stateless_uniform([5], seed),
           tw.random.stateless_truncated_normal([5], seed),
           tw.random.stateless_uniform([5], seed, 0, 100, dtype=tw.int32),
           tw.random.stateless_categorical([[0.0, 0.0, 0.0]], 5, seed)]
    with tw.Session() as s:
        a = s.run(ops, {seed: [1, 2]})
        b = s.run(ops, {seed: [1, 2]})
        c = s.run(ops, {seed: [1, 3]})
    with tw.Session() as s:
        d = s.run(ops, {seed: [1, 2]})
    for x, y, z, w in zip(a, b, c, d):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, w)
        assert not np.array_equal(x, z)
    assert ops[0].op.name == "stateless_random_normal"
    assert np.abs(a[2]).max() <= 2.0 and a[3].dtype == np.int32


def test_random_ops_have_no_gradient_but_mean_and_stddev_do():
    mean = tw.constant(1.0)
    stddev = tw.constant(2.0)
    y = tw.random_normal([1000], mean, stddev, seed=13)
    g_mean, g_std = tw.gradients(tw.reduce_sum(y), [mean, stddev])
    with tw.Session() as s:
        yv, gm, gs = s.run([y, g_mean, g_std])
    assert gm == pytest.approx(1000.0)
    assert gs == pytest.approx(((yv - 1.0) / 2.0).sum(), rel=1e-4, abs=1e-3)
    for op_type in ("RandomStandardNormal", "RandomUniform", "TruncatedNormal",
                    "RandomUniformInt", "RandomShuffle", "Multinomial"):
        from tensorweave.autodiff.registry import _GRADIENTS, _NO_GRADIENT
        assert _GRADIENTS[op_type] is _NO_GRADIENT


def test_all_random_ops_are_stateful_and_have_cpu_kernels():
    from tensorweave.framework.op_registry import get_op_def
    from tensorweave.kernels import has_kernel
    for t in ("RandomStandardNormal", "RandomUniform", "TruncatedNormal", "RandomUniformInt",
              "RandomShuffle", "Multinomial", "RandomGamma", "RandomPoissonV2",
              "RandomOrthogonal"):
        assert get_op_def(t).stateful and has_kernel("CPU", t), t
    assert not get_op_def("StatelessRandomNormal").stateful


# ----------------------------------------------------------------------------------------------
# seeds
# ----------------------------------------------------------------------------------------------
def _seeds(t):
    op = t.op if t.op.type != "Add" else t.op.inputs[0].op.inputs[0].op
    return op.get_attr("seed"), op.get_attr("seed2")


def test_get_seed_rules():
    g = tw.get_default_graph()
    assert random_seed.get_seed(None) == (None, None)
    assert random_seed.get_seed(5) == (random_seed.DEFAULT_GRAPH_SEED, 5)
    tw.set_random_seed(3)
    assert random_seed.get_seed(5) == (3, 5)
    tw.constant(1.0)
    tw.constant(2.0)
    assert random_seed.get_seed(None) == (3, len(g.get_operations()))
    tw.set_random_seed(0)
    assert random_seed.get_seed(0) == (0, 2**31 - 1)  # (0, 0) would mean "unseeded"
    tw.set_random_seed(2**31 - 1 + 4)
    assert random_seed.get_seed(2**31 + 9) == (4, 10)  # reduced modulo 2**31 - 1
    tw.set_random_seed(None)
    assert tw.random.get_seed(None) == (None, None)


def test_seed_attrs_on_the_op():
    assert _seeds(tw.random_normal([2])) == (0, 0)
    assert _seeds(tw.random_normal([2], seed=4)) == (random_seed.DEFAULT_GRAPH_SEED, 4)
    tw.random.set_random_seed(9)
    n_before = len(tw.get_default_graph().get_operations())
    x = tw.random_uniform([2])
    # the op seed is the op count when the seed is drawn (after shape, min and max)
    assert _seeds(x) == (9, n_before + 3)
    assert _seeds(tw.random_shuffle([1, 2], seed=6)) == (9, 6)


def _build(graph_seed, op_seed, n_ops=2):
    g = tw.Graph()
    with g.as_default():
        if graph_seed is not None:
            tw.set_random_seed(graph_seed)
        outs = [tw.random_normal([8], seed=op_seed) for _ in range(n_ops)]
        outs.append(tw.random_uniform([8], 0, 100, dtype=tw.int32, seed=op_seed))
        outs.append(tw.truncated_normal([8], seed=op_seed))
        outs.append(tw.random_shuffle(np.arange(8), seed=op_seed))
        outs.append(tw.multinomial(tw.zeros([1, 5]), 8, seed=op_seed))
    return g, outs


def _values(g, outs, runs=1):
    with tw.Session(graph=g) as s:
        return [s.run(outs) for _ in range(runs)]


def _assert_equal_runs(a, b):
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


def test_graph_and_op_seed_repeat_across_sessions_and_rebuilds():
    g1, o1 = _build(1, 2)
    g2, o2 = _build(1, 2)
    first = _values(g1, o1, runs=2)
    _assert_equal_runs(first, _values(g1, o1, runs=2))  # a new session restarts the streams
    _assert_equal_runs(first, _values(g2, o2, runs=2))  # an identical graph gives the same
    # same (seed, seed2) on two ops: the same stream, as in TF1
    np.testing.assert_array_equal(first[0][0], first[0][1])
    g3, o3 = _build(1, 3)
    assert not np.array_equal(first[0][0], _values(g3, o3)[0][0])


def test_only_graph_seed_gives_distinct_but_repeatable_streams():
    g1, o1 = _build(42, None)
    g2, o2 = _build(42, None)
    a, b = _values(g1, o1)[0], _values(g2, o2)[0]
    _assert_equal_runs([a], [b])
    assert not np.array_equal(a[0], a[1])  # op seeds differ by the op count
    g3, o3 = _build(43, None)
    assert not np.array_equal(a[0], _values(g3, o3)[0][0])


def test_only_op_seed_uses_the_default_graph_seed():
    g1, o1 = _build(None, 5)
    g2, o2 = _build(random_seed.DEFAULT_GRAPH_SEED, 5)
    _assert_equal_runs(_values(g1, o1), _values(g2, o2))
    _assert_equal_runs(_values(g1, o1), _values(g1, o1))


def test_no_seed_differs_between_sessions():
    g, outs = _build(None, None)
    a, b = _values(g, outs)[0], _values(g, outs)[0]
    assert not np.array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1])


def test_stream_advances_within_a_session_and_across_plans():
    tw.set_random_seed(1)
    x = tw.random_normal([4])
    y = tw.random_uniform([4])
    with tw.Session() as s:
        a1 = s.run(x)
        a2 = s.run([x, y])[0]  # another plan: the same kernel, the stream goes on
        a3 = s.run(x)
    with tw.Session() as s:
        b = [s.run(x) for _ in range(3)]
    assert not np.array_equal(a1, a2) and not np.array_equal(a2, a3)
    for u, v in zip([a1, a2, a3], b):
        np.testing.assert_array_equal(u, v)


def test_one_run_evaluates_a_random_op_once():
    x = tw.random_normal([3], seed=1)
    y = x + 0.0
    with tw.Session() as s:
        xv, yv = s.run([x, y])
    np.testing.assert_array_equal(xv, yv)


def test_seeded_op_survives_graph_def_round_trip():
    tw.set_random_seed(7)
    x = tw.random_normal([6], name="x")
    gd = tw.get_default_graph().as_graph_def()
    g2 = tw.Graph()
    with g2.as_default():
        tw.import_graph_def(gd, name="")
    with tw.Session() as s:
        a = s.run(x)
    with tw.Session(graph=g2) as s:
        b = s.run("x:0")
    np.testing.assert_array_equal(a, b)
