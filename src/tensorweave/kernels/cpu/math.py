"""CPU kernels for math ops (numpy).

Most element-wise ops are one numpy ufunc, bound directly as the kernel (`fixed`), so running
them costs one call.  Ops whose semantics depend on the dtype (integer division, the fused
gradient ops on complex numbers, reductions that must not promote) are specialised once in
their factory.  Special functions numpy lacks (erf, lgamma, digamma, polygamma, zeta) are
computed here in float64 and rounded to the output dtype.
"""
from __future__ import annotations

import math

import numpy as np

from ...framework.slicing import range_size

__all__ = ["KERNELS", "digamma", "hurwitz_zeta"]


def fixed(fn):
    """A factory for a kernel that needs nothing from the node."""
    return lambda node, ctx: fn


def donating(ufunc):
    """Factory for a one-ufunc kernel that writes into a donated input when it can.

    When the executor marks an input donatable (a fresh buffer at its last use) and the output has
    that input's dtype, the kernel computes `ufunc(..., out=that_input)`: no allocation.  It falls
    back to a fresh output for numpy scalars, other dtypes, or when broadcasting makes the output
    larger than the donated buffer (numpy refuses before writing anything).
    """
    def factory(node, ctx):
        don = node.donatable
        dt = node.out_dtypes[0].np if node.out_dtypes else None
        if not don or ufunc.nout != 1 or ufunc.nin not in (1, 2):
            return ufunc
        if node.out_shapes and node.out_shapes[0].ndims == 0:
            return ufunc  # scalars come back as numpy scalars: nothing to write into
        if ufunc.nin == 1:
            def inplace1(x):
                if type(x) is np.ndarray and x.dtype == dt and x.flags.writeable:
                    return ufunc(x, out=x)
                return ufunc(x)
            return inplace1
        if 0 in don:
            def inplace_a(a, b):
                if type(a) is np.ndarray and a.dtype == dt and a.flags.writeable:
                    try:
                        return ufunc(a, b, out=a)
                    except ValueError:  # b broadcasts a to a larger shape
                        pass
                return ufunc(a, b)
            return inplace_a

        def inplace_b(a, b):
            if type(b) is np.ndarray and b.dtype == dt and b.flags.writeable:
                try:
                    return ufunc(a, b, out=b)
                except ValueError:
                    pass
            return ufunc(a, b)
        return inplace_b
    return factory


def _in_dtype(node, i=0):
    return node.attr.get("T") or node.out_dtypes[0]


# ----------------------------------------------------------------------------------------------
# element-wise ops that are one numpy call
# ----------------------------------------------------------------------------------------------
_UFUNCS = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Maximum": np.maximum,
    "Minimum": np.minimum, "Pow": np.power, "Atan2": np.arctan2,
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or, "LogicalNot": np.logical_not,
    "Neg": np.negative, "Square": np.square, "Abs": np.abs, "ComplexAbs": np.abs,
    "Sign": np.sign, "Exp": np.exp, "Expm1": np.expm1, "Log": np.log, "Log1p": np.log1p,
    "Sqrt": np.sqrt, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin,
    "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh,
    "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh, "Tanh": np.tanh,
    "Floor": np.floor, "Ceil": np.ceil, "Rint": np.rint, "Round": np.round,
    "IsNan": np.isnan, "IsInf": np.isinf, "IsFinite": np.isfinite, "Conj": np.conjugate,
}


def _sigmoid(x):
    t = np.negative(x)
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives the right 0
        if type(t) is np.ndarray:
            np.exp(t, out=t)
            t += 1
            return np.reciprocal(t, out=t)
        return np.reciprocal(np.exp(t) + 1)


def _rsqrt(x):
    t = np.sqrt(x)
    if type(t) is np.ndarray:
        return np.reciprocal(t, out=t)
    return np.reciprocal(t)


def _reciprocal(node, ctx):
    dt = node.out_dtypes[0]
    if dt.is_integer:
        return lambda x: _int_div(np.ones_like(x), x, _trunc_divide)
    return np.reciprocal


def _real_part(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda x: np.real(x).astype(dt)


def _imag_part(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda x: np.imag(x).astype(dt)


def _angle(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda x: np.angle(x).astype(dt, copy=False)


def _complex(node, ctx):
    dt = node.out_dtypes[0].np

    def complex_(re, im):
        out = np.empty(np.broadcast_shapes(np.shape(re), np.shape(im)), dtype=dt)
        out.real = re
        out.imag = im
        return out
    return complex_


def _squared_difference(node, ctx):
    if _in_dtype(node).is_complex:
        def sqd_complex(x, y):
            d = np.subtract(x, y)
            return d * np.conj(d)
        return sqd_complex

    def sqd(x, y):
        d = np.subtract(x, y)
        if type(d) is np.ndarray:
            return np.multiply(d, d, out=d)
        return d * d
    return sqd


# ----------------------------------------------------------------------------------------------
# division: integer ops fail on a zero divisor as TF's do; float ops follow IEEE
# ----------------------------------------------------------------------------------------------
def _int_div(x, y, fn):
    if not np.all(y):
        raise ZeroDivisionError("Integer division by zero")
    return fn(x, y)


def _trunc_divide(x, y):
    q = np.floor_divide(x, y)
    # floor and truncation differ where the division is inexact and the signs differ
    fix = (np.remainder(x, y) != 0) & ((np.asarray(x) < 0) != (np.asarray(y) < 0))
    return q + fix.astype(q.dtype) if np.any(fix) else q


def _float_divide_then(round_fn):
    """x / y rounded by `round_fn` (np.floor, np.trunc), in place on the quotient."""
    def divide(x, y):
        q = np.true_divide(x, y)
        if type(q) is np.ndarray:
            return round_fn(q, out=q)
        return round_fn(q)
    return divide


def _division(int_fn, float_fn):
    def factory(node, ctx):
        if _in_dtype(node).is_integer:
            return lambda x, y: _int_div(x, y, int_fn)
        return float_fn
    return factory


def _div_no_nan(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.true_divide(x, y)
    return np.where(np.equal(y, 0), 0, q).astype(q.dtype, copy=False)


def _xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.multiply(x, np.log(y))
    return np.where(np.equal(x, 0), 0, r).astype(r.dtype, copy=False)


def _xdivy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.true_divide(x, y)
    return np.where(np.equal(x, 0), 0, r).astype(r.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# fused gradient ops: f(y, dy) with y the forward output (conjugated for complex, as in TF)
# ----------------------------------------------------------------------------------------------
def _tanh_grad(y, dy):                    # dy * (1 - y^2)
    t = np.multiply(y, y)
    if type(t) is np.ndarray:
        np.subtract(1, t, out=t)
        return np.multiply(dy, t, out=t)
    return dy * (1 - t)


def _sigmoid_grad(y, dy):                 # dy * y * (1 - y)
    t = np.subtract(1, y)
    if type(t) is np.ndarray:
        np.multiply(t, y, out=t)
        return np.multiply(t, dy, out=t)
    return dy * y * t


def _sqrt_grad(y, dy):                    # dy * 0.5 / y
    t = np.true_divide(dy, y)
    if type(t) is np.ndarray:
        return np.multiply(t, 0.5, out=t)
    return t * 0.5


def _rsqrt_grad(y, dy):                   # dy * -0.5 * y^3
    t = np.multiply(y, y)
    if type(t) is np.ndarray:
        np.multiply(t, y, out=t)
        np.multiply(t, dy, out=t)
        return np.multiply(t, -0.5, out=t)
    return t * y * dy * -0.5


def _reciprocal_grad(y, dy):              # -dy * y^2
    t = np.multiply(y, y)
    if type(t) is np.ndarray:
        np.multiply(t, dy, out=t)
        return np.negative(t, out=t)
    return -(t * dy)


def _grad_kernel(fn):
    def factory(node, ctx):
        if _in_dtype(node).is_complex:
            return lambda y, dy: fn(np.conj(y), dy)
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
    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        return lambda *xs: np.asarray(fn(*(np.asarray(x, np.float64) for x in xs)),
                                      dtype=np.float64).astype(dt)
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
    mm = np.matmul
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

    def adj(m):
        m = np.swapaxes(m, -1, -2)
        return np.conj(m) if cplx else m
    if ax and ay:
        return lambda a, b: np.matmul(adj(a), adj(b))
    if ax:
        return lambda a, b: np.matmul(adj(a), b)
    if ay:
        return lambda a, b: np.matmul(a, adj(b))
    return np.matmul


def _einsum(node, ctx):
    eq = node.attr["equation"].replace(" ", "")
    dt = node.out_dtypes[0].np
    opt = node.attr.get("N", 2) > 1

    def einsum(*xs):
        out = np.asarray(np.einsum(eq, *xs, optimize=opt), dtype=dt)
        if any(np.may_share_memory(out, x) for x in xs):  # 'ij->ji', 'ii->i' give views
            out = out.copy()
        return out
    return einsum


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


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
def _axes(value):
    return tuple(int(a) for a in np.reshape(value, -1))


def _reduction(make):
    """Factory for Sum-like reductions: `make(dtype, keepdims)` returns `fn(x, axes)`."""
    def factory(node, ctx):
        fn = make(node.out_dtypes[0].np, bool(node.attr.get("keep_dims", False)))
        c = node.const_inputs.get(1)
        if c is not None:
            axes = _axes(c)
            return lambda x, _a: fn(x, axes)
        return lambda x, a: fn(x, _axes(a))
    return factory


def _ufunc_reduce(ufunc):
    def make(dt, keep):
        if dt == np.float16:  # accumulate half precision in float32
            return lambda x, axes: ufunc.reduce(x, axes, np.float32, None, keep).astype(dt)
        return lambda x, axes: ufunc.reduce(x, axes, dt, None, keep)
    return make


def _checked_axes(x, axes):
    nd = np.ndim(x)
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"Invalid reduction dimension {a} for input with {nd} "
                             "dimension(s)")
    return tuple(a % nd for a in axes)


def _mean(dt, keep):
    if dt.kind in "iu":  # integer means truncate toward zero, as TF's do
        acc = np.int64 if dt.kind == "i" else np.uint64

        def int_mean(x, axes):
            axes = _checked_axes(x, axes)
            n = max(int(np.prod([np.shape(x)[a] for a in axes], dtype=np.int64)), 1)
            s = np.add.reduce(x, axes, acc, None, keep)
            q = s // n if dt.kind == "u" else np.sign(s) * (np.abs(s) // n)
            return np.asarray(q).astype(dt)
        return int_mean
    acc = np.float32 if dt == np.float16 else dt
    return lambda x, axes: np.mean(x, axis=axes, dtype=acc, keepdims=keep).astype(dt, copy=False)


def _extreme(ufunc, bound):
    def make(dt, keep):
        init = bound(dt)  # the result of an empty reduction, as in TF
        return lambda x, axes: ufunc.reduce(x, axis=axes, keepdims=keep, initial=init)
    return make


def _lowest(dt):
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _highest(dt):
    return np.inf if dt.kind == "f" else np.iinfo(dt).max


def _logical_reduce(ufunc):
    return lambda dt, keep: (lambda x, axes: ufunc.reduce(x, axes, dt, None, keep))


# ----------------------------------------------------------------------------------------------
# argmax/argmin, cumulative sums and products
# ----------------------------------------------------------------------------------------------
def _arg(np_fn):
    def factory(node, ctx):
        dt = node.out_dtypes[0].np

        def arg(x, axis):
            x = np.asarray(x)
            a = int(axis)
            if x.shape[a] == 0:
                raise ValueError(f"Reduction axis {a} is empty in shape {list(x.shape)}")
            return np_fn(x, axis=a).astype(dt, copy=False)
        return arg
    return factory


def _scan(np_fn, identity):
    def factory(node, ctx):
        exclusive, reverse = node.attr.get("exclusive"), node.attr.get("reverse")
        dt = node.out_dtypes[0].np

        def scan(x, axis):
            x = np.asarray(x)
            a = int(axis) % max(x.ndim, 1)
            if reverse:
                x = np.flip(x, a)
            if exclusive:
                out = np.full(x.shape, identity, dtype=dt)
                src = [slice(None)] * x.ndim
                dst = [slice(None)] * x.ndim
                src[a], dst[a] = slice(0, -1), slice(1, None)
                np_fn(x[tuple(src)], axis=a, dtype=dt, out=out[tuple(dst)])
            else:
                out = np_fn(x, axis=a, dtype=dt)
            return np.flip(out, a) if reverse else out
        return scan
    return factory


# ----------------------------------------------------------------------------------------------
# cast, range, linspace
# ----------------------------------------------------------------------------------------------
def _cast(node, ctx):
    dt = node.attr["DstT"].np
    src = node.attr["SrcT"]

    if src.is_complex and not node.attr["DstT"].is_complex:
        return lambda x: np.real(x).astype(dt)
    if dt.kind == "O":
        return lambda x: np.vectorize(lambda v: str(v).encode(), otypes=[object])(x)

    def cast(x):
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(x).astype(dt)
    return cast


def _range(node, ctx):
    dt = node.out_dtypes[0].np

    def range_(start, limit, delta):
        n = range_size(start, limit, delta, dt)
        return np.arange(n, dtype=dt) * dt.type(delta) + dt.type(start)
    return range_


def _linspace(node, ctx):
    dt = node.out_dtypes[0].np

    def linspace(start, stop, num):
        if int(num) <= 0:
            raise ValueError(f"Requires num > 0: {int(num)}")
        return np.linspace(start, stop, int(num), dtype=dt)
    return linspace


# ----------------------------------------------------------------------------------------------
# segment sums
# ----------------------------------------------------------------------------------------------
def _segment_reduce_into(out, data, ids, ufunc):
    """`ufunc.at` of the rows of `data` into `out` at `ids` (negative ids are dropped)."""
    ids = np.asarray(ids).reshape(-1)
    rows = np.asarray(data).reshape((ids.size,) + out.shape[1:])
    keep = ids >= 0
    if not keep.all():
        ids, rows = ids[keep], rows[keep]
    if ids.size and ids.max() >= out.shape[0]:
        bad = int(ids[ids >= out.shape[0]][0])
        raise ValueError(f"segment_ids value {bad} is out of range [0, {out.shape[0]})")
    ufunc.at(out, ids, rows)
    return out, ids


# segment reduction: (ufunc, initial value of an empty unsorted segment as fn(dtype))
_SEGMENT_REDUCE = {
    "Sum": (np.add, lambda dt: 0), "Prod": (np.multiply, lambda dt: 1),
    "Max": (np.maximum, _lowest), "Min": (np.minimum, _highest), "Mean": (np.add, lambda dt: 0),
}


def _segment_mean(out, ids, n):
    counts = np.bincount(ids, minlength=n).reshape((n,) + (1,) * (out.ndim - 1))
    if out.dtype.kind in "iu":
        return _trunc_divide(out, np.maximum(counts, 1).astype(out.dtype))
    return np.true_divide(out, np.maximum(counts, 1), out=out)


def _unsorted_segment(kind):
    ufunc, initial = _SEGMENT_REDUCE[kind]

    def factory(node, ctx):
        dt = node.out_dtypes[0].np

        def unsorted_segment(data, ids, num):
            data = np.asarray(data)
            out = np.full((int(num),) + data.shape[np.ndim(ids):], initial(dt), dtype=dt)
            return _segment_reduce_into(out, data, ids, ufunc)[0]
        return unsorted_segment
    return factory


def _sorted_segment(kind):
    """Segment{Sum,Prod,Max,Min,Mean}: ids sorted, empty segments hold 0 (TF)."""
    ufunc, initial = _SEGMENT_REDUCE[kind]

    def factory(node, ctx):
        dt = node.out_dtypes[0].np

        def segment(data, ids):
            data, ids = np.asarray(data), np.asarray(ids)
            if ids.size and (np.any(np.diff(ids) < 0) or ids[0] < 0):
                raise ValueError("segment ids are not increasing or are negative")
            n = int(ids[-1]) + 1 if ids.size else 0
            out = np.full((n,) + data.shape[1:], initial(dt), dtype=dt)
            out, ids = _segment_reduce_into(out, data, ids, ufunc)
            if kind == "Mean":
                return _segment_mean(out, ids, n)
            if kind in ("Max", "Min", "Prod"):
                empty = np.bincount(ids, minlength=n) == 0
                out[empty] = 0
            return out
        return segment
    return factory


def _bincount(node, ctx):
    dt = node.out_dtypes[0].np

    def bincount(arr, size, weights):
        arr, n = np.asarray(arr).reshape(-1), int(size)
        if arr.size and arr.min() < 0:
            raise ValueError(f"Input arr must be non-negative, got {int(arr.min())}")
        keep = arr < n
        w = np.asarray(weights).reshape(-1)
        if w.size:
            return np.bincount(arr[keep], w[keep], minlength=n).astype(dt)[:n]
        return np.bincount(arr[keep], minlength=n).astype(dt)[:n]
    return bincount


KERNELS = {
    **{op: donating(fn) for op, fn in _UFUNCS.items()},
    "RealDiv": _division(_trunc_divide, np.true_divide),
    "FloorDiv": _division(np.floor_divide, _float_divide_then(np.floor)),
    "TruncateDiv": _division(_trunc_divide, _float_divide_then(np.trunc)),
    "FloorMod": _division(np.remainder, np.remainder),
    "TruncateMod": _division(np.fmod, np.fmod),
    "DivNoNan": fixed(_div_no_nan),
    "Xlogy": fixed(_xlogy),
    "Xdivy": fixed(_xdivy),
    "SquaredDifference": _squared_difference,
    "Sigmoid": fixed(_sigmoid),
    "Rsqrt": fixed(_rsqrt),
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
    "Sum": _reduction(_ufunc_reduce(np.add)),
    "Mean": _reduction(_mean),
    "Prod": _reduction(_ufunc_reduce(np.multiply)),
    "Max": _reduction(_extreme(np.maximum, _lowest)),
    "Min": _reduction(_extreme(np.minimum, _highest)),
    "Any": _reduction(_logical_reduce(np.logical_or)),
    "All": _reduction(_logical_reduce(np.logical_and)),
    "ArgMax": _arg(np.argmax),
    "ArgMin": _arg(np.argmin),
    "Cumsum": _scan(np.cumsum, 0),
    "Cumprod": _scan(np.cumprod, 1),
    "Cast": _cast,
    "Range": _range,
    "LinSpace": _linspace,
    **{f"UnsortedSegment{k}": _unsorted_segment(k) for k in ("Sum", "Prod", "Max", "Min")},
    **{f"Segment{k}": _sorted_segment(k) for k in ("Sum", "Prod", "Max", "Min", "Mean")},
    "Bincount": _bincount,
    "Cross": fixed(np.cross),
}
