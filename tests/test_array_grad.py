"""Gradients of the array ops against float64 central differences (`tw.test.check_gradients`),
plus the TF1 forms: `gather` along axis 0 gives an `IndexedSlices`, unused outputs of split and
unstack get zero gradients, integer inputs get None."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorweave as tw
from tensorweave.ops.nn_ops import top_k
from tensorweave.test import check_gradients


def rnd(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=shape)


def loose(x, shape):
    """`x` with a partly unknown static shape (so gradients take their run-time path)."""
    return tw.placeholder_with_default(x, [None] * len(shape))


def test_transpose_reverse_grads():
    x = rnd(2, 3, 4)
    check_gradients(lambda a: tw.transpose(a, [2, 0, 1]), [x])
    check_gradients(lambda a: tw.transpose(a), [x])
    perm = np.array([1, 2, 0], np.int32)
    check_gradients(lambda a, p: tw.reshape(tw.transpose(a, p), [3, 4, 2]), [x, perm])
    check_gradients(lambda a: tw.reverse(a, [0, 2]), [x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_grad(axis):
    a, b = rnd(2, 3, seed=1), rnd(2, 3, seed=2)
    check_gradients(lambda x, y: tw.concat([x, y, x], axis), [a, b])


def test_concat_grad_dynamic_shapes_and_axis():
    a, b = rnd(2, 3, seed=1), rnd(2, 1, seed=2)
    check_gradients(lambda x, y: tw.reshape(tw.concat([loose(x, (2, 3)), loose(y, (2, 1))], 1),
                                            [2, 4]), [a, b])
    ax = np.array(0, np.int32)
    check_gradients(lambda x, axis: tw.reshape(tw.concat([x, x], axis), [4, 3]), [a, ax])


def test_split_grads_including_unused_outputs():
    x = rnd(4, 6)
    check_gradients(lambda a: tw.split(a, 3, axis=1), [x])
    check_gradients(lambda a: tw.split(a, [1, -1, 2], axis=0), [x])
    check_gradients(lambda a: tw.split(a, 2)[1] * 2.0, [x])
    check_gradients(lambda a: tw.split(a, [2, 4], 1)[0], [x])


def test_stack_unstack_grads():
    a, b = rnd(2, 3, seed=1), rnd(2, 3, seed=2)
    check_gradients(lambda x, y: tw.stack([x, y], axis=1), [a, b])
    check_gradients(lambda x, y: tw.stack([x, 2.0 * y, x]), [a, b])
    check_gradients(lambda x: tw.unstack(x, axis=1), [a])
    check_gradients(lambda x: tw.unstack(x)[1], [a])


def test_expand_squeeze_tile_grads():
    x = rnd(2, 1, 3)
    check_gradients(lambda a: tw.expand_dims(a, -1), [x])
    check_gradients(lambda a: tw.squeeze(a), [x])
    check_gradients(lambda a: tw.squeeze(a, [1]), [x])
    check_gradients(lambda a: tw.tile(a, [2, 3, 1]), [x])
    check_gradients(lambda a: tw.reshape(tw.tile(loose(a, (2, 1, 3)), [1, 2, 2]), [2, 2, 6]),
                    [x])
    m = np.array([3, 1, 2], np.int32)
    check_gradients(lambda a, mm: tw.reshape(tw.tile(a, mm), [6, 1, 6]), [x, m])


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad_grads(mode):
    x = rnd(3, 4)
    check_gradients(lambda a: tw.pad(a, [[1, 2], [2, 1]], mode=mode), [x])
    check_gradients(lambda a: tw.pad(a, [[2, 0], [0, 3]], mode=mode), [x])


def test_pad_v2_and_dynamic_paddings():
    x = rnd(2, 3)
    check_gradients(lambda a: tw.pad(a, [[1, 0], [0, 2]], constant_values=3.0), [x])
    p = np.array([[1, 0], [2, 1]], np.int32)
    check_gradients(lambda a, pp: tw.reshape(tw.pad(a, pp), [3, 6]), [x, p])


def test_mirror_pad_second_order():
    x = rnd(3, 3)

    def f(a):
        y = tw.pad(a, [[2, 1], [1, 1]], "REFLECT")
        g = tw.gradients(tw.reduce_sum(y * y * y), a)[0]
        return g
    check_gradients(f, [x])


def test_gather_grad_is_indexed_slices():
    p = tw.placeholder(tw.float32, [5, 3])
    idx = tw.constant([4, 0, 4])
    w = tw.constant(np.arange(9, dtype=np.float32).reshape(3, 3))
    g = tw.gradients(tw.reduce_sum(tw.gather(p, idx) * w), p)[0]
    assert isinstance(g, tw.IndexedSlices)
    assert g.values.shape.as_list() == [3, 3] and g.indices.shape.as_list() == [3]
    dense = tw.convert_to_tensor(g)
    assert dense.shape.as_list() == [5, 3]
    want = np.zeros((5, 3), np.float32)
    np.add.at(want, [4, 0, 4], np.arange(9, dtype=np.float32).reshape(3, 3))
    with tw.Session() as s:
        gv, dv = s.run([g, dense], {p: np.zeros((5, 3))})
    assert isinstance(gv, tw.IndexedSlicesValue)
    np.testing.assert_array_equal(gv.indices, [4, 0, 4])
    np.testing.assert_array_equal(gv.dense_shape, [5, 3])
    np.testing.assert_array_equal(dv, want)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_gather_grad_numeric(axis):
    x = rnd(3, 4, 2)
    idx = np.array([[1, 0], [1, 1]], np.int32)
    check_gradients(lambda a: tw.gather(a, idx, axis=axis), [x])
    check_gradients(lambda a: tw.gather(a, 1, axis=axis), [x])


def test_gather_grad_unknown_shapes():
    x = rnd(4, 3)
    i = np.array([3, 3, 0], np.int64)
    check_gradients(lambda a, ii: tw.reshape(tw.gather(loose(a, (4, 3)), ii), [3, 3]), [x, i])
    check_gradients(lambda a, ii: tw.reshape(tw.gather(loose(a, (4, 3)), ii, axis=1), [4, 3]),
                    [x, np.array([2, 0, 2], np.int32)])


def test_gather_nd_and_scatter_nd_grads():
    x = rnd(3, 4, 2)
    check_gradients(lambda a: tw.gather_nd(a, [[0, 1], [2, 3], [0, 1]]), [x])
    check_gradients(lambda a: tw.gather_nd(a, [[2], [0], [2]]), [x])
    p = tw.placeholder(tw.float64, [3, 4, 2])
    g = tw.gradients(tw.reduce_sum(tw.gather_nd(p, [[2], [0]])), p)[0]
    assert isinstance(g, tw.IndexedSlices)
    u = rnd(3, 2)
    check_gradients(lambda v: tw.scatter_nd([[1], [3], [1]], v, [5, 2]), [u])


def test_select_grads():
    x, y = rnd(2, 3, seed=1), rnd(2, 3, seed=2)
    c = np.array([[True, False, True], [False, True, True]])
    check_gradients(lambda a, b: tw.where(c, a, b), [x, y])
    check_gradients(lambda a, b: tw.where(np.array([False, True]), a, b), [x, y])
    check_gradients(lambda a, b: tw.where_v2(c[0], a, b[0]), [x, y])
    check_gradients(lambda a: tw.where_v2(c, a, 0.0), [x])


@given(st.data())
def test_slice_and_strided_slice_grads(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    x = rnd(*shape, seed=data.draw(st.integers(0, 100)))
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, d - b])) for d, b in zip(shape, begin)]
    check_gradients(lambda a: tw.slice(a, begin, size), [x])
    idx = []
    for d in shape:
        if data.draw(st.booleans()):
            idx.append(data.draw(st.integers(-d, d - 1)))
        else:
            idx.append(slice(data.draw(st.one_of(st.none(), st.integers(-3, 3))),
                             data.draw(st.one_of(st.none(), st.integers(-3, 3))),
                             data.draw(st.sampled_from([None, 2, -1]))))
    if data.draw(st.booleans()):
        idx.insert(data.draw(st.integers(0, len(idx))), None)
    check_gradients(lambda a: a[tuple(idx)], [x])


def test_slice_grads_dynamic_and_second_order():
    x = rnd(3, 4)
    b = np.array([1, 0], np.int32)
    check_gradients(lambda a, bb: tw.reshape(tw.slice(a, bb, [2, 3]), [2, 3]), [x, b])
    check_gradients(lambda a: tw.reshape(loose(a, (3, 4))[1:, ::-2], [2, 2]), [x])

    def f(a):
        return tw.gradients(tw.reduce_sum(a[1:, ::2] * a[1:, ::2] * a[1:, ::2]), a)[0]
    check_gradients(f, [x])


def test_boolean_mask_and_top_k_grads():
    x = rnd(3, 4)
    m = np.array([[True, False, True, True], [False, False, True, False],
                  [True, True, False, False]])
    check_gradients(lambda a: tw.reshape(tw.boolean_mask(a, m), [6]), [x])
    check_gradients(lambda a: tw.reshape(tw.boolean_mask(a, m[0], axis=1), [3, 3]), [x])
    check_gradients(lambda a: top_k(a, 2).values, [x])
    check_gradients(lambda a: tw.reshape(top_k(loose(a, (3, 4)), 3).values, [3, 3]), [x])


def test_identity_n_and_nondifferentiable_ops():
    x = rnd(2, 2)
    check_gradients(lambda a: tw.identity_n([a, a * 2.0]), [x])
    p = tw.placeholder(tw.float32, [3])
    for y in (tw.one_hot(tw.cast(p, tw.int32), 3), tw.cast(tw.where(p > 0), tw.float32),
              tw.cast(tw.unique(p).idx, tw.float32)):
        assert tw.gradients(tw.reduce_sum(y), p) == [None]


def test_dynamic_partition_and_stitch_grads():
    x = rnd(4, 2)
    p = np.array([1, 0, 1, 1], np.int32)
    check_gradients(lambda a: [tw.reshape(o, s) for o, s in
                               zip(tw.dynamic_partition(a, p, 2), ([1, 2], [3, 2]))], [x])
    check_gradients(lambda a: tw.reshape(tw.dynamic_partition(a, p, 2)[1], [3, 2]), [x])
    y = rnd(2, 2, seed=3)
    check_gradients(lambda a, b: tw.dynamic_stitch([[0, 2, 3, 5], [1, 4]], [a, b]), [x, y])


def test_gather_and_concat_grads_with_unknown_rank():
    x = rnd(3, 2)
    some = tw.placeholder_with_default  # some(a, None): a view of a with unknown rank

    def g(a):
        return tw.reshape(tw.gather(some(a, None), [2, 0]), [2, 2])
    check_gradients(g, [x])

    def c(a):
        u = some(a, None)
        return tw.reshape(tw.concat([u, u], 0), [6, 2])
    check_gradients(c, [x])
