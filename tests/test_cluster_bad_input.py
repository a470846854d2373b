"""Bad cluster input is a clear error at the start, not a hang (issue 11): a task index or a job
the cluster does not have, a ClusterSpec task nobody listens on, replica counts that disagree
with the cluster.  (An unwritable checkpoint directory: test_runner_train.py.)

Every call that could hang runs in a thread joined with a generous bound; servers bind free
loopback ports and are stopped in `finally`."""
import logging
import re
import socket
import threading

import numpy as np
import psutil
import pytest

import tensorweave as tw

BOUND_S = 60.0          # "it returned": far above any timeout the calls below should take
FAST = tw.ConfigProto(operation_timeout_in_ms=1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def returns_within(fn, bound_s: float = BOUND_S):
    """fn()'s result, or the exception it raised; fails the test if it runs past bound_s."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(bound_s)
    assert not t.is_alive(), f"the call did not return within {bound_s} s (a hang)"
    return out.get("error", out.get("value"))


def children() -> set:
    return {p.pid for p in psutil.Process().children(recursive=True)}


# ----------------------------------------------------------------------------------------------
# 1. a task or job the cluster does not have
# ----------------------------------------------------------------------------------------------
def test_a_server_for_a_task_or_job_the_cluster_lacks_is_refused_before_it_starts():
    cs = tw.train.ClusterSpec({"worker": ["127.0.0.1:1", "127.0.0.1:2"], "ps": ["127.0.0.1:3"]})
    before = children()
    with pytest.raises(ValueError, match=r"task_index 5 is not a task of job 'worker' \(its "
                                         r"tasks: 0, 1\)"):
        tw.train.Server(cs, "worker", 5)
    with pytest.raises(ValueError, match=r"task_index -1 is not a task of job 'worker'"):
        tw.train.Server(cs, "worker", -1)
    with pytest.raises(ValueError, match=r"task_index 'x' is not a task"):
        tw.train.Server(cs, "worker", "x")
    with pytest.raises(ValueError, match=r"job 'chief' is not in the cluster \(its jobs: "
                                         r"'worker', 'ps'\)"):
        tw.train.Server(cs, "chief", 0)
    assert children() == before  # no worker process was started


def test_replica_device_setter_refuses_a_device_the_cluster_lacks():
    cs = tw.train.ClusterSpec({"worker": ["127.0.0.1:1", "127.0.0.1:2"], "ps": ["127.0.0.1:3"]})
    with pytest.raises(ValueError, match=r"worker_device '/job:worker/task:5' names task 5 of "
                                         r"job 'worker', which the cluster does not have "
                                         r"\(its tasks: 0, 1\)"):
        tw.train.replica_device_setter(cluster=cs, worker_device="/job:worker/task:5")
    with pytest.raises(ValueError, match=r"worker_device '/job:chief/task:0' names job "
                                         r"'chief', which is not in the cluster"):
        tw.train.replica_device_setter(cluster=cs, worker_device="/job:chief/task:0")
    with pytest.raises(ValueError, match=r"ps_device '/job:param' names job 'param'"):
        tw.train.replica_device_setter(cluster=cs, ps_device="/job:param")
    # what the cluster has is fine, as is a setter without a cluster (nothing to check)
    assert callable(tw.train.replica_device_setter(cluster=cs, worker_device="/job:worker/task:1"))
    assert callable(tw.train.replica_device_setter(ps_tasks=1, worker_device="/job:worker/task:5"))


def test_a_device_of_no_task_of_the_cluster_fails_placement_naming_it_and_the_devices():
    workers, ps = tw.test.create_local_cluster(1, 1)
    try:
        with tw.device("/job:ps/task:5"):
            v = tw.Variable(1.0, name="v")
        init = tw.global_variables_initializer()

        def run():
            with tw.Session(workers[0].target) as s:
                s.run(init)
        err = returns_within(run)
    finally:
        for s in workers + ps:
            s.stop()
    assert isinstance(err, tw.errors.InvalidArgumentError), err
    msg = str(err)
    assert "explicitly assigned to /job:ps/task:5" in msg and v.op.name in msg
    assert "/job:ps/replica:0/task:0/device:CPU:0" in msg  # what there is


# ----------------------------------------------------------------------------------------------
# 2. a task of the ClusterSpec that nobody listens on
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def cluster_without_its_ps():
    """A started worker task of a cluster whose ps task (its address) nobody listens on;
    yields (server, the ps address)."""
    ps_addr = f"127.0.0.1:{free_port()}"
    cs = tw.train.ClusterSpec({"worker": [f"127.0.0.1:{free_port()}"], "ps": [ps_addr]})
    server = tw.train.Server(cs, "worker", 0)
    try:
        yield server, ps_addr
    finally:
        server.stop()


def _ps_model():
    with tw.device(tw.train.replica_device_setter(ps_tasks=1, worker_device="/job:worker")):
        gstep = tw.train.get_or_create_global_step()
        v = tw.Variable(1.0, name="v")
        return v * 2.0, gstep


def test_a_session_on_a_cluster_with_an_unreachable_task_names_the_task_and_its_address(
        cluster_without_its_ps):
    server, ps_addr = cluster_without_its_ps
    y, _ = _ps_model()

    def run():
        with tw.Session(server.target) as s:
            return s.run(y)
    err = returns_within(run)
    assert isinstance(err, tw.errors.UnavailableError), err
    msg = str(err)
    assert f"/job:ps/task:0 at {ps_addr}" in msg
    assert "did not answer within 10 s" in msg and "connection refused" in msg
    assert "tw.train.Server" in msg   # what to do about it


def test_the_wait_for_an_unreachable_task_honours_operation_timeout_in_ms(
        cluster_without_its_ps):
    server, ps_addr = cluster_without_its_ps
    _ps_model()
    err = returns_within(lambda: tw.Session(server.target, config=FAST))
    assert isinstance(err, tw.errors.UnavailableError), err
    assert f"/job:ps/task:0 at {ps_addr}" in str(err) and "within 1 s" in str(err)


def test_monitored_training_sessions_report_the_unreachable_task(cluster_without_its_ps):
    server, ps_addr = cluster_without_its_ps
    y, _ = _ps_model()

    def chief():
        with tw.train.MonitoredTrainingSession(master=server.target, is_chief=True,
                                               config=FAST) as s:
            return s.run(y)
    err = returns_within(chief)
    assert isinstance(err, tw.errors.UnavailableError), err  # not retried: reported at once
    assert f"/job:ps/task:0 at {ps_addr}" in str(err)

    def other():   # waits for the chief (TF1), but only max_wait_secs
        with tw.train.MonitoredTrainingSession(master=server.target, is_chief=False,
                                               config=FAST, max_wait_secs=1) as s:
            return s.run(y)
    err = returns_within(other)
    assert isinstance(err, tw.errors.DeadlineExceededError), err
    assert f"/job:ps/task:0 at {ps_addr}" in str(err) and "connection refused" in str(err)


def test_a_task_address_where_something_else_listens_is_named_too():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)   # accepts connections, never answers
    addr = f"127.0.0.1:{listener.getsockname()[1]}"
    cs = tw.train.ClusterSpec({"worker": [f"127.0.0.1:{free_port()}"], "ps": [addr]})
    server = tw.train.Server(cs, "worker", 0)
    try:
        err = returns_within(lambda: tw.Session(server.target, config=FAST))
    finally:
        server.stop()
        listener.close()
    assert isinstance(err, tw.errors.UnavailableError), err
    assert f"/job:ps/task:0 at {addr}" in str(err)
    assert "does not answer as a tensorweave task" in str(err)


def test_a_session_target_nobody_listens_on_says_so():
    target = f"tw://127.0.0.1:{free_port()}"
    err = returns_within(lambda: tw.Session(target, config=FAST))
    assert isinstance(err, tw.errors.UnavailableError), err
    assert f"cannot reach {target}" in str(err) and "connection refused" in str(err)


# ----------------------------------------------------------------------------------------------
# 3. replica counts that disagree with the cluster
# ----------------------------------------------------------------------------------------------
def test_sync_replicas_counts_must_be_positive_ints():
    opt = tw.train.GradientDescentOptimizer(0.1)
    with pytest.raises(ValueError, match="replicas_to_aggregate must be at least 1, got 0"):
        tw.train.SyncReplicasOptimizer(opt, 0)
    with pytest.raises(ValueError, match="total_num_replicas must be at least 1, got 0"):
        tw.train.SyncReplicasOptimizer(opt, 2, 0)
    with pytest.raises(TypeError, match="replicas_to_aggregate must be an int, got 1.5"):
        tw.train.SyncReplicasOptimizer(opt, 1.5)
    with pytest.raises(TypeError, match="total_num_replicas must be an int, got True"):
        tw.train.SyncReplicasOptimizer(opt, 1, True)
    assert tw.train.SyncReplicasOptimizer(opt, np.int64(2))._total_num_replicas == 2


def _train_chief(target, cluster, replicas, total, num_tokens, last_step=2):
    """A chief's MonitoredTrainingSession with SyncReplicasOptimizer, trained to last_step;
    returns the global step it ended at."""
    g = tw.Graph()
    with g.as_default():
        with tw.device(tw.train.replica_device_setter(cluster=cluster,
                                                      worker_device="/job:worker/task:0")):
            gstep = tw.train.get_or_create_global_step()
            w = tw.Variable(np.ones(3), name="w")
            loss = tw.reduce_sum(w * w)
            opt = tw.train.SyncReplicasOptimizer(tw.train.GradientDescentOptimizer(0.1),
                                                 replicas, total)
            train = opt.minimize(loss, global_step=gstep)
        hooks = [opt.make_session_run_hook(True, num_tokens=num_tokens),
                 tw.train.StopAtStepHook(last_step=last_step)]
        with tw.train.MonitoredTrainingSession(master=target, is_chief=True, hooks=hooks,
                                               stop_grace_period_secs=2) as s:
            n = 0
            while not s.should_stop() and n < 50:
                s.run(train, options=tw.RunOptions(timeout_in_ms=20000))
                n += 1
            return s.run_step_fn(lambda step_context: step_context.session.run(gstep))


@pytest.fixture
def one_worker_cluster():
    workers, ps = tw.test.create_local_cluster(1, 1)
    try:
        cs = tw.train.ClusterSpec({"worker": [workers[0].target[len("tw://"):]],
                                   "ps": [ps[0].target[len("tw://"):]]})
        yield workers[0].target, cs
    finally:
        for s in workers + ps:
            s.stop()


def test_sync_replicas_that_could_never_make_a_first_step_is_an_error_at_the_start(
        one_worker_cluster):
    # two replicas to aggregate, no init tokens, one worker task: the chief would wait forever
    target, cs = one_worker_cluster
    err = returns_within(lambda: _train_chief(target, cs, 2, 2, num_tokens=0))
    assert isinstance(err, ValueError), err
    msg = str(err)
    assert "first step would never finish" in msg
    assert "replicas_to_aggregate=2" in msg and "total_num_replicas=2" in msg
    assert re.search(r"has 1 task\(s\) in job worker", msg) and "num_tokens=0" in msg
    assert "num_tokens=k) with k >= 1" in msg   # the way out


def test_sync_replicas_counts_that_disagree_but_train_are_a_warning(one_worker_cluster, caplog):
    # two replicas on one worker task with the default init tokens: its second gradient
    # counts, so training goes on; the mismatch is logged
    target, cs = one_worker_cluster
    caplog.set_level(logging.WARNING)
    got = returns_within(lambda: _train_chief(target, cs, 2, 2, num_tokens=-1))
    assert not isinstance(got, BaseException), got
    assert got >= 2
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "total_num_replicas=2 and replicas_to_aggregate=2" in said
    assert "has 1 task(s) in job worker" in said


def test_sync_replicas_counts_that_match_the_cluster_say_nothing(one_worker_cluster, caplog):
    target, cs = one_worker_cluster
    caplog.set_level(logging.WARNING)
    got = returns_within(lambda: _train_chief(target, cs, 1, 1, num_tokens=0))
    assert not isinstance(got, BaseException), got
    assert got >= 2
    assert not [r for r in caplog.records if "SyncReplicasOptimizer" in r.getMessage()]


def test_sync_replicas_counts_the_tasks_of_every_job_but_ps():
    # TF1 clusters often have a `chief` job beside `worker`: both run replicas
    from tensorweave.train.sync_replicas_optimizer import _worker_tasks
    ports = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    cs = tw.train.ClusterSpec({"chief": [ports[0]], "worker": [ports[1]], "ps": [ports[2]]})
    servers = [tw.train.Server(cs, job, 0) for job in ("chief", "worker", "ps")]
    try:
        g = tw.Graph()
        with g.as_default():
            with tw.device("/job:chief/task:0"):
                local_step = tw.Variable(0, name="local_step")
            with tw.Session(servers[0].target) as sess:
                assert _worker_tasks(sess, local_step) == ("chief and worker", 2)
    finally:
        for s in servers:
            s.stop()
