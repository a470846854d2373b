"""The data-parallel benchmarks (`python -m runner bench dataparallel`): in-graph replication
(`tw.train.replicate_model`) over two one-core workers, beside one worker on one core, the
in-process session on both cores, and what the hardware itself gives two processes; the bytes
a sync step moves between the workers against the least it could; and between-graph async
training on a local cluster.

MLP 784-2048-2048-10, batch 512, float32, one SGD step: the two towers of 256 examples run on
`/cpu:0` and `/cpu:1` (each worker pinned to its core, BLAS on one thread), the parameters
spread over both by size (`replicate_model`'s default), or all on `/cpu:0` as in TF's
tutorial.  The floor is the same matrix products in bare numpy: one process on one core for
the whole batch, against two processes on the two cores at once with half the batch each, so
the last row says how much of the second core the hardware lets any program use.

Sessions are timed in blocks of steps, in turn (`bench._median_blocks`), not one step each in
turn: a multi-process session's first step after another session ran is slow for reasons of
the benchmark, not of the session.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import time

import numpy as np

from .bench import Result, _median_blocks

__all__ = ["bench_mlp_towers", "bench_cnn_towers", "bench_async"]

BATCH = 512
LAYERS = [(784, 2048), (2048, 2048), (2048, 10)]


def _mlp(tw, batch):
    x, y = batch
    h = x
    for i, (a, b) in enumerate(LAYERS):
        w = tw.get_variable(f"w{i}", [a, b], initializer=tw.random_normal_initializer(stddev=0.02))
        bias = tw.get_variable(f"b{i}", [b], initializer=tw.zeros_initializer())
        h = tw.matmul(h, w) + bias
        if i < len(LAYERS) - 1:
            h = tw.nn.relu(h)
    return tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))


def _session(tw, stack, devices, config, params=None):
    """(session, its step, what `replicate_model` built); the session closes with `stack`."""
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [None, 784])
        y = tw.placeholder(tw.int32, [None])
        r = tw.train.replicate_model(lambda b: _mlp(tw, b), (x, y), devices,
                                     tw.train.GradientDescentOptimizer(0.1), param_device=params)
        init = tw.global_variables_initializer()
    s = stack.enter_context(tw.Session(graph=g, config=config))
    s.run(init)
    rng = np.random.RandomState(0)
    feed = {x: rng.rand(BATCH, 784).astype(np.float32),
            y: rng.randint(0, 10, BATCH).astype(np.int32)}
    return s, lambda: s.run(r.train_op, feed), r


def _numpy_mlp(batch: int, reps: int, core: int, start, out) -> None:
    """The MLP step's matrix products in bare numpy, on `core` with one BLAS thread (a child
    process); puts the median seconds per step on `out`, starting when `start` is set."""
    os.sched_setaffinity(0, {core})
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    rng = np.random.RandomState(core)
    ws = [rng.rand(a, b).astype(np.float32) * 0.02 for a, b in LAYERS]
    x = rng.rand(batch, 784).astype(np.float32)

    def step():
        hs = [x]
        for w in ws:
            hs.append(np.maximum(hs[-1] @ w, 0))
        g = np.ones_like(hs[-1])
        for i in range(len(ws) - 1, -1, -1):
            gw = hs[i].T @ g
            if i:
                g = g @ ws[i].T
            ws[i] -= 0.1 * gw
    step()
    start.wait()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    out.put(float(np.median(times)))


def _numpy_floor(reps: int) -> tuple[float, float]:
    """(one core on the whole batch, two cores at once on half each: the slower), seconds."""
    mp = multiprocessing.get_context("spawn")
    results = []
    for jobs in ([(BATCH, 0)], [(BATCH // 2, 0), (BATCH // 2, 1)]):
        start, out = mp.Event(), mp.Queue()
        ps = [mp.Process(target=_numpy_mlp, args=(b, reps, c, start, out)) for b, c in jobs]
        for p in ps:
            p.start()
        start.set()
        times = [out.get(timeout=600) for _ in ps]
        for p in ps:
            p.join(60)
        results.append(max(times))
    return results[0], results[1]


def _worker_status(sess, device: str | None = None) -> list[dict]:
    """The status of the session's workers (of `device` alone when given)."""
    out = []
    for dev, w in sess._master.workers.items():
        if device is None or dev == device:
            rep, _ = w.client.call({"op": "status"}, timeout_s=10.0)
            out.append(rep["status"])
    return out


def _sent_bytes(sess) -> int:
    """The tensor bytes the session's workers have sent to each other so far."""
    return sum(st["sent"]["bytes"] for st in _worker_status(sess))


def _bytes_per_step(sess, step, steps: int) -> float:
    before = _sent_bytes(sess)
    for _ in range(steps):
        step()
    return (_sent_bytes(sess) - before) / steps


def _least_bytes(n_towers: int, grads_and_vars) -> tuple[int, int]:
    """(parameters, input) bytes a step of `n_towers` towers must move at least when each
    variable lives on one of the towers' devices: each other tower receives it once and sends
    its gradient back once; the input shards of the towers away from the fed device travel
    once."""
    params = sum(int(np.prod(v.shape.as_list())) * v.dtype.size for _, v in grads_and_vars)
    x_bytes = (784 * 4 + 4) * BATCH  # the images and labels of the whole batch
    return 2 * params * (n_towers - 1), x_bytes * (n_towers - 1) // n_towers


def bench_mlp_towers(quick: bool) -> list[Result]:
    import tensorweave as tw
    if len(os.sched_getaffinity(0)) < 2:
        return [Result("MLP towers on two workers (needs 2 cores: skipped)", float("nan"),
                       "ex/s", "-", float("nan"), "-")]
    two = tw.ConfigProto(device_count={"CPU": 2})
    rounds = 3 if quick else 6
    both = ["/cpu:0", "/cpu:1"]
    with contextlib.ExitStack() as stack:
        sessions = [_session(tw, stack, both, two),            # two workers, parameters spread
                    _session(tw, stack, both, two, "/cpu:0"),  # the same, parameters on /cpu:0
                    _session(tw, stack, ["/cpu:0"], two),      # one worker on one core
                    _session(tw, stack, ["/cpu:0"], None)]     # in-process, both cores
        for _, step, _ in sessions:
            step()
        t_two, t_cpu0, t_one, t_in = _median_blocks([step for _, step, _ in sessions], rounds)
        sess, step, replicated = sessions[0]
        moved = _bytes_per_step(sess, step, 3)
        least_params, least_input = _least_bytes(2, replicated.grads_and_vars)
    f_one, f_two = _numpy_floor(3 * rounds)
    ex = BATCH
    least = least_params + least_input
    return [
        Result("MLP 784-2048-2048-10, batch 512, sync towers on 2 one-core workers",
               ex / t_two, "ex/s", "1 worker on 1 core", ex / t_one, ">= 1.8x",
               note=f"step {t_two * 1e3:.0f} ms vs {t_one * 1e3:.0f} ms"),
        Result("  the same with every parameter on /cpu:0 (TF's tutorial)",
               ex / t_cpu0, "ex/s", "1 worker on 1 core", ex / t_one, "(context)",
               note=f"step {t_cpu0 * 1e3:.0f} ms"),
        Result("  the same against the in-process session on both cores (BLAS 2 threads)",
               ex / t_two, "ex/s", "in-process, 2 BLAS threads", ex / t_in, ">= 1.0x",
               note=f"in-process step {t_in * 1e3:.0f} ms"),
        Result("  bare numpy, the same products: 2 processes on 2 cores vs 1 on 1 (the floor)",
               ex / f_two, "ex/s", "1 numpy process on 1 core", ex / f_one,
               "(context: what the hardware gives a second core)",
               note=f"numpy step {f_one * 1e3:.0f} ms on one core, {f_two * 1e3:.0f} ms for "
                    f"half the batch on each of two; tensorweave's 2 workers reach "
                    f"{(t_one / t_two) / (f_one / f_two):.2f} of that scaling"),
        Result("  bytes the 2 workers send each other per sync step vs the least",
               moved / 2**20, "MiB", "parameters in + gradients out, input shard",
               least / 2**20, "<= 1.05x", ratio=moved / least,
               note=f"least: {least_params / 2**20:.1f} MiB of parameters and gradients, "
                    f"{least_input / 2**20:.2f} MiB of input"
                    + ("; LESS THAN THE LEAST: the count or the bound is wrong"
                       if moved < 0.99 * least else "")),
    ]


def bench_cnn_towers(quick: bool) -> list[Result]:
    """The digits CNN of `runner train` at batch 64 and 512: two towers on two one-core
    workers against the in-process session on both cores (a model too small for one process
    to spread over two cores: its in-process step gains little from the second core)."""
    import tensorweave as tw
    from .train import _cnn

    def session(stack, devices, config, batch):
        rng = np.random.RandomState(0)
        images = rng.rand(batch, 8, 8).astype(np.float32)
        labels = rng.randint(0, 10, batch).astype(np.int32)
        g = tw.Graph()
        with g.as_default():
            x = tw.placeholder(tw.float32, [None, 8, 8])
            y = tw.placeholder(tw.int32, [None])
            r = tw.train.replicate_model(lambda b: _cnn(tw, *b)[0], (x, y), devices,
                                         tw.train.GradientDescentOptimizer(0.1))
            init = tw.global_variables_initializer()
        s = stack.enter_context(tw.Session(graph=g, config=config))
        s.run(init)
        return lambda: s.run(r.train_op, {x: images, y: labels})
    out = []
    for batch in (64, 512):
        two = tw.ConfigProto(device_count={"CPU": 2})
        with contextlib.ExitStack() as stack:
            steps = [session(stack, ["/cpu:0", "/cpu:1"], two, batch),
                     session(stack, ["/cpu:0"], None, batch),
                     session(stack, ["/cpu:0"], two, batch // 2)]   # one tower's share, alone
            for step in steps:
                step()
            n = 20 if batch == 64 else 5
            t_two, t_in, t_half = _median_blocks(steps, (3 if quick else 8), per_block=n)
        out.append(Result(f"digits CNN, batch {batch}, sync towers on 2 one-core workers",
                          batch / t_two, "ex/s", "in-process, both cores", batch / t_in,
                          ">= 1.5x", note=f"step {t_two * 1e3:.1f} ms vs {t_in * 1e3:.1f} ms "
                                          f"in-process; one one-core worker on half the "
                                          f"batch: {t_half * 1e3:.1f} ms (two workers with "
                                          f"free messages; {t_in / t_half:.2f}x in-process)"))
    return out


def bench_async(quick: bool) -> list[Result]:
    """Between-graph async training of the MLP on a local cluster of 1 ps task and 2 worker
    tasks (one BLAS thread each, batch 256 per worker), one client thread per worker: the
    examples per second of both together against worker 0 alone on the same cluster, and how
    long a worker's step waits for the parameters (its `recv_wait_s` per step)."""
    import threading

    import tensorweave as tw
    batch = BATCH // 2
    steps = 4 if quick else 10
    with contextlib.ExitStack() as stack:
        blas = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        saved = {k: os.environ.get(k) for k in blas}
        os.environ.update(dict.fromkeys(blas, "1"))  # (the task processes started here)
        try:
            workers, ps = tw.test.create_local_cluster(2, 1)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k)
                else:
                    os.environ[k] = v
        for server in workers + ps:
            stack.callback(server.stop)
        cluster = tw.train.ClusterSpec(
            {job: {int(i): a for i, a in tasks.items()}
             for job, tasks in workers[0].server_def["cluster"].items()})
        clients = []
        for task in range(2):
            g = tw.Graph()
            with g.as_default():
                with tw.device(tw.train.replica_device_setter(
                        cluster=cluster, worker_device=f"/job:worker/task:{task}")):
                    x = tw.placeholder(tw.float32, [None, 784])
                    y = tw.placeholder(tw.int32, [None])
                    loss = _mlp(tw, (x, y))
                    train = tw.train.GradientDescentOptimizer(0.1).minimize(loss)
                init = tw.global_variables_initializer()
            s = stack.enter_context(tw.Session(workers[task].target, graph=g))
            if task == 0:
                s.run(init)
            rng = np.random.RandomState(task)
            feed = {x: rng.rand(batch, 784).astype(np.float32),
                    y: rng.randint(0, 10, batch).astype(np.int32)}
            clients.append((s, lambda s=s, op=train, feed=feed: s.run(op, feed)))

        def wait_s(task):
            (st,) = _worker_status(clients[task][0], workers[task].device)
            return st["recv_wait_s"]

        def run(tasks):
            waited = [wait_s(t) for t in tasks]
            failed = []

            def loop(t):
                try:
                    for _ in range(steps):
                        clients[t][1]()
                except BaseException as e:  # noqa: BLE001 - raised below
                    failed.append(e)
            threads = [threading.Thread(target=loop, args=(t,)) for t in tasks]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
            wall = time.perf_counter() - t0
            if failed or any(t.is_alive() for t in threads):
                raise RuntimeError(f"bench_async: a worker's steps failed: {failed[:1]}")
            return (len(tasks) * steps * batch / wall,
                    max(wait_s(t) - w for t, w in zip(tasks, waited)) / steps)
        for _, step in clients:
            step()
        one, two = [], []
        for _ in range(2 if quick else 4):
            one.append(run([0]))
            two.append(run([0, 1]))
    ex_one = float(np.median([r[0] for r in one]))
    ex_two = float(np.median([r[0] for r in two]))
    wait_two = float(np.median([r[1] for r in two]))
    wait_one = float(np.median([r[1] for r in one]))
    return [Result("MLP async, 1 ps + 2 workers (batch 256 each), between-graph", ex_two,
                   "ex/s", "worker 0 alone on the same cluster", ex_one, "(reported)",
                   note=f"a worker's step waits {wait_two * 1e3:.0f} ms for parameters "
                        f"({wait_one * 1e3:.0f} ms alone)")]
