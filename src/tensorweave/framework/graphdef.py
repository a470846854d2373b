"""The serialised graph: `NodeDef`, `GraphDef` and their msgpack encoding; `import_graph_def`.

A GraphDef is the graph as plain data (the form shipped to workers and written to files):

    {"versions": {"producer": 1}, "node": [NodeDef, ...]}
    NodeDef = {"name": str, "op": str, "input": ["a", "b:1", "^c"], "device": str,
               "attr": {name: AttrValue}}

An AttrValue is a one-key map saying its kind, as in TF's AttrValue proto: `{"i": 3}`, `{"f": 0.5}`,
`{"b": true}`, `{"s": "text"}`, `{"y": b"bytes"}`, `{"type": "float32"}`, `{"shape": [2, null]}`
(`null` for unknown rank), `{"tensor": {"dtype", "shape", "data"}}`, `{"list": [AttrValue, ...]}`,
`{"none": true}`, `{"func": FunctionDef}` (a function body: its GraphDef, argument and output
names; see `framework/func_graph.py`).  Decoding never executes code: it only builds numbers,
strings, lists, dtypes, shapes and numpy arrays from raw bytes.
"""
from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from . import dtypes as _dtypes
from .convert import convert_to_tensor
from .func_graph import FunctionDef
from .graph import get_default_graph
from .tensor_shape import TensorShape

__all__ = ["NodeDef", "GraphDef", "encode_attr", "decode_attr", "encode_array", "decode_array",
           "graph_to_graph_def", "import_graph_def", "node_def_of", "with_source"]

PRODUCER_VERSION = 1


def unpack(data: bytes, what: str):
    """msgpack-decode `data` (plain data only), ValueError naming `what` when it is not msgpack."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError,
            UnicodeDecodeError, TypeError) as e:
        raise ValueError(f"Not a serialised {what}: {e}") from None


# ----------------------------------------------------------------------------------------------
# arrays and attrs
# ----------------------------------------------------------------------------------------------
def encode_array(arr: np.ndarray) -> dict:
    """A numpy array as {"dtype", "shape", "data"} (strings as a list of bytes)."""
    dt = _dtypes.as_dtype(arr.dtype)
    if dt is _dtypes.string:
        data = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1)]
    else:
        data = np.ascontiguousarray(arr).tobytes()
    return {"dtype": dt.name, "shape": list(arr.shape), "data": data}


def decode_array(d: dict) -> np.ndarray:
    try:
        dt = _dtypes.as_dtype(d["dtype"])
        shape = tuple(int(s) for s in d["shape"])
        data = d["data"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"Malformed tensor value {str(d)[:80]!r}: {e}") from None
    if dt is _dtypes.string:
        if not isinstance(data, list) or not all(isinstance(x, bytes) for x in data):
            raise ValueError("Malformed string tensor: data must be a list of bytes")
        out = np.empty(len(data), dtype=object)
        out[:] = data
        return out.reshape(shape)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("Malformed tensor: data must be bytes")
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(data) != n * dt.np.itemsize:
        raise ValueError(f"Malformed tensor: {len(data)} bytes for shape {list(shape)} of "
                         f"{dt.name}")
    return np.frombuffer(data, dtype=dt.np).reshape(shape).copy()


def encode_attr(v) -> dict:
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return {"b": bool(v)}
    if isinstance(v, (int, np.integer)):
        return {"i": int(v)}
    if isinstance(v, (float, np.floating)):
        return {"f": float(v)}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, bytes):
        return {"y": v}
    if isinstance(v, _dtypes.DType):
        return {"type": v.name}
    if isinstance(v, TensorShape):
        return {"shape": None if v.ndims is None else list(v.as_tuple_or_none())}
    if isinstance(v, np.ndarray):
        return {"tensor": encode_array(v)}
    if isinstance(v, (list, tuple)):
        return {"list": [encode_attr(x) for x in v]}
    if v is None:
        return {"none": True}
    if isinstance(v, FunctionDef):
        return {"func": v.to_dict()}
    raise TypeError(f"Attr value of type {type(v).__name__} cannot be serialised: {v!r}")


def decode_attr(d) -> Any:
    if not isinstance(d, dict) or len(d) != 1:
        raise ValueError(f"Malformed attr value {str(d)[:80]!r}")
    (k, v), = d.items()
    if k in ("b", "i", "f", "s", "y"):
        expected = {"b": bool, "i": int, "f": (float, int), "s": str, "y": bytes}[k]
        if not isinstance(v, expected):
            raise ValueError(f"Malformed attr value {d!r}")
        return float(v) if k == "f" else v
    if k == "type":
        return _dtypes.as_dtype(v)
    if k == "shape":
        return TensorShape(None if v is None else [None if x is None else int(x) for x in v])
    if k == "tensor":
        return decode_array(v)
    if k == "list":
        if not isinstance(v, list):
            raise ValueError(f"Malformed attr list {d!r}")
        return [decode_attr(x) for x in v]
    if k == "none":
        return None
    if k == "func":
        return FunctionDef.from_dict(v)
    raise ValueError(f"Unknown attr kind {k!r}")


# ----------------------------------------------------------------------------------------------
# NodeDef / GraphDef
# ----------------------------------------------------------------------------------------------
class NodeDef:
    """One node as data: what a kernel factory and a worker see of an op."""

    __slots__ = ("name", "op", "input", "device", "attr")

    def __init__(self, name: str = "", op: str = "", input=(), device: str = "", attr=None):
        self.name = name
        self.op = op
        self.input = list(input)
        self.device = device
        self.attr = dict(attr) if attr else {}

    @property
    def data_inputs(self) -> list[str]:
        return [i for i in self.input if not i.startswith("^")]

    @property
    def control_inputs(self) -> list[str]:
        return [i[1:] for i in self.input if i.startswith("^")]

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "input": list(self.input), "device": self.device,
                "attr": {k: encode_attr(v) for k, v in self.attr.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> NodeDef:
        if not isinstance(d, dict):
            raise ValueError("Malformed NodeDef: expected a map")
        unknown = set(d) - {"name", "op", "input", "device", "attr"}
        if unknown:
            raise ValueError(f"Malformed NodeDef: unknown fields {sorted(unknown)}")
        name, op = d.get("name"), d.get("op")
        inputs, device, attr = d.get("input", []), d.get("device", ""), d.get("attr", {})
        if not isinstance(name, str) or not isinstance(op, str) or not isinstance(device, str):
            raise ValueError("Malformed NodeDef: name, op and device must be strings")
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ValueError(f"Malformed NodeDef {name!r}: input must be a list of strings")
        if not isinstance(attr, dict):
            raise ValueError(f"Malformed NodeDef {name!r}: attr must be a map")
        return cls(name, op, inputs, device, {k: decode_attr(v) for k, v in attr.items()})

    def __repr__(self):
        return f"NodeDef(name={self.name!r}, op={self.op!r}, input={self.input!r})"


class GraphDef:
    """A serialisable graph (TF1 `tf.GraphDef`): `node` list plus `versions`."""

    def __init__(self, node=None, versions=None, library=None):
        self.node: list[NodeDef] = list(node or [])
        self.versions = dict(versions or {"producer": PRODUCER_VERSION})
        self.library = dict(library or {})

    def to_dict(self) -> dict:
        return {"versions": self.versions, "node": [n.to_dict() for n in self.node],
                "library": {k: v.to_dict() for k, v in self.library.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> GraphDef:
        if not isinstance(d, dict) or not isinstance(d.get("node", []), list):
            raise ValueError("Malformed GraphDef: expected a map with a 'node' list")
        unknown = set(d) - {"versions", "node", "library"}
        if unknown:
            raise ValueError(f"Malformed GraphDef: unknown fields {sorted(unknown)}")
        lib = d.get("library") or {}
        return cls([NodeDef.from_dict(n) for n in d.get("node", [])], d.get("versions"),
                   {k: GraphDef.from_dict(v) for k, v in lib.items()})

    def SerializeToString(self) -> bytes:  # noqa: N802 - TF1 name
        return msgpack.packb(self.to_dict(), use_bin_type=True)

    def ParseFromString(self, data: bytes) -> None:  # noqa: N802 - TF1 name
        g = GraphDef.FromString(data)
        self.node, self.versions, self.library = g.node, g.versions, g.library

    @classmethod
    def FromString(cls, data: bytes) -> GraphDef:  # noqa: N802 - TF1 name
        return cls.from_dict(unpack(data, "GraphDef"))

    def __len__(self):
        return len(self.node)

    def __repr__(self):
        return f"GraphDef({len(self.node)} nodes)"


def node_def_of(op, add_shapes: bool = False, add_source: bool = False) -> NodeDef:
    """The NodeDef of `op`; `add_source` records the user's line that created it (`_source`:
    [file, line, function]) so a remote worker can name it in errors."""
    inputs = [t._as_node_def_input() for t in op._inputs]
    inputs += ["^" + c._name for c in op._control_inputs]
    attr = with_source(op._attrs, op._source if add_source else None)
    if add_shapes:
        attr["_output_shapes"] = [t.shape for t in op._outputs]
    return NodeDef(op._name, op._type, inputs, op._device, attr)


def with_source(attrs: dict, source) -> dict:
    """A copy of `attrs` recording `source` ((file, line, function) of the user's line that
    created the node, or None) as the `_source` attr, so a worker can name it in errors."""
    attr = dict(attrs)
    if source:
        f, line, fn = source
        attr["_source"] = [str(f), int(line), str(fn)]
    return attr


def graph_to_graph_def(graph, add_shapes: bool = False) -> GraphDef:
    return GraphDef([node_def_of(op, add_shapes) for op in graph.get_operations()])


def _parse_input(name: str):
    if name.startswith("^"):
        return name[1:], -1
    op, _, idx = name.partition(":")
    if idx and not (idx.isascii() and idx.isdigit()):
        raise ValueError(f"bad tensor name {name!r}: expected 'node', 'node:<output index>' "
                         "or '^node'")
    return op, int(idx) if idx else 0


def _output_of(op, idx: int, what: str):
    """Output `idx` of `op`, or a ValueError naming both (`what`: who asked for it)."""
    if idx >= len(op.outputs):
        raise ValueError(f"{what} names output {idx} of node {op.name!r} ({op.type}), which "
                         f"has {len(op.outputs)} output{'' if len(op.outputs) == 1 else 's'}")
    return op.outputs[idx]


def import_graph_def(graph_def, input_map=None, return_elements=None, name=None,
                     op_dict=None, producer_op_list=None):
    """Add the nodes of `graph_def` to the default graph under scope `name` ('import')."""
    if isinstance(graph_def, (bytes, bytearray)):
        graph_def = GraphDef.FromString(bytes(graph_def))
    if not isinstance(graph_def, GraphDef):
        raise TypeError(f"graph_def must be a GraphDef, got {type(graph_def).__name__}")
    g = get_default_graph()
    input_map = dict(input_map or {})
    mapped = {}
    for k, v in input_map.items():
        op_name, idx = _parse_input(k)
        mapped[(op_name, idx)] = v
    nodes = {n.name: n for n in graph_def.node}
    order, state = [], {}

    def visit(n):  # iterative DFS topological sort
        stack = [(n, iter(nodes[n].input))]
        state[n] = 1
        while stack:
            cur, it = stack[-1]
            for inp in it:
                src, _ = _parse_input(inp)
                if src not in nodes:
                    raise ValueError(f"Node {cur!r} has an input from unknown node {src!r}")
                if state.get(src) == 1:
                    raise ValueError(f"GraphDef has a cycle through {src!r}")
                if src not in state:
                    state[src] = 1
                    stack.append((src, iter(nodes[src].input)))
                    break
            else:
                stack.pop()
                state[cur] = 2
                order.append(cur)

    for n in nodes:
        if n not in state:
            visit(n)
    prefix = "import" if name is None else name
    created = {}
    with g.name_scope(prefix) as scope:
        for nname in order:
            nd = nodes[nname]
            inputs, ctrl = [], []
            for inp in nd.input:
                src, idx = _parse_input(inp)
                if idx < 0:
                    ctrl.append(created[src])
                elif (src, idx) in mapped:
                    inputs.append(convert_to_tensor(mapped[(src, idx)]))
                else:
                    inputs.append(_output_of(created[src], idx,
                                             f"input {inp!r} of node {nd.name!r}"))
            attrs = {k: v for k, v in nd.attr.items() if k not in ("_output_shapes", "_source")}
            src = nd.attr.get("_source")
            source = tuple(src) if isinstance(src, list) and len(src) == 3 else None
            with g.device(nd.device or None):
                op = g.create_op(nd.op, inputs, attrs, name=scope + nd.name + "/",
                                 control_inputs=ctrl, source=source)
            created[nname] = op
    if return_elements is None:
        return None
    out = []
    for r in return_elements:
        src, idx = _parse_input(r)
        op = created[src]
        out.append(op if ":" not in r else _output_of(op, idx, f"return element {r!r}"))
    return out
