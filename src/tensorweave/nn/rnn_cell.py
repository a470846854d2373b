"""`tw.nn.rnn_cell`: the TF1 `tf.nn.rnn_cell` namespace (cells and wrappers), plus TF contrib's
fused `LSTMBlockCell` and `LSTMBlockFusedCell` (in TF1 under `tf.contrib.rnn`)."""
from __future__ import annotations

from ..ops.rnn_cell_impl import (BasicLSTMCell, BasicRNNCell, DeviceWrapper, DropoutWrapper,
                                 GRUCell, LSTMBlockCell, LSTMBlockFusedCell, LSTMCell,
                                 LSTMStateTuple, MultiRNNCell, ResidualWrapper, RNNCell)

__all__ = ["RNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell", "MultiRNNCell",
           "DropoutWrapper", "ResidualWrapper", "DeviceWrapper", "LSTMStateTuple",
           "LSTMBlockCell", "LSTMBlockFusedCell"]
