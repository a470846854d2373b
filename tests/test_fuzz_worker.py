"""Fuzz the sockets of live workers (issue 10, "a fuzz test").

A session with two CPU devices starts two worker processes; its step crosses devices both ways
(a 256 KiB matrix through shared memory and a small vector inline, `/cpu:0` -> `/cpu:1` ->
`/cpu:0`), so both workers' data sockets carry the real tensors.  After one real step gives the
good answer, 10,000 random and mutated messages (fixed seed: every run sends the same bytes) go
to every socket each worker listens on -- its control ROUTER (through a DEALER) and its data
PULL (through a PUSH), 2,500 each, in rounds that interleave the four sockets -- plus a few
connections that write raw bytes where the ZeroMQ handshake is expected.

The messages are (a) random frames: 1..4 frames of 0..2 KiB of random bytes, and (b) mutations
of valid requests and tensor/release messages (and of the hand-made hostile messages of
`test_hostile_messages`): flipped, inserted, deleted or overwritten bytes, truncated frames,
fields removed, added, swapped or replaced by values of other types (huge ints, NaN, a
timestamp, an extension type, map keys that are not strings, arrays nested thousands deep,
headers claiming gigabytes), frames added, removed, duplicated or reordered.

What a mutation leaves valid acts on the worker, so it is kept harmless (and said so where it is
done, `_defuse`): a valid `shutdown` or `reset` is left out (it would rightly stop the worker or
drop its variables), the handle of a valid `run_graph`/`deregister_graph` is moved away from
the real ones, and the step id of a valid `run_graph`, `abort_step` or tensor is moved to ids no
master ever uses (a real step id is `(master_id << 40) | n`, and `n` never reaches 2**39).

Each round waits for the worker to have taken what it was sent (the replies to the control
requests that are valid, and at least as many data drops as messages this process's own
`wire.unpack` rejects), so nothing is lost to a high-water mark.  Afterwards: every valid
request got exactly one well-formed reply, the real step still runs (several times, on new
values) and gives numpy's numbers, both workers answer `status` with the same pids, are alive,
and counted the drops; closing the session leaves no worker process and no shared memory.
So that `run_graph` requests get past the handle lookup (to decoding their feeds and running
kernels on them), each worker also gets a graph of the fuzz's own (`out = p * 2`) to run.

Every message's fate is first asked of this process's own `wire.unpack`, which must accept it
or raise `WireError`, nothing else.  The fuzz found one bug that way, a control request whose
feed meta had a list for its dtype: `wire.unpack` raised TypeError and the worker's control
loop let it out, killing the worker; the last test keeps those bytes.
"""
from __future__ import annotations

import math
import os
import random
import socket as pysocket
import struct
import tempfile
import time

import msgpack
import numpy as np
import psutil
import pytest
import zmq
from test_hostile_messages import HOSTILE_METAS, hostile_tensor_messages, wait_for

import tensorweave as tw
from tensorweave.runtime import dgram, rpc, shm, transport, wire

SEED = 0x7E1510
N_MESSAGES = 10_000
#: Messages sent to each socket between two checks that the worker took them.
CHUNK = 100
#: Raw-byte connections per listening socket (in addition to the ZeroMQ messages).
RAW_STREAMS = 10
TIMEOUT_S = 30.0
STEP_OPTS = tw.RunOptions(timeout_in_ms=30_000)

#: Step ids with bit 39 set are no master's: `n` of `(master_id << 40) | n` never gets there.
FUZZ_STEP = 1 << 39
#: Handles no worker of this test hands out (a worker counts its handles up from 1).
FUZZ_HANDLE = 10**9
#: The id of the `status` requests that close each round.
PROBE_ID = 2**62

CONTROL_OPS = sorted(rpc.REQUESTS)
DATA_OPS = sorted(transport.SCHEMA)
ALL_FIELDS = sorted({f for s in (rpc.REQUESTS, transport.SCHEMA) for fs in s.values() for f in fs}
                    | {"op", "dtype", "shape", "nbytes", "frame", "shm", "data", "strings"})

#: Values of every msgpack type and of the sizes and kinds that checks get wrong.
WEIRD = [None, True, False, 0, -1, 1, 255, 2**31, 2**32, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1,
         0.0, -0.0, 0.5, 1e308, -1e308, math.nan, math.inf, -math.inf, "", "x", "\x00",
         "x" * 5000, "\u2603" * 100, b"", b"\x00", b"\xff" * 300, [], [[]], [None] * 3, {},
         {"op": "ping"}, {1: 2}, {b"k": 1}, [1] * 5000, list(range(10)),
         msgpack.ExtType(5, b"x"), msgpack.ExtType(127, b"\x00" * 4), msgpack.Timestamp(0),
         "tw-1-00000000-0", "tw-4242-0000000a-1", "ipc:///nonexistent/tw",
         "tcp://127.0.0.1:9", "inproc://tw-replies-1", "/job:localhost/replica:0/task:0/device:CPU:0",
         "float32", "string", "int64", ["x", 1], [2**40, "/a", "/b", "n"]]

#: Raw msgpack values that no `packb` writes: deep nesting, lengths claiming gigabytes, the
#: reserved byte, truncated numbers.
RAW_VALUES = [b"\x91" * 100 + b"\xc0", b"\x91" * 5000 + b"\xc0", b"\x81\xa1k" * 3000 + b"\xc0",
              b"\xdd\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\x7f\xff\xff\xff",
              b"\xdf\xff\xff\xff\xff", b"\xc1", b"\xcf\xff", b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01",
              b"\xd4\xff\x00", b"\xc7\x08\xff" + b"\x00" * 8, b"\xd9\x03\xff\xfe\xfd", b""]

INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xC0, 0xC1, 0xC2, 0xC3,
                     0xC4, 0xCA, 0xCB, 0xCF, 0xD3, 0xD9, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xFF]

#: The ZMTP 3 greeting's signature, to get a raw stream past the first bytes of the handshake.
ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00NULL" + b"\x00" * 16


# ----------------------------------------------------------------------------------------------
# the session
# ----------------------------------------------------------------------------------------------
def _expected(xv, vv, w):
    a = xv * 2.0
    y = a @ w + vv.sum()
    return (y * 0.5).sum(axis=1), (vv * 3.0 - 1.0) * 2.0


@pytest.fixture
def session():
    """A two-worker session, its fetches and feeds; afterwards no process or segment is left."""
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((256, 256)).astype(np.float32)
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:0"):
            x = tw.placeholder(tw.float32, [256, 256], name="x")
            v = tw.placeholder(tw.float32, [8], name="v")
            a = x * 2.0
        with tw.device("/cpu:1"):
            y = tw.matmul(a, tw.constant(w)) + tw.reduce_sum(v)   # 256 KiB in, through shm
            u = v * 3.0 - 1.0                                     # 32 bytes, inline
        with tw.device("/cpu:0"):
            out = (tw.reduce_sum(y * 0.5, axis=1), u * 2.0)       # both come back
    children = {c.pid for c in psutil.Process().children()}
    sess = tw.Session(graph=g, config=tw.ConfigProto(device_count={"CPU": 2}))
    workers = list(sess._master.workers.values())
    procs = [wi.proc for wi in workers]
    pids = [wi.pid for wi in workers]
    try:
        yield sess, out, (x, v), w, rng
    finally:
        sess.close()
        wait_for(lambda: all(p.poll() is not None for p in procs), 20.0, "the workers to exit")
        left = [c for c in psutil.Process().children() if c.pid not in children]
        assert not left, f"processes left behind: {left}"
        wait_for(lambda: not any(shm.segment_files(p) for p in pids), 10.0,
                 "the workers' shared-memory segments to go")


def _run_and_check(sess, out, feeds, w, rng):
    xv = rng.standard_normal((256, 256)).astype(np.float32)
    vv = rng.standard_normal(8).astype(np.float32)
    got = sess.run(out, feed_dict={feeds[0]: xv, feeds[1]: vv}, options=STEP_OPTS)
    want = _expected(xv, vv, w)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# seeds: valid messages (and the hostile ones of test_hostile_messages)
# ----------------------------------------------------------------------------------------------
_PID_PREFIX = f"tw-{os.getpid()}-"


def _no_pid(v):
    """`v` with this process's pid in segment names replaced by a fixed one (the hostile metas
    name one), so that every run, whatever its pid, mutates the same bytes."""
    if isinstance(v, str):
        return v.replace(_PID_PREFIX, "tw-4242-")
    if isinstance(v, list):
        return [_no_pid(x) for x in v]
    if isinstance(v, dict):
        return {k: _no_pid(x) for k, x in v.items()}
    return v


def _tensor(arr):
    meta, frames = wire.encode_tensor(arr)
    return meta, [bytes(memoryview(f).cast("B")) for f in frames]


def _control_seeds(graph_bytes: bytes, handle: int) -> list[list[bytes]]:
    """Valid control requests (and ones that must be rejected); `handle`: the graph the test
    registered for the fuzz (`p` -> `out = p * 2`), whose steps do run."""
    small, _ = _tensor(np.arange(6, dtype=np.float32))
    big, big_frames = _tensor(np.arange(300, dtype=np.int32))
    strings, _ = _tensor(np.array([b"a", b"bc"], dtype=object))
    step = FUZZ_STEP + 1
    seeds = [
        wire.pack({"op": "ping", "id": 1}),
        wire.pack({"op": "status", "id": 2}),
        wire.pack({"op": "run_graph", "id": 3, "handle": FUZZ_HANDLE, "step": step,
                   "feeds": [small, strings]}),
        wire.pack({"op": "run_graph", "id": 4, "handle": FUZZ_HANDLE, "step": step + 1,
                   "feeds": [big, small], "timeout": 1.5,
                   "released": ["tw-1-00000000-0", 7]}, big_frames),
        wire.pack({"op": "run_graph", "id": 5, "handle": FUZZ_HANDLE, "step": step + 2,
                   "feeds": [{"dtype": "float32", "shape": [4], "nbytes": 16,
                              "shm": ["tw-4242-0badf00d-1", 0]}]}),
        wire.pack({"op": "abort_step", "id": 6, "step": step + 3, "message": "fuzz"}),
        wire.pack({"op": "release", "names": ["tw-1-00000000-0", "tw-4242-00000001-2"]}),
        wire.pack({"op": "register_graph", "id": 7, "graph": graph_bytes, "feeds": [["p:0", "p"]],
                   "fetches": ["nope:0"], "targets": [], "peers": {}, "session": "fuzz"}),
        wire.pack({"op": "register_graph", "id": 8, "graph": b"\x0a\x05junk" * 3, "feeds": [],
                   "fetches": [], "targets": ["t"], "peers": {"/cpu:9": ["ipc:///x", True]},
                   "session": "fuzz", "inline": True, "config": {"a": 1}}),
        wire.pack({"op": "deregister_graph", "id": 9, "handle": FUZZ_HANDLE}),
        # shutdown and reset only in forms that must be rejected: their valid forms would
        # rightly stop the worker or drop its variables (`_defuse` leaves out any that become
        # valid)
        wire.pack({"op": "shutdown", "id": "10"}),
        wire.pack({"op": "reset", "id": 11, "now": True}),
    ]
    seeds += [wire.pack({"op": "run_graph", "id": 12, "handle": FUZZ_HANDLE, "step": step,
                         "feeds": [_no_pid(m)]}) for m in HOSTILE_METAS]
    seeds += [wire.pack({"op": "run_graph", "id": 13, "handle": handle, "step": step + 4,
                         "feeds": [small], "timeout": 5.0}),
              wire.pack({"op": "run_graph", "id": 14, "handle": handle, "step": step + 5,
                         "feeds": [big]}, big_frames),
              wire.pack({"op": "run_graph", "id": 15, "handle": handle, "step": step + 6,
                         "feeds": [strings]}),
              wire.pack({"op": "run_graph", "id": 16, "handle": handle, "step": step + 7,
                         "feeds": [small, small]}),
              wire.pack({"op": "run_graph", "id": 17, "handle": handle, "step": step + 8,
                         "feeds": []}),
              wire.pack({"op": "run_graph", "id": 19, "handle": handle, "step": step + 10,
                         "feeds": [small], "via": b"tw-fuzz-dealer"})]
    seeds += [wire.pack({"op": "run_graph", "id": 18, "handle": handle, "step": step + 9,
                         "feeds": [_no_pid(m)]}) for m in HOSTILE_METAS]
    return seeds


def _data_seeds(devices: list[str]) -> list[list[bytes]]:
    src, dst = devices[1], devices[0]
    step = FUZZ_STEP + 2
    seeds = []
    for i, arr in enumerate([np.arange(6, dtype=np.float32), np.arange(100, dtype=np.int64),
                             np.zeros((0, 3), np.float64), np.array(True),
                             np.array([b"x", b"yz"], dtype=object)]):
        meta, frames = _tensor(arr)
        seeds.append(wire.pack({"op": "tensor", "key": [step + i, src, dst, f"t{i}:0"], "t": meta},
                               frames))
    seeds.append(wire.pack({"op": "tensor", "key": [step, src, dst, "s:0"],
                            "t": {"dtype": "float32", "shape": [64], "nbytes": 256,
                                  "shm": ["tw-4242-0badf00d-3", 0]},
                            "reply_to": "ipc:///nonexistent/tw-fuzz"}))
    seeds.append(wire.pack({"op": "release", "names": ["tw-1-00000000-0"]}))
    two = [_tensor(np.arange(3, dtype=np.float32)), _tensor(np.arange(100, dtype=np.int16))]
    seeds.append(wire.pack({"op": "tensors", "key": None, "keys": [
        [step + 7, src, dst, "u:0"], [step + 7, src, dst, "v:0"]],
        "ts": [two[0][0], dict(two[1][0], frame=0)], "ttl": 2.0}, two[1][1]))
    seeds[-1] = [msgpack.packb({k: v for k, v in msgpack.unpackb(seeds[-1][0]).items()
                                if k != "key"}, use_bin_type=True), *seeds[-1][1:]]
    seeds += [[msgpack.packb(_no_pid(msgpack.unpackb(m[0])), use_bin_type=True), *m[1:]]
              for m in hostile_tensor_messages([step, src, dst, "h:0"])]
    return [[bytes(f) if not isinstance(f, bytes) else f for f in m] for m in seeds]


# ----------------------------------------------------------------------------------------------
# mutations
# ----------------------------------------------------------------------------------------------
def _random_bytes(rng: random.Random) -> bytes:
    n = rng.choice([0, 1, 2, 3, 8, rng.randint(0, 64), rng.randint(0, 2048)])
    b = rng.randbytes(n)
    if b and rng.random() < 0.3:  # a map header first, to get a little further into msgpack
        b = bytes([rng.choice([0x81, 0x82, 0x83, 0x84, 0x8F, 0xDE, 0xDF])]) + b[1:]
    return b


def _random_frames(rng: random.Random) -> list[bytes]:
    return [_random_bytes(rng) for _ in range(rng.randint(1, 4))]


def _mutate_bytes(rng: random.Random, b: bytes) -> bytes:
    b = bytearray(b)
    kind = rng.randrange(8)
    if not b or kind == 0:          # insert random bytes
        i = rng.randint(0, len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 16))
    elif kind == 1:                 # flip bits
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 2:                 # overwrite with a byte msgpack cares about
        b[rng.randrange(len(b))] = rng.choice(INTERESTING_BYTES)
    elif kind == 3:                 # delete a range
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 16)]
    elif kind == 4:                 # truncate
        del b[rng.randrange(len(b)):]
    elif kind == 5:                 # duplicate a slice
        i = rng.randrange(len(b))
        j = rng.randint(i, min(len(b), i + 32))
        b[j:j] = b[i:j]
    elif kind == 6:                 # append garbage
        b += rng.randbytes(rng.randint(1, 64))
    else:                           # overwrite a run
        i = rng.randrange(len(b))
        n = rng.randint(1, 8)
        b[i:i + n] = bytes([rng.choice(INTERESTING_BYTES)]) * n
    return bytes(b)


def _weird(rng: random.Random):
    r = rng.random()
    if r < 0.6:
        return rng.choice(WEIRD)
    if r < 0.75:
        return rng.getrandbits(rng.choice([7, 16, 32, 63, 64])) * rng.choice([1, -1])
    if r < 0.85:
        return rng.randbytes(rng.randint(0, 300))
    v = rng.choice(WEIRD)
    for i in range(rng.randint(1, 20)):   # nested (doubled at most 3 times: it stays small)
        v = rng.choice([[v], {"k": v}, [v, v]] if i < 3 else [[v], {"k": v}])
    return v


def _mutate_value(rng: random.Random, v, depth: int = 0):
    """`v` with one thing in it changed (a nested container's element, a string's bytes, ...)."""
    if isinstance(v, dict) and v and depth < 4 and rng.random() < 0.7:
        return _mutate_map(rng, dict(v), depth + 1)
    if isinstance(v, list) and v and depth < 4 and rng.random() < 0.7:
        v = list(v)
        i = rng.randrange(len(v))
        op = rng.randrange(4)
        if op == 0:
            del v[i]
        elif op == 1:
            v.insert(i, _weird(rng))
        elif op == 2:
            v[i] = _mutate_value(rng, v[i], depth + 1)
        else:
            v = v * rng.choice([2, 3, 100])
        return v
    if isinstance(v, bytes) and rng.random() < 0.7:
        return _mutate_bytes(rng, v)
    if isinstance(v, str) and rng.random() < 0.7:
        return _mutate_bytes(rng, v.encode()).decode("utf-8", "replace")
    if isinstance(v, int) and not isinstance(v, bool) and rng.random() < 0.5:
        return rng.choice([v + 1, v - 1, -v, v * 2**32, v ^ (1 << rng.randrange(64))])
    return _weird(rng)


def _typed(rng: random.Random, v, depth: int = 0):
    """A value of `v`'s type that checks of that type may get wrong (so more of the fuzz gets
    past the schema)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rng.choice([0, -1, 1, 2**31, 2**63 - 1, -2**63, 2**64 - 1, v + 1, v - 1,
                           rng.getrandbits(64)])
    if isinstance(v, float):
        return rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 1e300, v * 2])
    if isinstance(v, str):
        return rng.choice(["", "x" * 1000, "\u2603", ":0", "p:0", "p", "/job:x/device:CPU:0",
                           "tw-1-00000000-0", "ipc:///nonexistent/tw", "tcp://127.0.0.1:9",
                           _mutate_bytes(rng, v.encode()).decode("utf-8", "replace")])
    if isinstance(v, bytes):
        return rng.choice([b"", rng.randbytes(rng.randint(1, 300)), _mutate_bytes(rng, v)])
    if isinstance(v, list):
        if v and depth < 4 and rng.random() < 0.6:
            v = list(v)
            i = rng.randrange(len(v))
            v[i] = _typed(rng, v[i], depth + 1)
            return v
        return rng.choice([[], v * 2, v[:-1], v[::-1], [_weird(rng)] + v])
    if isinstance(v, dict):
        if v and depth < 4 and rng.random() < 0.8:
            v = dict(v)
            k = rng.choice(list(v))
            v[k] = _typed(rng, v[k], depth + 1)
            return v
        return rng.choice([{}, {"x": 1}, dict(v, x=_weird(rng))])
    return _weird(rng)


def _random_meta(rng: random.Random, frame: int = 0) -> tuple[dict, list[bytes]]:
    """A tensor meta that may well pass `check_meta` (and its frames): any dtype, shape and
    location."""
    dtype = rng.choice(list(wire.DTYPES) + ["string"])
    if rng.random() < 0.02:         # (the bug the fuzz found: an unhashable dtype)
        return {"dtype": rng.choice([[], ["float32"], {}, {"a": 1}]), "shape": [], "nbytes": 0}, []
    shape = [rng.choice([0, 1, 2, 3, 5]) for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 8]))]
    if rng.random() < 0.05:
        shape = rng.choice([[0, 2**62], [2**31, 0], [1] * 32, [2**20, 2**20]])
    size = math.prod(shape)
    if dtype == "string":
        return {"dtype": dtype, "shape": shape,
                "strings": [rng.randbytes(rng.randint(0, 5)) for _ in range(min(size, 64))]}, []
    nbytes = size * wire.DTYPES[dtype].itemsize
    if rng.random() < 0.1:
        nbytes += rng.choice([-1, 1, 2**63])
    meta = {"dtype": dtype, "shape": shape, "nbytes": nbytes}
    where = rng.randrange(4)
    if where == 0 and nbytes < 4096:
        meta["data"] = rng.randbytes(max(nbytes, 0))
    elif where == 1 and nbytes < 4096:
        meta["frame"] = frame
        return meta, [rng.randbytes(max(nbytes, 0))]
    elif where == 2:
        meta["shm"] = [f"tw-{rng.randint(1, 99999)}-{rng.getrandbits(32):08x}-{rng.randint(0, 9)}",
                       rng.choice([0, 8, 4096, 2**40])]
    return meta, []


def _mutate_map(rng: random.Random, h: dict, depth: int = 0) -> dict:
    keys = list(h)
    op = rng.randrange(8)
    if op >= 6 and keys:            # a value of the same type (it may pass the schema)
        k = rng.choice([k for k in keys if k != "op"] or keys)
        h[k] = _typed(rng, h[k])
        return h
    if op == 0 and keys:            # drop a field
        del h[rng.choice(keys)]
    elif op == 1:                   # add a field (known somewhere, or not at all)
        h[rng.choice(ALL_FIELDS + ["", "x" * 100])] = _weird(rng)
    elif op == 2 and len(keys) > 1:  # swap two fields' values
        k1, k2 = rng.sample(keys, 2)
        h[k1], h[k2] = h[k2], h[k1]
    elif op == 3 and "op" in h and depth == 0:  # another op with these fields
        h["op"] = rng.choice(CONTROL_OPS + DATA_OPS + ["reply", "", "PING"])
    elif keys:                      # change one field's value
        k = rng.choice(keys)
        h[k] = _mutate_value(rng, h[k], depth)
    return h


def _pack_raw(h: dict, key, raw: bytes) -> bytes:
    """`h` packed as a map with `raw` spliced in as the value of `key`."""
    h = dict(h)
    h.setdefault(key, None)
    out = bytearray(b"\xdf" + len(h).to_bytes(4, "big"))
    for k, v in h.items():
        out += msgpack.packb(k, use_bin_type=True)
        out += raw if k == key else msgpack.packb(v, use_bin_type=True)
    return bytes(out)


def _mutate_header(rng: random.Random, head: bytes) -> bytes:
    try:
        h = msgpack.unpackb(head, raw=False, strict_map_key=False)
    except Exception:  # noqa: BLE001 - already broken: keep breaking its bytes
        return _mutate_bytes(rng, head)
    if not isinstance(h, dict) or rng.random() < 0.3:
        return _mutate_bytes(rng, head)
    if rng.random() < 0.15:
        try:
            return _pack_raw(h, rng.choice(list(h) or ["op"]), rng.choice(RAW_VALUES))
        except (TypeError, ValueError, OverflowError):
            return _mutate_bytes(rng, head)
    for _ in range(rng.randint(1, 3)):
        h = _mutate_map(rng, h)
    try:
        return msgpack.packb(h, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):  # e.g. nested deeper than packb goes
        return _mutate_bytes(rng, head)


def _mutate_frames(rng: random.Random, msg: list[bytes], seeds) -> list[bytes]:
    msg = list(msg)
    op = rng.randrange(7)
    if op == 0 and len(msg) > 1:
        del msg[rng.randrange(len(msg))]
    elif op == 1:
        msg.insert(rng.randint(0, len(msg)), _random_bytes(rng))
    elif op == 2:
        msg.insert(rng.randint(0, len(msg)), rng.choice(msg))
    elif op == 3 and len(msg) > 1:
        i, j = rng.sample(range(len(msg)), 2)
        msg[i], msg[j] = msg[j], msg[i]
    elif op == 4 and len(msg) > 1:  # a buffer frame of another length
        i = rng.randrange(1, len(msg))
        msg[i] = msg[i][:rng.randint(0, len(msg[i]))] if rng.random() < 0.5 else \
            msg[i] + rng.randbytes(rng.randint(1, 64))
    elif op == 5:                   # another message's header, or its frames
        other = rng.choice(seeds)
        msg = [other[0]] + msg[1:] if rng.random() < 0.5 else msg[:1] + other[1:]
    else:
        msg.append(b"")
    return msg


def _with_random_metas(rng: random.Random, msg: list[bytes]) -> list[bytes]:
    """`msg` with its tensor meta(s) (`t`, `feeds`) replaced by `_random_meta`s."""
    try:
        h = msgpack.unpackb(msg[0], raw=False)
    except Exception:  # noqa: BLE001 - not a header we can read: leave it
        return msg
    if not isinstance(h, dict):
        return msg
    frames: list[bytes] = []
    if "t" in h:
        h["t"], frames = _random_meta(rng)
    elif "feeds" in h and h.get("op") == "run_graph":
        h["feeds"] = []
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            m, f = _random_meta(rng, len(frames))
            h["feeds"].append(m)
            frames += f
    else:
        return msg
    return [msgpack.packb(h, use_bin_type=True)] + frames


def _mutant(rng: random.Random, seeds: list[list[bytes]]) -> list[bytes]:
    msg = list(rng.choice(seeds))
    r = rng.random()
    if r < 0.2:
        msg = _with_random_metas(rng, msg)
        if rng.random() < 0.5:
            return msg
    elif r < 0.4:                   # one value of the right type: more get past the schema
        try:
            h = msgpack.unpackb(msg[0], raw=False)
            k = rng.choice([k for k in h if k != "op"] or ["op"])
            h[k] = _typed(rng, h[k])
            return [msgpack.packb(h, use_bin_type=True)] + msg[1:]
        except Exception:  # noqa: BLE001 - an unreadable seed, a value packb refuses
            pass
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        r = rng.random()
        if r < 0.55:
            msg[0] = _mutate_header(rng, msg[0])
        elif r < 0.75:
            msg[0] = _mutate_bytes(rng, msg[0])
        else:
            msg = _mutate_frames(rng, msg, seeds)
    return msg


# ----------------------------------------------------------------------------------------------
# what this process's own checks say of a message, and keeping valid ones harmless
# ----------------------------------------------------------------------------------------------
class _Crasher(Exception):
    """`wire.unpack` raised something else than `WireError`: a bug (it must name what is
    wrong with a message, and the worker counts on it)."""


def _check(msg, schema):
    """The header, when `wire.unpack` (the worker's check) accepts `msg`, else None; raises
    `_Crasher` when it fails with another exception than `WireError`."""
    try:
        return wire.unpack(msg, schema)[0]
    except wire.WireError:
        return None
    except Exception as e:  # noqa: BLE001 - what the worker's control loop does not catch
        raise _Crasher(f"{type(e).__name__}: {e}") from e


def _real_step(step) -> bool:
    return 0 <= step < 1 << 60 and not step & FUZZ_STEP


def _defuse(msg: list[bytes], header: dict, counter: int, data: bool, min_handle: int):
    """A valid message made harmless (see the module docstring), or None to leave it out."""
    h = dict(header)
    if data:
        if h["op"] == "tensor" and _real_step(h["key"][0]):
            h["key"] = [FUZZ_STEP + counter] + list(h["key"][1:])
        if h["op"] == "tensors" and any(_real_step(k[0]) for k in h["keys"]):
            h["keys"] = [[FUZZ_STEP + counter] + list(k[1:]) for k in h["keys"]]
    else:
        if h["op"] in ("shutdown", "reset"):
            return None  # valid: it would rightly stop the worker / drop its variables
        if "handle" in h and h["handle"] < min_handle:  # never a real partition (the
            h["handle"] = FUZZ_HANDLE + counter         # test's own and later ones are fine)
        if "step" in h and _real_step(h["step"]):  # never a real step
            h["step"] = FUZZ_STEP + counter
    if h == header:
        return msg
    return [msgpack.packb(h, use_bin_type=True)] + msg[1:]


def _barrage(rng: random.Random, seeds, n: int, data: bool, min_handle: int = FUZZ_HANDLE):
    """`n` messages for one socket: (frames, header when valid else None).  Raises `_Crasher`
    for a message `wire.unpack` fails on with another exception than `WireError`."""
    schema = transport.SCHEMA if data else rpc.REQUESTS
    out = []
    todo = [list(m) for m in seeds]  # every seed once as it is, then the fuzz
    while len(out) < n:
        msg = todo.pop() if todo else \
            _random_frames(rng) if rng.random() < 0.3 else _mutant(rng, seeds)
        h = _check(msg, schema)
        if h is not None:
            msg = _defuse(msg, h, len(out), data, min_handle)
            if msg is None:
                continue
            h = _check(msg, schema)
            assert h is not None
        out.append((msg, h))
    rng.shuffle(out)
    return out[:n]


# ----------------------------------------------------------------------------------------------
# talking to a worker
# ----------------------------------------------------------------------------------------------
class _Control:
    """A DEALER on a worker's control socket that counts the (well-formed) replies it gets."""

    def __init__(self, sock, proc=None):
        self.sock = sock
        self.proc = proc    # the worker's Popen: a wait for a reply ends when it exits
        self.replies = 0
        self.ran = 0        # (of which steps of the test's graph that ran)
        self.probes = 0

    def send(self, msg):
        self.sock.send_multipart(msg)   # (SNDTIMEO: raises rather than hangs)

    def call(self, header: dict) -> dict:
        """Send a request and wait for its reply (before the fuzz starts)."""
        self.send(wire.pack(header))
        assert self.sock.poll(int(TIMEOUT_S * 1000)), f"no reply to {header['op']}"
        rep, _ = wire.unpack(self.sock.recv_multipart(), rpc.REPLIES)
        assert rep["id"] == header["id"] and rep["ok"], rep
        return rep

    def probe(self, want_replies: int = 0, timeout_s: float = TIMEOUT_S) -> dict:
        """`status` once everything sent before it is handled and `want_replies` replies (to
        the fuzz) have come."""
        self.probes += 1
        self.send(wire.pack({"op": "status", "id": PROBE_ID + self.probes}))
        status = None
        deadline = time.monotonic() + timeout_s
        while status is None or self.replies < want_replies:
            while not self.sock.poll(100):
                what = (f"the worker answered {self.replies} of {want_replies} valid requests "
                        f"and {'' if status else 'not '}the status probe")
                rc = None if self.proc is None else self.proc.poll()
                assert rc is None, f"the worker exited with status {rc}: {what}"
                assert time.monotonic() < deadline, f"{what} within {timeout_s:g} s"
            rep, _ = wire.unpack(self.sock.recv_multipart(), rpc.REPLIES)  # well-formed
            if rep["id"] == PROBE_ID + self.probes and "status" in rep:
                status = rep["status"]
            else:
                self.replies += 1
                self.ran += rep["ok"] and "outputs" in rep
        return status


def _raw_stream(rng: random.Random, endpoint: str) -> None:
    """Connect to an ipc endpoint and write bytes where the ZeroMQ handshake is expected."""
    assert endpoint.startswith("ipc://")
    s = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(endpoint[len("ipc://"):])
        head = ZMTP_SIGNATURE[:rng.randint(0, len(ZMTP_SIGNATURE))] if rng.random() < 0.7 else b""
        s.sendall(_mutate_bytes(rng, head + rng.randbytes(rng.randint(0, 512))))
    except OSError:
        pass  # it hung up on us: what it should do
    finally:
        s.close()


def _listening(pid: int) -> set[str]:
    """The endpoints process `pid` listens on (bound unix sockets, tcp sockets in LISTEN)."""
    found = set()
    for c in psutil.Process(pid).net_connections("all"):
        if c.family == pysocket.AF_UNIX and c.laddr:
            found.add("ipc://" + c.laddr)
        elif c.status == psutil.CONN_LISTEN:
            found.add(f"tcp://{c.laddr.ip}:{c.laddr.port}")
    return found


# ----------------------------------------------------------------------------------------------
# the test
# ----------------------------------------------------------------------------------------------
def test_10000_random_and_mutated_messages_leave_the_workers_serving(session, raw_push):
    sess, out, feeds, w, nprng = session
    _run_and_check(sess, out, feeds, w, nprng)          # the good answer, before
    workers = list(sess._master.workers.values())
    assert len(workers) == 2

    g = tw.Graph()
    with g.as_default():
        tw.identity(tw.placeholder(tw.float32, None, name="p") * 2.0, name="out")
    graph_bytes = g.as_graph_def().SerializeToString()
    rng = random.Random(SEED)
    data_seeds = _data_seeds([wi.device for wi in workers])

    per_socket = N_MESSAGES // (2 * len(workers))
    targets = []   # per worker: control, data socket, the messages for each, counts
    for wi in workers:
        # every socket the worker listens on gets its share (its datagram sockets: below)
        assert _listening(wi.pid) <= _fuzzed(wi), (
            f"{wi.device} listens on {_listening(wi.pid) - _fuzzed(wi)}, "
            "which this test does not fuzz")
        dealer = raw_push(wi.client.endpoint, zmq.DEALER)
        push = raw_push(wi.data, zmq.PUSH)
        for s in (dealer, push):
            s.setsockopt(zmq.SNDTIMEO, int(TIMEOUT_S * 1000))
        ctl = _Control(dealer, wi.proc)
        before = ctl.probe()
        assert before["pid"] == wi.pid and before["data"] == wi.data
        # a graph of the fuzz's own, so that run_graph requests get as far as decoding their
        # feeds and running kernels on them
        handle = ctl.call({"op": "register_graph", "id": 1, "graph": graph_bytes,
                           "feeds": [["p:0", "p"]], "fetches": ["out:0"], "targets": [],
                           "peers": {}, "session": "fuzz"})["handle"]
        control_seeds = _control_seeds(graph_bytes, handle)
        control = _barrage(rng, control_seeds, per_socket, data=False, min_handle=handle)
        targets.append({
            "info": wi, "ctl": ctl, "push": push, "before": before["dropped"],
            "control": control, "data": _barrage(rng, data_seeds, per_socket, data=True),
            "want_replies": 0, "control_rejected": 0, "data_rejected": 0})
    sent = 0
    for start in range(0, per_socket, CHUNK):
        for t in targets:           # the four sockets, interleaved
            for msg, h in t["control"][start:start + CHUNK]:
                t["ctl"].send(msg)
                if h is None:
                    t["control_rejected"] += 1
                elif h["op"] != "release":  # (the one request without a reply)
                    t["want_replies"] += 1
            for msg, h in t["data"][start:start + CHUNK]:
                t["push"].send_multipart(msg)
                t["data_rejected"] += h is None
            sent += 2 * len(t["control"][start:start + CHUNK])
        if start <= per_socket // 2 < start + CHUNK:     # half-way: raw bytes too
            for t in targets:
                for ep in (t["info"].client.endpoint, t["info"].data):
                    for _ in range(RAW_STREAMS):
                        _raw_stream(rng, ep)
        for t in targets:           # each worker took all that (no high-water mark dropped it)
            ctl, base = t["ctl"], t["before"]
            st = ctl.probe(t["want_replies"])
            assert st["dropped"]["control"] - base["control"] >= t["control_rejected"]
            wait_for(lambda: ctl.probe()["dropped"]["data"] - base["data"] >= t["data_rejected"],
                     TIMEOUT_S, f"{t['info'].device} to drop the {t['data_rejected']} data "
                                f"messages wire.unpack rejects")
    assert sent == N_MESSAGES
    for t in targets:
        t["push"].close(linger=5000)  # what it still holds reaches the worker

    for _ in range(3):              # the real step still runs and gives the right numbers
        _run_and_check(sess, out, feeds, w, nprng)

    for t in targets:
        wi, ctl, base = t["info"], t["ctl"], t["before"]
        st = ctl.probe(t["want_replies"])
        assert ctl.replies == t["want_replies"], "a valid request got more than one reply"
        assert ctl.ran > 0  # (some fuzzed steps got as far as running their kernels)
        assert st["pid"] == wi.pid and wi.proc.poll() is None
        assert psutil.Process(wi.pid).status() != psutil.STATUS_ZOMBIE
        dropped = {k: st["dropped"][k] - base[k] for k in ("control", "data")}
        # every message this process's wire.unpack rejects is counted; ones it accepts may be
        # too (a tensor in a segment that does not exist)
        assert t["control_rejected"] <= dropped["control"] <= per_socket, dropped
        assert t["data_rejected"] <= dropped["data"] <= per_socket, dropped
        # (and most of the barrage is rejected: the mutations are not too gentle)
        assert t["control_rejected"] > per_socket // 2 and t["data_rejected"] > per_socket // 2
        assert _listening(wi.pid) <= _fuzzed(wi)


def _fuzzed(wi) -> set[str]:
    """The sockets of worker `wi` the fuzz tests send to: its ZeroMQ control and data sockets
    (the first test) and the datagram sockets beside them (the second)."""
    return {wi.client.endpoint, wi.data, "ipc://" + dgram.path_for(wi.client.endpoint),
            "ipc://" + dgram.path_for(wi.data)}


def _datagram(msg: list[bytes]) -> bytes:
    """`msg` framed as one datagram, as `dgram.DgramSocket.send` does."""
    return (b"tw\x01" + bytes((len(msg),)) + b"".join(struct.pack("<I", len(f)) for f in msg)
            + b"".join(msg))


def _dgram_check(payload: bytes, schema):
    """The header when a worker would accept datagram `payload`, else None."""
    try:
        frames = dgram.split(payload)
    except wire.WireError:
        return None
    return _check([bytes(f) for f in frames], schema)


#: Datagrams per datagram socket and worker.
N_DGRAMS = 600


def test_random_and_mutated_datagrams_leave_the_workers_serving(session, raw_push):
    """The same barrage, as datagrams to each worker's datagram sockets (`runtime/dgram.py`):
    framed as the runtime frames them, with a tenth of random bytes and a tenth with the
    framing itself mutated.  Valid control requests get exactly one well-formed reply (at the
    test's own datagram socket), every rejected one is counted, and the workers keep serving."""
    sess, out, feeds, w, nprng = session
    _run_and_check(sess, out, feeds, w, nprng)
    workers = list(sess._master.workers.values())
    g = tw.Graph()
    with g.as_default():
        tw.identity(tw.placeholder(tw.float32, None, name="p") * 2.0, name="out")
    graph_bytes = g.as_graph_def().SerializeToString()
    rng = random.Random(SEED + 1)
    data_seeds = _data_seeds([wi.device for wi in workers])
    home = tempfile.mkdtemp(prefix="tw-fuzz-", dir="/tmp")
    me = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_DGRAM)
    try:
        me.bind(os.path.join(home, "me"))

        def send(path, payload):
            deadline = time.monotonic() + TIMEOUT_S
            while True:   # (a full queue: wait for the worker to take some)
                try:
                    me.sendto(payload, path)
                    return
                except BlockingIOError:
                    assert time.monotonic() < deadline, f"{path} took nothing for {TIMEOUT_S} s"
                    time.sleep(0.001)

        def fuzzed(msg, schema):
            """(datagram, header when valid) for `msg`, or None to leave it out (one that
            no datagram could carry: the runtime sends those over ZeroMQ)."""
            if len(msg) > 255 or sum(map(len, msg)) > dgram.MAX_BYTES:
                return None
            r = rng.random()
            if r < 0.1:
                payload = _random_bytes(rng)
            elif r < 0.2:
                payload = _mutate_bytes(rng, _datagram(msg))
            else:
                return _datagram(msg), _check(msg, schema)
            h = _dgram_check(payload, schema)
            return None if h is not None else (payload, None)   # (only known-valid ones)

        for wi in workers:
            ctl = _Control(raw_push(wi.client.endpoint, zmq.DEALER), wi.proc)
            before = ctl.probe()["dropped"]
            handle = ctl.call({"op": "register_graph", "id": 1, "graph": graph_bytes,
                               "feeds": [["p:0", "p"]], "fetches": ["out:0"], "targets": [],
                               "peers": {}, "session": "fuzz"})["handle"]
            control = _barrage(rng, _control_seeds(graph_bytes, handle), N_DGRAMS, data=False,
                               min_handle=handle)
            data = _barrage(rng, data_seeds, N_DGRAMS, data=True)
            rejected = {"control": 0, "data": 0}
            me.settimeout(TIMEOUT_S)
            replies = 0
            for start in range(0, N_DGRAMS, 5):   # a few at a time: our queue is short
                want = 0
                for msg, _ in control[start:start + 5]:
                    got = fuzzed(msg, rpc.REQUESTS)
                    if got is None:
                        continue
                    payload, h = got
                    send(dgram.path_for(wi.client.endpoint), payload)
                    rejected["control"] += h is None
                    want += h is not None and h["op"] != "release"
                for _ in range(want):
                    rep, _ = wire.unpack([bytes(f) for f in dgram.split(me.recv(1 << 20))],
                                         rpc.REPLIES)   # well-formed
                    replies += 1
                for msg, _ in data[start:start + 5]:
                    got = fuzzed(msg, transport.SCHEMA)
                    if got is not None:
                        send(dgram.path_for(wi.data), got[0])
                        rejected["data"] += got[1] is None
            me.settimeout(0.5)
            with pytest.raises(TimeoutError):   # exactly one reply each: no more came
                me.recv(1 << 20)
            assert replies > 20   # (some valid requests got through the mutations)
            wait_for(lambda: all(ctl.probe()["dropped"][k] - before[k] >= rejected[k]
                                 for k in rejected), TIMEOUT_S,
                     f"{wi.device} to count the {rejected} datagrams wire.unpack rejects")
            st = ctl.probe()
            for k in rejected:
                assert rejected[k] <= st["dropped"][k] - before[k] <= N_DGRAMS
                assert rejected[k] > N_DGRAMS // 2   # (the mutations are not too gentle)
            assert st["pid"] == wi.pid and wi.proc.poll() is None
        for _ in range(3):
            _run_and_check(sess, out, feeds, w, nprng)
    finally:
        me.close()
        for name in os.listdir(home):
            os.unlink(os.path.join(home, name))
        os.rmdir(home)


#: The 74 bytes the fuzz found: a run_graph whose feed meta has a list for its dtype.
UNHASHABLE_DTYPE = wire.pack({"op": "run_graph", "id": 1, "handle": FUZZ_HANDLE, "step": FUZZ_STEP,
                              "feeds": [{"dtype": [], "shape": [], "nbytes": 0}]})


def test_a_control_message_with_an_unhashable_dtype_leaves_the_worker_serving(raw_push):
    with tw.device("/cpu:1"):
        y = tw.constant(1.0) + 1.0
    sess = tw.Session(config=tw.ConfigProto(device_count={"CPU": 2}))
    try:
        assert sess.run(y, options=STEP_OPTS) == 2.0
        wi = next(w for d, w in sess._master.workers.items() if d.endswith("/device:CPU:1"))
        ctl = _Control(raw_push(wi.client.endpoint, zmq.DEALER), wi.proc)
        before = ctl.probe()["dropped"]["control"]
        bad = [UNHASHABLE_DTYPE,
               wire.pack({"op": "run_graph", "id": 2, "handle": FUZZ_HANDLE, "step": FUZZ_STEP,
                          "feeds": [{"dtype": {"a": 1}, "shape": [], "nbytes": 0}]})]
        for msg in bad:
            ctl.send(msg)
        st = ctl.probe(timeout_s=10.0)
        assert st["dropped"]["control"] == before + len(bad)
        assert wi.proc.poll() is None
        assert sess.run(y, options=STEP_OPTS) == 2.0
    finally:
        sess.close()
        shm.cleanup_stale()  # (a worker that died may leave its segments)
