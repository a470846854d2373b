"""Kernels: convolution and pooling, all computed in NHWC on the backend's array module.

* `Conv2D`: im2col -- a strided *view* of the padded input, [N, OH, OW, KH, KW, C] -- copied once
  into a matrix and multiplied by the filter matrix [KH*KW*C, O] (one BLAS call).
* `Conv2DBackpropFilter`: the same columns, transposed, times the output gradient.
* `Conv2DBackpropInput`: col2im one kernel tap at a time -- the output gradient times that
  tap's transposed filter [O, C] is added into the strided slice of the padded input the tap
  met (KH*KW matmuls and vectorised adds, never a loop over pixels).
* Pooling and depthwise convolution loop over the KH*KW kernel positions, each step one
  vectorised operation on a strided slice.

Geometry is TF's: SAME gives `ceil(n / stride)` outputs with the extra padding row/column at the
bottom/right; VALID `ceil((n - (k - 1) * dilation) / stride)`.  NCHW tensors are transposed to
NHWC on the way in and back on the way out.  float16 is computed in float32 and rounded once.
Input and filter sizes (`Conv2DBackpropInput`'s `input_sizes`, ...) are read on the host.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "geometry"]


def geometry(n: int, k: int, stride: int, dilation: int, padding: str) -> tuple:
    """(output size, padding before, padding after) of one spatial dimension, as TF."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = -(-n // stride)
        total = max((out - 1) * stride + eff - n, 0)
        return out, total // 2, total - total // 2
    if n < eff:
        raise ValueError(f"Window of {eff} (kernel {k}, dilation {dilation}) is larger than the "
                         f"input dimension {n} with VALID padding")
    return (n - eff) // stride + 1, 0, 0


class _Conv:
    """The attrs of a conv/pool node, read once by the factory, and the array module (`xp`) its
    kernel computes with."""

    def __init__(self, node, ctx, window_attr: str | None = None):
        self.xp = ctx.xp
        self.as_strided = ctx.xp.lib.stride_tricks.as_strided
        self.to_host, self.to_device = ctx.to_host, ctx.to_device
        a = node.attr
        self.nchw = a.get("data_format", "NHWC") == "NCHW"
        pick = (lambda v: (int(v[2]), int(v[3]))) if self.nchw else \
            (lambda v: (int(v[1]), int(v[2])))
        self.sh, self.sw = pick(a["strides"])
        self.dh, self.dw = pick(a.get("dilations") or [1, 1, 1, 1])
        self.k = pick(a[window_attr]) if window_attr else None
        self.padding = a["padding"]
        self.dt = node.out_dtypes[0].np
        self.acc = np.float32 if self.dt == np.float16 else self.dt

    # --- layout ---------------------------------------------------------------------------------
    def to_nhwc(self, x):
        x = self.xp.asarray(x)
        if self.nchw:
            x = x.transpose(0, 2, 3, 1)
        return x.astype(self.acc, copy=False)

    def sizes_nhwc(self, sizes) -> tuple:
        n, a, b, c = (int(s) for s in np.reshape(self.to_host(sizes), -1))
        return (n, b, c, a) if self.nchw else (n, a, b, c)

    def out(self, y):
        if self.nchw:
            y = y.transpose(0, 3, 1, 2)
        return self.xp.ascontiguousarray(y, dtype=self.dt)

    # --- geometry -------------------------------------------------------------------------------
    def plan(self, h: int, w: int, kh: int, kw: int) -> tuple:
        oh, pt, pb = geometry(h, kh, self.sh, self.dh, self.padding)
        ow, pl, pr = geometry(w, kw, self.sw, self.dw, self.padding)
        return oh, ow, (pt, pb, pl, pr)

    def pad(self, x, pads, value=0):
        pt, pb, pl, pr = pads
        if not (pt or pb or pl or pr):
            return x
        return self.xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)

    def window(self, xpad, i: int, j: int, oh: int, ow: int):
        """The input positions that kernel tap (i, j) meets, as a strided [N, OH, OW, C] view."""
        r, c = i * self.dh, j * self.dw
        return xpad[:, r:r + self.sh * (oh - 1) + 1:self.sh,
                    c:c + self.sw * (ow - 1) + 1:self.sw]

    def columns(self, xpad, kh: int, kw: int, oh: int, ow: int):
        """The im2col matrix [N*OH*OW, KH*KW*C] of the padded input (one copy).

        Copied from a strided view [N, OH, OW, KH, KW, C]; without width dilation a kernel row's
        KW*C values are contiguous in the input, so the view merges them into one axis and the
        copy moves rows of KW*C values rather than of C.
        """
        n, _, _, c = xpad.shape
        s0, s1, s2, s3 = xpad.strides
        as_strided = self.as_strided   # (read only: the reshape below copies the view)
        if self.dw == 1 and s2 == c * s3:
            view = as_strided(xpad, (n, oh, ow, kh, kw * c),
                              (s0, s1 * self.sh, s2 * self.sw, s1 * self.dh, s3))
        else:
            view = as_strided(xpad, (n, oh, ow, kh, kw, c),
                              (s0, s1 * self.sh, s2 * self.sw, s1 * self.dh, s2 * self.dw, s3))
        return view.reshape(n * oh * ow, kh * kw * c)

    def crop(self, xpad, pads, h: int, w: int):
        pt, _, pl, _ = pads
        return xpad[:, pt:pt + h, pl:pl + w]

    def zeros_padded(self, n: int, h: int, w: int, c: int, pads):
        return self.xp.zeros((n, h + pads[0] + pads[1], w + pads[2] + pads[3], c),
                             dtype=self.acc)

    def pool(self, x, fill, combine) -> tuple:
        """The KH*KW tap windows of the padded input folded with `combine` (xp.maximum,
        xp.add) into a new array, and the geometry (H, W, OH, OW, pads)."""
        x = self.to_nhwc(x)
        (kh, kw), h, w = self.k, x.shape[1], x.shape[2]
        oh, ow, pads = self.plan(h, w, kh, kw)
        xpad = self.pad(x, pads, fill)
        y = self.window(xpad, 0, 0, oh, ow).copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    combine(y, self.window(xpad, i, j, oh, ow), out=y)
        return y, (h, w, oh, ow, pads)

    # --- forward and backprop halves of a convolution ----------------------------------------
    def forward_inputs(self, x, f) -> tuple:
        """(padded input in NHWC, filter, OH, OW) for a forward convolution kernel."""
        x, f = self.to_nhwc(x), self.xp.asarray(f).astype(self.acc, copy=False)
        if x.shape[3] != f.shape[2]:
            raise ValueError(f"input depth {x.shape[3]} does not match the filter's in_channels "
                             f"{f.shape[2]} (input {list(x.shape)} in NHWC, filter "
                             f"{list(f.shape)})")
        oh, ow, pads = self.plan(x.shape[1], x.shape[2], f.shape[0], f.shape[1])
        return self.pad(x, pads), f, oh, ow

    def filter_grad_inputs(self, x, filter_sizes, dy) -> tuple:
        """(padded input, dy in NHWC, filter sizes, OH, OW) for a filter-gradient kernel."""
        x, dy = self.to_nhwc(x), self.to_nhwc(dy)
        ks = tuple(int(s) for s in np.reshape(self.to_host(filter_sizes), -1))
        oh, ow, pads = self.plan(x.shape[1], x.shape[2], ks[0], ks[1])
        return self.pad(x, pads), dy, ks, oh, ow

    def input_grad(self, input_sizes, f, dy, tap):
        """col2im, one kernel tap at a time: `tap(dy, f[i, j])` -- that tap's share of the
        input gradient, [N, OH, OW, C] -- is added into the strided window of the padded
        input the tap met."""
        f, dy = self.xp.asarray(f).astype(self.acc, copy=False), self.to_nhwc(dy)
        n, h, w, c = self.sizes_nhwc(input_sizes)
        kh, kw = f.shape[:2]
        oh, ow, pads = self.plan(h, w, kh, kw)
        dxp = self.zeros_padded(n, h, w, c, pads)
        for i in range(kh):
            for j in range(kw):
                self.window(dxp, i, j, oh, ow)[...] += tap(self.xp, dy, f[i, j])
        return self.out(self.crop(dxp, pads, h, w))


# ----------------------------------------------------------------------------------------------
# Conv2D
# ----------------------------------------------------------------------------------------------
def _conv2d(node, ctx):
    g = _Conv(node, ctx)
    matmul = g.xp.matmul

    def conv2d(x, f):
        xpad, f, oh, ow = g.forward_inputs(x, f)
        kh, kw, c, o = f.shape
        if kh == kw == 1:
            y = matmul(g.window(xpad, 0, 0, oh, ow), f[0, 0])
        else:
            y = matmul(g.columns(xpad, kh, kw, oh, ow), f.reshape(kh * kw * c, o))
            y = y.reshape(xpad.shape[0], oh, ow, o)
        return g.out(y)
    return conv2d


def _conv2d_backprop_filter(node, ctx):
    g = _Conv(node, ctx)
    matmul = g.xp.matmul

    def conv2d_backprop_filter(x, filter_sizes, dy):
        xpad, dy, (kh, kw, c, o), oh, ow = g.filter_grad_inputs(x, filter_sizes, dy)
        cols = g.columns(xpad, kh, kw, oh, ow)
        df = matmul(cols.T, dy.reshape(-1, o))
        return df.reshape(kh, kw, c, o).astype(g.dt, copy=False)
    return conv2d_backprop_filter


def _conv_tap(xp, dy, fij):
    """Conv2D's input gradient from one tap: dy [N, OH, OW, O] @ f[i, j].T [O, C]."""
    c, o = fij.shape
    return xp.matmul(dy.reshape(-1, o), fij.T).reshape(dy.shape[:3] + (c,))


def _conv2d_backprop_input(node, ctx):
    g = _Conv(node, ctx)
    return lambda input_sizes, f, dy: g.input_grad(input_sizes, f, dy, _conv_tap)


# ----------------------------------------------------------------------------------------------
# depthwise convolution: filter [KH, KW, C, M], output channel c * M + m
# ----------------------------------------------------------------------------------------------
def _depthwise(node, ctx):
    g = _Conv(node, ctx)
    zeros = g.xp.zeros

    def depthwise_conv2d_native(x, f):
        xpad, f, oh, ow = g.forward_inputs(x, f)
        kh, kw, c, m = f.shape
        n = xpad.shape[0]
        y = zeros((n, oh, ow, c, m), dtype=g.acc)
        for i in range(kh):
            for j in range(kw):
                y += g.window(xpad, i, j, oh, ow)[..., None] * f[i, j]
        return g.out(y.reshape(n, oh, ow, c * m))
    return depthwise_conv2d_native


def _depthwise_tap(xp, dy, fij):
    """DepthwiseConv2dNative's input gradient from one tap: sum over the multiplier."""
    c, m = fij.shape
    return xp.einsum("nhwcm,cm->nhwc", dy.reshape(dy.shape[:3] + (c, m)), fij)


def _depthwise_backprop_input(node, ctx):
    g = _Conv(node, ctx)
    return lambda input_sizes, f, dy: g.input_grad(input_sizes, f, dy, _depthwise_tap)


def _depthwise_backprop_filter(node, ctx):
    g = _Conv(node, ctx)
    empty, einsum = g.xp.empty, g.xp.einsum

    def depthwise_backprop_filter(x, filter_sizes, dy):
        xpad, dy, (kh, kw, c, m), oh, ow = g.filter_grad_inputs(x, filter_sizes, dy)
        dy = dy.reshape(dy.shape[:3] + (c, m))
        df = empty((kh, kw, c, m), dtype=g.acc)
        for i in range(kh):
            for j in range(kw):
                df[i, j] = einsum("nhwc,nhwcm->cm", g.window(xpad, i, j, oh, ow), dy)
        return df.astype(g.dt, copy=False)
    return depthwise_backprop_filter


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _lowest(dt):
    return -np.inf if np.dtype(dt).kind == "f" else np.iinfo(dt).min


def _max_pool(node, ctx):
    g = _Conv(node, ctx, "ksize")
    lowest = _lowest(g.acc)
    maximum = g.xp.maximum
    return lambda x: g.out(g.pool(x, lowest, maximum)[0])


def _max_pool_grad(node, ctx):
    g = _Conv(node, ctx, "ksize")
    kh, kw = g.k
    disjoint = g.sh >= kh and g.sw >= kw   # each input in at most one window
    xp = g.xp

    def max_pool_grad(x, y, dy):
        x, y, dy = g.to_nhwc(x), g.to_nhwc(y), g.to_nhwc(dy)
        _, h, w, _ = x.shape
        oh, ow, pads = g.plan(h, w, kh, kw)
        xpad = g.pad(x, pads, _lowest(x.dtype))
        dxp = xp.zeros(xpad.shape, dtype=g.acc)
        free = xp.ones(y.shape, dtype=bool)   # windows whose (first) maximum is not yet found
        hit = xp.empty(y.shape, dtype=bool)
        share = xp.empty(y.shape, dtype=g.acc)
        for i in range(kh):
            for j in range(kw):
                xp.equal(g.window(xpad, i, j, oh, ow), y, out=hit)
                hit &= free
                free ^= hit
                if disjoint:
                    xp.multiply(dy, hit, out=g.window(dxp, i, j, oh, ow))
                else:
                    xp.multiply(dy, hit, out=share)
                    g.window(dxp, i, j, oh, ow)[...] += share
        return g.out(g.crop(dxp, pads, h, w))
    return max_pool_grad


def _max_pool_grad_grad(node, ctx):
    g = _Conv(node, ctx, "ksize")
    kh, kw = g.k
    xp = g.xp

    def max_pool_grad_grad(x, y, grad):
        x, y, grad = g.to_nhwc(x), g.to_nhwc(y), g.to_nhwc(grad)
        _, h, w, _ = x.shape
        oh, ow, pads = g.plan(h, w, kh, kw)
        xpad, gp = g.pad(x, pads, _lowest(x.dtype)), g.pad(grad, pads)
        out = xp.zeros(y.shape, dtype=g.acc)
        free = xp.ones(y.shape, dtype=bool)
        hit = xp.empty(y.shape, dtype=bool)
        for i in range(kh):
            for j in range(kw):
                xp.equal(g.window(xpad, i, j, oh, ow), y, out=hit)
                hit &= free
                free ^= hit
                out += g.window(gp, i, j, oh, ow) * hit
        return g.out(out)
    return max_pool_grad_grad


def _counts(n: int, k: int, stride: int, out: int, before: int) -> np.ndarray:
    """How many in-bounds input positions each output window covers, along one dimension."""
    start = np.arange(out) * stride - before
    return np.minimum(start + k, n) - np.maximum(start, 0)


def _avg_divisor(g, h, w, kh, kw, oh, ow, pads):
    """The window sizes [1, OH, OW, 1] (computed on the host from the geometry alone)."""
    ch = _counts(h, kh, g.sh, oh, pads[0])
    cw = _counts(w, kw, g.sw, ow, pads[2])
    return g.to_device((ch[:, None] * cw[None, :])[None, :, :, None].astype(g.acc))


def _avg_pool(node, ctx):
    g = _Conv(node, ctx, "ksize")
    kh, kw = g.k
    add = g.xp.add

    def avg_pool(x):
        y, (h, w, oh, ow, pads) = g.pool(x, 0, add)
        y /= _avg_divisor(g, h, w, kh, kw, oh, ow, pads)
        return g.out(y)
    return avg_pool


def _avg_pool_grad(node, ctx):
    g = _Conv(node, ctx, "ksize")
    kh, kw = g.k

    def avg_pool_grad(sizes, dy):
        dy = g.to_nhwc(dy)
        n, h, w, c = g.sizes_nhwc(sizes)
        oh, ow, pads = g.plan(h, w, kh, kw)
        share = dy / _avg_divisor(g, h, w, kh, kw, oh, ow, pads)
        dxp = g.zeros_padded(n, h, w, c, pads)
        for i in range(kh):
            for j in range(kw):
                g.window(dxp, i, j, oh, ow)[...] += share
        return g.out(g.crop(dxp, pads, h, w))
    return avg_pool_grad


KERNELS = {
    "Conv2D": _conv2d,
    "Conv2DBackpropInput": _conv2d_backprop_input,
    "Conv2DBackpropFilter": _conv2d_backprop_filter,
    "DepthwiseConv2dNative": _depthwise,
    "DepthwiseConv2dNativeBackpropInput": _depthwise_backprop_input,
    "DepthwiseConv2dNativeBackpropFilter": _depthwise_backprop_filter,
    "MaxPool": _max_pool,
    "MaxPoolGrad": _max_pool_grad,
    "MaxPoolGradGrad": _max_pool_grad_grad,
    "AvgPool": _avg_pool,
    "AvgPoolGrad": _avg_pool_grad,
}
