"""The data-parallel benchmarks (`python -m runner bench dataparallel`): in-graph replication
(`tw.train.replicate_model`) over two one-core workers, beside one worker on one core, the
in-process session on both cores, and what the hardware itself gives two processes.

MLP 784-2048-2048-10, batch 512, float32, one SGD step: the two towers of 256 examples run on
`/cpu:0` and `/cpu:1` (each worker pinned to its core, BLAS on one thread), the parameters
spread over both by size (`replicate_model`'s default), or all on `/cpu:0` as in TF's
tutorial.  The floor is the same matrix products in bare numpy: one process on one core for
the whole batch, against two processes on the two cores at once with half the batch each, so
the last row says how much of the second core the hardware lets any program use.
"""
from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np

from .bench import Result, _median_interleaved

__all__ = ["bench_mlp_towers", "bench_cnn_towers"]

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


def _session(tw, devices, config, params=None):
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [None, 784])
        y = tw.placeholder(tw.int32, [None])
        r = tw.train.replicate_model(lambda b: _mlp(tw, b), (x, y), devices,
                                     tw.train.GradientDescentOptimizer(0.1), param_device=params)
        init = tw.global_variables_initializer()
    s = tw.Session(graph=g, config=config)
    s.run(init)
    rng = np.random.RandomState(0)
    feed = {x: rng.rand(BATCH, 784).astype(np.float32),
            y: rng.randint(0, 10, BATCH).astype(np.int32)}
    return s, lambda: s.run(r.train_op, feed)


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


def bench_mlp_towers(quick: bool) -> list[Result]:
    import tensorweave as tw
    if len(os.sched_getaffinity(0)) < 2:
        return [Result("MLP towers on two workers (needs 2 cores: skipped)", float("nan"),
                       "ex/s", "-", float("nan"), "-")]
    two = tw.ConfigProto(device_count={"CPU": 2})
    reps = 3 if quick else 8
    both = ["/cpu:0", "/cpu:1"]
    sessions = [_session(tw, both, two),                   # two workers, parameters spread
                _session(tw, both, two, "/cpu:0"),         # the same, parameters on /cpu:0
                _session(tw, ["/cpu:0"], two),             # one worker on one core
                _session(tw, ["/cpu:0"], None)]            # in-process, both cores
    try:
        for _, step in sessions:
            step()
            step()
        t_two, t_cpu0, t_one, t_in = _median_interleaved([step for _, step in sessions],
                                                           reps)
    finally:
        for s, _ in sessions:
            s.close()
    f_one, f_two = _numpy_floor(reps)
    ex = BATCH
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
    ]


def bench_cnn_towers(quick: bool) -> list[Result]:
    """The digits CNN of `runner train` at batch 64: two towers of 32 on two one-core workers
    against the in-process session on both cores (a model too small for one process to spread
    over two cores)."""
    import tensorweave as tw
    from .train import _cnn
    batch = 64
    rng = np.random.RandomState(0)
    images = rng.rand(batch, 8, 8).astype(np.float32)
    labels = rng.randint(0, 10, batch).astype(np.int32)

    def session(devices, config):
        g = tw.Graph()
        with g.as_default():
            x = tw.placeholder(tw.float32, [None, 8, 8])
            y = tw.placeholder(tw.int32, [None])
            r = tw.train.replicate_model(lambda b: _cnn(tw, *b)[0], (x, y), devices,
                                         tw.train.GradientDescentOptimizer(0.1))
            init = tw.global_variables_initializer()
        s = tw.Session(graph=g, config=config)
        s.run(init)
        return s, lambda: s.run(r.train_op, {x: images, y: labels})
    sessions = [session(["/cpu:0", "/cpu:1"], tw.ConfigProto(device_count={"CPU": 2})),
                session(["/cpu:0"], None)]
    try:
        for _, step in sessions:
            step()
            step()
        t_two, t_in = _median_interleaved([step for _, step in sessions], 20 if quick else 100)
    finally:
        for s, _ in sessions:
            s.close()
    return [Result("digits CNN, batch 64, sync towers on 2 one-core workers", batch / t_two,
                   "ex/s", "in-process, both cores", batch / t_in, ">= 1.5x",
                   note=f"step {t_two * 1e3:.1f} ms vs {t_in * 1e3:.1f} ms in-process: the "
                        f"per-step cost of two workers is more than the step itself")]
