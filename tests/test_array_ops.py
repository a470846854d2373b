"""Array ops: values against numpy (several dtypes, 0-d and empty), TF1 static shapes, node names
and build-time / run-time errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorweave as tw
from tensorweave.ops.nn_ops import top_k

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.complex64]


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


def arr(shape, dtype=np.float32, seed=0):
    rng = np.random.RandomState(seed)
    v = rng.randint(0, 5, size=shape) if dtype != np.bool_ else rng.rand(*shape) > 0.5
    return np.asarray(v).astype(dtype)


def check(t, want, feed=None):
    got = run(t, feed)
    want = np.asarray(want)
    assert np.asarray(got).dtype == want.dtype, (np.asarray(got).dtype, want.dtype)
    np.testing.assert_array_equal(got, want)
    assert t.shape.is_compatible_with(want.shape)


# ----------------------------------------------------------------------------------------------
# transpose
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_default_and_perm(dtype):
    v = arr((2, 3, 4), dtype)
    check(tw.transpose(v), v.T)
    check(tw.transpose(v, [1, 0, 2]), v.transpose(1, 0, 2))


def test_transpose_names_shapes_and_conjugate():
    x = tw.placeholder(tw.float32, [None, 3])
    t = tw.transpose(x)
    assert t.op.name == "transpose" and t.op.type == "Transpose"
    assert t.op.inputs[1].op.name == "transpose/perm"
    assert t.shape.as_list() == [3, None]
    assert tw.transpose(tw.placeholder(tw.float32, [None, 2, 5]), [2, 0, 1]).shape.as_list() \
        == [5, None, 2]
    assert tw.transpose(tw.placeholder(tw.float32), tw.placeholder(tw.int32, [3])).shape \
        .as_list() == [None] * 3
    c = np.array([[1 + 2j, 3 - 1j]], dtype=np.complex64)
    ct = tw.transpose(c, conjugate=True)
    assert ct.op.type == "ConjugateTranspose"
    check(ct, np.conj(c.T))
    check(tw.transpose(np.float32(3.0)), np.float32(3.0))
    check(tw.transpose(np.zeros((0, 2), np.float32)), np.zeros((2, 0), np.float32))


def test_transpose_errors():
    x = tw.placeholder(tw.float32, [2, 3])
    with pytest.raises(ValueError, match=r"Dimension must be 2 but is 3 for 'transpose'.*"
                                         r"\[2,3\], \[3\]"):
        tw.transpose(x, [0, 1, 2])
    with pytest.raises(ValueError, match="perm dim 2 is out of range of input rank 2"):
        tw.transpose(x, [2, 0])
    with pytest.raises(ValueError, match="1 is missing from"):
        tw.transpose(x, [0, 0])
    p = tw.placeholder(tw.int32, [2])
    with pytest.raises(tw.errors.InvalidArgumentError, match="missing"):
        run(tw.transpose(x, p), {x: np.zeros((2, 3)), p: [1, 1]})


# ----------------------------------------------------------------------------------------------
# concat / split / stack / unstack
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_values(dtype):
    a, b = arr((2, 3), dtype, 0), arr((2, 1), dtype, 1)
    check(tw.concat([a, b], 1), np.concatenate([a, b], 1))
    check(tw.concat([a, b], -1), np.concatenate([a, b], 1))
    check(tw.concat([a, a, a], 0), np.concatenate([a, a, a], 0))


def test_concat_static_shapes_names_and_single_input():
    x = tw.placeholder(tw.float32, [None, 3])
    y = tw.placeholder(tw.float32, [4, None])
    c = tw.concat([x, y], 0)
    assert c.op.name == "concat" and c.op.type == "ConcatV2"
    assert c.shape.as_list() == [None, 3]
    assert tw.concat([x, y], 1).shape.as_list() == [4, None]
    assert tw.concat([x, tw.placeholder(tw.float32, [2, 5])], 1).shape.as_list() == [2, 8]
    assert tw.concat([x, x], tw.placeholder(tw.int32, [])).shape.as_list() == [None, None]
    one = tw.concat([x], 0)
    assert one.op.type == "Identity"
    check(tw.concat([np.zeros((0, 2), np.float32), np.ones((1, 2), np.float32)], 0),
          np.ones((1, 2), np.float32))
    # python numbers and tensors mix
    check(tw.concat([tw.constant([1.0]), [2.0, 3.0]], 0), np.array([1, 2, 3], np.float32))


def test_concat_errors():
    a = tw.placeholder(tw.float32, [2, 3])
    with pytest.raises(ValueError, match=r"Dimension 1 in both shapes must be equal, but are 3 "
                                         r"and 4.*for 'concat' \(op: 'ConcatV2'\) with input "
                                         r"shapes: \[2,3\], \[2,4\]"):
        tw.concat([a, tw.placeholder(tw.float32, [2, 4])], 0)
    with pytest.raises(ValueError, match="Shape must be rank 2 but is rank 1"):
        tw.concat([a, tw.placeholder(tw.float32, [2])], 0)
    with pytest.raises(ValueError, match=r"range \[-2, 2\), but got 2"):
        tw.concat([a, a], 2)
    with pytest.raises(ValueError, match="Can't concatenate scalars"):
        tw.concat([1.0, 2.0], 0)
    with pytest.raises(TypeError):
        tw.concat([a, tw.placeholder(tw.int32, [2, 3])], 0)
    p = tw.placeholder(tw.float32, [None, 3])
    with pytest.raises(tw.errors.InvalidArgumentError, match="concat"):
        run(tw.concat([a, p], 1), {a: np.zeros((2, 3)), p: np.zeros((3, 3))})


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_split_values(dtype):
    v = arr((6, 4), dtype)
    for got, want in zip(run(tw.split(v, 3)), np.split(v, 3)):
        np.testing.assert_array_equal(got, want)
    parts = tw.split(v, [1, -1, 2], axis=1)
    assert [p.shape.as_list() for p in parts] == [[6, 1], [6, 1], [6, 2]]
    for got, want in zip(run(parts), np.split(v, [1, 2], axis=1)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == dtype


def test_ops_with_a_list_of_one_output_give_a_list_of_one_value():
    # tower code written for N devices must work at N = 1 (issue 11)
    v = arr((4, 6), np.float32)
    x = tw.constant(v)
    cases = [(tw.split(x, 1), [v]), (tw.split(x, [6], axis=1), [v]),
             (tw.unstack(x[:1]), [v[0]]), (tw.shape_n([x]), [np.array([4, 6])]),
             (tw.identity_n([x]), [v]), (tw.dynamic_partition(x, [0, 0, 0, 0], 1), [v])]
    for tensors, want in cases:
        got = run(tensors)
        assert isinstance(got, list) and len(got) == 1, got
        np.testing.assert_array_equal(got[0], want[0])
        assert isinstance(got[0], np.ndarray)


def test_split_shapes_names_and_errors():
    x = tw.placeholder(tw.float32, [None, 6])
    a, b = tw.split(x, 2, axis=1)
    assert a.op.type == "Split" and a.op.name == "split" and a.shape.as_list() == [None, 3]
    assert a.op.inputs[0].op.name == "split/split_dim"
    parts = tw.split(x, tw.constant([2, 4]), 1)
    assert parts[0].op.type == "SplitV" and [p.shape.as_list() for p in parts] == \
        [[None, 2], [None, 4]]
    assert len(tw.split(x, tw.placeholder(tw.int32, [3]), 1)) == 3
    with pytest.raises(ValueError, match="evenly divisible by 4 but is 6 for 'split_3' \\(op: 'Split'\\)"):
        tw.split(x, 4, 1)
    with pytest.raises(ValueError, match="Determined shape must either match"):
        tw.split(x, [2, 2], 1)
    with pytest.raises(ValueError, match="Only one dimensions can have a value of -1"):
        tw.split(x, [-1, -1], 1)
    with pytest.raises(ValueError, match="Cannot infer num"):
        tw.split(x, tw.placeholder(tw.int32, [None]), 1)
    with pytest.raises(ValueError, match="Rank-0 tensors are not supported"):
        tw.split(x, tw.constant(2), 1)
    p = tw.placeholder(tw.float32, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match="evenly divide"):
        run(tw.split(p, 2), {p: np.zeros(3)})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_unstack(axis):
    vs = [arr((2, 3), np.int32, s) for s in range(4)]
    s = tw.stack(vs, axis=axis)
    check(s, np.stack(vs, axis=axis))
    assert s.op.name == ("stack" if axis else "stack")
    outs = tw.unstack(np.stack(vs, axis=axis), axis=axis)
    assert len(outs) == 4 and outs[0].op.type == "Unpack" and outs[0].op.name == "unstack"
    for got, want in zip(run(outs), vs):
        np.testing.assert_array_equal(got, want)


def test_stack_of_tensors_and_numbers_autopacks():
    a = tw.placeholder(tw.float32, [])
    s = tw.stack([a, 2.0, a])
    assert s.op.type == "Pack" and s.op.name == "stack" and s.shape.as_list() == [3]
    np.testing.assert_array_equal(run(s, {a: 5.0}), np.array([5, 2, 5], np.float32))
    c = tw.convert_to_tensor([[a, 1.0], [2.0, 3.0]])
    assert c.op.type == "Pack" and c.op.name == "packed" and c.shape.as_list() == [2, 2]
    np.testing.assert_array_equal(run(c, {a: 7.0}), [[7, 1], [2, 3]])
    plain = tw.convert_to_tensor([1.0, 2.0])
    assert plain.op.type == "Const"
    v = tw.Variable(1.0)
    pv = tw.convert_to_tensor([v, 2.0])
    assert pv.op.type == "Pack"
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(pv), [1, 2])
    with pytest.raises(TypeError, match="Cannot convert a list containing a tensor of dtype "
                                        "float32 to int32"):
        tw.convert_to_tensor([a, 1], dtype=tw.int32)
    # a shape assembled from a tensor dimension keeps the static part
    x = tw.placeholder(tw.float32, [None, 4])
    r = tw.reshape(x, [tw.shape(x)[0], 2, 2])
    assert r.shape.as_list() == [None, 2, 2]


def test_stack_unstack_errors_and_shapes():
    with pytest.raises(ValueError, match=r"Shapes must be equal rank, but are 1 and 2"):
        tw.stack([tw.placeholder(tw.float32, [2]), tw.placeholder(tw.float32, [2, 3])])
    with pytest.raises(ValueError, match=r"axis = 3 not in \[-3, 3\)"):
        tw.stack([tw.placeholder(tw.float32, [2, 2])] * 2, axis=3)
    with pytest.raises(ValueError, match="Cannot infer num from shape"):
        tw.unstack(tw.placeholder(tw.float32, [None, 2]))
    with pytest.raises(ValueError, match="Dimension must be 3 but is 2"):
        tw.unstack(tw.placeholder(tw.float32, [2, 4]), num=3)
    s = tw.stack([tw.placeholder(tw.float32, [None, 3]), tw.placeholder(tw.float32, [2, None])],
                 axis=1)
    assert s.shape.as_list() == [2, 2, 3]
    assert tw.unstack(tw.placeholder(tw.float32, [None, 2]), axis=1)[0].shape.as_list() == [None]
    assert run(tw.unstack(np.zeros((0, 3), np.float32), num=0)) == []


# ----------------------------------------------------------------------------------------------
# expand_dims / squeeze / tile / reverse / pad
# ----------------------------------------------------------------------------------------------
def test_expand_dims_and_squeeze():
    v = arr((2, 1, 3), np.int64)
    for ax in (0, 1, 3, -1, -4):
        check(tw.expand_dims(v, ax), np.expand_dims(v, ax))
    check(tw.expand_dims(np.float32(2.0), 0), np.array([2.0], np.float32))
    check(tw.expand_dims(v, dim=2), np.expand_dims(v, 2))
    check(tw.squeeze(v), np.squeeze(v))
    check(tw.squeeze(v, [1]), np.squeeze(v, 1))
    check(tw.squeeze(v, axis=-2), np.squeeze(v, -2))
    check(tw.squeeze(np.ones((1, 1), np.float32)), np.float32(1.0))
    with tw.Graph().as_default():
        e = tw.expand_dims(tw.placeholder(tw.float32, [None, 3]), 1)
    assert e.op.name == "ExpandDims" and e.op.inputs[1].op.name == "ExpandDims/dim"
    assert e.shape.as_list() == [None, 1, 3]
    assert tw.squeeze(tw.placeholder(tw.float32, [None, 1, 3])).shape.ndims is None
    assert tw.squeeze(tw.placeholder(tw.float32, [None, 1, 3]), [0]).shape.as_list() == [1, 3]
    assert tw.squeeze(tw.placeholder(tw.float32, [2, 1, 3]), squeeze_dims=[1]).shape \
        .as_list() == [2, 3]
    with pytest.raises(ValueError, match=r"Can not squeeze dim\[0\], expected a dimension of 1, "
                                         r"got 2 for 'Squeeze_\d+' \(op: 'Squeeze'\)"):
        tw.squeeze(v, [0])
    with pytest.raises(ValueError, match="Tried to expand dim index 4 for tensor with 3"):
        tw.expand_dims(v, 4)
    with pytest.raises(ValueError, match="Must specify an axis"):
        tw.expand_dims(v)
    p = tw.placeholder(tw.float32, [None, 3])
    with pytest.raises(tw.errors.InvalidArgumentError, match="Can not squeeze dim"):
        run(tw.squeeze(p, [0]), {p: np.zeros((2, 3))})


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
def test_tile_and_reverse(dtype):
    v = arr((2, 3), dtype)
    check(tw.tile(v, [2, 3]), np.tile(v, (2, 3)))
    check(tw.tile(v, [0, 1]), np.tile(v, (0, 1)))
    check(tw.reverse(v, [1]), v[:, ::-1])
    check(tw.reverse_v2(v, [0, -1]), v[::-1, ::-1])
    check(tw.reverse(v, np.array([], np.int32)), v)
    with tw.Graph().as_default():
        t = tw.tile(tw.placeholder(tw.float32, [None, 3]), [2, 2])
    assert t.op.name == "Tile" and t.shape.as_list() == [None, 6]
    with pytest.raises(ValueError, match=r"Shape must be rank 3 but is rank 2 for 'Tile_\d+' \(op: 'Tile'\)"):
        tw.tile(v, [1, 2, 3])
    with pytest.raises(ValueError, match="axis 1 specified more than once"):
        tw.reverse(v, [1, -1])
    with pytest.raises(ValueError, match="out of valid range"):
        tw.reverse(v, [2])


@pytest.mark.parametrize("mode", ["CONSTANT", "reflect", "SYMMETRIC"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_pad(mode, dtype):
    v = arr((3, 4), dtype)
    p = [[1, 2], [2, 0]]
    t = tw.pad(v, p, mode=mode)
    check(t, np.pad(v, p, mode=mode.lower()))
    assert t.shape.as_list() == [6, 6]


def test_pad_constant_values_names_and_errors():
    v = arr((2, 2), np.float32)
    t = tw.pad(v, [[1, 1], [0, 1]], constant_values=7)
    assert t.op.type == "PadV2"
    check(t, np.pad(v, [[1, 1], [0, 1]], constant_values=7))
    assert tw.pad(v, [[0, 0], [1, 1]]).op.type == "Pad"
    m = tw.pad(v, [[1, 1], [1, 1]], "REFLECT")
    assert m.op.type == "MirrorPad" and m.op.get_attr("mode") == "REFLECT"
    check(tw.pad(np.float32(3), np.zeros((0, 2), np.int32)), np.float32(3))
    s = tw.pad(np.array([b"a", b"b"], dtype=object), [[1, 0]])
    assert list(run(s)) == [b"", b"a", b"b"]
    x = tw.placeholder(tw.float32, [None, 3])
    assert tw.pad(x, [[1, 1], [2, 2]]).shape.as_list() == [None, 7]
    with pytest.raises(ValueError, match="paddings must be less than the dimension size: 2, 0 "
                                         "not less than 2"):
        tw.pad(v, [[2, 0], [0, 0]], "REFLECT")
    with pytest.raises(ValueError, match="no greater than the dimension size"):
        tw.pad(v, [[3, 0], [0, 0]], "SYMMETRIC")
    with pytest.raises(ValueError, match="The first dimension of paddings must be the rank"):
        tw.pad(v, [[1, 1]])
    with pytest.raises(ValueError, match="Unknown padding mode"):
        tw.pad(v, [[1, 1], [1, 1]], "WRAP")


# ----------------------------------------------------------------------------------------------
# gather / gather_nd / scatter_nd
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, object])
def test_gather_values(dtype):
    v = arr((4, 3, 2), np.int32).astype(dtype) if dtype is not object else \
        np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object)
    idx = np.array([[0, 1], [1, 0]], np.int64)
    for axis in range(v.ndim):
        i = idx % v.shape[axis]
        got = run(tw.gather(v, i, axis=axis))
        np.testing.assert_array_equal(got, np.take(v, i, axis=axis))
    assert run(tw.gather(v, 1)).shape == v.shape[1:]
    assert run(tw.gather(v, np.zeros(0, np.int32))).shape == (0,) + v.shape[1:]


def test_gather_shapes_names_and_errors():
    p = tw.placeholder(tw.float32, [None, 5, 7])
    i = tw.placeholder(tw.int32, [2, None])
    g = tw.gather(p, i, axis=1)
    assert g.op.name == "GatherV2" and g.op.type == "GatherV2"
    assert g.op.inputs[2].op.name == "GatherV2/axis"
    assert g.shape.as_list() == [None, 2, None, 7]
    assert tw.gather(p, 3).shape.as_list() == [5, 7]
    assert tw.gather(p, i, axis=tw.placeholder(tw.int32, [])).shape.as_list() == [None] * 4
    with pytest.raises(ValueError, match=r"range \[-3, 3\), but got 3"):
        tw.gather(p, i, axis=3)
    with pytest.raises(TypeError):
        tw.gather(p, [0.5])
    params = tw.constant(np.arange(5, dtype=np.float32))
    ii = tw.placeholder(tw.int32, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"indices\[1\] = 7 is not in "
                                                             r"\[0, 5\)") as e:
        run(tw.gather(params, ii, name="my_gather"), {ii: [1, 7, 9]})
    assert "my_gather" in str(e.value)
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"indices\[0\] = -1"):
        run(tw.gather(params, ii), {ii: [-1]})


def test_gather_nd_and_scatter_nd():
    p = arr((3, 4, 2), np.float32)
    idx = np.array([[0, 1], [2, 3], [1, 1]], np.int32)
    check(tw.gather_nd(p, idx), p[idx[:, 0], idx[:, 1]])
    check(tw.gather_nd(p, [[[1, 2, 1]]]), p[1, 2, 1].reshape(1, 1))
    check(tw.gather_nd(p, np.zeros((2, 0), np.int32)), np.stack([p, p]))
    assert tw.gather_nd(tw.placeholder(tw.float32, [None, 4, 2]),
                        tw.placeholder(tw.int64, [5, 2])).shape.as_list() == [5, 2]
    with pytest.raises(ValueError, match=r"indices.shape\[-1\] must be <= params.rank"):
        tw.gather_nd(p, np.zeros((2, 4), np.int32))
    ii = tw.placeholder(tw.int32, [None, 2])
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"indices\[1\] = \[1, 5\] does not index into param shape \[3,4,2\]"):
        run(tw.gather_nd(p, ii), {ii: [[0, 0], [1, 5]]})
    # scatter_nd: duplicates add
    s = tw.scatter_nd([[1], [3], [1]], [1.0, 2.0, 3.0], [5])
    assert s.op.type == "ScatterNd" and s.shape.as_list() == [5]
    check(s, np.array([0, 4, 0, 2, 0], np.float32))
    u = arr((2, 2, 3), np.int64)
    idx = np.array([[[0, 1], [3, 1]], [[0, 1], [2, 0]]], np.int64)
    want = np.zeros((4, 2, 3), np.int64)
    for a in range(2):
        for b in range(2):
            want[tuple(idx[a, b])] += u[a, b]
    check(tw.scatter_nd(idx, u, [4, 2, 3]), want)
    with pytest.raises(ValueError, match="shape of updates"):
        tw.scatter_nd([[1]], [[1.0, 2.0]], [5])
    with pytest.raises(tw.errors.InvalidArgumentError, match="does not index into shape"):
        run(tw.scatter_nd(ii, tw.constant([1.0]), [2, 2]), {ii: [[0, 2]]})


# ----------------------------------------------------------------------------------------------
# one_hot / where / select
# ----------------------------------------------------------------------------------------------
def test_one_hot():
    idx = np.array([[0, 2], [5, -1]], np.int32)
    t = tw.one_hot(idx, 3)
    assert t.op.name == "one_hot" and t.dtype == tw.float32 and t.shape.as_list() == [2, 2, 3]
    want = (idx[..., None] == np.arange(3)).astype(np.float32)
    check(t, want)
    check(tw.one_hot(idx, 3, axis=0), np.moveaxis(want, -1, 0))
    check(tw.one_hot(idx, 3, on_value=5, off_value=-1), np.where(want > 0, 5, -1).astype(np.int32))
    check(tw.one_hot(idx, 3, dtype=tw.bool), want > 0)
    check(tw.one_hot(np.array(1, np.int64), 2), np.array([0, 1], np.float32))
    assert tw.one_hot(tw.placeholder(tw.int32, [None]), 4).shape.as_list() == [None, 4]
    with pytest.raises(TypeError, match="dtype .*float32.* of on_value does not match dtype "
                                        "parameter"):
        tw.one_hot(idx, 3, on_value=1.0, dtype=tw.int32)
    with pytest.raises(TypeError, match="of on_value does not match dtype"):
        tw.one_hot(idx, 3, on_value=1.0, off_value=0)
    with pytest.raises(ValueError, match="Expected axis to be -1 or between"):
        tw.one_hot(idx, 3, axis=-2)


def test_where_and_select():
    c = np.array([[True, False, True], [False, False, True]])
    coords = tw.where(c)
    assert coords.dtype == tw.int64 and coords.shape.as_list() == [None, 2]
    assert coords.op.type == "Where" and coords.op.name == "Where"
    check(coords, np.argwhere(c).astype(np.int64))
    check(tw.where(np.array([0.0, 2.0, 0.0, -1.0], np.float32)), np.array([[1], [3]], np.int64))
    check(tw.where(np.array(True)), np.zeros((1, 0), np.int64))
    x, y = arr((2, 3), np.float32, 0), arr((2, 3), np.float32, 1)
    s = tw.where(c, x, y)
    assert s.op.type == "Select"
    check(s, np.where(c, x, y))
    rows = np.array([True, False])
    check(tw.where(rows, x, y), np.where(rows[:, None], x, y))
    check(tw.where(np.array(False), x, y), y)
    check(tw.where([True, False], [1, 2], [3, 4]), np.array([1, 4], np.int32))
    with pytest.raises(ValueError, match="x and y must both be non-None"):
        tw.where(c, x)
    with pytest.raises(ValueError, match="Dimension 0 in both shapes must be equal"):
        tw.where(np.array([True, False, True]), x, y)
    with pytest.raises(ValueError, match="Shapes must be equal rank"):
        tw.where(c, x, y[0])
    v2 = tw.where_v2(rows[:, None], x, 0.0)
    assert v2.op.type == "SelectV2" and v2.shape.as_list() == [2, 3]
    check(v2, np.where(rows[:, None], x, np.float32(0)))
    check(tw.where_v2(c[0], 1, arr((2, 3), np.int32)), np.where(c[0], 1, arr((2, 3), np.int32)))
    pc = tw.placeholder(tw.bool, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match="must match size of 'cond'"):
        run(tw.where(pc, x, y), {pc: [True, False, True]})


# ----------------------------------------------------------------------------------------------
# slice / masks
# ----------------------------------------------------------------------------------------------
def test_slice():
    v = arr((4, 5, 3), np.int32)
    t = tw.slice(v, [1, 0, 1], [2, -1, 1])
    assert t.op.name == "Slice" and t.shape.as_list() == [2, 5, 1]
    check(t, v[1:3, :, 1:2])
    check(tw.slice(v, [4, 0, 0], [0, 5, 3]), v[4:4])
    check(tw.slice(np.float32(1), np.zeros(0, np.int32), np.zeros(0, np.int32)), np.float32(1))
    x = tw.placeholder(tw.float32, [None, 5])
    assert tw.slice(x, [1, 2], [-1, 2]).shape.as_list() == [None, 2]
    assert tw.slice(x, tw.placeholder(tw.int32, [2]), [3, -1]).shape.as_list() == [3, None]
    with pytest.raises(ValueError, match=r"Expected size\[1\] in \[0, 3\], but got 4"):
        tw.slice(x, [0, 2], [1, 4])
    with pytest.raises(ValueError, match=r"Expected begin\[1\] in \[0, 5\], but got 6"):
        tw.slice(x, [0, 6], [1, 0])
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"Expected size\[0\]"):
        run(tw.slice(x, [1, 0], [2, 1]), {x: np.zeros((2, 5))})


def test_boolean_mask():
    v = arr((3, 4, 2), np.float32)
    m = np.array([True, False, True])
    t = tw.boolean_mask(v, m)
    assert t.shape.as_list() == [None, 4, 2]
    check(t, v[m])
    m2 = arr((3, 4), np.bool_)
    check(tw.boolean_mask(v, m2), v[m2])
    m3 = np.array([False, True, True, False])
    check(tw.boolean_mask(v, m3, axis=1), v[:, m3])
    x = tw.placeholder(tw.float32, [None, 4])
    pm = tw.placeholder(tw.bool, [None])
    r = tw.boolean_mask(x, pm)
    assert r.shape.as_list() == [None, 4]
    np.testing.assert_array_equal(run(r, {x: v[:, :, 0], pm: m}), v[:, :, 0][m])
    check(tw.constant(v)[tw.constant(m)], v[m])
    with pytest.raises(ValueError, match="mask cannot be scalar"):
        tw.boolean_mask(v, True)
    with pytest.raises(ValueError):
        tw.boolean_mask(v, np.array([True, False]))


def test_sequence_mask():
    t = tw.sequence_mask([1, 3, 2], 5)
    assert t.shape.as_list() == [3, 5] and t.dtype == tw.bool
    check(t, np.arange(5) < np.array([1, 3, 2])[:, None])
    check(tw.sequence_mask(np.array([[1], [0]]), dtype=tw.float32),
          (np.arange(1) < np.array([[1], [0]])[..., None]).astype(np.float32))
    n = tw.placeholder(tw.int32, [None])
    m = tw.sequence_mask(n)
    assert m.shape.as_list() == [None, None]
    np.testing.assert_array_equal(run(m, {n: [1, 3]}), [[True, False, False], [True] * 3])


# ----------------------------------------------------------------------------------------------
# unique / top_k / invert_permutation / meshgrid / shape_n / identity_n
# ----------------------------------------------------------------------------------------------
def test_unique():
    x = np.array([4, 1, 4, 2, 1, 7], np.int64)
    y, idx = tw.unique(x)
    assert y.shape.as_list() == [None] and idx.dtype == tw.int32 and y.op.type == "Unique"
    yv, iv = run([y, idx])
    np.testing.assert_array_equal(yv, [4, 1, 2, 7])
    np.testing.assert_array_equal(yv[iv], x)
    assert iv.dtype == np.int32 and yv.dtype == np.int64
    r = tw.unique(np.array([b"b", b"a", b"b"], dtype=object), out_idx=tw.int64)
    yv, iv = run(r)
    assert list(yv) == [b"b", b"a"] and iv.dtype == np.int64 and list(iv) == [0, 1, 0]
    yv, iv = run(tw.unique(np.zeros(0, np.float32)))
    assert yv.shape == (0,) and iv.shape == (0,)
    with pytest.raises(ValueError, match="unique expects a 1D vector"):
        tw.unique(np.zeros((2, 2)))


def test_top_k():
    x = np.array([[1, 3, 3, 2], [5, 5, 5, 0]], np.float32)
    v, i = top_k(x, 3)
    assert v.op.type == "TopKV2" and v.shape.as_list() == [2, 3] and i.dtype == tw.int32
    vv, iv = run([v, i])
    np.testing.assert_array_equal(vv, [[3, 3, 2], [5, 5, 5]])
    np.testing.assert_array_equal(iv, [[1, 2, 3], [0, 1, 2]])
    r = run(top_k(np.array([2, 9, 4], np.int64)))
    assert r.values.tolist() == [9] and r.indices.tolist() == [1]
    assert "top_k" not in tw.__dict__
    p = tw.placeholder(tw.float32, [None, 2])
    with pytest.raises(ValueError, match="input must have last dimension >= k = 3 but is 2"):
        top_k(p, 3)
    k = tw.placeholder(tw.int32, [])
    assert top_k(p, k).values.shape.as_list() == [None, None]
    with pytest.raises(tw.errors.InvalidArgumentError, match="at least k columns"):
        run(top_k(p, k), {p: np.zeros((1, 2)), k: 3})


def test_invert_permutation_meshgrid_shape_n_identity_n():
    check(tw.invert_permutation([2, 0, 1]), np.array([1, 2, 0], np.int32))
    p = tw.placeholder(tw.int64, [None])
    with pytest.raises(tw.errors.InvalidArgumentError):
        run(tw.invert_permutation(p), {p: [0, 0]})
    a, b = np.arange(3, dtype=np.float32), np.arange(2, dtype=np.float32)
    for indexing in ("xy", "ij"):
        got = run(tw.meshgrid(a, b, indexing=indexing))
        for g, w in zip(got, np.meshgrid(a, b, indexing=indexing)):
            np.testing.assert_array_equal(g, w)
    x = tw.placeholder(tw.float32, [None, 3])
    s1, s2 = tw.shape_n([x, tw.constant(1.0)], out_type=tw.int64)
    assert s1.shape.as_list() == [2] and s2.shape.as_list() == [0]
    r = run([s1, s2], {x: np.zeros((4, 3))})
    assert r[0].tolist() == [4, 3] and r[0].dtype == np.int64 and r[1].shape == (0,)
    i1, i2 = tw.identity_n([x, tw.constant([1, 2])])
    assert i1.shape.as_list() == [None, 3] and i2.dtype == tw.int32
    np.testing.assert_array_equal(run(i2, {x: np.zeros((1, 3))}), [1, 2])


def test_constant_folding_of_shape_arithmetic():
    x = tw.placeholder(tw.float32, [None, 4, 6])
    assert tw.reshape(x, [-1, tw.shape(x)[2]]).shape.as_list() == [None, 6]
    z = tw.zeros(tw.shape(x)[1:])
    assert z.shape.as_list() == [4, 6]
    y = tw.placeholder(tw.float32, [4, 6])
    assert tw.fill(tw.gather(tw.shape(y), [1, 0]), 1.0).shape.as_list() == [6, 4]
    assert tw.fill(tw.gather(tw.shape(x), [2, 1]), 1.0).shape.as_list() == [None, None]


def test_zeros_ones_reshape_fill_as_tf1():
    z = tw.zeros([2, 3])
    assert z.op.type == "Const" and z.op.name == "zeros"
    check(z, np.zeros((2, 3), np.float32))
    big = tw.ones([50, 40], tw.int64)
    assert big.op.type == "Fill" and big.op.name == "ones"
    check(big, np.ones((50, 40), np.int64))
    check(tw.zeros([2], tw.string), np.array([b"", b""], dtype=object))
    check(tw.ones(tw.TensorShape([1, 2]), tw.bool), np.ones((1, 2), bool))
    n = tw.placeholder(tw.int32, [])
    d = tw.zeros([n, 2])
    assert d.op.type == "Fill" and d.shape.as_list() == [None, 2]
    assert run(d, {n: 3}).shape == (3, 2)
    r = tw.reshape(np.arange(6.0), [2, 3])
    assert r.op.name == "Reshape" and r.op.inputs[1].op.name == "Reshape/shape"
    f = tw.fill([2, 2], 7)
    assert f.op.name == "Fill" and f.op.inputs[0].op.name == "Fill/dims"
    check(f, np.full((2, 2), 7, np.int32))
    i64 = tw.placeholder(tw.int64, [])
    assert tw.reshape(np.arange(6.0), [i64, 2]).op.inputs[1].dtype == tw.int64


@given(st.data())
def test_shape_ops_match_numpy_on_random_shapes(data):
    shape = tuple(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))
    r = len(shape)
    v = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    perm = data.draw(st.permutations(range(r)))
    axis = data.draw(st.integers(-r, r - 1))
    other = list(shape)
    other[axis] = data.draw(st.integers(0, 2))
    w = np.ones(other)
    reps = data.draw(st.lists(st.integers(0, 2), min_size=r, max_size=r))
    pads = [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in range(r)]
    flip = data.draw(st.lists(st.integers(0, r - 1), unique=True))
    n = shape[axis]
    idx = data.draw(st.lists(st.integers(0, n - 1), max_size=3)) if n else []
    cases = [(tw.transpose(v, perm), np.transpose(v, perm)),
             (tw.concat([v, w], axis), np.concatenate([v, w], axis)),
             (tw.tile(v, reps), np.tile(v, reps)),
             (tw.pad(v, pads, constant_values=-1.0), np.pad(v, pads, constant_values=-1)),
             (tw.reverse(v, np.array(flip, np.int32)), np.flip(v, tuple(flip))),
             (tw.gather(v, np.array(idx, np.int32), axis=axis),
              np.take(v, np.array(idx, np.int64), axis=axis)),
             (tw.stack([v, v], axis=axis), np.stack([v, v], axis=axis)),
             (tw.expand_dims(v, axis), np.expand_dims(v, axis))]
    got = run([t for t, _ in cases])
    for (t, want), g in zip(cases, got):
        assert t.shape.as_list() == list(want.shape), t.op.type
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, want, err_msg=t.op.type)


def test_dynamic_partition_and_stitch():
    parts = tw.dynamic_partition([10, 20, 30, 40, 50], [0, 0, 1, 1, 0], 2)
    assert len(parts) == 2 and parts[0].shape.as_list() == [None]
    a, b = run(parts)
    np.testing.assert_array_equal(a, [10, 20, 50])
    np.testing.assert_array_equal(b, [30, 40])
    data = arr((2, 3, 2), np.float32)
    p = np.array([[1, 0, 1], [2, 2, 0]], np.int32)
    outs = run(tw.dynamic_partition(data, p, 3))
    for i, o in enumerate(outs):
        np.testing.assert_array_equal(o, data[p == i])
    merged = tw.dynamic_stitch([6, [4, 1], [[5, 2], [0, 3]]],
                               [[61, 62], [[41, 42], [11, 12]],
                                [[[51, 52], [21, 22]], [[1, 2], [31, 32]]]])
    assert merged.shape.as_list() == [7, 2] and merged.op.type == "DynamicStitch"
    check(merged, np.array([[1, 2], [11, 12], [21, 22], [31, 32], [41, 42], [51, 52], [61, 62]],
                           np.int32))
    check(tw.dynamic_stitch([[0, 1], [1]], [[1.0, 2.0], [9.0]]), np.array([1, 9], np.float32))
    pp = tw.placeholder(tw.int32, [None])
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"partitions\[1\] = 3 is not in"):
        run(tw.dynamic_partition(tw.constant([1.0, 2.0]), pp, 2), {pp: [0, 3]})
    with pytest.raises(ValueError, match="must start with partitions.shape"):
        tw.dynamic_partition(data, np.zeros((3,), np.int32), 2)


@pytest.mark.parametrize("shape", [[2.5, 2], [2.0, 2], [2, np.float32(3)], ["2", 2], 2.5,
                                   np.array([2.0, 2.0])])
@pytest.mark.parametrize("fn", [tw.zeros, tw.ones, lambda s: tw.fill(s, 1.0),
                                lambda s: tw.constant(0.0, shape=s)])
def test_a_shape_with_a_size_that_is_not_an_integer_raises_as_tf1(fn, shape):
    # TF1 (tf.compat.v1): `Dimension` takes only values with `__index__`, and an int32 shape
    # tensor only python/numpy ints: zeros([2.5, 2]) was silently (2, 2)
    with pytest.raises(TypeError):
        fn(shape)


def test_a_shape_of_numpy_ints_and_dimensions_still_converts():
    n = tw.placeholder(tw.float32, [None, 3])
    check(tw.zeros([np.int64(2), np.int32(3)]), np.zeros((2, 3), np.float32))
    check(tw.ones(np.array([1, 2], np.int64), tw.int32), np.ones((1, 2), np.int32))
    check(tw.zeros(3), np.zeros(3, np.float32))
    check(tw.zeros([2, n.shape[1]]), np.zeros((2, 3), np.float32))
    check(tw.zeros([]), np.float32(0))
