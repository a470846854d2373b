"""`tw.train`: optimizers, the global step, learning-rate schedules and checkpoints (Saver).

Optimizers build graph: `minimize` adds gradient nodes and fused in-place update ops
(`training_ops`), colocated with their variables.  Checkpoints are tensorweave's own file format
(`checkpoint_format`), never pickle.
"""
from __future__ import annotations

from . import training_ops  # noqa: F401 - registers the update ops
from .adagrad import AdagradOptimizer
from .adam import AdamOptimizer
from .checkpoint_management import (CheckpointState, checkpoint_exists,
                                    generate_checkpoint_state_proto, get_checkpoint_mtimes,
                                    get_checkpoint_state, latest_checkpoint, remove_checkpoint,
                                    update_checkpoint_state)
from .checkpoint_utils import NewCheckpointReader, list_variables, load_checkpoint, load_variable
from .gradient_descent import GradientDescentOptimizer
from .learning_rate_decay import (cosine_decay, exponential_decay, inverse_time_decay,
                                  natural_exp_decay, piecewise_constant, polynomial_decay)
from .momentum import MomentumOptimizer
from .optimizer import Optimizer
from .pipeline import bubble_fraction, pipeline
from .moving_averages import ExponentialMovingAverage, assign_moving_average
from .meta_graph import MetaGraphDef, SaverDef, export_meta_graph
from .rmsprop import RMSPropOptimizer
from .saver import Saver, import_meta_graph
from .server_lib import ClusterSpec, Server
from .device_setter import (GreedyLoadBalancingStrategy, byte_size_load_fn,
                            replica_device_setter)
from .replication import Replicated, average_gradients, replicate_model
from .session_run_hook import (SessionRunArgs, SessionRunContext, SessionRunHook,
                               SessionRunValues)
from .basic_session_run_hooks import (CheckpointSaverHook, CheckpointSaverListener, FeedFnHook,
                                      FinalOpsHook, LoggingTensorHook, NanLossDuringTrainingError,
                                      NanTensorHook, SecondOrStepTimer, StepCounterHook,
                                      StopAtStepHook)
from .monitored_session import (ChiefSessionCreator, MonitoredSession, MonitoredTrainingSession,
                                Scaffold, SessionCreator, SessionManager,
                                SingularMonitoredSession, WorkerSessionCreator)
from .queue_runner import Coordinator, QueueRunner, add_queue_runner, start_queue_runners
from .sync_replicas_optimizer import SyncReplicasOptimizer
from .training_util import (assert_global_step, create_global_step, get_global_step,
                            get_or_create_global_step, global_step)

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "global_step", "get_global_step",
           "create_global_step", "get_or_create_global_step", "assert_global_step", "Saver",
           "SaverDef", "CheckpointState", "checkpoint_exists", "get_checkpoint_state",
           "latest_checkpoint", "update_checkpoint_state", "generate_checkpoint_state_proto",
           "remove_checkpoint", "get_checkpoint_mtimes", "NewCheckpointReader", "list_variables",
           "load_checkpoint", "load_variable", "MetaGraphDef", "export_meta_graph",
           "import_meta_graph", "exponential_decay", "natural_exp_decay", "inverse_time_decay",
           "polynomial_decay", "cosine_decay", "piecewise_constant", "ExponentialMovingAverage",
           "assign_moving_average", "ClusterSpec", "Server", "replica_device_setter"]
__all__ += ["SessionRunHook", "SessionRunArgs", "SessionRunContext", "SessionRunValues",
            "SecondOrStepTimer", "StopAtStepHook", "CheckpointSaverListener",
            "CheckpointSaverHook", "StepCounterHook", "NanLossDuringTrainingError",
            "NanTensorHook", "LoggingTensorHook", "FinalOpsHook", "FeedFnHook", "Scaffold",
            "SessionManager", "SessionCreator", "ChiefSessionCreator", "WorkerSessionCreator",
            "MonitoredSession", "SingularMonitoredSession", "MonitoredTrainingSession"]
__all__ += ["pipeline", "bubble_fraction"]
__all__ += ["GreedyLoadBalancingStrategy", "byte_size_load_fn", "replicate_model",
            "average_gradients", "Replicated"]
__all__ += ["Coordinator", "QueueRunner", "add_queue_runner", "start_queue_runners",
            "SyncReplicasOptimizer"]
