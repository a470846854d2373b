"""Gradients of math ops (TF1's formulas; each builds graph with tw ops, never computes values).

Conventions: broadcasting binary ops sum their gradients back to each input's shape
(`binary_unbroadcast`); for complex inputs the gradient is `grad * conj(f'(x))`, as in TF;
Tanh, Sigmoid, Sqrt, Rsqrt and Reciprocal use the fused y-based gradient ops (`TanhGrad`, ...),
whose kernels apply the conjugate themselves.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes
from ..framework.convert import constant_value
from ..ops import array_ops, indexing_ops, linalg_ops, mask_ops, math_ops, segment_ops
from ..ops.constant_op import constant
from .grad_util import binary_unbroadcast, unbroadcast
from .registry import NoGradient, RegisterGradient

conj = math_ops.conj
mul = math_ops.multiply

for _t in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
           "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite", "ArgMax", "ArgMin", "Range",
           "LinSpace", "Any", "All", "Bincount"):
    NoGradient(_t)


def _c(value, like):
    """A scalar constant of `like`'s dtype."""
    return constant(value, dtype=like.dtype)


# ----------------------------------------------------------------------------------------------
# binary element-wise
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Add")
def _add_grad(op, grad):
    return binary_unbroadcast(op, grad, grad)


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    return binary_unbroadcast(op, grad, math_ops.negative(grad))


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs
    return binary_unbroadcast(op, mul(grad, conj(y)), mul(conj(x), grad))


@RegisterGradient("RealDiv")
def _realdiv_grad(op, grad):
    x, y = (conj(t) for t in op.inputs)
    gx = math_ops.realdiv(grad, y)
    gy = mul(grad, math_ops.realdiv(math_ops.realdiv(math_ops.negative(x), y), y))
    return binary_unbroadcast(op, gx, gy)


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    x, y = (conj(t) for t in op.inputs)
    dnn = math_ops.div_no_nan
    return binary_unbroadcast(op, dnn(grad, y), mul(grad, dnn(dnn(math_ops.negative(x), y), y)))


@RegisterGradient("FloorDiv")
def _floordiv_grad(op, grad):
    return None, None


@RegisterGradient("TruncateDiv")
def _truncatediv_grad(op, grad):
    return None, None


@RegisterGradient("FloorMod")
def _floormod_grad(op, grad):
    x, y = (conj(t) for t in op.inputs)
    return binary_unbroadcast(op, grad, mul(grad, math_ops.negative(math_ops.floor_div(x, y))))


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    x, y = op.inputs
    z = op.outputs[0]
    cx, cy, cz = conj(x), conj(y), conj(z)
    gx = mul(mul(grad, cy), math_ops.pow(cx, math_ops.subtract(cy, _c(1, y))))
    # log(x) is only taken where x > 0 (x != 0 for complex): no false singularity at x = 0
    zero = array_ops.zeros_like(x)
    mask = math_ops.not_equal(x, zero) if x.dtype.is_complex else math_ops.greater(x, zero)
    safe_x = array_ops.where(mask, cx, array_ops.ones_like(x))
    log_x = array_ops.where(mask, math_ops.log(safe_x), zero)
    return binary_unbroadcast(op, gx, mul(mul(grad, cz), log_x))


def _max_min_grad(op, grad, selector):
    x, y = op.inputs
    mask = selector(x, y)  # the broadcast shape, which is grad's
    zeros = array_ops.zeros_like(grad)
    return binary_unbroadcast(op, array_ops.where(mask, grad, zeros),
                              array_ops.where(mask, zeros, grad))


@RegisterGradient("Maximum")
def _maximum_grad(op, grad):
    return _max_min_grad(op, grad, math_ops.greater_equal)


@RegisterGradient("Minimum")
def _minimum_grad(op, grad):
    return _max_min_grad(op, grad, math_ops.less_equal)


@RegisterGradient("SquaredDifference")
def _squared_difference_grad(op, grad):
    x, y = op.inputs
    gx = mul(mul(_c(2, grad), grad), math_ops.subtract(x, y))
    return binary_unbroadcast(op, gx, math_ops.negative(gx))


@RegisterGradient("Atan2")
def _atan2_grad(op, grad):
    y, x = op.inputs
    grad_inv = math_ops.realdiv(grad, math_ops.add(math_ops.square(x), math_ops.square(y)))
    return binary_unbroadcast(op, mul(x, grad_inv), mul(math_ops.negative(y), grad_inv))


def _x_is_not_zero(x):
    return math_ops.cast(math_ops.not_equal(x, _c(0, x)), x.dtype)


@RegisterGradient("Xlogy")
def _xlogy_grad(op, grad):
    x, y = op.inputs
    return binary_unbroadcast(op, mul(math_ops.xlogy(_x_is_not_zero(x), y), grad),
                              mul(math_ops.xdivy(x, y), grad))


@RegisterGradient("Xdivy")
def _xdivy_grad(op, grad):
    x, y = op.inputs
    dy = math_ops.xdivy(math_ops.negative(x), math_ops.square(y))
    return binary_unbroadcast(op, mul(math_ops.xdivy(_x_is_not_zero(x), y), grad), mul(dy, grad))


@RegisterGradient("Polygamma")
def _polygamma_grad(op, grad):
    n, x = op.inputs
    return binary_unbroadcast(op, None, mul(grad, math_ops.polygamma(
        math_ops.add(n, _c(1, n)), x)))


@RegisterGradient("Zeta")
def _zeta_grad(op, grad):
    s, q = op.inputs
    dq = mul(math_ops.negative(s), math_ops.zeta(math_ops.add(s, _c(1, s)), q))
    return binary_unbroadcast(op, None, mul(grad, dq))


@RegisterGradient("Cross")
def _cross_grad(op, grad):
    u, v = op.inputs
    return linalg_ops.cross(v, grad), linalg_ops.cross(grad, u)


@RegisterGradient("AddN")
def _addn_grad(op, grad):
    return [grad] * len(op.inputs)


# ----------------------------------------------------------------------------------------------
# unary element-wise
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Neg")
def _neg_grad(op, grad):
    return math_ops.negative(grad)


@RegisterGradient("Abs")
def _abs_grad(op, grad):
    return mul(grad, math_ops.sign(op.inputs[0]))


@RegisterGradient("ComplexAbs")
def _complex_abs_grad(op, grad):
    x, y = op.inputs[0], op.outputs[0]
    as_complex = [math_ops.complex(t, array_ops.zeros_like(t)) for t in (grad, y)]
    return math_ops.div_no_nan(mul(as_complex[0], x), as_complex[1])


@RegisterGradient("Sign")
def _sign_grad(op, grad):
    return array_ops.zeros_like(op.inputs[0])


@RegisterGradient("Square")
def _square_grad(op, grad):
    x = conj(op.inputs[0])
    return mul(grad, mul(x, _c(2, x)))


def _chain(derivative):
    """A gradient `grad * derivative(conj(x), op)` for a unary op."""
    def grad_fn(op, grad):
        return mul(grad, derivative(conj(op.inputs[0]), op))
    return grad_fn


def _fused(grad_op_type):
    """A gradient `GradOp(y, grad)` for a unary op with output y."""
    def grad_fn(op, grad):
        return math_ops.unary_grad_op(grad_op_type, op.outputs[0], grad)
    return grad_fn


def _one_minus_square(x):
    return math_ops.subtract(_c(1, x), math_ops.square(x))


_TWO_OVER_ROOT_PI = 2.0 / np.sqrt(np.pi)
_UNARY_GRADS = {
    "Exp": lambda x, op: conj(op.outputs[0]),
    "Expm1": lambda x, op: math_ops.exp(x),
    "Log": lambda x, op: math_ops.reciprocal(x),
    "Log1p": lambda x, op: math_ops.reciprocal(math_ops.add(_c(1, x), x)),
    "Sin": lambda x, op: math_ops.cos(x),
    "Cos": lambda x, op: math_ops.negative(math_ops.sin(x)),
    "Tan": lambda x, op: math_ops.square(math_ops.reciprocal(math_ops.cos(x))),
    "Asin": lambda x, op: math_ops.reciprocal(math_ops.sqrt(_one_minus_square(x))),
    "Acos": lambda x, op: math_ops.negative(
        math_ops.reciprocal(math_ops.sqrt(_one_minus_square(x)))),
    "Atan": lambda x, op: math_ops.reciprocal(math_ops.add(_c(1, x), math_ops.square(x))),
    "Sinh": lambda x, op: math_ops.cosh(x),
    "Cosh": lambda x, op: math_ops.sinh(x),
    "Asinh": lambda x, op: math_ops.reciprocal(math_ops.cosh(conj(op.outputs[0]))),
    "Acosh": lambda x, op: math_ops.reciprocal(math_ops.sinh(conj(op.outputs[0]))),
    "Atanh": lambda x, op: math_ops.reciprocal(_one_minus_square(x)),
    "Erf": lambda x, op: mul(_c(_TWO_OVER_ROOT_PI, x),
                             math_ops.exp(math_ops.negative(math_ops.square(x)))),
    "Erfc": lambda x, op: mul(_c(-_TWO_OVER_ROOT_PI, x),
                              math_ops.exp(math_ops.negative(math_ops.square(x)))),
    "Lgamma": lambda x, op: math_ops.digamma(x),
    "Digamma": lambda x, op: math_ops.polygamma(_c(1, x), x),
}
for _t, _d in _UNARY_GRADS.items():
    RegisterGradient(_t)(_chain(_d))
for _t in ("Tanh", "Sigmoid", "Sqrt", "Rsqrt", "Reciprocal"):
    RegisterGradient(_t)(_fused(_t + "Grad"))
for _t in ("Floor", "Ceil", "Round", "Rint"):
    RegisterGradient(_t)(lambda op, grad: [None])


# second derivatives of the fused gradient ops: inputs (y, dy)
@RegisterGradient("TanhGrad")
def _tanh_grad_grad(op, grad):
    y, dy = (conj(t) for t in op.inputs)
    return (mul(mul(mul(grad, _c(-2, y)), dy), y),
            math_ops.unary_grad_op("TanhGrad", op.inputs[0], grad))


@RegisterGradient("SigmoidGrad")
def _sigmoid_grad_grad(op, grad):
    y, dy = (conj(t) for t in op.inputs)
    gb = mul(grad, dy)
    return (math_ops.subtract(gb, mul(mul(_c(2, y), gb), y)),
            math_ops.unary_grad_op("SigmoidGrad", op.inputs[0], grad))


@RegisterGradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    y, out = op.inputs[0], op.outputs[0]
    ga = math_ops.realdiv(grad, y)
    return mul(math_ops.negative(conj(ga)), out), mul(_c(0.5, y), ga)


@RegisterGradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    y, dy = op.inputs
    cy, cg = conj(y), conj(grad)
    return (mul(mul(mul(_c(-1.5, y), cg), dy), math_ops.square(cy)),
            math_ops.unary_grad_op("RsqrtGrad", y, grad))


@RegisterGradient("ReciprocalGrad")
def _reciprocal_grad_grad(op, grad):
    y, dy = op.inputs
    cy, cg = conj(y), conj(grad)
    return (mul(mul(mul(cg, _c(-2, y)), dy), cy),
            math_ops.unary_grad_op("ReciprocalGrad", y, grad))


# ----------------------------------------------------------------------------------------------
# complex numbers, casts
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Complex")
def _complex_grad(op, grad):
    return binary_unbroadcast(op, math_ops.real(grad), math_ops.imag(grad))


@RegisterGradient("Real")
def _real_grad(op, grad):
    return math_ops.complex(grad, _c(0, grad))


@RegisterGradient("Imag")
def _imag_grad(op, grad):
    return math_ops.complex(_c(0, grad), grad)


@RegisterGradient("Conj")
def _conj_grad(op, grad):
    return conj(grad)


@RegisterGradient("Angle")
def _angle_grad(op, grad):
    x = op.inputs[0]
    z = math_ops.reciprocal(math_ops.complex(math_ops.imag(x), math_ops.real(x)))
    return mul(math_ops.negative(math_ops.complex(grad, _c(0, grad))), z)


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src = op.get_attr("SrcT")
    dst = op.get_attr("DstT")
    ok = (src.is_floating or src.is_complex) and (dst.is_floating or dst.is_complex)
    return math_ops.cast(grad, src) if ok else None


# ----------------------------------------------------------------------------------------------
# matmul, einsum
# ----------------------------------------------------------------------------------------------
@RegisterGradient("MatMul")
def _matmul_grad(op, grad):
    a, b = (conj(t) for t in op.inputs)
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    mm = linalg_ops.matmul
    if not ta and not tb:
        return mm(grad, b, transpose_b=True), mm(a, grad, transpose_a=True)
    if not ta and tb:
        return mm(grad, b), mm(grad, a, transpose_a=True)
    if ta and not tb:
        return mm(b, grad, transpose_b=True), mm(a, grad)
    return (mm(b, grad, transpose_a=True, transpose_b=True),
            mm(grad, a, transpose_a=True, transpose_b=True))


@RegisterGradient("BatchMatMulV2")
def _batch_matmul_grad(op, grad):
    x, y = op.inputs
    adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
    mm = linalg_ops.matmul
    if not adj_x:
        if not adj_y:
            gx, gy = mm(grad, y, adjoint_b=True), mm(x, grad, adjoint_a=True)
        else:
            gx, gy = mm(grad, y), mm(grad, x, adjoint_a=True)
    elif not adj_y:
        gx, gy = mm(y, grad, adjoint_b=True), mm(x, grad)
    else:
        gx, gy = mm(y, grad, adjoint_a=True, adjoint_b=True), mm(grad, x, adjoint_a=True,
                                                               adjoint_b=True)
    return unbroadcast(gx, x), unbroadcast(gy, y)


def _explicit_subscripts(op):
    """The einsum equation of `op` with '...' replaced by letters (needs known ranks)."""
    subs, out = linalg_ops.parse_einsum(op.get_attr("equation"), len(op.inputs))
    used = set("".join(subs) + out)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    n_ell = 0
    for s, t in zip(subs, op.inputs):
        if "..." in s:
            if t.shape.ndims is None:
                raise NotImplementedError(f"The gradient of einsum {op.name!r} with '...' needs "
                                          f"inputs of known rank; {t.name} has unknown rank.")
            n_ell = max(n_ell, t.shape.ndims - len(s) + 3)
    ell = "".join(free[:n_ell])

    def expand(s, rank):
        if "..." not in s:
            return s
        k = rank - len(s) + 3
        return s.replace("...", ell[n_ell - k:] if k else "")
    subs = [expand(s, t.shape.ndims) for s, t in zip(subs, op.inputs)]
    return subs, out.replace("...", ell)


@RegisterGradient("Einsum")
def _einsum_grad(op, grad):
    subs, out = _explicit_subscripts(op)
    grads = []
    for i, x in enumerate(op.inputs):
        sub = subs[i]
        if len(set(sub)) != len(sub):
            raise NotImplementedError(f"The gradient of einsum {op.name!r} is not supported for "
                                      f"an operand with a repeated subscript ({sub!r}).")
        others = [(s, t) for j, (s, t) in enumerate(zip(subs, op.inputs)) if j != i]
        seen = set(out).union(*(set(s) for s, _ in others))
        operands = [grad] + [conj(t) for _, t in others]
        in_subs = [out] + [s for s, _ in others]
        if any(c not in seen for c in sub):  # summed over in x alone: broadcast back via ones
            operands.append(array_ops.ones_like(x))
            in_subs.append(sub)
        g = linalg_ops.einsum(",".join(in_subs) + "->" + sub, *operands)
        grads.append(unbroadcast(g, x))
    return grads


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
def _static_axes(op):
    """The reduced axes (sorted, non-negative) when the rank and the axes are known."""
    x, axes = op.inputs
    av = constant_value(axes)
    r = x.shape.ndims
    if av is None or r is None:
        return None
    return sorted({int(a) % r for a in np.reshape(av, -1)}) if r else []


def _keepdims_grad(op, grad):
    """`grad` (of a reduction's output) reshaped to the keep_dims shape of the output; the
    shape is built statically when at most one of its dimensions is unknown."""
    x, axes = op.inputs
    if op.get_attr("keep_dims"):
        return grad
    red = _static_axes(op)
    if red is not None:
        keep_shape = [1 if i in red else d for i, d in enumerate(x.shape.as_list())]
        if all(d == 1 for d in keep_shape) and grad.shape.ndims == 0:
            return grad  # a scalar broadcasts against the input as it is
        if keep_shape.count(None) <= 1:
            return array_ops.reshape(grad, [-1 if d is None else d for d in keep_shape])
    return array_ops.reshape(grad, array_ops.reduced_shape(array_ops.shape(x), axes))


def _input_shape(x):
    return x.shape.as_list() if x.shape.is_fully_defined() else array_ops.shape(x)


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    x = op.inputs[0]
    return array_ops.broadcast_to(_keepdims_grad(op, grad), _input_shape(x)), None


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    """The Sum gradient divided by the number of elements averaged (divided before it is
    broadcast, which gives the same numbers with fewer divisions)."""
    x, out = op.inputs[0], op.outputs[0]
    g = _keepdims_grad(op, grad)
    n_in, n_out = x.shape.num_elements(), out.shape.num_elements()
    if n_in is not None and n_out is not None:
        factor = _c(max(n_in // max(n_out, 1), 1), g)
    else:
        factor = math_ops.cast(array_ops.size(x), g.dtype)
        if n_out != 1:
            n = _c(n_out, g) if n_out is not None else math_ops.cast(
                math_ops.maximum(array_ops.size(out), 1), g.dtype)
            factor = math_ops.realdiv(factor, n)
    return array_ops.broadcast_to(math_ops.realdiv(g, factor), _input_shape(x)), None


def _min_or_max_grad(op, grad):
    """Split the gradient equally among the elements equal to the extreme value (TF1)."""
    x = op.inputs[0]
    y = _keepdims_grad(op, op.outputs[0])
    g = _keepdims_grad(op, grad)
    indicators = math_ops.cast(math_ops.equal(y, x), grad.dtype)
    num_selected = math_ops.reduce_sum(indicators, op.inputs[1], keepdims=True)
    return mul(math_ops.divide(indicators, num_selected), g), None


RegisterGradient("Max")(_min_or_max_grad)
RegisterGradient("Min")(_min_or_max_grad)


@RegisterGradient("Prod")
def _prod_grad(op, grad):
    """Product of all the other elements of each reduced group, from two exclusive cumprods
    (correct with zeros).  With static axes, a single reduced axis (or a run of adjacent ones)
    needs no transpose; otherwise the reduced axes are transposed to the front, as in TF1."""
    x = op.inputs[0]
    red = _static_axes(op)
    g = array_ops.broadcast_to(_keepdims_grad(op, grad), _input_shape(x))
    if red is None or (len(red) > 1 and not x.shape.is_fully_defined()):
        return mul(g, _prod_others_dynamic(x, op.inputs[1])), None
    if not red:
        return g, None
    dims = x.shape.as_list()
    if red != list(range(red[0], red[-1] + 1)):  # non-adjacent axes: move them together
        perm = red + [i for i in range(len(dims)) if i not in red]
        y = _prod_others_static(array_ops.transpose(x, perm), list(range(len(red))),
                                [dims[i] for i in perm])
        return mul(g, array_ops.transpose(y, [int(i) for i in np.argsort(perm)])), None
    return mul(g, _prod_others_static(x, red, dims)), None


def _prod_others_static(x, red, dims):
    """For adjacent reduced axes `red` of `x` (static shape `dims` when len(red) > 1): the
    product of the other elements of each element's group."""
    first, n = red[0], len(red)
    merged = x
    if n > 1:
        merged = array_ops.reshape(x, dims[:first] + [int(np.prod(dims[first:first + n]))]
                                   + dims[first + n:])
    left = math_ops.cumprod(merged, axis=first, exclusive=True)
    right = math_ops.cumprod(merged, axis=first, exclusive=True, reverse=True)
    y = mul(conj(left), conj(right))
    return array_ops.reshape(y, dims) if n > 1 else y


def _prod_others_dynamic(x, axes):
    """The same product when the axes or the rank are known only at run time (TF1's way)."""
    rank = array_ops.rank(x)
    red = math_ops.cast(array_ops.reshape(axes, [-1]), dtypes.int32)
    red = math_ops.floormod(math_ops.add(red, rank), rank)
    idx = math_ops.range(0, rank)
    is_other = math_ops.reduce_all(math_ops.not_equal(array_ops.expand_dims(idx, 1),
                                                      array_ops.expand_dims(red, 0)), axis=1)
    other = mask_ops.boolean_mask(idx, is_other)
    perm = array_ops.concat([red, other], 0)
    shape = array_ops.shape(x)
    n_red = math_ops.reduce_prod(indexing_ops.gather(shape, red))
    n_other = math_ops.reduce_prod(indexing_ops.gather(shape, other))
    permuted = array_ops.transpose(x, perm)
    flat = array_ops.reshape(permuted, array_ops.stack([n_red, n_other]))
    left = math_ops.cumprod(flat, axis=0, exclusive=True)
    right = math_ops.cumprod(flat, axis=0, exclusive=True, reverse=True)
    y = array_ops.reshape(mul(conj(left), conj(right)), array_ops.shape(permuted))
    return array_ops.transpose(y, array_ops.invert_permutation(perm))


# ----------------------------------------------------------------------------------------------
# scans, segments
# ----------------------------------------------------------------------------------------------
@RegisterGradient("Cumsum")
def _cumsum_grad(op, grad):
    axis = op.inputs[1]
    return (math_ops.cumsum(grad, axis, exclusive=op.get_attr("exclusive"),
                            reverse=not op.get_attr("reverse")), None)


@RegisterGradient("Cumprod")
def _cumprod_grad(op, grad):
    x, axis = op.inputs
    exclusive, reverse = op.get_attr("exclusive"), op.get_attr("reverse")
    prod = math_ops.cumprod(x, axis, exclusive=exclusive, reverse=reverse)
    out = math_ops.cumsum(mul(prod, grad), axis, exclusive=exclusive, reverse=not reverse)
    return math_ops.realdiv(out, x), None


def _gather_drop_negatives(params, ids):
    """(params gathered at max(ids, 0) with zero rows where ids < 0, the keep mask shaped to
    broadcast against the result) -- TF1's _GatherDropNegatives."""
    zero = array_ops.zeros_like(ids)
    gathered = indexing_ops.gather(params, math_ops.maximum(ids, zero))
    keep = math_ops.greater_equal(ids, zero)
    r_ids, r_g = ids.shape.ndims, gathered.shape.ndims
    if r_ids is None or r_g is None:
        raise NotImplementedError(f"The gradient of an unsorted segment op over {ids.name} "
                                  "needs inputs of known rank.")
    if r_g > r_ids:
        ones = [1] * (r_g - r_ids)
        keep = array_ops.reshape(keep, ids.shape.as_list() + ones if ids.shape.is_fully_defined()
                                 else array_ops.concat([array_ops.shape(ids), ones], 0))
    return array_ops.where_v2(keep, gathered, array_ops.zeros_like(gathered)), keep


def _rows_like(counts, data):
    """A per-segment vector reshaped to broadcast against segment rows of `data`."""
    if data.shape.ndims is None:
        raise NotImplementedError(f"segment gradients need {data.name} of known rank")
    return array_ops.reshape(counts, [-1] + [1] * (data.shape.ndims - 1))


@RegisterGradient("SegmentSum")
def _segment_sum_grad(op, grad):
    return indexing_ops.gather(grad, op.inputs[1]), None


@RegisterGradient("SegmentMean")
def _segment_mean_grad(op, grad):
    data, ids = op.inputs
    counts = segment_ops.segment_sum(array_ops.ones_like(ids, dtype=grad.dtype), ids)
    return indexing_ops.gather(math_ops.realdiv(grad, _rows_like(counts, data)), ids), None


def _segment_min_or_max_grad(op, grad):
    """The gradient goes to the elements equal to their segment's extreme, split among ties."""
    data, ids = op.inputs
    is_selected = math_ops.equal(data, indexing_ops.gather(op.outputs[0], ids))
    num_selected = segment_ops.segment_sum(math_ops.cast(is_selected, grad.dtype), ids)
    gathered = indexing_ops.gather(math_ops.divide(grad, num_selected), ids)
    return array_ops.where(is_selected, gathered, array_ops.zeros_like(data)), None


RegisterGradient("SegmentMax")(_segment_min_or_max_grad)
RegisterGradient("SegmentMin")(_segment_min_or_max_grad)


@RegisterGradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    """grad gathered at each segment id; rows with a negative id (dropped) get zero."""
    return _gather_drop_negatives(grad, op.inputs[1])[0], None, None


def _unsorted_segment_min_or_max_grad(op, grad):
    data, ids, num = op.inputs
    gathered_out, keep = _gather_drop_negatives(op.outputs[0], ids)
    is_selected = math_ops.logical_and(math_ops.equal(data, gathered_out), keep)
    num_selected = segment_ops.unsorted_segment_sum(math_ops.cast(is_selected, grad.dtype), ids,
                                                    num)
    gathered = _gather_drop_negatives(math_ops.divide(grad, num_selected), ids)[0]
    return array_ops.where(is_selected, gathered, array_ops.zeros_like(gathered)), None, None


RegisterGradient("UnsortedSegmentMax")(_unsorted_segment_min_or_max_grad)
RegisterGradient("UnsortedSegmentMin")(_unsorted_segment_min_or_max_grad)


@RegisterGradient("UnsortedSegmentProd")
def _unsorted_segment_prod_grad(op, grad):
    """The product of the other elements of the segment: out / x, or the product of the
    non-zero elements at the single zero of a segment (0 where a segment has several)."""
    data, ids, num = op.inputs
    is_zero = math_ops.equal(data, array_ops.zeros_like(data))
    num_zeros = segment_ops.unsorted_segment_sum(math_ops.cast(is_zero, dtypes.int32), ids, num)
    grad = array_ops.where(math_ops.greater(num_zeros, 1), array_ops.zeros_like(grad), grad)
    non_zero_data = array_ops.where(is_zero, array_ops.ones_like(data), data)
    non_zero_prod = segment_ops.unsorted_segment_prod(non_zero_data, ids, num)
    clipped = math_ops.maximum(ids, array_ops.zeros_like(ids))
    gathered_prod = indexing_ops.gather(op.outputs[0], clipped)
    gathered_non_zero_prod = indexing_ops.gather(non_zero_prod, clipped)
    prod_divided_by_el = math_ops.realdiv(gathered_prod, data)  # may be inf/nan: not selected
    partial = array_ops.where(is_zero, gathered_non_zero_prod, prod_divided_by_el)
    return mul(_gather_drop_negatives(grad, ids)[0], partial), None, None
