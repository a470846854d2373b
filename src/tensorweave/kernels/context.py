"""What a kernel may know about where it runs: the device's variable store and random streams.

One `KernelContext` exists per device per session (the in-process session has one for CPU:0; each
worker process has one per device it serves).  Stateful kernels (variables, random ops) keep their
state here, so two plans of the same session see the same variables and continue the same random
streams, as in TF1.
"""
from __future__ import annotations

import threading

import numpy as np

__all__ = ["KernelContext"]


class KernelContext:
    """Per-device, per-session state visible to kernel factories."""

    def __init__(self, device: str = "/job:localhost/replica:0/task:0/device:CPU:0",
                 xp=np):
        self.device = device
        self.xp = xp
        #: variable key -> current buffer (an ndarray owned by the store, updated in place)
        self.variables: dict[str, np.ndarray] = {}
        #: stateful kernels shared by all plans of the session, keyed by node name
        self.stateful_kernels: dict[str, object] = {}
        self.lock = threading.RLock()

    def variable_key(self, node) -> str:
        """The store key of a VariableV2 node: its `shared_name`, else its name."""
        shared = node.attr.get("shared_name") or ""
        container = node.attr.get("container") or ""
        key = shared or node.name
        return f"{container}/{key}" if container else key

    def reset(self) -> None:
        with self.lock:
            self.variables.clear()
            self.stateful_kernels.clear()
