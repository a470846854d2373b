"""Nested structures (TF1 `tf.nest`): flatten and rebuild lists, tuples, namedtuples and dicts.

Control flow passes structures of tensors in and out of branch and loop functions; these helpers
turn them into flat lists and back.  Dicts are flattened in sorted key order, as in TF.  Anything
that is not a list, tuple or dict is a leaf (Tensors, Operations, TensorArrays, numbers, None).
"""
from __future__ import annotations

__all__ = ["flatten", "pack_sequence_as", "map_structure", "assert_same_structure", "is_sequence",
           "is_nested"]


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def is_sequence(x) -> bool:
    """True for the containers nest recurses into."""
    return isinstance(x, (list, tuple, dict)) and not getattr(x, "_tw_leaf", False)


is_nested = is_sequence


def _children(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure) -> list:
    """The leaves of `structure`, depth first (a leaf flattens to [leaf])."""
    if not is_sequence(structure):
        return [structure]
    out = []
    for c in _children(structure):
        out.extend(flatten(c))
    return out


def _rebuild(template, children):
    if isinstance(template, dict):
        keys = sorted(template)
        d = dict(zip(keys, children))
        return type(template)((k, d[k]) for k in template)
    if _is_namedtuple(template):
        return type(template)(*children)
    if isinstance(template, tuple):
        return tuple(children)
    return list(children)


def pack_sequence_as(structure, flat_sequence):
    """`flat_sequence` (a list) rebuilt in the shape of `structure`."""
    flat = list(flat_sequence)
    n = len(flatten(structure))
    if len(flat) != n:
        raise ValueError(f"Could not pack sequence. Structure had {n} elements, but "
                         f"flat_sequence had {len(flat)} elements.")
    it = iter(flat)

    def build(s):
        if not is_sequence(s):
            return next(it)
        return _rebuild(s, [build(c) for c in _children(s)])
    return build(structure)


def map_structure(fn, *structures):
    """`fn` applied leaf-wise to structures of the same shape."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    for s in structures[1:]:
        assert_same_structure(structures[0], s)
    flats = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [fn(*xs) for xs in zip(*flats)])


def assert_same_structure(nest1, nest2, check_types: bool = True) -> None:
    """ValueError (naming both) unless the two structures nest the same way."""
    def shape(s):
        if not is_sequence(s):
            return "leaf"
        if isinstance(s, dict):
            return ("dict", tuple(sorted(s)), tuple(shape(c) for c in _children(s)))
        kind = type(s).__name__ if (check_types and _is_namedtuple(s)) else (
            ("tuple" if isinstance(s, tuple) else "list") if check_types else "seq")
        return (kind, None, tuple(shape(c) for c in _children(s)))
    if shape(nest1) != shape(nest2):
        raise ValueError("The two structures don't have the same nested structure.\n\n"
                         f"First structure: {nest1!r}\n\nSecond structure: {nest2!r}")
