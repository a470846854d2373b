"""`python -m workers --bind tcp://127.0.0.1:PORT`: answer msgpack `{"op": "ping"}` requests."""
from __future__ import annotations

import argparse
import sys

import msgpack
import zmq


def serve(bind: str, max_requests: int | None = None, poll_ms: int = 200) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.bind(bind)
    except zmq.ZMQError as e:
        raise SystemExit(f"workers: cannot bind {bind}: {e}") from None
    print(f"workers: serving on {sock.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    served = 0
    try:
        while max_requests is None or served < max_requests:
            if not sock.poll(poll_ms):
                continue
            raw = sock.recv()
            try:
                req = msgpack.unpackb(raw, raw=False)
                if not isinstance(req, dict) or set(req) - {"op"}:
                    raise ValueError("request must be a map with only the field 'op'")
                op = req.get("op")
                if op == "ping":
                    rep = {"ok": True, "op": "pong"}
                elif op == "shutdown":
                    sock.send(msgpack.packb({"ok": True, "op": "bye"}))
                    break
                else:
                    rep = {"ok": False, "error": f"unknown op {op!r}"}
            except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
                print(f"workers: rejected malformed request: {e}", file=sys.stderr, flush=True)
                rep = {"ok": False, "error": f"malformed request: {e}"}
            sock.send(msgpack.packb(rep))
            served += 1
    finally:
        sock.close(0)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    p.add_argument("--bind", default="tcp://127.0.0.1:0",
                   help="ZeroMQ endpoint to serve on (default: a random loopback port)")
    args = p.parse_args(argv)
    serve(args.bind)


if __name__ == "__main__":
    main()
