"""Session-run hooks (TF1 `tf.train.SessionRunHook` and its argument types).

A hook is told about the life of a `MonitoredSession` (`monitored_session.py`), in this order:

    begin()                                   once, before the graph is finalized
    after_create_session(session, coord)      each time a session is created (or recreated)
    before_run(run_context) -> SessionRunArgs or None   \\  around every
    after_run(run_context, run_values)                  /  MonitoredSession.run
    end(session)                              once, when the session closes without an error

`before_run` may ask for more fetches, feeds and run options; they are run in the same step as
the caller's and handed back in `SessionRunValues.results`.  `run_context.request_stop()` makes
`MonitoredSession.should_stop()` true after the step.
"""
from __future__ import annotations

import collections

__all__ = ["SessionRunHook", "SessionRunArgs", "SessionRunContext", "SessionRunValues"]


class SessionRunHook:
    """Hook to extend calls to `MonitoredSession.run()`; every method does nothing by default."""

    def begin(self) -> None:
        """Called once before the session is used; the graph may still be changed here."""

    def after_create_session(self, session, coord) -> None:
        """Called when a new session has been created and initialised (graph finalized)."""

    def before_run(self, run_context):
        """Called before each `run`; returns a `SessionRunArgs` to add to the step, or None."""
        return None

    def after_run(self, run_context, run_values) -> None:
        """Called after each `run` with the results of what `before_run` asked for."""

    def end(self, session) -> None:
        """Called at the end of the session (not when the session is closed by an error)."""


class SessionRunArgs(collections.namedtuple("SessionRunArgs",
                                            ["fetches", "feed_dict", "options"])):
    """What a hook adds to a `Session.run` call: fetches, feeds and `RunOptions`."""

    __slots__ = ()

    def __new__(cls, fetches, feed_dict=None, options=None):
        return super().__new__(cls, fetches, feed_dict, options)


class SessionRunContext:
    """Information about the `run` call in progress; lets a hook ask the loop to stop."""

    def __init__(self, original_args, session):
        self._original_args = original_args
        self._session = session
        self._stop_requested = False

    @property
    def original_args(self) -> SessionRunArgs:
        """The `SessionRunArgs` of the caller's `run` (its fetches and feed_dict)."""
        return self._original_args

    @property
    def session(self):
        """The raw session that runs the step (use it for extra `run` calls)."""
        return self._session

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask for the iteration to stop: `should_stop()` is True after this step."""
        self._stop_requested = True


class SessionRunValues(collections.namedtuple("SessionRunValues",
                                              ["results", "options", "run_metadata"])):
    """What a hook gets back: `results` of its `SessionRunArgs.fetches`, the step's
    `RunOptions` and `RunMetadata`."""

    __slots__ = ()
