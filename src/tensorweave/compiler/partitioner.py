"""The partitioner: one subgraph per device, with `_Send`/`_Recv` on every cross-device edge.

Input: the ops of a pruned step (creation order), the placement (op name -> device), the fed
tensors, the fetched tensors and the target ops.  Output: a `Partition` per device that has work,
as the executor's nodes (`ExecNode`s, which an in-process session compiles directly) and as the
GraphDef a worker is sent (`graph_def`), checked by `validate_partitions`:

* every op goes to its device's GraphDef, in creation order (a topological order);
* a data edge from device A to device B becomes one `_Send` on A, placed right after the
  producer (it pushes the tensor as soon as it exists), and one `_Recv` on B, placed right before
  the first consumer on B; one Recv per tensor per destination device, shared by all consumers;
* a control edge from A to B becomes a `_Send` without data input on A (control-dependent on the
  source op) and a `_Recv` of an empty tensor on B that the consumer control-depends on;
* a fed tensor becomes, on each device that reads it, a placeholder `_feed/<tensor>` that the
  plan's feed fills (the producer does not run); fetches and targets stay with their device;
* a variable that the step only writes (an initializer's `Assign`) is added to its device's
  partition so a worker can resolve the reference (`Partition.ref_only`); it does not run.

Each partition's nodes are listed in the projection of one global topological order, with every
Recv as late as possible and everything that does not need a Recv moved before it
(`_early_first`); within what follows one Recv, what feeds a `_Send` soonest goes first
(`_sends_first`), so a device passes each result on before it starts work nobody waits for.
A worker runs it as a dataflow plan (`runtime/dataflow.py`): what needs no
Recv first, then what each arriving tensor enables, in this order within each group.  Run in this
order alone it could never deadlock either: the earliest waiting Recv's Send is earlier in the
global order (or was moved earlier), so its device reaches it.

`layout` says how a step's feeds and fetches map onto the partitions' (which feed goes to which
partition, which partition returns which fetch, which fetches are fed values).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ..framework import dtypes as _dtypes
from ..framework import errors
from ..framework.device_spec import DeviceSpec
from ..framework.graphdef import GraphDef, NodeDef, with_source
from ..framework.tensor_shape import TensorShape
from .exec_nodes import ExecNode, exec_node_of
from .placer import default_has_kernel

__all__ = ["Partition", "StepLayout", "partition", "validate_partitions", "layout",
           "count_send_recv"]


@dataclass
class Partition:
    """The subgraph one device runs each step."""

    device: str
    nodes: list = field(default_factory=list)     # ExecNodes, in run order
    feeds: dict = field(default_factory=dict)     # fed tensor name -> placeholder node name
    fetches: list = field(default_factory=list)   # tensor names returned to the master
    targets: list = field(default_factory=list)   # op names that must run
    sends_to: set = field(default_factory=set)    # devices this partition sends tensors to
    #: variable nodes present only so a worker can resolve the references written here
    ref_only: set = field(default_factory=set)
    _graph_def: GraphDef | None = None

    @property
    def graph_def(self) -> GraphDef:
        """The partition as a GraphDef (what a worker is sent; `RunMetadata.partition_graphs`)."""
        if self._graph_def is None:
            self._graph_def = GraphDef([_node_def(n) for n in self.nodes])
        return self._graph_def

    def run_nodes(self) -> list:
        """The nodes an in-process plan compiles: all but the fed placeholders (their values
        are the plan's arguments) and the variables kept only for their references."""
        fed = set(self.feeds.values())
        return [n for n in self.nodes if n.name not in fed and n.name not in self.ref_only]


def _node_def(n: ExecNode) -> NodeDef:
    return NodeDef(n.name, n.op, n.input, n.device, with_source(n.attr, n.source))


def _safe(name: str) -> str:
    return name.replace(":", "_")


def partition(ops, device_of: dict, feeds=(), fetches=(), targets=()) -> dict[str, Partition]:
    """Cut the placed step into per-device partitions (see the module docstring), checked by
    `validate_partitions`."""
    fed = {t.name for t in feeds}
    fed_keys = {(t.op.name, t.value_index) for t in feeds}
    parts: dict[str, Partition] = {}

    def part(dev) -> Partition:
        if dev not in parts:
            parts[dev] = Partition(dev)
        return parts[dev]

    op_set = {op.name for op in ops}
    recv_of: dict[tuple, str] = {}     # (tensor name or ^op, dst device) -> recv node name
    send_done: set = set()             # (tensor name or ^op, dst device)
    # consumers per (tensor, device), to know where to send
    cross: dict[str, list] = {}        # producer op name -> [(tensor|None, dst device)]
    ref_only: dict = {}                # variable op read only by reference -> its device
    for op in ops:
        dev = device_of[op.name]
        for pos, t in enumerate(op._inputs):
            src = t.op
            if t.name in fed:
                continue
            if src.name not in op_set:
                if pos in op.op_def.ref_inputs and src.op_def.is_variable:
                    ref_only.setdefault(src.name, (src, dev))  # assign to a variable: the
                    continue                                  # variable node names its state
                raise errors.InternalError(None, op.name, f"Partition error: input {t.name} of "
                                           f"{op.name!r} is not part of the step")
            sdev = device_of[src.name]
            if sdev != dev:
                if pos in op.op_def.ref_inputs:
                    raise errors.InvalidArgumentError(
                        None, op.name, f"{op.type} node {op.name!r} on {dev} writes variable "
                        f"{src.name!r} on {sdev}: an op taking a variable by reference must be "
                        "placed with it (colocate it with the variable)")
                cross.setdefault(src.name, []).append((t, dev))
        for c in op._control_inputs:
            if c.name in op_set and device_of[c.name] != dev:
                cross.setdefault(c.name, []).append((None, dev))

    for op in ops:
        part(device_of[op.name])
    for src, dev in ref_only.values():
        # the worker needs the variable's node to resolve the reference; it does not run it
        part(dev).nodes.append(exec_node_of(src, dev))
        parts[dev].ref_only.add(src.name)

    def feed_placeholder(t, dev) -> str:
        p = part(dev)
        name = p.feeds.get(t.name)
        if name is None:
            name = f"_feed/{_safe(t.name)}"
            p.feeds[t.name] = name
            p.nodes.insert(0, ExecNode(name, "Placeholder", {"dtype": t.dtype, "shape": t.shape},
                                       [], [], dev, [t.dtype], [t.shape]))
        return name

    def recv(key, t, src_dev, dst_dev) -> str:
        name = recv_of.get((key, dst_dev))
        if name is None:
            if t is None:
                name = f"_recv/ctrl/{_safe(key[1:])}"
                dtype, shape = _dtypes.bool, TensorShape([0])
            else:
                name = f"_recv/{_safe(key)}"
                dtype, shape = t.dtype, t.shape
            attrs = {"dtype": dtype, "shape": shape, "tensor_name": key,
                     "send_device": src_dev, "recv_device": dst_dev}
            part(dst_dev).nodes.append(ExecNode(name, "_Recv", attrs, [], [], dst_dev, [dtype],
                                                [shape]))
            recv_of[(key, dst_dev)] = name
        return name

    for op in ops:
        dev = device_of[op.name]
        inputs = []
        for t in op._inputs:
            if t.name in fed:
                inputs.append((feed_placeholder(t, dev), 0))
            elif t.op.name not in ref_only and device_of[t.op.name] != dev:
                inputs.append((recv(t.name, t, device_of[t.op.name], dev), 0))
            else:
                inputs.append((t.op.name, t.value_index))
        control = []
        for c in op._control_inputs:
            if c.name not in op_set:
                continue
            if device_of[c.name] != dev:
                control.append(recv("^" + c.name, None, device_of[c.name], dev))
            else:
                control.append(c.name)
        parts[dev].nodes.append(exec_node_of(op, dev, inputs, control, fed=fed_keys))
        # push this op's outputs to the devices that read them, right away
        for t, dst in cross.get(op.name, ()):
            key = (t.name if t is not None else "^" + op.name, dst)
            if key in send_done:
                continue
            send_done.add(key)
            attrs = {"tensor_name": key[0], "send_device": dev, "recv_device": dst}
            if t is None:
                send = ExecNode(f"_send/ctrl/{_safe(op.name)}/{_safe(dst)}", "_Send", attrs, [],
                                [op.name], dev)
            else:
                attrs["T"] = t.dtype
                send = ExecNode(f"_send/{_safe(t.name)}/{_safe(dst)}", "_Send", attrs,
                                [(op.name, t.value_index)], [], dev)
            parts[dev].nodes.append(send)
            parts[dev].sends_to.add(dst)

    for t in fetches:
        if t.name in fed:
            continue
        parts[device_of[t.op.name]].fetches.append(t.name)
    for op in targets:
        parts[device_of[op.name]].targets.append(op.name)
    for p in parts.values():
        p.nodes = _sends_first(_early_first(p.nodes))
    # a fed tensor that is also fetched but consumed nowhere needs no partition
    parts = {d: p for d, p in parts.items() if p.nodes or p.fetches or p.targets}
    validate_partitions(parts)
    return parts


def _early_first(nodes: list) -> list:
    """Reorder a partition so each node runs as soon as the `_Recv`s it needs allow.

    A node's level is the position of the last `_Recv` it depends on (0 when none); a stable sort
    by level keeps the `_Recv`s in their order and moves everything else before the first
    `_Recv` it does not need.  Nodes only ever move earlier relative to `_Recv`s, so `_Send`s
    only happen earlier: deadlock-freedom (module docstring) is kept, and a device works on what
    it can while a tensor from another device is on its way."""
    level: dict[str, int] = {}
    recvs = 0
    for n in nodes:
        if n.op == "_Recv":
            recvs += 1
            level[n.name] = recvs
            continue
        lv = 0
        for src in [s for s, _ in n.inputs] + list(n.control):
            lv = max(lv, level.get(src, 0))
        level[n.name] = lv
    if not recvs:
        return nodes
    order = sorted(range(len(nodes)), key=lambda k: (level[nodes[k].name], k))
    return [nodes[k] for k in order]


def _sends_first(nodes: list) -> list:
    """Within each run of nodes after the same `_Recv` (what `_early_first` made contiguous),
    put first what feeds a `_Send` soonest: a list schedule that among the nodes whose inputs
    have run takes the one fewest nodes away from a `_Send` (then the earlier one).

    Creation order can hold a device's whole part of a pipeline before the nodes that pass its
    results on: a layer's time chunks are made one after another and only then each chunk's
    outputs split into steps (`static_rnn`), so the next device would wait for the last chunk
    instead of the first.  Only nodes of one run move, relative to each other, so the runs and
    the `_Recv`s keep their order (the deadlock argument of the module docstring holds)."""
    if not any(n.op == "_Send" for n in nodes):
        return nodes
    index = {n.name: i for i, n in enumerate(nodes)}
    deps = [[index[s] for s in [s for s, _ in n.inputs] + list(n.control) if s in index]
            for n in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    far = len(nodes) + 1
    dist = [0 if n.op == "_Send" else far for n in nodes]
    for i in range(len(nodes) - 1, -1, -1):          # users come later in a topological order
        for u in users[i]:
            dist[i] = min(dist[i], dist[u] + 1)
    level, run = [], 0
    for n in nodes:
        run += n.op == "_Recv"
        level.append(run)
    waiting = [len(set(ds)) for ds in deps]
    ready = [(level[i], -1 if nodes[i].op == "_Recv" else dist[i], i)
             for i in range(len(nodes)) if not waiting[i]]
    heapq.heapify(ready)
    out = []
    while ready:
        _, _, i = heapq.heappop(ready)
        out.append(nodes[i])
        for u in set(users[i]):
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready, (level[u], -1 if nodes[u].op == "_Recv" else dist[u], u))
    if len(out) != len(nodes):
        raise errors.InternalError(None, None,
                                   "partitioner: a dependency cycle while ordering a partition")
    return out


def validate_partitions(parts: dict[str, Partition], has_kernel=None) -> None:
    """Check the partitioner's output: in each partition every node is on its device, whose
    backend has the node's kernel (`has_kernel(device_type, op_type)`, default the placer's),
    node names are unique and every input (data or control) is produced earlier in the same
    partition; every `_Send` has one `_Recv` on its destination with the same key and the
    tensor's dtype, and a static shape that the sent tensor's fits, and every `_Recv` its
    `_Send`.  Raises `InternalError` naming the node."""
    has_kernel = has_kernel or default_has_kernel

    def fail(n, why):
        raise errors.InternalError(None, n.name, f"Partition error: {n.op} node {n.name!r} on "
                                   f"{n.device}: {why}")

    sends, recvs = {}, {}
    for dev, p in parts.items():
        dtype = DeviceSpec.from_string(dev).device_type
        made: dict[str, ExecNode] = {}
        for n in p.nodes:
            if n.device != dev:
                fail(n, f"it is in the partition of {dev}")
            if n.name in made:
                fail(n, "its name is used twice in the partition")
            if n.name not in p.ref_only and not has_kernel(dtype, n.op):
                fail(n, f"no {dtype} kernel for {n.op}")
            for src, i in n.inputs:
                prod = made.get(src)
                if prod is None:
                    fail(n, f"input {src}:{i} is not produced before it in the partition")
                if i >= len(prod.out_dtypes):
                    fail(n, f"input {src}:{i} names an output {src} does not have")
            for c in n.control:
                if c not in made:
                    fail(n, f"control input {c} does not run before it in the partition")
            made[n.name] = n
            if n.op in ("_Send", "_Recv"):
                key = (n.attr["tensor_name"], n.attr["send_device"], n.attr["recv_device"])
                table = sends if n.op == "_Send" else recvs
                if key in table:
                    fail(n, f"a second {n.op} for tensor {key[0]} from {key[1]} to {key[2]}")
                if dev != key[1 if n.op == "_Send" else 2]:
                    fail(n, f"its key {key} does not start/end on its device")
                table[key] = (n, made)
    for key, (s, made) in sends.items():
        if key not in recvs:
            fail(s, f"no _Recv on {key[2]} takes tensor {key[0]}")
        r = recvs[key][0]
        if s.inputs:
            src, i = s.inputs[0]
            dt, shp = made[src].out_dtypes[i], made[src].out_shapes[i]
            if r.attr["dtype"] is not dt or s.attr.get("T") is not dt:
                fail(r, f"receives {key[0]} as {r.attr['dtype'].name} but {s.name!r} sends "
                     f"{dt.name}")
            if not r.attr["shape"].is_compatible_with(shp):
                fail(r, f"receives {key[0]} with shape {r.attr['shape']} but {s.name!r} sends "
                     f"shape {shp}")
    for key, (r, _) in recvs.items():
        if key not in sends:
            fail(r, f"no _Send on {key[1]} sends tensor {key[0]}")


@dataclass
class StepLayout:
    """How a step's feeds and fetches map onto its partitions (see `layout`)."""

    #: per partition device: the step's feed positions, in the order of `Partition.feeds`
    feed_index: dict = field(default_factory=dict)
    #: per partition device: for each of its fetch names, the step's fetch positions
    fetch_index: dict = field(default_factory=dict)
    #: fetch position -> feed position, for fetched tensors that are fed
    fed_fetches: dict = field(default_factory=dict)


def layout(parts: dict[str, Partition], feeds, fetches) -> StepLayout:
    """The `StepLayout` of a step with `feeds`/`fetches` (Tensors) cut into `parts`."""
    feed_pos = {t.name: i for i, t in enumerate(feeds)}
    fetch_pos: dict = {}
    for i, t in enumerate(fetches):
        fetch_pos.setdefault(t.name, []).append(i)
    out = StepLayout()
    for i, t in enumerate(fetches):
        if t.name in feed_pos:
            out.fed_fetches[i] = feed_pos[t.name]
    for dev, p in parts.items():
        out.feed_index[dev] = [feed_pos[t] for t in p.feeds]
        out.fetch_index[dev] = [fetch_pos[n] for n in dict.fromkeys(p.fetches)]
    return out


def count_send_recv(parts: dict[str, Partition]) -> tuple[int, int]:
    """(number of _Send nodes, number of _Recv nodes) over all partitions."""
    s = r = 0
    for p in parts.values():
        for n in p.nodes:
            s += n.op == "_Send"
            r += n.op == "_Recv"
    return s, r
