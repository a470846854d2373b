"""Run-time error classes (`tw.errors`), mirroring TF1's `tf.errors.OpError` hierarchy.

Build-time mistakes raise plain `ValueError`/`TypeError`; errors raised while a step runs are
`OpError`s carrying the failing node, its op type, device and the user's source line.
"""
from __future__ import annotations

__all__ = [
    "OpError", "CancelledError", "UnknownError", "InvalidArgumentError", "DeadlineExceededError",
    "NotFoundError", "AlreadyExistsError", "PermissionDeniedError", "UnauthenticatedError",
    "ResourceExhaustedError", "FailedPreconditionError", "AbortedError", "OutOfRangeError",
    "UnimplementedError", "InternalError", "UnavailableError", "DataLossError",
]


class OpError(Exception):
    """A failure while running a step; `node_def`, `op` and `message` say where and why."""

    error_code = 2

    def __init__(self, node_def, op, message, *args):
        super().__init__(message)
        self.node_def = node_def
        self.op = op
        self.message = message

    def __str__(self):
        return self.message

    def __reduce__(self):  # keep exceptions copyable (threads, tests); never crosses a socket
        return type(self), (self.node_def, self.op, self.message)


def _make(name, code, doc):
    cls = type(name, (OpError,), {"error_code": code, "__doc__": doc})
    cls.__init__ = lambda self, node_def=None, op=None, message="", *a: OpError.__init__(
        self, node_def, op, message)
    return cls


CancelledError = _make("CancelledError", 1, "An operation or step was cancelled.")
UnknownError = _make("UnknownError", 2, "An unknown error.")
InvalidArgumentError = _make("InvalidArgumentError", 3, "An op received an invalid argument.")
DeadlineExceededError = _make("DeadlineExceededError", 4, "A deadline expired.")
NotFoundError = _make("NotFoundError", 5, "A requested entity (file, tensor) was not found.")
AlreadyExistsError = _make("AlreadyExistsError", 6, "An entity already exists.")
PermissionDeniedError = _make("PermissionDeniedError", 7, "The caller may not run this op.")
ResourceExhaustedError = _make("ResourceExhaustedError", 8, "A resource (memory, ...) ran out.")
FailedPreconditionError = _make("FailedPreconditionError", 9,
                                "The system is not in a state to run the op (e.g. uninitialized "
                                "variable).")
AbortedError = _make("AbortedError", 10, "The operation was aborted.")
OutOfRangeError = _make("OutOfRangeError", 11, "An operation iterated past the valid range.")
UnimplementedError = _make("UnimplementedError", 12, "The op is not implemented.")
InternalError = _make("InternalError", 13, "An internal invariant broke.")
UnavailableError = _make("UnavailableError", 14, "A service (worker) is unavailable.")
DataLossError = _make("DataLossError", 15, "Unrecoverable data loss or corruption (bad file).")
UnauthenticatedError = _make("UnauthenticatedError", 16, "The request has no valid credentials.")

_BY_CODE = {c.error_code: c for c in (
    CancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
    AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError,
    AbortedError, OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
    DataLossError, UnauthenticatedError)}


def exception_type_from_error_code(code: int):
    return _BY_CODE.get(code, UnknownError)
