"""Kernels of the fused optimizer updates (`ApplyAdam`, `SparseApplyMomentum`, ...).

Each kernel receives only the non-ref inputs (hyperparameters and the gradient); the variable and
its slots are the device store's buffers, found through `node.ref_vars`, and are updated in place
with `out=` ufuncs of the backend's array module (`ctx.xp`) and at most a couple of temporaries.
The output is the variable's buffer.  Scalars are converted to the variable's dtype first (numpy
scalars on the host, 0-d arrays on other devices), so float32 variables are updated in float32
arithmetic, as in TF1.  The ops' input layouts are `framework/op_interfaces.py`'s.

Sparse kernels sum the rows of duplicate indices first (see `train/training_ops.py`), then change
only the touched rows.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ...framework import errors
from ...framework.op_interfaces import TRAINING_SIGNATURES
from .state import check_indices, sum_rows_by_index, uninitialized_error

__all__ = ["KERNELS"]


def _buffers(node, ctx, n):
    """fn() -> the n ref buffers of `node` (variable first), FailedPrecondition if missing."""
    store = ctx.variables
    keys = [node.ref_vars[i] for i in range(n)]

    def get():
        try:
            return [store[k] for k in keys]
        except KeyError as e:
            raise uninitialized_error(e.args[0]) from None
    return get


def _locking(node, ctx):
    return ctx.lock if node.attr.get("use_locking") else contextlib.nullcontext()


def _same_shape(node, var, grad, what="grad"):
    if np.shape(grad) != var.shape:
        raise errors.InvalidArgumentError(
            None, node.name, f"var and {what} do not have the same shape{list(var.shape)} "
            f"{list(np.shape(grad))}")


def _dedup(xp, node, var, grad, indices):
    """(unique indices, summed rows) of a sparse gradient, after checking the indices."""
    idx = xp.asarray(indices)
    if idx.ndim != 1:
        raise errors.InvalidArgumentError(None, node.name, f"indices must be one-dimensional, "
                                          f"got shape {list(idx.shape)}")
    grad = xp.asarray(grad)
    if grad.shape != idx.shape + var.shape[1:]:
        raise errors.InvalidArgumentError(
            None, node.name, f"grad must be indices.shape + var.shape[1:] = "
            f"{list(idx.shape + var.shape[1:])}, got {list(grad.shape)}")
    check_indices(xp, idx, var.shape[0], node)
    return sum_rows_by_index(xp, idx, grad, var.dtype)


# ----------------------------------------------------------------------------------------------
# gradient descent
# ----------------------------------------------------------------------------------------------
def _apply_gradient_descent(node, ctx):
    get = _buffers(node, ctx, 1)
    lock = _locking(node, ctx)

    donate = 2 in node.donatable  # the gradient dies here: scale it in place, no temporary
    multiply, subtract = ctx.xp.multiply, ctx.xp.subtract
    arr, host = ctx.backend.allocator.array_type, ctx.backend.allocator.on_host

    def apply(alpha, delta):
        with lock:
            var, = get()
            if np.shape(delta) != var.shape:
                _same_shape(node, var, delta, "delta")
            if (donate and type(delta) is arr and delta.dtype == var.dtype
                    and (not host or delta.flags.writeable)):
                step = multiply(delta, alpha, out=delta)
            else:
                step = multiply(delta, alpha, dtype=var.dtype)
            subtract(var, step, out=var)
            return var
    return apply


# ----------------------------------------------------------------------------------------------
# row-wise updates: one function serves the dense op (whole buffers, in place) and the sparse
# op (copies of the touched rows, written back)
# ----------------------------------------------------------------------------------------------
def _rowwise(rows_fn):
    """Kernel factory for an Apply*/SparseApply* op whose update is `rows_fn(xp, bufs, grad,
    scalars, attrs)` on the variable and slot arrays `bufs` (var first)."""
    def factory(node, ctx):
        names, n_refs, grad_name, sparse = TRAINING_SIGNATURES[node.op]
        args = names[n_refs:]
        gi = args.index(grad_name)
        ii = args.index("indices") if sparse else None
        scalar_pos = [i for i, n in enumerate(args) if n not in (grad_name, "indices")]
        get = _buffers(node, ctx, n_refs)
        lock = _locking(node, ctx)
        attrs = node.attr
        xp = ctx.xp
        scalar = _scalar_of(ctx)

        def apply(*values):
            with lock:
                bufs = get()
                var = bufs[0]
                dt = var.dtype.type
                scalars = [scalar(values[i], dt) for i in scalar_pos]
                if not sparse:
                    _same_shape(node, var, values[gi])
                    rows_fn(xp, bufs, values[gi], scalars, attrs)
                    return var
                idx, g = _dedup(xp, node, var, values[gi], values[ii])
                rows = [b[idx] for b in bufs]
                rows_fn(xp, rows, g, scalars, attrs)
                for b, r in zip(bufs, rows):
                    b[idx] = r
                return var
        return apply
    return factory


def _scalar_of(ctx):
    """fn(value, numpy scalar type) -> a hyperparameter in the variable's dtype: a numpy scalar
    on the host (the CPU), a 0-d device array elsewhere (no device-to-host read per step)."""
    if ctx.backend.allocator.on_host:
        return lambda v, dt: dt(v)
    asarray = ctx.xp.asarray
    return lambda v, dt: asarray(v, dtype=dt)


def _momentum_rows(xp, bufs, grad, scalars, attrs):
    """accum = accum*momentum + grad; var -= lr*accum (Nesterov: grad*lr + accum*momentum*lr)."""
    var, accum = bufs
    lr, momentum = scalars
    accum *= momentum
    accum += grad
    if attrs.get("use_nesterov", False):
        step = xp.multiply(grad, lr)
        step += accum * (momentum * lr)
    else:
        step = xp.multiply(accum, lr)
    var -= step


def _rmsprop_rows(xp, bufs, grad, scalars, attrs):
    """ms += (g^2 - ms)*(1-rho) [centered: mg += (g - mg)*(1-rho), ms - mg^2 replaces ms];
    mom = mom*momentum + g*lr/sqrt(ms + eps); var -= mom."""
    if len(bufs) == 4:
        var, mg, ms, mom = bufs
    else:
        (var, ms, mom), mg = bufs, None
    lr, rho, momentum, epsilon = scalars
    one = var.dtype.type(1)
    t = xp.empty_like(var)
    xp.multiply(grad, grad, out=t)
    t -= ms
    t *= one - rho
    ms += t
    if mg is None:
        xp.add(ms, epsilon, out=t)
    else:
        xp.subtract(grad, mg, out=t)
        t *= one - rho
        mg += t
        xp.multiply(mg, mg, out=t)
        xp.subtract(ms, t, out=t)
        t += epsilon
    xp.sqrt(t, out=t)                                          # t = grad * lr / sqrt(...)
    xp.divide(grad, t, out=t)
    t *= lr
    mom *= momentum
    mom += t
    var -= mom


def _adagrad_rows(xp, bufs, grad, scalars, attrs):
    """accum += g^2 (when update_slots); var -= g*lr/sqrt(accum)."""
    var, accum = bufs
    lr, = scalars
    if attrs.get("update_slots", True):
        accum += grad * grad
    step = xp.multiply(grad, lr)
    step /= xp.sqrt(accum)
    var -= step


# ----------------------------------------------------------------------------------------------
# Adam
# ----------------------------------------------------------------------------------------------
def _adam_alpha(xp, scalar, dt, lr, beta1_power, beta2_power):
    one = dt(1)
    return scalar(lr, dt) * xp.sqrt(one - scalar(beta2_power, dt)) / \
        (one - scalar(beta1_power, dt))


def _adam_var_update(xp, var, num, v, alpha, epsilon, t):
    """var -= alpha * num / (sqrt(v) + epsilon), with `t` (var's shape) as the only scratch."""
    xp.sqrt(v, out=t)
    t += epsilon
    xp.divide(num, t, out=t)
    t *= alpha
    var -= t


def _apply_adam(node, ctx):
    get = _buffers(node, ctx, 3)
    lock = _locking(node, ctx)
    nesterov = bool(node.attr.get("use_nesterov", False))
    xp, scalar = ctx.xp, _scalar_of(ctx)

    def apply(beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad):
        with lock:
            var, m, v = get()
            _same_shape(node, var, grad)
            dt = var.dtype.type
            one, b1, b2 = dt(1), scalar(beta1, dt), scalar(beta2, dt)
            alpha = _adam_alpha(xp, scalar, dt, lr, beta1_power, beta2_power)
            t = xp.empty_like(var)
            xp.subtract(grad, m, out=t)                       # m += (g - m) * (1 - beta1)
            t *= one - b1
            m += t
            xp.multiply(grad, grad, out=t)                    # v += (g^2 - v) * (1 - beta2)
            t -= v
            t *= one - b2
            v += t
            num = m
            if nesterov:                                      # g*(1-b1) + b1*m instead of m
                num = xp.multiply(grad, one - b1, dtype=var.dtype)
                num += b1 * m
            _adam_var_update(xp, var, num, v, alpha, scalar(epsilon, dt), t)
            return var
    return apply


def _sparse_apply_adam(node, ctx):
    get = _buffers(node, ctx, 3)
    lock = _locking(node, ctx)
    xp, scalar = ctx.xp, _scalar_of(ctx)

    def apply(beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad, indices):
        with lock:
            var, m, v = get()
            idx, g = _dedup(xp, node, var, grad, indices)
            dt = var.dtype.type
            one, b1, b2 = dt(1), scalar(beta1, dt), scalar(beta2, dt)
            alpha = _adam_alpha(xp, scalar, dt, lr, beta1_power, beta2_power)
            m *= b1                                           # m = m*beta1, then += rows
            m[idx] += g * (one - b1)
            v *= b2
            v[idx] += (g * g) * (one - b2)
            _adam_var_update(xp, var, m, v, alpha, scalar(epsilon, dt), xp.empty_like(var))
            return var
    return apply


KERNELS = {
    "ApplyGradientDescent": _apply_gradient_descent,
    "ApplyMomentum": _rowwise(_momentum_rows),
    "SparseApplyMomentum": _rowwise(_momentum_rows),
    "ApplyAdam": _apply_adam,
    "SparseApplyAdam": _sparse_apply_adam,
    "ApplyRMSProp": _rowwise(_rmsprop_rows),
    "SparseApplyRMSProp": _rowwise(_rmsprop_rows),
    "ApplyCenteredRMSProp": _rowwise(_rmsprop_rows),
    "SparseApplyCenteredRMSProp": _rowwise(_rmsprop_rows),
    "ApplyAdagrad": _rowwise(_adagrad_rows),
    "SparseApplyAdagrad": _rowwise(_adagrad_rows),
}
