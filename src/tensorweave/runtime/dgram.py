"""Same-host links without the ZeroMQ io thread: AF_UNIX datagram sockets beside ipc endpoints.

A ZeroMQ message between two processes is handed from the sending thread to its context's io
thread, written to the socket, read by the receiver's io thread and handed to the receiving
thread: two thread hand-offs more than the kernel needs, each tens of microseconds on a small
machine (measured on a 2-core VM: a 64-byte message round three processes, 110-150 us over
pyzmq ipc, 20-50 us over these datagrams).  So a process whose peer is on the same host
(an `ipc://PATH` endpoint) also binds a datagram socket at `PATH + ".dg"` (`path_for`), and
small messages go there straight from the sending thread's `sendmsg`; the receiving thread
polls the socket's file descriptor itself (`zmq.Poller` takes plain fds).

The datagram socket sits in the same private directory as the ipc endpoint (mode 0700, see
`rpc.endpoint_dir`), so it is reachable by the same processes as the endpoint, no more.

A datagram carries one wire message (`wire.pack`'s frames)::

    b"tw\\x01" | u8 frame count N | N x u32 little-endian frame length | the frames

`DgramSocket.recv` checks that framing (a bad datagram raises `wire.WireError`: the caller
drops and counts it, as any bad message) and returns the frames as zero-copy views of the
datagram, which `wire.unpack` then checks like any message.  `send` never blocks: a message
bigger than `MAX_BYTES`, a peer whose queue is full, or one that has no datagram socket
(gone, or a process that only speaks ZeroMQ) returns False and the caller sends the message
over ZeroMQ as before; an endpoint that has no datagram socket is remembered
(`NoDgramCache`)."""
from __future__ import annotations

import errno
import os
import socket
import struct

from . import wire

__all__ = ["DgramSocket", "path_for", "split", "NoDgramCache", "MAX_BYTES",
           "SENT", "BUSY", "MISSING"]

#: What `DgramSocket.send` returns.
SENT, BUSY, MISSING = 1, 0, -1

#: The biggest datagram sent (bigger messages go over ZeroMQ).  Same-host tensors of
#: `shm.MIN_BYTES` (64 KiB) or more travel in shared memory, so this covers every tensor frame.
MAX_BYTES = 256 * 1024
_MAGIC = b"tw\x01"
_MAX_FRAMES = 255
_SOCKBUF = 4 << 20      # (capped by the kernel at net.core.[wr]mem_max)
#: The longest path an AF_UNIX address may have.
_MAX_PATH = 107
_LEN = struct.Struct("<I")


def path_for(endpoint: str) -> str | None:
    """The datagram socket path beside `ipc://PATH` (`PATH.dg`), or None (not ipc, or too
    long a path)."""
    if not endpoint.startswith("ipc://"):
        return None
    path = endpoint[len("ipc://"):] + ".dg"
    return path if len(path.encode()) <= _MAX_PATH else None


class DgramSocket:
    """A non-blocking AF_UNIX datagram socket, bound at `path` (None: unbound, send only).
    Sending and receiving are safe from several threads at once (the kernel's socket)."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.dropped = 0       # malformed datagrams refused by `recv`
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, _SOCKBUF)
                except OSError:
                    pass
            if path is not None:
                try:
                    os.unlink(path)   # a leftover of a killed process of ours
                except FileNotFoundError:
                    pass
                s.bind(path)
        except BaseException:
            s.close()
            raise
        self._sock = s
        self._closed = False

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, path: str, msg: list) -> int:
        """Send `msg` (the frames of `wire.pack`) to the socket at `path`: `SENT`; `BUSY` when
        this message must go another way (too big, the peer's queue is full); `MISSING` when
        nothing listens at `path` (a peer gone, or one that only speaks ZeroMQ)."""
        if len(msg) > _MAX_FRAMES:
            return BUSY
        lens = [f.nbytes if type(f) is memoryview else memoryview(f).nbytes for f in msg]
        if sum(lens) + 4 + 4 * len(lens) > MAX_BYTES:
            return BUSY
        head = _MAGIC + bytes((len(msg),)) + b"".join([_LEN.pack(n) for n in lens])
        try:
            self._sock.sendmsg([head, *msg], (), 0, path)
        except (BlockingIOError, InterruptedError):
            return BUSY             # its queue is full: this one goes over ZeroMQ
        except OSError as e:
            if e.errno == errno.EMSGSIZE or e.errno == errno.ENOBUFS:
                return BUSY
            if e.errno in _MISSING:
                return MISSING
            return BUSY              # whatever else failed: ZeroMQ says what is wrong
        return SENT

    def recv(self):
        """The next datagram's frames and sender address, `(frames, address)`, or None when
        there is none.  Raises `wire.WireError` for a datagram that is not framed as above
        (it is consumed: the next call reads the next one)."""
        try:
            data, addr = self._sock.recvfrom(MAX_BYTES + 4096)
        except (BlockingIOError, InterruptedError):
            return None
        return split(data), addr

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sock.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


_MISSING = {errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR, errno.EACCES, errno.EPERM,
            errno.EPROTOTYPE}


def split(data: bytes) -> list:
    """The frames of a datagram (zero-copy views), checked against its framing."""
    if len(data) < 4 or data[:3] != _MAGIC:
        raise wire.WireError("datagram: not a tensorweave datagram (bad magic)")
    n = data[3]
    pos = 4 + 4 * n
    if n == 0 or len(data) < pos:
        raise wire.WireError(f"datagram: {n} frames but a {len(data)}-byte datagram")
    view = memoryview(data)
    frames = []
    for k in range(n):
        (size,) = _LEN.unpack_from(data, 4 + 4 * k)
        if pos + size > len(data):
            raise wire.WireError(f"datagram: frame {k} of {size} bytes runs past its end")
        frames.append(view[pos:pos + size])
        pos += size
    if pos != len(data):
        raise wire.WireError(f"datagram: {len(data) - pos} bytes after its last frame")
    return frames


class NoDgramCache:
    """The datagram path of each endpoint (`path_for`), None for those found to have no
    datagram socket (their messages go over ZeroMQ).  Bounded: a peer naming ever new
    `reply_to` endpoints cannot make it grow without end."""

    MAX_ENTRIES = 4096

    def __init__(self):
        self._paths: dict[str, str | None] = {}

    def path(self, endpoint: str) -> str | None:
        p = self._paths.get(endpoint, "")
        if p == "":
            if len(self._paths) >= self.MAX_ENTRIES:
                self._paths.clear()
            p = self._paths[endpoint] = path_for(endpoint)
        return p

    def forget(self, endpoint: str) -> None:
        self._paths[endpoint] = None
