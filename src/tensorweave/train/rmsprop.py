"""`RMSPropOptimizer` (TF1 `tf.train`), plain and centered, with momentum.

ms = rho*ms + (1-rho)*g^2 (centered: also mg = rho*mg + (1-rho)*g, and ms - mg^2 replaces ms);
mom = momentum*mom + lr*g/sqrt(ms + epsilon); var -= mom.  Slots, in creation order: `rms`
(initialised to ones, as TF1: `w/RMSProp`), `mg` when centered, then `momentum`.
"""
from __future__ import annotations

from ..framework.convert import convert_to_tensor
from ..ops import init_ops
from ..ops.math_ops import cast
from . import training_ops
from .optimizer import Optimizer

__all__ = ["RMSPropOptimizer"]


class RMSPropOptimizer(Optimizer):
    """RMSProp with slots `rms`, (`mg`), `momentum`."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False,
                 centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._decay = decay
        self._momentum = momentum
        self._epsilon = epsilon
        self._centered = centered

    def _create_slots(self, var_list):
        for v in var_list:
            dtype = v.dtype.base_dtype
            self._get_or_make_slot_with_initializer(v, init_ops.ones_initializer(dtype=dtype),
                                                    v.get_shape(), dtype, "rms", self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = convert_to_tensor(
            self._call_if_callable(self._learning_rate), name="learning_rate")
        self._decay_tensor = convert_to_tensor(self._call_if_callable(self._decay), name="decay")
        self._momentum_tensor = convert_to_tensor(self._call_if_callable(self._momentum),
                                                  name="momentum")
        self._epsilon_tensor = convert_to_tensor(self._call_if_callable(self._epsilon),
                                                 name="epsilon")

    def _args(self, var):
        dt = var.dtype.base_dtype
        hyper = [cast(t, dt) for t in (self._learning_rate_tensor, self._decay_tensor,
                                       self._momentum_tensor, self._epsilon_tensor)]
        slots = [self.get_slot(var, "rms"), self.get_slot(var, "momentum")]
        if self._centered:
            slots.insert(0, self.get_slot(var, "mg"))
        return [var] + slots + hyper

    def _apply_dense(self, grad, var):
        fn = (training_ops.apply_centered_rms_prop if self._centered
              else training_ops.apply_rms_prop)
        return fn(*self._args(var), grad, use_locking=self._use_locking).op

    def _apply_sparse(self, grad, var):
        fn = (training_ops.sparse_apply_centered_rms_prop if self._centered
              else training_ops.sparse_apply_rms_prop)
        return fn(*self._args(var), grad.values, grad.indices, use_locking=self._use_locking).op
