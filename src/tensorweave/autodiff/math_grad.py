"""Gradients of math ops (one function per op type, building graph with tw ops)."""
from __future__ import annotations

from ..ops import array_ops, math_ops
from .grad_util import binary_unbroadcast
from .registry import RegisterGradient


@RegisterGradient("Add")
def _add_grad(op, grad):
    return binary_unbroadcast(op, grad, grad)


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    return binary_unbroadcast(op, grad, math_ops.negative(grad))


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs
    return binary_unbroadcast(op, math_ops.multiply(grad, y), math_ops.multiply(x, grad))


@RegisterGradient("RealDiv")
def _realdiv_grad(op, grad):
    x, y = op.inputs
    gx = math_ops.realdiv(grad, y)
    gy = math_ops.multiply(grad, math_ops.realdiv(math_ops.realdiv(math_ops.negative(x), y), y))
    return binary_unbroadcast(op, gx, gy)


@RegisterGradient("Neg")
def _neg_grad(op, grad):
    return math_ops.negative(grad)


@RegisterGradient("Square")
def _square_grad(op, grad):
    x = op.inputs[0]
    from ..ops.constant_op import constant
    return math_ops.multiply(grad, math_ops.multiply(x, constant(2, dtype=x.dtype)))


@RegisterGradient("MatMul")
def _matmul_grad(op, grad):
    a, b = op.inputs
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    mm = math_ops.matmul
    if not ta and not tb:
        return mm(grad, b, transpose_b=True), mm(a, grad, transpose_a=True)
    if not ta and tb:
        return mm(grad, b), mm(grad, a, transpose_a=True)
    if ta and not tb:
        return mm(b, grad, transpose_b=True), mm(a, grad)
    return mm(b, grad, transpose_a=True, transpose_b=True), mm(grad, a, transpose_a=True,
                                                              transpose_b=True)


@RegisterGradient("AddN")
def _addn_grad(op, grad):
    return [grad] * len(op.inputs)


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    x = op.inputs[0]
    target = x.shape.as_list() if x.shape.is_fully_defined() else array_ops.shape(x)
    return array_ops.broadcast_to(_keepdims_grad(op, grad), target), None


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    x = op.inputs[0]
    g = _sum_grad(op, grad)[0]
    out = op.outputs[0]
    if x.shape.is_fully_defined() and out.shape.is_fully_defined():
        n = max(x.shape.num_elements() // max(out.shape.num_elements(), 1), 1)
        from ..ops.constant_op import constant
        return math_ops.realdiv(g, constant(n, dtype=g.dtype)), None
    factor = math_ops.cast(math_ops.realdiv(
        math_ops.cast(array_ops.size(x), x.dtype), math_ops.cast(array_ops.size(out), x.dtype)),
        x.dtype)
    return math_ops.realdiv(g, factor), None


def _keepdims_grad(op, grad):
    """The reduction's gradient reshaped so it broadcasts against the input."""
    x, axes = op.inputs
    if op.get_attr("keep_dims"):
        return grad
    from ..framework.convert import constant_value
    av = constant_value(axes)
    if x.shape.ndims is not None and av is not None:
        r = x.shape.ndims
        red = {int(a) % r for a in av.reshape(-1)} if r else set()
        if x.shape.is_fully_defined():
            keep_shape = [1 if i in red else d for i, d in enumerate(x.shape.as_list())]
            return array_ops.reshape(grad, keep_shape)
    return array_ops.reshape(grad, array_ops.reduced_shape(array_ops.shape(x), axes))


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src = op.get_attr("SrcT")
    dst = op.get_attr("DstT")
    ok = (src.is_floating or src.is_complex) and (dst.is_floating or dst.is_complex)
    return math_ops.cast(grad, src) if ok else None
