"""Gradients of the fused LSTM ops (one fused gradient op each) and of `ReverseSequence`.

`LSTMBlockCell` and `BlockLSTM` are differentiated by `LSTMBlockCellGrad` / `BlockLSTMGrad`,
which compute the gradients of all inputs in one kernel.  As in TF, gradients flow only through
the `cs` and `h` outputs; a gradient arriving at a gate output (i, f, o, ci, co) is an error
rather than silently dropped.  Without peepholes the peephole weights get no gradient (None),
which is what TF's zero gradient amounts to.
"""
from __future__ import annotations

from ..ops import lstm_ops
from ..ops.rnn import reverse_sequence
from .registry import RegisterGradient

_GATES = {0: "i", 2: "f", 3: "o", 4: "ci", 5: "co"}


def _check_gate_grads(op, grads):
    for k, what in _GATES.items():
        g = grads[k]
        if g is not None and g.op.type != "ZerosLike":
            raise LookupError(f"Gradients of {op.type} node {op.name!r} flow only through its "
                              f"cs and h outputs, but output {k} ({what}) has one "
                              f"({g.name}). Differentiate through cs/h, or build the cell "
                              "from tw ops.")


def _drop_unused_peepholes(op, grads):
    grads = list(grads)
    if not op.get_attr("use_peephole"):
        grads[-4:-1] = [None, None, None]   # wci, wcf, wco
    return grads


@RegisterGradient("LSTMBlockCell")
def _lstm_block_cell_grad(op, *grads):
    _check_gate_grads(op, grads)
    i, cs, f, o, ci, co, _ = op.outputs
    out = lstm_ops.lstm_block_cell_grad(*op.inputs, i, cs, f, o, ci, co, grads[1], grads[6],
                                        use_peephole=op.get_attr("use_peephole"),
                                        cell_clip=op.get_attr("cell_clip"))
    return _drop_unused_peepholes(op, out)


@RegisterGradient("BlockLSTM")
def _block_lstm_grad(op, *grads):
    _check_gate_grads(op, grads)
    out = lstm_ops.block_lstm_grad(*op.inputs, *op.outputs, grads[1], grads[6],
                                   use_peephole=op.get_attr("use_peephole"),
                                   cell_clip=op.get_attr("cell_clip"))
    return [None] + _drop_unused_peepholes(op, out)


@RegisterGradient("ReverseSequence")
def _reverse_sequence_grad(op, grad):
    return [reverse_sequence(grad, op.inputs[1], seq_axis=op.get_attr("seq_dim"),
                             batch_axis=op.get_attr("batch_dim")), None]
