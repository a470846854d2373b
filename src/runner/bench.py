"""Benchmarks (`python -m runner bench core|runtime|rnn|all`): each figure is printed with a
baseline measured in the same run, and the ratio the issue's target is stated against.

Timings are medians over many repetitions, with the tensorweave and baseline runs interleaved so
that machine noise hits both alike.  Nothing here is asserted by the test suite.
"""
from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

__all__ = ["main", "SUITES"]


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    target: str
    ratio: float | None = None
    note: str = ""


def _median_interleaved(fns, reps: int, inner: int = 1):
    """Median seconds per call of each fn, interleaving the fns rep by rep."""
    times = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            times[i].append((time.perf_counter() - t0) / inner)
    return [float(np.median(t)) for t in times]


def _median_blocks(fns, rounds: int, per_block: int = 3, warm: int = 1):
    """Median seconds per call of each fn, taking the fns in turn in blocks: each round runs
    every fn `warm` times untimed, then `per_block` times timed.  For sessions of several
    processes, where the first step after another session ran is slow (that session's BLAS
    threads are still spinning on the cores, the caches hold its data): with one step of each
    in turn, the MLP step of two workers measured 177 ms, in blocks 125 ms."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, f in enumerate(fns):
            for _ in range(warm):
                f()
            for _ in range(per_block):
                t0 = time.perf_counter()
                f()
                times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


# ----------------------------------------------------------------------------------------------
# core
# ----------------------------------------------------------------------------------------------
def bench_scalar_add(quick: bool) -> list[Result]:
    import tensorweave as tw
    g = tw.Graph()
    with g.as_default():
        a = tw.placeholder(tw.float32, [])
        b = tw.placeholder(tw.float32, [])
        c = a + b
    sess = tw.Session(graph=g)
    feed = {a: 1.0, b: 2.0}
    for _ in range(2000):
        sess.run(c, feed)
    fa, fb = np.float32(1.0), np.float32(2.0)
    reps = 3000 if quick else 20000
    t_tw, t_np = _median_interleaved([lambda: sess.run(c, feed), lambda: np.add(fa, fb)], reps)
    sess.close()
    return [Result("Session.run of a+b on two fed scalars (median)", t_tw * 1e6, "us",
                   "np.add on two numpy scalars", t_np * 1e6, "<= 15 us (TF1: 205 us)")]


def bench_chain_overhead(quick: bool) -> list[Result]:
    import tensorweave as tw
    n = 1000
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [])
        one = tw.constant(1.0)
        y = x
        for _ in range(n):
            y = y + one
    sess = tw.Session(graph=g)
    feed = {x: 0.0}
    for _ in range(20):
        sess.run(y, feed)
    o, z0 = np.float32(1.0), np.float32(0.0)

    def numpy_chain():
        z = z0
        for _ in range(n):
            z = np.add(z, o)
        return z
    reps = 100 if quick else 500
    t_tw, t_np = _median_interleaved([lambda: sess.run(y, feed), numpy_chain], reps)
    sess.close()
    overhead = (t_tw - t_np) / n * 1e6
    return [Result("per-node cost (kernel included), 1000-node chain of scalar adds",
                   t_tw / n * 1e6, "us", "np.add per call, same chain in a Python loop",
                   t_np / n * 1e6, "overhead <= 0.5 us/node (TF1: 0.36 us)",
                   note=f"executor overhead per node = {overhead:+.3f} us (step {t_tw * 1e6:.0f} "
                        f"us vs {t_np * 1e6:.0f} us for the bare kernel calls)")]


def _mlp_params(rng):
    def glorot(fi, fo):
        lim = np.sqrt(6.0 / (fi + fo))
        return rng.uniform(-lim, lim, (fi, fo)).astype(np.float32)
    return [glorot(784, 512), np.zeros(512, np.float32), glorot(512, 512),
            np.zeros(512, np.float32), glorot(512, 10), np.zeros(10, np.float32)]


def _numpy_mlp_step(params, x, y, lr):
    """Hand-written numpy forward + backward + SGD update of the 784-512-512-10 MLP."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    logits = h2 @ w3 + b3
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(n), y])
    d = e / s
    d[np.arange(n), y] -= 1
    d /= n
    gw3 = h2.T @ d
    gb3 = d.sum(axis=0)
    dh2 = d @ w3.T
    dh2 *= h2 > 0
    gw2 = h1.T @ dh2
    gb2 = dh2.sum(axis=0)
    dh1 = dh2 @ w2.T
    dh1 *= h1 > 0
    gw1 = x.T @ dh1
    gb1 = dh1.sum(axis=0)
    for p, gp in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
        p -= lr * gp
    return loss


def bench_mlp(quick: bool) -> list[Result]:
    import tensorweave as tw
    rng = np.random.RandomState(0)
    xs = rng.rand(128, 784).astype(np.float32)
    ys = rng.randint(0, 10, 128).astype(np.int32)
    init = _mlp_params(rng)
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [None, 784])
        y = tw.placeholder(tw.int32, [None])
        ws = [tw.Variable(p) for p in init]
        h = tw.nn.relu(tw.matmul(x, ws[0]) + ws[1])
        h = tw.nn.relu(tw.matmul(h, ws[2]) + ws[3])
        logits = tw.matmul(h, ws[4]) + ws[5]
        loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                            logits=logits))
        train = tw.train.GradientDescentOptimizer(0.01).minimize(loss)
        init_op = tw.global_variables_initializer()
    sess = tw.Session(graph=g)
    sess.run(init_op)
    feed = {x: xs, y: ys}
    params = [p.copy() for p in init]
    # same numbers: one step each from the same start
    l_tw = sess.run([loss, train], feed)[0]
    l_np = _numpy_mlp_step(params, xs, ys, 0.01)
    for _ in range(10):
        sess.run(train, feed)
        _numpy_mlp_step(params, xs, ys, 0.01)
    reps = 60 if quick else 300
    t_tw, t_np = _median_interleaved([lambda: sess.run(train, feed),
                                      lambda: _numpy_mlp_step(params, xs, ys, 0.01)], reps)
    sess.close()
    return [Result("MLP 784-512-512-10, batch 128, one SGD step (median)", t_tw * 1e3, "ms",
                   "hand-written numpy forward+backward+update", t_np * 1e3,
                   "<= 3.1 ms and <= 1.1x numpy (TF1: 3.8 ms, PyTorch: 3.1 ms)",
                   note=f"first-step loss {l_tw:.5f} (tw) vs {l_np:.5f} (numpy)")]


def bench_peak_memory(quick: bool) -> list[Result]:
    import tensorweave as tw
    layers, batch, width = 200, 64, 256
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [batch, width])
        h = x
        for _ in range(layers):
            h = tw.tanh(h)
        loss = tw.reduce_sum(h)
        grad, = tw.gradients(loss, [x])
    sess = tw.Session(graph=g)
    xv = np.random.RandomState(0).randn(batch, width).astype(np.float32) * 0.1
    sess.run(grad, {x: xv})
    nodes = next(iter(sess._plans.values())).step.nodes   # the compiled schedule
    made = {n.name for n in nodes}
    fed = {k for n in nodes for k in n.inputs if k[0] not in made}  # the plan's arguments
    bound = _live_set_bound(nodes, fed)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = sess.run(grad, {x: xv})
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del out
    sess.close()
    return [Result("peak memory, forward+backward through a 200-layer tanh chain", peak / 2**20,
                   "MiB", "live-set bound of the same schedule", bound / 2**20,
                   "<= 1.3x the live-set bound")]


def _live_set_bound(nodes, fed) -> int:
    """Max over the schedule of the bytes of tensors alive: produced and not yet last-used
    (a node's inputs and outputs are alive together while it runs).  Feeds and constants are
    excluded: they exist before the step starts."""
    from tensorweave.framework.op_registry import get_op_def
    size = {}
    last = {}
    for i, n in enumerate(nodes):
        if get_op_def(n.op).is_const:
            continue
        for j, (dt, sh) in enumerate(zip(n.out_dtypes, n.out_shapes)):
            size[(n.name, j)] = (sh.num_elements() or 0) * dt.size
        for key in n.inputs:
            last[key] = i
    alive = 0
    peak = 0
    live = set()
    for i, n in enumerate(nodes):
        if get_op_def(n.op).is_const:
            continue
        outs = [(n.name, j) for j in range(len(n.out_dtypes)) if (n.name, j) in last]
        for k in outs:
            live.add(k)
            alive += size[k]
        peak = max(peak, alive)
        for key in set(n.inputs):
            if key in live and last.get(key) == i and key not in fed:
                live.discard(key)
                alive -= size[key]
    return peak


def _runtime_suite():
    from .bench_runtime import (bench_curve, bench_remote_scalar_add, bench_split_graph,
                                bench_transfer_64mib)
    from .bench_wire import bench_transfer
    return [bench_transfer_64mib, bench_remote_scalar_add, bench_split_graph, bench_transfer,
            bench_curve]


def _dataparallel_suite():
    from .bench_dataparallel import bench_async, bench_cnn_towers, bench_mlp_towers
    return [bench_mlp_towers, bench_cnn_towers, bench_async]


def _rnn_suite():
    from .bench_rnn import bench_lstm_lm
    return [bench_lstm_lm]


def _modelparallel_suite():
    from .bench_modelparallel import bench_gpipe, bench_lstm_model_parallel
    return [bench_lstm_model_parallel, bench_gpipe]


SUITES = {
    "core": [bench_scalar_add, bench_chain_overhead, bench_mlp, bench_peak_memory],
    "runtime": _runtime_suite,
    "rnn": _rnn_suite,
    "dataparallel": _dataparallel_suite,
    "modelparallel": _modelparallel_suite,
}


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def main(args) -> int:
    import platform
    suite = getattr(args, "suite", "all")
    quick = getattr(args, "quick", False)
    names = list(SUITES) if suite == "all" else [suite]
    for n in names:
        if n not in SUITES:
            print(f"unknown suite {n!r}; choose from {', '.join(SUITES)} or all")
            return 2
    print(f"# tensorweave benchmarks ({platform.processor() or platform.machine()}, "
          f"numpy {np.__version__})")
    for n in names:
        print(f"\n## bench {n}\n")
        print("| benchmark | tensorweave | baseline (same run) | ratio | target |")
        print("|---|---|---|---|---|")
        fns = SUITES[n]() if callable(SUITES[n]) else SUITES[n]
        for fn in fns:
            for r in fn(quick):
                ratio = r.ratio if r.ratio is not None else (
                    r.value / r.baseline if r.baseline else float("nan"))
                base = f"{_fmt(r.baseline)} {r.unit} ({r.baseline_name})"
                line = (f"| {r.name} | {_fmt(r.value)} {r.unit} | {base} | {ratio:.2f}x "
                        f"| {r.target} |")
                print(line, flush=True)
                if r.note:
                    print(f"|  ↳ {r.note} | | | | |", flush=True)
    return 0
