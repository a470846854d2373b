"""Errors of kernels, as the user sees them: an exception raised while a node runs becomes the
`OpError` subclass TF1 raises for it, naming the node, its op type, its device and the user's line
that created the node.
"""
from __future__ import annotations

from ..compiler.exec_nodes import ExecNode
from ..framework import errors

__all__ = ["translate_error"]


def _error_class(e: BaseException):
    if isinstance(e, errors.OpError):
        return type(e)
    if isinstance(e, MemoryError):
        return errors.ResourceExhaustedError
    if isinstance(e, NotImplementedError):
        return errors.UnimplementedError
    if isinstance(e, (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError,
                      KeyError, OverflowError)):
        return errors.InvalidArgumentError
    return errors.InternalError


def translate_error(e: BaseException, node: ExecNode | None, device: str):
    """An OpError for exception `e` raised by `node`'s kernel, naming node, type, device, line.

    Without a node, an `OpError` that already names one is returned as it is."""
    msg = e.message if isinstance(e, errors.OpError) else (str(e) or type(e).__name__)
    if node is None:
        if isinstance(e, errors.OpError) and e.node_def is not None:
            return e  # already names its node (a dataflow plan's wait names a _Recv)
        return _error_class(e)(None, None, msg)
    where = f", defined at {node.where}" if node.where else ""
    full = (f"{msg}\n\t [[node {node.name} (op {node.op}) on {node.device or device}{where}]]")
    err = _error_class(e)(node, node.name, full)
    return err
