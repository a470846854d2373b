"""`tw.nn`: neural-network ops (activations, losses, convolution, pooling, embeddings) and
recurrent networks (`rnn_cell`, `static_rnn`, `dynamic_rnn`, the bidirectional variants)."""
from __future__ import annotations

from ..ops.nn_ops import *  # noqa: F401,F403
from ..ops.conv_ops import *  # noqa: F401,F403
from ..ops.embedding_ops import *  # noqa: F401,F403
from ..ops.ctc_ops import *  # noqa: F401,F403
from ..ops.rnn import bidirectional_dynamic_rnn, dynamic_rnn  # noqa: F401
from ..ops.rnn import static_bidirectional_rnn, static_rnn  # noqa: F401
from . import rnn_cell  # noqa: F401
