"""The devices of one machine: `Device` records and `local_devices()`.

A device is what one worker process serves: a group of CPU cores (numpy kernels, BLAS threads
limited to those cores) or one GPU (cupy kernels).  Its full name is TF1's
`/job:J/replica:R/task:T/device:TYPE:N`.

`local_devices(device_count)` describes what this machine offers, as TF1's `device_count` in the
ConfigProto asks for it:

* CPU: the cores this process may run on (`os.sched_getaffinity`) are split into
  `device_count["CPU"]` contiguous groups (default 1: one CPU device holding every core).  Asking
  for more CPU devices than cores shares cores round-robin (`shares_cores` says so), up to
  `CPU_DEVICES_PER_CORE` (4) devices per core: each CPU device is a worker process (some 50 MB),
  so `{"CPU": 500}` on a small machine raises ValueError naming the cap instead of starting 500
  of them.  Host memory is divided evenly among the CPU devices.
* Every count must be a non-negative int (a bool, float or string raises ValueError naming the
  field, e.g. `device_count['CPU']`).
* GPU: one device per CUDA device that cupy sees, at most `device_count["GPU"]`.  Without cupy,
  without a driver or without a GPU there are none; this never raises.
"""
from __future__ import annotations

import numbers
import os
import secrets
import zlib
from dataclasses import dataclass

import psutil

from ..framework.device_spec import DeviceSpec
from ..kernels import backends

__all__ = ["Device", "make_device", "local_devices", "available_cores", "gpu_properties",
           "DEFAULT_JOB", "CPU_DEVICES_PER_CORE"]

DEFAULT_JOB = "/job:localhost/replica:0/task:0"

#: At most this many CPU devices (worker processes) per available core.
CPU_DEVICES_PER_CORE = 4

# Different in every process, fixed within one: a device's incarnation changes when its
# process restarts (TF1 semantics), and two calls in one process agree.
_PROCESS_NONCE = secrets.randbits(62)


@dataclass(frozen=True)
class Device:
    """One device: its full name, where it lives, and what it holds."""

    name: str                    # /job:J/replica:R/task:T/device:TYPE:N
    device_type: str             # "CPU" | "GPU"
    job: str
    replica: int
    task: int
    index: int
    memory_limit_bytes: int
    cores: tuple = ()            # CPU cores this device's worker is pinned to (CPU devices)
    incarnation: int = 0
    description: str = ""        # e.g. the GPU model
    shares_cores: bool = False   # another device of this task uses some of the same cores

    @property
    def spec(self) -> DeviceSpec:
        return DeviceSpec(self.job, self.replica, self.task, self.device_type, self.index)

    def __str__(self) -> str:
        return self.name


def make_device(device_type: str, index: int, *, job_prefix: str = DEFAULT_JOB,
                memory_limit_bytes: int = 0, cores=(), description: str = "",
                shares_cores: bool = False) -> Device:
    """A `Device` named `{job_prefix}/device:{TYPE}:{index}`."""
    prefix = DeviceSpec.from_string(job_prefix)
    if prefix.device_type is not None:
        raise ValueError(f"job_prefix {job_prefix!r} must name a job/replica/task, not a device")
    job = prefix.job or "localhost"
    replica = prefix.replica or 0
    task = prefix.task or 0
    dtype = device_type.upper()
    name = f"/job:{job}/replica:{replica}/task:{task}/device:{dtype}:{index}"
    inc = (zlib.crc32(name.encode()) << 30 ^ _PROCESS_NONCE) & ((1 << 63) - 1)
    return Device(name, dtype, job, replica, task, int(index), int(memory_limit_bytes),
                  tuple(cores), inc, description, shares_cores)


def available_cores() -> list[int]:
    """The CPU cores this process may run on, sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # pragma: no cover - not Linux
        try:
            return sorted(psutil.Process().cpu_affinity())
        except Exception:  # noqa: BLE001 - fall back to counting
            return list(range(os.cpu_count() or 1))


def _host_memory() -> int:
    try:
        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil is a dependency; be robust anyway
        return 0


def _split_cores(cores: list[int], n: int) -> list[tuple[list[int], bool]]:
    """`n` groups of `cores`: contiguous and as even as possible, or shared when n > len."""
    if n <= len(cores):
        q, r = divmod(len(cores), n)
        out, start = [], 0
        for i in range(n):
            size = q + (1 if i < r else 0)
            out.append((cores[start:start + size], False))
            start += size
        return out
    return [([cores[i % len(cores)]], True) for i in range(n)]


def gpu_properties() -> list[dict]:
    """[{index, name, memory}] for each CUDA device cupy sees; [] without cupy/CUDA/GPU."""
    try:
        import cupy  # an optional dependency (the gpu extra)
        n = int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001 - no cupy, no driver, no device: no GPUs
        return []
    out = []
    for i in range(n):
        try:
            p = cupy.cuda.runtime.getDeviceProperties(i)
            name = p.get("name", b"GPU")
            name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            out.append({"index": i, "name": name, "memory": int(p.get("totalGlobalMem", 0))})
        except Exception:  # noqa: BLE001 - a device we cannot query is not offered
            continue
    return out


def local_devices(device_count: dict | None = None, *,
                  job_prefix: str = DEFAULT_JOB) -> list[Device]:
    """This machine's devices named under `job_prefix`: CPU groups first, then GPUs, then the
    devices of other registered backend types.

    `device_count` (TF1 ConfigProto field) maps a device type to how many devices of it to
    create: CPU defaults to 1; GPU defaults to every GPU cupy sees; another registered backend
    type (one with no hardware to discover, e.g. the test suite's `MARKED`) defaults to 0.  CPU
    may be 0 only when another type has devices.
    """
    counts = {str(k).upper(): v for k, v in (device_count or {}).items()}
    others = sorted(set(backends()) - {"CPU", "GPU"})
    unknown = set(counts) - {"CPU", "GPU"} - set(others)
    if unknown:
        raise ValueError(f"device_count: unknown device types {sorted(unknown)}; "
                         f"expected {['CPU', 'GPU'] + others}")
    counts = {t: _count(t, v) for t, v in counts.items()}
    n_cpu = counts.get("CPU", 1)
    extra = {t: counts.get(t, 0) for t in others}
    if n_cpu < 1 and not any(extra.values()):
        raise ValueError(f"device_count['CPU'] must be at least 1, got {n_cpu}")
    cores = available_cores()
    cap = CPU_DEVICES_PER_CORE * len(cores)
    if n_cpu > cap:
        raise ValueError(f"device_count['CPU'] is {n_cpu}, more than the cap of {cap} CPU "
                         f"devices ({CPU_DEVICES_PER_CORE} per core, {len(cores)} core"
                         f"{'s' * (len(cores) != 1)} available): each CPU device is a worker "
                         f"process; ask for at most {cap}")
    mem = _host_memory()
    devices = []
    for i, (group, shared) in enumerate(_split_cores(cores, n_cpu) if n_cpu else ()):
        devices.append(make_device("CPU", i, job_prefix=job_prefix,
                                   memory_limit_bytes=mem // n_cpu, cores=group,
                                   description=f"cores {_ranges(group)}", shares_cores=shared))
    max_gpu = counts.get("GPU")
    gpus = gpu_properties() if max_gpu is None or max_gpu > 0 else []
    if max_gpu is not None:
        gpus = gpus[:max_gpu]
    for g in gpus:
        devices.append(make_device("GPU", g["index"], job_prefix=job_prefix,
                                   memory_limit_bytes=g["memory"], description=g["name"]))
    for t in others:
        for i in range(extra[t]):
            devices.append(make_device(t, i, job_prefix=job_prefix, memory_limit_bytes=mem,
                                       cores=tuple(cores), description=f"{t} (emulated)"))
    return devices


def _count(device_type: str, value) -> int:
    """A `device_count` entry: a non-negative int (numpy ints too), else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"device_count[{device_type!r}] must be an int, got {value!r} of type "
                         f"{type(value).__name__}")
    if value < 0:
        raise ValueError(f"device_count[{device_type!r}] must be >= 0, got {value}")
    return int(value)


def _ranges(cores) -> str:
    """`[0, 1, 2, 5]` -> `'0-2,5'`."""
    out, run = [], []
    for c in cores:
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)
