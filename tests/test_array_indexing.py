"""`Tensor.__getitem__` / `strided_slice` against numpy indexing: values, static shapes (also
with partially unknown input shapes), scalar-tensor indices and bounds, and errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorweave as tw


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


@st.composite
def shape_and_index(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    items = []
    dims_left = len(shape)
    used_ellipsis = False
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["int", "slice", "slice", "ellipsis", "newaxis"]))
        real = sum(1 for i in items if i is not None and i is not Ellipsis)
        if kind in ("int", "slice") and real >= dims_left:
            kind = "newaxis"
        if kind == "ellipsis" and used_ellipsis:
            kind = "newaxis"
        if kind == "int":
            # the dimension this int lands on (before any ellipsis, else counted from the end)
            d = shape[real] if not used_ellipsis else None
            if d is None or d == 0:
                kind = "slice"
            else:
                items.append(draw(st.integers(-d, d - 1)))
                continue
        if kind == "slice":
            bound = st.one_of(st.none(), st.integers(-6, 6))
            items.append(slice(draw(bound), draw(bound),
                               draw(st.sampled_from([None, 1, 2, 3, -1, -2]))))
        elif kind == "ellipsis":
            used_ellipsis = True
            items.append(Ellipsis)
        else:
            items.append(None)
    return shape, tuple(items)


@given(shape_and_index())
def test_getitem_matches_numpy(case):
    shape, idx = case
    v = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    if any(isinstance(i, int) for i in idx) and Ellipsis in idx:
        # ints after an ellipsis index from the end; only keep cases numpy accepts
        try:
            v[idx]
        except IndexError:
            return
    want = v[idx]
    t = tw.constant(v)[idx]
    assert t.shape.as_list() == list(want.shape), (shape, idx)
    got = run(t)
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # the same index on a tensor whose shape is only partly known
    p = tw.placeholder(tw.float32, [None] * len(shape))
    tp = p[idx]
    assert tp.shape.is_compatible_with(want.shape)
    assert tp.shape.ndims == want.ndim
    np.testing.assert_array_equal(run(tp, {p: v}), want)


def test_getitem_examples_and_static_shapes():
    v = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(np.int64)
    t = tw.constant(v)
    for idx in [(slice(1, None), Ellipsis, None, -1), (0,), (-1, slice(None, None, -1)),
                (Ellipsis, 2), (slice(None), None, 1, slice(1, 3)), (), Ellipsis,
                (1, 2, 3, 4), (slice(None, None, 2), Ellipsis, slice(4, 0, -2))]:
        r = t[idx]
        np.testing.assert_array_equal(run(r), v[idx])
        assert r.shape.as_list() == list(v[idx].shape)
    x = tw.placeholder(tw.float32, [None, 3, None])
    assert x[1:, ..., None, -1].shape.as_list() == [None, 3, 1]
    assert x[:, 1].shape.as_list() == [None, None]
    assert x[0, ::-1].shape.as_list() == [3, None]
    assert x[:, 5:].shape.as_list() == [None, 0, None]
    assert tw.placeholder(tw.float32)[0].shape.ndims is None
    with tw.Graph().as_default():
        s = tw.placeholder(tw.float32, [None, 3])[0]
    assert s.op.type == "StridedSlice" and s.op.name == "strided_slice"
    assert [i.op.name for i in s.op.inputs[1:]] == ["strided_slice/stack",
                                                    "strided_slice/stack_1",
                                                    "strided_slice/stack_2"]
    assert s.op.get_attr("shrink_axis_mask") == 1


def test_scalar_tensor_indices_and_bounds():
    v = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = tw.constant(v)
    i = tw.placeholder(tw.int32, [])
    j = tw.placeholder(tw.int64, [])
    r = t[i]
    assert r.shape.as_list() == [6]
    r2 = t[i:i + 2, -2]
    assert r2.shape.as_list() == [None]
    r3 = t[:, tw.constant(1):j:2]
    assert r3.op.inputs[1].dtype == tw.int64
    with tw.Session() as s:
        np.testing.assert_array_equal(s.run(r, {i: 2}), v[2])
        np.testing.assert_array_equal(s.run(r, {i: -1}), v[-1])
        np.testing.assert_array_equal(s.run(r2, {i: 1}), v[1:3, -2])
        np.testing.assert_array_equal(s.run(r3, {j: 6}), v[:, 1:6:2])
        with pytest.raises(tw.errors.InvalidArgumentError,
                           match="slice index 4 of dimension 0 out of bounds"):
            s.run(r, {i: 4})
    # iterating a tensor with a known first dimension uses __getitem__
    rows = list(tw.constant(v[:2]))
    np.testing.assert_array_equal(run(rows), v[:2])
    # Dimension values and numpy integers are valid indices
    assert t[t.shape[0] - 1].shape.as_list() == [6]
    np.testing.assert_array_equal(run(t[np.int64(1), np.int32(2)]), v[1, 2])


def test_strided_slice_function_masks():
    v = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    r = tw.strided_slice(v, [0, 1, 0], [0, -1, 5], [1, 1, 2], begin_mask=1, end_mask=1,
                         shrink_axis_mask=0)
    assert r.op.name == "StridedSlice"
    np.testing.assert_array_equal(run(r), v[:, 1:-1, 0:5:2])
    r = tw.strided_slice(v, [1, 0], [2, 0], [1, 1], ellipsis_mask=2, shrink_axis_mask=1)
    np.testing.assert_array_equal(run(r), v[1, ...])
    r = tw.strided_slice(v, [0, 0], [0, 0], [1, 1], new_axis_mask=1, ellipsis_mask=2)
    assert r.shape.as_list() == [1, 3, 4, 5]
    r = tw.strided_slice(v, [2], [0], [-1])
    np.testing.assert_array_equal(run(r), v[2:0:-1])
    r = tw.strided_slice(v, [-1], [-5], [-1])
    np.testing.assert_array_equal(run(r), v[-1:-5:-1])
    p = tw.placeholder(tw.int32, [3])
    r = tw.strided_slice(v, p, [3, 4, 5])
    assert r.shape.as_list() == [None] * 3
    np.testing.assert_array_equal(run(r, {p: [1, 2, 3]}), v[1:3, 2:4, 3:5])
    assert tw.strided_slice(v, [0], [1], tw.placeholder(tw.int32, [1])).shape.ndims is None


def test_getitem_errors():
    t = tw.placeholder(tw.float32, [3, 4])
    with pytest.raises(ValueError, match=r"slice index 5 of dimension 0 out of bounds\. for "
                                         r"'strided_slice' \(op: 'StridedSlice'\)"):
        t[5]
    with pytest.raises(ValueError, match="slice index -4 of dimension 0 out of bounds"):
        t[-7]
    with pytest.raises(ValueError, match="Index out of range using input dim 2; input has only "
                                         "2 dims"):
        t[0, 0, 0]
    with pytest.raises(ValueError, match="Multiple ellipses in slice spec not allowed"):
        t[..., ...]
    with pytest.raises(ValueError, match=r"strides\[0\] must be non-zero"):
        t[::0]
    with pytest.raises(TypeError, match="Only integers, slices"):
        t[1.5]
    with pytest.raises(TypeError, match="Only integers, slices"):
        t[tw.constant([1, 2])]
    with pytest.raises(TypeError, match="Only integers, slices"):
        t["a"]
    with pytest.raises(TypeError, match="Pack.* has type int64 that does not match type int32"):
        t[tw.constant(1), tw.constant(1, tw.int64)]
    with pytest.raises(TypeError, match="Only integers, slices"):
        t[tw.constant(1.0)]


def test_getitem_on_variables_and_strings():
    w = tw.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    s = tw.constant(np.array([b"ab", b"cd", b"ef"], dtype=object))
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(w[1, 1:]), [4, 5])
        assert sess.run(s[1]) == b"cd"
        assert list(sess.run(s[::-1])) == [b"ef", b"cd", b"ab"]
