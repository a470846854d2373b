"""Random ops: normal, uniform, truncated normal, shuffle, multinomial, gamma, poisson, and their
stateless variants (definitions and TF1 wrappers).

Every stateful random op carries the attrs `seed` and `seed2` from `framework.random_seed.get_seed`
(0, 0 when neither the graph nor the op has a seed).  Its kernel (`kernels/cpu/random.py`) owns a
generator seeded from them when the session first compiles the node, so repeated runs in one
session continue the stream and a new session restarts it.  The wrappers build the same nodes as
TF1 (`random_normal/RandomStandardNormal`, `random_normal/mul`, `random_normal`), so node names and
seeds derived from the op count match TF1 graphs built the same way.

Kernels: `tensorweave/kernels/cpu/random.py`; gradients: `tensorweave/autodiff/random_grad.py`.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.op_registry import register_op
from ..framework.random_seed import get_seed, set_random_seed
from ..framework.tensor_shape import TensorShape, dimension_value
from . import math_ops
from .array_ops import broadcast_to
from .op_util import broadcast_static, fmt_shape, op1

__all__ = ["random_normal", "random_uniform", "truncated_normal", "random_shuffle",
           "multinomial", "random_gamma", "random_poisson", "set_random_seed", "get_seed"]

_SHAPE_TYPES = (_dtypes.int32, _dtypes.int64)
_FLOAT_TYPES = (_dtypes.float16, _dtypes.float32, _dtypes.float64)
_UNIFORM_TYPES = _FLOAT_TYPES + _SHAPE_TYPES


# ----------------------------------------------------------------------------------------------
# shape functions
# ----------------------------------------------------------------------------------------------
def _allowed(dtype, allowed, op_type: str, arg: str) -> None:
    if dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {dtype.name} not in list "
                        f"of allowed values: {names} (op '{op_type}')")


def _rank_error(op, t, rank: int):
    ins = ", ".join(fmt_shape(i.shape) for i in op.inputs)
    return ValueError(f"Shape must be rank {rank} but is rank {t.shape.ndims} for '{op.name}' "
                      f"(op: '{op.type}') with input shapes: {ins}.")


def _output_shape(op, t) -> TensorShape:
    """The static shape described by the 1-D int shape tensor `t` (input of `op`)."""
    _allowed(t.dtype, _SHAPE_TYPES, op.type, "shape")
    if t.shape.ndims not in (None, 1):
        raise _rank_error(op, t, 1)
    v = constant_value(t)
    if v is not None and np.any(np.asarray(v) < 0):
        raise ValueError(f"Shape {np.asarray(v).tolist()} of '{op.name}' (op: '{op.type}') has a "
                         "negative dimension; every dimension must be >= 0.")
    return constant_value_as_shape(t)


def _check_scalar(op, t) -> None:
    if t.shape.ndims not in (None, 0):
        raise _rank_error(op, t, 0)


def _float_from_shape(op):
    dtype = op.get_attr("dtype")
    _allowed(dtype, _FLOAT_TYPES, op.type, "dtype")
    return [(dtype, _output_shape(op, op.inputs[0]))]


for _t in ("RandomStandardNormal", "RandomUniform", "TruncatedNormal"):
    register_op(_t, stateful=True, required_attrs=("dtype",))(_float_from_shape)


@register_op("RandomUniformInt", stateful=True)
def _uniform_int_shape(op):
    shape, lo, hi = op.inputs
    _allowed(lo.dtype, _SHAPE_TYPES, op.type, "minval")
    if hi.dtype is not lo.dtype:
        raise TypeError(f"Input 'maxval' of 'RandomUniformInt' Op has type {hi.dtype.name} that "
                        f"does not match type {lo.dtype.name} of argument 'minval'.")
    _check_scalar(op, lo)
    _check_scalar(op, hi)
    lv, hv = constant_value(lo), constant_value(hi)
    if lv is not None and hv is not None and not int(lv) < int(hv):
        raise ValueError(f"Need minval < maxval: {int(lv)} >= {int(hv)} for '{op.name}' "
                         "(op: 'RandomUniformInt')")
    return [(lo.dtype, _output_shape(op, shape))]


@register_op("RandomShuffle", stateful=True)
def _shuffle_shape(op):
    x = op.inputs[0]
    return [(x.dtype, x.shape)]


def _multinomial_out(op, logits, num_samples):
    _allowed(logits.dtype, _FLOAT_TYPES, op.type, "logits")
    out = op._attrs.get("output_dtype", _dtypes.int64)
    _allowed(out, _SHAPE_TYPES, op.type, "output_dtype")
    if logits.shape.ndims not in (None, 2):
        raise ValueError(f"logits should be a matrix, got shape {fmt_shape(logits.shape)} for "
                         f"'{op.name}' (op: '{op.type}')")
    _allowed(num_samples.dtype, (_dtypes.int32,), op.type, "num_samples")
    _check_scalar(op, num_samples)
    n = constant_value(num_samples)
    if n is not None and int(n) < 0:
        raise ValueError(f"num_samples should be nonnegative, got {int(n)} for '{op.name}'")
    batch = logits.shape[0] if logits.shape.ndims == 2 else None
    return [(out, TensorShape([batch, None if n is None else int(n)]))]


@register_op("Multinomial", stateful=True)
def _multinomial_shape(op):
    return _multinomial_out(op, op.inputs[0], op.inputs[1])


@register_op("RandomOrthogonal", stateful=True, required_attrs=("num_rows", "num_cols", "dtype"))
def _orthogonal_shape(op):
    """A [num_rows, num_cols] matrix with orthonormal columns (rows when wider than tall): the
    sign-corrected Q of the QR factorisation of a standard normal matrix (Haar distributed)."""
    dtype = op.get_attr("dtype")
    _allowed(dtype, _FLOAT_TYPES, op.type, "dtype")
    rows, cols = int(op.get_attr("num_rows")), int(op.get_attr("num_cols"))
    if rows < 0 or cols < 0:
        raise ValueError(f"RandomOrthogonal '{op.name}' needs non-negative sizes, got "
                         f"{rows}x{cols}")
    return [(dtype, TensorShape([rows, cols]))]


@register_op("RandomGamma", stateful=True)
def _gamma_shape(op):
    shape, alpha = op.inputs
    _allowed(alpha.dtype, _FLOAT_TYPES, op.type, "alpha")
    return [(alpha.dtype, _output_shape(op, shape).concatenate(alpha.shape))]


@register_op("RandomPoissonV2", stateful=True)
def _poisson_shape(op):
    shape, rate = op.inputs
    _allowed(rate.dtype, _UNIFORM_TYPES, op.type, "rate")
    dtype = op.get_attr("dtype")
    _allowed(dtype, _UNIFORM_TYPES, op.type, "dtype")
    return [(dtype, _output_shape(op, shape).concatenate(rate.shape))]


def _check_seed(op, seed) -> None:
    _allowed(seed.dtype, _SHAPE_TYPES, op.type, "seed")
    if seed.shape.ndims is not None and seed.shape.as_list() not in ([2], [None]):
        raise ValueError(f"seed must have shape [2], not {fmt_shape(seed.shape)} for "
                         f"'{op.name}' (op: '{op.type}')")


def _stateless_float(op):
    _check_seed(op, op.inputs[1])
    return _float_from_shape(op)


for _t in ("StatelessRandomNormal", "StatelessRandomUniform", "StatelessTruncatedNormal"):
    register_op(_t, required_attrs=("dtype",))(_stateless_float)


@register_op("StatelessRandomUniformInt")
def _stateless_int_shape(op):
    shape, seed, lo, hi = op.inputs
    _check_seed(op, seed)
    dtype = op.get_attr("dtype")
    _allowed(dtype, _SHAPE_TYPES, op.type, "dtype")
    for t in (lo, hi):
        if t.dtype is not dtype:
            raise TypeError(f"minval and maxval of '{op.name}' must have dtype {dtype.name}, got "
                            f"{t.dtype.name}")
        _check_scalar(op, t)
    return [(dtype, _output_shape(op, shape))]


@register_op("StatelessMultinomial")
def _stateless_multinomial_shape(op):
    _check_seed(op, op.inputs[2])
    return _multinomial_out(op, op.inputs[0], op.inputs[1])


# ----------------------------------------------------------------------------------------------
# wrappers
# ----------------------------------------------------------------------------------------------
def _shape_tensor(shape) -> Tensor:
    """TF1 `tensor_util.shape_tensor`: a 1-D int tensor named `shape` for a shape argument."""
    dtype = None
    if isinstance(shape, TensorShape):
        if not shape.is_fully_defined():
            raise ValueError(f"Cannot build a random tensor of partially known shape {shape}")
        shape = shape.as_list()
    if isinstance(shape, (tuple, list)):
        if not shape:
            dtype = _dtypes.int32
        else:
            shape = tuple(dimension_value(d) for d in shape)
    return convert_to_tensor(shape, dtype=dtype, name="shape")


def _seed_attrs(seed) -> dict:
    seed1, seed2 = get_seed(seed)
    return {"seed": seed1 or 0, "seed2": seed2 or 0}


def _check_float(dtype, op_type: str):
    dtype = _dtypes.as_dtype(dtype)
    _allowed(dtype, _FLOAT_TYPES, op_type, "dtype")
    return dtype


def _affine(rnd, scale, shift, scope):
    """`rnd * scale + shift` as TF1 names it: `<scope>/mul`, then the add named `<scope>`."""
    return math_ops.add(math_ops.multiply(rnd, scale, name="mul"), shift, name=scope)


def _uniform_args(dtype, maxval):
    """(dtype, maxval) of a uniform op, checked as TF1 does; float `maxval` defaults to 1."""
    dtype = _dtypes.as_dtype(dtype)
    if dtype not in _UNIFORM_TYPES:
        raise ValueError(f"Invalid dtype {dtype!r}")
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype!r}")
        maxval = 1
    return dtype, maxval


def _scaled(op_type, default_name, shape, mean, stddev, dtype, seed, name):
    dtype = _check_float(dtype, op_type)
    with name_scope(name, default_name, [shape, mean, stddev]) as scope:
        shape_t = _shape_tensor(shape)
        mean_t = convert_to_tensor(mean, dtype=dtype, name="mean")
        stddev_t = convert_to_tensor(stddev, dtype=dtype, name="stddev")
        attrs = {"dtype": dtype, "T": shape_t.dtype, **_seed_attrs(seed)}
        return _affine(op1(op_type, [shape_t], attrs, op_type), stddev_t, mean_t, scope)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, seed=None, name=None):
    """Values from a normal distribution (TF1 `tf.random_normal`)."""
    return _scaled("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype, seed,
                   name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, seed=None, name=None):
    """Normal values, re-drawn when more than 2 standard deviations from the mean (TF1
    `tf.truncated_normal`)."""
    return _scaled("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype, seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=_dtypes.float32, seed=None, name=None):
    """Values uniform in [minval, maxval) (TF1 `tf.random_uniform`); ints need `maxval`."""
    dtype, maxval = _uniform_args(dtype, maxval)
    with name_scope(name, "random_uniform", [shape, minval, maxval]) as scope:
        shape_t = _shape_tensor(shape)
        lo = convert_to_tensor(minval, dtype=dtype, name="min")
        hi = convert_to_tensor(maxval, dtype=dtype, name="max")
        seeds = _seed_attrs(seed)
        if dtype.is_integer:
            return op1("RandomUniformInt", [shape_t, lo, hi],
                       {"Tout": dtype, "T": shape_t.dtype, **seeds}, scope)
        rnd = op1("RandomUniform", [shape_t], {"dtype": dtype, "T": shape_t.dtype, **seeds},
                  "RandomUniform")
        return _affine(rnd, math_ops.subtract(hi, lo, name="sub"), lo, scope)


def random_shuffle(value, seed=None, name=None):
    """`value` with its first dimension randomly permuted (TF1 `tf.random_shuffle`)."""
    seeds = _seed_attrs(seed)  # drawn before a Python `value` becomes the Const <name>/value
    with name_scope(name or "RandomShuffle") as scope:
        x = convert_to_tensor(value, name="value")
        return op1("RandomShuffle", [x], {"T": x.dtype, **seeds}, scope)


def _multinomial(logits, num_samples, output_dtype, seed):
    logits = convert_to_tensor(logits, name="logits")
    out = _dtypes.int64 if output_dtype is None else _dtypes.as_dtype(output_dtype)
    seeds = _seed_attrs(seed)
    with name_scope("Multinomial") as scope:
        num_samples = convert_to_tensor(num_samples, dtype=_dtypes.int32, name="num_samples")
        return op1("Multinomial", [logits, num_samples],
                   {"T": logits.dtype, "output_dtype": out, **seeds}, scope)


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=None):
    """`num_samples` class indices per row of `logits` [batch, classes], drawn with probabilities
    softmax(logits) (TF1 `tf.multinomial`); int64 unless `output_dtype` says otherwise."""
    with name_scope(name, "multinomial", [logits]):
        return _multinomial(logits, num_samples, output_dtype, seed)


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """`tw.random.categorical`: `multinomial` with TF2 argument order."""
    with name_scope(name, "categorical", [logits]):
        return _multinomial(logits, num_samples, dtype, seed)


def random_gamma(shape, alpha, beta=None, dtype=_dtypes.float32, seed=None, name=None):
    """Gamma(alpha, beta) samples of shape `shape + broadcast(alpha, beta).shape` (TF1
    `tf.random_gamma`; `beta` is the inverse scale)."""
    dtype = _check_float(dtype, "RandomGamma")
    with name_scope(name, "random_gamma", [shape, alpha, beta]):
        shape_t = convert_to_tensor(shape, name="shape", dtype=_dtypes.int32)
        alpha = convert_to_tensor(alpha, name="alpha", dtype=dtype)
        beta = convert_to_tensor(beta if beta is not None else 1, name="beta", dtype=dtype)
        alpha_b = _broadcast_like(alpha, beta)
        sample = op1("RandomGamma", [shape_t, alpha_b],
                     {"S": shape_t.dtype, "T": dtype, **_seed_attrs(seed)}, "RandomGamma")
        return math_ops.truediv(sample, beta)


def random_orthogonal(num_rows: int, num_cols: int, dtype=_dtypes.float32, seed=None,
                      name=None) -> Tensor:
    """A random [num_rows, num_cols] matrix with orthonormal columns (or rows, when
    num_rows < num_cols), uniformly distributed (used by `orthogonal_initializer`)."""
    dtype = _check_float(dtype, "RandomOrthogonal")
    return op1("RandomOrthogonal", [], {"num_rows": int(num_rows), "num_cols": int(num_cols),
                                        "dtype": dtype, **_seed_attrs(seed)},
               name or "RandomOrthogonal")


def _broadcast_like(alpha, beta):
    """`alpha` broadcast to the common shape of `alpha` and `beta` (static shapes only)."""
    if alpha.shape.ndims is None or beta.shape.ndims is None:
        raise ValueError("random_gamma needs alpha and beta of known rank")
    target = broadcast_static(alpha.shape, beta.shape)
    if target == alpha.shape:
        return alpha
    if not target.is_fully_defined():
        raise ValueError(f"random_gamma cannot broadcast alpha {alpha.shape} to {target}")
    return broadcast_to(alpha, target.as_list())


def random_poisson(lam, shape, dtype=_dtypes.float32, seed=None, name=None):
    """Poisson(lam) samples of shape `shape + lam.shape` (TF1 `tf.random_poisson`)."""
    dtype = _dtypes.as_dtype(dtype)
    with name_scope(name, "random_poisson", [lam, shape]):
        shape_t = convert_to_tensor(shape, name="shape", dtype=_dtypes.int32)
        lam = convert_to_tensor(lam, name="lam", dtype_hint=_dtypes.float32)
        return op1("RandomPoissonV2", [shape_t, lam],
                   {"S": shape_t.dtype, "R": lam.dtype, "dtype": dtype, **_seed_attrs(seed)},
                   "RandomPoissonV2")


# ----------------------------------------------------------------------------------------------
# stateless: the same seed tensor gives the same values, in any session
# ----------------------------------------------------------------------------------------------
def _seed_tensor(seed) -> Tensor:
    return convert_to_tensor(seed, dtype_hint=_dtypes.int64, name="seed")


def _stateless_scaled(op_type, default_name, shape, seed, mean, stddev, dtype, name):
    dtype = _check_float(dtype, op_type)
    with name_scope(name, default_name, [shape, seed, mean, stddev]) as scope:
        shape_t = _shape_tensor(shape)
        seed_t = _seed_tensor(seed)
        mean_t = convert_to_tensor(mean, dtype=dtype, name="mean")
        stddev_t = convert_to_tensor(stddev, dtype=dtype, name="stddev")
        rnd = op1(op_type, [shape_t, seed_t],
                  {"dtype": dtype, "T": shape_t.dtype, "Tseed": seed_t.dtype}, op_type)
        return _affine(rnd, stddev_t, mean_t, scope)


def stateless_random_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dtypes.float32,
                            name=None):
    """Normal values determined by the shape-[2] int `seed` (`tw.random.stateless_normal`)."""
    return _stateless_scaled("StatelessRandomNormal", "stateless_random_normal", shape, seed,
                             mean, stddev, dtype, name)


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dtypes.float32,
                               name=None):
    """Truncated normal values determined by the shape-[2] int `seed`."""
    return _stateless_scaled("StatelessTruncatedNormal", "stateless_truncated_normal", shape,
                             seed, mean, stddev, dtype, name)


def stateless_random_uniform(shape, seed, minval=0, maxval=None, dtype=_dtypes.float32,
                             name=None):
    """Uniform values in [minval, maxval) determined by the shape-[2] int `seed`."""
    dtype, maxval = _uniform_args(dtype, maxval)
    with name_scope(name, "stateless_random_uniform", [shape, seed, minval, maxval]) as scope:
        shape_t = _shape_tensor(shape)
        seed_t = _seed_tensor(seed)
        lo = convert_to_tensor(minval, dtype=dtype, name="min")
        hi = convert_to_tensor(maxval, dtype=dtype, name="max")
        if dtype.is_integer:
            return op1("StatelessRandomUniformInt", [shape_t, seed_t, lo, hi],
                       {"dtype": dtype, "T": shape_t.dtype, "Tseed": seed_t.dtype}, scope)
        rnd = op1("StatelessRandomUniform", [shape_t, seed_t],
                  {"dtype": dtype, "T": shape_t.dtype, "Tseed": seed_t.dtype},
                  "StatelessRandomUniform")
        return _affine(rnd, math_ops.subtract(hi, lo, name="sub"), lo, scope)


def stateless_multinomial(logits, num_samples, seed, output_dtype=_dtypes.int64, name=None):
    """`multinomial` determined by the shape-[2] int `seed`."""
    with name_scope(name, "stateless_multinomial", [logits, seed]):
        logits = convert_to_tensor(logits, name="logits")
        num_samples = convert_to_tensor(num_samples, dtype=_dtypes.int32, name="num_samples")
        seed_t = _seed_tensor(seed)
        return op1("StatelessMultinomial", [logits, num_samples, seed_t],
                   {"T": logits.dtype, "Tseed": seed_t.dtype,
                    "output_dtype": _dtypes.as_dtype(output_dtype)}, "StatelessMultinomial")


def stateless_categorical(logits, num_samples, seed, dtype=_dtypes.int64, name=None):
    """`tw.random.stateless_categorical`: `stateless_multinomial` with TF2 argument names."""
    return stateless_multinomial(logits, num_samples, seed, output_dtype=dtype,
                                 name=name or "stateless_categorical")
