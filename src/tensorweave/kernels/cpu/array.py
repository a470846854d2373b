"""CPU kernels for array ops (numpy): shapes, reshaping, slicing, joining, gathering, masks.

Factories specialise on constant inputs (perm, axis, begin/end/strides, ...) where the graph fixes
them.  Kernels never write into their inputs; ops registered `may_alias` (transpose, slices,
split, reverse, ...) may return views.  Index errors raise `ValueError` with TF's message; the
executor re-raises them as `InvalidArgumentError` naming the node.
"""
from __future__ import annotations

import numpy as np

from ...framework.slicing import SS_MASKS, strided_slice_spec

__all__ = ["KERNELS"]


def _ints(v) -> list:
    return [int(a) for a in np.reshape(v, -1)]


def _arr(v, dt):
    """`v` as a numpy value (indexing an object array of strings yields bare `bytes`)."""
    return v if isinstance(v, (np.ndarray, np.generic)) else np.array(v, dtype=dt)


def _given(node, pos, convert):
    """`convert` for input `pos`, done once here when the graph fixes that input (an axis,
    paddings, ...), else at each call."""
    c = node.const_inputs.get(pos)
    if c is None:
        return convert
    fixed = convert(c)
    return lambda _v: fixed


def _int(v) -> int:
    return int(np.reshape(v, -1)[0])


def _fmt(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _first_bad(bad) -> tuple:
    """The multi-index of the first True in `bad` (as TF reports it), as a string and tuple."""
    pos = np.unravel_index(int(np.argmax(bad.reshape(-1))), bad.shape)
    return ("[" + ",".join(str(int(p)) for p in pos) + "]" if pos else ""), pos


def _check_range(indices, n, what="indices") -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = (indices < 0) | (indices >= n)
        s, pos = _first_bad(bad)
        raise ValueError(f"{what}{s} = {indices[pos]} is not in [0, {n})")


def _identity(node, ctx):
    return lambda x: x


def _shape(node, ctx):
    dt = node.attr.get("out_type").np
    return lambda x: np.array(np.shape(x), dtype=dt)


def _size(node, ctx):
    dt = node.attr.get("out_type").np
    return lambda x: np.array(np.size(x), dtype=dt)


def _rank(node, ctx):
    return lambda x: np.array(np.ndim(x), dtype=np.int32)


def _fill(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda dims, value: np.full(tuple(int(d) for d in dims), value, dtype=dt)


def _zeros_like(node, ctx):
    dt = node.out_dtypes[0].np
    if dt.kind == "O":
        return lambda x: np.full(np.shape(x), b"", dtype=object)
    return lambda x: np.zeros(np.shape(x), dtype=dt)


def _ones_like(node, ctx):
    dt = node.out_dtypes[0].np
    return lambda x: np.ones(np.shape(x), dtype=dt)


def _reshape(node, ctx):
    c = node.const_inputs.get(1)
    if c is not None:
        target = tuple(int(d) for d in np.reshape(c, -1))
        return lambda x, _s: np.reshape(x, target)
    return lambda x, s: np.reshape(x, tuple(int(d) for d in np.reshape(s, -1)))


def _broadcast_to(node, ctx):
    c = node.const_inputs.get(1)
    if c is not None:
        target = tuple(int(d) for d in np.reshape(c, -1))
        return lambda x, _s: np.broadcast_to(x, target)
    return lambda x, s: np.broadcast_to(x, tuple(int(d) for d in np.reshape(s, -1)))


def _broadcast_gradient_args(node, ctx):
    dt = node.out_dtypes[0].np

    def bga(s0, s1):
        s0, s1 = [int(d) for d in s0], [int(d) for d in s1]
        n = max(len(s0), len(s1))
        a = [1] * (n - len(s0)) + s0
        b = [1] * (n - len(s1)) + s1
        r0, r1 = [], []
        for i, (x, y) in enumerate(zip(a, b)):
            if x == y:
                continue
            if x == 1:
                r0.append(i)
            elif y == 1:
                r1.append(i)
            else:
                raise ValueError(f"Incompatible shapes: {s0} vs. {s1}")
        r0 = list(range(n - len(s0))) + [i for i in r0 if i >= n - len(s0)]
        r1 = list(range(n - len(s1))) + [i for i in r1 if i >= n - len(s1)]
        return np.array(sorted(set(r0)), dtype=dt), np.array(sorted(set(r1)), dtype=dt)
    return bga


def _reduced_shape(node, ctx):
    def reduced(shape, axes):
        out = np.array(shape, copy=True)
        r = out.shape[0]
        for a in np.reshape(axes, -1):
            out[int(a) % r] = 1
        return out
    return reduced


# ----------------------------------------------------------------------------------------------
# transpose
# ----------------------------------------------------------------------------------------------
def _check_perm(perm, ndim) -> tuple:
    if len(perm) != ndim:
        raise ValueError(f"transpose expects a vector of size {ndim}. But input(1) is a vector "
                         f"of size {len(perm)}")
    for i in range(ndim):
        if i not in perm:
            raise ValueError(f"{i} is missing from {{{','.join(str(p) for p in perm)}}}.")
    return tuple(perm)


def _transpose_with(post):
    def factory(node, ctx):
        c = node.const_inputs.get(1)
        if c is not None:
            perm = tuple(_ints(c))
            return lambda x, _p: post(np.transpose(x, perm))
        return lambda x, p: post(np.transpose(x, _check_perm(_ints(p), np.ndim(x))))
    return factory


# ----------------------------------------------------------------------------------------------
# concat / split / pack / unpack
# ----------------------------------------------------------------------------------------------
def _concat(node, ctx):
    axis = _given(node, node.attr["N"], _int)

    def concat(*args):
        return np.concatenate(args[:-1], axis=axis(args[-1]))
    return concat


def _concat_offset(node, ctx):
    def concat_offset(cd, *shapes):
        n = len(shapes[0])
        a = int(cd)
        if not -n <= a < n:
            raise ValueError(f"Concat dim is out of range: {a} vs. {n}")
        a %= n
        out, off = [], 0
        for s in shapes:
            o = np.zeros(n, dtype=np.asarray(s).dtype)
            o[a] = off
            off += int(s[a])
            out.append(o)
        return tuple(out)
    return concat_offset


def _split(node, ctx):
    n = node.attr["num_split"]
    axis = _given(node, 0, _int)

    def split(a, x):
        x = np.asarray(x)
        a = axis(a) % x.ndim
        if x.shape[a] % n:
            raise ValueError(f"Number of ways to split should evenly divide the split dimension, "
                             f"but got split_dim {a} (size = {x.shape[a]}) and num_split {n}")
        return tuple(np.split(x, n, axis=a))
    return split


def _split_v(node, ctx):
    axis, given_sizes = _given(node, 2, _int), _given(node, 1, _ints)

    def split_v(x, sizes, a):
        x = np.asarray(x)
        a = axis(a) % x.ndim
        sizes = list(given_sizes(sizes))
        d = x.shape[a]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = d - sum(s for s in sizes if s != -1)
        if sum(sizes) != d or min(sizes, default=0) < 0:
            raise ValueError(f"Determined shape must either match input shape along split_dim "
                             f"exactly if fully specified, or be less than the size of the input "
                             f"along split_dim if not fully specified.  Got: {sum(sizes)}")
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=a))
    return split_v


def _pack(node, ctx):
    axis = node.attr["axis"]
    return lambda *xs: np.stack(xs, axis=axis)


def _unpack(node, ctx):
    axis, num = node.attr["axis"], node.attr["num"]
    dt = node.out_dtypes[0].np if node.out_dtypes else None

    def unpack(x):
        x = np.asarray(x)
        if x.shape[axis] != num:
            raise ValueError(f"Input shape axis {axis % x.ndim} must equal {num}, got shape "
                             f"{_fmt(x.shape)}")
        moved = np.moveaxis(x, axis, 0)
        return tuple(_arr(moved[i], dt) for i in range(num))
    return unpack


# ----------------------------------------------------------------------------------------------
# expand_dims / squeeze / tile / reverse
# ----------------------------------------------------------------------------------------------
def _expand_dims(node, ctx):
    dim = _given(node, 1, _int)

    def expand_dims(x, d):
        d = dim(d)
        r = np.ndim(x)
        if d < -r - 1 or d > r:
            raise ValueError(f"Tried to expand dim index {d} for tensor with {r} dimensions.")
        return np.expand_dims(x, d)
    return expand_dims


def _squeeze(node, ctx):
    axes = list(node.attr.get("squeeze_dims") or [])
    if not axes:
        return np.squeeze

    def squeeze(x):
        x = np.asarray(x)
        r = x.ndim
        for a in axes:
            if not -r <= a < r:
                raise ValueError(f"Tried to squeeze dim index {a} for tensor with {r} "
                                 "dimensions.")
            if x.shape[a] != 1:
                raise ValueError(f"Can not squeeze dim[{a % r}], expected a dimension of 1, "
                                 f"got {x.shape[a]}")
        return np.squeeze(x, axis=tuple(a % r for a in axes))
    return squeeze


def _tile(node, ctx):
    multiples = _given(node, 1, _ints)

    def tile(x, m):
        m = multiples(m)
        if len(m) != np.ndim(x):
            raise ValueError(f"Expected multiples argument to be a vector of length "
                             f"{np.ndim(x)} but got length {len(m)}")
        if min(m, default=0) < 0:
            raise ValueError(f"Expected multiples argument to be non-negative, but got {m}")
        return np.tile(x, m)
    return tile


def _reverse(node, ctx):
    given_axes = _given(node, 1, _ints)

    def reverse(x, axis):
        r = np.ndim(x)
        axes = given_axes(axis)
        for a in axes:
            if not -r <= a < r:
                raise ValueError(f"'axis'[{axes.index(a)}] = {a} is out of valid range "
                                 f"[{-r}, {r - 1}]")
        if len({a % r for a in axes}) != len(axes):
            raise ValueError(f"axis {axes} specifies a dimension more than once")
        return np.flip(x, tuple(a % r for a in axes))
    return reverse


# ----------------------------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------------------------
def _pairs(p) -> np.ndarray:
    return np.asarray(p, dtype=np.int64).reshape(-1, 2)


def _paddings(p, x):
    if p.shape[0] != np.ndim(x):
        raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                         f"{_fmt(p.shape)}, {_fmt(np.shape(x))}")
    if p.size and p.min() < 0:
        raise ValueError(f"Paddings must be non-negative: {p.tolist()}")
    return [(int(a), int(b)) for a, b in p]


def _pad_constant(x, pads, value, dt):
    x = np.asarray(x)
    out = np.full(tuple(d + a + b for d, (a, b) in zip(x.shape, pads)), value, dtype=dt)
    out[tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, pads))] = x
    return out


def _pad(node, ctx):
    dt = node.out_dtypes[0].np
    zero = b"" if dt.kind == "O" else 0
    pairs = _given(node, 1, _pairs)
    return lambda x, p: _pad_constant(x, _paddings(pairs(p), x), zero, dt)


def _pad_v2(node, ctx):
    dt = node.out_dtypes[0].np
    pairs = _given(node, 1, _pairs)
    return lambda x, p, c: _pad_constant(x, _paddings(pairs(p), x), c, dt)


def _mirror_pad(node, ctx):
    mode = node.attr["mode"]
    off = 1 if mode == "REFLECT" else 0
    pairs = _given(node, 1, _pairs)

    def mirror_pad(x, p):
        x = np.asarray(x)
        pads = _paddings(pairs(p), x)
        for (a, b), d in zip(pads, x.shape):
            if a > d - off or b > d - off:
                raise ValueError(f"paddings must be {'less than' if off else 'no greater than'} "
                                 f"the dimension size: {a}, {b} vs {d} ({mode})")
        if x.ndim == 0:
            return x.copy()
        return np.pad(x, pads, mode=mode.lower())
    return mirror_pad


def _mirror_pad_grad(node, ctx):
    off = 1 if node.attr["mode"] == "REFLECT" else 0

    def mirror_pad_grad(g, p):
        g = np.asarray(g)
        out = g
        for axis, (a, b) in enumerate(_paddings(_pairs(p), g)):
            m = np.moveaxis(out, axis, 0)
            n = m.shape[0] - a - b
            core = m[a:a + n].copy()
            if a:
                core[off:off + a] += m[:a][::-1]
            if b:
                core[n - off - b:n - off] += m[a + n:][::-1]
            out = np.moveaxis(core, 0, axis)
        return out if out is not g else g.copy()
    return mirror_pad_grad


# ----------------------------------------------------------------------------------------------
# gather / gather_nd / scatter_nd
# ----------------------------------------------------------------------------------------------
def _gather(node, ctx):
    dt = node.out_dtypes[0].np
    axis = _given(node, 2, _int)

    def gather(p, i, a):
        p, i = np.asarray(p), np.asarray(i)
        a = axis(a)
        if not -p.ndim <= a < p.ndim:
            raise ValueError(f"Expected axis in the range [{-p.ndim}, {p.ndim}), but got {a}")
        _check_range(i, p.shape[a])
        return _arr(np.take(p, i, axis=a), dt)
    return gather


def _nd_check(i, limits, what):
    """Each row of `i[..., :k]` must lie inside `limits`; TF's message names the first bad row."""
    if i.size:
        bad = ((i < 0) | (i >= np.asarray(limits, dtype=np.int64))).any(axis=-1)
        if bad.any():
            s, pos = _first_bad(bad)
            row = ", ".join(str(int(v)) for v in i[pos])
            raise ValueError(f"indices{s} = [{row}] does not index into {what}")


def _gather_nd(node, ctx):
    dt = node.out_dtypes[0].np

    def gather_nd(p, i):
        p, i = np.asarray(p), np.asarray(i)
        k = i.shape[-1]
        _nd_check(i, p.shape[:k], f"param shape {_fmt(p.shape)}")
        if k == 0:
            return np.broadcast_to(p, i.shape[:-1] + p.shape).copy()
        return _arr(p[tuple(np.moveaxis(i, -1, 0))], dt)
    return gather_nd


def _scatter_nd(node, ctx):
    dt = node.out_dtypes[0].np

    def scatter_nd(i, u, s):
        i, u = np.asarray(i), np.asarray(u)
        shape = tuple(_ints(s))
        k = i.shape[-1]
        want = i.shape[:-1] + shape[k:]
        if k > len(shape) or u.shape != want:
            raise ValueError(f"Must have updates.shape = indices.shape[:-1] + shape[indices."
                             f"shape[-1]:], got updates.shape {_fmt(u.shape)}, indices.shape "
                             f"{_fmt(i.shape)}, shape {_fmt(shape)}")
        _nd_check(i, shape[:k], f"shape {_fmt(shape)}")
        out = np.zeros(shape, dtype=dt)
        if k == 0:
            out += u.reshape((-1,) + shape).sum(axis=0, dtype=dt)
        else:
            np.add.at(out, tuple(np.moveaxis(i, -1, 0)), u)
        return out
    return scatter_nd


# ----------------------------------------------------------------------------------------------
# one_hot / where / select
# ----------------------------------------------------------------------------------------------
def _one_hot(node, ctx):
    dt = node.out_dtypes[0].np
    axis = node.attr["axis"]

    def one_hot(i, depth, on, off):
        i = np.asarray(i)
        d = int(depth)
        if d < 0:
            raise ValueError(f"depth must be non-negative, got: {d}")
        a = i.ndim if axis == -1 else axis
        shape = [1] * (i.ndim + 1)
        shape[a] = d
        hit = np.expand_dims(i, a) == np.arange(d).reshape(shape)
        return np.where(hit, on, off).astype(dt, copy=False)
    return one_hot


def _where(node, ctx):
    return lambda c: np.argwhere(c).astype(np.int64, copy=False)


def _select(node, ctx):
    def select(c, x, y):
        c, x, y = np.asarray(c), np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            raise ValueError(f"'then' and 'else' must have the same size.  but received: "
                             f"{_fmt(x.shape)} vs. {_fmt(y.shape)}")
        if c.ndim == 1 and x.ndim > 1:
            if c.shape[0] != x.shape[0]:
                raise ValueError(f"Number of batches of 'then' must match size of 'cond', but "
                                 f"saw: {x.shape[0]} vs. {c.shape[0]}")
            c = c.reshape((-1,) + (1,) * (x.ndim - 1))
        elif c.ndim and c.shape != x.shape:
            raise ValueError(f"'cond' and 'then' must have the same shape (or 'cond' must be a "
                             f"scalar or a vector): {_fmt(c.shape)} vs. {_fmt(x.shape)}")
        return np.where(c, x, y)
    return select


def _select_v2(node, ctx):
    return lambda c, x, y: np.where(c, x, y)


# ----------------------------------------------------------------------------------------------
# slice / strided_slice
# ----------------------------------------------------------------------------------------------
def _slice(node, ctx):
    dt = node.out_dtypes[0].np
    begin, size = _given(node, 1, _ints), _given(node, 2, _ints)

    def slice_(x, b, s):
        x = np.asarray(x)
        b, s = begin(b), size(s)
        if len(b) != x.ndim or len(s) != x.ndim:
            raise ValueError(f"Expected begin and size arguments to be 1-D tensors of size "
                             f"{x.ndim}, but got shapes [{len(b)}] and [{len(s)}] instead.")
        idx = []
        for i, (d, bi, si) in enumerate(zip(x.shape, b, s)):
            if si == -1:
                si = d - bi
            if not 0 <= bi <= d:
                raise ValueError(f"Expected begin[{i}] in [0, {d}], but got {bi}")
            if not 0 <= si <= d - bi:
                raise ValueError(f"Expected size[{i}] in [0, {d - bi}], but got {si}")
            idx.append(slice(bi, bi + si))
        return _arr(x[tuple(idx)], dt)
    return slice_


def _ss_index(items, dense) -> tuple:
    """The numpy index for a `strided_slice_spec` result."""
    out = []
    for i in items:
        if i is None:
            out.append(None)
            continue
        b, e, s, shrink, _ = dense[i]
        if shrink:
            out.append(b)
        elif s > 0:
            out.append(slice(b, e, s))
        elif b == -1:
            out.append(slice(0, 0, 1))
        else:
            out.append(slice(b, None if e == -1 else e, s))
    return tuple(out)


def _ss_indexer(node):
    """fn(shape, begin, end, strides) -> numpy index, cached per input shape when constant."""
    masks = [int(node.attr.get(m, 0)) for m in SS_MASKS]
    consts = [node.const_inputs.get(p) for p in (1, 2, 3)]

    def compute(shape, b, e, s):
        items, dense = strided_slice_spec(list(shape), _ints(b), _ints(e), _ints(s), *masks)
        return _ss_index(items, dense)

    if any(c is None for c in consts):
        return compute
    cache: dict = {}

    def cached(shape, b, e, s):
        idx = cache.get(shape)
        if idx is None:
            idx = cache[shape] = compute(shape, *consts)
        return idx
    return cached


def _strided_slice(node, ctx):
    dt = node.out_dtypes[0].np
    index = _ss_indexer(node)

    def strided_slice(x, b, e, s):
        x = np.asarray(x)
        return _arr(x[index(x.shape, b, e, s)], dt)
    return strided_slice


def _strided_slice_grad(node, ctx):
    dt = node.out_dtypes[0].np
    index = _ss_indexer(node)

    def strided_slice_grad(shape, b, e, s, dy):
        shape = tuple(_ints(shape))
        out = np.zeros(shape, dtype=dt)
        out[index(shape, b, e, s)] = dy
        return out
    return strided_slice_grad


# ----------------------------------------------------------------------------------------------
# dynamic_partition / dynamic_stitch
# ----------------------------------------------------------------------------------------------
def _dynamic_partition(node, ctx):
    n = node.attr["num_partitions"]

    def dynamic_partition(data, partitions):
        data, partitions = np.asarray(data), np.asarray(partitions)
        if data.shape[:partitions.ndim] != partitions.shape:
            raise ValueError(f"data.shape must start with partitions.shape, got data.shape = "
                             f"{_fmt(data.shape)}, partitions.shape = {_fmt(partitions.shape)}")
        _check_range(partitions, n, "partitions")
        if partitions.ndim == 0:
            return tuple(data[None] if int(partitions) == i else
                         np.zeros((0,) + data.shape, dtype=data.dtype) for i in range(n))
        return tuple(data[partitions == i] for i in range(n))
    return dynamic_partition


def _dynamic_stitch(node, ctx):
    n = node.attr["N"]
    dt = node.out_dtypes[0].np

    def dynamic_stitch(*args):
        indices = [np.asarray(i) for i in args[:n]]
        data = [np.asarray(d) for d in args[n:]]
        rows = max((int(i.max()) + 1 for i in indices if i.size), default=0)
        tail = data[0].shape[indices[0].ndim:]
        out = np.zeros((rows,) + tail, dtype=dt)
        for k, (i, d) in enumerate(zip(indices, data)):
            if d.shape != i.shape + tail:
                raise ValueError(f"data[{k}].shape = {_fmt(d.shape)} does not start with "
                                 f"indices[{k}].shape = {_fmt(i.shape)} followed by "
                                 f"{_fmt(tail)}")
            _check_range(i, rows if rows else 1, f"indices[{k}]")
            out[i.reshape(-1)] = d.reshape((-1,) + tail)
        return out
    return dynamic_stitch


# ----------------------------------------------------------------------------------------------
# unique / top_k / invert_permutation / shape_n / identity_n
# ----------------------------------------------------------------------------------------------
def _unique(node, ctx):
    idx_dt = node.attr["out_idx"].np

    def unique(x):
        x = np.asarray(x)
        if x.size == 0:
            return x.copy(), np.zeros(0, dtype=idx_dt)
        u, first, inv = np.unique(x, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(order), dtype=idx_dt)
        rank[order] = np.arange(len(order), dtype=idx_dt)
        return u[order], rank[inv.reshape(-1)]
    return unique


def _top_k(node, ctx):
    def top_k(x, k):
        x = np.asarray(x)
        k = int(k)
        n = x.shape[-1]
        if k < 0:
            raise ValueError(f"Need k >= 0, got {k}")
        if n < k:
            raise ValueError(f"input must have at least k columns. Had {n}, needed {k}")
        # stable descending order with ties broken by the lower index: sort the reversed row
        order = np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        idx = (n - 1 - order).astype(np.int32)
        return np.take_along_axis(x, idx, axis=-1), idx
    return top_k


def _invert_permutation(node, ctx):
    def invert_permutation(x):
        x = np.asarray(x)
        n = x.size
        _check_range(x, n, "x")
        out = np.full(n, -1, dtype=x.dtype)
        out[x] = np.arange(n, dtype=x.dtype)
        if n and out.min() < 0:
            missing = int(np.argmin(out))
            raise ValueError(f"{missing} is missing from the permutation (some value is "
                             "duplicated)")
        return out
    return invert_permutation


def _shape_n(node, ctx):
    dt = node.attr.get("out_type").np
    return lambda *xs: tuple(np.array(np.shape(x), dtype=dt) for x in xs)


def _identity_n(node, ctx):
    return lambda *xs: xs


KERNELS = {
    "BroadcastTo": _broadcast_to,
    "BroadcastGradientArgs": _broadcast_gradient_args,
    "ReducedShape": _reduced_shape,
    "Identity": _identity,
    "StopGradient": _identity,
    "Shape": _shape,
    "Size": _size,
    "Rank": _rank,
    "Fill": _fill,
    "ZerosLike": _zeros_like,
    "OnesLike": _ones_like,
    "Reshape": _reshape,
    "Transpose": _transpose_with(lambda y: y),
    "ConjugateTranspose": _transpose_with(np.conj),
    "ConcatV2": _concat,
    "ConcatOffset": _concat_offset,
    "Split": _split,
    "SplitV": _split_v,
    "Pack": _pack,
    "Unpack": _unpack,
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "Tile": _tile,
    "ReverseV2": _reverse,
    "Pad": _pad,
    "PadV2": _pad_v2,
    "MirrorPad": _mirror_pad,
    "MirrorPadGrad": _mirror_pad_grad,
    "GatherV2": _gather,
    "GatherNd": _gather_nd,
    "ScatterNd": _scatter_nd,
    "OneHot": _one_hot,
    "Where": _where,
    "Select": _select,
    "SelectV2": _select_v2,
    "Slice": _slice,
    "StridedSlice": _strided_slice,
    "StridedSliceGrad": _strided_slice_grad,
    "Unique": _unique,
    "TopKV2": _top_k,
    "InvertPermutation": _invert_permutation,
    "ShapeN": _shape_n,
    "IdentityN": _identity_n,
    "DynamicPartition": _dynamic_partition,
    "DynamicStitch": _dynamic_stitch,
    "ParallelDynamicStitch": _dynamic_stitch,
}
