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


def in_float32(fn):
    """A factory running `fn` in float32 for float16 outputs (one rounding at the end)."""
    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        if dt != np.float16:
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


# --- fused gradients: fn(gradients, features_or_outputs) -------------------------------------
def _relu_grad(g, x):
    return g * (x > 0)


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
    if node.attr.get("data_format", "NHWC") != "NCHW":
        return np.add

    def bias_add_nchw(v, b):
        return v + np.reshape(b, (-1,) + (1,) * (np.ndim(v) - 2))
    return bias_add_nchw


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
    shifted, e, s = _softmax_parts(logits)
    loss = np.sum(labels * (np.log(s) - shifted), axis=1)
    e /= s
    e -= labels
    return loss, e


def _sparse_softmax_xent(logits, labels):
    n, c = logits.shape
    bad = (labels < 0) | (labels >= c)
    if np.any(bad):
        vals = " ".join(str(int(v)) for v in np.reshape(labels, -1))
        raise ValueError(f"Received a label value of {int(labels[bad][0])} which is outside the "
                         f"valid range of [0, {c}).  Label values: {vals}")
    shifted, e, s = _softmax_parts(logits)
    rows = np.arange(n)
    loss = np.log(s[:, 0]) - shifted[rows, labels]
    e /= s
    e[rows, labels] -= 1
    return loss, e


def _l2_loss(node, ctx):
    dt = node.out_dtypes[0].np
    acc = np.float32 if dt == np.float16 else dt

    def l2_loss(x):
        v = np.ravel(x).astype(acc, copy=False)
        return np.array(np.dot(v, v) / 2, dtype=dt)
    return l2_loss


KERNELS = {
    "Relu": fixed(_relu),
    "Relu6": fixed(_relu6),
    "Elu": fixed(_elu),
    "Selu": fixed(_selu),
    "LeakyRelu": _leaky_relu,
    "Softplus": fixed(_softplus),
    "Softsign": fixed(_softsign),
    "ReluGrad": fixed(_relu_grad),
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
}
