"""Shared memory for large tensors between processes of one host.

A tensor of `MIN_BYTES` (64 KiB) or more sent to a process on the same host is copied once into a
shared-memory segment -- a file in `/dev/shm` -- and the message names the segment instead of
carrying the bytes.  The receiver maps the segment and hands out a zero-copy, read-only numpy
view.  Creating a segment per tensor is slow (the page faults of a fresh mapping cost as much as
the copy, ~1.4 GB/s), while writing into a segment that is already mapped runs at memcpy speed,
so segments are recycled:

* `ShmArena` (sender side) owns the segments it creates, named `tw-<pid>-<hex8>-<n>`, sized in
  power-of-two classes.  `alloc(nbytes)` returns an idle segment of the right class or creates
  one; `release(name)`, called when the receiver reports it is done, makes it idle again, or
  unlinks it when the idle segments would exceed `max_idle_bytes`.  `close()` (also run at
  interpreter exit) unlinks every segment the arena created, whether or not it came back.
* `ShmReader` (receiver side) maps each segment once (a bounded cache of mappings) and returns
  views whose lifetime is a *lease*: the view's base is a `_Lease` object, and when the last
  array over it is garbage-collected, `_Lease.__del__` puts `(reply_to, name)` into a
  thread-safe queue and writes a byte to a pipe (`wake_fd`) so the transport thread, polling that
  pipe, sends the release notice back to the sender at once.  A mapping stays valid while any
  lease over it lives, even after the reader dropped it from its cache or the file was unlinked.
* `cleanup_stale()` removes `tw-<pid>-*` files left by processes that died (SIGKILL skips
  atexit).

Space is reserved when a segment is created (`posix_fallocate`): a file of tmpfs whose pages
cannot be had when they are first touched kills the process with SIGBUS, so a full `/dev/shm`
must show at creation.  There it raises `ShmFullError` (a `ResourceExhaustedError` naming the
size, the directory and its free space) from `alloc`, while `try_alloc` returns None so that
the caller sends the bytes in a frame instead.  Idle segments are given back first.

The reader opens a segment named by a peer with `O_NOFOLLOW | O_NONBLOCK` (a symlink is
refused, a FIFO cannot block) and maps it only when `fstat` shows a regular file of this user,
with one link and the size of a segment (a power of two of at least `MIN_BYTES`); anything
else is a `WireError`.

`multiprocessing.shared_memory` is not used: its resource tracker unlinks or warns about
segments a process only attached to (CPython gh-82300).
"""
from __future__ import annotations

import atexit
import errno
import mmap
import os
import queue
import re
import secrets
import stat
import threading
import weakref
from collections import OrderedDict

import numpy as np
import psutil

from ..framework import errors
from .wire import SHM_NAME_RE, WireError

__all__ = ["ShmArena", "ShmReader", "Segment", "ShmFullError", "cleanup_stale", "segment_files",
           "MIN_BYTES", "SHM_DIR"]

SHM_DIR = "/dev/shm"
#: Tensors of at least this many bytes travel through shared memory between local processes.
MIN_BYTES = 64 * 1024
_PAGE = mmap.PAGESIZE
_NAME_PID = re.compile(r"tw-([0-9]+)-[0-9a-f]{8}-[0-9]+")


class ShmFullError(errors.ResourceExhaustedError):
    """The shared-memory directory has no room for a segment (ENOSPC at creation)."""


def _size_class(nbytes: int) -> int:
    """The segment size for `nbytes`: the next power of two, at least 64 KiB."""
    return max(MIN_BYTES, 1 << max(0, nbytes - 1).bit_length())


#: The errors of a segment's creation that mean "no room" (tmpfs full, or over its inode limit).
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM)


def _reserve(fd: int, size: int) -> None:
    """Give the file `size` bytes of storage now, so that touching its pages cannot SIGBUS.

    `posix_fallocate` (glibc writes the blocks itself where the filesystem lacks fallocate);
    only where that is refused outright (EINVAL, EOPNOTSUPP) does a plain `ftruncate` stand in.
    Free space is looked at first: a tmpfs that a failing fallocate fills for a moment could
    SIGBUS other programs touching their own files in it."""
    st = os.fstatvfs(fd)
    if st.f_bavail * st.f_frsize < size:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        os.ftruncate(fd, size)


class Segment:
    """A shared-memory segment created by an arena: `name`, `size` and a writable `buffer`
    (a uint8 array over the whole mapping)."""

    __slots__ = ("name", "size", "path", "buffer", "_mm", "stamp")

    def __init__(self, name: str, size: int, path: str, mm: mmap.mmap):
        self.name = name
        self.size = size
        self.path = path
        self._mm = mm
        self.buffer = np.frombuffer(mm, dtype=np.uint8)
        self.stamp = 0

    def _close(self) -> None:
        self.buffer = None
        try:
            self._mm.close()
        except BufferError:  # someone still holds a view; the mapping goes when they let go
            pass

    def __repr__(self):
        return f"Segment({self.name!r}, {self.size} bytes)"


_ARENAS: weakref.WeakSet = weakref.WeakSet()


class ShmArena:
    """The segments one sender writes tensors into, recycled once their receiver is done.

    Thread-safe.  `stats` counts `created` and `reused` allocations and the segments `in_use`
    (allocated, not released; `in_use_bytes`) and `idle` (`idle_bytes`); `full` counts the
    allocations refused for want of space.
    """

    def __init__(self, *, max_idle_bytes: int = 256 << 20, min_bytes: int = MIN_BYTES,
                 directory: str = SHM_DIR):
        self.min_bytes = min_bytes
        self.max_idle_bytes = max_idle_bytes
        self.directory = directory
        self._prefix = f"tw-{os.getpid()}-{secrets.token_hex(4)}-"
        self._lock = threading.Lock()
        self._n = 0
        self._clock = 0
        self._in_use: dict[str, Segment] = {}
        self._idle: dict[int, list[Segment]] = {}  # size class -> segments, last released last
        self._idle_bytes = 0
        self.in_use_bytes = 0
        self._closed = False
        self.created = 0
        self.reused = 0
        self.full = 0  # allocations refused for want of space
        _ARENAS.add(self)

    # --- allocation --------------------------------------------------------------------------
    def alloc(self, nbytes: int, what: str | None = None) -> Segment:
        """A segment of at least `nbytes` bytes, idle until now (reused) or new.

        Raises `ShmFullError` (a `ResourceExhaustedError`; its message names `what`, e.g. the
        tensor, when given) when the directory has no room for a new segment."""
        size = _size_class(nbytes)
        with self._lock:
            if self._closed:
                raise RuntimeError("ShmArena.alloc after close()")
            idle = self._idle.get(size)
            if idle:
                seg = idle.pop()
                self._idle_bytes -= size
                self.reused += 1
            else:
                seg = self._create_or_free_idle(size, nbytes, what)
                self.created += 1
            self._in_use[seg.name] = seg
            self.in_use_bytes += seg.size
            return seg

    def try_alloc(self, nbytes: int, what: str | None = None) -> Segment | None:
        """`alloc`, or None when the directory has no room (send the bytes another way)."""
        try:
            return self.alloc(nbytes, what)
        except ShmFullError:
            return None

    def _create_or_free_idle(self, size: int, nbytes: int, what: str | None) -> Segment:
        """A new segment; when there is no room, after unlinking the idle ones (lock held)."""
        for retry in (False, True):
            try:
                return self._create(size)
            except OSError as e:
                if e.errno not in _NO_SPACE:
                    raise
                err = e
            if retry or not self._idle:
                break
            doomed = [s for lst in self._idle.values() for s in lst]
            self._idle.clear()
            self._idle_bytes = 0
            for s in doomed:
                _unlink(s)
        self.full += 1
        raise ShmFullError(None, None, self._full_message(size, nbytes, what, err)) from None

    def _full_message(self, size: int, nbytes: int, what: str | None, err: OSError) -> str:
        try:
            st = os.statvfs(self.directory)
            free = f"{st.f_bavail * st.f_frsize / 2**20:.1f} MiB free of " \
                   f"{st.f_blocks * st.f_frsize / 2**20:.1f} MiB"
        except OSError:
            free = "free space unknown"
        return (f"No room in {self.directory} for a shared-memory segment of {size} bytes "
                f"({'tensor ' + repr(what) + ', ' if what else ''}{nbytes} bytes; {free}; "
                f"{os.strerror(err.errno)}). Enlarge {self.directory} (e.g. docker run "
                "--shm-size=1g) or feed smaller tensors.")

    def _create(self, size: int) -> Segment:
        name = f"{self._prefix}{self._n}"
        self._n += 1
        path = os.path.join(self.directory, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _reserve(fd, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.unlink(path)
            raise
        finally:
            os.close(fd)
        return Segment(name, size, path, mm)

    def release(self, name: str) -> bool:
        """The receiver is done with segment `name`: keep it for reuse, or unlink it when the
        idle segments would exceed `max_idle_bytes`.  False if `name` is not in use here."""
        with self._lock:
            seg = self._in_use.pop(name, None)
            if seg is None:
                return False
            self.in_use_bytes -= seg.size
            if self._closed:
                return True
            doomed = []
            if seg.size > self.max_idle_bytes:
                doomed.append(seg)
            else:
                while self._idle_bytes + seg.size > self.max_idle_bytes:
                    doomed.append(self._pop_oldest_idle())
                self._clock += 1
                seg.stamp = self._clock
                self._idle.setdefault(seg.size, []).append(seg)
                self._idle_bytes += seg.size
        for s in doomed:
            _unlink(s)
        return True

    def _pop_oldest_idle(self) -> Segment:
        size = min((lst[0].stamp, sz) for sz, lst in self._idle.items() if lst)[1]
        seg = self._idle[size].pop(0)
        self._idle_bytes -= size
        return seg

    def owns(self, name: str) -> bool:
        return name.startswith(self._prefix)

    @property
    def stats(self) -> dict:
        with self._lock:
            return {"created": self.created, "reused": self.reused, "in_use": len(self._in_use),
                    "in_use_bytes": self.in_use_bytes, "idle": sum(map(len, self._idle.values())),
                    "idle_bytes": self._idle_bytes}

    # --- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Unlink every segment this arena created (idle or still with a receiver)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            segs = list(self._in_use.values()) + [s for lst in self._idle.values() for s in lst]
            self._in_use.clear()
            self._idle.clear()
            self._idle_bytes = self.in_use_bytes = 0
        for s in segs:
            _unlink(s)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _unlink(seg: Segment) -> None:
    try:
        os.unlink(seg.path)
    except FileNotFoundError:
        pass
    seg._close()


@atexit.register
def _close_all_arenas() -> None:
    for a in list(_ARENAS):
        a.close()


def segment_files(pid: int | None = None, directory: str = SHM_DIR) -> list[str]:
    """The names of the `tw-*` segment files in `directory` (of one process, given `pid`)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    prefix = "tw-" if pid is None else f"tw-{pid}-"
    return sorted(n for n in names if n.startswith(prefix) and _NAME_PID.fullmatch(n))


def cleanup_stale(directory: str = SHM_DIR) -> list[str]:
    """Unlink this user's segment files of processes that no longer run; return their names.

    Files of other users are left alone (in the sticky `/dev/shm` they could not be unlinked
    anyway); a file that cannot be unlinked is skipped, never an error of the caller."""
    removed = []
    alive: dict[int, bool] = {}
    uid = os.geteuid()
    for name in segment_files(None, directory):
        pid = int(_NAME_PID.fullmatch(name).group(1))
        if pid == os.getpid():
            continue
        if pid not in alive:
            alive[pid] = psutil.pid_exists(pid)
        if not alive[pid]:
            path = os.path.join(directory, name)
            try:
                if os.lstat(path).st_uid != uid:
                    continue
                os.unlink(path)
                removed.append(name)
            except OSError:  # gone meanwhile, or not ours to remove
                pass
    return removed


# ----------------------------------------------------------------------------------------------
# receiver side
# ----------------------------------------------------------------------------------------------
def _check_segment_file(name: str, st: os.stat_result) -> int:
    """The size of segment file `name` after checking that `st` (its fstat) is what an arena
    of this user makes: a regular file of this uid, with one link, sized by `_size_class`."""
    if not stat.S_ISREG(st.st_mode):
        raise WireError(f"shared-memory segment {name} is not a regular file "
                        f"(mode {stat.filemode(st.st_mode)})")
    if st.st_uid != os.geteuid():
        raise WireError(f"shared-memory segment {name} belongs to uid {st.st_uid}, not to "
                        f"this process's user ({os.geteuid()})")
    if st.st_nlink != 1:
        raise WireError(f"shared-memory segment {name} has {st.st_nlink} links (a hard link "
                        "to another file?)")
    size = st.st_size
    if size < MIN_BYTES or size & (size - 1):
        raise WireError(f"shared-memory segment {name} holds {size} bytes, not a segment size "
                        f"(a power of two of at least {MIN_BYTES})")
    return size


class _Mapping:
    """A read-only mapping of a whole segment; unmapped when the last reference goes."""

    __slots__ = ("name", "size", "path", "anchor", "addr", "__weakref__")

    def __init__(self, name: str, path: str):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.size = _check_segment_file(name, os.fstat(fd))
            mm = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self.name = name
        self.path = path
        self.anchor = np.frombuffer(mm, dtype=np.uint8)  # holds the mmap open, gives its address
        self.addr = self.anchor.ctypes.data


class _Notifier:
    """Where leases report that they ended: a queue plus a pipe byte to wake a poller."""

    def __init__(self):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.lock = threading.RLock()  # reentrant: a __del__ may run inside another's
        self.closed = False
        self.woken = False  # notified since the last drain (saves the pipe read when not)

    def notify(self, item) -> None:
        if item is not None:
            self.queue.put(item)
        self.woken = True  # (before the byte: a drain that misses this flag sees the byte)
        with self.lock:
            if not self.closed:
                try:
                    os.write(self.wfd, b"\0")
                except (BlockingIOError, OSError):  # pipe full: the reader is awake anyway
                    pass

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                os.close(self.rfd)
                os.close(self.wfd)


class _Lease:
    """The base object of a shared-memory view: keeps the mapping alive and, when the last
    array over it goes, tells the sender (via the notifier) that the segment may be reused."""

    __slots__ = ("__array_interface__", "_mapping", "_notifier", "_item")

    def __init__(self, mapping: _Mapping, offset: int, dtype: np.dtype, shape: tuple,
                 notifier: _Notifier, item):
        self._mapping = mapping
        self._notifier = notifier
        self._item = item
        self.__array_interface__ = {"version": 3, "shape": shape, "typestr": dtype.str,
                                    "data": (mapping.addr + offset, True)}

    def __del__(self):
        self._notifier.notify(self._item)


class ShmReader:
    """Receiver side: maps segments named in messages and returns leased read-only views.

    `wake_fd` becomes readable when leases ended; `drain()` then returns their
    `(reply_to, name)` pairs, in order.  At most `max_cached_bytes` of mappings are cached
    (least recently used first out; mappings of unlinked files are dropped when a new segment
    is mapped)."""

    def __init__(self, *, max_cached_bytes: int = 1 << 30, directory: str = SHM_DIR):
        self.max_cached_bytes = max_cached_bytes
        self.directory = directory
        self._lock = threading.Lock()
        self._maps: OrderedDict[str, _Mapping] = OrderedDict()
        self._cached_bytes = 0
        self._notifier = _Notifier()
        self.mapped = 0  # how many times a segment was mapped (cache misses)

    @property
    def wake_fd(self) -> int:
        return self._notifier.rfd

    def wake(self) -> None:
        """Make `wake_fd` readable (to wake a poller for another reason, e.g. to stop)."""
        self._notifier.notify(None)

    def view(self, name: str, offset: int, nbytes: int, dtype: np.dtype,
             shape: tuple[int, ...], reply_to: str | None = None) -> np.ndarray:
        """A read-only array of `shape`/`dtype` over bytes `[offset, offset+nbytes)` of segment
        `name`; when it (and every view of it) is collected, `(reply_to, name)` is queued."""
        if not SHM_NAME_RE.fullmatch(name):
            raise WireError(f"bad shared-memory segment name {name!r}")
        if offset % max(1, dtype.itemsize):
            raise WireError(f"segment {name}: offset {offset} is not aligned to {dtype}")
        m = self._mapping(name)
        if offset + nbytes > m.size:
            raise WireError(f"segment {name} holds {m.size} bytes; the tensor needs bytes "
                            f"{offset}..{offset + nbytes}")
        lease = _Lease(m, offset, dtype, tuple(shape), self._notifier, (reply_to, name))
        return np.asarray(lease)

    def _mapping(self, name: str) -> _Mapping:
        with self._lock:
            m = self._maps.get(name)
            if m is not None:
                self._maps.move_to_end(name)
                return m
        path = os.path.join(self.directory, name)
        try:
            m = _Mapping(name, path)
        except FileNotFoundError:
            raise WireError(f"shared-memory segment {name} does not exist (its sender died "
                            "or already unlinked it)") from None
        except OSError as e:
            if e.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
                raise WireError(f"shared-memory segment {name} is a symbolic link") from None
            raise WireError(f"cannot map shared-memory segment {name}: {e}") from None
        except ValueError as e:
            raise WireError(f"cannot map shared-memory segment {name}: {e}") from None
        with self._lock:
            self.mapped += 1
            self._trim(m.size)
            self._maps[name] = m
            self._cached_bytes += m.size
        return m

    def _trim(self, incoming: int) -> None:
        for name, m in list(self._maps.items()):
            if not os.path.exists(m.path):
                self._drop(name)
        while self._maps and self._cached_bytes + incoming > self.max_cached_bytes:
            self._drop(next(iter(self._maps)))

    def _drop(self, name: str) -> None:
        m = self._maps.pop(name)
        self._cached_bytes -= m.size

    def drain(self, polled: bool = True) -> list[tuple[str | None, str]]:
        """The `(reply_to, name)` of the leases that ended since the last call.

        `polled=False` is for a caller that does not poll `wake_fd` but asks on every step:
        it returns at once when nothing was notified since the last drain (no syscall).  A
        caller that polls `wake_fd` must drain the pipe every time it is readable (a byte
        written after a drain cleared the flag would otherwise keep it readable)."""
        n = self._notifier
        if not polled and not n.woken:
            return []
        n.woken = False
        try:
            while os.read(n.rfd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        out = []
        q = n.queue
        while True:
            try:
                out.append(q.get_nowait())
            except queue.Empty:
                return out

    @property
    def cached(self) -> list[str]:
        with self._lock:
            return list(self._maps)

    def close(self) -> None:
        """Drop the cached mappings (live views keep theirs) and close the wake pipe."""
        with self._lock:
            self._maps.clear()
            self._cached_bytes = 0
        self._notifier.close()
