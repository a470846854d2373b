"""Same-host datagram links (`runtime/dgram.py`) and the paths that use them: the framing is
checked (bad datagrams raise `WireError`), a send never blocks (too big, a full queue or no
socket there: the caller goes over ZeroMQ), transports bound to ipc endpoints exchange tensors
as datagrams (one message for a run of `_Send`s: `send_tensors`), a peer without a datagram
socket still gets them over ZeroMQ, and a worker's reply too big for a datagram comes back
through the master's DEALER."""
from __future__ import annotations

import gc
import os
import shutil
import socket
import struct
import tempfile

import numpy as np
import pytest

import tensorweave as tw
from test_transport import wait_for
from tensorweave.compiler.exec_nodes import ExecNode
from tensorweave.runtime import dgram, wire
from tensorweave.runtime.dataflow import send_runs
from tensorweave.runtime.rendezvous import Rendezvous, make_key
from tensorweave.runtime.transport import Transport


@pytest.fixture
def home():
    d = tempfile.mkdtemp(prefix="tw-dg-", dir="/tmp")   # (AF_UNIX paths are short)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _frame(msg):
    return (b"tw\x01" + bytes((len(msg),)) + b"".join(struct.pack("<I", len(f)) for f in msg)
            + b"".join(msg))


def test_a_datagram_round_trip_keeps_every_frame(home):
    a = dgram.DgramSocket(os.path.join(home, "a"))
    b = dgram.DgramSocket(os.path.join(home, "b"))
    try:
        x = np.arange(10, dtype=np.float32)
        msg = wire.pack({"op": "x", "n": 1}, [x, b"raw"])
        assert a.send(b.path, msg) == dgram.SENT
        frames, addr = b.recv()
        assert addr == a.path
        assert [bytes(f) for f in frames] == [msg[0], x.tobytes(), b"raw"]
        assert b.recv() is None                       # nothing more: no wait
    finally:
        a.close()
        b.close()
    assert not os.path.exists(a.path) and not os.path.exists(b.path)


@pytest.mark.parametrize("data, what", [
    (b"", "bad magic"), (b"xx\x01\x01", "bad magic"), (b"tw\x01\x00", "0 frames"),
    (b"tw\x01\x02" + struct.pack("<I", 1), "2 frames"),
    (b"tw\x01\x01" + struct.pack("<I", 5) + b"abc", "runs past its end"),
    (b"tw\x01\x01" + struct.pack("<I", 1) + b"ab", "after its last frame"),
    (b"tw\x01\x01" + struct.pack("<I", 2**32 - 1) + b"ab", "runs past its end"),
])
def test_badly_framed_datagrams_raise_wire_error(data, what):
    with pytest.raises(wire.WireError, match=what):
        dgram.split(data)


def test_a_send_that_cannot_go_says_why_and_never_blocks(home):
    a = dgram.DgramSocket(os.path.join(home, "a"))
    b = dgram.DgramSocket(os.path.join(home, "b"))
    try:
        assert a.send(os.path.join(home, "nobody"), [b"x"]) == dgram.MISSING
        assert a.send(b.path, [bytes(dgram.MAX_BYTES)]) == dgram.BUSY          # too big
        assert a.send(b.path, [b"x"] * 256) == dgram.BUSY                      # too many frames
        results = [a.send(b.path, [b"x" * 100]) for _ in range(2000)]          # b reads nothing
        assert results[0] == dgram.SENT and results[-1] == dgram.BUSY          # its queue filled
    finally:
        a.close()
        b.close()


def test_paths_beside_ipc_endpoints_only():
    assert dgram.path_for("ipc:///tmp/x/ep") == "/tmp/x/ep.dg"
    assert dgram.path_for("tcp://127.0.0.1:5555") is None
    assert dgram.path_for("ipc:///" + "d" * 120) is None                      # too long


@pytest.fixture
def ipc_pair(home):
    ta = Transport(Rendezvous(), f"ipc://{home}/a")
    tb = Transport(Rendezvous(), f"ipc://{home}/b")
    yield ta, tb
    ta.close()
    tb.close()
    gc.collect()


def test_same_host_tensors_travel_as_datagrams_and_a_run_as_one_message(ipc_pair):
    ta, tb = ipc_pair
    x = np.arange(1000, dtype=np.float64)            # 8000 bytes: a frame in the datagram
    ta.send_tensor(tb.endpoint, make_key(1, "/a", "/b", "x"), x, True, owned=False)
    np.testing.assert_array_equal(tb.rendezvous.recv(make_key(1, "/a", "/b", "x"), 10.0), x)
    items = [(make_key(2, "/a", "/b", "s"), np.float32(3.0), True),
             (make_key(2, "/a", "/b", "v"), x, False),
             (make_key(2, "/a", "/b", "big"), np.ones(1 << 16, np.float32), True)]  # shm
    ta.send_tensors(tb.endpoint, items, True)
    for key, want, _ in items:
        np.testing.assert_array_equal(tb.rendezvous.recv(key, 10.0), want)
    assert ta.stats["sent_dgram"] == 4 and ta.stats["sent"] == 4
    assert tb.stats["received"] == 4 and tb.stats["dropped"] == 0
    gc.collect()     # the shared-memory one is released (by datagram) for reuse
    wait_for(lambda: ta.stats["arenas"][tb.endpoint]["in_use_bytes"] == 0, 10.0,
             "the release of the shared-memory tensor")


def test_a_peer_without_a_datagram_socket_gets_its_tensors_over_zeromq(home):
    ta = Transport(Rendezvous(), f"ipc://{home}/a")
    tb = Transport(Rendezvous(), f"ipc://{home}/b", use_dgram=False)
    try:
        for i in range(3):
            ta.send_tensor(tb.endpoint, make_key(i, "/a", "/b", "x"), np.float32(i), True)
            assert tb.rendezvous.recv(make_key(i, "/a", "/b", "x"), 10.0) == i
        assert ta.stats["sent_dgram"] == 0
    finally:
        ta.close()
        tb.close()


def test_a_tensors_message_must_be_of_one_step_with_a_tensor_per_key(ipc_pair):
    ta, tb = ipc_pair
    meta, _ = wire.encode_tensor(np.float32(1))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for keys, ts in [([[1, "/a", "/b", "u"], [2, "/a", "/b", "v"]], [meta, meta]),
                         ([[1, "/a", "/b", "u"]], [meta, meta])]:
            sock.sendto(_frame(wire.pack({"op": "tensors", "keys": keys, "ts": ts})),
                        dgram.path_for(tb.endpoint))
        sock.sendto(b"garbage", dgram.path_for(tb.endpoint))
        ta.send_tensor(tb.endpoint, make_key(3, "/a", "/b", "ok"), np.float32(2), True)
        assert tb.rendezvous.recv(make_key(3, "/a", "/b", "ok"), 10.0) == 2
        assert tb.stats["dropped"] == 3 and tb.rendezvous.pending() == []
    finally:
        sock.close()


def _node(name, op):
    return ExecNode(name=name, op=op, attr={}, inputs=[], control=[])


def test_send_runs_group_sends_with_only_cheap_nodes_between():
    names = [("a", "VariableV2"), ("ar", "Identity"), ("sa", "_Send"), ("b", "VariableV2"),
             ("sb", "_Send"), ("m", "MatMul"), ("sc", "_Send"), ("sd", "_Send"),
             ("se", "_Send"), ("n", "Add"), ("sf", "_Send")]
    nodes = [_node(n, op) for n, op in names]
    ents = [(i, "", []) for i in range(len(nodes))]
    assert send_runs(ents, nodes) == {2: 4, 6: 8}    # sa..sb, sc..se; sf alone


def test_a_reply_too_big_for_a_datagram_comes_back_through_the_dealer():
    # eight 60 KiB outputs (each under the shared-memory threshold, so in frames): ~480 KiB
    with tw.device("/cpu:1"):
        outs = [tw.fill([15000], float(k)) for k in range(8)]
    with tw.device("/cpu:0"):
        total = tw.add_n([tw.reduce_sum(o) for o in outs])
    with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
        got = s.run(outs + [total])
    for k in range(8):
        np.testing.assert_array_equal(got[k], np.full(15000, float(k), np.float32))
    assert got[8] == pytest.approx(15000 * sum(range(8)))
