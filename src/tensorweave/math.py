"""`tw.math`: the TF1 math namespace (`tw.math.reduce_sum`, `tw.math.log1p`, ...)."""
from __future__ import annotations

from .ops.math_ops import *  # noqa: F401,F403
