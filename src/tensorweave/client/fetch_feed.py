"""`Session.run`'s arguments and results: fetch structures and feed values.

* Fetches: `FetchMapper` flattens a nested fetch structure (lists, tuples, dicts, namedtuples,
  composite tensors registered in `framework/session_conversions.py`) into unique graph elements,
  and rebuilds the results in the same shape; `freeze` makes the structure a hashable plan key.
* Feeds: `feed_tensors` maps a feed_dict's keys to the tensors they feed (a composite key such as
  a SparseTensor feeds its components); `feed_converter` makes the per-tensor function that checks
  and converts a fed value (dtype, shape, range), naming the placeholder in its errors.
"""
from __future__ import annotations

import collections

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework.convert import to_numpy_constant
from ..framework.graph import Graph, Operation, Tensor
from ..framework.session_conversions import conversions, feed_function

__all__ = ["freeze", "to_result", "FetchMapper", "feed_tensors", "feed_converter",
           "group_converters", "is_composite_fetch"]


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def freeze(fetches):
    """A hashable key describing a nested fetch structure."""
    t = type(fetches)
    if t is list or t is tuple:
        return (t, tuple(freeze(f) for f in fetches))
    if isinstance(fetches, dict):
        return (t, tuple((k, freeze(v)) for k, v in fetches.items()))
    if _is_namedtuple(fetches):
        return (t, tuple(freeze(f) for f in fetches))
    if fetches is None:
        raise TypeError(f"Fetch argument None has invalid type {type(None)}")
    return fetches


def to_result(v):
    if type(v) is np.ndarray and v.ndim == 0:
        return v[()]
    return v


class FetchMapper:
    """Flattens a fetch structure to graph elements and rebuilds results in its shape."""

    def __init__(self, graph: Graph, fetches):
        self.graph = graph
        self.elements: list = []      # unique Tensors/Operations, in first-seen order
        self._index: dict = {}
        self.rebuild = self._build(fetches)

    def _leaf(self, f):
        try:
            el = self.graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
        except TypeError as e:
            raise TypeError(f"Fetch argument {f!r} has invalid type {type(f)}, must be a string "
                            f"or Tensor. ({e})") from None
        except ValueError as e:
            raise ValueError(f"Fetch argument {f!r} cannot be interpreted as a Tensor. ({e})") \
                from None
        except KeyError as e:
            raise ValueError(f"Fetch argument {f!r} cannot be interpreted as a Tensor. "
                             f"({e.args[0]})") from None
        i = self._index.get(el)
        if i is None:
            i = self._index[el] = len(self.elements)
            self.elements.append(el)
        if isinstance(el, Operation):
            return lambda vals: None
        return lambda vals: to_result(vals[i])

    def _build(self, f):
        if f is None:
            raise TypeError(f"Fetch argument None has invalid type {type(None)}")
        for typ, fetch_fn, _ in conversions():
            if isinstance(f, typ):
                subs, contract = fetch_fn(f)
                fns = [self._build(s) for s in subs]
                return lambda vals: contract([fn(vals) for fn in fns])
        if isinstance(f, (Tensor, Operation, str)) or hasattr(f, "_as_graph_element"):
            return self._leaf(f)
        if _is_namedtuple(f):
            fns = [self._build(x) for x in f]
            typ = type(f)
            return lambda vals: typ(*[fn(vals) for fn in fns])
        if isinstance(f, (list, tuple)):
            fns = [self._build(x) for x in f]
            typ = type(f)
            return lambda vals: typ([fn(vals) for fn in fns])
        if isinstance(f, dict):
            items = [(k, self._build(v)) for k, v in f.items()]
            typ = type(f)
            if typ is collections.defaultdict:
                return lambda vals: collections.defaultdict(
                    f.default_factory, [(k, fn(vals)) for k, fn in items])
            return lambda vals: typ([(k, fn(vals)) for k, fn in items])
        return self._leaf(f)


# ----------------------------------------------------------------------------------------------
# feeds
# ----------------------------------------------------------------------------------------------
def _shape_str(shape) -> str:
    return str(shape) if shape.ndims is not None else "<unknown>"


def _convert_feed(v, t: Tensor) -> np.ndarray:
    dt = t.dtype
    if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
        raise TypeError(f"The value of a feed cannot be a tw.Tensor object (feeding {t.name!r}). "
                        "Acceptable feed values include Python scalars, strings, lists, numpy "
                        "ndarrays.")
    if dt is _dtypes.string:
        try:
            return to_numpy_constant(v, _dtypes.string)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Cannot feed value {v!r} for Tensor {t.name!r} of dtype string: "
                             f"{e}") from None
    try:
        a = np.asarray(v)
    except (ValueError, TypeError) as e:
        raise ValueError(f"Cannot feed value of type {type(v).__name__} for Tensor {t.name!r} "
                         f"of dtype {dt.name}: {e}") from None
    k = a.dtype.kind
    if k in "OSUV":
        raise ValueError(f"Cannot feed value {_short(v)} of type {type(v).__name__} (numpy dtype "
                         f"{a.dtype}) for Tensor {t.name!r}, which has dtype {dt.name}.")
    tk = dt.np.kind
    if tk in "iu" and k in "fc" and a.size and not np.all(np.mod(a.real, 1) == 0):
        raise ValueError(f"Cannot feed non-integer values {_short(v)} for Tensor {t.name!r} of "
                         f"dtype {dt.name}.")
    if tk in "fiub" and k == "c":
        raise ValueError(f"Cannot feed complex values for Tensor {t.name!r} of dtype {dt.name}.")
    if tk in "iu" and k in "iu" and a.size:
        info = np.iinfo(dt.np)
        if a.min() < info.min or a.max() > info.max:
            raise ValueError(f"Feed values {_short(v)} out of range for Tensor {t.name!r} of "
                             f"dtype {dt.name}.")
    return a.astype(dt.np, copy=False)


def _short(v) -> str:
    r = repr(v)
    return r if len(r) < 60 else r[:57] + "..."


def feed_converter(t: Tensor):
    npdt = t.dtype.np
    shape = t.shape
    full = tuple(shape.as_list()) if shape.is_fully_defined() else None
    dims = shape.as_tuple_or_none()
    name = t.name

    def bad_shape(s):
        return ValueError(f"Cannot feed value of shape {s} for Tensor {name!r}, which has shape "
                          f"{_shape_str(shape)!r}")

    if full is not None:
        def conv(v):
            a = v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
            if a.shape != full:
                raise bad_shape(a.shape)
            return a
    elif dims is not None:
        nd = len(dims)
        known = [(i, d) for i, d in enumerate(dims) if d is not None]

        def conv(v):
            a = v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
            s = a.shape
            if len(s) != nd:
                raise bad_shape(s)
            for i, d in known:
                if s[i] != d:
                    raise bad_shape(s)
            return a
    else:
        def conv(v):
            return v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
    return conv


def group_converters(convs, groups) -> list:
    """One converter per feed key, each returning a list (one value for a plain key)."""
    out, i = [], 0
    for g in groups:
        if g is None:
            out.append(lambda v, c=convs[i]: (c(v),))
            i += 1
        else:
            key, feed_fn, n = g
            out.append(_expanding_converter(key, feed_fn, convs[i:i + n]))
            i += n
    return out


def _expanding_converter(key, feed_fn, convs):
    """A feed converter for composite `key`: its value split into component values."""
    def conv(v):
        pairs = feed_fn(key, v)
        if len(pairs) != len(convs):
            raise ValueError(f"Feeding {key!r} gave {len(pairs)} component values; "
                             f"expected {len(convs)}.")
        return [c(x) for c, (_, x) in zip(convs, pairs)]
    return conv


def is_composite_fetch(fetches) -> bool:
    """Whether `fetches` is a registered composite type (fetched as several tensors)."""
    return any(isinstance(fetches, typ) for typ, _, _ in conversions())


def feed_tensors(graph: Graph, feed_dict) -> tuple[list, list]:
    """The tensors a feed_dict feeds, and per key None (a plain key) or (key, feed function,
    number of component tensors) for a composite key; raises TypeError for a key that is not a
    tensor of `graph`, ValueError for a tensor fed twice."""
    tensors, groups = [], []
    for k, v in (feed_dict or {}).items():
        feed_fn = feed_function(k)
        subs = [k] if feed_fn is None else [t for t, _ in feed_fn(k, v)]
        groups.append(None if feed_fn is None else (k, feed_fn, len(subs)))
        for sub in subs:
            try:
                ft = graph.as_graph_element(sub, allow_tensor=True, allow_operation=False)
            except (TypeError, ValueError, KeyError) as e:
                msg = e.args[0] if e.args else str(e)
                raise TypeError(f"Cannot interpret feed_dict key as Tensor: {msg}") from None
            tensors.append(ft)
    if any(groups):
        seen = set()
        for ft in tensors:
            if ft.name in seen:
                raise ValueError(f"Tensor {ft.name!r} is fed twice in one feed_dict (as a key "
                                 "and as a component of a composite key).")
            seen.add(ft.name)
    return tensors, groups
