"""Fused optimizer update ops (TF1 `training_ops`): `ApplyGradientDescent`, `ApplyMomentum`, ...

Each op updates a variable and its slot variables *in place*: every variable or slot input is a ref
(listed in `ref_inputs`), the kernel (`kernels/cpu/training.py`) writes the store's buffers, and
the op's output is the updated variable (a ref, so it may be chained or fetched).  Hyperparameters
(`lr`, `momentum`, ...) are scalar tensors of the variable's dtype.

The `SparseApply*` ops take the rows `indices` of an `IndexedSlices` gradient and change only those
rows.  Unlike TF1's kernels they sum the values of duplicate indices first (TF1's optimizer does
that in the graph with `unique` + `unsorted_segment_sum` before calling them), so the numbers are
those of TF1's optimizers.  `SparseApplyAdam` is tensorweave's fused form of TF1's
`AdamOptimizer._apply_sparse_shared` (m and v decayed densely, the new gradient rows added, the
whole variable updated), which TF1 builds from several ops.
"""
from __future__ import annotations

from ..autodiff.registry import NoGradient
from ..framework.convert import convert_to_tensor
from ..framework.op_interfaces import TRAINING_SIGNATURES
from ..framework.op_registry import register_op
from ..ops.op_util import fmt_shape, op1
from ..ops.state_ops import is_ref, ref_of

__all__ = ["apply_gradient_descent", "apply_momentum", "sparse_apply_momentum", "apply_adam",
           "sparse_apply_adam", "apply_rms_prop", "sparse_apply_rms_prop",
           "apply_centered_rms_prop", "sparse_apply_centered_rms_prop", "apply_adagrad",
           "sparse_apply_adagrad"]


def _apply_shape(op):
    """Shape function shared by all update ops: checks refs, scalars, grad and indices."""
    names, n_refs, grad_name, sparse = TRAINING_SIGNATURES[op.type]
    if len(op.inputs) != len(names):
        raise ValueError(f"{op.type} '{op.name}' takes {len(names)} inputs "
                         f"({', '.join(names)}), got {len(op.inputs)}")
    ins = dict(zip(names, op.inputs))
    var = ins["var"]
    for n in names[:n_refs]:
        t = ins[n]
        if not is_ref(t):
            raise TypeError(f"'{op.type}' Op requires that input '{n}' be a mutable tensor (a "
                            f"variable), but {t.name} comes from a {t.op.type} node.")
        if t.dtype is not var.dtype:
            raise TypeError(f"Input '{n}' of '{op.type}' Op '{op.name}' has type {t.dtype.name} "
                            f"that does not match type {var.dtype.name} of argument 'var'.")
        if not t.shape.is_compatible_with(var.shape):
            raise ValueError(f"var and {n} do not have the same shape: {fmt_shape(var.shape)} "
                             f"and {fmt_shape(t.shape)} in '{op.name}' (op: '{op.type}')")
    for n in names[n_refs:]:
        t = ins[n]
        if n == "indices":
            if not t.dtype.is_integer:
                raise TypeError(f"'{op.type}' indices must be int32 or int64, got {t.dtype.name}")
            if t.shape.ndims not in (None, 1):
                raise ValueError(f"indices must be one-dimensional, got shape "
                                 f"{fmt_shape(t.shape)} in '{op.name}' (op: '{op.type}')")
            continue
        if t.dtype is not var.dtype:
            raise TypeError(f"Input '{n}' of '{op.type}' Op '{op.name}' has type {t.dtype.name} "
                            f"that does not match type {var.dtype.name} of argument 'var'.")
        if n == grad_name:
            continue
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"{n} is not a scalar: {fmt_shape(t.shape)} in '{op.name}' "
                             f"(op: '{op.type}')")
    grad = ins[grad_name]
    if not sparse:
        if not grad.shape.is_compatible_with(var.shape):
            raise ValueError(f"var and {grad_name} do not have the same shape: "
                             f"{fmt_shape(var.shape)} and {fmt_shape(grad.shape)} in "
                             f"'{op.name}' (op: '{op.type}')")
    elif var.shape.ndims is not None and grad.shape.ndims is not None:
        expected = ins["indices"].shape.concatenate(var.shape[1:])
        if var.shape.ndims == 0 or not grad.shape.is_compatible_with(expected):
            raise ValueError(f"grad must be indices.shape + var.shape[1:] = {fmt_shape(expected)}"
                             f", got {fmt_shape(grad.shape)} in '{op.name}' (op: '{op.type}')")
    return [(var.dtype, var.shape)]


for _t, (_names, _n_refs, _, _) in TRAINING_SIGNATURES.items():
    register_op(_t, stateful=True, ref_inputs=tuple(range(_n_refs)), may_alias=True)(_apply_shape)
    NoGradient(_t)


# ----------------------------------------------------------------------------------------------
# wrappers (TF1 argument names and order)
# ----------------------------------------------------------------------------------------------
def _apply(op_type, args, attrs, name):
    names, n_refs, _, _ = TRAINING_SIGNATURES[op_type]
    var = ref_of(args[0])
    inputs = [var] + [ref_of(a) for a in args[1:n_refs]]
    for n, a in zip(names[n_refs:], args[n_refs:]):
        inputs.append(convert_to_tensor(a) if n == "indices"
                      else convert_to_tensor(a, dtype=var.dtype))
    attrs = dict(attrs, T=var.dtype)
    if "indices" in names:
        attrs["Tindices"] = inputs[names.index("indices")].dtype
    return op1(op_type, inputs, attrs, name or op_type)


def apply_gradient_descent(var, alpha, delta, use_locking=False, name=None):
    """var -= alpha * delta."""
    return _apply("ApplyGradientDescent", [var, alpha, delta], {"use_locking": use_locking}, name)


def apply_momentum(var, accum, lr, grad, momentum, use_locking=False, use_nesterov=False,
                   name=None):
    """accum = accum*momentum + grad; var -= lr*accum (Nesterov: grad*lr + accum*momentum*lr)."""
    return _apply("ApplyMomentum", [var, accum, lr, grad, momentum],
                  {"use_locking": use_locking, "use_nesterov": use_nesterov}, name)


def sparse_apply_momentum(var, accum, lr, grad, indices, momentum, use_locking=False,
                          use_nesterov=False, name=None):
    return _apply("SparseApplyMomentum", [var, accum, lr, grad, indices, momentum],
                  {"use_locking": use_locking, "use_nesterov": use_nesterov}, name)


def apply_adam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad,
               use_locking=False, use_nesterov=False, name=None):
    """Adam with the bias correction folded into lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t)."""
    return _apply("ApplyAdam", [var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon,
                                grad], {"use_locking": use_locking, "use_nesterov": use_nesterov},
                  name)


def sparse_apply_adam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad,
                      indices, use_locking=False, name=None):
    return _apply("SparseApplyAdam", [var, m, v, beta1_power, beta2_power, lr, beta1, beta2,
                                      epsilon, grad, indices], {"use_locking": use_locking}, name)


def apply_rms_prop(var, ms, mom, lr, rho, momentum, epsilon, grad, use_locking=False, name=None):
    return _apply("ApplyRMSProp", [var, ms, mom, lr, rho, momentum, epsilon, grad],
                  {"use_locking": use_locking}, name)


def sparse_apply_rms_prop(var, ms, mom, lr, rho, momentum, epsilon, grad, indices,
                          use_locking=False, name=None):
    return _apply("SparseApplyRMSProp", [var, ms, mom, lr, rho, momentum, epsilon, grad, indices],
                  {"use_locking": use_locking}, name)


def apply_centered_rms_prop(var, mg, ms, mom, lr, rho, momentum, epsilon, grad, use_locking=False,
                            name=None):
    return _apply("ApplyCenteredRMSProp", [var, mg, ms, mom, lr, rho, momentum, epsilon, grad],
                  {"use_locking": use_locking}, name)


def sparse_apply_centered_rms_prop(var, mg, ms, mom, lr, rho, momentum, epsilon, grad, indices,
                                   use_locking=False, name=None):
    return _apply("SparseApplyCenteredRMSProp",
                  [var, mg, ms, mom, lr, rho, momentum, epsilon, grad, indices],
                  {"use_locking": use_locking}, name)


def apply_adagrad(var, accum, lr, grad, use_locking=False, update_slots=True, name=None):
    """accum += grad^2 (when update_slots); var -= lr * grad / sqrt(accum)."""
    return _apply("ApplyAdagrad", [var, accum, lr, grad],
                  {"use_locking": use_locking, "update_slots": update_slots}, name)


def sparse_apply_adagrad(var, accum, lr, grad, indices, use_locking=False, update_slots=True,
                         name=None):
    return _apply("SparseApplyAdagrad", [var, accum, lr, grad, indices],
                  {"use_locking": use_locking, "update_slots": update_slots}, name)
