"""Grouping and ordering: `no_op`, `group`, `tuple`, `with_dependencies`.

(`cond` and `while_loop` arrive with the control-flow issue.)
"""
from __future__ import annotations

import builtins

from ..framework.graph import Operation, Tensor, _as_op, get_default_graph, name_scope
from ..framework.op_registry import register_op

__all__ = ["no_op", "group", "tuple", "with_dependencies"]


@register_op("NoOp")
def _noop_shape(op):
    return []


def no_op(name=None) -> Operation:
    """An op that does nothing; useful as a control-dependency anchor."""
    return get_default_graph().create_op("NoOp", [], None, name=name or "NoOp")




def _flatten(xs):
    for x in xs:
        if isinstance(x, (list, builtins.tuple)) and not hasattr(x, "_as_graph_element"):
            yield from _flatten(x)
        elif isinstance(x, dict):
            yield from _flatten(list(x.values()))
        else:
            yield x


def group(*inputs, name=None) -> Operation:
    """A NoOp that runs after all of `inputs` (TF1 `tf.group`)."""
    ops = [_as_op(x) for x in _flatten(inputs) if x is not None]
    with name_scope(name, "group_deps", ops) as scope:
        g = ops[0].graph if ops else get_default_graph()
        with g.control_dependencies(ops):
            return g.create_op("NoOp", [], None, name=scope)


def with_dependencies(dependencies, output_tensor, name=None):
    """`output_tensor` (through an Identity) computed only after `dependencies` have run."""
    from .array_ops import identity
    with name_scope(name, "control_dependency", list(dependencies) + [output_tensor]) as scope:
        g = get_default_graph()
        with g.control_dependencies(dependencies):
            if isinstance(output_tensor, Operation):
                with g.control_dependencies([output_tensor]):
                    return g.create_op("NoOp", [], None, name=scope)
            return identity(output_tensor, name=scope)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001 - TF1 name
    """Tensors equal to `tensors`, each available only after all of them are computed."""
    tensors = list(tensors)
    with name_scope(name, "tuple", tensors) as scope:
        gating = [t.op if isinstance(t, Tensor) else _as_op(t) for t in tensors if t is not None]
        if control_inputs:
            gating += [_as_op(c) for c in control_inputs]
        gate = group(*gating)
        out = []
        for t in tensors:
            if t is None:
                out.append(None)
            elif isinstance(t, Tensor):
                out.append(with_dependencies([gate], t))
            else:
                out.append(with_dependencies([gate], t))
        del scope
        return out
