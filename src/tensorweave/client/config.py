"""Session configuration and per-step options: `ConfigProto`, `RunOptions`, `RunMetadata`, ...

These mirror the TF1 protocol-buffer messages as plain Python objects: keyword construction,
attribute
access, and a clear `ValueError` for a field the message does not have.  They serialise to dicts of
plain data (`to_dict`) so the master can send them to workers.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ConfigProto", "GPUOptions", "GraphOptions", "OptimizerOptions", "RunOptions",
           "RunMetadata", "StepStats", "DeviceStepStats", "NodeExecStats", "NodeOutput",
           "TensorDescription", "AllocationDescription"]


class _Message:
    """A small proto-like record: fixed fields with defaults."""

    _fields: dict[str, Any] = {}

    def __init__(self, **kwargs):
        for k, v in self._fields.items():
            object.__setattr__(self, k, v() if callable(v) else v)
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __setattr__(self, k, v):
        if k not in self._fields:
            raise ValueError(f'Protocol message {type(self).__name__} has no "{k}" field.')
        object.__setattr__(self, k, v)

    def to_dict(self) -> dict:
        out = {}
        for k in self._fields:
            v = getattr(self, k)
            out[k] = v.to_dict() if isinstance(v, _Message) else v
        return out

    def CopyFrom(self, other) -> None:  # noqa: N802 - TF1 name
        for k in self._fields:
            object.__setattr__(self, k, getattr(other, k))

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields
                           if getattr(self, k) != (self._fields[k]() if callable(self._fields[k])
                                                   else self._fields[k]))
        return f"{type(self).__name__}({fields})"


class GPUOptions(_Message):
    _fields = {"allow_growth": False, "per_process_gpu_memory_fraction": 0.0,
               "visible_device_list": "", "allocator_type": "", "force_gpu_compatible": False,
               "deferred_deletion_bytes": 0, "polling_active_delay_usecs": 0,
               "polling_inactive_delay_msecs": 0, "experimental": None}


class OptimizerOptions(_Message):
    L1 = 0
    L0 = -1
    DEFAULT = 0
    OFF = 1
    ON_1 = 2
    _fields = {"do_common_subexpression_elimination": False, "do_constant_folding": False,
               "opt_level": 0, "do_function_inlining": False, "global_jit_level": 0,
               "max_folded_constant_in_bytes": 0}


class GraphOptions(_Message):
    _fields = {"optimizer_options": OptimizerOptions, "enable_recv_scheduling": False,
               "build_cost_model": 0, "build_cost_model_after": 0, "infer_shapes": False,
               "place_pruned_graph": False, "enable_bfloat16_sendrecv": False,
               "timeline_step": 0, "rewrite_options": None}


class ConfigProto(_Message):
    """TF1 `tf.ConfigProto`. `device_count` maps device type to how many devices to use."""

    _fields = {"device_count": dict, "intra_op_parallelism_threads": 0,
               "inter_op_parallelism_threads": 0, "use_per_session_threads": False,
               "session_inter_op_thread_pool": list, "placement_period": 0,
               "device_filters": list, "gpu_options": GPUOptions, "allow_soft_placement": False,
               "log_device_placement": False, "graph_options": GraphOptions,
               "operation_timeout_in_ms": 0, "rpc_options": None, "cluster_def": None,
               "isolate_session_state": False, "experimental": dict}


class RunOptions(_Message):
    """TF1 `tf.RunOptions`; `trace_level=FULL_TRACE` fills `RunMetadata.step_stats`."""

    NO_TRACE = 0
    SOFTWARE_TRACE = 1
    HARDWARE_TRACE = 2
    FULL_TRACE = 3
    _fields = {"trace_level": 0, "timeout_in_ms": 0, "inter_op_thread_pool": 0,
               "output_partition_graphs": False, "debug_options": None,
               "report_tensor_allocations_upon_oom": False, "experimental": None}


class AllocationDescription(_Message):
    """TF1 `AllocationDescription`: what was allocated for a tensor (`requested_bytes`)."""

    _fields = {"requested_bytes": 0, "allocated_bytes": 0, "allocator_name": "",
               "allocation_id": 0, "has_single_reference": False, "ptr": 0}


class TensorDescription(_Message):
    _fields = {"dtype": 0, "shape": None, "allocation_description": AllocationDescription}


class NodeOutput(_Message):
    """TF1 `NodeOutput`: output `slot` of a node and its tensor's description."""

    _fields = {"slot": 0, "tensor_description": TensorDescription}


class NodeExecStats(_Message):
    """TF1 `NodeExecStats`: when a node ran (`all_start_micros`, wall clock, microseconds since
    the epoch, on the host's one clock for every process; the `_rel` fields relative to it, and
    the same in nanoseconds), on which thread, and the bytes of its outputs (`output`).
    `op_type` is tensorweave's own field (TF1 keeps the type in `timeline_label` only)."""

    _fields = {"node_name": "", "op_type": "", "all_start_micros": 0, "op_start_rel_micros": 0,
               "op_end_rel_micros": 0, "all_end_rel_micros": 0, "timeline_label": "",
               "thread_id": 0, "scheduled_micros": 0, "output": list, "all_start_nanos": 0,
               "op_start_rel_nanos": 0, "op_end_rel_nanos": 0, "all_end_rel_nanos": 0}


class DeviceStepStats(_Message):
    """TF1 `DeviceStepStats`: the nodes one device ran (`device`: its full name)."""

    _fields = {"device": "", "node_stats": list, "thread_names": dict}


class StepStats(_Message):
    _fields = {"dev_stats": list}


class RunMetadata(_Message):
    """TF1 `tf.RunMetadata`: filled by `Session.run` when asked through `RunOptions`."""

    _fields = {"step_stats": StepStats, "cost_graph": None, "partition_graphs": list,
               "function_graphs": list}
