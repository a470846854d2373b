"""Fused LSTM ops (TF contrib `lstm_ops`): one op per LSTM step, or one op per whole sequence.

* `LSTMBlockCell(x, cs_prev, h_prev, w, wci, wcf, wco, b)`: one step; outputs `i, cs, f, o, ci,
  co, h`, each `[batch, cell]`.
* `BlockLSTM(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b)`: the steps `0 .. seq_len_max-1`
  of a time-major sequence `x [time, batch, input]`; the same seven outputs, each
  `[time, batch, cell]` (zero from `seq_len_max` on).

The math of one step (TF's, gates in the column order i, ci, f, o of `w [input + cell, 4 * cell]`,
the order of TF1's `BasicLSTMCell`/`LSTMCell` kernels, where `ci` is called `j`)::

    [i~, ci~, f~, o~] = [x, h_prev] @ w + b
    i  = sigmoid(i~ + wci * cs_prev)          (the peephole terms only with use_peephole)
    f  = sigmoid(f~ + forget_bias + wcf * cs_prev)
    ci = tanh(ci~)
    cs = clip(ci * i + cs_prev * f, cell_clip)  (no clip when cell_clip <= 0)
    o  = sigmoid(o~ + wco * cs)
    co = tanh(cs)
    h  = co * o

Each has a fused gradient op computing *all* input gradients in one kernel (`LSTMBlockCellGrad`,
`BlockLSTMGrad`: x, cs_prev, h_prev, w, wci, wcf, wco, b).  TF's `LSTMBlockCellGrad` returns the
gate gradients and leaves the matmuls to Python; here the kernel does them, so the op has
`BlockLSTMGrad`'s outputs.  Only the `cs` and `h` outputs carry gradients, as in TF.  Unlike
TF, the gradient honours `cell_clip` (no gradient flows through a clipped cell state), so it is
the derivative of the forward function; without clipping the two agree.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, apply_op
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from .op_util import fmt_shape

__all__ = ["lstm_block_cell", "block_lstm", "lstm_block_cell_grad", "block_lstm_grad"]

_TYPES = (_dtypes.float16, _dtypes.float32, _dtypes.float64)
_PARAMS = ("w", "wci", "wcf", "wco", "b")


def _fail(op, what):
    shapes = ", ".join(fmt_shape(t.shape) for t in op.inputs)
    raise ValueError(f"{what} for '{op.name}' (op: '{op.type}') with input shapes: {shapes}.")


def _merge(op, dims, what):
    d = Dimension(None)
    for x in dims:
        try:
            d = d.merge_with(x)
        except ValueError:
            _fail(op, f"Dimensions must be equal ({what}), but are {d.value} and "
                      f"{Dimension(x).value}")
    return d


def _check_inputs(op, names, ranks):
    """The common dtype of the inputs; ValueError/TypeError naming the node when one is off."""
    dt = op.inputs[names.index("x")].dtype
    if dt not in _TYPES:
        raise TypeError(f"Value passed to parameter 'x' has DataType {dt.name} not in list of "
                        f"allowed values: float16, float32, float64 (op '{op.type}' "
                        f"'{op.name}')")
    for name, t, r in zip(names, op.inputs, ranks):
        if r is None:
            continue
        if t.dtype is not dt:
            raise TypeError(f"Input '{name}' of '{op.type}' Op '{op.name}' has type "
                            f"{t.dtype.name} that does not match type {dt.name} of argument "
                            "'x'.")
        if t.shape.ndims is not None and t.shape.ndims != r:
            _fail(op, f"Shape must be rank {r} but is rank {t.shape.ndims} for input '{name}'")
    return dt


def _dims(t):
    return t.shape.as_list() if t.shape.ndims is not None else None


def _cell_geometry(op, x_shape, cs_prev, h_prev, w, wci, wcf, wco, b):
    """(batch, cell) from the inputs of one step; ValueError naming the node when they
    disagree.  `x_shape`: [batch, input] (a step of the sequence)."""
    batch = _merge(op, [x_shape[0], _at(cs_prev, 0), _at(h_prev, 0)], "batch size")
    quarters = []
    for t, i, what in ((w, 1, "w must have 4 * cell_size columns"),
                       (b, 0, "b must have 4 * cell_size elements")):
        n = _at(t, i)
        if n is not None and n % 4:
            _fail(op, f"{what}, but has {n}")
        quarters.append(None if n is None else n // 4)
    cell = _merge(op, [_at(cs_prev, 1), _at(h_prev, 1), _at(wci, 0), _at(wcf, 0), _at(wco, 0)]
                  + quarters, "cell size")
    rows = _at(w, 0)
    if rows is not None and x_shape[1] is not None and cell.value is not None and \
            rows != x_shape[1] + cell.value:
        _fail(op, f"w must have input_size + cell_size = {x_shape[1]} + {cell.value} rows, "
                  f"but has {rows}")
    return batch.value, cell.value


def _at(t, i):
    d = _dims(t)
    return None if d is None else d[i]


_STEP_INPUTS = ("x", "cs_prev", "h_prev") + _PARAMS
_STEP_RANKS = (2, 2, 2, 2, 1, 1, 1, 1)


@register_op("LSTMBlockCell")
def _lstm_block_cell_shape(op):
    dt = _check_inputs(op, _STEP_INPUTS, _STEP_RANKS)
    x = op.inputs[0]
    xs = _dims(x) or [None, None]
    batch, cell = _cell_geometry(op, xs, *op.inputs[1:8])
    return [(dt, TensorShape([batch, cell]))] * 7


_SEQ_INPUTS = ("seq_len_max", "x", "cs_prev", "h_prev") + _PARAMS
_SEQ_RANKS = (None, 3, 2, 2, 2, 1, 1, 1, 1)


def _check_seq_len_max(op):
    s = op.inputs[0]
    if s.dtype is not _dtypes.int64:
        raise TypeError(f"Input 'seq_len_max' of '{op.type}' Op '{op.name}' must be int64, got "
                        f"{s.dtype.name}")
    if s.shape.ndims not in (None, 0):
        _fail(op, f"seq_len_max must be a scalar, got rank {s.shape.ndims}")


@register_op("BlockLSTM")
def _block_lstm_shape(op):
    _check_seq_len_max(op)
    dt = _check_inputs(op, _SEQ_INPUTS, _SEQ_RANKS)
    xs = _dims(op.inputs[1]) or [None, None, None]
    batch, cell = _cell_geometry(op, xs[1:], *op.inputs[2:9])
    return [(dt, TensorShape([xs[0], batch, cell]))] * 7


def _grad_outputs(op, n_fwd):
    """The eight gradients have the shapes of x, cs_prev, h_prev, w, wci, wcf, wco, b."""
    return [(t.dtype, t.shape) for t in op.inputs[n_fwd - 8:n_fwd]]


@register_op("LSTMBlockCellGrad")
def _lstm_block_cell_grad_shape(op):
    names = _STEP_INPUTS + ("i", "cs", "f", "o", "ci", "co", "cs_grad", "h_grad")
    _check_inputs(op, names, _STEP_RANKS + (2,) * 8)
    _lstm_block_cell_shape(op)
    return _grad_outputs(op, 8)


@register_op("BlockLSTMGrad")
def _block_lstm_grad_shape(op):
    names = _SEQ_INPUTS + ("i", "cs", "f", "o", "ci", "co", "h", "cs_grad", "h_grad")
    _check_inputs(op, names, _SEQ_RANKS + (3,) * 9)
    _block_lstm_shape(op)
    return _grad_outputs(op, 9)


# ----------------------------------------------------------------------------------------------
# wrappers (TF's generated `gen_lstm_ops` functions)
# ----------------------------------------------------------------------------------------------
def _attrs(dtype, forget_bias=None, cell_clip=3.0, use_peephole=False) -> dict:
    a = {"T": dtype, "cell_clip": float(cell_clip), "use_peephole": bool(use_peephole)}
    if forget_bias is not None:
        a["forget_bias"] = float(forget_bias)
    return a


def _tensors(values):
    """Tensors of `values`: Python/numpy values take the dtype of the first Tensor (a mismatch
    between Tensors is reported by the shape function, naming the node)."""
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), None)
    return [v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=dtype) for v in values]


def lstm_block_cell(x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias=1.0, cell_clip=3.0,
                    use_peephole=False, name=None):
    """One LSTM step as one op; returns `(i, cs, f, o, ci, co, h)`."""
    ins = _tensors([x, cs_prev, h_prev, w, wci, wcf, wco, b])
    op = apply_op("LSTMBlockCell", ins, _attrs(ins[0].dtype, forget_bias, cell_clip,
                                               use_peephole), name or "LSTMBlockCell")
    return tuple(op.outputs)


def block_lstm(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias=1.0,
               cell_clip=3.0, use_peephole=False, name=None):
    """The LSTM over a time-major sequence as one op; returns `(i, cs, f, o, ci, co, h)`."""
    seq = convert_to_tensor(seq_len_max, dtype=_dtypes.int64, name="seq_len_max")
    ins = [seq] + _tensors([x, cs_prev, h_prev, w, wci, wcf, wco, b])
    op = apply_op("BlockLSTM", ins, _attrs(ins[1].dtype, forget_bias, cell_clip, use_peephole),
                  name or "BlockLSTM")
    return tuple(op.outputs)


def lstm_block_cell_grad(x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co, cs_grad,
                         h_grad, use_peephole, cell_clip=-1.0, name=None):
    """Gradients of `LSTMBlockCell`: `(x, cs_prev, h_prev, w, wci, wcf, wco, b)` grads."""
    ins = _tensors([x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co, cs_grad,
                    h_grad])
    op = apply_op("LSTMBlockCellGrad", ins, _attrs(ins[0].dtype, None, cell_clip, use_peephole),
                  name or "LSTMBlockCellGrad")
    return tuple(op.outputs)


def block_lstm_grad(seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co,
                    h, cs_grad, h_grad, use_peephole, cell_clip=-1.0, name=None):
    """Gradients of `BlockLSTM`: `(x, cs_prev, h_prev, w, wci, wcf, wco, b)` grads."""
    seq = convert_to_tensor(seq_len_max, dtype=_dtypes.int64)
    ins = [seq] + _tensors([x, cs_prev, h_prev, w, wci, wcf, wco, b, i, cs, f, o, ci, co, h,
                            cs_grad, h_grad])
    op = apply_op("BlockLSTMGrad", ins, _attrs(ins[1].dtype, None, cell_clip, use_peephole),
                  name or "BlockLSTMGrad")
    return tuple(op.outputs)
