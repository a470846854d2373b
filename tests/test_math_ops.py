"""Math ops: values against numpy (dtypes, broadcasting, 0-d), TF1 names and errors, and
gradients against float64 central differences (hypothesis shapes and values, away from kinks)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tensorweave as tw
from tensorweave.test import check_gradients


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


def rng(seed=0):
    return np.random.RandomState(seed)


def randn(seed, *shape):
    return np.asarray(rng(seed).standard_normal(shape))


# ----------------------------------------------------------------------------------------------
# hypothesis strategies: shapes, broadcast pairs, seeded arrays
# ----------------------------------------------------------------------------------------------
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast against each other (size-1 and missing leading dims)."""
    out = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    a = [d if draw(st.booleans()) else 1 for d in out]
    b = [d if draw(st.booleans()) else 1 for d in out]
    a = a[draw(st.integers(0, len(a))):]
    return tuple(a), tuple(b)


def values(seed, shape, lo=-2.0, hi=2.0, away_from=None, gap=0.2):
    """float64 values in [lo, hi], at least `gap` away from the points in `away_from`."""
    v = rng(seed).uniform(lo, hi, size=shape)
    for p in away_from or ():
        close = np.abs(v - p) < gap
        v = np.where(close, p + np.where(v >= p, gap, -gap), v)
    return np.asarray(v, dtype=np.float64)


seeds = st.integers(0, 2**31 - 1)


# ----------------------------------------------------------------------------------------------
# binary arithmetic: values, dtypes, broadcasting
# ----------------------------------------------------------------------------------------------
BINARY = [
    (tw.add, np.add), (tw.subtract, np.subtract), (tw.multiply, np.multiply),
    (tw.maximum, np.maximum), (tw.minimum, np.minimum),
    (tw.squared_difference, lambda x, y: (x - y) ** 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("tw_fn,np_fn", BINARY, ids=lambda f: getattr(f, "__name__", ""))
@pytest.mark.parametrize("sa,sb", [((2, 3), (3,)), ((), (2, 2)), ((4, 1), (1, 5)), ((), ())])
def test_binary_values_broadcast(tw_fn, np_fn, dtype, sa, sb):
    a = (randn(1, *sa) * 5).astype(dtype)
    b = (randn(2, *sb) * 5).astype(dtype)
    out = tw_fn(tw.constant(a), tw.constant(b))
    expect = np.asarray(np_fn(a, b)).astype(dtype)
    assert out.dtype == tw.as_dtype(dtype) and out.shape.as_list() == list(expect.shape)
    got = run(out)
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, expect, rtol=1e-6)


def test_add_strings_and_float16():
    assert run(tw.add(tw.constant(["a", "b"]), tw.constant("c"))).tolist() == [b"ac", b"bc"]
    h = run(tw.constant(np.float16(1.5)) * tw.constant(np.float16(2)))
    assert h == np.float16(3) and h.dtype == np.float16


def test_integer_division_semantics_match_python_and_c():
    a = np.array([7, -7, 7, -7, 0, 6], np.int32)
    b = np.array([2, 2, -2, -2, 3, -4], np.int32)
    x, y = tw.constant(a), tw.constant(b)
    fd, fm, d, td, tm, rd = run([x // y, x % y, tw.div(x, y), tw.truncatediv(x, y),
                                 tw.truncatemod(x, y), tw.realdiv(x, y)])
    assert fd.tolist() == [i // j for i, j in zip(a.tolist(), b.tolist())]
    assert fm.tolist() == [i % j for i, j in zip(a.tolist(), b.tolist())]
    assert d.tolist() == fd.tolist() and d.dtype == np.int32
    assert td.tolist() == [int(i / j) for i, j in zip(a.tolist(), b.tolist())]
    assert tm.tolist() == [int(math.fmod(i, j)) for i, j in zip(a.tolist(), b.tolist())]
    assert rd.tolist() == td.tolist()  # RealDiv on integers truncates, as TF's does


def test_float_floor_div_and_mod():
    a = np.array([7.5, -7.5, 7.5, -7.5], np.float32)
    b = np.array([2, 2, -2, -2], np.float32)
    fd, fm, tm = run([tw.floordiv(a, b), tw.floormod(a, b), tw.truncatemod(a, b)])
    np.testing.assert_array_equal(fd, np.floor(a / b))
    np.testing.assert_array_equal(fm, np.mod(a, b))
    np.testing.assert_array_equal(tm, np.fmod(a, b))


def test_integer_division_by_zero_fails_at_run_time():
    z = tw.constant([1, 0], tw.int32) // tw.constant([1, 0], tw.int32)
    with pytest.raises(tw.errors.InvalidArgumentError, match="division by zero"):
        run(z)


@pytest.mark.parametrize("dtype,expect", [(tw.int8, tw.float32), (tw.uint8, tw.float32),
                                          (tw.int16, tw.float32), (tw.int32, tw.float64),
                                          (tw.int64, tw.float64), (tw.float16, tw.float16),
                                          (tw.float32, tw.float32)])
def test_truediv_casts_integers(dtype, expect):
    x = tw.constant([3, 4], dtype=dtype)
    q = x / tw.constant(2, dtype=dtype)
    assert q.dtype is expect and q.op.name == "truediv"
    np.testing.assert_allclose(run(q), [1.5, 2.0])
    assert tw.divide(x, 2).dtype is expect


def test_div_for_floats_is_realdiv():
    q = tw.div(tw.constant([3.0]), 2.0)
    assert q.op.type == "RealDiv" and q.op.name == "div"
    assert run(q).tolist() == [1.5]


def test_pow_and_special_binaries():
    x = np.array([0.5, 2.0, 3.0], np.float64)
    y = np.array([2.0, -1.0, 0.5], np.float64)
    p, a2, xl, xd, dnn = run([tw.pow(x, y), tw.atan2(x, y), tw.math.xlogy(np.array([0.0, 1, 2]), x),
                              tw.math.xdivy(np.array([0.0, 1, 2]), x),
                              tw.div_no_nan(np.array([1.0, 2, 3]), np.array([0.0, 2, 0]))])
    np.testing.assert_allclose(p, x ** y)
    np.testing.assert_allclose(a2, np.arctan2(x, y))
    np.testing.assert_allclose(xl, [0.0, np.log(2.0), 2 * np.log(3.0)])
    np.testing.assert_allclose(xd, [0.0, 0.5, 2 / 3])
    np.testing.assert_allclose(dnn, [0.0, 1.0, 0.0])
    assert run(tw.constant([2, 3]) ** 2).tolist() == [4, 9]
    with pytest.raises(tw.errors.InvalidArgumentError):
        run(tw.pow(tw.constant([2]), tw.constant([-1])))


def test_add_n_and_scalar_mul():
    a, b, c = (rng(i).randn(2, 3).astype(np.float32) for i in range(3))
    s = tw.add_n([a, tw.constant(b), c])
    assert s.op.type == "AddN" and s.op.name == "AddN"
    np.testing.assert_allclose(run(s), a + b + c, rtol=1e-6)
    one = tw.constant(a)
    assert tw.add_n([one]) is one
    np.testing.assert_allclose(run(tw.accumulate_n([a, b])), a + b, rtol=1e-6)
    np.testing.assert_allclose(run(tw.scalar_mul(2.0, tw.constant(a))), 2 * a)
    with pytest.raises(ValueError, match="Only scalar multiply"):
        tw.scalar_mul([1.0, 2.0], tw.constant([1.0, 2.0]))
    with pytest.raises(ValueError):
        tw.add_n([])
    with pytest.raises(ValueError, match=r"\[2,3\] and \[3,2\]"):
        tw.add_n([tw.constant(a), tw.zeros([3, 2])])


# ----------------------------------------------------------------------------------------------
# names, operators and errors
# ----------------------------------------------------------------------------------------------
def test_operator_names_are_lower_case_and_functions_upper_case():
    x = tw.placeholder(tw.float32, [2], name="x")
    y = tw.placeholder(tw.float32, [2], name="y")
    names = {k: v.op.name for k, v in {
        "add": x + y, "add2": x + y, "sub": x - y, "mul": x * y, "truediv": x / y,
        "floordiv": x // y, "mod": x % y, "pow": x ** y, "neg": -x, "abs": abs(x), "lt": x < y,
        "le": x <= y, "gt": x > y, "ge": x >= y, "Add": tw.add(x, y), "Mul": tw.multiply(x, y),
        "Sub": tw.subtract(x, y), "Pow": tw.pow(x, y), "FloorMod": tw.mod(x, y),
    }.items()}
    # names are unique case-insensitively, as in TF1: `Add` after two `add`s is `Add_2`
    assert names == {"add": "add", "add2": "add_1", "sub": "sub", "mul": "mul",
                     "truediv": "truediv", "floordiv": "floordiv", "mod": "mod", "pow": "pow",
                     "neg": "Neg", "abs": "Abs", "lt": "Less", "le": "LessEqual", "gt": "Greater",
                     "ge": "GreaterEqual", "Add": "Add_2", "Mul": "Mul_1", "Sub": "Sub_1",
                     "Pow": "Pow_1", "FloorMod": "FloorMod"}
    g = tw.Graph()
    with g.as_default():
        a = tw.constant(1.0)
        assert [f(a, a).op.name for f in (tw.add, tw.multiply, tw.subtract, tw.pow,
                                          tw.maximum)] == ["Add", "Mul", "Sub", "Pow", "Maximum"]
    assert (x + y).op.type == "Add" and (x % y).op.type == "FloorMod"
    assert (tw.reshape(x, [1, 2]) @ tw.reshape(y, [2, 1])).op.name == "matmul"


def test_operator_constants_live_in_the_op_scope_and_reflect():
    x = tw.placeholder(tw.float32, [2], name="x")
    r = 2.0 - x
    assert r.op.name == "sub" and r.op.inputs[0].op.name == "sub/x"
    assert r.op.inputs[1] is x
    m = x * 3
    assert m.op.inputs[1].op.name == "mul/y" and m.op.inputs[1].dtype is tw.float32
    a = tw.add(x, 1)
    assert a.op.inputs[1].op.name == "Add/y"
    with tw.name_scope("layer"):
        s = x + x
        t = tw.add(x, x, name="total")
    assert s.op.name == "layer/add" and t.op.name == "layer/total"
    np.testing.assert_allclose(run([r, m], {x: [1.0, 4.0]}), [[1.0, -2.0], [3.0, 12.0]])


def test_numpy_array_on_the_left_uses_the_reflected_operator():
    x = tw.placeholder(tw.float64, [2])
    out = np.array([1.0, 2.0]) - x
    assert isinstance(out, tw.Tensor) and out.op.name == "sub"
    assert run(out, {x: [0.5, 0.5]}).tolist() == [0.5, 1.5]


def test_logical_operators_on_bool():
    a = tw.constant([True, True, False, False])
    b = tw.constant([True, False, True, False])
    assert (a & b).op.name == "and" and (a ^ b).op.name == "xor"
    assert tw.logical_xor(a, b).op.name == "LogicalXor"
    r = run([a & b, a | b, a ^ b, ~a, tw.logical_xor(a, b), True & a])
    assert r[0].tolist() == [True, False, False, False]
    assert r[1].tolist() == [True, True, True, False]
    assert r[2].tolist() == [False, True, True, False] == r[4].tolist()
    assert r[3].tolist() == [False, False, True, True]
    with pytest.raises(TypeError, match="bool"):
        tw.constant([1, 2]) & tw.constant([1, 2])


def test_mismatched_dtypes_raise_type_error_naming_both():
    x = tw.constant([1.0, 2.0])
    n = tw.constant([1, 2])
    with pytest.raises(TypeError, match=r"int32.*float32|float32.*int32"):
        x + n
    with pytest.raises(TypeError, match=r"float64.*float32|float32.*float64"):
        tw.multiply(x, tw.constant([1.0], tw.float64))
    with pytest.raises(TypeError):
        n + 1.5
    with pytest.raises(TypeError, match="bool"):
        tw.add(tw.constant([True]), tw.constant([False]))
    with pytest.raises(TypeError, match="int32"):
        tw.sqrt(n)
    with pytest.raises(TypeError, match="int32"):
        tw.less(tw.constant([1j]), tw.constant([2j]))


def test_mismatched_shapes_raise_value_error_at_build_time():
    a = tw.placeholder(tw.float32, [2, 3])
    b = tw.placeholder(tw.float32, [4])
    with pytest.raises(ValueError, match=r"3 and 4.*\[2,3\], \[4\]"):
        a + b
    with pytest.raises(ValueError, match=r"3 and 4"):
        tw.equal(a, b)
    with pytest.raises(ValueError, match=r"Dimensions must be equal, but are 3 and 2"):
        tw.matmul(a, tw.placeholder(tw.float32, [2, 5]))
    with pytest.raises(ValueError, match="rank 2"):
        tw.matmul(a, tw.placeholder(tw.float32, [3]))
    # unknown dims are checked when the values arrive
    u = tw.placeholder(tw.float32, [None])
    assert (a + u).shape.as_list() == [2, 3]


# ----------------------------------------------------------------------------------------------
# unary
# ----------------------------------------------------------------------------------------------
UNARY = [
    ("negative", np.negative, None), ("abs", np.abs, None), ("sign", np.sign, None),
    ("square", np.square, None), ("sqrt", np.sqrt, (0.1, 4)), ("rsqrt", lambda v: 1 / np.sqrt(v),
                                                                  (0.1, 4)),
    ("exp", np.exp, None), ("expm1", np.expm1, None), ("log", np.log, (0.1, 4)),
    ("log1p", np.log1p, (-0.5, 4)), ("sin", np.sin, None), ("cos", np.cos, None),
    ("tan", np.tan, (-1, 1)), ("asin", np.arcsin, (-0.9, 0.9)), ("acos", np.arccos, (-0.9, 0.9)),
    ("atan", np.arctan, None), ("sinh", np.sinh, None), ("cosh", np.cosh, None),
    ("asinh", np.arcsinh, None), ("acosh", np.arccosh, (1.1, 4)), ("atanh", np.arctanh,
                                                                    (-0.9, 0.9)),
    ("tanh", np.tanh, None), ("sigmoid", lambda v: 1 / (1 + np.exp(-v)), None),
    ("erf", np.vectorize(math.erf), None), ("erfc", np.vectorize(math.erfc), None),
    ("lgamma", np.vectorize(math.lgamma), (0.1, 5)), ("floor", np.floor, None),
    ("ceil", np.ceil, None), ("rint", np.rint, None), ("reciprocal", np.reciprocal, (0.5, 3)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ref,dom", UNARY, ids=[u[0] for u in UNARY])
def test_unary_values(name, ref, dom, dtype):
    lo, hi = dom or (-3, 3)
    v = rng(3).uniform(lo, hi, size=(2, 5)).astype(dtype)
    fn = getattr(tw, name)
    out = fn(tw.constant(v))
    got = run(out)
    assert got.dtype == dtype and out.op.name == out.op.type
    np.testing.assert_allclose(got, ref(v.astype(np.float64)), rtol=2e-6 if dtype == np.float32
                               else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-12)
    s = run(fn(tw.constant(dtype(v[0, 0]))))  # 0-d
    np.testing.assert_allclose(s, ref(np.float64(v[0, 0])), rtol=2e-6)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "sin", "square",
                                  "reciprocal", "rsqrt", "negative", "sign"])
def test_unary_complex(name):
    v = (rng(4).uniform(0.2, 1.5, 4) + 1j * rng(5).uniform(-1, 1, 4)).astype(np.complex128)
    refs = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "rsqrt": lambda z: 1 / np.sqrt(z),
            "negative": np.negative, "sign": lambda z: z / np.abs(z)}
    got = run(getattr(tw, name)(tw.constant(v)))
    np.testing.assert_allclose(got, refs.get(name, getattr(np, name, None))(v), rtol=1e-12)


def test_sigmoid_saturates_without_overflow():
    v = np.array([-1000, -50, 0, 50, 1000], np.float32)
    np.testing.assert_allclose(run(tw.sigmoid(v)), [0, 1.9287e-22, 0.5, 1, 1], rtol=1e-4)


def test_abs_of_complex_is_real():
    z = tw.constant([3 + 4j, -1j], tw.complex64)
    a = tw.abs(z)
    assert a.dtype is tw.float32 and a.op.type == "ComplexAbs"
    np.testing.assert_allclose(run(a), [5, 1])


def test_round_half_to_even_and_integers_pass_through():
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4], np.float32)
    assert run(tw.round(v)).tolist() == [0, 2, 2, -0.0, -2, 2]
    n = tw.constant([1, 2])
    assert tw.round(n) is n


def test_is_nan_inf_finite():
    v = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    a, b, c = run([tw.is_nan(v), tw.is_inf(v), tw.is_finite(v)])
    assert a.tolist() == [False, True, False, False]
    assert b.tolist() == [False, False, True, True]
    assert c.tolist() == [True, False, False, False] and c.dtype == bool


def test_special_functions():
    x = np.array([0.5, 1.0, 2.5, 7.0, -2.5], np.float64)
    d, tri, z = run([tw.digamma(x), tw.polygamma(np.ones(5), x), tw.zeta(2.0 * np.ones(5),
                                                                        np.abs(x))])
    lg = np.vectorize(math.lgamma)
    h = 1e-5
    np.testing.assert_allclose(d, (lg(x + h) - lg(x - h)) / (2 * h), rtol=1e-7)
    np.testing.assert_allclose(tri[1], np.pi ** 2 / 6, rtol=1e-12)
    np.testing.assert_allclose(z[1], np.pi ** 2 / 6, rtol=1e-12)
    np.testing.assert_allclose(z, [sum((q + k) ** -2.0 for k in range(200000)) + 1 / (q + 2e5)
                                   for q in np.abs(x)], rtol=1e-9)
    assert math.isinf(run(tw.lgamma(tw.constant(0.0))))
    np.testing.assert_allclose(run(tw.polygamma(tw.constant(0.0), 3.0)), run(tw.digamma(3.0)))


# ----------------------------------------------------------------------------------------------
# comparisons
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tw_fn,np_fn", [(tw.equal, np.equal), (tw.not_equal, np.not_equal),
                                         (tw.less, np.less), (tw.less_equal, np.less_equal),
                                         (tw.greater, np.greater),
                                         (tw.greater_equal, np.greater_equal)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.uint8])
def test_comparisons(tw_fn, np_fn, dtype):
    a = rng(6).randint(0, 4, (3, 4)).astype(dtype)
    b = rng(7).randint(0, 4, (4,)).astype(dtype)
    out = tw_fn(a, tw.constant(b))
    assert out.dtype is tw.bool and out.shape.as_list() == [3, 4]
    np.testing.assert_array_equal(run(out), np_fn(a, b))
    assert run(tw_fn(tw.constant(dtype(1)), dtype(1))) == np_fn(1, 1)


def test_equal_on_strings_and_bools():
    assert run(tw.equal(tw.constant(["a", "b"]), "a")).tolist() == [True, False]
    assert run(tw.not_equal(tw.constant([True]), False)).tolist() == [True]


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
REDUCTIONS = [(tw.reduce_sum, np.sum), (tw.reduce_mean, np.mean), (tw.reduce_max, np.max),
              (tw.reduce_min, np.min), (tw.reduce_prod, np.prod)]


@pytest.mark.parametrize("tw_fn,np_fn", REDUCTIONS, ids=lambda f: getattr(f, "__name__", ""))
@pytest.mark.parametrize("axis", [None, 0, -1, [0, 2], (1,), []])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_reductions(tw_fn, np_fn, axis, keepdims, dtype):
    v = rng(8).randint(-3, 4, (2, 3, 4)).astype(dtype)
    out = tw_fn(tw.constant(v), axis=axis, keepdims=keepdims)
    npa = None if axis is None else tuple(np.atleast_1d(axis).tolist())
    if np_fn is np.mean and dtype == np.int32:
        s = np.sum(v, axis=npa, keepdims=keepdims, dtype=np.int64)
        n = v.size // max(s.size, 1)
        expect = (np.sign(s) * (np.abs(s) // n)).astype(dtype)  # truncation, as TF
    else:
        expect = np_fn(v, axis=npa, keepdims=keepdims).astype(dtype)
    assert out.shape.as_list() == list(expect.shape) and out.dtype is tw.as_dtype(dtype)
    got = run(out)
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, expect, rtol=1e-6)


def test_reduce_mean_of_ints_truncates_toward_zero():
    assert run(tw.reduce_mean(tw.constant([-3, -4]))) == -3
    assert run(tw.reduce_mean(tw.constant([3, 4]))) == 3
    assert run(tw.reduce_mean(tw.constant([[1, 2], [4, 4]]), 1)).tolist() == [1, 4]


def test_reduction_legacy_arguments_and_names():
    v = np.arange(6.0).reshape(2, 3)
    a = tw.reduce_sum(v, reduction_indices=[1], keep_dims=True)
    assert a.shape.as_list() == [2, 1] and a.op.name == "Sum"
    assert a.op.inputs[1].op.name == "Sum/reduction_indices"
    assert run(a).tolist() == [[3.0], [12.0]]
    with pytest.raises(ValueError, match="both 'axis' and 'reduction_indices'"):
        tw.reduce_sum(v, axis=0, reduction_indices=0)
    with pytest.raises(ValueError, match="both 'keepdims' and 'keep_dims'"):
        tw.reduce_sum(v, keepdims=True, keep_dims=True)
    with pytest.raises(ValueError, match="Invalid reduction dimension 2"):
        tw.reduce_sum(v, 2)
    assert tw.reduce_max(v, name="m").op.name == "m"


def test_reduction_with_a_fed_axis():
    x = tw.placeholder(tw.float32, [2, 3])
    ax = tw.placeholder(tw.int32, [])
    s = tw.reduce_sum(x, ax)
    assert s.shape.ndims is None
    k = tw.reduce_max(x, ax, keepdims=True)
    assert k.shape.as_list() == [None, None]
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert run(s, {x: v, ax: 1}).tolist() == [3, 12]
    assert run(k, {x: v, ax: 0}).tolist() == [[3, 4, 5]]


def test_reduce_any_all_logsumexp_count_nonzero_and_empty_max():
    b = np.array([[True, False], [True, True]])
    assert run(tw.reduce_any(b, 1)).tolist() == [True, True]
    assert run(tw.reduce_all(b, 1)).tolist() == [False, True]
    assert run(tw.reduce_all(b)).tolist() is False
    with pytest.raises(TypeError):
        tw.reduce_any(tw.constant([1.0]))
    v = np.array([[1.0, 2.0, 3.0], [-np.inf, -np.inf, -np.inf], [1000.0, 1000.0, 0.0]])
    lse = run(tw.reduce_logsumexp(v, 1))
    with np.errstate(divide="ignore"):
        ref = np.log(np.sum(np.exp(v - 1000), axis=1)) + 1000
    ref[0] = np.log(np.sum(np.exp(v[0])))
    np.testing.assert_allclose(lse, ref)
    assert run(tw.reduce_logsumexp(v[:1], keepdims=True)).shape == (1, 1)
    c = tw.count_nonzero(np.array([[0, 1, 2], [0, 0, 3]]), axis=1)
    assert c.dtype is tw.int64 and run(c).tolist() == [2, 1]
    assert run(tw.reduce_max(tw.zeros([0, 2]), 0)).tolist() == [-np.inf, -np.inf]
    np.testing.assert_allclose(run(tw.math.reduce_variance(v[:1], 1)), [np.var(v[0])])
    np.testing.assert_allclose(run(tw.math.reduce_std(v[:1])), np.std(v[0]))


# ----------------------------------------------------------------------------------------------
# argmax, cumsum
# ----------------------------------------------------------------------------------------------
def test_argmax_argmin():
    v = np.array([[1, 5, 5], [7, 0, 7]], np.float32)
    a = tw.argmax(v, 1)
    assert a.dtype is tw.int64 and a.op.name == "ArgMax"
    assert run(a).tolist() == [1, 0]  # first of the ties
    b = tw.argmin(v, dimension=0, output_type=tw.int32)
    assert b.dtype is tw.int32 and run(b).tolist() == [0, 1, 0]
    assert run(tw.argmax(v)).tolist() == [1, 0, 1]
    with pytest.raises(ValueError):
        tw.argmax(v, 2)
    with pytest.raises(TypeError):
        tw.argmax(v, 0, output_type=tw.float32)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum_cumprod(exclusive, reverse, axis):
    v = rng(9).randint(1, 4, (3, 4)).astype(np.float64)

    def ref(fn, ident):
        x = np.flip(v, axis) if reverse else v
        c = fn(x, axis=axis)
        if exclusive:
            c = np.concatenate([np.full_like(np.take(c, [0], axis), ident),
                                np.delete(c, -1, axis)], axis)
        return np.flip(c, axis) if reverse else c
    cs = tw.cumsum(v, axis, exclusive=exclusive, reverse=reverse)
    cp = tw.cumprod(v, axis, exclusive=exclusive, reverse=reverse)
    a, b = run([cs, cp])
    np.testing.assert_allclose(a, ref(np.cumsum, 0))
    np.testing.assert_allclose(b, ref(np.cumprod, 1))
    assert cs.op.name == "Cumsum" and cp.op.name == "Cumprod"
    assert run(tw.cumsum(np.arange(4, dtype=np.int32))).dtype == np.int32


# ----------------------------------------------------------------------------------------------
# casts and complex numbers
# ----------------------------------------------------------------------------------------------
def test_cast_and_friends():
    v = np.array([-1.7, 0.5, 2.9], np.float32)
    c = tw.cast(v, tw.int32)
    assert c.op.name == "Cast" and c.op.get_attr("DstT") is tw.int32
    assert run(c).tolist() == [-1, 0, 2]
    x = tw.constant(v)
    assert tw.cast(x, tw.float32) is x
    assert run(tw.cast(x, tw.bool)).tolist() == [True, True, True]
    assert tw.to_float(tw.constant([1])).dtype is tw.float32
    assert tw.to_double(x).dtype is tw.float64 and tw.to_int64(x).dtype is tw.int64
    assert tw.to_int32(x).op.name == "ToInt32"
    z = tw.cast(tw.constant([1 + 2j]), tw.float64)
    assert run(z).tolist() == [1.0]
    s = tw.saturate_cast(tw.constant([-300.0, 5.0, 300.0]), tw.uint8)
    assert s.dtype is tw.uint8 and run(s).tolist() == [0, 5, 255]
    assert run(tw.saturate_cast(tw.constant([2**40, -2**40], tw.int64), tw.int32)).tolist() == [
        2**31 - 1, -2**31]


def test_complex_parts():
    re, im = np.array([1.0, -2.0], np.float32), np.array([3.0, 0.5], np.float32)
    z = tw.complex(re, im)
    assert z.dtype is tw.complex64
    zz = tw.complex(np.float64(1), np.float64(2))
    assert zz.dtype is tw.complex128
    r = run([tw.real(z), tw.imag(z), tw.conj(z), tw.angle(z), z])
    np.testing.assert_allclose(r[0], re)
    np.testing.assert_allclose(r[1], im)
    np.testing.assert_allclose(r[2], re - 1j * im)
    np.testing.assert_allclose(r[3], np.angle(re + 1j * im), rtol=1e-6)
    assert r[3].dtype == np.float32
    x = tw.constant(re)
    assert tw.real(x) is x and tw.conj(x) is x
    assert run(tw.imag(x)).tolist() == [0, 0] and run(tw.angle(x)).tolist() == [0, 0]
    with pytest.raises(TypeError, match="incorrect types"):
        tw.complex(re, im.astype(np.float64))
    inf = run(tw.complex(np.float64(np.inf), np.float64(0)))
    assert inf.real == np.inf and inf.imag == 0


# ----------------------------------------------------------------------------------------------
# range, linspace
# ----------------------------------------------------------------------------------------------
def test_range():
    r = tw.range(5)
    assert r.dtype is tw.int32 and r.op.name == "range" and r.shape.as_list() == [5]
    assert r.op.inputs[1].op.name == "range/limit"
    assert run(r).tolist() == [0, 1, 2, 3, 4]
    f = tw.range(1, 2, 0.25)
    assert f.dtype is tw.float32 and run(f).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert tw.range(tw.constant(3, tw.int64)).dtype is tw.int64
    assert tw.range(1, 3.0).dtype is tw.float32
    assert run(tw.range(10, 0, -3)).tolist() == [10, 7, 4, 1]
    assert run(tw.range(3, dtype=tw.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="start <= limit"):
        tw.range(5, 1)
    with pytest.raises(ValueError, match="delta != 0"):
        tw.range(0, 5, 0)
    n = tw.placeholder(tw.int32, [])
    d = tw.range(n)
    assert d.shape.as_list() == [None] and run(d, {n: 3}).tolist() == [0, 1, 2]
    with pytest.raises(tw.errors.InvalidArgumentError, match="start <= limit"):
        run(d, {n: -1})


def test_linspace():
    ls = tw.linspace(1.0, 2.0, 5)
    assert ls.op.type == "LinSpace" and ls.shape.as_list() == [5] and ls.dtype is tw.float32
    np.testing.assert_allclose(run(ls), np.linspace(1, 2, 5))
    assert tw.lin_space is tw.linspace
    assert run(tw.linspace(np.float64(3), 4.0, 1)).tolist() == [3.0]
    with pytest.raises(ValueError, match="num > 0"):
        tw.linspace(0.0, 1.0, 0)


# ----------------------------------------------------------------------------------------------
# segments
# ----------------------------------------------------------------------------------------------
def test_unsorted_segment_sum_and_segment_sum():
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    u = tw.unsorted_segment_sum(data, [1, -1, 1, 0], 3)
    assert u.shape.as_list() == [3, 3] and u.op.type == "UnsortedSegmentSum"
    np.testing.assert_array_equal(run(u), [data[3], data[0] + data[2], np.zeros(3)])
    u2 = tw.unsorted_segment_sum(np.arange(6, dtype=np.int32).reshape(2, 3),
                                 [[0, 1, 0], [2, 2, 2]], 4)
    assert u2.shape.as_list() == [4] and run(u2).tolist() == [2, 1, 12, 0]
    s = tw.segment_sum(data, tw.constant([0, 0, 2, 2]))
    assert s.shape.as_list() == [None, 3]
    np.testing.assert_array_equal(run(s), [data[0] + data[1], np.zeros(3), data[2] + data[3]])
    with pytest.raises(tw.errors.InvalidArgumentError, match="out of range"):
        run(tw.unsorted_segment_sum(data, [0, 1, 5, 0], 3))
    with pytest.raises(tw.errors.InvalidArgumentError, match="increasing"):
        run(tw.segment_sum(data, [1, 0, 0, 0]))
    with pytest.raises(ValueError):
        tw.unsorted_segment_sum(data, [0, 1], 2)


SEGMENT_REFS = {"sum": (np.sum, 0), "prod": (np.prod, 1), "max": (np.max, -np.inf),
                "min": (np.min, np.inf), "mean": (np.mean, 0)}


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "mean"])
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_segment_reductions_against_loops(kind, dtype):
    data = rng(60).randint(-4, 5, (6, 2)).astype(dtype)
    ids = [0, 0, 2, 2, 2, 4]
    ref, empty = SEGMENT_REFS[kind]
    if kind != "mean":
        uids = [3, -1, 0, 3, 1, 0]
        got = run(getattr(tw, f"unsorted_segment_{kind}")(data, uids, 5))
        if dtype == np.int32 and kind in ("max", "min"):
            empty = np.iinfo(np.int32).min if kind == "max" else np.iinfo(np.int32).max
        for i in range(5):
            rows = data[[j for j, k in enumerate(uids) if k == i]]
            np.testing.assert_allclose(got[i], ref(rows, 0) if len(rows) else [empty] * 2)
    out = getattr(tw, f"segment_{kind}")(data, ids)
    assert out.op.name == f"Segment{kind.capitalize()}"
    got = run(out)
    assert got.shape == (5, 2) and got.dtype == dtype
    for i in range(5):
        rows = data[[j for j, k in enumerate(ids) if k == i]]
        want = ref(rows.astype(np.float64), 0) if len(rows) else [0, 0]
        if kind == "mean" and dtype == np.int32:
            want = np.trunc(want)
        np.testing.assert_allclose(got[i], want)


@pytest.mark.parametrize("kind", ["mean", "max", "min", "prod"])
@settings(max_examples=5)
@given(seed=seeds, ids=st.lists(st.integers(-1, 2), min_size=5, max_size=5),
       zeros=st.integers(0, 2))
def test_segment_reduction_gradients(kind, seed, ids, zeros):
    data = values(seed, (5, 2), away_from=[0.0])
    if kind == "prod":  # zeros, one or several per segment, must be handled
        data.flat[rng(seed).choice(10, zeros, replace=False)] = 0.0
        fn = tw.unsorted_segment_prod
        check_gradients(lambda d: fn(d, ids, 3), [data], name="unsorted_segment_prod")
        return
    if kind != "mean":
        fn = getattr(tw, f"unsorted_segment_{kind}")
        present = sorted({i for i in ids if i >= 0})  # empty segments hold +-inf: select rows
        check_gradients(lambda d: tw.gather(fn(d, ids, 3), present) if present else fn(d, ids, 3)
                        * 0.0, [data], name=f"unsorted_segment_{kind}")
    sorted_ids = sorted(abs(i) for i in ids)
    fn = getattr(tw, f"segment_{kind}")
    check_gradients(lambda d: tw.reshape(fn(d, sorted_ids), [sorted_ids[-1] + 1, 2]), [data],
                    name=f"segment_{kind}")


def test_segment_max_gradient_splits_ties():
    d = tw.constant([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]], tw.float64)
    g = run(tw.gradients(tw.segment_max(d, [0, 0, 0]), d)[0])
    np.testing.assert_allclose(g, [[0.5, 0.5], [0.5, 0], [0, 0.5]])


def test_indexed_slices_convert_to_dense_through_unsorted_segment_sum():
    values = tw.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    sl = tw.IndexedSlices(values, tw.constant([2, 0, 2]), tw.constant([4, 2]))
    dense = tw.convert_to_tensor(sl)
    assert dense.op.type == "UnsortedSegmentSum"
    np.testing.assert_array_equal(run(dense), [[3, 4], [0, 0], [6, 8], [0, 0]])


# ----------------------------------------------------------------------------------------------
# norm
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ord_,axis,keepdims", [
    ("euclidean", None, False), (2, 1, False), (1, 0, True), (np.inf, -1, False), (3, 1, False),
    ("fro", (0, 1), False), ("euclidean", (1, 2), True), (1, (0, 1), False),
    (np.inf, (1, 2), False), (0.5, None, False)])
def test_norm(ord_, axis, keepdims):
    v = randn(10, 3, 4, 2) if isinstance(axis, tuple) and 2 in axis else randn(10, 3, 4)
    out = tw.norm(v, ord=ord_, axis=axis, keepdims=keepdims)
    if axis is None:
        expect = np.sum(np.abs(v) ** (2 if isinstance(ord_, str) else ord_)) ** (
            1 / (2 if isinstance(ord_, str) else ord_))
        expect = np.asarray(expect)
    else:
        expect = np.linalg.norm(v, ord=ord_ if ord_ != "euclidean" else (
            "fro" if isinstance(axis, tuple) else None), axis=axis, keepdims=keepdims)
    got = run(out)
    assert got.shape == expect.shape == tuple(out.shape.as_list())
    np.testing.assert_allclose(got, expect, rtol=1e-10)


def test_norm_errors():
    with pytest.raises(ValueError, match="'ord' must be a supported vector norm"):
        tw.norm([1.0, 2.0], ord=-1)
    with pytest.raises(ValueError, match="'axis' must be"):
        tw.norm([[1.0]], axis=(0, 0))
    with pytest.raises(ValueError, match="matrix norm"):
        tw.norm([[1.0]], ord=3, axis=(0, 1))


# ----------------------------------------------------------------------------------------------
# matmul, tensordot, einsum
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
def test_matmul_2d(ta, tb, dtype):
    a = (randn(11, 3, 4) * 3).astype(dtype)
    b = (randn(12, 4, 2) * 3).astype(dtype)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * randn(13, 3, 4).astype(dtype)
    aa, bb = (a.T if ta else a), (b.T if tb else b)
    out = tw.matmul(aa, bb, transpose_a=ta, transpose_b=tb)
    assert out.op.type == "MatMul" and out.shape.as_list() == [3, 2]
    got = run(out)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_adjoint_conjugates():
    a = randn(14, 2, 3) + 1j * randn(15, 2, 3)
    b = randn(16, 2, 4) + 1j * randn(17, 2, 4)
    np.testing.assert_allclose(run(tw.matmul(a, b, adjoint_a=True)), a.conj().T @ b)
    c = randn(18, 5, 4, 2) + 1j * randn(19, 5, 4, 2)
    d = randn(18, 5, 3, 2) + 1j * randn(19, 5, 3, 2)
    out = tw.matmul(c, d, adjoint_b=True)
    assert out.op.type == "BatchMatMulV2" and out.op.get_attr("adj_y") is True
    np.testing.assert_allclose(run(out), c @ np.conj(np.swapaxes(d, -1, -2)))
    np.testing.assert_allclose(run(tw.matmul(c, d, transpose_b=True)),
                               c @ np.swapaxes(d, -1, -2))
    with pytest.raises(ValueError, match="Only one of transpose_a and adjoint_a"):
        tw.matmul(a, b, transpose_a=True, adjoint_a=True)


@pytest.mark.parametrize("sa,sb", [((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((1, 2, 3), (4, 3, 2))])
def test_batch_matmul_broadcasts(sa, sb):
    a, b = randn(20, *sa), randn(21, *sb)
    out = tw.matmul(a, b)
    assert out.op.type == "BatchMatMulV2"
    assert out.shape.as_list() == list((a @ b).shape)
    np.testing.assert_allclose(run(out), a @ b)


def test_batch_matmul_errors():
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 4 and 3"):
        tw.matmul(tw.zeros([2, 3, 4]), tw.zeros([2, 3, 5]))
    with pytest.raises(ValueError, match="2 and 3"):
        tw.matmul(tw.zeros([2, 3, 4]), tw.zeros([3, 4, 5]))


@pytest.mark.parametrize("sa,sb,axes", [((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 5), 2),
                                        ((2, 3, 4), (4, 3), [[1, 2], [1, 0]]),
                                        ((3,), (4,), 0), ((2, 3), (2, 3), [[0, 1], [0, 1]])])
def test_tensordot(sa, sb, axes):
    a, b = randn(22, *sa), randn(23, *sb)
    out = tw.tensordot(a, b, axes)
    expect = np.tensordot(a, b, axes)
    assert out.shape.as_list() == list(expect.shape) and out.op.name == "Tensordot"
    np.testing.assert_allclose(run(out), expect)


EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
           ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("i,j->ij", [(3,), (2,)]),
           ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
           ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 2),
                                                                          (2, 2)]),
           ("i,i->", [(4,), (4,)]), ("bi,bi->b", [(3, 2), (3, 2)]), ("ijk->kj", [(2, 3, 4)])]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_values(eq, shapes):
    ins = [rng(24 + i).randn(*s) for i, s in enumerate(shapes)]
    out = tw.einsum(eq, *ins)
    expect = np.einsum(eq, *ins)
    assert out.op.type == "Einsum" and out.shape.as_list() == list(np.shape(expect))
    np.testing.assert_allclose(run(out), expect, rtol=1e-10)


def test_einsum_errors():
    with pytest.raises(ValueError, match="names 2 operands but 1"):
        tw.einsum("ij,jk->ik", tw.zeros([2, 2]))
    with pytest.raises(ValueError, match="must be equal, but are 3 and 4"):
        tw.einsum("ij,jk->ik", tw.zeros([2, 3]), tw.zeros([4, 2]))
    with pytest.raises(ValueError, match="does not appear"):
        tw.einsum("ij->iz", tw.zeros([2, 3]))
    with pytest.raises(ValueError, match="rank"):
        tw.einsum("ijk->i", tw.zeros([2, 3]))


# ----------------------------------------------------------------------------------------------
# gradients: float64 central differences, hypothesis shapes and values
# ----------------------------------------------------------------------------------------------
UNARY_GRADS = [
    ("negative", None), ("abs", [0.0]), ("square", None), ("sqrt", (0.3, 3)), ("rsqrt", (0.3, 3)),
    ("exp", None), ("expm1", None), ("log", (0.3, 3)), ("log1p", (-0.6, 3)), ("sin", None),
    ("cos", None), ("tan", (-1.2, 1.2)), ("asin", (-0.8, 0.8)), ("acos", (-0.8, 0.8)),
    ("atan", None), ("sinh", None), ("cosh", None), ("asinh", None), ("acosh", (1.3, 3)),
    ("atanh", (-0.8, 0.8)), ("tanh", None), ("sigmoid", None), ("erf", None), ("erfc", None),
    ("lgamma", (0.3, 4)), ("digamma", (0.3, 4)), ("reciprocal", (0.4, 3)), ("sign", [0.0]),
]


@pytest.mark.parametrize("name,dom", UNARY_GRADS, ids=[u[0] for u in UNARY_GRADS])
@settings(max_examples=6)
@given(shape=shapes, seed=seeds)
def test_unary_gradients(name, dom, shape, seed):
    lo, hi = dom if isinstance(dom, tuple) else (-2, 2)
    away = dom if isinstance(dom, list) else None
    x = values(seed, shape, lo, hi, away_from=away)
    check_gradients(getattr(tw, name), [x], name=name, atol=1e-6)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "rint"])
def test_rounding_ops_have_no_gradient(name):
    x = tw.placeholder(tw.float64, [3])
    assert tw.gradients(getattr(tw, name)(x), x) == [None]


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "sqrt", "rsqrt", "reciprocal"])
@settings(max_examples=4)
@given(shape=shapes, seed=seeds)
def test_fused_gradient_ops_and_their_second_derivatives(name, shape, seed):
    fn = getattr(tw, name)
    x = values(seed, shape, 0.4, 2.0)
    check_gradients(lambda t: tw.gradients(fn(t), t)[0], [x], name=f"d/dx {name}", atol=1e-6)
    dy = values(seed + 1, shape, -1, 1)
    op_type = {"tanh": "TanhGrad", "sigmoid": "SigmoidGrad", "sqrt": "SqrtGrad",
               "rsqrt": "RsqrtGrad", "reciprocal": "ReciprocalGrad"}[name]

    def fused(y, d):
        out = tw.gradients(fn(y), y, grad_ys=d)[0]
        assert out.op.type == op_type
        return out
    check_gradients(fused, [x, dy], name=op_type, atol=1e-6)


BINARY_GRADS = [
    ("add", tw.add, None), ("subtract", tw.subtract, None), ("multiply", tw.multiply, None),
    ("truediv", tw.truediv, "pos_y"), ("realdiv", tw.realdiv, "pos_y"),
    ("div_no_nan", tw.div_no_nan, "pos_y"), ("pow", tw.pow, "pos_x"),
    ("maximum", tw.maximum, "distinct"), ("minimum", tw.minimum, "distinct"),
    ("squared_difference", tw.squared_difference, None), ("atan2", tw.atan2, "pos_y"),
    ("xlogy", tw.math.xlogy, "pos_y"), ("xdivy", tw.math.xdivy, "pos_y"), ("floormod", tw.floormod, "mod"),
    ("op_add", lambda a, b: a + b * 2.0 - 1.0 / (b * b + 1.0), None),
]


@pytest.mark.parametrize("label,fn,kind", BINARY_GRADS, ids=[b[0] for b in BINARY_GRADS])
@settings(max_examples=6)
@given(pair=broadcast_pair(), seed=seeds)
def test_binary_gradients_with_broadcasting(label, fn, kind, pair, seed):
    sa, sb = pair
    a = values(seed, sa)
    b = values(seed + 1, sb)
    if kind == "pos_y":
        b = values(seed + 1, sb, 0.5, 2)
    elif kind == "pos_x":
        a = values(seed, sa, 0.5, 2)
    elif kind == "distinct":  # keep |a - b| >= 0.2 everywhere: no ties
        bb = np.broadcast_to(b, np.broadcast_shapes(sa, sb))
        a = np.where(np.abs(np.broadcast_to(a, bb.shape) - bb) < 0.2, bb + 0.5,
                     np.broadcast_to(a, bb.shape)) if a.shape == bb.shape else a + 10
    elif kind == "mod":  # stay away from the jumps of x mod y
        b = values(seed + 1, sb, 1.5, 2)
        a = np.round(values(seed, sa, -3, 3)) + 0.5
    check_gradients(fn, [a, b], name=label, atol=1e-6)


def test_maximum_and_minimum_ties_send_the_gradient_to_x():
    x = tw.constant([1.0, 2.0, 3.0], tw.float64)
    y = tw.constant([1.0, 1.0, 4.0], tw.float64)
    g = run(tw.gradients(tw.maximum(x, y), [x, y]) + tw.gradients(tw.minimum(x, y), [x, y]))
    assert [v.tolist() for v in g] == [[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]]


def test_pow_gradient_at_zero_base_is_finite():
    x = tw.constant([0.0, 2.0], tw.float64)
    y = tw.constant([2.0, 3.0], tw.float64)
    gx, gy = run(tw.gradients(tw.pow(x, y), [x, y]))
    np.testing.assert_allclose(gx, [0.0, 12.0])
    np.testing.assert_allclose(gy, [0.0, 8 * np.log(2.0)])


def test_integer_and_comparison_ops_give_no_gradient():
    x = tw.placeholder(tw.float64, [3])
    outs = [tw.cast(tw.less(x, 1.0), tw.float64), tw.cast(tw.argmax(x), tw.float64),
            tw.floordiv(x, 2.0)]
    assert tw.gradients(outs, x) == [None]
    n = tw.placeholder(tw.int32, [3])
    assert tw.gradients(tw.cast(n * 2, tw.float64), n) == [None]


@pytest.mark.parametrize("fn", [
    lambda a, b: tw.real(tw.complex(a, b) * tw.complex(b, a)),
    lambda a, b: tw.imag(tw.complex(a, b) / tw.complex(b + 3.0, a)),
    lambda a, b: tw.real(tw.exp(tw.complex(a, b))) + tw.imag(tw.log(tw.complex(a + 3.0, b))),
    lambda a, b: tw.real(tw.sqrt(tw.complex(a + 3.0, b)) + tw.tanh(tw.complex(a, b))),
    lambda a, b: tw.imag(tw.sigmoid(tw.complex(a, b)) + tw.reciprocal(tw.complex(a + 3.0, b))),
    lambda a, b: tw.real(tw.rsqrt(tw.complex(a + 3.0, b)) * tw.conj(tw.complex(b, a))),
    lambda a, b: tw.abs(tw.complex(a + 3.0, b)) + tw.angle(tw.complex(a + 3.0, b)),
    lambda a, b: tw.real(tw.square(tw.complex(a, b)) + tw.sin(tw.complex(b, a))),
    lambda a, b: tw.real(tw.matmul(tw.reshape(tw.complex(a, b), [1, -1]),
                                   tw.reshape(tw.complex(b, a), [1, -1]), adjoint_b=True)),
    lambda a, b: tw.real(tw.reduce_sum(tw.complex(a, b) * tw.complex(a, b))),
])
@settings(max_examples=4)
@given(seed=seeds)
def test_complex_gradient_conventions(fn, seed):
    check_gradients(fn, [values(seed, (3,)), values(seed + 1, (3,))], atol=1e-6)


MATMULS = [
    (lambda a, b: tw.matmul(a, b), (2, 3), (3, 4)),
    (lambda a, b: tw.matmul(a, b, transpose_a=True), (3, 2), (3, 4)),
    (lambda a, b: tw.matmul(a, b, transpose_b=True), (2, 3), (4, 3)),
    (lambda a, b: tw.matmul(a, b, transpose_a=True, transpose_b=True), (3, 2), (4, 3)),
    (lambda a, b: a @ b, (2, 2, 3), (2, 3, 2)),
    (lambda a, b: tw.matmul(a, b, adjoint_a=True), (2, 3, 2), (3, 2)),
    (lambda a, b: tw.matmul(a, b, adjoint_b=True, adjoint_a=True), (1, 3, 2), (2, 2, 3)),
    (lambda a, b: tw.matmul(a, b, transpose_b=True), (2, 1, 2, 3), (3, 2, 3)),
    (lambda a, b: tw.tensordot(a, b, 2), (2, 2, 3), (2, 3, 2)),
    (lambda a, b: tw.tensordot(a, b, [[0], [1]]), (2, 3), (2, 2)),
]


@pytest.mark.parametrize("i", range(len(MATMULS)))
@settings(max_examples=3)
@given(seed=seeds)
def test_matmul_gradients(i, seed):
    fn, sa, sb = MATMULS[i]
    check_gradients(fn, [values(seed, sa), values(seed + 1, sb)], name=f"matmul case {i}")


EINSUM_GRADS = [("ij,jk->ik", [(2, 3), (3, 2)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                ("i,j->ij", [(3,), (2,)]), ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]),
                ("ij->i", [(2, 3)]), ("ij,j->j", [(2, 3), (3,)]),
                ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
                ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),
                ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]), ("i,i->", [(4,), (4,)]),
                ("ijk,k->ij", [(2, 2, 3), (3,)])]


@pytest.mark.parametrize("eq,shapes", EINSUM_GRADS, ids=[e[0] for e in EINSUM_GRADS])
@settings(max_examples=3)
@given(seed=seeds)
def test_einsum_gradients(eq, shapes, seed):
    ins = [values(seed + i, s) for i, s in enumerate(shapes)]
    check_gradients(lambda *xs: tw.einsum(eq, *xs), ins, name=eq)


def test_einsum_gradient_of_a_diagonal_is_not_supported():
    x = tw.placeholder(tw.float64, [3, 3])
    with pytest.raises(NotImplementedError, match="repeated subscript"):
        tw.gradients(tw.einsum("ii->i", x), x)


def test_add_n_gradient():
    check_gradients(lambda a, b, c: tw.add_n([a, b, a * c]),
                    [values(1, (2, 3)), values(2, (2, 3)), values(3, (2, 3))])


axes_st = st.sampled_from([None, 0, -1, [0, 2], [1, 2], [0, 1, 2], [2, 0]])


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_prod", "reduce_max",
                                  "reduce_min", "reduce_logsumexp", "reduce_variance",
                                  "reduce_std"])
@settings(max_examples=8)
@given(axis=axes_st, keepdims=st.booleans(), seed=seeds, zeros=st.booleans())
def test_reduction_gradients(name, axis, keepdims, seed, zeros):
    shape = (2, 3, 2)
    if name in ("reduce_max", "reduce_min"):  # distinct values: no ties
        x = rng(seed).permutation(12).reshape(shape).astype(np.float64) * 0.5
    else:
        x = values(seed, shape, 0.5 if name == "reduce_std" else -2, 2)
        if name == "reduce_prod" and zeros:  # the gradient must stay correct with zeros
            x.flat[rng(seed).choice(12, 2, replace=False)] = 0.0
    fn = getattr(tw.math, name)
    check_gradients(lambda t: fn(t, axis=axis, keepdims=keepdims), [x], name=name, atol=1e-6)


def test_reduce_max_splits_the_gradient_among_ties():
    x = tw.constant([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], tw.float64)
    g = run(tw.gradients(tw.reduce_max(x, 1), x)[0])
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    g2 = run(tw.gradients(tw.reduce_min(x), x)[0])
    np.testing.assert_allclose(g2, [[1, 0, 0], [0, 0, 0]])


def test_reduce_prod_gradient_with_zeros_exact():
    x = tw.constant([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0]], tw.float64)
    g = run(tw.gradients(tw.reduce_prod(x, 1), x)[0])
    np.testing.assert_allclose(g, [[6, 0, 0], [0, 0, 0]])


def test_reduce_prod_gradient_with_a_fed_axis():
    x = tw.placeholder(tw.float64, [2, 3])
    ax = tw.placeholder(tw.int32, [None])
    v = np.array([[1.0, 0.0, 3.0], [2.0, 4.0, 5.0]])
    g = tw.gradients(tw.reduce_prod(x, ax), x)[0]
    np.testing.assert_allclose(run(g, {x: v, ax: [1]}), [[0, 3, 0], [20, 10, 8]])
    np.testing.assert_allclose(run(g, {x: v, ax: [-1, 0]}), [[0, 120, 0], [0, 0, 0]])


def test_reduction_gradient_with_unknown_shape():
    x = tw.placeholder(tw.float64, [None, 3])
    ys = [tw.reduce_sum(x, 0), tw.reduce_mean(x), tw.reduce_max(x, 1)]
    v = np.arange(6.0).reshape(2, 3)
    gs = run(tw.gradients(ys, x), {x: v})
    np.testing.assert_allclose(gs[0], 1 + 1 / 6 + np.array([[0, 0, 1], [0, 0, 1]]))


@pytest.mark.parametrize("fn", [
    lambda a, b: a * b + a / (b * b + 1.0), lambda a, b: tw.maximum(a, b) - tw.pow(b * b, a),
    lambda a, b: tw.matmul(tw.reshape(a, [-1, 2, 3]), tw.reshape(b, [3, -1])),
    lambda a, b: tw.einsum("...i,i->...", a, tw.reshape(b[0, 0], [3])),
    lambda a, b: tw.reduce_prod(a * b, 1),
    lambda a, b: tw.reduce_max(a, 0) * tw.reduce_min(b, 1, keepdims=True),
    lambda a, b: tw.reduce_prod(b, [0, 2]) + tw.reduce_prod(a * a, [0, 1], keepdims=True)])
def test_gradients_with_unknown_shapes_match_static_ones(fn):
    av, bv = randn(50, 4, 3), randn(51, 2, 1, 3)
    results = []
    for shapes in (((4, 3), (2, 1, 3)), ((None, 3), (None, 1, None)), ([None] * 2, [None] * 3)):
        g = tw.Graph()
        with g.as_default():
            a = tw.placeholder(tw.float64, shapes[0])
            b = tw.placeholder(tw.float64, shapes[1])
            out = fn(a, b)
            results.append(run(tw.gradients(out, [a, b]) + [out], {a: av, b: bv}))
    for r in results[1:]:
        for got, want in zip(r, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@settings(max_examples=3)
@given(seed=seeds, axis=st.sampled_from([0, 1, -1]))
def test_scan_gradients(exclusive, reverse, seed, axis):
    x = values(seed, (3, 2), 0.5, 2)
    check_gradients(lambda t: tw.cumsum(t, axis, exclusive=exclusive, reverse=reverse), [x])
    check_gradients(lambda t: tw.cumprod(t, axis, exclusive=exclusive, reverse=reverse), [x])


@settings(max_examples=5)
@given(seed=seeds, ids=st.lists(st.integers(-1, 3), min_size=4, max_size=4))
def test_segment_sum_gradients(seed, ids):
    data = values(seed, (4, 2))
    check_gradients(lambda d: tw.unsorted_segment_sum(d, ids, 4), [data], name="unsorted")
    sorted_ids = sorted(i for i in np.abs(ids))
    check_gradients(lambda d: tw.reshape(tw.segment_sum(d, sorted_ids), [sorted_ids[-1] + 1, 2]),
                    [data], name="sorted")


@settings(max_examples=5)
@given(seed=seeds)
def test_cast_and_complex_part_gradients(seed):
    x = values(seed, (2, 3))
    check_gradients(lambda t: tw.cast(tw.cast(t, tw.float32), tw.float64) * 1.0, [x],
                    delta=1e-2, rtol=1e-3, atol=1e-4)
    check_gradients(lambda t: tw.real(tw.cast(t, tw.complex128) * 2.0), [x])
    check_gradients(lambda a, b: tw.angle(tw.complex(a + 3.0, b)) * tw.imag(tw.complex(a, b)),
                    [x, values(seed + 1, (2, 3))])


@pytest.mark.parametrize("ord_,axis", [("euclidean", None), (1, 1), (np.inf, 0), (3, -1),
                                       ("fro", (0, 1)), (1, (0, 1)), (np.inf, (0, 1))])
@settings(max_examples=4)
@given(seed=seeds)
def test_norm_gradients(ord_, axis, seed):
    x = values(seed, (3, 4), away_from=[0.0])  # no ties (almost surely), away from |x| kinks
    check_gradients(lambda t: tw.norm(t, ord=ord_, axis=axis), [x], atol=1e-6)


@settings(max_examples=4)
@given(seed=seeds)
def test_special_function_gradients(seed):
    x = values(seed, (3,), 0.5, 3)
    check_gradients(lambda t: tw.polygamma(tw.constant(np.full(3, 2.0)), t), [x], atol=1e-6)
    check_gradients(lambda t: tw.zeta(tw.constant(np.full(3, 3.0)), t), [x], atol=1e-6)


def test_math_namespace_and_composites():
    assert tw.math.log1p is tw.log1p and tw.math.floormod is tw.floormod
    assert tw.math.reduce_sum is tw.reduce_sum and tw.math.divide_no_nan is tw.div_no_nan
    assert not hasattr(tw, "xlogy") and not hasattr(tw, "reduce_variance")
    v = np.array([-40.0, -1.0, 0.0, 2.0, 40.0])
    ls = tw.log_sigmoid(v)
    assert ls.op.name == "LogSigmoid"
    np.testing.assert_allclose(run(ls), -np.logaddexp(0, -v), rtol=1e-12)
    m = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(run(tw.math.reduce_euclidean_norm(m, 1)), [5.0, 0.0])
    np.testing.assert_allclose(run(tw.math.reciprocal_no_nan(np.array([2.0, 0.0]))), [0.5, 0])
    np.testing.assert_allclose(run(tw.math.polyval([1.0, -2.0, 3.0], np.array([0.0, 2.0]))),
                               [3.0, 3.0])
    assert run(tw.math.zero_fraction(m)) == np.float32(0.5)
    data = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    mean = tw.unsorted_segment_mean(data, [0, 0, 2], 3)
    sq = tw.unsorted_segment_sqrt_n(data, [0, 0, 2], 3)
    np.testing.assert_allclose(run(mean), [[2, 3], [0, 0], [5, 6]])
    np.testing.assert_allclose(run(sq), [[4 / np.sqrt(2), 6 / np.sqrt(2)], [0, 0], [5, 6]])
    check_gradients(lambda d: tw.unsorted_segment_mean(d, [0, 0, 2], 3) + tw.log_sigmoid(d)[0],
                    [data])


def test_bincount_cross_lbeta_monotonic_and_arg_max():
    b = tw.bincount([1, 1, 3, 7], maxlength=5)
    assert b.dtype is tw.int32 and run(b).tolist() == [0, 2, 0, 1, 0]
    w = tw.bincount([1, 1, 3], weights=[0.5, 1.0, 2.0], minlength=6)
    np.testing.assert_allclose(run(w), [0, 1.5, 0, 2, 0, 0])
    assert run(tw.bincount(np.zeros(0, np.int32))).tolist() == []
    assert run(tw.bincount([2], dtype=tw.float64)).dtype == np.float64
    a, c = randn(40, 4, 3), randn(41, 4, 3)
    np.testing.assert_allclose(run(tw.cross(a, c)), np.cross(a, c))
    with pytest.raises(ValueError, match="must be 3"):
        tw.cross(tw.zeros([2]), tw.zeros([2]))
    x = np.array([[1.0, 2.0], [0.5, 3.0]])
    lg = np.vectorize(math.lgamma)
    np.testing.assert_allclose(run(tw.lbeta(x)), lg(x).sum(-1) - lg(x.sum(-1)))
    r = run([tw.is_non_decreasing([1, 2, 2]), tw.is_strictly_increasing([1, 2, 2]),
             tw.is_strictly_increasing([[1.0, 2.0], [3.0, 4.0]]), tw.is_non_decreasing([5])])
    assert [bool(v) for v in r] == [True, False, True, True]
    assert run(tw.arg_max([[1, 3], [4, 0]], 1)).tolist() == [1, 0]
    assert run(tw.arg_min([[1, 3], [4, 0]], 0, output_type=tw.int32)).tolist() == [0, 1]
    check_gradients(tw.cross, [randn(42, 2, 3), randn(43, 2, 3)])
    check_gradients(tw.lbeta, [rng(44).uniform(0.5, 3, (2, 3))])


def test_every_math_op_has_a_kernel_and_a_gradient_entry():
    from tensorweave.autodiff.registry import registered_gradients
    from tensorweave.kernels.cpu import math as cpu_math
    grads = registered_gradients()
    missing = [t for t in cpu_math.KERNELS if t not in grads and t not in (
        "TruncateMod", "SegmentProd")]  # as in TF1: no gradient registered
    assert missing == []
