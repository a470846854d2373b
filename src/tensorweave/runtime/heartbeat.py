"""Heartbeats of local worker processes: how a master tells a stopped worker from a busy one.

A worker this process started may run a step's kernels on its main thread, where it cannot
answer pings, for as long as a kernel takes; so liveness is not asked for but sent.  Each such
worker is given the write end of a pipe (`--heartbeat-fd`) and a thread of its own (`Beater`)
writes the time (`time.monotonic()`, CLOCK_MONOTONIC, which every process of a host shares, as
8 bytes: one atomic pipe write) to it every `INTERVAL_S`.  The thread needs the interpreter
lock and the process to be scheduled: a worker that is stopped (SIGSTOP, a debugger) or stuck
in a C call that holds the lock sends nothing, while one busy in numpy or BLAS (which release
the lock) keeps beating.
The master's `Monitor` drains the read end without blocking and says how long ago the newest
beat was written (so beats that waited in the pipe while no step ran do not pass for fresh
ones); `Master` fails a step on a worker silent for longer than the session's heartbeat
timeout (`ConfigProto(experimental={"worker_heartbeat_timeout_ms": ...})`, `DEFAULT_TIMEOUT_S`).

Both ends are non-blocking: a full pipe (a master that ran no step for hours) drops beats, and a
master that reads nothing never stalls its worker.
"""
from __future__ import annotations

import math
import os
import struct
import threading
import time

from ..framework import errors

__all__ = ["Beater", "Monitor", "heartbeat_timeout_s", "DEFAULT_TIMEOUT_S", "INTERVAL_S"]

#: How often a worker beats.
INTERVAL_S = 0.25
_BEAT = struct.Struct("<d")   # one beat: the monotonic time it was written
#: How long a worker may be silent before a step on it fails, unless a session says otherwise.
DEFAULT_TIMEOUT_S = 5.0
#: The shortest and longest heartbeat timeouts a session may ask for.
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 4 * INTERVAL_S, 3600.0


def heartbeat_timeout_s(experimental) -> float:
    """The heartbeat timeout (seconds) a session's `ConfigProto.experimental` asks for
    (`worker_heartbeat_timeout_ms`), checked: `InvalidArgumentError` naming the field."""
    ms = dict(experimental or {}).get("worker_heartbeat_timeout_ms")
    if ms is None:
        return DEFAULT_TIMEOUT_S
    if (isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms)
            or not MIN_TIMEOUT_S <= ms / 1000 <= MAX_TIMEOUT_S):
        raise errors.InvalidArgumentError(
            None, None, f"ConfigProto.experimental['worker_heartbeat_timeout_ms'] must be a "
                        f"number of milliseconds in [{MIN_TIMEOUT_S * 1000:.0f}, "
                        f"{MAX_TIMEOUT_S * 1000:.0f}], got {ms!r}")
    return ms / 1000


def pipe() -> tuple[int, int]:
    """A (read, write) pipe for one worker, both ends non-blocking and not inherited (the
    master passes the write end on explicitly)."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


class Beater:
    """The worker's side: a daemon thread writing a byte to `fd` every `interval_s`."""

    def __init__(self, fd: int, interval_s: float = INTERVAL_S):
        self._fd = fd
        self._interval = interval_s
        self._stop = threading.Event()
        os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._run, name="tw-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                os.write(self._fd, _BEAT.pack(time.monotonic()))
            except BlockingIOError:
                pass  # nobody read for hours: the master will find the pipe full of beats
            except OSError:
                return  # the master is gone (EPIPE): the serving loop exits on its own
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2 * self._interval + 1.0)
        try:
            os.close(self._fd)
        except OSError:
            pass


class Monitor:
    """The master's side: the read end `fd` of one worker's heartbeat pipe."""

    def __init__(self, fd: int):
        self._fd = fd
        self._lock = threading.Lock()
        self._rest = b""                   # a beat read in part
        self.last_beat = time.monotonic()  # (the worker is starting)

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the newest beat was written (draining what the pipe holds)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._fd >= 0:
                try:
                    while True:
                        got = os.read(self._fd, 65536)
                        data = self._rest + got
                        whole = len(data) - len(data) % _BEAT.size
                        if whole:
                            (written,) = _BEAT.unpack_from(data, whole - _BEAT.size)
                            self.last_beat = max(self.last_beat, min(written, now))
                        self._rest = data[whole:]
                        if len(got) < 65536:
                            break  # drained, or the end of the pipe (the worker exited)
                except OSError:
                    pass  # nothing new (BlockingIOError), or closed
            return now - self.last_beat

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
