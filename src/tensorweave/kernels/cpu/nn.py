"""Kernels: activations and their fused gradients, bias, softmax, losses.

Factories read the attrs once (alpha, data_format, the output dtype) and bind the functions of
the backend's array module (`ctx.xp`), so the kernel does only the arithmetic.  Softmax and the
cross entropies subtract the row maximum first, so they never overflow; float16 inputs are
computed in float32 and rounded once at the end.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS"]

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def in_float32(factory):
    """A factory running `factory`'s kernel in float32 for float16 outputs, rounding once at
    the end."""
    def half_factory(node, ctx):
        fn = factory(node, ctx)
        if node.out_dtypes[0].np != np.float16:
            return fn
        asarray = ctx.xp.asarray

        def half(*args):
            r = fn(*(a.astype(np.float32) if getattr(a, "dtype", None) == np.float16 else a
                     for a in args))
            if isinstance(r, tuple):
                return tuple(v.astype(np.float16) for v in r)
            return asarray(r).astype(np.float16)
        return half
    return half_factory


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
def _relu6(node, ctx):
    minimum, maximum = ctx.xp.minimum, ctx.xp.maximum
    return lambda x: minimum(maximum(x, 0), 6)


def _elu(node, ctx):
    where, expm1, minimum = ctx.xp.where, ctx.xp.expm1, ctx.xp.minimum
    return lambda x: where(x < 0, expm1(minimum(x, 0)), x)


def _selu(node, ctx):
    where, expm1, minimum = ctx.xp.where, ctx.xp.expm1, ctx.xp.minimum

    def selu(x):
        neg = expm1(minimum(x, 0))
        neg *= SELU_ALPHA
        return where(x < 0, neg, x) * SELU_SCALE
    return selu


def _leaky_relu(node, ctx):
    alpha = float(node.attr.get("alpha", 0.2))
    where = ctx.xp.where
    return lambda x: where(x > 0, x, x * alpha)


def _softplus(node, ctx):
    logaddexp = ctx.xp.logaddexp
    return lambda x: logaddexp(x, 0)


def _softsign(node, ctx):
    absolute = ctx.xp.abs
    return lambda x: x / (absolute(x) + 1)


def _relu_factory(node, ctx):
    """Relu, in place when the executor donates the input buffer."""
    maximum = ctx.xp.maximum
    if 0 not in node.donatable:
        return lambda x: maximum(x, 0)
    dt = node.out_dtypes[0].np
    arr, host = ctx.backend.allocator.array_type, ctx.backend.allocator.on_host

    def relu_inplace(x):
        if type(x) is arr and x.dtype == dt and (not host or x.flags.writeable):
            return maximum(x, 0, out=x)
        return maximum(x, 0)
    return relu_inplace


# --- fused gradients: fn(gradients, features_or_outputs) -------------------------------------
def _relu_grad_factory(node, ctx):
    """ReluGrad, multiplying the donated incoming gradient in place."""
    if 0 not in node.donatable:
        return lambda g, x: g * (x > 0)
    dt = node.out_dtypes[0].np
    multiply = ctx.xp.multiply
    arr, host = ctx.backend.allocator.array_type, ctx.backend.allocator.on_host

    def relu_grad_inplace(g, x):
        if (type(g) is arr and g.dtype == dt and (not host or g.flags.writeable)
                and g.shape == np.shape(x)):
            return multiply(g, x > 0, out=g)
        return g * (x > 0)
    return relu_grad_inplace


def _relu6_grad(node, ctx):
    return lambda g, x: g * ((x > 0) & (x < 6))


def _elu_grad(node, ctx):
    where = ctx.xp.where
    return lambda g, y: where(y < 0, g * (y + 1), g)


def _selu_grad(node, ctx):
    where = ctx.xp.where
    return lambda g, y: where(y < 0, g * (y + SELU_SCALE * SELU_ALPHA), g * SELU_SCALE)


def _leaky_relu_grad(node, ctx):
    alpha = float(node.attr.get("alpha", 0.2))
    where = ctx.xp.where
    return lambda g, x: where(x > 0, g, g * alpha)


def _softplus_grad(node, ctx):
    exp = ctx.xp.exp

    def softplus_grad(g, x):
        with np.errstate(over="ignore"):
            return g / (exp(-x) + 1)
    return softplus_grad


def _softsign_grad(node, ctx):
    absolute = ctx.xp.abs

    def softsign_grad(g, x):
        d = absolute(x) + 1
        return g / (d * d)
    return softsign_grad


# ----------------------------------------------------------------------------------------------
# bias
# ----------------------------------------------------------------------------------------------
def _bias_add(node, ctx):
    nchw = node.attr.get("data_format", "NHWC") == "NCHW"
    add, reshape = ctx.xp.add, ctx.xp.reshape

    def bias_add(v, b):
        axis = 1 if nchw else np.ndim(v) - 1
        if np.shape(b)[0] != np.shape(v)[axis]:
            raise ValueError(f"Must provide as many biases as the channel dimension of the "
                             f"input tensor: {list(np.shape(b))} vs. {list(np.shape(v))}")
        if nchw:
            b = reshape(b, (-1,) + (1,) * (np.ndim(v) - 2))
        return add(v, b)
    return bias_add


def _bias_add_grad(node, ctx):
    nchw = node.attr.get("data_format", "NHWC") == "NCHW"
    dt = node.out_dtypes[0].np
    acc = np.float32 if dt == np.float16 else dt
    reduce = ctx.xp.add.reduce

    def bias_add_grad(g):
        r = np.ndim(g)
        axes = tuple(i for i in range(r) if i != (1 if nchw else r - 1))
        return reduce(g, axes, acc).astype(dt, copy=False)
    return bias_add_grad


# ----------------------------------------------------------------------------------------------
# softmax and losses
# ----------------------------------------------------------------------------------------------
def _softmax(node, ctx):
    amax, exp, sum_ = ctx.xp.max, ctx.xp.exp, ctx.xp.sum

    def softmax(x):
        e = x - amax(x, axis=-1, keepdims=True)
        exp(e, out=e)
        e /= sum_(e, axis=-1, keepdims=True)
        return e
    return softmax


def _log_softmax(node, ctx):
    amax, exp, sum_, log = ctx.xp.max, ctx.xp.exp, ctx.xp.sum, ctx.xp.log

    def log_softmax(x):
        s = x - amax(x, axis=-1, keepdims=True)
        s -= log(sum_(exp(s), axis=-1, keepdims=True))
        return s
    return log_softmax


def _softmax_xent(node, ctx):
    amax, exp, sum_, log = ctx.xp.max, ctx.xp.exp, ctx.xp.sum, ctx.xp.log

    def softmax_xent(logits, labels):
        if np.shape(labels) != logits.shape:
            raise ValueError(f"logits and labels must be same size: logits_size="
                             f"{list(logits.shape)} labels_size={list(np.shape(labels))}")
        shifted = logits - amax(logits, axis=1, keepdims=True)
        e = exp(shifted)
        s = sum_(e, axis=1, keepdims=True)
        loss = sum_(labels * (log(s) - shifted), axis=1)
        e /= s
        e -= labels
        return loss, e
    return softmax_xent


def _sparse_softmax_xent(node, ctx):
    xp = ctx.xp
    amax, exp, sum_, log, arange = xp.max, xp.exp, xp.sum, xp.log, xp.arange

    def sparse_softmax_xent(logits, labels):
        n, c = logits.shape
        if np.shape(labels)[0] != n:
            raise ValueError(f"logits and labels must have the same first dimension, got logits "
                             f"shape {list(logits.shape)} and labels shape "
                             f"{list(np.shape(labels))}")
        if n and (labels.min() < 0 or labels.max() >= c):
            bad = (labels < 0) | (labels >= c)
            vals = " ".join(str(int(v)) for v in xp.reshape(labels, -1))
            raise ValueError(f"Received a label value of {int(labels[bad][0])} which is outside "
                             f"the valid range of [0, {c}).  Label values: {vals}")
        rows = arange(n)
        e = logits - amax(logits, axis=1, keepdims=True)   # shifted logits, then exp in place
        picked = e[rows, labels]
        exp(e, out=e)
        s = sum_(e, axis=1)
        loss = log(s)
        loss -= picked
        e /= s[:, None]
        e[rows, labels] -= 1
        return loss, e
    return sparse_softmax_xent


def _l2_loss(node, ctx):
    dt = node.out_dtypes[0].np
    acc = np.float32 if dt == np.float16 else dt
    ravel, dot, asarray = ctx.xp.ravel, ctx.xp.dot, ctx.xp.asarray

    def l2_loss(x):
        v = ravel(x).astype(acc, copy=False)
        return asarray(dot(v, v) / 2, dtype=dt)
    return l2_loss


# ----------------------------------------------------------------------------------------------
# in_top_k, local response normalisation, fused batch norm
# ----------------------------------------------------------------------------------------------
def _in_top_k(node, ctx):
    xp, to_host = ctx.xp, ctx.to_host

    def in_top_k(p, targets, k):
        n, c = p.shape
        t = xp.asarray(targets)
        ok = (t >= 0) & (t < c)
        tp = p[xp.arange(n), xp.where(ok, t, 0)]
        ok &= xp.isfinite(p).all(axis=1)
        more = xp.count_nonzero(p > tp[:, None], axis=1)
        return ok & (more < int(to_host(k)))
    return in_top_k


def _window_sum(v, r: int):
    """Sum of `v` over channels d-r..d+r (clipped at the ends) along the last axis."""
    out = v.copy()
    c = v.shape[-1]
    for s in range(1, min(r, c - 1) + 1):
        out[..., s:] += v[..., :-s]
        out[..., :-s] += v[..., s:]
    return out


def _lrn_attrs(node):
    a = node.attr
    return int(a.get("depth_radius", 5)), float(a.get("bias", 1.0)), \
        float(a.get("alpha", 1.0)), float(a.get("beta", 0.5))


def _lrn(node, ctx):
    r, bias, alpha, beta = _lrn_attrs(node)

    def lrn(x):
        norm = _window_sum(x * x, r) * alpha + bias
        return x * norm ** -beta
    return lrn


def _lrn_grad(node, ctx):
    r, bias, alpha, beta = _lrn_attrs(node)

    def lrn_grad(dy, x, y):
        # y_i = x_i N_i^-beta, N_i = bias + alpha sum_{j near i} x_j^2
        norm = _window_sum(x * x, r) * alpha + bias
        back = _window_sum(dy * y / norm, r)
        return dy * norm ** -beta - (2 * alpha * beta) * x * back
    return lrn_grad


class _BatchNorm:
    """Attrs of a FusedBatchNorm node (axes to reduce, channel reshaping, epsilon) and the array
    module it computes with."""

    def __init__(self, node, ctx):
        a = node.attr
        self.nchw = a.get("data_format", "NHWC") == "NCHW"
        self.axes = (0, 2, 3) if self.nchw else (0, 1, 2)
        self.eps = float(a.get("epsilon", 1e-3))
        self.training = bool(a.get("is_training", True))
        self.xdt = node.out_dtypes[0].np
        self.udt = node.out_dtypes[1].np
        self.xp = ctx.xp

    def chan(self, v):
        """A per-channel vector shaped to broadcast against x."""
        return self.xp.reshape(v, (1, -1, 1, 1) if self.nchw else (-1,))

    def up(self, x):
        return self.xp.asarray(x).astype(self.udt, copy=False)

    def empty(self):
        return self.xp.zeros((0,), dtype=self.udt)


def _fused_batch_norm(node, ctx):
    b = _BatchNorm(node, ctx)
    xp = b.xp

    def fused_batch_norm(x, scale, offset, mean, var):
        x = b.up(x)
        if b.training:
            n = x.size // max(x.shape[1 if b.nchw else 3], 1)
            mean = xp.mean(x, axis=b.axes)
            var = xp.mean(xp.square(x - b.chan(mean)), axis=b.axes)
            corrected = var * (n / max(n - 1, 1))
        else:
            corrected = var
        inv = scale / xp.sqrt(var + b.eps)
        y = x * b.chan(inv) + b.chan(offset - mean * inv)
        return (y.astype(b.xdt, copy=False), xp.array(mean, b.udt),
                xp.array(corrected, b.udt), xp.array(mean, b.udt), xp.array(var, b.udt),
                b.empty())
    return fused_batch_norm


def _fused_batch_norm_grad(node, ctx):
    b = _BatchNorm(node, ctx)
    xp = b.xp

    def fused_batch_norm_grad(dy, x, scale, mean, var, _reserve):
        dy, x = b.up(dy), b.up(x)
        inv = 1 / xp.sqrt(var + b.eps)
        xhat = (x - b.chan(mean)) * b.chan(inv)
        doffset = xp.sum(dy, axis=b.axes)
        dscale = xp.sum(dy * xhat, axis=b.axes)
        if b.training:
            n = x.size // max(len(doffset), 1)
            dx = (dy - b.chan(doffset / n) - xhat * b.chan(dscale / n)) * b.chan(scale * inv)
        else:
            dx = dy * b.chan(scale * inv)
        empty = b.empty()
        return (dx.astype(b.xdt, copy=False), dscale.astype(b.udt, copy=False),
                doffset.astype(b.udt, copy=False), empty, empty)
    return fused_batch_norm_grad


KERNELS = {
    "Relu": _relu_factory,
    "Relu6": _relu6,
    "Elu": _elu,
    "Selu": _selu,
    "LeakyRelu": _leaky_relu,
    "Softplus": _softplus,
    "Softsign": _softsign,
    "ReluGrad": _relu_grad_factory,
    "Relu6Grad": _relu6_grad,
    "EluGrad": _elu_grad,
    "SeluGrad": _selu_grad,
    "LeakyReluGrad": _leaky_relu_grad,
    "SoftplusGrad": _softplus_grad,
    "SoftsignGrad": _softsign_grad,
    "BiasAdd": _bias_add,
    "BiasAddGrad": _bias_add_grad,
    "Softmax": in_float32(_softmax),
    "LogSoftmax": in_float32(_log_softmax),
    "SoftmaxCrossEntropyWithLogits": in_float32(_softmax_xent),
    "SparseSoftmaxCrossEntropyWithLogits": in_float32(_sparse_softmax_xent),
    "L2Loss": _l2_loss,
    "InTopKV2": _in_top_k,
    "LRN": in_float32(_lrn),
    "LRNGrad": in_float32(_lrn_grad),
    "FusedBatchNormV3": _fused_batch_norm,
    "FusedBatchNormGradV3": _fused_batch_norm_grad,
}
