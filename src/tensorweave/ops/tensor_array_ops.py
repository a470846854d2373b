"""`TensorArray` (TF1 API) over functional list ops on `variant` tensors.

List ops that keep their input arrays as elements (`SetItem`, `FromTensor`, `Scatter`, `Split`)
and reads that return a stored element are registered `may_alias`, so the executor never lets
another kernel overwrite an array that a list holds.

A TensorArray is a handle: a `variant` tensor whose value is a Python list of element arrays
(`None` for an element not written yet).  Every op returns a *new* handle (`write` returns a new
TensorArray, as TF1 requires callers to use), so TensorArrays can be loop variables of
`while_loop`.  A list op whose input list dies at that op (the executor's "donatable" inputs, e.g.
the carried list inside a loop body) updates it in place; otherwise it copies the list (shallow).

Gradients: a gradient of a list is a list of gradients, `None` where none flows; reading element
i has gradient "a list with the gradient at i", writing element i has gradient "read element i of
the output's gradient list" (zeros when absent, using the element's runtime shape).
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, apply_op, get_default_graph, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape, as_shape
from .array_ops import identity
from .constant_op import constant
from .op_util import op1

__all__ = ["TensorArray"]

_LIST = (_dtypes.variant, TensorShape([]))


def _element_shape(op):
    return op._attrs.get("element_shape", TensorShape(None))


# ----------------------------------------------------------------------------------------------
# ops
# ----------------------------------------------------------------------------------------------
@register_op("TensorListReserve")
def _reserve_shape(op):
    return [_LIST]


@register_op("TensorListFromTensor", may_alias=True)
def _from_tensor_shape(op):
    return [_LIST]


@register_op("TensorListSetItem", may_alias=True)
def _set_item_shape(op):
    item = op.inputs[2]
    if item.dtype is not op.get_attr("element_dtype"):
        raise TypeError(f"TensorArray dtype is {op.get_attr('element_dtype').name} but Op is "
                        f"trying to write dtype {item.dtype.name} ({op.name}).")
    es = _element_shape(op)
    if not es.is_compatible_with(item.shape):
        raise ValueError(f"Could not write to TensorArray: element shape {item.shape} is not "
                         f"compatible with the array's element shape {es} ({op.name}).")
    return [_LIST]


@register_op("TensorListGetItem", may_alias=True)
def _get_item_shape(op):
    return [(op.get_attr("element_dtype"), _element_shape(op))]


@register_op("TensorListStack")
def _stack_shape(op):
    es = _element_shape(op)
    return [(op.get_attr("element_dtype"), TensorShape([None]).concatenate(es))]


@register_op("TensorListLength")
def _length_shape(op):
    return [(_dtypes.int32, TensorShape([]))]


@register_op("TensorListGather")
def _gather_shape(op):
    idx = op.inputs[1]
    n = idx.shape[0] if idx.shape.ndims == 1 else None
    return [(op.get_attr("element_dtype"), TensorShape([n]).concatenate(_element_shape(op)))]


@register_op("TensorListScatter", may_alias=True)
def _scatter_shape(op):
    return [_LIST]


@register_op("TensorListConcat")
def _concat_shape(op):
    es = _element_shape(op)
    rest = es[1:] if es.ndims else TensorShape(None)
    return [(op.get_attr("element_dtype"), TensorShape([None]).concatenate(rest)),
            (_dtypes.int64, TensorShape([None]))]


@register_op("TensorListSplit", may_alias=True)
def _split_shape(op):
    return [_LIST]


@register_op("TensorListZerosLike")
def _zeros_like_shape(op):
    return [_LIST]


@register_op("TensorListAddN", may_alias=True)
def _add_n_shape(op):
    return [_LIST]


@register_op("TensorListClearItems", may_alias=True)
def _clear_shape(op):
    return [_LIST]


# ----------------------------------------------------------------------------------------------
# the TF1 class
# ----------------------------------------------------------------------------------------------
class TensorArray:
    """TF1 `tf.TensorArray`: a list of same-dtype tensors, written and read by index."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        self._dtype = _dtypes.as_dtype(dtype)
        self._dynamic_size = bool(dynamic_size)
        self._infer_shape = infer_shape
        self._element_shape = TensorShape(None) if element_shape is None else as_shape(
            element_shape)
        if handle is not None or flow is not None:
            h = handle if handle is not None else flow
            if not isinstance(h, Tensor) or h.dtype is not _dtypes.variant:
                raise TypeError("TensorArray handle must be a variant Tensor")
            self._handle = h
            self._static_size = None
            return
        if size is None:
            raise ValueError("Size must be provided when there is no handle")
        with name_scope(name or tensor_array_name, "TensorArray", []) as scope:
            size = convert_to_tensor(size, dtype=_dtypes.int32)
            cv = constant_value(size)
            self._static_size = None if cv is None or self._dynamic_size else int(cv)
            self._handle = op1("TensorListReserve", [size],
                               {"element_dtype": self._dtype,
                                "element_shape": self._element_shape}, scope)

    def _with_handle(self, handle, element_shape=None) -> TensorArray:
        ta = TensorArray.__new__(TensorArray)
        ta._dtype = self._dtype
        ta._dynamic_size = self._dynamic_size
        ta._infer_shape = self._infer_shape
        ta._element_shape = self._element_shape if element_shape is None else element_shape
        ta._static_size = self._static_size
        ta._handle = handle
        return ta

    # --- properties -----------------------------------------------------------------------------
    @property
    def handle(self) -> Tensor:
        return self._handle

    @property
    def flow(self) -> Tensor:
        return self._handle

    @property
    def dtype(self):
        return self._dtype

    @property
    def element_shape(self) -> TensorShape:
        return self._element_shape

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic_size

    def _attrs(self, shape=None):
        return {"element_dtype": self._dtype,
                "element_shape": self._element_shape if shape is None else shape,
                "dynamic_size": self._dynamic_size}

    def _merged_shape(self, shape):
        if not self._infer_shape:
            return self._element_shape
        try:
            return self._element_shape.merge_with(shape)
        except ValueError:
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected "
                             f"{self._element_shape} (and infer_shape=True)") from None

    # --- element access ---------------------------------------------------------------------------
    def write(self, index, value, name=None) -> TensorArray:
        with name_scope(name, "TensorArrayWrite", [self._handle, index, value]) as scope:
            index = convert_to_tensor(index, dtype=_dtypes.int32)
            value = _as_element(value, self._dtype)
            shape = self._merged_shape(value.shape)
            h = op1("TensorListSetItem", [self._handle, index, value], self._attrs(shape), scope)
            return self._with_handle(h, shape)

    def read(self, index, name=None) -> Tensor:
        with name_scope(name, "TensorArrayRead", [self._handle, index]) as scope:
            index = convert_to_tensor(index, dtype=_dtypes.int32)
            shape = _shape_hint(self._element_shape)
            return op1("TensorListGetItem", [self._handle, index, shape], self._attrs(), scope)

    def stack(self, name=None) -> Tensor:
        with name_scope(name, "TensorArrayStack", [self._handle]) as scope:
            t = op1("TensorListStack", [self._handle, _shape_hint(self._element_shape)],
                    self._attrs(), scope)
            if self._static_size is not None and t.shape.ndims is not None:
                t.set_shape([self._static_size] + t.shape.as_list()[1:])
            return t

    def gather(self, indices, name=None) -> Tensor:
        with name_scope(name, "TensorArrayGather", [self._handle, indices]) as scope:
            indices = convert_to_tensor(indices, dtype=_dtypes.int32)
            return op1("TensorListGather", [self._handle, indices,
                                            _shape_hint(self._element_shape)],
                       self._attrs(), scope)

    def concat(self, name=None) -> Tensor:
        with name_scope(name, "TensorArrayConcat", [self._handle]) as scope:
            return apply_op("TensorListConcat", [self._handle], self._attrs(),
                            scope).outputs[0]

    def unstack(self, value, name=None) -> TensorArray:
        with name_scope(name, "TensorArrayUnstack", [self._handle, value]) as scope:
            value = _as_element(value, self._dtype)
            shape = self._merged_shape(value.shape[1:]) if value.shape.ndims else \
                self._element_shape
            h = op1("TensorListFromTensor", [value], self._attrs(shape), scope)
            return self._with_handle(h, shape)

    def scatter(self, indices, value, name=None) -> TensorArray:
        with name_scope(name, "TensorArrayScatter", [self._handle, indices, value]) as scope:
            indices = convert_to_tensor(indices, dtype=_dtypes.int32)
            value = _as_element(value, self._dtype)
            shape = self._merged_shape(value.shape[1:]) if value.shape.ndims else \
                self._element_shape
            h = op1("TensorListScatter", [self._handle, indices, value], self._attrs(shape),
                    scope)
            return self._with_handle(h, shape)

    def split(self, value, lengths, name=None) -> TensorArray:
        with name_scope(name, "TensorArraySplit", [self._handle, value, lengths]) as scope:
            value = convert_to_tensor(value, dtype=self._dtype)
            lengths = convert_to_tensor(lengths, dtype=_dtypes.int64)
            shape = TensorShape([None]).concatenate(value.shape[1:]) if value.shape.ndims \
                else TensorShape(None)
            h = op1("TensorListSplit", [value, lengths], self._attrs(shape), scope)
            return self._with_handle(h, shape)

    def size(self, name=None) -> Tensor:
        return op1("TensorListLength", [self._handle], {}, name or "TensorArraySize")

    def identity(self) -> TensorArray:
        return self._with_handle(identity(self._handle))

    def close(self, name=None):
        # a NoOp made directly (as TF1's gen_control_flow_ops.no_op): control_flow_ops, which
        # defines `no_op`, imports this module for its TensorArray loop variables
        return get_default_graph().create_op("NoOp", [], None, name=name or "TensorArrayClose")

    def grad(self, source, flow=None, name=None):
        raise NotImplementedError("TensorArray.grad: gradients flow through tw.gradients")

    def __repr__(self):
        return f"<tw.TensorArray dtype={self._dtype.name} handle={self._handle.name}>"


def _as_element(value, dtype) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype is not dtype:
            raise TypeError(f"TensorArray dtype is {dtype.name} but Op is trying to write dtype "
                            f"{value.dtype.name}.")
        return value
    return convert_to_tensor(value, dtype=dtype)


def _shape_hint(shape: TensorShape) -> Tensor:
    """An int32 vector of the element shape (-1 for unknown dims; [-1] scalar for unknown
    rank) that list kernels use to make zeros for elements never written."""
    if shape.ndims is None:
        return constant(-1, dtype=_dtypes.int32, name="element_shape")
    return constant([-1 if d is None else d for d in shape.as_list()], dtype=_dtypes.int32,
                    shape=[shape.ndims], name="element_shape")


def zeros_like_list(handle: Tensor) -> Tensor:
    """A list of the same length with no elements (`None`s): the zero gradient of a list."""
    return op1("TensorListZerosLike", [handle], {}, "TensorListZerosLike")


def add_n_lists(handles, name=None) -> Tensor:
    """Element-wise sum of lists (`None` counts as zero)."""
    return op1("TensorListAddN", list(handles), {"N": len(handles)}, name or "TensorListAddN")


def get_item(handle, index, element_dtype, element_shape=None, shape_hint=None):
    """Element `index` of list `handle` (zeros of `shape_hint`'s shape when never written)."""
    attrs = {"element_dtype": element_dtype,
             "element_shape": element_shape if element_shape is not None else TensorShape(None)}
    if shape_hint is None:
        shape_hint = _shape_hint(attrs["element_shape"])
    return op1("TensorListGetItem", [handle, index, shape_hint], attrs, "TensorListGetItem")


def clear_items(handle, indices) -> Tensor:
    """The list with elements `indices` (a scalar or vector) set back to "never written"."""
    return op1("TensorListClearItems", [handle, indices], {}, "TensorListClearItems")
