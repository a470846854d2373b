"""Indexing ops: gathering and scattering by index -- `gather` (GatherV2), `gather_nd`,
`scatter_nd`, and TF1's data-flow pair `dynamic_partition` / `dynamic_stitch` (rows sent to, and
collected from, the positions an index tensor names).

Indices out of range fail when the step runs (InvalidArgumentError naming the node); the shape
functions check dtypes and ranks when the node is built, with TF's messages.

Kernels: `tensorweave/kernels/cpu/array.py`; gradients: `tensorweave/autodiff/array_grad.py`
(the gradient of `gather` is an `IndexedSlices`).
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import apply_op, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from .op_util import (
    check_index_input,
    check_input_rank,
    const_int,
    fmt_shape,
    index_input,
    is_tensor_like,
    merge_shapes,
    op1,
    same_dtype_inputs,
    shape_error,
)

__all__ = ["gather", "gather_nd", "scatter_nd", "dynamic_partition", "dynamic_stitch",
           "parallel_dynamic_stitch"]


# ----------------------------------------------------------------------------------------------
# gather / gather_nd / scatter_nd
# ----------------------------------------------------------------------------------------------
@register_op("GatherV2")
def _gather_shape(op):
    params, indices, axis = op.inputs
    check_index_input(op, indices, "indices")
    check_index_input(op, axis, "axis")
    check_input_rank(op, axis, 0, "axis")
    if op._attrs.get("batch_dims", 0):
        shape_error(op, "batch_dims != 0 is not supported", NotImplementedError)
    pr, ir = params.shape.ndims, indices.shape.ndims
    if pr == 0:
        shape_error(op, "Shape must be at least rank 1 but is rank 0")
    a = const_int(axis)
    if a is None or pr is None or ir is None:
        rank_ = None if pr is None or ir is None else pr - 1 + ir
        return [(params.dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    if not -pr <= a < pr:
        shape_error(op, f"Expected axis in the range [{-pr}, {pr}), but got {a}")
    a %= pr
    p = params.shape.as_list()
    return [(params.dtype, TensorShape(p[:a] + indices.shape.as_list() + p[a + 1:]))]


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """TF1 `tf.gather`: slices of `params` along `axis` at `indices` (op `GatherV2`).

    Indices out of [0, params.shape[axis]) fail at run time with InvalidArgumentError."""
    del validate_indices  # deprecated in TF1 and ignored there too
    if axis is None:
        axis = batch_dims
    if batch_dims != 0:
        raise NotImplementedError("tw.gather supports batch_dims=0 only")
    with name_scope(name, "GatherV2", [params, indices]) as scope:
        p = convert_to_tensor(params, name="params")
        i = index_input(indices, "indices")
        a = index_input(axis, "axis")
        return op1("GatherV2", [p, i, a], {"Tparams": p.dtype, "Tindices": i.dtype,
                                           "Taxis": a.dtype, "batch_dims": 0}, scope)


@register_op("GatherNd")
def _gather_nd_shape(op):
    params, indices = op.inputs
    check_index_input(op, indices, "indices")
    if indices.shape.ndims == 0:
        shape_error(op, "Shape must be at least rank 1 but is rank 0 for input 'indices'")
    if indices.shape.ndims is None or params.shape.ndims is None:
        return [(params.dtype, TensorShape(None))]
    k = indices.shape[-1].value
    if k is None:
        return [(params.dtype, TensorShape(None))]
    if k > params.shape.ndims:
        shape_error(op, f"indices.shape[-1] must be <= params.rank, but saw indices shape: "
                        f"{fmt_shape(indices.shape)} and params shape: {fmt_shape(params.shape)}")
    return [(params.dtype, TensorShape(indices.shape.as_list()[:-1]
                                       + params.shape.as_list()[k:]))]


def gather_nd(params, indices, name=None, batch_dims=0):
    """TF1 `tf.gather_nd`: `params` indexed by the last dimension of `indices`."""
    if batch_dims != 0:
        raise NotImplementedError("tw.gather_nd supports batch_dims=0 only")
    with name_scope(name, "GatherNd", [params, indices]) as scope:
        p = convert_to_tensor(params, name="params")
        i = index_input(indices, "indices")
        return op1("GatherNd", [p, i], {"Tparams": p.dtype, "Tindices": i.dtype}, scope)


@register_op("ScatterNd")
def _scatter_nd_shape(op):
    indices, updates, shp = op.inputs
    check_index_input(op, indices, "indices")
    if shp.dtype is not indices.dtype:
        raise TypeError(f"Input 'shape' of '{op.name}' (ScatterNd) has type {shp.dtype.name} "
                        f"that does not match type {indices.dtype.name} of argument 'indices'.")
    check_input_rank(op, shp, 1, "shape")
    out = constant_value_as_shape(shp)
    ish, ush = indices.shape, updates.shape
    if ish.ndims is not None and ish.ndims == 0:
        shape_error(op, "Shape must be at least rank 1 but is rank 0 for input 'indices'")
    if ish.ndims is not None and ush.ndims is not None and out.ndims is not None:
        k = ish[-1].value
        outer = ish.ndims - 1
        if k is not None:
            if k > out.ndims:
                shape_error(op, f"indices.shape[-1] must be <= shape.rank, but saw indices shape: "
                                f"{fmt_shape(ish)} and shape: {fmt_shape(out)}")
            want = TensorShape(ish.as_list()[:-1] + out.as_list()[k:])
            if not want.is_compatible_with(ush):
                shape_error(op, f"The shape of updates must be indices.shape[:-1] + shape[indices."
                                f"shape[-1]:] = {fmt_shape(want)}, got {fmt_shape(ush)} (the outer "
                                f"{outer} dimensions of updates must match those of indices)")
    return [(updates.dtype, out)]


def scatter_nd(indices, updates, shape, name=None):  # noqa: A002 - TF1 argument name
    """TF1 `tf.scatter_nd`: a zero tensor of `shape` with `updates` added at `indices`
    (updates for the same index add up)."""
    with name_scope(name, "ScatterNd", [indices, updates]) as scope:
        i = index_input(indices, "indices")
        u = convert_to_tensor(updates, name="updates")
        s = index_input(shape, "shape", dtype=i.dtype if not is_tensor_like(shape) else None)
        return op1("ScatterNd", [i, u, s], {"T": u.dtype, "Tindices": i.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# dynamic_partition / dynamic_stitch (TF1 data_flow_ops; array semantics)
# ----------------------------------------------------------------------------------------------
@register_op("DynamicPartition")
def _dynamic_partition_shape(op):
    data, partitions = op.inputs
    n = op.get_attr("num_partitions")
    if partitions.dtype is not _dtypes.int32:
        raise TypeError(f"partitions of '{op.name}' (DynamicPartition) must be int32, got "
                        f"{partitions.dtype.name}")
    if n < 1:
        shape_error(op, f"num_partitions must be at least 1, got {n}")
    pr = partitions.shape.ndims
    if pr is None or data.shape.ndims is None:
        return [(data.dtype, TensorShape(None))] * n
    if not data.shape[:pr].is_compatible_with(partitions.shape):
        shape_error(op, "data.shape must start with partitions.shape, got data.shape = "
                        f"{fmt_shape(data.shape)}, partitions.shape = "
                        f"{fmt_shape(partitions.shape)}")
    return [(data.dtype, TensorShape([None] + data.shape.as_list()[pr:]))] * n


def dynamic_partition(data, partitions, num_partitions, name=None):
    """TF1 `tf.dynamic_partition`: `outputs[i]` holds the slices of `data` whose partition
    is i, in order."""
    with name_scope(name, "DynamicPartition", [data, partitions]) as scope:
        d = convert_to_tensor(data, name="data")
        p = convert_to_tensor(partitions, name="partitions")
        return apply_op("DynamicPartition", [d, p], {"num_partitions": int(num_partitions),
                                                     "T": d.dtype}, scope).outputs


def _dynamic_stitch_shape(op):
    n = op.get_attr("N")
    indices, data = op.inputs[:n], op.inputs[n:]
    dt = data[0].dtype
    tail = TensorShape(None)
    for i, (ix, d) in enumerate(zip(indices, data)):
        if ix.dtype is not _dtypes.int32:
            raise TypeError(f"indices of '{op.name}' ({op.type}) must be int32, got "
                            f"{ix.dtype.name}")
        if d.dtype is not dt:
            raise TypeError(f"data[{i}] of '{op.name}' ({op.type}) has type {d.dtype.name} "
                            f"that does not match type {dt.name} of data[0]")
        if ix.shape.ndims is not None and d.shape.ndims is not None:
            r = ix.shape.ndims
            if not d.shape[:r].is_compatible_with(ix.shape):
                shape_error(op, f"data[{i}].shape = {fmt_shape(d.shape)} does not start with "
                                f"indices[{i}].shape = {fmt_shape(ix.shape)}")
            tail = merge_shapes(op, tail, d.shape[r:])
    values = [constant_value(ix) for ix in indices]
    rows = None
    if all(v is not None for v in values):
        rows = max((int(np.max(v)) + 1 for v in values if np.size(v)), default=0)
    return [(dt, TensorShape([rows]).concatenate(tail))]


register_op("DynamicStitch")(_dynamic_stitch_shape)
register_op("ParallelDynamicStitch")(_dynamic_stitch_shape)


def dynamic_stitch(indices, data, name=None):
    """TF1 `tf.dynamic_stitch`: `merged[indices[m][i]] = data[m][i]` (later entries win)."""
    return _stitch("DynamicStitch", indices, data, name)


def parallel_dynamic_stitch(indices, data, name=None):
    """TF1 `tf.parallel_dynamic_stitch` (which of duplicate indices wins is unspecified)."""
    return _stitch("ParallelDynamicStitch", indices, data, name)


def _stitch(op_type, indices, data, name):
    if len(indices) != len(data) or not indices:
        raise ValueError(f"{op_type} needs as many data tensors as index tensors (at least one), "
                         f"got {len(indices)} and {len(data)}")
    with name_scope(name, op_type, list(indices) + list(data)) as scope:
        ix = [convert_to_tensor(i, dtype=_dtypes.int32) for i in indices]
        ds = same_dtype_inputs(list(data), op_type)
        return op1(op_type, ix + ds, {"N": len(ix), "T": ds[0].dtype}, scope)
