"""Function bodies: `FuncGraph` (a graph built from a Python function) and `FunctionDef`.

Control flow is functional (see `ops/control_flow_ops.py`): a branch or loop body is its own small
graph, held by the `If`/`While` node as an attr.  While a body is being built, its `FuncGraph` is
the default graph, and:

* an op input from an enclosing graph is *captured*: the FuncGraph gets a placeholder for it and
  remembers the outer tensor, which becomes an explicit input of the `If`/`While` node (so the
  partitioner sees an ordinary edge, and a loop reading a tensor of another device is a single
  Send/Recv before the loop);
* a captured variable *reference* (an assign inside a body) becomes a twin `VariableV2` node naming
  the same variable, since a function runs where its variables live;
* an input from a graph that is not an enclosing one (a gradient body reading forward-body
  values) is resolved by the FuncGraph's `capture_hook`;
* variables are created in the outermost graph (`init_scope`), as TF does, so `get_variable`
  inside a loop body makes one variable, initialized by `global_variables_initializer`.

`FunctionDef` is the serialisable signature: the body's GraphDef, its argument placeholders and
its output tensors, by name.  In-process it also keeps the live FuncGraph.
"""
from __future__ import annotations

import contextlib

from .graph import Graph, Operation, Tensor, get_default_graph
from .variable_refs import is_ref, ref_variable_key

__all__ = ["FuncGraph", "FunctionDef", "init_scope", "root_graph", "build_func_graph"]

def root_graph(g: Graph) -> Graph:
    """The outermost (non-function) graph enclosing `g`."""
    while isinstance(g, FuncGraph):
        g = g.outer_graph
    return g


@contextlib.contextmanager
def init_scope():
    """Build in the outermost graph, outside any control dependencies (variable creation).

    The device scopes in effect stay in effect: those of the outermost graph, then those
    entered while building each enclosing function body (a `DeviceWrapper` cell run by
    `dynamic_rnn` creates its variables on its device, as TF1's in-graph loops did)."""
    inner = get_default_graph()
    g = root_graph(inner)
    bodies = []
    while isinstance(inner, FuncGraph):
        bodies.append(inner)
        inner = inner.outer_graph
    with contextlib.ExitStack() as stack:
        stack.enter_context(g.as_default())
        stack.enter_context(g.control_dependencies(None))
        for body in reversed(bodies):
            for d in list(body._tl.device_stack):
                stack.enter_context(g.device(d))
        yield g


class FuncGraph(Graph):
    """The graph of one function body, capturing tensors of its enclosing graphs."""

    def __init__(self, name: str, outer_graph: Graph | None = None):
        super().__init__()
        self.name = name
        self.outer_graph = outer_graph
        self.inputs: list[Tensor] = []     # argument placeholders, then capture placeholders
        self.outputs: list[Tensor] = []
        self.control_outputs: list[Operation] = []
        self.captures: list[tuple[Tensor, Tensor]] = []   # (outer tensor, inner placeholder)
        self._capture_index: dict[int, Tensor] = {}
        self.control_captures: list[Operation] = []
        self.capture_hook = None           # fn(foreign tensor) -> inner tensor, or None
        if outer_graph is not None:
            self.seed = outer_graph.seed
            self._gradient_override_map = dict(outer_graph._gradient_override_map)

    @property
    def building_function(self) -> bool:
        return True

    def ancestors(self):
        g = self.outer_graph
        while g is not None:
            yield g
            g = getattr(g, "outer_graph", None)

    # --- capturing ------------------------------------------------------------------------------
    def capture(self, t: Tensor) -> Tensor:
        """The inner tensor standing for `t`, a tensor of another graph."""
        if t.graph is self:
            return t
        inner = self._capture_index.get(id(t))
        if inner is not None:
            return inner
        if t.graph not in list(self.ancestors()):
            if self.capture_hook is not None:
                inner = self.capture_hook(t)
                if inner is not None:
                    self._capture_index[id(t)] = inner
                    return inner
            if not isinstance(self.outer_graph, FuncGraph):
                raise ValueError(f"Tensor {t.name} belongs to a graph that does not enclose "
                                 f"the function {self.name!r} being built.")
            outer_t = self.outer_graph.capture(t)  # an enclosing function may resolve it
        elif isinstance(self.outer_graph, FuncGraph) and t.graph is not self.outer_graph:
            outer_t = self.outer_graph.capture(t)   # capture through the enclosing function
        else:
            outer_t = t
        with self.as_default(), self.control_dependencies(None), self.name_scope(None):
            if is_ref(t):
                inner = self._variable_twin(t)
            else:
                inner = self.create_op("Placeholder", [], {"dtype": t.dtype, "shape": t.shape},
                                       name="capture").outputs[0]
                self.inputs.append(inner)
                self.captures.append((outer_t, inner))
        self._capture_index[id(t)] = inner
        return inner

    def _variable_twin(self, ref: Tensor) -> Tensor:
        """A VariableV2 node of this body naming the same variable as the outer `ref`."""
        key = ref_variable_key(ref.op)
        return self.create_op("VariableV2", [], {"shape": ref.shape, "dtype": ref.dtype,
                                                 "container": "", "shared_name": key},
                              name=ref.op.name.replace("/", "_")).outputs[0]

    def create_op(self, op_type, inputs, attrs=None, name=None, control_inputs=None,
                  source=None):
        inputs = [self.capture(t) if isinstance(t, Tensor) and t.graph is not self else t
                  for t in inputs]
        ctrl = []
        for c in control_inputs or ():
            c = c.op if isinstance(c, Tensor) else c
            if c.graph is not self:
                if c not in self.control_captures:
                    self.control_captures.append(c)
            else:
                ctrl.append(c)
        return super().create_op(op_type, inputs, attrs, name, ctrl or None, source)

    def _current_control_inputs(self, input_ops):
        out = []
        for c in super()._current_control_inputs(input_ops):
            if c.graph is self:
                out.append(c)
            elif c not in self.control_captures:
                self.control_captures.append(c)
        return out

    def set_outputs(self, tensors) -> None:
        """Make `tensors` the function's outputs (tensors of other graphs are captured)."""
        self.outputs = [t if t.graph is self else self.capture(t) for t in tensors]

    def add_placeholder(self, dtype, shape, name="arg") -> Tensor:
        with self.as_default(), self.control_dependencies(None):
            t = self.create_op("Placeholder", [], {"dtype": dtype, "shape": shape},
                               name=name).outputs[0]
        return t


def build_func_graph(name: str, fn, arg_specs, outer_graph: Graph | None = None):
    """Build `fn(*args)` into a new FuncGraph whose arguments have `arg_specs` [(dtype, shape)].

    Returns (func_graph, args, result) where `result` is whatever `fn` returned, with its
    tensors in the FuncGraph.
    """
    outer = outer_graph if outer_graph is not None else get_default_graph()
    g = FuncGraph(name, outer)
    args = []
    for i, (dt, sh) in enumerate(arg_specs):
        ph = g.add_placeholder(dt, sh, name=f"arg{i}")
        args.append(ph)
    g.inputs.extend(args)
    with g.as_default():
        result = fn(*args)
    return g, args, result


class FunctionDef:
    """A function as data: a graph, its argument placeholders and its outputs, by name."""

    def __init__(self, name: str, graph_def=None, input_names=(), output_names=(),
                 control_output_names=(), func_graph: FuncGraph | None = None):
        self.name = name
        self._graph_def = graph_def
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.control_output_names = list(control_output_names)
        self.func_graph = func_graph

    @classmethod
    def from_func_graph(cls, fg: FuncGraph) -> FunctionDef:
        return cls(fg.name, None, [t.name for t in fg.inputs], [t.name for t in fg.outputs],
                   [o.name for o in fg.control_outputs], fg)

    def sync(self) -> None:
        """Re-read the signature from the live FuncGraph (after outputs were added)."""
        fg = self.func_graph
        if fg is not None:
            self.input_names = [t.name for t in fg.inputs]
            self.output_names = [t.name for t in fg.outputs]
            self.control_output_names = [o.name for o in fg.control_outputs]
            self._graph_def = None

    @property
    def graph_def(self):
        if self._graph_def is None:
            self._graph_def = self.func_graph.as_graph_def()
        return self._graph_def

    def graph(self) -> Graph:
        """A graph holding the function (the live FuncGraph, or one imported from data)."""
        if self.func_graph is None:
            from .graphdef import import_graph_def  # cycle: graphdef imports func_graph
            g = FuncGraph(self.name, None)
            with g.as_default():
                import_graph_def(self.graph_def, name="")
            g.inputs = [g.get_tensor_by_name(n) for n in self.input_names]
            g.outputs = [g.get_tensor_by_name(n) for n in self.output_names]
            g.control_outputs = [g.get_operation_by_name(n) for n in self.control_output_names]
            self.func_graph = g
        return self.func_graph

    def to_dict(self) -> dict:
        return {"name": self.name, "graph_def": self.graph_def.to_dict(),
                "inputs": list(self.input_names), "outputs": list(self.output_names),
                "control_outputs": list(self.control_output_names)}

    @classmethod
    def from_dict(cls, d: dict) -> FunctionDef:
        from .graphdef import GraphDef  # cycle: graphdef imports func_graph
        if not isinstance(d, dict) or set(d) - {"name", "graph_def", "inputs", "outputs",
                                                  "control_outputs"}:
            raise ValueError("Malformed FunctionDef")
        names = [d.get("inputs", []), d.get("outputs", []), d.get("control_outputs", [])]
        if not all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in names):
            raise ValueError("Malformed FunctionDef: inputs/outputs must be lists of names")
        return cls(str(d.get("name", "")), GraphDef.from_dict(d.get("graph_def", {})), *names)

    def __repr__(self):
        return (f"FunctionDef({self.name!r}, {len(self.input_names)} inputs, "
                f"{len(self.output_names)} outputs)")

