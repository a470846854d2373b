"""Per-device step traces (`RunOptions(trace_level=FULL_TRACE)`) of steps that span worker
processes: every worker reports what each of its nodes did, on the host's one wall clock, and
the trace shows the pipelining the dataflow executor gives (while /cpu:1 works on item k,
/cpu:0 works on item k+1).  Times are only compared with generous margins (0.2 s sleeps)."""
from __future__ import annotations

import threading

import msgpack
import pytest

import tensorweave as tw
from tensorweave.runtime import rpc, wire

TWO_CPUS = tw.ConfigProto(device_count={"CPU": 2})
FULL = tw.RunOptions(trace_level=tw.RunOptions.FULL_TRACE, output_partition_graphs=True)
CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"
SLEEP = 0.2
ITEMS = 4


def _pipeline():
    """Stage A on /cpu:0 for items 0..3 (one after the other), stage B on /cpu:1 for item k
    once A(k) is there: B(k) can run while A(k+1) does."""
    with tw.device("/cpu:0"):
        a, prev = [], None
        for k in range(ITEMS):
            prev = tw.test.sleep(SLEEP, after=prev, name=f"A{k}")
            a.append(prev)
    with tw.device("/cpu:1"):
        b = [tw.test.sleep(SLEEP, after=a[k], name=f"B{k}") for k in range(ITEMS)]
        out = tw.add_n(b, name="out")
    return out


def _interval(n) -> tuple[float, float]:
    """A node's (start, end), seconds on the wall clock."""
    start = n.all_start_nanos / 1e9
    return start, start + n.all_end_rel_nanos / 1e9


def _overlap(x, y) -> float:
    return max(0.0, min(x[1], y[1]) - max(x[0], y[0]))


def test_a_two_device_pipeline_trace_shows_both_devices_working_at_once():
    out = _pipeline()
    md = tw.RunMetadata()
    with tw.Session(config=TWO_CPUS) as s:
        s.run(out, options=FULL, run_metadata=md)
    devs = {d.device: d for d in md.step_stats.dev_stats}
    assert sorted(devs) == [CPU0, CPU1]

    # every node each partition runs is in its device's trace (a Const is bound into the plan,
    # not run), _Send and _Recv included, and nothing else
    assert len(md.partition_graphs) == 2
    for pg in md.partition_graphs:
        dev = {n.device for n in pg.node} - {""}
        assert len(dev) == 1
        ran = sorted(n.node_name for n in devs[dev.pop()].node_stats)
        assert ran == sorted(n.name for n in pg.node if n.op != "Const")
    ops0 = {n.op_type for n in devs[CPU0].node_stats}
    ops1 = {n.op_type for n in devs[CPU1].node_stats}
    assert ops0 == {"TestSleep", "_Send"} and ops1 == {"TestSleep", "_Recv", "AddN"}

    for d in devs.values():
        for n in d.node_stats:
            assert n.all_start_micros > 1.5e15            # microseconds since the epoch
            assert n.all_start_micros == n.all_start_nanos // 1000
            assert 0 <= n.op_start_rel_micros <= n.op_end_rel_micros <= n.all_end_rel_micros
            assert n.all_end_rel_nanos > 0                # start < end
            assert n.thread_id in d.thread_names
            assert n.timeline_label.startswith(n.node_name)
        sleeps = [n for n in d.node_stats if n.op_type == "TestSleep"]
        assert len(sleeps) == ITEMS
        for n in sleeps:
            assert n.all_end_rel_micros >= SLEEP * 1e6 * 0.99
            # its [start, end] float64 output
            assert [o.tensor_description.allocation_description.requested_bytes
                    for o in n.output] == [16]

    by_name = {n.node_name: _interval(n) for d in devs.values() for n in d.node_stats}
    for k in range(ITEMS):   # B(k) starts after A(k) ended: a dependency across processes
        assert by_name[f"B{k}"][0] >= by_name[f"A{k}"][1] - 1e-3
    # the pipeline: B(k) on /cpu:1 runs while A(k+1) runs on /cpu:0
    overlaps = [_overlap(by_name[f"B{k}"], by_name[f"A{k + 1}"]) for k in range(ITEMS - 1)]
    assert max(overlaps) > SLEEP / 2, overlaps

    summary = tw.client.step_stats_summary(md)
    assert list(summary) == [CPU0, CPU1]
    span = (max(v.last_end_micros for v in summary.values())
            - min(v.first_start_micros for v in summary.values()))
    for dev, v in summary.items():
        assert v.device == dev and v.nodes == len(devs[dev].node_stats)
        assert v.first_start_micros < v.last_end_micros
        assert ITEMS * SLEEP * 1e6 * 0.99 <= v.busy_micros <= span
        assert 0 < v.busy_fraction <= 1
    # both devices busy for more than the step lasted: they worked at the same time
    assert sum(v.busy_micros for v in summary.values()) > span + SLEEP * 1e6 / 2


def test_summary_leaves_recv_waits_out_of_busy_time():
    def node(name, op, start_us, length_us):
        return tw.client.config.NodeExecStats(node_name=name, op_type=op,
                                              all_start_micros=start_us,
                                              all_end_rel_micros=length_us)
    stats = tw.client.config.StepStats(dev_stats=[
        tw.client.config.DeviceStepStats(device="/cpu:0", node_stats=[
            node("a", "X", 0, 100), node("b", "X", 50, 100), node("c", "X", 300, 100)]),
        tw.client.config.DeviceStepStats(device="/cpu:1", node_stats=[
            node("r", "_Recv", 0, 150), node("d", "X", 150, 250)]),
        tw.client.config.DeviceStepStats(device="/cpu:2", node_stats=[])])
    s = tw.client.step_stats_summary(stats)
    assert list(s) == ["/cpu:0", "/cpu:1"]          # a device that ran nothing is left out
    assert s["/cpu:0"].busy_micros == 250            # [0, 150] and [300, 400]
    assert s["/cpu:0"].busy_fraction == pytest.approx(250 / 400)
    assert s["/cpu:1"].busy_micros == 250 and s["/cpu:1"].first_start_micros == 0
    assert tw.client.step_stats_summary(stats, count_recv=True)["/cpu:1"].busy_micros == 400
    with pytest.raises(TypeError, match="RunMetadata"):
        tw.client.step_stats_summary([])


def test_untraced_steps_carry_no_trace_and_traced_ones_each_their_own():
    with tw.device("/cpu:1"):
        x = tw.Variable(3.0, name="x")
    with tw.device("/cpu:0"):
        y = tw.multiply(x, 2.0, name="y")
    with tw.Session(config=TWO_CPUS) as s:
        s.run(x.initializer)
        md = tw.RunMetadata()
        assert s.run(y, options=tw.RunOptions(timeout_in_ms=10_000), run_metadata=md) == 6.0
        assert md.step_stats.dev_stats == []
        assert s.run(y) == 6.0

        results, errors = [], []

        def traced():
            try:
                for _ in range(5):
                    m = tw.RunMetadata()
                    assert s.run(y, options=FULL, run_metadata=m) == 6.0
                    results.append(m)
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)
        threads = [threading.Thread(target=traced) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(results) == 10
        for m in results:   # concurrent traced steps: each trace holds its own step's nodes
            names = {d.device: sorted(n.node_name for n in d.node_stats)
                     for d in m.step_stats.dev_stats}
            assert set(names) == {CPU0, CPU1}
            assert "y" in names[CPU0] and "x" in names[CPU1]
            assert sum(n.op_type == "_Recv" for n in m.step_stats.dev_stats[0].node_stats) \
                + sum(n.op_type == "_Recv" for n in m.step_stats.dev_stats[1].node_stats) == 1
        assert s.run(y) == 6.0   # untraced again after traced steps


def test_an_in_process_trace_has_the_same_fields():
    a = tw.placeholder(tw.float32, [3])
    b = tw.multiply(a, 2.0, name="b")
    md = tw.RunMetadata()
    with tw.Session() as s:
        s.run(b, {a: [1.0, 2.0, 3.0]}, options=FULL, run_metadata=md)
    (dev,) = md.step_stats.dev_stats
    (n,) = [n for n in dev.node_stats if n.node_name == "b"]
    assert n.op_type == "Mul" and n.all_start_micros == n.all_start_nanos // 1000
    assert n.all_end_rel_nanos > 0 and n.thread_id in dev.thread_names
    assert n.output[0].tensor_description.allocation_description.requested_bytes == 12
    with pytest.raises(TypeError, match="run_metadata"):
        s2 = tw.Session()
        try:
            s2.run(b, {a: [1.0, 2.0, 3.0]}, options=FULL, run_metadata={})
        finally:
            s2.close()


GOOD = {"thread": [1, "MainThread"], "nodes": [["a", "Add", 10, 20, [4]], ["s", "_Send", 20,
                                                                           20, []]]}


@pytest.mark.parametrize("bad", [
    {"thread": [1, "t"]},                                           # no nodes
    {"thread": [1, "t"], "nodes": [], "extra": 1},
    {"thread": "t", "nodes": []},
    {"thread": [-1, "t"], "nodes": []},
    {"thread": [1, "t"], "nodes": {}},
    {"thread": [1, "t"], "nodes": [["a", "Add", 20, 10, []]]},      # ends before it starts
    {"thread": [1, "t"], "nodes": [["a", "Add", -1, 10, []]]},
    {"thread": [1, "t"], "nodes": [["a", "Add", 1.5, 10, []]]},
    {"thread": [1, "t"], "nodes": [["a", "Add", True, 10, []]]},
    {"thread": [1, "t"], "nodes": [["a", "Add", 1, 10]]},
    {"thread": [1, "t"], "nodes": [[b"a", "Add", 1, 10, []]]},
    {"thread": [1, "t"], "nodes": [["a" * 5000, "Add", 1, 10, []]]},
    {"thread": [1, "t"], "nodes": [["a", "Add", 1, 10, [-4]]]},
    {"thread": [1, "t"], "nodes": [["a", "Add", 1, 10, ["4"]]]},
    {"thread": [1, "t"], "nodes": ["a"]},
])
def test_a_reply_with_a_malformed_trace_is_refused(bad):
    rpc.check_trace(GOOD)
    ok = [msgpack.packb({"op": "reply", "id": 1, "ok": True, "trace": GOOD})]
    assert wire.unpack(ok, rpc.REPLIES)[0]["trace"] == GOOD
    msg = [msgpack.packb({"op": "reply", "id": 1, "ok": True, "trace": bad})]
    with pytest.raises(wire.WireError, match="trace"):
        wire.unpack(msg, rpc.REPLIES)


def test_a_run_graph_trace_flag_must_be_a_bool():
    msg = [msgpack.packb({"op": "run_graph", "id": 1, "handle": 1, "step": 1, "feeds": [],
                          "trace": "yes"})]
    with pytest.raises(wire.WireError, match="run_graph.trace"):
        wire.unpack(msg, rpc.REQUESTS)
