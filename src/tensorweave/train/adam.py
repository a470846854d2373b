"""`AdamOptimizer` (TF1 `tf.train`, Kingma & Ba, with TF1's form of the bias correction).

lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m = beta1*m + (1-beta1)*g;
v = beta2*v + (1-beta2)*g^2; var -= lr_t * m / (sqrt(v) + epsilon).  Slots `m` (`w/Adam`) and `v`
(`w/Adam_1`); the non-slot variables `beta1_power` and `beta2_power` (beta^t) live with the first
variable (by name) and are multiplied by beta1/beta2 after all the updates (`_finish`).  A sparse
gradient decays m and v densely, adds its (summed) rows and updates the whole variable, as TF1's
`_apply_sparse_shared`.
"""
from __future__ import annotations

from ..framework.convert import convert_to_tensor
from ..ops import control_flow_ops
from ..ops.math_ops import cast
from . import training_ops
from .optimizer import Optimizer

__all__ = ["AdamOptimizer"]


class AdamOptimizer(Optimizer):
    """Adam with slots `m`, `v` and non-slot variables `beta1_power`, `beta2_power`."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08,
                 use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._beta1 = beta1
        self._beta2 = beta2
        self._epsilon = epsilon

    def _get_beta_accumulators(self, graph=None):
        return (self._get_non_slot_variable("beta1_power", graph),
                self._get_non_slot_variable("beta2_power", graph))

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(self._beta1, "beta1_power", first_var)
        self._create_non_slot_variable(self._beta2, "beta2_power", first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self):
        self._lr_t = convert_to_tensor(self._call_if_callable(self._lr), name="learning_rate")
        self._beta1_t = convert_to_tensor(self._call_if_callable(self._beta1), name="beta1")
        self._beta2_t = convert_to_tensor(self._call_if_callable(self._beta2), name="beta2")
        self._epsilon_t = convert_to_tensor(self._call_if_callable(self._epsilon),
                                            name="epsilon")

    def _args(self, var):
        dt = var.dtype.base_dtype
        beta1_power, beta2_power = self._get_beta_accumulators(var.graph)
        return [var, self.get_slot(var, "m"), self.get_slot(var, "v")] + [
            cast(t, dt) for t in (beta1_power, beta2_power, self._lr_t, self._beta1_t,
                                  self._beta2_t, self._epsilon_t)]

    def _apply_dense(self, grad, var):
        return training_ops.apply_adam(*self._args(var), grad,
                                       use_locking=self._use_locking).op

    def _apply_sparse(self, grad, var):
        return training_ops.sparse_apply_adam(*self._args(var), grad.values, grad.indices,
                                              use_locking=self._use_locking).op

    def _finish(self, update_ops, name_scope):
        graph = update_ops[0].graph
        with graph.control_dependencies(update_ops):
            beta1_power, beta2_power = self._get_beta_accumulators(graph)
            with graph.colocate_with(beta1_power):
                update_beta1 = beta1_power.assign(beta1_power * self._beta1_t,
                                                  use_locking=self._use_locking)
                update_beta2 = beta2_power.assign(beta2_power * self._beta2_t,
                                                  use_locking=self._use_locking)
        return control_flow_ops.group(*update_ops + [update_beta1, update_beta2],
                                      name=name_scope)
