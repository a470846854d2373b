"""CPU kernels: activations and their fused gradients, bias, softmax, losses (numpy).

Factories read the attrs once (alpha, data_format, the output dtype) and return a function doing
only the arithmetic.  Softmax and the cross entropies subtract the row maximum first, so they
never overflow; float16 inputs are computed in float32 and rounded once at the end.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS"]

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def fixed(fn):
    """A factory for a kernel that needs nothing from the node."""
    return lambda node, ctx: fn


def in_float32(kernel):
    """A factory running `kernel` (a function, or a factory when it takes (node, ctx)) in
    float32 for float16 outputs, rounding once at the end."""
    takes_node = kernel.__code__.co_varnames[:2] == ("node", "ctx")

    def factory(node, ctx):
        fn = kernel(node, ctx) if takes_node else kernel
        if node.out_dtypes[0].np != np.float16:
            return fn

        def half(*args):
            r = fn(*(a.astype(np.float32) if getattr(a, "dtype", None) == np.float16 else a
                     for a in args))
            if isinstance(r, tuple):
                return tuple(v.astype(np.float16) for v in r)
            return np.asarray(r).astype(np.float16)
        return half
    return factory


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
def _relu(x):
    return np.maximum(x, 0)


def _relu6(x):
    return np.minimum(np.maximum(x, 0), 6)


def _elu(x):
    return np.where(x < 0, np.expm1(np.minimum(x, 0)), x)


def _selu(x):
    neg = np.expm1(np.minimum(x, 0))
    neg *= SELU_ALPHA
    return np.where(x < 0, neg, x) * SELU_SCALE


def _leaky_relu(node, ctx):
    alpha = float(node.attr.get("alpha", 0.2))
    return lambda x: np.where(x > 0, x, x * alpha)


def _softplus(x):
    return np.logaddexp(x, 0)


def _softsign(x):
    return x / (np.abs(x) + 1)


def _relu_factory(node, ctx):
    """Relu, in place when the executor donates the input buffer."""
    if 0 not in node.donatable:
        return _relu
    dt = node.out_dtypes[0].np

    def relu_inplace(x):
        if type(x) is np.ndarray and x.dtype == dt and x.flags.writeable:
            return np.maximum(x, 0, out=x)
        return np.maximum(x, 0)
    return relu_inplace


# --- fused gradients: fn(gradients, features_or_outputs) -------------------------------------
def _relu_grad(g, x):
    return g * (x > 0)


def _relu_grad_factory(node, ctx):
    """ReluGrad, multiplying the donated incoming gradient in place."""
    if 0 not in node.donatable:
        return _relu_grad
    dt = node.out_dtypes[0].np

    def relu_grad_inplace(g, x):
        if (type(g) is np.ndarray and g.dtype == dt and g.flags.writeable
                and g.shape == np.shape(x)):
            return np.multiply(g, x > 0, out=g)
        return g * (x > 0)
    return relu_grad_inplace


def _relu6_grad(g, x):
    return g * ((x > 0) & (x < 6))


def _elu_grad(g, y):
    return np.where(y < 0, g * (y + 1), g)


def _selu_grad(g, y):
    return np.where(y < 0, g * (y + SELU_SCALE * SELU_ALPHA), g * SELU_SCALE)


def _leaky_relu_grad(node, ctx):
    alpha = float(node.attr.get("alpha", 0.2))
    return lambda g, x: np.where(x > 0, g, g * alpha)


def _softplus_grad(g, x):
    with np.errstate(over="ignore"):
        return g / (np.exp(-x) + 1)


def _softsign_grad(g, x):
    d = np.abs(x) + 1
    return g / (d * d)


# ----------------------------------------------------------------------------------------------
# bias
# ----------------------------------------------------------------------------------------------
def _bias_add(node, ctx):
    nchw = node.attr.get("data_format", "NHWC") == "NCHW"

    def bias_add(v, b):
        axis = 1 if nchw else np.ndim(v) - 1
        if np.shape(b)[0] != np.shape(v)[axis]:
            raise ValueError(f"Must provide as many biases as the channel dimension of the "
                             f"input tensor: {list(np.shape(b))} vs. {list(np.shape(v))}")
        if nchw:
            b = np.reshape(b, (-1,) + (1,) * (np.ndim(v) - 2))
        return np.add(v, b)
    return bias_add


def _bias_add_grad(node, ctx):
    nchw = node.attr.get("data_format", "NHWC") == "NCHW"
    dt = node.out_dtypes[0].np
    acc = np.float32 if dt == np.float16 else dt

    def bias_add_grad(g):
        r = np.ndim(g)
        axes = tuple(i for i in range(r) if i != (1 if nchw else r - 1))
        return np.add.reduce(g, axes, acc).astype(dt, copy=False)
    return bias_add_grad


# ----------------------------------------------------------------------------------------------
# softmax and losses
# ----------------------------------------------------------------------------------------------
def _softmax(x):
    e = x - np.max(x, axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= np.sum(e, axis=-1, keepdims=True)
    return e


def _log_softmax(x):
    s = x - np.max(x, axis=-1, keepdims=True)
    s -= np.log(np.sum(np.exp(s), axis=-1, keepdims=True))
    return s


def _softmax_parts(logits):
    """(shifted logits, exp(shifted), log of the row sums [n, 1])."""
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(shifted)
    s = np.sum(e, axis=1, keepdims=True)
    return shifted, e, s


def _softmax_xent(logits, labels):
    if np.shape(labels) != logits.shape:
        raise ValueError(f"logits and labels must be same size: logits_size="
                         f"{list(logits.shape)} labels_size={list(np.shape(labels))}")
    shifted, e, s = _softmax_parts(logits)
    loss = np.sum(labels * (np.log(s) - shifted), axis=1)
    e /= s
    e -= labels
    return loss, e


def _sparse_softmax_xent(logits, labels):
    n, c = logits.shape
    if np.shape(labels)[0] != n:
        raise ValueError(f"logits and labels must have the same first dimension, got logits "
                         f"shape {list(logits.shape)} and labels shape {list(np.shape(labels))}")
    if n and (labels.min() < 0 or labels.max() >= c):
        bad = (labels < 0) | (labels >= c)
        vals = " ".join(str(int(v)) for v in np.reshape(labels, -1))
        raise ValueError(f"Received a label value of {int(labels[bad][0])} which is outside the "
                         f"valid range of [0, {c}).  Label values: {vals}")
    rows = np.arange(n)
    e = logits - np.max(logits, axis=1, keepdims=True)   # shifted logits, then exp in place
    picked = e[rows, labels]
    np.exp(e, out=e)
    s = np.sum(e, axis=1)
    loss = np.log(s)
    loss -= picked
    e /= s[:, None]
    e[rows, labels] -= 1
    return loss, e


def _l2_loss(node, ctx):
    dt = node.out_dtypes[0].np
    acc = np.float32 if dt == np.float16 else dt

    def l2_loss(x):
        v = np.ravel(x).astype(acc, copy=False)
        return np.array(np.dot(v, v) / 2, dtype=dt)
    return l2_loss


# ----------------------------------------------------------------------------------------------
# in_top_k, local response normalisation, fused batch norm
# ----------------------------------------------------------------------------------------------
def _in_top_k(p, targets, k):
    n, c = p.shape
    t = np.asarray(targets)
    ok = (t >= 0) & (t < c)
    tp = p[np.arange(n), np.where(ok, t, 0)]
    ok &= np.isfinite(p).all(axis=1)
    more = np.count_nonzero(p > tp[:, None], axis=1)
    return ok & (more < int(k))


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
    """Attrs of a FusedBatchNorm node: axes to reduce, channel reshaping, epsilon."""

    def __init__(self, node):
        a = node.attr
        self.nchw = a.get("data_format", "NHWC") == "NCHW"
        self.axes = (0, 2, 3) if self.nchw else (0, 1, 2)
        self.eps = float(a.get("epsilon", 1e-3))
        self.training = bool(a.get("is_training", True))
        self.xdt = node.out_dtypes[0].np
        self.udt = node.out_dtypes[1].np

    def chan(self, v):
        """A per-channel vector shaped to broadcast against x."""
        return np.reshape(v, (1, -1, 1, 1) if self.nchw else (-1,))

    def up(self, x):
        return np.asarray(x).astype(self.udt, copy=False)


def _fused_batch_norm(node, ctx):
    b = _BatchNorm(node)
    empty = np.zeros((0,), dtype=b.udt)

    def fused_batch_norm(x, scale, offset, mean, var):
        x = b.up(x)
        if b.training:
            n = x.size // max(x.shape[1 if b.nchw else 3], 1)
            mean = np.mean(x, axis=b.axes)
            var = np.mean(np.square(x - b.chan(mean)), axis=b.axes)
            corrected = var * (n / max(n - 1, 1))
        else:
            corrected = var
        inv = scale / np.sqrt(var + b.eps)
        y = x * b.chan(inv) + b.chan(offset - mean * inv)
        return (y.astype(b.xdt, copy=False), np.array(mean, b.udt),
                np.array(corrected, b.udt), np.array(mean, b.udt), np.array(var, b.udt),
                empty.copy())
    return fused_batch_norm


def _fused_batch_norm_grad(node, ctx):
    b = _BatchNorm(node)
    empty = np.zeros((0,), dtype=b.udt)

    def fused_batch_norm_grad(dy, x, scale, mean, var, _reserve):
        dy, x = b.up(dy), b.up(x)
        inv = 1 / np.sqrt(var + b.eps)
        xhat = (x - b.chan(mean)) * b.chan(inv)
        doffset = np.sum(dy, axis=b.axes)
        dscale = np.sum(dy * xhat, axis=b.axes)
        if b.training:
            n = x.size // max(len(doffset), 1)
            dx = (dy - b.chan(doffset / n) - xhat * b.chan(dscale / n)) * b.chan(scale * inv)
        else:
            dx = dy * b.chan(scale * inv)
        return (dx.astype(b.xdt, copy=False), dscale.astype(b.udt, copy=False),
                doffset.astype(b.udt, copy=False), empty, empty)
    return fused_batch_norm_grad


KERNELS = {
    "Relu": _relu_factory,
    "Relu6": fixed(_relu6),
    "Elu": fixed(_elu),
    "Selu": fixed(_selu),
    "LeakyRelu": _leaky_relu,
    "Softplus": fixed(_softplus),
    "Softsign": fixed(_softsign),
    "ReluGrad": _relu_grad_factory,
    "Relu6Grad": fixed(_relu6_grad),
    "EluGrad": fixed(_elu_grad),
    "SeluGrad": fixed(_selu_grad),
    "LeakyReluGrad": _leaky_relu_grad,
    "SoftplusGrad": fixed(_softplus_grad),
    "SoftsignGrad": fixed(_softsign_grad),
    "BiasAdd": _bias_add,
    "BiasAddGrad": _bias_add_grad,
    "Softmax": in_float32(_softmax),
    "LogSoftmax": in_float32(_log_softmax),
    "SoftmaxCrossEntropyWithLogits": in_float32(_softmax_xent),
    "SparseSoftmaxCrossEntropyWithLogits": in_float32(_sparse_softmax_xent),
    "L2Loss": _l2_loss,
    "InTopKV2": fixed(_in_top_k),
    "LRN": in_float32(_lrn),
    "LRNGrad": in_float32(_lrn_grad),
    "FusedBatchNormV3": _fused_batch_norm,
    "FusedBatchNormGradV3": _fused_batch_norm_grad,
}
