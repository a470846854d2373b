"""The wire format: how messages and tensors travel between worker processes.

A message is a list of ZeroMQ frames.  Frame 0 is the *header*, a msgpack map whose `op` field
names the message kind; the frames after it are raw buffers (sent with `copy=False`), each the
bytes of one tensor.  A tensor inside a header is a *tensor meta*, a map of one of these forms:

    {"dtype": "float32", "shape": [2, 3], "nbytes": 24, "frame": 0}      bytes in buffer frame 0
    {"dtype": "float32", "shape": [4096, 4096], "nbytes": 67108864,
     "shm": ["tw-1234-9f3a0c1d-7", 0]}                                   bytes in shared memory
    {"dtype": "float32", "shape": [], "nbytes": 4, "data": b"..."}      small: in the header
    {"dtype": "string", "shape": [2], "strings": [b"ab", b"c"]}          string tensors
    {"dtype": "int64", "shape": [0, 5], "nbytes": 0}                     empty tensors

A tensor of at most `INLINE_MAX_BYTES` travels inside the header (`data`): a scalar does not
cost a frame of its own (each frame is a separate ZeroMQ message part to build, send and check).

Numbers travel as little-endian bytes in C order; the receiver gets a read-only, zero-copy
`np.frombuffer` view of the received frame (or of the shared-memory segment, see `shm.py`).
Frame indices count buffer frames (frame 0 of a meta is the message's frame 1).

Nothing read from the wire executes code: there is no pickle, msgpack extension types are
refused, and `unpack` checks every header against a *schema* -- per `op`, the fields that are
required or optional and their Python types -- and every tensor meta against its frames, before
anyone looks at the values (a shape is a list of at most 64 non-negative ints whose non-zero
dimensions fit in memory, so even an empty `[0, 2**63]` is refused; `nbytes` must be what the
shape and dtype make).  Whatever does not fit raises `WireError` naming the field, and so does
whatever else fails while decoding.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
import numpy as np

__all__ = [
    "WireError", "Field", "TENSOR", "TENSORS", "DTYPES", "SHM_NAME_RE", "INLINE_MAX_BYTES",
    "encode_tensor", "decode_tensor", "encode_tensors", "decode_tensors",
    "pack", "unpack", "check_meta",
]


class WireError(ValueError):
    """A message that does not follow the wire format (bad msgpack, schema, meta or frames)."""


#: Numeric dtypes by tensorweave name, as the little-endian numpy dtypes used on the wire.
DTYPES: dict[str, np.dtype] = {name: np.dtype(code).newbyteorder("<") for name, code in (
    ("bool", np.bool_), ("int8", np.int8), ("int16", np.int16), ("int32", np.int32),
    ("int64", np.int64), ("uint8", np.uint8), ("uint16", np.uint16), ("uint32", np.uint32),
    ("uint64", np.uint64), ("float16", np.float16), ("float32", np.float32),
    ("float64", np.float64), ("complex64", np.complex64), ("complex128", np.complex128))}
_NAME_BY_KIND = {(d.kind, d.itemsize): name for name, d in DTYPES.items()}

#: The form of a shared-memory segment name (also what keeps it inside /dev/shm).
SHM_NAME_RE = re.compile(r"tw-[0-9]{1,10}-[0-9a-f]{8}-[0-9]{1,12}")
_MAX_RANK = 64
#: The most bytes the non-zero dimensions of a shape may make (numpy's limit: an array of shape
#: `[0, 2**63]` cannot even be created empty).
_MAX_EXTENT_BYTES = int(np.iinfo(np.intp).max)
_OBJECT_ITEMSIZE = np.dtype(object).itemsize
#: Tensors of at most this many bytes travel inside the header rather than in a frame.
INLINE_MAX_BYTES = 256


class ShmAllocator(Protocol):
    """What `encode_tensor` needs from a sender-side arena (`shm.ShmArena`)."""
    min_bytes: int

    def try_alloc(self, nbytes: int, what: str | None = None) -> Any:
        """A segment of at least `nbytes`, or None when there is no room for one."""

    def release(self, name: str) -> bool: ...


class ShmViewer(Protocol):
    """What `decode_tensor` needs from a receiver-side reader (`shm.ShmReader`)."""

    def view(self, name: str, offset: int, nbytes: int, dtype: np.dtype,
             shape: tuple[int, ...], reply_to: str | None = None) -> np.ndarray: ...


# ----------------------------------------------------------------------------------------------
# tensors
# ----------------------------------------------------------------------------------------------
def _dtype_name(arr: np.ndarray) -> str:
    if arr.dtype == object:
        return "string"
    name = _NAME_BY_KIND.get((arr.dtype.kind, arr.dtype.itemsize))
    if name is None:
        raise TypeError(f"cannot send a tensor of numpy dtype {arr.dtype} between processes; "
                        f"supported: {', '.join(DTYPES)}, string (object arrays of bytes)")
    return name


def encode_tensor(arr, shm: ShmAllocator | None = None, *,
                  frame: int = 0) -> tuple[dict, list]:
    """The meta and the buffer frames (zero or one) that carry `arr`.

    `arr` is anything `np.asarray` takes (numpy scalars included).  A non-contiguous or
    big-endian array is made contiguous little-endian once.  With `shm` (a `shm.ShmArena`) and
    at least `shm.min_bytes` bytes, the bytes are copied once into a shared-memory segment
    and the meta names it (no frame); otherwise (or when the shared-memory directory is full)
    the frame is the array itself, to be sent with
    `copy=False` -- so the caller must not write into `arr` afterwards.  `frame` is the index the
    tensor's buffer frame will have among the message's buffer frames.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind in "SU":  # fixed-width numpy strings travel as a string tensor
        arr = arr.astype(object)
    name = _dtype_name(arr)
    shape = [int(d) for d in arr.shape]
    if name == "string":
        strings = []
        for s in arr.reshape(-1):
            if isinstance(s, str):
                s = s.encode("utf-8")
            elif not isinstance(s, bytes):
                raise TypeError(f"a string tensor must hold bytes or str, not {type(s).__name__}")
            strings.append(s)
        return {"dtype": name, "shape": shape, "strings": strings}, []
    wire_dt = DTYPES[name]
    nbytes = arr.size * wire_dt.itemsize
    meta = {"dtype": name, "shape": shape, "nbytes": nbytes}
    if nbytes == 0:
        return meta, []
    if nbytes <= INLINE_MAX_BYTES:
        meta["data"] = arr.astype(wire_dt, copy=False).tobytes()
        return meta, []
    seg = shm.try_alloc(nbytes) if shm is not None and nbytes >= shm.min_bytes else None
    if seg is not None:  # (None also when /dev/shm is full: the bytes go as a frame)
        try:
            dst = np.ndarray(arr.shape, wire_dt, buffer=seg.buffer)
            np.copyto(dst, arr, casting="no" if arr.dtype == wire_dt else "equiv")
        except BaseException:
            shm.release(seg.name)
            raise
        meta["shm"] = [seg.name, 0]
        return meta, []
    if arr.dtype != wire_dt or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=wire_dt)
    meta["frame"] = frame
    return meta, [arr]


def encode_tensors(arrays: Sequence, shm: ShmAllocator | None = None,
                   *, first_frame: int = 0) -> tuple[list[dict], list]:
    """`encode_tensor` for several tensors of one message: metas and their frames, in order."""
    metas, frames = [], []
    for a in arrays:
        m, f = encode_tensor(a, shm, frame=first_frame + len(frames))
        metas.append(m)
        frames.extend(f)
    return metas, frames


def _frame_len(f) -> int:
    if isinstance(f, bytes):
        return len(f)
    buf = getattr(f, "buffer", None)  # zmq.Frame
    return memoryview(f if buf is None else buf).nbytes


def _frame_buffer(f):
    buf = getattr(f, "buffer", None)  # zmq.Frame
    return f if buf is None else buf


def _fail(where: str, msg: str):
    raise WireError(f"{where}: {msg}")


def _check_int(v, where: str, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        _fail(where, f"{what} must be a non-negative integer, got {v!r}")
    return v


def check_meta(meta, frames: Sequence | None = None, where: str = "tensor") -> list[int]:
    """Validate a tensor meta (and, given the message's buffer frames, its frame's length).

    Returns the buffer-frame indices the meta uses (`[]` or `[i]`).  Raises `WireError`.
    """
    if not isinstance(meta, dict):
        _fail(where, f"a tensor meta must be a map, got {type(meta).__name__}")
    dtype = meta.get("dtype")
    if not isinstance(dtype, str):
        _fail(where, f"unknown dtype: a tensor meta's dtype must be a string, got "
                     f"{type(dtype).__name__}")
    if dtype == "string":
        allowed = {"dtype", "shape", "strings"}
    elif dtype in DTYPES:
        allowed = {"dtype", "shape", "nbytes", "frame", "shm", "data"}
    else:
        _fail(where, f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}, string")
    extra = set(meta) - allowed
    if extra:
        _fail(where, f"unknown fields {', '.join(sorted(map(repr, extra)))} in a {dtype} "
                     "tensor meta")
    shape = meta.get("shape")
    if not isinstance(shape, list) or len(shape) > _MAX_RANK:
        _fail(where, f"shape must be a list of at most {_MAX_RANK} dimensions, got {shape!r}")
    size, extent = 1, 1
    itemsize = DTYPES[dtype].itemsize if dtype in DTYPES else _OBJECT_ITEMSIZE
    for d in shape:
        size *= _check_int(d, where, "every dimension of shape")
        extent *= max(d, 1)
        if extent * itemsize > _MAX_EXTENT_BYTES:  # numpy refuses such a shape, even empty
            _fail(where, f"shape {shape} of {dtype} is too big: its non-zero dimensions make "
                         f"more than {_MAX_EXTENT_BYTES} bytes")
    if dtype == "string":
        strings = meta.get("strings")
        if not isinstance(strings, list) or len(strings) != size:
            _fail(where, f"a string tensor of shape {shape} needs a list of {size} strings")
        if not all(isinstance(s, bytes) for s in strings):
            _fail(where, "every element of a string tensor must be bytes")
        return []
    nbytes = _check_int(meta.get("nbytes"), where, "nbytes")
    if nbytes != size * DTYPES[dtype].itemsize:
        _fail(where, f"nbytes={nbytes} does not match shape {shape} of {dtype} "
                     f"({size * DTYPES[dtype].itemsize} bytes)")
    if ("frame" in meta) + ("shm" in meta) + ("data" in meta) > 1:
        _fail(where, "a tensor meta names more than one of frame, shm and data")
    if "data" in meta:
        data = meta["data"]
        if not isinstance(data, bytes) or len(data) != nbytes:
            _fail(where, f"data must be {nbytes} bytes, got "
                         f"{len(data) if isinstance(data, bytes) else type(data).__name__}")
        return []
    if "shm" in meta:
        loc = meta["shm"]
        if (not isinstance(loc, list) or len(loc) != 2 or not isinstance(loc[0], str)
                or not SHM_NAME_RE.fullmatch(loc[0])):
            _fail(where, f"shm must be [segment name 'tw-<pid>-<hex8>-<n>', offset], got {loc!r}")
        _check_int(loc[1], where, "shm offset")
        return []
    if "frame" not in meta:
        if nbytes:
            _fail(where, f"a non-empty tensor ({nbytes} bytes) names neither a frame nor shm")
        return []
    i = _check_int(meta["frame"], where, "frame")
    if frames is not None:
        if i >= len(frames):
            _fail(where, f"frame {i} is missing: the message has {len(frames)} buffer frames "
                         "(truncated?)")
        if _frame_len(frames[i]) != nbytes:
            _fail(where, f"frame {i} holds {_frame_len(frames[i])} bytes, the meta says {nbytes}")
    return [i]


def decode_tensor(meta: dict, frames: Sequence, shm_reader: ShmViewer | None = None,
                  *, reply_to: str | None = None) -> np.ndarray:
    """The array a meta describes: a read-only zero-copy view of its frame (or shared-memory
    segment, through `shm_reader`, whose lease is released when the array is garbage-collected;
    `reply_to` is where that release notice goes).  Raises `WireError` on a bad meta."""
    check_meta(meta, frames)
    try:
        return _decode_checked(meta, frames, shm_reader, reply_to)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError) as e:  # what a check missed
        raise WireError(f"tensor: cannot decode {meta.get('dtype')} of shape "
                        f"{meta.get('shape')}: {type(e).__name__}: {e}") from None


def _decode_checked(meta: dict, frames: Sequence, shm_reader: ShmViewer | None,
                    reply_to: str | None) -> np.ndarray:
    name = meta["dtype"]
    shape = tuple(meta["shape"])
    if name == "string":
        out = np.empty(shape, dtype=object)
        flat = out.reshape(-1)
        for i, s in enumerate(meta["strings"]):
            flat[i] = s
        return out
    dt = DTYPES[name]
    if "shm" in meta:
        if shm_reader is None:
            raise WireError("tensor: it lies in shared memory but this receiver has no ShmReader")
        seg, offset = meta["shm"]
        return shm_reader.view(seg, offset, meta["nbytes"], dt, shape, reply_to)
    if "data" in meta:
        return np.frombuffer(meta["data"], dtype=dt).reshape(shape)  # read-only, like a frame's
    if "frame" not in meta:
        out = np.empty(shape, dt)
        out.flags.writeable = False
        return out
    arr = np.frombuffer(_frame_buffer(frames[meta["frame"]]), dtype=dt).reshape(shape)
    if not arr.flags.aligned:  # small frames may sit at any offset of libzmq's receive buffer
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


def decode_tensors(metas: Sequence[dict], frames: Sequence, shm_reader: ShmViewer | None = None,
                   *, reply_to: str | None = None) -> list[np.ndarray]:
    return [decode_tensor(m, frames, shm_reader, reply_to=reply_to) for m in metas]


# ----------------------------------------------------------------------------------------------
# messages
# ----------------------------------------------------------------------------------------------
class _Marker:
    def __init__(self, name: str):
        self.__name__ = name

    def __repr__(self):
        return self.__name__


#: Field type: one tensor meta.
TENSOR = _Marker("tensor meta")
#: Field type: a list of tensor metas.
TENSORS = _Marker("list of tensor metas")


@dataclass(frozen=True)
class Field:
    """One header field of a schema: its Python type(s) (or `TENSOR`/`TENSORS`), whether it
    must be present, and an optional `check(value)` that raises `WireError` for bad values.

    `int` never accepts `bool`; `float` accepts `int`."""
    type: type | tuple | _Marker
    required: bool = True
    check: Callable[[Any], None] | None = None


#: A schema: for each message `op`, its fields (besides `op` itself).
Schema = Mapping[str, Mapping[str, Field]]


def pack(header: dict, frames: Sequence = ()) -> list:
    """The frames of a message: the msgpack header, then the buffer frames (send them with
    `socket.send_multipart(msg, copy=False)`)."""
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise TypeError(f"a message header must be a dict with a str 'op', got {header!r}")
    return [msgpack.packb(header, use_bin_type=True), *frames]


def _type_ok(v, t) -> bool:
    ts = t if isinstance(t, tuple) else (t,)
    if isinstance(v, bool):
        return bool in ts
    if float in ts and isinstance(v, int):
        return True
    return isinstance(v, ts)


def _type_name(t) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join(x.__name__ for x in ts)


def unpack(frames: Sequence, schema: Schema) -> tuple[dict, list]:
    """Decode and validate a received message: `(header, buffer_frames)`.

    Raises `WireError` when frame 0 is not one msgpack map with str keys, its `op` is not in
    `schema`, a field is unknown, missing or of the wrong type, or a tensor meta does not fit
    its frames (missing, extra or wrongly sized frames)."""
    if not frames:
        raise WireError("empty message")
    head = frames[0]
    raw = head.bytes if hasattr(head, "bytes") else bytes(head)
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True,
                                 ext_hook=_refuse_ext)
    except WireError:
        raise
    except Exception as e:  # msgpack raises ValueError, TypeError, ExtraData, FormatError, ...
        raise WireError(f"header is not valid msgpack: {type(e).__name__}: {e}") from None
    if not isinstance(header, dict):
        raise WireError(f"header must be a msgpack map, got {type(header).__name__}")
    op = header.get("op")
    if not isinstance(op, str) or op not in schema:
        raise WireError(f"unknown op {op!r}; expected one of {sorted(schema)}")
    fields = schema[op]
    unknown = set(header) - set(fields) - {"op"}
    if unknown:
        raise WireError(f"{op}: unknown fields {', '.join(sorted(map(repr, unknown)))}; "
                        f"allowed: {', '.join(sorted(fields))}")
    buffers = list(frames[1:])
    used: list[int] = []
    for name, f in fields.items():
        if name not in header:
            if f.required:
                raise WireError(f"{op}: missing field {name!r}")
            continue
        v = header[name]
        where = f"{op}.{name}"
        if f.type is TENSOR:
            used += check_meta(v, buffers, where)
        elif f.type is TENSORS:
            if not isinstance(v, list):
                raise WireError(f"{where} must be a list of tensor metas, got {type(v).__name__}")
            for i, m in enumerate(v):
                used += check_meta(m, buffers, f"{where}[{i}]")
        elif not _type_ok(v, f.type):
            raise WireError(f"{where} must be {_type_name(f.type)}, got {type(v).__name__}")
        if f.check is not None:
            f.check(v)
    if sorted(used) != list(range(len(buffers))):
        raise WireError(f"{op}: the tensor metas use buffer frames {sorted(used)} but the message "
                        f"has {len(buffers)}")
    return header, buffers


def _refuse_ext(code, data):
    raise WireError(f"msgpack extension type {code} is not allowed on the wire")
