"""Graph inputs: `constant` (op `Const`), `placeholder` and `placeholder_with_default`."""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor, register_constant_factory, to_numpy_constant
from ..framework.graph import get_default_graph
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape, as_shape
from .op_util import op1

__all__ = ["constant", "placeholder", "placeholder_with_default"]


@register_op("Const", is_const=True, required_attrs=("value", "dtype"))
def _const_shape(op):
    v = op.get_attr("value")
    return [(op.get_attr("dtype"), TensorShape(v.shape))]


@register_op("Placeholder", required_attrs=("dtype",))
def _placeholder_shape(op):
    return [(op.get_attr("dtype"), op._attrs.get("shape", TensorShape(None)))]


@register_op("PlaceholderWithDefault", may_alias=True)
def _pwd_shape(op):
    x = op.inputs[0]
    shape = op.get_attr("shape")
    if not shape.is_compatible_with(x.shape):
        raise ValueError(f"Default value of placeholder_with_default {op.name!r} has shape "
                         f"{x.shape}, incompatible with the given shape {shape}.")
    return [(x.dtype, shape)]


def constant(value, dtype=None, shape=None, name: str = "Const", verify_shape: bool = False):
    """TF1 `tf.constant`: a `Const` node holding `value` (broadcast/padded to `shape`)."""
    arr = to_numpy_constant(value, dtype)
    if shape is not None:
        shape = as_shape(shape)
        if not shape.is_fully_defined():
            raise ValueError(f"Shape {shape} of constant {name!r} must be fully defined")
        target = tuple(shape.as_list())
        n = int(np.prod(target, dtype=np.int64))
        if arr.shape == target:
            pass
        elif verify_shape:
            raise TypeError(f"Expected Tensor's shape: {target}, got {arr.shape}.")
        elif arr.size == 1:
            arr = np.full(target, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == n:
            arr = arr.reshape(target)
        elif 0 < arr.size < n:
            flat = arr.reshape(-1)
            arr = np.concatenate([flat, np.repeat(flat[-1:], n - flat.size)]).reshape(target)
        elif arr.size > n:
            raise ValueError(f"Too many elements provided. Needed at most {n}, but received "
                             f"{arr.size}")
        else:
            raise ValueError(f"Cannot create a constant of shape {list(target)} from an empty "
                             "value")
    dt = _dtypes.as_dtype(arr.dtype) if dtype is None else _dtypes.as_dtype(dtype)
    if not arr.flags.writeable or (isinstance(value, np.ndarray) and arr is value):
        arr = arr.copy()  # the graph owns its constants; later edits of `value` must not leak in
    arr.flags.writeable = False
    return get_default_graph().create_op("Const", [], {"value": arr, "dtype": dt},
                                         name=name).outputs[0]


register_constant_factory(constant)  # how convert_to_tensor turns plain values into tensors


def placeholder(dtype, shape=None, name=None):
    """TF1 `tf.placeholder(dtype, shape=None, name=None)`: a tensor that must be fed."""
    dtype = _dtypes.as_dtype(dtype)
    shape = TensorShape(None) if shape is None else as_shape(shape)
    return get_default_graph().create_op("Placeholder", [], {"dtype": dtype, "shape": shape},
                                         name=name or "Placeholder").outputs[0]


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF1 argument name
    """TF1 `tf.placeholder_with_default`: `input` unless a value is fed."""
    x = convert_to_tensor(input)
    return op1("PlaceholderWithDefault", [x], {"dtype": x.dtype, "shape": as_shape(shape)},
               name or "PlaceholderWithDefault")
