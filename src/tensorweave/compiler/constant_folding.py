"""Build-time constant folding of small integer array ops (shape arithmetic).

Shape functions read their shape-like inputs with `constant_value` (framework/convert.py), which
knows `Const`, the `Shape` of a fully defined tensor and a few more ops.  This pass teaches it the
array ops that shape arithmetic goes through (`StridedSlice`, `GatherV2`, `Reshape`, `Fill`, ...,
listed in `FOLDED_OPS`): when every input of such an op has a constant value, the op's value is
computed by running its CPU kernel on them, so `reshape(x, [tw.shape(x)[0], -1])` keeps the
static shape TF1 gives it.  `tw.shape(x)[i]` folds where x's static shape fixes that dimension
even when others are unknown (`slicing_ops.slice_of_shape`).

Only integer outputs of at most `_FOLD_MAX_ELEMENTS` elements are folded, from inputs of that
size; an input a kernel rejects is simply not folded (the node then fails when it runs, naming
itself).  The rules register with `register_constant_value_rule` when `tensorweave` is imported:
ops never import kernels, so the folding lives here, above both.
"""
from __future__ import annotations

import functools

import numpy as np

from ..framework.convert import constant_value, register_constant_value_rule
from ..kernels import get_backend
from ..kernels.context import KernelContext
from ..ops.slicing_ops import slice_of_shape
from .exec_nodes import ExecNode

__all__: list = []

_FOLD_MAX_ELEMENTS = 4096

#: the op types whose (integer) outputs are folded
FOLDED_OPS = ("StridedSlice", "Slice", "GatherV2", "ExpandDims", "Squeeze", "Reshape", "Fill",
              "Unpack", "Transpose", "Tile", "ReverseV2", "Split", "SplitV")


@functools.cache
def _cpu_context() -> KernelContext:
    """The kernel context folding runs in: the CPU backend, on no device of any session."""
    return KernelContext("", get_backend("CPU"))


def _fold(t):
    """`t`'s value computed by the CPU kernel from constant inputs (small int outputs only)."""
    op = t.op
    if not t.dtype.is_integer:
        return None
    if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape":
        return slice_of_shape(op)
    n = t.shape.num_elements()
    if n is None or n > _FOLD_MAX_ELEMENTS:
        return None
    vals = []
    for i in op.inputs:
        v = constant_value(i)
        if v is None or np.size(v) > _FOLD_MAX_ELEMENTS:
            return None
        vals.append(np.asarray(v))
    node = ExecNode(name=op.name, op=op.type, attr=op._attrs, inputs=[], control=[],
                    out_dtypes=[o.dtype for o in op.outputs],
                    out_shapes=[o.shape for o in op.outputs],
                    const_inputs=dict(enumerate(vals)), key=op.name)
    ctx = _cpu_context()
    try:
        out = ctx.backend.kernels[op.type](node, ctx)(*vals)
    except Exception:  # noqa: BLE001 - an input the kernel rejects is simply not folded
        return None
    if len(op.outputs) > 1:
        out = out[t.value_index]
    return np.asarray(out, dtype=t.dtype.np)


for _t in FOLDED_OPS:
    register_constant_value_rule(_t)(_fold)
del _t
