"""The worker service: one process serving one device.

State: the device's `KernelContext` (its variables and random streams, shared by every graph
registered here, so variables persist across a master's plans and across sessions of a
cluster), the registered partitions (handle -> compiled step and the routes to its peers: each
graph's own, so one session's registration cannot re-route another's tensors), a `Rendezvous`
where `_Recv`s wait and a `Transport` that fills it and sends to peers.

Threads: the main thread owns the control ROUTER socket: it answers `ping`/`status` at once and
compiles `register_graph`.  A `run_graph` of a master that watches this process itself (a local
session: `inline` graphs) runs on the main thread when no other step does -- no thread hand-off --
and its `_Recv`s wait in short slices between which the control socket is served (pings, aborts,
other steps).  Other steps run on pool threads, so a long step never stops the main thread from
answering a remote master (liveness) or from aborting a step; pool threads send their replies
back through an inproc socket the main thread forwards.  A master on this host (a local
session's) sends its `run_graph`s as datagrams to the socket beside the control endpoint
(`runtime/dgram.py`: no ZeroMQ io thread on either side) and gets its replies the same way, from
whichever thread ran the step; a reply too big for a datagram goes through the ROUTER to the
DEALER the request names (`via`).  The main thread also takes its peers' datagram tensors
itself (`Transport(serve_dgrams=False)`): a step waiting on the main thread gets them without a
hand-off, and while it computes they wait in the socket's short queue (peers then send over
ZeroMQ, which the transport's thread serves).  The main thread also exits when the parent
process is gone (no orphans) and logs (`tensorweave.workers.service`, a warning) and drops any
malformed message, then keeps serving.  It keeps the training tasks of its cluster that sent
`task_done` (their training ended); its status says when all have, which a ps task's
`Server.join()` waits for.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import math
import os
import signal
import socket as pysocket
import sys
import threading
import time
import traceback

import zmq

import tensorweave  # noqa: F401 - registers every op, kernel and gradient
from tensorweave.compiler.exec_nodes import exec_nodes_from_ops
from tensorweave.compiler.prune import prune_ops
from tensorweave.framework import errors
from tensorweave.framework.device_spec import DeviceSpec
from tensorweave.framework.func_graph import FuncGraph
from tensorweave.framework.graphdef import GraphDef, import_graph_def
from tensorweave.kernels import get_backend
from tensorweave.kernels.context import KernelContext
from tensorweave.runtime import dgram, rpc, wire
from tensorweave.runtime.curve import Authenticator, safe_bind
from tensorweave.runtime.executor import compile_step
from tensorweave.runtime.rendezvous import Rendezvous
from tensorweave.runtime.rpc import remove_endpoint
from tensorweave.runtime.shm import ShmArena, ShmReader, cleanup_stale
from tensorweave.runtime.transport import DropLog, Transport

_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)
_ABSENT = object()

__all__ = ["WorkerService"]


class _DgramPeer:
    """Where the reply to a request that came as a datagram goes: the sender's datagram
    socket (`addr`), or, for a reply too big for a datagram, its DEALER by routing id
    (`via`) through the control ROUTER."""

    __slots__ = ("addr", "via")

    def __init__(self, addr, via):
        self.addr, self.via = addr, via


_logger = logging.getLogger("tensorweave.workers.service")

MAX_STEP_TIMEOUT_S = rpc.MAX_STEP_TIMEOUT_S  # the longest run_graph timeout accepted


def _step_timeout(h: dict, default: float) -> float:
    """The `timeout` of a run_graph request `h` (seconds), checked: a finite number in
    (0, MAX_STEP_TIMEOUT_S]; `default` when absent.  Raises `InvalidArgumentError` naming the
    field."""
    if "timeout" not in h:
        return default
    t = h["timeout"]
    if (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t)
            or not 0 < t <= MAX_STEP_TIMEOUT_S):
        raise errors.InvalidArgumentError(
            None, None, f"run_graph.timeout must be a finite number of seconds in (0, "
                        f"{MAX_STEP_TIMEOUT_S:g}], got {t!r}")
    return float(t)


def _die_with_parent(parent_pid: int | None, deathsig: bool = True) -> None:
    """Ask Linux to kill us when our parent dies (`deathsig`; the serving loop also watches
    the parent, and covers the race here).  Linux sends that signal when the parent *thread*
    that started us exits, so a parent that starts workers from another thread than its main
    one asks for no signal and relies on the watch."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    if deathsig:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


class WorkerService:
    """Serve device `device` on control endpoint `bind` (see the module docstring)."""

    def __init__(self, device: str, bind: str, data_bind: str | None = None,
                 cluster: dict | None = None, parent_pid: int | None = None,
                 threads: int = 8, siblings: dict | None = None, keys=None):
        self.device = device
        self.cluster = cluster or {}
        self.siblings = dict(siblings or {})  # the other devices of this task -> control endpoint
        self._done_tasks: set[str] = set()    # worker tasks that said their training ended
        self.parent_pid = parent_pid
        # the host it says it is on (peers on the same one share memory); TENSORWEAVE_WORKER_HOST
        # names another, so that one machine can run the path between hosts (tests, benches)
        self.host = os.environ.get("TENSORWEAVE_WORKER_HOST") or pysocket.gethostname()
        spec = DeviceSpec.from_string(device)
        self.keys = keys
        bind = safe_bind(bind, keys)  # no keys: loopback only
        self.zctx = zmq.Context()
        self._auth = None if keys is None else Authenticator(self.zctx, keys)
        self.control = self.zctx.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            keys.serve(self.control)
        try:
            if bind.endswith(":0") and bind.startswith("tcp://"):
                port = self.control.bind_to_random_port(bind.rsplit(":", 1)[0])
                self.endpoint = bind.rsplit(":", 1)[0] + f":{port}"
            else:
                self.control.bind(bind)
                self.endpoint = self.control.getsockopt_string(zmq.LAST_ENDPOINT)
        except zmq.ZMQError as e:
            self.control.close(0)
            if self._auth is not None:
                self._auth.stop()
            self.zctx.term()
            raise OSError(f"cannot bind {bind}: {e}") from None
        # requests of a master on this host may come as datagrams (`runtime/dgram.py`)
        self._dg = None
        path = dgram.path_for(self.endpoint) if keys is None else None
        if path is not None:
            try:
                self._dg = dgram.DgramSocket(path)
            except OSError as e:
                _logger.warning("%s: no datagram socket at %s (%s): ZeroMQ only", device,
                                path, e)
        self.rendezvous = Rendezvous()
        cleanup_stale()  # segments of killed processes (a SIGKILLed client and its workers)
        if data_bind is None:
            data_bind = ("tcp://" + self.endpoint[6:].rsplit(":", 1)[0] + ":*"
                         if self.endpoint.startswith("tcp://") else self.endpoint + ".data")
        # the main thread takes the datagrams of peers itself (`_take`, `_service`)
        self.transport = Transport(self.rendezvous, safe_bind(data_bind, keys, say=False),
                                   context=self.zctx, keys=keys, serve_dgrams=False)
        self._main_waiting = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.transport.on_message = self._wake_main
        self.arena = ShmArena()      # fetched outputs going to masters on this host
        self.reader = ShmReader()    # feeds masters put in shared memory
        self.kctx = KernelContext(device, get_backend(spec.device_type or "CPU"))
        # fed and received tensors move onto the device, sent and fetched ones to the host
        self._to_device = self.kctx.backend.allocator.to_device
        self._to_host = self.kctx.backend.allocator.to_host
        self._on_host = self.kctx.backend.allocator.on_host
        self.kctx.validate = os.environ.get("TENSORWEAVE_CHECK_KERNELS", "") == "1"
        self.kctx.step = threading.local()
        self.kctx.send = self._send
        self.kctx.begin_sends = self._begin_sends   # (runs of _Sends: executor.py)
        self.kctx.flush_sends = self._flush_sends
        self.kctx.recv = self._recv
        self.kctx.recv_any = self._recv_any
        self.kctx.serve_while_waiting = self._serve_while_waiting  # (blocking kernels: queues)
        self.kctx.step_error = self._step_error
        self.recv_timeout_s = 300.0
        self.graphs: dict[int, dict] = {}
        self._next_handle = 1
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, "tw-step")
        self._reply_ep = f"inproc://tw-replies-{id(self)}"
        self._replies = self.zctx.socket(zmq.PULL)
        self._replies.bind(self._reply_ep)
        self._reply_pushes = rpc.ThreadSockets(self.zctx, zmq.PUSH, self._reply_ep)
        self._stop = False
        self._main_thread = threading.current_thread()
        self._inline_step = False
        self._poller = None
        self.rejected = 0  # malformed control messages dropped
        self._reject_log = DropLog(logger=_logger)

    # --- data plane used by _Send / _Recv ----------------------------------------------------
    def _send(self, dst_device: str, key, value, owned: bool = False) -> None:
        """Push `value` to `dst_device`.  `owned`: the step gives the buffer up, so it may
        leave zero-copy (otherwise the transport sends a snapshot of what it would not copy,
        so a later in-place update, e.g. an optimizer step on a variable, cannot reach the
        wire)."""
        step = self.kctx.step
        peer = getattr(step, "peers", {}).get(dst_device)  # the running graph's
        if peer is None:
            raise errors.InternalError(None, None, f"no route from {self.device} to "
                                                   f"{dst_device}")
        endpoint, same_host = peer
        host = self._to_host(value)
        batch = getattr(step, "batch", None)
        if batch is not None:   # a run of _Sends: they leave together at its end
            batch.setdefault(endpoint, (same_host, []))[1].append(
                (key, host, owned or not self._on_host))
            return
        # what a device that is not the host moves out of its memory is the transport's own;
        # a host device's value may be (a view of) a buffer the step keeps
        deadline = getattr(self.kctx.step, "deadline", None)  # (None: not in a step's run)
        self.transport.send_tensor(endpoint, key, host, same_host,
                                   owned=owned or not self._on_host,
                                   expires_in=None if deadline is None
                                   else deadline - time.monotonic())

    def _begin_sends(self) -> None:
        self.kctx.step.batch = {}

    def _flush_sends(self) -> None:
        """Send the run of tensors `_send` kept since `_begin_sends`: one message per peer."""
        step = self.kctx.step
        batch, step.batch = step.batch, None
        deadline = getattr(step, "deadline", None)
        for endpoint, (same_host, items) in batch.items():
            self.transport.send_tensors(endpoint, items, same_host,
                                        expires_in=None if deadline is None
                                        else deadline - time.monotonic())

    def _recv(self, key):
        return self._to_device(self._take(
            lambda timeout, whole, absent=...: self.rendezvous.recv(
                key, timeout, deadline_s=whole, absent=absent)))

    def _recv_any(self, keys):
        step = self.kctx.step.id
        key, value = self._take(
            lambda timeout, whole, absent=...: self.rendezvous.recv_any(
                keys, timeout, step, deadline_s=whole, absent=absent))
        return key, self._to_device(value)

    def _take(self, take):
        """`take(timeout, whole, absent)` from the rendezvous within the step's timeout
        (`whole`: the step's timeout, which a timeout error states even when `timeout` is a
        slice of it; `absent`: returned when nothing came, instead of raising)."""
        timeout = getattr(self.kctx.step, "timeout", self.recv_timeout_s)
        if threading.current_thread() is not self._main_thread or not self._inline_step:
            return take(timeout, timeout)
        # A step running on the main thread waits in the serving loop's poll: it serves the
        # control socket (pings, aborts; other steps go to the pool) and takes the datagrams
        # of its peers itself (no hand-off from the transport's thread); what comes over
        # ZeroMQ instead, the transport's thread puts in the rendezvous and wakes the poll
        # (`_wake_main`).
        deadline = time.monotonic() + timeout
        while True:
            got = take(0.0, timeout, _ABSENT)
            if got is not _ABSENT:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                return take(0.0, timeout)  # (raises DeadlineExceededError naming the keys)
            self._main_waiting = True
            try:
                got = take(0.0, timeout, _ABSENT)  # (what came before the flag was up)
                if got is not _ABSENT:
                    return got
                events = dict(self._poller.poll(int(min(left, 0.2) * 1000) + 1))
            finally:
                self._main_waiting = False
            self._service(events)

    def _wake_main(self) -> None:
        """(The transport's thread, after a message over ZeroMQ.)  Wake the main thread's
        poll if a step there waits for tensors."""
        if self._main_waiting:
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:
                pass   # (a wake is pending already)

    def _step_error(self):
        """The error the step running on this thread was aborted with (`abort_step`), or None."""
        step = getattr(self.kctx.step, "id", None)
        return None if step is None else self.rendezvous.error_of(step)

    def _serve_while_waiting(self) -> None:
        """Between the slices of a blocking kernel's wait (a dequeue on an empty queue): a step
        running on the main thread serves the control socket, as between `_Recv` slices, so
        the step that would release it can come in; other threads have nothing to serve."""
        if threading.current_thread() is self._main_thread and self._inline_step:
            self._service(dict(self._poller.poll(0)))

    # --- replies from pool threads -------------------------------------------------------------
    def _reply(self, ident, rid: int, payload: dict | None = None, frames=(), error=None,
               from_pool: bool = False) -> None:
        header = {"op": "reply", "id": rid, "ok": error is None}
        if payload:
            header.update(payload)
        if error is not None:
            header["error"] = error
        if type(ident) is _DgramPeer:
            msg = wire.pack(header, frames)
            if ident.addr and self._dg.send(ident.addr, msg) == dgram.SENT:
                return    # (from any thread: the kernel's socket)
            if ident.via is None:
                self.rejected += 1
                self._reject_log(f"dropped the reply to request {rid}: it does not fit a "
                                 f"datagram and its sender named no socket")
                return
            msg = [ident.via] + msg
        else:
            msg = [ident] + wire.pack(header, frames)
        sock = self._reply_pushes.get() if from_pool else self.control
        sock.send_multipart(msg, copy=len(msg) <= 2)  # buffer frames go zero-copy

    # --- serving -------------------------------------------------------------------------------
    def serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        poller.register(self._replies, zmq.POLLIN)
        if self._dg is not None:
            poller.register(self._dg.fileno(), zmq.POLLIN)
        if self.transport.dgram_fd is not None:
            poller.register(self.transport.dgram_fd, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        self._poller = poller
        last_watch = time.monotonic()
        try:
            while not self._stop:
                self._service(dict(poller.poll(200)))
                now = time.monotonic()
                if now - last_watch > 0.5:
                    last_watch = now
                    if self.parent_pid is not None and os.getppid() != self.parent_pid:
                        break  # our parent is gone: exit (no orphans)
        finally:
            self.close()

    def _service(self, events) -> None:
        """Handle what `events` (a poll result) says is waiting: pool replies, then requests."""
        if self._replies in events:
            while True:
                try:
                    self.control.send_multipart(
                        self._replies.recv_multipart(zmq.NOBLOCK, copy=False), copy=False)
                except zmq.Again:
                    break
        if self.transport.dgram_fd is not None and self.transport.dgram_fd in events:
            self.transport.serve_dgrams()
        if self._wake_r in events:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        if self._dg is not None and self._dg.fileno() in events:
            self._serve_dgrams()
        if self.control in events:
            control = self.control
            while control.getsockopt(_EVENTS) & _POLLIN:   # (cheaper than a zmq.Again)
                frames = control.recv_multipart(_NOBLOCK, copy=False)
                ident, body = frames[0], frames[1:]
                try:
                    header, bufs = wire.unpack(body, rpc.REQUESTS)
                except Exception as e:  # noqa: BLE001 - a WireError, or what no check foresaw
                    self.rejected += 1
                    what = "" if isinstance(e, wire.WireError) else f"{type(e).__name__}: "
                    self._reject_log(f"rejected a malformed message: {what}{e}")
                    continue
                try:
                    self._dispatch(ident, header, bufs)
                except Exception as e:  # noqa: BLE001 - even its error reply failed: keep serving
                    self.rejected += 1
                    self._reject_log(f"dropped a {header['op']} message that failed: "
                                     f"{type(e).__name__}: {e}")

    def _serve_dgrams(self) -> None:
        """Handle the requests waiting on the datagram socket (at most 64 at a time)."""
        for _ in range(64):
            try:
                got = self._dg.recv()
                if got is None:
                    return
                frames, addr = got
                header, bufs = wire.unpack(frames, rpc.REQUESTS)
            except Exception as e:  # noqa: BLE001 - a WireError, or what no check foresaw
                self.rejected += 1
                what = "" if isinstance(e, wire.WireError) else f"{type(e).__name__}: "
                self._reject_log(f"rejected a malformed datagram: {what}{e}")
                continue
            try:
                self._dispatch(_DgramPeer(addr or None, header.get("via")), header, bufs)
            except Exception as e:  # noqa: BLE001 - even its error reply failed: keep serving
                self.rejected += 1
                self._reject_log(f"dropped a {header['op']} datagram that failed: "
                                 f"{type(e).__name__}: {e}")

    def _dispatch(self, ident, h: dict, bufs) -> None:
        op = h["op"]
        rid = h.get("id", 0)
        try:
            if op == "run_graph":   # (first: the hot path)
                h["timeout"] = _step_timeout(h, self.recv_timeout_s)
                self._release(h.get("released", ()))
                g = self.graphs.get(h["handle"])
                if g is not None and g["inline"] and not self._inline_step:
                    self._run(ident, h, bufs, inline=True)  # no thread hand-off
                else:
                    self._pool.submit(self._run, ident, h, bufs)
            elif op == "ping":   # (its pid: a master tells a restarted task from the one it knew)
                self._reply(ident, rid, {"status": {"pid": os.getpid()}})
            elif op == "status":
                self._reply(ident, rid, {"status": self.status()})
            elif op == "register_graph":
                self._reply(ident, rid, {"handle": self._register(h)})
            elif op == "abort_step":
                self._abort(h["step"], h["message"])
                self._reply(ident, rid)
            elif op == "deregister_graph":
                self.graphs.pop(h["handle"], None)
                self._reply(ident, rid)
            elif op == "reset":
                self.kctx.reset()
                self._reply(ident, rid)
            elif op == "shutdown":
                self._reply(ident, rid)
                self._stop = True
            elif op == "task_done":
                self._task_done(h["task"], h.get("done", True))
                self._reply(ident, rid)
            elif op == "release":
                self._release(h["names"])
        except Exception as e:  # noqa: BLE001 - reported to the master, the worker keeps serving
            self._reply(ident, rid, error=_error_info(e, self.device))

    def _task_done(self, task: str, done: bool) -> None:
        """Training task `task` of this cluster (a task of any job but `ps`) says its training
        ended (`done`), or began again; `status()["training_done"]` says when every one of
        them has ended (what a ps task's `Server.join()` waits for)."""
        tasks = self._training_tasks()
        if task not in tasks:
            raise ValueError(f"task_done: {task[:100]!r} is not a training task of this "
                             f"cluster ({', '.join(sorted(tasks)) or 'it has none'})")
        if done:
            self._done_tasks.add(task)
            if self._done_tasks >= tasks:
                _logger.info("%s: every training task of the cluster said its training ended",
                             self.device)
        else:
            self._done_tasks.discard(task)

    def _training_tasks(self) -> set[str]:
        return {f"/job:{job}/task:{i}" for job, tasks in self.cluster.items() if job != "ps"
                for i in (tasks or {})}

    def status(self) -> dict:
        return {"device": self.device, "data": self.transport.endpoint, "pid": os.getpid(),
                "host": self.host, "cluster": self.cluster, "control": self.endpoint,
                "siblings": self.siblings,
                "dropped": {"data": self.transport.dropped, "control": self.rejected},
                "unclaimed": self.rendezvous.unclaimed,
                "sent": {"tensors": self.transport.sent, "bytes": self.transport.sent_bytes},
                "recv_wait_s": self.rendezvous.wait_s,
                "training_done": bool(self._done_tasks)
                and self._done_tasks >= self._training_tasks()}

    # --- graphs --------------------------------------------------------------------------------
    def _register(self, h: dict) -> int:
        gd = GraphDef.FromString(h["graph"])
        g = FuncGraph(f"partition-{self._next_handle}", None)
        with g.as_default():
            import_graph_def(gd, name="")
        peers = {}   # this graph's routes: another session's registration cannot change them
        for dev, peer in h["peers"].items():
            if not (isinstance(peer, list) and len(peer) == 2 and isinstance(peer[0], str)):
                raise ValueError(f"register_graph: bad peer entry for {dev!r}: {peer!r}")
            peers[dev] = (peer[0], bool(peer[1]))
        feeds = [g.get_tensor_by_name(ph + ":0") for _, ph in h["feeds"]]
        fetches = [g.get_tensor_by_name(n) for n in h["fetches"]]
        targets = [g.get_operation_by_name(n) for n in h["targets"]]
        targets += [op for op in g.get_operations() if op.type == "_Send"]
        feed_ops = {t.op.name for t in feeds}
        ops = [op for op in prune_ops(fetches, targets) if op.name not in feed_ops]
        feed_keys = [(t.op.name, 0) for t in feeds]
        fetch_keys = [(t.op.name, t.value_index) for t in fetches]
        kctx, prefix = self.kctx, h["session"] + "/"

        def compile_(trace: bool = False):
            # stateful kernels (random streams) belong to one session: a worker of a cluster
            # serves many, whose graphs may reuse node names
            return compile_step(exec_nodes_from_ops(ops), feed_keys, fetch_keys, kctx,
                                kctx.backend, validate=kctx.validate, trace=trace,
                                key_prefix=prefix)
        step = compile_()
        handle = self._next_handle
        self._next_handle += 1
        self.graphs[handle] = {"step": step, "session": h["session"], "peers": peers,
                               "inline": bool(h.get("inline", False)), "compile": compile_,
                               "traced": None}   # (compiled at its first traced step)
        return handle

    @staticmethod
    def _trace(step, records, offset_ns: int) -> dict:
        """What a traced step's `records` (`executor.TracedStep`) say, for the reply (checked
        by the master: `rpc.check_trace`): times moved to the wall clock by `offset_ns`."""
        nodes = step.nodes
        t = threading.current_thread()
        return {"thread": [t.native_id or 0, t.name],
                "nodes": [[nodes[i].name, nodes[i].op, t0 + offset_ns, t1 + offset_ns,
                           list(sizes)] for i, t0, t1, sizes in records]}

    def _run(self, ident, h: dict, bufs, inline: bool = False) -> None:
        """Run one step; reply from this thread (`inline`: the main thread) or via the pool."""
        rid, step_id = h["id"], h["step"]
        from_pool = not inline
        if inline:
            self._inline_step = True
        try:
            g = self.graphs.get(h["handle"])
            if g is None:
                raise KeyError(f"no graph registered under handle {h['handle']}")
            traced = h.get("trace", False)
            step = g["step"]
            if traced:
                step = g["traced"]
                if step is None:
                    step = g["traced"] = g["compile"](trace=True)
            feeds = [self._to_device(f)
                     for f in wire.decode_tensors(h["feeds"], bufs, self.reader)]
            self.kctx.step.id = step_id
            self.kctx.step.timeout = h["timeout"]  # (checked by _dispatch)
            self.kctx.step.deadline = time.monotonic() + h["timeout"]
            self.kctx.step.peers = g["peers"]
            self.kctx.step.batch = None   # (what a failed step left)
            self.rendezvous.claim(step_id)  # what peers sent ahead is this step's now
            try:
                if traced:
                    offset_ns = time.time_ns() - time.perf_counter_ns()  # -> the wall clock
                    outs, records = step(*feeds)
                else:
                    outs = step(*feeds)
            finally:
                self.rendezvous.cleanup(step_id)
            del feeds
            metas, frames = wire.encode_tensors([self._to_host(o) for o in outs], self.arena) \
                if outs else ([], ())
            payload = {"outputs": metas}
            if traced:
                payload["trace"] = self._trace(step, records, offset_ns)
            released = self._drain()
            if released:
                payload["released"] = released
            self._reply(ident, rid, payload, frames, from_pool=from_pool)
        except Exception as e:  # noqa: BLE001 - reported to the master
            self._reply(ident, rid, {"released": self._drain()},
                        error=_error_info(e, self.device), from_pool=from_pool)
        finally:
            if inline:
                self._inline_step = False

    def _abort(self, step_id: int, message: str) -> None:
        self.rendezvous.abort(step_id, errors.CancelledError(None, None, message))

    def _release(self, names) -> None:
        for n in names:
            if isinstance(n, str):
                self.arena.release(n)

    def _drain(self) -> list:
        """Names of shared-memory feeds whose last view here is gone (their owner may reuse
        them); released notices go back on the next reply."""
        return [name for _, name in self.reader.drain(polled=False)]

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self._stop = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.kctx.reset()  # wakes kernels blocked in queue waits: the process can exit
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self.arena.close()
        self.reader.close()
        self._reply_pushes.close()
        self._replies.close(0)
        self.control.close(0)
        if self._dg is not None:
            self._dg.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self._auth is not None:
            self._auth.stop()
        remove_endpoint(self.endpoint)


def _error_info(e: BaseException, device: str) -> dict:
    if isinstance(e, errors.OpError):
        return {"type": type(e).__name__, "message": e.message, "node": e.op or ""}
    detail = "".join(traceback.format_exception_only(type(e), e)).strip()
    return {"type": "InternalError", "message": f"worker {device}: {detail}", "node": ""}
