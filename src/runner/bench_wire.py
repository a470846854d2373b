"""Benchmarks of the runtime's data plane (`tensorweave.runtime.transport`): moving tensors
between two processes, each figure beside a baseline measured in the same run.

`bench_transfer(quick)` starts a peer process (`_peer`, below) with its own `Transport` and
measures, from this process:

* a 64 MiB float32 tensor sent with `same_host=True` (shared memory: one copy into a recycled
  segment, a message naming it, a zero-copy view on the other side) until the peer's
  acknowledgement comes back, beside `np.copyto` of the same 64 MiB (memcpy);
* the same tensor with `same_host=False` (the cross-host path: bytes in ZeroMQ frames over tcp
  loopback), beside the same memcpy;
* the round trip of a one-element tensor (send, peer's rendezvous, echo back, our rendezvous),
  beside a raw pyzmq PUSH/PULL echo of a 4-byte message between the same two processes.

Timings are medians with the tensorweave and baseline runs interleaved.  Nothing here is asserted
by the test suite.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np

from .bench import Result, _median_interleaved

__all__ = ["bench_transfer"]

_BIG = 64 << 20
_PARENT, _CHILD = "/job:bench/task:0/device:CPU:0", "/job:bench/task:1/device:CPU:0"


def _peer() -> None:
    """The peer process: acknowledge large tensors (by their size), echo small ones, and echo raw
    zmq messages on a second socket; stop on a string tensor."""
    import zmq

    from tensorweave.runtime.rendezvous import Rendezvous, make_key
    from tensorweave.runtime.transport import Transport

    parent, parent_raw = sys.argv[1], sys.argv[2]
    rv = Rendezvous()
    t = Transport(rv)
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.setsockopt(zmq.LINGER, 0)
    raw_port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(parent_raw)
    stop = threading.Event()

    def raw_echo():
        while not stop.is_set():
            if pull.poll(100):
                push.send(pull.recv())

    th = threading.Thread(target=raw_echo, daemon=True)
    th.start()
    print(t.endpoint, f"tcp://127.0.0.1:{raw_port}", flush=True)
    step = 0
    try:
        while True:
            x = rv.recv(make_key(step, _PARENT, _CHILD, "x"), 120.0)
            if x.dtype == object:
                break
            back = make_key(step, _CHILD, _PARENT, "y")
            if x.nbytes < 1024:
                t.send_tensor(parent, back, x, True)
            else:
                n = x.nbytes
                del x  # end the lease first, so the release notice leaves at once
                t.send_tensor(parent, back, np.int64(n), True)
            step += 1
    finally:
        stop.set()
        th.join(2)
        pull.close(0)
        push.close(0)
        ctx.term()
        t.close()


class _Link:
    """This process's end: a transport, a raw zmq pair, the peer process, a step counter."""

    def __init__(self):
        import zmq

        from tensorweave.runtime.rendezvous import Rendezvous
        from tensorweave.runtime.transport import Transport
        self.rv = Rendezvous()
        self.t = Transport(self.rv)
        self.ctx = zmq.Context()
        self.pull, self.push = self.ctx.socket(zmq.PULL), self.ctx.socket(zmq.PUSH)
        for s in (self.pull, self.push):
            s.setsockopt(zmq.LINGER, 0)
        raw_port = self.pull.bind_to_random_port("tcp://127.0.0.1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from runner.bench_wire import _peer; _peer()",
             self.t.endpoint, f"tcp://127.0.0.1:{raw_port}"], stdout=subprocess.PIPE, text=True)
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(60)
        sel.close()
        if not ready:
            self.close()
            raise RuntimeError("bench_transfer: the peer process did not start")
        self.ep, raw_ep = self.proc.stdout.readline().split()
        self.push.connect(raw_ep)
        self.step = 0

    def transfer(self, x, same_host: bool = True):
        from tensorweave.runtime.rendezvous import make_key
        k = self.step
        self.step += 1
        self.t.send_tensor(self.ep, make_key(k, _PARENT, _CHILD, "x"), x, same_host)
        return self.rv.recv(make_key(k, _CHILD, _PARENT, "y"), 60.0)

    def raw_echo(self, msg=b"1234"):
        self.push.send(msg)
        if not self.pull.poll(10_000):
            raise RuntimeError("bench_transfer: the peer's raw echo did not answer")
        return self.pull.recv()

    def close(self):
        from tensorweave.runtime.rendezvous import make_key
        try:
            if self.proc.poll() is None:
                self.t.send_tensor(self.ep, make_key(self.step, _PARENT, _CHILD, "x"),
                                   np.array(b"stop", dtype=object), True)
                self.proc.wait(10)
        except Exception:  # noqa: BLE001 - the peer is killed below either way
            pass
        finally:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.pull.close(0)
            self.push.close(0)
            self.ctx.term()
            self.t.close()


def bench_transfer(quick: bool) -> list[Result]:
    x = np.random.RandomState(0).rand(_BIG // 4).astype(np.float32)
    dst = np.empty_like(x)
    link = _Link()
    try:
        arena_stats = lambda: link.t.stats["arenas"].get(link.ep, {"created": 0})
        for _ in range(3):  # first touches: segment creation, mappings, page faults
            assert link.transfer(x) == x.nbytes
            np.copyto(dst, x)
        created = arena_stats()["created"]
        reps = 8 if quick else 40
        t_shm, t_copy = _median_interleaved([lambda: link.transfer(x),
                                             lambda: np.copyto(dst, x)], reps)
        new_segs = arena_stats()["created"] - created

        reps = 3 if quick else 10
        link.transfer(x, same_host=False)
        t_tcp, t_copy2 = _median_interleaved([lambda: link.transfer(x, same_host=False),
                                              lambda: np.copyto(dst, x)], reps)

        tiny = np.ones(1, np.float32)
        for _ in range(200):
            link.transfer(tiny)
            link.raw_echo()
        reps = 500 if quick else 5000
        t_rt, t_raw = _median_interleaved([lambda: link.transfer(tiny), link.raw_echo], reps)
    finally:
        link.close()
    gbs = lambda t: _BIG / t / 1e9
    return [
        Result("64 MiB float32 to another process, shared memory (send -> peer has it -> ack)",
               gbs(t_shm), "GB/s", "np.copyto of 64 MiB (memcpy)", gbs(t_copy),
               ">= 5 GB/s and >= 0.5x memcpy",
               note=f"{t_shm * 1e3:.1f} ms per transfer; segments created while timed: "
                    f"{new_segs} (after {created} at warm-up); the peer gets a zero-copy view "
                    "and does not read it"),
        Result("64 MiB float32 to another process, ZeroMQ frames over tcp loopback "
               "(cross-host path)", gbs(t_tcp), "GB/s", "np.copyto of 64 MiB (memcpy)",
               gbs(t_copy2), "(reference: no target)",
               note=f"{t_tcp * 1e3:.1f} ms per transfer"),
        Result("round trip of a 1-element tensor between two processes (median)", t_rt * 1e6,
               "us", "raw pyzmq PUSH/PULL echo of 4 bytes, same processes", t_raw * 1e6,
               "(reference: no target)",
               note="send_tensor -> peer transport thread -> peer rendezvous -> echo -> our "
                    "transport thread -> our rendezvous"),
    ]


def main() -> int:  # `python -m runner.bench_wire [--quick]`: this suite alone
    quick = "--quick" in sys.argv[1:]
    t0 = time.perf_counter()
    for r in bench_transfer(quick):
        print(f"{r.name}: {r.value:.3g} {r.unit} | {r.baseline_name}: {r.baseline:.3g} {r.unit}"
              f" | ratio {r.value / r.baseline:.2f}x | target {r.target}")
        if r.note:
            print(f"    {r.note}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
