"""Slicing: `slice` (a block: begin and size), `strided_slice` (python slicing with its masks) and
its gradient op, and `Tensor.__getitem__` (ints, slices, `...`, `tw.newaxis`, scalar int tensors;
a bool index is `boolean_mask`), all through `Slice` / `StridedSlice` nodes as in TF1.

The geometry of a strided slice (`strided_slice_spec`) lives in `framework/slicing.py`, shared
with the kernels; `slice_of_shape` reads `tw.shape(x)[i]` at build time where x's static shape
fixes it (used by the constant-folding pass, `compiler/constant_folding.py`).

Kernels: `tensorweave/kernels/cpu/array.py`; gradients: `tensorweave/autodiff/array_grad.py`.
"""
from __future__ import annotations

import builtins
import numbers
import sys

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value_as_shape, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.op_registry import register_op
from ..framework.slicing import SS_MASKS, strided_slice_spec
from ..framework.tensor_shape import Dimension, TensorShape, as_shape
from .array_ops import ones_like, stack
from .constant_op import constant
from .mask_ops import boolean_mask
from .math_ops import cast
from .op_util import (
    INDEX_TYPES,
    check_index_input,
    check_input_rank,
    const_ints,
    fmt_shape,
    index_input,
    is_tensor_like,
    op1,
    shape_error,
)

__all__ = ["slice", "strided_slice", "newaxis"]

#: `t[:, tw.newaxis]` inserts an axis of size 1 (TF1 `tf.newaxis`).
newaxis = None


# ----------------------------------------------------------------------------------------------
# slice
# ----------------------------------------------------------------------------------------------
@register_op("Slice", may_alias=True)
def _slice_shape(op):
    x, begin, size_ = op.inputs
    check_index_input(op, begin, "begin")
    check_index_input(op, size_, "size")
    if begin.dtype is not size_.dtype:
        raise TypeError(f"Input 'size' of '{op.name}' (Slice) has type {size_.dtype.name} that "
                        f"does not match type {begin.dtype.name} of argument 'begin'.")
    check_input_rank(op, begin, 1, "begin")
    check_input_rank(op, size_, 1, "size")
    r = x.shape.ndims
    for t in (begin, size_):
        n = t.shape[0].value if t.shape.ndims == 1 else None
        if r is not None and n is not None and n != r:
            shape_error(op, f"Expected begin and size arguments to be 1-D tensors of size {r}, but "
                            f"got shapes {fmt_shape(begin.shape)} and {fmt_shape(size_.shape)} "
                            "instead")
        if r is None and n is not None:
            r = n
    if r is None:
        return [(x.dtype, TensorShape(None))]
    dims = x.shape.as_list() if x.shape.ndims is not None else [None] * r
    bv, sv = const_ints(begin), const_ints(size_)
    sizes = sv if sv is not None else constant_value_as_shape(size_).as_list() \
        if constant_value_as_shape(size_).ndims == r else [None] * r
    out = []
    for i in range(r):
        d, s = dims[i], sizes[i]
        b = bv[i] if bv is not None else None
        if b is not None and d is not None and not 0 <= b <= d:
            shape_error(op, f"Expected begin[{i}] in [0, {d}], but got {b}")
        if s is not None and s != -1 and b is not None and d is not None and \
                not 0 <= s <= d - b:
            shape_error(op, f"Expected size[{i}] in [0, {d - b}], but got {s}")
        if s is not None and s < -1:
            shape_error(op, f"Expected size[{i}] to be -1 or non-negative, but got {s}")
        if s == -1:
            out.append(None if d is None or b is None else d - b)
        else:
            out.append(s)
    return [(x.dtype, TensorShape(out))]


def slice(input_, begin, size, name=None):  # noqa: A001 - TF1 name
    """TF1 `tf.slice`: the block of `input_` starting at `begin` with `size` (-1: to the end)."""
    with name_scope(name, "Slice", [input_]) as scope:
        x = convert_to_tensor(input_, name="input")
        b = index_input(begin, "begin")
        s = index_input(size, "size", dtype=b.dtype if not is_tensor_like(size) else None)
        return op1("Slice", [x, b, s], {"T": x.dtype, "Index": b.dtype}, scope)


# ----------------------------------------------------------------------------------------------
# strided_slice and Tensor.__getitem__
# ----------------------------------------------------------------------------------------------
def strided_slice_shape(items, dense) -> list:
    """The output dimensions for a `strided_slice_spec` result."""
    return [1 if i is None else dense[i][4] for i in items if i is None or not dense[i][3]]


def _masks(op) -> list:
    return [int(op._attrs.get(m, 0)) for m in SS_MASKS]


@register_op("StridedSlice", may_alias=True)
def _strided_slice_shape(op):
    x, b, e, s = op.inputs
    for t, nm in ((b, "begin"), (e, "end"), (s, "strides")):
        check_index_input(op, t, nm)
        check_input_rank(op, t, 1, nm)
        if t.dtype is not b.dtype:
            raise TypeError(f"Input '{nm}' of '{op.name}' (StridedSlice) has type "
                            f"{t.dtype.name} that does not match type {b.dtype.name} of "
                            "argument 'begin'.")
    sv = const_ints(s)
    if x.shape.ndims is None or sv is None:
        return [(x.dtype, TensorShape(None))]
    try:
        items, dense = strided_slice_spec(x.shape.as_list(), const_ints(b), const_ints(e), sv,
                                        *_masks(op))
    except ValueError as err:
        shape_error(op, str(err))
    return [(x.dtype, TensorShape(strided_slice_shape(items, dense)))]


@register_op("StridedSliceGrad")
def _strided_slice_grad_shape(op):
    shp, b, e, s, dy = op.inputs
    return [(dy.dtype, constant_value_as_shape(shp))]


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """TF1 `tf.strided_slice` (python slicing `input_[begin:end:strides]`, with the masks)."""
    if var is not None:
        raise NotImplementedError("strided_slice(var=...) (sliced assignment) is not supported")
    with name_scope(name, "StridedSlice", [input_]) as scope:
        x = convert_to_tensor(input_, name="input")
        b = index_input(begin, "begin")
        e = index_input(end, "end", dtype=None if is_tensor_like(end) else b.dtype)
        if strides is None:
            n = b.shape[0].value if b.shape.ndims == 1 else None
            strides = ones_like(b) if n is None else np.ones(n, dtype=b.dtype.np)
        s = index_input(strides, "strides", dtype=None if is_tensor_like(strides) else b.dtype)
        attrs = {"T": x.dtype, "Index": b.dtype}
        for m, v in zip(SS_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                                   shrink_axis_mask)):
            attrs[m] = int(v)
        return op1("StridedSlice", [x, b, e, s], attrs, scope)


def strided_slice_grad(shape, begin, end, strides, dy, begin_mask=0, end_mask=0,  # noqa: A002
                       ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, name=None):
    """The gradient of `strided_slice`: `dy` placed into zeros of `shape` (StridedSliceGrad)."""
    attrs = {"T": dy.dtype, "Index": begin.dtype}
    for m, v in zip(SS_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                               shrink_axis_mask)):
        attrs[m] = int(v)
    return op1("StridedSliceGrad", [shape, begin, end, strides, dy], attrs,
               name or "StridedSliceGrad")


_SLICE_TYPE_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tw.newaxis (`None`) and "
                     "scalar tw.int32/tw.int64 tensors are valid indices")


def _check_index(idx) -> None:
    if isinstance(idx, (numbers.Integral, Dimension)):
        return
    dtype = getattr(idx, "dtype", None)
    if dtype is None:
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")
    try:
        ok = _dtypes.as_dtype(dtype) in INDEX_TYPES
    except TypeError:
        ok = False
    shp = getattr(idx, "shape", None)
    if not ok or (shp is not None and len(as_shape(shp).dims or ()) == 1):
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")


def _slice_value(x):
    return int(x) if isinstance(x, Dimension) else x


def _slice_helper(tensor, slice_spec, var=None):
    """TF1 `Tensor.__getitem__`: ints, slices, `...`, `tw.newaxis`, scalar int tensors; a bool
    tensor (or array) index is `boolean_mask`."""
    if isinstance(slice_spec, bool) or \
            (isinstance(slice_spec, Tensor) and slice_spec.dtype is _dtypes.bool) or \
            (isinstance(slice_spec, np.ndarray) and slice_spec.dtype == bool):
        return boolean_mask(tensor=tensor, mask=slice_spec)
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    masks = dict.fromkeys(SS_MASKS, 0)
    for index, s in enumerate(slice_spec):
        bit = 1 << index
        if isinstance(s, builtins.slice):
            for bound, out, mask in ((s.start, begin, "begin_mask"), (s.stop, end, "end_mask")):
                if bound is not None and (is_tensor_like(bound) or bound != sys.maxsize):
                    _check_index(bound)
                    out.append(_slice_value(bound))
                else:
                    out.append(0)
                    masks[mask] |= bit
            if s.step is not None:
                _check_index(s.step)
                strides.append(_slice_value(s.step))
            else:
                strides.append(1)
        elif s is Ellipsis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["ellipsis_mask"] |= bit
        elif s is newaxis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["new_axis_mask"] |= bit
        else:
            _check_index(s)
            s = _slice_value(s)
            begin.append(s)
            end.append(s + 1)
            strides.append(1)
            masks["shrink_axis_mask"] |= bit
    with name_scope(None, "strided_slice", [tensor] + begin + end + strides) as name:
        if begin:
            pb, pe, ps = stack(begin), stack(end), stack(strides)
            if _dtypes.int64 in (pb.dtype, pe.dtype, ps.dtype):
                pb, pe, ps = (cast(t, _dtypes.int64) for t in (pb, pe, ps))
        else:
            pb = pe = ps = constant([], dtype=_dtypes.int32)
        return strided_slice(tensor, pb, pe, ps, var=var, name=name, **masks)


Tensor._override_operator("__getitem__", _slice_helper)


def slice_of_shape(op):
    """The value of `tw.shape(x)[i]` / `tw.shape(x)[1:]` (op: a StridedSlice of a Shape) when
    those dimensions of x are known, else None (the shape-of-slice constant rule)."""
    dims = op.inputs[0].op.inputs[0].shape
    b, e, s = (const_ints(t) for t in op.inputs[1:])
    if dims.ndims is None or b is None or e is None or s is None:
        return None
    items, dense = strided_slice_spec([dims.ndims], b, e, s, *_masks(op))
    start, stop, step, shrink, _ = dense[0]
    picked = [dims[start].value] if shrink else \
        [dims[i].value for i in builtins.range(dims.ndims)[start:None if stop == -1 else stop:step]]
    if None in picked or None in items:
        return None
    return np.array(picked[0] if shrink else picked, dtype=op.outputs[0].dtype.np)
