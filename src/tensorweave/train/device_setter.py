"""`replica_device_setter`: the TF1 device function for between-graph replication.

Inside `with tw.device(tw.train.replica_device_setter(ps_tasks=2))`, variables (and the other ops
named in `ps_ops`) go to `/job:ps/task:k`, round robin by default or as `ps_strategy` chooses,
and every other op to `worker_device`; the fields of a device already requested (an outer
scope) are merged over these, as in TF1.  `GreedyLoadBalancingStrategy(num_tasks, load_fn)`
(TF1's `tf.contrib.training` strategy) puts each variable on the ps task with the least load so
far, the load of a variable being `load_fn(op)`, by default `byte_size_load_fn`: its bytes.
Given a `cluster`, a `worker_device` or `ps_device` naming a job or a task the cluster does not
have is a `ValueError` at once (TF1 finds it out only when a session places the graph).
"""
from __future__ import annotations

import warnings

from ..framework.device_spec import DeviceSpec
from ..framework.tensor_shape import TensorShape
from .server_lib import ClusterSpec

__all__ = ["replica_device_setter", "GreedyLoadBalancingStrategy", "byte_size_load_fn"]

STANDARD_PS_OPS = ("Variable", "VariableV2", "AutoReloadVariable", "MutableHashTable",
                   "MutableHashTableV2", "MutableHashTableOfTensors",
                   "MutableHashTableOfTensorsV2", "MutableDenseHashTable",
                   "MutableDenseHashTableV2", "VarHandleOp", "BoostedTreesEnsembleResourceHandleOp")


class _RoundRobinStrategy:
    def __init__(self, num_tasks: int):
        self._num_tasks = num_tasks
        self._next = 0

    def __call__(self, op) -> int:
        task = self._next
        self._next = (self._next + 1) % self._num_tasks
        return task


def byte_size_load_fn(op) -> int:
    """The bytes of the variable `op` makes (TF1's `byte_size_load_fn`): its shape times its
    element size, from its `shape` and `dtype` attrs (a device function sees an op before its
    outputs exist), else from its first output; 0 when the shape is not fully known."""
    out = op.outputs[0] if op.outputs else None
    try:
        shape = TensorShape(op.get_attr("shape"))
    except (KeyError, ValueError, TypeError):
        shape = out.shape if out is not None else TensorShape(None)
    try:
        dtype = op.get_attr("dtype")
    except (KeyError, ValueError, TypeError):
        dtype = out.dtype if out is not None else None
    if dtype is None or not shape.is_fully_defined():
        return 0
    return int(shape.num_elements()) * int(dtype.base_dtype.size)


class GreedyLoadBalancingStrategy:
    """TF1's greedy ps strategy: each op goes to the ps task with the least load so far (the
    lowest index among equals), whose load then grows by `load_fn(op)`."""

    def __init__(self, num_tasks: int, load_fn=byte_size_load_fn):
        if not isinstance(num_tasks, int) or isinstance(num_tasks, bool) or num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
        self._num_tasks = num_tasks
        self._load_fn = load_fn
        self._ps_loads = [0] * num_tasks

    def __call__(self, op) -> int:
        task = min(range(self._num_tasks), key=lambda t: self._ps_loads[t])
        self._ps_loads[task] += self._load_fn(op)
        return task


class _ReplicaDeviceChooser:
    def __init__(self, ps_tasks, ps_device, worker_device, merge_devices, ps_ops, ps_strategy):
        self._ps_tasks = ps_tasks
        self._ps_device = ps_device
        self._worker_device = worker_device
        self._merge_devices = merge_devices
        self._ps_ops = ps_ops
        self._ps_strategy = ps_strategy

    def device_function(self, op) -> str:
        current = DeviceSpec.from_string(op.device or "")
        if self._ps_tasks and self._ps_device and op.type in self._ps_ops:
            ps = DeviceSpec.from_string(self._ps_device)
            if ps.job and (not current.job or current.job == ps.job):
                ps.task = self._ps_strategy(op)
            return ps.make_merged_spec(current).to_string()
        worker = DeviceSpec.from_string(self._worker_device or "")
        return worker.make_merged_spec(current).to_string()


def replica_device_setter(ps_tasks=0, ps_device="/job:ps", worker_device="/job:worker",
                          merge_devices=True, cluster=None, ps_ops=None, ps_strategy=None):
    """TF1 `tf.train.replica_device_setter`: a device function for `tw.device`."""
    spec = None
    if cluster is not None:
        spec = ClusterSpec(cluster)
        ps_tasks = spec.num_tasks("ps") if "ps" in spec.jobs else 0
        _check_in_cluster("worker_device", worker_device, spec)
    if ps_tasks == 0:
        return None
    if spec is not None:
        _check_in_cluster("ps_device", ps_device, spec)
    if ps_ops is None:
        ps_ops = list(STANDARD_PS_OPS)
    if not merge_devices:
        warnings.warn("DEPRECATION: It is recommended to set merge_devices=true in "
                      "replica_device_setter", stacklevel=2)
    if ps_strategy is None:
        ps_strategy = _RoundRobinStrategy(ps_tasks)
    if not callable(ps_strategy):
        raise TypeError("ps_strategy must be callable")
    chooser = _ReplicaDeviceChooser(ps_tasks, ps_device, worker_device, merge_devices, ps_ops,
                                    ps_strategy)
    return chooser.device_function


def _check_in_cluster(what: str, device, spec: ClusterSpec) -> None:
    """ValueError unless the job (and task) that `device` names are in the cluster: a device
    of no task would otherwise be found out only when a session places the graph."""
    if not isinstance(device, str) or not device:
        return
    d = DeviceSpec.from_string(device)
    if d.job is None:
        return
    if d.job not in spec.jobs:
        raise ValueError(f"replica_device_setter: {what} {device!r} names job {d.job!r}, "
                         f"which is not in the cluster (its jobs: "
                         f"{', '.join(map(repr, spec.jobs))}): {spec!r}")
    if d.task is not None and d.task not in spec.task_indices(d.job):
        raise ValueError(f"replica_device_setter: {what} {device!r} names task {d.task} of "
                         f"job {d.job!r}, which the cluster does not have (its tasks: "
                         f"{', '.join(map(str, spec.task_indices(d.job)))}): {spec!r}")
