"""The dataflow graph: `Graph`, `Operation` and `Tensor`, plus the scopes that shape new nodes.

A `Graph` owns its operations in creation order (always a topological order, since a node's inputs
exist before it does).  An `Operation` is a node: its type, input tensors, control inputs, attrs
(plain, serialisable data only), requested device and the user's source line that created it.  A
`Tensor` is a symbolic output `op:index` with a static dtype and `TensorShape`; it holds no value.

Scopes (name, device, colocation, control dependencies) are stacks on the graph; a new node reads
them once, when it is created.  Values live in sessions, never on nodes.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from typing import Any
from collections.abc import Iterable

from . import dtypes as _dtypes
from .default_session import clear_interactive_sessions, run_using_default_session
from .device_spec import merge_device
from .op_registry import get_op_def
from .tensor_shape import TensorShape, as_shape

__all__ = [
    "Graph", "Operation", "Tensor", "GraphKeys", "get_default_graph", "reset_default_graph",
    "name_scope", "control_dependencies", "device", "colocate_with", "add_to_collection",
    "add_to_collections", "get_collection", "get_collection_ref", "apply_op",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_VALID_OP_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


class GraphKeys:
    """Standard collection names (TF1 `tf.GraphKeys`)."""

    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    METRIC_VARIABLES = "metric_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    TABLE_INITIALIZERS = "table_initializer"
    ASSET_FILEPATHS = "asset_filepaths"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    CONCATENATED_VARIABLES = "concatenated_variables"
    SAVERS = "savers"
    WEIGHTS = "weights"
    BIASES = "biases"
    ACTIVATIONS = "activations"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    SAVEABLE_OBJECTS = "saveable_objects"
    RESOURCES = "resources"
    LOCAL_RESOURCES = "local_resources"
    TRAINABLE_RESOURCE_VARIABLES = "trainable_resource_variables"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    READY_FOR_LOCAL_INIT_OP = "ready_for_local_init_op"
    SUMMARY_OP = "summary_op"
    GLOBAL_STEP = "global_step"
    EVAL_STEP = "eval_step"
    TRAIN_OP = "train_op"
    COND_CONTEXT = "cond_context"
    WHILE_CONTEXT = "while_context"
    VARIABLES = GLOBAL_VARIABLES


def _user_source():
    """(filename, lineno, function) of the innermost frame outside the tensorweave package."""
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PACKAGE_DIR) and not fn.startswith("<"):
            return (fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return ("<unknown>", 0, "<unknown>")


# ----------------------------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------------------------
class Tensor:
    """A symbolic handle to one output of an `Operation` (TF1 `tf.Tensor`)."""

    __slots__ = ("_op", "_value_index", "_dtype", "_shape", "_consumers", "__weakref__")

    # Tensors are compared by identity (as in TF1) and can be dict keys.
    __array_priority__ = 100

    def __init__(self, op: Operation, value_index: int, dtype, shape):
        self._op = op
        self._value_index = value_index
        self._dtype = _dtypes.as_dtype(dtype)
        self._shape = as_shape(shape)
        self._consumers: list[Operation] = []

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def value_index(self) -> int:
        return self._value_index

    @property
    def dtype(self):
        return self._dtype

    @property
    def graph(self) -> Graph:
        return self._op._graph

    @property
    def name(self) -> str:
        return f"{self._op._name}:{self._value_index}"

    @property
    def device(self) -> str:
        return self._op._device

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    def set_shape(self, shape) -> None:
        """Refine the static shape; raises `ValueError` if `shape` is incompatible."""
        self._shape = self._shape.merge_with(as_shape(shape))

    def consumers(self) -> list[Operation]:
        return list(self._consumers)

    def eval(self, feed_dict=None, session=None):
        """The tensor's value in `session` (default: the default session)."""
        return run_using_default_session(self, feed_dict, self.graph, session)

    def _as_node_def_input(self) -> str:
        return self._op._name if self._value_index == 0 else self.name

    def __repr__(self):
        return f"<tw.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    def __str__(self):
        return (f'Tensor("{self.name}", shape={self._shape}, dtype={self._dtype.name}'
                + (f', device={self.device}' if self.device else "") + ")")

    def __bool__(self):
        raise TypeError("Using a `tw.Tensor` as a Python `bool` is not allowed. Use `if t is not "
                        "None:` instead of `if t:` to test if a tensor is defined, and use "
                        "tw.cond to execute subgraphs conditioned on the value of a tensor.")

    def __iter__(self):
        shape = self._shape
        if shape.ndims is None or shape[0].value is None:
            raise TypeError("Tensor objects are only iterable when the first dimension is known; "
                            f"{self.name} has shape {shape}.")
        return (self[i] for i in range(shape[0].value))

    def __len__(self):
        raise TypeError(f"len is not well defined for symbolic Tensors ({self.name}). "
                        "Use tw.shape(t)[0] or t.shape[0].")

    @classmethod
    def _override_operator(cls, operator: str, func) -> None:
        """Install an operator overload (`__add__`, ...); used by the math and array ops."""
        setattr(cls, operator, func)

    # numpy must not try to treat a Tensor as an array-like of objects
    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Cannot convert the symbolic tensor {self.name} to a numpy array; "
                        "fetch it with Session.run first.")


# ----------------------------------------------------------------------------------------------
# Operation
# ----------------------------------------------------------------------------------------------
class Operation:
    """A node of the graph (TF1 `tf.Operation`)."""

    __slots__ = ("_graph", "_name", "_type", "_inputs", "_control_inputs", "_outputs", "_attrs",
                 "_device", "_id", "_source", "_op_def", "_control_outputs", "__weakref__")

    def __init__(self, graph: Graph, name: str, op_type: str, inputs, control_inputs, attrs,
                 device: str, source):
        self._graph = graph
        self._name = name
        self._type = op_type
        self._inputs = list(inputs)
        self._control_inputs = list(control_inputs)
        self._outputs: list[Tensor] = []
        self._attrs = attrs
        self._device = device
        self._id = -1
        self._source = source
        self._op_def = get_op_def(op_type)
        self._control_outputs: list[Operation] = []

    # --- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> str:
        return self._type

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def op_def(self):
        return self._op_def

    @property
    def inputs(self) -> list[Tensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[Tensor]:
        return list(self._outputs)

    @property
    def control_inputs(self) -> list[Operation]:
        return list(self._control_inputs)

    @property
    def device(self) -> str:
        return self._device

    @property
    def traceback(self):
        """[(filename, lineno, function)] of the user code that created this node."""
        return [self._source]

    @property
    def source_line(self) -> str:
        f, line, fn = self._source
        return f"{f}:{line} in {fn}"

    def values(self) -> tuple:
        return tuple(self._outputs)

    def get_attr(self, name: str) -> Any:
        try:
            return self._attrs[name]
        except KeyError:
            raise ValueError(f"Operation {self._name!r} has no attr named {name!r}.") from None

    @property
    def node_def(self):
        from .graphdef import node_def_of  # cycle: graphdef imports graph
        return node_def_of(self)

    def colocation_groups(self) -> list[bytes]:
        cls = self._attrs.get("_class")
        return list(cls) if cls else [f"loc:@{self._name}".encode()]

    def _add_control_input(self, op: Operation) -> None:
        """TF1's `Operation._add_control_input`: make this op wait for `op` (plans built
        before go stale)."""
        if op not in self._control_inputs:
            self._control_inputs.append(op)
            op._control_outputs.append(self)
            self._graph._version += 1
            self._graph._version_ctrl += 1

    def run(self, feed_dict=None, session=None) -> None:
        run_using_default_session(self, feed_dict, self._graph, session)

    def __repr__(self):
        return f"<tw.Operation '{self._name}' type={self._type}>"

    def __str__(self):
        ins = ", ".join(t.name for t in self._inputs)
        return f'name: "{self._name}"\nop: "{self._type}"\ninput: [{ins}]\ndevice: "{self._device}"'


# ----------------------------------------------------------------------------------------------
# Graph
# ----------------------------------------------------------------------------------------------
class Graph:
    """A TF1 dataflow graph: operations in creation order plus collections and scopes."""

    def __init__(self):
        self._lock = threading.RLock()
        self._ops: list[Operation] = []
        self._nodes_by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._finalized = False
        self._version = 0
        self._version_ctrl = 0  # bumped when an existing node changes (cached plans go stale)
        self._collections: dict[str, list] = {}
        self._thread_local = threading.local()
        self.seed = None
        self._gradient_override_map: dict[str, str] = {}
        #: op name -> the name of the op it should run beside when nothing else decides (the
        #: forward op of a gradient op; a soft preference of the placer, not a constraint)
        self._placement_hints: dict[str, str] = {}

    # --- thread-local scope stacks --------------------------------------------------------------
    @property
    def _tl(self):
        tl = self._thread_local
        if not hasattr(tl, "name_stack"):
            tl.name_stack = ""
            tl.control_stack = []       # list of lists of Operations (None entry = cleared)
            tl.device_stack = []        # list of device strings or functions
            tl.colocation_stack = []    # list of Operations
        return tl

    def get_name_scope(self) -> str:
        return self._tl.name_stack

    # --- queries ----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._version

    @property
    def finalized(self) -> bool:
        return self._finalized

    @property
    def building_function(self) -> bool:
        return False

    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        if not isinstance(name, str):
            raise TypeError(f"Operation names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def get_tensor_by_name(self, name: str) -> Tensor:
        if not isinstance(name, str):
            raise TypeError(f"Tensor names are strings (or similar), not {type(name).__name__}.")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def _get_operation_by_name_unsafe(self, name: str) -> Operation:
        return self._nodes_by_name[name]

    def as_graph_element(self, obj, allow_tensor: bool = True, allow_operation: bool = True):
        """Resolve a Tensor, Operation, name string or convertible object in this graph."""
        if allow_tensor and allow_operation:
            types_str = "Tensor or Operation"
        elif allow_tensor:
            types_str = "Tensor"
        else:
            types_str = "Operation"
        conv = getattr(obj, "_as_graph_element", None)
        if conv is not None and not isinstance(obj, (Tensor, Operation)):
            obj = conv()
        if isinstance(obj, str):
            name = obj
            if ":" in name and allow_tensor:
                op_name, _, idx = name.rpartition(":")
                try:
                    idx = int(idx)
                except ValueError:
                    raise ValueError(f"The name {name!r} looks a like a Tensor name, but is not a "
                                     "valid one. Tensor names must be of the form "
                                     "\"<op_name>:<output_index>\".") from None
                op = self._nodes_by_name.get(op_name)
                if op is None:
                    raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. "
                                   f"The operation, {op_name!r}, does not exist in the graph.")
                if idx >= len(op._outputs) or idx < 0:
                    raise KeyError(f"The name {name!r} refers to a Tensor which does not exist. "
                                   f"The operation, {op_name!r}, exists but only has "
                                   f"{len(op._outputs)} outputs.")
                return op._outputs[idx]
            if ":" in name and not allow_tensor:
                raise ValueError(f"Name {name!r} appears to refer to a Tensor, not a {types_str}.")
            if ":" not in name and allow_operation:
                op = self._nodes_by_name.get(name)
                if op is None:
                    raise KeyError(f"The name {name!r} refers to an Operation not in the graph.")
                return op
            if ":" not in name and not allow_operation:
                if name in self._nodes_by_name:
                    raise ValueError(f"The name {name!r} refers to an Operation, not a "
                                     f"{types_str}. Tensor names must be of the form "
                                     "\"<op_name>:<output_index>\".")
                raise ValueError(f"The name {name!r} looks like an (invalid) Operation name, not a "
                                 f"{types_str}. Tensor names must be of the form "
                                 "\"<op_name>:<output_index>\".")
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj.name} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj.graph is not self:
                raise ValueError(f"Operation {obj.name} is not an element of this graph.")
            return obj
        raise TypeError(f"Can not convert a {type(obj).__name__} into a {types_str}.")

    # --- naming -----------------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """`name` prefixed by the current name scope and made unique (`foo`, `foo_1`, ...)."""
        stack = self._tl.name_stack
        if stack:
            name = stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = i + 1
        if i > 0:
            base = key
            while key in self._names_in_use:
                key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[key] = 1
            name = f"{name}_{i - 1}"
        return name

    @contextlib.contextmanager
    def name_scope(self, name):
        """Push a name scope; yields the scope string ending in '/' (or '' at top level)."""
        tl = self._tl
        old = tl.name_stack
        if name:
            if isinstance(name, str) and name.endswith("/"):
                new_stack = name[:-1]
            else:
                if not isinstance(name, str) or not _VALID_OP_NAME.match(name):
                    raise ValueError(f"{name!r} is not a valid scope name")
                new_stack = self.unique_name(name)
        else:
            new_stack = ""
        tl.name_stack = new_stack
        try:
            yield "" if not new_stack else new_stack + "/"
        finally:
            tl.name_stack = old

    # --- devices, colocation, control deps --------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function):
        """Nodes created inside get this device (merged over outer scopes; None clears)."""
        tl = self._tl
        tl.device_stack.append(device_name_or_function)
        try:
            yield
        finally:
            tl.device_stack.pop()

    def _current_device(self, op: Operation | None = None) -> str:
        dev = ""
        for d in self._tl.device_stack:
            if d is None:
                dev = ""
            elif callable(d) and not isinstance(d, str):
                if op is None:
                    continue
                op._device = dev
                r = d(op)
                dev = merge_device(dev, getattr(r, "to_string", lambda: r)() or "")
            else:
                dev = merge_device(dev, d.to_string() if hasattr(d, "to_string") else d)
        return dev

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing: bool = False):
        """Nodes created inside are colocated with `op` (a Tensor, Operation or Variable)."""
        if op is None and not ignore_existing:
            raise ValueError("Trying to reset colocation (op is None) but ignore_existing is not "
                             "True")
        tl = self._tl
        if op is not None:
            op = _as_op(op)
        old = tl.colocation_stack
        tl.colocation_stack = (([] if ignore_existing else list(old))
                               + ([op] if op is not None else []))
        # A colocated node ignores the enclosing device scopes (TF1 behaviour).
        old_dev = tl.device_stack
        if op is not None:
            tl.device_stack = [op.device or None]
        try:
            yield
        finally:
            tl.colocation_stack = old
            tl.device_stack = old_dev

    @contextlib.contextmanager
    def _placement_hint(self, op):
        """Nodes created inside prefer `op`'s device (see `_placement_hints`)."""
        tl = self._tl
        old = getattr(tl, "placement_hint", None)
        tl.placement_hint = op
        try:
            yield
        finally:
            tl.placement_hint = old

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        """Nodes created inside run after `control_inputs` (None clears outer dependencies)."""
        tl = self._tl
        if control_inputs is None:
            old = tl.control_stack
            tl.control_stack = []
            try:
                yield
            finally:
                tl.control_stack = old
            return
        ops = []
        for c in control_inputs:
            if hasattr(c, "_as_graph_element") and not isinstance(c, (Tensor, Operation)):
                c = c._as_graph_element()
            if isinstance(c, Tensor):
                c = c.op
            if not isinstance(c, Operation):
                raise TypeError(f"Control input must be Operation or Tensor: {c!r}")
            if c.graph is not self:
                raise ValueError(f"Control input {c.name} is not an element of this graph.")
            ops.append(c)
        tl.control_stack.append(ops)
        try:
            yield
        finally:
            tl.control_stack.pop()

    def _current_control_inputs(self, input_ops) -> list[Operation]:
        seen = set(id(o) for o in input_ops)
        out = []
        for frame in self._tl.control_stack:
            for c in frame:
                if id(c) not in seen:
                    seen.add(id(c))
                    out.append(c)
        return out

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map: dict):
        saved = {k: self._gradient_override_map.get(k) for k in op_type_map}
        self._gradient_override_map.update(op_type_map)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    self._gradient_override_map.pop(k, None)
                else:
                    self._gradient_override_map[k] = v

    # --- building ---------------------------------------------------------------------------
    def finalize(self) -> None:
        """Make the graph read-only: adding a node afterwards raises `RuntimeError`."""
        self._finalized = True

    def _unsafe_unfinalize(self) -> None:
        self._finalized = False

    def _check_not_finalized(self) -> None:
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")

    def create_op(self, op_type: str, inputs, attrs: dict | None = None, name: str | None = None,
                  control_inputs: Iterable | None = None, source=None) -> Operation:
        """Add a node; runs the op's shape function (which validates the inputs) first.

        `name` ending in '/' is taken verbatim (already made unique by a name scope); any other
        name is prefixed by the name scope and uniquified.
        """
        self._check_not_finalized()
        inputs = list(inputs)
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError(f"Input {i} of {op_type} must be a Tensor, got {type(t).__name__}")
            if t.graph is not self:
                raise ValueError(f"Tensor {t.name} must be from the same graph as the op "
                                 f"{name or op_type} being created.")
        attrs = dict(attrs) if attrs else {}
        with self._lock:
            if name is None:
                name = op_type
            if name.endswith("/"):
                name = name[:-1]
                if name in self._nodes_by_name:
                    name = self.unique_name(name)  # a reused scope name; keep names unique
                else:
                    self._names_in_use.setdefault(name.lower(), 1)
            else:
                if not _VALID_OP_NAME.match(name):
                    raise ValueError(f"{name!r} is not a valid node name")
                name = self.unique_name(name)
            tl = self._tl
            ctrl = self._current_control_inputs([t.op for t in inputs])
            if control_inputs:
                for c in control_inputs:
                    c = _as_op(c)
                    if c not in ctrl:
                        ctrl.append(c)
            override = self._gradient_override_map.get(op_type)
            if override:
                attrs["_gradient_op_type"] = override
            if tl.colocation_stack:
                groups = []
                for c in tl.colocation_stack:
                    for g in c.colocation_groups():
                        if g not in groups:
                            groups.append(g)
                attrs["_class"] = groups
            op = Operation(self, name, op_type, inputs, ctrl, attrs, "",
                           source if source is not None else _user_source())
            hint = getattr(tl, "placement_hint", None)
            if hint is not None:
                self._placement_hints[name] = hint._name
            op._device = self._current_device(op)
            op_def = op._op_def
            for a in op_def.required_attrs:
                if a not in attrs:
                    raise ValueError(f"Op {name!r} of type {op_type} is missing attr {a!r}")
            specs = op_def.shape_fn(op)
            op._outputs = [Tensor(op, i, dt, sh) for i, (dt, sh) in enumerate(specs)]
            op._id = len(self._ops)
            self._ops.append(op)
            self._nodes_by_name[name] = op
            for t in inputs:
                t._consumers.append(op)
            for c in ctrl:
                c._control_outputs.append(op)
            self._version += 1
        return op

    # --- collections ------------------------------------------------------------------------
    def add_to_collection(self, name: str, value) -> None:
        self._check_not_finalized()
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value) -> None:
        names = (names,) if isinstance(names, str) else set(names)
        for n in names:
            self.add_to_collection(n, value)

    def get_collection_ref(self, name: str) -> list:
        return self._collections.setdefault(name, [])

    def get_collection(self, name: str, scope: str | None = None) -> list:
        items = self._collections.get(name)
        if items is None:
            return []
        if scope is None:
            return list(items)
        pat = re.compile(scope)
        return [it for it in items if hasattr(it, "name") and pat.match(it.name)]

    def get_all_collection_keys(self) -> list:
        return [k for k, v in self._collections.items() if isinstance(v, list)]

    def clear_collection(self, name: str) -> None:
        self._check_not_finalized()
        self._collections.pop(name, None)

    # --- serialisation ----------------------------------------------------------------------
    def as_graph_def(self, from_version=None, add_shapes: bool = False):
        from .graphdef import graph_to_graph_def  # cycle: graphdef imports graph
        return graph_to_graph_def(self, add_shapes=add_shapes)

    # --- default graph ------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        """Make this graph the default graph of the current thread inside the block."""
        st = _default_graph_stack()
        st.append(self)
        try:
            yield self
        finally:
            for i in range(len(st) - 1, -1, -1):
                if st[i] is self:
                    del st[i]
                    break

    @property
    def _last_id(self) -> int:
        return len(self._ops)


def _as_op(x) -> Operation:
    if isinstance(x, Operation):
        return x
    if isinstance(x, Tensor):
        return x.op
    conv = getattr(x, "_as_graph_element", None)
    if conv is not None:
        return _as_op(conv())
    op = getattr(x, "op", None)
    if isinstance(op, Operation):
        return op
    raise TypeError(f"Expected an Operation, Tensor or Variable, got {x!r}")


# ----------------------------------------------------------------------------------------------
# the default graph
# ----------------------------------------------------------------------------------------------
_global_default_graph: Graph | None = None
_tls = threading.local()


def _default_graph_stack() -> list:
    st = getattr(_tls, "stack", None)
    if st is None:
        st = _tls.stack = []
    return st


def get_default_graph() -> Graph:
    """The innermost graph of `Graph.as_default()`, else the global default graph."""
    st = _default_graph_stack()
    if st:
        return st[-1]
    global _global_default_graph
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    """Clear the global default graph (not allowed inside a `with g.as_default()` block)."""
    if _default_graph_stack():
        raise AssertionError("Do not use tw.reset_default_graph() to clear nested graphs. If "
                             "you need a cleared graph, exit the nesting and create a new graph.")
    global _global_default_graph
    _global_default_graph = Graph()
    clear_interactive_sessions()


def _graph_of(values) -> Graph:
    g = get_default_graph()
    if g.building_function:
        return g  # a function body being built captures the values it uses
    for v in values or ():
        if isinstance(v, (Tensor, Operation)):
            return v.graph
        g = getattr(v, "graph", None)
        if isinstance(g, Graph):
            return g
    return get_default_graph()


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """TF1 `tf.name_scope(name, default_name=None, values=None)`."""
    if name is None and default_name is None:
        g = _graph_of(values)
        with g.name_scope(None) as scope:
            yield scope
        return
    n = name if name else default_name
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    g = _graph_of(values)
    with g.as_default() if g is not get_default_graph() else contextlib.nullcontext():
        with g.name_scope(n) as scope:
            yield scope


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name_or_function):
    return get_default_graph().device(device_name_or_function)


def colocate_with(op, ignore_existing: bool = False):
    return get_default_graph().colocate_with(op, ignore_existing)


def add_to_collection(name, value) -> None:
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value) -> None:
    get_default_graph().add_to_collections(names, value)


def get_collection(key, scope=None) -> list:
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key) -> list:
    return get_default_graph().get_collection_ref(key)


def apply_op(op_type: str, inputs, attrs: dict | None = None, name: str | None = None,
             graph: Graph | None = None) -> Operation:
    """Create an op in the graph of its inputs (or the default graph)."""
    if graph is None:
        graph = _graph_for(inputs)
    return graph.create_op(op_type, inputs, attrs, name)


def _graph_for(inputs) -> Graph:
    """Where a new op with these inputs goes: the function being built, else the inputs' graph."""
    g = get_default_graph()
    if g.building_function or not inputs:
        return g
    return inputs[0].graph
