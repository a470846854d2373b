"""`tw.math`: the TF1 math namespace (`tw.math.reduce_sum`, `tw.math.log1p`, ...).

Everything the math, linear-algebra and segment families export at top level
(`tensorweave.ops.math_ops`, `linalg_ops`, `segment_ops`), the names TF1 keeps under `tf.math`
only (`divide_no_nan`, `xlogy`, `reduce_variance`, ...), and the `tf.math` aliases of ops that
live in other families (`softplus`, `top_k`, `invert_permutation`, ...).
"""
from __future__ import annotations

from .ops import array_ops as _array_ops
from .ops import linalg_ops as _linalg_ops
from .ops import math_ops as _math_ops
from .ops import nn_ops as _nn_ops
from .ops import segment_ops as _segment_ops
from .ops.linalg_ops import *  # noqa: F401,F403
from .ops.math_ops import *  # noqa: F401,F403
from .ops.segment_ops import *  # noqa: F401,F403

_ALIASES = {  # tf.math name -> (module, name there)
    "softplus": (_nn_ops, "softplus"), "softsign": (_nn_ops, "softsign"),
    "softmax": (_nn_ops, "softmax"), "log_softmax": (_nn_ops, "log_softmax"),
    "l2_normalize": (_nn_ops, "l2_normalize"), "top_k": (_nn_ops, "top_k"),
    "in_top_k": (_nn_ops, "in_top_k"), "invert_permutation": (_array_ops, "invert_permutation"),
}

for _name in _math_ops.MATH_ONLY:
    globals()[_name] = getattr(_math_ops, _name)
for _name, (_mod, _attr) in _ALIASES.items():
    globals()[_name] = getattr(_mod, _attr)

__all__ = sorted(set(_math_ops.__all__) | set(_linalg_ops.__all__) | set(_segment_ops.__all__)
                 | set(_math_ops.MATH_ONLY) | set(_ALIASES))
del _name, _mod, _attr
