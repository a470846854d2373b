"""Kernels of the test-only ops (`tensorweave/test/test_ops.py`)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

import numpy as np

from ...framework import errors

__all__ = ["KERNELS"]


def _sleep(node, ctx):
    seconds = float(node.attr["seconds"])
    to_device = ctx.to_device

    def sleep(*_):
        start = time.time()
        time.sleep(seconds)
        return to_device(np.array([start, time.time()]))
    return sleep


def _barrier(node, ctx):
    directory, party = node.attr["directory"], node.attr["party"]
    parties = list(node.attr["parties"])
    timeout = float(node.attr["timeout"])
    to_device = ctx.to_device

    def barrier(*_):
        start = time.time()
        with open(os.path.join(directory, party), "w"):
            pass
        deadline = time.monotonic() + timeout
        while True:
            missing = [p for p in parties if not os.path.exists(os.path.join(directory, p))]
            if not missing:
                return to_device(np.array([start, time.time()]))
            if time.monotonic() > deadline:
                raise errors.DeadlineExceededError(
                    None, node.name, f"barrier {party!r} waited {timeout} s for {missing}")
            time.sleep(0.002)
    return barrier


def _hold_interpreter(node, ctx):
    seconds = int(node.attr["seconds"])
    to_device = ctx.to_device

    def hold(*_):
        # a PyDLL call keeps the interpreter lock for its whole length
        libc = ctypes.PyDLL(ctypes.util.find_library("c") or "libc.so.6")
        start = time.time()
        libc.sleep(ctypes.c_uint(seconds))
        return to_device(np.array([start, time.time()]))
    return hold


KERNELS = {"TestSleep": _sleep, "TestBarrier": _barrier,
           "TestHoldInterpreter": _hold_interpreter}
