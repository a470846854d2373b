"""SyncReplicasOptimizer (train/sync_replicas_optimizer.py) and the QueueRunner / Coordinator it
runs on (train/queue_runner.py): N = 1, 2, 4 workers equal single-process training on the whole
batch, stale gradients are dropped, backup workers (replicas_to_aggregate < total_num_replicas)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tensorweave as tw

LR = 0.1
RNG = np.random.RandomState(7)
X = RNG.randn(8, 3)
Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * RNG.randn(8, 1)
W0 = np.array([[0.1], [0.2], [-0.1]])
B0 = np.array([0.05])
OPTS = tw.RunOptions(timeout_in_ms=20000)


def _model(x, y):
    w = tw.Variable(W0, name="w")
    b = tw.Variable(B0, name="b")
    loss = tw.reduce_mean(tw.square(tw.matmul(tw.constant(x), w) + b - tw.constant(y)))
    return w, b, loss


def _reference(x, y, steps):
    """Single-process GradientDescent on (x, y) for `steps` steps."""
    g = tw.Graph()
    with g.as_default():
        w, b, loss = _model(x, y)
        train = tw.train.GradientDescentOptimizer(LR).minimize(loss)
        with tw.Session() as sess:
            sess.run(tw.global_variables_initializer())
            for _ in range(steps):
                sess.run(train)
            return sess.run([w, b])


def _cluster_spec(server):
    # (server_def's cluster def has string task indices, which ClusterSpec refuses)
    return tw.train.ClusterSpec({job: {int(i): a for i, a in tasks.items()}
                                 for job, tasks in server.server_def["cluster"].items()})


def _read(sess, fetches):
    """Fetch without the hooks (StopAtStepHook may have asked to stop already)."""
    return sess.run_step_fn(lambda step_context: step_context.session.run(fetches,
                                                                            options=OPTS))


def _stop(servers):
    for s in servers:
        s.stop()


def _run_workers(workers, cluster, shards, replicas_to_aggregate, worker_fn):
    """One client thread per worker task, `len(shards)` of them (worker i trains on
    `shards[i]`; total_num_replicas = len(shards); `replicas_to_aggregate=None`: async, no
    SyncReplicasOptimizer), each with its own graph and MonitoredTrainingSession;
    `worker_fn(i, sess, train_op, w, b, gstep)` drives it.  Returns what each returned."""
    n = len(shards)
    assert len(workers) >= n
    results: dict = {}
    errors: list = []

    def client(i):
        try:
            g = tw.Graph()
            with g.as_default():
                with tw.device(tw.train.replica_device_setter(
                        cluster=cluster, worker_device=f"/job:worker/task:{i}")):
                    gstep = tw.train.get_or_create_global_step()
                    w, b, loss = _model(*shards[i])
                    opt = tw.train.GradientDescentOptimizer(LR)
                    if replicas_to_aggregate is not None:
                        opt = tw.train.SyncReplicasOptimizer(
                            opt, replicas_to_aggregate=replicas_to_aggregate,
                            total_num_replicas=n)
                    train_op = opt.minimize(loss, global_step=gstep)
                hooks = [tw.train.StopAtStepHook(last_step=worker_fn.last_step)]
                if replicas_to_aggregate is not None:   # (first, as before)
                    hooks.insert(0, opt.make_session_run_hook(
                        i == 0, num_tokens=worker_fn.num_tokens))
                with tw.train.MonitoredTrainingSession(
                        master=workers[i].target, is_chief=(i == 0), hooks=hooks,
                        max_wait_secs=30, stop_grace_period_secs=2) as sess:
                    results[i] = worker_fn(i, sess, train_op, w, b, gstep)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append((i, e))
            worker_fn.abort()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a worker client did not finish"
    if errors:
        raise errors[0][1]
    return results


@pytest.mark.parametrize("n", [1, 2, 4])
def test_n_workers_equal_single_process_training_on_the_whole_batch(n):
    """replicas_to_aggregate = total_num_replicas = N, each worker its 1/N of the batch (float64):
    20 global steps equal 20 steps of GradientDescent on the mean loss of the whole batch.
    (No init tokens, and the clients step together, so every aggregation takes exactly one
    gradient of each worker, computed from the same parameters; equal shards, so the mean of
    the shards' mean-loss gradients is the whole batch's.)"""
    steps = 20
    assert X.dtype == np.float64 and len(X) % n == 0
    rows = len(X) // n
    shards = [(X[i * rows:(i + 1) * rows], Y[i * rows:(i + 1) * rows]) for i in range(n)]
    workers, ps = tw.test.create_local_cluster(n, 1)
    try:
        cluster = _cluster_spec(workers[0])
        barrier = threading.Barrier(n, timeout=30)

        def drive(i, sess, train_op, w, b, gstep):
            for _ in range(steps):
                barrier.wait()
                assert not sess.should_stop()
                sess.run(train_op, options=OPTS)
            barrier.wait()
            out = _read(sess, [w, b, gstep])
            barrier.wait()  # all read before the chief goes
            return out
        drive.num_tokens, drive.last_step, drive.abort = 0, steps, barrier.abort
        res = _run_workers(workers, cluster, shards, n, drive)
    finally:
        _stop(workers + ps)
    w_ref, b_ref = _reference(X, Y, steps)
    assert sorted(res) == list(range(n))
    for i in range(n):
        w, b, gs = res[i]
        assert gs == steps
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-10)
    assert np.abs(w_ref - W0).max() > 0.1  # it trained
    if n > 1:
        # one worker's shard alone gives other parameters: the aggregation took them all
        w_one, _ = _reference(*shards[0], steps)
        assert np.abs(w_one - w_ref).max() > 1e-3


def test_a_stale_gradient_is_dropped():
    """In one process: two gradients of local step 0 are aggregated (global step 1); the next
    gradient, still of local step 0, is dropped; the one after it (local step 1) counts."""
    g = tw.Graph()
    with g.as_default():
        gstep = tw.train.get_or_create_global_step()
        w, b, loss = _model(X, Y)
        opt = tw.train.SyncReplicasOptimizer(tw.train.GradientDescentOptimizer(LR),
                                             replicas_to_aggregate=2, total_num_replicas=2)
        train_op = opt.minimize(loss, global_step=gstep)
        init_tokens = opt.get_init_tokens_op()
        sync_op = opt.get_chief_queue_runner().enqueue_ops[0]
        accums = [a for a, _ in opt._accumulator_list]
        counts = [a.num_accumulated() for a in accums]
        local_step = opt._local_step
        with pytest.raises(ValueError, match="after apply_gradients"):
            tw.train.SyncReplicasOptimizer(tw.train.GradientDescentOptimizer(LR),
                                           3, 2).get_init_tokens_op()
        with tw.Session() as sess:
            sess.run([tw.global_variables_initializer(), tw.local_variables_initializer()])
            sess.run(opt.chief_init_op)
            sess.run(init_tokens)
            sess.run(train_op, options=OPTS)
            sess.run(train_op, options=OPTS)
            assert sess.run(counts) == [2, 2]
            sess.run(sync_op, options=OPTS)
            assert sess.run(counts) == [0, 0]
            assert sess.run([gstep, local_step]) == [1, 0]
            w1, b1 = sess.run([w, b])
            sess.run(train_op, options=OPTS)      # local step 0 < 1: dropped
            assert sess.run(counts) == [0, 0]
            assert sess.run(local_step) == 1      # the token of step 1
            np.testing.assert_array_equal(sess.run(w), w1)
            sess.run(train_op, options=OPTS)      # local step 1: counts
            assert sess.run(counts) == [1, 1]
    w_ref, b_ref = _reference(X, Y, 1)
    np.testing.assert_allclose(w1, w_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b1, b_ref, rtol=0, atol=1e-12)


def test_backup_worker_each_update_uses_one_gradient():
    """replicas_to_aggregate=1 < total_num_replicas=2, both workers on the same data, running
    freely: training stops at the last step, and the parameters after `gs` global steps are
    `gs` steps of GradientDescent on that data: an update never uses a gradient of older
    parameters (a late worker's gradient is dropped).  (As in TF1, take_grad(1) averages all
    the fresh gradients there are, so with the same data on both workers this is one
    gradient's value.)"""
    last = 8
    workers, ps = tw.test.create_local_cluster(2, 1)
    try:
        cluster = _cluster_spec(workers[0])
        done = threading.Event()

        def drive(i, sess, train_op, w, b, gstep):
            n = 0
            while not sess.should_stop() and n < 100:
                sess.run(train_op, options=OPTS)
                n += 1
            if i == 1:
                done.set()
                return n, None
            assert done.wait(30)  # the chief's queue runner serves the other until it ends
            return n, _read(sess, [w, b, gstep])
        drive.num_tokens, drive.last_step, drive.abort = -1, last, done.set
        res = _run_workers(workers, cluster, [(X, Y), (X, Y)], 1, drive)
    finally:
        _stop(workers + ps)
    w, b, gs = res[0][1]
    assert last <= gs <= last + 2
    assert res[0][0] >= 1 and res[1][0] >= 1
    assert res[0][0] + res[1][0] >= gs  # every update took at least one worker's step
    w_ref, b_ref = _reference(X, Y, int(gs))
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Coordinator and QueueRunner
# ----------------------------------------------------------------------------------------------
def test_coordinator_records_the_first_error_and_join_reraises_it():
    coord = tw.train.Coordinator()
    assert not coord.should_stop() and coord.wait_for_stop(0.01) is False
    with coord.stop_on_exception():
        raise ValueError("first")
    coord.request_stop(KeyError("second"))  # not recorded: a stop was already requested
    assert coord.should_stop() and coord.wait_for_stop(0.01) is True
    with pytest.raises(ValueError, match="first"):
        coord.raise_requested_exception()
    with pytest.raises(ValueError, match="first"):
        coord.join([])
    coord.clear_stop()
    assert not coord.should_stop()
    coord.request_stop(tw.errors.OutOfRangeError(None, None, "end of input"))  # a clean stop
    coord.join([])
    # a registered thread still running after the grace period
    coord = tw.train.Coordinator()
    release = threading.Event()
    t = threading.Thread(target=release.wait, args=(30,), daemon=True)
    coord.register_thread(t)
    t.start()
    coord.request_stop()
    with pytest.raises(RuntimeError, match="threads still running"):
        coord.join(stop_grace_period_secs=0.05)
    release.set()
    t.join(5)


def test_queue_runner_loops_until_stopped_and_ends_quietly_when_the_queue_closes():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(3, tw.int32, shapes=[[]])
        counter = tw.Variable(0, name="counter")
        enq = q.enqueue(tw.assign_add(counter, 1))
        deq = q.dequeue()
        qr = tw.train.QueueRunner(q, [enq])
        tw.train.add_queue_runner(qr)
        with tw.Session() as sess:
            sess.run(tw.global_variables_initializer())
            coord = tw.train.Coordinator()
            threads = tw.train.start_queue_runners(sess, coord=coord)
            assert len(threads) == 2  # the enqueue op's and the one cancelling at the stop
            assert [sess.run(deq, options=OPTS) for _ in range(5)] == [1, 2, 3, 4, 5]
            coord.request_stop()  # the blocked enqueue (the queue is full) is cancelled
            coord.join(stop_grace_period_secs=10)
            assert not any(t.is_alive() for t in threads)
            assert sess.run(q.is_closed())
            # closed by someone else: the thread ends without an error and closes the queue
            q2 = tw.FIFOQueue(1, tw.int32, shapes=[[]])
            qr2 = tw.train.QueueRunner(q2, [q2.enqueue(7)])
            close2 = q2.close()
            coord = tw.train.Coordinator()
            threads = qr2.create_threads(sess, coord=coord, start=True)
            deq2 = q2.dequeue()
            assert sess.run(deq2, options=OPTS) == 7
            sess.run(close2)
            # (an enqueue already waiting for room goes in: closing does not cancel it)
            with pytest.raises(tw.errors.OutOfRangeError):
                for _ in range(3):
                    assert sess.run(deq2, options=OPTS) == 7
            threads[0].join(10)
            assert not threads[0].is_alive() and not coord.should_stop()
            coord.request_stop()
            coord.join(threads, stop_grace_period_secs=10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_queue_runner_reports_other_errors_to_the_coordinator():
    g = tw.Graph()
    with g.as_default():
        q = tw.FIFOQueue(2, tw.float32, shapes=[[]])
        p = tw.placeholder(tw.float32, [])
        qr = tw.train.QueueRunner(q, [q.enqueue(p)])  # never fed: the run fails
        with tw.Session() as sess:
            coord = tw.train.Coordinator()
            threads = qr.create_threads(sess, coord=coord, start=True)
            assert coord.wait_for_stop(10)
            with pytest.raises(tw.errors.InvalidArgumentError):
                coord.join(threads, stop_grace_period_secs=10)
            assert not any(t.is_alive() for t in threads)
            # without a coordinator the error is kept in exceptions_raised
            threads = qr.create_threads(sess, start=True)
            threads[0].join(10)
            assert [type(e) for e in qr.exceptions_raised] == [tw.errors.InvalidArgumentError]


def _loss(w, b):
    return float(np.mean((X @ w + b - Y) ** 2))


def test_async_training_reaches_the_target_loss_of_sync_training():
    """Async between-graph training (no SyncReplicasOptimizer: each worker applies its own
    half-batch gradient as soon as it has it) reaches the whole-batch loss that sync training
    reaches after 20 steps, within 100 global steps."""
    target = _loss(*_reference(X, Y, 20))
    assert target < 0.5 * _loss(W0, B0)   # (a loss that takes training to reach)
    workers, ps = tw.test.create_local_cluster(2, 1)
    start = threading.Barrier(2, timeout=30)
    try:
        def drive(i, sess, train_op, w, b, gstep):
            start.wait()   # (both train from here: the chief does not run alone)
            reached = None
            while not sess.should_stop():
                _, wv, bv, step = sess.run([train_op, w, b, gstep], options=OPTS)
                if reached is None and _loss(wv, bv) <= target:
                    reached = step
            return reached
        drive.last_step, drive.abort = 100, start.abort
        res = _run_workers(workers, _cluster_spec(workers[0]), [(X[:4], Y[:4]), (X[4:], Y[4:])],
                           None, drive)
    finally:
        _stop(workers + ps)
    results = {i: step for i, step in res.items() if step is not None}
    assert results, "async training never reached the sync run's loss"
    assert min(results.values()) <= 60    # (numpy, alternating the halves: 20 steps)
