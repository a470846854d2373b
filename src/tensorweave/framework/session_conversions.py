"""How `Session.run` fetches and feeds composite tensors (`IndexedSlices`, `SparseTensor`, ...).

TF1's `register_session_run_conversion_functions`: a composite type registers how to split itself
into plain tensors to fetch (and how to put a fetched list of values back together), and how a
value fed for it splits into values for its component tensors.  The composite types live in the
graph layer and register here; the client's fetch/feed mapping reads the table.
"""
from __future__ import annotations

__all__ = ["register_session_run_conversion_functions", "conversions", "feed_function"]

#: (type, fetch_fn(obj) -> (list, contract_fn), feed_fn(obj, value) -> [(tensor, value)] | None)
_CONVERSIONS: list = []


def register_session_run_conversion_functions(tensor_type, fetch_function, feed_function=None,
                                              feed_function_for_partial_run=None) -> None:
    """Teach `Session.run` to fetch/feed a composite type (IndexedSlices, SparseTensor, ...).

    `fetch_function(obj) -> (list_of_fetches, contract(values) -> result)`;
    `feed_function(obj, value) -> [(tensor, value), ...]`.
    """
    _CONVERSIONS.append((tensor_type, fetch_function, feed_function))


def conversions() -> list:
    """The registered (type, fetch_fn, feed_fn) entries, in registration order."""
    return _CONVERSIONS


def feed_function(key):
    """The registered feed function for a composite feed key, or None for a plain one."""
    for typ, _, feed_fn in _CONVERSIONS:
        if feed_fn is not None and isinstance(key, typ):
            return feed_fn
    return None
