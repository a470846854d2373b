"""Session.run: fetch structures, feeds, errors, plan caching, buffer freeing, options."""
import collections
import gc
import sys
import weakref

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework.op_registry import register_op
from tensorweave.kernels.cpu import KERNELS as CPU_KERNELS
from tensorweave.ops.op_util import op1, unchanged_shape


def test_nested_fetch_structures():
    a = tw.constant(1.0)
    b = tw.constant([2, 3])
    noop = tw.no_op()
    Pair = collections.namedtuple("Pair", ["x", "y"])
    with tw.Session() as s:
        r = s.run({"a": a, "nested": [b, (a, noop)], "nt": Pair(a, b)})
    assert r["a"] == 1.0 and isinstance(r["a"], np.float32)
    np.testing.assert_array_equal(r["nested"][0], [2, 3])
    assert isinstance(r["nested"][1], tuple) and r["nested"][1][1] is None
    assert isinstance(r["nt"], Pair) and r["nt"].x == 1.0
    with tw.Session() as s:
        assert s.run(noop) is None
        assert s.run([a, a]) == [1.0, 1.0]
        assert s.run("Const:0") == 1.0


def test_fetch_none_and_bad_fetch():
    with tw.Session() as s:
        with pytest.raises(TypeError, match="None"):
            s.run(None)
        with pytest.raises(TypeError, match="invalid type"):
            s.run(3.5)
        with pytest.raises(ValueError, match="cannot be interpreted"):
            s.run("nope:0")


def test_feed_any_tensor_and_intermediate():
    x = tw.placeholder(tw.float32, [2])
    y = x * 2.0
    z = y + 1.0
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(z, {x: [1.0, 2.0]}), [3.0, 5.0])
        np.testing.assert_allclose(s.run(z, {y: [10.0, 20.0]}), [11.0, 21.0])
        np.testing.assert_allclose(s.run(z, {"Placeholder:0": [0.0, 0.0]}), [1.0, 1.0])


def test_bad_feeds_name_the_placeholder():
    x = tw.placeholder(tw.float32, [None, 2], name="images")
    y = x + 1.0
    with tw.Session() as s:
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\) for Tensor 'images:0', which has shape '\(\?, 2\)'"):
            s.run(y, {x: np.zeros(3)})
        with pytest.raises(ValueError, match="images:0"):
            s.run(y, {x: [["a", "b"]]})
        with pytest.raises(TypeError, match="cannot be a tw.Tensor"):
            s.run(y, {x: tw.constant([[1.0, 2.0]])})
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key"):
            s.run(y, {"nothere:0": 1.0})
    i = tw.placeholder(tw.int32, [2], name="ids")
    with tw.Session() as s:
        with pytest.raises(ValueError, match="ids:0"):
            s.run(i + 1, {i: [1.5, 2.0]})
        with pytest.raises(ValueError, match="out of range"):
            s.run(i + 1, {i: [2**40, 1]})


def test_missing_feed_is_an_error_naming_the_placeholder():
    x = tw.placeholder(tw.float32, [None, 2], name="inputs")
    with tw.Session() as s:
        with pytest.raises(tw.errors.InvalidArgumentError,
                           match=r"You must feed a value for placeholder tensor 'inputs' with "
                                 r"dtype float32 and shape \[\?,2\]"):
            s.run(x * 2.0)


def test_placeholder_with_default():
    d = tw.placeholder_with_default(tw.constant([1.0, 2.0]), [2])
    y = d * 3.0
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(y), [3.0, 6.0])
        np.testing.assert_allclose(s.run(y, {d: [0.0, 1.0]}), [0.0, 3.0])


def test_kernel_failure_names_node_type_device_and_source_line():
    x = tw.placeholder(tw.float32, [None])
    y = tw.reshape(x, [2, 2], name="bad_reshape")  # line of interest
    with tw.Session() as s:
        with pytest.raises(tw.errors.InvalidArgumentError) as ei:
            s.run(y, {x: np.zeros(3, np.float32)})
    msg = str(ei.value)
    assert "bad_reshape" in msg and "(op Reshape)" in msg and "CPU:0" in msg
    assert "test_session.py" in msg


def test_uninitialized_variable_error():
    v = tw.Variable([1.0, 2.0], name="weights")
    with tw.Session() as s:
        with pytest.raises(tw.errors.FailedPreconditionError,
                           match="Attempting to use uninitialized value weights"):
            s.run(v * 2.0)


def test_plans_are_cached_per_signature():
    x = tw.placeholder(tw.float32, [])
    y = x + 1.0
    with tw.Session() as s:
        s.run(y, {x: 1.0})
        s.run(y, {x: 2.0})
        assert len(s._plans) == 1
        s.run([y], {x: 1.0})
        assert len(s._plans) == 2


def test_fetched_values_do_not_alias_state():
    v = tw.Variable(np.zeros(3, np.float32))
    c = tw.constant([1.0, 2.0])
    with tw.Session() as s:
        s.run(v.initializer)
        got = s.run(v)
        got[:] = 7.0
        np.testing.assert_allclose(s.run(v), [0, 0, 0])
        cv = s.run(c)
        cv[0] = 9.0
        np.testing.assert_allclose(s.run(c), [1.0, 2.0])


# --- a test-only op pair proving that buffers are freed after their last consumer -------------
_LIVE = {}


@register_op("TestMakeBuffer")
def _mk_shape(op):
    return [(tw.float64, tw.TensorShape([4]))]


register_op("TestProbeFreed")(unchanged_shape)


def _make_buffer(node, ctx):
    def make():
        a = np.ones(4)
        _LIVE["ref"] = weakref.ref(a)
        return a
    return make


def _probe(node, ctx):
    def probe(x):
        _LIVE["alive_at_probe"] = _LIVE["ref"]() is not None
        return x
    return probe


CPU_KERNELS["TestMakeBuffer"] = _make_buffer
CPU_KERNELS["TestProbeFreed"] = _probe


def test_buffers_are_freed_after_last_consumer():
    a = op1("TestMakeBuffer", [], None, "make")
    b = tw.cast(a, tw.float32)        # last consumer of a (a new buffer: no donation)
    with tw.control_dependencies([b]):
        c = op1("TestProbeFreed", [b], None, "probe")
    assert b.dtype == tw.float32
    with tw.Session() as s:
        s.run(c)
    assert _LIVE["alive_at_probe"] is False
    gc.collect()


def test_closed_session_and_context_manager_default():
    a = tw.constant(2.0)
    s = tw.Session()
    s.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        s.run(a)
    with tw.Session() as s2:
        assert tw.get_default_session() is s2
        assert a.eval() == 2.0
    assert tw.get_default_session() is None
    with pytest.raises(ValueError, match="No default session"):
        a.eval()


def test_interactive_session_eval_and_op_run():
    v = tw.Variable(3.0)
    sess = tw.InteractiveSession()
    try:
        v.initializer.run()
        assert v.eval() == 3.0
        assert (v * 2.0).eval() == 6.0
    finally:
        sess.close()
    assert tw.get_default_session() is None


def test_session_of_other_graph_rejected_by_eval():
    g = tw.Graph()
    with g.as_default():
        a = tw.constant(1.0)
    with tw.Session() as s:
        with pytest.raises(ValueError, match="graph is different"):
            a.eval(session=s)


def test_config_and_options_objects():
    cfg = tw.ConfigProto(log_device_placement=False, allow_soft_placement=True,
                         device_count={"CPU": 1}, inter_op_parallelism_threads=1)
    assert cfg.allow_soft_placement and cfg.device_count == {"CPU": 1}
    cfg.gpu_options.allow_growth = True
    with pytest.raises(ValueError, match='has no "bogus" field'):
        tw.ConfigProto(bogus=1)
    opts = tw.RunOptions(trace_level=tw.RunOptions.FULL_TRACE, output_partition_graphs=True)
    md = tw.RunMetadata()
    x = tw.placeholder(tw.float32, [])
    y = x * 3.0
    with tw.Session(config=cfg) as s:
        assert s.run(y, {x: 2.0}, options=opts, run_metadata=md) == 6.0
    names = [n.node_name for n in md.step_stats.dev_stats[0].node_stats]
    assert y.op.name in names
    assert len(md.partition_graphs) == 1


def test_device_placement_errors_and_soft_placement(caplog):
    with tw.device("/gpu:0"):
        a = tw.constant(1.0, name="on_gpu")
        b = a * 2.0
    with tw.Session() as s:
        with pytest.raises(tw.errors.InvalidArgumentError,
                           match="Cannot assign a device for operation on_gpu"):
            s.run(b)
    cfg = tw.ConfigProto(allow_soft_placement=True, log_device_placement=True)
    with caplog.at_level("INFO", logger="tensorweave.placement"):
        with tw.Session(config=cfg) as s:
            assert s.run(b) == 2.0
    lines = [r.getMessage() for r in caplog.records if r.name == "tensorweave.placement"]
    assert "on_gpu (Const): /job:localhost/replica:0/task:0/device:CPU:0" in lines


def test_make_callable_and_list_devices():
    x = tw.placeholder(tw.float32, [])
    y = x * x
    with tw.Session() as s:
        f = s.make_callable(y, [x])
        assert f(3.0) == 9.0
        devs = s.list_devices()
        assert devs[0].name.endswith("CPU:0") and devs[0].device_type == "CPU"


def test_indexed_slices_fetch_returns_value_tuple():
    vals = tw.constant([[1.0, 2.0]])
    idx = tw.constant([1])
    sl = tw.IndexedSlices(vals, idx, tw.constant([3, 2]))
    with tw.Session() as s:
        r = s.run(sl)
    assert isinstance(r, tw.IndexedSlicesValue)
    np.testing.assert_array_equal(r.indices, [1])
    np.testing.assert_array_equal(r.dense_shape, [3, 2])


def test_threads_can_run_the_same_session():
    import threading
    x = tw.placeholder(tw.float64, [100])
    y = tw.reduce_sum(x * 2.0)
    errors = []
    with tw.Session() as s:
        def work(k):
            try:
                for i in range(200):
                    v = np.full(100, float(k + i))
                    assert s.run(y, {x: v}) == 200.0 * (k + i)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
    assert not errors


def test_dead_buffers_are_reused_in_place():
    a = op1("TestMakeBuffer", [], None, "make")
    b = a * 2.0                        # a dies here: Mul writes into its buffer
    with tw.Session() as s:
        r = s.run(b)
    assert _LIVE["ref"]() is r         # the fetched array is the buffer TestMakeBuffer allocated
    np.testing.assert_array_equal(r, 2.0)


def test_numerical_warnings_name_the_node_and_its_line():
    x = tw.placeholder(tw.float32, [2])
    y = tw.divide(1.0, x, name="ratio")
    line = sys._getframe().f_lineno - 1
    with tw.Session() as s:
        with pytest.warns(RuntimeWarning, match=r"divide by zero .*\[\[node ratio \(op RealDiv\) "
                                                r"on /job:localhost/.*CPU:0, defined at ") as w:
            s.run(y, {x: np.array([0.0, 1.0], np.float32)})
    rec = [m for m in w if "ratio" in str(m.message)][0]
    assert (rec.filename, rec.lineno) == (__file__, line)


def test_numerical_warnings_inside_a_loop_body_name_the_body_node():
    x = tw.placeholder(tw.float32, [])
    out = tw.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, tw.log(v - 1.0, name="body_log")),
                        [tw.constant(0), x])
    with tw.Session() as s:
        with pytest.warns(RuntimeWarning, match=r"\[\[node .*body_log \(op Log\)"):
            s.run(out, {x: 1.0})


def test_only_numerical_warnings_of_kernel_code_are_rewritten():
    import warnings

    from tensorweave.runtime import kernel_errors
    plan_file = kernel_errors.PLAN_FILE_PREFIX + "1>"

    def msg(category, filename):
        return warnings.WarningMessage(category("x"), category, filename, 1)
    assert kernel_errors._from_a_kernel(msg(RuntimeWarning, plan_file))
    assert kernel_errors._from_a_kernel(msg(RuntimeWarning, kernel_errors._KERNELS_DIR + "m.py"))
    assert not kernel_errors._from_a_kernel(msg(ResourceWarning, plan_file))
    assert not kernel_errors._from_a_kernel(msg(UserWarning, plan_file))
    assert not kernel_errors._from_a_kernel(msg(RuntimeWarning, "/home/user/train.py"))


@pytest.mark.parametrize("kind", ["CPU", "MARKED"])
def test_fetched_strings_do_not_alias_the_graph_or_variables(kind):
    from tensorweave.test import marked_backend
    marked_backend.install()
    c = tw.constant([b"a", b"b"])
    v = tw.Variable([b"x", b"y"])
    cfg = tw.ConfigProto(device_count={"CPU": 0, "MARKED": 1} if kind == "MARKED" else {})
    with tw.Session(config=cfg) as s:
        s.run(v.initializer)
        got_c, got_v = s.run([c, v])
        got_c[0] = b"changed"
        got_v[0] = b"changed"
        assert s.run(c).tolist() == [b"a", b"b"]
        assert s.run(v).tolist() == [b"x", b"y"]


def test_a_single_device_session_places_each_step_not_the_whole_graph(monkeypatch):
    from tensorweave.client import session as session_mod
    placed = []
    real = session_mod.place
    monkeypatch.setattr(session_mod, "place",
                        lambda ops, *a, **k: placed.append(len(list(ops))) or real(ops, *a, **k))
    x = tw.constant(1.0)
    for i in range(50):
        tw.constant(float(i))               # the graph grows between runs ...
    with tw.Session() as s:
        for i in range(5):
            s.run(x + float(i))             # ... as with x.eval() in a loop
    assert placed == [3] * 5                # each plan placed its own 3 ops, not the graph


def test_nodes_a_step_does_not_run_do_not_need_a_device():
    with tw.device("/gpu:0"):
        tw.constant(1.0, name="unrun_on_gpu")
    y = tw.constant(2.0) * 3.0
    with tw.Session() as s:
        assert s.run(y) == 6.0
