"""TF1's `tf.train.SyncReplicasOptimizer`: synchronous data-parallel training between graphs.

Design (TF1's):

* Each variable gets a `ConditionalAccumulator` on the variable's device, shared by every
  worker's graph (`shared_name=var.name + "/grad_accum"`).  A worker's `train_op` applies its
  gradients to them, tagged with its local step `sync_rep_local_step` (a local variable on the
  worker's device): a gradient computed from parameters older than the accumulator's global step
  is stale and dropped.  Then it dequeues a token from the shared token queue
  (`sync_token_q`, unbounded, on the global step's device) and assigns it to its local step: a
  worker cannot run ahead of the aggregation.
* The chief's `sync_op` (run in a loop by `get_chief_queue_runner()`) takes
  `replicas_to_aggregate` gradients from every accumulator (their mean; waiting for them; each
  take also advances the accumulator's global step), applies them with the wrapped optimizer
  (which increments the global step), and enqueues `max(total_num_replicas,
  replicas_to_aggregate)` tokens holding the new global step.
* `chief_init_op` sets the local step from the global step and every accumulator's global step;
  `get_init_tokens_op(n)` puts the first tokens in the queue; `make_session_run_hook(is_chief)`
  does all of this in a `MonitoredSession`.

With `replicas_to_aggregate < total_num_replicas` the slowest workers are backups: their
gradients arrive after the aggregation of their step and are dropped.

As in TF1, `take_grad(n)` returns the mean of all the gradients accumulated once there are at
least `n` (a fast worker may contribute more than one), and with the default init tokens a
worker's second gradient is usually stale (its local step is the init token's) and dropped.
`variable_averages.apply(variables_to_average)` runs after each update, in `sync_op`.

Differences from TF1: no sparse (`IndexedSlices`) gradients (tensorweave has no
`SparseConditionalAccumulator`: they raise `NotImplementedError`).  `replicas_to_aggregate` and
`total_num_replicas` must be ints of at least 1.  When the hook's session runs on a cluster,
the counts are compared with the tasks of the worker's job: on the chief, a first step that
could never get its `replicas_to_aggregate` gradients (fewer worker tasks plus init tokens than
that) is a `ValueError` instead of a hang; any other mismatch is a logged warning
(`_SyncReplicasOptimizerHook._check_cluster` says why).
"""
from __future__ import annotations

import logging
import numbers

from ..framework.device_spec import DeviceSpec
from ..framework.graph import GraphKeys, colocate_with, control_dependencies, device, name_scope
from ..framework.indexed_slices import IndexedSlices
from ..ops import array_ops, control_flow_ops, state_ops
from ..ops import data_flow_ops
from ..ops import variables as variables_lib
from .optimizer import Optimizer
from .queue_runner import QueueRunner
from .session_run_hook import SessionRunHook

__all__ = ["SyncReplicasOptimizer"]

_log = logging.getLogger(__name__)


class SyncReplicasOptimizer(Optimizer):
    """Aggregates the gradients of `replicas_to_aggregate` replicas, applies their mean with
    `opt`, and lets every replica go on to the next step (TF1 `tf.train.SyncReplicasOptimizer`)."""

    def __init__(self, opt, replicas_to_aggregate, total_num_replicas=None,
                 variable_averages=None, variables_to_average=None, use_locking=False,
                 name="sync_replicas"):
        if total_num_replicas is None:
            total_num_replicas = replicas_to_aggregate
        replicas_to_aggregate = _positive_int("replicas_to_aggregate", replicas_to_aggregate)
        total_num_replicas = _positive_int("total_num_replicas", total_num_replicas)
        super().__init__(use_locking, name)
        _log.info("SyncReplicas enabled: replicas_to_aggregate=%s; total_num_replicas=%s",
                  replicas_to_aggregate, total_num_replicas)
        self._opt = opt
        self._replicas_to_aggregate = replicas_to_aggregate
        self._gradients_applied = False
        self._variable_averages = variable_averages
        self._variables_to_average = variables_to_average
        self._total_num_replicas = total_num_replicas
        self._tokens_per_step = max(total_num_replicas, replicas_to_aggregate)
        self._global_step = None
        self._sync_token_queue = None
        self._chief_queue_runner = None
        self._accumulator_list: list = []
        self._local_step = None
        self.local_step_init_op = None
        self.chief_init_op = None
        self.ready_for_local_init_op = None

    def compute_gradients(self, *args, **kwargs):
        """The wrapped optimizer's `compute_gradients`."""
        return self._opt.compute_gradients(*args, **kwargs)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """The worker's train op: apply the gradients to the accumulators, then wait for a
        token and make it the local step.  Also builds the chief's `sync_op`, its queue runner
        and the init ops (`chief_init_op`, `local_step_init_op`, `ready_for_local_init_op`)."""
        if not grads_and_vars:
            raise ValueError("Must supply at least one variable")
        if global_step is None:
            raise ValueError("Global step is required to check staleness")
        grads_and_vars = list(grads_and_vars)
        self._global_step = global_step
        train_ops = []
        aggregated_grad = []
        var_list = []

        # the local step stays on the worker (an anchor op takes the device scope's device, so
        # replica_device_setter does not put it on a ps)
        local_anchor = control_flow_ops.no_op()
        with colocate_with(local_anchor):
            self._local_step = variables_lib.Variable(
                initial_value=0, trainable=False, collections=[GraphKeys.LOCAL_VARIABLES],
                dtype=global_step.dtype.base_dtype, name="sync_rep_local_step")
        self.local_step_init_op = state_ops.assign(self._local_step, global_step)
        chief_init_ops = [self.local_step_init_op]
        self.ready_for_local_init_op = variables_lib.report_uninitialized_variables(
            variables_lib.global_variables())

        with name_scope(None, self._name):
            for grad, var in grads_and_vars:
                var_list.append(var)
                with device(var.device):
                    if grad is None:
                        aggregated_grad.append(None)
                        continue
                    if isinstance(grad, IndexedSlices):
                        raise NotImplementedError(
                            f"SyncReplicasOptimizer: sparse (IndexedSlices) gradient of "
                            f"{var.name}: tensorweave has no SparseConditionalAccumulator")
                    grad_accum = data_flow_ops.ConditionalAccumulator(
                        grad.dtype, shape=var.get_shape(), shared_name=var.name + "/grad_accum")
                    train_ops.append(grad_accum.apply_grad(grad, local_step=self._local_step))
                    aggregated_grad.append(grad_accum.take_grad(self._replicas_to_aggregate))
                    self._accumulator_list.append((grad_accum, var.device))
            aggregated_grads_and_vars = list(zip(aggregated_grad, var_list))

            with device(global_step.device), name_scope(""):
                update_op = self._opt.apply_gradients(aggregated_grads_and_vars, global_step)

            with device(global_step.device), name_scope(""):
                sync_token_queue = data_flow_ops.FIFOQueue(
                    -1, global_step.dtype.base_dtype, shapes=[[]], name="sync_token_q",
                    shared_name="sync_token_q")
                self._sync_token_queue = sync_token_queue

            with device(global_step.device), name_scope(""):
                with control_dependencies(train_ops):
                    token = sync_token_queue.dequeue()
                train_op = state_ops.assign(self._local_step, token)

                with control_dependencies([update_op]):
                    # the global step after the update (the read is ordered after it)
                    tokens = array_ops.fill([self._tokens_per_step], global_step.read_value())
                    sync_op = sync_token_queue.enqueue_many((tokens,))

                if self._variable_averages is not None:
                    with control_dependencies([sync_op]), name_scope(""):
                        sync_op = self._variable_averages.apply(self._variables_to_average)

                self._chief_queue_runner = QueueRunner(sync_token_queue, [sync_op])
            for accum, dev in self._accumulator_list:
                with device(dev):
                    chief_init_ops.append(
                        accum.set_global_step(global_step, name="SetGlobalStep"))
            self.chief_init_op = control_flow_ops.group(*chief_init_ops)
            self._gradients_applied = True
            return train_op

    def get_chief_queue_runner(self) -> QueueRunner:
        """The QueueRunner the chief runs: it loops on `sync_op`."""
        if not self._gradients_applied:
            raise ValueError("Should be called after apply_gradients().")
        return self._chief_queue_runner

    def get_slot(self, *args, **kwargs):
        return self._opt.get_slot(*args, **kwargs)

    def variables(self) -> list:
        return self._opt.variables()

    def get_slot_names(self, *args, **kwargs):
        return self._opt.get_slot_names(*args, **kwargs)

    def get_init_tokens_op(self, num_tokens=-1):
        """An op putting `num_tokens` tokens (the global step) in the token queue, default
        `replicas_to_aggregate`; at least `replicas_to_aggregate - total_num_replicas` are
        needed for the first step to finish."""
        if not self._gradients_applied:
            raise ValueError("get_init_tokens_op() should be called after apply_gradients().")
        tokens_needed = self._replicas_to_aggregate - self._total_num_replicas
        if num_tokens == -1:
            num_tokens = self._replicas_to_aggregate
        elif num_tokens < tokens_needed:
            raise ValueError(f"Too few tokens to finish the first step: {num_tokens} (given) vs "
                             f"{tokens_needed} (needed)")
        if num_tokens > 0:
            with device(self._global_step.device), name_scope(""):
                tokens = array_ops.fill([num_tokens], self._global_step.read_value())
                init_tokens = self._sync_token_queue.enqueue_many((tokens,))
        else:
            init_tokens = control_flow_ops.no_op(name="no_init_tokens")
        return init_tokens

    def make_session_run_hook(self, is_chief, num_tokens=-1):
        """The hook that initialises a worker (and on the chief starts the queue runner and
        puts in the first tokens) in a MonitoredSession."""
        return _SyncReplicasOptimizerHook(self, is_chief, num_tokens)


def _positive_int(what: str, value) -> int:
    """`value` as an int; TypeError unless it is one, ValueError unless it is at least 1 (a
    `take_grad` of no gradients, or no tokens per step, is no synchronous training)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"SyncReplicasOptimizer: {what} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"SyncReplicasOptimizer: {what} must be at least 1, got {value}")
    return int(value)


def _worker_tasks(session, local_step) -> tuple:
    """(the jobs, their number of tasks) that can run replicas in the cluster the session runs
    on: every job but `ps` (TF1 clusters may have a `chief` job beside `worker`); (None, 0)
    for a session without a cluster (no target) or when the worker's own job is not in it."""
    if getattr(session, "sess_str", "") in ("", None, "local"):
        return None, 0
    try:
        names = [d.name for d in session.list_devices()]
    except Exception:  # noqa: BLE001 - not a tw.Session: nothing to check against
        return None, 0
    job = DeviceSpec.from_string(local_step.device or "").job
    if job is None:
        job = DeviceSpec.from_string(getattr(session, "_default_device", "") or "").job
    specs = [DeviceSpec.from_string(n) for n in names]
    if job is None or job not in {d.job for d in specs}:
        return None, 0
    tasks = {(d.job, d.task) for d in specs if d.job != "ps"}
    jobs = " and ".join(sorted({j for j, _ in tasks}))
    return (jobs, len(tasks)) if tasks else (None, 0)


class _SyncReplicasOptimizerHook(SessionRunHook):
    """Runs SyncReplicasOptimizer's local init (and on the chief its queue runner and init
    tokens) when a session is created."""

    def __init__(self, sync_optimizer, is_chief, num_tokens):
        self._sync_optimizer = sync_optimizer
        self._is_chief = is_chief
        self._num_tokens = num_tokens

    def begin(self):
        if not self._sync_optimizer._gradients_applied:
            raise ValueError("SyncReplicasOptimizer.apply_gradient should be called before "
                             "using the hook.")
        opt = self._sync_optimizer
        self._ready_for_local_init_op = opt.ready_for_local_init_op
        if self._is_chief:
            self._local_init_op = opt.chief_init_op
            self._q_runner = opt.get_chief_queue_runner()
            self._init_tokens_op = opt.get_init_tokens_op(self._num_tokens)
        else:
            self._local_init_op = opt.local_step_init_op
            self._q_runner = None
            self._init_tokens_op = None

    def after_create_session(self, session, coord):
        self._check_cluster(session)
        value = session.run(self._ready_for_local_init_op)
        if value is not None and len(value) > 0:
            names = ", ".join(v.decode() if isinstance(v, bytes) else str(v) for v in value)
            raise RuntimeError("Init operations did not make model ready for "
                               f"SyncReplicasOptimizer local_init. Init op: "
                               f"{self._local_init_op.name}, error: Variables not "
                               f"initialized: {names}")
        session.run(self._local_init_op)
        if self._init_tokens_op is not None:
            session.run(self._init_tokens_op)
        if self._q_runner is not None:
            self._q_runner.create_threads(session, coord=coord, daemon=True, start=True)

    def _check_cluster(self, session) -> None:
        """Compare the replica counts with the worker tasks of the session's cluster.

        TF1 does not check them.  Here a mismatch is an error only where training could never
        make its first step, and a logged warning otherwise: a job may hold tasks that do not
        train (an evaluator), and `replicas_to_aggregate` above the number of workers still
        trains when there are tokens (a fast worker's second gradient counts), so a mismatch
        alone is no hang.  The hang: before the first aggregation each worker applies one
        gradient and then waits for a token, and each of the chief's `num_tokens` init tokens
        lets one worker apply one more; with fewer than `replicas_to_aggregate` of them in all,
        the chief's `take_grad` waits for gradients that never come, and every worker for a
        token that never comes.  (That counts one replica per worker task, TF1's model; with
        several per task, more init tokens make the first step finish.)"""
        opt = self._sync_optimizer
        job, workers = _worker_tasks(session, opt._local_step)
        if not workers:
            return
        r, n = opt._replicas_to_aggregate, opt._total_num_replicas
        tokens = r if self._num_tokens == -1 else self._num_tokens
        if self._is_chief and workers + tokens < r:
            raise ValueError(
                f"SyncReplicasOptimizer: the first step would never finish: the chief waits "
                f"for replicas_to_aggregate={r} gradients, but the cluster of "
                f"{session.sess_str} has {workers} task(s) in job {job} "
                f"(total_num_replicas={n}) and the chief puts num_tokens={tokens} token(s) in "
                f"the queue, so at most {workers + tokens} gradient(s) come (one from each "
                f"worker, then one per token).  Make replicas_to_aggregate and "
                f"total_num_replicas match the cluster's {workers} worker task(s), or pass "
                f"make_session_run_hook(is_chief=True, num_tokens=k) with k >= "
                f"{r - workers}.")
        if n != workers or r > workers:
            _log.warning(
                "SyncReplicasOptimizer: total_num_replicas=%d and replicas_to_aggregate=%d, "
                "but the cluster of %s has %d task(s) in job %s (one replica per worker task "
                "is the usual setting; is the cluster or the count wrong?)", n, r,
                session.sess_str, workers, job)
