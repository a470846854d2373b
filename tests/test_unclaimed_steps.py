"""Unclaimed steps expire (issue 10, item 8): tensors a peer sends for a step nobody runs here,
and aborts of such steps, are kept only until the step's deadline (and within a byte and a
count bound), then dropped, their memory returned; a step that runs here claims what was sent
ahead for it.  Unit tests on the rendezvous with a fake clock, then a live worker."""
from __future__ import annotations

import gc
import os
import threading

import numpy as np
import psutil
import pytest
import zmq

import tensorweave as tw
from tensorweave.runtime import rendezvous as rv_mod
from tensorweave.runtime import wire
from tensorweave.runtime.rendezvous import Rendezvous, make_key

from test_hostile_messages import _call, wait_for

MiB = 1 << 20


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def key(step, name="x"):
    return make_key(step, "/a", "/b", name)


@pytest.fixture
def rv():
    clock = Clock()
    r = Rendezvous(clock=clock)
    r.clock = clock
    return r


def test_tensors_of_an_unclaimed_step_expire_with_the_deadline_their_sender_states(rv):
    rv.send(key(1), np.zeros(10, np.float32), expires_in=2.0)
    assert rv.unclaimed == {"steps": 1, "bytes": 40, "expired": 0}
    rv.clock.t += 1.9
    assert rv.expire() == 0
    rv.clock.t += 0.2
    assert rv.expire() == 1
    assert rv.unclaimed == {"steps": 0, "bytes": 0, "expired": 1}
    with pytest.raises(tw.errors.CancelledError, match="expired here before it ran: nobody ran"):
        rv.recv(key(1), 0.1)
    rv.send(key(1, "late"), np.zeros(3))  # a late tensor of the expired step: dropped
    assert rv.pending() == []


def test_without_a_stated_deadline_the_default_ttl_applies(rv):
    rv.send(key(1), np.zeros(4))
    rv.clock.t += rv_mod.UNCLAIMED_TTL_S - 1
    assert rv.expire() == 0
    rv.clock.t += 2
    assert rv.expire() == 1


def test_a_claimed_step_keeps_what_was_sent_ahead_until_it_takes_it(rv):
    x = np.arange(5.0)
    rv.send(key(3), x, expires_in=1.0)
    rv.claim(3)
    assert rv.unclaimed["steps"] == 0 and rv.unclaimed["bytes"] == 0
    rv.clock.t += 100
    assert rv.expire() == 0
    np.testing.assert_array_equal(rv.recv(key(3), 0.1), x)
    rv.cleanup(3)


def test_a_receive_claims_its_step(rv):
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("a", rv.recv(key(4, "a"), 30.0)))
    t.start()
    wait_for(lambda: rv._steps.get(4) is not None and rv._steps[4].waiters, what="the receiver")
    rv.send(key(4, "b"), np.zeros(2), expires_in=0.5)  # for a later receive of the same step
    rv.clock.t += 10
    assert rv.expire() == 0
    rv.send(key(4, "a"), np.ones(1))
    t.join(10)
    assert got["a"].shape == (1,) and rv.recv(key(4, "b"), 0.1).shape == (2,)


def test_unclaimed_bytes_are_bounded_oldest_step_first(rv):
    rv.max_unclaimed_bytes = 100
    for step in (1, 2, 3):
        rv.send(key(step), np.zeros(40, np.uint8), expires_in=60)
    assert rv.unclaimed["bytes"] == 80 and rv.unclaimed["steps"] == 2 and rv.unclaimed["expired"] == 1
    with pytest.raises(tw.errors.CancelledError, match="passed 100 bytes"):
        rv.recv(key(1), 0.1)
    assert rv.recv(key(3), 0.1).nbytes == 40


def test_aborts_of_steps_that_never_run_here_are_bounded_and_expire(rv):
    n = rv_mod.MAX_UNCLAIMED_ABORTS + 500
    for step in range(n):
        rv.abort(step, tw.errors.CancelledError(None, None, f"abort {step}"))
    assert len(rv._steps) == rv_mod.MAX_UNCLAIMED_ABORTS
    assert rv.unclaimed["steps"] == rv_mod.MAX_UNCLAIMED_ABORTS
    rv.clock.t += rv_mod.ABORT_TTL_S + 1
    assert rv.expire() == rv_mod.MAX_UNCLAIMED_ABORTS
    assert rv._steps == {} and rv.unclaimed["steps"] == 0


def test_an_abort_that_comes_before_its_step_still_fails_it(rv):
    rv.abort(9, tw.errors.CancelledError(None, None, "peer failed"))
    rv.claim(9)                          # the step's run_graph came after its abort
    rv.clock.t += rv_mod.ABORT_TTL_S * 10
    rv.expire()
    with pytest.raises(tw.errors.CancelledError, match="peer failed"):
        rv.recv(key(9), 0.1)
    rv.cleanup(9)
    assert rv._steps == {} and rv.unclaimed == {"steps": 0, "bytes": 0, "expired": 0}


def test_cleanup_of_an_unclaimed_step_settles_its_accounts(rv):
    rv.send(key(5), np.zeros(100, np.uint8), expires_in=60)
    rv.cleanup(5)
    assert rv.unclaimed == {"steps": 0, "bytes": 0, "expired": 0} and rv._steps == {}


# ----------------------------------------------------------------------------------------------
# a live worker
# ----------------------------------------------------------------------------------------------
def test_a_worker_drops_unclaimed_tensors_at_their_deadline_and_its_memory_returns(raw_push):
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:0"):
            x = tw.placeholder(tw.float32, [3])
        with tw.device("/cpu:1"):
            y = x * 2.0
    with tw.Session(graph=g, config=tw.ConfigProto(device_count={"CPU": 2})) as sess:
        np.testing.assert_allclose(sess.run(y, {x: [1, 2, 3]}), [2, 4, 6])
        (w,) = [w for d, w in sess._master.workers.items() if d.endswith("CPU:1")]
        dealer = raw_push(w.client.endpoint, zmq.DEALER)
        proc = psutil.Process(w.pid)
        gc.collect()
        before = proc.memory_info().rss
        push = raw_push(w.data)
        big = np.ones(32 * MiB // 4, np.float32)
        meta, frames = wire.encode_tensor(big)   # (in frames: no shared memory to release)
        for i in range(4):
            push.send_multipart(wire.pack({"op": "tensor", "key": [2**50 + i, "/a", "/b", "t"],
                                           "t": meta, "ttl": 1.0}, frames))
        status = lambda: _call(dealer, {"op": "status", "id": 1})["status"]  # noqa: E731
        wait_for(lambda: status()["unclaimed"]["bytes"] > 0 or
                 status()["unclaimed"]["expired"] >= 4, what="the tensors to arrive")
        wait_for(lambda: status()["unclaimed"]["expired"] >= 4, 15.0, "them to expire")
        assert status()["unclaimed"]["bytes"] == 0
        # 128 MiB went through; what stays is far less (the frames went back to the allocator)
        wait_for(lambda: proc.memory_info().rss - before < 64 * MiB, 15.0,
                 f"the worker's memory to return (grew by "
                 f"{(proc.memory_info().rss - before) / MiB:.0f} MiB)")
        for i in range(3000):           # aborts of steps nobody runs: bounded
            dealer.send_multipart(wire.pack({"op": "abort_step", "id": 10 + i,
                                             "step": 2**51 + i, "message": "x"}))
            if i % 500 == 499:
                while dealer.poll(0):
                    dealer.recv_multipart()
        while dealer.poll(1000):         # (every reply, before asking for the status)
            dealer.recv_multipart()
        assert 0 < status()["unclaimed"]["steps"] <= rv_mod.MAX_UNCLAIMED_ABORTS
        np.testing.assert_allclose(sess.run(y, {x: [1, 2, 3]}), [2, 4, 6])
        assert psutil.pid_exists(w.pid) and os.getpid() != w.pid


def test_a_running_step_keeps_its_claim_between_timed_out_receives(rv):
    # a local worker's main thread receives in short slices; what arrives between two slices
    # is the running step's, not an unclaimed step's
    rv.max_unclaimed_bytes = 100
    with pytest.raises(tw.errors.DeadlineExceededError):
        rv.recv(key(7), 0.0)
    rv.send(key(7), np.zeros(10, np.uint8), expires_in=0.5)
    assert rv.unclaimed["steps"] == 0
    rv.send(key(70), np.zeros(200, np.uint8), expires_in=0.5)   # over the cap: others go
    rv.clock.t += 10
    rv.expire()
    assert rv.recv(key(7), 0.1).nbytes == 10
    rv.cleanup(7)
    assert 7 not in rv._steps
