"""Masks: `boolean_mask` (the elements or slices where a bool mask is true: a reshape, `Where`
and a gather) and `sequence_mask` (`j < lengths[i]`), built from array and math ops as TF1 does.
"""
from __future__ import annotations

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import name_scope
from ..framework.tensor_shape import as_shape
from . import math_ops
from .array_ops import concat, expand_dims, rank, reshape, shape, squeeze, where
from .constant_op import constant
from .indexing_ops import gather

__all__ = ["boolean_mask", "sequence_mask"]


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """TF1 `tf.boolean_mask`: the elements (or slices along `axis`) where `mask` is true."""
    with name_scope(name, values=[tensor, mask]):
        tensor = convert_to_tensor(tensor, name="tensor")
        mask = convert_to_tensor(mask, name="mask")
        shape_mask = mask.shape
        ndims_mask = shape_mask.ndims
        shape_tensor = tensor.shape
        if ndims_mask == 0:
            raise ValueError("mask cannot be scalar.")
        if ndims_mask is None:
            raise ValueError("Number of mask dimensions must be specified, even if some "
                             "dimensions are None.  E.g. shape=[None] is ok, but shape=None "
                             "is not.")
        axis = 0 if axis is None else axis
        shape_tensor[axis:axis + ndims_mask].assert_is_compatible_with(shape_mask)
        masked = shape_tensor[axis:axis + ndims_mask]
        if masked.is_fully_defined():
            leading_size = masked.num_elements()
        else:
            leading_size = math_ops.reduce_prod(shape(tensor)[axis:axis + ndims_mask], [0])
        if shape_tensor.is_fully_defined():
            new_shape = (shape_tensor[:axis].as_list() + [leading_size]
                         + shape_tensor[axis + ndims_mask:].as_list())
        else:
            s = shape(tensor)
            new_shape = concat([s[:axis], [leading_size], s[axis + ndims_mask:]], 0)
        tensor = reshape(tensor, new_shape)
        first_dim = masked.num_elements()
        tensor.set_shape(as_shape(shape_tensor[:axis]).concatenate([first_dim])
                         .concatenate(shape_tensor[axis + ndims_mask:]))
        mask = reshape(mask, [-1])
        indices = squeeze(where(mask), axis=[1])
        return gather(tensor, indices, axis=axis)


def sequence_mask(lengths, maxlen=None, dtype=_dtypes.bool, name=None):
    """TF1 `tf.sequence_mask`: `mask[..., j] = j < lengths[...]` for j in [0, maxlen)."""
    with name_scope(name, "SequenceMask", [lengths, maxlen]):
        lengths = convert_to_tensor(lengths)
        if maxlen is None:
            maxlen = math_ops.reduce_max(lengths, _all_axes(lengths))
            maxlen = math_ops.maximum(constant(0, maxlen.dtype), maxlen)
        else:
            maxlen = convert_to_tensor(maxlen)
        if maxlen.shape.ndims is not None and maxlen.shape.ndims != 0:
            raise ValueError("maxlen must be scalar for sequence_mask")
        row_vector = math_ops.range(constant(0, maxlen.dtype), maxlen,
                                    constant(1, maxlen.dtype))
        matrix = math_ops.cast(expand_dims(lengths, -1), maxlen.dtype)
        result = math_ops.less(row_vector, matrix)
        dtype = _dtypes.as_dtype(dtype)
        return result if dtype is _dtypes.bool else math_ops.cast(result, dtype)


def _all_axes(x):
    r = x.shape.ndims
    if r is not None:
        return np.arange(r, dtype=np.int32)
    return math_ops.range(0, rank(x))
