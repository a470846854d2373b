"""`python -m workers`: run the worker service for one device.

    python -m workers --bind tcp://127.0.0.1:0 [--device /job:J/replica:0/task:T/device:CPU:0]
                      [--data-bind ENDPOINT] [--cores 0,1] [--parent-pid PID] [--cluster FILE]
                      [--siblings DEVICE=ENDPOINT,...] [--no-deathsig]
                      [--log-level LEVEL] [--log-records] [--heartbeat-fd FD]
                      [--keys DIR]

On start it pins itself to `--cores` (BLAS threads limited to as many), then prints one line,
`workers: serving DEVICE control=ENDPOINT data=ENDPOINT pid=PID`, and serves until it is told to
shut down or its parent (`--parent-pid`) exits.  A bad or busy address exits with status 2 and a
message naming it, as do unusable keys.  With `--keys DIR` (a key directory made by `python -m
runner keys DIR`) its sockets are CURVE servers that admit only the public keys in
`DIR/authorized/`; without, a TCP address beyond loopback is replaced by 127.0.0.1 (with a
warning): see `tensorweave/runtime/curve.py`.

It logs (loggers `tensorweave.*`, from `--log-level` up, WARN by default) on stderr, in
tensorweave's glog-style lines or, with `--log-records` (what a master that starts it asks for),
one `tensorweave-record {json}` line per record, which the master turns back into records of its
`tensorweave.workers` logger.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import msgpack


def _pin(cores: list[int]) -> None:
    """Run on `cores` only, with BLAS using as many threads."""
    try:
        import psutil
        psutil.Process().cpu_affinity(cores)
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=len(cores), user_api="blas")
    except ImportError:
        pass


def _level(s: str) -> int:
    """A logging level from its name or number."""
    level = int(s) if s.lstrip("-").isdigit() else logging.getLevelName(s.upper())
    if not isinstance(level, int):
        raise argparse.ArgumentTypeError(f"not a logging level: {s!r}")
    return level


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m workers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bind", default="tcp://127.0.0.1:0",
                   help="control endpoint (tcp://HOST:PORT, port 0 = random, or ipc://PATH)")
    p.add_argument("--device", default="/job:localhost/replica:0/task:0/device:CPU:0")
    p.add_argument("--data-bind", default=None, help="endpoint for tensors from peers")
    p.add_argument("--cores", default=None, help="comma-separated CPU cores to run on")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this process exits")
    p.add_argument("--no-deathsig", action="store_true",
                   help="watch --parent-pid only, without PR_SET_PDEATHSIG (for a parent that "
                        "starts this worker from a thread that may end before it)")
    p.add_argument("--cluster", default=None, help="msgpack file with the cluster spec")
    p.add_argument("--siblings", default="",
                   help="the other devices of this task and their control endpoints, "
                        "DEVICE=ENDPOINT,... (reported to masters that connect here)")
    p.add_argument("--log-level", default="WARN", type=_level,
                   help="log from this level up: DEBUG, INFO, WARN, ERROR, FATAL or a number")
    p.add_argument("--log-records", action="store_true",
                   help="log one 'tensorweave-record {json}' line per record (for the parent)")
    p.add_argument("--keys", default=None,
                   help="a cluster key directory: serve over CURVE, admitting its authorized keys")
    p.add_argument("--heartbeat-fd", type=int, default=None,
                   help="a pipe to write a byte to every 0.25 s, from a thread of its own "
                        "(how a parent that runs steps here tells a stopped worker from a busy "
                        "one: tensorweave/runtime/heartbeat.py)")
    args = p.parse_args(argv)
    try:
        siblings = dict(item.split("=", 1) for item in args.siblings.split(",") if item)
        if not all(d.startswith("/job:") and ep.startswith(("tcp://", "ipc://"))
                   for d, ep in siblings.items()):
            raise ValueError
    except ValueError:
        print(f"workers: --siblings must be /job:...=tcp://HOST:PORT,..., got "
              f"{args.siblings!r}", file=sys.stderr)
        return 2
    if args.cores:
        _pin([int(c) for c in args.cores.split(",") if c != ""])
    # the library (numpy and its BLAS) loads after the process is pinned to its cores
    from tensorweave.framework import tf_logging

    from .service import WorkerService, _die_with_parent
    if args.log_records:
        tf_logging.use_record_lines(args.log_level)
    else:
        tf_logging.set_verbosity(args.log_level)
    _die_with_parent(args.parent_pid, deathsig=not args.no_deathsig)
    cluster = None
    if args.cluster:
        with open(args.cluster, "rb") as f:
            cluster = msgpack.unpackb(f.read(), raw=False)
        if not isinstance(cluster, dict):
            print("workers: --cluster file must hold a map", file=sys.stderr)
            return 2
    keys = None
    if args.keys:
        from tensorweave.framework import errors
        from tensorweave.runtime.curve import load_keys
        try:
            keys = load_keys(args.keys, serve=True)
        except errors.OpError as e:
            print(f"workers: --keys: {e.message}", file=sys.stderr, flush=True)
            return 2
    try:
        svc = WorkerService(args.device, args.bind, args.data_bind, cluster, args.parent_pid,
                            siblings=siblings, keys=keys)
    except OSError as e:
        print(f"workers: {e}", file=sys.stderr, flush=True)
        return 2
    def stop(signum, frame):  # SIGTERM (Server.stop): leave the loop and clean up
        svc._stop = True
    signal.signal(signal.SIGTERM, stop)
    if args.heartbeat_fd is not None:
        from tensorweave.runtime.heartbeat import Beater
        Beater(args.heartbeat_fd)  # a daemon thread, for the life of the process
    print(f"workers: serving {svc.device} control={svc.endpoint} "
          f"data={svc.transport.endpoint} pid={os.getpid()}", flush=True)
    svc.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
