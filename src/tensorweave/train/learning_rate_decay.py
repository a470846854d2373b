"""Learning-rate schedules (TF1 `tf.train.exponential_decay`, ...): graph functions of the step.

Each returns a scalar tensor of the learning rate's dtype (float32 for a Python float) computed
from `global_step` (usually the global step variable), with TF1's formulas:

* exponential_decay:   lr * decay_rate ^ (step / decay_steps)
* natural_exp_decay:   lr * exp(-decay_rate) ^ (step / decay_steps)
* inverse_time_decay:  lr / (1 + decay_rate * step / decay_steps)
  (all three with `staircase`: the exponent is floored)
* polynomial_decay:    (lr - end) * (1 - min(step, decay_steps) / decay_steps) ^ power + end;
  with `cycle`, decay_steps grows to the first multiple of itself above the step
* cosine_decay:        lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) /
  decay_steps)) + alpha)
* piecewise_constant:  values[i] for boundaries[i-1] < x <= boundaries[i]
"""
from __future__ import annotations

import math

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import name_scope
from ..ops import array_ops, math_ops
from ..ops.constant_op import constant

__all__ = ["exponential_decay", "natural_exp_decay", "inverse_time_decay", "polynomial_decay",
           "cosine_decay", "piecewise_constant"]


def _require_step(global_step, fn):
    if global_step is None:
        raise ValueError(f"global_step is required for {fn}.")


def _step_decay(fn_name, default_name, learning_rate, global_step, decay_steps, decay_rate,
                staircase, name, formula):
    """Shared frame of the three step-ratio schedules: `formula(lr, rate, p)` in lr's dtype."""
    _require_step(global_step, fn_name)
    with name_scope(name, default_name, [learning_rate, global_step, decay_steps,
                                         decay_rate]) as scope:
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        dtype = lr.dtype
        p = math_ops.cast(global_step, dtype) / math_ops.cast(decay_steps, dtype)
        if staircase:
            p = math_ops.floor(p)
        return formula(lr, math_ops.cast(decay_rate, dtype), p, scope)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * decay_rate ^ (global_step / decay_steps) (floored exponent with `staircase`)."""
    return _step_decay("exponential_decay", "ExponentialDecay", learning_rate, global_step,
                       decay_steps, decay_rate, staircase, name,
                       lambda lr, rate, p, scope: math_ops.multiply(
                           lr, math_ops.pow(rate, p), name=scope))


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * exp(-decay_rate) ^ (global_step / decay_steps) (floored with `staircase`)."""
    return _step_decay("natural_exp_decay", "NaturalExpDecay", learning_rate, global_step,
                       decay_steps, decay_rate, staircase, name,
                       lambda lr, rate, p, scope: math_ops.multiply(
                           lr, math_ops.pow(math_ops.exp(math_ops.negative(rate)), p),
                           name=scope))


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                       name=None):
    """lr / (1 + decay_rate * global_step / decay_steps) (floored ratio with `staircase`)."""
    return _step_decay("inverse_time_decay", "InverseTimeDecay", learning_rate, global_step,
                       decay_steps, decay_rate, staircase, name,
                       lambda lr, rate, p, scope: math_ops.divide(
                           lr, math_ops.add(constant(1, dtype=lr.dtype),
                                            math_ops.multiply(rate, p)), name=scope))


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False, name=None):
    """Polynomial decay from lr to end_learning_rate over decay_steps (restarting with
    `cycle`)."""
    _require_step(global_step, "polynomial_decay")
    with name_scope(name, "PolynomialDecay", [learning_rate, global_step, decay_steps,
                                              end_learning_rate, power]) as scope:
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        dtype = lr.dtype
        end = math_ops.cast(end_learning_rate, dtype)
        power = math_ops.cast(power, dtype)
        step = math_ops.cast(global_step, dtype)
        steps = math_ops.cast(decay_steps, dtype)
        if cycle:
            # the first multiple of decay_steps above the step (1 at step 0)
            multiplier = array_ops.where(math_ops.equal(step, 0), constant(1.0, dtype=dtype),
                                         math_ops.ceil(step / steps))
            steps = math_ops.multiply(steps, multiplier)
        else:
            step = math_ops.minimum(step, steps)
        p = math_ops.divide(step, steps)
        return math_ops.add(math_ops.multiply(lr - end, math_ops.pow(1 - p, power)), end,
                            name=scope)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """Cosine decay from lr to alpha * lr over decay_steps (Loshchilov & Hutter)."""
    _require_step(global_step, "cosine_decay")
    with name_scope(name, "CosineDecay", [learning_rate, global_step]) as scope:
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        dtype = lr.dtype
        steps = math_ops.cast(decay_steps, dtype)
        step = math_ops.minimum(math_ops.cast(global_step, dtype), steps)
        fraction = step / steps
        cosine = 0.5 * (1.0 + math_ops.cos(constant(math.pi, dtype=dtype) * fraction))
        decayed = (1 - alpha) * cosine + alpha
        return math_ops.multiply(lr, decayed, name=scope)


def piecewise_constant(x, boundaries, values, name=None):
    """values[0] for x <= boundaries[0], values[i] for boundaries[i-1] < x <= boundaries[i],
    values[-1] for x > boundaries[-1]."""
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with name_scope(name, "PiecewiseConstant", [x]) as scope:
        x = convert_to_tensor(x)
        bs = []
        for b in boundaries:
            b = convert_to_tensor(b)
            if b.dtype.base_dtype is not x.dtype.base_dtype:
                if b.dtype is _dtypes.int32 and x.dtype.base_dtype is _dtypes.int64:
                    b = math_ops.cast(b, _dtypes.int64)
                else:
                    raise ValueError(f"Boundaries ({b.dtype.name}) must have the same dtype as "
                                     f"x ({x.dtype.base_dtype.name}).")
            bs.append(b)
        vs = [convert_to_tensor(v) for v in values]
        for v in vs[1:]:
            if v.dtype.base_dtype is not vs[0].dtype.base_dtype:
                raise ValueError(f"Values must have elements all with the same dtype "
                                 f"({vs[0].dtype.name} vs {v.dtype.name}).")
        out = vs[-1]
        for i in range(len(bs) - 1, -1, -1):
            out = array_ops.where(math_ops.less_equal(x, bs[i]), vs[i], out,
                                  name=scope if i == 0 else None)
        if not bs:
            out = array_ops.identity(out, name=scope)
        return out
