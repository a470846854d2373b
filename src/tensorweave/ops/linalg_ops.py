"""Linear algebra: `matmul` (MatMul, and BatchMatMulV2 with broadcast batch dimensions),
`tensordot`, `einsum`, `cross` and `norm` (vector p-norms, matrix Frobenius / 1 / inf norms), and
the `@` operator on tensors.

Definitions (shape/dtype functions) and the TF1 wrappers; `tensordot` and `norm` build the same
transpose/reshape/reduce graphs as TF1.  Kernels live in `tensorweave/kernels/cpu/math.py` and
gradients in `tensorweave/autodiff/math_grad.py`.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from . import array_ops, math_ops
from .indexing_ops import gather
from .op_util import binary_inputs, broadcast_static, check_dtype, fmt_shape, op1, same_dtype_inputs

__all__ = ["matmul", "tensordot", "einsum", "cross", "norm"]


# ----------------------------------------------------------------------------------------------
# matmul, batched matmul
# ----------------------------------------------------------------------------------------------
_MATMUL_TYPES = _dtypes.FLOATING + _dtypes.COMPLEX + (_dtypes.int32, _dtypes.int64)


def _matmul_inputs_check(op, a, b, a_arg, b_arg):
    if a.dtype is not b.dtype:
        raise TypeError(f"Input '{b_arg}' of '{op.type}' Op has type {b.dtype.name} that does not "
                        f"match type {a.dtype.name} of argument '{a_arg}'.")
    check_dtype(a, _MATMUL_TYPES, op.type, a_arg)


def _inner_mismatch(op, k1, k2):
    a, b = op.inputs
    raise ValueError(f"Dimensions must be equal, but are {k1} and {k2} for '{op.name}' "
                     f"(op: '{op.type}') with input shapes: {fmt_shape(a.shape)}, "
                     f"{fmt_shape(b.shape)}.")


@register_op("MatMul")
def _matmul_shape(op):
    a, b = op.inputs
    _matmul_inputs_check(op, a, b, "a", "b")
    for t in (a, b):
        if t.shape.ndims not in (None, 2):
            raise ValueError(f"Shape must be rank 2 but is rank {t.shape.ndims} for '{op.name}' "
                             f"(op: 'MatMul') with input shapes: {fmt_shape(a.shape)}, "
                             f"{fmt_shape(b.shape)}.")
    sa, sb = a.shape.with_rank(2), b.shape.with_rank(2)
    m, k1 = (sa[1], sa[0]) if op.get_attr("transpose_a") else (sa[0], sa[1])
    k2, n = (sb[1], sb[0]) if op.get_attr("transpose_b") else (sb[0], sb[1])
    if not k1.is_compatible_with(k2):
        _inner_mismatch(op, k1, k2)
    return [(a.dtype, TensorShape([m, n]))]


@register_op("BatchMatMulV2")
def _batch_matmul_shape(op):
    a, b = op.inputs
    _matmul_inputs_check(op, a, b, "x", "y")
    sa, sb = a.shape, b.shape
    if sa.ndims is None or sb.ndims is None:
        return [(a.dtype, TensorShape(None))]
    for t in (sa, sb):
        if t.ndims < 2:
            raise ValueError(f"Shape must be at least rank 2 but is rank {t.ndims} for "
                             f"'{op.name}' (op: 'BatchMatMulV2') with input shapes: "
                             f"{fmt_shape(sa)}, {fmt_shape(sb)}.")
    la, lb = sa.as_list(), sb.as_list()
    m, k1 = (la[-1], la[-2]) if op.get_attr("adj_x") else (la[-2], la[-1])
    k2, n = (lb[-1], lb[-2]) if op.get_attr("adj_y") else (lb[-2], lb[-1])
    if not Dimension(k1).is_compatible_with(Dimension(k2)):
        _inner_mismatch(op, k1, k2)
    batch = broadcast_static(TensorShape(la[:-2]), TensorShape(lb[:-2]), op)
    return [(a.dtype, batch.concatenate([m, n]))]


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """TF1 `tf.matmul`: `MatMul` for matrices, `BatchMatMulV2` (broadcast batch dims) when
    either operand has rank > 2 or unknown rank.  Adjoint = conjugate transpose."""
    with name_scope(name, "MatMul", [a, b]) as scope:
        if transpose_a and adjoint_a:
            raise ValueError("Only one of transpose_a and adjoint_a can be True.")
        if transpose_b and adjoint_b:
            raise ValueError("Only one of transpose_b and adjoint_b can be True.")
        a = convert_to_tensor(a, name="a")
        b = b if isinstance(b, Tensor) else convert_to_tensor(b, dtype_hint=a.dtype, name="b")
        if a.dtype is not b.dtype:
            raise TypeError(f"Input 'b' of 'MatMul' Op has type {b.dtype.name} that does not "
                            f"match type {a.dtype.name} of argument 'a'.")
        ra, rb = a.shape.ndims, b.shape.ndims
        if ra is None or rb is None or ra > 2 or rb > 2:
            if transpose_a:
                a, adjoint_a = math_ops.conj(a), True
            if transpose_b:
                b, adjoint_b = math_ops.conj(b), True
            return op1("BatchMatMulV2", [a, b], {"T": a.dtype, "adj_x": bool(adjoint_a),
                                                 "adj_y": bool(adjoint_b)}, scope)
        if adjoint_a:
            a, transpose_a = math_ops.conj(a), True
        if adjoint_b:
            b, transpose_b = math_ops.conj(b), True
        return op1("MatMul", [a, b], {"T": a.dtype, "transpose_a": bool(transpose_a),
                                      "transpose_b": bool(transpose_b)}, scope)


# ----------------------------------------------------------------------------------------------
# tensordot
# ----------------------------------------------------------------------------------------------
def _tensordot_axes(a, b, axes):
    ra, rb = a.shape.ndims, b.shape.ndims
    if ra is None or rb is None:
        raise ValueError("tensordot needs operands of known rank, got shapes "
                         f"{fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    if isinstance(axes, Tensor):
        axes = constant_value(axes)
        if axes is None:
            raise ValueError("tensordot axes must be known when the graph is built")
        axes = axes.tolist()
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0:
            raise ValueError(f"'axes' must be at least 0, got {n}.")
        if n > ra or n > rb:
            raise ValueError(f"'axes' must not be larger than the number of dimensions of "
                             f"tensor {a if n > ra else b}, got {n}.")
        return list(range(ra - n, ra)), list(range(n))
    axes = list(axes)
    if len(axes) != 2:
        raise ValueError(f"'axes' must be an integer or have length 2, got {axes}.")
    a_axes, b_axes = axes
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"Different number of contraction axes 'a' and 'b', {len(a_axes)} != "
                         f"{len(b_axes)}.")
    return [int(i) % ra for i in a_axes], [int(i) % rb for i in b_axes]


def _tensordot_reshape(x, axes, flipped=False):
    """`x` transposed (free dims, contracted dims) and reshaped to a matrix, as in TF1."""
    shape = x.shape.as_list()
    free = [i for i in range(len(shape)) if i not in axes]
    perm = list(axes) + free if flipped else free + list(axes)
    free_dims = [shape[i] for i in free]
    if x.shape.is_fully_defined():
        prod_free = int(np.prod(free_dims, dtype=np.int64))
        prod_axes = int(np.prod([shape[i] for i in axes], dtype=np.int64))
        new_shape = [prod_axes, prod_free] if flipped else [prod_free, prod_axes]
    else:
        new_shape = [-1, _dim_product(x, axes)] if not flipped else [_dim_product(x, axes), -1]
    xt = array_ops.transpose(x, perm) if perm != list(range(len(shape))) else x
    if xt.shape.as_list() != new_shape:
        xt = array_ops.reshape(xt, new_shape)
    return xt, free_dims


def _dim_product(x, axes):
    dims = [x.shape.as_list()[i] for i in axes]
    if any(d is None for d in dims):
        raise ValueError(f"tensordot needs the contracted dimensions of {x.name} to be known, "
                         f"got shape {fmt_shape(x.shape)}")
    return int(np.prod(dims, dtype=np.int64))


def tensordot(a, b, axes, name=None):
    """TF1 `tf.tensordot`: contract `axes` of `a` with `axes` of `b` (transpose, reshape,
    `MatMul`, reshape, as TF1 builds it)."""
    with name_scope(name, "Tensordot", [a, b, axes]) as scope:
        a = convert_to_tensor(a, name="a")
        b = convert_to_tensor(b, name="b")
        a_axes, b_axes = _tensordot_axes(a, b, axes)
        a_mat, a_free = _tensordot_reshape(a, a_axes)
        b_mat, b_free = _tensordot_reshape(b, b_axes, True)
        ab = matmul(a_mat, b_mat)
        out_dims = a_free + b_free
        if any(d is None for d in out_dims):
            sa, sb = array_ops.shape(a), array_ops.shape(b)
            parts = [gather(sa, [i for i in range(len(a.shape)) if i not in a_axes]),
                     gather(sb, [i for i in range(len(b.shape)) if i not in b_axes])]
            return array_ops.reshape(ab, array_ops.concat(parts, 0), name=scope)
        return array_ops.reshape(ab, out_dims, name=scope)


# ----------------------------------------------------------------------------------------------
# einsum
# ----------------------------------------------------------------------------------------------
def parse_einsum(equation: str, n_inputs: int):
    """([input subscripts], output subscripts) of an einsum equation (implicit output filled in:
    '...' first, then the letters used once, sorted), or ValueError."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != n_inputs:
        raise ValueError(f"einsum equation {equation!r} names {len(subs)} operands but "
                         f"{n_inputs} were given")
    for s in subs + ([out] if arrow else []):
        letters = s.replace("...", "", 1)
        if "." in letters or not all(c.isalpha() and c.isascii() for c in letters):
            raise ValueError(f"Invalid subscripts {s!r} in einsum equation {equation!r}: use "
                             "letters and at most one '...'")
    if not arrow:
        letters = "".join(s.replace("...", "") for s in subs)
        out = ("..." if any("..." in s for s in subs) else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    known = set("".join(subs))
    for c in out.replace("...", ""):
        if c not in known:
            raise ValueError(f"Output subscript {c!r} of einsum equation {equation!r} does not "
                             "appear in any input")
    if len(set(out.replace("...", ""))) != len(out.replace("...", "")):
        raise ValueError(f"Output subscripts of einsum equation {equation!r} repeat a letter")
    return subs, out


def _merge_einsum_dim(sizes, c, d, op):
    """Record size `d` of subscript `c` (a size 1 broadcasts, as in numpy)."""
    old = sizes.get(c, 1)
    if old == 1:
        sizes[c] = d
    elif old is None and d != 1:
        sizes[c] = d
    elif d not in (1, None, old):
        raise ValueError(f"Dimensions of subscript {c!r} must be equal, but are {old} and {d} "
                         f"for '{op.name}' (op: 'Einsum') with equation "
                         f"{op.get_attr('equation')!r}")


@register_op("Einsum")
def _einsum_shape(op):
    ins = op.inputs
    for t in ins[1:]:
        if t.dtype is not ins[0].dtype:
            raise TypeError(f"Einsum inputs must all have dtype {ins[0].dtype.name}, got "
                            f"{t.dtype.name}")
    check_dtype(ins[0], _dtypes.NUMERIC, "Einsum", "inputs")
    subs, out = parse_einsum(op.get_attr("equation"), len(ins))
    sizes: dict = {}
    ell = TensorShape([])
    for s, t in zip(subs, ins):
        if t.shape.ndims is None:
            return [(ins[0].dtype, TensorShape(None))]
        dims = t.shape.as_list()
        letters = s.replace("...", "")
        if "..." in s:
            n_ell = len(dims) - len(letters)
            if n_ell < 0:
                raise ValueError(f"Input {t.name} of rank {len(dims)} is too small for "
                                 f"subscripts {s!r} of '{op.name}' (op: 'Einsum')")
            head = s.index("...")
            ell = broadcast_static(ell, TensorShape(dims[head:head + n_ell]), op)
            dims = dims[:head] + dims[head + n_ell:]
        elif len(dims) != len(letters):
            raise ValueError(f"Input {t.name} has rank {len(dims)} but subscripts {s!r} of "
                             f"'{op.name}' (op: 'Einsum') name {len(letters)} dimensions")
        for c, d in zip(letters, dims):
            _merge_einsum_dim(sizes, c, d, op)
    if "..." not in out and ell.ndims:
        raise ValueError(f"Output subscripts of '{op.name}' (op: 'Einsum') need '...' for the "
                         f"broadcast dimensions {fmt_shape(ell)}")
    out_dims = []
    for part in out.split("...") if "..." in out else [out]:
        out_dims.append([sizes[c] for c in part])
    if "..." in out:
        dims = out_dims[0] + ell.as_list() + out_dims[1]
    else:
        dims = out_dims[0]
    return [(ins[0].dtype, TensorShape(dims))]


def einsum(equation, *inputs, **kwargs):
    """TF `tf.einsum(equation, *inputs, name=None)` (op `Einsum`, numpy semantics)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"Invalid keyword arguments for einsum: {', '.join(kwargs)}")
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    with name_scope(name, "einsum", list(inputs)) as scope:
        inputs = same_dtype_inputs(list(inputs), "Einsum")
        return op1("Einsum", inputs, {"equation": equation, "N": len(inputs),
                                      "T": inputs[0].dtype}, scope)


# ----------------------------------------------------------------------------------------------
# cross
# ----------------------------------------------------------------------------------------------
@register_op("Cross")
def _cross_shape(op):
    a, b = op.inputs
    if a.dtype is not b.dtype:
        raise TypeError(f"Input 'b' of 'Cross' Op has type {b.dtype.name} that does not match "
                        f"type {a.dtype.name} of argument 'a'.")
    check_dtype(a, _dtypes.FLOATING + _dtypes.INTEGER, "Cross", "a")
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"Dimensions must be equal for '{op.name}' (op: 'Cross') with input "
                         f"shapes: {fmt_shape(a.shape)}, {fmt_shape(b.shape)}.")
    s = a.shape.merge_with(b.shape)
    if s.ndims is not None and (s.ndims < 1 or s[-1].value not in (None, 3)):
        raise ValueError(f"Dimension must be 3 but is {s[-1].value if s.ndims else 'absent'} "
                         f"for '{op.name}' (op: 'Cross') with input shapes: "
                         f"{fmt_shape(a.shape)}, {fmt_shape(b.shape)}.")
    return [(a.dtype, s)]


def cross(a, b, name=None):
    """TF1 `tf.cross`: the pairwise cross product of 3-vectors along the last axis."""
    with name_scope(name, "Cross", [a, b]) as scope:
        a, b = binary_inputs(a, b, "Cross")
        return op1("Cross", [a, b], {"T": a.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# norm
# ----------------------------------------------------------------------------------------------
def _norm_args(tensor, ord, axis):  # noqa: A002
    is_matrix = isinstance(axis, (tuple, list)) and len(axis) == 2
    if is_matrix:
        axis = tuple(axis)
        if not all(isinstance(a, (int, np.integer)) for a in axis) or axis[0] == axis[1]:
            raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, "
                             f"got {axis}")
        supported = ["euclidean", "fro", 1, 2, np.inf]
        if not (ord in ("euclidean", "fro") if isinstance(ord, str) else ord in (1, 2, np.inf)):
            raise ValueError(f"'ord' must be a supported matrix norm in {supported}, got {ord}")
        if not isinstance(ord, str) and ord == 2:
            raise NotImplementedError("the matrix 2-norm (largest singular value) needs an SVD "
                                      "op, which tensorweave does not have")
        return axis, True
    if isinstance(axis, (tuple, list)) and len(axis) == 1:
        axis = axis[0]
    if not (axis is None or isinstance(axis, (int, np.integer))):
        raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, "
                         f"got {axis}")
    if isinstance(ord, str):
        if ord not in ("euclidean", "fro"):
            raise ValueError(f"'ord' must be a supported vector norm, got {ord}")
        if ord == "fro" and axis is not None:
            raise ValueError(f"'ord' must be a supported vector norm, got {ord}")
    elif not np.isreal(ord) or ord <= 0:
        raise ValueError(f"'ord' must be a supported vector norm, got {ord}")
    return (None if axis is None else (int(axis),)), False


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None,  # noqa: A002
         keep_dims=None):
    """TF1 `tf.norm`: vector p-norms (euclidean, 1, inf, any p > 0) over `axis` or all
    elements, and the Frobenius, 1- and inf-norms of matrices over a pair of axes."""
    if keep_dims is not None:
        if keepdims is not None:
            raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
        keepdims = keep_dims
    keepdims = bool(keepdims)
    axis, is_matrix = _norm_args(tensor, ord, axis)
    with name_scope(name, "norm", [tensor]):
        x = convert_to_tensor(tensor)
        red = None if axis is None else list(axis)
        first = None if axis is None else axis[0]
        if isinstance(ord, str) or ord == 2:
            result = math_ops.sqrt(math_ops.reduce_sum(math_ops.multiply(x, math_ops.conj(x)),
                                                       red, keepdims=True))
        else:
            result = math_ops.abs(x)
            if ord == 1:
                result = math_ops.reduce_sum(result, first, keepdims=True)
                if is_matrix:
                    result = math_ops.reduce_max(result, axis[-1], keepdims=True)
            elif ord == np.inf:
                if is_matrix:
                    result = math_ops.reduce_sum(result, axis[1], keepdims=True)
                result = math_ops.reduce_max(result, first, keepdims=True)
            else:
                p = convert_to_tensor(ord, dtype=result.dtype)
                total = math_ops.reduce_sum(math_ops.pow(result, p), red, keepdims=True)
                result = math_ops.pow(total, math_ops.realdiv(
                    convert_to_tensor(1, dtype=result.dtype), p))
        if not keepdims:
            result = array_ops.squeeze(result, red)
        return result


def _install_operators():
    forward, reflected = math_ops.binary_operator(matmul, "matmul")
    Tensor._override_operator("__matmul__", forward)
    Tensor._override_operator("__rmatmul__", reflected)


_install_operators()
