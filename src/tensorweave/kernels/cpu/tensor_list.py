"""Kernels for the list ops behind `TensorArray` (values are Python lists of device arrays).

A list (a variant) is a host value on every device type; its elements are the device's arrays,
computed with the backend's array module (`ctx.module_for` the element dtype: numpy for strings).
Indices, sizes and shape hints are read on the host (`ctx.to_host`).  An element never written is
`None`.  A user `read` of such an element fails as in TF1; `stack` and `gather` give zeros for it
when the element shape is fully known (as TF1), and reads made by gradients (`allow_missing`)
always do, taking the shape from the shape-hint input.  A list input the executor marks
donatable (a loop's carried list) is updated in place; any other is copied (shallow: elements are
shared, and never written).
"""
from __future__ import annotations

import numpy as np

from ...framework import errors

__all__ = ["KERNELS"]


def _err(node, msg):
    return errors.InvalidArgumentError(None, node.name, msg)


def _ints(v) -> list:
    return [int(d) for d in np.reshape(v, -1)]


def _zeros(xp, node, hint, dt, what):
    shape = _ints(hint)
    if any(d < 0 for d in shape):
        raise _err(node, f"Cannot make zeros for {what}: the element shape {shape} is not fully "
                         "known")
    return xp.zeros(shape, dtype=dt)


def _known(hint) -> bool:
    """Whether a (host) shape hint is fully known (TF1 stacks unwritten elements as zeros)."""
    return np.ndim(hint) == 1 and all(int(d) >= 0 for d in hint)


def _element(xp, node, lst, i, hint, dt, allow_missing):
    n = len(lst)
    if i < 0 or i >= n:
        raise _err(node, f"Tried to read from index {i} but array size is: {n}")
    v = lst[i]
    if v is None:
        if not allow_missing:
            raise _err(node, f"Could not read from TensorArray index {i} because it has not "
                             "yet been written to.")
        return _zeros(xp, node, hint, dt, f"element {i}")
    return v


def _element_kernel(node, ctx):
    """(element dtype, its array module, to_host) of a list op."""
    dt = node.attr["element_dtype"].np
    return dt, ctx.module_for(dt), ctx.to_host


def _reserve(node, ctx):
    to_host = ctx.to_host
    return lambda n: [None] * int(to_host(n))


def _from_tensor(node, ctx):
    asarray = ctx.module_for(node.attr["element_dtype"]).asarray

    def from_tensor(t):
        t = asarray(t)
        if t.ndim == 0:
            raise _err(node, "TensorArray.unstack needs a tensor of rank >= 1")
        return [t[i] for i in range(t.shape[0])]
    return from_tensor


def _writable(node, pos=0):
    """A function giving a list the kernel may modify: the input itself when donated."""
    if pos in node.donatable:
        return lambda lst: lst if type(lst) is list else list(lst)
    return list


def _set_item(node, ctx):
    dynamic = bool(node.attr.get("dynamic_size", False))
    own = _writable(node)
    to_host = ctx.to_host

    def set_item(lst, index, item):
        i = int(to_host(index))
        lst = own(lst)
        if i < 0:
            raise _err(node, f"Tried to write to index {i}")
        if i >= len(lst):
            if not dynamic:
                raise _err(node, f"Tried to write to index {i} but array is not resizeable and "
                                 f"size is: {len(lst)}")
            lst.extend([None] * (i + 1 - len(lst)))
        lst[i] = item
        return lst
    return set_item


def _get_item(node, ctx):
    dt, xp, to_host = _element_kernel(node, ctx)
    allow = bool(node.attr.get("allow_missing", False))
    return lambda lst, index, hint: _element(xp, node, lst, int(to_host(index)), to_host(hint),
                                             dt, allow)


def _stack(node, ctx):
    dt, xp, to_host = _element_kernel(node, ctx)
    allow = bool(node.attr.get("allow_missing", False))

    def stack(lst, hint):
        hint = to_host(hint)
        if not lst:
            shape = _ints(hint)
            if any(d < 0 for d in shape):
                raise _err(node, "Cannot stack an empty TensorArray whose element shape is not "
                                 "fully known")
            return xp.zeros([0] + shape, dtype=dt)
        ok = allow or _known(hint)
        return xp.stack([_element(xp, node, lst, i, hint, dt, ok) for i in range(len(lst))])
    return stack


def _length(node, ctx):
    asarray = ctx.xp.asarray
    return lambda lst: asarray(len(lst), dtype=np.int32)


def _gather(node, ctx):
    dt, xp, to_host = _element_kernel(node, ctx)
    allow = bool(node.attr.get("allow_missing", False))

    def gather(lst, indices, hint):
        idx, hint = _ints(to_host(indices)), to_host(hint)
        if not idx:
            return xp.zeros([0] + [max(d, 0) for d in _ints(hint)], dtype=dt)
        ok = allow or _known(hint)
        return xp.stack([_element(xp, node, lst, i, hint, dt, ok) for i in idx])
    return gather


def _scatter(node, ctx):
    dynamic = bool(node.attr.get("dynamic_size", False))
    own = _writable(node)
    _, xp, to_host = _element_kernel(node, ctx)

    def scatter(lst, indices, value):
        lst = own(lst)
        value = xp.asarray(value)
        idx = _ints(to_host(indices))
        if len(idx) != value.shape[0]:
            raise _err(node, f"Scatter: {len(idx)} indices for {value.shape[0]} rows")
        top = max(idx, default=-1)
        if top >= len(lst):
            if not dynamic:
                raise _err(node, f"Tried to write to index {top} but array is not resizeable "
                                 f"and size is: {len(lst)}")
            lst.extend([None] * (top + 1 - len(lst)))
        for r, i in enumerate(idx):
            if i < 0:
                raise _err(node, f"Tried to write to index {i}")
            lst[i] = value[r]
        return lst
    return scatter


def _concat(node, ctx):
    _, xp, _ = _element_kernel(node, ctx)
    to_device = ctx.to_device

    def concat(lst):
        if any(v is None for v in lst):
            raise _err(node, "Could not concat TensorArray: an element has not been written")
        if not lst:
            raise _err(node, "Cannot concat an empty TensorArray")
        return (xp.concatenate(lst, axis=0),
                to_device(np.array([np.shape(v)[0] for v in lst], dtype=np.int64)))
    return concat


def _split(node, ctx):
    _, xp, to_host = _element_kernel(node, ctx)

    def split(value, lengths):
        value = xp.asarray(value)
        ls = _ints(to_host(lengths))
        if sum(ls) != value.shape[0]:
            raise _err(node, f"Expected sum of lengths to be equal to values.shape[0], but sum "
                             f"of lengths is {sum(ls)} and value's shape is {list(value.shape)}")
        out, start = [], 0
        for n in ls:
            out.append(value[start:start + n])
            start += n
        return out
    return split


def _zeros_like(node, ctx):
    return lambda lst: [None] * len(lst)


def _add_n(node, ctx):
    add = ctx.xp.add

    def add_n(*lists):
        n = max(len(lst) for lst in lists)
        out = [None] * n
        for lst in lists:
            for i, v in enumerate(lst):
                if v is None:
                    continue
                out[i] = v if out[i] is None else add(out[i], v)
        return out
    return add_n


def _clear_items(node, ctx):
    own = _writable(node)
    to_host = ctx.to_host

    def clear(lst, indices):
        lst = own(lst)
        for i in _ints(to_host(indices)):
            if 0 <= i < len(lst):
                lst[i] = None
        return lst
    return clear


KERNELS = {
    "TensorListReserve": _reserve,
    "TensorListFromTensor": _from_tensor,
    "TensorListSetItem": _set_item,
    "TensorListGetItem": _get_item,
    "TensorListStack": _stack,
    "TensorListLength": _length,
    "TensorListGather": _gather,
    "TensorListScatter": _scatter,
    "TensorListConcat": _concat,
    "TensorListSplit": _split,
    "TensorListZerosLike": _zeros_like,
    "TensorListAddN": _add_n,
    "TensorListClearItems": _clear_items,
}
