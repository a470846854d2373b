"""Kernels for graph plumbing and control flow: NoOp, If, While, Assert.

`If` and `While` compile their function attrs when their own plan is compiled
(`ctx.compile_function`, installed by the runtime), so running a branch or an iteration costs
one call of a compiled function.  Predicates and the tensors an `Assert` prints are read on the
host (`ctx.to_host`).
"""
from __future__ import annotations

import numpy as np

from ...framework import errors
from ...framework.op_interfaces import ASSERT_TENSOR_SLOT
from .array import _identity

__all__ = ["KERNELS"]


def _noop(node, ctx):
    return lambda *args: None


def _compile(node, ctx, fdef, role, **kw):
    return ctx.compile_function(fdef, f"{node.key}/{role}/", **kw)


def _if(node, ctx):
    """Run the taken branch; also return the intermediates a gradient asked for."""
    inter = list(node.attr.get("intermediates", []))
    then_extra = [n[5:] for n in inter if n.startswith("then:")]
    else_extra = [n[5:] for n in inter if n.startswith("else:")]
    then_fn = _compile(node, ctx, node.attr["then_branch"], "then", extra_outputs=then_extra)
    else_fn = _compile(node, ctx, node.attr["else_branch"], "else", extra_outputs=else_extra)
    n_out = len(node.attr["Tout"])
    then_pos = [i for i, n in enumerate(inter) if n.startswith("then:")]
    else_pos = [i for i, n in enumerate(inter) if n.startswith("else:")]
    total = n_out + len(inter)
    to_host = ctx.to_host

    def run_if(pred, *args):
        if to_host(pred):
            out, pos = then_fn(*args), then_pos
        else:
            out, pos = else_fn(*args), else_pos
        if not inter:
            return out[0] if total == 1 else out
        extra = [None] * len(inter)
        for p, v in zip(pos, out[n_out:]):
            extra[p] = v
        res = tuple(out[:n_out]) + tuple(extra)
        return res[0] if total == 1 else res
    return run_if


def _while(node, ctx):
    """Iterate the compiled body; collect, per iteration, the intermediates named in
    `accumulate` (what the gradient loop replays)."""
    n = node.attr["n_loop"]
    acc = list(node.attr.get("accumulate", []))
    k = len(acc)
    cond_fn = _compile(node, ctx, node.attr["cond"], "cond")
    # Loop variables are not handed to the body as "owned": a carried value may also be held by
    # a TensorArray or an accumulator, so kernels must not overwrite it in place.
    body_fn = _compile(node, ctx, node.attr["body"], "body", extra_outputs=acc)
    total = n + k
    to_host = ctx.to_host

    def run_while(*args):
        vals = list(args[:n])
        caps = args[n:]
        lists = [[] for _ in range(k)]
        while to_host(cond_fn(*vals, *caps)[0]):
            out = body_fn(*vals, *caps)
            vals = list(out[:n])
            for j in range(k):
                lists[j].append(out[n + j])
        res = tuple(vals) + tuple(lists)
        return res[0] if total == 1 else res
    return run_while


def _assert(node, ctx):
    template = list(node.attr.get("template", []))
    summarize = int(node.attr.get("summarize", 3))
    to_host = ctx.to_host

    def check(cond, *tensors):
        if to_host(cond):
            return None
        it = iter(tensors)
        parts = []
        for item in template:
            if item == ASSERT_TENSOR_SLOT:
                v = np.asarray(to_host(next(it))).reshape(-1)
                parts.append(" ".join(str(x) for x in v[:summarize])
                             + ("..." if v.size > summarize else ""))
            else:
                parts.append(item)
        raise errors.InvalidArgumentError(None, node.name, "assertion failed: ["
                                          + "] [".join(parts) + "]")
    return check


KERNELS = {
    "NoOp": _noop,
    "PlaceholderWithDefault": _identity,
    "If": _if,
    "While": _while,
    "Assert": _assert,
}
