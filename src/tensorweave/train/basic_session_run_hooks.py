"""The standard session-run hooks of TF1 (`tf.train.StopAtStepHook`, `CheckpointSaverHook`, ...).

Each hook reads the global step (or the tensors it watches) by adding it to the fetches of the
caller's step (`before_run`), so watching costs no extra step; when that (possibly stale) value
says something is due, the hook reads the global step once more before acting, as TF1 does, so a
value fetched before the step's increment never makes it act one step early or late.

* `SecondOrStepTimer`: "every N seconds or every N steps" bookkeeping shared by the hooks.
* `StopAtStepHook`: requests a stop when the global step reaches `last_step` (or `num_steps`
  after the session was created).
* `CheckpointSaverHook` (+ `CheckpointSaverListener`): saves with a `Saver` after the session is
  created, every `save_secs`/`save_steps`, and at the end.  The Saver writes atomically.
* `StepCounterHook`: logs `global_step/sec`.  Summaries are not supported yet: no event file is
  written, and passing a `summary_writer` is an error.
* `LoggingTensorHook`, `NanTensorHook` (raises `NanLossDuringTrainingError`), `FinalOpsHook`,
  `FeedFnHook`.

Messages go to the `tensorweave.train.basic_session_run_hooks` logger (INFO, as TF1's
`tf.logging.info`).
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from ..framework import errors
from ..framework.graph import GraphKeys, get_collection, get_default_graph
from . import training_util
from .session_run_hook import SessionRunArgs, SessionRunHook

__all__ = ["SecondOrStepTimer", "StopAtStepHook", "CheckpointSaverListener",
           "CheckpointSaverHook", "StepCounterHook", "NanLossDuringTrainingError",
           "NanTensorHook", "LoggingTensorHook", "FinalOpsHook", "FeedFnHook"]

_log = logging.getLogger(__name__)


class SecondOrStepTimer:
    """Triggers at most once per step, every `every_secs` seconds or every `every_steps` steps."""

    def __init__(self, every_secs=None, every_steps=None):
        self.reset()
        self._every_secs = every_secs
        self._every_steps = every_steps
        if every_secs is None and every_steps is None:
            raise ValueError("Either every_secs or every_steps should be provided.")
        if every_secs is not None and every_steps is not None:
            raise ValueError("Can not provide both every_secs and every_steps.")

    def reset(self) -> None:
        self._last_triggered_step = None
        self._last_triggered_time = None

    def should_trigger_for_step(self, step) -> bool:
        """True when `step` is due (always for the first step, never twice for one step)."""
        if self._last_triggered_step is None:
            return True
        if self._last_triggered_step == step:
            return False
        if self._every_secs is not None and time.time() >= (self._last_triggered_time
                                                            + self._every_secs):
            return True
        if self._every_steps is not None and step >= (self._last_triggered_step
                                                      + self._every_steps):
            return True
        return False

    def update_last_triggered_step(self, step):
        """Record a trigger at `step`; returns (seconds, steps) since the last one, or
        (None, None) the first time."""
        now = time.time()
        if self._last_triggered_time is None:
            elapsed = (None, None)
        else:
            elapsed = (now - self._last_triggered_time, step - self._last_triggered_step)
        self._last_triggered_time = now
        self._last_triggered_step = step
        return elapsed

    def last_triggered_step(self):
        return self._last_triggered_step


class _NeverTriggerTimer(SecondOrStepTimer):
    """A timer that never triggers (LoggingTensorHook with only `at_end`)."""

    def __init__(self):
        super().__init__(every_secs=None, every_steps=0)

    def should_trigger_for_step(self, step) -> bool:
        return False


def _global_step_or_raise(hook_name: str):
    gs = training_util.get_global_step()
    if gs is None:
        raise RuntimeError(f"Global step should be created to use {hook_name}.")
    return gs


def _due_step(timer, run_context, run_values, global_step_tensor, steps_per_run):
    """The global step if `timer` is due after this step, else None.  The fetched value
    (`run_values.results`) may predate the step's increment, so when it says "maybe", the
    step is read once more."""
    if not timer.should_trigger_for_step(int(run_values.results) + steps_per_run):
        return None
    global_step = int(run_context.session.run(global_step_tensor))
    return global_step if timer.should_trigger_for_step(global_step) else None


def _as_graph_element(obj):
    """`obj` (a Tensor, Operation or name) as an element of the default graph."""
    graph = get_default_graph()
    if not isinstance(obj, str):
        if getattr(obj, "graph", None) is not graph:
            raise ValueError(f"Passed {obj} should have graph attribute that is equal to "
                             f"current graph {graph}.")
        return obj
    if ":" in obj:
        return graph.as_graph_element(obj)
    element = graph.as_graph_element(obj + ":0")
    try:
        graph.as_graph_element(obj + ":1")
    except (KeyError, ValueError):
        return element
    raise ValueError(f"Name {obj} is ambiguous, as this `Operation` has multiple outputs "
                     "(at least 2).")


class StopAtStepHook(SessionRunHook):
    """Requests a stop at a given global step: `last_step`, or `num_steps` after creation."""

    def __init__(self, num_steps=None, last_step=None):
        if num_steps is None and last_step is None:
            raise ValueError("One of num_steps or last_step must be specified.")
        if num_steps is not None and last_step is not None:
            raise ValueError("Only one of num_steps or last_step can be specified.")
        self._num_steps = num_steps
        self._last_step = last_step

    def begin(self):
        self._global_step_tensor = _global_step_or_raise("StopAtStepHook")

    def after_create_session(self, session, coord):
        global_step = int(session.run(self._global_step_tensor))
        if self._last_step is None:
            self._last_step = global_step + self._num_steps

    def before_run(self, run_context):
        return SessionRunArgs(self._global_step_tensor)

    def after_run(self, run_context, run_values):
        # the fetched value may have been read before this step's increment
        if int(run_values.results) + 1 >= self._last_step:
            step = int(run_context.session.run(self._global_step_tensor))
            if step >= self._last_step:
                run_context.request_stop()


class CheckpointSaverListener:
    """Called by `CheckpointSaverHook` around each save; `after_save` returning True asks the
    training loop to stop."""

    def begin(self) -> None:
        pass

    def before_save(self, session, global_step_value) -> None:
        pass

    def after_save(self, session, global_step_value):
        pass

    def end(self, session, global_step_value) -> None:
        pass


class CheckpointSaverHook(SessionRunHook):
    """Saves checkpoints every `save_secs` seconds or `save_steps` steps, after the session is
    created and at the end (TF1's behaviour: `checkpoint_dir/model.ckpt-<global step>`)."""

    def __init__(self, checkpoint_dir, save_secs=None, save_steps=None, saver=None,
                 checkpoint_basename="model.ckpt", scaffold=None, listeners=None,
                 save_graph_def=True):
        _log.info("Create CheckpointSaverHook.")
        if saver is not None and scaffold is not None:
            raise ValueError("You cannot provide both saver and scaffold.")
        self._saver = saver
        self._checkpoint_dir = os.fspath(checkpoint_dir)
        self._save_path = os.path.join(self._checkpoint_dir, checkpoint_basename)
        self._scaffold = scaffold
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._listeners = list(listeners or [])
        self._save_graph_def = save_graph_def
        self._steps_per_run = 1

    def _set_steps_per_run(self, steps_per_run) -> None:
        self._steps_per_run = steps_per_run

    def begin(self):
        self._global_step_tensor = _global_step_or_raise("CheckpointSaverHook")
        try:
            os.makedirs(self._checkpoint_dir, exist_ok=True)
        except OSError as e:
            raise errors.PermissionDeniedError(
                None, None, f"CheckpointSaverHook cannot create the checkpoint directory "
                f"{self._checkpoint_dir!r}: {e}") from e
        if not os.access(self._checkpoint_dir, os.W_OK | os.X_OK):
            raise errors.PermissionDeniedError(
                None, None, f"CheckpointSaverHook: the checkpoint directory "
                f"{self._checkpoint_dir!r} is not writable.")
        for listener in self._listeners:
            listener.begin()

    def after_create_session(self, session, coord):
        global_step = int(session.run(self._global_step_tensor))
        self._save(session, global_step)
        self._timer.update_last_triggered_step(global_step)

    def before_run(self, run_context):
        return SessionRunArgs(self._global_step_tensor)

    def after_run(self, run_context, run_values):
        global_step = _due_step(self._timer, run_context, run_values, self._global_step_tensor,
                                self._steps_per_run)
        if global_step is not None:
            self._timer.update_last_triggered_step(global_step)
            if self._save(run_context.session, global_step):
                run_context.request_stop()

    def end(self, session):
        last_step = int(session.run(self._global_step_tensor))
        if last_step != self._timer.last_triggered_step():
            self._save(session, last_step)
        for listener in self._listeners:
            listener.end(session, last_step)

    def _save(self, session, step) -> bool:
        """Save at `step`; True if a listener asked to stop."""
        _log.info("Calling checkpoint listeners before saving checkpoint %d...", step)
        for listener in self._listeners:
            listener.before_save(session, step)
        _log.info("Saving checkpoints for %d into %s.", step, self._save_path)
        self._get_saver().save(session, self._save_path, global_step=step,
                               write_meta_graph=self._save_graph_def)
        _log.info("Calling checkpoint listeners after saving checkpoint %d...", step)
        should_stop = False
        for listener in self._listeners:
            if listener.after_save(session, step):
                _log.info("A CheckpointSaverListener requested that training be stopped. "
                          "listener: %s", listener)
                should_stop = True
        return should_stop

    def _get_saver(self):
        if self._saver is not None:
            return self._saver
        if self._scaffold is not None:
            return self._scaffold.saver
        savers = get_collection(GraphKeys.SAVERS)
        if not savers:
            raise RuntimeError(f"No items in collection {GraphKeys.SAVERS}. Please add a saver "
                               "to the collection or provide a saver or scaffold.")
        if len(savers) > 1:
            raise RuntimeError(f"More than one item in collection {GraphKeys.SAVERS}. Please "
                               "indicate which one to use by passing it to the constructor.")
        self._saver = savers[0]
        return self._saver


class StepCounterHook(SessionRunHook):
    """Logs the number of global steps per second (`global_step/sec: 12.3`).

    Summaries are not supported yet: `output_dir` is accepted and nothing is written there;
    a `summary_writer` raises `NotImplementedError`."""

    def __init__(self, every_n_steps=100, every_n_secs=None, output_dir=None,
                 summary_writer=None):
        if (every_n_steps is None) == (every_n_secs is None):
            raise ValueError("exactly one of every_n_steps and every_n_secs should be provided.")
        if summary_writer is not None:
            raise NotImplementedError(
                "StepCounterHook(summary_writer=...): summaries are not supported by "
                "tensorweave yet; pass summary_writer=None (the rate is logged at INFO).")
        self._timer = SecondOrStepTimer(every_steps=every_n_steps, every_secs=every_n_secs)
        self._output_dir = output_dir
        self._last_global_step = None
        self._steps_per_run = 1

    def _set_steps_per_run(self, steps_per_run) -> None:
        self._steps_per_run = steps_per_run

    def begin(self):
        self._global_step_tensor = _global_step_or_raise("StepCounterHook")
        self._summary_tag = training_util.get_global_step().op.name + "/sec"
        if self._output_dir:
            _log.debug("StepCounterHook: no summaries are written to %s (not supported yet).",
                       self._output_dir)

    def before_run(self, run_context):
        return SessionRunArgs(self._global_step_tensor)

    def _log_and_record(self, elapsed_steps, elapsed_time, global_step) -> None:
        steps_per_sec = elapsed_steps / elapsed_time
        _log.info("%s: %g", self._summary_tag, steps_per_sec)

    def after_run(self, run_context, run_values):
        stale = int(run_values.results)
        global_step = _due_step(self._timer, run_context, run_values, self._global_step_tensor,
                                self._steps_per_run)
        if global_step is not None:
            elapsed_time, elapsed_steps = self._timer.update_last_triggered_step(global_step)
            if elapsed_time is not None and elapsed_time > 0:
                self._log_and_record(elapsed_steps, elapsed_time, global_step)
        if stale == self._last_global_step:
            _log.warning("It seems that global step (tw.train.get_global_step) has not been "
                         "increased. Current value (could be stable): %s vs previous value: "
                         "%s. You could increase the global step by passing "
                         "tw.train.get_global_step() to Optimizer.apply_gradients or "
                         "Optimizer.minimize.", stale, self._last_global_step)
        self._last_global_step = stale


class NanLossDuringTrainingError(RuntimeError):
    """Raised by `NanTensorHook` when the loss is NaN."""

    def __str__(self):
        return "NaN loss during training."


class NanTensorHook(SessionRunHook):
    """Raises `NanLossDuringTrainingError` (or only requests a stop) when the loss is NaN."""

    def __init__(self, loss_tensor, fail_on_nan_loss=True):
        self._loss_tensor = loss_tensor
        self._fail_on_nan_loss = fail_on_nan_loss

    def before_run(self, run_context):
        return SessionRunArgs(self._loss_tensor)

    def after_run(self, run_context, run_values):
        if np.isnan(run_values.results).any():
            message = "Model diverged with loss = NaN."
            if self._fail_on_nan_loss:
                _log.error(message)
                raise NanLossDuringTrainingError
            _log.warning(message)
            run_context.request_stop()


class LoggingTensorHook(SessionRunHook):
    """Logs the values of `tensors` (a list of tensors/names, or a dict tag -> tensor) every
    `every_n_iter` runs or `every_n_secs` seconds, and/or at the end: `tag = value, ...`."""

    def __init__(self, tensors, every_n_iter=None, every_n_secs=None, at_end=False,
                 formatter=None):
        only_log_at_end = at_end and every_n_iter is None and every_n_secs is None
        if not only_log_at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError("either at_end and/or exactly one of every_n_iter and every_n_secs "
                             "must be provided.")
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"invalid every_n_iter={every_n_iter}.")
        if not isinstance(tensors, dict):
            self._tag_order = list(tensors)
            tensors = {item: item for item in tensors}
        else:
            self._tag_order = sorted(tensors.keys())
        self._tensors = tensors
        self._formatter = formatter
        self._timer = (_NeverTriggerTimer() if only_log_at_end else
                       SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_iter))
        self._log_at_end = at_end

    def begin(self):
        self._timer.reset()
        self._iter_count = 0
        self._current_tensors = {tag: _as_graph_element(t) for tag, t in self._tensors.items()}

    def before_run(self, run_context):
        self._should_trigger = self._timer.should_trigger_for_step(self._iter_count)
        if self._should_trigger:
            return SessionRunArgs(self._current_tensors)
        return None

    def _log_tensors(self, tensor_values) -> None:
        original = np.get_printoptions()
        np.set_printoptions(suppress=True)
        try:
            elapsed_secs, _ = self._timer.update_last_triggered_step(self._iter_count)
            if self._formatter:
                _log.info("%s", self._formatter(tensor_values))
            else:
                stats = ", ".join(f"{tag} = {tensor_values[tag]}" for tag in self._tag_order)
                if elapsed_secs is not None:
                    _log.info("%s (%.3f sec)", stats, elapsed_secs)
                else:
                    _log.info("%s", stats)
        finally:
            np.set_printoptions(**original)

    def after_run(self, run_context, run_values):
        if self._should_trigger:
            self._log_tensors(run_values.results)
        self._iter_count += 1

    def end(self, session):
        if self._log_at_end:
            self._log_tensors(session.run(self._current_tensors))


class FinalOpsHook(SessionRunHook):
    """Runs `final_ops` at the end of the session; their values are in `final_ops_values`."""

    def __init__(self, final_ops, final_ops_feed_dict=None):
        self._final_ops = final_ops
        self._final_ops_feed_dict = final_ops_feed_dict
        self._final_ops_values = None

    @property
    def final_ops_values(self):
        return self._final_ops_values

    def end(self, session):
        if self._final_ops is None:
            return
        try:
            self._final_ops_values = session.run(self._final_ops,
                                                 feed_dict=self._final_ops_feed_dict)
        except (errors.OutOfRangeError, StopIteration):
            _log.warning("An OutOfRangeError or StopIteration exception is raised by the code "
                         "in FinalOpsHook. This typically means the final ops read past the "
                         "end of their input; check final_ops.")
            raise


class FeedFnHook(SessionRunHook):
    """Feeds every step with `feed_fn()` (a dict placeholder -> value)."""

    def __init__(self, feed_fn):
        self.feed_fn = feed_fn

    def before_run(self, run_context):
        return SessionRunArgs(fetches=None, feed_dict=self.feed_fn())

