"""In-graph replication: one model copy ("tower") per device on its shard of the batch.

`replicate_model(model_fn, inputs, devices, optimizer)` builds TF1's multi-device pattern in one
graph: each input is split along its first dimension into one shard per device; tower *i* runs
`model_fn(shard_i)` under `devices[i]` (name scope `tower_i`), sharing the variables, which live
on the parameter devices; each tower's gradients are computed next to its ops
(`colocate_gradients_with_ops`); they are averaged on their variable's device
(`average_gradients`, the function of TF's multi-GPU CIFAR-10 tutorial) and applied there,
once.  `param_device` is one device (TF's tutorial keeps them on `/cpu:0`) or a list; by default
the towers' own devices.  Over several, the variables are spread by size
(`GreedyLoadBalancingStrategy`), and so are the averaging and the updates, which then do
not all wait on one device (on two one-core workers the benchmark's MLP step ran 1.36-1.42x
one worker, against 1.06-1.22x with every parameter on `/cpu:0`: `python -m runner bench
dataparallel`).  `model_fn` returns the
mean loss of its shard, so with shards of equal size the averaged gradient is the gradient of
the whole batch's mean loss: the same update as one device on the whole batch.

Variables must be made with `tw.get_variable` (towers after the first reuse them); a tower that
makes variables of its own (`tw.Variable`) is refused, naming them, since its copy would not be
shared.  The same pattern written by hand (towers under `tw.device('/gpu:%d' % i)` with
`allow_soft_placement`, the tutorial's `average_gradients`) runs unchanged.
"""
from __future__ import annotations

from typing import NamedTuple

from ..framework import graph as framework_ops
from ..framework.indexed_slices import IndexedSlices
from ..ops import array_ops, math_ops
from ..ops import variable_scope as vs
from ..ops.variables import trainable_variables
from .device_setter import STANDARD_PS_OPS, GreedyLoadBalancingStrategy, byte_size_load_fn

__all__ = ["average_gradients", "replicate_model", "Replicated"]


def average_gradients(tower_grads):
    """The mean over towers of each variable's gradient: `tower_grads` is one list of
    `(gradient, variable)` pairs per tower, in the same variable order (what
    `Optimizer.compute_gradients` returns); returns one such list.  A variable whose gradient is
    None in every tower keeps None; sparse gradients (`IndexedSlices`) stay sparse (their
    values scaled, their indices concatenated)."""
    if not tower_grads:
        raise ValueError("average_gradients needs the gradients of at least one tower")
    n = len(tower_grads)
    averaged = []
    for pairs in zip(*tower_grads):
        var = pairs[0][1]
        for _, v in pairs:
            if v is not var:
                raise ValueError(f"average_gradients: the towers list their variables in "
                                 f"different orders ({var.name} against {v.name})")
        grads = [g for g, _ in pairs if g is not None]
        if not grads:
            averaged.append((None, var))
            continue
        if len(grads) != n:
            raise ValueError(f"average_gradients: {var.name} has a gradient in {len(grads)} of "
                             f"{n} towers")
        if any(isinstance(g, IndexedSlices) for g in grads):
            grads = [g if isinstance(g, IndexedSlices) else
                     IndexedSlices(g, math_ops.range(array_ops.shape(g)[0])) for g in grads]
            values = array_ops.concat([g.values for g in grads], 0) / float(n)
            indices = array_ops.concat([g.indices for g in grads], 0)
            averaged.append((IndexedSlices(values, indices, grads[0].dense_shape), var))
            continue
        if n == 1:
            averaged.append((grads[0], var))
            continue
        # (the tutorial stacks and reduce_means; a sum then one scaling reads each gradient
        # once and writes no stacked copy), next to the variable
        with framework_ops.colocate_with(var.op):
            averaged.append((math_ops.add_n(grads) * (1.0 / n), var))
    return averaged


class Replicated(NamedTuple):
    """What `replicate_model` built."""

    train_op: object          # applies the averaged gradients once (and bumps global_step)
    loss: object              # the mean of the towers' losses (the whole batch's mean loss)
    tower_losses: list        # each tower's loss
    grads_and_vars: list      # the averaged (gradient, variable) pairs


def _split_inputs(inputs, n: int):
    """One structure like `inputs` (a tensor, a list/tuple or a dict of them) per shard."""
    if isinstance(inputs, dict):
        keys = sorted(inputs)
        parts = {k: array_ops.split(inputs[k], n, axis=0, name=f"split_{k}") for k in keys}
        return [{k: parts[k][i] for k in keys} for i in range(n)]
    if isinstance(inputs, (list, tuple)):
        parts = [array_ops.split(x, n, axis=0) for x in inputs]
        return [type(inputs)(p[i] for p in parts) for i in range(n)]
    return array_ops.split(inputs, n, axis=0)


def replicate_model(model_fn, inputs, devices, optimizer, param_device=None,
                    global_step=None, name: str = "tower") -> Replicated:
    """Build in-graph replication of `model_fn(inputs) -> loss` over `devices` (see the module
    docstring); returns a `Replicated`.  Each input's first dimension must divide evenly by
    `len(devices)` when the step runs (`InvalidArgumentError` otherwise)."""
    devices = list(devices)
    if not devices or not all(isinstance(d, str) for d in devices):
        raise ValueError(f"replicate_model needs a list of device names, got {devices!r}")
    if not callable(model_fn):
        raise TypeError("replicate_model: model_fn must be callable: model_fn(inputs) -> loss")
    n = len(devices)
    if param_device is None:
        param_device = list(dict.fromkeys(devices))   # the towers' devices, each once
    params = [param_device] if isinstance(param_device, str) else list(param_device)
    if not params or not all(isinstance(d, str) for d in params):
        raise ValueError(f"replicate_model: param_device must be a device name or a list of "
                         f"them, got {param_device!r}")
    spread = GreedyLoadBalancingStrategy(len(params), byte_size_load_fn)
    with framework_ops.device(params[0]):
        shards = _split_inputs(inputs, n)
    tower_losses, tower_grads = [], []
    shared: list = []
    scope = vs.get_variable_scope()
    for i, dev in enumerate(devices):
        def setter(op, dev=dev):
            if op.type in STANDARD_PS_OPS:
                return params[spread(op)] if len(params) > 1 else params[0]
            return dev
        before = set(id(v) for v in trainable_variables())
        # (a variable scope entered from its object re-enters its own name scope: the tower's
        # name scope goes inside it)
        with framework_ops.device(setter), vs.variable_scope(scope, reuse=True if i else None), \
                framework_ops.name_scope(f"{name}_{i}"):
            loss = model_fn(shards[i])
            new = [v for v in trainable_variables() if id(v) not in before]
            if i == 0:
                shared = new
            elif new:
                raise ValueError(f"replicate_model: tower {i} made variables of its own "
                                 f"({', '.join(v.op.name for v in new)}): make them with "
                                 f"tw.get_variable so every tower shares them")
            grads = optimizer.compute_gradients(loss, var_list=shared or None,
                                                colocate_gradients_with_ops=True)
        tower_losses.append(loss)
        tower_grads.append(grads)
    with framework_ops.device(params[0]), framework_ops.name_scope(f"{name}_average"):
        averaged = average_gradients(tower_grads)
        mean_loss = (tower_losses[0] if n == 1 else
                     math_ops.add_n(tower_losses) / float(n))
        train_op = optimizer.apply_gradients(averaged, global_step=global_step)
    return Replicated(train_op, mean_loss, tower_losses, averaged)
