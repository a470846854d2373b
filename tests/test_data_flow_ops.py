"""FIFOQueue and ConditionalAccumulator (ops/data_flow_ops.py, kernels/cpu/data_flow.py): TF1's
names, values against numpy, blocking across concurrent steps, close, deadlines, and the same on
worker processes (two devices) and on a cluster task shared by two client sessions."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import tensorweave as tw

TWO_CPUS = tw.ConfigProto(device_count={"CPU": 2})


def _in_thread(fn):
    """Run `fn` on a thread; returns (thread, box) where box gets ("ok", value) or ("err", e)."""
    box = []

    def run():
        try:
            box.append(("ok", fn()))
        except Exception as e:  # noqa: BLE001 - handed to the test
            box.append(("err", e))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_names_and_properties():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(5, [tw.float32, tw.int32], shapes=[[2], []])
        assert q.name == "fifo_queue" and q.queue_ref.op.type == "FIFOQueueV2"
        assert q.dtypes == [tw.float32, tw.int32]
        assert [s.as_list() for s in q.shapes] == [[2], []]
        assert q.names is None and q.queue_ref.dtype == tw.string
        assert q.queue_ref.op.get_attr("capacity") == 5
        assert q.enqueue(([1.0, 2.0], 3)).name == "fifo_queue_enqueue"
        assert q.enqueue_many(([[1.0, 2.0]], [3])).name == "fifo_queue_EnqueueMany"
        d = q.dequeue()
        assert d[0].op.name == "fifo_queue_Dequeue" and d[0].op.type == "QueueDequeueV2"
        assert d[0].shape.as_list() == [2] and d[1].shape.as_list() == []
        dm = q.dequeue_many(4)
        assert dm[0].shape.as_list() == [4, 2] and dm[0].op.name == "fifo_queue_DequeueMany"
        assert q.dequeue_up_to(4)[0].shape.as_list() == [None, 2]
        assert q.close().name == "fifo_queue_Close" and q.size().op.name == "fifo_queue_Size"
        assert q.is_closed().dtype == tw.bool
        a = tw.ConditionalAccumulator(tw.float32, shape=[3])
        assert a.name == "conditional_accumulator" and a.dtype == tw.float32
        assert a.accumulator_ref.op.type == "ConditionalAccumulator"
        assert a.accumulator_ref.op.get_attr("reduction_type") == "MEAN"
        assert a.take_grad(2).shape.as_list() == [3]
        assert a.apply_grad([1.0, 2.0, 3.0]).type == "AccumulatorApplyGradient"


def test_fifo_order_tuples_and_many():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((6, 3)).astype(np.float32)
    ys = np.arange(6, dtype=np.int64) * 7
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(10, [tw.float32, tw.int64], shapes=[[3], []])
        x, y = tw.placeholder(tw.float32, [3]), tw.placeholder(tw.int64, [])
        enq = q.enqueue((x, y))
        enq_many = q.enqueue_many((xs[2:], ys[2:]))
        deq, deq_many, size = q.dequeue(), q.dequeue_many(3), q.size()
    with tw.Session(graph=g) as sess:
        for i in range(2):
            sess.run(enq, {x: xs[i], y: ys[i]})
        sess.run(enq_many)
        assert sess.run(size) == 6
        a, b = sess.run(deq)
        np.testing.assert_array_equal(a, xs[0])
        assert b == ys[0] and a.dtype == np.float32
        a, b = sess.run(deq_many)
        np.testing.assert_array_equal(a, xs[1:4])
        np.testing.assert_array_equal(b, ys[1:4])
        assert a.shape == (3, 3) and b.dtype == np.int64
        assert sess.run(size) == 2


def test_single_component_and_names():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(3, tw.int32, shapes=[[2]])
        e = q.enqueue(tw.constant([4, 5]))
        d = q.dequeue()
        nq = tw.FIFOQueue(3, [tw.int32, tw.float32], shapes=[[], []], names=["a", "b"])
        ne = nq.enqueue({"a": 1, "b": 2.5})
        nd = nq.dequeue()
        with pytest.raises(ValueError):
            nq.enqueue((1, 2.5))
    with tw.Session(graph=g) as sess:
        sess.run(e)
        np.testing.assert_array_equal(sess.run(d), [4, 5])
        sess.run(ne)
        out = sess.run(nd)
        assert out["a"] == 1 and out["b"] == 2.5


def test_build_time_shape_and_dtype_errors():
    with tw.Graph().as_default():
        q = tw.FIFOQueue(3, [tw.float32], shapes=[[2]])
        with pytest.raises(ValueError):
            q.enqueue([1.0, 2.0, 3.0])
        with pytest.raises((TypeError, ValueError)):
            q.enqueue(tw.constant([1, 2], dtype=tw.int32))
        with pytest.raises(ValueError):
            q.enqueue_many([[1.0, 2.0, 3.0]])
        with pytest.raises(ValueError):
            q.enqueue(([1.0, 2.0], [3.0, 4.0]))
        a = tw.ConditionalAccumulator(tw.float32, shape=[2])
        with pytest.raises(ValueError):
            a.apply_grad([1.0, 2.0, 3.0])
        with pytest.raises((TypeError, ValueError)):
            a.apply_grad(tw.constant([1, 2], dtype=tw.int32))


def test_run_time_shape_error_and_dequeue_many_needs_shapes():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(3, tw.float32, shapes=[[2]])
        p = tw.placeholder(tw.float32, None)
        e = q.enqueue(p)
        u = tw.FIFOQueue(3, tw.float32)
        ue, um = u.enqueue(1.0), u.dequeue_many(1)
    with tw.Session(graph=g) as sess:
        with pytest.raises(tw.errors.InvalidArgumentError, match=r"Expected \[2\], got \[3\]"):
            sess.run(e, {p: [1.0, 2.0, 3.0]})
        sess.run(ue)
        with pytest.raises(tw.errors.InvalidArgumentError, match="specified shapes"):
            sess.run(um)


def test_blocked_dequeue_released_by_enqueue_from_another_thread():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(2, tw.float32, shapes=[[]])
        d, e, close = q.dequeue(), q.enqueue(3.5), q.close()
    with tw.Session(graph=g) as sess:
        t, box = _in_thread(lambda: sess.run(d))
        try:
            sess.run(e)
            t.join(10)
        finally:
            sess.run(close)  # a dequeue still blocked (a failure) ends with OutOfRangeError
            t.join(10)
        assert not t.is_alive()
        assert box == [("ok", 3.5)]


def test_close_gives_out_of_range_naming_the_queue():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(4, tw.int32, shapes=[[]])
        e = q.enqueue_many([[1, 2, 3]])
        d, dm, du = q.dequeue(), q.dequeue_many(2), q.dequeue_up_to(2)
        close, closed, e1 = q.close(), q.is_closed(), q.enqueue(9)
    with tw.Session(graph=g) as sess:
        sess.run(e)
        assert not sess.run(closed)
        sess.run(close)
        assert sess.run(closed)
        with pytest.raises(tw.errors.CancelledError, match="is closed"):
            sess.run(e1)
        assert sess.run(d) == 1 and sess.run(d) == 2
        with pytest.raises(tw.errors.OutOfRangeError,
                           match=r"FIFOQueue '_\d+_fifo_queue' is closed and has insufficient "
                                 r"elements \(requested 2, current size 1\)"):
            sess.run(dm)
        np.testing.assert_array_equal(sess.run(du), [3])
        with pytest.raises(tw.errors.OutOfRangeError,
                           match=r"requested 1, current size 0"):
            sess.run(d)


def test_close_releases_a_blocked_dequeue():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(2, tw.float32, shapes=[[]])
        d, close = q.dequeue(), q.close()
    with tw.Session(graph=g) as sess:
        t, box = _in_thread(lambda: sess.run(d))
        sess.run(close)
        t.join(10)
        assert not t.is_alive()
        assert box[0][0] == "err" and isinstance(box[0][1], tw.errors.OutOfRangeError)


def test_accumulator_mean_sum_and_stale_gradients():
    rng = np.random.default_rng(1)
    gs = rng.standard_normal((4, 2, 3))
    g = tw.Graph()
    with g.as_default():
        a = tw.ConditionalAccumulator(tw.float64, shape=[2, 3])
        s = tw.ConditionalAccumulator(tw.float64, shape=[2, 3], reduction_type="SUM",
                                      name="summing")
        grad, step = tw.placeholder(tw.float64, [2, 3]), tw.placeholder(tw.int64, [])
        ap, sp = a.apply_grad(grad, local_step=step), s.apply_grad(grad)
        take, stake, n = a.take_grad(3), s.take_grad(2), a.num_accumulated()
        set_step = a.set_global_step(5)
    with tw.Session(graph=g) as sess:
        for i in range(3):
            sess.run(ap, {grad: gs[i], step: 0})
        assert sess.run(n) == 3
        np.testing.assert_allclose(sess.run(take), gs[:3].mean(0))
        assert sess.run(n) == 0
        # the global step is now 1: a gradient of local step 0 is stale, dropped and not counted
        sess.run(ap, {grad: gs[3], step: 0})
        assert sess.run(n) == 0
        for i in range(3):
            sess.run(ap, {grad: gs[i], step: 1})
        sess.run(ap, {grad: gs[3], step: 2})
        assert sess.run(n) == 4
        np.testing.assert_allclose(sess.run(take), gs.mean(0))  # all it has, not 3 of them
        sess.run(set_step)
        sess.run(ap, {grad: gs[0], step: 4})
        assert sess.run(n) == 0
        sess.run(ap, {grad: gs[1], step: 5})
        assert sess.run(n) == 1
        sess.run(sp, {grad: gs[0]})
        sess.run(sp, {grad: gs[2]})
        np.testing.assert_allclose(sess.run(stake), gs[0] + gs[2])


def test_accumulator_run_time_errors():
    g = tw.Graph()
    with g.as_default():
        a = tw.ConditionalAccumulator(tw.float32)
        grad = tw.placeholder(tw.float32, None)
        ap, bad_take = a.apply_grad(grad), a.take_grad(0)
    with tw.Session(graph=g) as sess:
        sess.run(ap, {grad: [1.0, 2.0]})
        with pytest.raises(tw.errors.InvalidArgumentError, match=r"expected \[2\], got \[3\]"):
            sess.run(ap, {grad: [1.0, 2.0, 3.0]})
        with pytest.raises(tw.errors.InvalidArgumentError, match="must be positive"):
            sess.run(bad_take)


def test_take_grad_waits_for_gradients_from_other_threads():
    gs = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = tw.Graph()
    with g.as_default():
        a = tw.ConditionalAccumulator(tw.float32, shape=[4])
        grad = tw.placeholder(tw.float32, [4])
        ap, take = a.apply_grad(grad), a.take_grad(3)
    with tw.Session(graph=g) as sess:
        t, box = _in_thread(lambda: sess.run(take))
        appliers = [_in_thread(lambda i=i: sess.run(ap, {grad: gs[i]}))[0] for i in range(3)]
        for th in appliers:
            th.join(10)
        t.join(10)
        if t.is_alive():  # a failure: release the waiting step before failing
            sess.run(ap, {grad: gs[0]})
            sess.run(ap, {grad: gs[0]})
            sess.run(ap, {grad: gs[0]})
            t.join(10)
        assert box and box[0][0] == "ok"
        np.testing.assert_allclose(box[0][1], gs.mean(0))


def test_two_devices_queue_on_cpu1_fed_from_cpu0_and_deadline():
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            q = tw.FIFOQueue(2, tw.float32, shapes=[[2]])
            a = tw.ConditionalAccumulator(tw.float32, shape=[2])
        with tw.device("/cpu:0"):
            x = tw.placeholder(tw.float32, [2])
            y = x * 2.0
        e, d, size = q.enqueue(y), q.dequeue(), q.size()
        ap, take = a.apply_grad(y, local_step=0), a.take_grad(2)
    with tw.Session(graph=g, config=TWO_CPUS) as sess:
        sess.run(e, {x: [1.0, 2.0]})
        sess.run(e, {x: [3.0, 4.0]})
        dev = sess.placement.device_of
        assert dev[e.name].endswith("CPU:1") and dev[d.op.name].endswith("CPU:1")
        assert dev[y.op.name].endswith("CPU:0")
        with pytest.raises(tw.errors.DeadlineExceededError):
            sess.run(e, {x: [5.0, 6.0]}, options=tw.RunOptions(timeout_in_ms=300))
        assert sess.run(size) == 2
        np.testing.assert_array_equal(sess.run(d), [2.0, 4.0])
        np.testing.assert_array_equal(sess.run(d), [6.0, 8.0])
        with pytest.raises(tw.errors.DeadlineExceededError):
            sess.run(d, options=tw.RunOptions(timeout_in_ms=300))
        sess.run(ap, {x: [1.0, 0.0]})
        sess.run(ap, {x: [0.0, 3.0]})
        np.testing.assert_allclose(sess.run(take), [1.0, 3.0])


def test_two_devices_a_blocked_dequeue_is_released_by_another_threads_enqueue():
    # the dequeue's step runs on the /cpu:1 worker's main thread, which keeps serving its
    # control socket while it waits, so the enqueue's step gets in
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            q = tw.FIFOQueue(2, tw.float32, shapes=[[2]])
        with tw.device("/cpu:0"):
            x = tw.placeholder(tw.float32, [2])
            y = x + 1.0
        e, d, close = q.enqueue(y), q.dequeue(), q.close()
    with tw.Session(graph=g, config=TWO_CPUS) as sess:
        opts = tw.RunOptions(timeout_in_ms=20_000)
        sess.run(e, {x: [0.0, 0.0]}, options=opts)   # (both plans registered first)
        sess.run(d, options=opts)
        t, box = _in_thread(lambda: sess.run(d, options=opts))
        try:
            time.sleep(0.5)      # (most likely blocked by now; either order must work)
            sess.run(e, {x: [1.0, 2.0]}, options=opts)
            t.join(15)
        finally:
            sess.run(close, options=opts)
            t.join(15)
        assert not t.is_alive()
        assert box[0][0] == "ok", box
        np.testing.assert_array_equal(box[0][1], [2.0, 3.0])


def test_cluster_task_two_client_sessions_share_a_queue():
    workers, ps = tw.test.create_local_cluster(1, 0)
    sessions = []
    try:
        def build():
            g = tw.Graph()
            with g.as_default():
                q = tw.FIFOQueue(4, tw.int32, shapes=[[]], shared_name="shared_q")
                v = tw.placeholder(tw.int32, [])
                a = tw.ConditionalAccumulator(tw.float32, shape=[], shared_name="shared_acc")
                gv = tw.placeholder(tw.float32, [])
                return g, q.enqueue(v), q.dequeue(), v, a.apply_grad(gv), a.take_grad(2), gv
        g1, e1, d1, v1, ap1, _, gv1 = build()
        g2, _, d2, _, _, take2, _ = build()
        s1 = tw.Session(workers[0].target, graph=g1)
        s2 = tw.Session(workers[0].target, graph=g2)
        sessions += [s1, s2]
        opts = tw.RunOptions(timeout_in_ms=10000)
        t, box = _in_thread(lambda: s2.run(d2, options=opts))
        s1.run(e1, {v1: 42})
        t.join(15)
        assert box == [("ok", 42)]
        t, box = _in_thread(lambda: s2.run(take2, options=opts))
        s1.run(ap1, {gv1: 1.0})
        s1.run(ap1, {gv1: 4.0})
        t.join(15)
        assert box == [("ok", 2.5)]
        s1.run(e1, {v1: 7})
        assert s2.run(d2, options=opts) == 7
    finally:
        for s in sessions:
            s.close()
        for w in workers + ps:
            w.stop()


def test_in_process_waits_honour_the_steps_deadline():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(1, tw.float32, shapes=[[]])
        d, e = q.dequeue(), q.enqueue(1.0)
    with tw.Session(graph=g) as sess:
        with pytest.raises(tw.errors.DeadlineExceededError):
            sess.run(d, options=tw.RunOptions(timeout_in_ms=200))
        sess.run(e, options=tw.RunOptions(timeout_in_ms=200))
        with pytest.raises(tw.errors.DeadlineExceededError):      # full
            sess.run(e, options=tw.RunOptions(timeout_in_ms=200))
        assert sess.run(d, options=tw.RunOptions(timeout_in_ms=200)) == 1.0
        with pytest.raises(tw.errors.InvalidArgumentError, match="timeout_in_ms"):
            sess.run(d, options=tw.RunOptions(timeout_in_ms=-5))


def test_closing_a_session_cancels_its_blocked_steps_on_a_cluster():
    # a take_grad blocked on a ps task must not outlive its session and steal the next
    # session's gradient; its thread gets CancelledError
    workers, ps = tw.test.create_local_cluster(1, 1)
    try:
        def graph():
            g = tw.Graph()
            with g.as_default():
                with tw.device("/job:ps/task:0"):
                    a = tw.ConditionalAccumulator(tw.float64, shape=[], shared_name="acc")
                ops = (a.take_grad(1), a.apply_grad(tw.constant(1.0, tw.float64)),
                       a.num_accumulated())
            return g, ops
        g1, (take, _, _) = graph()
        sess = tw.Session(workers[0].target, graph=g1)
        t, box = _in_thread(lambda: sess.run(take))
        time.sleep(0.5)            # (most likely blocked by now)
        sess.close()
        t.join(20)
        assert not t.is_alive() and box and box[0][0] == "err", box
        assert isinstance(box[0][1], tw.errors.CancelledError), box
        g2, (_, apply, count) = graph()
        with tw.Session(workers[0].target, graph=g2) as s2:
            s2.run(apply, options=tw.RunOptions(timeout_in_ms=20_000))
            assert s2.run(count, options=tw.RunOptions(timeout_in_ms=20_000)) == 1
    finally:
        for s in workers + ps:
            s.stop()


def test_in_process_deadlines_hold_for_traced_steps_and_the_configs_operation_timeout():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(1, tw.float32, shapes=[[]])
        d = q.dequeue()
    traced = tw.RunOptions(timeout_in_ms=200, trace_level=tw.RunOptions.FULL_TRACE)
    with tw.Session(graph=g) as sess:
        with pytest.raises(tw.errors.DeadlineExceededError):
            sess.run(d, options=traced, run_metadata=tw.RunMetadata())
    with tw.Session(graph=g, config=tw.ConfigProto(operation_timeout_in_ms=200)) as sess:
        with pytest.raises(tw.errors.DeadlineExceededError):
            sess.run(d)
