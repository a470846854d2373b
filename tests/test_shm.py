"""Shared memory: the arena recycles segments by size class within its idle cap, the reader maps a
segment once and hands out leased read-only views whose collection is reported, and nothing is
left in /dev/shm -- after close, at exit, and after the process that created segments died."""
from __future__ import annotations

import errno
import gc
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.runtime import shm, wire
from tensorweave.runtime.shm import MIN_BYTES, ShmArena, ShmReader
from tensorweave.runtime.wire import WireError

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _nothing_left_in_dev_shm():
    yield
    gc.collect()
    assert shm.segment_files(os.getpid()) == []


@pytest.fixture
def arena():
    a = ShmArena()
    yield a
    a.close()


@pytest.fixture
def reader():
    r = ShmReader()
    yield r
    r.close()


def send(arena, reader, arr, reply_to="tcp://sender"):
    meta, frames = wire.encode_tensor(arr, arena)
    assert frames == [] and "shm" in meta
    return meta["shm"][0], wire.decode_tensor(meta, frames, reader, reply_to=reply_to)


def test_size_classes_reuse_and_stats(arena):
    seg = arena.alloc(100_000)
    assert seg.size == 128 * 1024 and seg.name.startswith(f"tw-{os.getpid()}-")
    assert os.path.getsize(os.path.join(shm.SHM_DIR, seg.name)) == seg.size
    assert arena.alloc(1).size == MIN_BYTES
    assert arena.alloc(64 * MiB).size == 64 * MiB
    assert arena.release(seg.name) and not arena.release(seg.name)
    assert not arena.release("tw-1-00000000-0")
    again = arena.alloc(70_000)                       # same class: the released one
    assert again is seg
    other = arena.alloc(300_000)                      # other class: a new segment
    assert other is not seg
    assert arena.stats == {"created": 4, "reused": 1, "in_use": 4, "idle": 0, "idle_bytes": 0,
                           "in_use_bytes": (128 + 64 + 512) * 1024 + 64 * MiB}


def test_idle_cap_unlinks_the_oldest_idle_segments():
    a = ShmArena(max_idle_bytes=3 * MiB)
    try:
        segs = [a.alloc(MiB) for _ in range(4)]
        for s in segs:
            a.release(s.name)
        names = shm.segment_files(os.getpid())
        assert segs[0].name not in names and all(s.name in names for s in segs[1:])
        assert a.stats["idle"] == 3 and a.stats["idle_bytes"] == 3 * MiB
        big = a.alloc(8 * MiB)                        # larger than the cap: never kept
        a.release(big.name)
        assert big.name not in shm.segment_files(os.getpid())
        assert a.stats["idle_bytes"] == 3 * MiB
    finally:
        a.close()


def test_view_is_zero_copy_read_only_and_mapped_once(arena, reader):
    x = np.random.RandomState(0).randn(512, 256)
    name, y = send(arena, reader, x)
    np.testing.assert_array_equal(x, y)
    assert not y.flags.writeable
    with pytest.raises(ValueError):
        y[0, 0] = 1.0
    # the view is the segment: writing there (as the sender does for the next tensor) shows
    seg = arena._in_use[name]
    seg.buffer[:8] = np.frombuffer(np.float64(42.0).tobytes(), np.uint8)
    assert y[0, 0] == 42.0
    del y
    arena.release(name)
    name2, z = send(arena, reader, x * 2)
    assert name2 == name and reader.mapped == 1       # reused segment, cached mapping
    np.testing.assert_array_equal(z, x * 2)


def test_lease_ends_when_the_last_view_is_collected(arena, reader):
    name, y = send(arena, reader, np.arange(50_000, dtype=np.int32))
    v = y[10:20]
    w = v.reshape(2, 5)
    del y, v
    assert reader.drain() == []
    assert not select.select([reader.wake_fd], [], [], 0)[0]
    del w
    assert select.select([reader.wake_fd], [], [], 1)[0]
    assert reader.drain() == [("tcp://sender", name)]
    assert reader.drain() == []


def test_lease_survives_cache_eviction_and_unlink(arena):
    r = ShmReader(max_cached_bytes=MiB)
    try:
        x = np.arange(MiB // 4, dtype=np.float32)
        name, y = send(arena, r, x)
        _, z = send(arena, r, x + 1)                  # evicts the first mapping
        assert r.cached == [_] and name not in r.cached
        arena.close()                                 # the sender unlinks everything
        assert shm.segment_files(os.getpid()) == []
        np.testing.assert_array_equal(y, x)           # still mapped by the leases
        np.testing.assert_array_equal(z, x + 1)
    finally:
        r.close()


def test_reader_drops_mappings_of_unlinked_segments(reader):
    a = ShmArena(max_idle_bytes=0)                    # nothing kept: unlinked once consumed
    try:
        name, y = send(a, reader, np.zeros(MIN_BYTES // 4, np.float32))
        del y
        for reply_to, n in reader.drain():
            a.release(n)
        assert name not in shm.segment_files(os.getpid())
        name2, y2 = send(a, reader, np.ones(MIN_BYTES // 4, np.float32))
        assert name2 != name and reader.cached == [name2]
        del y2
    finally:
        a.close()


def test_reader_rejects_bad_segments(arena, reader):
    dt = np.dtype("<f4")
    with pytest.raises(WireError, match="does not exist"):
        reader.view(f"tw-{os.getpid()}-00000000-99", 0, 8, dt, (2,))
    with pytest.raises(WireError, match="bad shared-memory segment name"):
        reader.view("../../etc/passwd", 0, 8, dt, (2,))
    seg = arena.alloc(MIN_BYTES)
    with pytest.raises(WireError, match="holds 65536 bytes"):
        reader.view(seg.name, 0, MIN_BYTES + 4, dt, (MIN_BYTES // 4 + 1,))
    with pytest.raises(WireError, match="not aligned"):
        reader.view(seg.name, 2, 8, dt, (2,))
    meta = {"dtype": "float32", "shape": [2], "nbytes": 8, "shm": [seg.name, MIN_BYTES - 4]}
    with pytest.raises(WireError, match="holds 65536 bytes"):
        wire.decode_tensor(meta, [], reader)


def test_small_tensors_stay_in_frames(arena):
    meta, frames = wire.encode_tensor(np.zeros(MIN_BYTES // 8 - 1), arena)
    assert "frame" in meta and arena.stats["created"] == 0


def test_close_unlinks_segments_still_in_use():
    a = ShmArena()
    segs = [a.alloc(MIN_BYTES), a.alloc(3 * MiB)]
    a.release(segs[0].name)
    assert len(shm.segment_files(os.getpid())) == 2
    a.close()
    a.close()
    assert shm.segment_files(os.getpid()) == []
    with pytest.raises(RuntimeError, match="after close"):
        a.alloc(1)
    assert not a.release(segs[1].name)


CHILD = textwrap.dedent("""
    import sys
    from tensorweave.runtime.shm import ShmArena
    a = ShmArena()
    segs = [a.alloc(100_000), a.alloc(1 << 20)]
    segs[0].buffer[:] = 7
    if sys.argv[1] == "exit":
        sys.exit(0)            # atexit closes the arena
    print(" ".join(s.name for s in segs), flush=True)
    sys.stdin.read()           # wait to be killed
""")


def run_child(mode):
    return subprocess.Popen([sys.executable, "-c", CHILD, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_segments_are_unlinked_at_interpreter_exit():
    p = run_child("exit")
    try:
        assert p.wait(30) == 0
        assert shm.segment_files(p.pid) == []
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stdin.close()


def test_cleanup_stale_removes_the_segments_of_a_killed_process(arena):
    mine = arena.alloc(MIN_BYTES)
    p = run_child("hold")
    try:
        names = p.stdout.readline().split()
        assert shm.segment_files(p.pid) == sorted(names)
        r = ShmReader()                               # a receiver still maps one of them
        y = r.view(names[0], 0, 100_000, np.dtype("u1"), (100_000,))
        assert not set(shm.cleanup_stale()) & set(names)   # its process lives: kept
        assert shm.segment_files(p.pid) == sorted(names)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        assert shm.segment_files(p.pid) == sorted(names)   # SIGKILL skips atexit
        removed = shm.cleanup_stale()
        assert sorted(set(removed) & set(names)) == sorted(names)
        assert shm.segment_files(p.pid) == []
        assert mine.name in shm.segment_files(os.getpid())  # the living keep theirs
        assert (y == 7).all()                         # and a mapping outlives the unlink
        del y
        r.close()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stdin.close()


def test_a_wake_byte_written_after_a_drain_is_read_by_the_next_polled_drain():
    # a lease ends on another thread: its notice is queued and flagged, then its wake byte is
    # written -- here held back (the notifier's lock) until a drain has taken the notice
    import threading
    import time
    r = ShmReader()
    n = r._notifier
    try:
        with n.lock:
            t = threading.Thread(target=n.notify, args=(("peer", "tw-1-00000000-1"),))
            t.start()
            deadline = time.monotonic() + 10
            while not n.woken and time.monotonic() < deadline:
                time.sleep(0.001)
            assert r.drain() == [("peer", "tw-1-00000000-1")]
        t.join(10)
        assert select.select([r.wake_fd], [], [], 0)[0]       # the late byte
        assert r.drain(polled=False) == []                   # (an unpolled caller: no read)
        assert r.drain() == []
        assert not select.select([r.wake_fd], [], [], 0)[0]   # read: a poller does not spin
    finally:
        r.close()


# --- a full /dev/shm: space is reserved at creation, so it fails there, never with SIGBUS ----------
def no_space(fd, offset, length):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_segment_space_is_reserved_at_creation(arena):
    seg = arena.alloc(3 * MiB)
    st = os.stat(seg.path)
    assert st.st_size == 4 * MiB and st.st_blocks * 512 >= 4 * MiB  # allocated, not a hole


def test_a_full_shm_directory_raises_resource_exhausted_naming_the_tensor(arena, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(tw.errors.ResourceExhaustedError,
                       match=r"No room in /dev/shm for a shared-memory segment of 4194304 bytes "
                             r"\(tensor 'x:0', 3145728 bytes; .* MiB free .*--shm-size"):
        arena.alloc(3 * MiB, "x:0")
    assert isinstance(shm.ShmFullError(), tw.errors.ResourceExhaustedError)
    assert arena.try_alloc(3 * MiB) is None                     # the caller's fallback signal
    assert shm.segment_files(os.getpid()) == []                 # nothing half-made is left
    assert arena.stats["in_use"] == 0 and arena.stats["created"] == 0 and arena.full == 2
    monkeypatch.undo()
    x = np.arange(3 * MiB // 4, dtype=np.float32)               # room again: shared memory again
    meta, frames = wire.encode_tensor(x, arena)
    assert "shm" in meta and frames == []
    arena.release(meta["shm"][0])


def test_no_room_gives_back_the_idle_segments_and_tries_again(arena, monkeypatch):
    idle = arena.alloc(MIN_BYTES)
    arena.release(idle.name)
    calls = []

    def full_once(fd, offset, length):
        calls.append(length)
        if len(calls) == 1:
            no_space(fd, offset, length)
        real_fallocate(fd, offset, length)
    real_fallocate = os.posix_fallocate
    monkeypatch.setattr(os, "posix_fallocate", full_once)
    seg = arena.alloc(MiB)
    assert seg.size == MiB and calls == [MiB, MiB]
    assert shm.segment_files(os.getpid()) == [seg.name]          # the idle one was unlinked
    assert arena.stats["idle"] == 0 and arena.full == 0


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                          capture_output=True, timeout=30).returncode == 0


FILL = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorweave as tw
    from tensorweave.runtime import wire
    from tensorweave.runtime.shm import ShmArena
    a = ShmArena(directory=sys.argv[1])
    x = np.ones(2 << 20, np.float32)            # 8 MiB into a 4 MiB tmpfs
    try:
        seg = a.alloc(x.nbytes, "feed:0")
        seg.buffer[:] = 1                       # without a reservation: SIGBUS here
    except tw.errors.ResourceExhaustedError as e:
        print("refused:", e)
    assert a.try_alloc(x.nbytes) is None
    meta, frames = wire.encode_tensor(x, None)  # the socket path still carries it
    assert "frame" in meta
    a.close()
""")


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root and unshare to mount a small tmpfs")
def test_a_really_full_tmpfs_is_an_error_not_sigbus(tmp_path):
    cmd = (f"mount -t tmpfs -o size=4m tmpfs {tmp_path} && "
           f"exec {sys.executable} -c \"$0\" {tmp_path}")
    p = subprocess.run(["unshare", "-m", "sh", "-c", cmd, FILL], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, (p.returncode, p.stderr)  # -7: SIGBUS
    assert f"refused: No room in {tmp_path}" in p.stdout and "'feed:0'" in p.stdout
    assert os.listdir(tmp_path) == []                   # (the tmpfs went with the namespace)


# --- segments named by a peer: only regular files of this user, never followed or blocked on ------
def planted(n: int) -> str:
    return os.path.join(shm.SHM_DIR, f"tw-{os.getpid()}-0badc0de-{n}")


def test_reader_refuses_a_symlink_to_a_readable_file(reader, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"s3cr3t" * MIN_BYTES)
    os.truncate(secret, MIN_BYTES)                  # would pass every size check if followed
    path = planted(1)
    os.symlink(secret, path)
    try:
        with pytest.raises(WireError, match="is a symbolic link"):
            reader.view(os.path.basename(path), 0, 6, np.dtype("u1"), (6,))
    finally:
        os.unlink(path)
    assert reader.cached == []


def test_reader_refuses_a_fifo_without_blocking(reader):
    path = planted(2)
    os.mkfifo(path, 0o600)
    out = []

    def view():
        try:
            reader.view(os.path.basename(path), 0, 8, np.dtype("u1"), (8,))
        except WireError as e:
            out.append(e)
    t = threading.Thread(target=view, daemon=True)
    try:
        t.start()
        t.join(10)
        if t.is_alive():                            # blocked in open(): let it go, then fail
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            t.join(10)
            pytest.fail("opening a FIFO named by a peer blocked the receiver")
    finally:
        os.unlink(path)
    assert len(out) == 1 and "is not a regular file" in str(out[0])


def test_reader_refuses_files_of_wrong_size_links_and_other_users(arena, reader):
    dt = np.dtype("u1")
    path = planted(3)
    with open(path, "wb") as f:
        f.write(b"\0" * 1000)
    try:
        with pytest.raises(WireError, match="holds 1000 bytes, not a segment size"):
            reader.view(os.path.basename(path), 0, 8, dt, (8,))
        os.truncate(path, MIN_BYTES)
        if os.geteuid() == 0:                       # root can give it away
            os.chown(path, 65534, 65534)
            with pytest.raises(WireError, match="belongs to uid 65534"):
                reader.view(os.path.basename(path), 0, 8, dt, (8,))
    finally:
        os.unlink(path)
    seg = arena.alloc(MIN_BYTES)
    os.link(seg.path, path)
    try:
        with pytest.raises(WireError, match="has 2 links"):
            reader.view(seg.name, 0, 8, dt, (8,))
    finally:
        os.unlink(path)
    assert reader.view(seg.name, 0, 8, dt, (8,)).shape == (8,)  # one link again: fine


def test_cleanup_stale_removes_only_this_users_files_of_dead_processes(tmp_path, monkeypatch):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(30)
    dead, live = p.pid, os.getppid()
    names = {k: f"tw-{pid}-0badc0de-{i}" for i, (k, pid) in enumerate(
        [("dead", dead), ("dead2", dead), ("live", live), ("mine", os.getpid())])}
    for n in names.values():
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "unrelated").write_bytes(b"")
    if os.geteuid() == 0:
        os.chown(tmp_path / names["dead2"], 65534, 65534)   # another user's: not ours to clean
        assert shm.cleanup_stale(str(tmp_path)) == [names["dead"]]
        assert sorted(os.listdir(tmp_path)) == sorted(
            [names["dead2"], names["live"], names["mine"], "unrelated"])
        os.chown(tmp_path / names["dead2"], os.geteuid(), os.getegid())
    real_unlink = os.unlink

    def refuse(path, *a, **k):
        if os.path.basename(path) == names["dead2"]:
            raise PermissionError(errno.EPERM, "Operation not permitted", path)
        real_unlink(path, *a, **k)
    monkeypatch.setattr(os, "unlink", refuse)
    assert shm.cleanup_stale(str(tmp_path)) == ([] if os.geteuid() == 0 else [names["dead"]])
    monkeypatch.undo()
    assert names["dead2"] in os.listdir(tmp_path) and names["live"] in os.listdir(tmp_path)
