"""CPU kernels for array ops (shapes, reshaping, filling, copying)."""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS"]


def _identity(node, ctx):
    return lambda x: x


def _shape(node, ctx):
    dt = node.attr.get("out_type").np
    return lambda x: np.array(np.shape(x), dtype=dt)


def _size(node, ctx):
    dt = node.attr.get("out_type").np
    return lambda x: np.array(np.size(x), dtype=dt)


def _rank(node, ctx):
    return lambda x: np.array(np.ndim(x), dtype=np.int32)


def _fill(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda dims, value: np.full(tuple(int(d) for d in dims), value, dtype=dt)


def _zeros_like(node, ctx):
    dt = node.out_dtypes[0].np
    if dt == object:
        return lambda x: np.full(np.shape(x), b"", dtype=object)
    return lambda x: np.zeros(np.shape(x), dtype=dt)


def _ones_like(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda x: np.ones(np.shape(x), dtype=dt)


def _reshape(node, ctx):
    c = node.const_inputs.get(1)
    if c is not None:
        target = tuple(int(d) for d in np.reshape(c, -1))
        return lambda x, _s: np.reshape(x, target)
    return lambda x, s: np.reshape(x, tuple(int(d) for d in np.reshape(s, -1)))


def _broadcast_to(node, ctx):
    c = node.const_inputs.get(1)
    if c is not None:
        target = tuple(int(d) for d in np.reshape(c, -1))
        return lambda x, _s: np.broadcast_to(x, target)
    return lambda x, s: np.broadcast_to(x, tuple(int(d) for d in np.reshape(s, -1)))


def _broadcast_gradient_args(node, ctx):
    dt = node.out_dtypes[0].np

    def bga(s0, s1):
        s0, s1 = [int(d) for d in s0], [int(d) for d in s1]
        n = max(len(s0), len(s1))
        a = [1] * (n - len(s0)) + s0
        b = [1] * (n - len(s1)) + s1
        r0, r1 = [], []
        for i, (x, y) in enumerate(zip(a, b)):
            if x == y:
                continue
            if x == 1:
                r0.append(i)
            elif y == 1:
                r1.append(i)
            else:
                raise ValueError(f"Incompatible shapes: {s0} vs. {s1}")
        r0 = list(range(n - len(s0))) + [i for i in r0 if i >= n - len(s0)]
        r1 = list(range(n - len(s1))) + [i for i in r1 if i >= n - len(s1)]
        return np.array(sorted(set(r0)), dtype=dt), np.array(sorted(set(r1)), dtype=dt)
    return bga


def _reduced_shape(node, ctx):
    def reduced(shape, axes):
        out = np.array(shape, copy=True)
        r = out.shape[0]
        for a in np.reshape(axes, -1):
            out[int(a) % r] = 1
        return out
    return reduced


KERNELS = {
    "BroadcastTo": _broadcast_to,
    "BroadcastGradientArgs": _broadcast_gradient_args,
    "ReducedShape": _reduced_shape,
    "Identity": _identity,
    "StopGradient": _identity,
    "Shape": _shape,
    "Size": _size,
    "Rank": _rank,
    "Fill": _fill,
    "ZerosLike": _zeros_like,
    "OnesLike": _ones_like,
    "Reshape": _reshape,
}
