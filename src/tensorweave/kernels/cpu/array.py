"""Kernels for array ops: shapes, reshaping, slicing, joining, gathering, masks.

They compute with the backend's array module (`ctx.xp`), or numpy for string tensors, which are
host values on every device type (`ctx.module_for`).  Shape-like inputs (a reshape's shape,
paddings, begin/size, ...) are read on the host (`ctx.to_host`), once in the factory when the
graph fixes them (`node.const_inputs`); results computed on the host (shapes, offsets) are moved
to the device with `ctx.to_device`.  Kernels never write into their inputs; ops registered
`may_alias` (transpose, slices, split, reverse, ...) may return views.  Index errors raise
`ValueError` with TF's message; the executor re-raises them as `InvalidArgumentError` naming the
node.
"""
from __future__ import annotations

import numpy as np

from ...framework.slicing import SS_MASKS, strided_slice_spec

__all__ = ["KERNELS"]


def _ints(v) -> list:
    return [int(a) for a in np.reshape(v, -1)]


def _module(node, ctx):
    """The array module for this node's tensors: numpy for strings (host values), else xp."""
    return ctx.module_for(node.attr.get("T") or node.out_dtypes[0])


def _arr(v, dt):
    """`v`, an element or slice of a tensor of dtype `dt`, as an array (indexing an object
    array of strings yields bare `bytes`)."""
    return v if dt is None or dt.kind != "O" or isinstance(v, (np.ndarray, np.generic)) \
        else np.array(v, dtype=dt)


def _given(node, ctx, pos, convert):
    """`convert` of input `pos` read on the host: done once here when the graph fixes that input
    (an axis, paddings, ...), else at each call."""
    c = node.const_inputs.get(pos)
    if c is None:
        to_host = ctx.to_host
        return lambda v: convert(to_host(v))
    fixed = convert(c)
    return lambda _v: fixed


def _int(v) -> int:
    return int(np.reshape(v, -1)[0])


def _fmt(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _first_bad(xp, bad) -> tuple:
    """The multi-index of the first True in `bad` (as TF reports it), as a string and tuple."""
    pos = np.unravel_index(int(xp.argmax(bad.reshape(-1))), bad.shape)
    return ("[" + ",".join(str(int(p)) for p in pos) + "]" if pos else ""), pos


def _check_range(xp, indices, n, what="indices") -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = (indices < 0) | (indices >= n)
        s, pos = _first_bad(xp, bad)
        raise ValueError(f"{what}{s} = {indices[pos]} is not in [0, {n})")


def _identity(node, ctx):
    return lambda x: x


def _shape(node, ctx):
    dt = node.attr.get("out_type").np
    asarray = ctx.xp.asarray
    return lambda x: asarray(np.shape(x), dtype=dt)


def _size(node, ctx):
    dt = node.attr.get("out_type").np
    asarray = ctx.xp.asarray
    return lambda x: asarray(np.size(x), dtype=dt)


def _rank(node, ctx):
    asarray = ctx.xp.asarray
    return lambda x: asarray(np.ndim(x), dtype=np.int32)


def _fill(node, ctx):
    dt = node.out_dtypes[0].np
    full, to_host = _module(node, ctx).full, ctx.to_host
    return lambda dims, value: full(tuple(_ints(to_host(dims))), value, dtype=dt)


def _zeros_like(node, ctx):
    dt = node.out_dtypes[0].np
    if dt.kind == "O":
        return lambda x: np.full(np.shape(x), b"", dtype=object)
    zeros = ctx.xp.zeros
    return lambda x: zeros(np.shape(x), dtype=dt)


def _ones_like(node, ctx):
    dt = node.out_dtypes[0].np
    ones = ctx.xp.ones
    return lambda x: ones(np.shape(x), dtype=dt)


def _reshape(node, ctx):
    reshape = _module(node, ctx).reshape
    target = _given(node, ctx, 1, lambda s: tuple(_ints(s)))
    return lambda x, s: reshape(x, target(s))


def _broadcast_to(node, ctx):
    broadcast_to = _module(node, ctx).broadcast_to
    target = _given(node, ctx, 1, lambda s: tuple(_ints(s)))
    return lambda x, s: broadcast_to(x, target(s))


def _broadcast_gradient_args(node, ctx):
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def bga(s0, s1):
        s0, s1 = _ints(to_host(s0)), _ints(to_host(s1))
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
        return (to_device(np.array(sorted(set(r0)), dtype=dt)),
                to_device(np.array(sorted(set(r1)), dtype=dt)))
    return bga


def _reduced_shape(node, ctx):
    to_host, to_device = ctx.to_host, ctx.to_device

    def reduced(shape, axes):
        out = np.array(to_host(shape), copy=True)
        r = out.shape[0]
        for a in _ints(to_host(axes)):
            out[a % r] = 1
        return to_device(out)
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


def _transpose_with(conj: bool):
    def factory(node, ctx):
        xp = _module(node, ctx)
        transpose = xp.transpose
        post = xp.conj if conj else (lambda y: y)
        c = node.const_inputs.get(1)
        if c is not None:
            perm = tuple(_ints(c))
            return lambda x, _p: post(transpose(x, perm))
        to_host = ctx.to_host
        return lambda x, p: post(transpose(x, _check_perm(_ints(to_host(p)), np.ndim(x))))
    return factory


# ----------------------------------------------------------------------------------------------
# concat / split / pack / unpack
# ----------------------------------------------------------------------------------------------
def _concat(node, ctx):
    axis = _given(node, ctx, node.attr["N"], _int)
    xp = _module(node, ctx)
    concatenate = xp.concatenate

    def concat(*args):
        vals, a = args[:-1], axis(args[-1])
        nd = getattr(vals[0], "ndim", 0)
        if nd and -nd <= a < nd and not all(getattr(getattr(v, "flags", None), "c_contiguous",
                                                      True) for v in vals):
            # strided inputs (transposed views): write a C-ordered result at once rather than
            # one in their layout that every later reshape would copy again
            shape = list(vals[0].shape)
            shape[a] = sum(v.shape[a] for v in vals)
            return concatenate(vals, axis=a, out=xp.empty(shape, vals[0].dtype))
        return concatenate(vals, axis=a)
    return concat


def _concat_offset(node, ctx):
    to_host, to_device = ctx.to_host, ctx.to_device

    def concat_offset(cd, *shapes):
        shapes = [to_host(s) for s in shapes]
        n = len(shapes[0])
        a = int(to_host(cd))
        if not -n <= a < n:
            raise ValueError(f"Concat dim is out of range: {a} vs. {n}")
        a %= n
        out, off = [], 0
        for s in shapes:
            o = np.zeros(n, dtype=s.dtype)
            o[a] = off
            off += int(s[a])
            out.append(to_device(o))
        return tuple(out)
    return concat_offset


def _outputs(values):
    """The return of a kernel with a list of outputs: a tuple, or the value itself when the
    list has one element (a kernel of a node with one output returns that output)."""
    return values[0] if len(values) == 1 else tuple(values)


def _split(node, ctx):
    n = node.attr["num_split"]
    axis = _given(node, ctx, 0, _int)
    xp = _module(node, ctx)

    def split(a, x):
        x = xp.asarray(x)
        a = axis(a) % x.ndim
        if x.shape[a] % n:
            raise ValueError(f"Number of ways to split should evenly divide the split dimension, "
                             f"but got split_dim {a} (size = {x.shape[a]}) and num_split {n}")
        return _outputs(xp.split(x, n, axis=a))
    return split


def _split_v(node, ctx):
    axis, given_sizes = _given(node, ctx, 2, _int), _given(node, ctx, 1, _ints)
    xp = _module(node, ctx)

    def split_v(x, sizes, a):
        x = xp.asarray(x)
        a = axis(a) % x.ndim
        sizes = list(given_sizes(sizes))
        d = x.shape[a]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = d - sum(s for s in sizes if s != -1)
        if sum(sizes) != d or min(sizes, default=0) < 0:
            raise ValueError(f"Determined shape must either match input shape along split_dim "
                             f"exactly if fully specified, or be less than the size of the input "
                             f"along split_dim if not fully specified.  Got: {sum(sizes)}")
        bounds = np.cumsum(sizes)[:-1].tolist()
        return _outputs(xp.split(x, bounds, axis=a))
    return split_v


def _pack(node, ctx):
    axis = node.attr["axis"]
    stack = _module(node, ctx).stack
    return lambda *xs: stack(xs, axis=axis)


def _unpack(node, ctx):
    axis, num = node.attr["axis"], node.attr["num"]
    dt = node.out_dtypes[0].np if node.out_dtypes else None
    xp = _module(node, ctx)

    def unpack(x):
        x = xp.asarray(x)
        if x.shape[axis] != num:
            raise ValueError(f"Input shape axis {axis % x.ndim} must equal {num}, got shape "
                             f"{_fmt(x.shape)}")
        moved = xp.moveaxis(x, axis, 0)
        return _outputs([_arr(moved[i], dt) for i in range(num)])
    return unpack


# ----------------------------------------------------------------------------------------------
# expand_dims / squeeze / tile / reverse
# ----------------------------------------------------------------------------------------------
def _expand_dims(node, ctx):
    dim = _given(node, ctx, 1, _int)
    expand = _module(node, ctx).expand_dims

    def expand_dims(x, d):
        d = dim(d)
        r = np.ndim(x)
        if d < -r - 1 or d > r:
            raise ValueError(f"Tried to expand dim index {d} for tensor with {r} dimensions.")
        return expand(x, d)
    return expand_dims


def _squeeze(node, ctx):
    axes = list(node.attr.get("squeeze_dims") or [])
    xp = _module(node, ctx)
    if not axes:
        return xp.squeeze

    def squeeze(x):
        x = xp.asarray(x)
        r = x.ndim
        for a in axes:
            if not -r <= a < r:
                raise ValueError(f"Tried to squeeze dim index {a} for tensor with {r} "
                                 "dimensions.")
            if x.shape[a] != 1:
                raise ValueError(f"Can not squeeze dim[{a % r}], expected a dimension of 1, "
                                 f"got {x.shape[a]}")
        return xp.squeeze(x, axis=tuple(a % r for a in axes))
    return squeeze


def _tile(node, ctx):
    multiples = _given(node, ctx, 1, _ints)
    tile_ = _module(node, ctx).tile

    def tile(x, m):
        m = multiples(m)
        if len(m) != np.ndim(x):
            raise ValueError(f"Expected multiples argument to be a vector of length "
                             f"{np.ndim(x)} but got length {len(m)}")
        if min(m, default=0) < 0:
            raise ValueError(f"Expected multiples argument to be non-negative, but got {m}")
        return tile_(x, m)
    return tile


def _reverse(node, ctx):
    given_axes = _given(node, ctx, 1, _ints)
    flip = _module(node, ctx).flip

    def reverse(x, axis):
        r = np.ndim(x)
        axes = given_axes(axis)
        for a in axes:
            if not -r <= a < r:
                raise ValueError(f"'axis'[{axes.index(a)}] = {a} is out of valid range "
                                 f"[{-r}, {r - 1}]")
        if len({a % r for a in axes}) != len(axes):
            raise ValueError(f"axis {axes} specifies a dimension more than once")
        return flip(x, tuple(a % r for a in axes))
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


def _pad_constant(xp, x, pads, value, dt):
    x = xp.asarray(x)
    out = xp.full(tuple(d + a + b for d, (a, b) in zip(x.shape, pads)), value, dtype=dt)
    out[tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, pads))] = x
    return out


def _pad(node, ctx):
    dt = node.out_dtypes[0].np
    zero = b"" if dt.kind == "O" else 0
    pairs = _given(node, ctx, 1, _pairs)
    xp = _module(node, ctx)
    return lambda x, p: _pad_constant(xp, x, _paddings(pairs(p), x), zero, dt)


def _pad_v2(node, ctx):
    dt = node.out_dtypes[0].np
    pairs = _given(node, ctx, 1, _pairs)
    xp = _module(node, ctx)
    return lambda x, p, c: _pad_constant(xp, x, _paddings(pairs(p), x), c, dt)


def _mirror_pad(node, ctx):
    mode = node.attr["mode"]
    off = 1 if mode == "REFLECT" else 0
    pairs = _given(node, ctx, 1, _pairs)
    xp = _module(node, ctx)

    def mirror_pad(x, p):
        x = xp.asarray(x)
        pads = _paddings(pairs(p), x)
        for (a, b), d in zip(pads, x.shape):
            if a > d - off or b > d - off:
                raise ValueError(f"paddings must be {'less than' if off else 'no greater than'} "
                                 f"the dimension size: {a}, {b} vs {d} ({mode})")
        if x.ndim == 0:
            return x.copy()
        return xp.pad(x, pads, mode=mode.lower())
    return mirror_pad


def _mirror_pad_grad(node, ctx):
    off = 1 if node.attr["mode"] == "REFLECT" else 0
    pairs = _given(node, ctx, 1, _pairs)
    xp = ctx.xp

    def mirror_pad_grad(g, p):
        g = xp.asarray(g)
        out = g
        for axis, (a, b) in enumerate(_paddings(pairs(p), g)):
            m = xp.moveaxis(out, axis, 0)
            n = m.shape[0] - a - b
            core = m[a:a + n].copy()
            if a:
                core[off:off + a] += m[:a][::-1]
            if b:
                core[n - off - b:n - off] += m[a + n:][::-1]
            out = xp.moveaxis(core, 0, axis)
        return out if out is not g else g.copy()
    return mirror_pad_grad


# ----------------------------------------------------------------------------------------------
# gather / gather_nd / scatter_nd
# ----------------------------------------------------------------------------------------------
def _gather(node, ctx):
    dt = node.out_dtypes[0].np
    axis = _given(node, ctx, 2, _int)
    xp, ixp = _module(node, ctx), ctx.xp
    to_host = ctx.to_host if xp is not ixp else (lambda i: i)   # host params: host indices

    def gather(p, i, a):
        p, i = xp.asarray(p), xp.asarray(to_host(i))
        a = axis(a)
        if not -p.ndim <= a < p.ndim:
            raise ValueError(f"Expected axis in the range [{-p.ndim}, {p.ndim}), but got {a}")
        _check_range(xp, i, p.shape[a])
        return _arr(xp.take(p, i, axis=a), dt)
    return gather


def _nd_check(xp, i, limits, what):
    """Each row of `i[..., :k]` must lie inside `limits`; TF's message names the first bad row."""
    if i.size:
        bad = ((i < 0) | (i >= xp.asarray(limits, dtype=np.int64))).any(axis=-1)
        if bad.any():
            s, pos = _first_bad(xp, bad)
            row = ", ".join(str(int(v)) for v in i[pos])
            raise ValueError(f"indices{s} = [{row}] does not index into {what}")


def _gather_nd(node, ctx):
    dt = node.out_dtypes[0].np
    xp, ixp = _module(node, ctx), ctx.xp
    to_host = ctx.to_host if xp is not ixp else (lambda i: i)

    def gather_nd(p, i):
        p, i = xp.asarray(p), xp.asarray(to_host(i))
        k = i.shape[-1]
        _nd_check(xp, i, p.shape[:k], f"param shape {_fmt(p.shape)}")
        if k == 0:
            return xp.broadcast_to(p, i.shape[:-1] + p.shape).copy()
        return _arr(p[tuple(xp.moveaxis(i, -1, 0))], dt)
    return gather_nd


def _scatter_nd(node, ctx):
    dt = node.out_dtypes[0].np
    xp = ctx.xp
    shape_of = _given(node, ctx, 2, lambda s: tuple(_ints(s)))

    def scatter_nd(i, u, s):
        i, u = xp.asarray(i), xp.asarray(u)
        shape = shape_of(s)
        k = i.shape[-1]
        want = i.shape[:-1] + shape[k:]
        if k > len(shape) or u.shape != want:
            raise ValueError(f"Must have updates.shape = indices.shape[:-1] + shape[indices."
                             f"shape[-1]:], got updates.shape {_fmt(u.shape)}, indices.shape "
                             f"{_fmt(i.shape)}, shape {_fmt(shape)}")
        _nd_check(xp, i, shape[:k], f"shape {_fmt(shape)}")
        out = xp.zeros(shape, dtype=dt)
        if k == 0:
            out += u.reshape((-1,) + shape).sum(axis=0, dtype=dt)
        else:
            xp.add.at(out, tuple(xp.moveaxis(i, -1, 0)), u)
        return out
    return scatter_nd


# ----------------------------------------------------------------------------------------------
# one_hot / where / select
# ----------------------------------------------------------------------------------------------
def _one_hot(node, ctx):
    dt = node.out_dtypes[0].np
    axis = node.attr["axis"]
    xp, to_host = ctx.xp, ctx.to_host

    def one_hot(i, depth, on, off):
        i = xp.asarray(i)
        d = int(to_host(depth))
        if d < 0:
            raise ValueError(f"depth must be non-negative, got: {d}")
        a = i.ndim if axis == -1 else axis
        flat = i.reshape(-1)
        out = xp.empty((flat.size, d), dt)
        out[...] = off                      # then `on` where an index is in [0, depth)
        rows = xp.nonzero((flat >= 0) & (flat < d))[0]
        out[rows, flat[rows]] = on
        out = out.reshape(i.shape + (d,))
        return out if a == i.ndim else xp.ascontiguousarray(xp.moveaxis(out, -1, a))
    return one_hot


def _where(node, ctx):
    argwhere = ctx.xp.argwhere
    return lambda c: argwhere(c).astype(np.int64, copy=False)


def _select(node, ctx):
    xp = _module(node, ctx)
    ixp = ctx.xp
    to_host = ctx.to_host if xp is not ixp else (lambda c: c)   # host branches: host mask

    def select(c, x, y):
        c, x, y = xp.asarray(to_host(c)), xp.asarray(x), xp.asarray(y)
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
        return xp.where(c, x, y)
    return select


def _select_v2(node, ctx):
    xp = _module(node, ctx)
    where = xp.where
    if xp is ctx.xp:
        return where
    to_host = ctx.to_host
    return lambda c, x, y: where(to_host(c), x, y)


# ----------------------------------------------------------------------------------------------
# slice / strided_slice
# ----------------------------------------------------------------------------------------------
def _slice(node, ctx):
    dt = node.out_dtypes[0].np
    begin, size = _given(node, ctx, 1, _ints), _given(node, ctx, 2, _ints)
    xp = _module(node, ctx)

    def slice_(x, b, s):
        x = xp.asarray(x)
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


def _ss_indexer(node, ctx):
    """fn(shape, begin, end, strides) -> index, cached per input shape when constant."""
    masks = [int(node.attr.get(m, 0)) for m in SS_MASKS]
    consts = [node.const_inputs.get(p) for p in (1, 2, 3)]

    def compute(shape, b, e, s):
        items, dense = strided_slice_spec(list(shape), _ints(b), _ints(e), _ints(s), *masks)
        return _ss_index(items, dense)

    if any(c is None for c in consts):
        to_host = ctx.to_host
        return lambda shape, b, e, s: compute(shape, to_host(b), to_host(e), to_host(s))
    cache: dict = {}

    def cached(shape, b, e, s):
        idx = cache.get(shape)
        if idx is None:
            idx = cache[shape] = compute(shape, *consts)
        return idx
    return cached


def _strided_slice(node, ctx):
    dt = node.out_dtypes[0].np
    index = _ss_indexer(node, ctx)
    asarray = _module(node, ctx).asarray

    def strided_slice(x, b, e, s):
        x = asarray(x)
        return _arr(x[index(x.shape, b, e, s)], dt)
    return strided_slice


def _strided_slice_grad(node, ctx):
    dt = node.out_dtypes[0].np
    index = _ss_indexer(node, ctx)
    zeros, to_host = ctx.xp.zeros, ctx.to_host

    def strided_slice_grad(shape, b, e, s, dy):
        shape = tuple(_ints(to_host(shape)))
        out = zeros(shape, dtype=dt)
        out[index(shape, b, e, s)] = dy
        return out
    return strided_slice_grad


# ----------------------------------------------------------------------------------------------
# dynamic_partition / dynamic_stitch
# ----------------------------------------------------------------------------------------------
def _dynamic_partition(node, ctx):
    n = node.attr["num_partitions"]
    xp, ixp = _module(node, ctx), ctx.xp
    to_host = ctx.to_host if xp is not ixp else (lambda i: i)

    def dynamic_partition(data, partitions):
        data, partitions = xp.asarray(data), xp.asarray(to_host(partitions))
        if data.shape[:partitions.ndim] != partitions.shape:
            raise ValueError(f"data.shape must start with partitions.shape, got data.shape = "
                             f"{_fmt(data.shape)}, partitions.shape = {_fmt(partitions.shape)}")
        _check_range(xp, partitions, n, "partitions")
        if partitions.ndim == 0:
            return _outputs([data[None] if int(partitions) == i else
                             xp.zeros((0,) + data.shape, dtype=data.dtype) for i in range(n)])
        return _outputs([data[partitions == i] for i in range(n)])
    return dynamic_partition


def _dynamic_stitch(node, ctx):
    n = node.attr["N"]
    dt = node.out_dtypes[0].np
    xp, ixp = _module(node, ctx), ctx.xp
    to_host = ctx.to_host if xp is not ixp else (lambda i: i)

    def dynamic_stitch(*args):
        indices = [xp.asarray(to_host(i)) for i in args[:n]]
        data = [xp.asarray(d) for d in args[n:]]
        rows = max((int(i.max()) + 1 for i in indices if i.size), default=0)
        tail = data[0].shape[indices[0].ndim:]
        out = xp.zeros((rows,) + tail, dtype=dt)
        for k, (i, d) in enumerate(zip(indices, data)):
            if d.shape != i.shape + tail:
                raise ValueError(f"data[{k}].shape = {_fmt(d.shape)} does not start with "
                                 f"indices[{k}].shape = {_fmt(i.shape)} followed by "
                                 f"{_fmt(tail)}")
            _check_range(xp, i, rows if rows else 1, f"indices[{k}]")
            out[i.reshape(-1)] = d.reshape((-1,) + tail)
        return out
    return dynamic_stitch


# ----------------------------------------------------------------------------------------------
# unique / top_k / invert_permutation / shape_n / identity_n
# ----------------------------------------------------------------------------------------------
def _unique(node, ctx):
    idx_dt = node.attr["out_idx"].np
    xp = _module(node, ctx)
    to_device = ctx.to_device   # (the indices of string values are computed on the host)

    def unique(x):
        x = xp.asarray(x)
        if x.size == 0:
            return x.copy(), to_device(np.zeros(0, dtype=idx_dt))
        u, first, inv = xp.unique(x, return_index=True, return_inverse=True)
        order = xp.argsort(first, kind="stable")
        rank = xp.empty(len(order), dtype=idx_dt)
        rank[order] = xp.arange(len(order), dtype=idx_dt)
        return u[order], to_device(rank[inv.reshape(-1)])
    return unique


def _top_k(node, ctx):
    xp, to_host = ctx.xp, ctx.to_host

    def top_k(x, k):
        x = xp.asarray(x)
        k = int(to_host(k))
        n = x.shape[-1]
        if k < 0:
            raise ValueError(f"Need k >= 0, got {k}")
        if n < k:
            raise ValueError(f"input must have at least k columns. Had {n}, needed {k}")
        # stable descending order with ties broken by the lower index: sort the reversed row
        order = xp.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        idx = (n - 1 - order).astype(np.int32)
        return xp.take_along_axis(x, idx, axis=-1), idx
    return top_k


def _invert_permutation(node, ctx):
    xp = ctx.xp

    def invert_permutation(x):
        x = xp.asarray(x)
        n = x.size
        _check_range(xp, x, n, "x")
        out = xp.full(n, -1, dtype=x.dtype)
        out[x] = xp.arange(n, dtype=x.dtype)
        if n and out.min() < 0:
            missing = int(xp.argmin(out))
            raise ValueError(f"{missing} is missing from the permutation (some value is "
                             "duplicated)")
        return out
    return invert_permutation


def _shape_n(node, ctx):
    dt = node.attr.get("out_type").np
    asarray = ctx.xp.asarray
    return lambda *xs: _outputs([asarray(np.shape(x), dtype=dt) for x in xs])


def _identity_n(node, ctx):
    return lambda *xs: _outputs(xs)


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
    "Transpose": _transpose_with(conj=False),
    "ConjugateTranspose": _transpose_with(conj=True),
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
