"""Errors and warnings of kernels, as the user sees them.

* An exception raised while a node runs becomes the `OpError` subclass TF1 raises for it, naming
  the node, its op type, its device and the user's line that created the node (`translate_error`).
* A warning a kernel issues (numpy's `RuntimeWarning: divide by zero ...`) would point into a
  plan's generated source (`<tensorweave-plan-7>:12`) or into a kernel module.  Plans register
  their generated code here (`register_plan`); a hook installed once on the warnings module's
  display step (`warnings._showwarnmsg`, the one function both Python- and C-issued warnings go
  through, also under `warnings.catch_warnings(record=True)`) finds the innermost running plan
  line on the stack and rewrites a numerical warning of kernel code (a `RuntimeWarning` located
  in a plan or a kernel module) to name the node and its op, located at the user's line that
  created the node; any other warning is shown as it is.  Nothing runs on the hot path: only a
  warning being shown pays.
"""
from __future__ import annotations

import os
import sys
import warnings
import weakref

from .. import kernels
from ..compiler.exec_nodes import ExecNode
from ..framework import errors

__all__ = ["translate_error", "register_plan", "PLAN_FILE_PREFIX"]

#: the file name prefix of a plan's generated source
PLAN_FILE_PREFIX = "<tensorweave-plan-"
_PLANS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # file name -> plan
#: where the kernel modules live (a numerical warning of theirs is a kernel's)
_KERNELS_DIR = os.path.dirname(os.path.abspath(kernels.__file__)) + os.sep


def register_plan(filename: str, plan) -> None:
    """Let warnings raised while `plan` runs name its nodes (`plan.node_at(line)` -> ExecNode
    or None, for lines of its generated source `filename`)."""
    _PLANS[filename] = plan


def _running_node(frame):
    """The node of the innermost plan line on the stack above `frame`, or None."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(PLAN_FILE_PREFIX):
            plan = _PLANS.get(name)
            node = plan.node_at(frame.f_lineno) if plan is not None else None
            if node is not None:
                return node
        frame = frame.f_back
    return None


def _from_a_kernel(msg) -> bool:
    """Whether a warning is a numerical one raised by kernel code: a `RuntimeWarning` (numpy's
    floating-point warnings and their kin) located in a plan's generated source or in a kernel
    module (not, say, a ResourceWarning of a finalizer that happened to run during a kernel)."""
    if not (isinstance(msg.message, RuntimeWarning) and isinstance(msg.filename, str)):
        return False
    return msg.filename.startswith(PLAN_FILE_PREFIX) or msg.filename.startswith(_KERNELS_DIR)


def _naming(show):
    def show_naming_node(msg):
        try:
            node = _running_node(sys._getframe(1)) if _from_a_kernel(msg) else None
            if node is not None:
                where = f", defined at {node.where}" if node.where else ""
                text = (f"{msg.message} [[node {node.name} (op {node.op}) on {node.device}"
                        f"{where}]]")
                filename, lineno = msg.filename, msg.lineno
                if node.source:
                    filename, lineno = str(node.source[0]), int(node.source[1])
                msg = warnings.WarningMessage(msg.category(text), msg.category, filename,
                                              lineno, msg.file, None, msg.source)
        except Exception:  # noqa: BLE001 - a warning we cannot rewrite is shown as it was
            pass
        return show(msg)
    show_naming_node.tensorweave_hook = True
    return show_naming_node


if not getattr(warnings._showwarnmsg, "tensorweave_hook", False):
    warnings._showwarnmsg = _naming(warnings._showwarnmsg)


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
