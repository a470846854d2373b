"""Kernels for variable state: reads, assigns, scatters (in place on the store's buffer).

A variable's buffer is an array of the device's array module (`ctx.xp`; numpy for string
variables, which live on the host on every device type).
"""
from __future__ import annotations

import numpy as np

from ...framework import errors
from ...framework.variable_refs import variable_key

__all__ = ["KERNELS"]


def uninitialized_error(node_name: str):
    return errors.FailedPreconditionError(
        None, node_name, f"Attempting to use uninitialized value {node_name}")


def _variable(node, ctx):
    store = ctx.variables
    key = variable_key(node.name, node.attr)
    name = node.name

    def read():
        try:
            return store[key]
        except KeyError:
            raise uninitialized_error(name) from None
    return read


def _assign(node, ctx):
    store = ctx.variables
    key = node.ref_vars[0]
    dt = node.out_dtypes[0].np
    validate = node.attr.get("validate_shape", True)
    xp = ctx.module_for(dt)
    copyto, array = xp.copyto, xp.array

    def assign(value):
        cur = store.get(key)
        if cur is not None and cur.shape == np.shape(value):
            copyto(cur, value)
            return cur
        if cur is not None and validate:
            raise errors.InvalidArgumentError(
                None, node.name, f"Assign requires shapes of both tensors to match. lhs shape= "
                f"{list(cur.shape)} rhs shape= {list(np.shape(value))}")
        new = array(value, dtype=dt, copy=True, order="C")
        store[key] = new
        return new
    return assign


def _updater(name, verb):
    def factory(node, ctx):
        store = ctx.variables
        key = node.ref_vars[0]
        var_name = key
        ufunc = getattr(ctx.xp, name)

        def update(value):
            try:
                cur = store[key]
            except KeyError:
                raise uninitialized_error(var_name) from None
            if np.shape(value) != cur.shape and np.size(value) != 1:
                raise errors.InvalidArgumentError(
                    None, node.name, f"{verb} requires shapes of both tensors to match. "
                    f"lhs shape= {list(cur.shape)} rhs shape= {list(np.shape(value))}")
            ufunc(cur, value, out=cur)
            return cur
        return update
    return factory


def check_indices(xp, indices, n, node):
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
        raise errors.InvalidArgumentError(
            None, node.name, f"indices[{int(xp.argmax(indices.reshape(-1) == bad))}] = {bad} "
            f"is not in [0, {n})")


def _scatter(make):
    """Factory of a Scatter* op applying `make(xp)(var, indices, updates)` in place."""
    def factory(node, ctx):
        store = ctx.variables
        key = node.ref_vars[0]
        xp = ctx.module_for(node.out_dtypes[0])
        apply = make(xp)
        # (a string variable lives on the host: so do the indices it is scattered at)
        read_index = ctx.to_host if xp is not ctx.xp else (lambda i: i)

        def scatter(indices, updates):
            try:
                cur = store[key]
            except KeyError:
                raise uninitialized_error(key) from None
            indices = xp.asarray(read_index(indices))
            check_indices(xp, indices, cur.shape[0], node)
            apply(cur, indices, updates)
            return cur
        return scatter
    return factory


def _scatter_update(xp):
    def scatter_update(cur, idx, upd):
        cur[idx] = upd
    return scatter_update


def _scatter_at(name):
    return lambda xp: getattr(xp, name).at


def sum_rows_by_index(xp, indices, values, dtype=None):
    """(sorted unique indices, the rows of `values` summed per index): the dense-row form of a
    sparse update with repeated indices.  A stable sort and one `add.reduceat` (faster than
    `add.at` over rows)."""
    idx = xp.asarray(indices).reshape(-1)
    values = xp.asarray(values)
    if dtype is not None and values.dtype != dtype:
        values = values.astype(dtype)
    if idx.size < 2:
        return idx, values
    order = xp.argsort(idx, kind="stable")
    s = idx[order]
    new = xp.empty(s.shape, dtype=bool)     # where a run of equal indices starts
    new[0] = True
    xp.not_equal(s[1:], s[:-1], out=new[1:])
    starts = xp.flatnonzero(new)
    if starts.size == idx.size:
        return s, values[order]
    return s[starts], xp.add.reduceat(values[order], starts, axis=0)


def _scatter_accumulate(name):
    """Scatter-add/sub: rows of repeated indices are summed once, then applied in one step."""
    def make(xp):
        ufunc = getattr(xp, name)

        def apply(cur, idx, upd):
            upd = xp.broadcast_to(upd, np.shape(idx) + cur.shape[1:])
            if np.ndim(idx) != 1 or np.size(idx) < 16:
                ufunc.at(cur, idx, upd)
                return
            uniq, sums = sum_rows_by_index(xp, idx, upd, cur.dtype)
            ufunc(cur[uniq], sums, out=sums)
            cur[uniq] = sums
        return apply
    return make


def _is_initialized(node, ctx):
    store = ctx.variables
    key = node.ref_vars[0]
    asarray = ctx.xp.asarray
    return lambda: asarray(key in store)


def _value_or(node, ctx):
    store = ctx.variables
    key = node.ref_vars[0]

    def value_or(initial):
        cur = store.get(key)
        return initial if cur is None else cur
    return value_or


def _count_up_to(node, ctx):
    store = ctx.variables
    key = node.ref_vars[0]
    limit = node.attr["limit"]
    lock = ctx.lock

    def count(*_):
        with lock:
            try:
                cur = store[key]
            except KeyError:
                raise uninitialized_error(key) from None
            before = cur.copy()
            if before >= limit:
                raise errors.OutOfRangeError(None, node.name,
                                             f"Reached limit of {limit}")
            cur += 1
        return before
    return count


def _report_uninitialized(node, ctx):
    names = np.empty(len(node.attr["names"]), dtype=object)   # strings: a host value
    names[:] = list(node.attr["names"])
    to_host = ctx.to_host

    def report(*flags):
        return names[~np.array([bool(to_host(f)) for f in flags], dtype=bool)]
    return report


KERNELS = {
    "ReportUninitialized": _report_uninitialized,
    "VariableV2": _variable,
    "Assign": _assign,
    "AssignAdd": _updater("add", "AssignAdd"),
    "AssignSub": _updater("subtract", "AssignSub"),
    "ScatterUpdate": _scatter(_scatter_update),
    "ScatterAdd": _scatter(_scatter_accumulate("add")),
    "ScatterSub": _scatter(_scatter_accumulate("subtract")),
    "ScatterMul": _scatter(_scatter_at("multiply")),
    "ScatterDiv": _scatter(_scatter_at("divide")),
    "ScatterMax": _scatter(_scatter_at("maximum")),
    "ScatterMin": _scatter(_scatter_at("minimum")),
    "IsVariableInitialized": _is_initialized,
    "VariableValueOr": _value_or,
    "CountUpTo": _count_up_to,
}
