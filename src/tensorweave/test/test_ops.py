"""Test-only ops (`tw.test.sleep`): for tests of the runtime, registered in every process."""
from __future__ import annotations

from ..framework import dtypes
from ..framework.convert import convert_to_tensor
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from ..ops.op_util import op1

__all__ = ["sleep"]


@register_op("TestSleep", stateful=True)
def _sleep_shape(op):
    return [(dtypes.float64, TensorShape([2]))]


def sleep(seconds: float, after=None, name=None):
    """Sleep `seconds` when run (after `after`, a tensor); returns [start, end] wall times."""
    ins = [] if after is None else [convert_to_tensor(after)]
    return op1("TestSleep", ins, {"seconds": float(seconds)}, name or "TestSleep")
