"""`Variable` (TF1 ref variables) and the variable collections and initializers.

`Variable(initial_value, name='w')` creates, as in TF1: `w` (VariableV2, the state), `w/Assign`
(its initializer), `w/read` (an Identity snapshot that ordinary ops read), and the initial value
under `w/`.  It joins the GLOBAL_VARIABLES collection, and TRAINABLE_VARIABLES when trainable.
A Variable converts to `w/read:0` wherever a tensor is expected; gradients and assigns use the
ref `w:0`.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor, register_tensor_conversion_function
from ..framework.default_session import get_default_session
from ..framework.func_graph import init_scope
from ..framework.graph import GraphKeys, Tensor, get_collection, get_default_graph, name_scope
from ..framework.tensor_shape import TensorShape, as_shape
from . import state_ops
from .array_ops import identity
from .constant_op import constant
from .control_flow_ops import group, no_op
from .op_util import op1

__all__ = ["Variable", "VariableV1", "RefVariable", "global_variables", "local_variables",
           "trainable_variables", "model_variables", "moving_average_variables",
           "global_variables_initializer", "local_variables_initializer", "variables_initializer",
           "initialize_all_variables", "initialize_variables", "initialize_local_variables",
           "all_variables", "is_variable_initialized", "assert_variables_initialized",
           "report_uninitialized_variables"]


class Variable:
    """TF1 `tf.Variable` (a ref variable living in the session's variable store)."""

    def __init__(self, initial_value=None, trainable=None, collections=None,
                 validate_shape=True, caching_device=None, name=None, variable_def=None,
                 dtype=None, expected_shape=None, import_scope=None, constraint=None,
                 use_resource=None, synchronization=None, aggregation=None, shape=None):
        if variable_def is not None:
            if initial_value is not None:
                raise ValueError("variable_def and initial_value are mutually exclusive.")
            self._init_from_def(variable_def, import_scope)
            return
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if trainable is None:
            trainable = True
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if not isinstance(collections, (list, tuple, set)):
            raise ValueError(f"collections argument to Variable constructor must be a list, "
                             f"tuple, or set. Got {collections} of type {type(collections)}")
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        if constraint is not None and not callable(constraint):
            raise ValueError("The `constraint` argument must be a callable.")
        self._trainable = trainable
        self._constraint = constraint
        self._caching_device = caching_device
        self._save_slice_info = None
        init_from_fn = callable(initial_value)
        with init_scope() as graph:
            with name_scope(name, "Variable", [] if init_from_fn else [initial_value]) as scope:
                var_name = scope[:-1]
                if init_from_fn:
                    with name_scope("Initializer"), graph.device(None):
                        initial_value = initial_value()
                        if hasattr(initial_value, "_as_graph_element") and not isinstance(
                                initial_value, Tensor):
                            initial_value = initial_value._as_graph_element()
                        self._initial_value = convert_to_tensor(initial_value,
                                                                name="initial_value", dtype=dtype)
                else:
                    self._initial_value = convert_to_tensor(initial_value, name="initial_value",
                                                            dtype=dtype)
                iv = self._initial_value
                if shape is not None:
                    vshape = as_shape(shape)
                elif validate_shape:
                    vshape = iv.shape
                    if not vshape.is_fully_defined():
                        raise ValueError(f"initial_value must have a shape specified: {iv}")
                else:
                    vshape = TensorShape(None)
                self._variable = state_ops.variable_op_v2(vshape, iv.dtype, name=scope)
                with graph.colocate_with(self._variable.op):
                    self._initializer_op = state_ops.assign(
                        self._variable, iv, validate_shape=validate_shape,
                        name="Assign").op
                    with name_scope("read"):
                        self._snapshot = identity(self._variable, name=scope + "read/")
                del var_name
        for key in collections:
            graph.add_to_collection(key, self)
        self._graph_key = graph

    def _init_from_def(self, d: dict, import_scope=None) -> None:
        """Wrap ops already in the graph (TF1 `Variable(variable_def=..., import_scope=...)`)."""
        graph = get_default_graph()
        prefix = (import_scope + "/") if import_scope else ""
        try:
            self._variable = graph.get_tensor_by_name(prefix + d["variable_name"])
            self._initializer_op = graph.get_operation_by_name(prefix + d["initializer_name"])
            self._snapshot = graph.get_tensor_by_name(prefix + d["snapshot_name"])
            self._initial_value = graph.get_tensor_by_name(prefix + d["initial_value_name"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"variable_def does not match the graph: {e}") from None
        self._trainable = bool(d.get("trainable", True))
        self._constraint = None
        self._caching_device = None
        self._save_slice_info = None
        self._graph_key = graph

    def to_proto(self, export_scope=None) -> dict:
        """The variable as plain data (TF1 `VariableDef`): names of its ops, trainable flag."""
        def strip(n):
            if export_scope and n.startswith(export_scope + "/"):
                return n[len(export_scope) + 1:]
            return n
        return {"variable_name": strip(self._variable.name),
                "initializer_name": strip(self._initializer_op.name),
                "snapshot_name": strip(self._snapshot.name),
                "initial_value_name": strip(self._initial_value.name),
                "trainable": self._trainable}

    @staticmethod
    def from_proto(variable_def, import_scope=None) -> Variable:
        return Variable(variable_def=variable_def, import_scope=import_scope)

    # --- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._variable.name

    @property
    def op(self):
        return self._variable.op

    @property
    def graph(self):
        return self._variable.graph

    @property
    def device(self) -> str:
        return self._variable.device

    @property
    def dtype(self):
        return self._variable.dtype

    @property
    def shape(self) -> TensorShape:
        return self._variable.shape

    def get_shape(self) -> TensorShape:
        return self._variable.shape

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def constraint(self):
        return self._constraint

    @property
    def initializer(self):
        return self._initializer_op

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def _ref(self) -> Tensor:
        return self._variable

    def _as_graph_element(self) -> Tensor:
        return self._variable

    def value(self) -> Tensor:
        """The snapshot tensor `w/read:0`."""
        return self._snapshot

    def read_value(self) -> Tensor:
        return identity(self._variable, name="read")

    def initialized_value(self) -> Tensor:
        """The variable's value, or its initial value if it is not initialized yet."""
        with self.graph.control_dependencies(None):
            return op1("VariableValueOr", [self._variable, self._initial_value],
                       {"T": self.dtype}, "VariableValueOr")

    def eval(self, session=None):
        return self._variable.eval(session=session)

    def load(self, value, session=None) -> None:
        session = session or get_default_session()
        if session is None:
            raise ValueError("Either session argument should be provided or default session "
                             "should be established")
        session.run(self._initializer_op, {self._initializer_op.inputs[1]: value})

    # --- updates ----------------------------------------------------------------------------
    def assign(self, value, use_locking=False, name=None, read_value=True):
        a = state_ops.assign(self._variable, value, use_locking=use_locking, name=name)
        return a if read_value else a.op

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        a = state_ops.assign_add(self._variable, delta, use_locking=use_locking, name=name)
        return a if read_value else a.op

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        a = state_ops.assign_sub(self._variable, delta, use_locking=use_locking, name=name)
        return a if read_value else a.op

    def _scatter(self, fn, sparse_delta, use_locking, name):
        return fn(self._variable, sparse_delta.indices, sparse_delta.values,
                  use_locking=use_locking, name=name)

    def scatter_sub(self, sparse_delta, use_locking=False, name=None):
        return self._scatter(state_ops.scatter_sub, sparse_delta, use_locking, name)

    def scatter_add(self, sparse_delta, use_locking=False, name=None):
        return self._scatter(state_ops.scatter_add, sparse_delta, use_locking, name)

    def scatter_update(self, sparse_delta, use_locking=False, name=None):
        return self._scatter(state_ops.scatter_update, sparse_delta, use_locking, name)

    def count_up_to(self, limit):
        return state_ops.count_up_to(self._variable, limit)

    # --- misc -------------------------------------------------------------------------------
    def __repr__(self):
        return (f"<tw.Variable '{self.name}' shape={self.shape} "
                f"dtype={self.dtype.name}_ref>")

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __iter__(self):
        raise TypeError("'Variable' object is not iterable.")

    def __bool__(self):
        raise TypeError("Using a `tw.Variable` as a Python `bool` is not allowed.")

    @staticmethod
    def _install_operators() -> None:
        """Give Variable every operator Tensor has, applied to `value()`."""
        names = ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                 "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
                 "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
                 "__abs__", "__invert__", "__and__", "__rand__", "__or__", "__ror__",
                 "__xor__", "__rxor__", "__lt__", "__le__", "__gt__", "__ge__", "__getitem__"]
        for n in names:
            f = getattr(Tensor, n, None)
            if f is None:
                continue

            def make(f):
                return lambda self, *a: f(self.value(), *a)
            setattr(Variable, n, make(f))


VariableV1 = Variable
RefVariable = Variable


def _to_tensor(v, dtype=None, name=None, as_ref=False):
    t = v._ref() if as_ref else v.value()
    if dtype is not None and _dtypes.as_dtype(dtype) is not t.dtype:
        raise ValueError(f"Incompatible type conversion requested to type {dtype.name} for "
                         f"variable of type {t.dtype.name}")
    return t


register_tensor_conversion_function(Variable, _to_tensor)


# ----------------------------------------------------------------------------------------------
# collections and initializers
# ----------------------------------------------------------------------------------------------
def global_variables(scope=None) -> list:
    return get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def all_variables() -> list:
    return global_variables()


def local_variables(scope=None) -> list:
    return get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def trainable_variables(scope=None) -> list:
    return get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def model_variables(scope=None) -> list:
    return get_collection(GraphKeys.MODEL_VARIABLES, scope)


def moving_average_variables(scope=None) -> list:
    return get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    """A grouped op running the initializers of `var_list` (a NoOp when empty)."""
    var_list = list(var_list)
    if var_list:
        return group(*[v.initializer for v in var_list], name=name)
    return no_op(name=name)


def initialize_variables(var_list, name="init"):
    return variables_initializer(var_list, name)


def global_variables_initializer():
    return variables_initializer(global_variables())


def initialize_all_variables():
    return global_variables_initializer()


def local_variables_initializer():
    return variables_initializer(local_variables())


def initialize_local_variables():
    return local_variables_initializer()


def is_variable_initialized(variable):
    return state_ops.is_variable_initialized(variable)


def assert_variables_initialized(var_list=None):
    """An op that fails (FailedPrecondition) when any of `var_list` is not initialized."""
    var_list = global_variables() if var_list is None else list(var_list)
    reads = [v.value() for v in var_list]
    return group(*reads, name="assert_variables_initialized")


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    """A 1-D string tensor with the names of the variables that are not initialized."""
    var_list = global_variables() + local_variables() if var_list is None else list(var_list)
    with name_scope(name) as scope:
        if not var_list:
            return constant([], dtype=_dtypes.string, name=scope)
        names = [v.op.name.encode() for v in var_list]
        inits = [state_ops.is_variable_initialized(v) for v in var_list]
        return op1("ReportUninitialized", inits, {"names": names, "N": len(var_list)}, scope)
