"""Turning Python values into graph tensors, and reading constant values back at build time.

* `convert_to_tensor(value, dtype=None, name=None)`: Tensors pass through (dtype-checked); objects
  with a registered conversion (Variables, ...) convert themselves; anything else becomes a `Const`
  (made by the function `ops/constant_op.py` registers with `register_constant_factory`: the
  graph layer defines no ops).
* `to_numpy_constant(value, dtype)`: the TF1 rules for a Python/numpy value's dtype (Python float ->
  float32, int -> int32 or int64, str -> string) and value checks.
* `constant_value(tensor)`: the value of a tensor when the graph fixes it (a `Const`, the `Shape` of
  a fully-defined tensor, ...), used by shape functions.  Rules live in a table keyed by op type.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import dtypes as _dtypes
from .graph import Tensor
from .tensor_shape import TensorShape

__all__ = ["convert_to_tensor", "register_tensor_conversion_function", "to_numpy_constant",
           "constant_value", "register_constant_value_rule", "constant_value_as_shape",
           "convert_n_to_tensor", "is_tensor", "register_constant_factory"]

_CONVERSIONS: list = []  # (base_type, fn(value, dtype, name, as_ref) -> Tensor)
_CONSTANT: list = []     # [constant(value, dtype=None, name=...) -> Tensor], once registered


def register_constant_factory(constant) -> None:
    """Make `constant(value, dtype=None, name=...)` the way plain values become tensors."""
    _CONSTANT[:] = [constant]


def register_tensor_conversion_function(base_type, conversion_func, priority: int = 100) -> None:
    _CONVERSIONS.append((priority, base_type, conversion_func))
    _CONVERSIONS.sort(key=lambda t: t[0])


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _encode_strings(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_encode_strings(v) for v in value]
    return value


def _python_infer(value, narrow: bool = True) -> np.ndarray:
    """A numpy array for a python value; with `narrow`, TF1's default dtypes (float32, int32)."""
    arr = np.asarray(_encode_strings(value))
    if not narrow and arr.dtype.kind not in "SUO":
        return arr
    if arr.dtype.kind == "f" and arr.dtype != np.float32 and not _has_numpy(value):
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and not _has_numpy(value):
        if arr.size == 0 or (arr.min() >= -2**31 and arr.max() < 2**31):
            arr = arr.astype(np.int32)
        else:
            arr = arr.astype(np.int64)
    elif arr.dtype.kind in "SU":
        arr = _to_bytes_array(arr)
    elif arr.dtype.kind == "O":
        if all(isinstance(x, (bytes, str)) for x in arr.flat):
            arr = _to_bytes_array(arr)
        else:
            raise TypeError(f"Failed to convert object of type {type(value).__name__} to Tensor. "
                            f"Contents: {value!r}. Consider casting elements to a supported type.")
    return arr


def _has_numpy(value) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple)) and value:
        return _has_numpy(value[0])
    return False


def _to_bytes_array(arr) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, x in enumerate(arr.reshape(-1)):
        flat[i] = x.encode("utf-8") if isinstance(x, str) else bytes(x)
    return out


def to_numpy_constant(value, dtype=None) -> np.ndarray:
    """The numpy array a `Const` of `value` holds, with TF1's dtype rules and range checks."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype)
    if isinstance(value, np.ndarray) and value.dtype.kind not in "OSU":
        arr = value
    elif isinstance(value, np.generic) and not isinstance(value, (np.str_, np.bytes_)):
        arr = np.asarray(value)
    else:
        # with a requested dtype, convert from full precision (0.1 -> float64 stays 0.1)
        arr = _python_infer(value, narrow=dtype is None)
    if dtype is None:
        dt = _dtypes.as_dtype(arr.dtype)
        return arr if arr.dtype == dt.np or dt is _dtypes.string else arr.astype(dt.np)
    if dtype is _dtypes.string:
        if arr.size == 0 and arr.dtype != object:
            return arr.astype(object)     # an empty list (or array) of strings, as TF takes
        if arr.dtype != object:
            raise TypeError(f"Expected string, got {value!r} of type '{type(value).__name__}' "
                            "instead.")
        return arr
    if arr.dtype == object:
        raise TypeError(f"Expected {dtype.name}, got {value!r} of type '{type(value).__name__}' "
                        "instead.")
    src_kind, dst_kind = arr.dtype.kind, dtype.np.kind
    if dst_kind in "iu" and src_kind in "fc":
        if not np.all(np.equal(np.mod(arr.real, 1), 0)):
            raise TypeError(f"Expected {dtype.name}, got {value!r} of type "
                            f"'{type(value).__name__}' instead.")
    if dst_kind in "iub" and src_kind in "iu":
        if arr.size and dst_kind != "b":
            info = np.iinfo(dtype.np)
            if arr.min() < info.min or arr.max() > info.max:
                raise ValueError(f"Value {value!r} is out of range for {dtype.name}.")
    if dst_kind == "b" and src_kind != "b":
        raise TypeError(f"Expected bool, got {value!r} of type '{type(value).__name__}' instead.")
    if dst_kind in "fiu" and src_kind == "c":
        raise TypeError(f"Expected {dtype.name}, got {value!r} of type '{type(value).__name__}' "
                        "instead.")
    return arr.astype(dtype.np, copy=False)


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, dtype_hint=None,
                      as_ref: bool = False) -> Tensor:
    """TF1 `tf.convert_to_tensor`: a Tensor of `value`, checked against `dtype`."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype)
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype is not dtype:
            raise ValueError(f"Tensor conversion requested dtype {dtype.name} for Tensor with "
                             "dtype "
                             f"{value.dtype.name}: {value!r}")
        return value
    for _, base, fn in _CONVERSIONS:
        if isinstance(value, base):
            t = fn(value, dtype=dtype, name=name, as_ref=as_ref)
            if t is not NotImplemented:
                if dtype is not None and t.dtype is not dtype:
                    raise ValueError(f"Tensor conversion requested dtype {dtype.name} for Tensor "
                                     f"with dtype {t.dtype.name}: {t!r}")
                return t
    if not _CONSTANT:
        raise RuntimeError("convert_to_tensor: no constant op is registered (import tensorweave)")
    constant = _CONSTANT[0]
    hint = preferred_dtype if preferred_dtype is not None else dtype_hint
    if dtype is None and hint is not None:
        try:
            return constant(value, dtype=hint, name=name or "Const")
        except (TypeError, ValueError):
            pass
    return constant(value, dtype=dtype, name=name or "Const")


def convert_n_to_tensor(values, dtype=None, name=None) -> list:
    return [convert_to_tensor(v, dtype=dtype, name=None if name is None else f"{name}_{i}")
            for i, v in enumerate(values)]


# ----------------------------------------------------------------------------------------------
# constant values known at build time
# ----------------------------------------------------------------------------------------------
_CONSTANT_VALUE_RULES: dict = {}


def register_constant_value_rule(op_type: str):
    """Decorator: `fn(op) -> np.ndarray | None` computes an op's output 0 at build time."""

    def deco(fn):
        _CONSTANT_VALUE_RULES[op_type] = fn
        return fn

    return deco


def constant_value(tensor, partial: bool = False):
    """The numpy value of `tensor` if the graph alone determines it, else None."""
    if not isinstance(tensor, Tensor):
        try:
            return np.asarray(tensor)
        except Exception:  # noqa: BLE001 - not a value we can read
            return None
    op = tensor.op
    if op.type == "Const":
        return op.get_attr("value")
    rule = _CONSTANT_VALUE_RULES.get(op.type)
    if rule is None:
        return None
    try:
        return rule(tensor)
    except (ValueError, TypeError, IndexError):
        return None


@register_constant_value_rule("Identity")
def _cv_identity(t):
    return constant_value(t.op.inputs[0])


@register_constant_value_rule("Shape")
def _cv_shape(t):
    s = t.op.inputs[0].shape
    if s.is_fully_defined():
        return np.array(s.as_list(), dtype=t.dtype.np)
    return None


@register_constant_value_rule("Size")
def _cv_size(t):
    s = t.op.inputs[0].shape
    if s.is_fully_defined():
        return np.array(s.num_elements(), dtype=t.dtype.np)
    return None


@register_constant_value_rule("Rank")
def _cv_rank(t):
    s = t.op.inputs[0].shape
    return None if s.ndims is None else np.array(s.ndims, dtype=np.int32)


@register_constant_value_rule("Cast")
def _cv_cast(t):
    v = constant_value(t.op.inputs[0])
    return None if v is None else np.asarray(v).astype(t.dtype.np)


@register_constant_value_rule("Pack")
def _cv_pack(t):
    vals = [constant_value(i) for i in t.op.inputs]
    if any(v is None for v in vals):
        return None
    return np.stack(vals, axis=t.op.get_attr("axis")).astype(t.dtype.np)


@register_constant_value_rule("ConcatV2")
def _cv_concat(t):
    vals = [constant_value(i) for i in t.op.inputs]
    if any(v is None for v in vals):
        return None
    return np.concatenate(vals[:-1], axis=int(vals[-1]))


def constant_value_as_shape(tensor) -> TensorShape:
    """The `TensorShape` a 1-D int tensor describes, with unknown entries where not constant."""
    v = constant_value(tensor)
    if v is not None:
        v = np.asarray(v)
        if v.ndim == 0:
            raise ValueError(f"A shape must be a vector, got a scalar {tensor}")
        return TensorShape([None if int(d) == -1 else int(d) for d in v])
    if isinstance(tensor, Tensor):
        op = tensor.op
        if op.type == "Pack":
            dims = []
            for inp in op.inputs:
                c = constant_value(inp)
                dims.append(None if c is None or int(c) == -1 else int(c))
            return TensorShape(dims)
        if op.type == "Shape":
            return op.inputs[0].shape
        if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape":
            sliced = _strided_slice_of_shape(op)
            if sliced is not None:
                return sliced
        if op.type == "ConcatV2":
            out = TensorShape([])
            for inp in op.inputs[:-1]:
                out = out.concatenate(constant_value_as_shape(inp))
            return out
        shp = tensor.shape
        if shp.ndims == 1 and shp[0].value is not None:
            return TensorShape([None] * shp[0].value)
    return TensorShape(None)


def _strided_slice_of_shape(op):
    """`tw.shape(x)[a:b:c]` as a partial TensorShape (only begin/end masks, 1-D slices)."""
    dims = op.inputs[0].op.inputs[0].shape
    if dims.ndims is None:
        return None
    attrs = op._attrs
    if any(attrs.get(m, 0) for m in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")):
        return None
    b, e, st = (constant_value(t) for t in op.inputs[1:4])
    if b is None or e is None or st is None or np.size(b) != 1:
        return None
    begin = None if attrs.get("begin_mask", 0) & 1 else int(np.reshape(b, -1)[0])
    end = None if attrs.get("end_mask", 0) & 1 else int(np.reshape(e, -1)[0])
    step = int(np.reshape(st, -1)[0])
    if step == 0:
        return None
    return TensorShape(dims.dims[slice(begin, end, step)])


def is_python_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)
