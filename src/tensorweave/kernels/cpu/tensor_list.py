"""CPU kernels for the list ops behind `TensorArray` (values are Python lists of arrays).

An element never written is `None`.  A user `read` of such an element fails as in TF1; `stack`
and `gather` give zeros for it when the element shape is fully known (as TF1), and reads made by
gradients (`allow_missing`) always do, taking the shape from the shape-hint input.
A list input the executor marks donatable (a loop's carried list) is updated in place; any other
is copied (shallow: elements are shared, and never written).
"""
from __future__ import annotations

import numpy as np

from ...framework import errors

__all__ = ["KERNELS"]


def _err(node, msg):
    return errors.InvalidArgumentError(None, node.name, msg)


def _zeros(node, hint, dt, what):
    shape = [int(d) for d in np.reshape(hint, -1)]
    if any(d < 0 for d in shape):
        raise _err(node, f"Cannot make zeros for {what}: the element shape {shape} is not fully "
                         "known")
    return np.zeros(shape, dtype=dt)


def _known(hint) -> bool:
    """Whether a shape hint is fully known (TF1 stacks unwritten elements as zeros then)."""
    return np.ndim(hint) == 1 and all(int(d) >= 0 for d in hint)


def _element(node, lst, i, hint, dt, allow_missing):
    n = len(lst)
    if i < 0 or i >= n:
        raise _err(node, f"Tried to read from index {i} but array size is: {n}")
    v = lst[i]
    if v is None:
        if not allow_missing:
            raise _err(node, f"Could not read from TensorArray index {i} because it has not "
                             "yet been written to.")
        return _zeros(node, hint, dt, f"element {i}")
    return v


def _reserve(node, ctx):
    return lambda n: [None] * int(n)


def _from_tensor(node, ctx):
    def from_tensor(t):
        t = np.asarray(t)
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

    def set_item(lst, index, item):
        i = int(index)
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
    dt = node.attr["element_dtype"].np
    allow = bool(node.attr.get("allow_missing", False))
    return lambda lst, index, hint: _element(node, lst, int(index), hint, dt, allow)


def _stack(node, ctx):
    dt = node.attr["element_dtype"].np
    allow = bool(node.attr.get("allow_missing", False))

    def stack(lst, hint):
        if not lst:
            shape = [int(d) for d in np.reshape(hint, -1)]
            if any(d < 0 for d in shape):
                raise _err(node, "Cannot stack an empty TensorArray whose element shape is not "
                                 "fully known")
            return np.zeros([0] + shape, dtype=dt)
        ok = allow or _known(hint)
        return np.stack([_element(node, lst, i, hint, dt, ok) for i in range(len(lst))])
    return stack


def _length(node, ctx):
    return lambda lst: np.array(len(lst), dtype=np.int32)


def _gather(node, ctx):
    dt = node.attr["element_dtype"].np
    allow = bool(node.attr.get("allow_missing", False))

    def gather(lst, indices, hint):
        idx = [int(i) for i in np.reshape(indices, -1)]
        if not idx:
            return np.zeros([0] + [max(int(d), 0) for d in np.reshape(hint, -1)], dtype=dt)
        ok = allow or _known(hint)
        return np.stack([_element(node, lst, i, hint, dt, ok) for i in idx])
    return gather


def _scatter(node, ctx):
    dynamic = bool(node.attr.get("dynamic_size", False))
    own = _writable(node)

    def scatter(lst, indices, value):
        lst = own(lst)
        value = np.asarray(value)
        idx = [int(i) for i in np.reshape(indices, -1)]
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
    def concat(lst):
        if any(v is None for v in lst):
            raise _err(node, "Could not concat TensorArray: an element has not been written")
        if not lst:
            raise _err(node, "Cannot concat an empty TensorArray")
        return (np.concatenate(lst, axis=0),
                np.array([np.shape(v)[0] for v in lst], dtype=np.int64))
    return concat


def _split(node, ctx):
    def split(value, lengths):
        value = np.asarray(value)
        ls = [int(n) for n in np.reshape(lengths, -1)]
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
    def add_n(*lists):
        n = max(len(lst) for lst in lists)
        out = [None] * n
        for lst in lists:
            for i, v in enumerate(lst):
                if v is None:
                    continue
                out[i] = v if out[i] is None else np.add(out[i], v)
        return out
    return add_n


def _clear_items(node, ctx):
    own = _writable(node)

    def clear(lst, indices):
        lst = own(lst)
        for i in np.reshape(indices, -1):
            i = int(i)
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
