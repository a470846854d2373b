"""`step_stats_summary`: what each device did during a traced step, in a few numbers.

A step run with `RunOptions(trace_level=FULL_TRACE)` fills `RunMetadata.step_stats` with one
`DeviceStepStats` per device, every node's start and end on the host's one wall clock (the
workers' too).  This sums them up per device: when it started and ended, and how long it was
busy, so a pipeline's bubble (the time a device waits for another) is `1 - busy_fraction`.
A `_Recv`'s interval is the time its device waited for the tensor, so it does not count as
busy (unless asked).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import RunMetadata, StepStats

__all__ = ["DeviceSummary", "step_stats_summary"]


@dataclass(frozen=True)
class DeviceSummary:
    """One device's share of a traced step (times in microseconds since the epoch)."""

    device: str
    nodes: int                  # the nodes it ran (its _Recvs included)
    first_start_micros: float   # the first node's start
    last_end_micros: float      # the last node's end
    busy_micros: float          # the union of its nodes' intervals (_Recv waits left out)
    busy_fraction: float        # busy_micros / the step's span (all devices: first start to
    #                             last end); 1 - busy_fraction is the time it was idle


def _interval_ns(n) -> tuple[int, int]:
    start = n.all_start_nanos or n.all_start_micros * 1000
    length = n.all_end_rel_nanos or n.all_end_rel_micros * 1000
    return start, start + length


def step_stats_summary(stats: RunMetadata | StepStats, *, count_recv: bool = False
                       ) -> dict[str, DeviceSummary]:
    """Per device (in `dev_stats` order): its `DeviceSummary` in the step traced in `stats` (a
    `RunMetadata` or its `StepStats`).  `count_recv`: count the time `_Recv`s waited as busy.
    A device that ran no node is left out."""
    if isinstance(stats, RunMetadata):
        stats = stats.step_stats
    if not isinstance(stats, StepStats):
        raise TypeError(f"step_stats_summary takes a tw.RunMetadata or its StepStats, not "
                        f"{type(stats).__name__}")
    per_device = {}
    for dev in stats.dev_stats:
        spans = [(_interval_ns(n), n.op_type == "_Recv") for n in dev.node_stats]
        if not spans:
            continue
        busy, end_so_far = 0, None
        for (a, b), is_recv in sorted(spans):
            if is_recv and not count_recv:
                continue
            if end_so_far is None or a >= end_so_far:
                busy += b - a
                end_so_far = b
            elif b > end_so_far:
                busy += b - end_so_far
                end_so_far = b
        per_device[dev.device] = (len(spans), min(a for (a, _), _ in spans),
                                  max(b for (_, b), _ in spans), busy)
    if not per_device:
        return {}
    span = (max(v[2] for v in per_device.values()) - min(v[1] for v in per_device.values()))
    return {dev: DeviceSummary(dev, n, first / 1000, last / 1000, busy / 1000,
                               busy / span if span > 0 else 0.0)
            for dev, (n, first, last, busy) in per_device.items()}
