"""CPU kernels of the fused optimizer updates (`ApplyAdam`, `SparseApplyMomentum`, ...).

Each kernel receives only the non-ref inputs (hyperparameters and the gradient); the variable and
its slots are the device store's buffers, found through `node.ref_vars`, and are updated in place
with `out=` ufuncs and at most a couple of temporaries.  The output is the variable's buffer.
Scalars are converted to the variable's numpy dtype first, so float32 variables are updated in
float32 arithmetic, as in TF1.

Sparse kernels sum the rows of duplicate indices first (see `train/training_ops.py`), then change
only the touched rows.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ...framework import errors
from .state import _check_indices, _uninitialized

__all__ = ["KERNELS"]


def _buffers(node, ctx, n):
    """fn() -> the n ref buffers of `node` (variable first), FailedPrecondition if missing."""
    store = ctx.variables
    keys = [node.ref_vars[i] for i in range(n)]

    def get():
        try:
            return [store[k] for k in keys]
        except KeyError as e:
            raise _uninitialized(e.args[0]) from None
    return get


def _locking(node, ctx):
    return ctx.lock if node.attr.get("use_locking") else contextlib.nullcontext()


def _same_shape(node, var, grad, what="grad"):
    if np.shape(grad) != var.shape:
        raise errors.InvalidArgumentError(
            None, node.name, f"var and {what} do not have the same shape{list(var.shape)} "
            f"{list(np.shape(grad))}")


def _dedup(node, var, grad, indices):
    """(unique indices, summed rows) of a sparse gradient, after checking the indices."""
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise errors.InvalidArgumentError(None, node.name, f"indices must be one-dimensional, "
                                          f"got shape {list(idx.shape)}")
    grad = np.asarray(grad)
    if grad.shape != idx.shape + var.shape[1:]:
        raise errors.InvalidArgumentError(
            None, node.name, f"grad must be indices.shape + var.shape[1:] = "
            f"{list(idx.shape + var.shape[1:])}, got {list(grad.shape)}")
    _check_indices(idx, var.shape[0], node)
    if idx.size < 2:
        return idx, grad
    uniq, inverse = np.unique(idx, return_inverse=True)
    if uniq.size == idx.size:
        return idx, grad
    summed = np.zeros((uniq.size,) + grad.shape[1:], dtype=var.dtype)
    np.add.at(summed, inverse, grad)
    return uniq, summed


# ----------------------------------------------------------------------------------------------
# gradient descent
# ----------------------------------------------------------------------------------------------
def _apply_gradient_descent(node, ctx):
    get = _buffers(node, ctx, 1)
    lock = _locking(node, ctx)

    def apply(alpha, delta):
        with lock:
            var, = get()
            _same_shape(node, var, delta, "delta")
            step = np.multiply(delta, alpha, dtype=var.dtype)
            np.subtract(var, step, out=var)
            return var
    return apply


# ----------------------------------------------------------------------------------------------
# momentum
# ----------------------------------------------------------------------------------------------
def _momentum_rows(var, accum, lr, grad, momentum, nesterov):
    """accum = accum*momentum + grad; var -= ... on whole arrays (accum/var may be row copies)."""
    accum *= momentum
    accum += grad
    if nesterov:
        step = np.multiply(grad, lr)
        step += accum * (momentum * lr)
    else:
        step = np.multiply(accum, lr)
    var -= step


def _apply_momentum(node, ctx):
    get = _buffers(node, ctx, 2)
    lock = _locking(node, ctx)
    nesterov = bool(node.attr.get("use_nesterov", False))

    def apply(lr, grad, momentum):
        with lock:
            var, accum = get()
            _same_shape(node, var, grad)
            dt = var.dtype.type
            _momentum_rows(var, accum, dt(lr), grad, dt(momentum), nesterov)
            return var
    return apply


def _sparse_apply_momentum(node, ctx):
    get = _buffers(node, ctx, 2)
    lock = _locking(node, ctx)
    nesterov = bool(node.attr.get("use_nesterov", False))

    def apply(lr, grad, indices, momentum):
        with lock:
            var, accum = get()
            idx, g = _dedup(node, var, grad, indices)
            dt = var.dtype.type
            a, v = accum[idx], var[idx]
            _momentum_rows(v, a, dt(lr), g, dt(momentum), nesterov)
            accum[idx] = a
            var[idx] = v
            return var
    return apply


# ----------------------------------------------------------------------------------------------
# Adam
# ----------------------------------------------------------------------------------------------
def _adam_alpha(dt, lr, beta1_power, beta2_power):
    one = dt(1)
    return dt(lr) * np.sqrt(one - dt(beta2_power)) / (one - dt(beta1_power))


def _apply_adam(node, ctx):
    get = _buffers(node, ctx, 3)
    lock = _locking(node, ctx)
    nesterov = bool(node.attr.get("use_nesterov", False))

    def apply(beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad):
        with lock:
            var, m, v = get()
            _same_shape(node, var, grad)
            dt = var.dtype.type
            one, b1, b2 = dt(1), dt(beta1), dt(beta2)
            alpha = _adam_alpha(dt, lr, beta1_power, beta2_power)
            t = np.empty_like(var)
            np.subtract(grad, m, out=t)                       # m += (g - m) * (1 - beta1)
            t *= one - b1
            m += t
            np.multiply(grad, grad, out=t)                    # v += (g^2 - v) * (1 - beta2)
            t -= v
            t *= one - b2
            v += t
            if nesterov:                                      # (g*(1-b1) + b1*m) * alpha
                num = np.multiply(grad, one - b1, dtype=var.dtype)
                num += b1 * m
                num *= alpha
            else:
                num = np.multiply(m, alpha)
            np.sqrt(v, out=t)                                 # var -= num / (sqrt(v) + eps)
            t += dt(epsilon)
            num /= t
            var -= num
            return var
    return apply


def _sparse_apply_adam(node, ctx):
    get = _buffers(node, ctx, 3)
    lock = _locking(node, ctx)

    def apply(beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad, indices):
        with lock:
            var, m, v = get()
            idx, g = _dedup(node, var, grad, indices)
            dt = var.dtype.type
            one, b1, b2 = dt(1), dt(beta1), dt(beta2)
            alpha = _adam_alpha(dt, lr, beta1_power, beta2_power)
            m *= b1                                           # m = m*beta1, then += rows
            m[idx] += g * (one - b1)
            v *= b2
            v[idx] += (g * g) * (one - b2)
            t = np.sqrt(v)                                    # var -= alpha*m / (sqrt(v)+eps)
            t += dt(epsilon)
            num = np.multiply(m, alpha)
            num /= t
            var -= num
            return var
    return apply


# ----------------------------------------------------------------------------------------------
# RMSProp (plain and centered)
# ----------------------------------------------------------------------------------------------
def _rmsprop_rows(var, mg, ms, mom, lr, rho, momentum, epsilon, grad):
    """One RMSProp step on whole arrays (row copies for the sparse form); mg None: plain."""
    one = var.dtype.type(1)
    t = np.empty_like(var)
    np.multiply(grad, grad, out=t)                            # ms += (g^2 - ms) * (1 - rho)
    t -= ms
    t *= one - rho
    ms += t
    if mg is None:
        np.add(ms, epsilon, out=t)                            # denom = ms + eps
    else:
        np.subtract(grad, mg, out=t)                          # mg += (g - mg) * (1 - rho)
        t *= one - rho
        mg += t
        np.multiply(mg, mg, out=t)                            # denom = ms - mg^2 + eps
        np.subtract(ms, t, out=t)
        t += epsilon
    np.sqrt(t, out=t)
    step = np.multiply(grad, lr)                              # mom = mom*momentum + g*lr/sqrt(.)
    step /= t
    mom *= momentum
    mom += step
    var -= mom


def _rmsprop_kernel(centered: bool, sparse: bool):
    n = 4 if centered else 3

    def factory(node, ctx):
        get = _buffers(node, ctx, n)
        lock = _locking(node, ctx)

        def apply(lr, rho, momentum, epsilon, grad, indices=None):
            with lock:
                bufs = get()
                var = bufs[0]
                dt = var.dtype.type
                scal = (dt(lr), dt(rho), dt(momentum), dt(epsilon))
                if centered:
                    _, mg, ms, mom = bufs
                else:
                    (_, ms, mom), mg = bufs, None
                if not sparse:
                    _same_shape(node, var, grad)
                    _rmsprop_rows(var, mg, ms, mom, *scal, grad)
                    return var
                idx, g = _dedup(node, var, grad, indices)
                rows = [b[idx] for b in (var, ms, mom)] + ([mg[idx]] if centered else [None])
                _rmsprop_rows(rows[0], rows[3], rows[1], rows[2], *scal, g)
                var[idx], ms[idx], mom[idx] = rows[0], rows[1], rows[2]
                if centered:
                    mg[idx] = rows[3]
                return var
        return apply
    return factory


# ----------------------------------------------------------------------------------------------
# Adagrad
# ----------------------------------------------------------------------------------------------
def _adagrad_rows(var, accum, lr, grad, update_slots):
    if update_slots:
        accum += grad * grad
    step = np.multiply(grad, lr)                              # var -= g * lr / sqrt(accum)
    step /= np.sqrt(accum)
    var -= step


def _apply_adagrad(node, ctx):
    get = _buffers(node, ctx, 2)
    lock = _locking(node, ctx)
    update_slots = bool(node.attr.get("update_slots", True))

    def apply(lr, grad):
        with lock:
            var, accum = get()
            _same_shape(node, var, grad)
            _adagrad_rows(var, accum, var.dtype.type(lr), grad, update_slots)
            return var
    return apply


def _sparse_apply_adagrad(node, ctx):
    get = _buffers(node, ctx, 2)
    lock = _locking(node, ctx)
    update_slots = bool(node.attr.get("update_slots", True))

    def apply(lr, grad, indices):
        with lock:
            var, accum = get()
            idx, g = _dedup(node, var, grad, indices)
            a, v = accum[idx], var[idx]
            _adagrad_rows(v, a, var.dtype.type(lr), g, update_slots)
            accum[idx] = a
            var[idx] = v
            return var
    return apply


KERNELS = {
    "ApplyGradientDescent": _apply_gradient_descent,
    "ApplyMomentum": _apply_momentum,
    "SparseApplyMomentum": _sparse_apply_momentum,
    "ApplyAdam": _apply_adam,
    "SparseApplyAdam": _sparse_apply_adam,
    "ApplyRMSProp": _rmsprop_kernel(centered=False, sparse=False),
    "SparseApplyRMSProp": _rmsprop_kernel(centered=False, sparse=True),
    "ApplyCenteredRMSProp": _rmsprop_kernel(centered=True, sparse=False),
    "SparseApplyCenteredRMSProp": _rmsprop_kernel(centered=True, sparse=True),
    "ApplyAdagrad": _apply_adagrad,
    "SparseApplyAdagrad": _sparse_apply_adagrad,
}
