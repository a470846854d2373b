"""Pruning: the part of a graph that a step's fetches and targets need.

The first pass of every plan (in-process or on workers) and of every function body: it keeps the
ops the fetched tensors and target ops depend on (data and control inputs), except the producers
of fed tensors and variables reached only by reference (an initializer's `Assign` writes the
variable's buffer without running the variable's read).
"""
from __future__ import annotations

__all__ = ["prune_ops"]


def prune_ops(outputs, targets=(), fed=frozenset()) -> list:
    """The ops that `outputs` (tensors) and `targets` (ops) need, in creation order.

    `fed`: (op name, output index) of tensors given from outside, whose producers need not run.
    A variable reached only through a reference (an assign's input 0) does not run either."""
    needed: dict[int, object] = {}
    stack = [t.op for t in outputs if (t.op.name, t.value_index) not in fed] + list(targets)
    while stack:
        op = stack.pop()
        if op._id in needed:
            continue
        needed[op._id] = op
        ref_pos = op._op_def.ref_inputs
        for pos, t in enumerate(op._inputs):
            if fed and (t._op._name, t._value_index) in fed:
                continue
            if pos in ref_pos and t._op._op_def.is_variable:
                continue
            stack.append(t._op)
        stack.extend(op._control_inputs)
    return [needed[i] for i in sorted(needed)]
