"""Numerical gradient checking: symbolic gradients against float64 central differences.

`compute_gradient` / `compute_gradient_error` follow TF1's `tf.test` API (full Jacobians, for small
tensors).  `check_gradients(fn, inputs)` is the test-suite helper: it builds `fn` on float64
placeholders, projects the output on a fixed random direction, and compares `tw.gradients` with
central differences element by element, failing with a message naming the function, the
argument, the element and both values.
"""
from __future__ import annotations

import numpy as np

from ..autodiff.gradients import gradients
from ..client.session import Session
from ..framework.default_session import get_default_session
from ..framework import dtypes
from ..framework.graph import Graph
from ..framework.indexed_slices import IndexedSlices
from ..ops import array_ops, math_ops
from ..ops.constant_op import constant, placeholder

__all__ = ["compute_gradient", "compute_gradient_error", "check_gradients"]


def _session():
    s = get_default_session()
    return (s, False) if s is not None else (Session(), True)


def compute_gradient(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3, init_targets=None,
                     extra_feed_dict=None):
    """(theoretical, numerical) Jacobians of `y` w.r.t. `x` (lists of each when x is a list)."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    shapes = x_shape if isinstance(x, (list, tuple)) else [x_shape]
    inits = x_init_value if isinstance(x, (list, tuple)) else [x_init_value]
    if inits is None:
        inits = [None] * len(xs)
    sess, own = _session()
    try:
        if init_targets:
            sess.run(init_targets)
        feed = dict(extra_feed_dict or {})
        vals = []
        for xi, shp, iv in zip(xs, shapes, inits):
            v = np.asarray(iv, dtype=xi.dtype.np) if iv is not None else \
                np.random.RandomState(1).random_sample(shp).astype(xi.dtype.np)
            vals.append(v)
        ny = int(np.prod(y_shape))
        dy = placeholder(y.dtype, y_shape)
        grads = gradients(y, list(xs), grad_ys=dy)
        results = []
        for k, (xi, v) in enumerate(zip(xs, vals)):
            nx = v.size
            theo = np.zeros((nx, ny))
            g = grads[k]
            if g is not None:
                g = array_ops.reshape(g, [-1]) if not hasattr(g, "indices") else g
            base = dict(feed)
            for j, xj in enumerate(xs):
                base[xj] = vals[j]
            for c in range(ny):
                e = np.zeros(ny, dtype=y.dtype.np)
                e[c] = 1
                if g is not None:
                    gv = sess.run(g, {**base, dy: e.reshape(y_shape)})
                    if hasattr(gv, "indices"):
                        dense = np.zeros(v.shape, dtype=np.float64)
                        np.add.at(dense, gv.indices, gv.values)
                        gv = dense
                    theo[:, c] = np.asarray(gv).reshape(-1)
            num = np.zeros((nx, ny))
            for r in range(nx):
                vp, vm = v.copy().reshape(-1), v.copy().reshape(-1)
                vp[r] += delta
                vm[r] -= delta
                yp = sess.run(y, {**base, xi: vp.reshape(v.shape)})
                ym = sess.run(y, {**base, xi: vm.reshape(v.shape)})
                num[r, :] = (np.asarray(yp, np.float64) - np.asarray(ym, np.float64)).reshape(
                    -1) / (2 * delta)
            results.append((theo, num))
        return results if isinstance(x, (list, tuple)) else results[0]
    finally:
        if own:
            sess.close()


def compute_gradient_error(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3,
                           init_targets=None, extra_feed_dict=None) -> float:
    """Max absolute difference between the theoretical and numerical Jacobians."""
    r = compute_gradient(x, x_shape, y, y_shape, x_init_value, delta, init_targets,
                         extra_feed_dict)
    pairs = r if isinstance(r, list) else [r]
    return max(float(np.max(np.abs(t - n))) if t.size else 0.0 for t, n in pairs)


def check_gradients(fn, inputs, *, delta: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
                    wrt=None, name: str | None = None, seed: int = 0) -> None:
    """Assert that `tw.gradients` of `fn(*placeholders)` matches float64 central differences.

    `inputs`: numpy arrays (float64 for those differentiated).  `wrt`: indices of the inputs to
    check (default: all floating ones).  Raises AssertionError naming function, argument,
    element, symbolic and numeric values.
    """
    inputs = [np.asarray(v) for v in inputs]
    fname = name or getattr(fn, "__name__", "fn")
    if wrt is None:
        wrt = [i for i, v in enumerate(inputs) if v.dtype.kind in "fc"]
    g = Graph()
    with g.as_default():
        phs = [placeholder(dtypes.as_dtype(v.dtype), v.shape, name=f"arg{i}")
               for i, v in enumerate(inputs)]
        out = fn(*phs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        rng = np.random.RandomState(seed)
        proj = []
        feed0 = {p: v for p, v in zip(phs, inputs)}
        for o in outs:
            if o.shape.is_fully_defined():
                shp = o.shape.as_list()
            else:  # the output's shape at these inputs
                with Session(graph=g) as s0:
                    shp = list(np.shape(s0.run(o, feed0)))
            w = rng.uniform(0.5, 1.5, size=shp) * rng.choice([-1, 1], size=shp)
            proj.append(math_ops.reduce_sum(math_ops.multiply(
                o, constant(w.astype(o.dtype.np)))))
        loss = proj[0] if len(proj) == 1 else math_ops.add_n(proj)
        grads = gradients(loss, [phs[i] for i in wrt])
        with Session(graph=g) as sess:
            feed = {p: v for p, v in zip(phs, inputs)}
            sym = sess.run([gr if gr is not None else loss for gr in grads], feed)
            for k, i in enumerate(wrt):
                gsym = sym[k]
                if grads[k] is None:
                    gsym = np.zeros_like(inputs[i])
                elif isinstance(grads[k], IndexedSlices):
                    dense = np.zeros(inputs[i].shape, dtype=np.float64)
                    np.add.at(dense, gsym.indices, gsym.values)
                    gsym = dense
                gsym = np.asarray(gsym, dtype=np.float64).reshape(inputs[i].shape)
                x = inputs[i]
                for idx in np.ndindex(*x.shape):
                    xp, xm = x.copy(), x.copy()
                    xp[idx] += delta
                    xm[idx] -= delta
                    lp = float(sess.run(loss, {**feed, phs[i]: xp}))
                    lm = float(sess.run(loss, {**feed, phs[i]: xm}))
                    num = (lp - lm) / (2 * delta)
                    s = gsym[idx]
                    if not np.isclose(s, num, rtol=rtol, atol=atol):
                        raise AssertionError(
                            f"gradient mismatch in {fname}: argument {i} (shape {x.shape}), "
                            f"element {idx}: symbolic {s!r} vs numeric {num!r} "
                            f"(|diff| {abs(s - num):.3g}, rtol {rtol}, atol {atol})")
