"""Array ops: shapes and sizes, filling, reshaping and broadcasting, transposing, joining and
splitting, expanding and squeezing, tiling, padding, reversing, selecting (`where`), one-hot,
`unique` and `invert_permutation`.

Each op type is registered once with its shape function (which also validates the inputs and
raises `ValueError`/`TypeError` naming the node and the input shapes), followed by its TF1 Python
wrapper.  Wrappers create their index inputs (axis, perm, paddings, ...) inside the op's name scope,
so the graph reads as in TF1 (`transpose/perm`, `ExpandDims/dim`).  This module also installs TF1's
auto-packing of lists that contain tensors (`convert_to_tensor([t, 1.0])` is a `Pack`).  Slicing
and `Tensor.__getitem__` are in `slicing_ops`, gathering and scattering in `indexing_ops`, masks
in `mask_ops`.

Kernels: `tensorweave/kernels/cpu/array.py`; gradients: `tensorweave/autodiff/array_grad.py`.
"""
from __future__ import annotations

import collections
import numbers
import operator

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import (
    constant_value,
    constant_value_as_shape,
    convert_to_tensor,
    register_tensor_conversion_function,
    to_numpy_constant,
)
from ..framework.graph import Tensor, apply_op, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from .constant_op import constant
from .op_util import (
    INDEX_TYPES,
    binary_inputs,
    broadcast_static,
    check_index_input,
    check_input_rank,
    const_int,
    const_ints,
    fmt_shape,
    index_input,
    is_tensor_like,
    merge_shapes,
    op1,
    py_ints,
    same_dtype_inputs,
    shape_error,
    unchanged_shape,
)

__all__ = ["identity", "stop_gradient", "shape", "size", "rank", "fill", "zeros", "ones",
           "zeros_like", "ones_like", "reshape", "broadcast_to", "broadcast_gradient_args",
           "transpose", "concat", "split", "stack", "unstack", "expand_dims", "squeeze", "tile",
           "pad", "reverse", "reverse_v2", "one_hot", "where", "where_v2", "unique",
           "invert_permutation", "meshgrid", "shape_n", "identity_n"]


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
    if is_tensor_like(shape):
        return convert_to_tensor(shape)
    shape = py_ints(shape)
    if isinstance(shape, (list, tuple)) and _contains_tensor(shape):
        return convert_to_tensor(shape, name=name)
    _static_dims(shape)  # TypeError for a size that is not an integer ([2.0, 2] too, as TF1)
    return convert_to_tensor(shape, dtype=_dtypes.int32 if not _is_big(shape) else _dtypes.int64,
                             name=name)


def _is_big(shape) -> bool:
    try:
        return any(int(d) >= 2**31 for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        return False


def _static_dims(shape) -> list[int]:
    """The sizes of a shape given as python or numpy ints (a list or a scalar).  A size that is
    not an integer raises TypeError as in TF1 (`tf.zeros([2.5, 2])`, and `[2.0, 2]` too: TF1's
    `Dimension` takes only values with `__index__`), never silently truncated."""
    out = []
    for d in np.reshape(np.asarray(shape, dtype=object), -1):
        try:
            out.append(operator.index(d))
        except TypeError:
            raise TypeError(f"Expected int32, got {d!r} of type '{type(d).__name__}' instead "
                            f"(shape {shape!r})") from None
    return out


def _filled(shape, value, dtype, scope):
    """TF1's zeros/ones: a Const when the shape is static and small, else a Fill."""
    py = None if is_tensor_like(shape) else py_ints(shape)
    if py is not None and not (isinstance(py, (list, tuple)) and _contains_tensor(py)):
        dims = _static_dims(py)
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
    check_index_input(op, perm, "perm")
    check_input_rank(op, perm, 1, "perm")
    r = x.shape.ndims
    n = perm.shape[0].value if perm.shape.ndims == 1 else None
    if r is not None and n is not None and r != n:
        shape_error(op, f"Dimension must be {r} but is {n}")
    p = const_ints(perm)
    if p is None:
        rank_ = r if r is not None else n
        return [(x.dtype, TensorShape(None if rank_ is None else [None] * rank_))]
    for d in p:
        if d < 0 or d >= len(p):
            shape_error(op, f"perm dim {d} is out of range of input rank {len(p)}")
    for i in range(len(p)):
        if i not in p:
            shape_error(op, f"{i} is missing from {{{','.join(str(d) for d in p)}}}")
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
                from . import math_ops  # cycle: math_ops imports array_ops
                rk = rank(x)
                perm = math_ops.subtract(math_ops.subtract(rk, 1), math_ops.range(0, rk, 1))
            else:
                perm = (r - 1) - np.arange(r, dtype=np.int64)
        perm = index_input(perm, "perm")
        op_type = "ConjugateTranspose" if conjugate and x.dtype.is_complex else "Transpose"
        return op1(op_type, [x, perm], {"T": x.dtype, "Tperm": perm.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# concat / split / stack / unstack
# ----------------------------------------------------------------------------------------------
@register_op("ConcatV2")
def _concat_shape(op):
    *vals, axis = op.inputs
    check_index_input(op, axis, "axis")
    check_input_rank(op, axis, 0, "axis")
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
            shape_error(op, f"Shape must be rank {r} but is rank {v.shape.ndims}")
    if r == 0:
        shape_error(op, "Can't concatenate scalars (use tw.stack instead)")
    a = const_int(axis)
    if a is None:
        return [(dt, TensorShape([None] * r))]
    if not -r <= a < r:
        shape_error(op, f"Expected concatenating dimensions in the range [{-r}, {r}), but got {a}")
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
                shape_error(op, f"Dimension {i} in both shapes must be equal, but are {x} and {y}. "
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
            ax = convert_to_tensor(py_ints(axis), name="concat_dim", dtype=_dtypes.int32)
            ax.shape.assert_has_rank(0)
            return identity(values[0], name=name)
    with name_scope(name, "concat", list(values)) as scope:
        vals = same_dtype_inputs([py_ints(v) for v in values], "ConcatV2")
        ax = index_input(axis, "axis")
        return op1("ConcatV2", vals + [ax], {"N": len(vals), "T": vals[0].dtype,
                                             "Tidx": ax.dtype}, scope)


@register_op("Split", may_alias=True)
def _split_shape(op):
    axis, x = op.inputs
    n = op.get_attr("num_split")
    if axis.dtype is not _dtypes.int32:
        check_index_input(op, axis, "split_dim")
    check_input_rank(op, axis, 0, "split_dim")
    if n < 1:
        shape_error(op, f"num_split must be at least 1, got {n}")
    r = x.shape.ndims
    a = const_int(axis)
    if r is None:
        return [(x.dtype, TensorShape(None))] * n
    if a is None:
        return [(x.dtype, TensorShape([None] * r))] * n
    if not -r <= a < r:
        shape_error(op, f"Expected split_dim in the range [{-r}, {r}), but got {a}")
    dims = x.shape.as_list()
    d = dims[a % r]
    if d is not None and d % n:
        shape_error(op, f"Dimension size must be evenly divisible by {n} but is {d}")
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
    check_index_input(op, size_splits, "size_splits")
    check_index_input(op, axis, "split_dim")
    check_input_rank(op, size_splits, 1, "size_splits")
    check_input_rank(op, axis, 0, "split_dim")
    k = size_splits.shape[0].value if size_splits.shape.ndims == 1 else None
    if k is not None and k != n:
        shape_error(op, f"size_splits has {k} entries but num_split is {n}")
    r = x.shape.ndims
    if r is None:
        return [(x.dtype, TensorShape(None))] * n
    a = const_int(axis)
    sizes = const_ints(size_splits)
    if a is None:
        return [(x.dtype, TensorShape([None] * r))] * n
    if not -r <= a < r:
        shape_error(op, f"Expected split_dim in the range [{-r}, {r}), but got {a}")
    a %= r
    dims = x.shape.as_list()
    if sizes is None:
        sizes = [None] * n
    else:
        try:
            sizes = _split_sizes(sizes, dims[a])
        except ValueError as e:
            shape_error(op, str(e))
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
            ax = index_input(axis, "split_dim")
            x = convert_to_tensor(value, name="value")
            return apply_op("Split", [ax, x], {"num_split": n, "T": x.dtype}, scope).outputs
    size_splits = index_input(n, "Const")
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
        ax = index_input(axis, "split_dim")
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
        s = merge_shapes(op, s, v.shape, f"\n\tFrom merging shape {i} with other shapes.")
    if s.ndims is None:
        return [(dt, TensorShape(None))]
    r = s.ndims + 1
    if not -r <= axis < r:
        shape_error(op, f"Invalid axis: {axis}; must be in [{-r},{r})")
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
        nd = np.ndim(py_ints(v0))
    if nd is not None:
        if axis < -(nd + 1) or axis >= nd + 1:
            raise ValueError(f"axis = {axis} not in [{-(nd + 1)}, {nd + 1})")
    with name_scope(name, "stack", list(values)) as scope:
        vals = same_dtype_inputs([py_ints(v) for v in values], "Pack")
        return op1("Pack", vals, {"N": len(vals), "T": vals[0].dtype, "axis": int(axis)}, scope)


@register_op("Unpack", may_alias=True)
def _unpack_shape(op):
    x = op.inputs[0]
    num, axis = op.get_attr("num"), op.get_attr("axis")
    r = x.shape.ndims
    if r is None:
        return [(x.dtype, TensorShape(None))] * num
    if not -r <= axis < r:
        shape_error(op, f"axis = {axis} not in [{-r}, {r})")
    dims = x.shape.as_list()
    d = dims.pop(axis % r)
    if d is not None and d != num:
        shape_error(op, f"Dimension must be {num} but is {d}")
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
def _contains_tensor(v) -> bool:
    for e in v:
        if is_tensor_like(e) or (isinstance(e, (list, tuple)) and _contains_tensor(e)):
            return True
    return False


def _nested_dtype(v):
    for e in v:
        if is_tensor_like(e):
            return convert_to_tensor(e).dtype
        if isinstance(e, (list, tuple)):
            d = _nested_dtype(e)
            if d is not None:
                return d
    return None


def _autopack(v, dtype, name):
    """TF1's `_autopacking_helper`: Pack the elements, converting the non-tensors."""
    must_pack = False
    elems = []
    with name_scope(name) as scope:
        for i, e in enumerate(v):
            if is_tensor_like(e):
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
        ts = [e if isinstance(e, Tensor) else constant(py_ints(e), dtype=dtype, name=str(i))
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
    check_index_input(op, dim, "dim")
    if dim.shape.is_fully_defined() and dim.shape.num_elements() != 1:
        shape_error(op, "'dim' must be a tensor with a single value, got shape "
                        f"{fmt_shape(dim.shape)}")
    r = x.shape.ndims
    d = const_int(dim)
    if r is None:
        return [(x.dtype, TensorShape(None))]
    if d is None:
        return [(x.dtype, TensorShape([None] * (r + 1)))]
    if d < -r - 1 or d > r:
        shape_error(op, f"Tried to expand dim index {d} for tensor with {r} dimensions")
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
        d = index_input(axis, "dim")
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
            shape_error(op, f"Tried to squeeze dim index {a} for tensor with {r} dimensions")
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
            shape_error(op, f"Can not squeeze dim[{i}], expected a dimension of 1, got {d}")
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
    check_index_input(op, m, "multiples")
    check_input_rank(op, m, 1, "multiples")
    n = m.shape[0].value if m.shape.ndims == 1 else None
    r = x.shape.ndims
    if r is not None and n is not None and r != n:
        shape_error(op, f"Shape must be rank {n} but is rank {r}")
    rank_ = r if r is not None else n
    if rank_ is None:
        return [(x.dtype, TensorShape(None))]
    mv = constant_value_as_shape(m)
    mv = [None] * rank_ if mv.ndims is None else mv.as_list()
    mc = const_ints(m)
    if mc is not None and any(v < 0 for v in mc):
        shape_error(op, f"Expected multiples argument to be non-negative, but got {mc}")
    dims = x.shape.as_list() if r is not None else [None] * rank_
    out = [0 if (d == 0 or k == 0) else (None if d is None or k is None else d * k)
           for d, k in zip(dims, mv)]
    return [(x.dtype, TensorShape(out))]


def tile(input, multiples, name=None):  # noqa: A002
    """TF1 `tf.tile`: repeat `input` `multiples[i]` times along each dimension i."""
    with name_scope(name, "Tile", [input]) as scope:
        x = convert_to_tensor(input, name="input")
        m = index_input(multiples, "multiples")
        return op1("Tile", [x, m], {"T": x.dtype, "Tmultiples": m.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------------------------
def _padded_shape(op, mirror: str | None = None):
    x, p = op.inputs[0], op.inputs[1]
    check_index_input(op, p, "paddings")
    check_input_rank(op, p, 2, "paddings")
    ps = p.shape
    if ps.ndims == 2 and ps[1].value is not None and ps[1].value != 2:
        shape_error(op, f"Dimension must be 2 but is {ps[1].value}")
    r = x.shape.ndims
    n = ps[0].value if ps.ndims == 2 else None
    if r is not None and n is not None and r != n:
        shape_error(op, "The first dimension of paddings must be the rank of inputs"
                        f"{fmt_shape(ps)}, {fmt_shape(x.shape)}")
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
            shape_error(op, f"Paddings must be non-negative: {a} {b}")
        if mirror is not None and d is not None:
            off = 0 if mirror == "SYMMETRIC" else 1
            if a > d - off or b > d - off:
                if off:
                    shape_error(op, f"paddings must be less than the dimension size: {a}, {b} not "
                                    f"less than {d}")
                shape_error(op, f"paddings must be no greater than the dimension size: {a}, {b} "
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
    check_input_rank(op, c, 0, "constant_values")
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
        v2 = is_tensor_like(constant_values) or np.any(np.asarray(constant_values) != 0)
        op_type = "PadV2" if v2 else "Pad"
    elif mode in ("REFLECT", "SYMMETRIC"):
        op_type = "MirrorPad"
    else:
        raise ValueError(f"Unknown padding mode: {mode}")
    with name_scope(name, op_type, [tensor]) as scope:
        x = convert_to_tensor(tensor, name="input")
        p = index_input(paddings, "paddings")
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
    check_index_input(op, axis, "axis")
    check_input_rank(op, axis, 1, "axis")
    av = const_ints(axis)
    r = x.shape.ndims
    if av is not None and r is not None:
        seen = set()
        for a in av:
            if not -r <= a < r:
                shape_error(op, f"axis {a} is out of valid range [{-r}, {r})")
            if a % r in seen:
                shape_error(op, f"axis {a % r} specified more than once")
            seen.add(a % r)
    return [(x.dtype, x.shape)]


def reverse(tensor, axis, name=None):  # noqa: A002
    """TF1 `tf.reverse` (= `reverse_v2`): reverse `tensor` along the dimensions in `axis`."""
    with name_scope(name, "ReverseV2", [tensor]) as scope:
        x = convert_to_tensor(tensor, name="tensor")
        a = index_input(axis, "axis")
        return op1("ReverseV2", [x, a], {"T": x.dtype, "Tidx": a.dtype}, scope)


reverse_v2 = reverse



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
        check_input_rank(op, t, 0, nm)
    d = const_int(depth)
    if d is not None and d < 0:
        shape_error(op, f"depth must be non-negative, got: {d}")
    r = indices.shape.ndims
    if r is None:
        return [(on.dtype, TensorShape(None))]
    if axis < -1 or axis > r:
        shape_error(op, f"Expected axis to be -1 or between [0, {r + 1}).  But received: {axis}")
    dims = indices.shape.as_list()
    dims.insert(r if axis == -1 else axis, d)
    return [(on.dtype, TensorShape(dims))]


def _dtype_of(v):
    if is_tensor_like(v):
        return convert_to_tensor(v).dtype
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
        d = convert_to_tensor(py_ints(depth), dtype=_dtypes.int32, name="depth")
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
    data = merge_shapes(op, x.shape, y.shape)
    cr, dr = c.shape.ndims, data.ndims
    if cr is None or dr is None or cr == 0:
        return [(x.dtype, data)]
    if cr != 1 or dr == 0:
        return [(x.dtype, merge_shapes(op, data, c.shape))]
    d0 = data[0].value
    c0 = c.shape[0].value
    if d0 is not None and c0 is not None and d0 != c0:
        shape_error(op, f"Dimension 0 in both shapes must be equal, but are {c0} and {d0}. Shapes "
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
# unique / top_k / invert_permutation
# ----------------------------------------------------------------------------------------------
UniqueOutput = collections.namedtuple("Unique", ["y", "idx"])


@register_op("Unique")
def _unique_shape(op):
    x = op.inputs[0]
    if x.shape.ndims is not None and x.shape.ndims != 1:
        shape_error(op, "unique expects a 1D vector")
    return [(x.dtype, TensorShape([None])), (op.get_attr("out_idx"), x.shape.with_rank(1))]


def unique(x, out_idx=_dtypes.int32, name=None):
    """TF1 `tf.unique`: (y, idx) with y the distinct values of 1-D `x` in order of first
    occurrence and `x == y[idx]`."""
    out_idx = _dtypes.as_dtype(out_idx)
    if out_idx not in INDEX_TYPES:
        raise TypeError(f"out_idx must be int32 or int64, got {out_idx.name}")
    t = convert_to_tensor(x)
    return UniqueOutput(*apply_op("Unique", [t], {"T": t.dtype, "out_idx": out_idx},
                                  name or "Unique").outputs)




@register_op("InvertPermutation")
def _invert_permutation_shape(op):
    x = op.inputs[0]
    check_index_input(op, x, "x")
    check_input_rank(op, x, 1, "x")
    return [(x.dtype, x.shape.with_rank(1))]


def invert_permutation(x, name=None):
    """TF1 `tf.invert_permutation`: `y[x[i]] = i` for a permutation `x` of 0..n-1."""
    t = index_input(x, "x")
    return op1("InvertPermutation", [t], {"T": t.dtype}, name or "InvertPermutation")



# ----------------------------------------------------------------------------------------------
# small multi-tensor helpers: ConcatOffset, ShapeN, IdentityN, meshgrid
# ----------------------------------------------------------------------------------------------
@register_op("ConcatOffset")
def _concat_offset_shape(op):
    return [(t.dtype, t.shape) for t in op.inputs[1:]]


def concat_offset(concat_dim, shapes, name=None):
    """Offsets of each input of a concat along `concat_dim` (used by the concat gradient)."""
    cd = index_input(concat_dim, "concat_dim", dtype=_dtypes.int32)
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

