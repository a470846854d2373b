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

Unclaimed steps expire.  A worker `claim`s a step when it starts running it, and cleans it up
when done.  Until then, what arrives for the step (tensors a peer sent ahead, or an abort) is
kept only until the step's deadline -- the `expires_in` its sender states, `UNCLAIMED_TTL_S` if
it states none, at most `MAX_STEP_TIMEOUT_S` -- and at most `max_unclaimed_bytes` of it in all
(beyond that the oldest unclaimed steps go first); an aborted step nobody claims is remembered
for `ABORT_TTL_S`, and at most `MAX_UNCLAIMED_ABORTS` of them.  `expire()` (which the transport's
thread calls twice a second) drops what is due, so tensors sent for steps nobody runs here, or
aborts of them, cannot pile up; a later receive of an expired step raises `CancelledError`
saying so.
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

#: The longest step timeout, in seconds (24 hours); also the longest an unclaimed step is kept.
MAX_STEP_TIMEOUT_S = 24 * 3600.0


def check_step_timeout_ms(timeout_ms) -> None:
    """`InvalidArgumentError` unless `timeout_ms` (a step's `RunOptions.timeout_in_ms` or
    `ConfigProto.operation_timeout_in_ms`) is in [0 (none), MAX_STEP_TIMEOUT_S]."""
    if not 0 <= timeout_ms <= MAX_STEP_TIMEOUT_S * 1000:
        raise errors.InvalidArgumentError(
            None, None, f"a step's timeout (RunOptions.timeout_in_ms or ConfigProto."
                        f"operation_timeout_in_ms) must be between 0 (none) and "
                        f"{int(MAX_STEP_TIMEOUT_S * 1000)} ms, got {timeout_ms}")


#: How long tensors of an unclaimed step are kept when their sender stated no deadline.
UNCLAIMED_TTL_S = 300.0
#: How long the abort of a step not (yet) running here is remembered, and how many at most.
ABORT_TTL_S = 60.0
MAX_UNCLAIMED_ABORTS = 1024


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
    __slots__ = ("values", "waiters", "any_waiters", "error", "taken", "claimed", "expires",
                 "nbytes")

    def __init__(self):
        self.values: dict[Key, Any] = {}
        self.waiters: dict[Key, threading.Condition] = {}  # receivers of one key
        self.any_waiters: list[tuple] = []  # (keys, condition) of receivers of several keys
        self.error: BaseException | None = None
        self.taken = 0  # values taken since `values` was last rebuilt
        self.claimed = False  # a worker runs this step here (`claim`)
        self.expires = 0.0    # while unclaimed: when what it holds is dropped (monotonic)
        self.nbytes = 0       # while unclaimed: the bytes of the values sent to it

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

    def __init__(self, max_unclaimed_bytes: int = 2 << 30, clock=time.monotonic):
        self._lock = threading.Lock()
        self._steps: dict[int, _Step] = {}
        # cleaned-up step ids, in order -> why a receive of them fails (None: it finished)
        self._done: dict[int, str | None] = {}
        self._unclaimed: dict[int, None] = {}  # unclaimed steps holding anything, oldest first
        self._unclaimed_bytes = 0
        self._unclaimed_aborts = 0
        self.max_unclaimed_bytes = max_unclaimed_bytes
        self.expired = 0  # unclaimed steps dropped
        # seconds receivers spent waiting for values not yet here (summed over receivers:
        # concurrent waits add up, so it can run ahead of the wall clock)
        self.wait_s = 0.0
        self._clock = clock

    def _step(self, step_id: int) -> _Step:
        st = self._steps.get(step_id)
        if st is None:
            st = self._steps[step_id] = _Step()
        return st

    def send(self, key: Key, value: Any, expires_in: float | None = None) -> None:
        """Deposit `value` under `key`, waking its receiver if one waits.  `expires_in`: the
        seconds left until the step's deadline, as its sender knows it (what an unclaimed step
        holds is kept that long; see the module docstring).

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
            if not st.claimed:
                ttl = UNCLAIMED_TTL_S if expires_in is None else expires_in
                self._hold(key[0], st, min(max(ttl, 0.0), MAX_STEP_TIMEOUT_S),
                           int(getattr(value, "nbytes", 0) or 0))
            cond = st.waiters.get(key)
            if cond is not None:
                cond.notify()
            else:
                for ks, cond in st.any_waiters:
                    if key in ks:
                        cond.notify()
                        break

    def recv(self, key: Key, timeout_s: float, *, deadline_s: float | None = None,
             absent: Any = ...) -> Any:
        """Take the value sent under `key`, waiting at most `timeout_s` seconds for it.

        Raises `DeadlineExceededError` naming the key after the timeout, and the step's error
        (`CancelledError` by default) when the step is or gets aborted.  `deadline_s`: the
        timeout the error states when this wait is one slice of a longer one (default
        `timeout_s`).  `absent`: what to return instead of raising `DeadlineExceededError`
        when nothing came (the default `...`: raise)."""
        got = self.recv_any((key,), timeout_s, deadline_s=deadline_s, absent=absent)
        return absent if got is absent else got[1]

    def recv_any(self, keys, timeout_s: float, step: int | None = None, *,
                 deadline_s: float | None = None, absent: Any = ...) -> tuple[Key, Any]:
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
        refused (`InternalError`), as a second receiver that waits is.  `deadline_s` and
        `absent` as for `recv`."""
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
                why = self._done[step] or f"Step {step} was already cleaned up"
                raise errors.CancelledError(None, None, f"{why}; cannot receive "
                                                        f"{_describe(next(iter(keys)))}")
            st = self._step(step)
            if not st.claimed:
                self._claim(step, st)
            cond, waited_from = None, 0.0
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
                        waited_from = time.monotonic()
                    cond.wait(left)
            finally:
                if cond is not None:
                    self.wait_s += time.monotonic() - waited_from
                    if len(keys) == 1:
                        del st.waiters[next(iter(keys))]
                    else:
                        st.any_waiters[:] = [w for w in st.any_waiters if w[1] is not cond]
            if st.error is not None:
                raise _copy_error(st.error)
        if absent is not ...:
            return absent
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
                if not st.claimed and not st.conditions():  # (a receiver waits: it is running)
                    self._unclaimed_aborts += 1
                    self._hold(step_id, st, ABORT_TTL_S, 0)
                    while self._unclaimed_aborts > MAX_UNCLAIMED_ABORTS:
                        oldest = next(i for i in self._unclaimed
                                      if self._steps[i].error is not None)
                        self._drop_unclaimed(oldest, "aborted before it ran here, and "
                                                     "forgotten (too many such aborts)")
            st.values.clear()
            if step_id in self._unclaimed:
                self._unclaimed_bytes -= st.nbytes
                st.nbytes = 0
            for cond in st.conditions():
                cond.notify()

    # --- unclaimed steps -----------------------------------------------------------------------
    def claim(self, step_id: int) -> None:
        """Step `step_id` starts running here: what it holds is kept until its `cleanup`.
        (A receive claims its step too.)"""
        with self._lock:
            self._claim(step_id, self._step(step_id))

    def _claim(self, step_id: int, st: _Step) -> None:
        st.claimed = True
        if self._unclaimed.pop(step_id, 0) is None:
            self._unclaimed_bytes -= st.nbytes
            if st.error is not None:
                self._unclaimed_aborts -= 1
        st.nbytes = 0

    def _hold(self, step_id: int, st: _Step, ttl_s: float, nbytes: int) -> None:
        """(Under the lock.)  Unclaimed step `st` holds `nbytes` more, until `ttl_s` from now
        at least; the oldest unclaimed steps go when over `max_unclaimed_bytes`."""
        st.expires = max(st.expires, self._clock() + ttl_s)
        st.nbytes += nbytes
        self._unclaimed_bytes += nbytes
        self._unclaimed[step_id] = None
        while self._unclaimed_bytes > self.max_unclaimed_bytes and self._unclaimed:
            self._drop_unclaimed(next(iter(self._unclaimed)),
                                 f"its tensors were dropped: the unclaimed tensors held "
                                 f"here passed {self.max_unclaimed_bytes} bytes")

    def _drop_unclaimed(self, step_id: int, why: str) -> None:
        """(Under the lock.)  Forget unclaimed step `step_id`: a later receive says `why`."""
        self._unclaimed.pop(step_id, None)
        st = self._steps.pop(step_id)
        self._unclaimed_bytes -= st.nbytes
        if st.error is not None:
            self._unclaimed_aborts -= 1
        self._remember_done(step_id, f"Step {step_id} expired here before it ran: {why}")
        self.expired += 1

    def expire(self) -> int:
        """Drop the unclaimed steps whose deadline has passed; returns how many."""
        now = self._clock()
        with self._lock:
            due = [i for i in self._unclaimed if self._steps[i].expires <= now]
            for i in due:
                self._drop_unclaimed(i, "nobody ran it by its deadline")
            return len(due)

    @property
    def unclaimed(self) -> dict:
        """{"steps": unclaimed steps held, "bytes": their values' bytes, "expired": dropped}."""
        with self._lock:
            return {"steps": len(self._unclaimed), "bytes": self._unclaimed_bytes,
                    "expired": self.expired}

    def _remember_done(self, step_id: int, why: str | None) -> None:
        self._done[step_id] = why
        if len(self._done) > self.REMEMBER_DONE:
            del self._done[next(iter(self._done))]

    def cleanup(self, step_id: int) -> None:
        """Forget step `step_id`: drop its undelivered values, its error and its state.

        Receivers still waiting on the step are woken with `CancelledError`; later sends of the
        step are dropped and later receives raise `CancelledError` (step ids are not reused;
        the last `REMEMBER_DONE` cleaned-up ids are remembered)."""
        with self._lock:
            if step_id in self._unclaimed:
                self._claim(step_id, self._steps[step_id])  # (its accounts are settled)
            self._remember_done(step_id, None)
            st = self._steps.pop(step_id, None)
            if st is None or not st.conditions():
                return
            if st.error is None:
                st.error = errors.CancelledError(None, None,
                                                 f"Step {step_id} was cleaned up")
            for cond in st.conditions():
                cond.notify()

    def error_of(self, step_id: int) -> BaseException | None:
        """A copy of the error step `step_id` was aborted with, or None."""
        with self._lock:
            st = self._steps.get(step_id)
            return None if st is None or st.error is None else _copy_error(st.error)

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
