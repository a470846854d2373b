"""Sessions for training (TF1 `tf.train.MonitoredSession` and friends).

The pieces, bottom up:

* `Scaffold` gathers the ops that make a model ready: `init_op` (default: initialise the global
  variables), `ready_op` (default: `report_uninitialized_variables()`, empty when ready),
  `ready_for_local_init_op`, `local_init_op` (local variables and table initialisers) and a
  `Saver`.  `finalize()` fills in the defaults (taking each from its graph collection when the
  collection has one) and makes the graph read-only.
* `SessionManager` makes a `tw.Session` ready.  `prepare_session` (the chief): restore the
  latest checkpoint of `checkpoint_dir` if there is one, else run `init_op`/`init_fn`; then
  `local_init_op`, then check `ready_op`.  `wait_for_session` (the others): run
  `local_init_op` once the global variables are initialised, and poll `ready_op` every
  `recovery_wait_secs` until it reports nothing, giving up after `max_wait_secs` with a
  `DeadlineExceededError` naming the variables still uninitialised and the master.
* `ChiefSessionCreator` / `WorkerSessionCreator` call those with a Scaffold.
* `MonitoredSession` creates the session, calls the hooks (`session_run_hook.py`) around every
  `run`, merging their fetches, feeds and options into the caller's one step, and closes
  everything at the end.  A session that fails with `AbortedError` or `UnavailableError` (a
  worker or parameter server restarted) is closed and created again -- restored from the last
  checkpoint by the chief -- and the step retried; `SingularMonitoredSession` does not recover.
* `MonitoredTrainingSession` builds the usual one: the chief initialises or restores and gets
  a `CheckpointSaverHook` and a `StepCounterHook` when it has a `checkpoint_dir`; other tasks
  wait for the chief.  Summaries are not supported yet: no summary hook is added.  On a
  cluster it tells the ps tasks (`Master.task_done`) that the task it connected to trains
  when it is made, and that its training ended when it is closed after a hook asked to stop
  or the input ran out (not after an error): a ps task's `Server.join()` returns once every
  training task (any job but `ps`) has ended (a tensorweave addition: TF1's ps tasks wait
  forever; the ps task keeps serving until then, and does not end by itself).

Hooks get a `tw.train.Coordinator` as `coord` (`queue_runner.py`); closing requests a stop and
joins the threads registered with it (at most `stop_grace_period_secs`).  Differences from
TF1: queue runners of the QUEUE_RUNNERS collection are not started; a waiting worker polls
every second (TF1: every 30 s) and waits at most `max_wait_secs` in all (one attempt to reach
an unreachable task takes about 10 s, or `operation_timeout_in_ms` when shorter); the first
session creation is not retried (an unreachable master or task is reported at once), and
creation after a preemption is retried for at most `stop_grace_period_secs`, not forever.
"""
from __future__ import annotations

import inspect
import logging
import os
import time

import numpy as np

from ..client.config import RunMetadata, RunOptions
from ..client.session import Session
from ..framework import dtypes, errors
from ..framework.graph import GraphKeys, Operation, Tensor, add_to_collection, get_collection
from ..framework.graph import get_default_graph
from ..ops import control_flow_ops
from ..ops.constant_op import constant
from ..ops import variables as variables_lib
from . import basic_session_run_hooks, checkpoint_management
from .queue_runner import Coordinator
from .saver import Saver
from .session_run_hook import SessionRunArgs, SessionRunContext, SessionRunValues

__all__ = ["Scaffold", "SessionManager", "SessionCreator", "ChiefSessionCreator",
           "WorkerSessionCreator", "MonitoredSession", "SingularMonitoredSession",
           "MonitoredTrainingSession", "USE_DEFAULT"]

_log = logging.getLogger(__name__)

_PREEMPTION_ERRORS = (errors.AbortedError, errors.UnavailableError)

#: the "not given" value of MonitoredTrainingSession's checkpoint and summary frequencies
USE_DEFAULT = object()

#: how often a waiting (non-chief) worker asks whether the chief has initialised the model
_WORKER_POLL_SECS = 1.0


# ----------------------------------------------------------------------------------------------
# Scaffold
# ----------------------------------------------------------------------------------------------
class Scaffold:
    """The ops and Saver that initialise, restore and check a model (TF1 `tf.train.Scaffold`).

    Arguments not given are taken from `copy_from_scaffold`, and at `finalize()` from the graph
    collections (`GraphKeys.INIT_OP`, `READY_OP`, ...) or built by default."""

    def __init__(self, init_op=None, init_feed_dict=None, init_fn=None, ready_op=None,
                 ready_for_local_init_op=None, local_init_op=None, summary_op=None, saver=None,
                 copy_from_scaffold=None, local_init_feed_dict=None):
        if copy_from_scaffold is not None:
            if not isinstance(copy_from_scaffold, Scaffold):
                raise TypeError("copy_from_scaffold is not a Scaffold instance.")

            def coalesce(a, b):
                return a if a is not None else b
            c = copy_from_scaffold
            init_op = coalesce(init_op, c.init_op)
            init_feed_dict = coalesce(init_feed_dict, c.init_feed_dict)
            init_fn = coalesce(init_fn, c._user_init_fn)
            ready_op = coalesce(ready_op, c.ready_op)
            ready_for_local_init_op = coalesce(ready_for_local_init_op,
                                               c.ready_for_local_init_op)
            local_init_op = coalesce(local_init_op, c.local_init_op)
            local_init_feed_dict = coalesce(local_init_feed_dict, c.local_init_feed_dict)
            summary_op = coalesce(summary_op, c.summary_op)
            saver = coalesce(saver, c.saver)
        self._user_init_fn = init_fn
        self._init_fn = (lambda sess: init_fn(self, sess)) if init_fn else None
        self._init_op = init_op
        self._init_feed_dict = init_feed_dict
        self._ready_op = ready_op
        self._ready_for_local_init_op = ready_for_local_init_op
        self._local_init_op = local_init_op
        self._local_init_feed_dict = local_init_feed_dict
        self._summary_op = summary_op
        self._saver = saver
        self._finalized = False

    def finalize(self) -> Scaffold:
        """Fill in the missing ops and the Saver, then finalize the default graph."""
        if self._finalized:
            _log.info("Graph was finalized.")
            return self
        if self._init_op is None:
            self._init_op = Scaffold.get_or_default(
                "init_op", GraphKeys.INIT_OP, variables_lib.global_variables_initializer)
        if self._ready_op is None:
            self._ready_op = Scaffold.get_or_default(
                "ready_op", GraphKeys.READY_OP, lambda: _report_uninitialized(
                    variables_lib.global_variables() + variables_lib.local_variables()))
        if self._ready_for_local_init_op is None:
            self._ready_for_local_init_op = Scaffold.get_or_default(
                "ready_for_local_init_op", GraphKeys.READY_FOR_LOCAL_INIT_OP,
                lambda: _report_uninitialized(variables_lib.global_variables()))
        if self._local_init_op is None:
            self._local_init_op = Scaffold.get_or_default(
                "local_init_op", GraphKeys.LOCAL_INIT_OP, Scaffold.default_local_init_op)
        if self._summary_op is None:
            # summaries are not supported yet: use a summary op only when the graph has one
            ops = get_collection(GraphKeys.SUMMARY_OP)
            self._summary_op = ops[0] if len(ops) == 1 else None
        if self._saver is None:
            self._saver = _get_saver_or_default()
        get_default_graph().finalize()
        _log.info("Graph was finalized.")
        self._finalized = True
        return self

    @property
    def init_fn(self):
        return self._init_fn

    @property
    def init_op(self):
        return self._init_op

    @property
    def ready_op(self):
        return self._ready_op

    @property
    def ready_for_local_init_op(self):
        return self._ready_for_local_init_op

    @property
    def local_init_op(self):
        return self._local_init_op

    @property
    def local_init_feed_dict(self):
        return self._local_init_feed_dict

    @property
    def summary_op(self):
        return self._summary_op

    @property
    def saver(self):
        return self._saver

    @property
    def init_feed_dict(self):
        return self._init_feed_dict

    @staticmethod
    def get_or_default(arg_name, collection_key, default_constructor):
        """The single member of `collection_key`, else `default_constructor()` (added to it)."""
        elements = get_collection(collection_key)
        if elements:
            if len(elements) > 1:
                raise RuntimeError(f"More than one item in the collection {collection_key}. "
                                   "Please indicate which one to use by passing it to the "
                                   f"tw.train.Scaffold constructor as: "
                                   f"tw.train.Scaffold({arg_name}=item to use)")
            return elements[0]
        op = default_constructor()
        if op is not None:
            add_to_collection(collection_key, op)
        return op

    @staticmethod
    def default_local_init_op():
        """Initialise the local variables and the lookup tables (TF1's default)."""
        ops = [variables_lib.local_variables_initializer()]
        ops += list(get_collection(GraphKeys.TABLE_INITIALIZERS))
        return control_flow_ops.group(*ops)


def _report_uninitialized(var_list):
    """`report_uninitialized_variables(var_list)`; with no variables, an empty string tensor
    built here (`report_uninitialized_variables` of no variables raises: `constant([],
    dtype=string)` is refused by `framework/convert.py`)."""
    if var_list:
        return variables_lib.report_uninitialized_variables(var_list)
    return constant(np.array([], dtype=object), dtype=dtypes.string,
                    name="report_uninitialized_variables")


def _get_saver_or_default():
    """The Saver of the SAVERS collection, else a new one over all variables (added to it)."""
    savers = get_collection(GraphKeys.SAVERS)
    if savers:
        if len(savers) > 1:
            raise RuntimeError(f"More than one item in collection {GraphKeys.SAVERS}. Please "
                               "indicate which one to use by passing it to the constructor.")
        return savers[0]
    saver = Saver(sharded=True, allow_empty=True)
    add_to_collection(GraphKeys.SAVERS, saver)
    return saver


# ----------------------------------------------------------------------------------------------
# SessionManager
# ----------------------------------------------------------------------------------------------
def _names(value) -> list:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v)
            for v in np.asarray(value).ravel()]


class SessionManager:
    """Creates sessions and makes their model ready (TF1 `tf.train.SessionManager`)."""

    def __init__(self, local_init_op=None, ready_op=None, ready_for_local_init_op=None,
                 graph=None, recovery_wait_secs=30, local_init_run_options=None,
                 local_init_feed_dict=None):
        if graph is None:
            graph = get_default_graph()
        if ready_for_local_init_op is not None and local_init_op is None:
            raise ValueError("If you pass a ready_for_local_init_op you must also pass a "
                             f"local_init_op , ready_for_local_init_op [{ready_for_local_init_op}]")
        self._local_init_op = local_init_op
        self._local_init_feed_dict = local_init_feed_dict
        self._local_init_run_options = local_init_run_options
        self._ready_op = ready_op
        self._ready_for_local_init_op = ready_for_local_init_op
        self._graph = graph
        self._recovery_wait_secs = recovery_wait_secs
        self._target = None

    # --- the chief ------------------------------------------------------------------------------
    def _restore_checkpoint(self, master, saver=None, checkpoint_dir=None,
                            checkpoint_filename_with_path=None, wait_for_checkpoint=False,
                            max_wait_secs=7200, config=None):
        """(session, True if it was restored from a checkpoint)."""
        self._target = master
        if checkpoint_dir and checkpoint_filename_with_path:
            raise ValueError("Can not provide both checkpoint_dir and "
                             "checkpoint_filename_with_path.")
        sess = Session(self._target, graph=self._graph, config=config)
        try:
            if not saver or not (checkpoint_dir or checkpoint_filename_with_path):
                return sess, False
            if checkpoint_filename_with_path:
                saver.restore(sess, checkpoint_filename_with_path)
                return sess, True
            deadline = time.monotonic() + max_wait_secs
            ckpt = checkpoint_management.get_checkpoint_state(checkpoint_dir)
            while not ckpt or not ckpt.model_checkpoint_path:
                if not wait_for_checkpoint or time.monotonic() >= deadline:
                    return sess, False
                _log.info("Waiting for checkpoint to be available.")
                time.sleep(min(self._recovery_wait_secs,
                               max(0.0, deadline - time.monotonic())))
                ckpt = checkpoint_management.get_checkpoint_state(checkpoint_dir)
            _log.info("Restoring parameters from %s", ckpt.model_checkpoint_path)
            saver.restore(sess, ckpt.model_checkpoint_path)
            saver.recover_last_checkpoints(ckpt.all_model_checkpoint_paths)
            return sess, True
        except BaseException:
            _safe_close(sess)
            raise

    def prepare_session(self, master, init_op=None, saver=None, checkpoint_dir=None,
                        checkpoint_filename_with_path=None, wait_for_checkpoint=False,
                        max_wait_secs=7200, config=None, init_feed_dict=None, init_fn=None):
        """A session whose model is restored from a checkpoint or initialised, then ready."""
        sess, is_loaded = self._restore_checkpoint(
            master, saver, checkpoint_dir=checkpoint_dir,
            checkpoint_filename_with_path=checkpoint_filename_with_path,
            wait_for_checkpoint=wait_for_checkpoint, max_wait_secs=max_wait_secs,
            config=config)
        try:
            if not is_loaded:
                if init_op is None and not init_fn and self._local_init_op is None:
                    raise RuntimeError("Model is not initialized and no init_op or init_fn or "
                                       "local_init_op was given")
                if init_op is not None:
                    sess.run(init_op, feed_dict=init_feed_dict)
                if init_fn:
                    init_fn(sess)
            ok, msg = self._try_run_local_init_op(sess)
            if not ok:
                raise RuntimeError(f"Init operations did not make model ready for local_init. "
                                   f"Init op: {_op_name(init_op)}, init fn: {init_fn}, "
                                   f"error: {msg}")
            ready, msg = self._model_ready(sess)
            if not ready:
                raise RuntimeError(f"Init operations did not make model ready. Init op: "
                                   f"{_op_name(init_op)}, init fn: {init_fn}, local_init_op: "
                                   f"{_op_name(self._local_init_op)}, error: {msg}")
        except BaseException:
            _safe_close(sess)
            raise
        return sess

    def recover_session(self, master, saver=None, checkpoint_dir=None,
                        checkpoint_filename_with_path=None, wait_for_checkpoint=False,
                        max_wait_secs=7200, config=None):
        """(session, initialized): restored from a checkpoint, and whether it is ready."""
        sess, is_loaded = self._restore_checkpoint(
            master, saver, checkpoint_dir=checkpoint_dir,
            checkpoint_filename_with_path=checkpoint_filename_with_path,
            wait_for_checkpoint=wait_for_checkpoint, max_wait_secs=max_wait_secs,
            config=config)
        ok, msg = self._try_run_local_init_op(sess)
        if not is_loaded:
            if not ok:
                return sess, False
            ready, msg = self._model_ready(sess)
            return sess, ready
        if not ok:
            _log.info("Restoring model from %s did not make model ready for local init: %s",
                      checkpoint_dir or checkpoint_filename_with_path, msg)
            return sess, False
        ready, msg = self._model_ready(sess)
        if not ready:
            _log.info("Restoring model from %s did not make model ready: %s",
                      checkpoint_dir or checkpoint_filename_with_path, msg)
            return sess, False
        _log.info("Restored model from %s", checkpoint_dir or checkpoint_filename_with_path)
        return sess, True

    # --- the other workers ----------------------------------------------------------------------
    def wait_for_session(self, master, config=None, max_wait_secs=float("Inf")):
        """A session on `master` once another task (the chief) has made the model ready;
        `DeadlineExceededError` naming what is still uninitialised after `max_wait_secs`."""
        self._target = master
        if max_wait_secs is None:
            max_wait_secs = float("Inf")
        deadline = time.monotonic() + max_wait_secs
        sess = None
        try:
            while True:
                if sess is None:
                    try:
                        sess = Session(self._target, graph=self._graph, config=config)
                    except errors.UnavailableError as e:
                        not_ready = f"no session could be made: {e}"
                if sess is not None:
                    ok, not_ready = self._try_run_local_init_op(sess)
                    if ok:
                        ready, not_ready = self._model_ready(sess)
                        if ready:
                            result, sess = sess, None
                            return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise errors.DeadlineExceededError(
                        None, None, f"Session was not ready after waiting {max_wait_secs:g} "
                        f"secs for master {master!r}: {not_ready}. The chief "
                        "(is_chief=True) initialises or restores the model; is it running on "
                        "the same cluster?")
                _log.info("Waiting for model to be ready at %s: %s", master or "(local)",
                          not_ready)
                time.sleep(min(self._recovery_wait_secs, remaining))
        finally:
            if sess is not None:
                _safe_close(sess)

    # --- readiness --------------------------------------------------------------------------
    def _ready(self, op, sess, msg):
        if op is None:
            return True, None
        try:
            value = sess.run(op)
        except errors.FailedPreconditionError as e:
            if "uninitialized" not in str(e) and "not initialized" not in str(e):
                _log.warning("%s raised: %s", msg, e)
                raise
            return False, str(e)
        if value is None or np.asarray(value).dtype == np.int32 or np.size(value) == 0:
            return True, None
        return False, "Variables not initialized: " + ", ".join(_names(value))

    def _model_ready(self, sess):
        return self._ready(self._ready_op, sess, "Model not ready")

    def _model_ready_for_local_init(self, sess):
        return self._ready(self._ready_for_local_init_op, sess,
                           "Model not ready for local init")

    def _try_run_local_init_op(self, sess):
        if self._local_init_op is None:
            return True, None
        ok, msg = self._model_ready_for_local_init(sess)
        if not ok:
            return False, msg
        _log.info("Running local_init_op.")
        sess.run(self._local_init_op, feed_dict=self._local_init_feed_dict,
                 options=self._local_init_run_options)
        _log.info("Done running local_init_op.")
        return True, None


def _op_name(op):
    return op.name if isinstance(op, (Operation, Tensor)) else op


def _safe_close(sess) -> None:
    try:
        sess.close()
    except Exception as e:  # noqa: BLE001 - closing after a failure must not hide it
        _log.warning("Error closing a session: %s", e)


# ----------------------------------------------------------------------------------------------
# session creators
# ----------------------------------------------------------------------------------------------
class SessionCreator:
    """A factory for sessions (`create_session()`)."""

    def create_session(self):
        raise NotImplementedError("create_session is not implemented for "
                                  f"{type(self).__name__}.")


class _ScaffoldSessionCreator(SessionCreator):
    """A session creator that makes its SessionManager from a Scaffold."""

    _recovery_wait_secs = 30

    def __init__(self, scaffold, master, config):
        self._scaffold = scaffold or Scaffold()
        self._session_manager = None
        self._master = master
        self._config = config

    def _get_session_manager(self):
        if self._session_manager is None:
            s = self._scaffold
            self._session_manager = SessionManager(
                local_init_op=s.local_init_op, local_init_feed_dict=s.local_init_feed_dict,
                ready_op=s.ready_op, ready_for_local_init_op=s.ready_for_local_init_op,
                graph=get_default_graph(), recovery_wait_secs=self._recovery_wait_secs)
        return self._session_manager


class ChiefSessionCreator(_ScaffoldSessionCreator):
    """Initialises or restores the model (the chief's session)."""

    def __init__(self, scaffold=None, master="", config=None, checkpoint_dir=None,
                 checkpoint_filename_with_path=None):
        super().__init__(scaffold, master, config)
        self._checkpoint_dir = checkpoint_dir
        self._checkpoint_filename_with_path = checkpoint_filename_with_path

    def create_session(self):
        self._scaffold.finalize()
        return self._get_session_manager().prepare_session(
            self._master, saver=self._scaffold.saver, checkpoint_dir=self._checkpoint_dir,
            checkpoint_filename_with_path=self._checkpoint_filename_with_path,
            config=self._config, init_op=self._scaffold.init_op,
            init_feed_dict=self._scaffold.init_feed_dict, init_fn=self._scaffold.init_fn)


class WorkerSessionCreator(_ScaffoldSessionCreator):
    """Waits (at most `max_wait_secs`) for the chief to make the model ready."""

    _recovery_wait_secs = _WORKER_POLL_SECS

    def __init__(self, scaffold=None, master="", config=None, max_wait_secs=7200):
        super().__init__(scaffold, master, config)
        self._max_wait_secs = max_wait_secs

    def create_session(self):
        self._scaffold.finalize()
        return self._get_session_manager().wait_for_session(
            self._master, config=self._config, max_wait_secs=self._max_wait_secs)


# ----------------------------------------------------------------------------------------------
# MonitoredSession
# ----------------------------------------------------------------------------------------------
class _MonitoredSession:
    """The common implementation of MonitoredSession and SingularMonitoredSession."""

    def __init__(self, session_creator, hooks, should_recover, stop_grace_period_secs=120):
        self._graph = get_default_graph()
        self._graph_was_finalized = self._graph.finalized
        self._hooks = list(hooks or [])
        for h in self._hooks:
            h.begin()
        self._session_creator = session_creator
        self._should_recover = should_recover
        self._stop_grace_period_secs = stop_grace_period_secs
        self._tf_sess = None
        self._coord = None
        self._hooks_stop = False
        self._stop_requested_in_step_fn = False
        self._says_task_done = False  # (MonitoredTrainingSession on a cluster: see close)
        self._input_ended = False
        try:
            self._create_session()
        except BaseException:
            if not self._graph_was_finalized:
                self._graph._unsafe_unfinalize()
            raise

    # --- creation -----------------------------------------------------------------------------
    def _create_session(self, retry: bool = False) -> None:
        """Create the session and tell the hooks.  When recreating after a preemption
        (`retry`), creation failing with a preemption error is retried for at most
        stop_grace_period_secs; the first creation is not retried, so an unreachable master
        is reported at once."""
        deadline = time.monotonic() + self._stop_grace_period_secs
        while True:
            try:
                sess = self._session_creator.create_session()
                break
            except _PREEMPTION_ERRORS as e:
                if not retry or time.monotonic() >= deadline:
                    raise
                _log.info("An error was raised while a session was being created. This may "
                          "be due to a preemption of a connected worker or parameter server. "
                          "A new session will be created. Error: %s", e)
                time.sleep(1.0)
        coord = Coordinator()
        try:
            for h in self._hooks:
                h.after_create_session(sess, coord)
        except BaseException:
            _safe_close(sess)
            raise
        self._tf_sess, self._coord, self._hooks_stop = sess, coord, False

    @property
    def graph(self):
        return self._graph

    def _check_open(self) -> None:
        if self._tf_sess is None:
            raise RuntimeError("Session is already closed.")

    # --- running ------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Run one step with the hooks' fetches, feeds and options merged into it."""
        self._check_open()
        while True:
            try:
                return self._hooked_run(fetches, feed_dict, options, run_metadata)
            except _PREEMPTION_ERRORS as e:
                if not self._should_recover:
                    raise
                _log.info("An error was raised. This may be due to a preemption in a "
                          "connected worker or parameter server. The current session will be "
                          "closed and a new session will be created. Error: %s", e)
                self._close_tf_session()
                self._create_session(retry=True)

    def _hooked_run(self, fetches, feed_dict, options, run_metadata):
        if self._hooks_stop or self._coord.should_stop():
            raise RuntimeError("Run called even after should_stop requested.")
        sess = self._tf_sess
        run_context = SessionRunContext(original_args=SessionRunArgs(fetches, feed_dict),
                                        session=sess)
        actual_fetches = {"caller": fetches}
        hook_feeds: dict = {}
        hook_options = []
        for hook in self._hooks:
            request = hook.before_run(run_context)
            if request is None:
                continue
            if request.fetches is not None:
                actual_fetches[hook] = request.fetches
            if request.feed_dict:
                _raise_if_feeds_intersect(hook_feeds, request.feed_dict,
                                          "Same tensor is fed by two hooks.")
                hook_feeds.update(request.feed_dict)
            if request.options:
                hook_options.append(request.options)
        if hook_feeds:
            if feed_dict:
                _raise_if_feeds_intersect(feed_dict, hook_feeds,
                                          "Same tensor is fed by a SessionRunHook and user.")
                hook_feeds.update(feed_dict)
            feed_dict = hook_feeds
        if hook_options:
            options = _merged_run_options(options, hook_options)
        if options is not None and run_metadata is None:
            run_metadata = RunMetadata()
        outputs = sess.run(actual_fetches, feed_dict=feed_dict, options=options,
                           run_metadata=run_metadata)
        values_options = options if options is not None else RunOptions()
        values_metadata = run_metadata if run_metadata is not None else RunMetadata()
        for hook in self._hooks:
            hook.after_run(run_context, SessionRunValues(
                results=outputs[hook] if hook in outputs else None, options=values_options,
                run_metadata=values_metadata))
        self._hooks_stop = self._hooks_stop or run_context.stop_requested
        return outputs["caller"]

    def run_step_fn(self, step_fn):
        """Run `step_fn(step_context)`: it may call `step_context.session.run` (no hooks),
        `step_context.run_with_hooks(...)`, or `step_context.request_stop()`."""
        params = list(inspect.signature(step_fn).parameters)
        if params not in (["step_context"], ["self", "step_context"]):
            raise ValueError("`step_fn` may either have one `step_context` argument, or `self` "
                             "and `step_context` arguments if it's an instance method. Got "
                             f"{tuple(params)} instead.")
        self._check_open()
        try:
            return step_fn(_MonitoredSession.StepContext(self._tf_sess, self.run))
        except StopIteration:
            self._stop_requested_in_step_fn = True
            raise

    class StepContext:
        """What `run_step_fn` hands to its `step_fn`."""

        def __init__(self, session, run_with_hooks_fn):
            self._session = session
            self._run_with_hooks_fn = run_with_hooks_fn

        @property
        def session(self):
            return self._session

        def run_with_hooks(self, *args, **kwargs):
            return self._run_with_hooks_fn(*args, **kwargs)

        def request_stop(self):
            """Stop the iteration: raises StopIteration, which `run_step_fn` records and the
            context manager swallows."""
            raise StopIteration("step_fn has requested the iterations to stop.")

    def should_stop(self) -> bool:
        """True once a hook requested a stop (or the session is closed)."""
        return (self._tf_sess is None or self._hooks_stop or self._stop_requested_in_step_fn
                or self._coord.should_stop())

    # --- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Call the hooks' `end`, then close the session."""
        self._close_internal()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (errors.OutOfRangeError,
                                                          StopIteration)):
            exc_type = None
            self._input_ended = True
        self._close_internal(exc_type)
        return exc_type is None  # the end of the input is the normal end of training

    def _close_tf_session(self) -> None:
        """Stop the coordinator, join its threads (at most stop_grace_period_secs; threads
        still alive are left behind), close the session; an exception a thread reported to
        the coordinator is raised (as TF1)."""
        sess, self._tf_sess = self._tf_sess, None
        coord, self._coord = self._coord, None
        try:
            if coord is not None:
                coord.request_stop()
                coord.join(stop_grace_period_secs=self._stop_grace_period_secs,
                           ignore_live_threads=True)
        finally:
            if sess is not None:
                _safe_close(sess)

    def _close_internal(self, exception_type=None) -> None:
        try:
            if not exception_type:
                self._check_open()
                for h in self._hooks:
                    h.end(self._tf_sess)
                failed = getattr(self._coord, "_exc_info_to_raise", None) is not None
                if self._says_task_done and not failed and (
                        self._input_ended or self.should_stop()):
                    # training ended (a hook asked to stop, or the input ran out): a ps
                    # task's Server.join() returns once every training task has said so
                    _tell_ps_tasks(self._tf_sess, done=True)
        finally:
            try:
                self._check_open()
            finally:
                self._close_tf_session()
                if not self._graph_was_finalized:
                    self._graph._unsafe_unfinalize()

    def _tf_sess_or_raise(self):
        self._check_open()
        return self._tf_sess


def _raise_if_feeds_intersect(feeds1, feeds2, message) -> None:
    common = set(feeds1) & set(feeds2)
    if common:
        names = ", ".join(sorted(getattr(t, "name", str(t)) for t in common))
        raise RuntimeError(f"{message} Conflict(s): {names}")


def _merged_run_options(options, hook_options):
    """The caller's RunOptions with the hooks': the highest trace level, the smallest
    timeout, partition graphs if anyone wants them."""
    merged = RunOptions()
    for o in ([options] if options is not None else []) + hook_options:
        merged.trace_level = max(merged.trace_level, o.trace_level)
        if o.timeout_in_ms:
            merged.timeout_in_ms = (o.timeout_in_ms if not merged.timeout_in_ms
                                    else min(merged.timeout_in_ms, o.timeout_in_ms))
        merged.output_partition_graphs = (merged.output_partition_graphs
                                          or o.output_partition_graphs)
    return merged


class MonitoredSession(_MonitoredSession):
    """A session that initialises/restores (through `session_creator`, default
    `ChiefSessionCreator()`), calls hooks around `run`, and recovers from preemptions."""

    def __init__(self, session_creator=None, hooks=None, stop_grace_period_secs=120):
        super().__init__(session_creator or ChiefSessionCreator(), hooks, should_recover=True,
                         stop_grace_period_secs=stop_grace_period_secs)


class SingularMonitoredSession(_MonitoredSession):
    """A MonitoredSession for one process (a chief without recovery) with `raw_session()`."""

    def __init__(self, hooks=None, scaffold=None, master="", config=None, checkpoint_dir=None,
                 stop_grace_period_secs=120, checkpoint_filename_with_path=None):
        creator = ChiefSessionCreator(scaffold=scaffold, master=master, config=config,
                                      checkpoint_dir=checkpoint_dir,
                                      checkpoint_filename_with_path=checkpoint_filename_with_path)
        super().__init__(creator, hooks, should_recover=False,
                         stop_grace_period_secs=stop_grace_period_secs)

    def raw_session(self):
        """The underlying `tw.Session` (runs without hooks)."""
        return self._tf_sess_or_raise()


def MonitoredTrainingSession(master="", is_chief=True, checkpoint_dir=None, scaffold=None,  # noqa: N802 - TF1's name
                             hooks=None, chief_only_hooks=None, save_checkpoint_secs=USE_DEFAULT,
                             save_summaries_steps=USE_DEFAULT, save_summaries_secs=USE_DEFAULT,
                             config=None, stop_grace_period_secs=120, log_step_count_steps=100,
                             max_wait_secs=7200, save_checkpoint_steps=USE_DEFAULT,
                             summary_dir=None):
    """A MonitoredSession for training: the chief initialises or restores from
    `checkpoint_dir` and saves checkpoints there (every `save_checkpoint_steps` steps, else
    every `save_checkpoint_secs` seconds, default 600, and at the end); the other tasks wait
    for the chief (at most `max_wait_secs`).  Summaries are not supported yet."""
    if save_checkpoint_steps is USE_DEFAULT and save_checkpoint_secs is USE_DEFAULT:
        save_checkpoint_steps, save_checkpoint_secs = None, 600
    elif save_checkpoint_secs is USE_DEFAULT:
        save_checkpoint_secs = None
    elif save_checkpoint_steps is USE_DEFAULT:
        save_checkpoint_steps = None
    if save_checkpoint_secs is not None and save_checkpoint_steps is not None:
        # TF1's documentation: when both are provided, only save_checkpoint_secs is used
        save_checkpoint_steps = None
    del save_summaries_steps, save_summaries_secs  # summaries are not supported yet
    scaffold = scaffold or Scaffold()
    if not is_chief:
        creator = WorkerSessionCreator(scaffold=scaffold, master=master, config=config,
                                       max_wait_secs=max_wait_secs)
        return _training(MonitoredSession(session_creator=creator, hooks=hooks or [],
                                          stop_grace_period_secs=stop_grace_period_secs))
    all_hooks = list(chief_only_hooks or [])
    creator = ChiefSessionCreator(scaffold=scaffold, checkpoint_dir=checkpoint_dir,
                                  master=master, config=config)
    summary_dir = summary_dir or checkpoint_dir
    if summary_dir and log_step_count_steps and log_step_count_steps > 0:
        all_hooks.append(basic_session_run_hooks.StepCounterHook(
            output_dir=summary_dir, every_n_steps=log_step_count_steps))
    if checkpoint_dir and ((save_checkpoint_secs and save_checkpoint_secs > 0)
                           or (save_checkpoint_steps and save_checkpoint_steps > 0)):
        all_hooks.append(basic_session_run_hooks.CheckpointSaverHook(
            os.fspath(checkpoint_dir), save_steps=save_checkpoint_steps,
            save_secs=save_checkpoint_secs, scaffold=scaffold))
    all_hooks.extend(hooks or [])
    return _training(MonitoredSession(session_creator=creator, hooks=all_hooks,
                                      stop_grace_period_secs=stop_grace_period_secs))


def _training(sess: MonitoredSession) -> MonitoredSession:
    """Mark `sess` as a training session: its task trains (again) from now on, and says so
    to the cluster's ps tasks when its training ends (see `_MonitoredSession.close`)."""
    sess._says_task_done = True
    _tell_ps_tasks(sess._tf_sess, done=False)
    return sess


def _tell_ps_tasks(session, done: bool) -> None:
    master = getattr(session, "_master", None)
    if master is not None:
        master.task_done(done)
