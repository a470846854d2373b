"""TF1's queues and gradient accumulators: `FIFOQueue`, `ConditionalAccumulator`.

Representation.  TF1's `FIFOQueueV2` returns a `resource` handle and `ConditionalAccumulator` a
string ref; tensorweave has no resource tensors, so both ops return a scalar `string` handle:
the *name* of the state in the `resources` of the device's `KernelContext` (kernels in
`kernels/cpu/data_flow.py`).  The name is `container/shared_name` when a `shared_name` is given
(so two sessions of one cluster task share the queue), else a name unique to the kernel
instance, TF1-style (`_0_fifo_queue`), so each session has its own.

Placement.  A handle names state on one device, so every op taking a handle is created under
`colocate_with(handle op)` (TF1 does the same): it carries `loc:@<queue op>` and the placer puts
it on the queue's device, whatever the device scope around the call.

Blocking ops (`QueueEnqueue*` on a full queue, `QueueDequeue*` on an empty one,
`AccumulatorTakeGradient` until enough gradients arrived) wait on their device until another
concurrent step changes the state, until the queue is closed, or until the step's deadline
(`RunOptions.timeout_in_ms`, `DeadlineExceededError`).
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, apply_op, colocate_with, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape, as_shape
from .math_ops import cast

__all__ = ["FIFOQueue", "QueueBase", "ConditionalAccumulator"]

_HANDLE = (_dtypes.string, TensorShape([]))
_SCALAR_INT = (_dtypes.int32, TensorShape([]))


# ----------------------------------------------------------------------------------------------
# ops
# ----------------------------------------------------------------------------------------------
@register_op("FIFOQueueV2", stateful=True, required_attrs=("component_types",))
def _fifo_shape(op):
    return [_HANDLE]


def _queue_component_shapes(op) -> list | None:
    """The component shapes of the queue whose handle is input 0 of `op`, when known."""
    src = op.inputs[0].op
    if src.type != "FIFOQueueV2":
        return None
    shapes = src.get_attr("shapes")
    return list(shapes) if shapes else None


def _check_handle(op) -> None:
    h = op.inputs[0]
    if h.dtype is not _dtypes.string:
        raise TypeError(f"Input 'handle' of '{op.type}' Op (node '{op.name}') has type "
                        f"{h.dtype.name} that does not match expected type of string (a queue "
                        "or accumulator handle).")


def _dequeue_shapes(op, batch) -> list:
    _check_handle(op)
    types = list(op.get_attr("component_types"))
    shapes = _queue_component_shapes(op)
    if shapes is None:
        shapes = [TensorShape(None)] * len(types)
    if batch is not False:
        shapes = [TensorShape([batch]).concatenate(s) for s in shapes]
    return [(t, s) for t, s in zip(types, shapes)]


def _enqueue_shape(op):
    _check_handle(op)
    return []


for _t in ("QueueEnqueueV2", "QueueEnqueueManyV2"):
    register_op(_t, stateful=True)(_enqueue_shape)


@register_op("QueueDequeueV2", stateful=True)
def _dequeue_shape(op):
    return _dequeue_shapes(op, False)


@register_op("QueueDequeueManyV2", stateful=True)
def _dequeue_many_shape(op):
    n = constant_value(op.inputs[1])
    return _dequeue_shapes(op, None if n is None else int(n))


@register_op("QueueDequeueUpToV2", stateful=True)
def _dequeue_up_to_shape(op):
    return _dequeue_shapes(op, None)


@register_op("QueueCloseV2", stateful=True)
def _close_shape(op):
    _check_handle(op)
    return []


@register_op("QueueSizeV2", stateful=True)
def _size_shape(op):
    _check_handle(op)
    return [_SCALAR_INT]


@register_op("QueueIsClosedV2", stateful=True)
def _is_closed_shape(op):
    _check_handle(op)
    return [(_dtypes.bool, TensorShape([]))]


@register_op("ConditionalAccumulator", stateful=True, required_attrs=("dtype", "shape"))
def _accumulator_shape(op):
    return [_HANDLE]


@register_op("AccumulatorApplyGradient", stateful=True)
def _apply_grad_shape(op):
    _check_handle(op)
    return []


@register_op("AccumulatorTakeGradient", stateful=True)
def _take_grad_shape(op):
    _check_handle(op)
    src = op.inputs[0].op
    shape = src.get_attr("shape") if src.type == "ConditionalAccumulator" else TensorShape(None)
    return [(op.get_attr("dtype"), shape)]


@register_op("AccumulatorNumAccumulated", stateful=True)
def _num_accumulated_shape(op):
    _check_handle(op)
    return [_SCALAR_INT]


@register_op("AccumulatorSetGlobalStep", stateful=True)
def _set_global_step_shape(op):
    _check_handle(op)
    return []


# ----------------------------------------------------------------------------------------------
# queues
# ----------------------------------------------------------------------------------------------
def _as_type_list(dtypes) -> list:
    if isinstance(dtypes, (list, tuple)):
        return [_dtypes.as_dtype(d) for d in dtypes]
    return [_dtypes.as_dtype(dtypes)]


def _as_shape_list(shapes, dtypes) -> list:
    if shapes is None:
        return [TensorShape(None)] * len(dtypes)
    if isinstance(shapes, TensorShape) or (
            isinstance(shapes, (list, tuple)) and shapes
            and all(s is None or isinstance(s, int) for s in shapes)):
        shapes = [shapes]  # one shape for the single component
    shapes = [as_shape(s) for s in shapes]
    if len(shapes) != len(dtypes):
        raise ValueError("Queue shapes must have the same length as dtypes")
    return shapes


class QueueBase:
    """A queue: its handle (`queue_ref`) and the ops that use it (TF1's `tf.QueueBase`)."""

    def __init__(self, dtypes, shapes, names, queue_ref):
        self._dtypes = dtypes
        self._shapes = shapes
        self._names = names
        self._queue_ref = queue_ref
        self._name = queue_ref.op.name.split("/")[-1]

    @property
    def queue_ref(self) -> Tensor:
        return self._queue_ref

    @property
    def name(self) -> str:
        return self._queue_ref.op.name

    @property
    def dtypes(self) -> list:
        return self._dtypes

    @property
    def shapes(self) -> list:
        return self._shapes

    @property
    def names(self):
        return self._names

    # --- helpers -------------------------------------------------------------------------------
    def _check_enqueue_dtypes(self, vals) -> list:
        """The components of `vals` (a tensor, a list/tuple, or a dict by `names`) as tensors of
        the queue's dtypes."""
        if isinstance(vals, dict):
            if not self._names:
                raise ValueError("Queue must have names to enqueue a dictionary")
            if sorted(self._names) != sorted(vals.keys()):
                raise ValueError(f"Keys in dictionary to enqueue do not match names of Queue.  "
                                 f"Dictionary: {sorted(vals.keys())}, Queue: "
                                 f"{sorted(self._names)}")
            vals = [vals[k] for k in self._names]
        else:
            if self._names:
                raise ValueError("You must enqueue a dictionary in a Queue with names")
            if not isinstance(vals, (list, tuple)):
                vals = [vals]
        if len(vals) != len(self._dtypes):
            raise ValueError(f"Expected {len(self._dtypes)} components in the enqueued value "
                             f"of queue {self.name!r}, got {len(vals)}")
        out = []
        for i, (v, dt) in enumerate(zip(vals, self._dtypes)):
            t = convert_to_tensor(v, dtype=dt, name=f"component_{i}")
            if t.dtype is not dt:
                raise TypeError(f"Component {i} of the value enqueued in queue {self.name!r} has "
                                f"type {t.dtype.name}, expected {dt.name}")
            out.append(t)
        return out

    def _dequeue_return_value(self, tensors):
        if self._names:
            return dict(zip(self._names, tensors))
        if len(tensors) == 1:
            return tensors[0]
        return list(tensors)

    def _attrs(self) -> dict:
        return {"component_types": list(self._dtypes), "timeout_ms": -1}

    # --- ops -----------------------------------------------------------------------------------
    def enqueue(self, vals, name=None):
        """Enqueue one element (blocks while the queue is full).  Returns the Operation."""
        with name_scope(name, f"{self._name}_enqueue", [self._queue_ref]) as scope:
            vals = self._check_enqueue_dtypes(vals)
            for v, s in zip(vals, self._shapes):
                v.shape.assert_is_compatible_with(s)
        with colocate_with(self._queue_ref):  # named as its scope, as TF1
            return apply_op("QueueEnqueueV2", [self._queue_ref, *vals],
                            {"Tcomponents": [v.dtype for v in vals], "timeout_ms": -1},
                            scope)

    def enqueue_many(self, vals, name=None):
        """Enqueue the slices of `vals` along dimension 0 as separate elements."""
        with name_scope(name, f"{self._name}_EnqueueMany", [self._queue_ref]) as scope:
            vals = self._check_enqueue_dtypes(vals)
            batch = None
            for v, s in zip(vals, self._shapes):
                shape = v.shape.with_rank_at_least(1)
                first = shape[0]
                batch = first if batch is None else batch.merge_with(first)
                shape[1:].assert_is_compatible_with(s)
        with colocate_with(self._queue_ref):  # named as its scope, as TF1
            return apply_op("QueueEnqueueManyV2", [self._queue_ref, *vals],
                            {"Tcomponents": [v.dtype for v in vals], "timeout_ms": -1},
                            scope)

    def dequeue(self, name=None):
        """Dequeue one element (blocks while the queue is empty)."""
        if name is None:
            name = f"{self._name}_Dequeue"
        with colocate_with(self._queue_ref):
            op = apply_op("QueueDequeueV2", [self._queue_ref], self._attrs(), name)
        for t, s in zip(op.outputs, self._shapes):
            t.set_shape(s)
        return self._dequeue_return_value(op.outputs)

    def _dequeue_n(self, op_type: str, n, name, default: str):
        if name is None:
            name = f"{self._name}_{default}"
        with colocate_with(self._queue_ref):
            n = convert_to_tensor(n, dtype=_dtypes.int32, name="n")
            op = apply_op(op_type, [self._queue_ref, n], self._attrs(), name)
        known = constant_value(n) if op_type == "QueueDequeueManyV2" else None
        batch = TensorShape([None if known is None else int(known)])
        for t, s in zip(op.outputs, self._shapes):
            t.set_shape(batch.concatenate(s))
        return self._dequeue_return_value(op.outputs)

    def dequeue_many(self, n, name=None):
        """Dequeue `n` elements, concatenated along a new dimension 0 (blocks until there are
        `n`; OutOfRangeError when the queue is closed with fewer)."""
        return self._dequeue_n("QueueDequeueManyV2", n, name, "DequeueMany")

    def dequeue_up_to(self, n, name=None):
        """As `dequeue_many`, but a closed queue gives what is left (at least one element)."""
        return self._dequeue_n("QueueDequeueUpToV2", n, name, "DequeueUpTo")

    def close(self, cancel_pending_enqueues: bool = False, name=None):
        """Close the queue: later enqueues fail, dequeues take what is left then fail with
        OutOfRangeError; `cancel_pending_enqueues` also cancels blocked enqueues."""
        if name is None:
            name = f"{self._name}_Close"
        with colocate_with(self._queue_ref):
            return apply_op("QueueCloseV2", [self._queue_ref],
                            {"cancel_pending_enqueues": bool(cancel_pending_enqueues)}, name)

    def is_closed(self, name=None) -> Tensor:
        if name is None:
            name = f"{self._name}_IsClosed"
        with colocate_with(self._queue_ref):
            return apply_op("QueueIsClosedV2", [self._queue_ref], {}, name).outputs[0]

    def size(self, name=None) -> Tensor:
        """The number of elements in the queue (an int32 scalar)."""
        if name is None:
            name = f"{self._name}_Size"
        with colocate_with(self._queue_ref):
            return apply_op("QueueSizeV2", [self._queue_ref], {}, name).outputs[0]


class FIFOQueue(QueueBase):
    """TF1's `tf.FIFOQueue`: a bounded first-in first-out queue of tuples of tensors."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None,
                 name="fifo_queue"):
        dtypes = _as_type_list(dtypes)
        shapes = _as_shape_list(shapes, dtypes)
        if names is not None:
            names = list(names) if isinstance(names, (list, tuple)) else [names]
            if len(names) != len(dtypes):
                raise ValueError("Queue names must have the same length as dtypes")
        capacity = int(capacity)
        attrs = {"component_types": dtypes,
                 "shapes": shapes if all(s.is_fully_defined() for s in shapes) else [],
                 "capacity": capacity, "container": "", "shared_name": shared_name or ""}
        ref = apply_op("FIFOQueueV2", [], attrs, name).outputs[0]
        super().__init__(dtypes, shapes, names, ref)


# ----------------------------------------------------------------------------------------------
# accumulators
# ----------------------------------------------------------------------------------------------
class ConditionalAccumulator:
    """TF1's `tf.ConditionalAccumulator`: averages (or sums) the gradients applied to it that are
    not stale (their `local_step` is at least the accumulator's global step)."""

    def __init__(self, dtype, shape=None, shared_name=None, name="conditional_accumulator",
                 reduction_type="MEAN"):
        if reduction_type not in ("MEAN", "SUM"):
            raise ValueError(f"reduction_type must be 'MEAN' or 'SUM', got {reduction_type!r}")
        self._dtype = _dtypes.as_dtype(dtype)
        self._shape = as_shape(shape) if shape is not None else TensorShape(None)
        self._accumulator_ref = apply_op(
            "ConditionalAccumulator", [],
            {"dtype": self._dtype, "shape": self._shape, "container": "",
             "shared_name": shared_name or "", "reduction_type": reduction_type},
            name).outputs[0]

    @property
    def accumulator_ref(self) -> Tensor:
        return self._accumulator_ref

    @property
    def name(self) -> str:
        return self._accumulator_ref.op.name

    @property
    def dtype(self):
        return self._dtype

    def num_accumulated(self, name=None) -> Tensor:
        """The number of gradients accumulated since the last take (an int32 scalar)."""
        with colocate_with(self._accumulator_ref):
            return apply_op("AccumulatorNumAccumulated", [self._accumulator_ref], {},
                            name or "AccumulatorNumAccumulated").outputs[0]

    def set_global_step(self, new_global_step, name=None):
        """Set the accumulator's global step (gradients of older local steps are dropped)."""
        with colocate_with(self._accumulator_ref):
            step = convert_to_tensor(new_global_step)
            if not step.dtype.is_integer:
                raise TypeError(f"new_global_step must be an integer, got {step.dtype.name}")
            if step.dtype is not _dtypes.int64:
                step = cast(step, _dtypes.int64, name="ToInt64")
            return apply_op("AccumulatorSetGlobalStep", [self._accumulator_ref, step], {},
                            name or "AccumulatorSetGlobalStep")

    def apply_grad(self, grad, local_step=0, name=None):
        """Add `grad` unless `local_step` is older than the global step (dropped silently)."""
        grad = convert_to_tensor(grad, dtype=self._dtype)
        grad.shape.assert_is_compatible_with(self._shape)
        with colocate_with(self._accumulator_ref):
            step = convert_to_tensor(local_step)
            if not step.dtype.is_integer:
                raise TypeError(f"local_step must be an integer, got {step.dtype.name}")
            if step.dtype is not _dtypes.int64:
                step = cast(step, _dtypes.int64, name="ToInt64")
            return apply_op("AccumulatorApplyGradient", [self._accumulator_ref, step, grad],
                            {"dtype": self._dtype}, name or "AccumulatorApplyGradient")

    def take_grad(self, num_required, name=None) -> Tensor:
        """Wait until `num_required` gradients are accumulated; return their mean (or sum),
        reset the accumulator and add one to its global step."""
        with colocate_with(self._accumulator_ref):
            n = convert_to_tensor(num_required, dtype=_dtypes.int32, name="num_required")
            out = apply_op("AccumulatorTakeGradient", [self._accumulator_ref, n],
                           {"dtype": self._dtype}, name or "AccumulatorTakeGradient").outputs[0]
        out.set_shape(self._shape)
        return out
