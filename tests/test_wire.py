"""The wire format: every dtype and shape round-trips bit-exactly (in-process, over real ZeroMQ
sockets, and through a child process), zero-copy where promised, and every malformed message is
rejected with `WireError` before anything looks at its values."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from tensorweave.runtime import wire
from tensorweave.runtime.wire import TENSOR, TENSORS, Field, WireError

NUMERIC = list(wire.DTYPES)
SHAPES = [(), (0,), (1,), (7,), (3, 4), (2, 0, 3), (2, 3, 4, 5)]

SCHEMA = {
    "tensor": {"step_id": Field(int), "t": Field(TENSOR), "note": Field(str, required=False)},
    "feeds": {"names": Field(list), "ts": Field(TENSORS), "scale": Field(float, required=False)},
}


@pytest.fixture(autouse=True)
def frames_only(monkeypatch):
    """Most tests here are about buffer frames: send every tensor in one (the tests of small
    tensors inside the header switch this back)."""
    monkeypatch.setattr(wire, "INLINE_MAX_BYTES", 0)


def sample(name: str, shape, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    n = int(np.prod(shape, dtype=np.int64))
    if name == "string":
        flat = np.array([bytes(rng.randint(0, 256, rng.randint(0, 6)).astype(np.uint8))
                         for _ in range(n)] + [b""], dtype=object)[:n]
        return flat.reshape(shape)
    dt = wire.DTYPES[name]
    if dt.kind == "b":
        return (rng.rand(n) > 0.5).reshape(shape)
    if dt.kind in "iu":  # all 64 bits random, then wrapped to the dtype
        bits = rng.randint(0, 2**32, size=(n, 2), dtype=np.uint64)
        return ((bits[:, 0] << np.uint64(32)) | bits[:, 1]).astype(dt).reshape(shape)
    if dt.kind == "c":
        return (rng.randn(n) + 1j * rng.randn(n)).astype(dt).reshape(shape)
    v = rng.randn(n).astype(dt)
    if n >= 4:
        v[:4] = [np.inf, -np.inf, np.nan, -0.0]
    return v.reshape(shape)


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    if a.dtype == object:
        assert b.dtype == object
        assert [bytes(x) for x in a.reshape(-1)] == list(b.reshape(-1))
    else:
        assert b.dtype == a.dtype.newbyteorder("<") or b.dtype == a.dtype
        # bit-exact, NaN payloads and -0.0 included
        assert np.ascontiguousarray(a).astype(b.dtype).tobytes() == b.tobytes()


def roundtrip(arr, schema=SCHEMA):
    meta, frames = wire.encode_tensor(arr)
    msg = wire.pack({"op": "tensor", "step_id": 3, "t": meta}, frames)
    # what a peer receives: bytes, not the sender's objects
    received = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in msg]
    header, buffers = wire.unpack(received, schema)
    return wire.decode_tensor(header["t"], buffers), buffers


# ----------------------------------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NUMERIC + ["string"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_roundtrip_every_dtype_and_shape(name, shape):
    a = sample(name, shape)
    b, buffers = roundtrip(a)
    assert_same(a, b)
    if name != "string" and a.size:
        assert not b.flags.writeable
        assert np.shares_memory(b, np.frombuffer(buffers[0], np.uint8)) or not b.flags.aligned


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (2, 3, 4, 5)], ids=str)
def test_small_tensors_travel_inside_the_header(monkeypatch, name, shape):
    monkeypatch.setattr(wire, "INLINE_MAX_BYTES", 256)
    a = sample(name, shape)
    meta, frames = wire.encode_tensor(a)
    inline = a.nbytes <= 256
    assert ("data" in meta) == inline and (frames == []) == inline
    b, buffers = roundtrip(a)
    assert_same(a, b)
    assert not b.flags.writeable


def test_bad_inline_data_is_refused(monkeypatch):
    monkeypatch.setattr(wire, "INLINE_MAX_BYTES", 256)
    meta, _ = wire.encode_tensor(np.arange(3, dtype=np.int64))
    for bad, match in ((dict(meta, data=meta["data"][:-1]), "data must be 24 bytes, got 23"),
                       (dict(meta, data="x" * 24), "data must be 24 bytes, got str"),
                       (dict(meta, frame=0), "more than one of frame, shm and data")):
        with pytest.raises(WireError, match=match):
            wire.unpack(wire.pack({"op": "tensor", "step_id": 1, "t": bad}, [b"\0" * 24]),
                        SCHEMA)


def test_non_contiguous_and_big_endian_inputs_are_made_contiguous_once():
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    for a in (base[::2, 1::3], base.T, base.astype(">f8"), np.asfortranarray(base)):
        meta, frames = wire.encode_tensor(a)
        assert frames[0].flags.c_contiguous and frames[0].dtype == np.dtype("<f8")
        assert meta["nbytes"] == a.size * 8
        b, _ = roundtrip(a)
        np.testing.assert_array_equal(a, b)
    c = np.arange(12, dtype=np.int32)
    assert wire.encode_tensor(c)[1][0] is c  # already fine: sent as is (zero-copy)


def test_scalars_strings_and_fixed_width_numpy_strings():
    assert roundtrip(np.float32(2.5))[0][()] == np.float32(2.5)
    assert roundtrip(True)[0].dtype == np.bool_
    s = np.array([b"a", "b\u00e9", b""], dtype=object)
    assert list(roundtrip(s)[0]) == [b"a", "b\u00e9".encode(), b""]
    assert list(roundtrip(np.array(["xy", "z"]))[0]) == [b"xy", b"z"]
    assert roundtrip(np.array(b"only", dtype=object))[0][()] == b"only"
    with pytest.raises(TypeError, match="bytes or str"):
        wire.encode_tensor(np.array([1, b"a"], dtype=object))


def test_unsupported_dtypes_are_refused_when_sending():
    for a in (np.zeros(2, "datetime64[s]"), np.zeros(2, np.longdouble), np.zeros(2, "V4")):
        with pytest.raises(TypeError, match="cannot send"):
            wire.encode_tensor(a)


def test_several_tensors_in_one_message():
    arrays = [sample("float32", (3, 4)), sample("string", (2,)), sample("int64", (0,)),
              sample("complex128", (5,)), sample("bool", ())]
    metas, frames = wire.encode_tensors(arrays)
    assert [m.get("frame") for m in metas] == [0, None, None, 1, 2]
    header, buffers = wire.unpack(wire.pack({"op": "feeds", "names": ["a"], "ts": metas},
                                            frames), SCHEMA)
    for a, b in zip(arrays, wire.decode_tensors(header["ts"], buffers)):
        assert_same(a, b)


def test_zero_copy_over_real_zmq_sockets():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        for s in (a, b):
            s.setsockopt(zmq.LINGER, 0)
        port = b.bind_to_random_port("tcp://127.0.0.1")
        a.connect(f"tcp://127.0.0.1:{port}")
        x = sample("float64", (256, 256))
        meta, frames = wire.encode_tensor(x)
        a.send_multipart(wire.pack({"op": "tensor", "step_id": 1, "t": meta}, frames), copy=False)
        assert b.poll(5000)
        received = b.recv_multipart(copy=False)
        header, buffers = wire.unpack(received, SCHEMA)
        y = wire.decode_tensor(header["t"], buffers)
        np.testing.assert_array_equal(x, y)
        assert np.shares_memory(y, np.frombuffer(received[1].buffer, np.uint8))
    finally:
        a.close(0)
        b.close(0)
        ctx.term()


CHILD = textwrap.dedent("""
    import sys, zmq
    from tensorweave.runtime import wire
    schema = {"tensor": {"step_id": wire.Field(int), "t": wire.Field(wire.TENSOR)},
              "stop": {}}
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.setsockopt(zmq.LINGER, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(sys.argv[1])
    print(port, flush=True)
    while pull.poll(20000):
        frames = pull.recv_multipart(copy=False)
        try:
            header, buffers = wire.unpack(frames, schema)
        except wire.WireError as e:
            push.send_multipart(wire.pack({"op": "error", "msg": str(e)}))
            continue
        if header["op"] == "stop":
            break
        arr = wire.decode_tensor(header["t"], buffers)
        meta, out = wire.encode_tensor(arr)
        push.send_multipart(wire.pack({"op": "tensor", "step_id": header["step_id"], "t": meta},
                                      out), copy=False)
    pull.close(0); push.close(0); ctx.term()
""")


def test_roundtrip_through_a_child_process():
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    for s in (pull, push):
        s.setsockopt(zmq.LINGER, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, f"tcp://127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, text=True)
    try:
        push.connect(f"tcp://127.0.0.1:{proc.stdout.readline().strip()}")
        schema = dict(SCHEMA, error={"msg": Field(str)})
        cases = [(n, s) for n in NUMERIC + ["string"] for s in ((), (0, 3), (5, 7))]
        cases.append(("float32", (300, 400)))  # a large frame
        for i, (name, shape) in enumerate(cases):
            a = sample(name, shape, seed=i)
            meta, frames = wire.encode_tensor(a)
            push.send_multipart(wire.pack({"op": "tensor", "step_id": i, "t": meta}, frames),
                                copy=False)
            assert pull.poll(10000), f"no echo for {name}{shape}"
            header, buffers = wire.unpack(pull.recv_multipart(copy=False), schema)
            assert header["op"] == "tensor" and header["step_id"] == i
            assert_same(a, wire.decode_tensor(header["t"], buffers))
        # the child rejects a malformed message and keeps serving
        push.send_multipart([b"\xc1garbage"])
        assert pull.poll(10000)
        header, _ = wire.unpack(pull.recv_multipart(), schema)
        assert header["op"] == "error" and "msgpack" in header["msg"]
        push.send_multipart(wire.pack({"op": "stop"}))
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pull.close(0)
        push.close(0)
        ctx.term()


# ----------------------------------------------------------------------------------------------
# malformed messages
# ----------------------------------------------------------------------------------------------
def good_message():
    meta, frames = wire.encode_tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    return {"op": "tensor", "step_id": 1, "t": meta}, frames


def raw(header_bytes, frames=()):
    return [header_bytes, *[bytes(f) for f in frames]]


@pytest.mark.parametrize("header_bytes, match", [
    (b"", "msgpack"),
    (b"\xc1", "msgpack"),                                          # never-used byte
    (msgpack.packb({"op": "tensor"}) + b"\x00", "msgpack"),        # trailing data
    (msgpack.packb({"op": "tensor"})[:-3], "msgpack"),             # truncated header
    (msgpack.packb([1, 2]), "must be a msgpack map"),
    (msgpack.packb({1: 2}), "msgpack"),                            # non-str key
    (msgpack.packb({"op": "rm -rf"}), "unknown op"),
    (msgpack.packb({"op": 5}), "unknown op"),
    (msgpack.packb({"step_id": 1}), "unknown op"),
    (msgpack.packb({"op": "tensor", "step_id": msgpack.ExtType(1, b"x")}), "extension type"),
    (msgpack.packb({"op": "tensor", "step_id": msgpack.Timestamp(1)}), "got Timestamp"),
])
def test_bad_headers(header_bytes, match):
    with pytest.raises(WireError, match=match):
        wire.unpack([header_bytes], SCHEMA)


def test_pickle_payloads_are_just_bad_msgpack():
    import pickle
    with pytest.raises(WireError):
        wire.unpack([pickle.dumps({"op": "tensor"})], SCHEMA)
    from tensorweave.runtime import rendezvous, shm, transport
    for mod in (wire, shm, rendezvous, transport):
        src = open(mod.__file__).read()
        assert "import pickle" not in src and "marshal" not in src and "eval(" not in src


@pytest.mark.parametrize("edit, match", [
    (lambda h: h.pop("step_id"), "missing field 'step_id'"),
    (lambda h: h.update(extra=1), "unknown fields"),
    (lambda h: h.update(step_id="1"), "step_id must be int, got str"),
    (lambda h: h.update(step_id=True), "step_id must be int, got bool"),
    (lambda h: h.update(step_id=1.5), "step_id must be int, got float"),
    (lambda h: h.update(note=b"x"), "note must be str, got bytes"),
    (lambda h: h.update(t=[1, 2]), "tensor meta must be a map"),
    (lambda h: h["t"].update(dtype="object"), "unknown dtype 'object'"),
    (lambda h: h["t"].update(dtype="variant"), "unknown dtype"),
    (lambda h: h["t"].update(shape=[2, -3]), "non-negative integer"),
    (lambda h: h["t"].update(shape=[2, 3.0]), "non-negative integer"),
    (lambda h: h["t"].update(shape="2,3"), "shape must be a list"),
    (lambda h: h["t"].update(shape=[1] * 65), "at most 64"),
    (lambda h: h["t"].update(nbytes=25), "does not match shape"),
    (lambda h: h["t"].update(shape=[3, 3]), "does not match shape"),
    (lambda h: h["t"].update(frame=1), "frame 1 is missing"),
    (lambda h: h["t"].update(frame=-1), "non-negative"),
    (lambda h: h["t"].pop("frame"), "names neither a frame nor shm"),
    (lambda h: h["t"].update(pickle=b"cos\nsystem"), "unknown fields"),
    (lambda h: h["t"].update(shm=["tw-1-0badcafe-0", 0]), "more than one of frame, shm"),
])
def test_bad_fields_and_metas(edit, match):
    header, frames = good_message()
    edit(header)
    with pytest.raises(WireError, match=match):
        wire.unpack(wire.pack(header, frames), SCHEMA)


def test_frames_must_match_the_metas():
    header, frames = good_message()
    with pytest.raises(WireError, match="frame 0 is missing"):
        wire.unpack(wire.pack(header), SCHEMA)                          # truncated message
    with pytest.raises(WireError, match="holds 23 bytes"):
        wire.unpack(raw(msgpack.packb(header), [bytes(frames[0])[:-1]]), SCHEMA)
    with pytest.raises(WireError, match="holds 25 bytes"):
        wire.unpack(raw(msgpack.packb(header), [bytes(frames[0]) + b"\0"]), SCHEMA)
    with pytest.raises(WireError, match="use buffer frames \\[0\\] but the message has 2"):
        wire.unpack(wire.pack(header, [frames[0], b"extra"]), SCHEMA)
    metas, fr = wire.encode_tensors([np.zeros(2), np.ones(2)])
    metas[1]["frame"] = 0                                                # two metas, one frame
    with pytest.raises(WireError, match="use buffer frames \\[0, 0\\]"):
        wire.unpack(wire.pack({"op": "feeds", "names": [], "ts": metas}, fr[:1]), SCHEMA)
    with pytest.raises(WireError, match="must be a list of tensor metas"):
        wire.unpack(wire.pack({"op": "feeds", "names": [], "ts": {}}), SCHEMA)


def test_bad_string_and_shm_metas():
    cases = [
        ({"dtype": "string", "shape": [2], "strings": [b"a"]}, "list of 2 strings"),
        ({"dtype": "string", "shape": [1], "strings": ["a"]}, "must be bytes"),
        ({"dtype": "string", "shape": [1], "strings": [b"a"], "nbytes": 1}, "unknown fields"),
        ({"dtype": "float32", "shape": [2], "nbytes": 8, "shm": ["../../etc/passwd", 0]},
         "segment name"),
        ({"dtype": "float32", "shape": [2], "nbytes": 8, "shm": ["tw-1-0badcafe-0"]},
         "segment name"),
        ({"dtype": "float32", "shape": [2], "nbytes": 8, "shm": ["tw-1-0badcafe-0", -8]},
         "offset"),
    ]
    for meta, match in cases:
        with pytest.raises(WireError, match=match):
            wire.unpack(wire.pack({"op": "tensor", "step_id": 0, "t": meta}), SCHEMA)
    ok = {"dtype": "float32", "shape": [2], "nbytes": 8, "shm": ["tw-1-0badcafe-0", 0]}
    header, _ = wire.unpack(wire.pack({"op": "tensor", "step_id": 0, "t": ok}), SCHEMA)
    with pytest.raises(WireError, match="no ShmReader"):
        wire.decode_tensor(header["t"], [])


def test_field_checks_and_float_fields():
    def positive(v):
        if v <= 0:
            raise WireError("step_id must be positive")
    schema = {"tensor": dict(SCHEMA["tensor"], step_id=Field(int, check=positive))}
    header, frames = good_message()
    header["step_id"] = 0
    with pytest.raises(WireError, match="positive"):
        wire.unpack(wire.pack(header, frames), schema)
    h, _ = wire.unpack(wire.pack({"op": "feeds", "names": [], "ts": [], "scale": 2}), SCHEMA)
    assert h["scale"] == 2


@given(st.binary(max_size=64), st.lists(st.binary(max_size=16), max_size=3))
def test_random_bytes_only_ever_raise_wire_error(head, rest):
    try:
        header, buffers = wire.unpack([head, *rest], SCHEMA)
    except WireError:
        return
    # the rare random message that is valid decodes to what it says
    if header["op"] == "tensor":
        wire.decode_tensor(header["t"], buffers)


@given(st.sampled_from(NUMERIC), st.lists(st.integers(0, 4), max_size=4),
       st.integers(0, 2**16))
def test_random_shapes_roundtrip(name, shape, seed):
    a = sample(name, tuple(shape), seed)
    assert_same(a, roundtrip(a)[0])


def test_pack_refuses_headers_without_op():
    with pytest.raises(TypeError, match="'op'"):
        wire.pack({"step_id": 1})
    assert os.path.basename(wire.__file__) == "wire.py"


@pytest.mark.parametrize("meta", [
    {"dtype": "float32", "shape": [0, 2**63], "nbytes": 0},            # issue 10, item 1
    {"dtype": "float32", "shape": [0, 2**62], "nbytes": 0},
    {"dtype": "int8", "shape": [0, 2**40, 2**40], "nbytes": 0},
    {"dtype": "string", "shape": [0, 2**63], "strings": []},
    {"dtype": "float64", "shape": [2**64 - 1, 0], "nbytes": 0},
])
def test_empty_tensors_of_absurd_shape_are_wire_errors(meta):
    # every dimension may be legal and the size 0, yet numpy cannot make such an array
    with pytest.raises(WireError, match="too big"):
        wire.unpack(wire.pack({"op": "tensor", "step_id": 0, "t": meta}), SCHEMA)
    with pytest.raises(WireError, match="too big"):
        wire.decode_tensor(meta, [])


@pytest.mark.parametrize("meta, match", [
    ({"dtype": "float32", "shape": [2**31, 2**31], "nbytes": 2**63}, "too big"),
    ({"dtype": "float32", "shape": [-1], "nbytes": 0}, "non-negative"),
    ({"dtype": "float32", "shape": [2], "nbytes": -8}, "non-negative"),
    ({"dtype": "float32", "shape": [2], "nbytes": "8"}, "non-negative"),
    ({"dtype": "float32", "shape": [2], "nbytes": 8.0}, "non-negative"),
    ({"dtype": "float32", "shape": [None], "nbytes": 0}, "non-negative"),
    ({"dtype": "float32", "shape": [True], "nbytes": 4}, "non-negative"),
    ({"dtype": "float32", "shape": [2], "nbytes": 8, "frame": "0"}, "non-negative"),
    ({"dtype": "float32", "shape": [2], "nbytes": 8, "frame": 2**64 - 1}, "missing"),
    ({"dtype": b"float32", "shape": [2], "nbytes": 8}, "unknown dtype"),
    ({"dtype": None, "shape": [2], "nbytes": 8}, "unknown dtype"),
    ({"dtype": "float32", "shape": {"a": 1}, "nbytes": 8}, "shape must be a list"),
    ({"dtype": "float32", "shape": [2], "nbytes": 8, "data": "abcdefgh"}, "data must be"),
    ({"dtype": "string", "shape": [1], "strings": b"a"}, "list of 1 strings"),
])
def test_hostile_fields_of_a_meta_are_wire_errors(meta, match):
    with pytest.raises(WireError, match=match):
        wire.unpack(wire.pack({"op": "tensor", "step_id": 0, "t": meta}), SCHEMA)


def test_a_full_shared_memory_directory_falls_back_to_a_frame(monkeypatch):
    import errno
    import os

    from tensorweave.runtime.shm import ShmArena

    def no_room(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", no_room)
    arena = ShmArena()
    try:
        x = np.arange(1 << 16, dtype=np.float32)                # 256 KiB: would go by shm
        meta, frames = wire.encode_tensor(x, arena)
        assert "shm" not in meta and len(frames) == 1 and frames[0] is x
        (got,) = wire.decode_tensors([meta], frames, None)
        np.testing.assert_array_equal(got, x)
    finally:
        arena.close()
