"""The master: runs a session's steps on worker processes, one per device.

For each (fetches, feeds) signature it places the pruned graph (`compiler/placer.py`), cuts it
into per-device partitions with `_Send`/`_Recv` pairs (`compiler/partitioner.py`) and registers
each partition with its worker once.  A step is then one `run_graph` per worker, sent together
(the partitions that wait for no other device first); workers exchange tensors among themselves
(never through the master) and return their fetches.  To the workers it started (same host) the
requests and replies travel as datagrams when they fit (`dgram.py`: no ZeroMQ io thread on
either side, a reply socket per thread of ours, replies accepted only from our workers'
sockets), over the ZeroMQ DEALER otherwise.

Waiting for replies never blocks without a deadline: the master polls its sockets in short
slices, checks that the worker processes it started are alive, pings remote workers that have
been silent, and honours `RunOptions.timeout_in_ms` / `ConfigProto.operation_timeout_in_ms`.
When a worker fails or dies, the master aborts the step on the others (their `_Recv`s return
at once) and raises an error naming the job/task and the step.

`Master.local(config)` starts the workers of this machine's devices (`device_count`) and stops
them on `close()`; `Master.connect(target)` joins a cluster of `tw.train.Server`s: it asks every
task of the cluster for its status when the session starts, each within `CONNECT_TIMEOUT_S`
(or `operation_timeout_in_ms` when shorter), and a task that does not answer is an
`UnavailableError` naming it and its address (`/job:ps/task:0 at 127.0.0.1:PORT`) and saying
why, as far as a plain TCP connection tells (nothing listens there, or something that is not a
task answering this client).
"""
from __future__ import annotations

import atexit
import importlib.machinery
import itertools
import logging
import os
import random
import select
import socket as pysocket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import zmq

from ..framework import errors
from ..framework.device_spec import DeviceSpec
from ..framework import tf_logging
from . import dgram, wire
from .devices import Device, local_devices
from .curve import keys_from_config
from .rendezvous import check_step_timeout_ms
from .heartbeat import Monitor, heartbeat_timeout_s, pipe as heartbeat_pipe
from .rpc import (REPLIES, WorkerClient, endpoint_dir, error_from_reply,
                  remove_endpoint)
from .shm import ShmArena, ShmReader, cleanup_stale

__all__ = ["Master", "start_worker_process", "WorkerInfo"]

_LIVE_MASTERS: weakref.WeakSet = weakref.WeakSet()
_log = logging.getLogger(__name__)


@dataclass
class WorkerInfo:
    """What the master knows of one worker (one device)."""

    device: str
    client: WorkerClient
    data: str
    host: str
    pid: int
    proc: subprocess.Popen | None = None

    @property
    def task_name(self) -> str:
        return self.device.split("/device:")[0]


@dataclass
class _Part:
    worker: WorkerInfo
    handle: int
    feed_index: list           # positions in the plan's feed list
    fetch_index: list          # positions in the plan's fetch list


@dataclass
class DistPlan:
    parts: list
    n_fetches: int
    fed_fetches: dict = field(default_factory=dict)   # fetch position -> feed position
    placement: object = None
    partitions: list = field(default_factory=list)
    order: list = field(default_factory=list)   # the parts in the order requests go out


def start_worker_process(device, bind: str, *, cores=(), cluster_file: str | None = None,
                         parent_pid: int | None = None, timeout_s: float = 60.0,
                         data_bind: str | None = None, siblings: dict | None = None,
                         heartbeat_fd: int | None = None, keys_dir: str | None = None):
    """Start `python -m workers` for `device`; returns (Popen, control endpoint, data endpoint).
    `heartbeat_fd`: the write end of a `heartbeat.pipe()`, handed to the worker (and closed
    here) for it to beat on.  `keys_dir`: a cluster key directory to serve with (`curve.py`).

    The worker runs with Python's safe path (`-P`): the working directory is not on its
    `sys.path` (nor is a `PYTHONPATH` entry naming it, `.` or an empty one), and the directory
    holding this installation's `workers` package comes first, so a `workers.py` or `workers/`
    of the user's cannot stand in for the worker program; `PYTHONPATH` and installed packages
    are found as usual.  It logs its records, from this process's `tensorweave` level
    up, as record lines that `_drain_stderr` hands to the `tensorweave.workers` logger.

    Raises OSError naming the address when the worker cannot bind it (bad or busy)."""
    env = dict(os.environ)
    if cores:
        n = str(len(cores))
        env.update(OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
    # the directory the real worker program is found in comes first, then PYTHONPATH without
    # its empty entries (and without `.`-like ones: the working directory, as -P leaves out)
    cwd = os.path.realpath(os.getcwd())
    path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
            if p and os.path.realpath(p) != cwd]
    home = _worker_program_home()
    if home is not None and home not in path:
        path.insert(0, home)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    else:
        env.pop("PYTHONPATH", None)
    level = tf_logging.get_verbosity()
    cmd = [sys.executable, "-P", "-m", "workers", "--bind", bind, "--device", device,
           "--log-records", "--log-level", str(level)]
    if cores:
        cmd += ["--cores", ",".join(str(c) for c in cores)]
    if parent_pid is not None:
        cmd += ["--parent-pid", str(parent_pid)]
        if threading.current_thread() is not threading.main_thread():
            cmd += ["--no-deathsig"]  # Linux would kill it when this thread ends
    if cluster_file:
        cmd += ["--cluster", cluster_file]
    if siblings:  # the other devices of its task: device name -> control endpoint
        cmd += ["--siblings", ",".join(f"{d}={ep}" for d, ep in siblings.items())]
    if data_bind:
        cmd += ["--data-bind", data_bind]
    if keys_dir:
        cmd += ["--keys", keys_dir]
    pass_fds = ()
    if heartbeat_fd is not None:
        cmd += ["--heartbeat-fd", str(heartbeat_fd)]
        pass_fds = (heartbeat_fd,)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                text=True, errors="replace", bufsize=1, pass_fds=pass_fds)
    finally:
        if heartbeat_fd is not None:
            os.close(heartbeat_fd)  # the worker's now: its exit ends the pipe
    deadline = time.monotonic() + timeout_s
    line = ""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line.startswith("workers: serving"):
        err = ""
        if proc.poll() is None:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        said = "\n".join(tf_logging.record_from_line(ln, "").getMessage()
                          for ln in (err or line).splitlines())
        raise OSError(f"worker for {device} at {bind} did not start: "
                      f"{said.strip() or 'no answer within the timeout'}")
    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
    threading.Thread(target=_drain_stderr, args=(proc, device), daemon=True).start()
    return proc, fields["control"], fields["data"]


def _worker_program_home() -> str | None:
    """The directory on `sys.path` (the working directory left out) that holds the `workers`
    package installed with tensorweave, or None."""
    cwd = os.path.realpath(os.getcwd())
    dirs = [p for p in sys.path if p and os.path.realpath(p) != cwd]
    for finder in sys.meta_path:   # (an editable install's finder, or the path finder)
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = (importlib.machinery.PathFinder.find_spec("workers", dirs)
                    if finder is importlib.machinery.PathFinder else find("workers", None))
        except Exception:  # noqa: BLE001 - a finder that cannot answer is not ours
            continue
        if spec is not None and spec.submodule_search_locations:
            pkg = os.path.realpath(list(spec.submodule_search_locations)[0])
            return os.path.dirname(pkg)
    return None


def _drain_stderr(proc, device: str = "") -> None:
    """Hand the records a worker logs (malformed messages, ...) to our `tensorweave.workers`
    logger, at the worker's level, their messages prefixed with its device; any other line
    it writes (a crash's traceback) arrives as a warning.  A line that cannot be read as a
    record is logged as a warning too, and draining goes on to the end of the stream (a worker
    whose pipe is not drained would block)."""
    logger = logging.getLogger("tensorweave.workers")
    try:
        for line in proc.stderr:
            if not line.strip():
                continue
            try:
                record = tf_logging.record_from_line(line, logger.name, device)
            except Exception:  # noqa: BLE001 - any garbage a child writes is one warning
                logger.warning("%s: %s", device, line.rstrip()[:500])
                continue
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
    except (ValueError, OSError):
        pass


class Master:
    """See the module docstring."""

    def __init__(self, workers: list[WorkerInfo], default_device: str, config, own: bool,
                 ctx: zmq.Context):
        self.workers = {w.device: w for w in workers}
        self.default_device = default_device
        self.config = config
        self._own = own
        self._ctx = ctx
        self._host = pysocket.gethostname()
        self._arena = ShmArena()
        self._reader = ShmReader()
        self._master_id = random.getrandbits(20)
        self._steps = itertools.count(1)
        self._plans: list[DistPlan] = []
        self._closed = False
        self._lock = threading.Lock()
        self._heartbeat_timeout = heartbeat_timeout_s(config.experimental)
        self._inflight: dict = {}   # step id -> its pending parts (aborted by close())
        # replies of workers we started come back as datagrams (`dgram.py`): one bound
        # socket per thread of ours, known to us by its sender path
        self._dg_local = threading.local()
        self._dg_all: list = []
        self._dg_workers = {w.client.dgram_path: w for w in workers
                            if w.client.dgram_path is not None}
        _LIVE_MASTERS.add(self)

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def local(cls, config) -> Master:
        """Start one worker process per device of this machine (`config.device_count`)."""
        hb_timeout = heartbeat_timeout_s(config.experimental)  # (checked before anything starts)
        cleanup_stale()
        devices = local_devices(dict(config.device_count) or None)
        ctx = zmq.Context()
        d = endpoint_dir()
        workers = []
        try:
            for i, dev in enumerate(devices):
                ep = f"ipc://{d}/{id(ctx):x}-{i}"
                beats, beat_fd = heartbeat_pipe()
                try:
                    proc, control, data = start_worker_process(
                        dev.name, ep, cores=dev.cores if dev.device_type == "CPU" else (),
                        parent_pid=os.getpid(), heartbeat_fd=beat_fd)
                except BaseException:
                    os.close(beats)
                    raise
                client = WorkerClient(control, dev.name, ctx, proc, heartbeat=Monitor(beats),
                                      heartbeat_timeout_s=hb_timeout)
                workers.append(WorkerInfo(dev.name, client, data, pysocket.gethostname(),
                                          proc.pid, proc))
        except BaseException:
            for w in workers:
                w.proc.kill()
                w.client.close()
            ctx.term()
            raise
        m = cls(workers, devices[0].name, config, True, ctx)
        m.devices = devices
        return m

    @classmethod
    def connect(cls, target: str, config) -> Master:
        """Join the cluster whose task listens at `target` (tw://host:port or grpc://...)."""
        endpoint = normalize_target(target)
        heartbeat_timeout_s(config.experimental)  # (checked before anything connects)
        wait_s = connect_timeout_s(config)
        keys = keys_from_config(config)
        ctx = zmq.Context()
        first = WorkerClient(endpoint, target, ctx, keys=keys)
        try:
            rep, _ = first.call({"op": "status"}, timeout_s=wait_s)
        except errors.OpError as e:
            first.close()
            ctx.term()
            refused = _tcp_probe(endpoint)
            if refused is not None:
                raise errors.UnavailableError(
                    None, None, f"cannot reach {target}: nothing answered within {wait_s:g} "
                    f"s, {refused} (is its tw.train.Server started?)") from None
            how = (f"with client key {keys.client!r} of {keys.directory} (is its public key "
                   f"in the task's allow-list?)" if keys is not None else
                   "without cluster keys (a task started with keys answers only clients whose "
                   "key it allows: ConfigProto(experimental={'cluster_keys': DIR}) or "
                   "TENSORWEAVE_CLUSTER_KEYS; a task started without keys listens on loopback "
                   "only)")
            raise errors.UnavailableError(None, None, f"cannot reach {target} {how}: "
                                                      f"{e}") from None
        st = rep["status"]
        # every device of every task: the tasks from the cluster, each task's other devices
        # from its status (`siblings`)
        todo = {st["device"]: st["control"]}
        in_cluster: dict = {}   # the first device of each task of the cluster -> its task
        for job, tasks in (st.get("cluster") or {}).items():
            for idx, addr in tasks.items():
                dev = f"/job:{job}/replica:0/task:{int(idx)}/device:CPU:0"
                todo.setdefault(dev, "tcp://" + addr)
                in_cluster[dev] = f"/job:{job}/task:{int(idx)}"
        seen: dict = {}  # endpoint -> the device it serves
        workers, devices = [], []
        clients = [first]
        while todo:
            dev, ep = min(todo.items())
            del todo[dev]
            if ep in seen:
                continue
            try:
                client = first if ep == endpoint else WorkerClient(ep, dev, ctx, keys=keys)
                if client is not first:
                    clients.append(client)
                r, _ = client.call({"op": "status"}, timeout_s=wait_s)
            except (errors.OpError, zmq.ZMQError) as e:
                for c in clients:
                    c.close()
                ctx.term()
                raise errors.UnavailableError(
                    None, None, _unreachable(dev, ep, in_cluster.get(dev), target, wait_s, e,
                                             keys)) from None
            s = r["status"]
            seen[ep] = s["device"]
            for sib, sep in (s.get("siblings") or {}).items():
                if sep not in seen and sib not in seen.values():
                    todo.setdefault(sib, sep)
            client.name = s["device"].split("/device:")[0]
            workers.append(WorkerInfo(s["device"], client, s["data"], s["host"], s["pid"]))
            spec = s["device"]
            ds = DeviceSpec.from_string(spec)
            devices.append(Device(spec, ds.device_type, ds.job, ds.replica or 0, ds.task or 0,
                                  ds.device_index or 0, 0))
        order = sorted(range(len(workers)), key=lambda k: _device_order(workers[k].device))
        workers = [workers[k] for k in order]
        devices = [devices[k] for k in order]
        m = cls(workers, st["device"], config, False, ctx)
        m.devices = devices
        return m

    # --- plans -----------------------------------------------------------------------------------
    def register(self, parts: dict, layout, n_fetches: int, placement=None) -> DistPlan:
        """Register each partition of a step with its device's worker (`parts`, `layout`: the
        partitioner's output for the step, which has `n_fetches` fetches)."""
        plan = DistPlan([], n_fetches, dict(layout.fed_fetches), placement, list(parts.values()))
        session_key = f"{os.getpid()}-{self._master_id}"
        for dev, p in parts.items():
            w = self.workers.get(dev)
            if w is None:
                raise errors.InternalError(None, None, f"partition for {dev}, which is not a "
                                           "device of this session")
            peers = {}
            for dst in sorted(p.sends_to):
                pw = self.workers[dst]
                peers[dst] = [pw.data, pw.host == w.host]
            rep, _ = w.client.call({"op": "register_graph",
                                    "graph": p.graph_def.SerializeToString(),
                                    "feeds": [[t, ph] for t, ph in p.feeds.items()],
                                    "fetches": list(dict.fromkeys(p.fetches)),
                                    "targets": list(p.targets),
                                    "peers": peers,
                                    # a worker we watch ourselves may run steps on its main
                                    # thread (we never need its pings to see it die)
                                    "inline": w.proc is not None,
                                    "session": session_key}, timeout_s=120.0)
            plan.parts.append(_Part(w, rep["handle"], layout.feed_index[dev],
                                    layout.fetch_index[dev]))
        # the partitions that wait for no other device start the step's dataflow: theirs first
        plan.order = sorted(plan.parts, key=lambda part: any(
            n.op == "_Recv" for n in parts[part.worker.device].nodes))
        self._plans.append(plan)
        return plan

    @staticmethod
    def partitions_of(plan: DistPlan) -> list:
        return plan.partitions

    # --- steps -----------------------------------------------------------------------------------
    def run(self, plan: DistPlan, feed_values, timeout_ms: int = 0,
            traces: dict | None = None) -> tuple:
        """Run one step of `plan`; returns the fetched values in plan order.  `traces`: a dict
        to fill with each device's trace of the step (device -> its worker's `trace`, see
        `rpc.check_trace`), in the plan's order of devices; None: the step is not traced."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        step = (self._master_id << 40) | next(self._steps)
        results: list = [None] * plan.n_fetches
        for i, j in plan.fed_fetches.items():
            results[i] = np.array(feed_values[j])  # the caller's copy, as in one process
        timeout_ms = timeout_ms or int(self.config.operation_timeout_in_ms or 0)
        check_step_timeout_ms(timeout_ms)
        pending: dict = {}
        with self._lock:   # (close() aborts what is in flight: a step is either in, or refused)
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            self._inflight[step] = pending
        try:
            out = self._send_and_wait(plan, step, pending, feed_values, results, timeout_ms,
                                      traces)
            if traces:
                got = dict(traces)
                traces.clear()
                traces.update((p.worker.device, got[p.worker.device]) for p in plan.parts
                              if p.worker.device in got)
            return out
        except zmq.ZMQError:
            if self._closed:   # close() from another thread took the sockets
                raise errors.CancelledError(None, None, f"the session was closed during "
                                                        f"step {step}") from None
            raise
        finally:
            self._inflight.pop(step, None)

    def _reply_dgram(self):
        """This thread's datagram socket for replies (`dgram.py`; None: ZeroMQ only)."""
        dg = getattr(self._dg_local, "sock", 0)
        if dg == 0:
            dg = None
            if self._dg_workers:
                path = f"{endpoint_dir()}/m{os.getpid()}-{next(_dgram_names)}.dg"
                try:
                    dg = dgram.DgramSocket(path)
                except OSError as e:
                    _log.warning("no datagram socket for replies (%s): ZeroMQ only", e)
                if dg is not None:
                    with self._lock:
                        if self._closed:
                            dg.close()
                            raise RuntimeError("Attempted to use a closed Session.")
                        self._dg_all.append(dg)
            self._dg_local.sock = dg
        return dg

    def _read_dgrams(self, dg) -> list:
        """The replies waiting on `dg`: [(worker, frames)], each from the datagram socket of
        one of our workers (anything else is logged and dropped)."""
        got = []
        while True:
            try:
                d = dg.recv()
            except wire.WireError as e:
                _log.warning("dropped a malformed datagram reply: %s", e)
                continue
            if d is None:
                return got
            w = self._dg_workers.get(d[1])
            if w is None:
                _log.warning("dropped a datagram reply from %r, not a worker of this session",
                             str(d[1])[:120])
                continue
            got.append((w, d[0]))

    def _send_and_wait(self, plan, step, pending, feed_values, results, timeout_ms, traces):
        dg = self._reply_dgram()
        for part in plan.order:
            w = part.worker
            if part.feed_index:
                arena = self._arena if w.host == self._host else None
                metas, frames = wire.encode_tensors([feed_values[i] for i in part.feed_index],
                                                    arena)
            else:
                metas, frames = [], ()
            header = {"op": "run_graph", "handle": part.handle, "step": step, "feeds": metas}
            if timeout_ms > 0:
                header["timeout"] = timeout_ms / 1000.0  # how long its _Recvs may wait
            if traces is not None:
                header["trace"] = True
            rid = w.client.send_request(header, frames, dg)
            w.client.last_heard = time.monotonic()  # (its silence counts from the request)
            pending[rid] = part
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else None
        # this thread's sockets for the plan's workers, and a poller of them (made once)
        pollers = self._dg_local.__dict__.setdefault("pollers", {})
        got = pollers.get(id(plan))
        if got is None:
            sockets = {part.worker.client.socket(): part.worker for part in plan.parts}
            poller = zmq.Poller()
            for s in sockets:
                poller.register(s, zmq.POLLIN)
            if dg is not None:
                poller.register(dg.fileno(), zmq.POLLIN)
            got = pollers[id(plan)] = (poller, sockets)   # (plans live as long as we do)
        poller, sockets = got
        return self._wait(step, plan, pending, results, poller, sockets, deadline, timeout_ms,
                          traces, dg)

    def _wait(self, step, plan, pending, results, poller, sockets, deadline, timeout_ms,
              traces=None, dg=None):
        """Collect the replies of step `step`'s parts (`pending`), watching the workers
        (`dg`: this thread's datagram socket for replies, polled by `poller` too)."""
        first_error = None
        last_check = time.monotonic()
        pings: dict = {}
        abort_at = None

        def fail(err):
            nonlocal first_error, abort_at
            if first_error is None:
                first_error = err
                abort_at = time.monotonic()
                self._abort(step, pending, str(err))

        while pending:
            if abort_at is not None and time.monotonic() - abort_at > 2.0:
                break  # the others were told to abort; do not wait for stragglers
            if self._closed and first_error is None:  # close() aborted it (it told the
                first_error = errors.CancelledError(    # workers): wait briefly for that
                    None, None, f"the session was closed during step {step}")
                abort_at = time.monotonic()
            got = []
            for s, _ in poller.poll(100):
                if type(s) is int:   # (the datagram socket's fd)
                    got += self._read_dgrams(dg)
                else:
                    got.append((sockets[s], s.recv_multipart(copy=False)))
            for w, msg in got:
                try:
                    header, frames = wire.unpack(msg, REPLIES)
                except wire.WireError as e:
                    _log.warning("dropped a malformed reply from %s: %s", w.device, e)
                    continue
                w.client.last_heard = time.monotonic()
                for name in header.get("released", ()):
                    self._arena.release(name)
                part = pending.pop(header["id"], None)
                if part is None:
                    pinged, _ = pings.pop(header["id"], (None, None))
                    pid = header.get("status", {}).get("pid")
                    if pinged is not None and isinstance(pid, int) and pid != pinged.pid:
                        fail(errors.UnavailableError(
                            None, None, f"worker {pinged.task_name} (device {pinged.device}) "
                            f"was restarted during step {step} (pid {pinged.pid}, now {pid}): "
                            f"what the step had sent it was lost"))
                        for rid, p in list(pending.items()):
                            if p.worker is pinged:
                                pending.pop(rid)
                    continue
                if header["ok"]:
                    outs = wire.decode_tensors(header.get("outputs", []), frames, self._reader,
                                               reply_to=w.device)
                    for pos, v in zip(part.fetch_index, outs):
                        val = np.array(v)  # a writable copy the caller owns
                        for p in pos:
                            results[p] = val
                    del outs
                    if traces is not None and "trace" in header:
                        traces[w.device] = header["trace"]
                    if not self._closed:
                        self._send_releases()
                else:
                    fail(error_from_reply(header.get("error", {}), f"{w.task_name} (device "
                                          f"{w.device}) in step {step}"))
            now = time.monotonic()
            if pending and now - last_check > 0.25 and not self._closed:
                last_check = now
                found = self._find_dead(pending, pings, now)
                if found is not None:
                    dead, what = found
                    fail(errors.UnavailableError(
                        None, None, f"worker {dead.task_name} (device {dead.device}, pid "
                        f"{dead.pid}) {what}, during step {step}"))
                    for rid, part in list(pending.items()):
                        if part.worker is dead:
                            pending.pop(rid)
                if deadline is not None and now > deadline:
                    fail(errors.DeadlineExceededError(
                        None, None, f"step {step} did not finish within {timeout_ms} ms"))
        if first_error is not None:
            raise first_error
        return tuple(results)

    def _abort(self, step: int, pending: dict, message: str) -> None:
        for part in {id(p.worker): p for p in pending.values()}.values():
            try:
                part.worker.client.send({"op": "abort_step", "step": step,
                                         "message": message})
            except zmq.ZMQError:
                pass

    def _find_dead(self, pending: dict, pings: dict, now: float):
        """(worker, what happened to it) of the first worker of `pending` that exited or has
        been silent for longer than the heartbeat timeout, else None.  A worker we started
        beats on its pipe (`heartbeat.py`); a remote one is pinged once it has been silent for
        a third of the timeout, and again every third while silent (its main thread answers even
        mid-step, with its pid: a task restarted under the same address fails the step)."""
        timeout = self._heartbeat_timeout
        for part in pending.values():
            w = part.worker
            if w.proc is not None:
                why = w.client.why_dead(now)
                if why is not None:
                    return w, why
                continue
            silent = now - w.client.last_heard
            if silent > timeout:
                return w, f"did not answer for {silent:.2f} s (the limit: {timeout:g} s)"
            # a ping every third of the timeout while it is silent (one sent to a process that
            # died is never answered; its restarted successor answers the next with its pid)
            if silent > timeout / 3 and not any(p is w and now - sent < timeout / 3
                                                for p, sent in pings.values()):
                pings[w.client.send({"op": "ping"})] = (w, now)
        return None

    def _send_releases(self) -> None:
        """Tell workers which of their shared-memory outputs we are done with."""
        by_peer: dict = {}
        for reply_to, name in self._reader.drain(polled=False):
            by_peer.setdefault(reply_to, []).append(name)
        for reply_to, names in by_peer.items():
            w = self.workers.get(reply_to) if reply_to else None
            targets = [w] if w is not None else list(self.workers.values())
            for t in targets:
                t.client.notify({"op": "release", "names": names})

    # --- lifetime --------------------------------------------------------------------------------
    def task_done(self, done: bool = True) -> None:
        """Tell every ps device of the cluster that the task this master connected to (a task
        of any job but `ps`) has ended its training (`done`), or begins it again: the
        `Server.join()` of a ps task returns once all the cluster's training tasks have ended.
        Best effort: a ps task that does not answer is logged and skipped."""
        spec = DeviceSpec.from_string(self.default_device)
        if self._own or spec.job in (None, "ps") or spec.task is None:
            return
        task = f"/job:{spec.job}/task:{spec.task}"
        for dev, w in sorted(self.workers.items()):
            if DeviceSpec.from_string(dev).job != "ps":
                continue
            try:
                w.client.call({"op": "task_done", "task": task, "done": done}, timeout_s=5.0)
            except (errors.OpError, zmq.ZMQError) as e:
                _log.warning("could not tell %s that %s %s: %s", dev, task,
                             "is done" if done else "trains again", e)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            inflight = list(self._inflight.items())
        for step, pending in inflight:   # steps other threads still run: their workers let
            try:                         # them go, and we wait (briefly) for their replies
                self._abort(step, dict(pending), f"the session was closed during step {step}")
            except Exception:  # noqa: BLE001 - best effort: the workers may be gone
                pass
        give_up = time.monotonic() + 3.0
        while self._inflight and time.monotonic() < give_up:
            time.sleep(0.01)
        for w in self.workers.values():
            try:
                if self._own:
                    w.client.call({"op": "shutdown"}, timeout_s=2.0)
                else:  # a cluster task outlives us: drop the partitions we registered
                    for plan in self._plans:
                        for part in plan.parts:
                            if part.worker is w:
                                w.client.call({"op": "deregister_graph",
                                               "handle": part.handle}, timeout_s=2.0)
            except (errors.OpError, zmq.ZMQError):
                pass
        for w in self.workers.values():
            if w.proc is not None:
                try:
                    w.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    w.proc.wait(timeout=5)
                remove_endpoint(w.client.endpoint)  # left behind if the worker was killed
                remove_endpoint(w.data)
            w.client.close()
        for dg in self._dg_all:
            dg.close()
        self._arena.close()
        self._reader.close()
        try:
            self._ctx.term()
        except zmq.ZMQError:
            pass
        if self._own:
            try:
                os.rmdir(endpoint_dir(create=False))  # when every local session is closed
            except OSError:
                pass

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_dgram_names = itertools.count(1)

#: How long a session waits for each task of its cluster to answer when it starts.
CONNECT_TIMEOUT_S = 10.0


def connect_timeout_s(config) -> float:
    """How long `Master.connect` waits for each task to answer: `CONNECT_TIMEOUT_S`, or the
    session's `operation_timeout_in_ms` where that is shorter (the user asked for no blocking
    call of the session to wait longer)."""
    op_ms = int(getattr(config, "operation_timeout_in_ms", 0) or 0)
    check_step_timeout_ms(op_ms)
    return min(CONNECT_TIMEOUT_S, op_ms / 1000.0) if op_ms > 0 else CONNECT_TIMEOUT_S


def _tcp_probe(endpoint: str, timeout_s: float = 1.0) -> str | None:
    """Why a plain TCP connection to `tcp://host:port` fails ("connection refused: nothing
    listens there", ...), or None when something accepts it (or it is not a tcp endpoint)."""
    if not endpoint.startswith("tcp://"):
        return None
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    try:
        with pysocket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return "connection refused: nothing listens there"
    except TimeoutError:
        return f"the host did not accept a connection within {timeout_s:g} s"
    except (OSError, ValueError) as e:
        return f"cannot connect: {e}"


def _unreachable(dev: str, ep: str, task: str | None, target: str, wait_s: float, err,
                 keys) -> str:
    """The message of a session that cannot reach device `dev` at `ep` when it starts: the
    task (as the ClusterSpec names it: `/job:ps/task:0 at 127.0.0.1:PORT`) and why."""
    addr = ep[len("tcp://"):] if ep.startswith("tcp://") else ep
    what = (f"{task} at {addr} (a task of the cluster of {target}, device {dev})" if task else
            f"device {dev} at {addr} (of the cluster of {target})")
    why = _tcp_probe(ep)
    if why is not None:
        return (f"{what} did not answer within {wait_s:g} s: {why}; is its tw.train.Server "
                f"started, and is its address in the ClusterSpec right?")
    if isinstance(err, errors.OpError) and "did not answer" in str(err):
        keyed = "a task started without cluster keys" if keys is not None else \
            "a task started with cluster keys this client does not have"
        return (f"{what} did not answer within {wait_s:g} s: something accepts connections "
                f"there but does not answer as a tensorweave task (another program, "
                f"{keyed}, or a task too busy to answer)")
    return f"{what} is not reachable: {err}"


def _device_order(name: str) -> tuple:
    """Sort key of full device names: job, task, then CPUs before GPUs, by index."""
    d = DeviceSpec.from_string(name)
    return (d.job or "", d.replica or 0, d.task or 0, d.device_type != "CPU",
            d.device_type or "", d.device_index or 0)


def normalize_target(target: str) -> str:
    """`tw://host:port`, `grpc://host:port` or `host:port` -> `tcp://host:port`."""
    for prefix in ("tw://", "grpc://", "tcp://"):
        if target.startswith(prefix):
            return "tcp://" + target[len(prefix):]
    if ":" in target:
        return "tcp://" + target
    raise ValueError(f"Session target {target!r} must look like tw://HOST:PORT "
                     "(a tw.train.Server's target)")


@atexit.register
def _close_masters() -> None:
    for m in list(_LIVE_MASTERS):
        try:
            m.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
