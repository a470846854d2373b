"""The checkpoint file: tensorweave's own format (never pickle), written atomically.

One file per checkpoint, `<prefix>.index` (the name of TF1's index file, so code that tests for it
keeps working), laid out as::

    offset 0   magic      8 bytes  b"\\x89TWCKPT\\n"
           8   version    uint32   little-endian (1)
          12   hlen       uint64   length of the header
          20   hcrc       uint32   crc32 of the header bytes
          24   header     msgpack  {"tensors": {name: {"dtype", "shape", "offset", "length",
                                                       "crc32"}}, "producer": "tensorweave"}
               padding to a multiple of 64
               data       raw little-endian tensor bytes, each tensor 64-byte aligned; offsets
                          are relative to the start of the data; string tensors are a msgpack
                          list of bytes

Writing goes to a temporary file in the same directory, is flushed and fsynced, and only then
renamed over `<prefix>.index` (`os.replace`), so a crash mid-save leaves any previous file whole.
The temporary file is named `<name>.tmp-<host>-<pid>-XXXXXXXX` after its writer, and every
atomic write first removes the temporary files in its directory that a process of this host which
no longer runs left behind (a killed save), keeping those of live writers and other hosts.
Reading checks everything it can (magic, version, header crc and structure, bounds, each tensor's
length and crc32) and raises `DataLossError` naming the file on any mismatch; decoding only
builds numbers, strings and numpy arrays.
"""
from __future__ import annotations

import os
import re
import socket
import struct
import tempfile
import zlib

import msgpack
import numpy as np
import psutil

from ..framework import dtypes as _dtypes
from ..framework import errors

__all__ = ["SUFFIX", "checkpoint_file", "write_checkpoint", "read_header", "CheckpointReader",
           "atomic_write", "remove_stale_temp_files"]

MAGIC = b"\x89TWCKPT\n"
VERSION = 1
SUFFIX = ".index"
_FIXED = struct.Struct("<8sIQI")  # magic, version, header length, header crc32
_ALIGN = 64
_MAX_HEADER = 1 << 30


def checkpoint_file(prefix: str) -> str:
    """The file holding the checkpoint `prefix`."""
    return prefix + SUFFIX


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _write_chunk(f, data) -> None:
    """One write of the file (a separate function so tests can make a save fail half-way)."""
    f.write(data)


def _host_tag() -> str:
    """This host's name as it goes into temporary file names (no dashes, nothing odd)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


# <name>.tmp-<host>-<pid>-<8 characters of mkstemp>
_TMP_NAME = re.compile(r".+\.tmp-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>[0-9]+)-[a-z0-9_]{8}")


def remove_stale_temp_files(directory: str) -> list[str]:
    """Remove the temporary files of `atomic_write` in `directory` whose writer, a process of
    this host, no longer runs; return their names.  Those of live processes (this one included)
    and of other hosts sharing the directory are kept; errors are ignored."""
    host, removed = _host_tag(), []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TMP_NAME.fullmatch(name)
        if m is None or m["host"] != host:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or psutil.pid_exists(pid):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def atomic_write(path: str, chunks) -> None:
    """Write the byte strings `chunks` to `path` atomically: temp file, fsync, rename (after
    removing what killed writers left in the directory, `remove_stale_temp_files`)."""
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temp_files(directory)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{os.path.basename(path)}.tmp-{_host_tag()}-{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                _write_chunk(f, chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _tensor_bytes(arr: np.ndarray) -> tuple[str, bytes | memoryview]:
    dt = _dtypes.as_dtype(arr.dtype)
    if dt is _dtypes.string:
        items = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1)]
        return dt.name, msgpack.packb(items, use_bin_type=True)
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return dt.name, memoryview(le.reshape(-1).view(np.uint8))


def write_checkpoint(prefix: str, tensors: dict) -> str:
    """Write `tensors` ({name: ndarray}) as checkpoint `prefix`; returns the file written."""
    entries, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        dtype, data = _tensor_bytes(arr)
        offset = _align(offset)
        entries[name] = {"dtype": dtype, "shape": list(arr.shape), "offset": offset,
                         "length": len(data), "crc32": zlib.crc32(data)}
        blobs.append((offset, data))
        offset += len(data)
    header = msgpack.packb({"tensors": entries, "producer": "tensorweave"}, use_bin_type=True)
    head = _FIXED.pack(MAGIC, VERSION, len(header), zlib.crc32(header)) + header
    start = _align(len(head))

    def chunks():
        yield head + b"\0" * (start - len(head))
        pos = 0
        for off, data in blobs:
            if off > pos:
                yield b"\0" * (off - pos)
            yield data
            pos = off + len(data)
    path = checkpoint_file(prefix)
    atomic_write(path, chunks())
    return path


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
def _corrupt(path: str, why: str):
    return errors.DataLossError(None, None, f"Checkpoint file {path} is corrupt or truncated: "
                                f"{why}. It is not a valid tensorweave checkpoint.")


def _check_entry(path, name, e, size):
    if not isinstance(name, str) or not isinstance(e, dict):
        raise _corrupt(path, f"bad entry for {name!r}")
    try:
        dt = _dtypes.as_dtype(e["dtype"])
        shape = e["shape"]
        offset, length, crc = e["offset"], e["length"], e["crc32"]
    except (KeyError, TypeError, ValueError) as err:
        raise _corrupt(path, f"bad entry for tensor {name!r} ({err})") from None
    if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
            or not all(isinstance(x, int) and x >= 0 for x in (offset, length, crc))):
        raise _corrupt(path, f"bad entry for tensor {name!r}")
    if offset + length > size:
        raise _corrupt(path, f"tensor {name!r} lies past the end of the file")
    if dt is not _dtypes.string:
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if n * dt.np.itemsize != length:
            raise _corrupt(path, f"tensor {name!r} has {length} bytes for shape {shape} of "
                           f"{dt.name}")
    return dt, tuple(shape), offset, length, crc


def read_header(path: str) -> tuple[dict, int]:
    """({name: (dtype, shape, offset, length, crc32)}, data start) of the checkpoint file."""
    try:
        with open(path, "rb") as f:
            fixed = f.read(_FIXED.size)
            size = os.fstat(f.fileno()).st_size
            if len(fixed) < _FIXED.size:
                raise _corrupt(path, f"only {len(fixed)} bytes")
            magic, version, hlen, hcrc = _FIXED.unpack(fixed)
            if magic != MAGIC:
                raise _corrupt(path, "wrong magic number")
            if version > VERSION:
                raise _corrupt(path, f"format version {version} is newer than this reader "
                               f"({VERSION})")
            if hlen > min(size - _FIXED.size, _MAX_HEADER):
                raise _corrupt(path, "header runs past the end of the file")
            header = f.read(hlen)
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"Checkpoint file {path} not found") from None
    except IsADirectoryError:
        raise errors.NotFoundError(None, None, f"Checkpoint file {path} is a directory") \
            from None
    if zlib.crc32(header) != hcrc:
        raise _corrupt(path, "header checksum mismatch")
    try:
        d = msgpack.unpackb(header, raw=False, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError,
            UnicodeDecodeError) as e:
        raise _corrupt(path, f"unreadable header ({e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("tensors"), dict):
        raise _corrupt(path, "header has no tensor table")
    start = _align(_FIXED.size + hlen)
    entries = {name: _check_entry(path, name, e, size - start)
               for name, e in d["tensors"].items()}
    return entries, start


class CheckpointReader:
    """Reads tensors of one checkpoint (TF1 `tf.train.NewCheckpointReader`)."""

    def __init__(self, prefix: str):
        self._prefix = prefix
        self._path = checkpoint_file(prefix)
        if not os.path.exists(self._path) and os.path.isfile(prefix):
            self._path = prefix  # the file itself was named
        if not os.path.exists(self._path):
            raise errors.NotFoundError(
                None, None, f"Unsuccessful TensorSliceReader constructor: Failed to find any "
                f"matching files for {prefix}")
        self._entries, self._start = read_header(self._path)

    @property
    def path(self) -> str:
        return self._path

    def has_tensor(self, name: str) -> bool:
        return name in self._entries

    def get_variable_to_shape_map(self) -> dict:
        return {n: list(e[1]) for n, e in self._entries.items()}

    def get_variable_to_dtype_map(self) -> dict:
        return {n: e[0] for n, e in self._entries.items()}

    def entry(self, name: str):
        """(dtype, shape) of tensor `name`; NotFoundError naming it and the file if absent."""
        try:
            e = self._entries[name]
        except KeyError:
            raise errors.NotFoundError(None, None, f"Key {name} not found in checkpoint "
                                       f"{self._prefix} ({self._path})") from None
        return e[0], e[1]

    def get_tensor(self, name: str) -> np.ndarray:
        return self.get_tensors([name])[0]

    def get_tensors(self, names) -> list:
        """The values of tensors `names`, each checked against its crc32."""
        for n in names:
            self.entry(n)
        out = []
        with open(self._path, "rb") as f:
            for n in names:
                dt, shape, offset, length, crc = self._entries[n]
                f.seek(self._start + offset)
                data = f.read(length)
                if len(data) != length:
                    raise _corrupt(self._path, f"tensor {n!r} is truncated")
                if zlib.crc32(data) != crc:
                    raise _corrupt(self._path, f"checksum mismatch in tensor {n!r}")
                out.append(_decode(self._path, n, dt, shape, data))
        return out

    def debug_string(self) -> bytes:
        return "".join(f"{n} ({e[0].name}) {list(e[1])}\n"
                       for n, e in sorted(self._entries.items())).encode()


def _decode(path, name, dt, shape, data) -> np.ndarray:
    if dt is _dtypes.string:
        try:
            items = msgpack.unpackb(data, raw=True)
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as e:
            raise _corrupt(path, f"string tensor {name!r} unreadable ({e})") from None
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not isinstance(items, list) or len(items) != n or not all(
                isinstance(x, bytes) for x in items):
            raise _corrupt(path, f"string tensor {name!r} malformed")
        arr = np.empty(n, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    arr = np.frombuffer(data, dtype=dt.np.newbyteorder("<")).reshape(shape)
    return arr.astype(dt.np)  # native byte order, writable, owns its memory
