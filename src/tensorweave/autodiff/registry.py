"""The gradient table: op type -> gradient function, and `RegisterGradient` / `NoGradient`.

A gradient function has the TF1 signature `fn(op, *output_grads) -> input_grads` (one entry per
input of `op`, `None` where no gradient flows) and *builds graph* -- it never computes values.
`NoGradient("T")` records that op type T is not differentiable (its inputs get no gradient); an op
type missing from the table makes `gradients` raise `LookupError` naming the node.
"""
from __future__ import annotations

__all__ = ["RegisterGradient", "NoGradient", "NotDifferentiable", "get_gradient_function",
           "registered_gradients"]

_GRADIENTS: dict = {}
_NO_GRADIENT = object()


class RegisterGradient:
    """Decorator: `@RegisterGradient("MatMul") def _grad(op, grad): ...`."""

    def __init__(self, op_type: str):
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, f):
        if self._op_type in _GRADIENTS:
            raise KeyError(f"Registering two gradient with name '{self._op_type}'! (Previous "
                           f"registration was in {_describe(_GRADIENTS[self._op_type])})")
        _GRADIENTS[self._op_type] = f
        return f


def _describe(f) -> str:
    if f is _NO_GRADIENT:
        return "NoGradient"
    code = getattr(f, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else repr(f)


def NoGradient(op_type: str) -> None:  # noqa: N802 - TF1 name
    """Declare op type `op_type` not differentiable."""
    if not isinstance(op_type, str):
        raise TypeError("op_type must be a string")
    if op_type in _GRADIENTS:
        raise KeyError(f"Registering two gradient with name '{op_type}'!")
    _GRADIENTS[op_type] = _NO_GRADIENT


NotDifferentiable = NoGradient


def get_gradient_function(op):
    """The gradient function for `op` (honouring the graph's gradient_override_map).

    Returns None when the op type is declared not differentiable; raises LookupError when the op
    type has no registration at all.
    """
    op_type = op._attrs.get("_gradient_op_type") or op.type
    try:
        f = _GRADIENTS[op_type]
    except KeyError:
        raise LookupError(f"No gradient defined for operation '{op.name}' (op type: {op.type}), "
                          f"created at {op.source_line}. Register one with "
                          f"@tw.RegisterGradient({op_type!r}) or wrap its input in "
                          "tw.stop_gradient.") from None
    return None if f is _NO_GRADIENT else f


def registered_gradients() -> dict:
    return {k: (None if v is _NO_GRADIENT else v) for k, v in _GRADIENTS.items()}
