"""Hostile and malformed messages against a transport and a live worker (issue 10): each is
dropped and counted, the threads that read them keep serving, and the next real tensor or step
still arrives; resources a peer can make a worker open (reply sockets) stay bounded."""
from __future__ import annotations

import gc
import math
import os
import threading

import msgpack
import numpy as np
import psutil
import pytest
import zmq

import tensorweave as tw
from tensorweave.runtime import shm, wire
from tensorweave.runtime.rendezvous import Rendezvous, make_key
from tensorweave.runtime.transport import DropLog, Transport

from test_transport import wait_for  # (the tests' one wait helper)

MiB = 1 << 20

#: Metas whose fields each break the wire format in a way a check must catch.
HOSTILE_METAS = [
    {"dtype": "float32", "shape": [0, 2**63], "nbytes": 0},     # the 60 bytes of issue 10
    {"dtype": "float32", "shape": [0, 2**62], "nbytes": 0},
    {"dtype": "string", "shape": [0, 2**63], "strings": []},
    {"dtype": "float32", "shape": [2**31, 2**31], "nbytes": 2**63},
    {"dtype": "float32", "shape": [-1], "nbytes": -4},
    {"dtype": "float32", "shape": [2], "nbytes": 7},
    {"dtype": "float32", "shape": [2], "nbytes": "8"},
    {"dtype": "float32", "shape": "2", "nbytes": 8},
    {"dtype": "float32", "shape": [2.0], "nbytes": 8},
    {"dtype": "variant", "shape": [2], "nbytes": 8},
    {"dtype": 7, "shape": [2], "nbytes": 8},
    {"dtype": "float32", "shape": [2], "nbytes": 8, "frame": 2**64 - 1},
    {"dtype": "float32", "shape": [2], "nbytes": 8, "data": 12},
    {"dtype": "float32", "shape": [2], "nbytes": 8, "shm": [f"tw-{os.getpid()}-0000000a-1", 2**63]},
]


def hostile_tensor_messages(key):
    """Tensor messages with a hostile field each: metas, keys, reply_to, frame counts."""
    good_meta, good_frames = wire.encode_tensor(np.arange(100, dtype=np.int32))
    base = {"op": "tensor", "key": key, "t": good_meta}
    msgs = [wire.pack(dict(base, t=m)) for m in HOSTILE_METAS]
    msgs += [
        wire.pack(dict(base, key=[2**64 - 1, "/a", "/b"]), good_frames),
        wire.pack(dict(base, key=[1.5, "/a", "/b", "x"]), good_frames),
        wire.pack(dict(base, key=[1, None, "/b", "x"]), good_frames),
        wire.pack(dict(base, key={"a": 1}), good_frames),
        wire.pack(dict(base, reply_to=7), good_frames),
        wire.pack(dict(base, reply_to="inproc://tw-replies-1"), good_frames),
        wire.pack(dict(base, reply_to="tcp://" + "x" * 5000), good_frames),
        wire.pack(dict(base, t=[good_meta]), good_frames),
        wire.pack(base, good_frames * 1000),                        # an absurd frame count
        wire.pack({"op": "release", "names": "tw-1-00000000-0"}),
        wire.pack({"op": "release", "names": [None, 3]}),
        [msgpack.packb({"op": "tensor", "key": key, "t": {"dtype": "float32", "shape": [1] * 10**5,
                                                         "nbytes": 4}}, use_bin_type=True)],
    ]
    return msgs


# ----------------------------------------------------------------------------------------------
# a transport, in this process
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def pair():
    ta, tb = Transport(Rendezvous()), Transport(Rendezvous())
    yield ta, tb
    ta.close()
    tb.close()
    gc.collect()
    assert shm.segment_files(os.getpid()) == []


def test_hostile_fields_are_dropped_and_counted_and_the_next_tensor_arrives(pair, raw_push, caplog):
    ta, tb = pair
    tb._drop_log = DropLog(per_s=1000)  # every line shown
    s = raw_push(tb.endpoint)
    bad = hostile_tensor_messages([1, "/a", "/b", "x"])
    for msg in bad:
        s.send_multipart(msg)
    wait_for(lambda: tb.stats["dropped"] == len(bad), what=f"{len(bad)} drops")
    x = np.arange(1000, dtype=np.float32)
    s.send_multipart(wire.pack({"op": "tensor", "key": [1, "/a", "/b", "x"],
                                "t": wire.encode_tensor(x)[0]}, wire.encode_tensor(x)[1]))
    np.testing.assert_array_equal(tb.rendezvous.recv(make_key(1, "/a", "/b", "x"), 10.0), x)
    assert tb.stats["dropped"] == len(bad) and tb.stats["received"] == 1
    assert tb._thread.is_alive()
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.name == "tensorweave.runtime.transport")
    assert "too big" in logged and "reply_to must be a tcp:// or ipc:// endpoint" in logged


def test_reply_to_sockets_are_pooled_so_open_fds_stay_bounded(pair, raw_push):
    # each distinct reply_to gets release notices; 1,100 of them must not open 1,100 sockets
    ta, tb = pair
    proc = psutil.Process()
    arena = shm.ShmArena(min_bytes=0)
    try:
        seg = arena.alloc(4096)
        meta = {"dtype": "float32", "shape": [4], "nbytes": 16, "shm": [seg.name, 0]}
        s = raw_push(tb.endpoint)
        s.send_multipart(wire.pack({"op": "tensor", "key": [0, "/a", "/b", "warm"], "t": meta,
                                    "reply_to": "tcp://127.0.0.1:9"}))
        tb.rendezvous.recv(make_key(0, "/a", "/b", "warm"), 10.0)
        gc.collect()
        wait_for(lambda: tb.reader.mapped == 1, what="the mapping")
        before = proc.num_fds()
        n = 1100
        for i in range(n):
            s.send_multipart(wire.pack({"op": "tensor", "key": [i + 1, "/a", "/b", "x"],
                                        "t": meta, "reply_to": f"ipc:///nonexistent/tw-{i}"}))
        for i in range(n):
            v = tb.rendezvous.recv(make_key(i + 1, "/a", "/b", "x"), 10.0)
            del v  # its release notice goes to its reply_to
        gc.collect()
        bound = 120  # (the pool keeps 64 per thread)
        wait_for(lambda: proc.num_fds() - before <= bound, 10.0,
                 f"open fds to fall within {bound} of {before} (now {proc.num_fds()})")
        assert tb._thread.is_alive()
    finally:
        arena.close()
    # a valid peer still gets its release notices: its segment comes back for reuse
    x = np.ones(MiB // 4, np.float32)
    ta.send_tensor(tb.endpoint, make_key(5000, "/a", "/b", "big"), x, same_host=True)
    assert ta.stats["arenas"][tb.endpoint]["in_use_bytes"] > 0
    y = tb.rendezvous.recv(make_key(5000, "/a", "/b", "big"), 10.0)
    np.testing.assert_array_equal(y, x)
    del y
    gc.collect()
    wait_for(lambda: ta.stats["arenas"][tb.endpoint]["in_use_bytes"] == 0, 10.0,
             "the valid peer's release notice")


# ----------------------------------------------------------------------------------------------
# live workers of a cluster
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    workers, _ = tw.test.create_local_cluster(2, 0)
    yield workers
    for s in workers:
        s.stop()


def _control(cluster, task):
    return "tcp://" + cluster[task]._address


def _call(sock, header, timeout_s=10.0):
    sock.send_multipart(wire.pack(header))
    assert sock.poll(int(timeout_s * 1000)), f"no reply to {header['op']}"
    rep, _ = wire.unpack(sock.recv_multipart(), {"reply": {
        "id": wire.Field(int), "ok": wire.Field(bool), "error": wire.Field(dict, required=False),
        "status": wire.Field(dict, required=False), "released": wire.Field(list, required=False),
        "handle": wire.Field(int, required=False), "outputs": wire.Field(wire.TENSORS,
                                                                         required=False)}})
    assert rep["id"] == header["id"]
    return rep


def _cross_task_step(cluster):
    x = np.arange(6, dtype=np.float32)
    g = tw.Graph()
    with g.as_default():
        with tw.device("/job:worker/task:1"):
            a = tw.constant(x) * 3.0
        with tw.device("/job:worker/task:0"):
            b = a + 1.0
        with tw.Session(cluster[0].target) as sess:
            out = sess.run(b, options=tw.RunOptions(timeout_in_ms=20000))
    np.testing.assert_allclose(out, 3 * x + 1)


def test_a_live_worker_drops_hostile_messages_and_runs_the_next_step(cluster, raw_push):
    _cross_task_step(cluster)
    dealer = raw_push(_control(cluster, 0), zmq.DEALER)
    status = _call(dealer, {"op": "status", "id": 1})["status"]
    dropped = status["dropped"]
    data = raw_push(status["data"])
    bad_data = hostile_tensor_messages([7, "/job:worker/replica:0/task:1/device:CPU:0",
                                        "/job:worker/replica:0/task:0/device:CPU:0", "x:0"])
    for msg in bad_data:
        data.send_multipart(msg)
    bad_control = [[os.urandom(40)], wire.pack({"op": "run_graph", "id": 2})]
    bad_control += [wire.pack({"op": "run_graph", "id": 3, "handle": 1, "step": 9,
                               "feeds": [m]}) for m in HOSTILE_METAS if "shm" not in m]
    bad_control += [wire.pack({"op": "register_graph", "id": 4, "graph": 5, "feeds": [],
                               "fetches": [], "targets": [], "peers": {}, "session": "s"}),
                    wire.pack({"op": "abort_step", "id": 5, "step": "x", "message": ""}),
                    wire.pack({"op": "ping", "id": "1"})]
    for msg in bad_control:
        dealer.send_multipart(msg)
    # hostile values that fit the schema get an error reply, and the worker keeps serving
    rep = _call(dealer, {"op": "register_graph", "id": 6, "graph": b"\x93junk", "feeds": [[1]],
                         "fetches": [], "targets": [], "peers": {"x": 1}, "session": "s"})
    assert not rep["ok"]
    assert _call(dealer, {"op": "ping", "id": 7})["ok"]
    _cross_task_step(cluster)
    now = _call(dealer, {"op": "status", "id": 8})["status"]["dropped"]
    assert now["data"] - dropped["data"] == len(bad_data)
    assert now["control"] - dropped["control"] == len(bad_control)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, -1.0, 0.0, 0, 1e9,
                                     24 * 3600 + 1])
def test_run_graph_timeouts_are_validated_and_the_worker_keeps_serving(cluster, raw_push, timeout):
    dealer = raw_push(_control(cluster, 1), zmq.DEALER)
    rep = _call(dealer, {"op": "run_graph", "id": 11, "handle": 1, "step": 99, "feeds": [],
                         "timeout": timeout})
    assert not rep["ok"]
    assert rep["error"]["type"] == "InvalidArgumentError"
    assert "run_graph.timeout" in rep["error"]["message"]
    assert "86400" in rep["error"]["message"]
    assert _call(dealer, {"op": "ping", "id": 12})["ok"]


def test_run_graph_timeouts_of_the_wrong_type_are_rejected(cluster, raw_push):
    dealer = raw_push(_control(cluster, 1), zmq.DEALER)
    before = _call(dealer, {"op": "status", "id": 1})["status"]["dropped"]["control"]
    for t in ("10", None, [1.0], True):
        dealer.send_multipart(wire.pack({"op": "run_graph", "id": 2, "handle": 1, "step": 99,
                                         "feeds": [], "timeout": t}))
    assert _call(dealer, {"op": "ping", "id": 3})["ok"]
    assert _call(dealer, {"op": "status", "id": 4})["status"]["dropped"]["control"] == before + 4
    _cross_task_step(cluster)


# ----------------------------------------------------------------------------------------------
# the deadline a timed-out step reports
# ----------------------------------------------------------------------------------------------
def test_a_step_on_the_main_thread_reports_its_whole_deadline_not_the_slice():
    from workers.service import WorkerService
    svc = WorkerService("/job:localhost/replica:0/task:0/device:CPU:0", "tcp://127.0.0.1:0")
    try:
        assert threading.current_thread() is svc._main_thread
        svc._poller = zmq.Poller()
        svc._poller.register(svc.control, zmq.POLLIN)
        svc._inline_step = True         # as while an inline step runs: waits in 0.02 s slices
        svc.kctx.step.id = 3
        svc.kctx.step.timeout = 0.3
        key = make_key(3, "/job:a/device:CPU:0", "/job:localhost/device:CPU:0", "x:0")
        with pytest.raises(tw.errors.DeadlineExceededError) as e:
            svc._recv(key)
        assert "timed out after 0.3 s" in e.value.message
        with pytest.raises(tw.errors.DeadlineExceededError) as e:
            svc._recv_any({key: None})
        assert "timed out after 0.3 s" in e.value.message
        svc._inline_step = False        # on a pool thread: one wait of the whole timeout
        with pytest.raises(tw.errors.DeadlineExceededError, match="timed out after 0.3 s"):
            svc._recv(key)
    finally:
        svc.close()
        svc.zctx.term()


def test_a_live_worker_keeps_its_fds_bounded_under_1100_distinct_reply_to(cluster, raw_push):
    dealer = raw_push(_control(cluster, 1), zmq.DEALER)
    status = _call(dealer, {"op": "status", "id": 1})["status"]
    worker = psutil.Process(status["pid"])
    data = raw_push(status["data"])
    dst = status["device"]
    arena = shm.ShmArena(min_bytes=0)
    try:
        seg = arena.alloc(4096)
        meta = {"dtype": "float32", "shape": [4], "nbytes": 16, "shm": [seg.name, 0]}

        def flood(first, n, reply_to):
            for i in range(first, first + n):
                step = 10**9 + i
                # the step is aborted, so the worker drops the tensor and sends its release
                # notice to reply_to at once
                dealer.send_multipart(wire.pack({"op": "abort_step", "id": 100 + i,
                                                 "step": step, "message": "test"}))
                data.send_multipart(wire.pack({"op": "tensor", "key": [step, "/job:x", dst,
                                                                      "t:0"],
                                               "t": meta, "reply_to": reply_to(i)}))
            for _ in range(n):
                assert dealer.poll(10000), "no reply to abort_step"
                dealer.recv_multipart()

        flood(0, 10, lambda i: "tcp://127.0.0.1:9")
        before = worker.num_fds()
        flood(10, 1100, lambda i: f"ipc:///nonexistent/tw-{i}")
        bound = 120  # (the pool keeps 64 per thread)
        wait_for(lambda: worker.num_fds() - before <= bound, 20.0,
                 f"the worker's open fds to fall within {bound} of {before} "
                 f"(now {worker.num_fds()})")
    finally:
        arena.close()
    assert _call(dealer, {"op": "ping", "id": 5})["ok"]
    _cross_task_step(cluster)


def test_a_session_refuses_a_step_timeout_longer_than_the_workers_accept():
    import tensorweave as tw
    with tw.device("/cpu:1"):
        y = tw.constant(1.0) + 1.0
    with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
        opts = tw.RunOptions(timeout_in_ms=25 * 3600 * 1000)
        with pytest.raises(tw.errors.InvalidArgumentError, match=r"timeout_in_ms.*86400000 ms"):
            s.run(y, options=opts)
        assert s.run(y) == 2.0


@pytest.fixture
def local_worker(raw_push):
    """(run, worker, dealer): a 2-device session whose step `run()` (it returns 6.0) runs on
    the /cpu:1 worker, that worker's `WorkerInfo`, and a bare DEALER on its control socket."""
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            y = tw.constant(2.0) * 3.0
    with tw.Session(graph=g, config=tw.ConfigProto(device_count={"CPU": 2})) as sess:
        assert sess.run(y) == 6.0
        (w,) = [w for d, w in sess._master.workers.items() if d.endswith("CPU:1")]
        yield (lambda: sess.run(y)), w, raw_push(w.client.endpoint, zmq.DEALER)


def test_control_rejects_of_a_live_worker_are_logged_at_a_bounded_rate(local_worker, caplog):
    run, w, dealer = local_worker
    before = _call(dealer, {"op": "status", "id": 1})["status"]["dropped"]["control"]
    n = 500
    for i in range(n):
        dealer.send_multipart([b"\xc1" + i.to_bytes(2, "big")])
    wait_for(lambda: _call(dealer, {"op": "status", "id": 2})["status"]["dropped"]
             ["control"] == before + n, what=f"{n} control rejects")
    assert run() == 6.0

    def lines():
        return [r.getMessage() for r in caplog.records
                if r.name.startswith("tensorweave.workers") and "rejected a malformed" in
                r.getMessage()]
    wait_for(lambda: lines(), what="the worker's log records")  # (forwarded by a thread)
    assert len(lines()) <= 2 * 20, len(lines())  # 20 a second (the flood may span two)


def test_junk_frames_do_not_grow_a_worker(local_worker, raw_push):
    run, w, dealer = local_worker
    proc = psutil.Process(w.pid)
    push = raw_push(w.data)
    rng = np.random.RandomState(3)

    def dropped():
        return _call(dealer, {"op": "status", "id": 99}, 30.0)["status"]["dropped"]

    def flood(n):
        was = dropped()
        for i in range(n):
            junk = rng.bytes(int(rng.randint(1, 300)))
            (push if i % 2 else dealer).send_multipart([junk])
        wait_for(lambda: dropped() == {"data": was["data"] + n // 2,
                                       "control": was["control"] + n // 2},
                 30.0, "every junk frame to be read and dropped")
    flood(2000)                     # warm-up: the allocator's working set
    before = proc.memory_info().rss
    flood(10_000)
    grew = proc.memory_info().rss - before
    assert grew < 8 * MiB, f"the worker grew by {grew / MiB:.1f} MiB"
    assert run() == 6.0
