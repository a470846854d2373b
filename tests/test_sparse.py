"""SparseTensor and the sparse ops: construction, fetch (SparseTensorValue) and feed
(sparse_placeholder) through Session, to_dense / sparse_to_dense / reorder / reduce_sum /
sparse-dense matmul / from_dense against numpy (unordered and repeated indices, default values,
run-time index errors), TF1 node names and static shapes, and gradients against float64 central
differences."""
from __future__ import annotations

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework.graph import apply_op
from tensorweave.test import check_gradients


def run(fetches, feed=None, **kw):
    with tw.Session() as s:
        return s.run(fetches, feed, **kw)


def random_sparse(rng, shape, n, unique=True):
    """(indices [n, rank] int64 in random order, values [n] float64, dense numpy equivalent)."""
    size = int(np.prod(shape))
    flat = rng.choice(size, n, replace=not unique)
    idx = np.stack(np.unravel_index(flat, shape), 1).astype(np.int64)
    vals = rng.randn(n)
    dense = np.zeros(shape)
    np.add.at(dense, tuple(idx.T), vals)
    return idx, vals, dense


# ----------------------------------------------------------------------------------------------
# SparseTensor
# ----------------------------------------------------------------------------------------------
def test_sparse_tensor_components_names_and_static_shape():
    sp = tw.SparseTensor([[0, 1], [2, 3]], [1.5, 2.5], [3, 4])
    assert sp.indices.dtype is tw.int64 and sp.dense_shape.dtype is tw.int64
    assert sp.values.dtype is tw.float32 and sp.dtype is tw.float32
    assert sp.indices.name == "SparseTensor/indices:0"
    assert sp.values.name == "SparseTensor/values:0"
    assert sp.dense_shape.name == "SparseTensor/dense_shape:0"
    assert sp.shape.as_list() == [3, 4] and sp.get_shape().as_list() == [3, 4]
    assert sp.op is sp.values.op and sp.graph is tw.get_default_graph()
    assert isinstance(tw.sparse.SparseTensor, type) and tw.sparse.SparseTensor is tw.SparseTensor
    sp2 = tw.SparseTensor.from_value(tw.SparseTensorValue([[1]], [7], [5]))
    assert sp2.dtype is tw.int32 and sp2.shape.as_list() == [5]


def test_sparse_tensor_build_errors():
    with pytest.raises(ValueError, match="rows"):
        tw.SparseTensor([[0, 0], [1, 1]], [1.0], [2, 2])
    with pytest.raises(ValueError, match="rank"):
        tw.SparseTensor([[0, 0]], [1.0], [2, 2, 2])
    with pytest.raises(ValueError, match="must have rank 2"):
        tw.SparseTensor([0, 1], [1.0, 2.0], [2])
    with pytest.raises(ValueError, match="int64"):
        tw.SparseTensor(tw.constant([[0]], tw.int32), [1.0], [2])
    sp = tw.SparseTensor([[0]], [1.0], [2])
    with pytest.raises(TypeError, match="to_dense"):
        tw.convert_to_tensor(sp)
    with pytest.raises(TypeError, match="SparseTensor"):
        tw.sparse.to_dense(tw.constant([1.0]))


def test_fetch_returns_sparse_tensor_value_in_nested_structures():
    sp = tw.SparseTensor([[0, 1], [1, 0]], [3, 4], [2, 2])
    c = tw.constant(5)
    with tw.Session() as s:
        v = s.run(sp)
        assert isinstance(v, tw.SparseTensorValue)
        np.testing.assert_array_equal(v.indices, [[0, 1], [1, 0]])
        np.testing.assert_array_equal(v.values, [3, 4])
        np.testing.assert_array_equal(v.dense_shape, [2, 2])
        assert v.indices.dtype == np.int64 and v.values.dtype == np.int32
        both = s.run({"sp": sp, "c": [c, sp.values]})
        assert isinstance(both["sp"], tw.SparseTensorValue) and both["c"][0] == 5
        with s.as_default():
            np.testing.assert_array_equal(sp.eval().values, [3, 4])


# ----------------------------------------------------------------------------------------------
# sparse_placeholder and feeding
# ----------------------------------------------------------------------------------------------
def test_sparse_placeholder_names_and_shapes():
    p = tw.sparse_placeholder(tw.float32, name="x")
    assert p.values.name == "x/values:0" and p.indices.name == "x/indices:0"
    assert p.dense_shape.name == "x/shape:0" and p.dense_shape.op.type == "Placeholder"
    assert p.values.shape.as_list() == [None] and p.shape.ndims is None
    q = tw.sparse_placeholder(tw.float64, shape=[3, None], name="q")
    assert q.shape.as_list() == [3, None] and q.indices.shape.as_list() == [None, 2]
    assert q.dense_shape.op.type == "PlaceholderWithDefault"
    assert tw.sparse.placeholder is tw.sparse_placeholder
    anon = tw.sparse_placeholder(tw.int32, shape=[4])
    assert anon.values.op.type == "Placeholder" and anon.shape.as_list() == [4]


def test_feed_sparse_placeholder_value_tuple_and_with_plain_feeds():
    p = tw.sparse_placeholder(tw.float32, name="x")
    scale = tw.placeholder(tw.float32, [], name="scale")
    dense = tw.sparse.to_dense(p) * scale
    value = tw.SparseTensorValue(np.array([[0, 1], [1, 2]]), np.array([1.0, 2.0]),
                                 np.array([2, 3]))
    want = np.array([[0, 1, 0], [0, 0, 2]], np.float32)
    with tw.Session() as s:
        np.testing.assert_array_equal(s.run(dense, {p: value, scale: 2.0}), 2 * want)
        np.testing.assert_array_equal(s.run(dense, {scale: 1.0, p: ([[1, 0]], [5.0], [2, 2])}),
                                      [[0, 0], [5, 0]])
        # the same plan again, new values; and the sparse tensor itself fed and fetched
        np.testing.assert_array_equal(s.run(dense, {p: value, scale: 1.0}), want)
        back = s.run(p, {p: value})
        np.testing.assert_array_equal(back.values, [1.0, 2.0])
        assert back.values.dtype == np.float32 and back.indices.dtype == np.int64
        f = s.make_callable(dense, [p, scale])
        np.testing.assert_array_equal(f(value, 3.0), 3 * want)
        meta = tw.RunMetadata()
        traced = s.run(dense, {p: value, scale: 1.0},
                       options=tw.RunOptions(trace_level=tw.RunOptions.FULL_TRACE),
                       run_metadata=meta)
        np.testing.assert_array_equal(traced, want)


def test_feed_placeholder_with_static_shape_uses_the_fed_shape():
    q = tw.sparse_placeholder(tw.float32, shape=[2, 2])
    d = tw.sparse.to_dense(q)
    assert run(d, {q: ([[1, 1]], [4.0], [2, 2])}).tolist() == [[0, 0], [0, 4]]


def test_feed_errors_name_the_component():
    p = tw.sparse_placeholder(tw.float32, name="x")
    d = tw.sparse.to_dense(p)
    with tw.Session() as s:
        with pytest.raises(TypeError, match="SparseTensorValue"):
            s.run(d, {p: np.zeros(3)})
        with pytest.raises(ValueError, match="x/values"):
            s.run(d, {p: ([[0, 0]], [[1.0]], [2, 2])})
        with pytest.raises(ValueError, match="x/indices"):
            s.run(d, {p: ([[0.5, 0]], [1.0], [2, 2])})
        with pytest.raises(tw.errors.InvalidArgumentError, match="placeholder tensor .x/"):
            s.run(d)
        with pytest.raises(ValueError, match="fed twice"):
            s.run(d, {p: ([[0, 0]], [1.0], [2, 2]), p.values: [2.0]})


# ----------------------------------------------------------------------------------------------
# to_dense / sparse_to_dense
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_to_dense_matches_numpy_with_unordered_indices(seed):
    rng = np.random.RandomState(seed)
    shape = [3, 4, 2][: 1 + seed % 3]
    idx, vals, dense = random_sparse(rng, shape, min(5, int(np.prod(shape))))
    sp = tw.SparseTensor(idx, vals, shape)
    ordered = tw.sparse.to_dense(tw.sparse.reorder(sp), default_value=-1.0)
    unchecked = tw.sparse.to_dense(sp, validate_indices=False)
    want_default = np.where(dense != 0, dense, -1.0)
    a, b = run([ordered, unchecked])
    np.testing.assert_array_equal(a, want_default)
    np.testing.assert_array_equal(b, dense)
    assert ordered.shape.as_list() == shape and ordered.op.type == "SparseToDense"


def test_to_dense_validation_errors_at_run_time():
    def dense(indices, shape, validate=True):
        return tw.sparse.to_dense(tw.SparseTensor(indices, [1.0] * len(indices), shape),
                                  validate_indices=validate)
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"indices\[1\] = \[0,0\] is out "
                                                             "of order"):
        run(dense([[1, 0], [0, 0]], [2, 2]))
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"indices\[1\] = \[1,0\] is "
                                                             "repeated"):
        run(dense([[1, 0], [1, 0]], [2, 2]))
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"indices\[1\] = \[2,0\] is out of bounds: need 0 <= index < \[2,2\]"):
        run(dense([[0, 0], [2, 0]], [2, 2]))
    with pytest.raises(tw.errors.InvalidArgumentError, match="SparseToDense"):
        run(dense([[0, -1]], [2, 2]))
    with pytest.raises(tw.errors.InvalidArgumentError, match="out of bounds"):
        run(dense([[0, 5]], [2, 2], validate=False))
    p = tw.sparse_placeholder(tw.float32)
    with pytest.raises(tw.errors.InvalidArgumentError, match="out of bounds"):
        run(tw.sparse.to_dense(p), {p: ([[3, 0]], [1.0], [2, 3])})


def test_to_dense_repeated_indices_without_validation_keep_the_last_value():
    sp = tw.SparseTensor([[1], [0], [1]], [1, 2, 3], [3])
    assert run(tw.sparse.to_dense(sp, validate_indices=False)).tolist() == [2, 3, 0]


def test_to_dense_default_value_and_dtypes():
    sp = tw.SparseTensor([[0, 0], [1, 1]], tw.constant([1, 2], tw.int64), [2, 3])
    d = tw.sparse_tensor_to_dense(sp, default_value=7)
    assert d.dtype is tw.int64
    assert run(d).tolist() == [[1, 7, 7], [7, 2, 7]]
    z = tw.sparse.to_dense(tw.SparseTensor([[1]], [True], [2]), default_value=None)
    assert run(z).tolist() == [False, True]


def test_legacy_sparse_to_dense():
    assert run(tw.sparse_to_dense([1, 3], [5], 2.0, default_value=-1.0)).tolist() == \
        [-1, 2, -1, 2, -1]
    d = tw.sparse_to_dense([[0, 1], [1, 0]], [2, 2], [4, 5])
    assert d.dtype is tw.int32 and d.shape.as_list() == [2, 2]
    assert run(d).tolist() == [[0, 4], [5, 0]]
    with pytest.raises(tw.errors.InvalidArgumentError, match="sparse_values has incorrect shape"):
        run(tw.sparse_to_dense([[0], [1]], [3], [1, 2, 3]))
    with pytest.raises(ValueError, match="columns"):
        tw.sparse_to_dense([[0, 1]], [3], [1])
    with pytest.raises(TypeError, match="default_value"):  # the raw op: dtypes must agree
        apply_op("SparseToDense", [tw.constant([0]), tw.constant([2]), tw.constant([1.0]),
                                   tw.constant(0)], {})


# ----------------------------------------------------------------------------------------------
# reorder, from_dense, reduce_sum
# ----------------------------------------------------------------------------------------------
def test_reorder_sorts_row_major_and_keeps_the_static_shape():
    idx = np.array([[2, 0], [0, 3], [1, 1], [0, 1]])
    sp = tw.sparse.reorder(tw.SparseTensor(idx, [1.0, 2.0, 3.0, 4.0], [3, 4]))
    assert sp.shape.as_list() == [3, 4] and sp.indices.op.type == "SparseReorder"
    v = run(sp)
    np.testing.assert_array_equal(v.indices, [[0, 1], [0, 3], [1, 1], [2, 0]])
    np.testing.assert_array_equal(v.values, [4.0, 2.0, 3.0, 1.0])


def test_from_dense_round_trip():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
    sp = tw.sparse.from_dense(x)
    v = run(sp)
    np.testing.assert_array_equal(v.indices, [[0, 1], [1, 0], [1, 2]])
    np.testing.assert_array_equal(v.values, [1.5, 2.0, -3.0])
    np.testing.assert_array_equal(run(tw.sparse.to_dense(sp)), x)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ([0, 2], False),
                                           (-1, True)])
def test_sparse_reduce_sum_matches_numpy(axis, keepdims):
    rng = np.random.RandomState(3)
    idx, vals, dense = random_sparse(rng, [2, 3, 4], 9)
    sp = tw.SparseTensor(idx, vals, [2, 3, 4])
    out = tw.sparse.reduce_sum(sp, axis=axis, keepdims=keepdims)
    want = np.sum(dense, axis=None if axis is None else tuple(np.atleast_1d(axis)),
                  keepdims=keepdims)
    assert out.shape.as_list() == list(np.shape(want))
    np.testing.assert_allclose(run(out), want, rtol=1e-12)
    assert tw.sparse_reduce_sum(sp, reduction_axes=1, keep_dims=True).shape.as_list() == [2, 1, 4]


# ----------------------------------------------------------------------------------------------
# sparse x dense matmul
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("adjoint_a", [False, True])
@pytest.mark.parametrize("adjoint_b", [False, True])
def test_sparse_dense_matmul_matches_numpy(adjoint_a, adjoint_b):
    rng = np.random.RandomState(int(adjoint_a) * 2 + int(adjoint_b))
    idx, vals, a = random_sparse(rng, [3, 4], 7, unique=False)  # repeated entries add up
    opa = a.T if adjoint_a else a
    b = rng.randn(5, opa.shape[1]) if adjoint_b else rng.randn(opa.shape[1], 5)
    c = tw.sparse.sparse_dense_matmul(tw.SparseTensor(idx, vals, [3, 4]), b,
                                      adjoint_a=adjoint_a, adjoint_b=adjoint_b)
    assert c.op.name == "SparseTensorDenseMatMul/SparseTensorDenseMatMul"
    assert c.shape.as_list() == [opa.shape[0], 5]
    np.testing.assert_allclose(run(c), opa @ (b.T if adjoint_b else b), rtol=1e-12)
    assert tw.sparse.matmul is tw.sparse_tensor_dense_matmul


def test_sparse_dense_matmul_errors():
    sp = tw.SparseTensor([[0, 0]], [1.0], [2, 3])
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 3 and 4"):
        tw.sparse.sparse_dense_matmul(sp, np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="b"):
        tw.sparse.sparse_dense_matmul(sp, np.zeros((3, 2), np.float64))
    p = tw.sparse_placeholder(tw.float32, shape=[2, 3])
    c = tw.sparse.sparse_dense_matmul(p, np.ones((3, 2), np.float32))
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"k \(3\) from index\[0,1\] out of "
                                                             r"bounds \(>=3\)"):
        run(c, {p: ([[0, 3]], [1.0], [2, 3])})
    with pytest.raises(tw.errors.InvalidArgumentError, match="inner dimension does not match"):
        run(c, {p: ([[0, 0]], [1.0], [2, 4])})


# ----------------------------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------------------------
IDX = np.array([[2, 1], [0, 0], [1, 3], [0, 2], [2, 1]])  # unordered, one repeat


@pytest.mark.parametrize("adjoint_a", [False, True])
@pytest.mark.parametrize("adjoint_b", [False, True])
def test_sparse_dense_matmul_gradients(adjoint_a, adjoint_b):
    rng = np.random.RandomState(7)
    inner = 3 if adjoint_a else 4
    b = rng.randn(2, inner) if adjoint_b else rng.randn(inner, 2)

    def f(values, dense):
        return tw.sparse.sparse_dense_matmul(tw.SparseTensor(IDX, values, [3, 4]), dense,
                                             adjoint_a=adjoint_a, adjoint_b=adjoint_b)
    check_gradients(f, [rng.randn(len(IDX)), b], name="sparse_dense_matmul")


def test_to_dense_reorder_and_reduce_sum_gradients():
    rng = np.random.RandomState(8)
    idx = np.array([[1, 2], [0, 1], [1, 0]])

    def dense(values, default):
        return tw.sparse.to_dense(tw.sparse.reorder(tw.SparseTensor(idx, values, [2, 3])),
                                  default_value=default)

    def total(values):
        return tw.sparse.reduce_sum(tw.SparseTensor(idx, values, [2, 3]), axis=1, keepdims=True)

    def legacy(value):
        return tw.sparse_to_dense([0, 2], [4], value)
    check_gradients(dense, [rng.randn(3), np.array(0.5)], name="to_dense(reorder)")
    check_gradients(total, [rng.randn(3)], name="sparse.reduce_sum")
    check_gradients(legacy, [np.array(1.5)], name="sparse_to_dense scalar value")
