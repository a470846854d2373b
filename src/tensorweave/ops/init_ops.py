"""Initializers (TF1 `tf.initializers`): objects that build the initial value of a variable.

`init(shape, dtype=None, partition_info=None)` returns a tensor of that shape, built from ordinary
ops (`random_uniform`, `zeros`, `constant`, ...), so `get_variable('w', [3, 4])` creates the same
`w/Initializer/random_uniform/...` nodes as TF1.  `get_config()` / `from_config()` round-trip the
constructor arguments.  Defaults and numbers follow TF1's `init_ops` (v1 classes): e.g.
`variance_scaling_initializer`'s 'normal' is a truncated normal whose stddev is divided by
0.87962566103423978 (the stddev of a unit normal truncated to [-2, 2]), and fans are computed
for conv kernels as receptive field size times channels.

`orthogonal_initializer` draws its matrix with one `RandomOrthogonal` op (the QR of a normal
matrix with TF1's sign correction, computed by the kernel) instead of TF1's Qr/DiagPart/Sign
subgraph; the distribution is the same.
"""
from __future__ import annotations

import math

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor
from ..framework.tensor_shape import TensorShape, dimension_value
from . import array_ops, math_ops, random_ops
from .constant_op import constant

__all__ = ["Initializer", "zeros_initializer", "ones_initializer", "constant_initializer",
           "random_uniform_initializer", "random_normal_initializer",
           "truncated_normal_initializer", "uniform_unit_scaling_initializer",
           "variance_scaling_initializer", "glorot_uniform_initializer",
           "glorot_normal_initializer", "orthogonal_initializer"]


def _assert_float_dtype(dtype):
    dtype = _dtypes.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(f"Expected floating point type, got {dtype}.")
    return dtype


def _dims(shape) -> list:
    """A shape argument (list, tuple, TensorShape) as a list of Python ints."""
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    dims = [dimension_value(d) for d in shape]
    if any(d is None for d in dims):
        raise ValueError(f"An initializer needs a fully defined shape, got {shape}")
    return [int(d) for d in dims]


def _shape_arg(shape):
    """A shape for an op that accepts a shape tensor: a Tensor stays one, else a list of ints."""
    return shape if isinstance(shape, Tensor) else _dims(shape)


def _scale_shape(shape, partition_info) -> list:
    """The shape that sets the scale: the full variable's for a partition, else `shape`."""
    return _dims(shape if partition_info is None else partition_info.full_shape)


def _compute_fans(shape) -> tuple:
    """(fan_in, fan_out) as in TF1: for rank > 2 the receptive field multiplies the channels."""
    if len(shape) < 1:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive = int(np.prod(shape[:-2]))
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    return int(fan_in), int(fan_out)


class Initializer:
    """Base class: `__call__(shape, dtype=None, partition_info=None)` builds the initial value."""

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _dtype(self, dtype):
        return self.dtype if dtype is None else _dtypes.as_dtype(dtype)


class _Fill(Initializer):
    _fill = None  # array_ops.zeros or array_ops.ones

    def __init__(self, dtype=_dtypes.float32):
        self.dtype = _dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return type(self)._fill(_shape_arg(shape), self._dtype(dtype))

    def get_config(self) -> dict:
        return {"dtype": self.dtype.name}


class Zeros(_Fill):
    """All zeros (`tw.zeros_initializer`)."""

    _fill = staticmethod(array_ops.zeros)


class Ones(_Fill):
    """All ones (`tw.ones_initializer`)."""

    _fill = staticmethod(array_ops.ones)


class Constant(Initializer):
    """A constant: a scalar fills the shape, a list/array is reshaped, a shorter list is padded
    with its last element (TF1 `tf.constant` rules; `verify_shape` demands the exact shape)."""

    def __init__(self, value=0, dtype=_dtypes.float32, verify_shape=False):
        if not (np.isscalar(value) or isinstance(value, (list, tuple, np.ndarray))):
            raise TypeError(f"Invalid type for initial value: {type(value)} (expected Python "
                            "scalar, list or tuple of values, or numpy.ndarray).")
        self.value = value
        self.dtype = _dtypes.as_dtype(dtype)
        self._verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        if verify_shape is None:
            verify_shape = self._verify_shape
        return constant(self.value, dtype=self._dtype(dtype), shape=_dims(shape),
                        verify_shape=verify_shape)

    def get_config(self) -> dict:
        return {"value": self.value, "dtype": self.dtype.name}


class RandomUniform(Initializer):
    """Uniform in [minval, maxval) (`maxval` defaults to 1 for floats)."""

    def __init__(self, minval=0, maxval=None, seed=None, dtype=_dtypes.float32):
        self.minval = minval
        self.maxval = maxval
        self.seed = seed
        self.dtype = _dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_uniform(_shape_arg(shape), self.minval, self.maxval,
                                         self._dtype(dtype), seed=self.seed)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed,
                "dtype": self.dtype.name}


class _Normal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=_dtypes.float32):
        self.mean = mean
        self.stddev = stddev
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed,
                "dtype": self.dtype.name}


class RandomNormal(_Normal):
    """Normal(mean, stddev)."""

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.random_normal(_shape_arg(shape), self.mean, self.stddev,
                                        self._dtype(dtype), seed=self.seed)


class TruncatedNormal(_Normal):
    """Normal(mean, stddev) re-drawn beyond two standard deviations."""

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_ops.truncated_normal(_shape_arg(shape), self.mean, self.stddev,
                                           self._dtype(dtype), seed=self.seed)


class UniformUnitScaling(Initializer):
    """Uniform in ±factor·sqrt(3 / input_size), input size = product of all but the last dim
    (deprecated in TF1 in favour of `variance_scaling_initializer`)."""

    def __init__(self, factor=1.0, seed=None, dtype=_dtypes.float32):
        self.factor = factor
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        input_size = 1.0
        for d in _scale_shape(shape, partition_info)[:-1]:
            input_size *= float(d)
        max_val = math.sqrt(3 / max(input_size, 1.0)) * self.factor
        return random_ops.random_uniform(_dims(shape), -max_val, max_val, self._dtype(dtype),
                                         seed=self.seed)

    def get_config(self) -> dict:
        return {"factor": self.factor, "seed": self.seed, "dtype": self.dtype.name}


class VarianceScaling(Initializer):
    """Variance `scale / n`, n = fan_in, fan_out or their mean (`mode`); `distribution`:
    'truncated_normal' (TF1 'normal' too), 'untruncated_normal' or 'uniform'."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=_dtypes.float32):
        if scale <= 0.0:
            raise ValueError("`scale` must be positive float.")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(f"Invalid `mode` argument: {mode}")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(f"Invalid `distribution` argument: {distribution}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self._dtype(dtype)
        fan_in, fan_out = _compute_fans(_scale_shape(shape, partition_info))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        dims = _dims(shape)
        if self.distribution in ("normal", "truncated_normal"):
            # 0.879... = stddev of a unit normal truncated to [-2, 2]
            stddev = math.sqrt(scale) / 0.87962566103423978
            return random_ops.truncated_normal(dims, 0.0, stddev, dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(dims, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_ops.random_uniform(dims, -limit, limit, dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "dtype": self.dtype.name}


class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: ±sqrt(6 / (fan_in + fan_out)) (the `get_variable` default)."""

    def __init__(self, seed=None, dtype=_dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed,
                         dtype=dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "dtype": self.dtype.name}


class GlorotNormal(VarianceScaling):
    """Glorot/Xavier normal: truncated normal, stddev sqrt(2 / (fan_in + fan_out)) corrected."""

    def __init__(self, seed=None, dtype=_dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="truncated_normal", seed=seed,
                         dtype=dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "dtype": self.dtype.name}


class Orthogonal(Initializer):
    """A (gain-scaled) random orthogonal matrix; shapes of rank > 2 are flattened to
    [prod(shape[:-1]), shape[-1]] first, as in TF1."""

    def __init__(self, gain=1.0, seed=None, dtype=_dtypes.float32):
        self.gain = gain
        self.seed = seed
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self._dtype(dtype)
        dims = _dims(shape)
        if len(dims) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional")
        num_rows = int(np.prod(dims[:-1]))
        num_cols = dims[-1]
        q = random_ops.random_orthogonal(num_rows, num_cols, dtype, seed=self.seed)
        gain = convert_to_tensor(self.gain, dtype=dtype)
        return math_ops.multiply(gain, array_ops.reshape(q, dims), name="mul")

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed, "dtype": self.dtype.name}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0, dtype=_dtypes.float32):
        self.gain = gain
        self.dtype = _assert_float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        full = _scale_shape(shape, partition_info)
        if len(full) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices.")
        dtype = self._dtype(dtype)
        eye = np.eye(*full)
        if partition_info is not None:
            offset = list(partition_info.var_offset)
            dims = _dims(shape)
            eye = eye[offset[0]:offset[0] + dims[0], offset[1]:offset[1] + dims[1]]
        init = constant(eye, dtype=dtype, name="eye")
        return math_ops.multiply(convert_to_tensor(self.gain, dtype=dtype), init, name="mul")

    def get_config(self) -> dict:
        return {"gain": self.gain, "dtype": self.dtype.name}


# TF1 names
zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
uniform_unit_scaling_initializer = UniformUnitScaling
variance_scaling_initializer = VarianceScaling
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal
orthogonal_initializer = Orthogonal


def lecun_normal(seed=None):
    """Truncated normal with variance 1 / fan_in."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def lecun_uniform(seed=None):
    """Uniform with variance 1 / fan_in."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


def he_normal(seed=None):
    """Truncated normal with variance 2 / fan_in."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def he_uniform(seed=None):
    """Uniform with variance 2 / fan_in."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)
