"""CTC (connectionist temporal classification): the loss and the two decoders of TF1's `tf.nn`.

Inputs are time-major logits `[max_time, batch, num_classes]`; class `num_classes - 1` is the
blank.  Op types, attrs, outputs and node names are TF1's:

* `CTCLoss(inputs, labels_indices, labels_values, sequence_length)` -> `(loss [batch],
  gradient [max_time, batch, num_classes])`: the negative log likelihood of each example's label
  sequence (a row of a sparse int32 tensor), summed over all alignments by the forward-backward
  recursion in log space, and its gradient w.r.t. the logits (softmax minus the posterior
  occupation of each class), which the registered gradient reuses.
* `CTCGreedyDecoder(inputs, sequence_length)` -> decoded `(indices, values, shape)` and
  `log_probability [batch, 1]`: the best path (argmax per frame), repeats merged, blanks dropped;
  the "log probability" is TF's: minus the sum over frames of the largest logit.
* `CTCBeamSearchDecoder(inputs, sequence_length)` -> `top_paths` decoded triples, then
  `log_probability [batch, top_paths]`: TF's prefix beam search over the per-frame softmax of
  the logits; a score is the log probability of a labelling (summed over its alignments).

Kernels: `tensorweave/kernels/cpu/ctc.py`; gradients: `tensorweave/autodiff/sparse_grad.py`.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, apply_op
from ..framework.op_registry import register_op
from ..framework.sparse_tensor import SparseTensor
from ..framework.tensor_shape import TensorShape
from . import array_ops
from .op_util import shape_error as _fail
from .sparse_ops import check_dtype_in as _dtype
from .sparse_ops import check_rank as _rank

__all__ = ["ctc_loss", "ctc_greedy_decoder", "ctc_beam_search_decoder"]

_CTC_TYPES = (_dtypes.float32, _dtypes.float64)


def _batch(op, inputs, seq_len):
    """Check logits [T, B, C] and sequence_length [B]; the merged batch dimension."""
    _dtype(op, inputs, _CTC_TYPES, "inputs")
    _dtype(op, seq_len, (_dtypes.int32,), "sequence_length")
    si = _rank(op, inputs, 3, "inputs")
    ss = _rank(op, seq_len, 1, "sequence_length")
    if not si[1].is_compatible_with(ss[0]):
        _fail(op, f"Dimensions must be equal, but are {si[1]} and {ss[0]} (batch size of "
                  "inputs and sequence_length)")
    return si, si[1].merge_with(ss[0])


@register_op("CTCLoss")
def _ctc_loss_shape(op):
    inputs, indices, values, seq_len = op.inputs
    _dtype(op, indices, (_dtypes.int64,), "labels_indices")
    _dtype(op, values, (_dtypes.int32,), "labels_values")
    si, batch = _batch(op, inputs, seq_len)
    ri = _rank(op, indices, 2, "labels_indices")
    rv = _rank(op, values, 1, "labels_values")
    if not ri[0].is_compatible_with(rv[0]):
        _fail(op, f"Dimensions must be equal, but are {ri[0]} and {rv[0]} (labels_indices rows "
                  "and labels_values)")
    return [(inputs.dtype, TensorShape([batch])),
            (inputs.dtype, TensorShape([si[0], batch, si[2]]))]


def _decoded_outputs(n: int) -> list:
    return ([(_dtypes.int64, TensorShape([None, 2]))] * n + [(_dtypes.int64, TensorShape([None]))]
            * n + [(_dtypes.int64, TensorShape([2]))] * n)


@register_op("CTCGreedyDecoder")
def _ctc_greedy_shape(op):
    inputs, seq_len = op.inputs
    _, batch = _batch(op, inputs, seq_len)
    return _decoded_outputs(1) + [(inputs.dtype, TensorShape([batch, 1]))]


@register_op("CTCBeamSearchDecoder")
def _ctc_beam_shape(op):
    inputs, seq_len = op.inputs
    _, batch = _batch(op, inputs, seq_len)
    for attr in ("beam_width", "top_paths"):
        v = op.get_attr(attr)
        if int(v) < 1:
            raise ValueError(f"Attr '{attr}' of 'CTCBeamSearchDecoder' Op (node '{op.name}') "
                             f"passed {v} less than minimum 1.")
    n = int(op.get_attr("top_paths"))
    return _decoded_outputs(n) + [(inputs.dtype, TensorShape([batch, n]))]


def _logits(inputs, logits, time_major: bool) -> Tensor:
    if logits is not None:
        if inputs is not None:
            raise ValueError("Cannot specify both 'logits' and 'inputs'.")
        inputs = logits
    if inputs is None:
        raise ValueError("ctc_loss needs the logits (argument 'inputs').")
    x = convert_to_tensor(inputs, name="inputs")
    if not time_major:
        x = array_ops.transpose(x, [1, 0, 2])  # (B, T, N) -> (T, B, N)
    return x


def _seq_len(sequence_length) -> Tensor:
    if sequence_length is None:
        raise ValueError("sequence_length is required (a [batch] int32 vector).")
    if isinstance(sequence_length, Tensor):
        return sequence_length
    return convert_to_tensor(sequence_length, dtype=_dtypes.int32, name="sequence_length")


def ctc_loss(labels, inputs=None, sequence_length=None, preprocess_collapse_repeated=False,
             ctc_merge_repeated=True, ignore_longer_outputs_than_inputs=False, time_major=True,
             logits=None):
    """TF1 `tf.nn.ctc_loss`: the negative log probability [batch] of each label sequence.

    `labels` is an int32 `SparseTensor` whose row b holds example b's labels (in [0,
    num_classes - 1)); `inputs` are logits `[max_time, batch, num_classes]` (`[batch, max_time,
    num_classes]` with `time_major=False`), softmax-normalised by the op; `sequence_length`
    [batch] says how many frames of each example count.  `preprocess_collapse_repeated` merges
    repeated labels first; with `ctc_merge_repeated=False` repeated non-blank outputs are not
    merged (each frame is its own label).  A label sequence longer than its input is an
    `InvalidArgumentError` at run time unless `ignore_longer_outputs_than_inputs`, which gives
    it zero loss and gradient.  Differentiable w.r.t. the logits (once).
    """
    if not isinstance(labels, SparseTensor):
        raise TypeError("Expected labels (first argument) to be a SparseTensor")
    x = _logits(inputs, logits, time_major)
    seq = _seq_len(sequence_length)
    loss, _ = apply_op("CTCLoss", [x, labels.indices, labels.values, seq],
                       {"T": x.dtype,
                        "preprocess_collapse_repeated": bool(preprocess_collapse_repeated),
                        "ctc_merge_repeated": bool(ctc_merge_repeated),
                        "ignore_longer_outputs_than_inputs":
                            bool(ignore_longer_outputs_than_inputs)}, "CTCLoss").outputs
    return loss


def ctc_greedy_decoder(inputs, sequence_length, merge_repeated=True, blank_index=None):
    """TF1 `tf.nn.ctc_greedy_decoder`: best-path decoding of logits [max_time, batch, classes].

    Returns `([decoded], neg_sum_logits)`: `decoded` a SparseTensor [batch, max decoded length]
    of int64 labels (the per-frame argmax, consecutive repeats merged when `merge_repeated`,
    blanks removed) and `neg_sum_logits` [batch, 1], minus the sum of each frame's largest logit.
    `blank_index` (default `num_classes - 1`; negative counts from the end) picks the blank.
    """
    x = convert_to_tensor(inputs, name="inputs")
    seq = _seq_len(sequence_length)
    ix, val, shape, log_prob = apply_op(
        "CTCGreedyDecoder", [x, seq],
        {"T": x.dtype, "merge_repeated": bool(merge_repeated),
         "blank_index": -1 if blank_index is None else int(blank_index)},
        "CTCGreedyDecoder").outputs
    return [SparseTensor(ix, val, shape)], log_prob


def ctc_beam_search_decoder(inputs, sequence_length, beam_width=100, top_paths=1,
                            merge_repeated=True):
    """TF1 `tf.nn.ctc_beam_search_decoder`: prefix beam search over logits [max_time, batch,
    classes] (blank = classes - 1).

    Returns `(decoded, log_probabilities)`: `top_paths` SparseTensors (the best labelling of
    each example first) and their log probabilities [batch, top_paths] (each the log of the
    summed probabilities of the alignments the beam kept for it).  As in TF1,
    `merge_repeated=True` also merges equal consecutive labels of a result, so the prefix
    "a _ a" decodes to "a".  `top_paths` > `beam_width`, or more paths than prefixes found, is
    an `InvalidArgumentError` at run time.
    """
    x = convert_to_tensor(inputs, name="inputs")
    seq = _seq_len(sequence_length)
    outs = apply_op("CTCBeamSearchDecoder", [x, seq],
                    {"T": x.dtype, "beam_width": int(beam_width), "top_paths": int(top_paths),
                     "merge_repeated": bool(merge_repeated)}, "CTCBeamSearchDecoder").outputs
    n = int(top_paths)
    decoded = [SparseTensor(outs[i], outs[n + i], outs[2 * n + i]) for i in range(n)]
    return decoded, outs[3 * n]
