"""Kernels of `_Send` / `_Recv`: hand tensors to the worker's transport and rendezvous.

They only run inside a worker process, whose `KernelContext` provides `send(dst_device, key,
value, owned)`, `recv(key) -> value`, `recv_any(keys) -> (key, value)` and `step` (a
thread-local holding the running step's id).  A `_Recv` kernel carries `recv_key()`, the key of
its tensor in the running step: the executor's dataflow plans wait on those keys together
(`recv_any`) instead of calling the kernels one by one.
`owned` says the buffer dies at the `_Send` (the executor marked it donatable), so it can go
zero-copy even where the transport sends it after the kernel returns.  A control edge crosses
as an empty bool tensor of the device.
"""
from __future__ import annotations

from ...framework import errors

__all__ = ["KERNELS"]


def _runtime(node, ctx):
    if getattr(ctx, "send", None) is None:
        raise errors.InternalError(None, node.name, f"{node.op} node {node.name!r} can only run "
                                   "in a worker process (it was not partitioned away)")
    return ctx


def _send(node, ctx):
    rt = _runtime(node, ctx)
    src, dst, name = node.attr["send_device"], node.attr["recv_device"], node.attr["tensor_name"]
    step = rt.step
    send = rt.send
    owned = 0 in node.donatable  # the step never touches this buffer again
    if node.inputs:
        def send_tensor(x):
            send(dst, (step.id, src, dst, name), x, owned)
        return send_tensor

    empty = ctx.xp.zeros(0, dtype=bool)

    def send_control():
        send(dst, (step.id, src, dst, name), empty)
    return send_control


def _recv(node, ctx):
    rt = _runtime(node, ctx)
    src, dst, name = node.attr["send_device"], node.attr["recv_device"], node.attr["tensor_name"]
    step = rt.step
    recv = rt.recv

    def recv_tensor():
        return recv((step.id, src, dst, name))
    # a dataflow plan does not call the kernel: it waits for this key among all its _Recvs'
    recv_tensor.recv_key = lambda: (step.id, src, dst, name)
    return recv_tensor


KERNELS = {"_Send": _send, "_Recv": _recv}
