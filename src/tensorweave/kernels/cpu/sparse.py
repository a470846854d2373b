"""Kernels: sparse tensors (densify, reorder, sparse x dense matmul, sparse sum).

A sparse tensor arrives as its components: int64 `indices [N, rank]`, `values [N]` and the dense
shape.  Indices and shapes are read and checked on the host (`ctx.to_host`); values and dense
results are device arrays (`ctx.xp`), indexed with the indices moved back (`ctx.to_device`).
Index checks follow TF1's `SparseTensor::IndicesValid`: every index in bounds and, where an op
needs it, rows in strictly increasing lexicographic (row-major) order; the messages name the
first offending row (`indices[2] = [1,0] is out of order ...`).  A failed check raises
`ValueError`, which the executor re-raises as `InvalidArgumentError` naming the node.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "indices_error"]


def _row(idx: np.ndarray, i: int) -> str:
    return f"indices[{i}] = [{','.join(str(int(v)) for v in idx[i])}]"


def _bounds_bad(idx: np.ndarray, shape) -> np.ndarray:
    """Per row: True where some coordinate lies outside [0, shape)."""
    if idx.size == 0:
        return np.zeros(idx.shape[0], dtype=bool)
    return ((idx < 0) | (idx >= np.asarray(shape, dtype=np.int64))).any(axis=1)


def indices_error(idx: np.ndarray, shape, ordered: bool = True) -> str | None:
    """TF1's IndicesValid: the message for the first bad row of `idx` [N, rank], or None.

    Checks bounds and (with `ordered`) strictly increasing row-major order, row by row.
    """
    n = idx.shape[0]
    if n == 0:
        return None
    bad = _bounds_bad(idx, shape)
    order = np.zeros(n, dtype=np.int8)  # 1: out of order, 2: repeated (compared with row i-1)
    if ordered and n > 1 and idx.shape[1]:
        diff = idx[1:] - idx[:-1]
        nz = diff != 0
        first = np.argmax(nz, axis=1)
        sign = diff[np.arange(n - 1), first]
        order[1:] = np.where(~nz.any(axis=1), 2, np.where(sign < 0, 1, 0))
    elif ordered and n > 1:
        order[1:] = 2  # rank 0: every index is the same
    hits = np.flatnonzero(bad | (order != 0))
    if not hits.size:
        return None
    i = int(hits[0])
    if bad[i]:
        dims = ",".join(str(int(d)) for d in shape)
        return f"{_row(idx, i)} is out of bounds: need 0 <= index < [{dims}]"
    if order[i] == 1:
        return (f"{_row(idx, i)} is out of order. Many sparse ops require sorted indices.\n"
                "    Use `tw.sparse.reorder` to create a correctly ordered copy.")
    return f"{_row(idx, i)} is repeated"


def _dims(shape) -> str:
    return "[" + ",".join(str(int(d)) for d in np.reshape(shape, -1)) + "]"


# ----------------------------------------------------------------------------------------------
# SparseToDense
# ----------------------------------------------------------------------------------------------
def _device_index(to_device, idx):
    """The columns of host indices [N, rank] as a device index tuple."""
    return tuple(to_device(np.ascontiguousarray(col)) for col in idx.T)


def _sparse_to_dense(node, ctx):
    validate = bool(node.attr.get("validate_indices", True))
    dt = node.out_dtypes[0].np
    xp, to_host, to_device = ctx.xp, ctx.to_host, ctx.to_device

    def sparse_to_dense(indices, output_shape, values, default_value):
        indices = np.asarray(to_host(indices))
        if indices.ndim > 2:
            raise ValueError("sparse_indices should be a scalar, vector, or matrix, got shape "
                             f"{list(indices.shape)}")
        n = indices.shape[0] if indices.ndim > 0 else 1
        rank = indices.shape[1] if indices.ndim > 1 else 1
        shape = np.asarray(to_host(output_shape))
        if shape.ndim != 1:
            raise ValueError(f"output_shape should be a vector, got {list(shape.shape)}")
        if (shape < 0).any():
            raise ValueError(f"Dimension {int(shape[shape < 0][0])} must be >= 0 "
                             f"(output_shape {_dims(shape)})")
        values = xp.asarray(values)
        if not (values.ndim == 0 or (values.ndim == 1 and values.shape[0] == n)):
            raise ValueError(f"sparse_values has incorrect shape {list(values.shape)}, should "
                             f"be [] or [{n}]")
        if np.ndim(default_value) != 0:
            raise ValueError("default_value should be a scalar.")
        if n and rank != shape.shape[0]:
            raise ValueError(f"sparse_indices has {rank} columns but output_shape "
                             f"{_dims(shape)} has rank {shape.shape[0]}")
        idx = indices.reshape(n, rank).astype(np.int64, copy=False)
        if validate:
            msg = indices_error(idx, shape)
            if msg:
                raise ValueError(msg)
        elif _bounds_bad(idx, shape).any():
            raise ValueError(f"Indices are not valid (out of bounds).  Shape: {_dims(shape)}")
        out = xp.full(tuple(int(d) for d in shape), default_value, dtype=dt)
        if n:
            out[_device_index(to_device, idx)] = values
        return out
    return sparse_to_dense


# ----------------------------------------------------------------------------------------------
# SparseReorder
# ----------------------------------------------------------------------------------------------
def _check_components(indices, values, shape) -> None:
    if np.ndim(indices) != 2:
        raise ValueError(f"Input indices should be a matrix but received shape "
                         f"{list(np.shape(indices))}")
    if np.ndim(values) != 1:
        raise ValueError(f"Input values should be a vector but received shape "
                         f"{list(np.shape(values))}")
    if np.ndim(shape) != 1:
        raise ValueError(f"Input shape should be a vector but received shape "
                         f"{list(np.shape(shape))}")
    if np.shape(indices)[0] != np.shape(values)[0]:
        raise ValueError(f"indices has {np.shape(indices)[0]} rows but values has "
                         f"{np.shape(values)[0]} elements")
    if np.shape(indices)[1] != np.shape(shape)[0]:
        raise ValueError(f"indices has {np.shape(indices)[1]} columns but the dense shape "
                         f"{_dims(shape)} has rank {np.shape(shape)[0]}")


def _row_major_order(idx: np.ndarray) -> np.ndarray:
    """The stable permutation sorting the rows of `idx` lexicographically."""
    if idx.shape[1] == 0:
        return np.arange(idx.shape[0])
    return np.lexsort(idx.T[::-1])


def _sparse_reorder(node, ctx):
    xp, to_host, to_device = ctx.xp, ctx.to_host, ctx.to_device

    def sparse_reorder(indices, values, shape):
        _check_components(indices, values, shape)
        indices = to_host(indices)
        perm = _row_major_order(indices)
        return (to_device(np.ascontiguousarray(indices[perm])),
                xp.asarray(values)[to_device(perm)])
    return sparse_reorder


# ----------------------------------------------------------------------------------------------
# SparseTensorDenseMatMul
# ----------------------------------------------------------------------------------------------
def _sparse_dense_matmul(node, ctx):
    adj_a = bool(node.attr.get("adjoint_a", False))
    adj_b = bool(node.attr.get("adjoint_b", False))
    dt = node.out_dtypes[0].np
    cplx = np.dtype(dt).kind == "c"
    xp, to_host, to_device = ctx.xp, ctx.to_host, ctx.to_device

    def sparse_tensor_dense_matmul(a_indices, a_values, a_shape, b):
        _check_components(a_indices, a_values, a_shape)
        a_shape = to_host(a_shape)
        if len(a_shape) != 2:
            raise ValueError(f"Tensor 'a_shape' must have 2 elements, got {_dims(a_shape)}")
        if np.ndim(b) != 2:
            raise ValueError(f"Tensor 'b' is not a matrix: shape {list(np.shape(b))}")
        rows_a, cols_a = (int(a_shape[1]), int(a_shape[0])) if adj_a else \
            (int(a_shape[0]), int(a_shape[1]))
        bb = (xp.conj(b.T) if cplx else b.T) if adj_b else b
        if cols_a != bb.shape[0]:
            raise ValueError(f"Cannot multiply A and B because inner dimension does not match: "
                             f"{cols_a} vs. {bb.shape[0]}.  Did you forget a transpose?  "
                             f"Dimensions of A: [{rows_a}, {cols_a}).  Dimensions of B: "
                             f"{list(np.shape(b))}")
        idx = np.asarray(to_host(a_indices), dtype=np.int64)
        r, c = (idx[:, 1], idx[:, 0]) if adj_a else (idx[:, 0], idx[:, 1])
        for what, col, lim, pos in (("m", r, rows_a, 1 if adj_a else 0),
                                    ("k", c, cols_a, 0 if adj_a else 1)):
            bad = np.flatnonzero((col < 0) | (col >= lim))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"{what} ({int(col[i])}) from index[{i},{pos}] out of bounds "
                                 f"(>={lim})")
        vals = xp.asarray(a_values)
        if adj_a and cplx:
            vals = xp.conj(vals)
        out = xp.zeros((rows_a, bb.shape[1]), dtype=dt)
        if idx.shape[0]:
            xp.add.at(out, to_device(r), vals[:, None] * bb[to_device(c)])
        return out
    return sparse_tensor_dense_matmul


# ----------------------------------------------------------------------------------------------
# SparseReduceSum
# ----------------------------------------------------------------------------------------------
def _sparse_reduce_sum(node, ctx):
    keep_dims = bool(node.attr.get("keep_dims", False))
    dt = node.out_dtypes[0].np
    xp, to_host, to_device = ctx.xp, ctx.to_host, ctx.to_device

    def sparse_reduce_sum(indices, values, shape, axes):
        _check_components(indices, values, shape)
        shape = to_host(shape)
        rank = len(shape)
        axes = np.reshape(to_host(axes), -1)
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"Invalid reduction dimension {int(a)}, for input with {rank} "
                                 "dimensions.")
        reduced = sorted({int(a) % rank for a in axes}) if rank else []
        idx = np.array(to_host(indices), dtype=np.int64)
        bad = np.flatnonzero(_bounds_bad(idx, shape))
        if bad.size:
            raise ValueError(f"{_row(idx, int(bad[0]))} is out of bounds: need 0 <= index < "
                             f"{_dims(shape)}")
        kept = [1 if d in reduced else int(shape[d]) for d in range(rank)]
        out = xp.zeros(kept, dtype=dt)
        if idx.shape[0]:
            idx[:, reduced] = 0
            xp.add.at(out, _device_index(to_device, idx), values)
        if not keep_dims:
            out = out.reshape([int(shape[d]) for d in range(rank) if d not in reduced])
        return out
    return sparse_reduce_sum


KERNELS = {
    "SparseToDense": _sparse_to_dense,
    "SparseReorder": _sparse_reorder,
    "SparseTensorDenseMatMul": _sparse_dense_matmul,
    "SparseReduceSum": _sparse_reduce_sum,
}
