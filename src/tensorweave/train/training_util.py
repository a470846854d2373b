"""The global step: an int64 scalar variable `global_step`, in the GLOBAL_STEP collection.

`create_global_step` makes it (non-trainable, zero-initialised, in GLOBAL_VARIABLES and
GLOBAL_STEP, at the top name scope of the graph); `get_global_step` finds it (the collection's
single member, else the tensor `global_step:0`); `apply_gradients(..., global_step=gs)`
increments it after each update.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.graph import GraphKeys, Tensor, get_default_graph
from ..ops import init_ops
from ..ops.variable_scope import get_variable
from ..ops.variables import Variable

__all__ = ["global_step", "get_global_step", "create_global_step", "get_or_create_global_step",
           "assert_global_step"]


def global_step(sess, global_step_tensor) -> int:
    """The current value of the global step, as a Python int."""
    return int(sess.run(global_step_tensor))


def assert_global_step(global_step_tensor) -> None:
    """TypeError unless `global_step_tensor` is an integer scalar Variable or Tensor."""
    if not isinstance(global_step_tensor, (Variable, Tensor)):
        raise TypeError(f"Existing \"global_step\" must be a Variable or Tensor: "
                        f"{global_step_tensor}.")
    if not global_step_tensor.dtype.base_dtype.is_integer:
        raise TypeError(f"Existing \"global_step\" does not have integer type: "
                        f"{global_step_tensor.dtype.name}")
    shape = global_step_tensor.get_shape()
    if shape.ndims != 0 and shape.is_fully_defined():
        raise TypeError(f"Existing \"global_step\" is not scalar: {shape}")


def get_global_step(graph=None):
    """The global step variable of `graph` (default graph), or None."""
    graph = graph or get_default_graph()
    tensors = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(tensors) == 1:
        gs = tensors[0]
    elif not tensors:
        try:
            gs = graph.get_tensor_by_name("global_step:0")
        except KeyError:
            return None
    else:
        return None  # several: ambiguous, as TF1 (which logs an error)
    assert_global_step(gs)
    return gs


def create_global_step(graph=None):
    """Create the global step of `graph`; ValueError if it already has one."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default() as g, g.name_scope(None):
        return get_variable(GraphKeys.GLOBAL_STEP, shape=[], dtype=_dtypes.int64,
                            initializer=init_ops.zeros_initializer(), trainable=False,
                            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    """The global step of `graph`, created if it has none."""
    graph = graph or get_default_graph()
    gs = get_global_step(graph)
    if gs is None:
        gs = create_global_step(graph)
    return gs
