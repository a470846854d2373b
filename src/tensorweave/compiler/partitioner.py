"""The partitioner: one subgraph per device, with `_Send`/`_Recv` on every cross-device edge.

Input: the ops of a pruned step (creation order), the placement (op name -> device), the fed
tensors, the fetched tensors and the target ops.  Output: a `Partition` per device that has work:

* every op goes to its device's GraphDef, in creation order (a topological order);
* a data edge from device A to device B becomes one `_Send` on A, placed right after the
  producer (it pushes the tensor as soon as it exists), and one `_Recv` on B, placed right before
  the first consumer on B; one Recv per tensor per destination device, shared by all consumers;
* a control edge from A to B becomes a `_Send` without data input on A (control-dependent on the
  source op) and a `_Recv` of an empty tensor on B that the consumer control-depends on;
* a fed tensor becomes, on each device that reads it, a placeholder `_feed/<tensor>` that the
  master fills (the producer does not run); fetches and targets stay with their device;
* a variable that the step only writes (an initializer's `Assign`) is added to its device's
  partition so the worker can resolve the reference; the worker prunes it from what runs.

Each partition's nodes are listed in the projection of one global topological order, with every
Recv as late as possible and everything that does not need a Recv moved before it
(`_early_first`).  A worker runs it as a dataflow plan (`runtime/executor.py`): what needs no
Recv first, then what each arriving tensor enables, in this order within each group.  Run in this
order alone it could never deadlock either: the earliest waiting Recv's Send is earlier in the
global order (or was moved earlier), so its device reaches it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..framework import dtypes as _dtypes
from ..framework import errors
from ..framework.graphdef import GraphDef, NodeDef, node_def_of
from ..framework.tensor_shape import TensorShape

__all__ = ["Partition", "partition", "count_send_recv"]


@dataclass
class Partition:
    """The subgraph one device runs each step."""

    device: str
    graph_def: GraphDef
    feeds: dict = field(default_factory=dict)     # fed tensor name -> placeholder node name
    fetches: list = field(default_factory=list)   # tensor names returned to the master
    targets: list = field(default_factory=list)   # op names that must run
    sends_to: set = field(default_factory=set)    # devices this partition sends tensors to


def _safe(name: str) -> str:
    return name.replace(":", "_")


def partition(ops, device_of: dict, feeds=(), fetches=(), targets=()) -> dict[str, Partition]:
    """Cut the placed step into per-device partitions (see the module docstring)."""
    fed = {t.name for t in feeds}
    parts: dict[str, Partition] = {}
    nodes: dict[str, list] = {}

    def part(dev) -> Partition:
        if dev not in parts:
            parts[dev] = Partition(dev, GraphDef())
            nodes[dev] = []
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

    for dev_list in (device_of[op.name] for op in ops):
        part(dev_list)
    for src, dev in ref_only.values():
        # the worker needs the variable's node to resolve the reference; it does not run it
        nodes[dev].append(node_def_of(src, add_source=True))
        nodes[dev][-1].device = dev

    def add(dev, nd: NodeDef):
        nd.device = dev
        nodes[dev].append(nd)

    def feed_placeholder(t, dev) -> str:
        p = part(dev)
        name = p.feeds.get(t.name)
        if name is None:
            name = f"_feed/{_safe(t.name)}"
            p.feeds[t.name] = name
            nodes[dev].insert(0, NodeDef(name, "Placeholder", [], dev,
                                         {"dtype": t.dtype, "shape": t.shape}))
        return name

    def recv(key, t, src_dev, dst_dev) -> str:
        name = recv_of.get((key, dst_dev))
        if name is None:
            tname = key
            if t is None:
                name = f"_recv/ctrl/{_safe(key[1:])}"
                attrs = {"dtype": _dtypes.bool, "shape": TensorShape([0])}
            else:
                name = f"_recv/{_safe(tname)}"
                attrs = {"dtype": t.dtype, "shape": t.shape}
            attrs.update(tensor_name=tname, send_device=src_dev, recv_device=dst_dev)
            add(dst_dev, NodeDef(name, "_Recv", [], dst_dev, attrs))
            recv_of[(key, dst_dev)] = name
        return name

    for op in ops:
        dev = device_of[op.name]
        nd = node_def_of(op, add_source=True)
        inputs = []
        for pos, t in enumerate(op._inputs):
            if t.name in fed:
                inputs.append(feed_placeholder(t, dev))
            elif t.op.name in ref_only:
                inputs.append(nd.input[pos])
            elif device_of[t.op.name] != dev:
                inputs.append(recv(t.name, t, device_of[t.op.name], dev))
            else:
                inputs.append(nd.input[pos])
        for c in op._control_inputs:
            if c.name not in op_set:
                continue
            if device_of[c.name] != dev:
                inputs.append("^" + recv("^" + c.name, None, device_of[c.name], dev))
            else:
                inputs.append("^" + c.name)
        nd.input = inputs
        add(dev, nd)
        # push this op's outputs to the devices that read them, right away
        for t, dst in cross.get(op.name, ()):
            key = (t.name if t is not None else "^" + op.name, dst)
            if key in send_done:
                continue
            send_done.add(key)
            tname = key[0]
            attrs = {"tensor_name": tname, "send_device": dev, "recv_device": dst}
            if t is None:
                sname = f"_send/ctrl/{_safe(op.name)}/{_safe(dst)}"
                add(dev, NodeDef(sname, "_Send", ["^" + op.name], dev, attrs))
            else:
                sname = f"_send/{_safe(t.name)}/{_safe(dst)}"
                src_in = op.name if t.value_index == 0 else t.name
                attrs["T"] = t.dtype
                add(dev, NodeDef(sname, "_Send", [src_in], dev, attrs))
            parts[dev].sends_to.add(dst)

    for t in fetches:
        if t.name in fed:
            continue
        parts[device_of[t.op.name]].fetches.append(t.name)
    for op in targets:
        parts[device_of[op.name]].targets.append(op.name)
    for dev, p in parts.items():
        p.graph_def = GraphDef(_early_first(nodes[dev]))
    # a fed tensor that is also fetched but consumed nowhere needs no partition
    return {d: p for d, p in parts.items() if p.graph_def.node or p.fetches or p.targets}


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
        for i in n.input:
            src = i[1:] if i.startswith("^") else i.split(":")[0]
            lv = max(lv, level.get(src, 0))
        level[n.name] = lv
    if not recvs:
        return nodes
    order = sorted(range(len(nodes)), key=lambda k: (level[nodes[k].name], k))
    return [nodes[k] for k in order]


def count_send_recv(parts: dict[str, Partition]) -> tuple[int, int]:
    """(number of _Send nodes, number of _Recv nodes) over all partitions."""
    s = r = 0
    for p in parts.values():
        for n in p.graph_def.node:
            s += n.op == "_Send"
            r += n.op == "_Recv"
    return s, r
