"""The partitioner: one subgraph per device, Send/Recv pairs counted on cross-device edges."""
import pytest

import tensorweave as tw
from tensorweave.compiler.partitioner import count_send_recv, partition

D0 = "/job:localhost/replica:0/task:0/device:CPU:0"
D1 = "/job:localhost/replica:0/task:0/device:CPU:1"


def _placed(devs):
    ops = tw.get_default_graph().get_operations()
    return ops, {op.name: devs.get(op.name, D0) for op in ops}


def _names(p):
    return [n.name for n in p.graph_def.node]


def test_one_send_recv_pair_per_tensor_and_destination():
    a = tw.constant([1.0, 2.0], name="a")
    b = tw.add(a, 1.0, name="b")          # on D1: reads a from D0
    c = tw.multiply(a, 2.0, name="c")     # on D1: reads a again -> same Recv
    d = tw.add(b, c, name="d")            # on D0: reads b and c from D1
    ops, dev = _placed({"b": D1, "c": D1, "b/y": D1, "c/y": D1})
    parts = partition(ops, dev, fetches=[d])
    assert set(parts) == {D0, D1}
    assert count_send_recv(parts) == (3, 3)  # a -> D1 once; b, c -> D0
    p1 = parts[D1]
    recv = [n for n in p1.graph_def.node if n.op == "_Recv"]
    assert len(recv) == 1 and recv[0].attr["tensor_name"] == "a:0"
    assert recv[0].attr["send_device"] == D0 and recv[0].attr["recv_device"] == D1
    assert recv[0].attr["dtype"] == tw.float32 and recv[0].attr["shape"] == tw.TensorShape([2])
    # the Recv comes right before its first consumer; each Send right after its producer
    names0 = _names(parts[D0])
    assert names0.index("_send/a_0/" + D1.replace(":", "_")) == names0.index("a") + 1
    assert parts[D0].fetches == ["d:0"]


def test_control_edges_cross_as_empty_tensors():
    a = tw.constant(1.0, name="a")
    with tw.control_dependencies([a]):
        b = tw.constant(2.0, name="b")
    ops, dev = _placed({"b": D1})
    parts = partition(ops, dev, fetches=[b])
    assert count_send_recv(parts) == (1, 1)
    send = [n for n in parts[D0].graph_def.node if n.op == "_Send"][0]
    assert send.input == ["^a"]
    bnode = [n for n in parts[D1].graph_def.node if n.name == "b"][0]
    assert bnode.input == ["^_recv/ctrl/a"]


def test_fed_tensors_become_placeholders_on_each_reader():
    x = tw.placeholder(tw.float32, [3], name="x")
    y = tw.square(x, name="y")
    z = tw.negative(x, name="z")
    all_ops = tw.get_default_graph().get_operations()
    ops = [o for o in all_ops if o.name != "x"]
    dev = {"y": D0, "z": D1}
    parts = partition(ops, dev, feeds=[x], fetches=[y, z])
    assert count_send_recv(parts) == (0, 0)
    assert parts[D0].feeds == {"x:0": "_feed/x_0"} and parts[D1].feeds == {"x:0": "_feed/x_0"}


def test_gradient_of_a_cross_device_edge_crosses_back():
    with tw.device(D0):
        w = tw.Variable([1.0, 2.0], name="w")
    with tw.device(D1):
        y = tw.reduce_sum(w * w, name="y")
        g, = tw.gradients(y, [w])
    with tw.device(D0):
        upd = tw.assign_sub(w, g, name="update")
    ops = [op for op in tw.get_default_graph().get_operations()
           if not op.name.startswith("w/Assign") and not op.name.startswith("w/initial")]
    dev = {op.name: (D1 if op.device.endswith("CPU:1") else D0) for op in ops}
    parts = partition(ops, dev, targets=[upd.op])
    s0 = [n for n in parts[D0].graph_def.node if n.op == "_Send"]
    s1 = [n for n in parts[D1].graph_def.node if n.op == "_Send"]
    assert [n.attr["recv_device"] for n in s0] == [D1]   # w forward: D0 -> D1
    assert [n.attr["recv_device"] for n in s1] == [D0]   # its gradient: D1 -> D0
    assert s1[0].input == [g.op.name]


def test_ref_edges_must_stay_with_the_variable():
    v = tw.Variable(1.0, name="v")
    a = tw.assign_add(v, 1.0, name="inc")
    ops, dev = _placed({"inc": D1})
    with pytest.raises(tw.errors.InvalidArgumentError, match="by reference"):
        partition(ops, dev, targets=[a.op])


def test_partitions_serialise():
    a = tw.constant([1.0], name="a")
    b = tw.add(a, a, name="b")
    ops, dev = _placed({"b": D1})
    parts = partition(ops, dev, fetches=[b])
    for p in parts.values():
        data = p.graph_def.SerializeToString()
        back = tw.GraphDef.FromString(data)
        assert [n.name for n in back.node] == _names(p)


def test_work_that_needs_no_recv_comes_first():
    a = tw.constant([1.0], name="a")              # on D0, sent to D1
    b = tw.square(a, name="b")                    # D1: needs the Recv
    c = tw.constant([2.0], name="c")              # D1: independent
    d = tw.square(c, name="d")                    # D1: independent, created after b
    ops, dev = _placed({"b": D1, "c": D1, "d": D1})
    parts = partition(ops, dev, fetches=[b, d])
    names = _names(parts[D1])
    assert names.index("d") < names.index("_recv/a_0") < names.index("b")


def test_what_feeds_a_send_runs_before_work_that_does_not():
    """Chunks made one after another and only then passed on (static_rnn's shape): the first
    chunk's result leaves before the second chunk runs, so the other device can start."""
    x = tw.constant([[1.0, 2.0]], name="x")
    c0 = tw.square(x, name="chunk0")
    c1 = tw.square(c0, name="chunk1")
    c2 = tw.square(c1, name="chunk2")
    outs = [tw.identity(c, name=f"out{k}") for k, c in enumerate((c0, c1, c2))]
    consumers = [tw.negative(o, name=f"next{k}") for k, o in enumerate(outs)]   # on D1
    ops, dev = _placed({f"next{k}": D1 for k in range(3)})
    parts = partition(ops, dev, fetches=consumers)
    names = _names(parts[D0])
    send0 = next(n for n in names if n.startswith("_send/out0"))
    assert names.index("out0") < names.index(send0) < names.index("chunk1")
    assert names.index("chunk1") < names.index("out1") < names.index("chunk2")


def _two_device_parts():
    a = tw.constant([1.0, 2.0], name="a")
    b = tw.add(a, 1.0, name="b")
    c = tw.multiply(b, 2.0, name="c")
    ops, dev = _placed({"b": D1, "b/y": D1})
    return partition(ops, dev, fetches=[c])


def _node(p, name):
    return next(n for n in p.nodes if n.name == name)


def test_partitions_are_validated_and_a_broken_one_names_its_node():
    import copy

    from tensorweave.compiler.partitioner import validate_partitions
    parts = _two_device_parts()
    validate_partitions(parts)  # what partition() returns is valid (it checks it too)

    def broken(edit):
        bad = copy.deepcopy(parts)
        edit(bad)
        with pytest.raises(tw.errors.InternalError) as e:
            validate_partitions(bad)
        return str(e.value)

    recv = "_recv/a_0"
    send = "_send/a_0/" + D1.replace(":", "_")
    # a _Recv whose _Send is gone
    msg = broken(lambda b: b[D0].nodes.remove(_node(b[D0], send)))
    assert recv in msg and "no _Send" in msg
    # a _Recv that declares another dtype than the tensor sent
    msg = broken(lambda b: _node(b[D1], recv).attr.update(dtype=tw.int32))
    assert recv in msg and "float32" in msg
    # a _Recv that declares an incompatible shape
    msg = broken(lambda b: _node(b[D1], recv).attr.update(shape=tw.TensorShape([3])))
    assert recv in msg and "shape" in msg
    # a node moved before its input: not in topological order
    def swap(b):
        nodes = b[D1].nodes
        i, j = nodes.index(_node(b[D1], recv)), nodes.index(_node(b[D1], "b"))
        nodes[i], nodes[j] = nodes[j], nodes[i]
    msg = broken(swap)
    assert "'b'" in msg and "not produced before it" in msg
    # a node that is not on its partition's device
    msg = broken(lambda b: setattr(_node(b[D0], "c"), "device", D1))
    assert "'c'" in msg and "partition of" in msg
    # a node whose device type has no kernel for it
    with pytest.raises(tw.errors.InternalError, match=r"'c'.*no CPU kernel for Mul"):
        validate_partitions(parts, has_kernel=lambda dt, op: op != "Mul")


def test_in_process_partition_graphs_are_returned():
    x = tw.placeholder(tw.float32, [2], name="x")
    y = tw.square(x, name="y")
    opts = tw.RunOptions(output_partition_graphs=True)
    meta = tw.RunMetadata()
    with tw.Session() as s:
        s.run(y, {x: [1.0, 2.0]}, options=opts, run_metadata=meta)
    (gd,) = meta.partition_graphs
    names = [n.name for n in gd.node]
    assert "y" in names and "_feed/x_0" in names
    assert all(n.device == D0 for n in gd.node)
