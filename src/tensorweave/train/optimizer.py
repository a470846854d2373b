"""The `Optimizer` base class (TF1 `tf.train.Optimizer`): optimizers are more graph.

`minimize(loss)` = `compute_gradients` (`tw.gradients` of the loss with respect to the trainable
variables) + `apply_gradients`, which creates the optimizer's slot variables once per variable,
then, inside the name scope of the optimizer (`Adam/`), one update op per variable
(`Adam/update_w/ApplyAdam`, colocated with `w`, so it runs on the variable's device) and groups
them into one op named like the optimizer; with a `global_step` the group is `Adam/update` and the
returned op is the step's increment `Adam` (an AssignAdd run after the updates).

Subclasses fill in the hooks, as in TF1: `_create_slots(var_list)`, `_prepare()` (turn the
hyperparameters into tensors), `_apply_dense(grad, var)`, `_apply_sparse(grad, var)` (an
`IndexedSlices` gradient; the fused sparse kernels sum duplicate indices themselves) and
`_finish(update_ops, name)`.
"""
from __future__ import annotations

from ..autodiff.gradients import gradients
from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import GraphKeys, Operation, Tensor, get_collection_ref, \
    get_default_graph, name_scope
from ..framework.indexed_slices import IndexedSlices, convert_to_tensor_or_indexed_slices
from ..ops import control_flow_ops, state_ops
from ..ops.variables import Variable, trainable_variables
from . import slot_creator

__all__ = ["Optimizer"]

_VALID_DTYPES = (_dtypes.float16, _dtypes.float32, _dtypes.float64)


def _var_key(var):
    return (var.op.graph, var.op.name)


def _flatten(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def _check_variable(v):
    if not isinstance(v, Variable):
        raise TypeError(f"Trying to optimize unsupported type {v!r}: optimizers update "
                        "tw.Variable objects (from tw.Variable or tw.get_variable).")
    return v


def _gate(grads):
    """GATE_GRAPH: every gradient available only once all of them are computed."""
    flat = []
    for g in grads:
        if isinstance(g, IndexedSlices):
            flat += [g.values, g.indices]
        elif g is not None:
            flat.append(g)
    gated = iter(control_flow_ops.tuple(flat))
    out = []
    for g in grads:
        if isinstance(g, IndexedSlices):
            out.append(IndexedSlices(next(gated), next(gated), g.dense_shape))
        else:
            out.append(None if g is None else next(gated))
    return out


class Optimizer:
    """Base class of the TF1 optimizers."""

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking: bool, name: str):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._slots: dict = {}          # slot name -> {(graph, var op name): slot Variable}
        self._non_slot_dict: dict = {}  # (name, graph) -> Variable

    def get_name(self) -> str:
        return self._name

    # --- the public API ---------------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        """Add ops that minimize `loss` by updating `var_list`; returns the training op."""
        grads_and_vars = self.compute_gradients(
            loss, var_list=var_list, gate_gradients=gate_gradients,
            aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss)
        vars_with_grad = [v for g, v in grads_and_vars if g is not None]
        if not vars_with_grad:
            raise ValueError("No gradients provided for any variable, check your graph for ops "
                             "that do not support gradients, between variables "
                             f"{[str(v) for _, v in grads_and_vars]} and loss {loss}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None):
        """[(gradient, variable)] of `loss` for `var_list` (default: the trainable variables);
        the gradient is None for variables the loss does not depend on."""
        if callable(loss) and not isinstance(loss, (Tensor, Variable)):
            loss = loss()
        loss = convert_to_tensor(loss)
        self._assert_valid_dtypes([loss])
        if grad_loss is not None:
            grad_loss = convert_to_tensor(grad_loss)
            self._assert_valid_dtypes([grad_loss])
        if gate_gradients not in (Optimizer.GATE_NONE, Optimizer.GATE_OP, Optimizer.GATE_GRAPH):
            raise ValueError("gate_gradients must be one of: Optimizer.GATE_NONE, "
                             f"Optimizer.GATE_OP, Optimizer.GATE_GRAPH.  Not {gate_gradients}")
        if var_list is None:
            var_list = (trainable_variables()
                        + loss.graph.get_collection(GraphKeys.TRAINABLE_RESOURCE_VARIABLES))
        else:
            var_list = list(_flatten([var_list]))
        if not var_list:
            raise ValueError("No variables to optimize.")
        var_list = [_check_variable(v) for v in var_list]
        grads = gradients(loss, [v._ref() for v in var_list], grad_ys=grad_loss,
                          gate_gradients=(gate_gradients == Optimizer.GATE_OP),
                          aggregation_method=aggregation_method,
                          colocate_gradients_with_ops=colocate_gradients_with_ops)
        if gate_gradients == Optimizer.GATE_GRAPH:
            grads = _gate(grads)
        grads_and_vars = list(zip(grads, var_list))
        self._assert_valid_dtypes([v for g, v in grads_and_vars if g is not None])
        return grads_and_vars

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """An op applying the gradients (None ones are skipped) and then, if given,
        incrementing `global_step`."""
        grads_and_vars = tuple(grads_and_vars)
        if not grads_and_vars:
            raise ValueError("No variables provided.")
        converted = []
        for g, v in grads_and_vars:
            if g is not None:
                try:
                    g = convert_to_tensor_or_indexed_slices(g)
                except (TypeError, ValueError):
                    raise TypeError("Gradient must be convertible to a Tensor or IndexedSlices, "
                                    f"or None: {g}") from None
                if not isinstance(g, (Tensor, IndexedSlices)):
                    raise TypeError(f"Gradient must be a Tensor, IndexedSlices, or None: {g}")
            converted.append((g, _check_variable(v)))
        var_list = [v for g, v in converted if g is not None]
        if not var_list:
            raise ValueError("No gradients provided for any variable: "
                             f"{[str(v) for _, v in converted]}.")
        for g, v in converted:
            if g is not None and g.dtype.base_dtype is not v.dtype.base_dtype:
                raise TypeError(f"Gradient of dtype {g.dtype.name} for variable {v.op.name} of "
                                f"dtype {v.dtype.name}")
        graph = var_list[0].graph
        with graph.as_default():
            with graph.control_dependencies(None):
                self._create_slots(var_list)
            update_ops = []
            with name_scope(name, self._name) as name:
                self._prepare()
                for grad, var in converted:
                    if grad is None:
                        continue
                    with name_scope("update_" + var.op.name), graph.colocate_with(var):
                        update_ops.append(self._update_op(grad, var))
                if global_step is None:
                    apply_updates = self._finish(update_ops, name)
                else:
                    with graph.control_dependencies([self._finish(update_ops, "update")]):
                        with graph.colocate_with(global_step):
                            apply_updates = state_ops.assign_add(global_step, 1, name=name)
            if isinstance(apply_updates, Tensor):
                apply_updates = apply_updates.op
            train_op = get_collection_ref(GraphKeys.TRAIN_OP)
            if apply_updates not in train_op:
                train_op.append(apply_updates)
        return apply_updates

    def _update_op(self, grad, var):
        if isinstance(grad, Tensor):
            update = self._apply_dense(grad, var)
            if var.constraint is not None:
                with var.graph.control_dependencies([update]):
                    return var.assign(var.constraint(var))
            return update
        if var.constraint is not None:
            raise RuntimeError("Cannot use a constraint function on a sparse variable.")
        return self._apply_sparse_duplicate_indices(grad, var)

    # --- slots ------------------------------------------------------------------------------
    def get_slot(self, var, name):
        """The slot variable `name` ('m', 'momentum', ...) created for `var`, or None."""
        named = self._slots.get(name)
        if not named:
            return None
        return named.get(_var_key(var))

    def get_slot_names(self) -> list:
        return sorted(self._slots)

    def variables(self) -> list:
        """The optimizer's variables (slots and e.g. Adam's beta powers) of the current graph,
        sorted by name."""
        graph = get_default_graph()
        out = [v for (_, g), v in self._non_slot_dict.items() if g is graph]
        for named in self._slots.values():
            out += [v for v in named.values() if v.graph is graph]
        return sorted(out, key=lambda v: v.name)

    def _slot_dict(self, slot_name):
        return self._slots.setdefault(slot_name, {})

    def _get_or_make(self, var, slot_name, make):
        """`var`'s slot `slot_name`, created by `make()` the first time."""
        named = self._slot_dict(slot_name)
        key = _var_key(var)
        if key not in named:
            named[key] = make()
        return named[key]

    def _zeros_slot(self, var, slot_name, op_name):
        return self._get_or_make(var, slot_name,
                                 lambda: slot_creator.create_zeros_slot(var, op_name))

    def _get_or_make_slot_with_initializer(self, var, initializer, shape, dtype, slot_name,
                                           op_name):
        return self._get_or_make(var, slot_name, lambda: slot_creator.create_slot_with_initializer(
            var, initializer, shape, dtype, op_name))

    def _create_non_slot_variable(self, initial_value, name, colocate_with):
        """A variable of the optimizer itself (one per graph), colocated with `colocate_with`."""
        graph = colocate_with.graph
        key = (name, graph)
        v = self._non_slot_dict.get(key)
        if v is None:
            with graph.as_default(), graph.colocate_with(colocate_with):
                v = Variable(initial_value, name=name, trainable=False)
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name, graph=None):
        return self._non_slot_dict.get((name, graph or get_default_graph()))

    # --- hooks ------------------------------------------------------------------------------
    def _create_slots(self, var_list) -> None:
        pass

    def _prepare(self) -> None:
        pass

    def _apply_dense(self, grad, var):
        raise NotImplementedError(f"{type(self).__name__} has no dense update")

    def _apply_sparse(self, grad, var):
        raise NotImplementedError(f"{type(self).__name__} has no sparse update")

    def _apply_sparse_duplicate_indices(self, grad, var):
        # TF1 sums duplicate indices here; tensorweave's SparseApply* kernels do it themselves.
        return self._apply_sparse(grad, var)

    def _finish(self, update_ops, name_scope) -> Operation:
        return control_flow_ops.group(*update_ops, name=name_scope)

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _call_if_callable(param):
        return param() if callable(param) else param

    def _assert_valid_dtypes(self, tensors) -> None:
        for t in tensors:
            dtype = t.dtype.base_dtype
            if dtype not in _VALID_DTYPES:
                raise ValueError(f"Invalid type {dtype.name} for {t.name}, expected: "
                                 f"{[d.name for d in _VALID_DTYPES]}.")
