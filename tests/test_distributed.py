"""Devices as worker processes: local multi-device sessions, clusters, faults, no orphans."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import psutil
import pytest

import tensorweave as tw

TWO_CPUS = tw.ConfigProto(device_count={"CPU": 2})
CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"


def _model():
    """A small softmax regression with its variables on /cpu:1 and compute on /cpu:0."""
    tw.set_random_seed(0)
    x = tw.placeholder(tw.float32, [None, 4], name="x")
    y = tw.placeholder(tw.int32, [None], name="y")
    with tw.device("/cpu:1"):
        w = tw.get_variable("w", [4, 3], initializer=tw.constant_initializer(0.1))
        b = tw.get_variable("b", [3], initializer=tw.zeros_initializer())
    with tw.device("/cpu:0"):
        logits = tw.matmul(x, w) + b
        loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                            logits=logits))
        train = tw.train.MomentumOptimizer(0.5, 0.9).minimize(loss)
    return x, y, w, loss, train


def _train(config):
    g = tw.Graph()
    with g.as_default():
        x, y, w, loss, train = _model()
        init = tw.global_variables_initializer()
    rng = np.random.RandomState(0)
    xs, ys = rng.rand(16, 4).astype(np.float32), rng.randint(0, 3, 16).astype(np.int32)
    losses = []
    with tw.Session(graph=g, config=config) as s:
        s.run(init)
        for _ in range(3):
            losses.append(s.run([loss, train], {x: xs, y: ys})[0])
        return losses, s.run(w)


def test_two_devices_give_the_same_numbers_as_one_process():
    losses1, w1 = _train(tw.ConfigProto(allow_soft_placement=True))  # one process
    losses2, w2 = _train(TWO_CPUS)
    np.testing.assert_allclose(losses1, losses2, rtol=1e-6)
    np.testing.assert_allclose(w1, w2, rtol=1e-6)
    assert losses2[2] < losses2[0]


def test_partition_graphs_have_one_send_recv_pair_per_crossing_tensor():
    with tw.device("/cpu:0"):
        a = tw.constant(np.arange(4, dtype=np.float32), name="a")
    with tw.device("/cpu:1"):
        b = tw.square(a, name="b")        # a crosses to CPU:1 once...
        c = tw.negative(a, name="c")      # ...and is reused here
    with tw.device("/cpu:0"):
        d = tw.add(b, c, name="d")        # b and c cross back
    opts = tw.RunOptions(output_partition_graphs=True)
    md = tw.RunMetadata()
    with tw.Session(config=TWO_CPUS) as s:
        np.testing.assert_allclose(s.run(d, options=opts, run_metadata=md), [0, 0, 2, 6])
        devices = [d.name for d in s.list_devices()]
    assert devices == [CPU0, CPU1]
    ops = [n.op for gd in md.partition_graphs for n in gd.node]
    assert ops.count("_Send") == 3 and ops.count("_Recv") == 3


def test_independent_work_on_two_devices_overlaps(tmp_path):
    # a barrier of two parties opens only if both run at the same time: run one after the
    # other, the first would wait for the second until its deadline and fail the step
    with tw.device("/cpu:0"):
        s0 = tw.test.barrier(tmp_path, "cpu0", ["cpu0", "cpu1"])
    with tw.device("/cpu:1"):
        s1 = tw.test.barrier(tmp_path, "cpu1", ["cpu0", "cpu1"])
    with tw.Session(config=TWO_CPUS) as s:
        (a0, a1), (b0, b1) = s.run([s0, s1])
    assert b0 <= a1 and a0 <= b1   # each arrived before the other was released


def test_a_worker_runs_what_each_arriving_tensor_enables_in_arrival_order(tmp_path):
    # /cpu:1 sends `fast` at once; `slow` cannot finish before `y` (on /cpu:0, needing only
    # `fast`) has started, and /cpu:0 was built to read `slow` first.  A fixed order would
    # wait for `slow` before starting `y`: a deadlock, which the barrier's deadline reports.
    # The dataflow executor starts `y` as soon as `fast` is there.
    with tw.device("/cpu:1"):
        fast = tw.test.sleep(0.0, name="fast")
        slow = tw.test.barrier(tmp_path, "slow", ["slow", "y"], after=fast, name="slow")
    with tw.device("/cpu:0"):
        x = tw.test.sleep(0.0, after=slow, name="x")
        y = tw.test.barrier(tmp_path, "y", ["slow", "y"], after=fast, name="y")
    with tw.Session(config=TWO_CPUS) as s:
        (_, slow_end), (x_start, _), _ = s.run([slow, x, y])
    assert x_start >= slow_end  # x does wait for the tensor it needs


def test_a_ready_send_leaves_before_unrelated_work_that_the_same_tensor_enables(tmp_path):
    # when r2 arrives on /cpu:0 it completes both `out` (whose result goes back to /cpu:1)
    # and `heavy`; `out` and its _Send come first in the graph's order.  `heavy` cannot finish
    # before `back` (on /cpu:1, after `out`) has started: if the _Send of `out` waited for
    # `heavy`, the step would deadlock, which the barrier's deadline reports.
    with tw.device("/cpu:1"):
        r1 = tw.test.sleep(0.0, name="r1")
        r2 = tw.test.sleep(0.0, after=r1, name="r2")
    with tw.device("/cpu:0"):
        out = tw.add(r1, r2, name="out")
        heavy = tw.test.barrier(tmp_path, "heavy", ["heavy", "back"], after=r2, name="heavy")
    with tw.device("/cpu:1"):
        back = tw.test.barrier(tmp_path, "back", ["heavy", "back"], after=out, name="back")
    with tw.Session(config=TWO_CPUS) as s:
        s.run([back, heavy])


def test_a_barrier_whose_parties_run_one_after_the_other_fails_at_its_deadline(tmp_path):
    # what the three tests above rely on: on one device the two parties run in turn
    a = tw.test.barrier(tmp_path, "a", ["a", "b"], timeout=0.2, name="a")
    b = tw.test.barrier(tmp_path, "b", ["a", "b"], after=a, timeout=0.2, name="b")
    with tw.Session() as s:
        with pytest.raises(tw.errors.DeadlineExceededError, match=r"barrier 'a' waited .*'b'"):
            s.run(b)


def _dataflow_plan_of(y, recv_any):
    """Partition `y`'s graph over /cpu:0 and /cpu:1 and compile /cpu:0's part as a worker
    does (a dataflow plan, its tensors taken by `recv_any(keys)`), in this process."""
    from tensorweave.compiler.partitioner import partition
    from tensorweave.framework.func_graph import FuncGraph
    from tensorweave.framework.graphdef import import_graph_def
    from tensorweave.kernels import get_backend
    from tensorweave.kernels.context import KernelContext
    from tensorweave.compiler.exec_nodes import exec_nodes_from_ops
    from tensorweave.compiler.prune import prune_ops
    from tensorweave.runtime.executor import compile_step

    ops = prune_ops([y])
    part = partition(ops, {o.name: o.device for o in ops}, (), [y], ())["/device:CPU:0"]
    g = FuncGraph("part", None)
    with g.as_default():
        import_graph_def(part.graph_def, name="")
    nodes = exec_nodes_from_ops(prune_ops([g.get_tensor_by_name(n) for n in part.fetches]))
    ctx = KernelContext("/device:CPU:0")
    ctx.step = threading.local()
    ctx.step.id = 5
    ctx.send = ctx.recv = lambda *a: pytest.fail("a dataflow plan calls no kernel to receive")
    ctx.recv_any = recv_any
    step = compile_step(nodes, [], [(y.op.name, 0)], ctx, get_backend("CPU"), validate=True)
    assert "__wait" in step.source                   # a dataflow plan
    return step, [n.name for n in nodes if n.op == "_Recv"]


def test_a_dataflow_plan_that_times_out_names_the_recv_it_waits_for():
    from tensorweave.runtime.rendezvous import Rendezvous
    d0, d1 = "/device:CPU:0", "/device:CPU:1"
    with tw.device("/cpu:1"):
        a = tw.constant(np.ones(4, np.float32)) * 1.0
        b = tw.constant(np.ones(4, np.float32)) * 2.0
    with tw.device("/cpu:0"):
        y = tw.add(a, b, name="y")
    rv = Rendezvous()
    step, recvs = _dataflow_plan_of(y, lambda keys: rv.recv_any(keys, 0.05))
    rv.send((5, d1, d0, "mul:0"), np.ones(4, np.float32))  # a arrives, b never does
    with pytest.raises(tw.errors.DeadlineExceededError) as ei:
        step()
    assert ei.value.node_def is not None and ei.value.node_def.name == recvs[1]
    assert f"[[node {recvs[1]} (op _Recv) on {d0}" in str(ei.value)
    assert "'mul_1:0'" in str(ei.value)
    assert isinstance(ei.value.__cause__, tw.errors.DeadlineExceededError)  # the rendezvous's


def test_a_long_chain_of_constants_behind_a_recv_compiles_as_a_dataflow_plan():
    # each constant waits (by a control edge) for the one before it, the first for a tensor of
    # /cpu:1: what the chain waits for is passed along it without recursion
    with tw.device("/cpu:1"):
        r = tw.constant(np.ones(2, np.float32)) * 2.0
    with tw.device("/cpu:0"):
        prev = r
        for i in range(1500):
            with tw.control_dependencies([prev.op]):
                prev = tw.constant(np.full(2, i, np.float32))
        y = tw.add(prev, 1.0)
    step, _ = _dataflow_plan_of(y, lambda keys: (next(iter(keys)), np.ones(2, np.float32)))
    np.testing.assert_array_equal(step()[0], [1500, 1500])


def test_dataflow_order_never_lets_a_consumer_overwrite_a_buffer_another_still_reads():
    # t has two readers on /cpu:0 waiting for different tensors; `v` is the last reader in
    # the graph's order (and Add may write into a buffer its last reader owns), but its tensor
    # arrives first, so it runs first and must not touch t.
    x = np.arange(4, dtype=np.float32)
    with tw.device("/cpu:1"):
        b = tw.constant(np.full(4, 100, np.float32)) * 1.0
        late = tw.test.sleep(0.5)
        with tw.control_dependencies([late]):
            a = tw.constant(np.full(4, 10, np.float32)) * 1.0
    with tw.device("/cpu:0"):
        t = tw.constant(x) * 2.0
        u = tw.add(t, a, name="u")
        v = tw.add(t, b, name="v")
    with tw.Session(config=TWO_CPUS) as s:
        for _ in range(3):
            uv, vv = s.run([u, v])
            np.testing.assert_array_equal(uv, 2 * x + 10)
            np.testing.assert_array_equal(vv, 2 * x + 100)


def test_a_session_started_on_a_thread_outlives_the_thread():
    # Linux's parent-death signal follows the parent *thread*: workers started from a thread
    # that then ends must keep serving the session
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            y = tw.constant(np.arange(3, dtype=np.float32)) * 2.0
    box = []
    t = threading.Thread(target=lambda: box.append(tw.Session(graph=g, config=TWO_CPUS)))
    t.start()
    t.join(60)
    # join() returns a little before the OS thread is gone, and Linux sends the parent-death
    # signal when it is: wait for that, so a worker it would kill is killed before the step
    task = f"/proc/self/task/{t.native_id}"
    deadline = time.monotonic() + 30
    while os.path.exists(task) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(task)
    with box[0] as s:
        np.testing.assert_allclose(s.run(y), [0, 2, 4])


def test_kernel_error_on_a_worker_names_node_type_device_and_line():
    x = tw.placeholder(tw.float32, [None])
    with tw.device("/cpu:1"):
        y = tw.reshape(x, [2, 2], name="bad_reshape")
    with tw.Session(config=TWO_CPUS) as s:
        with pytest.raises(tw.errors.InvalidArgumentError) as ei:
            s.run(y, {x: np.zeros(3, np.float32)})
        msg = str(ei.value)
        assert "bad_reshape" in msg and "(op Reshape)" in msg and "CPU:1" in msg
        assert "test_distributed.py" in msg
        # the session keeps working after a failed step
        assert s.run(y, {x: np.zeros(4, np.float32)}).shape == (2, 2)


def test_big_feeds_fetches_and_strings_cross_processes():
    x = tw.placeholder(tw.float32, [1024, 1024])
    with tw.device("/cpu:1"):
        y = x * 2.0
        s_ = tw.constant(["alpha", "béta"])
    with tw.device("/cpu:0"):
        z = tw.reduce_sum(y, axis=1)
    xv = np.random.RandomState(1).rand(1024, 1024).astype(np.float32)
    with tw.Session(config=TWO_CPUS) as s:
        for _ in range(3):  # shared-memory segments are reused step after step
            yv, zv, sv = s.run([y, z, s_], {x: xv})
            np.testing.assert_allclose(yv, xv * 2)
            np.testing.assert_allclose(zv, (xv * 2).sum(1), rtol=1e-5)
        yv[0, 0] = -1.0  # fetched arrays are the caller's (writable copies)
    assert list(sv) == [b"alpha", "béta".encode()]


def test_a_worker_killed_during_a_step_is_reported_by_task_and_step():
    with tw.device("/cpu:1"):
        slow = tw.test.sleep(60.0)
    result = {}
    with tw.Session(config=TWO_CPUS) as s:
        victim = s._master.workers[CPU1].proc
        client = s._master.workers[CPU1].client
        step_sent = threading.Event()

        def send(header, frames=(), dg=None, _send=client.send_request):  # note when the
            rid = _send(header, frames, dg)                                  # step is on its way
            if header["op"] == "run_graph":
                step_sent.set()
            return rid
        client.send_request = send

        def run():
            try:
                s.run(slow)
                result["ok"] = True
            except Exception as e:  # noqa: BLE001
                result["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        assert step_sent.wait(30), "the step never reached the worker"
        victim.send_signal(signal.SIGKILL)
        t.join(timeout=15)
        assert not t.is_alive(), "Session.run hung after its worker died"
    err = result.get("error")
    assert isinstance(err, tw.errors.UnavailableError), result
    assert "task:0" in str(err) and "CPU:1" in str(err) and "step" in str(err)


def test_workers_exit_when_their_client_is_killed(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        import psutil
        import tensorweave as tw
        s = tw.Session(config=tw.ConfigProto(device_count={"CPU": 2}))
        kids = [p.pid for p in psutil.Process().children()]
        print(" ".join(map(str, kids)), flush=True)
        time.sleep(120)
    """))
    env = dict(os.environ)
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                         env=env)
    try:
        line = p.stdout.readline()
        kids = [int(x) for x in line.split()]
        assert len(kids) == 2
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = kids
        while alive and time.monotonic() < deadline:
            alive = [k for k in kids if psutil.pid_exists(k)
                     and psutil.Process(k).status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.1)
        assert not alive, f"orphaned workers: {alive}"
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()


# ---------------------------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    workers, ps = tw.test.create_local_cluster(2, 1)
    yield workers, ps
    for s in workers + ps:
        s.stop()


def test_cluster_spec():
    cs = tw.train.ClusterSpec({"ps": ["h:1"], "worker": ["h:2", "h:3"]})
    assert cs.jobs == ["ps", "worker"] and cs.num_tasks("worker") == 2
    assert cs.task_address("worker", 1) == "h:3"
    assert cs.as_dict() == {"ps": ["h:1"], "worker": ["h:2", "h:3"]}
    with pytest.raises(ValueError, match="No such job"):
        cs.num_tasks("chief")


def test_session_on_a_cluster_places_by_job_and_task(cluster):
    workers, ps = cluster
    with tw.device("/job:ps/task:0"):
        w = tw.Variable(np.ones(3, np.float32), name="w")
    with tw.device("/job:worker/task:1"):
        y = w * 2.0
    with tw.device("/job:worker/task:0"):
        z = tw.reduce_sum(y)
        upd = tw.assign_add(w, y) if False else None
    with tw.Session(workers[0].target) as s:
        s.run(w.initializer)
        yv, zv = s.run([y, z])
        np.testing.assert_allclose(yv, [2, 2, 2])
        assert zv == 6.0
        names = [d.name for d in s.list_devices()]
    assert "/job:ps/replica:0/task:0/device:CPU:0" in names and len(names) == 3
    # variables live in the cluster: another session (through another task) sees them
    with tw.Session(workers[1].target) as s:
        np.testing.assert_allclose(s.run(w), [1, 1, 1])
    del upd


def test_a_cluster_task_serves_every_device_of_its_config():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cs = tw.train.ClusterSpec({"worker": [f"127.0.0.1:{port}"]})
    server = tw.train.Server(cs, "worker", 0, config=TWO_CPUS, start=False)
    assert server._procs == []                       # nothing started yet
    server.start()                                   # TF1: Server(start=False).start()
    try:
        x = np.arange(4, dtype=np.float32)
        with tw.device("/job:worker/task:0/device:CPU:1"):
            a = tw.constant(x) * 3.0
        with tw.device("/job:worker/task:0/cpu:0"):
            b = a + 1.0
        opts = tw.RunOptions(output_partition_graphs=True)
        md = tw.RunMetadata()
        with tw.Session(server.target) as s:
            names = [d.name for d in s.list_devices()]
            np.testing.assert_allclose(s.run(b, options=opts, run_metadata=md), 3 * x + 1)
        assert names == ["/job:worker/replica:0/task:0/device:CPU:0",
                         "/job:worker/replica:0/task:0/device:CPU:1"]
        assert [d.name for d in server.devices] == names
        assert len(md.partition_graphs) == 2     # one per device of the task
        procs = [psutil.Process(p.pid) for p in server._procs]
        assert len(procs) == 2 and all(p.is_running() for p in procs)
    finally:
        server.stop()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


def test_server_reports_a_busy_address():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(OSError, match="cannot bind"):
            tw.train.Server({"worker": [f"127.0.0.1:{port}"]}, "worker", 0)


def test_replica_device_setter_puts_variables_on_ps_tasks():
    cs = {"ps": ["h:1", "h:2"], "worker": ["h:3"]}
    with tw.device(tw.train.replica_device_setter(cluster=cs, worker_device="/job:worker/task:0")):
        a = tw.Variable(1.0, name="a")
        b = tw.Variable(2.0, name="b")
        c = a + b
    assert (a.device, b.device) == ("/job:ps/task:0", "/job:ps/task:1")
    assert a.value().device == "/job:ps/task:0" and c.device == "/job:worker/task:0"


def _ps_model(device_fn):
    g = tw.Graph()
    with g.as_default(), tw.device(device_fn):
        x = tw.constant(np.random.RandomState(0).rand(8, 4).astype(np.float32))
        y = tw.constant(np.random.RandomState(1).randint(0, 3, 8).astype(np.int32))
        w = tw.get_variable("w", [4, 3], initializer=tw.constant_initializer(0.2))
        b = tw.get_variable("b", [3], initializer=tw.zeros_initializer())
        loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=tw.matmul(x, w) + b))
        train = tw.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tw.global_variables_initializer()
    return g, loss, train, init


def test_training_with_variables_on_ps_tasks_matches_one_process(cluster):
    workers, ps = cluster
    setter = tw.train.replica_device_setter(ps_tasks=1, worker_device="/job:worker/task:0")
    tw.Session.reset(workers[0].target)  # variables of earlier tests live in the cluster
    results = []
    for target, fn, cfg in ((workers[0].target, setter, None),
                            ("", None, tw.ConfigProto(allow_soft_placement=True))):
        g, loss, train, init = _ps_model(fn)
        with tw.Session(target, graph=g, config=cfg) as s:
            s.run(init)
            results.append([s.run([loss, train])[0] for _ in range(3)])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_concurrent_steps_from_several_threads():
    x = tw.placeholder(tw.float32, [100])
    with tw.device("/cpu:1"):
        y = x * 2.0
    with tw.device("/cpu:0"):
        z = tw.reduce_sum(y)
    errors = []
    with tw.Session(config=TWO_CPUS) as s:
        def work(k):
            try:
                for i in range(30):
                    v = np.full(100, float(k * 100 + i), np.float32)
                    assert s.run(z, {x: v}) == 200.0 * (k * 100 + i)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in ts)
    assert not errors, errors


def test_loop_gradients_and_saver_across_workers(tmp_path):
    with tw.device("/cpu:1"):
        w = tw.Variable(np.array([0.5, -0.3], np.float32), name="w")
    x = tw.placeholder(tw.float32, [2])
    with tw.device("/cpu:0"):
        _, y = tw.while_loop(lambda i, y: i < 3,
                             lambda i, y: (i + 1, tw.tanh(y * w) + x), [0, x])
        loss = tw.reduce_sum(y * y)
    grads = tw.gradients(loss, [w, x])
    train = tw.train.GradientDescentOptimizer(0.1).minimize(loss)
    saver = tw.train.Saver()
    xv = np.array([0.2, 0.4], np.float32)
    with tw.Session(config=TWO_CPUS) as s:
        s.run(tw.global_variables_initializer())
        g_workers = s.run(grads, {x: xv})
        s.run(train, {x: xv})
        path = saver.save(s, str(tmp_path / "model"), global_step=1)
        w_trained = s.run(w)
    with tw.Session(config=tw.ConfigProto(allow_soft_placement=True)) as s:
        s.run(tw.global_variables_initializer())
        g_one = s.run(grads, {x: xv})
        saver.restore(s, path)
        np.testing.assert_allclose(s.run(w), w_trained)
    for a, b in zip(g_workers, g_one):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with tw.Session(config=TWO_CPUS) as s:  # and restored into worker processes
        saver.restore(s, path)
        np.testing.assert_allclose(s.run(w), w_trained)


def test_another_client_cannot_re_route_a_sessions_tensors():
    # issue 10, item 4: the routes a graph is registered with are its own; a second client
    # registering a graph on the same worker with other peers for the same device used to
    # re-route every session's tensors to its endpoint
    import socket

    import zmq

    from tensorweave.compiler.partitioner import partition
    from tensorweave.runtime.rpc import WorkerClient
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cs = tw.train.ClusterSpec({"worker": [f"127.0.0.1:{port}"]})
    server = tw.train.Server(cs, "worker", 0, config=TWO_CPUS)
    ctx = zmq.Context()
    thief = ctx.socket(zmq.PULL)
    thief.setsockopt(zmq.LINGER, 0)
    thief_port = thief.bind_to_random_port("tcp://127.0.0.1")
    client = None
    try:
        cpu0 = "/job:worker/replica:0/task:0/device:CPU:0"
        cpu1 = "/job:worker/replica:0/task:0/device:CPU:1"
        x = np.arange(4, dtype=np.float32)
        with tw.device(cpu1):
            a = tw.constant(x) * 3.0
        with tw.device(cpu0):
            b = a + 1.0
        with tw.Session(server.target) as s:
            np.testing.assert_allclose(s.run(b), 3 * x + 1)
            # the second client: a graph of its own on CPU:1, sending to "CPU:0" at its socket
            g = tw.Graph()
            with g.as_default():
                with tw.device(cpu1):
                    c = tw.constant(1.0, name="c")
                with tw.device(cpu0):
                    d = tw.identity(c, name="d")
                ops = g.get_operations()
                parts = partition(ops, {o.name: o.device for o in ops}, (), [d], ())
            cpu1_ep = [dv for dv in s._master.workers.values() if dv.device == cpu1][0]
            client = WorkerClient(cpu1_ep.client.endpoint, "thief", ctx)
            client.call({"op": "register_graph", "graph": parts[cpu1].graph_def
                         .SerializeToString(), "feeds": [], "fetches": [], "targets": [],
                         "peers": {cpu0: [f"tcp://127.0.0.1:{thief_port}", False]},
                         "session": "thief"}, timeout_s=30.0)
            # the session's own step still reaches CPU:0 (re-routed, it would wait for its
            # tensor until this deadline), and nothing reached the thief
            opts = tw.RunOptions(timeout_in_ms=20000)
            np.testing.assert_allclose(s.run(b, options=opts), 3 * x + 1)
            assert not thief.poll(200)
    finally:
        if client is not None:
            client.close()
        thief.close(0)
        ctx.term()
        server.stop()
