"""Segment reductions: `unsorted_segment_{sum,prod,max,min}` (any segment ids, `num_segments`
rows), `segment_{sum,prod,max,min,mean}` (sorted ids), the means `unsorted_segment_mean` /
`unsorted_segment_sqrt_n` built from them, and `bincount` (counts or summed weights per value).

Definitions (shape/dtype functions) and the TF1 wrappers; kernels live in
`tensorweave/kernels/cpu/math.py` and gradients in `tensorweave/autodiff/math_grad.py`.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from . import math_ops
from .array_ops import ones_like, reshape, shape
from .constant_op import constant
from .op_util import check_dtype, fmt_shape, op1

__all__ = ["unsorted_segment_sum", "unsorted_segment_prod", "unsorted_segment_max",
           "unsorted_segment_min", "unsorted_segment_mean", "unsorted_segment_sqrt_n",
           "segment_sum", "segment_prod", "segment_max", "segment_min", "segment_mean",
           "bincount"]

_REAL = _dtypes.FLOATING + _dtypes.INTEGER


def _segment_check(op, data, ids):
    check_dtype(data, _REAL if op.type.endswith(("Max", "Min")) else _dtypes.NUMERIC, op.type,
                "data")
    if not ids.dtype.is_integer:
        raise TypeError(f"Value passed to parameter 'segment_ids' has DataType {ids.dtype.name} "
                        "not in list of allowed values: int32, int64")


def _unsorted_segment_shape(op):
    data, ids, num = op.inputs
    _segment_check(op, data, ids)
    if not num.dtype.is_integer or num.shape.ndims not in (None, 0):
        raise ValueError(f"num_segments must be an integer scalar for '{op.name}', got "
                         f"{num.dtype.name} of shape {fmt_shape(num.shape)}")
    n = constant_value(num)
    n = None if n is None else int(n)
    if data.shape.ndims is None or ids.shape.ndims is None:
        return [(data.dtype, TensorShape(None))]
    k = ids.shape.ndims
    lead = TensorShape(data.shape.as_list()[:k])
    if data.shape.ndims < k or not lead.is_compatible_with(ids.shape):
        raise ValueError(f"segment_ids.shape = {fmt_shape(ids.shape)} does not prefix "
                         f"data.shape = {fmt_shape(data.shape)} for '{op.name}' "
                         f"(op: '{op.type}')")
    return [(data.dtype, TensorShape([n] + data.shape.as_list()[k:]))]


def _segment_shape(op):
    data, ids = op.inputs
    _segment_check(op, data, ids)
    if ids.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {ids.shape.ndims} for '{op.name}' "
                         f"(op: '{op.type}') (segment_ids)")
    if data.shape.ndims is None:
        return [(data.dtype, TensorShape(None))]
    if data.shape.ndims < 1 or not data.shape[:1].is_compatible_with(ids.shape):
        raise ValueError(f"segment_ids should be the same size as dimension 0 of input: "
                         f"{fmt_shape(ids.shape)} vs {fmt_shape(data.shape)} for '{op.name}' "
                         f"(op: '{op.type}')")
    return [(data.dtype, TensorShape([None] + data.shape.as_list()[1:]))]


for _k in ("Sum", "Prod", "Max", "Min"):
    register_op(f"UnsortedSegment{_k}")(_unsorted_segment_shape)
for _k in ("Sum", "Prod", "Max", "Min", "Mean"):
    register_op(f"Segment{_k}")(_segment_shape)


def _unsorted_segment_op(kind, doc):
    op_type = f"UnsortedSegment{kind}"

    def fn(data, segment_ids, num_segments, name=None):
        with name_scope(name, op_type, [data, segment_ids, num_segments]) as scope:
            data = convert_to_tensor(data, name="data")
            ids = convert_to_tensor(segment_ids, name="segment_ids")
            num = convert_to_tensor(num_segments, dtype_hint=_dtypes.int32, name="num_segments")
            return op1(op_type, [data, ids, num],
                       {"T": data.dtype, "Tindices": ids.dtype, "Tnumsegments": num.dtype},
                       scope)
    fn.__name__ = fn.__qualname__ = f"unsorted_segment_{kind.lower()}"
    fn.__doc__ = (f"TF1 `tf.{fn.__name__}`: out[i] = {doc} of the data[j...] with "
                  "segment_ids[j...] == i (negative ids are dropped).")
    return fn


def _segment_op(kind, doc):
    op_type = f"Segment{kind}"

    def fn(data, segment_ids, name=None):
        with name_scope(name, op_type, [data, segment_ids]) as scope:
            data = convert_to_tensor(data, name="data")
            ids = convert_to_tensor(segment_ids, name="segment_ids")
            return op1(op_type, [data, ids], {"T": data.dtype, "Tindices": ids.dtype}, scope)
    fn.__name__ = fn.__qualname__ = f"segment_{kind.lower()}"
    fn.__doc__ = (f"TF1 `tf.{fn.__name__}`: the {doc} of the rows of `data` per segment id "
                  "(ids sorted; segments without rows hold 0).")
    return fn


unsorted_segment_sum = _unsorted_segment_op("Sum", "the sum (0 when empty)")
unsorted_segment_prod = _unsorted_segment_op("Prod", "the product (1 when empty)")
unsorted_segment_max = _unsorted_segment_op("Max", "the maximum (the dtype's lowest when empty)")
unsorted_segment_min = _unsorted_segment_op("Min", "the minimum (the dtype's highest when empty)")
segment_sum = _segment_op("Sum", "sum")
segment_prod = _segment_op("Prod", "product")
segment_max = _segment_op("Max", "maximum")
segment_min = _segment_op("Min", "minimum")
segment_mean = _segment_op("Mean", "mean")


def _segment_counts(data, ids, num_segments):
    """How many ids fall in each segment (at least 1), shaped to broadcast against the sums."""
    n = unsorted_segment_sum(ones_like(ids, dtype=data.dtype), ids, num_segments)
    if data.shape.ndims is None or ids.shape.ndims is None:
        raise ValueError("unsorted_segment_mean/sqrt_n need data and segment_ids of known rank")
    n = reshape(n, [-1] + [1] * (data.shape.ndims - ids.shape.ndims))
    return math_ops.maximum(n, convert_to_tensor(1, dtype=data.dtype))


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """TF1 `tf.unsorted_segment_mean`: the segment sums divided by the segment sizes."""
    with name_scope(name, "UnsortedSegmentMean", [data, segment_ids]):
        data = convert_to_tensor(data, name="data")
        ids = convert_to_tensor(segment_ids, name="segment_ids")
        n = _segment_counts(data, ids, num_segments)
        return math_ops.realdiv(unsorted_segment_sum(data, ids, num_segments), n)


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """TF1 `tf.unsorted_segment_sqrt_n`: the segment sums divided by sqrt(segment
    sizes)."""
    with name_scope(name, "UnsortedSegmentSqrtN", [data, segment_ids]):
        data = convert_to_tensor(data, name="data")
        ids = convert_to_tensor(segment_ids, name="segment_ids")
        n = _segment_counts(data, ids, num_segments)
        return math_ops.realdiv(unsorted_segment_sum(data, ids, num_segments), math_ops.sqrt(n))


@register_op("Bincount")
def _bincount_shape(op):
    arr, size, weights = op.inputs
    check_dtype(arr, (_dtypes.int32,), "Bincount", "arr")
    check_dtype(weights, (_dtypes.int32, _dtypes.int64) + _dtypes.FLOATING, "Bincount",
                "weights")
    if size.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {size.shape.ndims} for "
                         f"'{op.name}' (op: 'Bincount') (size)")
    n = constant_value(size)
    return [(weights.dtype, TensorShape([None if n is None else int(n)]))]


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=_dtypes.int32):
    """TF1 `tf.bincount`: counts (or summed weights) of each value in the int32 `arr`;
    the length is max(arr) + 1, at least `minlength`, at most `maxlength`."""
    with name_scope(None, "bincount", [arr, weights, minlength, maxlength]):
        arr = convert_to_tensor(arr, name="arr", dtype=_dtypes.int32)
        nonempty = math_ops.greater(math_ops.reduce_prod(shape(arr)), 0)
        output_size = math_ops.multiply(math_ops.cast(nonempty, _dtypes.int32),
                                        math_ops.add(math_ops.reduce_max(arr), 1))
        if minlength is not None:
            output_size = math_ops.maximum(convert_to_tensor(minlength, name="minlength",
                                                             dtype=_dtypes.int32), output_size)
        if maxlength is not None:
            output_size = math_ops.minimum(convert_to_tensor(maxlength, name="maxlength",
                                                             dtype=_dtypes.int32), output_size)
        if weights is not None:
            weights = convert_to_tensor(weights, name="weights")
            return unsorted_segment_sum(weights, arr, output_size)
        empty = constant([], _dtypes.as_dtype(dtype))
        return op1("Bincount", [arr, output_size, empty], {"T": empty.dtype}, "Bincount")
