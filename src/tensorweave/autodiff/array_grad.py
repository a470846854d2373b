"""Gradients of array ops."""
from __future__ import annotations

from ..ops import array_ops
from .registry import NoGradient, RegisterGradient

for _t in ("Shape", "Size", "Rank", "ZerosLike", "OnesLike", "StopGradient"):
    NoGradient(_t)


@RegisterGradient("Identity")
def _identity_grad(op, grad):
    return grad


@RegisterGradient("PlaceholderWithDefault")
def _pwd_grad(op, grad):
    return grad


@RegisterGradient("Reshape")
def _reshape_grad(op, grad):
    x = op.inputs[0]
    if x.shape.is_fully_defined():
        return array_ops.reshape(grad, x.shape.as_list()), None
    return array_ops.reshape(grad, array_ops.shape(x)), None


@RegisterGradient("Fill")
def _fill_grad(op, grad):
    from ..ops import math_ops
    return None, math_ops.reduce_sum(grad)


NoGradient("BroadcastGradientArgs")
NoGradient("ReducedShape")


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    from .grad_util import unbroadcast
    return unbroadcast(grad, op.inputs[0]), None
