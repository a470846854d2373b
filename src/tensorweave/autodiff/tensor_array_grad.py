"""Gradients of the list ops behind `TensorArray`: a list's gradient is a list of gradients."""
from __future__ import annotations

from ..ops import array_ops
from ..ops.op_util import op1
from ..ops.tensor_array_ops import clear_items, zeros_like_list
from .registry import NoGradient, RegisterGradient

for _t in ("TensorListReserve", "TensorListLength", "TensorListZerosLike"):
    NoGradient(_t)


def _missing_ok(op_type, inputs, attrs, name):
    """A list read that yields zeros for elements the gradient never wrote."""
    return op1(op_type, inputs, dict(attrs, allow_missing=True), name)


def _elem_attrs(op):
    return {"element_dtype": op.get_attr("element_dtype"),
            "element_shape": op._attrs.get("element_shape")}


@RegisterGradient("TensorListSetItem")
def _set_item_grad(op, dlist):
    lst, index, item = op.inputs
    ditem = _missing_ok("TensorListGetItem", [dlist, index, array_ops.shape(item)],
                        _elem_attrs(op), "TensorListGetItem")
    return clear_items(dlist, index), None, ditem


@RegisterGradient("TensorListGetItem")
def _get_item_grad(op, grad):
    lst, index, _ = op.inputs
    attrs = dict(_elem_attrs(op), dynamic_size=True)
    dlist = op1("TensorListSetItem", [zeros_like_list(lst), index, grad], attrs,
                "TensorListSetItem")
    return dlist, None, None


@RegisterGradient("TensorListStack")
def _stack_grad(op, grad):
    return op1("TensorListFromTensor", [grad], _elem_attrs(op), "TensorListFromTensor"), None


@RegisterGradient("TensorListFromTensor")
def _from_tensor_grad(op, dlist):
    t = op.inputs[0]
    hint = array_ops.shape(t)[1:]
    return _missing_ok("TensorListStack", [dlist, hint], _elem_attrs(op), "TensorListStack")


@RegisterGradient("TensorListGather")
def _gather_grad(op, grad):
    lst, indices, _ = op.inputs
    attrs = dict(_elem_attrs(op), dynamic_size=True)
    dlist = op1("TensorListScatter", [zeros_like_list(lst), indices, grad], attrs,
                "TensorListScatter")
    return dlist, None, None


@RegisterGradient("TensorListScatter")
def _scatter_grad(op, dlist):
    lst, indices, value = op.inputs
    dvalue = _missing_ok("TensorListGather", [dlist, indices, array_ops.shape(value)[1:]],
                         _elem_attrs(op), "TensorListGather")
    return clear_items(dlist, indices), None, dvalue


@RegisterGradient("TensorListConcat")
def _concat_grad(op, grad, _dlengths):
    lengths = op.outputs[1]
    return op1("TensorListSplit", [grad, lengths], _elem_attrs(op), "TensorListSplit")


@RegisterGradient("TensorListSplit")
def _split_grad(op, dlist):
    value = op.inputs[0]
    g = op1("TensorListConcat", [dlist], _elem_attrs(op), "TensorListConcat")
    del value
    return g, None


@RegisterGradient("TensorListAddN")
def _add_n_grad(op, dlist):
    return [dlist] * len(op.inputs)


@RegisterGradient("TensorListClearItems")
def _clear_grad(op, dlist):
    return clear_items(dlist, op.inputs[1]), None
