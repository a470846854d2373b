"""`_Send` / `_Recv`: the nodes the partitioner puts on every edge that crosses devices.

A `_Send` on the producer's device pushes its input to the consumer's device as soon as it runs;
the matching `_Recv` there waits for exactly that tensor.  Their attrs give the *rendezvous key*
(`runtime/rendezvous.make_key`): source device, destination device and tensor name; the step id
is added at run time.  A control edge
crosses as a `_Send` without data input whose `_Recv` yields an empty tensor.
"""
from __future__ import annotations

from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape

__all__: list = []


@register_op("_Send", required_attrs=("tensor_name", "send_device", "recv_device"))
def _send_shape(op):
    return []


# A received tensor may be a read-only view of a shared-memory segment: `may_alias`, so no
# kernel writes into it.
@register_op("_Recv", may_alias=True, required_attrs=("tensor_name", "send_device",
                                                      "recv_device", "dtype"))
def _recv_shape(op):
    return [(op.get_attr("dtype"), op._attrs.get("shape", TensorShape(None)))]
