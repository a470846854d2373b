"""Array ops: shapes, reshaping, slicing, joining, gathering and scattering, masks, padding.

Each op type is registered once with its shape function (which also validates the inputs and
raises `ValueError`/`TypeError` naming the node and the input shapes), followed by its TF1 Python
wrapper.  Wrappers create their index inputs (axis, perm, paddings, ...) inside the op's name scope,
so the graph reads as in TF1 (`GatherV2/axis`, `transpose/perm`).  This module also installs
`Tensor.__getitem__` (numpy-style indexing through `StridedSlice`) and TF1's auto-packing of lists
that contain tensors (`convert_to_tensor([t, 1.0])` is a `Pack`), and teaches `constant_value` to
fold small integer array ops (so `reshape(x, [tw.shape(x)[0], -1])` keeps a static shape).

Kernels: `tensorweave/kernels/cpu/array.py`; gradients: `tensorweave/autodiff/array_grad.py`.
"""
from __future__ import annotations

import builtins
import collections
import numbers
import sys
import types

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import (
    constant_value,
    constant_value_as_shape,
    convert_to_tensor,
    register_constant_value_rule,
    register_tensor_conversion_function,
)
from ..framework.graph import Tensor, apply_op, name_scope
from ..framework.op_registry import register_op
from ..framework.slicing import SS_MASKS as _SS_MASKS
from ..framework.slicing import strided_slice_spec
from ..framework.tensor_shape import Dimension, TensorShape, as_shape
from .op_util import broadcast_static, fmt_shape, op1, same_dtype_inputs, unchanged_shape

__all__ = ["identity", "stop_gradient", "shape", "size", "rank", "fill", "zeros", "ones",
           "zeros_like", "ones_like", "reshape", "broadcast_to", "broadcast_gradient_args",
           "transpose", "concat", "split", "stack", "unstack", "expand_dims", "squeeze", "tile",
           "pad", "reverse", "reverse_v2", "gather", "gather_nd", "scatter_nd", "one_hot",
           "where", "where_v2", "slice", "strided_slice", "boolean_mask", "sequence_mask",
           "unique", "invert_permutation", "meshgrid", "shape_n", "identity_n", "newaxis",
           "dynamic_partition", "dynamic_stitch", "parallel_dynamic_stitch"]

#: `t[:, tw.newaxis]` inserts an axis of size 1 (TF1 `tf.newaxis`).
newaxis = None

_INDEX_TYPES = (_dtypes.int32, _dtypes.int64)


# ----------------------------------------------------------------------------------------------
# helpers shared by the shape functions and wrappers
# ----------------------------------------------------------------------------------------------
def _fail(op, msg: str, exc=ValueError):
    """Raise `exc` in TF's shape-error format: message, node, op type, input shapes."""
    shapes = ", ".join(fmt_shape(t.shape) for t in op.inputs)
    raise exc(f"{msg} for '{op.name}' (op: '{op.type}') with input shapes: {shapes}.")


def _check_index_input(op, t, arg: str) -> None:
    if t.dtype not in _INDEX_TYPES:
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {t.dtype.name} not in "
                        f"list of allowed values: int32, int64 (node '{op.name}', op "
                        f"'{op.type}')")


def _check_rank(op, t, rank: int, arg: str) -> None:
    if t.shape.ndims is not None and t.shape.ndims != rank:
        _fail(op, f"Shape must be rank {rank} but is rank {t.shape.ndims} for input '{arg}'")


def _const_ints(t):
    """The values of an integer tensor fixed by the graph, as a list of ints (else None)."""
    v = constant_value(t)
    return None if v is None else [int(a) for a in np.reshape(v, -1)]


def _const_int(t):
    v = _const_ints(t)
    return v[0] if v is not None and len(v) == 1 else None


def _merge(op, a: TensorShape, b: TensorShape, note: str = "") -> TensorShape:
    """Merge two static shapes with TF's error messages."""
    if a.ndims is None:
        return b
    if b.ndims is None:
        return a
    if a.ndims != b.ndims:
        _fail(op, f"Shapes must be equal rank, but are {a.ndims} and {b.ndims}{note}")
    out = []
    for i, (x, y) in enumerate(zip(a.as_list(), b.as_list())):
        if x is not None and y is not None and x != y:
            _fail(op, f"Dimension {i} in both shapes must be equal, but are {x} and {y}. Shapes "
                      f"are {fmt_shape(a)} and {fmt_shape(b)}.{note}")
        out.append(x if x is not None else y)
    return TensorShape(out)


def _py_ints(value):
    """`value` with TensorShapes and Dimensions replaced by ints (so it converts to a tensor)."""
    if isinstance(value, TensorShape):
        return value.as_list()
    if isinstance(value, Dimension):
        return value.value
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Dimension, list, tuple))
                                                 for v in value):
        return [_py_ints(v) for v in value]
    return value


def _index(value, name: str, dtype=None) -> Tensor:
    """An int32/int64 tensor (axis, perm, paddings, ...) from a python value or tensor."""
    return convert_to_tensor(_py_ints(value), dtype=dtype, name=name)


def _shape_of(t, out_type=_dtypes.int32) -> Tensor:
    """`t`'s shape as a tensor: a constant when static, else a `Shape` node."""
    if t.shape.is_fully_defined():
        from .constant_op import constant
        return constant(t.shape.as_list(), dtype=out_type, name="Shape")
    return shape(t, out_type=out_type)


# ----------------------------------------------------------------------------------------------
# identity-like
# ----------------------------------------------------------------------------------------------
register_op("Identity", may_alias=True)(unchanged_shape)
register_op("StopGradient", may_alias=True)(unchanged_shape)


def identity(input, name=None):  # noqa: A002 - TF1 argument name
    """A tensor with the same value as `input` (TF1 `tf.identity`)."""
    x = convert_to_tensor(input)
    return op1("Identity", [x], {"T": x.dtype}, name or "Identity")


def stop_gradient(input, name=None):  # noqa: A002
    """`input` unchanged, but no gradient flows through it."""
    x = convert_to_tensor(input)
    return op1("StopGradient", [x], {"T": x.dtype}, name or "StopGradient")


# ----------------------------------------------------------------------------------------------
# shape queries
# ----------------------------------------------------------------------------------------------
def _out_type(op):
    return op._attrs.get("out_type", _dtypes.int32)


@register_op("Shape")
def _shape_shape(op):
    x = op.inputs[0]
    return [(_out_type(op), TensorShape([x.shape.ndims]))]


@register_op("Size")
def _size_shape(op):
    return [(_out_type(op), TensorShape([]))]


@register_op("Rank")
def _rank_shape(op):
    return [(_dtypes.int32, TensorShape([]))]


def shape(input, name=None, out_type=_dtypes.int32):  # noqa: A002
    """The shape of `input` as a 1-D int tensor."""
    x = convert_to_tensor(input)
    return op1("Shape", [x], {"T": x.dtype, "out_type": _dtypes.as_dtype(out_type)},
               name or "Shape")


def size(input, name=None, out_type=_dtypes.int32):  # noqa: A002
    x = convert_to_tensor(input)
    return op1("Size", [x], {"T": x.dtype, "out_type": _dtypes.as_dtype(out_type)},
               name or "Size")


def rank(input, name=None):  # noqa: A002
    x = convert_to_tensor(input)
    return op1("Rank", [x], {"T": x.dtype}, name or "Rank")


# ----------------------------------------------------------------------------------------------
# filling
# ----------------------------------------------------------------------------------------------
@register_op("Fill")
def _fill_shape(op):
    dims, value = op.inputs
    if not dims.dtype.is_integer:
        raise TypeError(f"Fill dims must be int32 or int64, got {dims.dtype.name}")
    if value.shape.ndims not in (None, 0):
        raise ValueError(f"Fill value must be a scalar, got shape {fmt_shape(value.shape)} for "
                         f"'{op.name}'")
    return [(value.dtype, constant_value_as_shape(dims))]


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with the scalar `value`."""
    with name_scope(name, "Fill", [dims, value]) as scope:
        dims = _shape_tensor(dims, "dims")
        value = convert_to_tensor(value, name="value")
        return op1("Fill", [dims, value], {"T": value.dtype, "index_type": dims.dtype}, scope)


def _shape_tensor(shape, name="shape"):
    """A 1-D int tensor for a shape given as a tensor, TensorShape or list (maybe of tensors)."""
    if _is_tensor_like(shape):
        return convert_to_tensor(shape)
    shape = _py_ints(shape)
    if isinstance(shape, (list, tuple)) and _contains_tensor(shape):
        return convert_to_tensor(shape, name=name)
    return convert_to_tensor(shape, dtype=_dtypes.int32 if not _is_big(shape) else _dtypes.int64,
                             name=name)


def _is_big(shape) -> bool:
    try:
        return any(int(d) >= 2**31 for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        return False


def _filled(shape, value, dtype, scope):
    """TF1's zeros/ones: a Const when the shape is static and small, else a Fill."""
    from .constant_op import constant
    py = None if _is_tensor_like(shape) else _py_ints(shape)
    if py is not None and not (isinstance(py, (list, tuple)) and _contains_tensor(py)):
        dims = [int(d) for d in np.reshape(np.asarray(py, dtype=np.int64), -1)]
        if int(np.prod(dims, dtype=np.int64)) < 1000:
            return constant(value, dtype=dtype, shape=dims, name=scope)
    return fill(_shape_tensor(shape), constant(value, dtype=dtype), name=scope)


def zeros(shape, dtype=_dtypes.float32, name=None):
    """TF1 `tf.zeros`."""
    dtype = _dtypes.as_dtype(dtype)
    with name_scope(name, "zeros", [shape]) as scope:
        zero = "" if dtype is _dtypes.string else (False if dtype is _dtypes.bool else 0)
        return _filled(shape, zero, dtype, scope)


def ones(shape, dtype=_dtypes.float32, name=None):
    """TF1 `tf.ones`."""
    dtype = _dtypes.as_dtype(dtype)
    with name_scope(name, "ones", [shape]) as scope:
        return _filled(shape, True if dtype is _dtypes.bool else 1, dtype, scope)


register_op("ZerosLike")(unchanged_shape)
register_op("OnesLike")(unchanged_shape)


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    x = convert_to_tensor(tensor)
    if dtype is not None and _dtypes.as_dtype(dtype) is not x.dtype:
        return zeros(shape(x), dtype=dtype, name=name)
    return op1("ZerosLike", [x], {"T": x.dtype}, name or "zeros_like")


def ones_like(tensor, dtype=None, name=None, optimize=True):
    x = convert_to_tensor(tensor)
    if dtype is not None and _dtypes.as_dtype(dtype) is not x.dtype:
        return ones(shape(x), dtype=dtype, name=name)
    return op1("OnesLike", [x], {"T": x.dtype}, name or "ones_like")


# ----------------------------------------------------------------------------------------------
# reshape
# ----------------------------------------------------------------------------------------------
@register_op("Reshape", may_alias=True)
def _reshape_shape(op):
    x, s = op.inputs
    if not s.dtype.is_integer:
        raise TypeError(f"Reshape shape must be int32 or int64, got {s.dtype.name}")
    target = constant_value_as_shape(s)
    cv = constant_value(s)
    if target.ndims is None:
        return [(x.dtype, target)]
    dims = target.as_list()
    n_in = x.shape.num_elements()
    if cv is not None:
        cv = [int(d) for d in np.asarray(cv).reshape(-1)]
        if sum(1 for d in cv if d == -1) > 1:
            raise ValueError(f"Cannot reshape: more than one -1 in shape {cv} for '{op.name}'")
        if n_in is not None:
            known = int(np.prod([d for d in cv if d != -1], dtype=np.int64))
            if -1 in cv:
                if known == 0 or n_in % known:
                    raise ValueError(f"Cannot reshape a tensor with {n_in} elements to shape "
                                     f"{cv} for '{op.name}' (op: 'Reshape') with input shapes: "
                                     f"{fmt_shape(x.shape)}, [{len(cv)}].")
                dims = [n_in // known if d == -1 else d for d in cv]
            elif known != n_in:
                raise ValueError(f"Cannot reshape a tensor with {n_in} elements to shape {cv} "
                                 f"({known} elements) for '{op.name}' (op: 'Reshape') with input "
                                 f"shapes: {fmt_shape(x.shape)}, [{len(cv)}].")
    elif n_in is not None and dims.count(None) == 1:
        known = int(np.prod([d for d in dims if d is not None], dtype=np.int64))
        if known and n_in % known == 0:
            dims = [n_in // known if d is None else d for d in dims]
    return [(x.dtype, TensorShape(dims))]


def reshape(tensor, shape, name=None):  # noqa: A002
    """TF1 `tf.reshape` (one dimension may be -1)."""
    with name_scope(name, "Reshape", [tensor, shape]) as scope:
        x = convert_to_tensor(tensor, name="tensor")
        s = _shape_tensor(shape)
        return op1("Reshape", [x, s], {"T": x.dtype, "Tshape": s.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# broadcasting
# ----------------------------------------------------------------------------------------------
@register_op("BroadcastTo", may_alias=True)
def _broadcast_to_shape(op):
    x, s = op.inputs
    target = constant_value_as_shape(s)
    if target.ndims is not None and x.shape.ndims is not None:
        from .op_util import broadcast_static
        out = broadcast_static(x.shape, target, op)
        if out.ndims != target.ndims:
            raise ValueError(f"Cannot broadcast shape {fmt_shape(x.shape)} to "
                             f"{fmt_shape(target)} for '{op.name}'")
        target = target.merge_with(out) if target.is_compatible_with(out) else target
    return [(x.dtype, target)]


def broadcast_to(input, shape, name=None):  # noqa: A002
    """`input` broadcast (numpy rules) to `shape`."""
    x = convert_to_tensor(input)
    s = _shape_tensor(shape)
    if x.shape.is_fully_defined() and constant_value(s) is not None and \
            x.shape.as_list() == [int(d) for d in constant_value(s)]:
        return x
    return op1("BroadcastTo", [x, s], {"T": x.dtype, "Tidx": s.dtype}, name or "BroadcastTo")


@register_op("BroadcastGradientArgs")
def _bga_shape(op):
    a, b = op.inputs
    return [(a.dtype, TensorShape([None])), (a.dtype, TensorShape([None]))]


def broadcast_gradient_args(s0, s1, name=None):
    """The axes to sum over to undo broadcasting of shapes `s0` and `s1` to their union."""
    s0 = convert_to_tensor(s0)
    s1 = convert_to_tensor(s1, dtype=s0.dtype)
    return apply_op("BroadcastGradientArgs", [s0, s1], {"T": s0.dtype},
                    name or "BroadcastGradientArgs").outputs


@register_op("ReducedShape")
def _reduced_shape_shape(op):
    s = op.inputs[0]
    return [(s.dtype, s.shape)]


def reduced_shape(input_shape, axes, name=None):
    """`input_shape` with the entries at `axes` set to 1 (the keepdims shape of a reduction)."""
    input_shape = convert_to_tensor(input_shape)
    axes = convert_to_tensor(axes, dtype=input_shape.dtype) if not hasattr(axes, "op") else axes
    return op1("ReducedShape", [input_shape, axes], {"T": input_shape.dtype},
               name or "ReducedShape")


# ----------------------------------------------------------------------------------------------
# transpose
# ----------------------------------------------------------------------------------------------
@register_op("Transpose", may_alias=True)
def _transpose_shape(op):
    x, perm = op.inputs
    _check_index_input(op, perm, "perm")
    _check_rank(op, perm, 1, "perm")
    r = x.shape.ndims
    n = perm.shape[0].value if perm.shape.ndims == 1 else None
    if r is not None and n is not None and r != n:
        _fail(op, f"Dimension must be {r} but is {n}")
    p = _const_ints(perm)
    if p is None:
        rank_ = r if r is not None else n
        return [(x.dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    for d in p:
        if d < 0 or d >= len(p):
            _fail(op, f"perm dim {d} is out of range of input rank {len(p)}")
    for i in range(len(p)):
        if i not in p:
            _fail(op, f"{i} is missing from {{{','.join(str(d) for d in p)}}}")
    dims = x.shape.as_list() if r is not None else [None] * len(p)
    return [(x.dtype, TensorShape([dims[d] for d in p]))]


register_op("ConjugateTranspose")(_transpose_shape)


def transpose(a, perm=None, name="transpose", conjugate=False):
    """TF1 `tf.transpose`: permute the dimensions of `a` (reversed when `perm` is None)."""
    with name_scope(name, "transpose", [a]) as scope:
        x = convert_to_tensor(a, name="a")
        if perm is None:
            r = x.shape.ndims
            if r is None:
                from . import math_ops
                rk = rank(x)
                perm = math_ops.subtract(math_ops.subtract(rk, 1), math_ops.range(0, rk, 1))
            else:
                perm = (r - 1) - np.arange(r, dtype=np.int64)
        perm = _index(perm, "perm")
        op_type = "ConjugateTranspose" if conjugate and x.dtype.is_complex else "Transpose"
        return op1(op_type, [x, perm], {"T": x.dtype, "Tperm": perm.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# concat / split / stack / unstack
# ----------------------------------------------------------------------------------------------
@register_op("ConcatV2")
def _concat_shape(op):
    *vals, axis = op.inputs
    _check_index_input(op, axis, "axis")
    _check_rank(op, axis, 0, "axis")
    dt = vals[0].dtype
    for i, v in enumerate(vals):
        if v.dtype is not dt:
            raise TypeError(f"Input {i} of '{op.name}' (ConcatV2) has type {v.dtype.name} that "
                            f"does not match type {dt.name} of input 0.")
    ranks = [v.shape.ndims for v in vals if v.shape.ndims is not None]
    if not ranks:
        return [(dt, TensorShape(None))]
    r = ranks[0]
    for v in vals:
        if v.shape.ndims is not None and v.shape.ndims != r:
            _fail(op, f"Shape must be rank {r} but is rank {v.shape.ndims}")
    if r == 0:
        _fail(op, "Can't concatenate scalars (use tw.stack instead)")
    a = _const_int(axis)
    if a is None:
        return [(dt, TensorShape([None] * r))]
    if not -r <= a < r:
        _fail(op, f"Expected concatenating dimensions in the range [{-r}, {r}), but got {a}")
    a %= r
    out = None
    total = 0
    for v in vals:
        if v.shape.ndims is None:
            total = None
            continue
        d = v.shape.as_list()
        total = None if total is None or d[a] is None else total + d[a]
        if out is None:
            out = d
            first = v.shape
            continue
        for i, (x, y) in enumerate(zip(out, d)):
            if i == a:
                continue
            if x is not None and y is not None and x != y:
                _fail(op, f"Dimension {i} in both shapes must be equal, but are {x} and {y}. "
                          f"Shapes are {fmt_shape(first)} and {fmt_shape(v.shape)}")
            out[i] = x if x is not None else y
    out[a] = total
    return [(dt, TensorShape(out))]


def concat(values, axis, name="concat"):
    """TF1 `tf.concat`: join `values` along `axis` (a single value passes through Identity)."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    if len(values) == 1:
        with name_scope(name):
            ax = convert_to_tensor(_py_ints(axis), name="concat_dim", dtype=_dtypes.int32)
            ax.shape.assert_has_rank(0)
            return identity(values[0], name=name)
    with name_scope(name, "concat", list(values)) as scope:
        vals = same_dtype_inputs([_py_ints(v) for v in values], "ConcatV2")
        ax = _index(axis, "axis")
        return op1("ConcatV2", vals + [ax], {"N": len(vals), "T": vals[0].dtype,
                                             "Tidx": ax.dtype}, scope)


@register_op("Split", may_alias=True)
def _split_shape(op):
    axis, x = op.inputs
    n = op.get_attr("num_split")
    if axis.dtype is not _dtypes.int32:
        _check_index_input(op, axis, "split_dim")
    _check_rank(op, axis, 0, "split_dim")
    if n < 1:
        _fail(op, f"num_split must be at least 1, got {n}")
    r = x.shape.ndims
    a = _const_int(axis)
    if r is None:
        return [(x.dtype, TensorShape(None))] * n
    if a is None:
        return [(x.dtype, TensorShape([None] * r))] * n
    if not -r <= a < r:
        _fail(op, f"Expected split_dim in the range [{-r}, {r}), but got {a}")
    dims = x.shape.as_list()
    d = dims[a % r]
    if d is not None and d % n:
        _fail(op, f"Dimension size must be evenly divisible by {n} but is {d}")
    dims[a % r] = None if d is None else d // n
    return [(x.dtype, TensorShape(dims))] * n


def _split_sizes(sizes: list, d, op=None):
    """Split sizes with the one -1 resolved (when `d` is known); TF's checks."""
    neg = [i for i, s in enumerate(sizes) if s == -1]
    if len(neg) > 1:
        raise ValueError(f"Only one dimensions can have a value of -1. Second one found at "
                         f"dimension {neg[1]}")
    for s in sizes:
        if s < -1:
            raise ValueError(f"Split sizes must be non-negative or -1, got {sizes}")
    known = sum(s for s in sizes if s != -1)
    if d is None:
        return [None if s == -1 else s for s in sizes]
    if (not neg and known != d) or (neg and known > d):
        raise ValueError("Determined shape must either match input shape along split_dim "
                         "exactly if fully specified, or be less than the size of the input "
                         f"along split_dim if not fully specified.  Got: {known}")
    return [d - known if s == -1 else s for s in sizes]


@register_op("SplitV", may_alias=True)
def _splitv_shape(op):
    x, size_splits, axis = op.inputs
    n = op.get_attr("num_split")
    _check_index_input(op, size_splits, "size_splits")
    _check_index_input(op, axis, "split_dim")
    _check_rank(op, size_splits, 1, "size_splits")
    _check_rank(op, axis, 0, "split_dim")
    k = size_splits.shape[0].value if size_splits.shape.ndims == 1 else None
    if k is not None and k != n:
        _fail(op, f"size_splits has {k} entries but num_split is {n}")
    r = x.shape.ndims
    if r is None:
        return [(x.dtype, TensorShape(None))] * n
    a = _const_int(axis)
    sizes = _const_ints(size_splits)
    if a is None:
        return [(x.dtype, TensorShape([None] * r))] * n
    if not -r <= a < r:
        _fail(op, f"Expected split_dim in the range [{-r}, {r}), but got {a}")
    a %= r
    dims = x.shape.as_list()
    if sizes is None:
        sizes = [None] * n
    else:
        try:
            sizes = _split_sizes(sizes, dims[a])
        except ValueError as e:
            _fail(op, str(e))
    out = []
    for s in sizes:
        d = list(dims)
        d[a] = s
        out.append((x.dtype, TensorShape(d)))
    return out


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """TF1 `tf.split`: `num_or_size_splits` pieces of equal size, or pieces of the given sizes
    (one size may be -1) along `axis`."""
    n = num_or_size_splits
    if isinstance(n, (numbers.Integral, Dimension)) and not isinstance(n, bool):
        n = int(n)
        with name_scope(name, "split", [value]) as scope:
            ax = _index(axis, "split_dim")
            x = convert_to_tensor(value, name="value")
            return apply_op("Split", [ax, x], {"num_split": n, "T": x.dtype}, scope).outputs
    size_splits = _index(n, "Const")
    if size_splits.shape.ndims == 0:
        raise ValueError("Rank-0 tensors are not supported as the num_or_size_splits argument "
                         f"to split. Argument provided: {num_or_size_splits}")
    if num is None:
        if size_splits.shape.ndims is not None:
            num = size_splits.shape[0].value
        if num is None:
            raise ValueError(f"Cannot infer num from shape {num_or_size_splits}")
    with name_scope(name, "split", [value, size_splits]) as scope:
        x = convert_to_tensor(value, name="value")
        ax = _index(axis, "split_dim")
        return apply_op("SplitV", [x, size_splits, ax],
                        {"num_split": int(num), "T": x.dtype, "Tlen": size_splits.dtype},
                        scope).outputs


@register_op("Pack")
def _pack_shape(op):
    vals = op.inputs
    axis = op.get_attr("axis")
    dt = vals[0].dtype
    s = TensorShape(None)
    for i, v in enumerate(vals):
        if v.dtype is not dt:
            raise TypeError(f"Input {i} of '{op.name}' (Pack) has type {v.dtype.name} that does "
                            f"not match type {dt.name} of input 0.")
        s = _merge(op, s, v.shape, f"\n\tFrom merging shape {i} with other shapes.")
    if s.ndims is None:
        return [(dt, TensorShape(None))]
    r = s.ndims + 1
    if not -r <= axis < r:
        _fail(op, f"Invalid axis: {axis}; must be in [{-r},{r})")
    dims = s.as_list()
    dims.insert(axis % r, len(vals))
    return [(dt, TensorShape(dims))]


def stack(values, axis=0, name="stack"):
    """TF1 `tf.stack`: stack a list of rank-R tensors into one rank-(R+1) tensor."""
    if axis == 0:
        try:
            return convert_to_tensor(values, name=name)
        except (TypeError, ValueError):
            pass
    v0 = values[0]
    if isinstance(v0, Tensor) or hasattr(v0, "_as_graph_element"):
        s0 = convert_to_tensor(v0).shape
        nd = s0.ndims
    else:
        nd = np.ndim(_py_ints(v0))
    if nd is not None:
        if axis < -(nd + 1) or axis >= nd + 1:
            raise ValueError(f"axis = {axis} not in [{-(nd + 1)}, {nd + 1})")
    with name_scope(name, "stack", list(values)) as scope:
        vals = same_dtype_inputs([_py_ints(v) for v in values], "Pack")
        return op1("Pack", vals, {"N": len(vals), "T": vals[0].dtype, "axis": int(axis)}, scope)


@register_op("Unpack", may_alias=True)
def _unpack_shape(op):
    x = op.inputs[0]
    num, axis = op.get_attr("num"), op.get_attr("axis")
    r = x.shape.ndims
    if r is None:
        return [(x.dtype, TensorShape(None))] * num
    if not -r <= axis < r:
        _fail(op, f"axis = {axis} not in [{-r}, {r})")
    dims = x.shape.as_list()
    d = dims.pop(axis % r)
    if d is not None and d != num:
        _fail(op, f"Dimension must be {num} but is {d}")
    return [(x.dtype, TensorShape(dims))] * num


def unstack(value, num=None, axis=0, name="unstack"):
    """TF1 `tf.unstack`: the `num` slices of `value` along `axis`."""
    x = convert_to_tensor(value)
    s = x.shape
    if num is None:
        if s.ndims is not None:
            if axis < -s.ndims or axis >= s.ndims:
                raise ValueError(f"axis = {axis} not in [{-s.ndims}, {s.ndims})")
            num = s[axis].value
        if num is None:
            raise ValueError(f"Cannot infer num from shape {s}")
    return apply_op("Unpack", [x], {"num": int(num), "T": x.dtype, "axis": int(axis)},
                    name or "unstack").outputs


# ----------------------------------------------------------------------------------------------
# auto-packing: convert_to_tensor([t, 1.0, ...]) is a Pack
# ----------------------------------------------------------------------------------------------
def _is_tensor_like(x) -> bool:
    return isinstance(x, Tensor) or hasattr(x, "_as_graph_element")


def _contains_tensor(v) -> bool:
    for e in v:
        if _is_tensor_like(e) or (isinstance(e, (list, tuple)) and _contains_tensor(e)):
            return True
    return False


def _nested_dtype(v):
    for e in v:
        if _is_tensor_like(e):
            return convert_to_tensor(e).dtype
        if isinstance(e, (list, tuple)):
            d = _nested_dtype(e)
            if d is not None:
                return d
    return None


def _autopack(v, dtype, name):
    """TF1's `_autopacking_helper`: Pack the elements, converting the non-tensors."""
    from .constant_op import constant
    must_pack = False
    elems = []
    with name_scope(name) as scope:
        for i, e in enumerate(v):
            if _is_tensor_like(e):
                t = convert_to_tensor(e)
                if dtype is not None and t.dtype is not dtype:
                    raise TypeError(f"Cannot convert a list containing a tensor of dtype "
                                    f"{t.dtype.name} to {dtype.name} (Tensor is: {t!r})")
                elems.append(t)
                must_pack = True
            elif isinstance(e, (list, tuple)):
                c = _autopack(e, dtype, str(i))
                must_pack = must_pack or isinstance(c, Tensor)
                elems.append(c)
            else:
                elems.append(e)
        if not must_pack:
            return elems
        ts = [e if isinstance(e, Tensor) else constant(_py_ints(e), dtype=dtype, name=str(i))
              for i, e in enumerate(elems)]
        return op1("Pack", ts, {"N": len(ts), "T": ts[0].dtype, "axis": 0}, scope)


def _autopacking_conversion(v, dtype=None, name=None, as_ref=False):
    if not v or not _contains_tensor(v):
        return NotImplemented
    if dtype is None:
        dtype = _nested_dtype(v)
    return _autopack(v, dtype, name or "packed")


register_tensor_conversion_function((list, tuple), _autopacking_conversion, priority=99)


# ----------------------------------------------------------------------------------------------
# expand_dims / squeeze / tile
# ----------------------------------------------------------------------------------------------
@register_op("ExpandDims", may_alias=True)
def _expand_dims_shape(op):
    x, dim = op.inputs
    _check_index_input(op, dim, "dim")
    if dim.shape.is_fully_defined() and dim.shape.num_elements() != 1:
        _fail(op, f"'dim' must be a tensor with a single value, got shape {fmt_shape(dim.shape)}")
    r = x.shape.ndims
    d = _const_int(dim)
    if r is None:
        return [(x.dtype, TensorShape(None))]
    if d is None:
        return [(x.dtype, TensorShape([None] * (r + 1)))]
    if d < -r - 1 or d > r:
        _fail(op, f"Tried to expand dim index {d} for tensor with {r} dimensions")
    dims = x.shape.as_list()
    dims.insert(d + r + 1 if d < 0 else d, 1)
    return [(x.dtype, TensorShape(dims))]


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002 - TF1 argument name
    """TF1 `tf.expand_dims`: insert a dimension of size 1 at `axis` (`dim` is the old name)."""
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'")
        axis = dim
    if axis is None:
        raise ValueError("Must specify an axis argument to tw.expand_dims()")
    with name_scope(name, "ExpandDims", [input]) as scope:
        x = convert_to_tensor(input, name="input")
        d = _index(axis, "dim")
        return op1("ExpandDims", [x, d], {"T": x.dtype, "Tdim": d.dtype}, scope)


@register_op("Squeeze", may_alias=True)
def _squeeze_shape(op):
    x = op.inputs[0]
    axes = list(op.get_attr("squeeze_dims"))
    r = x.shape.ndims
    if r is None:
        return [(x.dtype, TensorShape(None))]
    for a in axes:
        if a < -r or a >= r:
            _fail(op, f"Tried to squeeze dim index {a} for tensor with {r} dimensions")
    wrapped = {a % r for a in axes}
    out = []
    for i, d in enumerate(x.shape.as_list()):
        explicit = i in wrapped
        if d is None:
            if explicit:
                continue
            if not wrapped:
                return [(x.dtype, TensorShape(None))]
        elif d == 1:
            if explicit or not wrapped:
                continue
        elif explicit:
            _fail(op, f"Can not squeeze dim[{i}], expected a dimension of 1, got {d}")
        out.append(d)
    return [(x.dtype, TensorShape(out))]


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """TF1 `tf.squeeze`: drop dimensions of size 1 (all, or those in `axis`)."""
    if squeeze_dims is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'squeeze_dims'")
        axis = squeeze_dims
    if axis is None:
        axis = []
    elif np.isscalar(axis) or isinstance(axis, Dimension):
        axis = [axis]
    x = convert_to_tensor(input)
    return op1("Squeeze", [x], {"T": x.dtype, "squeeze_dims": [int(a) for a in axis]},
               name or "Squeeze")


@register_op("Tile")
def _tile_shape(op):
    x, m = op.inputs
    _check_index_input(op, m, "multiples")
    _check_rank(op, m, 1, "multiples")
    n = m.shape[0].value if m.shape.ndims == 1 else None
    r = x.shape.ndims
    if r is not None and n is not None and r != n:
        _fail(op, f"Shape must be rank {n} but is rank {r}")
    rank_ = r if r is not None else n
    if rank_ is None:
        return [(x.dtype, TensorShape(None))]
    mv = constant_value_as_shape(m)
    mv = [None] * rank_ if mv.ndims is None else mv.as_list()
    mc = _const_ints(m)
    if mc is not None and any(v < 0 for v in mc):
        _fail(op, f"Expected multiples argument to be non-negative, but got {mc}")
    dims = x.shape.as_list() if r is not None else [None] * rank_
    out = [0 if (d == 0 or k == 0) else (None if d is None or k is None else d * k)
           for d, k in zip(dims, mv)]
    return [(x.dtype, TensorShape(out))]


def tile(input, multiples, name=None):  # noqa: A002
    """TF1 `tf.tile`: repeat `input` `multiples[i]` times along each dimension i."""
    with name_scope(name, "Tile", [input]) as scope:
        x = convert_to_tensor(input, name="input")
        m = _index(multiples, "multiples")
        return op1("Tile", [x, m], {"T": x.dtype, "Tmultiples": m.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------------------------
def _padded_shape(op, mirror: str | None = None):
    x, p = op.inputs[0], op.inputs[1]
    _check_index_input(op, p, "paddings")
    _check_rank(op, p, 2, "paddings")
    ps = p.shape
    if ps.ndims == 2 and ps[1].value is not None and ps[1].value != 2:
        _fail(op, f"Dimension must be 2 but is {ps[1].value}")
    r = x.shape.ndims
    n = ps[0].value if ps.ndims == 2 else None
    if r is not None and n is not None and r != n:
        _fail(op, f"The first dimension of paddings must be the rank of inputs{fmt_shape(ps)}, "
                  f"{fmt_shape(x.shape)}")
    rank_ = r if r is not None else n
    if rank_ is None:
        return TensorShape(None)
    pv = constant_value(p)
    dims = x.shape.as_list() if r is not None else [None] * rank_
    if pv is None:
        return TensorShape([None] * rank_)
    pv = np.asarray(pv).reshape(rank_, 2)
    out = []
    for (a, b), d in zip(pv.tolist(), dims):
        if a < 0 or b < 0:
            _fail(op, f"Paddings must be non-negative: {a} {b}")
        if mirror is not None and d is not None:
            off = 0 if mirror == "SYMMETRIC" else 1
            if a > d - off or b > d - off:
                if off:
                    _fail(op, f"paddings must be less than the dimension size: {a}, {b} not "
                              f"less than {d}")
                _fail(op, f"paddings must be no greater than the dimension size: {a}, {b} "
                          f"greater than {d}")
        out.append(None if d is None else d + a + b)
    return TensorShape(out)


@register_op("Pad")
def _pad_shape(op):
    return [(op.inputs[0].dtype, _padded_shape(op))]


@register_op("PadV2")
def _padv2_shape(op):
    x, c = op.inputs[0], op.inputs[2]
    if c.dtype is not x.dtype:
        raise TypeError(f"constant_values of '{op.name}' has type {c.dtype.name} that does not "
                        f"match type {x.dtype.name} of the input")
    _check_rank(op, c, 0, "constant_values")
    return [(x.dtype, _padded_shape(op))]


@register_op("MirrorPad")
def _mirror_pad_shape(op):
    mode = op.get_attr("mode")
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f"MirrorPad mode must be REFLECT or SYMMETRIC, got {mode!r}")
    return [(op.inputs[0].dtype, _padded_shape(op, mode))]


@register_op("MirrorPadGrad")
def _mirror_pad_grad_shape(op):
    g, p = op.inputs
    pv = constant_value(p)
    if g.shape.ndims is None:
        return [(g.dtype, TensorShape(None))]
    if pv is None:
        return [(g.dtype, TensorShape([None] * g.shape.ndims))]
    pv = np.asarray(pv).reshape(-1, 2).tolist()
    return [(g.dtype, TensorShape([None if d is None else d - a - b
                                   for d, (a, b) in zip(g.shape.as_list(), pv)]))]


def mirror_pad_grad(grad, paddings, mode, name=None):
    """The gradient of a mirror pad: the padded borders folded back onto the input."""
    return op1("MirrorPadGrad", [grad, paddings], {"T": grad.dtype, "Tpaddings": paddings.dtype,
                                                   "mode": mode}, name or "MirrorPadGrad")


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):  # noqa: A002
    """TF1 `tf.pad`: pad with `constant_values`, or mirror (REFLECT / SYMMETRIC)."""
    mode = mode.upper()
    if mode == "CONSTANT":
        v2 = _is_tensor_like(constant_values) or np.any(np.asarray(constant_values) != 0)
        op_type = "PadV2" if v2 else "Pad"
    elif mode in ("REFLECT", "SYMMETRIC"):
        op_type = "MirrorPad"
    else:
        raise ValueError(f"Unknown padding mode: {mode}")
    with name_scope(name, op_type, [tensor]) as scope:
        x = convert_to_tensor(tensor, name="input")
        p = _index(paddings, "paddings")
        attrs = {"T": x.dtype, "Tpaddings": p.dtype}
        inputs = [x, p]
        if op_type == "PadV2":
            inputs.append(convert_to_tensor(constant_values, dtype=x.dtype,
                                            name="constant_values"))
        elif op_type == "MirrorPad":
            attrs["mode"] = mode
        return op1(op_type, inputs, attrs, scope)


# ----------------------------------------------------------------------------------------------
# reverse
# ----------------------------------------------------------------------------------------------
@register_op("ReverseV2", may_alias=True)
def _reverse_shape(op):
    x, axis = op.inputs
    _check_index_input(op, axis, "axis")
    _check_rank(op, axis, 1, "axis")
    av = _const_ints(axis)
    r = x.shape.ndims
    if av is not None and r is not None:
        seen = set()
        for a in av:
            if not -r <= a < r:
                _fail(op, f"axis {a} is out of valid range [{-r}, {r})")
            if a % r in seen:
                _fail(op, f"axis {a % r} specified more than once")
            seen.add(a % r)
    return [(x.dtype, x.shape)]


def reverse(tensor, axis, name=None):  # noqa: A002
    """TF1 `tf.reverse` (= `reverse_v2`): reverse `tensor` along the dimensions in `axis`."""
    with name_scope(name, "ReverseV2", [tensor]) as scope:
        x = convert_to_tensor(tensor, name="tensor")
        a = _index(axis, "axis")
        return op1("ReverseV2", [x, a], {"T": x.dtype, "Tidx": a.dtype}, scope)


reverse_v2 = reverse


# ----------------------------------------------------------------------------------------------
# gather / gather_nd / scatter_nd
# ----------------------------------------------------------------------------------------------
@register_op("GatherV2")
def _gather_shape(op):
    params, indices, axis = op.inputs
    _check_index_input(op, indices, "indices")
    _check_index_input(op, axis, "axis")
    _check_rank(op, axis, 0, "axis")
    if op._attrs.get("batch_dims", 0):
        _fail(op, "batch_dims != 0 is not supported", NotImplementedError)
    pr, ir = params.shape.ndims, indices.shape.ndims
    if pr == 0:
        _fail(op, "Shape must be at least rank 1 but is rank 0")
    a = _const_int(axis)
    if a is None or pr is None or ir is None:
        rank_ = None if pr is None or ir is None else pr - 1 + ir
        return [(params.dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    if not -pr <= a < pr:
        _fail(op, f"Expected axis in the range [{-pr}, {pr}), but got {a}")
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
        i = _index(indices, "indices")
        a = _index(axis, "axis")
        return op1("GatherV2", [p, i, a], {"Tparams": p.dtype, "Tindices": i.dtype,
                                           "Taxis": a.dtype, "batch_dims": 0}, scope)


@register_op("GatherNd")
def _gather_nd_shape(op):
    params, indices = op.inputs
    _check_index_input(op, indices, "indices")
    if indices.shape.ndims == 0:
        _fail(op, "Shape must be at least rank 1 but is rank 0 for input 'indices'")
    if indices.shape.ndims is None or params.shape.ndims is None:
        return [(params.dtype, TensorShape(None))]
    k = indices.shape[-1].value
    if k is None:
        return [(params.dtype, TensorShape(None))]
    if k > params.shape.ndims:
        _fail(op, f"indices.shape[-1] must be <= params.rank, but saw indices shape: "
                  f"{fmt_shape(indices.shape)} and params shape: {fmt_shape(params.shape)}")
    return [(params.dtype, TensorShape(indices.shape.as_list()[:-1]
                                       + params.shape.as_list()[k:]))]


def gather_nd(params, indices, name=None, batch_dims=0):
    """TF1 `tf.gather_nd`: `params` indexed by the last dimension of `indices`."""
    if batch_dims != 0:
        raise NotImplementedError("tw.gather_nd supports batch_dims=0 only")
    with name_scope(name, "GatherNd", [params, indices]) as scope:
        p = convert_to_tensor(params, name="params")
        i = _index(indices, "indices")
        return op1("GatherNd", [p, i], {"Tparams": p.dtype, "Tindices": i.dtype}, scope)


@register_op("ScatterNd")
def _scatter_nd_shape(op):
    indices, updates, shp = op.inputs
    _check_index_input(op, indices, "indices")
    if shp.dtype is not indices.dtype:
        raise TypeError(f"Input 'shape' of '{op.name}' (ScatterNd) has type {shp.dtype.name} "
                        f"that does not match type {indices.dtype.name} of argument 'indices'.")
    _check_rank(op, shp, 1, "shape")
    out = constant_value_as_shape(shp)
    ish, ush = indices.shape, updates.shape
    if ish.ndims is not None and ish.ndims == 0:
        _fail(op, "Shape must be at least rank 1 but is rank 0 for input 'indices'")
    if ish.ndims is not None and ush.ndims is not None and out.ndims is not None:
        k = ish[-1].value
        outer = ish.ndims - 1
        if k is not None:
            if k > out.ndims:
                _fail(op, f"indices.shape[-1] must be <= shape.rank, but saw indices shape: "
                          f"{fmt_shape(ish)} and shape: {fmt_shape(out)}")
            want = TensorShape(ish.as_list()[:-1] + out.as_list()[k:])
            if not want.is_compatible_with(ush):
                _fail(op, f"The shape of updates must be indices.shape[:-1] + shape[indices."
                          f"shape[-1]:] = {fmt_shape(want)}, got {fmt_shape(ush)} (the outer "
                          f"{outer} dimensions of updates must match those of indices)")
    return [(updates.dtype, out)]


def scatter_nd(indices, updates, shape, name=None):  # noqa: A002 - TF1 argument name
    """TF1 `tf.scatter_nd`: a zero tensor of `shape` with `updates` added at `indices`
    (updates for the same index add up)."""
    with name_scope(name, "ScatterNd", [indices, updates]) as scope:
        i = _index(indices, "indices")
        u = convert_to_tensor(updates, name="updates")
        s = _index(shape, "shape", dtype=i.dtype if not _is_tensor_like(shape) else None)
        return op1("ScatterNd", [i, u, s], {"T": u.dtype, "Tindices": i.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# one_hot
# ----------------------------------------------------------------------------------------------
@register_op("OneHot")
def _one_hot_shape(op):
    indices, depth, on, off = op.inputs
    axis = op.get_attr("axis")
    if indices.dtype not in (_dtypes.uint8, _dtypes.int32, _dtypes.int64):
        raise TypeError(f"Value passed to parameter 'indices' has DataType "
                        f"{indices.dtype.name} not in list of allowed values: uint8, int32, "
                        f"int64 (node '{op.name}', op 'OneHot')")
    if on.dtype is not off.dtype:
        raise TypeError(f"dtype {on.dtype.name} of on_value does not match dtype "
                        f"{off.dtype.name} of off_value")
    for t, nm in ((depth, "depth"), (on, "on_value"), (off, "off_value")):
        _check_rank(op, t, 0, nm)
    d = _const_int(depth)
    if d is not None and d < 0:
        _fail(op, f"depth must be non-negative, got: {d}")
    r = indices.shape.ndims
    if r is None:
        return [(on.dtype, TensorShape(None))]
    if axis < -1 or axis > r:
        _fail(op, f"Expected axis to be -1 or between [0, {r + 1}).  But received: {axis}")
    dims = indices.shape.as_list()
    dims.insert(r if axis == -1 else axis, d)
    return [(on.dtype, TensorShape(dims))]


def _dtype_of(v):
    if _is_tensor_like(v):
        return convert_to_tensor(v).dtype
    from ..framework.convert import to_numpy_constant
    return _dtypes.as_dtype(to_numpy_constant(v).dtype)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """TF1 `tf.one_hot`: `on_value` where the index matches, `off_value` elsewhere; indices
    outside [0, depth) give a row of `off_value`."""
    with name_scope(name, "one_hot", [indices, depth, on_value, off_value]) as scope:
        on_dtype = _dtype_of(on_value) if on_value is not None else None
        off_dtype = _dtype_of(off_value) if off_value is not None else None
        if dtype is not None:
            dtype = _dtypes.as_dtype(dtype)
        if on_value is not None and off_value is not None and on_dtype is not off_dtype:
            raise TypeError(f"dtype {on_dtype!s} of on_value does not match dtype "
                            f"{off_dtype!s} of off_value")
        if on_value is not None or off_value is not None:
            if dtype is not None:
                if on_value is not None and on_dtype is not dtype:
                    raise TypeError(f"dtype {on_dtype!s} of on_value does not match dtype "
                                    f"parameter {dtype!s}")
                if off_value is not None and off_dtype is not dtype:
                    raise TypeError(f"dtype {off_dtype!s} of off_value does not match dtype "
                                    f"parameter {dtype!s}")
            else:
                dtype = on_dtype if on_value is not None else off_dtype
        elif dtype is None:
            dtype = _dtypes.float32
        one, zero = (True, False) if dtype is _dtypes.bool else (1, 0)
        on = convert_to_tensor(one if on_value is None else on_value, dtype, name="on_value")
        off = convert_to_tensor(zero if off_value is None else off_value, dtype, name="off_value")
        if on.dtype is not off.dtype:
            raise TypeError(f"dtype {on.dtype!s} of on_value does not match dtype "
                            f"{off.dtype!s} of off_value")
        i = convert_to_tensor(indices, name="indices")
        d = convert_to_tensor(_py_ints(depth), dtype=_dtypes.int32, name="depth")
        return op1("OneHot", [i, d, on, off], {"T": on.dtype, "TI": i.dtype,
                                               "axis": -1 if axis is None else int(axis)},
                   scope)


# ----------------------------------------------------------------------------------------------
# where / select
# ----------------------------------------------------------------------------------------------
@register_op("Where")
def _where_shape(op):
    c = op.inputs[0]
    r = c.shape.ndims
    return [(_dtypes.int64, TensorShape([None, r]))]


def _select_inputs(op):
    c, x, y = op.inputs
    if c.dtype is not _dtypes.bool:
        raise TypeError(f"Input 'condition' of '{op.name}' ({op.type}) must be bool, got "
                        f"{c.dtype.name}")
    if x.dtype is not y.dtype:
        raise TypeError(f"Input 'e' of '{op.name}' ({op.type}) has type {y.dtype.name} that "
                        f"does not match type {x.dtype.name} of argument 't'.")
    return c, x, y


@register_op("Select")
def _select_shape(op):
    c, x, y = _select_inputs(op)
    data = _merge(op, x.shape, y.shape)
    cr, dr = c.shape.ndims, data.ndims
    if cr is None or dr is None or cr == 0:
        return [(x.dtype, data)]
    if cr != 1 or dr == 0:
        return [(x.dtype, _merge(op, data, c.shape))]
    d0 = data[0].value
    c0 = c.shape[0].value
    if d0 is not None and c0 is not None and d0 != c0:
        _fail(op, f"Dimension 0 in both shapes must be equal, but are {c0} and {d0}. Shapes "
                  f"are {fmt_shape(c.shape)} and [{d0}]")
    if d0 is None and c0 is not None:
        data = TensorShape([c0] + data.as_list()[1:])
    return [(x.dtype, data)]


@register_op("SelectV2")
def _select_v2_shape(op):
    c, x, y = _select_inputs(op)
    s = broadcast_static(x.shape, y.shape, op)
    return [(x.dtype, broadcast_static(c.shape, s, op))]


def _where_coords(condition, name):
    with name_scope(name, "Where", [condition]) as scope:
        c = convert_to_tensor(condition, preferred_dtype=_dtypes.bool, name="condition")
        return op1("Where", [c], {"T": c.dtype}, scope)


def _select(op_type, condition, x, y, name):
    with name_scope(name, op_type, [condition, x, y]) as scope:
        c = convert_to_tensor(condition, name="condition", preferred_dtype=_dtypes.bool)
        from .op_util import binary_inputs
        t, e = binary_inputs(x, y, op_type)
        return op1(op_type, [c, t, e], {"T": t.dtype}, scope)


def where(condition, x=None, y=None, name=None):
    """TF1 `tf.where`: with `x` and `y`, elements of `x` where `condition` else `y` (op Select:
    a vector `condition` picks whole rows); alone, the coordinates of the true elements
    (op Where, an int64 `[num_true, rank]` tensor)."""
    if x is None and y is None:
        return _where_coords(condition, name)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return _select("Select", condition, x, y, name)


def where_v2(condition, x=None, y=None, name=None):
    """TF2-style `where`: `condition`, `x` and `y` broadcast against each other (SelectV2)."""
    if x is None and y is None:
        return _where_coords(condition, name)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return _select("SelectV2", condition, x, y, name)


# ----------------------------------------------------------------------------------------------
# slice
# ----------------------------------------------------------------------------------------------
@register_op("Slice", may_alias=True)
def _slice_shape(op):
    x, begin, size_ = op.inputs
    _check_index_input(op, begin, "begin")
    _check_index_input(op, size_, "size")
    if begin.dtype is not size_.dtype:
        raise TypeError(f"Input 'size' of '{op.name}' (Slice) has type {size_.dtype.name} that "
                        f"does not match type {begin.dtype.name} of argument 'begin'.")
    _check_rank(op, begin, 1, "begin")
    _check_rank(op, size_, 1, "size")
    r = x.shape.ndims
    for t in (begin, size_):
        n = t.shape[0].value if t.shape.ndims == 1 else None
        if r is not None and n is not None and n != r:
            _fail(op, f"Expected begin and size arguments to be 1-D tensors of size {r}, but "
                      f"got shapes {fmt_shape(begin.shape)} and {fmt_shape(size_.shape)} "
                      "instead")
        if r is None and n is not None:
            r = n
    if r is None:
        return [(x.dtype, TensorShape(None))]
    dims = x.shape.as_list() if x.shape.ndims is not None else [None] * r
    bv, sv = _const_ints(begin), _const_ints(size_)
    sizes = sv if sv is not None else constant_value_as_shape(size_).as_list() \
        if constant_value_as_shape(size_).ndims == r else [None] * r
    out = []
    for i in range(r):
        d, s = dims[i], sizes[i]
        b = bv[i] if bv is not None else None
        if b is not None and d is not None and not 0 <= b <= d:
            _fail(op, f"Expected begin[{i}] in [0, {d}], but got {b}")
        if s is not None and s != -1 and b is not None and d is not None and \
                not 0 <= s <= d - b:
            _fail(op, f"Expected size[{i}] in [0, {d - b}], but got {s}")
        if s is not None and s < -1:
            _fail(op, f"Expected size[{i}] to be -1 or non-negative, but got {s}")
        if s == -1:
            out.append(None if d is None or b is None else d - b)
        else:
            out.append(s)
    return [(x.dtype, TensorShape(out))]


def slice(input_, begin, size, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.slice`: the block of `input_` starting at `begin` with `size` (-1: to the end)."""
    with name_scope(name, "Slice", [input_]) as scope:
        x = convert_to_tensor(input_, name="input")
        b = _index(begin, "begin")
        s = _index(size, "size", dtype=b.dtype if not _is_tensor_like(size) else None)
        return op1("Slice", [x, b, s], {"T": x.dtype, "Index": b.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# strided_slice and Tensor.__getitem__
# ----------------------------------------------------------------------------------------------
def strided_slice_shape(items, dense) -> list:
    """The output dimensions for a `strided_slice_spec` result."""
    return [1 if i is None else dense[i][4] for i in items if i is None or not dense[i][3]]


def _masks(op) -> list:
    return [int(op._attrs.get(m, 0)) for m in _SS_MASKS]


@register_op("StridedSlice", may_alias=True)
def _strided_slice_shape(op):
    x, b, e, s = op.inputs
    for t, nm in ((b, "begin"), (e, "end"), (s, "strides")):
        _check_index_input(op, t, nm)
        _check_rank(op, t, 1, nm)
        if t.dtype is not b.dtype:
            raise TypeError(f"Input '{nm}' of '{op.name}' (StridedSlice) has type "
                            f"{t.dtype.name} that does not match type {b.dtype.name} of "
                            "argument 'begin'.")
    sv = _const_ints(s)
    if x.shape.ndims is None or sv is None:
        return [(x.dtype, TensorShape(None))]
    try:
        items, dense = strided_slice_spec(x.shape.as_list(), _const_ints(b), _const_ints(e), sv,
                                          *_masks(op))
    except ValueError as err:
        _fail(op, str(err))
    return [(x.dtype, TensorShape(strided_slice_shape(items, dense)))]


@register_op("StridedSliceGrad")
def _strided_slice_grad_shape(op):
    shp, b, e, s, dy = op.inputs
    return [(dy.dtype, constant_value_as_shape(shp))]


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """TF1 `tf.strided_slice` (python slicing `input_[begin:end:strides]`, with the masks)."""
    if var is not None:
        raise NotImplementedError("strided_slice(var=...) (sliced assignment) is not supported")
    with name_scope(name, "StridedSlice", [input_]) as scope:
        x = convert_to_tensor(input_, name="input")
        b = _index(begin, "begin")
        e = _index(end, "end", dtype=None if _is_tensor_like(end) else b.dtype)
        if strides is None:
            n = b.shape[0].value if b.shape.ndims == 1 else None
            strides = ones_like(b) if n is None else np.ones(n, dtype=b.dtype.np)
        s = _index(strides, "strides", dtype=None if _is_tensor_like(strides) else b.dtype)
        attrs = {"T": x.dtype, "Index": b.dtype}
        for m, v in zip(_SS_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                                   shrink_axis_mask)):
            attrs[m] = int(v)
        return op1("StridedSlice", [x, b, e, s], attrs, scope)


def strided_slice_grad(shape, begin, end, strides, dy, begin_mask=0, end_mask=0,  # noqa: A002
                       ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, name=None):
    """The gradient of `strided_slice`: `dy` placed into zeros of `shape` (StridedSliceGrad)."""
    attrs = {"T": dy.dtype, "Index": begin.dtype}
    for m, v in zip(_SS_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                               shrink_axis_mask)):
        attrs[m] = int(v)
    return op1("StridedSliceGrad", [shape, begin, end, strides, dy], attrs,
               name or "StridedSliceGrad")


_SLICE_TYPE_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tw.newaxis (`None`) and "
                     "scalar tw.int32/tw.int64 tensors are valid indices")


def _check_index(idx) -> None:
    if isinstance(idx, (numbers.Integral, Dimension)):
        return
    dtype = getattr(idx, "dtype", None)
    if dtype is None:
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")
    try:
        ok = _dtypes.as_dtype(dtype) in _INDEX_TYPES
    except TypeError:
        ok = False
    shp = getattr(idx, "shape", None)
    if not ok or (shp is not None and len(as_shape(shp).dims or ()) == 1):
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")


def _slice_value(x):
    return int(x) if isinstance(x, Dimension) else x


def _slice_helper(tensor, slice_spec, var=None):
    """TF1 `Tensor.__getitem__`: ints, slices, `...`, `tw.newaxis`, scalar int tensors; a bool
    tensor (or array) index is `boolean_mask`."""
    if isinstance(slice_spec, bool) or \
            (isinstance(slice_spec, Tensor) and slice_spec.dtype is _dtypes.bool) or \
            (isinstance(slice_spec, np.ndarray) and slice_spec.dtype == bool):
        return boolean_mask(tensor=tensor, mask=slice_spec)
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    masks = dict.fromkeys(_SS_MASKS, 0)
    for index, s in enumerate(slice_spec):
        bit = 1 << index
        if isinstance(s, builtins.slice):
            for bound, out, mask in ((s.start, begin, "begin_mask"), (s.stop, end, "end_mask")):
                if bound is not None and (_is_tensor_like(bound) or bound != sys.maxsize):
                    _check_index(bound)
                    out.append(_slice_value(bound))
                else:
                    out.append(0)
                    masks[mask] |= bit
            if s.step is not None:
                _check_index(s.step)
                strides.append(_slice_value(s.step))
            else:
                strides.append(1)
        elif s is Ellipsis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["ellipsis_mask"] |= bit
        elif s is newaxis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["new_axis_mask"] |= bit
        else:
            _check_index(s)
            s = _slice_value(s)
            begin.append(s)
            end.append(s + 1)
            strides.append(1)
            masks["shrink_axis_mask"] |= bit
    with name_scope(None, "strided_slice", [tensor] + begin + end + strides) as name:
        if begin:
            pb, pe, ps = stack(begin), stack(end), stack(strides)
            if _dtypes.int64 in (pb.dtype, pe.dtype, ps.dtype):
                from .math_ops import cast
                pb, pe, ps = (cast(t, _dtypes.int64) for t in (pb, pe, ps))
        else:
            from .constant_op import constant
            pb = pe = ps = constant([], dtype=_dtypes.int32)
        return strided_slice(tensor, pb, pe, ps, var=var, name=name, **masks)


Tensor._override_operator("__getitem__", _slice_helper)


# ----------------------------------------------------------------------------------------------
# masks
# ----------------------------------------------------------------------------------------------
def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """TF1 `tf.boolean_mask`: the elements (or slices along `axis`) where `mask` is true."""
    with name_scope(name, values=[tensor, mask]):
        tensor = convert_to_tensor(tensor, name="tensor")
        mask = convert_to_tensor(mask, name="mask")
        shape_mask = mask.shape
        ndims_mask = shape_mask.ndims
        shape_tensor = tensor.shape
        if ndims_mask == 0:
            raise ValueError("mask cannot be scalar.")
        if ndims_mask is None:
            raise ValueError("Number of mask dimensions must be specified, even if some "
                             "dimensions are None.  E.g. shape=[None] is ok, but shape=None "
                             "is not.")
        axis = 0 if axis is None else axis
        shape_tensor[axis:axis + ndims_mask].assert_is_compatible_with(shape_mask)
        masked = shape_tensor[axis:axis + ndims_mask]
        if masked.is_fully_defined():
            leading_size = masked.num_elements()
        else:
            from .math_ops import reduce_prod
            leading_size = reduce_prod(shape(tensor)[axis:axis + ndims_mask], [0])
        if shape_tensor.is_fully_defined():
            new_shape = (shape_tensor[:axis].as_list() + [leading_size]
                         + shape_tensor[axis + ndims_mask:].as_list())
        else:
            s = shape(tensor)
            new_shape = concat([s[:axis], [leading_size], s[axis + ndims_mask:]], 0)
        tensor = reshape(tensor, new_shape)
        first_dim = masked.num_elements()
        tensor.set_shape(as_shape(shape_tensor[:axis]).concatenate([first_dim])
                         .concatenate(shape_tensor[axis + ndims_mask:]))
        mask = reshape(mask, [-1])
        indices = squeeze(where(mask), axis=[1])
        return gather(tensor, indices, axis=axis)


def sequence_mask(lengths, maxlen=None, dtype=_dtypes.bool, name=None):
    """TF1 `tf.sequence_mask`: `mask[..., j] = j < lengths[...]` for j in [0, maxlen)."""
    from . import math_ops
    from .constant_op import constant
    with name_scope(name, "SequenceMask", [lengths, maxlen]):
        lengths = convert_to_tensor(lengths)
        if maxlen is None:
            maxlen = math_ops.reduce_max(lengths, _all_axes(lengths))
            maxlen = math_ops.maximum(constant(0, maxlen.dtype), maxlen)
        else:
            maxlen = convert_to_tensor(maxlen)
        if maxlen.shape.ndims is not None and maxlen.shape.ndims != 0:
            raise ValueError("maxlen must be scalar for sequence_mask")
        row_vector = math_ops.range(constant(0, maxlen.dtype), maxlen,
                                    constant(1, maxlen.dtype))
        matrix = math_ops.cast(expand_dims(lengths, -1), maxlen.dtype)
        result = math_ops.less(row_vector, matrix)
        dtype = _dtypes.as_dtype(dtype)
        return result if dtype is _dtypes.bool else math_ops.cast(result, dtype)


def _all_axes(x):
    r = x.shape.ndims
    if r is not None:
        return np.arange(r, dtype=np.int32)
    from . import math_ops
    return math_ops.range(0, rank(x))


# ----------------------------------------------------------------------------------------------
# unique / top_k / invert_permutation
# ----------------------------------------------------------------------------------------------
UniqueOutput = collections.namedtuple("Unique", ["y", "idx"])
TopKOutput = collections.namedtuple("TopKV2", ["values", "indices"])


@register_op("Unique")
def _unique_shape(op):
    x = op.inputs[0]
    if x.shape.ndims is not None and x.shape.ndims != 1:
        _fail(op, "unique expects a 1D vector")
    return [(x.dtype, TensorShape([None])), (op.get_attr("out_idx"), x.shape.with_rank(1))]


def unique(x, out_idx=_dtypes.int32, name=None):
    """TF1 `tf.unique`: (y, idx) with y the distinct values of 1-D `x` in order of first
    occurrence and `x == y[idx]`."""
    out_idx = _dtypes.as_dtype(out_idx)
    if out_idx not in _INDEX_TYPES:
        raise TypeError(f"out_idx must be int32 or int64, got {out_idx.name}")
    t = convert_to_tensor(x)
    return UniqueOutput(*apply_op("Unique", [t], {"T": t.dtype, "out_idx": out_idx},
                                  name or "Unique").outputs)


@register_op("TopKV2")
def _top_k_shape(op):
    x, k = op.inputs
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"top_k input must be a real number type, got {x.dtype.name} "
                        f"(node '{op.name}')")
    if k.dtype is not _dtypes.int32:
        raise TypeError(f"top_k k must be int32, got {k.dtype.name} (node '{op.name}')")
    _check_rank(op, k, 0, "k")
    if x.shape.ndims == 0:
        _fail(op, "Shape must be at least rank 1 but is rank 0")
    kv = _const_int(k)
    if kv is not None and kv < 0:
        _fail(op, f"Need k >= 0, got {kv}")
    if x.shape.ndims is None:
        return [(x.dtype, TensorShape(None)), (_dtypes.int32, TensorShape(None))]
    dims = x.shape.as_list()
    if kv is not None and dims[-1] is not None and dims[-1] < kv:
        _fail(op, f"input must have last dimension >= k = {kv} but is {dims[-1]}")
    out = TensorShape(dims[:-1] + [kv])
    return [(x.dtype, out), (_dtypes.int32, out)]


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002 - TF1 argument names
    """TF1 `tf.nn.top_k`: the `k` largest entries of the last dimension and their indices
    (ties: the lower index first)."""
    with name_scope(name, "TopKV2", [input]) as scope:
        x = convert_to_tensor(input, name="input")
        kt = convert_to_tensor(_py_ints(k), dtype=_dtypes.int32, name="k")
        return TopKOutput(*apply_op("TopKV2", [x, kt], {"sorted": bool(sorted), "T": x.dtype},
                                    scope).outputs)


@register_op("InvertPermutation")
def _invert_permutation_shape(op):
    x = op.inputs[0]
    _check_index_input(op, x, "x")
    _check_rank(op, x, 1, "x")
    return [(x.dtype, x.shape.with_rank(1))]


def invert_permutation(x, name=None):
    """TF1 `tf.invert_permutation`: `y[x[i]] = i` for a permutation `x` of 0..n-1."""
    t = _index(x, "x")
    return op1("InvertPermutation", [t], {"T": t.dtype}, name or "InvertPermutation")


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
        _fail(op, f"num_partitions must be at least 1, got {n}")
    pr = partitions.shape.ndims
    if pr is None or data.shape.ndims is None:
        return [(data.dtype, TensorShape(None))] * n
    if not data.shape[:pr].is_compatible_with(partitions.shape):
        _fail(op, f"data.shape must start with partitions.shape, got data.shape = "
                  f"{fmt_shape(data.shape)}, partitions.shape = {fmt_shape(partitions.shape)}")
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
                _fail(op, f"data[{i}].shape = {fmt_shape(d.shape)} does not start with "
                          f"indices[{i}].shape = {fmt_shape(ix.shape)}")
            tail = _merge(op, tail, d.shape[r:])
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


# ----------------------------------------------------------------------------------------------
# small multi-tensor helpers: ConcatOffset, ShapeN, IdentityN, meshgrid
# ----------------------------------------------------------------------------------------------
@register_op("ConcatOffset")
def _concat_offset_shape(op):
    return [(t.dtype, t.shape) for t in op.inputs[1:]]


def concat_offset(concat_dim, shapes, name=None):
    """Offsets of each input of a concat along `concat_dim` (used by the concat gradient)."""
    cd = _index(concat_dim, "concat_dim", dtype=_dtypes.int32)
    return apply_op("ConcatOffset", [cd] + list(shapes), {"N": len(shapes)},
                    name or "ConcatOffset").outputs


@register_op("ShapeN")
def _shape_n_shape(op):
    dt = op._attrs.get("out_type", _dtypes.int32)
    return [(dt, TensorShape([t.shape.ndims])) for t in op.inputs]


def shape_n(input, out_type=_dtypes.int32, name=None):  # noqa: A002
    """TF1 `tf.shape_n`: the shapes of a list of tensors."""
    ts = [convert_to_tensor(t) for t in input]
    return apply_op("ShapeN", ts, {"N": len(ts), "T": ts[0].dtype,
                                   "out_type": _dtypes.as_dtype(out_type)},
                    name or "ShapeN").outputs


@register_op("IdentityN", may_alias=True)
def _identity_n_shape(op):
    return [(t.dtype, t.shape) for t in op.inputs]


def identity_n(input, name=None):  # noqa: A002
    """TF1 `tf.identity_n`: a list of tensors with the same values as `input`."""
    ts = [convert_to_tensor(t) for t in input]
    return apply_op("IdentityN", ts, {"T": [t.dtype for t in ts]}, name or "IdentityN").outputs


def meshgrid(*args, **kwargs):
    """TF1 `tf.meshgrid(*args, indexing='xy', name='meshgrid')`."""
    indexing = kwargs.pop("indexing", "xy")
    name = kwargs.pop("name", "meshgrid")
    if kwargs:
        key = list(kwargs)[0]
        raise TypeError(f"'{key}' is an invalid keyword argument for this function")
    if indexing not in ("xy", "ij"):
        raise ValueError("indexing parameter must be either 'xy' or 'ij'")
    with name_scope(name, "meshgrid", list(args)):
        ndim = len(args)
        s0 = (1,) * ndim
        output = [reshape(stack(x), s0[:i] + (-1,) + s0[i + 1:]) for i, x in enumerate(args)]
        shapes = [size(x) for x in args]
        output_dtype = convert_to_tensor(args[0]).dtype
        if indexing == "xy" and ndim > 1:
            output[0] = reshape(output[0], (1, -1) + (1,) * (ndim - 2))
            output[1] = reshape(output[1], (-1, 1) + (1,) * (ndim - 2))
            shapes[0], shapes[1] = shapes[1], shapes[0]
        mult_fact = ones(shapes, output_dtype)
        return [x * mult_fact for x in output]


# ----------------------------------------------------------------------------------------------
# build-time constant folding of small integer array ops (shape arithmetic)
# ----------------------------------------------------------------------------------------------
_FOLD_MAX_ELEMENTS = 4096


def _fold(t):
    """`t`'s value computed by the CPU kernel from constant inputs (small int outputs only)."""
    op = t.op
    if not t.dtype.is_integer:
        return None
    if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape":
        return _slice_of_shape(op)
    n = t.shape.num_elements()
    if n is None or n > _FOLD_MAX_ELEMENTS:
        return None
    vals = []
    for i in op.inputs:
        v = constant_value(i)
        if v is None or np.size(v) > _FOLD_MAX_ELEMENTS:
            return None
        vals.append(np.asarray(v))
    from ..kernels import get_backend
    node = types.SimpleNamespace(name=op.name, op=op.type, attr=op._attrs, inputs=[],
                                 out_dtypes=[o.dtype for o in op.outputs],
                                 out_shapes=[o.shape for o in op.outputs],
                                 const_inputs=dict(enumerate(vals)), device="", source=None)
    try:
        out = get_backend("CPU").kernels[op.type](node, None)(*vals)
    except Exception:  # noqa: BLE001 - an input the kernel rejects is simply not folded
        return None
    if len(op.outputs) > 1:
        out = out[t.value_index]
    return np.asarray(out, dtype=t.dtype.np)


def _slice_of_shape(op):
    """`tw.shape(x)[i]` / `tw.shape(x)[1:]` when those dimensions of x are known."""
    dims = op.inputs[0].op.inputs[0].shape
    b, e, s = (_const_ints(t) for t in op.inputs[1:])
    if dims.ndims is None or b is None or e is None or s is None:
        return None
    items, dense = strided_slice_spec([dims.ndims], b, e, s, *_masks(op))
    start, stop, step, shrink, _ = dense[0]
    picked = [dims[start].value] if shrink else \
        [dims[i].value for i in builtins.range(dims.ndims)[start:None if stop == -1 else stop:step]]
    if None in picked or None in items:
        return None
    return np.array(picked[0] if shrink else picked, dtype=op.outputs[0].dtype.np)


for _t in ("StridedSlice", "Slice", "GatherV2", "ExpandDims", "Squeeze", "Reshape", "Fill",
           "Unpack", "Transpose", "Tile", "ReverseV2", "Split", "SplitV"):
    register_constant_value_rule(_t)(_fold)
