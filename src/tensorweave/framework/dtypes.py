"""Data types: the `DType` class, one instance per supported element type, and `as_dtype`.

A `DType` wraps a numpy dtype and carries the TF1 names and predicates (`is_floating`,
`is_integer`, `min`, `max`, ...).  `string` tensors are numpy object arrays of `bytes`.
"""
from __future__ import annotations

import builtins as _builtins

import numpy as np

__all__ = [
    "DType", "as_dtype",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "half", "float", "double",
    "complex64", "complex128", "bool", "string", "variant",
]


class DType:
    """An element type of a tensor (TF1 `tf.DType`)."""

    __slots__ = ("_name", "_np", "_enum")

    def __init__(self, name: str, np_dtype, enum: int):
        self._name = name
        self._np = np.dtype(np_dtype)
        self._enum = enum

    # --- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def as_numpy_dtype(self):
        """The numpy scalar type (`np.float32`, ...); `object` for string."""
        return self._np.type

    @property
    def np(self) -> np.dtype:
        """The numpy dtype object used by kernels."""
        return self._np

    @property
    def as_datatype_enum(self) -> int:
        return self._enum

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def real_dtype(self) -> DType:
        return {"complex64": float32, "complex128": float64}.get(self._name, self)

    # --- predicates -------------------------------------------------------------------------
    @property
    def is_floating(self) -> bool:
        return self._np.kind == "f"

    @property
    def is_complex(self) -> bool:
        return self._np.kind == "c"

    @property
    def is_integer(self) -> bool:
        return self._np.kind in "iu"

    @property
    def is_unsigned(self) -> bool:
        return self._np.kind == "u"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def is_numeric(self) -> bool:
        return self._np.kind in "iufc"

    @property
    def is_quantized(self) -> bool:
        return False

    @property
    def size(self) -> int:
        return self._np.itemsize if self._name != "string" else 8

    @property
    def min(self):
        if self.is_floating:
            return _builtins.float(np.finfo(self._np).min)
        if self.is_integer:
            return _builtins.int(np.iinfo(self._np).min)
        if self.is_bool:
            return False
        raise TypeError(f"Cannot find minimum value of {self}.")

    @property
    def max(self):
        if self.is_floating:
            return _builtins.float(np.finfo(self._np).max)
        if self.is_integer:
            return _builtins.int(np.iinfo(self._np).max)
        if self.is_bool:
            return True
        raise TypeError(f"Cannot find maximum value of {self}.")

    @property
    def limits(self):
        return self.min, self.max

    def is_compatible_with(self, other) -> bool:
        return self is as_dtype(other)

    # --- python protocol --------------------------------------------------------------------
    def __eq__(self, other):
        if other is None:
            return False
        if isinstance(other, DType):
            return self is other
        try:
            return self is as_dtype(other)
        except TypeError:
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return self._enum

    def __repr__(self):
        return f"tw.{self._name}"

    def __str__(self):
        return f"<dtype: '{self._name}'>"

    def __reduce__(self):  # pragma: no cover - copy/deepcopy support only
        return as_dtype, (self._name,)


# Enum values follow TF's DataType proto so GraphDefs read naturally.
float32 = DType("float32", np.float32, 1)
float64 = DType("float64", np.float64, 2)
int32 = DType("int32", np.int32, 3)
uint8 = DType("uint8", np.uint8, 4)
int16 = DType("int16", np.int16, 5)
int8 = DType("int8", np.int8, 6)
string = DType("string", object, 7)
complex64 = DType("complex64", np.complex64, 8)
int64 = DType("int64", np.int64, 9)
bool = DType("bool", np.bool_, 10)  # noqa: A001 - TF1 name
uint16 = DType("uint16", np.uint16, 17)
complex128 = DType("complex128", np.complex128, 18)
float16 = DType("float16", np.float16, 19)
uint32 = DType("uint32", np.uint32, 22)
uint64 = DType("uint64", np.uint64, 23)
#: An opaque value (a TensorArray's list of elements); never crosses a process boundary.
variant = DType("variant", object, 21)
half = float16
float = float32  # noqa: A001 - TF1 alias
double = float64

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
       complex64, complex128, bool, string)
FLOATING = (float16, float32, float64)
COMPLEX = (complex64, complex128)
INTEGER = (int8, int16, int32, int64, uint8, uint16, uint32, uint64)
NUMERIC = FLOATING + COMPLEX + INTEGER

_BY_NAME = {d.name: d for d in ALL}
_BY_NAME["variant"] = variant
_BY_NAME.update({"half": float16, "float": float32, "double": float64, "bool_": bool})
_BY_ENUM = {d.as_datatype_enum: d for d in ALL}
_BY_ENUM[variant.as_datatype_enum] = variant
_BY_NP = {d.np: d for d in ALL if d is not string}
_BY_PY = {_builtins.float: float32, _builtins.int: int32, _builtins.bool: bool,
          _builtins.complex: complex128,
          _builtins.str: string, _builtins.bytes: string, object: string}


def as_dtype(type_value) -> DType:
    """Convert a DType, numpy dtype/type, python type, enum or name into a `DType`."""
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, str):
        try:
            return _BY_NAME[type_value]
        except KeyError:
            raise TypeError(f"Cannot convert value {type_value!r} to a tensorweave "
                            "DType.") from None
    if isinstance(type_value, _builtins.int) and not isinstance(type_value, _builtins.bool):
        try:
            return _BY_ENUM[type_value]
        except KeyError:
            raise TypeError(f"Cannot convert value {type_value!r} to a tensorweave "
                            "DType.") from None
    if type_value in _BY_PY:
        return _BY_PY[type_value]
    try:
        npd = np.dtype(type_value)
    except TypeError:
        raise TypeError(f"Cannot convert value {type_value!r} to a tensorweave DType.") from None
    if npd.kind in "OSU":
        return string
    try:
        return _BY_NP[npd]
    except KeyError:
        raise TypeError(f"Cannot convert value {type_value!r} to a tensorweave DType.") from None
