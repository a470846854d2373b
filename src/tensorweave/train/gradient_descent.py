"""`GradientDescentOptimizer`: var -= learning_rate * grad (TF1 `tf.train`)."""
from __future__ import annotations

from ..framework.convert import convert_to_tensor
from ..framework.indexed_slices import IndexedSlices
from ..ops.math_ops import cast
from . import training_ops
from .optimizer import Optimizer

__all__ = ["GradientDescentOptimizer"]


class GradientDescentOptimizer(Optimizer):
    """Plain gradient descent; sparse gradients update only their rows (ScatterSub)."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_tensor = None

    def _prepare(self):
        lr = self._call_if_callable(self._learning_rate)
        self._learning_rate_tensor = convert_to_tensor(lr, name="learning_rate")

    def _apply_dense(self, grad, var):
        return training_ops.apply_gradient_descent(
            var, cast(self._learning_rate_tensor, var.dtype.base_dtype), grad,
            use_locking=self._use_locking).op

    def _apply_sparse_duplicate_indices(self, grad, var):
        # ScatterSub adds the rows of duplicate indices up: no need to merge them first.
        delta = IndexedSlices(grad.values * cast(self._learning_rate_tensor, var.dtype.base_dtype),
                              grad.indices, grad.dense_shape)
        return var.scatter_sub(delta, use_locking=self._use_locking)

    _apply_sparse = _apply_sparse_duplicate_indices
