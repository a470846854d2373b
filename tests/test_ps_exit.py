"""A ps task ends when every worker task of its cluster has said its training ended
(`task_done`), so the `server.join()` of a ps task's program returns (issue 11)."""
from __future__ import annotations

import pytest

import tensorweave as tw
from tensorweave.runtime.rpc import WorkerClient


def _client(server) -> WorkerClient:
    return WorkerClient("tcp://" + server.server_def["cluster"][server._job][str(server._task)],
                        server.device)


def test_the_ps_task_exits_once_every_worker_task_is_done():
    workers, (ps,) = tw.test.create_local_cluster(2, 1)
    client = _client(ps)
    try:
        client.call({"op": "task_done", "task": "/job:worker/task:0"}, timeout_s=10.0)
        assert ps.poll() is None            # one of two: it keeps serving
        with pytest.raises(tw.errors.OpError, match="not a worker task of this cluster"):
            client.call({"op": "task_done", "task": "/job:ps/task:0"}, timeout_s=10.0)
        client.call({"op": "task_done", "task": "/job:worker/task:0"}, timeout_s=10.0)
        assert ps.poll() is None            # (the same task twice counts once)
        client.call({"op": "task_done", "task": "/job:worker/task:1"}, timeout_s=10.0)
        ps.join(timeout=30)                 # returns: the process ended
        assert ps.poll() is not None and ps.poll()[1] == 0
        # a worker task does not end on it
        wc = _client(workers[0])
        try:
            for i in (0, 1):
                wc.call({"op": "task_done", "task": f"/job:worker/task:{i}"}, timeout_s=10.0)
            assert workers[0].poll() is None
        finally:
            wc.close()
    finally:
        client.close()
        for s in workers + [ps]:
            s.stop()


def test_ps_server_join_returns_when_the_workers_training_ends():
    """TF1's between-graph program: each worker task trains with MonitoredTrainingSession to
    a last step; the ps task's `server.join()` returns once both have finished."""
    import threading
    workers, (ps,) = tw.test.create_local_cluster(2, 1)
    cluster = tw.train.ClusterSpec({job: {int(i): a for i, a in tasks.items()}
                                    for job, tasks in ps.server_def["cluster"].items()})
    errors = []

    def work(task):
        try:
            g = tw.Graph()
            with g.as_default():
                with tw.device(tw.train.replica_device_setter(
                        cluster=cluster, worker_device=f"/job:worker/task:{task}")):
                    gs = tw.train.get_or_create_global_step()
                    w = tw.Variable(1.0)
                    train = tw.train.GradientDescentOptimizer(0.1).minimize(
                        tw.square(w), global_step=gs)
                with tw.train.MonitoredTrainingSession(
                        master=workers[task].target, is_chief=task == 0, max_wait_secs=30,
                        hooks=[tw.train.StopAtStepHook(last_step=10)]) as sess:
                    assert ps.poll() is None
                    while not sess.should_stop():
                        sess.run(train)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)
    try:
        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        ps.join(timeout=30)
        assert ps.poll() is not None and ps.poll()[1] == 0
        assert all(w.poll() is None for w in workers)  # the worker tasks keep serving
    finally:
        for s in workers + [ps]:
            s.stop()
