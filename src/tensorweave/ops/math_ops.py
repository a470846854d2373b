"""Math ops: element-wise arithmetic with broadcasting, matmul, reductions, casts, operators.

Definitions and Python wrappers only; kernels live in `tensorweave/kernels/cpu/math.py` and
gradients in `tensorweave/autodiff/math_grad.py`.  This module also installs the `Tensor`
operator overloads (`+`, `*`, `@`, `<`, ...).
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from .op_util import binary_broadcast_shape, binary_inputs, fmt_shape, op1, same_dtype_inputs

__all__ = ["add", "subtract", "multiply", "divide", "truediv", "realdiv", "negative", "matmul",
           "add_n", "reduce_sum", "reduce_mean", "cast", "square", "sub", "mul", "neg", "div"]


# ----------------------------------------------------------------------------------------------
# binary element-wise
# ----------------------------------------------------------------------------------------------
for _t in ("Add", "Sub", "Mul", "RealDiv"):
    register_op(_t)(binary_broadcast_shape)


def _binary(op_type, default_name):
    def fn(x, y, name=None):
        x, y = binary_inputs(x, y, op_type)
        return op1(op_type, [x, y], {"T": x.dtype}, name or default_name)
    fn.__name__ = default_name.lower()
    return fn


add = _binary("Add", "Add")
subtract = _binary("Sub", "Sub")
multiply = _binary("Mul", "Mul")
realdiv = _binary("RealDiv", "RealDiv")
sub, mul = subtract, multiply


def truediv(x, y, name=None):
    """Python 3 division: integers are cast to float (int8/16 -> float32, int32/64 -> float64)."""
    with name_scope(name, "truediv", [x, y]) as scope:
        x, y = binary_inputs(x, y, "RealDiv")
        if x.dtype.is_integer:
            target = _dtypes.float32 if x.dtype.size <= 2 else _dtypes.float64
            x, y = cast(x, target), cast(y, target)
        return op1("RealDiv", [x, y], {"T": x.dtype}, scope)


def divide(x, y, name=None):
    return truediv(x, y, name=name)


def div(x, y, name=None):
    """TF1 `tf.div`: floor division for integers, true division for floats."""
    x, y = binary_inputs(x, y, "Div")
    if x.dtype.is_integer:
        from . import math_ops as _m
        return _m.floordiv(x, y, name=name)
    return realdiv(x, y, name=name)


# ----------------------------------------------------------------------------------------------
# unary
# ----------------------------------------------------------------------------------------------
from .op_util import unchanged_shape  # noqa: E402

register_op("Neg")(unchanged_shape)
register_op("Square")(unchanged_shape)


def negative(x, name=None):
    x = convert_to_tensor(x)
    return op1("Neg", [x], {"T": x.dtype}, name or "Neg")


def square(x, name=None):
    x = convert_to_tensor(x)
    return op1("Square", [x], {"T": x.dtype}, name or "Square")


neg = negative


# ----------------------------------------------------------------------------------------------
# matmul
# ----------------------------------------------------------------------------------------------
@register_op("MatMul")
def _matmul_shape(op):
    a, b = op.inputs
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    if a.dtype is not b.dtype:
        raise TypeError(f"Input 'b' of 'MatMul' Op has type {b.dtype.name} that does not match "
                        f"type {a.dtype.name} of argument 'a'.")
    sa, sb = a.shape.with_rank(2) if a.shape.ndims in (None, 2) else _rank_err(op, a), \
        b.shape.with_rank(2) if b.shape.ndims in (None, 2) else _rank_err(op, b)
    m, k1 = (sa[1], sa[0]) if ta else (sa[0], sa[1])
    k2, n = (sb[1], sb[0]) if tb else (sb[0], sb[1])
    if not k1.is_compatible_with(k2):
        raise ValueError(f"Dimensions must be equal, but are {k1} and {k2} for '{op.name}' "
                         f"(op: 'MatMul') with input shapes: {fmt_shape(a.shape)}, "
                         f"{fmt_shape(b.shape)}.")
    return [(a.dtype, TensorShape([m, n]))]


def _rank_err(op, t):
    raise ValueError(f"Shape must be rank 2 but is rank {t.shape.ndims} for '{op.name}' "
                     f"(op: '{op.type}') with input shapes: {fmt_shape(op.inputs[0].shape)}, "
                     f"{fmt_shape(op.inputs[1].shape)}.")


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """TF1 `tf.matmul` (2-D here; batched matmul arrives with the rest of the math ops)."""
    a, b = binary_inputs(a, b, "MatMul")
    if adjoint_a or adjoint_b:
        raise NotImplementedError("adjoint_a/adjoint_b")
    return op1("MatMul", [a, b], {"T": a.dtype, "transpose_a": bool(transpose_a),
                                  "transpose_b": bool(transpose_b)}, name or "MatMul")


# ----------------------------------------------------------------------------------------------
# add_n
# ----------------------------------------------------------------------------------------------
@register_op("AddN")
def _addn_shape(op):
    ins = op.inputs
    s = ins[0].shape
    for t in ins[1:]:
        if t.dtype is not ins[0].dtype:
            raise TypeError(f"AddN inputs must all have dtype {ins[0].dtype.name}, got "
                            f"{t.dtype.name}")
        if not s.is_compatible_with(t.shape):
            raise ValueError(f"Shapes must be equal rank/size, but are {fmt_shape(s)} and "
                             f"{fmt_shape(t.shape)} for '{op.name}' (op: 'AddN')")
        s = s.merge_with(t.shape)
    return [(ins[0].dtype, s)]


def add_n(inputs, name=None):
    """Element-wise sum of a list of same-shape tensors."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a non-empty list of tensors")
    inputs = same_dtype_inputs(inputs, "AddN")
    if len(inputs) == 1:
        from .array_ops import identity
        return identity(inputs[0], name=name) if name else inputs[0]
    return op1("AddN", inputs, {"T": inputs[0].dtype, "N": len(inputs)}, name or "AddN")


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
def reduction_shape(op):
    """Shape function of Sum/Mean/Max/...: input 1 holds the axes (constant or not)."""
    x, axes = op.inputs
    keep = op._attrs.get("keep_dims", False)
    if not axes.dtype.is_integer:
        raise TypeError(f"Reduction axes must be int32 or int64, got {axes.dtype.name}")
    av = constant_value(axes)
    if x.shape.ndims is None:
        return [(x.dtype, TensorShape(None))]
    r = x.shape.ndims
    if av is None:
        return [(x.dtype, TensorShape([None] * r) if keep else TensorShape(None))]
    ax = set()
    for a in np.asarray(av).reshape(-1):
        a = int(a)
        if a < -r or a >= r:
            raise ValueError(f"Invalid reduction dimension {a} for input with {r} dimensions. "
                             f"for '{op.name}' (op: '{op.type}') with input shapes: "
                             f"{fmt_shape(x.shape)}")
        ax.add(a % r if r else a)
    dims = x.shape.as_list()
    out = [1 if i in ax else d for i, d in enumerate(dims)] if keep else \
        [d for i, d in enumerate(dims) if i not in ax]
    return [(x.dtype, TensorShape(out))]


for _t in ("Sum", "Mean"):
    register_op(_t)(reduction_shape)


def reduction_axes(x, axis):
    """The axes tensor of a reduction (all axes when `axis` is None)."""
    if axis is None:
        r = x.shape.ndims
        if r is not None:
            return convert_to_tensor(np.arange(r, dtype=np.int32))
        from .array_ops import rank
        return _range_tensor(rank(x))
    if isinstance(axis, Tensor):
        return axis
    return convert_to_tensor(np.asarray(axis, dtype=np.int32))


def _range_tensor(n):
    from . import math_ops as _m
    return _m.range(0, n)


def reduce_op(op_type, default_name):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        if reduction_indices is not None:
            if axis is not None:
                raise ValueError("Cannot specify both 'axis' and 'reduction_indices'.")
            axis = reduction_indices
        if keep_dims is not None:
            if keepdims is not None:
                raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
            keepdims = keep_dims
        x = convert_to_tensor(input_tensor)
        axes = reduction_axes(x, axis)
        return op1(op_type, [x, axes], {"T": x.dtype, "Tidx": axes.dtype,
                                        "keep_dims": bool(keepdims)}, name or default_name)
    fn.__name__ = "reduce_" + default_name.lower()
    return fn


reduce_sum = reduce_op("Sum", "Sum")
reduce_mean = reduce_op("Mean", "Mean")


# ----------------------------------------------------------------------------------------------
# cast
# ----------------------------------------------------------------------------------------------
@register_op("Cast")
def _cast_shape(op):
    return [(op.get_attr("DstT"), op.inputs[0].shape)]


def cast(x, dtype, name=None):
    """TF1 `tf.cast` (a no-op when the dtype already matches)."""
    dtype = _dtypes.as_dtype(dtype)
    if hasattr(x, "values") and hasattr(x, "indices") and not isinstance(x, Tensor):
        from ..framework.indexed_slices import IndexedSlices
        return IndexedSlices(cast(x.values, dtype), x.indices, x.dense_shape)
    x = convert_to_tensor(x)
    if x.dtype is dtype:
        return x
    return op1("Cast", [x], {"SrcT": x.dtype, "DstT": dtype}, name or "Cast")


# ----------------------------------------------------------------------------------------------
# operators on Tensor
# ----------------------------------------------------------------------------------------------
def _install_operators():
    def binop(fn, reverse=False):
        if reverse:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    T = Tensor
    T._override_operator("__add__", binop(add))
    T._override_operator("__radd__", binop(add, True))
    T._override_operator("__sub__", binop(subtract))
    T._override_operator("__rsub__", binop(subtract, True))
    T._override_operator("__mul__", binop(multiply))
    T._override_operator("__rmul__", binop(multiply, True))
    T._override_operator("__truediv__", binop(truediv))
    T._override_operator("__rtruediv__", binop(truediv, True))
    T._override_operator("__matmul__", binop(matmul))
    T._override_operator("__rmatmul__", binop(matmul, True))
    T._override_operator("__neg__", lambda self: negative(self))


_install_operators()
