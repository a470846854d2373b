"""Gradients of array ops (TF1's rules; each builds graph with tw ops, never values).

Where the static shapes decide an index or a shape, the gradient uses a constant instead of a
run-time `Shape`/`Rank` computation, so the backward graph stays small; the numbers are the same.
`gather` along axis 0 (and `gather_nd` with one index column) returns an `IndexedSlices`, which
optimizers apply sparsely and anything else converts to a dense tensor.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import colocate_with
from ..framework.indexed_slices import IndexedSlices
from ..framework.slicing import SS_MASKS
from ..ops import array_ops, indexing_ops, math_ops, slicing_ops
from ..ops.constant_op import constant
from .grad_util import unbroadcast
from .registry import NoGradient, RegisterGradient

for _t in ("Shape", "Size", "Rank", "ZerosLike", "OnesLike", "StopGradient", "ShapeN",
           "BroadcastGradientArgs", "ReducedShape", "ConcatOffset", "InvertPermutation",
           "OneHot", "Where", "Unique"):
    NoGradient(_t)


def _dense(grad):
    """`grad` as a dense tensor (an IndexedSlices gradient is converted)."""
    return convert_to_tensor(grad) if isinstance(grad, IndexedSlices) else grad


def _ints(t):
    v = constant_value(t)
    return None if v is None else [int(a) for a in np.reshape(v, -1)]


def _const_axis(axis, rank):
    """A constant axis made non-negative when the rank is known (else as given, or None)."""
    a = _ints(axis)
    if a is None:
        return None
    return a[0] % rank if rank else a[0]


def _shape_like(x, out_type=_dtypes.int32):
    """x's shape: a python list when static (reshape accepts it), else a Shape node."""
    if x.shape.is_fully_defined():
        return x.shape.as_list()
    return array_ops.shape(x, out_type=out_type)


def _reshape_to_input(op, grad):
    return array_ops.reshape(_dense(grad), _shape_like(op.inputs[0]))


# ----------------------------------------------------------------------------------------------
# identity-like and reshaping
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Identity")
def _identity_grad(op, grad):
    return grad


@RegisterGradient("PlaceholderWithDefault")
def _pwd_grad(op, grad):
    return grad


@RegisterGradient("IdentityN")
def _identity_n_grad(op, *grads):
    return list(grads)


@RegisterGradient("Reshape")
def _reshape_grad(op, grad):
    return _reshape_to_input(op, grad), None


@RegisterGradient("ExpandDims")
def _expand_dims_grad(op, grad):
    return _reshape_to_input(op, grad), None


@RegisterGradient("Squeeze")
def _squeeze_grad(op, grad):
    return _reshape_to_input(op, grad)


@RegisterGradient("Fill")
def _fill_grad(op, grad):
    return None, math_ops.reduce_sum(grad)


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    return unbroadcast(grad, op.inputs[0]), None


# ----------------------------------------------------------------------------------------------
# transpose / reverse / tile / pad
# ----------------------------------------------------------------------------------------------
def _inverse_perm(perm):
    p = _ints(perm)
    if p is not None:
        return np.argsort(p).astype(perm.dtype.np)
    return array_ops.invert_permutation(perm)


@RegisterGradient("Transpose")
def _transpose_grad(op, grad):
    return array_ops.transpose(_dense(grad), _inverse_perm(op.inputs[1])), None


@RegisterGradient("ConjugateTranspose")
def _conjugate_transpose_grad(op, grad):
    return array_ops.transpose(_dense(grad), _inverse_perm(op.inputs[1]), conjugate=True), None


@RegisterGradient("ReverseV2")
def _reverse_grad(op, grad):
    return array_ops.reverse(_dense(grad), op.inputs[1]), None


@RegisterGradient("Tile")
def _tile_grad(op, grad):
    """Reshape the gradient to [m0, d0, m1, d1, ...] and sum over the m axes."""
    x, multiples = op.inputs
    grad = _dense(grad)
    m = _ints(multiples)
    if m is not None and x.shape.is_fully_defined():
        split_shape = [v for pair in zip(m, x.shape.as_list()) for v in pair]
    else:
        split_shape = array_ops.reshape(array_ops.transpose(array_ops.stack(
            [multiples, array_ops.shape(x, out_type=multiples.dtype)])), [-1])
    r = x.shape.ndims
    axes = np.arange(0, 2 * r, 2, dtype=np.int32) if r is not None else \
        math_ops.range(0, array_ops.size(split_shape), 2)
    g = math_ops.reduce_sum(array_ops.reshape(grad, split_shape), axes)
    g.set_shape(x.shape)
    return g, None


def _pad_slice(op, grad):
    """The part of `grad` that lies over the unpadded input."""
    x, paddings = op.inputs[0], op.inputs[1]
    pv = constant_value(paddings)
    if pv is not None:
        begin = np.asarray(pv).reshape(-1, 2)[:, 0].astype(paddings.dtype.np)
    else:
        begin = array_ops.reshape(slicing_ops.slice(paddings, [0, 0], [-1, 1]), [-1])
    return slicing_ops.slice(_dense(grad), begin, _shape_like(x, paddings.dtype))


@RegisterGradient("Pad")
def _pad_grad(op, grad):
    return _pad_slice(op, grad), None


@RegisterGradient("PadV2")
def _pad_v2_grad(op, grad):
    return _pad_slice(op, grad), None, None  # TF1 gives constant_values no gradient


@RegisterGradient("MirrorPad")
def _mirror_pad_grad(op, grad):
    return array_ops.mirror_pad_grad(_dense(grad), op.inputs[1], op.get_attr("mode")), None


@RegisterGradient("MirrorPadGrad")
def _mirror_pad_grad_grad(op, grad):
    return array_ops.pad(_dense(grad), op.inputs[1], mode=op.get_attr("mode")), None


# ----------------------------------------------------------------------------------------------
# concat / split / pack / unpack
# ----------------------------------------------------------------------------------------------
@RegisterGradient("ConcatV2")
def _concat_grad(op, grad):
    *xs, axis = op.inputs
    grad = _dense(grad)
    r = next((x.shape.ndims for x in xs if x.shape.ndims is not None), None)
    a = _const_axis(axis, r)
    if a is not None and r is not None:
        sizes = [x.shape[a].value if x.shape.ndims is not None else None for x in xs]
        if None not in sizes:
            return array_ops.split(grad, sizes, a) + [None]
    shapes = [array_ops.shape(x) for x in xs]
    offsets = array_ops.concat_offset(axis if a is None else a, shapes)
    return [slicing_ops.slice(grad, o, s) for o, s in zip(offsets, shapes)] + [None]


def _zeros_for_none(op, grads):
    return [array_ops.zeros_like(o) if g is None else _dense(g)
            for o, g in zip(op.outputs, grads)]


@RegisterGradient("Split")
def _split_grad(op, *grads):
    return None, array_ops.concat(_zeros_for_none(op, grads), op.inputs[0])


@RegisterGradient("SplitV")
def _split_v_grad(op, *grads):
    return array_ops.concat(_zeros_for_none(op, grads), op.inputs[2]), None, None


@RegisterGradient("Pack")
def _pack_grad(op, grad):
    return array_ops.unstack(_dense(grad), num=op.get_attr("N"), axis=op.get_attr("axis"))


@RegisterGradient("Unpack")
def _unpack_grad(op, *grads):
    return array_ops.stack(_zeros_for_none(op, grads), axis=op.get_attr("axis"))


# ----------------------------------------------------------------------------------------------
# slicing
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Slice")
def _slice_grad(op, grad):
    """Pad the gradient back to the input's shape with zeros."""
    x, begin = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    grad = _dense(grad)
    b = _ints(begin)
    if b is not None and x.shape.is_fully_defined() and y.shape.is_fully_defined():
        after = [d - s - bi for d, s, bi in zip(x.shape.as_list(), y.shape.as_list(), b)]
        paddings = np.stack([b, after], axis=1).astype(begin.dtype.np)
        return array_ops.pad(grad, paddings), None, None
    dt = begin.dtype
    col = array_ops.stack([array_ops.rank(x), 1])
    before = array_ops.reshape(begin, col)
    after = array_ops.reshape(math_ops.subtract(math_ops.subtract(
        array_ops.shape(x, out_type=dt), array_ops.shape(y, out_type=dt)), begin), col)
    return array_ops.pad(grad, array_ops.concat([before, after], 1)), None, None


def _ss_masks(op) -> dict:
    return {m: op.get_attr(m) for m in SS_MASKS}


@RegisterGradient("StridedSlice")
def _strided_slice_grad(op, grad):
    x, begin, end, strides = op.inputs
    if x.shape.is_fully_defined():
        shape = constant(x.shape.as_list(), dtype=begin.dtype, name="Shape")
    else:
        shape = array_ops.shape(x, out_type=begin.dtype)
    return (slicing_ops.strided_slice_grad(shape, begin, end, strides, _dense(grad),
                                         **_ss_masks(op)), None, None, None)


@RegisterGradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    _, begin, end, strides, _ = op.inputs
    return (None, None, None, None,
            slicing_ops.strided_slice(_dense(grad), begin, end, strides, **_ss_masks(op)))


# ----------------------------------------------------------------------------------------------
# gather / scatter
# ----------------------------------------------------------------------------------------------
@RegisterGradient("GatherV2")
def _gather_grad(op, grad):
    params, indices, axis = op.inputs
    a = _const_axis(axis, params.shape.ndims)
    grad = _dense(grad)
    if a == 0:
        with colocate_with(params):
            params_shape = array_ops.shape(params)
        n = indices.shape.num_elements()
        tail = params.shape[1:]
        if n is not None and tail.is_fully_defined():
            values = array_ops.reshape(grad, [n] + tail.as_list())
            flat = array_ops.reshape(indices, [n])
        else:
            size = array_ops.expand_dims(array_ops.size(indices), 0)
            values = array_ops.reshape(grad, array_ops.concat([size, params_shape[1:]], 0))
            flat = array_ops.reshape(indices, size)
        return IndexedSlices(values, flat, params_shape), None, None
    return _gather_grad_dense(params, indices, a, grad), None, None


def _gather_grad_dense(params, indices, a, grad):
    """Gradient of a gather along axis `a` != 0: scatter-add the gradient's slices back.

    grad has shape outer + indices + inner; move the index dimensions to the front, scatter
    them into [n] + outer + inner, then move n back to position `a`.
    """
    pr, ir = params.shape.ndims, indices.shape.ndims
    if a is None or pr is None or ir is None:
        raise NotImplementedError(
            f"gradient of gather {params.name} along a non-constant axis or with unknown ranks "
            "is not supported")
    perm = list(range(a, a + ir)) + list(range(a)) + list(range(a + ir, a + ir + pr - a - 1))
    moved = array_ops.transpose(grad, perm)
    if params.shape.is_fully_defined():
        p = params.shape.as_list()
        target = [p[a]] + p[:a] + p[a + 1:]
    else:
        target = indexing_ops.gather(array_ops.shape(params, out_type=indices.dtype),
                                  [a] + list(range(a)) + list(range(a + 1, pr)))
    scattered = indexing_ops.scatter_nd(array_ops.expand_dims(indices, -1), moved, target)
    back = list(range(1, a + 1)) + [0] + list(range(a + 1, pr))
    return array_ops.transpose(scattered, back)


@RegisterGradient("GatherNd")
def _gather_nd_grad(op, grad):
    params, indices = op.inputs
    grad = _dense(grad)
    ref_shape = array_ops.shape(params, out_type=indices.dtype)
    if indices.shape.ndims == 2 and indices.shape[-1].value == 1:
        return IndexedSlices(grad, array_ops.squeeze(indices, axis=-1), ref_shape), None
    return indexing_ops.scatter_nd(indices, grad, ref_shape), None


@RegisterGradient("ScatterNd")
def _scatter_nd_grad(op, grad):
    return None, indexing_ops.gather_nd(_dense(grad), op.inputs[0]), None


# ----------------------------------------------------------------------------------------------
# select / top_k
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Select")
def _select_grad(op, grad):
    c, x = op.inputs[0], op.inputs[1]
    grad = _dense(grad)
    zeros = array_ops.zeros_like(x)
    return None, array_ops.where(c, grad, zeros), array_ops.where(c, zeros, grad)


@RegisterGradient("SelectV2")
def _select_v2_grad(op, grad):
    c, x, y = op.inputs
    grad = _dense(grad)
    zeros = array_ops.zeros([], dtype=grad.dtype)
    gx = array_ops.where_v2(c, grad, zeros)
    gy = array_ops.where_v2(c, zeros, grad)
    return None, unbroadcast(gx, x), unbroadcast(gy, y)


@RegisterGradient("TopKV2")
def _top_k_grad(op, grad, _):
    """Scatter the values' gradient to the positions the indices name (rows flattened)."""
    x, indices = op.inputs[0], op.outputs[1]
    grad = _dense(grad)
    if x.shape.is_fully_defined() and indices.shape.is_fully_defined():
        dims = x.shape.as_list()
        n, k = dims[-1], indices.shape[-1].value
        outer = int(np.prod(dims[:-1], dtype=np.int64))
        offsets = (np.arange(outer, dtype=np.int32) * n).reshape(-1, 1)
        flat = array_ops.reshape(
            math_ops.add(array_ops.reshape(indices, [outer, k]), offsets), [-1, 1])
        dense = indexing_ops.scatter_nd(flat, array_ops.reshape(grad, [-1]), [outer * n])
        return array_ops.reshape(dense, dims), None
    in_shape = array_ops.shape(x)
    ind_lastdim = array_ops.shape(indices)[-1]
    ind_2d = array_ops.reshape(indices, array_ops.stack([-1, ind_lastdim]))
    in_lastdim = in_shape[-1]
    outerdim = array_ops.shape(ind_2d)[0]
    offsets = array_ops.expand_dims(math_ops.range(0, outerdim * in_lastdim, in_lastdim), -1)
    flat = array_ops.reshape(math_ops.add(ind_2d, offsets), [-1, 1])
    total = array_ops.expand_dims(math_ops.reduce_prod(in_shape), 0)
    dense = indexing_ops.scatter_nd(flat, array_ops.reshape(grad, [-1]), total)
    return array_ops.reshape(dense, in_shape), None


# ----------------------------------------------------------------------------------------------
# dynamic_partition / dynamic_stitch
# ----------------------------------------------------------------------------------------------
@RegisterGradient("DynamicPartition")
def _dynamic_partition_grad(op, *grads):
    """Partition the positions 0..n-1 the same way, then stitch the gradients back."""
    data, partitions = op.inputs
    prefix = array_ops.shape(partitions)
    positions = array_ops.reshape(math_ops.range(math_ops.reduce_prod(prefix)), prefix)
    parts = indexing_ops.dynamic_partition(positions, partitions, op.get_attr("num_partitions"))
    stitched = indexing_ops.parallel_dynamic_stitch(parts, [_dense(g) for g in grads])
    return array_ops.reshape(stitched, _shape_like(data)), None


def _stitch_grad(op, grad):
    n = op.get_attr("N")
    grad = _dense(grad)
    return [None] * n + [indexing_ops.gather(grad, i) for i in op.inputs[:n]]


RegisterGradient("DynamicStitch")(_stitch_grad)
RegisterGradient("ParallelDynamicStitch")(_stitch_grad)
