"""`tw.initializers`: the TF1 initializer namespace (`tw.initializers.glorot_uniform`, ...)."""
from __future__ import annotations

from .ops.init_ops import Constant as constant
from .ops.init_ops import GlorotNormal as glorot_normal, GlorotUniform as glorot_uniform
from .ops.init_ops import Identity as identity, Ones as ones, Orthogonal as orthogonal
from .ops.init_ops import RandomNormal as random_normal, RandomUniform as random_uniform
from .ops.init_ops import TruncatedNormal as truncated_normal
from .ops.init_ops import UniformUnitScaling as uniform_unit_scaling
from .ops.init_ops import VarianceScaling as variance_scaling, Zeros as zeros
from .ops.init_ops import he_normal, he_uniform, lecun_normal, lecun_uniform
from .ops.variables import global_variables_initializer as global_variables
from .ops.variables import local_variables_initializer as local_variables
from .ops.variables import variables_initializer as variables

__all__ = ["constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity",
           "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal",
           "random_uniform", "truncated_normal", "uniform_unit_scaling", "variance_scaling",
           "zeros", "global_variables", "local_variables", "variables"]
