"""Helpers shared by gradient functions: summing a broadcast gradient back to an input's shape.

`unbroadcast(grad, x, out_shape)` is the `reduce_sum` + `reshape` that undoes numpy broadcasting:
when the static shapes are known the reduction axes are computed now (and no node is added when
nothing was broadcast); otherwise `BroadcastGradientArgs` computes them at run time.
"""
from __future__ import annotations

from ..framework.tensor_shape import TensorShape
from ..ops import array_ops, math_ops

__all__ = ["unbroadcast", "binary_unbroadcast", "static_reduction_axes"]


def static_reduction_axes(x_shape: TensorShape, g_shape: TensorShape):
    """Axes of a gradient of shape `g_shape` to sum for an input of shape `x_shape`, or None."""
    if not (x_shape.is_fully_defined() and g_shape.is_fully_defined()):
        return None
    xs, gs = x_shape.as_list(), g_shape.as_list()
    lead = len(gs) - len(xs)
    if lead < 0:
        return None
    axes = list(range(lead))
    for i, d in enumerate(xs):
        if d == 1 and gs[lead + i] != 1:
            axes.append(lead + i)
    return axes


def unbroadcast(grad, x):
    """`grad` summed to `x`'s shape (x was broadcast to grad's shape in the forward op)."""
    axes = static_reduction_axes(x.shape, grad.shape)
    if axes is not None:
        if not axes:
            return grad
        r = math_ops.reduce_sum(grad, axes)
        if r.shape.as_list() != x.shape.as_list():
            r = array_ops.reshape(r, x.shape.as_list())
        return r
    sx = array_ops.shape(x)
    sg = array_ops.shape(grad)
    rx, _ = array_ops.broadcast_gradient_args(sx, sg)
    return array_ops.reshape(math_ops.reduce_sum(grad, rx), sx)


def _pair_axes(a: TensorShape, b: TensorShape):
    """Axes to sum a gradient over for operand `a` of `a op b`, from static shapes alone.

    None when the static shapes cannot decide (an unknown dimension that may be 1 facing one
    that may not).  A dimension of `a` needs no sum when `b` is 1 there (or absent): the output
    dimension is then `a`'s own, known or not.
    """
    if a.ndims is None or b.ndims is None:
        return None
    n = max(a.ndims, b.ndims)
    da = [1] * (n - a.ndims) + a.as_list()
    db = [1] * (n - b.ndims) + b.as_list()
    axes = list(range(n - a.ndims))
    for i in range(n - a.ndims, n):
        x, y = da[i], db[i]
        if y == 1:
            continue
        if x == 1 and y is not None:
            axes.append(i)
        elif x is None or x == 1:
            return None
    return axes


def _sum_to(grad, x, axes):
    if not axes:
        return grad
    r = math_ops.reduce_sum(grad, axes)
    if x.shape.is_fully_defined():
        if r.shape.as_list() != x.shape.as_list():
            r = array_ops.reshape(r, x.shape.as_list())
        return r
    return array_ops.reshape(r, array_ops.shape(x))


def binary_unbroadcast(op, gx, gy):
    """Unbroadcast the gradients of a binary element-wise op's two inputs."""
    x, y = op.inputs
    ax, ay = _pair_axes(x.shape, y.shape), _pair_axes(y.shape, x.shape)
    return (None if gx is None else (_sum_to(gx, x, ax) if ax is not None else unbroadcast(gx, x)),
            None if gy is None else (_sum_to(gy, y, ay) if ay is not None else unbroadcast(gy, y)))
