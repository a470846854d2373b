"""`variable_scope` and `get_variable`: named, shareable variables (TF1 semantics).

Per graph there is one `_VariableStore` (full name -> Variable) and one current `VariableScope`
(per thread).  `get_variable(name)` builds `scope.name + "/" + name`; when the store has it, it is
returned only if the scope reuses (`reuse=True` or `AUTO_REUSE`), and must agree in shape and
dtype; when it does not, it is created (never under `reuse=True`) with the scope's initializer,
or glorot-uniform for floats and zeros for integers, as in TF1.  Variable names depend on variable
scopes only; op names also get the name scope, which a re-entered variable scope uniquifies
(`foo_1/`), as in TF1.
"""
from __future__ import annotations

import contextlib
import enum
import threading

from ..framework import dtypes as _dtypes
from ..framework.func_graph import init_scope, root_graph
from ..framework.graph import GraphKeys, get_default_graph, name_scope
from ..framework.tensor_shape import TensorShape, as_shape
from . import init_ops
from .variables import Variable

__all__ = ["VariableScope", "variable_scope", "get_variable", "get_local_variable",
           "get_variable_scope", "AUTO_REUSE", "no_regularizer", "variable_op_scope"]


class _ReuseMode(enum.Enum):
    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE


def no_regularizer(_):
    """Use this as a regularizer to turn regularization off for a variable."""
    return None


class VariableScope:
    """The state of one variable scope: its name, reuse flag and defaults for new variables."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, caching_device=None,
                 partitioner=None, custom_getter=None, name_scope="", dtype=_dtypes.float32,
                 use_resource=None, constraint=None):
        self._name = name
        self._reuse = reuse
        self._initializer = initializer
        self._regularizer = regularizer
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._name_scope = name_scope
        self._dtype = dtype
        self._use_resource = use_resource
        self._constraint = constraint

    @property
    def name(self) -> str:
        return self._name

    @property
    def original_name_scope(self) -> str:
        return self._name_scope

    @property
    def reuse(self):
        return self._reuse

    @property
    def initializer(self):
        return self._initializer

    @property
    def dtype(self):
        return self._dtype

    @property
    def regularizer(self):
        return self._regularizer

    @property
    def caching_device(self):
        return self._caching_device

    @property
    def partitioner(self):
        return self._partitioner

    @property
    def custom_getter(self):
        return self._custom_getter

    @property
    def constraint(self):
        return self._constraint

    @property
    def use_resource(self):
        return self._use_resource

    def reuse_variables(self) -> None:
        self._reuse = True

    def set_initializer(self, initializer) -> None:
        self._initializer = initializer

    def set_dtype(self, dtype) -> None:
        self._dtype = dtype

    def set_regularizer(self, regularizer) -> None:
        self._regularizer = regularizer

    def set_caching_device(self, caching_device) -> None:
        self._caching_device = caching_device

    def set_partitioner(self, partitioner) -> None:
        self._partitioner = partitioner

    def set_custom_getter(self, custom_getter) -> None:
        self._custom_getter = custom_getter

    def get_collection(self, name):
        scope = self._name + "/" if self._name else ""
        return get_default_graph().get_collection(name, scope)

    def global_variables(self):
        return self.get_collection(GraphKeys.GLOBAL_VARIABLES)

    def trainable_variables(self):
        return self.get_collection(GraphKeys.TRAINABLE_VARIABLES)

    def local_variables(self):
        return self.get_collection(GraphKeys.LOCAL_VARIABLES)

    def get_variable(self, var_store, name, shape=None, dtype=None, initializer=None,
                     regularizer=None, reuse=None, trainable=None, collections=None,
                     caching_device=None, partitioner=None, validate_shape=True,
                     use_resource=None, custom_getter=None, constraint=None, **kwargs):
        if regularizer is None:
            regularizer = self._regularizer
        if caching_device is None:
            caching_device = self._caching_device
        if partitioner is None:
            partitioner = self._partitioner
        if constraint is None:
            constraint = self._constraint
        if custom_getter is None:
            custom_getter = self._custom_getter
        if reuse is None:
            reuse = self._reuse
        full_name = self._name + "/" + name if self._name else name
        if dtype is None:
            dtype = self._dtype
        if initializer is None:
            initializer = self._initializer
        # Variable names depend only on variable scopes: reset the name scope while creating.
        with name_scope(None):
            return var_store.get_variable(
                full_name, shape=shape, dtype=dtype, initializer=initializer,
                regularizer=regularizer, reuse=reuse, trainable=trainable,
                collections=collections, caching_device=caching_device,
                partitioner=partitioner, validate_shape=validate_shape,
                custom_getter=custom_getter, constraint=constraint)

    def __repr__(self):
        return f"<VariableScope {self._name!r} reuse={self._reuse}>"


class _VariableStore:
    """Full variable name -> Variable, for one graph."""

    def __init__(self):
        self._vars: dict = {}

    def get_variable(self, name, shape=None, dtype=_dtypes.float32, initializer=None,
                     regularizer=None, reuse=None, trainable=None, collections=None,
                     caching_device=None, partitioner=None, validate_shape=True,
                     custom_getter=None, constraint=None):
        if custom_getter is not None:
            if not callable(custom_getter):
                raise ValueError(f"Passed a custom_getter which is not callable: {custom_getter}")

            def true_getter(name, shape=None, dtype=_dtypes.float32, initializer=None,
                            regularizer=None, reuse=None, trainable=None, collections=None,
                            caching_device=None, partitioner=None, validate_shape=True,
                            constraint=None, **_):
                return self._get_single_variable(name, shape, dtype, initializer, regularizer,
                                                 reuse, trainable, collections, caching_device,
                                                 validate_shape, constraint)
            return custom_getter(true_getter, name, shape=shape, dtype=dtype,
                                 initializer=initializer, regularizer=regularizer, reuse=reuse,
                                 trainable=trainable, collections=collections,
                                 caching_device=caching_device, partitioner=partitioner,
                                 validate_shape=validate_shape, constraint=constraint)
        if partitioner is not None:
            raise NotImplementedError("Partitioned variables (partitioner=...) are not supported")
        return self._get_single_variable(name, shape, dtype, initializer, regularizer, reuse,
                                         trainable, collections, caching_device, validate_shape,
                                         constraint)

    def _get_single_variable(self, name, shape, dtype, initializer, regularizer, reuse,
                             trainable, collections, caching_device, validate_shape, constraint):
        initializing_from_value = initializer is not None and not callable(initializer)
        if initializing_from_value and shape is not None:
            raise ValueError("If initializer is a constant, do not specify shape.")
        dtype = _dtypes.as_dtype(dtype)
        shape = TensorShape(None) if shape is None else as_shape(shape)
        if name in self._vars:
            if reuse is False or reuse is None:
                v = self._vars[name]
                src = v.op.source_line
                raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to "
                                 "set reuse=True or reuse=tw.AUTO_REUSE in VarScope? Originally "
                                 f"defined at:\n\n  {src}")
            found = self._vars[name]
            if not shape.is_compatible_with(found.get_shape()):
                raise ValueError(f"Trying to share variable {name}, but specified shape {shape} "
                                 f"and found shape {found.get_shape()}.")
            if not dtype.is_compatible_with(found.dtype):
                raise ValueError(f"Trying to share variable {name}, but specified dtype "
                                 f"{dtype.name} and found dtype {found.dtype.name}.")
            return found
        if reuse is True:
            raise ValueError(f"Variable {name} does not exist, or was not created with "
                             "tw.get_variable(). Did you mean to set reuse=tw.AUTO_REUSE in "
                             "VarScope?")
        if initializer is None:
            initializer, initializing_from_value = _default_initializer(name, dtype), False
        if initializing_from_value:
            init_val = initializer
            variable_dtype = None
        else:
            if isinstance(initializer, type):
                initializer = initializer(dtype=dtype)
            if not shape.is_fully_defined():
                raise ValueError(f"Shape of a new variable ({name}) must be fully defined, but "
                                 f"instead was {shape}.")
            shape_list = shape.as_list()

            def init_val():
                try:
                    return initializer(shape_list, dtype=dtype, partition_info=None)
                except TypeError as e:
                    if "partition_info" not in str(e):
                        raise
                    return initializer(shape_list, dtype=dtype)
            variable_dtype = dtype.base_dtype
        if trainable is None:
            trainable = True
        with init_scope(), name_scope(None):  # variable names depend on variable scopes only
            v = Variable(initial_value=init_val, name=name, trainable=trainable,
                         collections=collections, caching_device=caching_device,
                         dtype=variable_dtype, validate_shape=validate_shape,
                         constraint=constraint)
        self._vars[name] = v
        if regularizer is not None:
            graph = get_default_graph()
            graph = root_graph(graph)
            with graph.as_default(), graph.colocate_with(v), name_scope(name + "/Regularizer/"):
                loss = regularizer(v)
                if loss is not None:
                    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return v


def _default_initializer(name, dtype):
    if dtype.is_floating:
        return init_ops.glorot_uniform_initializer()
    if dtype.is_integer or dtype.is_unsigned or dtype.is_bool:
        return init_ops.zeros_initializer()
    raise ValueError(f"An initializer for variable {name} of {dtype.name} is required")


# ----------------------------------------------------------------------------------------------
# per-graph state
# ----------------------------------------------------------------------------------------------
class _ScopeState(threading.local):
    def __init__(self):
        self.current = VariableScope(False)


def _graph_state(graph):
    graph = root_graph(graph)  # variables of a function body live in the outermost graph
    st = getattr(graph, "_tw_variable_scope_state", None)
    if st is None:
        st = graph._tw_variable_scope_state = {
            "store": _VariableStore(), "scope": _ScopeState(), "counts": {}}
    return st


def _get_default_variable_store() -> _VariableStore:
    return _graph_state(get_default_graph())["store"]


def get_variable_scope() -> VariableScope:
    """The current variable scope."""
    return _graph_state(get_default_graph())["scope"].current


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 synchronization=None, aggregation=None):
    """TF1 `tf.get_variable`: get an existing variable of the scope or create a new one."""
    return get_variable_scope().get_variable(
        _get_default_variable_store(), name, shape=shape, dtype=dtype, initializer=initializer,
        regularizer=regularizer, trainable=trainable, collections=collections,
        caching_device=caching_device, partitioner=partitioner, validate_shape=validate_shape,
        use_resource=use_resource, custom_getter=custom_getter, constraint=constraint)


def get_local_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                       trainable=False, collections=None, caching_device=None, partitioner=None,
                       validate_shape=True, use_resource=None, custom_getter=None,
                       constraint=None, synchronization=None, aggregation=None):
    collections = list(collections or []) + [GraphKeys.LOCAL_VARIABLES]
    return get_variable(name, shape, dtype, initializer, regularizer, False, collections,
                        caching_device, partitioner, validate_shape, use_resource,
                        custom_getter, constraint)


def _chain_getters(outer, inner):
    if outer is None:
        return inner
    if inner is None:
        return outer

    def chained(getter, *args, **kwargs):
        return inner(lambda *a, **k: outer(getter, *a, **k), *args, **kwargs)
    return chained


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                   reuse=None, dtype=None, use_resource=None, constraint=None,
                   auxiliary_name_scope=True):
    """TF1 `tf.variable_scope`: a scope for variable names (and an op name scope)."""
    if default_name is None and name_or_scope is None:
        raise TypeError("If default_name is None then name_or_scope is required")
    if reuse is False:
        reuse = None  # TF1: False means inherit
    if not (reuse is True or reuse is None or reuse is AUTO_REUSE):
        raise ValueError("The reuse parameter must be True or False or None.")
    if values is not None and not isinstance(values, (list, tuple)):
        raise TypeError("The values parameter must be a list or tuple.")
    graph = get_default_graph()
    st = _graph_state(graph)
    sstate = st["scope"]
    parent = sstate.current
    counts = st["counts"]
    if name_or_scope is not None:
        if not isinstance(name_or_scope, (str, VariableScope)):
            raise TypeError("VariableScope: name_or_scope must be a string or VariableScope.")
        if isinstance(name_or_scope, VariableScope):
            new_name = name_or_scope.name
            base = name_or_scope
            # TF1: a scope object opens a fresh name scope named after its last component
            ns_ctx = (name_scope(name_or_scope.name.split("/")[-1] or None, values=values)
                      if auxiliary_name_scope else contextlib.nullcontext(None))
        else:
            new_name = parent.name + "/" + name_or_scope if parent.name else name_or_scope
            base = parent
            ns_ctx = (name_scope(name_or_scope, values=values) if auxiliary_name_scope
                      else contextlib.nullcontext(None))
        if reuse is None:
            reuse = base.reuse if isinstance(name_or_scope, VariableScope) else parent.reuse
    else:
        if reuse is True:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        prefix = parent.name + "/" if parent.name else ""
        full = prefix + default_name
        uniq = default_name
        if counts.get(full, 0):
            idx = 1
            while counts.get(f"{full}_{idx}", 0):
                idx += 1
            uniq = f"{default_name}_{idx}"
        new_name = prefix + uniq
        base = parent
        reuse = parent.reuse
        ns_ctx = (name_scope(default_name, values=values) if auxiliary_name_scope
                  else contextlib.nullcontext(None))
    counts[new_name] = counts.get(new_name, 0) + 1
    with ns_ctx as ns:
        if isinstance(name_or_scope, VariableScope):
            ns_str = name_or_scope.original_name_scope  # kept, as TF1 does
        elif ns is None:
            ns_str = parent.original_name_scope
        else:
            ns_str = ns
        scope = VariableScope(
            reuse, name=new_name,
            initializer=initializer if initializer is not None else base.initializer,
            regularizer=regularizer if regularizer is not None else base.regularizer,
            caching_device=caching_device if caching_device is not None else base.caching_device,
            partitioner=partitioner if partitioner is not None else base.partitioner,
            custom_getter=_chain_getters(base.custom_getter, custom_getter),
            name_scope=ns_str,
            dtype=dtype if dtype is not None else base.dtype,
            use_resource=use_resource if use_resource is not None else base.use_resource,
            constraint=constraint if constraint is not None else base.constraint)
        sstate.current = scope
        try:
            yield scope
        finally:
            sstate.current = parent
            for k in counts:  # a re-opened scope numbers its default-named subscopes afresh
                if k.startswith(new_name + "/"):
                    counts[k] = 0


def variable_op_scope(values, name_or_scope, default_name=None, **kwargs):
    """Deprecated TF1 alias of `variable_scope(name_or_scope, default_name, values)`."""
    return variable_scope(name_or_scope, default_name=default_name, values=values, **kwargs)
