"""The rendezvous: the per-worker table where `_Recv` kernels wait for the tensors of `_Send`s.

A key is `(step_id, src_device, dst_device, tensor_name)` (`make_key`).  `send(key, value)`
deposits a value -- from a local `_Send`, or from the transport thread when the tensor came
from another process -- and `recv(key, timeout_s)` takes it, waiting if it has not arrived;
`recv_any(keys, timeout_s)` takes whichever of several keys arrives first.

State, per step: the values sent and not yet received, the receivers waiting (each on its own
condition variable over the table's one lock, so a send wakes only the receiver of its key and
nobody polls; a `recv_any` of several keys registers its condition with its key set), and, once
the step is aborted, its error.  `abort(step_id, error)` wakes that
step's receivers with the error and makes later sends and receives of the step raise it, until
`cleanup(step_id)` forgets the step (values never received are dropped, which also releases
their shared-memory leases).  Each key is sent once and received once per step.
"""
from __future__ import annotations

import copy
import itertools
import threading
import time
from typing import Any

from ..framework import errors

__all__ = ["Rendezvous", "make_key", "Key"]

Key = tuple[int, str, str, str]


def make_key(step_id: int, src_device: str, dst_device: str, tensor_name: str) -> Key:
    """The rendezvous key of a tensor sent from `src_device` to `dst_device` in a step."""
    if not isinstance(step_id, int) or isinstance(step_id, bool):
        raise TypeError(f"step_id must be an int, got {step_id!r}")
    for what, v in (("src_device", src_device), ("dst_device", dst_device),
                    ("tensor_name", tensor_name)):
        if not isinstance(v, str):
            raise TypeError(f"{what} must be a str, got {v!r}")
    return (step_id, src_device, dst_device, tensor_name)


def _describe(key: Key) -> str:
    step, src, dst, name = key
    return f"tensor {name!r} from {src} to {dst} in step {step}"


class _Step:
    __slots__ = ("values", "waiters", "any_waiters", "error", "taken")

    def __init__(self):
        self.values: dict[Key, Any] = {}
        self.waiters: dict[Key, threading.Condition] = {}  # receivers of one key
        self.any_waiters: list[tuple] = []  # (keys, condition) of receivers of several keys
        self.error: BaseException | None = None
        self.taken = 0  # values taken since `values` was last rebuilt

    def present(self, keys):
        """One of `keys` whose value is here, or None (looks at the smaller of the two)."""
        values = self.values
        if len(values) <= len(keys):
            for key in values:
                if key in keys:
                    return key
        else:
            for key in keys:
                if key in values:
                    return key
        return None

    def take(self, key):
        """Pop `key`'s value.  A dict keeps the slots of popped entries until it grows, and
        iterating it walks them: rebuild it once as many were taken as remain."""
        value = self.values.pop(key)
        self.taken += 1
        if self.taken > 32 and self.taken > len(self.values):
            self.values = dict(self.values)
            self.taken = 0
        return value

    def conditions(self):
        return list(self.waiters.values()) + [c for _, c in self.any_waiters]

    def waiting_for(self, key) -> bool:
        return key in self.waiters or any(key in ks for ks, _ in self.any_waiters)


class Rendezvous:
    """A thread-safe table of tensors in flight, keyed by `make_key(...)`."""

    #: How many cleaned-up step ids are remembered, so late tensors of those steps are dropped.
    REMEMBER_DONE = 4096

    def __init__(self):
        self._lock = threading.Lock()
        self._steps: dict[int, _Step] = {}
        self._done: dict[int, None] = {}  # insertion-ordered set of cleaned-up step ids

    def _step(self, step_id: int) -> _Step:
        st = self._steps.get(step_id)
        if st is None:
            st = self._steps[step_id] = _Step()
        return st

    def send(self, key: Key, value: Any) -> None:
        """Deposit `value` under `key`, waking its receiver if one waits.

        Raises the step's error if the step was aborted, `InternalError` if the key was already
        sent and not yet received.  A value for a step already cleaned up is dropped."""
        with self._lock:
            if key[0] in self._done:
                return  # a late tensor of a finished step: drop it
            st = self._step(key[0])
            if st.error is not None:
                raise _copy_error(st.error)
            if key in st.values:
                raise errors.InternalError(None, None, f"Rendezvous: duplicate send of "
                                                       f"{_describe(key)}")
            st.values[key] = value
            cond = st.waiters.get(key)
            if cond is not None:
                cond.notify()
            else:
                for ks, cond in st.any_waiters:
                    if key in ks:
                        cond.notify()
                        break

    def recv(self, key: Key, timeout_s: float, *, deadline_s: float | None = None) -> Any:
        """Take the value sent under `key`, waiting at most `timeout_s` seconds for it.

        Raises `DeadlineExceededError` naming the key after the timeout, and the step's error
        (`CancelledError` by default) when the step is or gets aborted.  `deadline_s`: the
        timeout the error states when this wait is one slice of a longer one (default
        `timeout_s`)."""
        return self.recv_any((key,), timeout_s, deadline_s=deadline_s)[1]

    def recv_any(self, keys, timeout_s: float, step: int | None = None, *,
                 deadline_s: float | None = None) -> tuple[Key, Any]:
        """Take the value of whichever of `keys` (all of one step) is sent first: `(key,
        value)`, waiting at most `timeout_s` seconds (one condition variable waits for all the
        keys; errors as `recv`).  A dataflow executor uses it to run what a tensor enables in
        the order the tensors arrive.

        `keys` may be a dict or set (used as is: its keys must be of step `step`, default the
        step of its first key, and it must not change during the call) or any other iterable
        (checked and copied).  With a dict or set and `step` given, a call costs time in
        proportion to the values waiting in the step (and at most as many taken since its
        table was last compacted), not to the number of keys; a send checks its key against
        each multi-key receiver.  A value that is here while another receiver waits for it is
        refused (`InternalError`), as a second receiver that waits is.  `deadline_s` as for
        `recv`."""
        if not isinstance(keys, (dict, set, frozenset)):
            keys = dict.fromkeys(keys)
            if len({k[0] for k in keys}) > 1:
                raise ValueError(f"Rendezvous.recv_any: keys of different steps: {keys!r}")
        if not keys:
            raise ValueError("Rendezvous.recv_any needs at least one key")
        if step is None:
            step = next(iter(keys))[0]
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if step in self._done:
                raise errors.CancelledError(None, None, f"Step {step} was already cleaned up; "
                                                        f"cannot receive "
                                                        f"{_describe(next(iter(keys)))}")
            st = self._step(step)
            cond = None
            try:
                while st.error is None:
                    key = st.present(keys)
                    if key is not None:
                        if cond is None and (st.waiters or st.any_waiters) \
                                and st.waiting_for(key):
                            raise errors.InternalError(None, None, f"Rendezvous: two receivers "
                                                                   f"wait for {_describe(key)}")
                        return key, st.take(key)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if cond is None:
                        cond = self._register(st, keys)
                    cond.wait(left)
            finally:
                if cond is not None:
                    if len(keys) == 1:
                        del st.waiters[next(iter(keys))]
                    else:
                        st.any_waiters[:] = [w for w in st.any_waiters if w[1] is not cond]
            if st.error is not None:
                raise _copy_error(st.error)
            if not st.values and not st.conditions() and self._steps.get(step) is st:
                del self._steps[step]  # nothing else happened in this step (yet)
        shown = list(itertools.islice(keys, 3))
        what = "; ".join(_describe(k) for k in shown)
        if len(keys) > 1:
            what = "any of " + what + (f" (and {len(keys) - 3} more)" if len(keys) > 3 else "")
        stated = timeout_s if deadline_s is None else deadline_s
        raise errors.DeadlineExceededError(
            None, None, f"Rendezvous: timed out after {stated:g} s waiting for {what}; "
                        f"key={shown[0]!r}")

    def _register(self, st: _Step, keys) -> threading.Condition:
        """A condition for a receiver of `keys`, registered in step `st` (under the lock);
        `InternalError` if another receiver already waits for one of the keys."""
        first = next(iter(keys))
        if len(keys) == 1:
            clash = first if st.waiting_for(first) else None
        else:
            clash = next((k for k in st.waiters if k in keys), None)
            for ks, _ in st.any_waiters:
                small, big = (ks, keys) if len(ks) < len(keys) else (keys, ks)
                clash = clash or next((k for k in small if k in big), None)
        if clash is not None:
            raise errors.InternalError(None, None, f"Rendezvous: two receivers wait for "
                                                   f"{_describe(clash)}")
        cond = threading.Condition(self._lock)
        if len(keys) == 1:
            st.waiters[first] = cond
        else:
            st.any_waiters.append((keys, cond))
        return cond

    def abort(self, step_id: int, error: BaseException | None = None) -> None:
        """Fail step `step_id`: its waiting and later receivers and senders raise `error`
        (default: `CancelledError`).  The first error recorded for a step wins."""
        if error is None:
            error = errors.CancelledError(None, None, f"Step {step_id} was cancelled")
        with self._lock:
            if step_id in self._done:
                return
            st = self._step(step_id)
            if st.error is None:
                st.error = error
            st.values.clear()
            for cond in st.conditions():
                cond.notify()

    def cleanup(self, step_id: int) -> None:
        """Forget step `step_id`: drop its undelivered values, its error and its state.

        Receivers still waiting on the step are woken with `CancelledError`; later sends of the
        step are dropped and later receives raise `CancelledError` (step ids are not reused;
        the last `REMEMBER_DONE` cleaned-up ids are remembered)."""
        with self._lock:
            self._done[step_id] = None
            if len(self._done) > self.REMEMBER_DONE:
                del self._done[next(iter(self._done))]
            st = self._steps.pop(step_id, None)
            if st is None or not st.conditions():
                return
            if st.error is None:
                st.error = errors.CancelledError(None, None,
                                                 f"Step {step_id} was cleaned up")
            for cond in st.conditions():
                cond.notify()

    def pending(self, step_id: int | None = None) -> list[Key]:
        """The keys sent and not yet received (of one step, or of all)."""
        with self._lock:
            steps = (self._steps.values() if step_id is None
                     else [self._steps[step_id]] if step_id in self._steps else [])
            return [k for st in steps for k in st.values]


def _copy_error(err: BaseException) -> BaseException:
    """A fresh copy of a recorded error, so threads raising it do not share a traceback."""
    try:
        return copy.copy(err)
    except Exception:  # an exception type that cannot be copied: raise the recorded one
        return err
