"""Array ops: shapes, reshaping, copying, filling (definitions and Python wrappers).

Kernels: `tensorweave/kernels/cpu/array.py`; gradients: `tensorweave/autodiff/array_grad.py`.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from .op_util import fmt_shape, op1, unchanged_shape

__all__ = ["identity", "stop_gradient", "shape", "size", "rank", "fill", "zeros", "ones",
           "zeros_like", "ones_like", "reshape", "broadcast_to", "broadcast_gradient_args"]


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
    dims = convert_to_tensor(dims, dtype_hint=_dtypes.int32)
    value = convert_to_tensor(value)
    return op1("Fill", [dims, value], {"T": value.dtype, "index_type": dims.dtype},
               name or "Fill")


def _shape_tensor(shape):
    if hasattr(shape, "dtype") and hasattr(shape, "op"):
        return shape
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    return convert_to_tensor(shape, dtype=_dtypes.int32 if not _is_big(shape) else _dtypes.int64)


def _is_big(shape) -> bool:
    try:
        return any(int(d) >= 2**31 for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        return False


def zeros(shape, dtype=_dtypes.float32, name=None):
    """TF1 `tf.zeros`."""
    dtype = _dtypes.as_dtype(dtype)
    with name_scope(name, "zeros", []) as scope:
        zero = "" if dtype is _dtypes.string else (False if dtype is _dtypes.bool else 0)
        from .constant_op import constant
        s = _shape_tensor(shape)
        return fill(s, constant(zero, dtype=dtype), name=scope)


def ones(shape, dtype=_dtypes.float32, name=None):
    """TF1 `tf.ones`."""
    dtype = _dtypes.as_dtype(dtype)
    with name_scope(name, "ones", []) as scope:
        one = True if dtype is _dtypes.bool else 1
        from .constant_op import constant
        s = _shape_tensor(shape)
        return fill(s, constant(one, dtype=dtype), name=scope)


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
    x = convert_to_tensor(tensor)
    s = _shape_tensor(shape)
    return op1("Reshape", [x, s], {"T": x.dtype, "Tshape": s.dtype}, name or "Reshape")


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
    from ..framework.graph import apply_op
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
