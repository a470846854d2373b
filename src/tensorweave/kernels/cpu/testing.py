"""Kernels of the test-only ops (`tensorweave/test/test_ops.py`)."""
from __future__ import annotations

import time

import numpy as np

__all__ = ["KERNELS"]


def _sleep(node, ctx):
    seconds = float(node.attr["seconds"])
    to_device = ctx.to_device

    def sleep(*_):
        start = time.time()
        time.sleep(seconds)
        return to_device(np.array([start, time.time()]))
    return sleep


KERNELS = {"TestSleep": _sleep}
