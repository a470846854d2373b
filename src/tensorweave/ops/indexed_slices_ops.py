"""Densifying `IndexedSlices`: `convert_to_tensor` of the gradient of `gather`.

The dense tensor is the sum of the slices' rows into a zero tensor with `dense_shape[0]` rows
(`unsorted_segment_sum`: rows named twice add up), as TF1 converts them.
"""
from __future__ import annotations

from ..framework.convert import register_tensor_conversion_function
from ..framework.indexed_slices import IndexedSlices
from . import indexing_ops, segment_ops

__all__: list = []


def _to_dense(value, dtype=None, name=None, as_ref=False):
    if value.dense_shape is None:
        raise ValueError(f"Tensor conversion requested for IndexedSlices without dense_shape: "
                         f"{value!r}")
    return segment_ops.unsorted_segment_sum(value.values, value.indices,
                                         indexing_ops.gather(value.dense_shape, 0), name=name)


register_tensor_conversion_function(IndexedSlices, _to_dense)
