"""`tw.nn`: neural-network ops (activations, losses, convolution, pooling, embeddings)."""
from __future__ import annotations

from ..ops.nn_ops import *  # noqa: F401,F403
from ..ops.ctc_ops import *  # noqa: F401,F403
