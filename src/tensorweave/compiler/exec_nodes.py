"""The executor's view of a node: `ExecNode`, a graph-independent record lowered from an
`Operation` (or built by a pass, like the partitioner's `_Send`/`_Recv`), and the lowering.

A plan is compiled from a list of ExecNodes in run order.  Each names its op type, attributes,
inputs by (producer name, output index), control inputs, device, output dtypes and static
shapes, the variables its ref inputs write (store keys), the values of its constant inputs (so
kernel factories may specialise on them) and the user's line that created it (for errors).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..framework.variable_refs import ref_variable_key

__all__ = ["ExecNode", "exec_node_of", "exec_nodes_from_ops"]


@dataclass(eq=False)
class ExecNode:
    """A node as the executor and kernel factories see it (graph-independent data)."""

    name: str
    op: str
    attr: dict
    inputs: list                 # [(producer name, output index)] data inputs, in order
    control: list                # [producer name] control inputs
    device: str = ""
    out_dtypes: list = field(default_factory=list)
    out_shapes: list = field(default_factory=list)
    source: tuple | None = None  # (file, line, function) that created the node
    ref_vars: dict = field(default_factory=dict)  # ref input position -> variable store key
    #: input position -> value, for inputs produced by Const nodes: factories may specialise on
    #: them (a reduction's axes, a reshape's shape); the value is still passed at run time.
    const_inputs: dict = field(default_factory=dict)
    #: input positions whose buffer the kernel may overwrite (set by `compile_step`): the value
    #: is a fresh buffer of this plan, not fetched, not viewed by another op, and this node is its
    #: last consumer.  A factory may then return a kernel that writes its output into it
    #: (checking at run time that it is an ndarray of the output's shape and dtype).
    donatable: frozenset = frozenset()
    #: the node's key in per-session state (stateful kernels): its name, prefixed by the
    #: enclosing function call sites when the node lives in a function body
    key: str = ""

    @property
    def input(self) -> list:
        """Input names in NodeDef form ('a', 'a:1', '^c')."""
        return ([n if i == 0 else f"{n}:{i}" for n, i in self.inputs]
                + ["^" + c for c in self.control])

    @property
    def where(self) -> str:
        if not self.source:
            return ""
        f, line, fn = self.source
        return f"{f}:{line} in {fn}"


def _ref_vars(op) -> dict:
    refs = {}
    for pos in op.op_def.ref_inputs:
        key = ref_variable_key(op._inputs[pos].op)
        if key is None:
            raise TypeError(f"Input {pos} of {op.type} node {op.name!r} must be a variable "
                            f"(a ref), but comes from {op._inputs[pos].op.type} node "
                            f"{op._inputs[pos].op.name!r}.")
        refs[pos] = key
    return refs


def exec_node_of(op, device: str, inputs: list | None = None, control: list | None = None,
                 fed=frozenset()) -> ExecNode:
    """The ExecNode of Operation `op` on `device`.

    `inputs`/`control`: the node's inputs as a pass rewrote them (a partition reads a fed tensor
    from its placeholder, a tensor of another device from a `_Recv`); by default the op's own.
    An input keeps its constant value (`const_inputs`) only while it still comes from the `Const`
    op itself, and not when that constant is `fed` ((op name, output index) pairs)."""
    own = [(t._op._name, t._value_index) for t in op._inputs]
    inputs = own if inputs is None else inputs
    const = {}
    for i, t in enumerate(op._inputs):
        if t._op._op_def.is_const and inputs[i] == own[i] and own[i] not in fed:
            const[i] = t._op._attrs["value"]
    return ExecNode(
        name=op._name, op=op._type, attr=op._attrs, inputs=list(inputs),
        control=[c._name for c in op._control_inputs] if control is None else list(control),
        device=device, out_dtypes=[t._dtype for t in op._outputs],
        out_shapes=[t._shape for t in op._outputs], source=op._source, ref_vars=_ref_vars(op),
        const_inputs=const)


def exec_nodes_from_ops(ops, fed=frozenset()) -> list[ExecNode]:
    """ExecNodes for Graph `Operation`s on their requested devices (kept in the given order).

    `fed`: (op name, output index) of fed tensors; a fed constant is not a constant input."""
    return [exec_node_of(op, op._device, fed=fed) for op in ops]
