"""Moving averages (TF1 `tf.train.ExponentialMovingAverage`, `assign_moving_average`).

`assign_moving_average(v, value, decay)` is `v -= (v - value) * (1 - decay)`; with `zero_debias`
it keeps an unbiased copy, as TF1: a `biased` accumulator and a `local_step` counter in the
variable scope of `v`, and sets `v = biased / (1 - decay^local_step)`.
`ExponentialMovingAverage.apply(var_list)` creates one average per variable (a slot named
`<var>/ExponentialMovingAverage`, initialised to the variable's value, colocated with it) and
returns the grouped update op; `variables_to_restore()` maps checkpoint names to variables so a
Saver can load averages into the model's variables.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import GraphKeys, Tensor, add_to_collection, get_default_graph, name_scope
from ..ops import control_flow_ops, init_ops, math_ops, state_ops
from ..ops.variable_scope import get_variable, get_variable_scope, variable_scope
from ..ops.variables import Variable, global_variables, moving_average_variables, \
    trainable_variables
from . import slot_creator

__all__ = ["ExponentialMovingAverage", "assign_moving_average"]


def assign_moving_average(variable, value, decay, zero_debias=True, name=None):
    """variable -= (variable - value) * (1 - decay); returns the updated variable (a ref)."""
    with name_scope(name, "AssignMovingAvg", [variable, value, decay]) as scope:
        one_minus = convert_to_tensor(1.0 - decay, name="decay")
        if one_minus.dtype.base_dtype is not variable.dtype.base_dtype:
            one_minus = math_ops.cast(one_minus, variable.dtype.base_dtype)
        value = convert_to_tensor(value)
        graph = get_default_graph()
        if not zero_debias:
            with graph.colocate_with(variable):
                return state_ops.assign_sub(variable, (variable - value) * one_minus,
                                            name=scope)
        biased, local_step = _zero_debias_variables(variable, value)
        with graph.colocate_with(variable):
            update_biased = state_ops.assign_sub(biased, (biased - value) * one_minus)
            update_step = state_ops.assign_add(local_step, 1.0)
            bias_factor = 1 - math_ops.pow(1.0 - one_minus, update_step)
            return state_ops.assign(variable, update_biased / bias_factor, name=scope)


def _zero_debias_variables(unbiased, value):
    """The `biased` and `local_step` variables of a zero-debiased average (TF1 names)."""
    with variable_scope(unbiased.op.name, values=[unbiased, value]):
        vs = get_variable_scope()

        def unique(name):
            if vs.reuse:
                return name
            taken = {v.op.name for v in vs.global_variables()}
            full = vs.name + "/" + name
            if full not in taken:
                return name
            idx = 1
            while f"{full}_{idx}" in taken:
                idx += 1
            return f"{name}_{idx}"

        with get_default_graph().colocate_with(unbiased):
            biased = get_variable(unique("biased"), shape=unbiased.get_shape(),
                                  dtype=unbiased.dtype.base_dtype,
                                  initializer=init_ops.zeros_initializer(), trainable=False)
            local_step = get_variable(unique("local_step"), shape=[],
                                      dtype=unbiased.dtype.base_dtype,
                                      initializer=init_ops.zeros_initializer(), trainable=False)
    return biased, local_step


class ExponentialMovingAverage:
    """Maintains moving averages of variables: shadow = decay * shadow + (1 - decay) * var."""

    def __init__(self, decay, num_updates=None, zero_debias=False,
                 name="ExponentialMovingAverage"):
        self._decay = decay
        self._num_updates = num_updates
        self._zero_debias = zero_debias
        self._name = name
        self._averages: dict = {}   # id(var) -> (var, average variable)

    @property
    def name(self) -> str:
        return self._name

    def apply(self, var_list=None):
        """Create the averages (once) and return an op updating all of them."""
        var_list = trainable_variables() if var_list is None else list(var_list)
        zero_debias = set()
        for var in var_list:
            if var.dtype.base_dtype not in (_dtypes.float16, _dtypes.float32, _dtypes.float64):
                raise TypeError(f"The variables must be half, float, or double: {var.name}")
            if id(var) in self._averages:
                continue
            graph = var.graph
            with graph.as_default(), graph.control_dependencies(None):
                if isinstance(var, Variable):
                    avg = slot_creator.create_slot(var, var.initialized_value(), self._name)
                    add_to_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, var)
                elif isinstance(var, Tensor):
                    avg = slot_creator.create_zeros_slot(
                        var, self._name,
                        colocate_with_primary=var.op.type in ("Variable", "VariableV2"))
                    if self._zero_debias:
                        zero_debias.add(id(avg))
                else:
                    raise TypeError(f"Cannot average {var!r}: not a Variable or Tensor")
            self._averages[id(var)] = (var, avg)
        with name_scope(self._name) as scope:
            decay = convert_to_tensor(self._decay, name="decay")
            if self._num_updates is not None:
                n = math_ops.cast(self._num_updates, _dtypes.float32, name="num_updates")
                decay = math_ops.minimum(decay, (1.0 + n) / (10.0 + n))
            updates = []
            for var in var_list:
                avg = self._averages[id(var)][1]
                updates.append(assign_moving_average(avg, var, decay,
                                                     zero_debias=id(avg) in zero_debias))
            return control_flow_ops.group(*updates, name=scope)

    def average(self, var):
        """The average variable of `var`, or None."""
        entry = self._averages.get(id(var))
        return entry[1] if entry is not None else None

    def average_name(self, var) -> str:
        """The checkpoint name of `var`'s average (`<var op name>/<name>`)."""
        avg = self.average(var)
        return avg.op.name if avg is not None else var.op.name + "/" + self._name

    def variables_to_restore(self, moving_avg_variables=None) -> dict:
        """{checkpoint name: variable}: the averages' names for averaged variables, the
        variables' own names for the others."""
        if moving_avg_variables is None:
            moving_avg_variables = trainable_variables() + moving_average_variables()
        averaged = {id(v): v for v in moving_avg_variables}
        name_map = {self.average_name(v): v for v in averaged.values()}
        names = {v.name for v in averaged.values()}
        for v in global_variables():
            if v.name not in names and v.op.name not in name_map:
                name_map[v.op.name] = v
        return name_map
