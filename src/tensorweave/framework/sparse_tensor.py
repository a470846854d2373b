"""`SparseTensor`: a sparse tensor held as three dense tensors, as in TF1.

`SparseTensor(indices, values, dense_shape)` stands for the dense tensor of shape `dense_shape`
(int64 `[rank]`) that is `values[i]` (`[N]`) at `indices[i]` (int64 `[N, rank]`) and zero (or a
default value) elsewhere.  It is not a graph node: it groups three tensors, like `IndexedSlices`.
`Session.run` fetches one as a `SparseTensorValue` (a namedtuple of the three arrays) and feeds
one -- a `SparseTensorValue` or an `(indices, values, dense_shape)` tuple -- into its three
component tensors (typically the placeholders of `sparse_placeholder`).  Converting a
SparseTensor to a dense tensor is never implicit: `tw.sparse.to_dense` does it.
"""
from __future__ import annotations

import collections

from . import dtypes as _dtypes
from .composite_tensor import CompositeTensor
from .convert import constant_value_as_shape, convert_to_tensor, register_tensor_conversion_function
from .default_session import run_using_default_session
from .graph import Tensor, name_scope
from .session_conversions import register_session_run_conversion_functions
from .tensor_shape import TensorShape

__all__ = ["SparseTensor", "SparseTensorValue", "convert_to_tensor_or_sparse_tensor",
           "is_sparse"]

SparseTensorValue = collections.namedtuple("SparseTensorValue",
                                           ["indices", "values", "dense_shape"])


class SparseTensor(CompositeTensor):
    """TF1 `tf.SparseTensor(indices, values, dense_shape)`."""

    def __init__(self, indices, values, dense_shape):
        with name_scope(None, "SparseTensor", [indices, values, dense_shape]):
            indices = convert_to_tensor(indices, name="indices", dtype=_dtypes.int64)
            values = convert_to_tensor(values, name="values")
            dense_shape = convert_to_tensor(dense_shape, name="dense_shape",
                                            dtype=_dtypes.int64)
        ishape = _with_rank(indices, 2, "indices")
        vshape = _with_rank(values, 1, "values")
        sshape = _with_rank(dense_shape, 1, "dense_shape")
        if not ishape[0].is_compatible_with(vshape[0]):
            raise ValueError(f"SparseTensor: indices {indices.name} has {ishape[0]} rows but "
                             f"values {values.name} has {vshape[0]} elements; they must be "
                             "equal.")
        if not ishape[1].is_compatible_with(sshape[0]):
            raise ValueError(f"SparseTensor: indices {indices.name} has {ishape[1]} columns but "
                             f"dense_shape {dense_shape.name} has {sshape[0]} elements (the "
                             "rank); they must be equal.")
        super().__init__(values, indices, dense_shape)
        self._dense_shape_default = None  # a static shape that overrides `.shape` (placeholders)

    @classmethod
    def from_value(cls, sparse_tensor_value) -> SparseTensor:
        """A SparseTensor of constants from a `SparseTensorValue` (or a SparseTensor)."""
        if isinstance(sparse_tensor_value, SparseTensor):
            return sparse_tensor_value
        if not is_sparse(sparse_tensor_value):
            raise TypeError(f"Neither a SparseTensor nor SparseTensorValue: "
                            f"{sparse_tensor_value!r}.")
        return cls(sparse_tensor_value.indices, sparse_tensor_value.values,
                   sparse_tensor_value.dense_shape)

    @property
    def shape(self) -> TensorShape:
        """The static dense shape: the constant value of `dense_shape` where known."""
        if self._dense_shape_default is not None:
            return self._dense_shape_default
        return constant_value_as_shape(self._dense_shape)

    def consumers(self) -> list:
        seen, out = set(), []
        for t in (self._indices, self._values, self._dense_shape):
            for op in t.consumers():
                if id(op) not in seen:
                    seen.add(id(op))
                    out.append(op)
        return out

    def eval(self, feed_dict=None, session=None) -> SparseTensorValue:
        """The value in `session` (default: the default session), a `SparseTensorValue`."""
        return run_using_default_session(self, feed_dict, self.graph, session)

    def __repr__(self):
        return (f"SparseTensor(indices={self._indices}, values={self._values}, "
                f"dense_shape={self._dense_shape})")


def _with_rank(t: Tensor, rank: int, what: str) -> TensorShape:
    s = t.shape
    if s.ndims is None:
        return TensorShape([None] * rank)
    if s.ndims != rank:
        raise ValueError(f"SparseTensor {what} must have rank {rank}, but {t.name} has shape "
                         f"{s}.")
    return s


def is_sparse(x) -> bool:
    """True for a SparseTensor or a SparseTensorValue."""
    return isinstance(x, (SparseTensor, SparseTensorValue))


def convert_to_tensor_or_sparse_tensor(value, dtype=None, name=None):
    """A SparseTensor for a SparseTensor(Value), else `convert_to_tensor(value)`."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype)
    if isinstance(value, SparseTensorValue):
        value = SparseTensor.from_value(value)
    if isinstance(value, SparseTensor):
        if dtype is not None and value.dtype is not dtype:
            raise ValueError(f"Sparse dtype: requested = {dtype.name}, actual = "
                             f"{value.dtype.name}")
        return value
    return convert_to_tensor(value, dtype=dtype, name=name)


def _no_implicit_densify(value, dtype=None, name=None, as_ref=False):
    raise TypeError(f"Failed to convert object of type {type(value).__name__} to Tensor: a "
                    "SparseTensor is not converted to a dense tensor implicitly. Use "
                    "tw.sparse.to_dense(sp_input) (or an op taking a SparseTensor).")


register_tensor_conversion_function(SparseTensor, _no_implicit_densify)


# ----------------------------------------------------------------------------------------------
# Session.run: fetch as SparseTensorValue, feed from a SparseTensorValue or a 3-tuple
# ----------------------------------------------------------------------------------------------
def _fetch(st: SparseTensor):
    return [st.indices, st.values, st.dense_shape], lambda vals: SparseTensorValue(*vals)


def _feed(st: SparseTensor, value) -> list:
    if isinstance(value, SparseTensor):
        raise TypeError(f"The value fed for SparseTensor with values {st.values.name!r} cannot "
                        "be a tw.SparseTensor; feed a tw.SparseTensorValue or an "
                        "(indices, values, dense_shape) tuple of arrays.")
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise TypeError(f"The value fed for SparseTensor with values {st.values.name!r} must be "
                        "a tw.SparseTensorValue or an (indices, values, dense_shape) tuple, got "
                        f"{type(value).__name__}.")
    return list(zip((st.indices, st.values, st.dense_shape), value))


register_session_run_conversion_functions(SparseTensor, _fetch, _feed)
