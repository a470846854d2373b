"""The rendezvous (waits, timeouts, aborts, no busy-waiting) and the ZeroMQ transport: tensors
reach the peer's rendezvous intact (frames, shared memory, across processes), malformed messages
are dropped while the receiver keeps serving, segments are recycled once released, and nothing
is left behind (threads, sockets, /dev/shm files, child processes)."""
from __future__ import annotations

import gc
import json
import os
import selectors
import subprocess
import sys
import textwrap
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

import tensorweave as tw
from tensorweave.runtime import rendezvous, shm, wire
from tensorweave.runtime.rendezvous import Rendezvous, make_key
from tensorweave.runtime.transport import Transport

MiB = 1 << 20


def wait_for(cond, timeout_s=10.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


# ----------------------------------------------------------------------------------------------
# rendezvous
# ----------------------------------------------------------------------------------------------
K = make_key(7, "/job:w/task:0/device:CPU:0", "/job:w/task:1/device:CPU:0", "x:0")


def test_make_key_checks_types():
    assert K == (7, "/job:w/task:0/device:CPU:0", "/job:w/task:1/device:CPU:0", "x:0")
    with pytest.raises(TypeError, match="step_id"):
        make_key("7", "a", "b", "x")
    with pytest.raises(TypeError, match="tensor_name"):
        make_key(7, "a", "b", 3)


def test_send_then_recv_and_recv_then_send():
    rv = Rendezvous()
    rv.send(K, 1)
    assert rv.recv(K, 1.0) == 1
    out = []
    t = threading.Thread(target=lambda: out.append(rv.recv(K, 10.0)))
    t.start()
    wait_for(lambda: K in rv._steps[7].waiters, what="the receiver to wait")
    rv.send(K, np.arange(3))
    t.join(10)
    np.testing.assert_array_equal(out[0], [0, 1, 2])
    assert rv.pending() == [] and rv._steps[7].waiters == {}


def test_recv_times_out_naming_the_key_without_busy_waiting(monkeypatch):
    waits = []

    class CountingCondition(threading.Condition):
        def wait(self, timeout=None):
            waits.append(timeout)
            return super().wait(timeout)

    monkeypatch.setattr(rendezvous.threading, "Condition", CountingCondition)
    rv = Rendezvous()
    errs = []

    def wait():
        with pytest.raises(tw.errors.DeadlineExceededError) as e:
            rv.recv(K, 0.5)
        errs.append(e.value)

    t = threading.Thread(target=wait)
    t.start()
    t.join(10)
    assert len(errs) == 1
    msg = str(errs[0])
    assert "'x:0'" in msg and "step 7" in msg
    assert "/job:w/task:0/device:CPU:0" in msg and "0.5 s" in msg
    # asleep on a condition variable for the whole timeout, not polling (a poll loop would
    # wait hundreds of times; one more wait covers a wake-up a hair before the deadline)
    assert 1 <= len(waits) <= 2, waits
    assert rv._steps[7].claimed  # a receive claims its step: it is running here ...
    rv.cleanup(7)
    assert 7 not in rv._steps    # ... until it is cleaned up


def test_the_time_receivers_wait_is_counted():
    rv = Rendezvous()
    rv.send(K, 1)
    rv.recv(K, 1.0)
    assert rv.wait_s == 0.0       # it was there: no wait
    k2 = make_key(8, "/a", "/b", "y")
    t = threading.Timer(0.2, rv.send, (k2, 2))
    t.start()
    assert rv.recv(k2, 10.0) == 2
    t.join()
    assert 0.15 <= rv.wait_s < 10.0
    with pytest.raises(tw.errors.DeadlineExceededError):
        rv.recv(make_key(9, "/a", "/b", "z"), 0.1)
    assert rv.wait_s >= 0.25      # a wait that timed out counts too


def test_a_send_wakes_only_the_receiver_of_its_key():
    rv = Rendezvous()
    k2 = make_key(7, "/a", "/b", "y:0")
    got = {}

    def recv(k):
        got[k] = rv.recv(k, 10.0)

    threads = [threading.Thread(target=recv, args=(k,)) for k in (K, k2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(rv._steps[7].waiters) == 2, what="two receivers")
    conds = dict(rv._steps[7].waiters)
    assert conds[K] is not conds[k2]
    rv.send(k2, "y")
    threads[1].join(10)
    assert got == {k2: "y"} and threads[0].is_alive()
    rv.send(K, "x")
    threads[0].join(10)
    assert got[K] == "x"


def test_recv_any_takes_whichever_key_arrives_first():
    rv = Rendezvous()
    k2 = make_key(7, "/a", "/b", "y:0")
    rv.send(k2, "y")                      # already there: no wait
    assert rv.recv_any([K, k2], 1.0) == (k2, "y")
    out = []
    t = threading.Thread(target=lambda: out.append(rv.recv_any((K, k2), 10.0)))
    t.start()
    wait_for(lambda: len(rv._steps[7].any_waiters) == 1, what="one receiver waiting on two keys")
    assert set(rv._steps[7].any_waiters[0][0]) == {K, k2} and not rv._steps[7].waiters
    with pytest.raises(tw.errors.InternalError, match="two receivers wait for tensor 'y:0'"):
        rv.recv(k2, 1.0)
    rv.send(K, "x")
    t.join(10)
    assert out == [(K, "x")] and rv._steps[7].any_waiters == []
    with pytest.raises(tw.errors.DeadlineExceededError, match="any of .*'x:0'.*'y:0'"):
        rv.recv_any([K, k2], 0.05)
    many = {make_key(7, "/a", "/b", f"m{i}:0"): i for i in range(10)}
    with pytest.raises(tw.errors.DeadlineExceededError, match=r"'m2:0'.*\(and 7 more\)"):
        rv.recv_any(many, 0.05)           # a dict of keys is used as is, the message stays short
    rv.send(make_key(7, "/a", "/b", "m4:0"), "z")
    assert rv.recv_any(many, 1.0) == (make_key(7, "/a", "/b", "m4:0"), "z")
    with pytest.raises(ValueError, match="different steps"):
        rv.recv_any([K, make_key(8, "/a", "/b", "y:0")], 0.05)
    rv.abort(7, tw.errors.AbortedError(None, None, "stop"))
    with pytest.raises(tw.errors.AbortedError, match="stop"):
        rv.recv_any([K, k2], 1.0)


def test_a_value_another_receiver_waits_for_is_refused():
    # A waits for K or k2; K arrives, and before A wakes a second receiver asks for K
    rv = Rendezvous()
    k2 = make_key(7, "/a", "/b", "y:0")
    out = []
    t = threading.Thread(target=lambda: out.append(rv.recv_any({K: 0, k2: 1}, 10.0)))
    t.start()
    wait_for(lambda: 7 in rv._steps and rv._steps[7].any_waiters, what="A waiting")
    rv._steps[7].values[K] = "x"          # here, its receiver not woken yet
    with pytest.raises(tw.errors.InternalError, match="two receivers wait for tensor 'x:0'"):
        rv.recv(K, 1.0)
    rv.send(k2, "y")                      # wakes A, which takes one of its two
    t.join(10)
    assert out and out[0] in ((K, "x"), (k2, "y"))


def test_abort_wakes_waiters_with_the_recorded_error():
    rv = Rendezvous()
    errs = []

    def recv(k):
        try:
            rv.recv(k, 3600.0)  # far beyond the joins below: only the abort can end the wait
        except Exception as e:  # noqa: BLE001 - the test inspects it
            errs.append(e)

    keys = [make_key(7, "/a", "/b", f"t{i}") for i in range(3)]
    threads = [threading.Thread(target=recv, args=(k,), daemon=True) for k in keys]
    for t in threads:
        t.start()
    wait_for(lambda: len(rv._steps[7].waiters) == 3, what="three receivers")
    boom = tw.errors.InvalidArgumentError(None, None, "node foo failed on /cpu:1")
    rv.abort(7, boom)
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "the abort did not wake every receiver"
    assert len(errs) == 3 and all(type(e) is tw.errors.InvalidArgumentError for e in errs)
    assert all(str(e) == "node foo failed on /cpu:1" for e in errs)
    with pytest.raises(tw.errors.InvalidArgumentError):
        rv.recv(keys[0], 1.0)
    with pytest.raises(tw.errors.InvalidArgumentError):
        rv.send(keys[0], 1)
    rv.abort(7, tw.errors.InternalError(None, None, "second"))  # the first error wins
    with pytest.raises(tw.errors.InvalidArgumentError):
        rv.recv(keys[0], 1.0)
    # other steps are unaffected
    k8 = make_key(8, "/a", "/b", "t")
    rv.send(k8, 8)
    assert rv.recv(k8, 1.0) == 8


def test_abort_without_error_cancels_and_drops_values():
    rv = Rendezvous()
    rv.send(K, np.zeros(3))
    rv.abort(7)
    assert rv.pending(7) == []
    with pytest.raises(tw.errors.CancelledError, match="Step 7 was cancelled"):
        rv.recv(K, 1.0)


def test_cleanup_forgets_a_step_and_drops_its_late_tensors():
    rv = Rendezvous()
    rv.send(K, 1)
    out = []
    k2 = make_key(7, "/a", "/b", "late")
    t = threading.Thread(target=lambda: out.append(pytest.raises(
        tw.errors.CancelledError, rv.recv, k2, 30.0)))
    t.start()
    wait_for(lambda: k2 in rv._steps[7].waiters, what="the receiver")
    rv.cleanup(7)
    t.join(10)
    assert out and "cleaned up" in str(out[0].value)
    assert 7 not in rv._steps and rv.pending() == []
    rv.send(K, 2)  # a late tensor of the finished step: dropped
    assert rv.pending() == [] and 7 not in rv._steps
    with pytest.raises(tw.errors.CancelledError, match="already cleaned up"):
        rv.recv(K, 1.0)


def test_duplicate_send_or_receiver_is_an_internal_error():
    rv = Rendezvous()
    rv.send(K, 1)
    with pytest.raises(tw.errors.InternalError, match="duplicate send of tensor 'x:0'"):
        rv.send(K, 2)
    k2 = make_key(7, "/a", "/b", "y")
    t = threading.Thread(target=lambda: pytest.raises(tw.errors.CancelledError, rv.recv, k2, 30))
    t.start()
    wait_for(lambda: k2 in rv._steps[7].waiters, what="the receiver")
    with pytest.raises(tw.errors.InternalError, match="two receivers"):
        rv.recv(k2, 1.0)
    rv.abort(7)
    t.join(10)


# ----------------------------------------------------------------------------------------------
# transport, in one process
# ----------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_leftovers():
    before = {t.ident for t in threading.enumerate()}
    yield
    gc.collect()
    assert shm.segment_files(os.getpid()) == []
    wait_for(lambda: not [t for t in threading.enumerate()
                          if t.ident not in before and t.name.startswith("tw-transport")],
             5.0, "transport threads to end")


def test_a_tensor_its_sender_keeps_leaves_as_a_snapshot(pair, monkeypatch):
    # zero-copy frames leave after send_tensor returns: a buffer the caller will write into
    # again (owned=False) must not be the one handed to ZeroMQ
    ta, tb = pair
    x = np.arange(1 << 15, dtype=np.float32)          # 128 KiB in a frame (not same_host)
    frames = []
    send = ta._send
    monkeypatch.setattr(ta, "_send", lambda ep, msg, t: (frames.append(msg[1]),
                                                         send(ep, msg, t))[1])
    for owned in (True, False):
        ta.send_tensor(tb.endpoint, make_key(1, "/a", "/b", f"x{owned}"), x, False, owned=owned)
    assert np.may_share_memory(frames[0], x) and not np.may_share_memory(frames[1], x)
    for owned in (True, False):
        np.testing.assert_array_equal(tb.rendezvous.recv(make_key(1, "/a", "/b", f"x{owned}"),
                                                         10.0), x)


@pytest.fixture
def pair():
    a, b = Rendezvous(), Rendezvous()
    ta, tb = Transport(a), Transport(b)
    yield ta, tb
    ta.close()
    tb.close()


def test_tensors_of_every_dtype_reach_the_peer(pair):
    ta, tb = pair
    rng = np.random.RandomState(0)
    cases = [rng.randn(3, 4).astype(np.float32), np.array(b"s", dtype=object),
             np.zeros((0, 5), np.int64), (rng.rand(7) > .5), np.arange(6, dtype=np.uint16)[::2],
             (rng.randn(200, 300) + 1j).astype(np.complex64)]
    for i, x in enumerate(cases):
        for same_host in (False, True):
            k = make_key(i, "/a", "/b", f"t{same_host}")
            ta.send_tensor(tb.endpoint, k, x, same_host)
            y = tb.rendezvous.recv(k, 10.0)
            assert y.dtype == x.dtype and y.shape == x.shape
            assert (y == x).all() if x.dtype != object else y[()] == b"s"
    assert ta.stats["arenas"][tb.endpoint]["created"] == 1  # only the complex64 one (469 KiB)
    assert tb.stats["received"] == 2 * len(cases) and tb.stats["dropped"] == 0
    # the sender counts the tensors and their payload bytes (a string's: its bytes)
    payload = sum(x.nbytes if x.dtype != object else 1 for x in cases)
    assert ta.stats["sent"] == 2 * len(cases) and ta.stats["sent_bytes"] == 2 * payload
    assert tb.stats["sent"] == 0


def test_a_second_large_transfer_reuses_the_segment_and_the_mapping(pair):
    ta, tb = pair
    x = np.random.RandomState(1).rand(16 * MiB).astype(np.float32)  # 64 MiB
    for step in range(3):
        k = make_key(step, "/a", "/b", "x")
        ta.send_tensor(tb.endpoint, k, x + step, True)
        y = tb.rendezvous.recv(k, 30.0)
        assert y[0] == x[0] + step and y[-1] == x[-1] + step
        assert tb.reader.mapped == 1
        del y  # the lease ends -> release notice -> idle in the sender's arena
        wait_for(lambda: ta.stats["arenas"][tb.endpoint]["idle"] == 1, what="the release")
    assert ta.stats["arenas"][tb.endpoint] == {"created": 1, "reused": 2, "in_use": 0,
                                               "in_use_bytes": 0, "idle": 1,
                                               "idle_bytes": 64 * MiB}


def test_not_same_host_never_uses_shared_memory(pair):
    ta, tb = pair
    x = np.arange(MiB, dtype=np.float64)
    ta.send_tensor(tb.endpoint, K, x, same_host=False)
    y = tb.rendezvous.recv(K, 10.0)
    np.testing.assert_array_equal(x, y)
    assert ta.stats["arenas"] == {} and tb.reader.mapped == 0


def test_malformed_messages_are_logged_and_dropped_while_serving(pair, raw_push, caplog):
    ta, tb = pair
    s = raw_push(tb.endpoint)
    good_meta, good_frames = wire.encode_tensor(np.arange(100, dtype=np.int32))  # (a frame)
    tensor = {"op": "tensor", "key": [1, "/a", "/b", "x"], "t": good_meta}
    bad = [
        [os.urandom(64)],
        [msgpack.packb([1, 2])],                                       # a list, not a map
        wire.pack({"op": "exec", "code": "import os"}),
        wire.pack(dict(tensor, key=[1, "/a", "/b"]), good_frames),      # short key
        wire.pack(dict(tensor, key=["1", "/a", "/b", "x"]), good_frames),
        wire.pack(dict(tensor, extra=True), good_frames),
        wire.pack(tensor),                                             # truncated: no frame
        wire.pack(tensor, [b"\0" * 15]),                               # short frame
        wire.pack(dict(tensor, t=dict(good_meta, dtype="object")), good_frames),
        wire.pack(dict(tensor, t={"dtype": "float32", "shape": [4], "nbytes": 16,
                                  "shm": [f"tw-{os.getpid()}-00000000-1", 0]})),  # no such seg
        wire.pack(dict(tensor, t={"dtype": "int32", "shape": [4], "nbytes": 16,
                                  "data": b"\0" * 3})),                 # short inline data
        wire.pack({"op": "release", "names": ["/etc/passwd"]}),
        [msgpack.packb({"op": "release", "names": ["tw-1-00000000-0"]}, use_bin_type=True)],
    ]
    for msg in bad:
        s.send_multipart(msg)
    s.send_multipart(wire.pack(tensor, good_frames))
    y = tb.rendezvous.recv(make_key(1, "/a", "/b", "x"), 10.0)
    np.testing.assert_array_equal(y, np.arange(100))
    assert tb.stats["dropped"] == len(bad) - 1 and tb.stats["received"] == 1
    records = [r for r in caplog.records if r.name == "tensorweave.runtime.transport"]
    assert len(records) == len(bad) and all(r.levelname == "WARNING" for r in records)
    err = "\n".join(r.getMessage() for r in records)
    for needle in ("not valid msgpack", "must be a msgpack map", "unknown op 'exec'",
                   "tensor.key must be", "unknown fields 'extra'", "frame 0 is missing",
                   "holds 15 bytes", "unknown dtype 'object'", "does not exist",
                   "data must be 16 bytes",
                   "release.names", "release of a segment not in use here"):
        assert needle in err, needle


def test_a_flood_of_garbage_does_not_flood_the_log(pair, raw_push, caplog):
    from tensorweave.runtime.transport import DropLog
    ta, tb = pair
    now = [100.0]                           # the drop log's clock, advanced by hand
    tb._drop_log = DropLog(per_s=20, clock=lambda: now[0])
    s = raw_push(tb.endpoint)
    meta, frames = wire.encode_tensor(np.float64(1.5))

    def flood(n, key):
        for _ in range(n):
            s.send(b"\xc1")
        s.send_multipart(wire.pack({"op": "tensor", "key": [0, "/a", "/b", key], "t": meta},
                                   frames))   # after the garbage (one socket keeps the order)
        assert tb.rendezvous.recv(make_key(0, "/a", "/b", key), 10.0) == 1.5
        return [r.getMessage() for r in caplog.records
                if r.name == "tensorweave.runtime.transport"]

    logged = flood(200, "a")                 # all within one second of the clock
    assert tb.stats["dropped"] == 200
    assert len(logged) == 20 and all("not valid msgpack" in m for m in logged)
    caplog.clear()
    now[0] += 1.0                            # the next second: the count of the rest, then more
    logged = flood(1, "b")
    assert logged[0] == "(180 more dropped messages not shown)" and len(logged) == 2
    assert "not valid msgpack" in logged[1]


def test_a_huge_field_quoted_in_a_drop_is_cut_in_the_log(pair, raw_push, caplog):
    ta, tb = pair
    s = raw_push(tb.endpoint)
    s.send_multipart(wire.pack({"op": "x" * 1_000_000}))
    def logged_lines():
        return [r.getMessage() for r in caplog.records
                if r.name == "tensorweave.runtime.transport"]
    wait_for(lambda: logged_lines(), what="the drop's log line")  # (logged after counted)
    (logged,) = logged_lines()
    assert len(logged) < 600 and logged.endswith("more characters)") and "unknown op" in logged


def test_aborted_steps_drop_incoming_tensors_and_release_their_segments(pair):
    ta, tb = pair
    tb.rendezvous.abort(5)
    ta.send_tensor(tb.endpoint, make_key(5, "/a", "/b", "x"), np.ones(MiB), True)
    wait_for(lambda: ta.stats["arenas"][tb.endpoint]["idle"] == 1, what="the release")
    assert tb.stats["dropped"] == 0 and tb.rendezvous.pending() == []


def test_ipc_endpoint_and_sending_to_oneself():
    rv = Rendezvous()
    path = f"/tmp/tw-test-{os.getpid()}.ipc"
    t = Transport(rv, f"ipc://{path}")
    try:
        assert t.endpoint == f"ipc://{path}"
        x = np.arange(MiB)
        t.send_tensor(t.endpoint, K, x, True)    # same process: handed over, no copy
        assert rv.recv(K, 1.0) is x
        other = Transport(Rendezvous())
        other.send_tensor(t.endpoint, K, x, True)
        np.testing.assert_array_equal(rv.recv(K, 10.0), x)
        other.close()
    finally:
        t.close()
    assert not os.path.exists(path)
    with pytest.raises(RuntimeError, match="after close"):
        t.send_tensor(t.endpoint, K, x, True)


def test_a_peer_that_takes_nothing_makes_send_unavailable(pair):
    ta, _ = pair
    with zmq.Context() as ctx, ctx.socket(zmq.PULL) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
    nobody = f"tcp://127.0.0.1:{port}"  # nobody listens there any more
    with pytest.raises(tw.errors.UnavailableError, match=f"peer {nobody} took no message"):
        for i in range(5000):  # the socket queues up to its high-water mark, then waits
            ta.send_tensor(nobody, make_key(i, "/a", "/b", "x"), np.ones(4), False,
                           timeout_s=0.05)


def test_cannot_bind_twice_and_close_is_idempotent(pair):
    ta, _ = pair
    with pytest.raises(OSError, match="cannot bind"):
        Transport(Rendezvous(), ta.endpoint)
    ta.close()
    ta.close()


def test_sending_from_many_threads(pair):
    ta, tb = pair
    xs = {i: np.full(30_000 if i % 2 else 10, i, np.float32) for i in range(16)}

    def send(i):
        ta.send_tensor(tb.endpoint, make_key(0, "/a", "/b", str(i)), xs[i], True)

    threads = [threading.Thread(target=send, args=(i,)) for i in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for i, x in xs.items():
        np.testing.assert_array_equal(tb.rendezvous.recv(make_key(0, "/a", "/b", str(i)), 10), x)
    assert len(ta._push_socks) == 16  # one socket per (thread, peer)


# ----------------------------------------------------------------------------------------------
# transport, across processes
# ----------------------------------------------------------------------------------------------
PEER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tensorweave.runtime.rendezvous import Rendezvous, make_key
    from tensorweave.runtime.transport import Transport
    parent, mode = sys.argv[1], sys.argv[2]
    rv = Rendezvous()
    t = Transport(rv)
    print(t.endpoint, flush=True)
    held = []
    step = 0
    while True:
        x = rv.recv(make_key(step, "/parent", "/child", "x"), 60.0)
        if x.dtype == object:
            break
        back = make_key(step, "/child", "/parent", "y")
        if mode == "hold":      # keep every tensor: no release notice ever goes back
            held.append(x)
            t.send_tensor(parent, back, np.int64(x.size), True)
        else:                   # echo the tensor back (through the child's own arena)
            t.send_tensor(parent, back, x, True)
        del x
        step += 1
    stats = json.dumps({"mapped": t.reader.mapped, "arenas": list(t.stats["arenas"].values())})
    t.send_tensor(parent, make_key(step, "/child", "/parent", "stats"),
                  np.array(stats.encode(), dtype=object), True)
    t.close()
""")


@pytest.fixture
def peer():
    procs = []

    def start(parent_endpoint, mode="echo"):
        p = subprocess.Popen([sys.executable, "-c", PEER, parent_endpoint, mode],
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        ready = sel.select(30)
        sel.close()
        assert ready, "the peer process did not start"
        return p, p.stdout.readline().strip()

    yield start
    for p in procs:
        p.kill()
        p.wait()
        p.stdout.close()


def test_64_mib_between_two_processes_arrives_intact_and_reuses_segments(peer):
    rv = Rendezvous()
    t = Transport(rv)
    try:
        p, ep = peer(t.endpoint)
        rng = np.random.RandomState(3)
        x = rng.randn(4096, 4096).astype(np.float32)
        for step in range(3):
            x[step] = step  # different values each time
            t.send_tensor(ep, make_key(step, "/parent", "/child", "x"), x, same_host=True)
            y = rv.recv(make_key(step, "/child", "/parent", "y"), 60.0)
            assert y.dtype == np.float32 and y.shape == x.shape
            assert np.array_equal(x, y)
            del y
            wait_for(lambda: t.stats["arenas"][ep]["idle"] == 1, what="the release")
            # (and ours of the child's echo has left, so the child's next echo can reuse it)
            wait_for(lambda: t.stats["releases_sent"] == step + 1, what="our release")
        # 16 MiB through frames (as between hosts); the child's echo comes through its arena
        t.send_tensor(ep, make_key(3, "/parent", "/child", "x"), x[:1024], same_host=False)
        assert np.array_equal(rv.recv(make_key(3, "/child", "/parent", "y"), 60.0), x[:1024])
        t.send_tensor(ep, make_key(4, "/parent", "/child", "x"),
                      np.array(b"stop", dtype=object), True)
        stats = json.loads(rv.recv(make_key(4, "/child", "/parent", "stats"), 60.0)[()])
        assert p.wait(30) == 0
        assert t.stats["arenas"][ep]["created"] == 1 and t.stats["arenas"][ep]["reused"] == 2
        assert stats["mapped"] == 1               # our three went out in one segment
        assert t.reader.mapped == 2               # the child's: one of 64 MiB, one of 16 MiB
        assert stats["arenas"][0]["created"] == 2 and stats["arenas"][0]["reused"] == 2
        assert shm.segment_files(p.pid) == []     # the child unlinked its own at close
    finally:
        t.close()


def test_nothing_left_in_dev_shm_after_the_receiver_died(peer):
    rv = Rendezvous()
    t = Transport(rv, max_in_flight_bytes=16 * MiB)
    try:
        p, ep = peer(t.endpoint, "hold")
        for step in range(3):  # 8 MiB each; the peer keeps them all
            t.send_tensor(ep, make_key(step, "/parent", "/child", "x"), np.ones(MiB), True)
            assert rv.recv(make_key(step, "/child", "/parent", "y"), 60.0) == MiB
        # the third went in a frame: 16 MiB were already in flight
        assert t.stats["arenas"][ep]["in_use"] == 2 and t.stats["arenas"][ep]["created"] == 2
        assert len(shm.segment_files(os.getpid())) == 2
        p.kill()
        p.wait(10)
        # a send to the dead peer still returns (queued, dropped at close: linger 0)
        t.send_tensor(ep, make_key(3, "/parent", "/child", "x"), np.ones(10), True)
    finally:
        t.close()
    assert shm.segment_files(os.getpid()) == []
