"""The runtime benchmarks (`python -m runner bench runtime`): tensors and steps across worker
processes, each beside a baseline measured in the same run.

The scalar add whose inputs live on another worker needs three one-way messages in a row
(master -> the inputs' worker -> the add's worker -> master), so it is also shown beside the same
three hops over bare pyzmq between three processes (`_ZmqRing`: PUSH/PULL over ipc, two relay
processes forwarding a 64-byte message, nothing decoded): the floor of any ZeroMQ runtime.  On
one host the runtime sends those messages as AF_UNIX datagrams (`runtime/dgram.py`), so the
same ring over bare datagrams is shown too (`_DgramRing`, relays pinned to the two cores as the
workers are): the floor of that path.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

from .bench import Result, _median_interleaved

__all__ = ["bench_transfer_64mib", "bench_remote_scalar_add", "bench_split_graph",
           "bench_curve"]

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


def _relay(pull_ep: str, push_ep: str) -> None:
    """A ring relay process: forward every message from `pull_ep` to `push_ep` until b"stop"."""
    import zmq
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(pull_ep)
    push.connect(push_ep)
    print("ready", flush=True)
    while True:
        if not pull.poll(60_000):
            break  # the bench process is gone
        m = pull.recv()
        push.send(m)
        if m == b"stop":
            break
    ctx.destroy(linger=0)


class _ZmqRing:
    """This process -> relay A -> relay B -> this process, over ZeroMQ ipc; `lap()` sends one
    64-byte message round the ring and waits for it."""

    def __init__(self):
        import zmq
        self.dir = tempfile.mkdtemp(prefix="tw-ring-")
        eps = [f"ipc://{self.dir}/{k}" for k in range(3)]
        self.procs = [subprocess.Popen(
            [sys.executable, "-c", "import sys; from runner.bench_runtime import _relay; "
             "_relay(sys.argv[1], sys.argv[2])", eps[k], eps[k + 1]], stdout=subprocess.PIPE,
            text=True) for k in range(2)]
        self.ctx = zmq.Context()
        self.pull, self.push = self.ctx.socket(zmq.PULL), self.ctx.socket(zmq.PUSH)
        self.pull.bind(eps[2])
        for p in self.procs:
            if p.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError("bench: a ZeroMQ ring relay did not start")
        self.push.connect(eps[0])
        self.msg = bytes(64)
        for _ in range(100):
            self.lap()

    def lap(self):
        self.push.send(self.msg)
        if not self.pull.poll(10_000):
            raise RuntimeError("bench: the ZeroMQ ring did not answer")
        self.pull.recv()

    def close(self):
        try:
            self.push.send(b"stop", flags=1)  # zmq.NOBLOCK
        except Exception:  # noqa: BLE001 - the relays are killed below either way
            pass
        _reap(self.procs)
        self.ctx.destroy(linger=0)
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def _dgram_relay(me: str, nxt: str, core: str) -> None:
    """A datagram ring relay process (pinned to `core`, as a worker is): forward until b"stop"."""
    import socket
    if core:
        os.sched_setaffinity(0, {int(core)})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(me)
    s.settimeout(60)
    print("ready", flush=True)
    try:
        while True:
            m = s.recv(65536)
            s.sendto(m, nxt)
            if m == b"stop":
                break
    except OSError:
        pass   # (the bench process is gone)
    finally:
        s.close()


class _DgramRing:
    """`_ZmqRing` over bare AF_UNIX datagrams, its relays pinned to cores 1 and 0 (as
    /cpu:1 and /cpu:0 are) where there are two."""

    def __init__(self):
        import socket
        self.dir = tempfile.mkdtemp(prefix="tw-dring-")
        self.paths = [os.path.join(self.dir, str(k)) for k in range(3)]
        cores = sorted(os.sched_getaffinity(0))
        pin = [str(cores[1]), str(cores[0])] if len(cores) >= 2 else ["", ""]
        self.procs = [subprocess.Popen(
            [sys.executable, "-c", "import sys; from runner.bench_runtime import _dgram_relay; "
             "_dgram_relay(*sys.argv[1:4])", self.paths[k], self.paths[k + 1], pin[k]],
            stdout=subprocess.PIPE, text=True) for k in range(2)]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.paths[2])
        self.sock.settimeout(10)
        for p in self.procs:
            if p.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError("bench: a datagram ring relay did not start")
        self.msg = bytes(64)
        for _ in range(100):
            self.lap()

    def lap(self):
        self.sock.sendto(self.msg, self.paths[0])
        self.sock.recv(65536)

    def close(self):
        try:
            self.sock.sendto(b"stop", self.paths[0])
        except OSError:
            pass
        _reap(self.procs)
        self.sock.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def _reap(procs) -> None:
    """Wait up to 5 s for each relay process to exit, then kill it."""
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


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
    ring, dring = _ZmqRing(), _DgramRing()
    try:
        with _session(tw, g) as s, tw.Session(graph=g2) as s2:
            s.run(init)
            for _ in range(100):
                s.run(c)
                s2.run(c2)
            t_remote, t_local, t_ring = _median_interleaved(
                [lambda: s.run(c), lambda: s2.run(c2), ring.lap], reps)
            # (a pass of its own: the first one's baselines are measured as they always were)
            t_remote2, t_dring = _median_interleaved([lambda: s.run(c), dring.lap], reps)
    finally:
        ring.close()
        dring.close()
    name = "Session.run of a scalar add whose inputs live on another worker (median)"
    return [Result(name, t_remote * 1e6, "us", "the same add in one process", t_local * 1e6,
                   "<= 100 us (TF1 gRPC: 786 us)"),
            Result("  the same step against its three ZeroMQ hops alone", t_remote * 1e6, "us",
                   "bare pyzmq ring over ipc, 3 processes, 64-byte message", t_ring * 1e6,
                   "<= 1.5x (context: the floor of a ZeroMQ runtime)"),
            Result("  the same step against its three hops as bare datagrams", t_remote2 * 1e6,
                   "us", "bare AF_UNIX datagram ring, 3 processes, relays pinned", t_dring * 1e6,
                   "(context: the floor of the same-host path the runtime takes)")]


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


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_task_cluster(tw, config):
    """Two one-device tasks on loopback TCP that say they are on two hosts (so tensors travel
    in frames over TCP, as between machines, not through shared memory)."""
    cluster = tw.train.ClusterSpec({"worker": [f"127.0.0.1:{_free_port()}",
                                               f"127.0.0.1:{_free_port()}"]})
    servers = []
    old = os.environ.get("TENSORWEAVE_WORKER_HOST")
    try:
        for i in range(2):
            os.environ["TENSORWEAVE_WORKER_HOST"] = f"bench-host-{i}"
            servers.append(tw.train.Server(cluster, "worker", i, config=config))
    finally:
        if old is None:
            os.environ.pop("TENSORWEAVE_WORKER_HOST", None)
        else:
            os.environ["TENSORWEAVE_WORKER_HOST"] = old
    return servers


def _bare_zmq_64mib(curve: bool, reps: int) -> float:
    """Seconds (median) to move 64 MiB through a bare pyzmq PUSH/PULL pair over loopback TCP,
    with CURVE or without: what the library allows."""
    import zmq
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    try:
        if curve:
            spub, ssec = zmq.curve_keypair()
            cpub, csec = zmq.curve_keypair()
            pull.curve_server, pull.curve_secretkey, pull.curve_publickey = True, ssec, spub
            push.curve_serverkey, push.curve_publickey, push.curve_secretkey = spub, cpub, csec
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push.connect(f"tcp://127.0.0.1:{port}")
        buf = np.ones(64 * 2**20 // 4, np.float32)
        push.send(b"warm")
        pull.recv()

        def once():
            push.send(buf, copy=False)
            pull.recv(copy=False)
        return _median_interleaved([once], reps)[0]
    finally:
        ctx.destroy(0)


def bench_curve(quick: bool) -> list[Result]:
    """What CURVE (authenticated, encrypted links) costs: a 64 MiB tensor and a scalar step
    between two cluster tasks over loopback TCP, with keys and without, interleaved."""
    import tensorweave as tw
    from tensorweave.runtime.curve import make_keys
    n = 64 * 2**20 // 4
    g = tw.Graph()
    with g.as_default():
        with tw.device("/job:worker/task:1"):
            v = tw.Variable(tw.zeros([n], tw.float32), name="big")
            a = tw.Variable(1.0, name="a")
            src = tw.identity(v)
        with tw.device("/job:worker/task:0"):
            big = tw.strided_slice(src, [0], [1])
            small = a + 1.0
        init = tw.global_variables_initializer()
    with tempfile.TemporaryDirectory(prefix="tw-bench-keys-") as keydir:
        make_keys(keydir)
        keyed_cfg = tw.ConfigProto(experimental={"cluster_keys": keydir})
        plain, keyed = _two_task_cluster(tw, None), _two_task_cluster(tw, keyed_cfg)
        try:
            with g.as_default(), tw.Session(plain[0].target) as sp, \
                    tw.Session(keyed[0].target, config=keyed_cfg) as sk:
                for s in (sp, sk):
                    s.run(init)
                    for _ in range(3):
                        s.run([big, small])
                t_big_p, t_big_k = _median_interleaved([lambda: sp.run(big),
                                                        lambda: sk.run(big)], 3 if quick else 10)
                t_small_p, t_small_k = _median_interleaved(
                    [lambda: sp.run(small), lambda: sk.run(small)], 200 if quick else 1000)
        finally:
            for srv in plain + keyed:
                srv.stop()
    reps = 3 if quick else 10
    t_bare_k, t_bare_p = _bare_zmq_64mib(True, reps), _bare_zmq_64mib(False, reps)
    mib = 64 * 2**20
    return [Result("64 MiB task:1 -> task:0 over loopback TCP with CURVE", mib / t_big_k / 1e9,
                   "GB/s", "the same without keys", mib / t_big_p / 1e9,
                   "(the cost of encryption)", ratio=t_big_p / t_big_k,
                   note=f"step {t_big_k * 1e3:.0f} ms vs {t_big_p * 1e3:.0f} ms"),
            Result("  the same against bare pyzmq PUSH/PULL with CURVE (the library's floor)",
                   mib / t_big_k / 1e9, "GB/s", "bare pyzmq, 64 MiB, CURVE",
                   mib / t_bare_k / 1e9, "(context)", ratio=t_bare_k / t_big_k,
                   note=f"bare pyzmq without CURVE: {mib / t_bare_p / 1e9:.2f} GB/s"),
            Result("scalar step across two tasks over loopback TCP with CURVE (median)",
                   t_small_k * 1e6, "us", "the same without keys", t_small_p * 1e6,
                   "(the cost of encryption)", ratio=t_small_k / t_small_p)]
