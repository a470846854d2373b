"""The op registry: every op type is registered once, with its shape/dtype function and flags.

An op's *definition* (this table) is separate from its *kernels* (one table per backend under
`tensorweave.kernels`) and its *gradient* (the table in `tensorweave.autodiff.registry`).  The
shape function receives the `Operation` being built (its `inputs` and `get_attr`) and returns a
list of `(DType, TensorShape)` pairs, one per output, raising `ValueError`/`TypeError` with both
shapes when the inputs do not fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

__all__ = ["OpDef", "register_op", "get_op_def", "registered_ops"]


@dataclass(frozen=True)
class OpDef:
    """Static facts about one op type."""

    name: str
    shape_fn: Callable
    #: The op has side effects or produces different values on each run (random, assign, ...).
    stateful: bool = False
    #: Input positions taken by reference (a variable to write), not by value.
    ref_inputs: tuple = ()
    #: The op *is* a variable: its output is the variable's current buffer.
    is_variable: bool = False
    #: Outputs may share memory with an input or with variable state (views, refs).
    may_alias: bool = False
    #: The op's single output is its `value` attr, known at build time.
    is_const: bool = False
    #: Attrs that must be present (checked when the node is built).
    required_attrs: tuple = field(default=())


_REGISTRY: dict[str, OpDef] = {}


def register_op(name: str, *, stateful: bool = False, ref_inputs: tuple = (),
                is_variable: bool = False, may_alias: bool = False, is_const: bool = False,
                required_attrs: tuple = ()):
    """Decorator registering `shape_fn` as the shape function of op type `name`."""

    def deco(shape_fn):
        if name in _REGISTRY:
            raise KeyError(f"Op type {name!r} is already registered")
        _REGISTRY[name] = OpDef(name, shape_fn, stateful, tuple(ref_inputs), is_variable,
                                may_alias, is_const, tuple(required_attrs))
        return shape_fn

    return deco


def get_op_def(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Op type not registered: {name!r}") from None


def registered_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)
