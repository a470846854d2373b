"""Which variable a node's state is: the store key of a variable node, and the variable a ref
edge leads to.

A TF1 ref variable (`VariableV2`) keeps its buffer in the device's variable store under its
`shared_name` (else its node name), prefixed by its `container`.  Ops that take a variable by
reference (`Assign`, optimizer updates, ...) write that buffer; ops that forward a reference
(`Assign` returns its ref) lead back to the same variable.  The placer, the executor and the
kernels all ask these two questions, and answer them here.
"""
from __future__ import annotations

__all__ = ["variable_key", "ref_variable_key", "is_ref"]


def variable_key(name: str, attrs: dict) -> str:
    """The store key of variable node `name` with attributes `attrs`."""
    shared = attrs.get("shared_name") or ""
    container = attrs.get("container") or ""
    key = shared or name
    return f"{container}/{key}" if container else key


def ref_variable_key(op) -> str | None:
    """The store key of the variable that a ref edge from Operation `op` refers to (following
    ref-forwarding ops), or None when `op` leads to no variable."""
    seen = 0
    while op is not None and seen < 1000:
        d = op.op_def
        if d.is_variable:
            return variable_key(op.name, op._attrs)
        if d.ref_inputs:
            op = op._inputs[d.ref_inputs[0]].op
            seen += 1
            continue
        return None
    return None


def is_ref(t) -> bool:
    """Whether Tensor `t` is a variable's reference (the variable, or an op forwarding it)."""
    op = t.op
    while True:
        d = op.op_def
        if d.is_variable:
            return True
        if d.ref_inputs and d.may_alias:
            op = op.inputs[d.ref_inputs[0]].op
            continue
        return False
