"""What a kernel may know about where it runs: its backend, the device's variable store and
random streams.

One `KernelContext` exists per device per session (an in-process session has one for its
device; each worker process has one for the device it serves).  Stateful kernels (variables,
random ops) keep their state here, so two plans of the same session see the same variables and
continue the same random streams, as in TF1.

Kernel factories take their array module from `ctx.xp` (the backend's: numpy for the CPU), move
host values onto the device with `ctx.to_device` and read device values on the host with
`ctx.to_host` (the backend allocator's moves; the CPU's are free).  String tensors live on the
host on every device type: `ctx.module_for(dtype)` is numpy for them, `xp` otherwise.
Functional ops (`If`, `While`) compile their bodies through
`ctx.compile_function(fdef, key_prefix, extra_outputs=())`, which the runtime that compiles the
plan installs (kernels never import the runtime).

Resources of stateful ops that are not variables (queues, accumulators) live in `resources`,
keyed by resource name, so two sessions of a cluster task share one by its `shared_name`.  A
kernel that blocks (a dequeue on an empty queue) waits in slices until `step_deadline()` (the
deadline a worker sets for the step running on this thread; None: no deadline), calling
`serve_while_waiting()` between slices when a runtime installed it (a worker's main thread must
keep serving its control socket while it runs a step).
"""
from __future__ import annotations

import threading

import numpy as np

from . import get_backend

__all__ = ["KernelContext"]


class KernelContext:
    """Per-device, per-session state visible to kernel factories."""

    def __init__(self, device: str = "/job:localhost/replica:0/task:0/device:CPU:0",
                 backend=None):
        if backend is None:
            backend = get_backend("CPU")
        self.device = device
        self.backend = backend
        #: variable key -> current buffer (a device array owned by the store, updated in place)
        self.variables: dict = {}
        #: stateful kernels shared by all plans of the session, keyed by node name
        self.stateful_kernels: dict[str, object] = {}
        self.lock = threading.RLock()
        #: `compile_function(fdef, key_prefix, extra_outputs=()) -> callable`, set by the runtime
        self.compile_function = None
        #: whether plans check every kernel output against the graph (the test suite's mode)
        self.validate = False
        #: resource name -> state of a queue or accumulator (see the module docstring)
        self.resources: dict[str, object] = {}
        #: `serve_while_waiting()`, called between the slices of a blocking kernel's wait by a
        #: runtime whose waiting thread must keep serving (None: nothing to serve)
        self.serve_while_waiting = None
        #: `step_error()`: the error the step running on this thread was aborted with (a peer
        #: failed, its session closed), or None; a blocking kernel's wait raises it (None: the
        #: runtime has no aborts)
        self.step_error = None

    def step_deadline(self) -> float | None:
        """The `time.monotonic()` deadline of the step running on this thread (set by the
        runtime in `self.step`, a thread-local), or None when the step has none."""
        step = getattr(self, "step", None)
        return getattr(step, "deadline", None) if step is not None else None

    @property
    def xp(self):
        """The backend's array module (numpy, cupy, ...): what kernels compute with."""
        return self.backend.array_module

    def module_for(self, dtype):
        """The array module for tensors of `dtype` (a tw DType or numpy dtype): numpy for
        strings, which are host values on every device type, else `xp`."""
        kind = getattr(dtype, "np", dtype)
        return np if kind is not None and np.dtype(kind).kind in "OSU" else self.xp

    def to_device(self, value):
        """A host value in this device's memory (the backend allocator's `to_device`)."""
        return self.backend.allocator.to_device(value)

    def to_host(self, value):
        """A device value as a host numpy array (the backend allocator's `to_host`)."""
        return self.backend.allocator.to_host(value)

    def reset(self) -> None:
        with self.lock:
            self.variables.clear()
            self.stateful_kernels.clear()
            resources, self.resources = list(self.resources.values()), {}
        for r in resources:  # wake whatever waits on them
            cancel = getattr(r, "cancel", None)
            if cancel is not None:
                cancel()
