"""Sparse ops: op definitions and TF1 wrappers taking `SparseTensor`s.

Op types, attrs and argument order follow TF1: `SparseToDense(sparse_indices, output_shape,
sparse_values, default_value)`, `SparseReorder(input_indices, input_values, input_shape)`,
`SparseTensorDenseMatMul(a_indices, a_values, a_shape, b)` and `SparseReduceSum(input_indices,
input_values, input_shape, reduction_axes)`.  A SparseTensor is passed as its three component
tensors; wrappers returning a sparse result wrap the outputs in a new `SparseTensor`.
`sparse_placeholder` makes the three placeholders a fed `SparseTensorValue` fills.

Kernels: `tensorweave/kernels/cpu/sparse.py`; gradients: `tensorweave/autodiff/sparse_grad.py`.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import Tensor, apply_op, name_scope
from ..framework.op_registry import register_op
from ..framework.sparse_tensor import SparseTensor, SparseTensorValue
from ..framework.tensor_shape import Dimension, TensorShape, dimension_value
from . import array_ops, indexing_ops, math_ops
from .constant_op import placeholder, placeholder_with_default
from .op_util import INDEX_TYPES, op1, shape_error

__all__ = ["sparse_placeholder", "sparse_tensor_to_dense", "sparse_to_dense", "sparse_reorder",
           "sparse_tensor_dense_matmul", "sparse_reduce_sum"]


def _rank_at_most(op, t, rank: int, what: str) -> None:
    if t.shape.ndims is not None and t.shape.ndims > rank:
        shape_error(op, f"Shape must be at most rank {rank} but is rank {t.shape.ndims} ({what})")


def check_rank(op, t, rank: int, what: str) -> TensorShape:
    """`t`'s static shape, checked to have rank `rank` (unknown dims where unknown)."""
    if t.shape.ndims is None:
        return TensorShape([None] * rank)
    if t.shape.ndims != rank:
        shape_error(op, f"Shape must be rank {rank} but is rank {t.shape.ndims} ({what})")
    return t.shape


def check_dtype_in(op, t, allowed, what: str) -> None:
    """TypeError naming the node unless `t.dtype` is one of `allowed`."""
    if t.dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"Input '{what}' of '{op.type}' Op (node '{op.name}') has type "
                        f"{t.dtype.name} not in the allowed types: {names}.")


def _same_dtype(op, a, b, an: str, bn: str) -> None:
    if a.dtype is not b.dtype:
        raise TypeError(f"Input '{bn}' of '{op.type}' Op (node '{op.name}') has type "
                        f"{b.dtype.name} that does not match type {a.dtype.name} of argument "
                        f"'{an}'.")


def _components(op) -> TensorShape:
    """Check a (indices, values, shape) triple at inputs 0-2; the static shape of `shape`."""
    indices, values, shape = op.inputs[:3]
    check_dtype_in(op, indices, (_dtypes.int64,), "indices")
    check_dtype_in(op, shape, (_dtypes.int64,), "shape")
    ishape = check_rank(op, indices, 2, "indices")
    vshape = check_rank(op, values, 1, "values")
    sshape = check_rank(op, shape, 1, "shape")
    if not ishape[0].is_compatible_with(vshape[0]):
        shape_error(op, f"Dimensions must be equal, but are {ishape[0]} and {vshape[0]} "
                        "(indices rows and values)")
    if not ishape[1].is_compatible_with(sshape[0]):
        shape_error(op, f"Dimensions must be equal, but are {ishape[1]} and {sshape[0]} "
                        "(indices columns and the rank in shape)")
    return ishape


def as_sparse_tensor(sp_input, what: str = "Input") -> SparseTensor:
    """`sp_input` (a SparseTensor or SparseTensorValue) as a SparseTensor; TypeError else."""
    if isinstance(sp_input, SparseTensorValue):
        return SparseTensor.from_value(sp_input)
    if not isinstance(sp_input, SparseTensor):
        raise TypeError(f"{what} must be a SparseTensor, got {type(sp_input).__name__}.")
    return sp_input


# ----------------------------------------------------------------------------------------------
# sparse_placeholder
# ----------------------------------------------------------------------------------------------
def sparse_placeholder(dtype, shape=None, name=None) -> SparseTensor:
    """TF1 `tf.sparse_placeholder`: a SparseTensor of three placeholders, fed as a whole.

    `values` is `name/values` ([None]), `indices` is `name/indices` (int64 [None, rank]) and
    `dense_shape` is `name/shape`: a plain int64 placeholder when `shape` is None, else a
    `placeholder_with_default` holding `shape` (None/-1 for unknown dims) that a feed overrides.
    The SparseTensor's static `.shape` is `shape`.
    """
    dtype = _dtypes.as_dtype(dtype)
    shape_name = f"{name}/shape" if name is not None else None
    default_name = f"{name}/shape_default" if name is not None else None
    if shape is None:
        rank = None
        dense_shape = placeholder(_dtypes.int64, [None], name=shape_name)
        static = TensorShape(None)
    elif isinstance(shape, Tensor):
        rank = dimension_value(shape.shape[0]) if shape.shape.ndims == 1 else None
        static = constant_value_as_shape(shape)
        dense_shape = placeholder_with_default(shape, shape.shape, name=shape_name)
    else:
        dims = [dimension_value(d) if isinstance(d, Dimension) else d
                for d in (shape.as_list() if isinstance(shape, TensorShape) else list(shape))]
        rank = len(dims)
        static = TensorShape([None if d is None or d == -1 else int(d) for d in dims])
        default = convert_to_tensor([-1 if d is None else int(d) for d in dims],
                                    dtype=_dtypes.int64, name=default_name)
        dense_shape = placeholder_with_default(default, [rank], name=shape_name)
    st = SparseTensor(
        values=placeholder(dtype, [None], name=f"{name}/values" if name is not None else None),
        indices=placeholder(_dtypes.int64, [None, rank],
                            name=f"{name}/indices" if name is not None else None),
        dense_shape=dense_shape)
    st._dense_shape_default = static
    return st


# ----------------------------------------------------------------------------------------------
# SparseToDense
# ----------------------------------------------------------------------------------------------
@register_op("SparseToDense")
def _sparse_to_dense_shape(op):
    indices, output_shape, values, default = op.inputs
    check_dtype_in(op, indices, INDEX_TYPES, "sparse_indices")
    _same_dtype(op, indices, output_shape, "sparse_indices", "output_shape")
    _same_dtype(op, values, default, "sparse_values", "default_value")
    _rank_at_most(op, indices, 2, "sparse_indices")
    check_rank(op, output_shape, 1, "output_shape")
    _rank_at_most(op, values, 1, "sparse_values")
    check_rank(op, default, 0, "default_value")
    out = constant_value_as_shape(output_shape)
    cols = indices.shape[1].value if indices.shape.ndims == 2 else None
    if out.ndims is not None and cols is not None and cols != out.ndims:
        shape_error(op, f"sparse_indices has {cols} columns but output_shape has {out.ndims} "
                        "elements")
    return [(values.dtype, out)]


def _to_dense(indices, output_shape, values, default_value, validate_indices, name):
    with name_scope(name, "SparseToDense", [indices, output_shape, values]) as scope:
        i = convert_to_tensor(indices, name="sparse_indices")
        if i.dtype not in INDEX_TYPES:
            raise TypeError(f"sparse_indices must be int32 or int64, got {i.dtype.name}")
        s = convert_to_tensor(output_shape, name="output_shape",
                              dtype=None if isinstance(output_shape, Tensor) else i.dtype)
        v = convert_to_tensor(values, name="sparse_values")
        d = array_ops.zeros([], dtype=v.dtype) if default_value is None else \
            convert_to_tensor(default_value, dtype=v.dtype, name="default_value")
        return op1("SparseToDense", [i, s, v, d],
                   {"T": v.dtype, "Tindices": i.dtype,
                    "validate_indices": bool(validate_indices)}, scope)


def sparse_to_dense(sparse_indices, output_shape, sparse_values, default_value=0,
                    validate_indices=True, name=None):
    """TF1 `tf.sparse_to_dense` (legacy): a dense `output_shape` tensor that is `sparse_values`
    at `sparse_indices` and `default_value` elsewhere.

    `sparse_indices` is a scalar, a vector (1-D output) or a matrix [N, rank]; `sparse_values`
    a scalar (used for every index) or a vector [N].  With `validate_indices`, indices must be
    in lexicographic order without repeats (else InvalidArgumentError at run time); indices out
    of bounds always fail.
    """
    return _to_dense(sparse_indices, output_shape, sparse_values, default_value,
                     validate_indices, name)


def sparse_tensor_to_dense(sp_input, default_value=0, validate_indices=True, name=None):
    """TF1 `tf.sparse.to_dense` / `tf.sparse_tensor_to_dense`: the dense tensor `sp_input`
    stands for, `default_value` (0; None means 0 too) where it has no value.

    With `validate_indices` (default), the indices must be in row-major order without repeats
    -- use `tw.sparse.reorder` first otherwise -- and an index out of bounds raises
    `InvalidArgumentError` when the step runs.
    """
    sp = as_sparse_tensor(sp_input)
    return _to_dense(sp.indices, sp.dense_shape, sp.values, default_value, validate_indices,
                     name)


# ----------------------------------------------------------------------------------------------
# SparseReorder
# ----------------------------------------------------------------------------------------------
@register_op("SparseReorder")
def _sparse_reorder_shape(op):
    ishape = _components(op)
    return [(_dtypes.int64, ishape), (op.inputs[1].dtype, TensorShape([ishape[0]]))]


def sparse_reorder(sp_input, name=None) -> SparseTensor:
    """TF1 `tf.sparse.reorder`: the same SparseTensor with its entries in row-major order."""
    sp = as_sparse_tensor(sp_input)
    ind, val = apply_op("SparseReorder", [sp.indices, sp.values, sp.dense_shape],
                        {"T": sp.dtype}, name or "SparseReorder").outputs
    static = sp.get_shape()
    dense_shape = static.as_list() if static.is_fully_defined() else \
        array_ops.identity(sp.dense_shape)
    return SparseTensor(ind, val, dense_shape)


# ----------------------------------------------------------------------------------------------
# SparseTensorDenseMatMul
# ----------------------------------------------------------------------------------------------
@register_op("SparseTensorDenseMatMul")
def _sparse_dense_matmul_shape(op):
    a_indices, a_values, a_shape, b = op.inputs
    check_dtype_in(op, a_indices, INDEX_TYPES, "a_indices")
    check_dtype_in(op, a_shape, (_dtypes.int64,), "a_shape")
    _same_dtype(op, a_values, b, "a_values", "b")
    check_rank(op, a_indices, 2, "a_indices")
    check_rank(op, a_values, 1, "a_values")
    sa = constant_value_as_shape(a_shape)
    if sa.ndims is not None and sa.ndims != 2:
        shape_error(op, f"Shape must be rank 2 but is rank {sa.ndims} (a_shape)")
    if sa.ndims is None:
        sa = TensorShape([None, None])
    sb = check_rank(op, b, 2, "b")
    adj_a, adj_b = op.get_attr("adjoint_a"), op.get_attr("adjoint_b")
    inner_a, inner_b = sa[0 if adj_a else 1], sb[1 if adj_b else 0]
    if not inner_a.is_compatible_with(inner_b):
        shape_error(op, f"Dimensions must be equal, but are {inner_a} and {inner_b}")
    return [(a_values.dtype, TensorShape([sa[1 if adj_a else 0], sb[0 if adj_b else 1]]))]


def sparse_dense_matmul_op(a_indices, a_values, a_shape, b, adjoint_a=False, adjoint_b=False,
                           name=None) -> Tensor:
    """The `SparseTensorDenseMatMul` node on the components of A (gradients use it too)."""
    return op1("SparseTensorDenseMatMul", [a_indices, a_values, a_shape, b],
               {"T": a_values.dtype, "Tindices": a_indices.dtype,
                "adjoint_a": bool(adjoint_a), "adjoint_b": bool(adjoint_b)},
               name or "SparseTensorDenseMatMul")


def sparse_tensor_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """TF1 `tf.sparse.sparse_dense_matmul` / `tf.sparse_tensor_dense_matmul`: op(A) @ op(B)
    for a rank-2 SparseTensor A and a dense matrix B (op = adjoint when asked).

    Repeated indices of A add up; indices need not be ordered.  Gradients flow to A's values
    and to B.
    """
    sp = as_sparse_tensor(sp_a, "sp_a")
    with name_scope(name, "SparseTensorDenseMatMul", [sp.indices, sp.values, b]):
        b = convert_to_tensor(b, name="b")
        return sparse_dense_matmul_op(sp.indices, sp.values, sp.dense_shape, b, adjoint_a,
                                      adjoint_b)


# ----------------------------------------------------------------------------------------------
# SparseReduceSum
# ----------------------------------------------------------------------------------------------
@register_op("SparseReduceSum")
def _sparse_reduce_sum_shape(op):
    _components(op)
    values, shape, axes = op.inputs[1:]
    check_dtype_in(op, axes, (_dtypes.int32,), "reduction_axes")
    keep = op.get_attr("keep_dims")
    sv, av = constant_value(shape), constant_value(axes)
    if sv is None or av is None:
        return [(values.dtype, TensorShape(None))]
    rank = len(sv)
    red = set()
    for a in np.reshape(av, -1):
        if not -rank <= a < rank:
            shape_error(op, f"Invalid reduction dimension {int(a)}, for input with {rank} "
                            "dimensions")
        red.add(int(a) % rank)
    dims = [1 if d in red else int(sv[d]) for d in range(rank) if keep or d not in red]
    return [(values.dtype, TensorShape(dims))]


def _reduction_axes(sp: SparseTensor, axis) -> Tensor:
    if axis is not None:
        return convert_to_tensor(axis, dtype=_dtypes.int32, name="reduction_axes")
    rank = sp.dense_shape.shape[0].value if sp.dense_shape.shape.ndims == 1 else None
    if rank is not None:
        return convert_to_tensor(np.arange(rank, dtype=np.int32))
    return math_ops.range(0, array_ops.size(sp.dense_shape))


def sparse_reduce_sum(sp_input, axis=None, keepdims=None, reduction_axes=None, keep_dims=None):
    """TF1 `tf.sparse.reduce_sum` / `tf.sparse_reduce_sum`: the sum of `sp_input` over `axis`
    (all axes when None), as a dense tensor; missing entries count as zero."""
    if keepdims is not None and keep_dims is not None:
        raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
    if axis is not None and reduction_axes is not None:
        raise ValueError("Cannot specify both 'axis' and 'reduction_axes'.")
    keepdims = bool(keepdims if keepdims is not None else keep_dims)
    axis = axis if axis is not None else reduction_axes
    sp = as_sparse_tensor(sp_input)
    axes = _reduction_axes(sp, axis)
    return op1("SparseReduceSum", [sp.indices, sp.values, sp.dense_shape, axes],
               {"T": sp.dtype, "keep_dims": keepdims}, "SparseReduceSum")


# ----------------------------------------------------------------------------------------------
# from_dense (composite)
# ----------------------------------------------------------------------------------------------
def from_dense(tensor, name=None) -> SparseTensor:
    """TF `tf.sparse.from_dense`: the SparseTensor of the non-zero entries of `tensor`."""
    with name_scope(name, "dense_to_sparse", [tensor]):
        x = convert_to_tensor(tensor)
        indices = array_ops.where_v2(math_ops.not_equal(x, array_ops.zeros_like(x)))
        values = indexing_ops.gather_nd(x, indices)
        shape = array_ops.shape(x, out_type=_dtypes.int64)
        return SparseTensor(indices, values, shape)
