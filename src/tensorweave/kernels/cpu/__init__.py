"""The CPU backend: the kernels, one table per op family, merged into one table, run on numpy.

Each module below exports `KERNELS = {op_type: factory}`; an op type may appear in one module only.
The kernels compute with their context's array module (`ctx.xp`), so the same table also serves
other device types whose arrays behave like numpy's (see `tensorweave.test.marked_backend`).
"""
from __future__ import annotations

import numpy as np

from .. import Allocator, register_backend
from . import (array, control, conv, ctc, data_flow, lstm, math, nn, random, sendrecv, sparse,
               state, tensor_list, testing, training)

__all__ = ["KERNELS"]

KERNELS: dict = {}
for _mod in (control, state, math, array, nn, conv, random, training, tensor_list,
             sendrecv, testing, lstm, sparse, ctc, data_flow):
    for _k, _v in _mod.KERNELS.items():
        if _k in KERNELS:
            raise KeyError(f"CPU kernel for {_k!r} defined twice (in {_mod.__name__})")
        KERNELS[_k] = _v


def _same(value):
    return value


def _host(value):
    return value if type(value) is np.ndarray else np.asarray(value)


#: CPU tensors are numpy arrays in host memory: nothing moves on the way in or out.
HOST = Allocator("host", empty=np.empty, to_device=_same, to_host=_host, array_type=np.ndarray,
                 on_host=True)

register_backend("CPU", KERNELS, priority=0, array_module=np, allocator=HOST)
