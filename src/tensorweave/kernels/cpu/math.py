"""CPU kernels for math ops (numpy)."""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["KERNELS"]


def fixed(fn):
    """A factory for a kernel that needs nothing from the node."""
    return lambda node, ctx: fn


def _matmul(node, ctx):
    ta, tb = node.attr.get("transpose_a"), node.attr.get("transpose_b")
    mm = np.matmul
    if ta and tb:
        return lambda a, b: mm(a.T, b.T)
    if ta:
        return lambda a, b: mm(a.T, b)
    if tb:
        return lambda a, b: mm(a, b.T)
    return mm


def _add_n(node, ctx):
    def add_n(*xs):
        out = np.add(xs[0], xs[1])
        if type(out) is not np.ndarray:
            for x in xs[2:]:
                out = out + x
            return out
        for x in xs[2:]:
            np.add(out, x, out=out)
        return out
    return add_n


def _axes(node, value):
    return tuple(int(a) for a in np.reshape(value, -1))


def _reduction(reduce_fn):
    """Factory for Sum-like reductions: `reduce_fn(x, axes, dtype, keepdims)`."""
    def factory(node, ctx):
        keep = bool(node.attr.get("keep_dims", False))
        dt = node.out_dtypes[0].np
        c = node.const_inputs.get(1)
        if c is not None:
            axes = _axes(node, c)
            return lambda x, _a: reduce_fn(x, axes, dt, keep)
        return lambda x, a: reduce_fn(x, _axes(node, a), dt, keep)
    return factory


def _sum(x, axes, dt, keep):
    return np.add.reduce(x, axes, dt, None, keep)


def _mean(x, axes, dt, keep):
    if dt.kind in "iu":
        n = 1
        for a in axes:
            n *= np.shape(x)[a]
        s = np.add.reduce(x, axes, np.int64, None, keep)
        return (np.sign(s) * (np.abs(s) // max(n, 1))).astype(dt)
    return np.mean(x, axis=axes, dtype=dt, keepdims=keep)


def _cast(node, ctx):
    dt = node.attr["DstT"].np
    src = node.attr["SrcT"]

    if src.is_complex and not node.attr["DstT"].is_complex:
        def cast(x):
            return np.real(x).astype(dt)
        return cast
    if dt == object:
        return lambda x: np.vectorize(lambda v: str(v).encode(), otypes=[object])(x)

    def cast(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(x).astype(dt)
    return cast


KERNELS = {
    "Add": fixed(np.add),
    "Sub": fixed(np.subtract),
    "Mul": fixed(np.multiply),
    "RealDiv": fixed(np.true_divide),
    "Neg": fixed(np.negative),
    "Square": fixed(np.square),
    "MatMul": _matmul,
    "AddN": _add_n,
    "Sum": _reduction(_sum),
    "Mean": _reduction(_mean),
    "Cast": _cast,
}
