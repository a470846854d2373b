"""Kernel backends: one kernel table per device type, all keyed by op type.

A kernel table maps an op type to a *kernel factory* `factory(node, ctx) -> fn`: given the node
(`NodeDef`: name, op, attrs) and the `KernelContext` of the device, it returns the function that
computes the node's outputs from its input values (`fn(*inputs) -> value | tuple | None`).
Factories specialise once, when a plan is compiled (read attrs, bind the functions of the
backend's array module `ctx.xp`), so the step itself only calls `fn`.  Kernels are written once
against the array module: the CPU's table serves any device type whose array module and
allocator behave like numpy's (CuPy), and a backend may register a table covering only part of
the op set (the placer puts the rest elsewhere).  Adding a backend is adding a table
(`register_backend`), not editing ops.

A backend also names its `Allocator`: how its device holds tensors.  The wire, feeds and fetches
carry host (numpy) memory; a worker moves what arrives onto its device (`to_device`: fed and
received tensors) and what leaves back to the host (`to_host`: sent and fetched tensors);
`empty(shape, dtype)` allocates on the device.  The CPU's tensors already live on the host, so
its moves are the identity; a GPU backend's are cupy's copies.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Allocator", "Backend", "register_backend", "get_backend", "has_kernel", "backends"]


@dataclass(frozen=True)
class Allocator:
    """How one device type holds tensors (see the module docstring)."""

    name: str                 # e.g. "host" (numpy), "cuda" (cupy)
    empty: Callable           # empty(shape, dtype) -> a device array
    to_device: Callable       # to_device(host value) -> the value in device memory
    to_host: Callable         # to_host(device value) -> a numpy array (fresh, unless on_host)
    #: the class of this device's arrays (numpy.ndarray for the CPU, cupy.ndarray for a GPU)
    array_type: type = object
    #: the device's arrays are host memory: `to_device`/`to_host` move nothing (`to_host` may
    #: return the value itself or a view of it), so the runtime may skip calling them, and
    #: snapshots what it sends of a buffer a step keeps
    on_host: bool = False


@dataclass
class Backend:
    device_type: str          # "CPU", "GPU"
    kernels: dict             # op type -> factory(node, ctx) -> fn
    priority: int             # placement prefers higher priority (GPU above CPU)
    array_module: object      # numpy or cupy
    allocator: Allocator


_BACKENDS: dict[str, Backend] = {}


def register_backend(device_type: str, kernels: dict, priority: int, array_module,
                     allocator: Allocator) -> Backend:
    """Register the kernel table, priority, array module and allocator of a device type."""
    if not isinstance(allocator, Allocator):
        raise TypeError(f"register_backend({device_type!r}): allocator must be a "
                        f"tensorweave.kernels.Allocator, got {type(allocator).__name__}")
    b = Backend(device_type.upper(), kernels, priority, array_module, allocator)
    _BACKENDS[b.device_type] = b
    return b


def _ensure_loaded() -> None:
    if "CPU" not in _BACKENDS:
        from . import cpu  # noqa: F401 - registers itself (cycle: cpu imports this package)


def get_backend(device_type: str) -> Backend:
    _ensure_loaded()
    try:
        return _BACKENDS[device_type.upper()]
    except KeyError:
        raise ValueError(f"No kernel backend for device type {device_type!r}; known: "
                         f"{sorted(_BACKENDS)}") from None


def backends() -> dict[str, Backend]:
    _ensure_loaded()
    return dict(_BACKENDS)


def has_kernel(device_type: str, op_type: str) -> bool:
    return op_type in get_backend(device_type).kernels

