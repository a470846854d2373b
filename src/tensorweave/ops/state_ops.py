"""Variable state ops: `VariableV2`, `Assign*`, `Scatter*`, `IsVariableInitialized`.

A variable is a node whose output is the current buffer held in the device's variable store.
Ops that write a variable take it *by reference* (input 0 is the VariableV2 output, listed in the
op's `ref_inputs`): the executor hands the kernel the store key instead of a value, and the kernel
updates the buffer in place.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, get_default_graph
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from ..framework.variable_refs import is_ref
from .op_util import fmt_shape, op1

__all__ = ["variable_op_v2", "assign", "assign_add", "assign_sub", "scatter_update",
           "scatter_add", "scatter_sub", "scatter_mul", "scatter_div", "scatter_max",
           "scatter_min", "is_variable_initialized", "count_up_to"]


@register_op("VariableV2", stateful=True, is_variable=True, may_alias=True,
             required_attrs=("shape", "dtype"))
def _variable_shape(op):
    return [(op.get_attr("dtype"), op.get_attr("shape"))]


def _check_ref(op, what="ref"):
    ref = op.inputs[0]
    if not is_ref(ref):
        raise TypeError(f"'{op.type}' Op requires that input '{what}' be a mutable tensor "
                        f"(a variable), but {ref.name} comes from a {ref.op.type} node.")
    return ref


@register_op("Assign", stateful=True, ref_inputs=(0,), may_alias=True)
def _assign_shape(op):
    ref = _check_ref(op)
    value = op.inputs[1]
    if value.dtype is not ref.dtype:
        raise TypeError(f"Input 'value' of 'Assign' Op has type {value.dtype.name} that does not "
                        f"match type {ref.dtype.name} of argument 'ref'.")
    if op._attrs.get("validate_shape", True):
        if not ref.shape.is_compatible_with(value.shape):
            raise ValueError(f"Shapes {ref.shape} and {value.shape} are incompatible "
                             f"(assigning to {ref.op.name} in '{op.name}')")
        return [(ref.dtype, ref.shape.merge_with(value.shape))]
    return [(ref.dtype, value.shape)]


def _update_shape(op):
    ref = _check_ref(op)
    value = op.inputs[1]
    if value.dtype is not ref.dtype:
        raise TypeError(f"Input 'value' of '{op.type}' Op has type {value.dtype.name} that does "
                        f"not match type {ref.dtype.name} of argument 'ref'.")
    if not ref.shape.is_compatible_with(value.shape):
        raise ValueError(f"Shapes {ref.shape} and {value.shape} are incompatible in '{op.name}' "
                         f"({op.type} of {ref.op.name})")
    return [(ref.dtype, ref.shape)]


register_op("AssignAdd", stateful=True, ref_inputs=(0,), may_alias=True)(_update_shape)
register_op("AssignSub", stateful=True, ref_inputs=(0,), may_alias=True)(_update_shape)


def _scatter_shape(op):
    ref = _check_ref(op)
    indices, updates = op.inputs[1], op.inputs[2]
    if not indices.dtype.is_integer:
        raise TypeError(f"'{op.type}' indices must be int32 or int64, got {indices.dtype.name}")
    if updates.dtype is not ref.dtype:
        raise TypeError(f"Input 'updates' of '{op.type}' Op has type {updates.dtype.name} that "
                        f"does not match type {ref.dtype.name} of argument 'ref'.")
    if ref.shape.ndims is not None and indices.shape.ndims is not None:
        expected = indices.shape.concatenate(ref.shape[1:])
        if not updates.shape.is_compatible_with(expected) and updates.shape.ndims != 0:
            raise ValueError(f"Shapes must be equal rank, but updates has shape "
                             f"{fmt_shape(updates.shape)} and indices+ref[1:] give "
                             f"{fmt_shape(expected)} for '{op.name}' (op: '{op.type}')")
    return [(ref.dtype, ref.shape)]


for _t in ("ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMul", "ScatterDiv",
           "ScatterMax", "ScatterMin"):
    register_op(_t, stateful=True, ref_inputs=(0,), may_alias=True)(_scatter_shape)


@register_op("IsVariableInitialized", stateful=True, ref_inputs=(0,))
def _is_init_shape(op):
    _check_ref(op)
    return [(_dtypes.bool, TensorShape([]))]


@register_op("VariableValueOr", stateful=True, ref_inputs=(0,), may_alias=True)
def _value_or_shape(op):
    """Output: the variable's value if it is initialized, else input 1 (its initial value)."""
    ref = _check_ref(op)
    return [(ref.dtype, ref.shape.merge_with(op.inputs[1].shape)
             if ref.shape.is_compatible_with(op.inputs[1].shape) else op.inputs[1].shape)]


@register_op("ReportUninitialized")
def _report_shape(op):
    """Inputs: N IsVariableInitialized results; output: the `names` whose flag is false."""
    return [(_dtypes.string, TensorShape([None]))]


@register_op("CountUpTo", stateful=True, ref_inputs=(0,))
def _count_up_to_shape(op):
    ref = _check_ref(op)
    if ref.dtype not in (_dtypes.int32, _dtypes.int64):
        raise TypeError(f"CountUpTo requires an int32 or int64 variable, got {ref.dtype.name}")
    return [(ref.dtype, TensorShape([]))]


# ----------------------------------------------------------------------------------------------
# wrappers
# ----------------------------------------------------------------------------------------------
def variable_op_v2(shape, dtype, name="Variable", container="", shared_name=""):
    return get_default_graph().create_op(
        "VariableV2", [], {"shape": TensorShape(shape), "dtype": _dtypes.as_dtype(dtype),
                           "container": container, "shared_name": shared_name},
        name=name).outputs[0]


def ref_of(ref):
    r = getattr(ref, "_ref", None)
    if callable(r):
        return r()
    if isinstance(ref, Tensor):
        return ref
    raise TypeError(f"Expected a Variable or a variable ref tensor, got {ref!r}")


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """Set `ref` to `value`; returns the ref (the new value)."""
    r = ref_of(ref)
    value = convert_to_tensor(value, dtype=r.dtype)
    attrs = {"T": r.dtype,
             "validate_shape": True if validate_shape is None else bool(validate_shape),
             "use_locking": True if use_locking is None else bool(use_locking)}
    return op1("Assign", [r, value], attrs, name or "Assign")


def assign_add(ref, value, use_locking=None, name=None):
    r = ref_of(ref)
    value = convert_to_tensor(value, dtype=r.dtype)
    return op1("AssignAdd", [r, value], {"T": r.dtype, "use_locking": bool(use_locking)},
               name or "AssignAdd")


def assign_sub(ref, value, use_locking=None, name=None):
    r = ref_of(ref)
    value = convert_to_tensor(value, dtype=r.dtype)
    return op1("AssignSub", [r, value], {"T": r.dtype, "use_locking": bool(use_locking)},
               name or "AssignSub")


def _scatter(op_type, ref, indices, updates, use_locking, name):
    r = ref_of(ref)
    indices = convert_to_tensor(indices)
    updates = convert_to_tensor(updates, dtype=r.dtype)
    return op1(op_type, [r, indices, updates],
               {"T": r.dtype, "Tindices": indices.dtype, "use_locking": bool(use_locking)},
               name or op_type)


def scatter_update(ref, indices, updates, use_locking=True, name=None):
    return _scatter("ScatterUpdate", ref, indices, updates, use_locking, name)


def scatter_add(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterAdd", ref, indices, updates, use_locking, name)


def scatter_sub(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterSub", ref, indices, updates, use_locking, name)


def scatter_mul(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterMul", ref, indices, updates, use_locking, name)


def scatter_div(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterDiv", ref, indices, updates, use_locking, name)


def scatter_max(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterMax", ref, indices, updates, use_locking, name)


def scatter_min(ref, indices, updates, use_locking=False, name=None):
    return _scatter("ScatterMin", ref, indices, updates, use_locking, name)


def is_variable_initialized(variable, name=None):
    return op1("IsVariableInitialized", [ref_of(variable)], {"dtype": ref_of(variable).dtype},
               name or "IsVariableInitialized")


def count_up_to(ref, limit, name=None):
    r = ref_of(ref)
    return op1("CountUpTo", [r], {"T": r.dtype, "limit": int(limit)}, name or "CountUpTo")
