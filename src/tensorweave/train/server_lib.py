"""Clusters: `ClusterSpec`, `Server` and `create_local_cluster` (TF1 `tf.train` API).

A `Server(cluster, job_name, task_index, config)` starts the task's worker services, one process
(`python -m workers`) per device of `config.device_count` (default: one CPU device, as TF1 has
`/job:<job>/replica:0/task:<task_index>/device:CPU:0`, plus each GPU cupy sees).  The first CPU
device listens on the task's address from the cluster (`tcp://host:port`), the others on free
ports of the same host, and the first reports them (its `siblings`); it knows the whole cluster,
so `tw.Session(server.target)` on any machine reaches every device of every task through it.
A bad or busy address raises `OSError` naming it.  With cluster keys
(`ConfigProto(experimental={"cluster_keys": DIR})` or `TENSORWEAVE_CLUSTER_KEYS`) every link of
the task is CURVE-authenticated and encrypted; without, the task listens on loopback only
(`runtime/curve.py`).  The processes live as long as the `Server`
object's process does (or until `server.stop()`); `join()` waits for the first to exit.
"""
from __future__ import annotations

import logging
import numbers
import os
import socket
import subprocess
import tempfile
import threading
import time

import msgpack

from ..runtime.curve import keys_from_config, safe_bind
from ..runtime.devices import local_devices
from ..runtime.master import start_worker_process
from ..runtime.rpc import WorkerClient

_log = logging.getLogger(__name__)

__all__ = ["ClusterSpec", "Server", "create_local_cluster"]


class ClusterSpec:
    """TF1 `tf.train.ClusterSpec`: job name -> task addresses ("host:port")."""

    def __init__(self, cluster):
        if isinstance(cluster, ClusterSpec):
            self._jobs = {j: dict(t) for j, t in cluster._jobs.items()}
            return
        if not isinstance(cluster, dict):
            raise TypeError("`cluster` must be a dictionary mapping one or more job names to "
                            "lists of network addresses, or a ClusterSpec")
        self._jobs: dict[str, dict[int, str]] = {}
        for job, tasks in cluster.items():
            if not isinstance(job, str):
                raise TypeError(f"Job name must be a string, got {job!r}")
            if isinstance(tasks, (list, tuple)):
                tasks = dict(enumerate(tasks))
            elif not isinstance(tasks, dict):
                raise TypeError(f"The tasks for job {job!r} must be a list or a dict, got "
                                f"{type(tasks).__name__}")
            tasks = {int(i) if isinstance(i, str) and i.isdigit() else i: a
                     for i, a in tasks.items()}   # (a cluster_def's indices are strings)
            for i, addr in tasks.items():
                if not isinstance(i, int) or not isinstance(addr, str) or ":" not in addr:
                    raise ValueError(f"Task {i!r} of job {job!r} must map an int index to a "
                                     f"'host:port' address, got {addr!r}")
            self._jobs[job] = {int(i): a for i, a in tasks.items()}

    @property
    def jobs(self) -> list:
        return list(self._jobs)

    def num_tasks(self, job_name: str) -> int:
        return len(self._job(job_name))

    def task_indices(self, job_name: str) -> list:
        return sorted(self._job(job_name))

    def task_address(self, job_name: str, task_index: int) -> str:
        tasks = self._job(job_name)
        try:
            return tasks[task_index]
        except KeyError:
            raise ValueError(f"No task with index {task_index!r} in job {job_name!r}") from None

    def job_tasks(self, job_name: str) -> list:
        tasks = self._job(job_name)
        top = max(tasks) + 1 if tasks else 0
        return [tasks.get(i) for i in range(top)]

    def _job(self, job_name):
        try:
            return self._jobs[job_name]
        except KeyError:
            raise ValueError(f"No such job in cluster: {job_name!r}") from None

    def as_dict(self) -> dict:
        return {j: ([t[i] for i in sorted(t)] if sorted(t) == list(range(len(t))) else dict(t))
                for j, t in self._jobs.items()}

    def as_cluster_def(self) -> dict:
        return {j: {str(i): a for i, a in t.items()} for j, t in self._jobs.items()}

    def __eq__(self, other):
        return isinstance(other, ClusterSpec) and self._jobs == other._jobs

    def __bool__(self):
        return bool(self._jobs)

    def __repr__(self):
        return f"ClusterSpec({self.as_dict()!r})"


class Server:
    """TF1 `tf.train.Server`: the worker services of one cluster task, one process per device."""

    def __init__(self, server_or_cluster_def, job_name=None, task_index=None, protocol=None,
                 config=None, start=True):
        cluster = ClusterSpec(server_or_cluster_def)
        if job_name is None:
            if len(cluster.jobs) != 1:
                raise ValueError("job_name must be given when the cluster has several jobs")
            job_name = cluster.jobs[0]
        if job_name not in cluster.jobs:
            raise ValueError(f"tw.train.Server: job {job_name!r} is not in the cluster (its "
                             f"jobs: {', '.join(map(repr, cluster.jobs))}): {cluster!r}")
        if task_index is None:
            indices = cluster.task_indices(job_name)
            if len(indices) != 1:
                raise ValueError("task_index must be given when the job has several tasks")
            task_index = indices[0]
        indices = cluster.task_indices(job_name)
        if not _is_int(task_index) or int(task_index) not in indices:
            raise ValueError(f"tw.train.Server: task_index {task_index!r} is not a task of job "
                             f"{job_name!r} (its tasks: "
                             f"{', '.join(map(str, indices)) or 'none'}): {cluster!r}")
        self._cluster = cluster
        self._job = job_name
        self._task = int(task_index)
        self._address = cluster.task_address(job_name, self._task)
        counts = dict(getattr(config, "device_count", None) or {}) or None
        #: the task's devices (`config.device_count`, as for a local session): the first CPU
        #: listens on the task's address, the others on free ports of the same host
        self.devices = local_devices(counts, job_prefix=f"/job:{job_name}/replica:0/"
                                                        f"task:{self._task}")
        self.device = self.devices[0].name
        self._procs: list = []  # the task's worker processes, the first device's first
        self._lifecycle = threading.RLock()  # start / stop / restart, one at a time
        keys = keys_from_config(config, serve=True)  # (checked here, loaded by each worker)
        self._keys = keys
        self._keys_dir = None if keys is None else keys.directory
        if start:
            self.start()

    def start(self) -> None:
        """Start the task's worker processes (once; `Server(start=False)` defers this)."""
        with self._lifecycle:
            self._start()

    def _start(self) -> None:
        if self._procs:
            return
        fd, path = tempfile.mkstemp(prefix="tw-cluster-", suffix=".msgpack")
        with os.fdopen(fd, "wb") as f:
            f.write(msgpack.packb(self._cluster.as_cluster_def(), use_bin_type=True))
        host, port = self._address.rsplit(":", 1)
        pin = sum(d.device_type == "CPU" for d in self.devices) > 1
        try:
            siblings = {}
            for dev in self.devices[1:]:
                proc, control, _ = start_worker_process(
                    dev.name, f"tcp://{host}:0", cluster_file=path, parent_pid=os.getpid(),
                    data_bind=f"tcp://{host}:*", keys_dir=self._keys_dir,
                    cores=dev.cores if pin and dev.device_type == "CPU" else ())
                self._procs.append(proc)
                siblings[dev.name] = control
            first = self.devices[0]
            proc, _, _ = start_worker_process(
                first.name, f"tcp://{host}:{port}", cluster_file=path, parent_pid=os.getpid(),
                data_bind=f"tcp://{host}:*", siblings=siblings, keys_dir=self._keys_dir,
                cores=first.cores if pin else ())
            self._procs.insert(0, proc)
        except BaseException:
            self.stop()
            self._procs = []  # start() may be tried again
            raise
        finally:
            os.unlink(path)

    @property
    def target(self) -> str:
        """The target to pass to `tw.Session` to run graphs on this cluster."""
        # (a task without keys listens on loopback only: its target says where)
        return "tw://" + safe_bind("tcp://" + self._address, self._keys, say=False)[6:]

    @property
    def server_def(self) -> dict:
        return {"cluster": self._cluster.as_cluster_def(), "job_name": self._job,
                "task_index": self._task}

    def join(self, timeout=None) -> None:
        """Wait until the task's process exits; for a ps task, also until every training task
        of the cluster (any job but `ps`) has ended its training (its
        `MonitoredTrainingSession` says so when it closes): then the task's processes are
        stopped and `join` returns, so a ps program does not wait forever.  `timeout`: at
        most that many seconds (then it returns with the task still running)."""
        if not self._procs:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        client = None
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                try:
                    self._procs[0].wait(timeout=0.5 if left is None else min(0.5, left))
                    return
                except subprocess.TimeoutExpired:
                    pass
                if self._job != "ps":
                    continue
                if client is None:
                    client = WorkerClient("tcp://" + self._address, self.device,
                                          keys=self._keys)
                try:
                    rep, _ = client.call({"op": "status"}, timeout_s=5.0)
                except Exception:  # noqa: BLE001 - restarting, or gone: asked again next round
                    continue
                if rep["status"].get("training_done"):
                    _log.info("%s: every training task of the cluster is done: stopping",
                              self.device)
                    self.stop()
                    return
        finally:
            if client is not None:
                client.close()

    def poll(self) -> tuple | None:
        """(pid, exit status) of a worker process of the task that has exited, or None while
        they all run (what a supervisor watches before it restarts the task)."""
        for p in self._procs:
            if p.poll() is not None:
                return p.pid, p.returncode
        return None

    @property
    def pids(self) -> list:
        """The pids of the task's worker processes (the first device's first)."""
        return [p.pid for p in self._procs]

    def restart(self) -> None:
        """Stop the task's worker processes (what is left of them) and start new ones on the
        same addresses; the task's variables start anew (a session restores them)."""
        with self._lifecycle:
            self.stop()
            self._procs = []
            self._start()

    def stop(self) -> None:
        """Shut the task's worker processes down."""
        lock = getattr(self, "_lifecycle", None)
        if lock is None:   # (a Server whose __init__ failed)
            return
        with lock:
            self._stop()

    def _stop(self) -> None:
        for p in getattr(self, "_procs", ()):
            if p.poll() is None:
                p.terminate()
        for p in getattr(self, "_procs", ()):
            try:
                p.wait(timeout=5)
            except Exception:  # noqa: BLE001 - kill what does not stop
                p.kill()
                p.wait(timeout=5)
            if p.stdout is not None:
                p.stdout.close()
            # stderr belongs to the thread that forwards the worker's log records: it ends at
            # the end of the stream (closing it under that thread's read could abort the
            # interpreter at exit)

    @staticmethod
    def create_local_server(config=None, start=True) -> Server:
        return Server({"localhost": [f"127.0.0.1:{_free_port()}"]}, "localhost", 0,
                      config=config, start=start)

    def __del__(self):
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _is_int(value) -> bool:
    """An int-like task index (an int, a numpy integer, or a string of digits), not a bool."""
    if isinstance(value, str):
        return value.isdigit()
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_local_cluster(num_workers: int, num_ps: int, protocol: str = "grpc",
                         worker_config=None, ps_config=None):
    """Start a cluster of local tasks on free loopback ports; returns (workers, ps_servers)."""
    spec = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(num_workers)]}
    if num_ps:
        spec["ps"] = [f"127.0.0.1:{_free_port()}" for _ in range(num_ps)]
    cs = ClusterSpec(spec)
    workers = [Server(cs, "worker", i, protocol, worker_config) for i in range(num_workers)]
    ps = [Server(cs, "ps", i, protocol, ps_config) for i in range(num_ps)]
    return workers, ps
