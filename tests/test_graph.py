"""Graph construction: names, scopes, devices, colocation, collections, GraphDef round trip."""
import numpy as np
import pytest

import tensorweave as tw


def test_unique_names_and_name_scopes():
    a = tw.constant(1.0, name="a")
    a1 = tw.constant(2.0, name="a")
    assert a.name == "a:0" and a1.name == "a_1:0"
    with tw.name_scope("layer"):
        c = tw.constant(3.0)
        with tw.name_scope("inner"):
            d = tw.add(c, c)
    with tw.name_scope("layer"):
        e = tw.constant(3.0)
    assert c.name == "layer/Const:0"
    assert d.name == "layer/inner/Add:0"
    assert e.name == "layer_1/Const:0"


def test_name_scope_reset_and_absolute():
    with tw.name_scope("outer"):
        with tw.name_scope(None):
            a = tw.constant(1.0, name="top")
        with tw.name_scope("abs/"):
            b = tw.constant(1.0, name="x")
    assert a.name == "top:0"
    assert b.name == "abs/x:0"


def test_name_scope_returns_scope_string_with_default_name():
    with tw.name_scope(None, "Default", []) as scope:
        assert scope == "Default/"
    with tw.name_scope("given", "Default", []) as scope:
        assert scope == "given/"


def test_get_operation_and_tensor_by_name():
    with tw.name_scope("s"):
        x = tw.constant([1.0, 2.0], name="x")
    g = tw.get_default_graph()
    assert g.get_operation_by_name("s/x") is x.op
    assert g.get_tensor_by_name("s/x:0") is x
    with pytest.raises(KeyError, match="does not exist"):
        g.get_tensor_by_name("s/y:0")
    with pytest.raises(ValueError, match="Tensor names must be of the form"):
        g.get_tensor_by_name("s/x")
    with pytest.raises(KeyError, match="only has 1 outputs"):
        g.get_tensor_by_name("s/x:3")


def test_tensor_and_operation_properties():
    x = tw.placeholder(tw.float32, [None, 3], name="x")
    y = tw.add(x, x, name="y")
    assert x.dtype == tw.float32 and x.shape.as_list() == [None, 3]
    assert x.get_shape()[1] == 3 and x.get_shape()[0].value is None
    assert y.op.type == "Add" and y.op.inputs == [x, x]
    assert y.op.outputs == [y] and y.value_index == 0
    assert x.consumers() == [y.op, y.op]  # one entry per consuming input, as TF1
    assert y.op.get_attr("T") == tw.float32
    with pytest.raises(ValueError, match="no attr named"):
        y.op.get_attr("nope")
    assert "test_graph.py" in y.op.source_line
    with pytest.raises(TypeError, match="Python `bool`"):
        bool(y)


def test_tensor_shape_semantics():
    s = tw.TensorShape([None, 3])
    assert s.ndims == 2 and not s.is_fully_defined()
    assert s.is_compatible_with([5, 3]) and not s.is_compatible_with([5, 4])
    assert s.merge_with([5, None]).as_list() == [5, 3]
    assert tw.TensorShape(None).ndims is None
    with pytest.raises(ValueError):
        s.merge_with([5, 4])
    assert int(s[1]) == 3 and s[1].value == 3 and s[0].value is None


def test_control_dependencies_and_clearing():
    a = tw.constant(1.0)
    b = tw.constant(2.0)
    with tw.control_dependencies([a]):
        c = tw.add(b, b)
        with tw.control_dependencies(None):
            d = tw.add(b, b)
        e = tw.add(a, b)  # a is already a data input: no redundant control edge
    assert c.op.control_inputs == [a.op]
    assert d.op.control_inputs == []
    assert e.op.control_inputs == []


def test_control_dependency_orders_side_effects():
    v = tw.Variable(0.0)
    inc = tw.assign_add(v, 1.0)
    with tw.control_dependencies([inc]):
        read = tw.identity(v)
    with tw.Session() as s:
        s.run(v.initializer)
        assert s.run(read) == 1.0
        assert s.run(read) == 2.0


def test_device_scopes_are_recorded_and_merged():
    with tw.device("/job:worker/task:1"):
        with tw.device("/cpu:0"):
            a = tw.constant(1.0)
        b = tw.constant(1.0)
    assert a.device == "/job:worker/task:1/device:CPU:0"
    assert b.device == "/job:worker/task:1"
    with tw.device(lambda op: "/cpu:0" if op.type == "Const" else ""):
        c = tw.constant(1.0)
    assert c.device == "/device:CPU:0"


def test_colocate_with_sets_class_and_device():
    with tw.device("/cpu:0"):
        v = tw.Variable(1.0, name="v")
    with tw.device("/gpu:0"):
        with tw.colocate_with(v):
            a = tw.identity(v)
    assert a.op.get_attr("_class") == [b"loc:@v"]
    assert a.device == v.device


def test_collections():
    tw.add_to_collection("mine", 1)
    tw.add_to_collections(["mine", "other"], 2)
    assert tw.get_collection("mine") == [1, 2]
    ref = tw.get_collection_ref("other")
    ref.append(3)
    assert tw.get_collection("other") == [2, 3]
    with tw.variable_scope("scope_a"):
        va = tw.Variable(1.0, name="v")
    vb = tw.Variable(1.0, name="v")
    assert tw.get_collection(tw.GraphKeys.GLOBAL_VARIABLES, scope="scope_a") == [va]
    assert tw.global_variables() == [va, vb]


def test_finalize_forbids_new_nodes():
    g = tw.Graph()
    with g.as_default():
        tw.constant(1.0)
        g.finalize()
        with pytest.raises(RuntimeError, match="finalized"):
            tw.constant(2.0)


def test_graph_stack_and_reset():
    g = tw.Graph()
    with g.as_default():
        assert tw.get_default_graph() is g
        with pytest.raises(AssertionError, match="nested graphs"):
            tw.reset_default_graph()
    assert tw.get_default_graph() is not g


def test_mixing_graphs_is_an_error():
    g1, g2 = tw.Graph(), tw.Graph()
    with g1.as_default():
        a = tw.constant(1.0)
    with g2.as_default():
        b = tw.constant(1.0)
        with pytest.raises(ValueError, match="same graph"):
            tw.add(a, b)


def test_shape_and_dtype_errors_at_build_time():
    a = tw.placeholder(tw.float32, [2, 3])
    b = tw.placeholder(tw.float32, [4, 5])
    with pytest.raises(ValueError, match=r"Dimensions must be equal, but are 3 and 4.*\[2,3\], \[4,5\]"):
        tw.matmul(a, b)
    i = tw.placeholder(tw.int32, [2, 3])
    with pytest.raises(TypeError, match="int32 that does not match type float32"):
        tw.add(a, i)
    with pytest.raises(ValueError, match="Cannot reshape a tensor with 6 elements"):
        tw.reshape(a, [4, 2])


# ---------------------------------------------------------------------------------------------
# GraphDef
# ---------------------------------------------------------------------------------------------
def _build_model():
    x = tw.placeholder(tw.float32, [None, 3], name="x")
    w = tw.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    y = tw.reduce_sum(tw.matmul(x, w) * 2.0, name="total")
    s = tw.constant(["a", "bc"], name="strings")
    return x, w, y, s


def test_graph_def_round_trip_through_bytes():
    g = tw.Graph()
    with g.as_default():
        x, w, y, s = _build_model()
        init = tw.global_variables_initializer()
    data = g.as_graph_def().SerializeToString()
    assert isinstance(data, bytes)
    gd = tw.GraphDef.FromString(data)
    assert [n.name for n in gd.node] == [op.name for op in g.get_operations()]
    g2 = tw.Graph()
    with g2.as_default():
        tw.import_graph_def(gd, name="")
    assert [op.name for op in g2.get_operations()] == [op.name for op in g.get_operations()]
    for op1, op2 in zip(g.get_operations(), g2.get_operations()):
        assert op1.type == op2.type
        assert [t.name for t in op1.inputs] == [t.name for t in op2.inputs]
        assert [c.name for c in op1.control_inputs] == [c.name for c in op2.control_inputs]
        assert [o.dtype for o in op1.outputs] == [o.dtype for o in op2.outputs]
        assert [o.shape for o in op1.outputs] == [o.shape for o in op2.outputs]
    xv = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    with tw.Session(graph=g) as s1:
        s1.run(init)
        r1 = s1.run([y, s], {x: xv})
    with tw.Session(graph=g2) as s2:
        s2.run(g2.get_operation_by_name(init.name))
        r2 = s2.run(["total:0", "strings:0"], {"x:0": xv})
    np.testing.assert_allclose(r1[0], r2[0])
    assert list(r1[1]) == list(r2[1]) == [b"a", b"bc"]


def test_import_graph_def_with_prefix_input_map_and_return_elements():
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [2], name="x")
        tw.add(x, 1.0, name="out")
    gd = g.as_graph_def()
    g2 = tw.Graph()
    with g2.as_default():
        feed = tw.constant([1.0, 2.0])
        out, = tw.import_graph_def(gd, input_map={"x:0": feed}, return_elements=["out:0"],
                                   name="imp")
        assert out.name == "imp/out:0"
        with tw.Session() as s:
            np.testing.assert_allclose(s.run(out), [2.0, 3.0])


@pytest.mark.parametrize("junk", [b"", b"\x00\x01garbage", b"\x81\xa4node\x01",
                                  b"\x81\xa3xyz\x90"])
def test_malformed_graph_def_bytes_raise_value_error(junk):
    with pytest.raises(ValueError):
        tw.GraphDef.FromString(junk)


def test_graph_def_rejects_bad_attr_tensor():
    import msgpack
    bad = {"node": [{"name": "c", "op": "Const", "input": [], "device": "",
                     "attr": {"value": {"tensor": {"dtype": "float32", "shape": [4],
                                                   "data": b"\x00" * 3}},
                              "dtype": {"type": "float32"}}}]}
    with pytest.raises(ValueError, match="Malformed tensor"):
        tw.GraphDef.FromString(msgpack.packb(bad))


def test_import_graph_def_input_naming_a_missing_output_names_node_and_input():
    g = tw.Graph()
    with g.as_default():
        c = tw.constant([1.0, 2.0], name="c")
        tw.identity(c, name="out")
    gd = g.as_graph_def()
    node = next(n for n in gd.node if n.name == "out")
    for bad, match in (("c:5", r"input 'c:5' of node 'out' names output 5 of node 'c' \(Const\)"
                               r", which has 1 output"),
                       ("c:x", r"bad tensor name 'c:x'"), ("c:-1", r"bad tensor name 'c:-1'")):
        node.input[0] = bad
        with tw.Graph().as_default(), pytest.raises(ValueError, match=match):
            tw.import_graph_def(gd, name="")
    node.input[0] = "c:0"
    with tw.Graph().as_default(), pytest.raises(ValueError, match="return element 'c:3'"):
        tw.import_graph_def(gd, name="", return_elements=["c:3"])
