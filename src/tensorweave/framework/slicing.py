"""Index arithmetic shared by shape functions and kernels: TF's strided-slice canonicalisation
and the length of a `Range`.

Both the build-time shape inference (`ops/`) and the kernels of every backend (`kernels/`) need
these rules, so they live here, below both, as plain functions of Python ints.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SS_MASKS", "strided_slice_spec", "range_size"]

SS_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def strided_slice_spec(dims, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0,
                       new_axis_mask=0, shrink_axis_mask=0):
    """TF's strided-slice canonicalisation, for shape inference and kernels alike.

    `dims`: the input's dimensions (ints, or None when unknown); `begin`, `end`: lists of ints,
    or None when not known; `strides`: list of ints.  Returns `(items, dense)`: `dense[i]` is
    `(begin, end, stride, shrink, size)` for input dimension i (begin/end canonical, i.e.
    clamped and non-negative except -1 meaning "before 0" for negative strides; None where not
    known), and `items` lists the output positions in order: an input dimension index, or None
    for a new axis.  Raises ValueError with TF's messages.
    """
    n = len(strides)
    for nm, v in (("begin", begin), ("end", end)):
        if v is not None and len(v) != n:
            raise ValueError(f"Expected begin, end, and strides to be 1D equal size tensors, "
                             f"but got {nm} of length {len(v)} and strides of length {n}")
    ell = ellipsis_mask & ((1 << n) - 1)
    if ell & (ell - 1):
        raise ValueError("Multiple ellipses in slice spec not allowed")
    entries = list(range(n)) if ell else list(range(n)) + ["..."]
    rank_ = len(dims)
    items, dense = [], []
    for pos, i in enumerate(entries):
        if i == "..." or (ell >> i) & 1:
            after = sum(1 for j in entries[pos + 1:] if j != "..." and not (new_axis_mask >> j) & 1)
            while len(dense) < rank_ - after:
                d = dims[len(dense)]
                items.append(len(dense))
                dense.append((0, d, 1, False, d))
            continue
        if (new_axis_mask >> i) & 1:
            items.append(None)
            continue
        k = len(dense)
        if k >= rank_:
            raise ValueError(f"Index out of range using input dim {k}; input has only "
                             f"{rank_} dims")
        s = strides[i]
        if s == 0:
            raise ValueError(f"strides[{i}] must be non-zero")
        b = None if begin is None else begin[i]
        e = None if end is None else end[i]
        items.append(k)
        dense.append(_ss_dim(dims[k], b, e, s, (begin_mask >> i) & 1, (end_mask >> i) & 1,
                             (shrink_axis_mask >> i) & 1, k))
    return items, dense


def _ss_dim(d, b, e, s, bm, em, shrink, k):
    if shrink:
        if s <= 0:
            raise ValueError("only stride 1 allowed on non-range indexing.")
        if d is None or b is None:
            return (b, None, 1, True, 1)
        x = b + d if b < 0 else b
        if x < 0 or x >= d:
            raise ValueError(f"slice index {x} of dimension {k} out of bounds.")
        return (x, x + 1, 1, True, 1)
    if d is None:
        return (None, None, s, False, None)
    lo, hi = (0, d) if s > 0 else (-1, d - 1)

    def canonical(x, masked, is_end):
        if masked:
            return (d if is_end else 0) if s > 0 else (-1 if is_end else d - 1)
        if x is None:
            return None
        return min(max(x + d if x < 0 else x, lo), hi)

    cb, ce = canonical(b, bm, False), canonical(e, em, True)
    if cb is None or ce is None:
        return (cb, ce, s, False, None)
    il = ce - cb
    size_ = 0 if il == 0 or ((il < 0) != (s < 0)) else -(-abs(il) // abs(s))
    return (cb, ce, s, False, size_)


def range_size(start, limit, delta, np_dtype) -> int:
    """The number of elements of Range(start, limit, delta) (TF's rule), or ValueError."""
    start, limit, delta = (np.asarray(v, dtype=np_dtype) for v in (start, limit, delta))
    if delta == 0:
        raise ValueError(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit:
        raise ValueError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise ValueError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if np.dtype(np_dtype).kind in "iu":
        s, li, d = int(start), int(limit), int(delta)
        return (abs(li - s) + abs(d) - 1) // abs(d)
    return int(np.ceil(np.abs((limit - start) / delta)))
