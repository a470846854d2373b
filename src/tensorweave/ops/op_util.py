"""Shared building blocks for op definitions: common shape functions and wrapper helpers.

Every op module registers its ops with `register_op` and writes thin Python wrappers; what they
have in common (numpy-style broadcasting of static shapes, "same as input 0" shapes, converting a
binary op's operands to one dtype with TF1's error messages, creating a one-output op) lives here.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, apply_op
from ..framework.tensor_shape import Dimension, TensorShape

__all__ = ["broadcast_static", "unchanged_shape", "binary_broadcast_shape", "binary_inputs",
           "op1", "check_dtype", "same_dtype_inputs"]


def broadcast_static(a: TensorShape, b: TensorShape, op=None) -> TensorShape:
    """numpy broadcasting of two static shapes; ValueError naming both when they cannot."""
    if a.ndims is None or b.ndims is None:
        return TensorShape(None)
    da, db = a.as_list(), b.as_list()
    n = max(len(da), len(db))
    da = [1] * (n - len(da)) + da
    db = [1] * (n - len(db)) + db
    out = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)
        elif y is None:
            out.append(x)
        elif x == y:
            out.append(x)
        else:
            where = f" for '{op.name}' (op: '{op.type}')" if op is not None else ""
            raise ValueError(f"Dimensions must be equal, but are {x} and {y}{where} with input "
                             f"shapes: {_fmt(a)}, {_fmt(b)}.")
    return TensorShape(out)


def _fmt(s: TensorShape) -> str:
    if s.ndims is None:
        return "?"
    return "[" + ",".join("?" if d is None else str(d) for d in s.as_list()) + "]"


def fmt_shape(s: TensorShape) -> str:
    return _fmt(s)


def unchanged_shape(op):
    """Shape function: one output with input 0's dtype and shape."""
    x = op.inputs[0]
    return [(x.dtype, x.shape)]


def binary_broadcast_shape(op):
    """Shape function: one output with the inputs' dtype and their broadcast shape."""
    x, y = op.inputs[0], op.inputs[1]
    if x.dtype is not y.dtype:
        raise TypeError(f"Input 'y' of '{op.type}' Op has type {y.dtype.name} that does not match "
                        f"type {x.dtype.name} of argument 'x'.")
    return [(x.dtype, broadcast_static(x.shape, y.shape, op))]


def binary_inputs(x, y, op_type: str):
    """Convert the operands of a binary op: Python values take the dtype of the tensor operand."""
    if isinstance(x, Tensor) or hasattr(x, "_as_graph_element"):
        x = convert_to_tensor(x)
        y = _convert_like(y, x.dtype, op_type, "y", x)
    elif isinstance(y, Tensor) or hasattr(y, "_as_graph_element"):
        y = convert_to_tensor(y)
        x = _convert_like(x, y.dtype, op_type, "x", y)
    else:
        x = convert_to_tensor(x, name="x")
        y = _convert_like(y, x.dtype, op_type, "y", x)
    if x.dtype is not y.dtype:
        raise TypeError(f"Input 'y' of '{op_type}' Op has type {y.dtype.name} that does not match "
                        f"type {x.dtype.name} of argument 'x'.")
    return x, y


def _convert_like(v, dtype, op_type, arg, other):
    if isinstance(v, Tensor):
        return v
    if hasattr(v, "_as_graph_element"):
        return convert_to_tensor(v)
    try:
        return convert_to_tensor(v, dtype=dtype, name=arg)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Cannot convert {v!r} to a Tensor of dtype {dtype.name} for argument "
                        f"'{arg}' of '{op_type}' Op (other operand: {other.name}): {e}") from None


def same_dtype_inputs(values, op_type: str, dtype=None) -> list:
    """Convert a list of operands to one dtype (the first Tensor's, or `dtype`)."""
    if dtype is None:
        for v in values:
            if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
                dtype = convert_to_tensor(v).dtype
                break
    out = [convert_to_tensor(v, dtype=dtype) if not isinstance(v, Tensor) else v for v in values]
    if out:
        d0 = out[0].dtype
        for i, t in enumerate(out):
            if t.dtype is not d0:
                raise TypeError(f"Input {i} of '{op_type}' Op has type {t.dtype.name} that does "
                                f"not match type {d0.name} of input 0.")
    return out


def check_dtype(t: Tensor, allowed, op_type: str, arg: str = "x") -> None:
    """TypeError unless `t.dtype` is one of `allowed`."""
    if t.dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {t.dtype.name} not in "
                        f"list of allowed values: {names} (op '{op_type}')")


def op1(op_type: str, inputs, attrs=None, name=None) -> Tensor:
    """Create a one-output op and return its output."""
    return apply_op(op_type, list(inputs), attrs, name).outputs[0]


def dim(v) -> Dimension:
    return v if isinstance(v, Dimension) else Dimension(v)


FLOAT_TYPES = _dtypes.FLOATING
NUMERIC_TYPES = _dtypes.NUMERIC
