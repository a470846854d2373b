"""`IndexedSlices`: a sparse set of rows of a dense tensor (the gradient of `gather`).

`IndexedSlices(values, indices, dense_shape)` stands for the dense tensor whose rows `indices` are
`values` (rows named twice add up) and which is zero elsewhere.  Gradients of `gather` and
`embedding_lookup` take this form so optimizers can update only the touched rows; anything that
needs a dense tensor converts it (`convert_to_tensor`, with the conversion `ops/
indexed_slices_ops.py` registers), as TF1 does.  Fetching one returns an
`IndexedSlicesValue`.
"""
from __future__ import annotations

import collections

from .composite_tensor import CompositeTensor
from .convert import constant_value_as_shape, convert_to_tensor
from .session_conversions import register_session_run_conversion_functions
from .tensor_shape import TensorShape

__all__ = ["IndexedSlices", "IndexedSlicesValue", "convert_to_tensor_or_indexed_slices"]

IndexedSlicesValue = collections.namedtuple("IndexedSlicesValue",
                                            ["values", "indices", "dense_shape"])


class IndexedSlices(CompositeTensor):
    """TF1 `tf.IndexedSlices`."""

    def __init__(self, values, indices, dense_shape=None):
        super().__init__(values, indices, dense_shape)

    @property
    def shape(self):
        if self._dense_shape is None:
            return TensorShape(None)
        return constant_value_as_shape(self._dense_shape)

    def __neg__(self):
        return IndexedSlices(-self._values, self._indices, self._dense_shape)

    def __repr__(self):
        return (f"IndexedSlices(indices={self._indices}, values={self._values}"
                + (f", dense_shape={self._dense_shape}" if self._dense_shape is not None else "")
                + ")")


def convert_to_tensor_or_indexed_slices(value, dtype=None, name=None):
    if isinstance(value, IndexedSlices):
        return value
    return convert_to_tensor(value, dtype=dtype, name=name)


def _fetch(v):
    parts = [v.values, v.indices] + ([v.dense_shape] if v.dense_shape is not None else [])
    return parts, lambda vals: IndexedSlicesValue(vals[0], vals[1],
                                                  vals[2] if len(vals) > 2 else None)


register_session_run_conversion_functions(IndexedSlices, _fetch)
