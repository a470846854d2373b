"""Kernels for math ops, on the backend's array module (`ctx.xp`: numpy for the CPU).

Most element-wise ops are one ufunc of the array module, bound in the factory as the kernel, so
running them costs one call.  Ops whose semantics depend on the dtype (integer division, the
fused gradient ops on complex numbers, reductions that must not promote) are specialised once in
their factory.  Special functions numpy lacks (erf, lgamma, digamma, polygamma, zeta) are
computed on the host in float64 (the inputs read with `ctx.to_host`), rounded to the output
dtype and moved back with `ctx.to_device`.
"""
from __future__ import annotations

import math

import numpy as np

from ...framework.slicing import range_size

__all__ = ["KERNELS", "digamma", "hurwitz_zeta"]


def _writable_check(ctx):
    """(array type, whether it may be read-only): a donated input is written in place only when
    it is one of the device's arrays; host numpy arrays may be read-only views, device arrays
    never are (CuPy's have no `writeable` flag)."""
    alloc = ctx.backend.allocator
    return alloc.array_type, alloc.on_host


def donating(name):
    """Factory for a one-ufunc kernel (`xp.<name>`) that writes into a donated input when it can.

    When the executor marks an input donatable (a fresh buffer at its last use) and the output has
    that input's dtype, the kernel computes `ufunc(..., out=that_input)`: no allocation.  It falls
    back to a fresh output for numpy scalars, other dtypes, or when broadcasting makes the output
    larger than the donated buffer (the array module refuses before writing anything).  On string
    inputs (host values on every device) it is numpy's ufunc, its result moved to the device.
    """
    def factory(node, ctx):
        t = node.attr.get("T")
        if t is not None and t.name == "string":
            ufunc, to_device = getattr(np, name), ctx.to_device
            return lambda *xs: to_device(ufunc(*xs))
        ufunc = getattr(ctx.xp, name)
        don = node.donatable
        dt = node.out_dtypes[0].np if node.out_dtypes else None
        if not don or ufunc.nout != 1 or ufunc.nin not in (1, 2):
            return ufunc
        if node.out_shapes and node.out_shapes[0].ndims == 0:
            return ufunc  # scalars may come back as numpy scalars: nothing to write into
        arr, host = _writable_check(ctx)
        if ufunc.nin == 1:
            def inplace1(x):
                if type(x) is arr and x.dtype == dt and (not host or x.flags.writeable):
                    return ufunc(x, out=x)
                return ufunc(x)
            return inplace1
        if 0 in don:
            def inplace_a(a, b):
                if type(a) is arr and a.dtype == dt and (not host or a.flags.writeable):
                    try:
                        return ufunc(a, b, out=a)
                    except ValueError:  # b broadcasts a to a larger shape
                        pass
                return ufunc(a, b)
            return inplace_a

        def inplace_b(a, b):
            if type(b) is arr and b.dtype == dt and (not host or b.flags.writeable):
                try:
                    return ufunc(a, b, out=b)
                except ValueError:
                    pass
            return ufunc(a, b)
        return inplace_b
    return factory


def _in_dtype(node):
    return node.attr.get("T") or node.out_dtypes[0]


# ----------------------------------------------------------------------------------------------
# element-wise ops that are one ufunc
# ----------------------------------------------------------------------------------------------
_UFUNCS = {
    "Add": "add", "Sub": "subtract", "Mul": "multiply", "Maximum": "maximum",
    "Minimum": "minimum", "Pow": "power", "Atan2": "arctan2",
    "Equal": "equal", "NotEqual": "not_equal", "Less": "less", "LessEqual": "less_equal",
    "Greater": "greater", "GreaterEqual": "greater_equal", "LogicalAnd": "logical_and",
    "LogicalOr": "logical_or", "LogicalNot": "logical_not",
    "Neg": "negative", "Square": "square", "Abs": "absolute", "ComplexAbs": "absolute",
    "Sign": "sign", "Exp": "exp", "Expm1": "expm1", "Log": "log", "Log1p": "log1p",
    "Sqrt": "sqrt", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "arcsin",
    "Acos": "arccos", "Atan": "arctan", "Sinh": "sinh", "Cosh": "cosh",
    "Asinh": "arcsinh", "Acosh": "arccosh", "Atanh": "arctanh", "Tanh": "tanh",
    "Floor": "floor", "Ceil": "ceil", "Rint": "rint",
    "IsNan": "isnan", "IsInf": "isinf", "IsFinite": "isfinite", "Conj": "conjugate",
}


def _sigmoid(node, ctx):
    arr = ctx.backend.allocator.array_type
    negative, exp, reciprocal = ctx.xp.negative, ctx.xp.exp, ctx.xp.reciprocal

    def sigmoid(x):
        t = negative(x)
        with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives the right 0
            if type(t) is arr:
                exp(t, out=t)
                t += 1
                return reciprocal(t, out=t)
            return reciprocal(exp(t) + 1)
    return sigmoid


def _rsqrt(node, ctx):
    arr = ctx.backend.allocator.array_type
    sqrt, reciprocal = ctx.xp.sqrt, ctx.xp.reciprocal

    def rsqrt(x):
        t = sqrt(x)
        if type(t) is arr:
            return reciprocal(t, out=t)
        return reciprocal(t)
    return rsqrt


def _reciprocal(node, ctx):
    xp = ctx.xp
    if node.out_dtypes[0].is_integer:
        div, ones_like = _checked_int_division(xp, _trunc_divide(xp)), xp.ones_like
        return lambda x: div(ones_like(x), x)
    return xp.reciprocal


def _real_part(node, ctx):
    dt, real = node.out_dtypes[0].np, ctx.xp.real
    return lambda x: real(x).astype(dt)


def _imag_part(node, ctx):
    dt, imag = node.out_dtypes[0].np, ctx.xp.imag
    return lambda x: imag(x).astype(dt)


def _angle(node, ctx):
    dt, angle = node.out_dtypes[0].np, ctx.xp.angle
    return lambda x: angle(x).astype(dt, copy=False)


def _complex(node, ctx):
    dt, xp = node.out_dtypes[0].np, ctx.xp

    def complex_(re, im):
        out = xp.empty(np.broadcast_shapes(np.shape(re), np.shape(im)), dtype=dt)
        out.real = re
        out.imag = im
        return out
    return complex_


def _squared_difference(node, ctx):
    arr = ctx.backend.allocator.array_type
    subtract, multiply, conj = ctx.xp.subtract, ctx.xp.multiply, ctx.xp.conj
    if _in_dtype(node).is_complex:
        def sqd_complex(x, y):
            d = subtract(x, y)
            return d * conj(d)
        return sqd_complex

    def sqd(x, y):
        d = subtract(x, y)
        if type(d) is arr:
            return multiply(d, d, out=d)
        return d * d
    return sqd


# ----------------------------------------------------------------------------------------------
# division: integer ops fail on a zero divisor as TF's do; float ops follow IEEE
# ----------------------------------------------------------------------------------------------
def _checked_int_division(xp, fn):
    all_ = xp.all

    def int_div(x, y):
        if not all_(y):
            raise ZeroDivisionError("Integer division by zero")
        return fn(x, y)
    return int_div


def _trunc_divide(xp):
    floor_divide, remainder, any_ = xp.floor_divide, xp.remainder, xp.any

    def trunc_divide(x, y):
        q = floor_divide(x, y)
        # floor and truncation differ where the division is inexact and the signs differ
        fix = (remainder(x, y) != 0) & ((x < 0) != (y < 0))
        return q + fix.astype(q.dtype) if any_(fix) else q
    return trunc_divide


def _float_divide_then(round_name):
    """x / y rounded by `xp.<round_name>` (floor, trunc), in place on the quotient."""
    def make(xp, arr):
        true_divide, round_fn = xp.true_divide, getattr(xp, round_name)

        def divide(x, y):
            q = true_divide(x, y)
            if type(q) is arr:
                return round_fn(q, out=q)
            return round_fn(q)
        return divide
    return make


def _ufunc_maker(name):
    return lambda xp, arr: getattr(xp, name)


def _division(int_make, float_make):
    """Factory: `int_make(xp)` checked for zero divisors on integers, else `float_make(xp,
    array type)`."""
    def factory(node, ctx):
        xp = ctx.xp
        if _in_dtype(node).is_integer:
            return _checked_int_division(xp, int_make(xp))
        return float_make(xp, ctx.backend.allocator.array_type)
    return factory


def _masked_where_x_is_zero(fn_name):
    """Factory of `where(x == 0, 0, fn(x, y))` in the dtype of fn's result (Xlogy, Xdivy) or
    `where(y == 0, 0, x / y)` (DivNoNan, `fn_name=None`)."""
    def factory(node, ctx):
        xp = ctx.xp
        where, equal, multiply, log, true_divide = (xp.where, xp.equal, xp.multiply, xp.log,
                                                   xp.true_divide)

        def masked(x, y):
            with np.errstate(divide="ignore", invalid="ignore"):
                if fn_name == "xlogy":
                    r, zero = multiply(x, log(y)), x
                elif fn_name == "xdivy":
                    r, zero = true_divide(x, y), x
                else:
                    r, zero = true_divide(x, y), y
            return where(equal(zero, 0), 0, r).astype(r.dtype, copy=False)
        return masked
    return factory


# ----------------------------------------------------------------------------------------------
# fused gradient ops: f(y, dy) with y the forward output (conjugated for complex, as in TF);
# each `make(xp, array type)` returns the kernel
# ----------------------------------------------------------------------------------------------
def _tanh_grad(xp, arr):                      # dy * (1 - y^2)
    multiply, subtract = xp.multiply, xp.subtract

    def tanh_grad(y, dy):
        t = multiply(y, y)
        if type(t) is arr:
            subtract(1, t, out=t)
            return multiply(dy, t, out=t)
        return dy * (1 - t)
    return tanh_grad


def _sigmoid_grad(xp, arr):                   # dy * y * (1 - y)
    multiply, subtract = xp.multiply, xp.subtract

    def sigmoid_grad(y, dy):
        t = subtract(1, y)
        if type(t) is arr:
            multiply(t, y, out=t)
            return multiply(t, dy, out=t)
        return dy * y * t
    return sigmoid_grad


def _sqrt_grad(xp, arr):                      # dy * 0.5 / y
    true_divide, multiply = xp.true_divide, xp.multiply

    def sqrt_grad(y, dy):
        t = true_divide(dy, y)
        if type(t) is arr:
            return multiply(t, 0.5, out=t)
        return t * 0.5
    return sqrt_grad


def _rsqrt_grad(xp, arr):                     # dy * -0.5 * y^3
    multiply = xp.multiply

    def rsqrt_grad(y, dy):
        t = multiply(y, y)
        if type(t) is arr:
            multiply(t, y, out=t)
            multiply(t, dy, out=t)
            return multiply(t, -0.5, out=t)
        return t * y * dy * -0.5
    return rsqrt_grad


def _reciprocal_grad(xp, arr):                # -dy * y^2
    multiply, negative = xp.multiply, xp.negative

    def reciprocal_grad(y, dy):
        t = multiply(y, y)
        if type(t) is arr:
            multiply(t, dy, out=t)
            return negative(t, out=t)
        return -(t * dy)
    return reciprocal_grad


def _grad_kernel(make):
    def factory(node, ctx):
        fn = make(ctx.xp, ctx.backend.allocator.array_type)
        if _in_dtype(node).is_complex:
            conj = ctx.xp.conj
            return lambda y, dy: fn(conj(y), dy)
        return fn
    return factory


# ----------------------------------------------------------------------------------------------
# special functions (float64 inside, rounded to the output dtype)
# ----------------------------------------------------------------------------------------------
def _lgamma1(v):
    try:
        return math.lgamma(v)
    except ValueError:  # poles at the non-positive integers
        return math.inf


_ERF = np.frompyfunc(math.erf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)
_LGAMMA = np.frompyfunc(_lgamma1, 1, 1)


def _via_float64(fn):
    """Factory computing `fn` on the host in float64: inputs read with `to_host`, the result
    rounded to the output dtype and moved with `to_device`."""
    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        to_host, to_device = ctx.to_host, ctx.to_device

        def on_host(*xs):
            r = fn(*(np.asarray(to_host(x), np.float64) for x in xs))
            return to_device(np.asarray(r, dtype=np.float64).astype(dt))
        return on_host
    return factory


def digamma(x):
    """psi(x) = d/dx log Gamma(x), float64: reflection below 1/2, recurrence up to 6, then the
    asymptotic series."""
    x = np.asarray(x, np.float64)
    refl = x < 0.5
    y = np.where(refl, 1.0 - x, x)
    acc = np.zeros_like(y)
    while True:  # y >= 1/2 here (or NaN), so at most six steps
        small = y < 6.0
        if not small.any():
            break
        acc -= np.where(small, 1.0 / y, 0.0)
        y = np.where(small, y + 1.0, y)
    z = 1.0 / (y * y)
    series = z * (1 / 12 - z * (1 / 120 - z * (1 / 252 - z * (1 / 240 - z * (1 / 132)))))
    out = np.log(y) - 0.5 / y - series + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(refl, out - np.pi / np.tan(np.pi * x), out)
    pole = (x <= 0) & (x == np.floor(x))
    return np.where(pole, np.nan, out)


_BERNOULLI_2J = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510]


def hurwitz_zeta(s, q):
    """zeta(s, q) = sum_k (q + k)^-s for s > 1, float64 (Euler-Maclaurin after shifting q up)."""
    s, q = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(q, np.float64))
    pole = (s == 1) | ((q <= 0) & (q == np.floor(q)))
    bad = pole | (s < 1) | np.isnan(s) | np.isnan(q)
    s = np.where(bad, 2.0, s)
    q = np.where(bad, 1.0, q)
    acc = np.zeros_like(q)
    a = q.copy()
    while True:
        small = a < 10.0
        if not small.any():
            break
        acc += np.where(small, np.power(np.where(small, a, 1.0), -s), 0.0)
        a = np.where(small, a + 1.0, a)
    out = acc + np.power(a, 1.0 - s) / (s - 1.0) + 0.5 * np.power(a, -s)
    poch, fact, apow = s.copy(), 2.0, np.power(a, -s - 1.0)
    for j, b in enumerate(_BERNOULLI_2J, start=1):
        out += b / fact * poch * apow
        poch = poch * (s + 2 * j - 1) * (s + 2 * j)
        fact *= (2 * j + 1) * (2 * j + 2)
        apow = apow / (a * a)
    return np.where(bad, np.where(pole, np.inf, np.nan), out)


def _polygamma(n, x):
    n, x = np.broadcast_arrays(np.asarray(n, np.float64), np.asarray(x, np.float64))
    whole = (n == np.floor(n)) & (n >= 0)
    k = np.where(whole, n, 1.0)
    sign = np.where(np.mod(k, 2) == 0, -1.0, 1.0)
    fact = np.exp(np.vectorize(math.lgamma, otypes=[np.float64])(k + 1.0))
    out = np.where(k == 0, digamma(x), sign * fact * hurwitz_zeta(k + 1.0, x))
    return np.where(whole, out, np.nan)


# ----------------------------------------------------------------------------------------------
# matmul, einsum, add_n
# ----------------------------------------------------------------------------------------------
def _matmul(node, ctx):
    ta, tb = node.attr.get("transpose_a"), node.attr.get("transpose_b")
    mm = ctx.xp.matmul
    if ta and tb:
        return lambda a, b: mm(a.T, b.T)
    if ta:
        return lambda a, b: mm(a.T, b)
    if tb:
        return lambda a, b: mm(a, b.T)
    return mm


def _batch_matmul(node, ctx):
    ax, ay = node.attr.get("adj_x"), node.attr.get("adj_y")
    cplx = node.attr["T"].is_complex
    xp = ctx.xp
    matmul, swapaxes, conj = xp.matmul, xp.swapaxes, xp.conj

    def adj(m):
        m = swapaxes(m, -1, -2)
        return conj(m) if cplx else m
    if ax and ay:
        return lambda a, b: matmul(adj(a), adj(b))
    if ax:
        return lambda a, b: matmul(adj(a), b)
    if ay:
        return lambda a, b: matmul(a, adj(b))
    return matmul


def _einsum(node, ctx):
    eq = node.attr["equation"].replace(" ", "")
    dt = node.out_dtypes[0].np
    opt = node.attr.get("N", 2) > 1
    xp = ctx.xp
    asarray, einsum_, may_share_memory = xp.asarray, xp.einsum, xp.may_share_memory

    def einsum(*xs):
        out = asarray(einsum_(eq, *xs, optimize=opt), dtype=dt)
        if any(may_share_memory(out, x) for x in xs):  # 'ij->ji', 'ii->i' give views
            out = out.copy()
        return out
    return einsum


def _add_n(node, ctx):
    add, arr = ctx.xp.add, ctx.backend.allocator.array_type

    def add_n(*xs):
        out = add(xs[0], xs[1])
        if type(out) is not arr:
            for x in xs[2:]:
                out = out + x
            return out
        for x in xs[2:]:
            add(out, x, out=out)
        return out
    return add_n


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
def _axes(value):
    return tuple(int(a) for a in np.reshape(value, -1))


def _reduction(make):
    """Factory for Sum-like reductions: `make(xp, dtype, keepdims)` returns `fn(x, axes)`; the
    axes are read on the host (fixed once when they are a graph constant)."""
    def factory(node, ctx):
        fn = make(ctx.xp, node.out_dtypes[0].np, bool(node.attr.get("keep_dims", False)))
        c = node.const_inputs.get(1)
        if c is not None:
            axes = _axes(c)
            return lambda x, _a: fn(x, axes)
        to_host = ctx.to_host
        return lambda x, a: fn(x, _axes(to_host(a)))
    return factory


def _ufunc_reduce(name):
    def make(xp, dt, keep):
        reduce = getattr(xp, name).reduce
        if dt == np.float16:  # accumulate half precision in float32
            return lambda x, axes: reduce(x, axes, np.float32, None, keep).astype(dt)
        return lambda x, axes: reduce(x, axes, dt, None, keep)
    return make


def _checked_axes(x, axes):
    nd = np.ndim(x)
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"Invalid reduction dimension {a} for input with {nd} "
                             "dimension(s)")
    return tuple(a % nd for a in axes)


def _mean(xp, dt, keep):
    if dt.kind in "iu":  # integer means truncate toward zero, as TF's do
        acc = np.int64 if dt.kind == "i" else np.uint64
        add, sign, absolute, asarray = xp.add, xp.sign, xp.abs, xp.asarray

        def int_mean(x, axes):
            axes = _checked_axes(x, axes)
            n = max(math.prod(np.shape(x)[a] for a in axes), 1)
            s = add.reduce(x, axes, acc, None, keep)
            q = s // n if dt.kind == "u" else sign(s) * (absolute(s) // n)
            return asarray(q).astype(dt)
        return int_mean
    acc = np.float32 if dt == np.float16 else dt
    mean = xp.mean
    return lambda x, axes: mean(x, axis=axes, dtype=acc, keepdims=keep).astype(dt, copy=False)


def _extreme(name, bound):
    def make(xp, dt, keep):
        init = bound(dt)  # the result of an empty reduction, as in TF
        reduce = getattr(xp, name).reduce
        return lambda x, axes: reduce(x, axis=axes, keepdims=keep, initial=init)
    return make


def _lowest(dt):
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _highest(dt):
    return np.inf if dt.kind == "f" else np.iinfo(dt).max


def _logical_reduce(name):
    def make(xp, dt, keep):
        reduce = getattr(xp, name).reduce
        return lambda x, axes: reduce(x, axes, dt, None, keep)
    return make


# ----------------------------------------------------------------------------------------------
# argmax/argmin, cumulative sums and products
# ----------------------------------------------------------------------------------------------
def _arg(name):
    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        asarray, fn, to_host = ctx.xp.asarray, getattr(ctx.xp, name), ctx.to_host

        def arg(x, axis):
            x = asarray(x)
            a = int(to_host(axis))
            if x.shape[a] == 0:
                raise ValueError(f"Reduction axis {a} is empty in shape {list(x.shape)}")
            return fn(x, axis=a).astype(dt, copy=False)
        return arg
    return factory


def _scan(name, identity):
    def factory(node, ctx):
        exclusive, reverse = node.attr.get("exclusive"), node.attr.get("reverse")
        dt = node.out_dtypes[0].np
        xp, to_host = ctx.xp, ctx.to_host
        asarray, flip, full, fn = xp.asarray, xp.flip, xp.full, getattr(xp, name)

        def scan(x, axis):
            x = asarray(x)
            a = int(to_host(axis)) % max(x.ndim, 1)
            if reverse:
                x = flip(x, a)
            if exclusive:
                out = full(x.shape, identity, dtype=dt)
                src = [slice(None)] * x.ndim
                dst = [slice(None)] * x.ndim
                src[a], dst[a] = slice(0, -1), slice(1, None)
                fn(x[tuple(src)], axis=a, dtype=dt, out=out[tuple(dst)])
            else:
                out = fn(x, axis=a, dtype=dt)
            return flip(out, a) if reverse else out
        return scan
    return factory


# ----------------------------------------------------------------------------------------------
# cast, range, linspace
# ----------------------------------------------------------------------------------------------
def _cast(node, ctx):
    dt = node.attr["DstT"].np
    src = node.attr["SrcT"]
    xp = ctx.xp

    if src.is_complex and not node.attr["DstT"].is_complex:
        real = xp.real
        return lambda x: real(x).astype(dt)
    if dt.kind == "O":   # to strings: formatted on the host, where strings live
        to_host = ctx.to_host
        fmt = np.vectorize(lambda v: str(v).encode(), otypes=[object])
        return lambda x: fmt(to_host(x))
    asarray = xp.asarray

    def cast(x):
        with np.errstate(invalid="ignore", over="ignore"):
            return asarray(x).astype(dt)
    return cast


def _range(node, ctx):
    dt = node.out_dtypes[0].np
    arange, to_host = ctx.xp.arange, ctx.to_host

    def range_(start, limit, delta):
        start, limit, delta = to_host(start), to_host(limit), to_host(delta)
        n = range_size(start, limit, delta, dt)
        return arange(n, dtype=dt) * dt.type(delta) + dt.type(start)
    return range_


def _linspace(node, ctx):
    dt = node.out_dtypes[0].np
    linspace, to_host = ctx.xp.linspace, ctx.to_host

    def linspace_(start, stop, num):
        n = int(to_host(num))
        if n <= 0:
            raise ValueError(f"Requires num > 0: {n}")
        return linspace(to_host(start)[()], to_host(stop)[()], n, dtype=dt)
    return linspace_


# ----------------------------------------------------------------------------------------------
# segment sums
# ----------------------------------------------------------------------------------------------
def _segment_reduce_into(xp, out, data, ids, ufunc):
    """`ufunc.at` of the rows of `data` into `out` at `ids` (negative ids are dropped)."""
    ids = xp.asarray(ids).reshape(-1)
    rows = xp.asarray(data).reshape((ids.size,) + out.shape[1:])
    keep = ids >= 0
    if not keep.all():
        ids, rows = ids[keep], rows[keep]
    if ids.size and ids.max() >= out.shape[0]:
        bad = int(ids[ids >= out.shape[0]][0])
        raise ValueError(f"segment_ids value {bad} is out of range [0, {out.shape[0]})")
    ufunc.at(out, ids, rows)
    return out, ids


# segment reduction: (ufunc name, initial value of an empty unsorted segment as fn(dtype))
_SEGMENT_REDUCE = {
    "Sum": ("add", lambda dt: 0), "Prod": ("multiply", lambda dt: 1),
    "Max": ("maximum", _lowest), "Min": ("minimum", _highest), "Mean": ("add", lambda dt: 0),
}


def _segment_mean(xp, out, ids, n):
    counts = xp.bincount(ids, minlength=n).reshape((n,) + (1,) * (out.ndim - 1))
    if out.dtype.kind in "iu":
        return _trunc_divide(xp)(out, xp.maximum(counts, 1).astype(out.dtype))
    return xp.true_divide(out, xp.maximum(counts, 1), out=out)


def _unsorted_segment(kind):
    name, initial = _SEGMENT_REDUCE[kind]

    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        xp, to_host = ctx.xp, ctx.to_host
        ufunc = getattr(xp, name)

        def unsorted_segment(data, ids, num):
            data = xp.asarray(data)
            shape = (int(to_host(num)),) + data.shape[np.ndim(ids):]
            out = xp.full(shape, initial(dt), dtype=dt)
            return _segment_reduce_into(xp, out, data, ids, ufunc)[0]
        return unsorted_segment
    return factory


def _sorted_segment(kind):
    """Segment{Sum,Prod,Max,Min,Mean}: ids sorted, empty segments hold 0 (TF)."""
    name, initial = _SEGMENT_REDUCE[kind]

    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        xp = ctx.xp
        ufunc = getattr(xp, name)

        def segment(data, ids):
            data, ids = xp.asarray(data), xp.asarray(ids)
            if ids.size and (xp.any(xp.diff(ids) < 0) or ids[0] < 0):
                raise ValueError("segment ids are not increasing or are negative")
            n = int(ids[-1]) + 1 if ids.size else 0
            out = xp.full((n,) + data.shape[1:], initial(dt), dtype=dt)
            out, ids = _segment_reduce_into(xp, out, data, ids, ufunc)
            if kind == "Mean":
                return _segment_mean(xp, out, ids, n)
            if kind in ("Max", "Min", "Prod"):
                empty = xp.bincount(ids, minlength=n) == 0
                out[empty] = 0
            return out
        return segment
    return factory


def _bincount(node, ctx):
    dt = node.out_dtypes[0].np
    xp, to_host = ctx.xp, ctx.to_host

    def bincount(arr, size, weights):
        arr, n = xp.asarray(arr).reshape(-1), int(to_host(size))
        if arr.size and arr.min() < 0:
            raise ValueError(f"Input arr must be non-negative, got {int(arr.min())}")
        keep = arr < n
        w = xp.asarray(weights).reshape(-1)
        if w.size:
            return xp.bincount(arr[keep], w[keep], minlength=n).astype(dt)[:n]
        return xp.bincount(arr[keep], minlength=n).astype(dt)[:n]
    return bincount


KERNELS = {
    **{op: donating(name) for op, name in _UFUNCS.items()},
    "Round": lambda node, ctx: ctx.xp.round,
    "RealDiv": _division(_trunc_divide, _ufunc_maker("true_divide")),
    "FloorDiv": _division(lambda xp: xp.floor_divide, _float_divide_then("floor")),
    "TruncateDiv": _division(_trunc_divide, _float_divide_then("trunc")),
    "FloorMod": _division(lambda xp: xp.remainder, _ufunc_maker("remainder")),
    "TruncateMod": _division(lambda xp: xp.fmod, _ufunc_maker("fmod")),
    "DivNoNan": _masked_where_x_is_zero(None),
    "Xlogy": _masked_where_x_is_zero("xlogy"),
    "Xdivy": _masked_where_x_is_zero("xdivy"),
    "SquaredDifference": _squared_difference,
    "Sigmoid": _sigmoid,
    "Rsqrt": _rsqrt,
    "Reciprocal": _reciprocal,
    "Erf": _via_float64(_ERF),
    "Erfc": _via_float64(_ERFC),
    "Lgamma": _via_float64(_LGAMMA),
    "Digamma": _via_float64(digamma),
    "Polygamma": _via_float64(_polygamma),
    "Zeta": _via_float64(hurwitz_zeta),
    "Real": _real_part,
    "Imag": _imag_part,
    "Angle": _angle,
    "Complex": _complex,
    "TanhGrad": _grad_kernel(_tanh_grad),
    "SigmoidGrad": _grad_kernel(_sigmoid_grad),
    "SqrtGrad": _grad_kernel(_sqrt_grad),
    "RsqrtGrad": _grad_kernel(_rsqrt_grad),
    "ReciprocalGrad": _grad_kernel(_reciprocal_grad),
    "MatMul": _matmul,
    "BatchMatMulV2": _batch_matmul,
    "Einsum": _einsum,
    "AddN": _add_n,
    "Sum": _reduction(_ufunc_reduce("add")),
    "Mean": _reduction(_mean),
    "Prod": _reduction(_ufunc_reduce("multiply")),
    "Max": _reduction(_extreme("maximum", _lowest)),
    "Min": _reduction(_extreme("minimum", _highest)),
    "Any": _reduction(_logical_reduce("logical_or")),
    "All": _reduction(_logical_reduce("logical_and")),
    "ArgMax": _arg("argmax"),
    "ArgMin": _arg("argmin"),
    "Cumsum": _scan("cumsum", 0),
    "Cumprod": _scan("cumprod", 1),
    "Cast": _cast,
    "Range": _range,
    "LinSpace": _linspace,
    **{f"UnsortedSegment{k}": _unsorted_segment(k) for k in ("Sum", "Prod", "Max", "Min")},
    **{f"Segment{k}": _sorted_segment(k) for k in ("Sum", "Prod", "Max", "Min", "Mean")},
    "Bincount": _bincount,
    "Cross": lambda node, ctx: ctx.xp.cross,
}
