"""Math ops: element-wise arithmetic with broadcasting, comparisons, unary functions, `add_n`,
reductions, arg max/min and scans, casts, complex numbers, ranges, and the `Tensor` operators
(`+`, `<`, `~`, ...; `@` is installed by `linalg_ops`).  Linear algebra is in `linalg_ops`,
segment reductions in `segment_ops`.

Definitions (shape/dtype functions, registered once per op type) and the TF1 Python wrappers
only; kernels live in `tensorweave/kernels/cpu/math.py` and gradients in
`tensorweave/autodiff/math_grad.py`.  Naming follows TF1: `tw.add(x, y)` makes a node `Add`,
while `x + y` makes `add` (operators open a lower-case name scope, as TF1's do); Python values
converted for an op are named after the argument inside the op's scope (`Add/y`).
"""
from __future__ import annotations

import builtins

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.indexed_slices import IndexedSlices
from ..framework.op_registry import register_op
from ..framework.slicing import range_size
from ..framework.tensor_shape import TensorShape
from . import array_ops
from .op_util import binary_inputs, broadcast_static, check_dtype, fmt_shape, op1, same_dtype_inputs

__all__ = [
    # binary arithmetic
    "add", "subtract", "sub", "multiply", "mul", "divide", "truediv", "realdiv", "div",
    "div_no_nan", "floordiv", "floor_div", "truncatediv", "mod", "floormod",
    "truncatemod", "pow", "maximum", "minimum", "squared_difference", "atan2",
    "scalar_mul", "add_n", "accumulate_n",
    # comparisons and logic
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor",
    # unary
    "abs", "negative", "neg", "sign", "square", "sqrt", "rsqrt", "exp", "expm1", "log", "log1p",
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "tanh", "sigmoid", "erf", "erfc", "lgamma", "digamma", "floor", "ceil",
    "round", "rint", "is_nan", "is_inf", "is_finite", "reciprocal",
    # reductions and scans
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any",
    "reduce_all", "reduce_logsumexp", "count_nonzero",
    "argmax", "argmin", "cumsum", "cumprod",
    # casts and complex numbers
    "cast", "to_float", "to_double", "to_int32", "to_int64", "to_bfloat16", "saturate_cast",
    "complex", "real", "imag", "conj", "angle",
    # sequences and special functions
    "range", "linspace", "lin_space", "log_sigmoid", "polygamma", "zeta", "lbeta", "arg_max",
    "arg_min", "is_non_decreasing", "is_strictly_increasing",
]

#: Names TF1 has only under `tf.math` (exported by `tensorweave.math`, not at top level).
MATH_ONLY = ["divide_no_nan", "xlogy", "xdivy", "reduce_variance", "reduce_std",
             "reduce_euclidean_norm", "reciprocal_no_nan", "polyval", "zero_fraction"]

_F = _dtypes.FLOATING
_C = _dtypes.COMPLEX
_FC = _F + _C
_SINT = (_dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64)
_INT = _dtypes.INTEGER
_REAL = _F + _INT
_SIGNED = _F + _C + _SINT
_NUM = _dtypes.NUMERIC
_ALL = _NUM + (_dtypes.bool, _dtypes.string)
_BOOL = (_dtypes.bool,)


def _scope(name, default, values):
    """TF1's op scope: the node gets `name` (or `default`), converted inputs live inside it."""
    return name_scope(name, default, values)


# ----------------------------------------------------------------------------------------------
# binary element-wise ops
# ----------------------------------------------------------------------------------------------
def _binary_shape(allowed, out_dtype=None):
    def shape_fn(op):
        x, y = op.inputs
        if x.dtype is not y.dtype:
            raise TypeError(f"Input 'y' of '{op.type}' Op has type {y.dtype.name} that does not "
                            f"match type {x.dtype.name} of argument 'x'.")
        check_dtype(x, allowed, op.type)
        return [(out_dtype or x.dtype, broadcast_static(x.shape, y.shape, op))]
    return shape_fn


_BINARY_OPS = {
    # op type: allowed input dtypes (outputs have the input dtype)
    "Add": _NUM + (_dtypes.string,), "Sub": _NUM, "Mul": _NUM, "RealDiv": _NUM,
    "DivNoNan": _FC, "FloorDiv": _REAL, "TruncateDiv": _REAL, "FloorMod": _REAL,
    "TruncateMod": _REAL, "Pow": _FC + (_dtypes.int32, _dtypes.int64),
    "Maximum": _REAL, "Minimum": _REAL, "SquaredDifference": _FC + (_dtypes.int32, _dtypes.int64),
    "Atan2": _F, "Xlogy": _FC, "Xdivy": _FC, "Polygamma": _F, "Zeta": _F,
    # comparisons and logic: bool outputs
    "Equal": None, "NotEqual": None, "Less": None, "LessEqual": None, "Greater": None,
    "GreaterEqual": None, "LogicalAnd": None, "LogicalOr": None,
}
_COMPARE_ALLOWED = {"Equal": _ALL, "NotEqual": _ALL, "LogicalAnd": _BOOL, "LogicalOr": _BOOL}
for _t, _allowed in _BINARY_OPS.items():
    if _allowed is None:
        register_op(_t)(_binary_shape(_COMPARE_ALLOWED.get(_t, _REAL), _dtypes.bool))
    else:
        register_op(_t)(_binary_shape(_allowed))


def _binary(op_type, default_name=None):
    """The TF1 wrapper `fn(x, y, name=None)` of a binary op (node named `default_name`)."""
    default_name = default_name or op_type

    def fn(x, y, name=None):
        with _scope(name, default_name, [x, y]) as scope:
            x, y = binary_inputs(x, y, op_type)
            return op1(op_type, [x, y], {"T": x.dtype}, scope)
    fn.__name__ = fn.__qualname__ = default_name.lower()  # the public name is set at the end
    fn.__doc__ = f"TF1 `{default_name}`: element-wise {op_type} with numpy broadcasting."
    fn._generated = True
    return fn


add = _binary("Add")
subtract = _binary("Sub")
multiply = _binary("Mul")
realdiv = _binary("RealDiv")
div_no_nan = _binary("DivNoNan")
floor_div = _binary("FloorDiv")
truncatediv = _binary("TruncateDiv")
floormod = _binary("FloorMod")
truncatemod = _binary("TruncateMod")
maximum = _binary("Maximum")
minimum = _binary("Minimum")
squared_difference = _binary("SquaredDifference")
xlogy = _binary("Xlogy")
xdivy = _binary("Xdivy")
sub, mul, mod = subtract, multiply, floormod
divide_no_nan = div_no_nan
equal = _binary("Equal")
not_equal = _binary("NotEqual")
less = _binary("Less")
less_equal = _binary("LessEqual")
greater = _binary("Greater")
greater_equal = _binary("GreaterEqual")
logical_and = _binary("LogicalAnd")
logical_or = _binary("LogicalOr")
_polygamma = _binary("Polygamma")
_zeta = _binary("Zeta")


def atan2(y, x, name=None):
    """Element-wise arctan(y / x), respecting the signs of both (op `Atan2`, inputs y, x)."""
    with _scope(name, "Atan2", [y, x]) as scope:
        y, x = binary_inputs(y, x, "Atan2")
        return op1("Atan2", [y, x], {"T": y.dtype}, scope)


def polygamma(a, x, name=None):
    """The n-th derivative of digamma: `polygamma(a, x)` (a holds integer-valued floats)."""
    return _polygamma(a, x, name=name or "Polygamma")


def zeta(x, q, name=None):
    """The Hurwitz zeta function sum_k (q + k)^-x."""
    return _zeta(x, q, name=name or "Zeta")


_TRUEDIV_FLOAT = {_dtypes.int8: _dtypes.float32, _dtypes.uint8: _dtypes.float32,
                  _dtypes.int16: _dtypes.float32, _dtypes.uint16: _dtypes.float32,
                  _dtypes.int32: _dtypes.float64, _dtypes.uint32: _dtypes.float64,
                  _dtypes.int64: _dtypes.float64, _dtypes.uint64: _dtypes.float64}


def truediv(x, y, name=None):
    """Python 3 division: integers are cast to float (int8/16 -> float32, int32/64 -> float64)."""
    with _scope(name, "truediv", [x, y]) as scope:
        x, y = binary_inputs(x, y, "RealDiv")
        if x.dtype.is_bool or x.dtype is _dtypes.string:
            raise TypeError(f"Invalid dtype {x.dtype.name} in __truediv__")
        target = _TRUEDIV_FLOAT.get(x.dtype)
        if target is not None:
            x, y = cast(x, target), cast(y, target)
        return op1("RealDiv", [x, y], {"T": x.dtype}, scope)


def divide(x, y, name=None):
    """TF1 `tf.divide`: `x / y` (true division), named `truediv` unless `name` is given."""
    return truediv(x, y, name=name)


def div(x, y, name=None):
    """TF1 `tf.div`: floor division (`FloorDiv`) for integers, `RealDiv` otherwise."""
    with _scope(name, "div", [x, y]) as scope:
        x, y = binary_inputs(x, y, "Div")
        op_type = "FloorDiv" if x.dtype.is_integer else "RealDiv"
        return op1(op_type, [x, y], {"T": x.dtype}, scope)


def floordiv(x, y, name=None):
    """TF1 `tf.floordiv`: floor(x / y) (Python `//` semantics for integers)."""
    with _scope(name, "floordiv", [x, y]) as scope:
        x, y = binary_inputs(x, y, "FloorDiv")
        return op1("FloorDiv", [x, y], {"T": x.dtype}, scope)


def pow(x, y, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.pow`: element-wise x ** y (node `Pow`)."""
    with _scope(name, "Pow", [x]) as scope:
        x, y = binary_inputs(x, y, "Pow")
        return op1("Pow", [x, y], {"T": x.dtype}, scope)


def logical_xor(x, y, name="LogicalXor"):
    """TF1 `tf.logical_xor`: (x | y) & ~(x & y), built from the logical ops as in TF1."""
    return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=name)


def scalar_mul(scalar, x, name=None):
    """TF1 `tf.scalar_mul`: a scalar times a Tensor or IndexedSlices."""
    base = x.values if isinstance(x, IndexedSlices) else convert_to_tensor(x)
    scalar = convert_to_tensor(scalar, dtype=base.dtype, name="scalar")
    if scalar.shape.ndims not in (None, 0):
        raise ValueError(f"Only scalar multiply works, got shape {scalar.shape}")
    if isinstance(x, IndexedSlices):
        return IndexedSlices(multiply(scalar, base, name=name), x.indices, x.dense_shape)
    return multiply(scalar, base, name=name)


# ----------------------------------------------------------------------------------------------
# unary element-wise ops
# ----------------------------------------------------------------------------------------------
def _unary_shape(allowed, out=None):
    def shape_fn(op):
        x = op.inputs[0]
        check_dtype(x, allowed, op.type)
        dt = x.dtype if out is None else (x.dtype.real_dtype if out == "real" else out)
        return [(dt, x.shape)]
    return shape_fn


_UNARY_OPS = {
    # op type: (allowed input dtypes, output dtype: None = same, "real", or a DType)
    "Abs": (_F + _SINT, None), "ComplexAbs": (_C, "real"), "Neg": (_SIGNED, None),
    "Sign": (_SIGNED, None), "Square": (_NUM, None), "Reciprocal": (_SIGNED, None),
    "Round": (_F + _C, None), "IsNan": (_F, _dtypes.bool), "IsInf": (_F, _dtypes.bool),
    "IsFinite": (_F, _dtypes.bool), "LogicalNot": (_BOOL, None),
    "Real": (_C, "real"), "Imag": (_C, "real"), "Angle": (_C, "real"), "Conj": (_C, None),
    **{t: (_FC, None) for t in ("Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p", "Sin", "Cos",
                                "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
                                "Atanh", "Tanh", "Sigmoid")},
    **{t: (_F, None) for t in ("Erf", "Erfc", "Lgamma", "Digamma", "Floor", "Ceil", "Rint")},
}
for _t, (_allowed, _out) in _UNARY_OPS.items():
    register_op(_t)(_unary_shape(_allowed, _out))


def _unary(op_type):
    """The TF1 wrapper `fn(x, name=None)` of a unary op (node named `op_type`)."""
    def fn(x, name=None):
        with _scope(name, op_type, [x]) as scope:
            x = convert_to_tensor(x, name="x")
            return op1(op_type, [x], {"T": x.dtype}, scope)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    fn.__doc__ = f"TF1 element-wise `{op_type}`."
    fn._generated = True
    return fn


negative = _unary("Neg")
sign = _unary("Sign")
square = _unary("Square")
sqrt = _unary("Sqrt")
rsqrt = _unary("Rsqrt")
exp = _unary("Exp")
expm1 = _unary("Expm1")
log = _unary("Log")
log1p = _unary("Log1p")
sin = _unary("Sin")
cos = _unary("Cos")
tan = _unary("Tan")
asin = _unary("Asin")
acos = _unary("Acos")
atan = _unary("Atan")
sinh = _unary("Sinh")
cosh = _unary("Cosh")
asinh = _unary("Asinh")
acosh = _unary("Acosh")
atanh = _unary("Atanh")
tanh = _unary("Tanh")
sigmoid = _unary("Sigmoid")
erf = _unary("Erf")
erfc = _unary("Erfc")
lgamma = _unary("Lgamma")
digamma = _unary("Digamma")
floor = _unary("Floor")
ceil = _unary("Ceil")
rint = _unary("Rint")
is_nan = _unary("IsNan")
is_inf = _unary("IsInf")
is_finite = _unary("IsFinite")
reciprocal = _unary("Reciprocal")
logical_not = _unary("LogicalNot")
neg = negative


def abs(x, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.abs`: |x|; for complex x the magnitude (op `ComplexAbs`, real output)."""
    with _scope(name, "Abs", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.is_complex:
            return op1("ComplexAbs", [x], {"T": x.dtype, "Tout": x.dtype.real_dtype}, scope)
        return op1("Abs", [x], {"T": x.dtype}, scope)


def round(x, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.round`: half to even; integers are returned unchanged."""
    x = convert_to_tensor(x, name="x")
    if x.dtype.is_integer:
        return x
    with _scope(name, "Round", [x]) as scope:
        return op1("Round", [x], {"T": x.dtype}, scope)


def log_sigmoid(x, name=None):
    """TF1 `tf.log_sigmoid`: log(1 / (1 + exp(-x))) = -softplus(-x), stable for large |x|."""
    from .nn_ops import softplus  # cycle: nn_ops imports math_ops
    with _scope(name, "LogSigmoid", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return negative(softplus(negative(x)), name=scope)


def reciprocal_no_nan(x, name=None):
    """`tf.math.reciprocal_no_nan`: 1 / x, and 0 where x is 0."""
    with _scope(name, "reciprocal_no_nan", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return div_no_nan(convert_to_tensor(1, dtype=x.dtype), x, name=scope)


def polyval(coeffs, x, name=None):
    """`tf.math.polyval`: coeffs[0] * x^(n-1) + ... + coeffs[n-1] (Horner's scheme)."""
    with _scope(name, "polyval", list(coeffs) + [x]):
        x = convert_to_tensor(x, name="x")
        if not coeffs:
            return array_ops.zeros_like(x)
        cs = [convert_to_tensor(c, dtype_hint=x.dtype, name=f"coeff_{i}")
              for i, c in enumerate(coeffs)]
        p = cs[0]
        for c in cs[1:]:
            p = c + p * x
        return p


# ----------------------------------------------------------------------------------------------
# fused gradient ops (y-based, as in TF): used by the gradients of Tanh, Sigmoid, Sqrt, ...
# ----------------------------------------------------------------------------------------------
def _grad_op_shape(op):
    y, dy = op.inputs
    if y.dtype is not dy.dtype:
        raise TypeError(f"Input 'dy' of '{op.type}' Op has type {dy.dtype.name} that does not "
                        f"match type {y.dtype.name} of argument 'y'.")
    check_dtype(y, _FC, op.type, "y")
    if not y.shape.is_compatible_with(dy.shape):
        raise ValueError(f"Shapes must be equal, but are {fmt_shape(y.shape)} and "
                         f"{fmt_shape(dy.shape)} for '{op.name}' (op: '{op.type}')")
    return [(y.dtype, y.shape.merge_with(dy.shape))]


for _t in ("TanhGrad", "SigmoidGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad"):
    register_op(_t)(_grad_op_shape)


def unary_grad_op(op_type, y, dy, name=None):
    """`op_type(y, dy)`, e.g. `TanhGrad(y, dy) = dy * (1 - y^2)`."""
    return op1(op_type, [y, dy], {"T": y.dtype}, name or op_type)



# ----------------------------------------------------------------------------------------------
# add_n
# ----------------------------------------------------------------------------------------------
@register_op("AddN")
def _addn_shape(op):
    ins = op.inputs
    s = ins[0].shape
    for t in ins[1:]:
        if t.dtype is not ins[0].dtype:
            raise TypeError(f"AddN inputs must all have dtype {ins[0].dtype.name}, got "
                            f"{t.dtype.name}")
        if not s.is_compatible_with(t.shape):
            raise ValueError(f"Shapes must be equal rank/size, but are {fmt_shape(s)} and "
                             f"{fmt_shape(t.shape)} for '{op.name}' (op: 'AddN')")
        s = s.merge_with(t.shape)
    check_dtype(ins[0], _NUM, "AddN", "inputs")
    return [(ins[0].dtype, s)]


def add_n(inputs, name=None):
    """Element-wise sum of a list of same-shape tensors (IndexedSlices are made dense)."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor/IndexedSlices with the "
                         "same dtype and shape")
    inputs = same_dtype_inputs(inputs, "AddN")
    if len(inputs) == 1:
        return array_ops.identity(inputs[0], name=name) if name else inputs[0]
    return op1("AddN", inputs, {"T": inputs[0].dtype, "N": len(inputs)}, name or "AddN")


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """TF1 `tf.accumulate_n`: the same sum as `add_n`."""
    if tensor_dtype is not None:
        inputs = [convert_to_tensor(t, dtype=tensor_dtype) for t in inputs]
    out = add_n(inputs, name=name)
    if shape is not None:
        out.set_shape(shape)
    return out


# ----------------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------------
def reduction_shape(op):
    """Shape function of Sum/Mean/Max/...: input 1 holds the axes (constant or not)."""
    x, axes = op.inputs
    keep = op._attrs.get("keep_dims", False)
    if not axes.dtype.is_integer:
        raise TypeError(f"Value passed to parameter 'reduction_indices' has DataType "
                        f"{axes.dtype.name} not in list of allowed values: int32, int64")
    allowed = _BOOL if op.type in ("Any", "All") else (_REAL if op.type in ("Max", "Min")
                                                        else _NUM)
    check_dtype(x, allowed, op.type, "input")
    av = constant_value(axes)
    if x.shape.ndims is None:
        return [(x.dtype, TensorShape(None))]
    r = x.shape.ndims
    if av is None:
        return [(x.dtype, TensorShape([None] * r) if keep else TensorShape(None))]
    ax = set()
    for a in np.asarray(av).reshape(-1):
        a = int(a)
        if a < -r or a >= r:
            raise ValueError(f"Invalid reduction dimension {a} for input with {r} dimensions. "
                             f"for '{op.name}' (op: '{op.type}') with input shapes: "
                             f"{fmt_shape(x.shape)}, {fmt_shape(axes.shape)}")
        ax.add(a % r if r else a)
    dims = x.shape.as_list()
    out = [1 if i in ax else d for i, d in enumerate(dims)] if keep else \
        [d for i, d in enumerate(dims) if i not in ax]
    return [(x.dtype, TensorShape(out))]


for _t in ("Sum", "Mean", "Max", "Min", "Prod", "Any", "All"):
    register_op(_t)(reduction_shape)


def reduction_axes(x, axis):
    """The axes tensor of a reduction (all axes when `axis` is None)."""
    if axis is None:
        r = x.shape.ndims
        if r is not None:
            return convert_to_tensor(np.arange(r, dtype=np.int32))
        return range(0, array_ops.rank(x))
    if isinstance(axis, Tensor) or hasattr(axis, "_as_graph_element"):
        return convert_to_tensor(axis)
    return convert_to_tensor(np.asarray(axis, dtype=np.int32), name="reduction_indices")


def _reduce_args(axis, keepdims, reduction_indices, keep_dims):
    if reduction_indices is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'reduction_indices'.")
        axis = reduction_indices
    if keep_dims is not None:
        if keepdims is not None:
            raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
        keepdims = keep_dims
    return axis, bool(keepdims)


def reduce_op(op_type, doc):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        axis, keepdims = _reduce_args(axis, keepdims, reduction_indices, keep_dims)
        x = convert_to_tensor(input_tensor)
        axes = reduction_axes(x, None) if axis is None else None
        with _scope(name, op_type, [x]) as scope:
            if axes is None:
                axes = reduction_axes(x, axis)
            return op1(op_type, [x, axes], {"T": x.dtype, "Tidx": axes.dtype,
                                            "keep_dims": keepdims}, scope)
    fn.__name__ = fn.__qualname__ = "reduce_" + op_type.lower()
    fn.__doc__ = (f"TF1 `tf.{fn.__name__}`: {doc} over `axis` (all axes when None); "
                  "`reduction_indices`/`keep_dims` are the legacy spellings.")
    return fn


reduce_sum = reduce_op("Sum", "the sum")
reduce_mean = reduce_op("Mean", "the mean (integer means truncate)")
reduce_max = reduce_op("Max", "the maximum")
reduce_min = reduce_op("Min", "the minimum")
reduce_prod = reduce_op("Prod", "the product")
reduce_any = reduce_op("Any", "logical or")
reduce_all = reduce_op("All", "logical and")


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                     keep_dims=None):
    """TF1 `tf.reduce_logsumexp`: log(sum(exp(x))) computed stably (max subtracted)."""
    axis, keepdims = _reduce_args(axis, keepdims, reduction_indices, keep_dims)
    with _scope(name, "ReduceLogSumExp", [input_tensor]):
        x = convert_to_tensor(input_tensor)
        raw_max = reduce_max(x, axis=axis, keepdims=True)
        my_max = array_ops.stop_gradient(
            array_ops.where(is_finite(raw_max), raw_max, array_ops.zeros_like(raw_max)))
        result = log(reduce_sum(exp(subtract(x, my_max)), axis, keepdims=keepdims))
        if not keepdims:
            if result.shape.is_fully_defined():
                my_max = array_ops.reshape(my_max, result.shape.as_list())
            else:
                my_max = array_ops.reshape(my_max, array_ops.shape(result))
        return add(result, my_max)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """`tf.math.reduce_variance`: mean of squared deviations from the mean."""
    with _scope(name, "reduce_variance", [input_tensor]):
        x = convert_to_tensor(input_tensor)
        means = reduce_mean(x, axis=axis, keepdims=True)
        dev = subtract(x, means)
        sq = square(abs(dev)) if x.dtype.is_complex else square(dev)
        return reduce_mean(sq, axis=axis, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """`tf.math.reduce_std`: the square root of `reduce_variance`."""
    with _scope(name, "reduce_std", [input_tensor]):
        return sqrt(reduce_variance(input_tensor, axis=axis, keepdims=keepdims))


def count_nonzero(input_tensor, axis=None, keepdims=None, dtype=_dtypes.int64, name=None,
                  reduction_indices=None, keep_dims=None):
    """TF1 `tf.count_nonzero`: the number of non-zero elements along `axis`."""
    axis, keepdims = _reduce_args(axis, keepdims, reduction_indices, keep_dims)
    with _scope(name, "count_nonzero", [input_tensor]):
        x = convert_to_tensor(input_tensor, name="input_tensor")
        zero = array_ops.zeros([], dtype=x.dtype)
        return cast(reduce_sum(cast(not_equal(x, zero), _dtypes.int64), axis=axis,
                               keepdims=keepdims), dtype=dtype)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """`tf.math.reduce_euclidean_norm`: sqrt(sum(|x|^2)) over `axis`."""
    with _scope(name, "EuclideanNorm", [input_tensor]):
        x = convert_to_tensor(input_tensor)
        return sqrt(reduce_sum(multiply(x, conj(x)), axis=axis, keepdims=keepdims))


def zero_fraction(value, name=None):
    """`tf.math.zero_fraction`: the fraction of zeros in `value` (float32)."""
    with _scope(name, "zero_fraction", [value]):
        value = convert_to_tensor(value, name="value")
        n = cast(array_ops.size(value, out_type=_dtypes.int64), _dtypes.float32)
        nonzero = cast(count_nonzero(value, dtype=_dtypes.int64), _dtypes.float32)
        return subtract(convert_to_tensor(1.0), realdiv(nonzero, n))


# ----------------------------------------------------------------------------------------------
# arg max/min, cumulative sums and products
# ----------------------------------------------------------------------------------------------
def _axis_input(op, arg="dimension"):
    x, axis = op.inputs
    if not axis.dtype.is_integer:
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {axis.dtype.name} not "
                        "in list of allowed values: int32, int64")
    if axis.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {axis.shape.ndims} for '{op.name}' "
                         f"(op: '{op.type}') with input shapes: {fmt_shape(x.shape)}, "
                         f"{fmt_shape(axis.shape)}.")
    av = constant_value(axis)
    r = x.shape.ndims
    if av is None or r is None:
        return None
    a = int(av)
    if a < -r or a >= r:
        raise ValueError(f"Expected {arg} in the range [{-r}, {r}), but got {a} for "
                         f"'{op.name}' (op: '{op.type}') with input shapes: "
                         f"{fmt_shape(x.shape)}, []")
    return a % r


def _arg_shape(op):
    x = op.inputs[0]
    check_dtype(x, _REAL, op.type, "input")
    a = _axis_input(op)
    out = op.get_attr("output_type")
    if a is None:
        r = x.shape.ndims
        return [(out, TensorShape(None if r is None else [None] * builtins.max(r - 1, 0)))]
    dims = x.shape.as_list()
    return [(out, TensorShape(dims[:a] + dims[a + 1:]))]


for _t in ("ArgMax", "ArgMin"):
    register_op(_t)(_arg_shape)


def _arg_op(op_type):
    def fn(input, axis=None, name=None, dimension=None, output_type=_dtypes.int64):  # noqa: A002
        if dimension is not None:
            if axis is not None:
                raise ValueError("Cannot specify both 'axis' and 'dimension'")
            axis = dimension
        if axis is None:
            axis = 0
        output_type = _dtypes.as_dtype(output_type)
        if output_type not in (_dtypes.int32, _dtypes.int64):
            raise TypeError(f"Value passed to parameter 'output_type' has DataType "
                            f"{output_type.name} not in list of allowed values: int32, int64")
        with _scope(name, op_type, [input]) as scope:
            x = convert_to_tensor(input, name="input")
            axis = convert_to_tensor(axis, dtype_hint=_dtypes.int32, name="dimension")
            return op1(op_type, [x, axis], {"T": x.dtype, "Tidx": axis.dtype,
                                            "output_type": output_type}, scope)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    fn.__doc__ = (f"TF1 `tf.{op_type.lower()}`: the index of the {op_type[3:].lower()}imum "
                  "along `axis` (default 0); ties give the first index.")
    return fn


argmax = _arg_op("ArgMax")
argmin = _arg_op("ArgMin")


def arg_max(input, dimension, output_type=_dtypes.int64, name=None):  # noqa: A002
    """TF1's deprecated `tf.arg_max(input, dimension)`."""
    return argmax(input, dimension, name=name, output_type=output_type)


def arg_min(input, dimension, output_type=_dtypes.int64, name=None):  # noqa: A002
    """TF1's deprecated `tf.arg_min(input, dimension)`."""
    return argmin(input, dimension, name=name, output_type=output_type)


def _monotonic_diff(x):
    x = array_ops.reshape(x, [-1])
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype.is_complex):
        raise TypeError(f"Expected x to be numeric, instead found: {x}")
    return subtract(x[1:], x[:-1])


def is_non_decreasing(x, name=None):
    """TF1 `tf.is_non_decreasing`: whether x[i] <= x[i + 1] over the flattened x."""
    with _scope(name, "is_non_decreasing", [x]):
        diff = _monotonic_diff(convert_to_tensor(x, name="x"))
        return reduce_all(less_equal(convert_to_tensor(0, dtype=diff.dtype), diff))


def is_strictly_increasing(x, name=None):
    """TF1 `tf.is_strictly_increasing`: whether x[i] < x[i + 1] over the flattened x."""
    with _scope(name, "is_strictly_increasing", [x]):
        diff = _monotonic_diff(convert_to_tensor(x, name="x"))
        return reduce_all(less(convert_to_tensor(0, dtype=diff.dtype), diff))


def _scan_shape(op):
    x = op.inputs[0]
    check_dtype(x, _NUM, op.type)
    _axis_input(op, "axis")
    return [(x.dtype, x.shape)]


for _t in ("Cumsum", "Cumprod"):
    register_op(_t)(_scan_shape)


def _scan_op(op_type):
    def fn(x, axis=0, exclusive=False, reverse=False, name=None):
        with _scope(name, op_type, [x]) as scope:
            x = convert_to_tensor(x, name="x")
            axis = convert_to_tensor(axis, dtype_hint=_dtypes.int32, name="axis")
            return op1(op_type, [x, axis], {"T": x.dtype, "Tidx": axis.dtype,
                                            "exclusive": bool(exclusive),
                                            "reverse": bool(reverse)}, scope)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    fn.__doc__ = (f"TF1 `tf.{op_type.lower()}`: the cumulative {op_type[3:]} along `axis` "
                  "(`exclusive` leaves out the current element, `reverse` runs backwards).")
    return fn


cumsum = _scan_op("Cumsum")
cumprod = _scan_op("Cumprod")


# ----------------------------------------------------------------------------------------------
# casts
# ----------------------------------------------------------------------------------------------
@register_op("Cast")
def _cast_shape(op):
    return [(op.get_attr("DstT"), op.inputs[0].shape)]


def cast(x, dtype, name=None):
    """TF1 `tf.cast` (returns `x` itself when the dtype already matches)."""
    dtype = _dtypes.as_dtype(dtype)
    if isinstance(x, IndexedSlices):
        return IndexedSlices(cast(x.values, dtype, name=name), x.indices, x.dense_shape)
    if isinstance(x, Tensor) and x.dtype is dtype:
        return x
    with _scope(name, "Cast", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype is dtype:
            return x
        return op1("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, scope)


def to_float(x, name="ToFloat"):
    return cast(x, _dtypes.float32, name=name)


def to_double(x, name="ToDouble"):
    return cast(x, _dtypes.float64, name=name)


def to_int32(x, name="ToInt32"):
    return cast(x, _dtypes.int32, name=name)


def to_int64(x, name="ToInt64"):
    return cast(x, _dtypes.int64, name=name)


def to_bfloat16(x, name="ToBFloat16"):
    raise TypeError("bfloat16 is not a tensorweave dtype")


def _limits(dtype):
    info = np.finfo(dtype.np) if dtype.is_floating else np.iinfo(dtype.np)
    return info.min, info.max


def _inside(dtype, bound, toward):
    """`bound` in `dtype`, rounded toward `toward` if `dtype` cannot hold it exactly (so that a
    clamped float cast to an integer type stays in range)."""
    v = dtype.np.type(bound)
    if dtype.is_floating and (float(v) > bound if toward < bound else float(v) < bound):
        v = np.nextafter(v, dtype.np.type(toward))
    return v


def saturate_cast(value, dtype, name=None):
    """TF1 `tf.saturate_cast`: clamp to the range of `dtype`, then cast."""
    with _scope(name, "saturate_cast", [value]) as scope:
        value = convert_to_tensor(value, name="value")
        dtype = _dtypes.as_dtype(dtype)
        if not (dtype.is_complex or value.dtype.is_complex or dtype.is_bool
                or value.dtype.is_bool):
            (lo, hi), (vlo, vhi) = _limits(dtype), _limits(value.dtype)
            if vlo < lo:
                value = maximum(value, convert_to_tensor(_inside(value.dtype, lo, vhi),
                                                         dtype=value.dtype, name="min"))
            if vhi > hi:
                value = minimum(value, convert_to_tensor(_inside(value.dtype, hi, vlo),
                                                         dtype=value.dtype, name="max"))
        return cast(value, dtype, name=scope)


# ----------------------------------------------------------------------------------------------
# complex numbers
# ----------------------------------------------------------------------------------------------
@register_op("Complex")
def _complex_shape(op):
    re, im = op.inputs
    return [(op.get_attr("Tout"), broadcast_static(re.shape, im.shape, op))]


def complex(real, imag, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.complex`: real + i*imag (float32 -> complex64, float64 -> complex128)."""
    real = convert_to_tensor(real, name="real")
    imag = convert_to_tensor(imag, name="imag")
    with _scope(name, "Complex", [real, imag]) as scope:
        kinds = (real.dtype, imag.dtype)
        if kinds == (_dtypes.float64, _dtypes.float64):
            tout = _dtypes.complex128
        elif kinds == (_dtypes.float32, _dtypes.float32):
            tout = _dtypes.complex64
        else:
            raise TypeError(f"real and imag have incorrect types: {real.dtype.name} "
                            f"{imag.dtype.name}")
        return op1("Complex", [real, imag], {"T": real.dtype, "Tout": tout}, scope)


def _complex_part(op_type, real_fallback):
    def fn(input, name=None):  # noqa: A002 - TF1 argument name
        with _scope(name, op_type, [input]) as scope:
            x = convert_to_tensor(input, name="input")
            if x.dtype.is_complex:
                return op1(op_type, [x], {"T": x.dtype, "Tout": x.dtype.real_dtype}, scope)
            return real_fallback(x)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    return fn


def _zeros_like(x):
    return array_ops.zeros_like(x)


real = _complex_part("Real", lambda x: x)
real.__doc__ = "TF1 `tf.real`: the real part (a real tensor is returned unchanged)."
imag = _complex_part("Imag", _zeros_like)
imag.__doc__ = "TF1 `tf.imag`: the imaginary part (zeros for a real tensor)."
angle = _complex_part("Angle", _zeros_like)
angle.__doc__ = "TF1 `tf.angle`: the argument atan2(imag, real) (zeros for a real tensor)."


def conj(x, name=None):
    """TF1 `tf.conj`: the complex conjugate (real and integer tensors are returned unchanged)."""
    if isinstance(x, Tensor) and (x.dtype.is_floating or x.dtype.is_integer):
        return x
    with _scope(name, "Conj", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.is_complex:
            return op1("Conj", [x], {"T": x.dtype}, scope)
        if x.dtype.is_floating or x.dtype.is_integer:
            return x
        raise TypeError(f"Expected numeric tensor, got dtype {x.dtype.name}")


# ----------------------------------------------------------------------------------------------
# range, linspace
# ----------------------------------------------------------------------------------------------
@register_op("Range")
def _range_shape(op):
    start, limit, delta = op.inputs
    for arg, t in zip(("start", "limit", "delta"), op.inputs):
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims} for "
                             f"'{op.name}' (op: 'Range') ({arg})")
        if t.dtype is not start.dtype:
            raise TypeError(f"Input '{arg}' of 'Range' Op has type {t.dtype.name} that does not "
                            f"match type {start.dtype.name} of argument 'start'.")
    check_dtype(start, (_dtypes.int32, _dtypes.int64) + _F, "Range", "start")
    vals = [constant_value(t) for t in op.inputs]
    if any(v is None for v in vals):
        return [(start.dtype, TensorShape([None]))]
    return [(start.dtype, TensorShape([range_size(*vals, start.dtype.np)]))]


_RANGE_ORDER = [_dtypes.int32, _dtypes.int64, _dtypes.float32, _dtypes.float64]


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - TF1 name
    """TF1 `tf.range`: [start, start + delta, ...) up to `limit` (dtype inferred as TF1 does:
    the widest of int32 < int64 < float32 < float64 among the arguments)."""
    if limit is None:
        start, limit = 0, start
    with _scope(name, "Range", [start, limit, delta]) as scope:
        start = convert_to_tensor(start, dtype=dtype, name="start")
        limit = convert_to_tensor(limit, dtype=dtype, name="limit")
        delta = convert_to_tensor(delta, dtype=dtype, name="delta")
        if dtype is None:
            for t in (start, limit, delta):
                if t.dtype not in _RANGE_ORDER:
                    raise TypeError(f"Range arguments must be int32, int64, float32 or float64, "
                                    f"got {t.dtype.name}")
            inferred = builtins.max((t.dtype for t in (start, limit, delta)),
                                    key=_RANGE_ORDER.index)
            start, limit, delta = (cast(t, inferred) for t in (start, limit, delta))
        return op1("Range", [start, limit, delta], {"Tidx": start.dtype}, scope)


@register_op("LinSpace")
def _linspace_shape(op):
    start, stop, num = op.inputs
    check_dtype(start, _F, "LinSpace", "start")
    if stop.dtype is not start.dtype:
        raise TypeError(f"Input 'stop' of 'LinSpace' Op has type {stop.dtype.name} that does "
                        f"not match type {start.dtype.name} of argument 'start'.")
    if not num.dtype.is_integer:
        raise TypeError(f"Value passed to parameter 'num' has DataType {num.dtype.name} not in "
                        "list of allowed values: int32, int64")
    for arg, t in zip(("start", "stop", "num"), op.inputs):
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims} for "
                             f"'{op.name}' (op: 'LinSpace') ({arg})")
    n = constant_value(num)
    if n is not None and int(n) <= 0:
        raise ValueError(f"Requires num > 0: {int(n)}")
    return [(start.dtype, TensorShape([None if n is None else int(n)]))]


def linspace(start, stop, num, name=None):
    """TF1 `tf.linspace` / `tf.lin_space`: `num` evenly spaced values from start to stop."""
    with _scope(name, "LinSpace", [start, stop, num]) as scope:
        start = convert_to_tensor(start, name="start")
        stop = convert_to_tensor(stop, dtype=start.dtype, name="stop")
        num = convert_to_tensor(num, dtype_hint=_dtypes.int32, name="num")
        return op1("LinSpace", [start, stop, num], {"T": start.dtype, "Tidx": num.dtype}, scope)


lin_space = linspace


def lbeta(x, name=None):
    """TF1 `tf.lbeta`: log(|Beta(x)|) over the last axis = sum(lgamma(x)) - lgamma(sum(x))."""
    with _scope(name, "lbeta", [x]):
        x = convert_to_tensor(x, name="x")
        return subtract(reduce_sum(lgamma(x), axis=[-1]), lgamma(reduce_sum(x, axis=[-1])))



# ----------------------------------------------------------------------------------------------
# operators on Tensor
# ----------------------------------------------------------------------------------------------
def binary_operator(func, op_name):
    """`x <op> y` and its reflection: the node is named `op_name` (TF1's lower-case names)."""
    def forward(x, y):
        with name_scope(None, op_name, [x, y]) as scope:
            return func(x, y, name=scope)

    def reflected(y, x):
        with name_scope(None, op_name, [x, y]) as scope:
            x = convert_to_tensor(x, dtype=y.dtype, name="x") if not isinstance(x, Tensor) else x
            return func(x, y, name=scope)
    return forward, reflected


def _install_operators():
    T = Tensor
    for op, func, name in (("add", add, "add"), ("sub", subtract, "sub"),
                           ("mul", multiply, "mul"), ("truediv", truediv, "truediv"),
                           ("floordiv", floordiv, "floordiv"), ("mod", floormod, "mod"),
                           ("pow", pow, "pow"),
                           ("and", logical_and, "and"), ("or", logical_or, "or"),
                           ("xor", logical_xor, "xor")):
        forward, reflected = binary_operator(func, name)
        T._override_operator(f"__{op}__", forward)
        T._override_operator(f"__r{op}__", reflected)
    T._override_operator("__lt__", lambda x, y: less(x, y))
    T._override_operator("__le__", lambda x, y: less_equal(x, y))
    T._override_operator("__gt__", lambda x, y: greater(x, y))
    T._override_operator("__ge__", lambda x, y: greater_equal(x, y))
    T._override_operator("__neg__", lambda x: negative(x))
    T._override_operator("__abs__", lambda x: abs(x))
    T._override_operator("__invert__", lambda x: logical_not(x))


_install_operators()


def _name_generated_wrappers():
    """Give the generated wrappers their public names (the first listed, for aliases)."""
    named = set()
    for n in __all__ + MATH_ONLY:
        f = globals()[n]
        if getattr(f, "_generated", False) and id(f) not in named:
            named.add(id(f))
            f.__name__ = f.__qualname__ = n


_name_generated_wrappers()

