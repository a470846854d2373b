"""TF1 random-seed semantics: `set_random_seed` (graph level) and `get_seed` (per op).

* graph seed and op seed both set: use both;
* only the graph seed: the op seed is derived from the number of ops created so far, so a graph
  built the same way gives the same streams;
* only the op seed: the graph seed is a fixed default;
* neither: fresh randomness each session.
Seeds are reduced modulo 2**31 - 1 as in TF1, and (0, 0) -- which a kernel reads as "no seed" --
becomes (0, 2**31 - 1).  A random kernel seeds its own generator with (seed, seed2) when the
session first runs it, and the stream continues across runs of that session, as in TF1.
"""
from __future__ import annotations

from .graph import get_default_graph

__all__ = ["set_random_seed", "get_seed", "DEFAULT_GRAPH_SEED"]

DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2**31 - 1


def _truncate_seed(seed) -> int:
    return int(seed) % _MAXINT32


def set_random_seed(seed) -> None:
    """Set the graph-level seed of the default graph (None clears it)."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed):
    """(graph seed, op seed) for a new random op, following TF1's rules; (None, None) when
    neither seed is set (the op's kernel then draws fresh entropy in every session)."""
    graph = get_default_graph()
    global_seed = graph.seed
    if global_seed is not None:
        if op_seed is None:
            op_seed = graph._last_id
        seeds = (_truncate_seed(global_seed), _truncate_seed(op_seed))
    elif op_seed is not None:
        seeds = (DEFAULT_GRAPH_SEED, _truncate_seed(op_seed))
    else:
        seeds = (None, None)
    if seeds == (0, 0):
        return (0, _MAXINT32)
    return seeds
