"""The runtime benchmarks (`python -m runner bench runtime`): tensors and steps across worker
processes, each beside a baseline measured in the same run."""
from __future__ import annotations


import numpy as np

from .bench import Result, _median_interleaved

__all__ = ["bench_transfer_64mib", "bench_remote_scalar_add", "bench_split_graph"]

TWO_CPUS = {"CPU": 2}


def _session(tw, graph):
    return tw.Session(graph=graph, config=tw.ConfigProto(device_count=TWO_CPUS))


def bench_transfer_64mib(quick: bool) -> list[Result]:
    """A 64 MiB float32 tensor made on /cpu:0 and read on /cpu:1, inside one Session.run."""
    import tensorweave as tw
    n = 64 * 2**20 // 4
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:0"):
            v = tw.Variable(tw.zeros([n], tw.float32), name="big")
            src = tw.identity(v)
        with tw.device("/cpu:1"):
            # a cheap consumer on the other worker: the step is the transfer
            out = tw.strided_slice(src, [0], [1])
        init = v.initializer
    src_arr = np.ones(n, np.float32)
    dst_arr = np.empty_like(src_arr)
    reps = 5 if quick else 20
    with _session(tw, g) as s:
        s.run(init)
        for _ in range(3):
            s.run(out)
        t_step, t_copy = _median_interleaved([lambda: s.run(out),
                                              lambda: np.copyto(dst_arr, src_arr)], reps)
    gbs = 64 * 2**20 / t_step / 1e9
    mem = 64 * 2**20 / t_copy / 1e9
    return [Result("64 MiB float32 tensor /cpu:0 -> /cpu:1 inside one Session.run", gbs,
                   "GB/s", "np.copyto memcpy of 64 MiB", mem,
                   ">= 5 GB/s and >= half of memcpy (TF1 gRPC: 0.48 GB/s)",
                   ratio=gbs / mem, note=f"step {t_step * 1e3:.1f} ms, memcpy "
                                         f"{t_copy * 1e3:.1f} ms")]


def bench_remote_scalar_add(quick: bool) -> list[Result]:
    """Session.run of a scalar add on /cpu:0 whose inputs live on the other worker."""
    import tensorweave as tw
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            a = tw.Variable(1.0, name="a")
            b = tw.Variable(2.0, name="b")
        with tw.device("/cpu:0"):
            c = a + b
        init = tw.global_variables_initializer()
    g2 = tw.Graph()
    with g2.as_default():
        a2 = tw.constant(1.0)
        c2 = a2 + tw.constant(2.0)
    reps = 300 if quick else 2000
    with _session(tw, g) as s, tw.Session(graph=g2) as s2:
        s.run(init)
        for _ in range(100):
            s.run(c)
            s2.run(c2)
        t_remote, t_local = _median_interleaved([lambda: s.run(c), lambda: s2.run(c2)], reps)
    return [Result("Session.run of a scalar add whose inputs live on another worker (median)",
                   t_remote * 1e6, "us", "the same add in one process", t_local * 1e6,
                   "<= 100 us (TF1 gRPC: 786 us)")]


def bench_split_graph(quick: bool) -> list[Result]:
    """1000 scalar-add nodes: two 500-node chains, one per worker, vs all in one process."""
    import tensorweave as tw

    def build(devices):
        g = tw.Graph()
        with g.as_default():
            outs = []
            for dev in devices:
                with tw.device(dev):
                    one = tw.constant(1.0)
                    y = tw.constant(0.0)
                    for _ in range(500):
                        y = y + one
                outs.append(y)
        return g, outs
    g1, o1 = build([None, None])
    g2, o2 = build(["/cpu:0", "/cpu:1"])
    reps = 50 if quick else 300
    with tw.Session(graph=g1) as s1, _session(tw, g2) as s2:
        for _ in range(20):
            s1.run(o1)
            s2.run(o2)
        t_in, t_split = _median_interleaved([lambda: s1.run(o1), lambda: s2.run(o2)], reps)
    limit = 1.5 * t_in + 60e-6
    return [Result("1000-node graph split over 2 workers, per step (median)", t_split * 1e6,
                   "us", "the same graph in one process", t_in * 1e6,
                   "<= 1.5x in-process + 60 us",
                   note=f"limit for this run: {limit * 1e6:.0f} us")]
