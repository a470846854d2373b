"""Kernels: the fused LSTM ops (`LSTMBlockCell`, `BlockLSTM` and their gradients) and
`ReverseSequence`, on the backend's array module (`ctx.xp`).

Layout and cost model.  Inside the kernels a step is *feature-major*: the four gates of step t
are one contiguous `[4 * cell, batch]` block (rows in TF's gate order i, ci, f, o), the state
`[cell, batch]`.  So every gate is a contiguous `[cell, batch]` slab (numpy's element-wise loops
run flat over it; column blocks of a `[batch, 4 * cell]` row block are strided and run about
2.5x slower at batch 32), and the per-step matmuls take the shapes BLAS runs fastest here
(`[4 * cell, cell] @ [cell, batch]`, about 30% faster than `[batch, cell] @ [cell, 4 * cell]`).

* forward: the input part of every step's gates is ONE matmul over the whole sequence
  (`w[:input]^T @ x^T`, `[4 * cell, time * batch]`, bias and forget bias added once); a step adds
  the recurrent matmul `w[input:]^T @ h_prev` and applies the activations in place:
  sigmoid(v) = (1 + tanh(v / 2)) / 2, so with the rows of i, f, o pre-scaled by 1/2 (in the
  weights and bias, once) one `tanh` call gives all four gates, and a multiply-add finishes the
  three sigmoids (no overflow, no branch);
* backward: a step computes its gate gradients in place in one `[4 * cell, batch]` block and one
  recurrent matmul (`w[input:] @ d_gates`); the blocks (contiguous per step while the loop
  writes them: a step's column block of a `[4 * cell, time * batch]` array spans the whole
  array, and writing it costs more TLB misses than one transposing copy afterwards) are gathered
  `[4 * cell, time * batch]` so that after the loop ONE matmul gives dW over all steps
  (`[x; h_prev] @ d^T`) and one more dx, already in the `[time, batch, input]` layout.

The op's outputs keep their TF shapes (`[time, batch, cell]`) as transposed views of the
kernel's arrays; the gradient kernel recognises such views of its forward op and reads the
arrays directly (any other layout is copied first).  float16 is computed in float32 and rounded
once.

Each kernel keeps its big arrays (outputs and workspaces) in a `_Buffers` pool and reuses one as
soon as nothing else refers to it: the executor drops a step's values after their last use, so
in a training loop every step after the first writes into memory already mapped and warm rather
than faulting in fresh pages (about 1 ms per 4 MiB here, a fifth of a layer's forward pass).
"""
from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["KERNELS"]


class _Buffers:
    """Arrays one kernel reuses across its calls.  `empty(shape, dtype)` hands out a pooled
    array of that shape that nothing outside the pool refers to any more (CPython reference
    count: the pool's list, the loop variable and `getrefcount`'s argument), else a new one,
    pooled while fewer than `keep` of its shape exist.  Views handed out (outputs) keep their
    base referenced, so an array is never reused while any consumer can still read it."""

    def __init__(self, xp, keep: int = 6):
        self.xp = xp               # the array module the kernel computes with
        self._keep = keep
        self._pool: dict = {}
        self._lock = threading.Lock()

    def empty(self, shape, dtype):
        key = (tuple(shape), np.dtype(dtype))
        with self._lock:
            arrays = self._pool.setdefault(key, [])
            for a in arrays:
                if sys.getrefcount(a) <= 3:
                    return a
            a = self.xp.empty(shape, dtype)
            if len(arrays) < self._keep:
                arrays.append(a)
            return a


def _attrs(node):
    clip = float(node.attr.get("cell_clip", 3.0))
    return (float(node.attr.get("forget_bias", 1.0)), clip if clip > 0 else 0.0,
            bool(node.attr.get("use_peephole", False)))


def _half(fn):
    """`fn` computed in float32 for float16 inputs (outputs rounded back)."""
    def run(*args):
        if getattr(args[-1], "dtype", None) != np.float16:
            return fn(*args)
        r = fn(*(a.astype(np.float32) if getattr(a, "dtype", None) == np.float16 else a
                 for a in args))
        return tuple(v.astype(np.float16) for v in r)
    return run


def _seq_len(seq_len_max, time: int) -> int:
    """`seq_len_max` (read on the host) checked against the length of x."""
    n = int(seq_len_max)
    if n < 0 or n > time:
        raise ValueError(f"seq_len_max must be in [0, {time}] (the length of x), got {n}")
    return n


def _feature_major(buf, a):
    """`a [time, batch, n]` as a C-contiguous `[time, n, batch]` array: free when `a` is a
    transposed view of one (as this module's kernels return), else a copy."""
    t = a.transpose(0, 2, 1)
    if t.flags.c_contiguous:
        return t
    out = buf.empty(t.shape, t.dtype)
    out[...] = t
    return out


def _inputs_t(buf, x, n):
    """x[:n] as `[input, n * batch]` (x^T of the flattened steps), for one matmul over all."""
    time, batch, nin = x.shape
    fm = x.transpose(0, 2, 1)
    if fm.flags.c_contiguous:        # feature-major already: [n, input, batch] -> [input, n, b]
        out = buf.empty((nin, n, batch), x.dtype)
        out[...] = fm[:n].transpose(1, 0, 2)
        return out.reshape(nin, n * batch)
    return buf.xp.reshape(x[:n], (n * batch, nin)).T


#: from this many steps on, the forward pass scales and transposes the weights once (a step's
#: matmul is ~0.03 ms faster on the contiguous transpose, which costs ~0.2 ms to make)
_PRESCALE_FROM = 8


def _scaled_transpose(buf, a, scale):
    """(a * scale)^T, C-contiguous.  The transposing copy reads from a buffer whose rows are
    not a power of two apart: straight from `a` (rows of 4 KiB) every element of a column maps
    to the same cache set, which makes the copy 4x slower than the matmuls it serves."""
    rows, cols = a.shape
    padded = buf.empty((rows, cols + 16), a.dtype)[:, :cols]
    buf.xp.multiply(a, scale, out=padded)
    out = buf.empty((cols, rows), a.dtype)
    buf.xp.copyto(out, padded.T)
    return out


def _gate_rows(cell):
    return tuple(slice(k * cell, (k + 1) * cell) for k in range(4))   # i, ci, f, o


def _sigmoid_from_tanh(v):
    """v <- (1 + v) / 2 in place (v holds tanh(z / 2))."""
    v *= 0.5
    v += 0.5


# ----------------------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------------------
def _forward(buf, n, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias, clip, peep):
    """Steps 0..n-1 over x [time, batch, input]; returns feature-major (gates [time, 4 * cell,
    batch] holding the activations i, ci, f, o; cs, co, h [time, cell, batch])."""
    xp = buf.xp
    time, batch, nin = x.shape
    cell = cs_prev.shape[1]
    dt = x.dtype
    c4 = 4 * cell
    ri, rci, rf, ro = _gate_rows(cell)
    gates = buf.empty((time, c4, batch), dt)
    cs, co, h = (buf.empty((time, cell, batch), dt) for _ in range(3))
    for a in (gates, cs, co, h):
        a[n:] = 0
    if n == 0:
        return gates, cs, co, h
    # the sigmoid rows (i, f, o) are halved before the tanh: in the weights and bias once for a
    # long sequence, in each step's gate block for a short one (copying the weights costs more)
    prescale = n >= _PRESCALE_FROM
    scale = xp.full(c4, 0.5, dt)
    scale[rci] = 1.0
    bias = xp.asarray(b, dt) * scale if prescale else xp.array(b, dt)
    bias[rf] += 0.5 * forget_bias if prescale else forget_bias
    w_x = xp.multiply(w[:nin], scale, out=buf.empty((nin, c4), dt)) if prescale else w[:nin]
    gx = xp.matmul(w_x.T, _inputs_t(buf, x, n),                  # [4 * cell, n * batch]
                   out=buf.empty((c4, n * batch), dt))
    gx += bias[:, None]
    w_ht = _scaled_transpose(buf, w[nin:], scale) if prescale else w[nin:].T   # [4c, c]
    if peep:
        wci_s, wcf_s, wco_s = (0.5 * xp.asarray(v, dt)[:, None] for v in (wci, wcf, wco))
    tmp = buf.empty((c4, batch), dt)
    tmp_c = buf.empty((cell, batch), dt)
    c_prev = xp.ascontiguousarray(cs_prev.T)
    hp = xp.ascontiguousarray(h_prev.T)
    act = slice(0, 3 * cell) if peep else slice(0, c4)
    for t in range(n):
        g = gates[t]
        xp.matmul(w_ht, hp, out=tmp)
        xp.add(tmp, gx[:, t * batch:(t + 1) * batch], out=g)
        gi, gci, gf, go = g[ri], g[rci], g[rf], g[ro]
        if not prescale:
            gi *= 0.5
            g[2 * cell:] *= 0.5
        if peep:
            xp.multiply(c_prev, wci_s, out=tmp_c)
            gi += tmp_c
            xp.multiply(c_prev, wcf_s, out=tmp_c)
            gf += tmp_c
        ga = g[act]
        xp.tanh(ga, out=ga)
        _sigmoid_from_tanh(gi)
        _sigmoid_from_tanh(g[2 * cell:] if not peep else gf)
        c = cs[t]
        xp.multiply(gci, gi, out=c)
        xp.multiply(c_prev, gf, out=tmp_c)
        c += tmp_c
        if clip:
            xp.clip(c, -clip, clip, out=c)
        if peep:
            xp.multiply(c, wco_s, out=tmp_c)
            go += tmp_c
            xp.tanh(go, out=go)
            _sigmoid_from_tanh(go)
        xp.tanh(c, out=co[t])
        xp.multiply(co[t], go, out=h[t])
        c_prev, hp = c, h[t]
    return gates, cs, co, h


def _batch_major(a):
    """A feature-major [time, n, batch] array seen as [time, batch, n] (a view)."""
    return a.transpose(0, 2, 1)


def _outputs(gates, cs, co, h, cell):
    ri, rci, rf, ro = _gate_rows(cell)
    i, ci, f, o = (_batch_major(gates[:, r]) for r in (ri, rci, rf, ro))
    return i, _batch_major(cs), f, o, ci, _batch_major(co), _batch_major(h)


def _block_lstm(node, ctx):
    forget_bias, clip, peep = _attrs(node)
    buf = _Buffers(ctx.xp)
    to_host = ctx.to_host

    def block_lstm(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b):
        n = _seq_len(to_host(seq_len_max), x.shape[0])
        gates, cs, co, h = _forward(buf, n, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias,
                                    clip, peep)
        return _outputs(gates, cs, co, h, cs_prev.shape[1])
    return _half(block_lstm)


def _lstm_block_cell(node, ctx):
    forget_bias, clip, peep = _attrs(node)
    buf = _Buffers(ctx.xp)

    def lstm_block_cell(x, cs_prev, h_prev, w, wci, wcf, wco, b):
        gates, cs, co, h = _forward(buf, 1, x[None], cs_prev, h_prev, w, wci, wcf, wco, b,
                                    forget_bias, clip, peep)
        return tuple(a[0] for a in _outputs(gates, cs, co, h, cs_prev.shape[1]))
    return _half(lstm_block_cell)


# ----------------------------------------------------------------------------------------------
# backward
# ----------------------------------------------------------------------------------------------
def _gate_block(xp, i, ci, f, o):
    """The feature-major [time, 4 * cell, batch] array whose row blocks are i, ci, f, o (given
    [time, batch, cell]): their common base when they are views of one (as `_forward` returns
    them), else a copy."""
    base = i.base
    cell = i.shape[-1]
    if base is not None and base.ndim == 3 and base.shape == (i.shape[0], 4 * cell, i.shape[1]) \
            and base.dtype == i.dtype and base.flags.c_contiguous and i.size:
        want = (base.strides[0], base.strides[2], base.strides[1])

        def same_strides(a):     # (the stride of a length-1 axis does not matter)
            return all(n == 1 or s == w for n, s, w in zip(a.shape, a.strides, want))

        def starts_block(a, k):  # a's first element is that of row block k (one element each)
            return xp.may_share_memory(a[:1, :1, :1], base[:1, k * cell:k * cell + 1, :1])
        if all(a.base is base and a.shape == i.shape and same_strides(a) and starts_block(a, k)
               for k, a in enumerate((i, ci, f, o))):
            return base
    return xp.ascontiguousarray(xp.concatenate([i, ci, f, o], axis=-1).transpose(0, 2, 1))


def _backward(buf, n, x, cs_prev, h_prev, w, wci, wcf, wco, i, cs, f, o, ci, co, h, cs_grad,
              h_grad, clip, peep):
    """Gradients of steps n-1..0; returns (x, cs_prev, h_prev, w, wci, wcf, wco, b) grads."""
    xp = buf.xp
    time, batch, nin = x.shape
    cell = cs_prev.shape[1]
    dt = x.dtype
    c4 = 4 * cell
    ri, rci, rf, ro = _gate_rows(cell)
    gates = _gate_block(xp, i, ci, f, o)
    cs_f, co_f = _feature_major(buf, cs[:n]), _feature_major(buf, co[:n])
    hg_f = _feature_major(buf, h_grad[:n])
    cg_f = _feature_major(buf, cs_grad[:n]) if cs_grad[:n].any() else None
    cs_prev_t = xp.ascontiguousarray(cs_prev.T)
    w_h = w[nin:]                                    # [cell, 4 * cell]
    d_steps = buf.empty((n, c4, batch), dt)         # gate gradients of all steps
    dh, dcs, tmp = (buf.empty((cell, batch), dt) for _ in range(3))
    dcs_next = xp.zeros((cell, batch), dt)
    dh_next = xp.zeros((cell, batch), dt)
    wci_g, wcf_g, wco_g = (xp.zeros(cell, dt) for _ in range(3))
    if peep:
        wci_c, wcf_c, wco_c = (xp.asarray(v, dt)[:, None] for v in (wci, wcf, wco))
    for t in range(n - 1, -1, -1):
        dg = d_steps[t]
        d_ifc = dg[:3 * cell].reshape(3, cell, batch)   # the gates scaled by dcs: i, ci, f
        g = gates[t]
        gi, gci, gf, go = g[ri], g[rci], g[rf], g[ro]
        c_prev = cs_f[t - 1] if t else cs_prev_t
        # dg <- [i(1-i) ci, i(1-ci^2), f(1-f) c_prev, o(1-o) co]: each gate's derivative by its
        # pre-activation times the factor it multiplies
        xp.subtract(1, g, out=dg)
        dg *= g
        dci = dg[rci]
        xp.multiply(gci, gci, out=dci)
        xp.subtract(1, dci, out=dci)
        dg[ri] *= gci
        dci *= gi
        dg[rf] *= c_prev
        do = dg[ro]
        do *= co_f[t]
        # dh = h_grad + the recurrent gradient; dcs = dh * o * (1 - co^2) + cs_grad + dcs_next
        xp.add(hg_f[t], dh_next, out=dh)
        xp.multiply(co_f[t], co_f[t], out=dcs)
        xp.subtract(1, dcs, out=dcs)
        dcs *= go
        dcs *= dh
        if cg_f is not None:
            dcs += cg_f[t]
        dcs += dcs_next
        do *= dh
        if peep:
            xp.multiply(do, wco_c, out=tmp)
            dcs += tmp
        if clip:
            dcs *= xp.abs(cs_f[t]) < clip
        d_ifc *= dcs
        # gradients flowing to step t-1
        xp.multiply(dcs, gf, out=dcs_next)
        if peep:
            di, df = dg[ri], dg[rf]
            xp.multiply(di, wci_c, out=tmp)
            dcs_next += tmp
            xp.multiply(df, wcf_c, out=tmp)
            dcs_next += tmp
            wci_g += xp.einsum("cb,cb->c", di, c_prev)
            wcf_g += xp.einsum("cb,cb->c", df, c_prev)
            wco_g += xp.einsum("cb,cb->c", do, cs_f[t])
        xp.matmul(w_h, dg, out=dh_next)
    d_all = buf.empty((c4, n, batch), dt)
    xp.copyto(d_all, d_steps.transpose(1, 0, 2))
    # one matmul each for dx, dW (all steps together) and a reduction for db
    d2 = d_all.reshape(c4, n * batch)
    x_grad = buf.empty(x.shape, dt)
    x_grad[n:] = 0
    w_grad = buf.empty(w.shape, dt)
    if n:
        xp.matmul(d2.T, w[:nin].T, out=x_grad[:n].reshape(n * batch, nin))
        xh_t = buf.empty((nin + cell, n, batch), dt)   # [x_t; h_t-1] of every step
        xh_t[:nin] = x[:n].transpose(2, 0, 1)
        xh_t[nin:, 0] = h_prev.T
        if n > 1:
            xh_t[nin:, 1:] = _feature_major(buf, h[:n - 1]).transpose(1, 0, 2)
        xp.matmul(xh_t.reshape(nin + cell, n * batch), d2.T, out=w_grad)
    else:
        w_grad[...] = 0
    b_grad = xp.add.reduce(d2, axis=1)
    return (x_grad, xp.ascontiguousarray(dcs_next.T), xp.ascontiguousarray(dh_next.T), w_grad,
            wci_g, wcf_g, wco_g, b_grad)


def _block_lstm_grad(node, ctx):
    _, clip, peep = _attrs(node)
    buf = _Buffers(ctx.xp)
    to_host = ctx.to_host

    def block_lstm_grad(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci,
                        co, h, cs_grad, h_grad):
        n = _seq_len(to_host(seq_len_max), x.shape[0])
        return _backward(buf, n, x, cs_prev, h_prev, w, wci, wcf, wco, i, cs, f, o, ci, co, h,
                         cs_grad, h_grad, clip, peep)
    return _half(block_lstm_grad)


def _lstm_block_cell_grad(node, ctx):
    _, clip, peep = _attrs(node)
    buf = _Buffers(ctx.xp)

    def lstm_block_cell_grad(x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co,
                             cs_grad, h_grad):
        g = _backward(buf, 1, x[None], cs_prev, h_prev, w, wci, wcf, wco, i[None], cs[None],
                      f[None], o[None], ci[None], co[None], None, cs_grad[None], h_grad[None],
                      clip, peep)
        return (g[0][0],) + g[1:]
    return _half(lstm_block_cell_grad)


# ----------------------------------------------------------------------------------------------
# ReverseSequence
# ----------------------------------------------------------------------------------------------
def _reverse_sequence(node, ctx):
    seq_dim = int(node.attr["seq_dim"])
    batch_dim = int(node.attr.get("batch_dim", 0))
    xp = ctx.xp

    def reverse_sequence(x, lengths):
        x = xp.asarray(x)
        lengths = xp.asarray(lengths).astype(np.int64, copy=False)
        nb, nt = x.shape[batch_dim], x.shape[seq_dim]
        if lengths.shape != (nb,):
            raise ValueError(f"len(seq_lens) != input.dims({batch_dim}), ({lengths.size} vs. "
                             f"{nb})")
        if nb and (lengths.max() > nt or lengths.min() < 0):
            bad = int(xp.argmax((lengths > nt) | (lengths < 0)))
            raise ValueError(f"seq_lens({bad}) must be in [0, {nt}] (input.dims({seq_dim})), "
                             f"got {int(lengths[bad])}")
        t = xp.arange(nt)
        idx = xp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)   # [batch, time]
        xt = xp.moveaxis(x, (batch_dim, seq_dim), (0, 1))
        out = xt[xp.arange(nb)[:, None], idx]
        return xp.ascontiguousarray(xp.moveaxis(out, (0, 1), (batch_dim, seq_dim)))
    return reverse_sequence


KERNELS = {
    "LSTMBlockCell": _lstm_block_cell,
    "LSTMBlockCellGrad": _lstm_block_cell_grad,
    "BlockLSTM": _block_lstm,
    "BlockLSTMGrad": _block_lstm_grad,
    "ReverseSequence": _reverse_sequence,
}
