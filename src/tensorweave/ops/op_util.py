"""Shared building blocks for op definitions: common shape functions, checks and wrapper helpers.

Every op module registers its ops with `register_op` and writes thin Python wrappers; what they
have in common lives here: numpy-style broadcasting of static shapes, "same as input 0" shapes,
the checks shape functions make with TF's error messages (`shape_error`: message, node, op type,
input shapes), reading small integer inputs the graph fixes (axes, perms), converting a binary
op's operands to one dtype, and creating a one-output op.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, apply_op
from ..framework.tensor_shape import Dimension, TensorShape

__all__ = ["broadcast_static", "unchanged_shape", "fmt_shape", "binary_inputs", "op1",
           "check_dtype", "same_dtype_inputs", "shape_error", "op_context", "check_index_input",
           "check_input_rank", "check_types", "rank_at_least", "rank_exactly", "merge_shapes",
           "merge_compatible", "const_ints", "const_int", "py_ints", "index_input",
           "is_tensor_like", "FLOAT_TYPES", "INDEX_TYPES"]

FLOAT_TYPES = _dtypes.FLOATING
#: the dtypes of index inputs (axes, perms, paddings, indices)
INDEX_TYPES = (_dtypes.int32, _dtypes.int64)


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
                             f"shapes: {fmt_shape(a)}, {fmt_shape(b)}.")
    return TensorShape(out)


def even_sizes(n: int, k: int) -> list[int]:
    """`n` cut into `k` sizes that differ by at most one, the larger first."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def fmt_shape(s: TensorShape) -> str:
    """A static shape as TF prints it in errors: `[2,?,3]`, `?` for an unknown rank."""
    if s.ndims is None:
        return "?"
    return "[" + ",".join("?" if d is None else str(d) for d in s.as_list()) + "]"


def unchanged_shape(op):
    """Shape function: one output with input 0's dtype and shape."""
    x = op.inputs[0]
    return [(x.dtype, x.shape)]


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


# ----------------------------------------------------------------------------------------------
# checks made by shape functions, with TF's error messages
# ----------------------------------------------------------------------------------------------
def op_context(op) -> str:
    """The tail of TF's shape errors: `for 'node' (op: 'Type') with input shapes: [2,3], [3].`"""
    shapes = ", ".join(fmt_shape(t.shape) for t in op.inputs)
    return f"for '{op.name}' (op: '{op.type}') with input shapes: {shapes}."


def shape_error(op, msg: str, exc=ValueError):
    """Raise `exc` in TF's shape-error format: message, node, op type, input shapes."""
    raise exc(f"{msg} {op_context(op)}")


def check_index_input(op, t, arg: str) -> None:
    """TypeError unless index input `t` (argument `arg`) is int32 or int64."""
    if t.dtype not in INDEX_TYPES:
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {t.dtype.name} not in "
                        f"list of allowed values: int32, int64 (node '{op.name}', op "
                        f"'{op.type}')")


def check_input_rank(op, t, rank: int, arg: str) -> None:
    """ValueError unless input `t` (argument `arg`) has rank `rank` (or an unknown rank)."""
    if t.shape.ndims is not None and t.shape.ndims != rank:
        shape_error(op, f"Shape must be rank {rank} but is rank {t.shape.ndims} for input "
                        f"'{arg}'")


def check_types(op, allowed) -> None:
    """TypeError unless input 0 has a dtype in `allowed` and every other input the same."""
    x = op.inputs[0]
    if x.dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"Value passed to '{op.type}' node '{op.name}' has DataType "
                        f"{x.dtype.name} not in list of allowed values: {names}")
    for i, t in enumerate(op.inputs[1:], 1):
        if t.dtype is not x.dtype:
            raise TypeError(f"Input {i} of '{op.type}' node '{op.name}' has type {t.dtype.name} "
                            f"that does not match type {x.dtype.name} of input 0.")


def rank_at_least(op, t, rank: int, what: str = "") -> TensorShape:
    """`t`'s static shape, ValueError when its rank is known and below `rank`."""
    if t.shape.ndims is not None and t.shape.ndims < rank:
        shape_error(op, f"Shape must be at least rank {rank} but is rank {t.shape.ndims}{what}")
    return t.shape


def rank_exactly(op, t, rank: int, what: str = "") -> TensorShape:
    """`t`'s static shape with rank `rank` (ValueError when its known rank differs)."""
    if t.shape.ndims is not None and t.shape.ndims != rank:
        shape_error(op, f"Shape must be rank {rank} but is rank {t.shape.ndims}{what}")
    return t.shape.with_rank(rank)


def merge_shapes(op, a: TensorShape, b: TensorShape, note: str = "") -> TensorShape:
    """Merge two static shapes with TF's messages (rank, then the first differing dimension)."""
    if a.ndims is None:
        return b
    if b.ndims is None:
        return a
    if a.ndims != b.ndims:
        shape_error(op, f"Shapes must be equal rank, but are {a.ndims} and {b.ndims}{note}")
    out = []
    for i, (x, y) in enumerate(zip(a.as_list(), b.as_list())):
        if x is not None and y is not None and x != y:
            shape_error(op, f"Dimension {i} in both shapes must be equal, but are {x} and {y}. "
                            f"Shapes are {fmt_shape(a)} and {fmt_shape(b)}.{note}")
        out.append(x if x is not None else y)
    return TensorShape(out)


def merge_compatible(op, a: TensorShape, b: TensorShape) -> TensorShape:
    """Merge two static shapes, ValueError "Incompatible shapes" naming both when they differ."""
    if not a.is_compatible_with(b):
        shape_error(op, f"Incompatible shapes {fmt_shape(a)} and {fmt_shape(b)}")
    return a.merge_with(b)


# ----------------------------------------------------------------------------------------------
# small integer inputs: reading them at build time, making them from Python values
# ----------------------------------------------------------------------------------------------
def const_ints(t):
    """The values of an integer tensor fixed by the graph, as a list of ints (else None)."""
    v = constant_value(t)
    return None if v is None else [int(a) for a in np.reshape(v, -1)]


def const_int(t):
    """The value of a one-element integer tensor fixed by the graph (else None)."""
    v = const_ints(t)
    return v[0] if v is not None and len(v) == 1 else None


def py_ints(value):
    """`value` with TensorShapes and Dimensions replaced by ints (so it converts to a tensor)."""
    if isinstance(value, TensorShape):
        return value.as_list()
    if isinstance(value, Dimension):
        return value.value
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Dimension, list, tuple))
                                                 for v in value):
        return [py_ints(v) for v in value]
    return value


def index_input(value, name: str, dtype=None) -> Tensor:
    """An int32/int64 tensor (axis, perm, paddings, ...) from a python value or tensor."""
    return convert_to_tensor(py_ints(value), dtype=dtype, name=name)


def is_tensor_like(x) -> bool:
    """A Tensor, or an object that stands for one (a Variable)."""
    return isinstance(x, Tensor) or hasattr(x, "_as_graph_element")
