"""`tw.random`: the TF1 random namespace (`tw.random.normal`, `tw.random.set_random_seed`, ...)."""
from __future__ import annotations

from .framework.random_seed import get_seed, set_random_seed
from .ops.random_ops import categorical, multinomial, random_shuffle as shuffle
from .ops.random_ops import random_gamma as gamma, random_normal as normal
from .ops.random_ops import random_poisson as poisson, random_uniform as uniform
from .ops.random_ops import stateless_categorical, stateless_multinomial
from .ops.random_ops import stateless_random_normal as stateless_normal
from .ops.random_ops import stateless_random_uniform as stateless_uniform
from .ops.random_ops import stateless_truncated_normal, truncated_normal

__all__ = ["normal", "uniform", "truncated_normal", "shuffle", "categorical", "multinomial",
           "gamma", "poisson", "stateless_normal", "stateless_uniform",
           "stateless_truncated_normal", "stateless_categorical", "stateless_multinomial",
           "set_random_seed", "get_seed"]
