"""TF1's `tf.train.Coordinator` and `tf.train.QueueRunner` (minimal but real).

`Coordinator` lets threads ask each other to stop: `should_stop()`, `request_stop(ex)` (the
first non-clean exception is recorded and re-raised by `join` / `raise_requested_exception`),
`wait_for_stop(timeout)`, `stop_on_exception()`, `register_thread` and `join`.

`QueueRunner(queue, enqueue_ops)` runs each enqueue op in a loop on its own thread
(`create_threads`) until the coordinator stops or the queue is closed: an `OutOfRangeError` (or
one of `queue_closed_exception_types`) or a `CancelledError` ends a thread quietly, and when the
last of a session's threads ends that way the runner runs `close_op`.  Any other error goes to
`coord.request_stop(e)` (without a coordinator it is recorded in `exceptions_raised` and
raised on the thread).  With a coordinator one more thread waits for the stop request and runs
`cancel_op` (closes the queue, cancelling pending enqueues).

Differences from TF1: no `QueueRunnerDef` (`to_proto`/`from_proto`), no `LooperThread`; an op
blocked on something other than the runner's queue (e.g. `take_grad` of an accumulator) is not
cancelled by `cancel_op`: such a thread stays blocked until its step ends or its session goes,
and `Coordinator.join(..., ignore_live_threads=True)` leaves it behind after the grace period.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

from ..framework import errors
from ..framework.default_session import get_default_session
from ..framework.graph import GraphKeys, add_to_collection, get_collection, get_default_graph

__all__ = ["Coordinator", "QueueRunner", "add_queue_runner", "start_queue_runners"]

_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Coordinator
# ----------------------------------------------------------------------------------------------
class Coordinator:
    """A coordinator for threads (TF1 `tf.train.Coordinator`)."""

    def __init__(self, clean_stop_exception_types=None):
        if clean_stop_exception_types is None:
            clean_stop_exception_types = (errors.OutOfRangeError,)
        self._clean_stop_exception_types = tuple(clean_stop_exception_types)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._exc_info_to_raise = None
        self._joined = False
        self._registered_threads: set = set()

    def _filter_exception(self, ex):
        """exc_info of `ex` (an exception or an exc_info tuple), None for a clean stop."""
        if isinstance(ex, tuple):
            ex2 = ex[1]
        else:
            ex2 = ex
        if isinstance(ex2, self._clean_stop_exception_types):
            return None
        return ex

    def request_stop(self, ex=None) -> None:
        """Ask the threads to stop; `ex` (an exception or `sys.exc_info()`) is recorded, unless
        one already was or it is a clean-stop type, and re-raised by `join`."""
        with self._lock:
            ex = self._filter_exception(ex)
            if self._joined:
                if isinstance(ex, tuple):
                    _, ex_instance, _ = ex
                else:
                    ex_instance = ex
                if ex_instance is not None:
                    _log.info("Error reported to Coordinator after join: %r", ex_instance)
                return
            if not self._stop_event.is_set():
                if ex and self._exc_info_to_raise is None:
                    if isinstance(ex, tuple):
                        _log.info("Error reported to Coordinator: %r", ex[1])
                        self._exc_info_to_raise = ex
                    else:
                        _log.info("Error reported to Coordinator: %s, %s", type(ex), ex)
                        self._exc_info_to_raise = (type(ex), ex, ex.__traceback__)
                    if (len(self._exc_info_to_raise) != 3 or not self._exc_info_to_raise[0]
                            or not self._exc_info_to_raise[1]):
                        raise ValueError(f"ex must be a tuple or sys.exc_info must return "
                                         f"the current exception: {self._exc_info_to_raise}")
                self._stop_event.set()

    def clear_stop(self) -> None:
        """Clear the stop request (and the recorded exception), so the threads may run again."""
        with self._lock:
            self._joined = False
            self._exc_info_to_raise = None
            if self._stop_event.is_set():
                self._stop_event.clear()

    def should_stop(self) -> bool:
        return self._stop_event.is_set()

    @contextlib.contextmanager
    def stop_on_exception(self):
        """A context manager: an exception raised in its body is passed to `request_stop`."""
        try:
            yield
        except:  # noqa: E722 - TF1: every exception, recorded and swallowed
            self.request_stop(ex=sys.exc_info())

    def wait_for_stop(self, timeout=None) -> bool:
        """Wait until a stop is requested (at most `timeout` seconds); True if it was."""
        return self._stop_event.wait(timeout)

    def register_thread(self, thread) -> None:
        """Add `thread` to those `join()` waits for."""
        with self._lock:
            self._registered_threads.add(thread)

    def join(self, threads=None, stop_grace_period_secs=120, ignore_live_threads=False):
        """Wait for the threads (the registered ones and `threads`) to end: first until a stop
        is requested or they all ended, then at most `stop_grace_period_secs` more.  Threads
        still alive then raise RuntimeError unless `ignore_live_threads` (logged).  Re-raises
        the exception recorded by `request_stop`."""
        with self._lock:
            if threads is None:
                threads = set(self._registered_threads)
            else:
                threads = set(self._registered_threads) | set(threads)
        threads = list(threads)
        # wait for all threads to end or for a stop request
        while any(t.is_alive() for t in threads) and not self.wait_for_stop(1.0):
            pass
        # then the grace period
        deadline = time.monotonic() + stop_grace_period_secs
        for t in threads:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t.join(remaining)
        with self._lock:
            self._joined = True
            self._registered_threads = set()
            exc_info = self._exc_info_to_raise
        stragglers = [t.name for t in threads if t.is_alive()]
        if exc_info:
            raise exc_info[1].with_traceback(exc_info[2])
        if stragglers:
            if ignore_live_threads:
                _log.info("Coordinator stopped with threads still running: %s",
                          " ".join(stragglers))
            else:
                raise RuntimeError("Coordinator stopped with threads still running: "
                                   + " ".join(stragglers))

    @property
    def joined(self) -> bool:
        return self._joined

    def raise_requested_exception(self) -> None:
        """Raise the exception recorded by `request_stop`, if any."""
        with self._lock:
            exc_info = self._exc_info_to_raise
        if exc_info:
            raise exc_info[1].with_traceback(exc_info[2])


# ----------------------------------------------------------------------------------------------
# QueueRunner
# ----------------------------------------------------------------------------------------------
class QueueRunner:
    """Runs enqueue ops on threads (TF1 `tf.train.QueueRunner`)."""

    def __init__(self, queue=None, enqueue_ops=None, close_op=None, cancel_op=None,
                 queue_closed_exception_types=None, queue_runner_def=None, import_scope=None):
        if queue_runner_def is not None or import_scope is not None:
            raise NotImplementedError("QueueRunnerDef is not supported by tensorweave")
        if not queue or not enqueue_ops:
            raise ValueError("Must provide queue and enqueue_ops.")
        self._queue = queue
        self._enqueue_ops = list(enqueue_ops)
        self._close_op = close_op if close_op is not None else queue.close()
        self._cancel_op = (cancel_op if cancel_op is not None
                           else queue.close(cancel_pending_enqueues=True))
        if queue_closed_exception_types is None:
            queue_closed_exception_types = (errors.OutOfRangeError,)
        elif (not isinstance(queue_closed_exception_types, (list, tuple))
              or not queue_closed_exception_types
              or not all(isinstance(t, type) and issubclass(t, errors.OpError)
                         for t in queue_closed_exception_types)):
            raise TypeError("queue_closed_exception_types, when provided, must be a tuple of "
                            f"tf.error types, but saw: {queue_closed_exception_types}")
        self._queue_closed_exception_types = tuple(queue_closed_exception_types)
        self._lock = threading.Lock()
        self._runs_per_session: dict = {}
        self._exceptions_raised: list = []

    @property
    def queue(self):
        return self._queue

    @property
    def enqueue_ops(self) -> list:
        return self._enqueue_ops

    @property
    def close_op(self):
        return self._close_op

    @property
    def cancel_op(self):
        return self._cancel_op

    @property
    def queue_closed_exception_types(self) -> tuple:
        return self._queue_closed_exception_types

    @property
    def exceptions_raised(self) -> list:
        """Exceptions raised on threads run without a coordinator."""
        return self._exceptions_raised

    @property
    def name(self) -> str:
        return self._queue.name

    def _run(self, sess, enqueue_op, coord=None) -> None:
        decremented = False
        quiet = self._queue_closed_exception_types + (errors.CancelledError,)
        try:
            while True:
                if coord is not None and coord.should_stop():
                    break
                try:
                    sess.run(enqueue_op)
                except quiet:
                    with self._lock:
                        self._runs_per_session[sess] -= 1
                        decremented = True
                        last = self._runs_per_session[sess] == 0
                    if last:
                        try:
                            sess.run(self._close_op)
                        except Exception as e:  # noqa: BLE001 - TF1 ignores it too
                            _log.debug("Ignored exception: %s", e)
                    return
        except Exception as e:  # noqa: BLE001 - handed to the coordinator
            if coord is not None:
                if coord.should_stop():
                    # the session went away while stopping: not an error of the runner
                    _log.debug("QueueRunner thread ended while stopping: %s", e)
                else:
                    coord.request_stop(e)
            else:
                _log.error("Exception in QueueRunner: %s", e)
                with self._lock:
                    self._exceptions_raised.append(e)
                raise
        finally:
            if not decremented:
                with self._lock:
                    self._runs_per_session[sess] -= 1

    def _close_on_stop(self, sess, cancel_op, coord) -> None:
        coord.wait_for_stop()
        try:
            sess.run(cancel_op)
        except Exception as e:  # noqa: BLE001 - the session may be closing
            _log.debug("Ignored exception: %s", e)

    def create_threads(self, sess, coord=None, daemon=False, start=False) -> list:
        """Threads running the enqueue ops in `sess` (and, with `coord`, one that cancels the
        queue once a stop is requested); started if `start`.  None are created when threads
        of this runner still run for `sess`."""
        with self._lock:
            if self._runs_per_session.get(sess, 0) > 0:
                return []
            self._runs_per_session[sess] = len(self._enqueue_ops)
            self._exceptions_raised = []
        threads = [threading.Thread(target=self._run, args=(sess, op, coord),
                                    name=f"QueueRunner-{self.name}-{i}")
                   for i, op in enumerate(self._enqueue_ops)]
        if coord is not None:
            threads.append(threading.Thread(target=self._close_on_stop,
                                            args=(sess, self._cancel_op, coord),
                                            name=f"QueueRunner-{self.name}-close"))
        for t in threads:
            if coord is not None:
                coord.register_thread(t)
            if daemon:
                t.daemon = True
            if start:
                t.start()
        return threads


def add_queue_runner(qr, collection=GraphKeys.QUEUE_RUNNERS) -> None:
    """Add `qr` to the graph collection `collection` (TF1 `tf.train.add_queue_runner`)."""
    add_to_collection(collection, qr)


def start_queue_runners(sess=None, coord=None, daemon=True, start=True,
                        collection=GraphKeys.QUEUE_RUNNERS) -> list:
    """Start the threads of every QueueRunner of `collection` in `sess` (default: the default
    session); returns them (TF1 `tf.train.start_queue_runners`)."""
    if sess is None:
        sess = get_default_session()
        if not sess:
            raise ValueError("Cannot start queue runners: No default session is registered. "
                             "Use `with sess.as_default()` or pass an explicit session to "
                             "tf.start_queue_runners(sess=sess)")
    graph = getattr(sess, "graph", None) or get_default_graph()
    with graph.as_default():
        runners = get_collection(collection)
    threads = []
    for qr in runners:
        threads.extend(qr.create_threads(sess, coord=coord, daemon=daemon, start=start))
    return threads
