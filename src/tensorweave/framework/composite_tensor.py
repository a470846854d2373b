"""`CompositeTensor`: a value made of three graph tensors -- `values`, `indices`, `dense_shape` --
that stands for one dense tensor (the base of `IndexedSlices` and `SparseTensor`).

It is not a graph node: its `op`, `dtype`, `name`, `device` and `graph` are those of `values`.
"""
from __future__ import annotations

__all__ = ["CompositeTensor"]


class CompositeTensor:
    """The parts and the graph-facing properties shared by composite tensors."""

    def __init__(self, values, indices, dense_shape):
        self._values = values
        self._indices = indices
        self._dense_shape = dense_shape

    @property
    def values(self):
        return self._values

    @property
    def indices(self):
        return self._indices

    @property
    def dense_shape(self):
        return self._dense_shape

    @property
    def op(self):
        """The op producing `values` (as in TF1)."""
        return self._values.op

    @property
    def name(self) -> str:
        return self._values.name

    @property
    def device(self) -> str:
        return self._values.device

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def graph(self):
        return self._values.graph

    def get_shape(self):
        return self.shape
