"""Test-only ops (`tw.test.sleep`, `tw.test.barrier`, `tw.test.hold_interpreter`): for tests of
the runtime, registered in every process.

`barrier` proves that ops ran at the same time without measuring time: each party creates its
file in a shared directory and waits until every party's file exists, so a barrier whose
parties run one after the other never opens and fails at its deadline (a generous one: it is a
hang detector, not a measurement)."""
from __future__ import annotations

from ..framework import dtypes
from ..framework.convert import convert_to_tensor
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from ..ops.op_util import op1

__all__ = ["sleep", "barrier", "hold_interpreter"]


@register_op("TestSleep", stateful=True)
def _sleep_shape(op):
    return [(dtypes.float64, TensorShape([2]))]


def sleep(seconds: float, after=None, name=None):
    """Sleep `seconds` when run (after `after`, a tensor); returns [start, end] wall times."""
    ins = [] if after is None else [convert_to_tensor(after)]
    return op1("TestSleep", ins, {"seconds": float(seconds)}, name or "TestSleep")


@register_op("TestBarrier", stateful=True)
def _barrier_shape(op):
    return [(dtypes.float64, TensorShape([2]))]


def barrier(directory: str, party: str, parties, after=None, timeout: float = 60.0, name=None):
    """Wait, when run (after `after`, a tensor), until every one of `parties` (names) has
    reached its barrier of the same `directory` (a path every process of the test can reach);
    `party` is this one's name.  Raises `DeadlineExceededError` naming the missing parties after
    `timeout` seconds.  Returns [arrival, release] wall times."""
    parties = [str(p) for p in parties]
    if party not in parties:
        raise ValueError(f"barrier party {party!r} is not one of {parties}")
    ins = [] if after is None else [convert_to_tensor(after)]
    return op1("TestBarrier", ins, {"directory": str(directory), "party": str(party),
                                    "parties": parties, "timeout": float(timeout)},
               name or "TestBarrier")


@register_op("TestHoldInterpreter", stateful=True)
def _hold_shape(op):
    return [(dtypes.float64, TensorShape([2]))]


def hold_interpreter(seconds: int, after=None, name=None):
    """Sleep `seconds` (whole) when run, in one C call that keeps the interpreter lock: what a
    kernel stuck in C looks like to the rest of its process (no other thread runs).  Returns
    [start, end] wall times."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 3600:
        raise ValueError(f"hold_interpreter: seconds must be a whole number in [0, 3600], "
                         f"got {seconds!r}")
    ins = [] if after is None else [convert_to_tensor(after)]
    return op1("TestHoldInterpreter", ins, {"seconds": seconds}, name or "TestHoldInterpreter")
