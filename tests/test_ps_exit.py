"""A ps task's `Server.join()` returns once every training task of its cluster (any job but
`ps`) has said its training ended (`task_done`, sent by `MonitoredTrainingSession`), so a TF1
ps program does not wait forever (issue 11)."""
from __future__ import annotations

import threading

import pytest

import tensorweave as tw
from tensorweave.runtime.rpc import WorkerClient


def _client(server) -> WorkerClient:
    return WorkerClient("tcp://" + server._address, server.device)


def _done(client, task, done=True):
    client.call({"op": "task_done", "task": task, "done": done}, timeout_s=10.0)


def _status(client):
    return client.call({"op": "status"}, timeout_s=10.0)[0]["status"]


def test_the_ps_says_training_is_done_once_every_training_task_is():
    workers, (ps,) = tw.test.create_local_cluster(2, 1)
    client = _client(ps)
    try:
        _done(client, "/job:worker/task:0")
        _done(client, "/job:worker/task:0")              # (twice counts once)
        assert not _status(client)["training_done"]
        with pytest.raises(tw.errors.OpError, match="not a training task of this cluster"):
            _done(client, "/job:ps/task:0")
        _done(client, "/job:worker/task:1")
        assert _status(client)["training_done"]
        _done(client, "/job:worker/task:1", done=False)  # it trains again
        assert not _status(client)["training_done"]
        ps.join(timeout=1.0)                              # so join waits (and times out)
        assert ps.poll() is None
        _done(client, "/job:worker/task:1")
        ps.join(timeout=30)                               # returns: the task was stopped
        assert ps.poll() is not None
        workers[0].join(timeout=1.0)                      # a worker task's join does not
        assert workers[0].poll() is None
    finally:
        client.close()
        for s in workers + [ps]:
            s.stop()


def test_ps_server_join_returns_when_the_training_ends():
    """TF1's between-graph program: each worker task trains with MonitoredTrainingSession to
    a last step; the ps keeps serving after that (an evaluation session still works), and
    the ps program's `server.join()` returns; a training that fails does not count."""
    workers, (ps,) = tw.test.create_local_cluster(2, 1)
    cluster = tw.train.ClusterSpec({job: {int(i): a for i, a in tasks.items()}
                                    for job, tasks in ps.server_def["cluster"].items()})
    errors = []

    def build(task):
        g = tw.Graph()
        with g.as_default():
            with tw.device(tw.train.replica_device_setter(
                    cluster=cluster, worker_device=f"/job:worker/task:{task}")):
                gs = tw.train.get_or_create_global_step()
                w = tw.Variable(1.0, name="w")
                train = tw.train.GradientDescentOptimizer(0.1).minimize(
                    tw.square(w), global_step=gs)
        return g, w, train

    def work(task, fail=False):
        try:
            g, _, train = build(task)
            with g.as_default():
                with tw.train.MonitoredTrainingSession(
                        master=workers[task].target, is_chief=task == 0, max_wait_secs=30,
                        hooks=[tw.train.StopAtStepHook(last_step=10)]) as sess:
                    while not sess.should_stop():
                        sess.run(train)
                        if fail:
                            raise ValueError("gave up")
        except ValueError:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)
    client = _client(ps)
    try:
        work(0)                       # the chief trains to step 10; task 1 fails at once
        work(1, fail=True)
        assert not errors, errors
        assert not _status(client)["training_done"]
        g, w, _ = build(1)
        with g.as_default(), tw.Session(workers[1].target) as s:
            assert 0 < s.run(w) < 1.0           # the ps still serves what was trained
        t = threading.Thread(target=work, args=(1,), daemon=True)
        t.start()
        t.join(60)
        assert not errors, errors
        ps.join(timeout=30)
        assert ps.poll() is not None            # join returned because training ended
        assert all(w.poll() is None for w in workers)
    finally:
        client.close()
        for s in workers + [ps]:
            s.stop()
