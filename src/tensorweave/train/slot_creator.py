"""Slot variables: per-variable optimizer state (`w/Momentum`, `w/Adam`, `w/Adam_1`, ...).

A slot is a non-trainable variable with its primary's shape, created as TF1 does: in the variable
scope `<primary op name>/<optimizer name>` (made unique, hence `w/Adam` then `w/Adam_1`) through
`get_variable('')`, so the slot's op is named exactly like that scope, colocated with the primary
(and so placed on its device), in GLOBAL_VARIABLES only.
"""
from __future__ import annotations

from ..framework.graph import GraphKeys
from ..ops import init_ops
from ..ops.variable_scope import get_variable, variable_scope

__all__ = ["create_slot", "create_slot_with_initializer", "create_zeros_slot"]


def _create_slot_var(primary, val, shape, dtype, validate_shape):
    shape = shape if callable(val) else None
    return get_variable("", initializer=val, trainable=False, shape=shape, dtype=dtype,
                        validate_shape=validate_shape,
                        collections=[GraphKeys.GLOBAL_VARIABLES])


def create_slot(primary, val, name, colocate_with_primary=True):
    """A slot for `primary` initialised to the tensor `val`."""
    validate_shape = val.get_shape().is_fully_defined()
    with variable_scope(None, primary.op.name + "/" + name):
        if colocate_with_primary:
            with primary.graph.colocate_with(primary):
                return _create_slot_var(primary, val, None, None, validate_shape)
        return _create_slot_var(primary, val, None, None, validate_shape)


def create_slot_with_initializer(primary, initializer, shape, dtype, name,
                                 colocate_with_primary=True):
    """A slot for `primary` built by `initializer(shape, dtype)`."""
    validate_shape = shape.is_fully_defined()
    with variable_scope(None, primary.op.name + "/" + name):
        if colocate_with_primary:
            with primary.graph.colocate_with(primary):
                return _create_slot_var(primary, initializer, shape, dtype, validate_shape)
        return _create_slot_var(primary, initializer, shape, dtype, validate_shape)


def create_zeros_slot(primary, name, dtype=None, colocate_with_primary=True):
    """A slot of zeros with `primary`'s shape (TF1 `slot_creator.create_zeros_slot`)."""
    dtype = primary.dtype.base_dtype if dtype is None else dtype
    shape = primary.get_shape()
    if not shape.is_fully_defined():
        raise ValueError(f"Cannot create a slot for {primary.op.name}: its shape {shape} is not "
                         "fully defined.")
    return create_slot_with_initializer(primary, init_ops.zeros_initializer(), shape, dtype, name,
                                        colocate_with_primary=colocate_with_primary)
