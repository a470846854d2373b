"""`tw.train`: optimizers, the global step, learning-rate schedules and checkpoints (Saver).

Optimizers build graph: `minimize` adds gradient nodes and fused in-place update ops
(`training_ops`), colocated with their variables.  Checkpoints are tensorweave's own file format
(`checkpoint_format`), never pickle.
"""
from __future__ import annotations

from . import training_ops  # noqa: F401 - registers the update ops
from .adagrad import AdagradOptimizer
from .adam import AdamOptimizer
from .gradient_descent import GradientDescentOptimizer
from .momentum import MomentumOptimizer
from .optimizer import Optimizer
from .rmsprop import RMSPropOptimizer
from .training_util import (assert_global_step, create_global_step, get_global_step,
                            get_or_create_global_step, global_step)

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "global_step", "get_global_step",
           "create_global_step", "get_or_create_global_step", "assert_global_step"]
