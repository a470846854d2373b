"""Heartbeats of local workers (issue 10, item 2): a worker that is stopped or stuck in a C call
that holds its interpreter fails the step within the session's heartbeat timeout, named in the
error; a worker that is merely busy (its kernel releases the lock) is not; the timeout is
checked.  Each step also carries a generous RunOptions deadline, so a heartbeat that never fires
shows as a DeadlineExceededError instead of a hang."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.runtime import heartbeat

BACKSTOP = tw.RunOptions(timeout_in_ms=60_000)


def two_device_session(timeout_ms):
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:0"):
            x = tw.placeholder(tw.float32, [2, 2], name="x")
        with tw.device("/cpu:1"):
            y = tw.matmul(x, x, name="y")
    cfg = tw.ConfigProto(device_count={"CPU": 2},
                         experimental={"worker_heartbeat_timeout_ms": timeout_ms})
    return g, x, y, tw.Session(graph=g, config=cfg)


def worker(sess, device_suffix):
    (w,) = [w for d, w in sess._master.workers.items() if d.endswith(device_suffix)]
    return w


def wait_beating(w, timeout_s=30.0):
    """Wait until worker `w` beats again (after SIGCONT, or a call that held it returned)."""
    deadline = time.monotonic() + timeout_s
    while w.client.heartbeat.silent_for() > 0.5:
        assert time.monotonic() < deadline, "the worker did not beat again"
        time.sleep(0.05)


def test_a_stopped_worker_is_named_within_the_heartbeat_timeout():
    g, x, y, sess = two_device_session(1000)
    with sess:
        feed = {x: np.full((2, 2), 2.0, np.float32)}
        np.testing.assert_allclose(sess.run(y, feed), np.full((2, 2), 8.0))
        w = worker(sess, "CPU:1")
        os.kill(w.pid, signal.SIGSTOP)
        try:
            with pytest.raises(tw.errors.UnavailableError) as e:
                sess.run(y, feed, options=BACKSTOP)
        finally:
            os.kill(w.pid, signal.SIGCONT)
        msg = str(e.value)
        assert w.device in msg and f"pid {w.pid}" in msg and "no heartbeat" in msg
        assert "limit: 1 s" in msg
        # the worker carries on once it runs again
        wait_beating(w)
        np.testing.assert_allclose(sess.run(y, feed, options=BACKSTOP), np.full((2, 2), 8.0))


def test_a_stopped_worker_is_named_while_a_new_step_registers_its_graph():
    g, x, y, sess = two_device_session(1000)
    with g.as_default():
        with tw.device("/cpu:1"):
            z = y + 1.0
    with sess:
        feed = {x: np.ones((2, 2), np.float32)}
        sess.run(y, feed, options=BACKSTOP)
        w = worker(sess, "CPU:1")
        os.kill(w.pid, signal.SIGSTOP)
        try:   # z is a new plan: its partitions are registered first
            with pytest.raises(tw.errors.UnavailableError, match="no heartbeat") as e:
                sess.run(z, feed, options=BACKSTOP)
        finally:
            os.kill(w.pid, signal.SIGCONT)
        assert f"pid {w.pid}" in str(e.value)


def test_a_kernel_holding_the_interpreter_is_caught_and_a_busy_one_is_not():
    g, x, y, sess = two_device_session(1000)
    with g.as_default():
        with tw.device("/cpu:1"):
            held = tw.test.hold_interpreter(3, after=y)
            slept = tw.test.sleep(2.5, after=y)  # releases the lock: the worker keeps beating
    with sess:
        feed = {x: np.ones((2, 2), np.float32)}
        out, _ = sess.run([y, slept], feed, options=BACKSTOP)
        np.testing.assert_allclose(out, np.full((2, 2), 2.0))
        with pytest.raises(tw.errors.UnavailableError, match="stuck in a call that holds"):
            sess.run(held, feed, options=BACKSTOP)
        wait_beating(worker(sess, "CPU:1"))   # once the call returns
        np.testing.assert_allclose(sess.run(y, feed, options=BACKSTOP), np.full((2, 2), 2.0))


@pytest.mark.parametrize("bad", [0, -5, float("nan"), 1e12, "5000", True])
def test_the_heartbeat_timeout_is_checked_before_workers_start(bad):
    cfg = tw.ConfigProto(device_count={"CPU": 2},
                         experimental={"worker_heartbeat_timeout_ms": bad})
    with tw.Graph().as_default():
        with tw.device("/cpu:1"):
            c = tw.constant(1.0)
        with pytest.raises(tw.errors.InvalidArgumentError, match="worker_heartbeat_timeout_ms"):
            with tw.Session(config=cfg) as sess:
                sess.run(c)


def test_monitor_counts_beats_by_when_they_were_written():
    beat = heartbeat._BEAT.pack
    r, w = heartbeat.pipe()
    m = heartbeat.Monitor(r)
    m.last_beat -= 100
    assert m.silent_for() > 99          # nothing written
    os.write(w, beat(time.monotonic()))
    assert m.silent_for() < 1           # a fresh beat
    m.last_beat -= 100
    os.write(w, beat(time.monotonic() - 50)[:5])   # half a beat: not yet one
    assert m.silent_for() > 99
    os.write(w, beat(time.monotonic() - 50)[5:])   # a beat that waited 50 s in the pipe
    assert 49 < m.silent_for() < 51     # counts from when it was written, not read
    os.close(w)                         # the worker exited: EOF is no beat
    assert 49 < m.silent_for() < 51
    m.close()
    assert m.silent_for() > 49          # closed: still no beat, no error


def test_beater_writes_until_stopped_and_never_blocks_on_a_full_pipe():
    r, w = heartbeat.pipe()
    b = heartbeat.Beater(w, interval_s=0.001)
    m = heartbeat.Monitor(r)
    deadline = time.monotonic() + 10
    while m.silent_for() > 0 and time.monotonic() < deadline:
        m.last_beat = -1e9
        time.sleep(0.01)
    assert m.silent_for() == 0 or m.silent_for() < 1
    b.stop()          # joins the thread: it never blocked
    m.close()


def test_a_remote_worker_idle_longer_than_the_timeout_is_not_called_dead():
    (server,), _ = tw.test.create_local_cluster(1, 0)
    try:
        cfg = tw.ConfigProto(experimental={"worker_heartbeat_timeout_ms": 1000})
        with tw.Graph().as_default():
            with tw.device("/job:worker/task:0"):
                busy = tw.test.sleep(0.6)
            with tw.Session(server.target, config=cfg) as sess:
                sess.run(busy, options=BACKSTOP)
                time.sleep(1.5)     # idle for longer than the timeout: nothing was asked
                sess.run(busy, options=BACKSTOP)
    finally:
        server.stop()


def test_a_task_restarted_during_a_step_fails_the_step_naming_it():
    import threading
    (server,), _ = tw.test.create_local_cluster(1, 0)
    try:
        # (a limit long enough for the new process to be up and answer a ping)
        cfg = tw.ConfigProto(experimental={"worker_heartbeat_timeout_ms": 20_000})
        with tw.Graph().as_default():
            with tw.device("/job:worker/task:0"):
                busy = tw.test.sleep(30.0)
            with tw.Session(server.target, config=cfg) as sess:
                old = server.pids[0]
                t = threading.Timer(0.5, server.restart)  # the step's work dies with it
                t.start()
                try:
                    with pytest.raises(tw.errors.UnavailableError, match="was restarted") as e:
                        sess.run(busy, options=BACKSTOP)
                finally:
                    t.join(30)
                assert f"pid {old}, now {server.pids[0]}" in str(e.value)
    finally:
        server.stop()
