"""The control plane between a master and its workers: message schemas and the client side.

A master talks to each worker through a ZeroMQ DEALER socket (one per master thread and worker,
so concurrent `Session.run` calls never share a socket); the worker answers on its ROUTER socket.
Every request carries an `id`; its reply (op `reply`) carries the same `id`, `ok`, and either the
payload or an `error` {type, message} naming the failing node.  Messages are `wire` messages
(msgpack header + raw frames), checked against `REQUESTS`/`REPLIES`; nothing is pickled.

Requests:
  ping                      liveness (answered by the worker's main thread even mid-step)
  status                    device name, data endpoint, pid, host, cluster
  register_graph            a partition (GraphDef bytes) with its feeds/fetches and peers
  run_graph                 one step of a registered partition: step id, feed tensors
                            (`trace`: reply with what each node did, `check_trace`)
  abort_step                make a step's pending `_Recv`s fail (another worker failed)
  deregister_graph, reset   drop a partition / all variables of the worker
  shutdown                  exit the worker process
  release                   shared-memory segments the sender may reuse (no reply)
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import stat
import tempfile
import threading
import time

import psutil
import zmq

from ..framework import errors
from . import dgram, rendezvous, wire
from .wire import TENSORS, Field

__all__ = ["REQUESTS", "REPLIES", "WorkerClient", "ThreadSockets", "error_from_reply"]

#: The longest step timeout, in seconds (24 hours): a worker refuses a longer `run_graph`
#: timeout, and a session a longer `RunOptions.timeout_in_ms` / `operation_timeout_in_ms`.
MAX_STEP_TIMEOUT_S = rendezvous.MAX_STEP_TIMEOUT_S

def _check_via(v) -> None:
    if not 1 <= len(v) <= 255:
        raise wire.WireError(f"run_graph.via must be a ZeroMQ routing id of 1 to 255 bytes, got "
                             f"{len(v)} bytes")


REQUESTS = {
    "ping": {"id": Field(int)},
    "status": {"id": Field(int)},
    "register_graph": {"id": Field(int), "graph": Field(bytes), "feeds": Field(list),
                       "fetches": Field(list), "targets": Field(list), "peers": Field(dict),
                       "session": Field(str), "inline": Field(bool, required=False),
                       "config": Field(dict, required=False)},
    "run_graph": {"id": Field(int), "handle": Field(int), "step": Field(int),
                  "feeds": Field(TENSORS), "released": Field(list, required=False),
                  "timeout": Field(float, required=False), "trace": Field(bool, required=False),
                  "via": Field(bytes, required=False, check=_check_via)},
    "abort_step": {"id": Field(int), "step": Field(int), "message": Field(str)},
    "deregister_graph": {"id": Field(int), "handle": Field(int)},
    "reset": {"id": Field(int)},
    "shutdown": {"id": Field(int)},
    "task_done": {"id": Field(int), "task": Field(str), "done": Field(bool, required=False)},
    "release": {"names": Field(list)},
}
#: The longest node name or op type a step trace may hold.
MAX_TRACE_NAME = 4096
_MAX_NS = 1 << 63


def _ns(v) -> bool:
    return type(v) is int and 0 <= v < _MAX_NS


def check_trace(v) -> None:
    """A `run_graph` reply's `trace`: `{"thread": [native id, name], "nodes": [[node name, op
    type, start ns, end ns, [bytes of each output, ...]], ...]}`, times on the wall clock (ns
    since the epoch), start <= end.  Raises `WireError` naming what is wrong."""
    def bad(what):
        raise wire.WireError(f"reply.trace: {what}")
    if set(v) != {"thread", "nodes"}:
        bad(f"must have the fields thread and nodes, got {sorted(map(str, v))[:5]}")
    th = v["thread"]
    if not (isinstance(th, list) and len(th) == 2 and _ns(th[0]) and isinstance(th[1], str)
            and len(th[1]) <= MAX_TRACE_NAME):
        bad(f"thread must be [id, name], got {str(th)[:80]}")
    nodes = v["nodes"]
    if not isinstance(nodes, list):
        bad(f"nodes must be a list, got {type(nodes).__name__}")
    for k, n in enumerate(nodes):
        if not (isinstance(n, list) and len(n) == 5 and isinstance(n[0], str)
                and isinstance(n[1], str) and len(n[0]) <= MAX_TRACE_NAME
                and len(n[1]) <= MAX_TRACE_NAME and _ns(n[2]) and _ns(n[3]) and n[2] <= n[3]
                and isinstance(n[4], list) and all(_ns(b) for b in n[4])):
            bad(f"nodes[{k}] must be [name, op, start ns, end ns (>= start), [output bytes, "
                f"...]], got {str(n)[:120]}")


REPLIES = {
    "reply": {"id": Field(int), "ok": Field(bool), "error": Field(dict, required=False),
              "handle": Field(int, required=False), "outputs": Field(TENSORS, required=False),
              "status": Field(dict, required=False), "released": Field(list, required=False),
              "trace": Field(dict, required=False, check=check_trace)},
}


def error_from_reply(err: dict, where: str):
    """The OpError a worker reported, re-raised in the client (same class, message + where)."""
    typ = getattr(errors, str(err.get("type", "")), None)
    if not (isinstance(typ, type) and issubclass(typ, errors.OpError)):
        typ = errors.InternalError
    msg = str(err.get("message", "unknown error"))
    if where and where not in msg:
        msg = f"{msg}\n\t(on {where})"
    return typ(None, err.get("node"), msg)


_ids = itertools.count(1)


class ThreadSockets:
    """One connected socket per thread (ZeroMQ sockets are not thread-safe), all closable."""

    def __init__(self, ctx: zmq.Context, kind: int, endpoint: str, configure=None):
        self._ctx, self._kind, self.endpoint = ctx, kind, endpoint
        self._configure = configure  # what to set on a new socket before it connects
        self._closed = False
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def get(self) -> zmq.Socket:
        s = getattr(self._local, "sock", None)
        if s is None:
            if self._closed:  # (a socket made now would keep its context from terminating)
                raise zmq.ZMQError(zmq.ENOTSOCK, "the sockets of this client are closed")
            s = self._ctx.socket(self._kind)
            s.setsockopt(zmq.LINGER, 0)
            if self._kind == zmq.DEALER:  # a known id: a reply may be routed to it by name
                self._local.routing_id = b"tw" + os.urandom(8)
                s.setsockopt(zmq.ROUTING_ID, self._local.routing_id)
            if self._configure is not None:
                self._configure(s)
            s.connect(self.endpoint)
            self._local.sock = s
            with self._lock:
                self._all.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for s in self._all:
                try:
                    s.close(0)
                except zmq.ZMQError:
                    pass
            self._all.clear()
        self._local = threading.local()

    def routing_id(self) -> bytes:
        """This thread's DEALER socket's routing id (made with the socket)."""
        self.get()
        return self._local.routing_id


def send(sock: zmq.Socket, msg: list, flags: int = 0) -> None:
    """Send a packed message: a lone header frame with a plain send (much cheaper in pyzmq),
    buffer frames zero-copy."""
    if len(msg) == 1:
        sock.send(msg[0], flags)
    else:
        sock.send_multipart(msg, flags, copy=False)


class WorkerClient:
    """The master's link to one worker: one DEALER socket per thread, request ids, timeouts."""

    def __init__(self, endpoint: str, name: str, ctx: zmq.Context | None = None,
                 proc=None, keys=None, heartbeat=None, heartbeat_timeout_s: float = 0.0):
        self.endpoint = endpoint
        self.name = name              # e.g. /job:worker/replica:0/task:1 (for error messages)
        self.proc = proc              # the Popen of a worker this process started, else None
        self.heartbeat = heartbeat    # its `heartbeat.Monitor` (owned: closed with us)
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self._sockets = ThreadSockets(ctx or zmq.Context.instance(), zmq.DEALER, endpoint,
                                      None if keys is None else keys.connect)  # (CURVE)
        self.last_heard = time.monotonic()
        # a worker we started (same host, ipc): its requests may go as datagrams (`dgram.py`)
        self.dgram_path = dgram.path_for(endpoint) if proc is not None and keys is None \
            else None

    def socket(self) -> zmq.Socket:
        return self._sockets.get()

    def send_request(self, header: dict, frames=(), dg=None) -> int:
        """`send`, as a datagram from `dg` (a bound `dgram.DgramSocket`, where the reply comes
        back) when this worker has a datagram socket and the request fits; it names this
        thread's DEALER (`via`) for a reply too big for a datagram.  Returns the id."""
        rid = next(_ids)
        header = dict(header, id=rid)
        if dg is not None and self.dgram_path is not None:
            header["via"] = self._sockets.routing_id()
            got = dg.send(self.dgram_path, wire.pack(header, frames))
            if got == dgram.SENT:
                return rid
            if got == dgram.MISSING:
                self.dgram_path = None
            del header["via"]
        send(self.socket(), wire.pack(header, frames))
        return rid

    def send(self, header: dict, frames=()) -> int:
        """Send a request (an `id` is added); returns the id."""
        rid = next(_ids)
        header = dict(header, id=rid)
        send(self.socket(), wire.pack(header, frames))
        return rid

    def notify(self, header: dict, frames=()) -> None:
        """Send a message that gets no reply."""
        send(self.socket(), wire.pack(header, frames))

    def recv(self, timeout_s: float):
        """The next reply on this thread's socket: (header, frames), or None on timeout."""
        s = self.socket()
        if not s.poll(int(timeout_s * 1000)):
            return None
        frames = s.recv_multipart(copy=False)
        self.last_heard = time.monotonic()
        return wire.unpack(frames, REPLIES)

    def call(self, header: dict, frames=(), timeout_s: float = 30.0):
        """Send a request and wait for its reply (raises UnavailableError on timeout/death)."""
        rid = self.send(header, frames)
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.UnavailableError(None, None, f"worker {self.name} did not answer "
                                              f"{header['op']} within {timeout_s:.0f} s")
            got = self.recv(min(left, 0.1))
            if got is None:
                self.check_alive()
                continue
            rep, rframes = got
            if rep["id"] != rid:
                continue  # a late reply of an abandoned request
            if not rep["ok"]:
                raise error_from_reply(rep.get("error", {}), self.name)
            return rep, rframes

    def why_dead(self, now: float | None = None) -> str | None:
        """What is wrong with the worker process this master started -- it exited, or it has
        sent no heartbeat for longer than `heartbeat_timeout_s` -- or None."""
        if self.proc is not None and self.proc.poll() is not None:
            return f"exited with status {self.proc.returncode}"
        if self.heartbeat is not None:
            silent = self.heartbeat.silent_for(now)
            if silent > self.heartbeat_timeout_s:
                return (f"sent no heartbeat for {silent:.2f} s (the limit: "
                        f"{self.heartbeat_timeout_s:g} s): it is stopped, or stuck in a call "
                        f"that holds its interpreter")
        return None

    def check_alive(self) -> None:
        """UnavailableError if the worker process this master started is dead or hung
        (`why_dead`)."""
        why = self.why_dead()
        if why is not None:
            pid = f" (pid {self.proc.pid})" if self.proc is not None else ""
            raise errors.UnavailableError(None, None, f"worker {self.name}{pid} {why}")

    def close(self) -> None:
        self._sockets.close()
        if self.heartbeat is not None:
            self.heartbeat.close()


_IPC_DIR_NAME = re.compile(r"tw-ipc-(\d+)(?:-\w+)?")
_endpoint_dirs: dict = {}   # (pid, base) -> this process's directory (a fork makes its own)
_endpoint_dirs_lock = threading.Lock()


def endpoint_dir(create: bool = True) -> str:
    """A private directory for ipc:// endpoints of this process's workers: `<tmp>/tw-ipc-<pid>`,
    made fresh with mode 0700 and checked to be a real directory of this user that nobody else
    may enter, so no other local user can swap a socket in it.  Whatever else is found under
    that name (another user's directory, a symlink, a file, a directory open to group or
    others) is never used: removed when it is this user's (it is a stale leftover), otherwise a
    fresh `tw-ipc-<pid>-XXXXXXXX` from `mkdtemp` is used instead.  Directories of processes
    that no longer run are removed when a new one is made.  With `create=False`, the directory
    this process uses (or would use), for removing it."""
    pid, base = os.getpid(), tempfile.gettempdir()
    fixed = os.path.join(base, f"tw-ipc-{pid}")
    with _endpoint_dirs_lock:
        d = _endpoint_dirs.get((pid, base), fixed)
        if not create or _is_private_dir(d):
            return d
        _remove_stale_endpoint_dirs(base)
        if not _is_private_dir(fixed):
            _remove_own(fixed)   # a stale or unsafe leftover of this user's
        try:
            os.mkdir(fixed, 0o700)
            d = fixed
        except FileExistsError:   # not ours, and still there: leave it, use a fresh name
            d = tempfile.mkdtemp(prefix=f"tw-ipc-{pid}-", dir=base)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, 0o700)  # whatever the umask
        finally:
            os.close(fd)
        if not _is_private_dir(d):
            raise PermissionError(f"the ipc directory {d} is not a private directory of this "
                                  f"user (mode 0700, uid {os.geteuid()}); remove it or set "
                                  f"TMPDIR to a directory only you can write")
        _endpoint_dirs[(pid, base)] = d
        return d


def _is_private_dir(path: str) -> bool:
    """`path` is a directory (not a symlink) of this user with mode 0700."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and stat.S_IMODE(st.st_mode) == 0o700)


def _remove_stale_endpoint_dirs(base: str) -> None:
    """Remove this user's ipc directories of processes that no longer run."""
    for name in os.listdir(base):
        m = _IPC_DIR_NAME.fullmatch(name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and not psutil.pid_exists(pid):
            _remove_own(os.path.join(base, name))


def _remove_own(path: str) -> None:
    """Remove what is at `path` (never following a symlink) when it is this user's; another
    user's is left where it is."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if st.st_uid != os.geteuid():
        return
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def remove_endpoint(endpoint: str) -> None:
    """Unlink the socket file of an ipc:// endpoint (libzmq leaves it behind)."""
    if endpoint.startswith("ipc://"):
        try:
            os.unlink(endpoint[len("ipc://"):])
        except OSError:
            pass
