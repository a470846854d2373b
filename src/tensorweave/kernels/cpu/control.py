"""CPU kernels for graph plumbing: NoOp, Identity-like ops, PlaceholderWithDefault."""
from __future__ import annotations

__all__ = ["KERNELS"]


def _noop(node, ctx):
    return lambda *args: None


def _identity(node, ctx):
    return lambda x: x


KERNELS = {
    "NoOp": _noop,
    "PlaceholderWithDefault": _identity,
}
