"""`tw.train.pipeline`: GPipe-style micro-batch pipelining as graph construction.

A model cut into stages (stage s a function on the devices[s]) is built once per micro-batch:
the batch is split along axis 0 into M micro-batches, micro-batch m runs stage 0, then stage 1,
... each stage on its device, and the last stage's outputs of all micro-batches are concatenated
back into the whole batch.  Nothing else is special: the dataflow executor runs stage s of
micro-batch m as soon as its input arrives, so while device 1 works on micro-batch m, device 0
works on m+1; `tw.gradients` of a loss on the concatenated outputs differentiates every
micro-batch's copy, in reverse, and sums each variable's M gradients (accumulation), so one
update uses the gradient of the whole batch.  The result equals the un-pipelined model's as long
as the stages treat examples independently (no batch statistics such as batch normalisation),
up to the order of the sums.

Variables: stage s is built in the variable scope `{name}/stage_{s}`; its first micro-batch
creates the variables (`tw.get_variable`, layers, cells) and the others reuse them.  A stage that
makes new variables in a later micro-batch (a `tw.Variable` created in the stage function) is an
error.

Cost.  With S stages of equal time and M micro-batches, each device idles for S-1 of the M+S-1
slots of the forward pass and again of the backward pass: the bubble fraction (S-1)/(M+S-1)
(GPipe, Huang et al. 2019); more micro-batches shrink it but make each matmul smaller.
"""
from __future__ import annotations

import contextlib

from ..framework import nest
from ..framework.convert import convert_to_tensor
from ..framework.graph import device as _device, get_default_graph, name_scope
from ..ops import array_ops
from ..ops.op_util import even_sizes
from ..ops.variable_scope import variable_scope

__all__ = ["pipeline", "bubble_fraction"]


def bubble_fraction(num_stages: int, num_micro_batches: int) -> float:
    """GPipe's idle fraction of a device, (S-1)/(M+S-1), for S equal stages."""
    return (num_stages - 1) / (num_micro_batches + num_stages - 1)


def _split(x, m: int, where: str):
    n = x.shape[0].value if x.shape.ndims else None
    if x.shape.ndims == 0:
        raise ValueError(f"pipeline: {where} is a scalar; inputs need a batch axis (axis 0)")
    if n is not None:
        if n < m:
            raise ValueError(f"pipeline: {where} has a batch of {n}, fewer than "
                             f"num_micro_batches={m}")
        return array_ops.split(x, even_sizes(n, m), 0)
    return array_ops.split(x, m, 0)      # (a batch unknown until run time must divide by m)


def pipeline(stages, inputs, num_micro_batches: int, devices=None, name: str = "pipeline"):
    """Run `stages` over `inputs` in `num_micro_batches` micro-batches; returns the last stage's
    outputs for the whole batch (the micro-batches' outputs concatenated along axis 0, in the
    structure one call of the last stage returns).

    * `stages`: functions; stage 0 is called with the micro-batch of each input (positional),
      stage s with what stage s-1 returned (a tensor, or a tuple/list of tensors, unpacked);
    * `inputs`: a tensor or a list/tuple of tensors sharing their batch size (axis 0), which M
      must divide when it is known only at run time;
    * `devices`: one device per stage (e.g. `["/cpu:0", "/cpu:1"]`), or None to leave
      placement to the device scopes in effect.
    """
    stages = list(stages)
    if not stages or not all(callable(s) for s in stages):
        raise TypeError("pipeline: stages must be a non-empty list of functions")
    m = int(num_micro_batches)
    if m < 1:
        raise ValueError(f"pipeline: num_micro_batches must be at least 1, got "
                         f"{num_micro_batches}")
    if devices is not None and len(devices) != len(stages):
        raise ValueError(f"pipeline: {len(devices)} devices for {len(stages)} stages; give one "
                         "device per stage")
    single = not isinstance(inputs, (list, tuple))
    flat = [convert_to_tensor(x) for x in ([inputs] if single else inputs)]
    if not flat:
        raise ValueError("pipeline: no inputs")
    batches = {x.shape[0].value for x in flat if x.shape.ndims}
    if len(batches - {None}) > 1:
        raise ValueError(f"pipeline: the inputs' batch sizes differ "
                         f"({', '.join(f'{x.name}: {x.shape[0].value}' for x in flat)}); "
                         "axis 0 of every input is the batch")
    graph = get_default_graph()
    with name_scope(name), variable_scope(name):
        parts = [_split(x, m, f"input {i} ({x.name})") for i, x in enumerate(flat)]
        scopes = [None] * len(stages)
        results = []
        for k in range(m):
            args = [p[k] for p in parts]
            for s, fn in enumerate(stages):
                before = len(graph.get_collection("variables"))
                with _device(devices[s]) if devices is not None else \
                        contextlib.nullcontext():
                    if scopes[s] is None:
                        with variable_scope(f"stage_{s}") as sc:
                            scopes[s] = sc
                            out = fn(*args)
                    else:
                        with variable_scope(scopes[s], reuse=True):
                            out = fn(*args)
                if k and len(graph.get_collection("variables")) != before:
                    raise ValueError(f"pipeline: stage {s} made new variables in micro-batch "
                                     f"{k}; create them with tw.get_variable (or layers/cells) "
                                     "so that every micro-batch shares them")
                args = list(out) if isinstance(out, (list, tuple)) else [out]
            results.append(out)
        flat_out = [nest.flatten(r) for r in results]
        for r in flat_out[0]:
            if r.shape.ndims == 0:
                raise ValueError(f"pipeline: the last stage returned a scalar ({r.name}); "
                                 "return per-example values (axis 0 is the batch) and reduce "
                                 "them after the pipeline")
        joined = [array_ops.concat(list(col), 0) for col in zip(*flat_out)]
    return nest.pack_sequence_as(results[0], joined)
