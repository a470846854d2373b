"""`gradients(ys, xs)`: reverse-mode differentiation by extending the graph.

Algorithm (TF1's): mark the ops reachable forward from `xs`; walk back from `ys` through them to
find the ops *between* (those on a path from an x to a y); count, for each between op, how many
between consumers still owe it a gradient; then process ops in reverse order, starting from the
ys: sum the gradients that reached each output (`add_n`, or concatenation for `IndexedSlices`),
call the op type's gradient function inside the name scope `gradients/<op>_grad`, and hand each
input its share.  Only floating/complex tensors carry gradients.  Every gradient is checked
against its input's dtype and shape as it is produced, so a wrong gradient function is reported
at the op that produced it.  Nothing is computed here: the result is new graph nodes.
"""
from __future__ import annotations

import collections
import enum

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, get_default_graph, name_scope
from ..framework.indexed_slices import IndexedSlices
from ..ops import array_ops, math_ops
from ..ops.constant_op import constant
from ..ops.tensor_array_ops import add_n_lists, zeros_like_list
from .registry import get_gradient_function

__all__ = ["gradients", "UnconnectedGradients", "aggregate_gradients", "hessians"]


class UnconnectedGradients(enum.Enum):
    NONE = "none"
    ZERO = "zero"


class AggregationMethod:
    ADD_N = 0
    DEFAULT = ADD_N
    EXPERIMENTAL_TREE = 1
    EXPERIMENTAL_ACCUMULATE_N = 2


def _is_trainable(t) -> bool:
    dt = t.dtype
    return dt.is_floating or dt.is_complex or dt is _dtypes.variant


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _to_graph_tensor(x, as_ref: bool):
    if isinstance(x, (Tensor, IndexedSlices)):
        return x
    if hasattr(x, "_ref") and as_ref:
        return x._ref()
    return convert_to_tensor(x)


def aggregate_gradients(grads, name=None):
    """Sum a list of gradients (Tensors and/or IndexedSlices) for one tensor."""
    grads = [g for g in grads if g is not None]
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    if grads[0].dtype is _dtypes.variant:  # gradients of TensorArray lists
        return add_n_lists(grads)
    if all(isinstance(g, IndexedSlices) for g in grads):
        values = array_ops.concat([g.values for g in grads], 0)
        indices = array_ops.concat([g.indices for g in grads], 0)
        return IndexedSlices(values, indices, grads[0].dense_shape)
    dense = [convert_to_tensor(g) if isinstance(g, IndexedSlices) else g for g in grads]
    return math_ops.add_n(dense, name=name)


def _check_grad(op, i, x, g):
    if g is None:
        return
    gt = g.values if isinstance(g, IndexedSlices) else g
    if not isinstance(gt, Tensor):
        raise TypeError(f"Gradient function for {op.type} node {op.name!r} returned a "
                        f"{type(g).__name__} for input {i}; expected a Tensor, IndexedSlices or "
                        "None.")
    if gt.dtype is not x.dtype:
        raise TypeError(f"Gradient function for {op.type} node {op.name!r} returned dtype "
                        f"{gt.dtype.name} for input {i} ({x.name}) of dtype {x.dtype.name}.")
    if not isinstance(g, IndexedSlices) and not g.shape.is_compatible_with(x.shape):
        raise ValueError(f"Gradient function for {op.type} node {op.name!r} returned shape "
                         f"{g.shape} for input {i} ({x.name}) of shape {x.shape}.")


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients=UnconnectedGradients.NONE):
    """TF1 `tf.gradients`: symbolic d(sum ys)/d(x) for each x in `xs` (None if unconnected)."""
    ys = [_to_graph_tensor(y, False) for y in _as_list(ys)]
    xs = [_to_graph_tensor(x, True) for x in _as_list(xs)]
    grad_ys = _as_list(grad_ys) if grad_ys is not None else [None] * len(ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    stop_tensors = [_to_graph_tensor(s, False) for s in _as_list(stop_gradients)]
    unconnected_gradients = UnconnectedGradients(unconnected_gradients)
    graph = ys[0].graph if ys else get_default_graph()

    with name_scope(name, "gradients", ys + xs + stop_tensors) as grad_scope:
        # --- initial gradients of the ys ------------------------------------------------------
        new_grad_ys = []
        for i, (y, gy) in enumerate(zip(ys, grad_ys)):
            if gy is None:
                if y.dtype.is_complex:
                    raise TypeError(f"Gradients of complex tensors ({y.name}) must set grad_ys "
                                    f"(y.dtype = {y.dtype.name})")
                with graph.colocate_with(y.op) if colocate_gradients_with_ops else _null():
                    if y.shape.ndims == 0:
                        # a scalar y (the usual loss): the seed is the constant 1, no Shape/Fill
                        gy = _ones_const(y.dtype, f"grad_ys_{i}")
                    else:
                        shape = array_ops.shape(y)
                        one = _ones_const(y.dtype, f"grad_ys_{i}")
                        gy = array_ops.fill(shape, one)
            else:
                if not isinstance(gy, (Tensor, IndexedSlices)):
                    gy = convert_to_tensor(gy, dtype=y.dtype, name=f"grad_ys_{i}")
                if gy.dtype is not y.dtype:
                    raise TypeError(f"Gradient type {gy.dtype.name} generated for y {y.name} of "
                                    f"type {y.dtype.name} does not match.")
            new_grad_ys.append(gy)

        # --- which ops lie between xs and ys ----------------------------------------------------
        to_ops = [y.op for y in ys]
        from_ops = [x.op for x in xs]
        stop_ops = {id(s.op) for s in stop_tensors}
        reached = set()
        queue = collections.deque(from_ops)
        while queue:
            op = queue.popleft()
            if id(op) in reached:
                continue
            reached.add(id(op))
            for out in op._outputs:
                queue.extend(out._consumers)
        between = {}
        queue = collections.deque(to_ops)
        while queue:
            op = queue.popleft()
            if id(op) in reached and id(op) not in between:
                between[id(op)] = op
                for t in op._inputs:
                    queue.append(t.op)
        # pending counts: gradients each between op still waits for
        pending = collections.Counter()
        for op in between.values():
            for t in op._inputs:
                if id(t.op) in between:
                    pending[id(t.op)] += 1

        grads: dict[int, list[list]] = {}

        def add_grad(t, g):
            lst = grads.setdefault(id(t.op), [[] for _ in t.op._outputs])
            lst[t.value_index].append(g)

        for y, gy in zip(ys, new_grad_ys):
            add_grad(y, gy)

        ready = collections.deque()
        seen_ready = set()
        for op in to_ops:
            if id(op) in between and pending[id(op)] == 0 and id(op) not in seen_ready:
                ready.append(op)
                seen_ready.add(id(op))

        while ready:
            op = ready.popleft()
            out_grads = []
            op_grads = grads.get(id(op), [[] for _ in op._outputs])
            # every gradient node of `op` (the sums of its output gradients included) prefers
            # op's device; colocate_gradients_with_ops makes that a constraint
            hint = _null() if colocate_gradients_with_ops else graph._placement_hint(op)
            with hint:
                for j, gl in enumerate(op_grads):
                    out_grads.append(aggregate_gradients(gl) if gl else None)
                    if len(gl) > 1:
                        op_grads[j] = [out_grads[-1]]
            has_grad = any(g is not None for g in out_grads)
            stopped = id(op) in stop_ops
            in_grads = [None] * len(op._inputs)
            if has_grad and not stopped and op._inputs:
                grad_fn = get_gradient_function(op)
                if grad_fn is not None:
                    for j, (out, g) in enumerate(zip(op._outputs, out_grads)):
                        if g is None and _is_trainable(out):
                            with name_scope(op.name + "_grad/"):
                                out_grads[j] = _zeros_like(out)
                    with name_scope(op.name + "_grad"):
                        with (graph.colocate_with(op) if colocate_gradients_with_ops
                              else graph._placement_hint(op)):
                            result = grad_fn(op, *out_grads)
                    if isinstance(result, (Tensor, IndexedSlices)) or result is None:
                        result = [result]
                    result = list(result)
                    if len(result) != len(op._inputs):
                        raise ValueError(f"Num gradients {len(result)} generated for op "
                                         f"{op.name} ({op.type}) do not match num inputs "
                                         f"{len(op._inputs)}")
                    for i, (x, g) in enumerate(zip(op._inputs, result)):
                        if g is not None and not _is_trainable(x):
                            g = None
                        if g is not None and not isinstance(g, (Tensor, IndexedSlices)):
                            g = convert_to_tensor(g, dtype=x.dtype)
                        _check_grad(op, i, x, g)
                        in_grads[i] = g
            for x, g in zip(op._inputs, in_grads):
                if g is not None:
                    add_grad(x, g)
                xop = x.op
                if id(xop) in between:
                    pending[id(xop)] -= 1
                    if pending[id(xop)] == 0 and id(xop) not in seen_ready:
                        seen_ready.add(id(xop))
                        ready.append(xop)

        # --- results --------------------------------------------------------------------------
        result = []
        for x in xs:
            gl = grads.get(id(x.op))
            g = None
            if gl is not None:
                g = aggregate_gradients(gl[x.value_index])
            if g is None and unconnected_gradients is UnconnectedGradients.ZERO:
                g = array_ops.zeros_like(x)
            result.append(g)
        del grad_scope
        return result


def _zeros_like(t):
    if t.dtype is _dtypes.variant:
        return zeros_like_list(t)
    return array_ops.zeros_like(t)


def _ones_const(dtype, name):
    return constant(1, dtype=dtype, name=name)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False, gate_gradients=False,
             aggregation_method=None):
    """TF1 `tf.hessians`: the Hessian of sum(ys) with respect to each x (via gradients of
    gradients; each x must be 1-D or is flattened as in TF1)."""
    xs = _as_list(xs)
    out = []
    with name_scope(name, "hessians", _as_list(ys) + xs):
        grads = gradients(ys, xs)
        for g, x in zip(grads, xs):
            n = x.shape.num_elements() if hasattr(x, "shape") else None
            if n is None:
                raise ValueError("hessians needs xs with fully defined shapes")
            flat = array_ops.reshape(g, [-1])
            rows = [array_ops.reshape(gradients(flat[i], x)[0], [-1]) for i in range(n)]
            h = array_ops.stack(rows)
            out.append(array_ops.reshape(h, x.shape.as_list() + x.shape.as_list()))
    return out
