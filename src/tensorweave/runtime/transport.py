"""ZeroMQ peer links that carry tensors between worker processes into their rendezvous.

One `Transport` per process.  Its receiving side binds a PULL socket (`endpoint`, ipc:// or
tcp://; `tcp://HOST:*` binds a random port) served by one background thread, which polls with a
timeout (so it can stop; between polls, twice a second, it also has the rendezvous `expire`
what no step claimed by its deadline), checks every message with `wire.unpack` against `SCHEMA` and:

* `tensor` -- `{"op": "tensor", "key": [step_id, src, dst, name], "t": <tensor meta>,
  "reply_to": <sender endpoint>, "ttl": <seconds to the step's deadline>}` plus the tensor's
  buffer frame, if any: decodes the tensor (zero-copy, from the frame or a shared-memory
  segment) and `Rendezvous.send`s it (`ttl`: how long it is kept if no step here takes it).
* `tensors` -- `{"op": "tensors", "keys": [key, ...], "ts": [meta, ...], "reply_to", "ttl"}`:
  several tensors of one step in one message (`send_tensors`: a run of `_Send`s to one peer).
* `release` -- `{"op": "release", "names": [segment, ...]}`: the receiver of those segments is
  done with them; they go back to this process's arena for reuse.

Same host, no ZeroMQ io thread: a transport bound to `ipc://PATH` also binds a datagram socket
at `PATH.dg` (`dgram.py`), and a message to a same-host peer that fits a datagram goes there
from the sending thread itself (no yield needed: no io thread has to run); anything else, or
when the peer's queue is full, goes over ZeroMQ.  The receiving thread serves that socket too,
unless the owner takes it (`serve_dgrams=False`: a worker's main thread polls `dgram_fd` and
calls `serve_dgrams()`, so that a step waiting there for its tensors gets them without a thread
hand-off; `on_message` then tells it that something came over ZeroMQ).  Datagrams are checked
like every message.

A malformed message is counted (`stats["dropped"]`), logged (a warning of
`tensorweave.runtime.transport`, at most 20 a second) and dropped; the thread keeps serving,
whatever a message makes fail.  The thread also watches the `ShmReader`'s wake
pipe: when the last view of a shared-memory tensor is collected, it sends the `release` notice
to the tensor's `reply_to` endpoint.

Its sending side is `send_tensor(endpoint, key, array, same_host)`: one PUSH socket per (thread,
peer), at most `max_sockets` per thread (least recently used closed first, after a short linger
so what it still holds leaves; release notices go to whatever `reply_to` a peer names, so the
pool must be bounded), `linger=0`, frames sent with `copy=False`; to a peer on the same host,
tensors of `shm.MIN_BYTES` or more are copied once into a segment of the arena kept for that
peer (so the peer's cached mapping is reused too); otherwise the bytes travel in the frame.
After each ZeroMQ send the thread yields its core once, so that the ZeroMQ io thread (on the same
core when the worker is pinned) sends the message now rather than after the compute that
follows it.

`close()` stops the thread (joined with a timeout), closes every socket with linger 0, unlinks
the arenas' segments and drops the reader's mappings.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict

import numpy as np
import zmq

from ..framework import errors
from . import dgram, wire
from .rendezvous import MAX_STEP_TIMEOUT_S, Key, Rendezvous, make_key
from .shm import MIN_BYTES, ShmArena, ShmReader

__all__ = ["Transport", "SCHEMA", "DropLog"]

_yield = getattr(os, "sched_yield", lambda: None)  # (Unix; elsewhere there is nothing to give)


def _check_key(v) -> None:
    try:
        make_key(*v)
    except TypeError as e:
        raise wire.WireError(f"tensor.key must be [step_id, src_device, dst_device, "
                             f"tensor_name]: {e}") from None


#: The longest `reply_to` endpoint accepted (an ipc path is at most 107 bytes).
MAX_ENDPOINT_LEN = 256


def _check_endpoint(v) -> None:
    if not (v.startswith(("tcp://", "ipc://")) and 6 < len(v) <= MAX_ENDPOINT_LEN
            and v.isprintable()):
        raise wire.WireError(f"tensor.reply_to must be a tcp:// or ipc:// endpoint of at most "
                             f"{MAX_ENDPOINT_LEN} characters, got {v[:80]!r}")


def _check_ttl(v) -> None:
    if not (math.isfinite(v) and 0 <= v <= MAX_STEP_TIMEOUT_S):
        raise wire.WireError(f"tensor.ttl must be a number of seconds in [0, "
                             f"{MAX_STEP_TIMEOUT_S:g}], got {v!r}")


#: The most tensors one `tensors` message may carry.
MAX_BATCH = 4096


def _check_keys(v) -> None:
    if not 1 <= len(v) <= MAX_BATCH:
        raise wire.WireError(f"tensors.keys must hold 1 to {MAX_BATCH} keys, got {len(v)}")
    for k in v:
        if not isinstance(k, list):
            raise wire.WireError("tensors.keys must be a list of keys")
        _check_key(k)


def _check_names(v) -> None:
    if not all(isinstance(n, str) and wire.SHM_NAME_RE.fullmatch(n) for n in v):
        raise wire.WireError("release.names must be a list of shared-memory segment names")


#: The messages a transport accepts.
SCHEMA: wire.Schema = {
    "tensor": {"key": wire.Field(list, check=_check_key), "t": wire.Field(wire.TENSOR),
               "reply_to": wire.Field(str, required=False, check=_check_endpoint),
               "ttl": wire.Field(float, required=False, check=_check_ttl)},
    "tensors": {"keys": wire.Field(list, check=_check_keys), "ts": wire.Field(wire.TENSORS),
                "reply_to": wire.Field(str, required=False, check=_check_endpoint),
                "ttl": wire.Field(float, required=False, check=_check_ttl)},
    "release": {"names": wire.Field(list, check=_check_names)},
}


_logger = logging.getLogger(__name__)
#: How long an evicted sending socket may still deliver what it queued before it is dropped.
_EVICT_LINGER_MS = 200


class DropLog:
    """Logs dropped messages as warnings of `logger` (default this module's), at most `per_s`
    a second and each cut to `MAX_CHARS` characters (a peer flooding garbage, or sending one
    huge field that a message quotes, must not flood the log); the count of the records left
    out is logged later.  `clock`: seconds, monotonic (a test passes a fake one)."""

    MAX_CHARS = 500

    def __init__(self, per_s: int = 20, clock=time.monotonic,
                 logger: logging.Logger | None = None):
        self.per_s = per_s
        self._logger = _logger if logger is None else logger
        self._clock = clock
        self._window = 0.0
        self._lines = 0
        self._suppressed = 0

    def __call__(self, msg: str) -> None:
        now = self._clock()
        if now - self._window >= 1.0:
            if self._suppressed:
                self._logger.warning("(%d more dropped messages not shown)",
                                     self._suppressed, stacklevel=2)
            self._window, self._lines, self._suppressed = now, 0, 0
        self._lines += 1
        if self._lines > self.per_s:
            self._suppressed += 1
        else:
            if len(msg) > self.MAX_CHARS:
                msg = f"{msg[:self.MAX_CHARS]}... ({len(msg) - self.MAX_CHARS} more characters)"
            self._logger.warning("%s", msg, stacklevel=2)  # (the caller's line)


class Transport:
    """Sends tensors to peers and receives theirs into `rendezvous`.

    `bind`: where to listen (`tcp://127.0.0.1:*` a random loopback port, `ipc:///path`).
    `shm_min_bytes`: the size from which same-host tensors go through shared memory.
    `max_idle_bytes`: the idle shared memory kept per peer for reuse.
    `max_in_flight_bytes`: the shared memory per peer not yet released by it; beyond it (a peer
    that holds on to its tensors, or died), tensors travel in frames instead.
    `send_timeout_s`: how long `send_tensor` waits for a peer that does not take messages.
    `max_sockets`: the most sending sockets kept open per thread (one per peer endpoint).
    `keys`: a `curve.CurveKeys`: the receiving socket is a CURVE server and the sending ones
    CURVE clients (the context needs a `curve.Authenticator` for the allow-list).
    """

    def __init__(self, rendezvous: Rendezvous, bind: str = "tcp://127.0.0.1:*", *,
                 context: zmq.Context | None = None, shm_min_bytes: int = MIN_BYTES,
                 max_idle_bytes: int = 256 << 20, max_in_flight_bytes: int = 1 << 30,
                 send_timeout_s: float = 30.0, max_sockets: int = 64,
                 poll_ms: int = 100, keys=None, use_dgram: bool = True,
                 serve_dgrams: bool = True):
        self.rendezvous = rendezvous
        self.shm_min_bytes = shm_min_bytes
        self.max_idle_bytes = max_idle_bytes
        self.max_in_flight_bytes = max_in_flight_bytes
        self.send_timeout_s = send_timeout_s
        self.max_sockets = max(1, int(max_sockets))
        self._poll_ms = poll_ms
        self._own_ctx = context is None
        self._ctx = zmq.Context() if context is None else context
        self._lock = threading.Lock()
        self._local = threading.local()
        self._push_socks: set[zmq.Socket] = set()
        self._arenas: dict[str, ShmArena] = {}
        self._seg_arena: dict[str, ShmArena] = {}
        self.reader = ShmReader()
        self.received = 0
        self.dropped = 0
        self.sent = 0  # tensors and payload bytes sent to other processes
        self.sent_bytes = 0
        self.releases_sent = 0  # segments of peers given back to them (by the serving thread)
        self._count_lock = threading.Lock()
        self._drop_log = DropLog()
        self._stop = threading.Event()
        self._closed = False
        self._keys = keys
        self._pull = self._ctx.socket(zmq.PULL)
        self._pull.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            keys.serve(self._pull)
        try:
            self.endpoint = _bind(self._pull, bind)
        except zmq.ZMQError as e:
            self._pull.close(0)
            self.reader.close()
            if self._own_ctx:
                self._ctx.term()
            raise OSError(f"Transport: cannot bind {bind}: {e}") from None
        # same-host peers: small messages go as datagrams, without ZeroMQ's io threads
        self._dg = self._dg_paths = None
        self.sent_dgram = 0
        self._thread_serves_dgrams = serve_dgrams
        #: called on the receiving thread after each message that came over ZeroMQ
        self.on_message = None
        if use_dgram and keys is None:
            try:
                self._dg = dgram.DgramSocket(dgram.path_for(self.endpoint))
            except OSError as e:
                _logger.warning("Transport %s: no datagram socket (%s): ZeroMQ only",
                                self.endpoint, e)
            self._dg_paths = dgram.NoDgramCache()
        self._thread = threading.Thread(target=self._serve, name=f"tw-transport {self.endpoint}",
                                        daemon=True)
        self._thread.start()

    # --- sending -----------------------------------------------------------------------------
    def send_tensor(self, endpoint: str, key: Key, array, same_host: bool,
                    timeout_s: float | None = None, owned: bool = True,
                    expires_in: float | None = None) -> None:
        """Send `array` under rendezvous `key` to the transport bound at `endpoint`
        (`expires_in`: the seconds left to the step's deadline, which the receiver keeps it
        for if no step there takes it; its default when None).

        With `same_host`, a tensor of `shm_min_bytes` or more is copied once into shared
        memory (while the peer's arena has room); otherwise its buffer is sent zero-copy, after
        this call returns: with `owned` (the caller never writes into `array` again) the buffer
        itself, else a snapshot.  Raises `UnavailableError` when the peer takes nothing for
        `timeout_s` seconds."""
        if self._closed:
            raise RuntimeError("Transport.send_tensor after close()")
        key = make_key(*key)
        if endpoint == self.endpoint:  # a tensor for this very process
            self.rendezvous.send(key, array, expires_in)
            return
        arena = self._arena(endpoint) if same_host else None
        if arena is not None and arena.in_use_bytes >= self.max_in_flight_bytes:
            arena = None
        meta, frames = wire.encode_tensor(array, arena)
        header = {"op": "tensor", "key": list(key), "t": meta}
        if expires_in is not None:
            header["ttl"] = min(max(float(expires_in), 0.0), MAX_STEP_TIMEOUT_S)
        seg = meta.get("shm", (None,))[0]
        if seg is not None:
            header["reply_to"] = self.endpoint
            self._seg_arena[seg] = arena
        if same_host and self._dg is not None and self._send_dgram(endpoint,
                                                                  wire.pack(header, frames)):
            self._count_sent(meta)   # (the kernel copied the bytes: nothing to snapshot)
            return
        if not owned and frames and frames[0].nbytes >= zmq.COPY_THRESHOLD \
                and np.may_share_memory(frames[0], array):  # (pyzmq copies smaller frames)
            frames = [frames[0].copy()]
        try:
            self._send(endpoint, wire.pack(header, frames), timeout_s)
        except BaseException:
            if seg is not None:
                arena.release(seg)
            raise
        self._count_sent(meta, dgram_=False)
        # The io thread that takes the message off the socket is ours, pinned to this core
        # too: without a yield, a compute thread that goes on working right after the send
        # keeps it off the core for a scheduler slice (measured: a median 2 ms, p90 4-6 ms
        # from send to arrival on Linux 6.x; 0.4 ms with the yield).
        _yield()

    def send_tensors(self, endpoint: str, items: list, same_host: bool,
                     timeout_s: float | None = None, expires_in: float | None = None) -> None:
        """`send_tensor` of each `(key, array, owned)` of `items`, all in one `tensors` message
        (`key`s of one step; `expires_in` as `send_tensor`)."""
        if len(items) == 1 or endpoint == self.endpoint or len(items) > MAX_BATCH:
            for key, array, owned in items:
                self.send_tensor(endpoint, key, array, same_host, timeout_s, owned, expires_in)
            return
        if self._closed:
            raise RuntimeError("Transport.send_tensors after close()")
        keys = [list(make_key(*key)) for key, _, _ in items]
        arena = self._arena(endpoint) if same_host else None
        metas, frames, segs = [], [], []
        try:
            for _, array, _ in items:
                a = arena if arena is not None and \
                    arena.in_use_bytes < self.max_in_flight_bytes else None
                meta, f = wire.encode_tensor(array, a, frame=len(frames))
                seg = meta.get("shm", (None,))[0]
                if seg is not None:
                    segs.append(seg)
                    self._seg_arena[seg] = arena
                metas.append(meta)
                frames += f
            header = {"op": "tensors", "keys": keys, "ts": metas}
            if expires_in is not None:
                header["ttl"] = min(max(float(expires_in), 0.0), MAX_STEP_TIMEOUT_S)
            if segs:
                header["reply_to"] = self.endpoint
            if same_host and self._dg is not None and self._send_dgram(
                    endpoint, wire.pack(header, frames)):
                sent_dgram = True
            else:
                sent_dgram = False
                frames = [f.copy() if not owned and f.nbytes >= zmq.COPY_THRESHOLD
                          and np.may_share_memory(f, array) else f
                          for f, (_, array, owned) in zip(frames, _with_frames(items, metas))]
                self._send(endpoint, wire.pack(header, frames), timeout_s)
        except BaseException:
            for seg in segs:
                arena.release(seg)
            raise
        self._count_sent(*metas, dgram_=sent_dgram)
        if not sent_dgram:
            _yield()   # (see send_tensor)

    def _count_sent(self, *metas: dict, dgram_: bool = True) -> None:
        nbytes = 0
        for meta in metas:
            n = meta.get("nbytes")
            nbytes += sum(len(s) for s in meta["strings"]) if n is None else n  # (strings)
        with self._count_lock:
            self.sent += len(metas)
            self.sent_bytes += nbytes
            if dgram_:
                self.sent_dgram += len(metas)

    def _send_dgram(self, endpoint: str, msg: list) -> bool:
        """Send `msg` to `endpoint`'s datagram socket (`dgram.py`) if it has one and the
        message fits: whether it left (if not, it goes over ZeroMQ)."""
        path = self._dg_paths.path(endpoint)
        if path is None:
            return False
        got = self._dg.send(path, msg)
        if got == dgram.MISSING:
            self._dg_paths.forget(endpoint)   # (a peer that only speaks ZeroMQ)
        return got == dgram.SENT

    def _arena(self, endpoint: str) -> ShmArena:
        a = self._arenas.get(endpoint)
        if a is None:
            with self._lock:
                a = self._arenas.get(endpoint)
                if a is None:
                    a = self._arenas[endpoint] = ShmArena(max_idle_bytes=self.max_idle_bytes,
                                                          min_bytes=self.shm_min_bytes)
        return a

    def _push(self, endpoint: str) -> zmq.Socket:
        socks = getattr(self._local, "socks", None)
        if socks is None:
            socks = self._local.socks = OrderedDict()
        s = socks.get(endpoint)
        if s is not None:
            socks.move_to_end(endpoint)
            return s
        while len(socks) >= self.max_sockets:  # the least recently used peer's goes
            _, old = socks.popitem(last=False)
            with self._lock:
                self._push_socks.discard(old)
            old.close(_EVICT_LINGER_MS)  # what it still queues may leave, then its fds go
        s = self._ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 0)
        if self._keys is not None:
            self._keys.connect(s)
        try:
            s.connect(endpoint)
        except zmq.ZMQError:
            s.close(0)
            raise
        with self._lock:
            if self._closed:
                s.close(0)
                raise RuntimeError("Transport is closed")
            self._push_socks.add(s)
        socks[endpoint] = s
        return s

    def _send(self, endpoint: str, msg: list, timeout_s: float | None) -> None:
        sock = self._push(endpoint)
        try:
            sock.send_multipart(msg, flags=zmq.NOBLOCK, copy=False)
            return
        except zmq.Again:
            pass
        t = self.send_timeout_s if timeout_s is None else timeout_s
        if sock.poll(int(t * 1000), zmq.POLLOUT):
            sock.send_multipart(msg, flags=zmq.NOBLOCK, copy=False)
            return
        raise errors.UnavailableError(None, None, f"Transport: peer {endpoint} took no message "
                                                  f"for {t:g} s (is its worker alive?)")

    # --- receiving ---------------------------------------------------------------------------
    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._pull, zmq.POLLIN)
        poller.register(self.reader.wake_fd, zmq.POLLIN)
        dg = self._dg if self._dg is not None and self._dg.path is not None \
            and self._thread_serves_dgrams else None
        if dg is not None:
            poller.register(dg.fileno(), zmq.POLLIN)
        next_expiry = time.monotonic()
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(self._poll_ms))
                if time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + 0.5
                    self.rendezvous.expire()
                if events.get(self._pull):
                    pull = self._pull
                    for _ in range(256):  # then look at releases and the stop flag again
                        try:
                            frames = pull.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        try:
                            self._handle(frames)
                        except Exception as e:  # noqa: BLE001 - what no check foresaw
                            self.dropped += 1
                            self._drop_log(f"dropped a message that failed: "
                                           f"{type(e).__name__}: {e}")
                        del frames
                        if self.on_message is not None:
                            self.on_message()
                        if not pull.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                            break
                if dg is not None and events.get(dg.fileno()):
                    self._serve_dgrams(dg)
                if events.get(self.reader.wake_fd):
                    try:
                        self._send_releases()
                    except Exception as e:  # noqa: BLE001 - a bad reply_to, a closed transport
                        self._drop_log(f"could not send release notices: "
                                       f"{type(e).__name__}: {e}")
        except Exception:  # a bug here must not die silently
            _logger.exception("receiver thread of %s failed", self.endpoint)
        finally:
            self._pull.close(0)

    @property
    def dgram_fd(self) -> int | None:
        """The file descriptor of the datagram socket peers on this host send to, or None."""
        return self._dg.fileno() if self._dg is not None and self._dg.path is not None \
            else None

    def serve_dgrams(self) -> None:
        """Handle the datagrams waiting (for an owner that made this transport with
        `serve_dgrams=False` and polls `dgram_fd` itself, on any one thread at a time)."""
        if self._dg is not None and not self._closed:
            self._serve_dgrams(self._dg)

    def _serve_dgrams(self, dg) -> None:
        """Handle the datagrams waiting on `dg` (at most 256, then the loop looks around)."""
        for _ in range(256):
            try:
                got = dg.recv()
            except wire.WireError as e:
                self.dropped += 1
                self._drop_log(f"dropped a malformed message: {e}")
                continue
            if got is None:
                return
            try:
                self._handle(got[0])
            except Exception as e:  # noqa: BLE001 - what no check foresaw
                self.dropped += 1
                self._drop_log(f"dropped a message that failed: {type(e).__name__}: {e}")

    def _handle(self, frames: list) -> None:
        try:
            header, buffers = wire.unpack(frames, SCHEMA)
            if header["op"] == "release":
                for name in header["names"]:
                    arena = self._seg_arena.get(name)
                    if arena is None or not arena.release(name):
                        self._drop_log(f"release of a segment not in use here: {name}")
                return
            if header["op"] == "tensor":
                keys, metas = [tuple(header["key"])], [header["t"]]
            else:
                keys, metas = [tuple(k) for k in header["keys"]], header["ts"]
                if len(keys) != len(metas) or len({k[0] for k in keys}) != 1:
                    raise wire.WireError(f"tensors: {len(keys)} keys of one step must come "
                                         f"with as many tensors, got {len(metas)} tensors "
                                         f"for steps {sorted({k[0] for k in keys})[:4]}")
            arrs = [wire.decode_tensor(m, buffers, self.reader,
                                       reply_to=header.get("reply_to")) for m in metas]
        except (wire.WireError, ValueError, TypeError, OverflowError) as e:
            self.dropped += 1
            self._drop_log(f"dropped a malformed message: {e}")
            return
        for key, arr in zip(keys, arrs):
            try:
                self.rendezvous.send(key, arr, header.get("ttl"))
                self.received += 1
            except errors.CancelledError:
                pass  # the step was aborted: nobody wants the tensor
            except errors.OpError as e:
                self.dropped += 1
                self._drop_log(f"dropped tensor {key}: {e}")

    def _send_releases(self) -> None:
        by_peer: dict[str | None, list[str]] = {}
        for reply_to, name in self.reader.drain():
            by_peer.setdefault(reply_to, []).append(name)
        for peer, names in by_peer.items():
            if peer is None:
                continue
            try:
                msg = wire.pack({"op": "release", "names": names})
                if self._dg is None or not self._send_dgram(peer, msg):
                    self._send(peer, msg, 1.0)
                self.releases_sent += len(names)
            except (errors.OpError, zmq.ZMQError) as e:
                self._drop_log(f"could not send release notices to {peer}: {e}")

    # --- shutdown ----------------------------------------------------------------------------
    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the receiver thread, close all sockets, unlink this process's segments."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            socks, self._push_socks = self._push_socks, set()
        self._stop.set()
        self.reader.wake()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            _logger.warning("receiver thread of %s did not stop within %g s", self.endpoint,
                            timeout_s)
        for s in socks:
            s.close(0)
        if self._dg is not None:
            self._dg.close()
        for a in list(self._arenas.values()):
            a.close()
        self.reader.close()
        if self._own_ctx and not self._thread.is_alive():
            self._ctx.term()
        if self.endpoint.startswith("ipc://"):  # libzmq leaves the socket file behind
            try:
                os.unlink(self.endpoint[len("ipc://"):])
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def stats(self) -> dict:
        """Counters: tensors `received`, messages `dropped`, tensors `sent` to other processes
        and their payload `sent_bytes`, peers' segments given back (`releases_sent`), and
        per-peer arena statistics."""
        return {"received": self.received, "dropped": self.dropped,
                "sent": self.sent, "sent_bytes": self.sent_bytes, "sent_dgram": self.sent_dgram,
                "releases_sent": self.releases_sent,
                "mapped": self.reader.mapped,
                "arenas": {ep: a.stats for ep, a in self._arenas.items()}}


def _with_frames(items, metas):
    """The items whose tensors travel in frames, in frame order."""
    return [item for item, meta in zip(items, metas) if "frame" in meta]


def _bind(sock: zmq.Socket, bind: str) -> str:
    if bind.startswith("tcp://") and (bind.endswith(":*") or bind.endswith(":0")):
        sock.bind_to_random_port(bind[:bind.rindex(":")], min_port=20000, max_port=60000,
                                 max_tries=200)
    else:
        sock.bind(bind)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)

