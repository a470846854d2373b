"""CPU kernels: the fused LSTM ops (`LSTMBlockCell`, `BlockLSTM` and their gradients) and
`ReverseSequence` (numpy).

Layout and cost model.  The gates of one step live side by side in one `[batch, 4 * cell]` row
block in TF's column order (i, ci, f, o), so one numpy call treats all four gates:

* forward: the input part of every step's gates is ONE matmul over the whole sequence
  (`x [time * batch, input] @ w[:input]`, bias and forget bias added once); a step adds
  `h_prev @ w[input:]` (one matmul) and applies the activations in place on the row block:
  sigmoid(v) = (1 + tanh(v / 2)) / 2, so with the columns pre-scaled by 1/2 (i, f, o) or 1 (ci)
  one `tanh` call and one multiply-add give all four activations (no overflow, no branch);
* backward: a step computes its gate gradients in place in a `[batch, 4 * cell]` block of the
  gradient buffer and one matmul for the recurrent part (`d_gates @ w[input:].T`); after the
  loop, ONE matmul gives dW over all steps (`[x, h_prev]^T @ d_gates`) and one more dx.

The gate outputs i, ci, f, o are column blocks (views) of one `[time, batch, 4 * cell]` array;
the gradient kernel uses that array directly when it receives them so, and concatenates them
otherwise.  float16 is computed in float32 and rounded once.
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS"]


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
    n = int(seq_len_max)
    if n < 0 or n > time:
        raise ValueError(f"seq_len_max must be in [0, {time}] (the length of x), got {n}")
    return n


def _gate_scale(dt, cell: int):
    """Per-column scale and offset turning tanh into the four activations (i, ci, f, o)."""
    scale = np.full(4 * cell, 0.5, dt)
    scale[cell:2 * cell] = 1.0
    offset = np.full(4 * cell, 0.5, dt)
    offset[cell:2 * cell] = 0.0
    return scale, offset


# ----------------------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------------------
def _forward(n, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias, clip, peep):
    """Steps 0..n-1 of the LSTM over x [time, batch, input]; returns (gates, cs, co, h) with
    gates [time, batch, 4 * cell] holding the activations i, ci, f, o."""
    time, batch, nin = x.shape
    cell = cs_prev.shape[1]
    dt = x.dtype
    c4 = 4 * cell
    make = np.empty if n == time else np.zeros
    gates = make((time, batch, c4), dt)
    cs, co, h = make((time, batch, cell), dt), make((time, batch, cell), dt), \
        make((time, batch, cell), dt)
    if n == 0:
        return gates, cs, co, h
    scale, offset = _gate_scale(dt, cell)
    bias = np.asarray(b, dt).copy()
    bias[2 * cell:3 * cell] += forget_bias
    gn = gates[:n].reshape(n * batch, c4)
    np.matmul(np.reshape(x[:n], (n * batch, nin)), w[:nin], out=gn)
    gn += bias
    gn *= scale                      # pre-activations, scaled for tanh
    w_h = w[nin:] * scale            # the recurrent weights, scaled alike
    if peep:
        wci_s, wcf_s, wco_s = wci * 0.5, wcf * 0.5, wco * 0.5
    tmp = np.empty((batch, c4), dt)
    tmp_c = np.empty((batch, cell), dt)
    c_prev, hp = cs_prev, h_prev
    sig = slice(0, 3 * cell) if peep else slice(0, c4)
    for t in range(n):
        g = gates[t]
        np.matmul(hp, w_h, out=tmp)
        g += tmp
        gi, gci, gf, go = (g[:, k * cell:(k + 1) * cell] for k in range(4))
        if peep:
            np.multiply(c_prev, wci_s, out=tmp_c)
            gi += tmp_c
            np.multiply(c_prev, wcf_s, out=tmp_c)
            gf += tmp_c
        ga = g[:, sig]               # all four gates, or i, ci, f (o waits for cs)
        np.tanh(ga, out=ga)
        ga *= scale[sig]
        ga += offset[sig]
        c = cs[t]
        np.multiply(gci, gi, out=c)
        np.multiply(c_prev, gf, out=tmp_c)
        c += tmp_c
        if clip:
            np.clip(c, -clip, clip, out=c)
        if peep:
            np.multiply(c, wco_s, out=tmp_c)
            go += tmp_c
            np.tanh(go, out=go)
            go *= 0.5
            go += 0.5
        np.tanh(c, out=co[t])
        np.multiply(co[t], go, out=h[t])
        c_prev, hp = c, h[t]
    return gates, cs, co, h


def _gate_views(gates, cell):
    return tuple(gates[..., k * cell:(k + 1) * cell] for k in range(4))


def _block_lstm(node, ctx):
    forget_bias, clip, peep = _attrs(node)

    def block_lstm(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b):
        n = _seq_len(seq_len_max, x.shape[0])
        gates, cs, co, h = _forward(n, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias,
                                    clip, peep)
        i, ci, f, o = _gate_views(gates, cs_prev.shape[1])
        return i, cs, f, o, ci, co, h
    return _half(block_lstm)


def _lstm_block_cell(node, ctx):
    forget_bias, clip, peep = _attrs(node)

    def lstm_block_cell(x, cs_prev, h_prev, w, wci, wcf, wco, b):
        gates, cs, co, h = _forward(1, x[None], cs_prev, h_prev, w, wci, wcf, wco, b,
                                    forget_bias, clip, peep)
        i, ci, f, o = _gate_views(gates[0], cs_prev.shape[1])
        return i, cs[0], f, o, ci, co[0], h[0]
    return _half(lstm_block_cell)


# ----------------------------------------------------------------------------------------------
# backward
# ----------------------------------------------------------------------------------------------
def _gate_block(i, ci, f, o):
    """The [..., 4 * cell] array whose column blocks are i, ci, f, o: their common base when
    they are views of one (as `_forward` returns them), else a concatenated copy."""
    base = i.base
    cell = i.shape[-1]
    if base is not None and base.shape == i.shape[:-1] + (4 * cell,) and \
            base.dtype == i.dtype and base.flags.c_contiguous:
        start = base.__array_interface__["data"][0]
        step = cell * base.itemsize
        if all(a.base is base and a.shape == i.shape and a.strides == base.strides and
               a.__array_interface__["data"][0] == start + k * step
               for k, a in enumerate((i, ci, f, o))):
            return base
    return np.concatenate([i, ci, f, o], axis=-1)


def _backward(n, x, cs_prev, h_prev, w, wci, wcf, wco, i, cs, f, o, ci, co, h, cs_grad,
              h_grad, clip, peep):
    """Gradients of steps n-1..0; returns (x, cs_prev, h_prev, w, wci, wcf, wco, b) grads."""
    time, batch, nin = x.shape
    cell = cs_prev.shape[1]
    dt = x.dtype
    c4 = 4 * cell
    gates = _gate_block(i, ci, f, o)
    d = np.zeros((time, batch, c4), dt) if n < time else np.empty((time, batch, c4), dt)
    d4 = d.reshape(time, batch, 4, cell)
    w_ht = np.ascontiguousarray(w[nin:].T)          # [4 * cell, cell]
    dh = np.empty((batch, cell), dt)
    dcs = np.empty((batch, cell), dt)
    dcs_next = np.zeros((batch, cell), dt)
    dh_next = np.zeros((batch, cell), dt)
    tmp = np.empty((batch, cell), dt)
    if peep:
        wci_g, wcf_g, wco_g = (np.zeros(cell, dt) for _ in range(3))
    for t in range(n - 1, -1, -1):
        g = gates[t]
        dg = d[t]
        c_prev = cs[t - 1] if t else cs_prev
        gi, gci, gf, go = (g[:, k * cell:(k + 1) * cell] for k in range(4))
        # dg <- [i(1-i) ci, i(1-ci^2), f(1-f) c_prev, o(1-o) co]: d(gate)/d(pre-activation)
        # times the factor that multiplies the gate
        np.subtract(1, g, out=dg)
        dg *= g
        dci = dg[:, cell:2 * cell]
        np.multiply(gci, gci, out=dci)
        np.subtract(1, dci, out=dci)
        dg[:, :cell] *= gci
        dci *= gi
        dg[:, 2 * cell:3 * cell] *= c_prev
        do = dg[:, 3 * cell:]
        do *= co[t]
        # dh = h_grad + the recurrent gradient; dcs = dh * o * (1 - co^2) + cs_grad + dcs_next
        np.add(h_grad[t], dh_next, out=dh)
        np.multiply(co[t], co[t], out=dcs)
        np.subtract(1, dcs, out=dcs)
        dcs *= go
        dcs *= dh
        dcs += cs_grad[t]
        dcs += dcs_next
        do *= dh
        if peep:
            np.multiply(do, wco, out=tmp)
            dcs += tmp
        if clip:
            dcs *= np.abs(cs[t]) < clip
        d4[t, :, :3, :] *= dcs[:, None, :]
        # gradients flowing to step t-1
        np.multiply(dcs, gf, out=dcs_next)
        if peep:
            di, df = dg[:, :cell], dg[:, 2 * cell:3 * cell]
            np.multiply(di, wci, out=tmp)
            dcs_next += tmp
            np.multiply(df, wcf, out=tmp)
            dcs_next += tmp
            wci_g += np.einsum("bc,bc->c", di, c_prev)
            wcf_g += np.einsum("bc,bc->c", df, c_prev)
            wco_g += np.einsum("bc,bc->c", do, cs[t])
        np.matmul(dg, w_ht, out=dh_next)
    # one matmul each for dx, dW (all steps together) and a reduction for db
    dn = d[:n].reshape(n * batch, c4)
    x_grad = np.zeros_like(x) if n < time else np.empty_like(x)
    np.matmul(dn, w[:nin].T, out=x_grad[:n].reshape(n * batch, nin))
    xh = np.empty((n, batch, nin + cell), dt)
    xh[:, :, :nin] = x[:n]
    xh[0, :, nin:] = h_prev
    if n > 1:
        xh[1:, :, nin:] = h[:n - 1]
    w_grad = np.matmul(xh.reshape(n * batch, nin + cell).T, dn)
    b_grad = np.add.reduce(dn, axis=0)
    if not peep:
        wci_g, wcf_g, wco_g = (np.zeros(cell, dt) for _ in range(3))
    return x_grad, dcs_next, dh_next, w_grad, wci_g, wcf_g, wco_g, b_grad


def _block_lstm_grad(node, ctx):
    _, clip, peep = _attrs(node)

    def block_lstm_grad(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci,
                        co, h, cs_grad, h_grad):
        n = _seq_len(seq_len_max, x.shape[0])
        return _backward(n, x, cs_prev, h_prev, w, wci, wcf, wco, i, cs, f, o, ci, co, h,
                         cs_grad, h_grad, clip, peep)
    return _half(block_lstm_grad)


def _lstm_block_cell_grad(node, ctx):
    _, clip, peep = _attrs(node)

    def lstm_block_cell_grad(x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co,
                             cs_grad, h_grad):
        g = _backward(1, x[None], cs_prev, h_prev, w, wci, wcf, wco, i[None], cs[None],
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

    def reverse_sequence(x, lengths):
        x = np.asarray(x)
        lengths = np.asarray(lengths).astype(np.int64, copy=False)
        nb, nt = x.shape[batch_dim], x.shape[seq_dim]
        if lengths.shape != (nb,):
            raise ValueError(f"len(seq_lens) != input.dims({batch_dim}), ({lengths.size} vs. "
                             f"{nb})")
        if nb and (lengths.max() > nt or lengths.min() < 0):
            bad = int(np.argmax((lengths > nt) | (lengths < 0)))
            raise ValueError(f"seq_lens({bad}) must be in [0, {nt}] (input.dims({seq_dim})), "
                             f"got {int(lengths[bad])}")
        t = np.arange(nt)
        idx = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)   # [batch, time]
        xt = np.moveaxis(x, (batch_dim, seq_dim), (0, 1))
        out = xt[np.arange(nb)[:, None], idx]
        return np.ascontiguousarray(np.moveaxis(out, (0, 1), (batch_dim, seq_dim)))
    return reverse_sequence


KERNELS = {
    "LSTMBlockCell": _lstm_block_cell,
    "LSTMBlockCellGrad": _lstm_block_cell_grad,
    "BlockLSTM": _block_lstm,
    "BlockLSTMGrad": _block_lstm_grad,
    "ReverseSequence": _reverse_sequence,
}
