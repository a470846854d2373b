"""Kernels of the queue and accumulator ops (`ops/data_flow_ops.py`).

State.  A `FIFOQueueV2` / `ConditionalAccumulator` kernel creates its state on first run in
`ctx.resources` (the device's, per session on a local session, per worker process on a cluster
task) under its resource name: `container/shared_name`, or `_N_<node name>` when it has no
shared name (N counts kernel instances in this process, so each session's queue is its own),
and outputs that name as a scalar string: the handle.  Ops taking a handle look the name up on
their device (the wrappers colocate them with the handle's op).  A shared name seen again
must come with the same component types, shapes and capacity (InvalidArgumentError, as TF1).

Waits.  Every state has one `threading.Condition`; a blocked kernel waits on it in slices of
`_SLICE` seconds until it can proceed, until the state is closed or cancelled (the context was
reset), or until the step's deadline (`ctx.step_deadline()`: DeadlineExceededError), calling
`ctx.serve_while_waiting()` between slices when the runtime installed it.  Without a deadline
(an in-process session) a wait lasts until another step changes the state, as in TF1.

Values.  Enqueued and applied values are copied (inputs may be variable buffers that later
steps update in place); dequeued ones are handed over (the queue no longer holds them).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque

import numpy as np

from ...framework import errors

__all__ = ["KERNELS"]

_log = logging.getLogger("tensorweave.data_flow")

_SLICE = 0.05  # seconds between checks of a blocked wait
_instances = itertools.count()


def _resource_name(node) -> str:
    shared = node.attr.get("shared_name") or ""
    container = node.attr.get("container") or ""
    if shared:
        return f"{container}/{shared}" if container else shared
    return f"_{next(_instances)}_{node.name.split('/')[-1]}"


def _handle_value(name: str):
    return np.array(name.encode(), dtype=object)


def _lookup(ctx, node, handle, kind):
    name = handle.item() if hasattr(handle, "item") else handle
    name = name.decode() if isinstance(name, bytes) else str(name)
    state = ctx.resources.get(name)
    if state is None or not isinstance(state, kind):
        raise errors.NotFoundError(None, node.name, f"Resource {name} of type {kind.__name__} "
                                   f"does not exist on {ctx.device} (node {node.name!r}).")
    return state


def _shape_str(shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


class _Shared:
    """State with a condition, a closed/cancelled flag and the deadline-bounded wait."""

    def __init__(self, name: str):
        self.name = name
        self.cond = threading.Condition(threading.Lock())
        self.cancelled = False

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def wait(self, ctx, node, ready, what: str) -> None:
        """Wait (holding `cond`) until `ready()`; raises on cancellation or the deadline."""
        deadline = ctx.step_deadline()
        while not ready():
            aborted = ctx.step_error() if ctx.step_error is not None else None
            if aborted is not None:
                raise aborted
            if self.cancelled:
                raise errors.CancelledError(None, node.name, f"{what} was cancelled: the "
                                            f"session's state on {ctx.device} was reset")
            left = _SLICE
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.DeadlineExceededError(
                        None, node.name, f"Timed out waiting for {what} (node {node.name!r}): "
                        "the step's deadline passed")
            self.cond.wait(min(left, _SLICE))
            serve = ctx.serve_while_waiting
            if serve is not None:
                self.cond.release()
                try:
                    serve()
                finally:
                    self.cond.acquire()


def _get_or_create(ctx, node, name, make, check):
    with ctx.lock:
        state = ctx.resources.get(name)
        if state is None:
            state = ctx.resources[name] = make()
            _log.debug("created %s %r on %s", type(state).__name__, name, ctx.device)
        else:
            check(state)
    return state


# ----------------------------------------------------------------------------------------------
# queues
# ----------------------------------------------------------------------------------------------
class _FIFOQueue(_Shared):
    def __init__(self, name, types, shapes, capacity):
        super().__init__(name)
        self.types = types
        self.shapes = shapes  # list of tuples, or None (unspecified)
        self.capacity = capacity
        self.items: deque = deque()
        self.closed = False
        self.cancel_enqueues = False

    def full(self) -> bool:
        return 0 <= self.capacity <= len(self.items)

    def insufficient(self, node, requested: int):
        return errors.OutOfRangeError(
            None, node.name, f"FIFOQueue '{self.name}' is closed and has insufficient elements "
            f"(requested {requested}, current size {len(self.items)})")


def _fifo_queue(node, ctx):
    types = [t.np for t in node.attr["component_types"]]
    shapes = node.attr.get("shapes") or []
    shapes = [tuple(s.as_list()) for s in shapes] or None
    capacity = int(node.attr.get("capacity", -1))
    name = _resource_name(node)
    value = _handle_value(name)

    def check(q):
        if not isinstance(q, _FIFOQueue):
            raise errors.InvalidArgumentError(None, node.name, f"Shared resource {name!r} is "
                                              f"a {type(q).__name__}, not a FIFOQueue")
        if q.types != types:
            raise errors.InvalidArgumentError(
                None, node.name, f"Shared queue '{name}' has component types "
                f"{[np.dtype(t).name for t in q.types]} but requested component types were "
                f"{[np.dtype(t).name for t in types]}")
        if q.shapes != shapes:
            raise errors.InvalidArgumentError(
                None, node.name, f"Shared queue '{name}' has component shapes {q.shapes} but "
                f"requested component shapes were {shapes}")
        if q.capacity != capacity:
            raise errors.InvalidArgumentError(
                None, node.name, f"Shared queue '{name}' has capacity {q.capacity} but "
                f"requested capacity was {capacity}")

    def fifo_queue(*_):
        _get_or_create(ctx, node, name, lambda: _FIFOQueue(name, types, shapes, capacity), check)
        return value
    return fifo_queue


def _check_components(node, q, comps, batch: bool):
    if len(comps) != len(q.types):
        raise errors.InvalidArgumentError(None, node.name, f"Enqueue of {len(comps)} "
                                          f"components into a queue of {len(q.types)}")
    n = None
    for i, (c, t) in enumerate(zip(comps, q.types)):
        if np.dtype(c.dtype) != np.dtype(t):
            raise errors.InvalidArgumentError(
                None, node.name, f"Type mismatch in tuple component {i}. Expected "
                f"{np.dtype(t).name}, got {np.dtype(c.dtype).name}")
        shape = tuple(np.shape(c))
        if batch:
            if not shape:
                raise errors.InvalidArgumentError(
                    None, node.name, f"Shape mismatch in tuple component {i}. Expected "
                    "at least a rank 1 tensor (EnqueueMany), got a scalar")
            if n is None:
                n = shape[0]
            elif shape[0] != n:
                raise errors.InvalidArgumentError(
                    None, node.name, f"All input tensors must have the same size in the 0th "
                    f"dimension. Component 0 has {n}, and component {i} has {shape[0]}")
            shape = shape[1:]
        if q.shapes is not None and shape != q.shapes[i]:
            lead = f"{n}," if batch else ""
            raise errors.InvalidArgumentError(
                None, node.name, f"Shape mismatch in tuple component {i}. Expected "
                f"[{lead}{_shape_str(q.shapes[i])[1:-1]}], got [{lead}{_shape_str(shape)[1:-1]}]")
    return n


def _enqueue(batch: bool):
    def factory(node, ctx):
        xp = ctx.xp

        def enqueue(handle, *comps):
            q = _lookup(ctx, node, handle, _FIFOQueue)
            n = _check_components(node, q, comps, batch)
            if batch:
                elems = [tuple(xp.array(c[j], copy=True) for c in comps) for j in range(n)]
            else:
                elems = [tuple(xp.array(c, copy=True) for c in comps)]
            with q.cond:
                for e in elems:
                    if q.closed:
                        raise errors.CancelledError(None, node.name,
                                                    f"FIFOQueue '{q.name}' is closed.")
                    if q.full():  # (closing without cancelling lets it wait on for room)
                        q.wait(ctx, node, lambda: not q.full() or q.cancel_enqueues,
                               f"room in FIFOQueue '{q.name}'")
                        if q.cancel_enqueues:
                            raise errors.CancelledError(
                                None, node.name, "Enqueue operation was cancelled")
                    q.items.append(e)
                    q.cond.notify_all()
        return enqueue
    return factory


def _dequeue(node, ctx):
    def dequeue(handle):
        q = _lookup(ctx, node, handle, _FIFOQueue)
        with q.cond:
            q.wait(ctx, node, lambda: q.items or q.closed, f"an element of FIFOQueue '{q.name}'")
            if not q.items:
                raise q.insufficient(node, 1)
            e = q.items.popleft()
            q.cond.notify_all()
        return e if len(e) != 1 else e[0]
    return dequeue


def _dequeue_n(up_to: bool):
    def factory(node, ctx):
        xp = ctx.xp
        to_host = ctx.to_host
        n_const = node.const_inputs.get(1) if getattr(node, "const_inputs", None) else None

        def dequeue_many(handle, n):
            n = int(to_host(n) if n_const is None else n_const)
            q = _lookup(ctx, node, handle, _FIFOQueue)
            if n < 0:
                raise errors.InvalidArgumentError(None, node.name,
                                                  f"Expected n >= 0, got {n}")
            if q.shapes is None:
                raise errors.InvalidArgumentError(
                    None, node.name, "FIFOQueue's DequeueMany and DequeueUpTo require the "
                    "components to have specified shapes.")
            with q.cond:
                q.wait(ctx, node, lambda: len(q.items) >= n or q.closed,
                       f"{n} elements of FIFOQueue '{q.name}'")
                if len(q.items) < n:
                    if not up_to or not q.items:
                        raise q.insufficient(node, n)
                    n = len(q.items)
                elems = [q.items.popleft() for _ in range(n)]
                q.cond.notify_all()
            out = []
            for i, t in enumerate(q.types):
                if elems:
                    out.append(xp.stack([e[i] for e in elems]).astype(t, copy=False))
                else:
                    out.append(xp.empty((0, *q.shapes[i]), dtype=t))
            return out[0] if len(out) == 1 else tuple(out)
        return dequeue_many
    return factory


def _close(node, ctx):
    cancel = bool(node.attr.get("cancel_pending_enqueues", False))

    def close(handle):
        q = _lookup(ctx, node, handle, _FIFOQueue)
        with q.cond:
            q.closed = True
            q.cancel_enqueues = q.cancel_enqueues or cancel
            q.cond.notify_all()
    return close


def _size(node, ctx):
    to_device = ctx.to_device

    def size(handle):
        q = _lookup(ctx, node, handle, _FIFOQueue)
        with q.cond:
            return to_device(np.array(len(q.items), dtype=np.int32))
    return size


def _is_closed(node, ctx):
    to_device = ctx.to_device

    def is_closed(handle):
        q = _lookup(ctx, node, handle, _FIFOQueue)
        with q.cond:
            return to_device(np.array(q.closed))
    return is_closed


# ----------------------------------------------------------------------------------------------
# accumulators
# ----------------------------------------------------------------------------------------------
class _Accumulator(_Shared):
    def __init__(self, name, dtype, shape, reduction):
        super().__init__(name)
        self.dtype = dtype
        self.shape = shape  # list with None for unknown dimensions, or None (unknown rank)
        self.reduction = reduction
        self.global_step = 0
        self.count = 0
        self.sum = None


def _accumulator(node, ctx):
    dtype = node.attr["dtype"].np
    shape = node.attr["shape"]
    shape = None if shape.ndims is None else shape.as_list()
    reduction = node.attr.get("reduction_type", "MEAN")
    name = _resource_name(node)
    value = _handle_value(name)

    def check(a):
        if not isinstance(a, _Accumulator) or a.dtype != dtype or a.shape != shape:
            raise errors.InvalidArgumentError(
                None, node.name, f"Shared accumulator '{name}' exists with a different type "
                f"or shape than requested ({np.dtype(dtype).name}, {shape})")

    def accumulator(*_):
        _get_or_create(ctx, node, name, lambda: _Accumulator(name, dtype, shape, reduction),
                       check)
        return value
    return accumulator


def _apply_gradient(node, ctx):
    xp = ctx.xp
    to_host = ctx.to_host

    def apply_gradient(handle, local_step, grad):
        a = _lookup(ctx, node, handle, _Accumulator)
        step = int(to_host(local_step))
        gshape = tuple(np.shape(grad))
        with a.cond:
            if step < a.global_step:
                _log.debug("accumulator %r dropped a stale gradient (local step %d < global "
                           "step %d)", a.name, step, a.global_step)
                return None
            want = a.shape if a.sum is None else list(np.shape(a.sum))
            if want is not None and (len(want) != len(gshape) or any(
                    w is not None and w != g for w, g in zip(want, gshape))):
                raise errors.InvalidArgumentError(
                    None, node.name, f"Shape mismatch: expected {_shape_str(want)}, got "
                    f"{_shape_str(gshape)}")
            if a.sum is None:
                a.sum = xp.array(grad, dtype=a.dtype, copy=True)
            else:
                a.sum += grad
            a.count += 1
            a.cond.notify_all()
        return None
    return apply_gradient


def _take_gradient(node, ctx):
    to_host = ctx.to_host

    def take_gradient(handle, num_required):
        a = _lookup(ctx, node, handle, _Accumulator)
        n = int(to_host(num_required))
        if n < 1:
            raise errors.InvalidArgumentError(
                None, node.name, f"Argument num_required must be positive, but was {n}")
        with a.cond:
            a.wait(ctx, node, lambda: a.count >= n,
                   f"{n} gradients in accumulator '{a.name}'")
            total, count = a.sum, a.count
            a.sum, a.count = None, 0
            a.global_step += 1
        if a.reduction == "MEAN":
            total = total / count
        return total.astype(a.dtype, copy=False)
    return take_gradient


def _num_accumulated(node, ctx):
    to_device = ctx.to_device

    def num_accumulated(handle):
        a = _lookup(ctx, node, handle, _Accumulator)
        with a.cond:
            return to_device(np.array(a.count, dtype=np.int32))
    return num_accumulated


def _set_global_step(node, ctx):
    to_host = ctx.to_host

    def set_global_step(handle, new_step):
        a = _lookup(ctx, node, handle, _Accumulator)
        new = int(to_host(new_step))
        with a.cond:
            if new < a.global_step:
                _log.warning("accumulator %r: global step set to %d, lower than its current "
                             "%d", a.name, new, a.global_step)
            a.global_step = new
    return set_global_step


KERNELS = {
    "FIFOQueueV2": _fifo_queue,
    "QueueEnqueueV2": _enqueue(False),
    "QueueEnqueueManyV2": _enqueue(True),
    "QueueDequeueV2": _dequeue,
    "QueueDequeueManyV2": _dequeue_n(False),
    "QueueDequeueUpToV2": _dequeue_n(True),
    "QueueCloseV2": _close,
    "QueueSizeV2": _size,
    "QueueIsClosedV2": _is_closed,
    "ConditionalAccumulator": _accumulator,
    "AccumulatorApplyGradient": _apply_gradient,
    "AccumulatorTakeGradient": _take_gradient,
    "AccumulatorNumAccumulated": _num_accumulated,
    "AccumulatorSetGlobalStep": _set_global_step,
}
