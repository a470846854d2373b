"""`python -m runner devices`: print the devices this machine offers, with cores and memory.

`--cpus N` / `--gpus N` ask for TF1's `device_count` ({"CPU": N, "GPU": N}); `--job` names the
job/replica/task prefix the devices get.
"""
from __future__ import annotations

import sys


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n else "unknown memory"


def describe(devices, gpus_asked=None) -> list[str]:
    """One line per device, then a line saying why there is no GPU, if there is none."""
    lines = []
    for d in devices:
        if d.device_type == "CPU":
            what = f"cores {','.join(map(str, d.cores))}" + (" (shared)" if d.shares_cores else "")
        else:
            what = d.description or d.device_type
        lines.append(f"{d.name}  {d.device_type}  {what}  {_mib(d.memory_limit_bytes)}")
    if gpus_asked == 0:
        lines.append("no GPU: none asked for (--gpus 0)")
    elif not any(d.device_type == "GPU" for d in devices):
        lines.append("no GPU: cupy is not installed or sees no CUDA device "
                     "(pip install '.[gpu]' on a machine with an NVIDIA GPU)")
    return lines


def main(args) -> int:
    from tensorweave.runtime.devices import DEFAULT_JOB, available_cores, local_devices
    count = {}
    if getattr(args, "cpus", None) is not None:
        count["CPU"] = args.cpus
    if getattr(args, "gpus", None) is not None:
        count["GPU"] = args.gpus
    try:
        devices = local_devices(count, job_prefix=getattr(args, "job", None) or DEFAULT_JOB)
    except ValueError as e:
        print(f"runner devices: {e}", file=sys.stderr)
        return 2
    n = len(available_cores())
    print(f"{n} CPU core{'s' * (n != 1)} available to this process; "
          f"{len(devices)} device{'s' * (len(devices) != 1)}:")
    for line in describe(devices, count.get("GPU")):
        print("  " + line)
    return 0
