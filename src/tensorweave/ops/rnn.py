"""Recurrent networks from cells (TF1 `tf.nn.static_rnn`, `dynamic_rnn`, the bidirectional
variants) and the `ReverseSequence` op they use.

* `static_rnn` unrolls the cell over a Python list of `[batch, input]` tensors (one cell call per
  step, variables shared from step 1 on by `reuse_variables()` on the `rnn` scope).
* `dynamic_rnn` runs the cell in one `tw.while_loop` over a time-major `TensorArray` of the
  inputs, writing the outputs to another `TensorArray`; variables are created at the first
  (traced) call of the cell and read by the loop body from outside, so they are trained by the
  loop's gradient.
* With `sequence_length`, a batch entry's steps at or past its length output zeros and carry the
  state through unchanged (TF1's `_rnn_step`, a select per step), so the final state is the state
  at each sequence's length.  (TF1's `dynamic_rnn` stops the loop at max(sequence_length) and
  relies on unwritten TensorArray elements reading as zeros; here the loop always covers the full
  input length, which gives the same outputs and states.)
* `bidirectional_dynamic_rnn` runs a second cell over each sequence reversed within its length
  (`reverse_sequence`) under the scopes `bidirectional_rnn/fw` and `bidirectional_rnn/bw`.
* The fused path: when the cell is a stack of fusable LSTM cells (`rnn_cell_impl.fusable`:
  `BasicLSTMCell`/`LSTMCell` without peepholes, clipping or projection, alone, in
  `MultiRNNCell`s, under `DeviceWrapper`s, not subclassed with a step of their own), both
  functions run it as whole-sequence ops instead (`_fused_sequence`): one `BlockLSTM` per layer,
  or per layer and time chunk when its layers are on several devices, so the layers pipeline
  (`PIPELINE_CHUNKS_PER_DEVICE`).  Same variables, outputs, final states (the structure of the
  initial state's) and gradients as the loop.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework import nest
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, control_dependencies, get_default_graph, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from . import array_ops, control_flow_ops, math_ops
from .op_util import even_sizes, fmt_shape, op1
from .rnn_cell_impl import assert_like_rnncell, fusable, mask_time_major
from .tensor_array_ops import TensorArray
from .variable_scope import variable_scope

__all__ = ["static_rnn", "dynamic_rnn", "bidirectional_dynamic_rnn", "static_bidirectional_rnn",
           "reverse_sequence"]


# ----------------------------------------------------------------------------------------------
# ReverseSequence
# ----------------------------------------------------------------------------------------------
@register_op("ReverseSequence")
def _reverse_sequence_shape(op):
    x, lengths = op.inputs
    seq_dim, batch_dim = op.get_attr("seq_dim"), op.get_attr("batch_dim")
    where = (f"for '{op.name}' (op: 'ReverseSequence') with input shapes: "
             f"{fmt_shape(x.shape)}, {fmt_shape(lengths.shape)}.")
    if lengths.dtype not in (_dtypes.int32, _dtypes.int64):
        raise TypeError(f"seq_lengths of '{op.name}' must be int32 or int64, got "
                        f"{lengths.dtype.name}")
    if seq_dim == batch_dim:
        raise ValueError(f"seq_dim and batch_dim must differ, both are {seq_dim} {where}")
    if lengths.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {lengths.shape.ndims} {where}")
    r = x.shape.ndims
    if r is not None:
        for name, d in (("seq_dim", seq_dim), ("batch_dim", batch_dim)):
            if not 0 <= d < r:
                raise ValueError(f"Invalid {name} {d}: the input has rank {r} {where}")
        nb = x.shape[batch_dim].value
        if lengths.shape.ndims == 1 and lengths.shape[0].value is not None and nb is not None \
                and lengths.shape[0].value != nb:
            raise ValueError(f"Dimensions must be equal, but are {nb} and "
                             f"{lengths.shape[0].value} (batch size and seq_lengths) {where}")
    return [(x.dtype, x.shape)]


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None,  # noqa: A002
                     seq_dim=None, batch_dim=None):
    """TF1 `tf.reverse_sequence`: reverse the first `seq_lengths[b]` entries of each batch entry
    `b` (along `batch_axis`) along `seq_axis`; the rest stays in place."""
    seq_axis = seq_axis if seq_axis is not None else seq_dim
    batch_axis = batch_axis if batch_axis is not None else (batch_dim or 0)
    if seq_axis is None:
        raise ValueError("reverse_sequence needs seq_axis")
    x = convert_to_tensor(input, name="input")
    lengths = convert_to_tensor(seq_lengths, name="seq_lengths", preferred_dtype=_dtypes.int64)
    r = x.shape.ndims
    if r is not None:
        seq_axis, batch_axis = int(seq_axis) % r, int(batch_axis) % r
    return op1("ReverseSequence", [x, lengths],
               {"T": x.dtype, "Tlen": lengths.dtype, "seq_dim": int(seq_axis),
                "batch_dim": int(batch_axis)}, name or "ReverseSequence")


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _size_dims(s) -> list:
    if isinstance(s, (int, Dimension)):
        return [s.value if isinstance(s, Dimension) else s]
    return TensorShape(s).as_list()


def _zeros_output(batch_size, output_size, dtype, static_batch):
    """Zeros of [batch] + s for each s of `output_size`."""
    def zeros(s):
        dims = _size_dims(s)
        if isinstance(batch_size, Tensor):
            shape = array_ops.stack([batch_size] + [convert_to_tensor(d, _dtypes.int32)
                                                    for d in dims])
        else:
            shape = [batch_size] + dims
        z = array_ops.zeros(shape, dtype=dtype)
        z.set_shape([static_batch] + dims)
        return z
    return nest.map_structure(zeros, output_size)


def _state_dtype(dtype, state):
    if dtype is not None:
        return dtype
    flat = nest.flatten(state)
    d = flat[0].dtype
    if any(t.dtype != d for t in flat):
        raise ValueError(f"State has tensors of different inferred dtypes: "
                         f"{[t.dtype.name for t in flat]}; pass dtype= explicitly")
    return d


def _select_step(time, sequence_length, zero_output, state, output, new_state):
    """TF1's `_rnn_step` (skip_conditionals): entries with time >= length take the zero output
    and keep their state."""
    done = math_ops.greater_equal(time, sequence_length)

    def pick(old, new):
        if isinstance(new, TensorArray) or new.shape.ndims == 0:
            return new
        return array_ops.where(done, old, new)
    nest.assert_same_structure(zero_output, output)
    nest.assert_same_structure(state, new_state)
    return (nest.map_structure(pick, zero_output, output),
            nest.map_structure(pick, state, new_state))


def _initial_state(cell, initial_state, batch_size, dtype):
    if initial_state is not None:
        return initial_state
    if not dtype:
        raise ValueError("If there is no initial_state, you must give a dtype.")
    if getattr(cell, "get_initial_state", None) is not None:
        return cell.get_initial_state(inputs=None, batch_size=batch_size, dtype=dtype)
    return cell.zero_state(batch_size, dtype)


def _sequence_length(sequence_length):
    if sequence_length is None:
        return None
    s = math_ops.cast(convert_to_tensor(sequence_length, name="sequence_length"), _dtypes.int32)
    if s.shape.ndims not in (None, 1):
        raise ValueError(f"sequence_length must be a vector of length batch_size, but saw "
                         f"shape: {s.shape}")
    return s


# ----------------------------------------------------------------------------------------------
# the fused path: a stack of LSTM cells as one BlockLSTM op per layer (and chunk)
# ----------------------------------------------------------------------------------------------
#: When the layers of a fused stack are put on several devices (`DeviceWrapper`s), or a
#: `static_rnn` is built under an explicit device scope (the way TF1 programs put one layer per
#: device), the sequence is cut into this many chunks per device so that layer k+1 works on
#: chunk c while layer k works on chunk c+1 (a pipeline over time: the first and last chunk of
#: each pass are its bubble).  0 never cuts.
PIPELINE_CHUNKS_PER_DEVICE = 4


def _chunk_sizes(time: int, stages: int) -> list[int]:
    return even_sizes(time, max(1, min(time, PIPELINE_CHUNKS_PER_DEVICE * stages)))


def _fused_sequence(cell, flat_input, state, seq, stacked=True):
    """dynamic_rnn/static_rnn of a fusable cell (LSTM cells, possibly stacked and on devices)
    as whole-sequence ops: (output chunks [steps, batch, units], final state), or None when
    the cell or the inputs do not allow it (the step-by-step path then runs).  `flat_input`:
    one time-major tensor (`stacked`), or static_rnn's list of [batch, depth] steps."""
    if not fusable(cell) or (stacked and len(flat_input) != 1):
        return None
    time = flat_input[0].shape[0].value if stacked else len(flat_input)
    if time == 0:
        return None                      # nothing to fuse: the loop returns the initial state
    stages = len(cell._devices())
    if stages < 2 and not stacked and get_default_graph()._current_device():
        stages = 2                       # a static_rnn layer placed explicitly may pipeline
    if time is None or stages < 2 or not PIPELINE_CHUNKS_PER_DEVICE:
        chunks = list(flat_input) if stacked else [array_ops.stack(flat_input)]
    else:
        sizes = _chunk_sizes(time, stages)
        if stacked:
            chunks = array_ops.split(flat_input[0], sizes, 0)
        else:
            ends = [sum(sizes[:i + 1]) for i in range(len(sizes))]
            chunks = [array_ops.stack(flat_input[e - n:e]) for e, n in zip(ends, sizes)]
    return cell._sequence(chunks, state, seq)


def _masked(chunks, seq):
    """The output chunks with the steps at or past each entry's length zeroed."""
    if seq is None:
        return chunks
    out, start = [], 0
    for c in chunks:
        out.append(mask_time_major(c, seq, start))
        start += c.shape[0].value if len(chunks) > 1 else 0
    return out


# ----------------------------------------------------------------------------------------------
# static_rnn
# ----------------------------------------------------------------------------------------------
def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """TF1 `tf.nn.static_rnn`: the cell unrolled over the list `inputs` of [batch, input]
    tensors; returns (list of outputs, final state)."""
    assert_like_rnncell("cell", cell)
    if not nest.is_sequence(inputs):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    outputs = []
    with variable_scope(scope or "rnn") as varscope:
        flat_inputs = [convert_to_tensor(t) for t in nest.flatten(inputs)]
        inputs = nest.pack_sequence_as(inputs, flat_inputs)
        first = flat_inputs[0]
        fixed_batch = Dimension(None)
        for t in flat_inputs:
            shape = t.shape.with_rank_at_least(2) if first.shape.ndims != 1 else t.shape
            fixed_batch = fixed_batch.merge_with(shape[0])
            if first.shape.ndims != 1:
                for k, d in enumerate(shape.as_list()[1:]):
                    if d is None:
                        raise ValueError(f"Input size (dimension {k} of inputs) must be "
                                         "accessible via shape inference, but saw value None.")
        batch_size = fixed_batch.value if fixed_batch.value is not None else \
            array_ops.shape(first)[0]
        state = _initial_state(cell, initial_state, batch_size, dtype)
        seq = _sequence_length(sequence_length)
        if len(flat_inputs) == len(inputs) and first.shape.ndims == 2:
            fused = _fused_sequence(cell, list(flat_inputs), state, seq, stacked=False)
            if fused is not None:
                chunks, state = fused
                return [o for c in _masked(chunks, seq) for o in array_ops.unstack(c)], state
        if seq is not None:
            zero_output = _zeros_output(batch_size, cell.output_size,
                                        _state_dtype(dtype, state), fixed_batch.value)
        for time, input_ in enumerate(inputs):
            if time > 0:
                varscope.reuse_variables()
            output, new_state = cell(input_, state)
            if seq is not None:
                output, new_state = _select_step(time, seq, zero_output, state, output,
                                                 new_state)
            state = new_state
            outputs.append(output)
        return outputs, state


def _reverse_seq(input_seq, lengths):
    """A list of (nested) tensors reversed in time, within each sequence's length."""
    if lengths is None:
        return list(reversed(input_seq))
    flat_seq = [nest.flatten(x) for x in input_seq]
    flat_results = [[] for _ in input_seq]
    for sequence in zip(*flat_seq):
        shape = TensorShape(None)
        for x in sequence:
            shape = shape.merge_with(x.shape)
        joined = array_ops.stack(list(sequence))
        rev = reverse_sequence(joined, lengths, 0, 1)
        for r, out in zip(array_ops.unstack(rev), flat_results):
            r.set_shape(shape)
            out.append(r)
    return [nest.pack_sequence_as(x, f) for x, f in zip(input_seq, flat_results)]


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None,
                             initial_state_bw=None, dtype=None, sequence_length=None,
                             scope=None):
    """TF1 `tf.nn.static_bidirectional_rnn`: returns (outputs with fw and bw concatenated on
    axis 1, final fw state, final bw state)."""
    assert_like_rnncell("cell_fw", cell_fw)
    assert_like_rnncell("cell_bw", cell_bw)
    if not nest.is_sequence(inputs):
        raise TypeError("inputs must be a sequence")
    if not inputs:
        raise ValueError("inputs must not be empty")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype,
                                             sequence_length, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            seq = None if sequence_length is None else convert_to_tensor(sequence_length)
            tmp, state_bw = static_rnn(cell_bw, _reverse_seq(inputs, seq), initial_state_bw,
                                       dtype, sequence_length, scope=bw_scope)
    output_bw = _reverse_seq(tmp, seq)
    flat = [array_ops.concat([fw, bw], 1) for fw, bw in zip(nest.flatten(output_fw),
                                                           nest.flatten(output_bw))]
    return nest.pack_sequence_as(output_fw, flat), state_fw, state_bw


# ----------------------------------------------------------------------------------------------
# dynamic_rnn
# ----------------------------------------------------------------------------------------------
def _transpose_batch_time(x):
    """[batch, time, ...] <-> [time, batch, ...]."""
    x = convert_to_tensor(x)
    r = x.shape.ndims
    if r is None:
        raise ValueError(f"dynamic_rnn needs inputs of known rank, got {x.name} with unknown "
                         "rank")
    if r < 2:
        raise ValueError(f"Expected input tensor {x.name} to have rank at least 2, but saw "
                         f"shape: {x.shape}")
    return array_ops.transpose(x, [1, 0] + list(range(2, r)))


def _best_effort_batch_size(flat_input):
    for x in flat_input:
        if x.shape.ndims is None:
            continue
        if x.shape.ndims < 2:
            raise ValueError(f"Expected input tensor {x.name} to have rank at least 2")
        b = x.shape[1].value
        if b is not None:
            return b
    return array_ops.shape(flat_input[0])[1]


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """TF1 `tf.nn.dynamic_rnn`: the cell run over `inputs` ([batch, time, ...], or
    [time, batch, ...] with `time_major`) in a while loop; returns (outputs, final state)."""
    assert_like_rnncell("cell", cell)
    with variable_scope(scope or "rnn"):
        flat_input = [convert_to_tensor(x) for x in nest.flatten(inputs)]
        if not time_major:
            flat_input = [_transpose_batch_time(x) for x in flat_input]
        parallel_iterations = parallel_iterations or 32
        seq = _sequence_length(sequence_length)
        if seq is not None:
            seq = array_ops.identity(seq, name="sequence_length")
        batch_size = _best_effort_batch_size(flat_input)
        state = _initial_state(cell, initial_state, batch_size, dtype)
        if seq is not None:
            b = batch_size if isinstance(batch_size, Tensor) else \
                convert_to_tensor(batch_size, _dtypes.int32)
            if seq.shape.ndims == 1 and seq.shape[0].value is not None and \
                    not isinstance(batch_size, Tensor) and seq.shape[0].value != batch_size:
                raise ValueError(f"Expected shape for Tensor {seq.name} is [{batch_size}] but "
                                 f"saw shape: {seq.shape}")
            check = control_flow_ops.Assert(
                math_ops.reduce_all(math_ops.equal(array_ops.shape(seq), array_ops.stack([b]))),
                [f"Expected shape for Tensor {seq.name} is ", b, " but saw shape: ",
                 array_ops.shape(seq)])
            with control_dependencies([check]):
                seq = array_ops.identity(seq, name="CheckSeqLen")
        _check_time_major_inputs(flat_input)
        fused = _fused_sequence(cell, flat_input, state, seq)
        if fused is not None:
            chunks, final_state = _masked(*fused[:1], seq), fused[1]
            outputs = chunks[0] if len(chunks) == 1 else array_ops.concat(chunks, 0)
            # the loop's final state has the structure of its initial state (a plain tuple
            # stays a plain tuple), as in TF1
            final_state = nest.pack_sequence_as(state, nest.flatten(final_state))
        else:
            inputs = nest.pack_sequence_as(inputs, flat_input)
            outputs, final_state = _dynamic_rnn_loop(cell, inputs, state, parallel_iterations,
                                                     swap_memory, seq, dtype)
        if not time_major:
            outputs = nest.map_structure(_transpose_batch_time, outputs)
        return outputs, final_state


def _check_time_major_inputs(flat_input) -> list:
    """The inputs' shapes (rank >= 3, known depth, one time and batch size), else TF1's
    ValueError."""
    shapes = [x.shape.with_rank_at_least(3) for x in flat_input]
    const_time, const_batch = shapes[0].as_list()[:2]
    for s in shapes:
        if not s[2:].is_fully_defined():
            raise ValueError("Input size (depth of inputs) must be accessible via shape "
                             "inference, but saw value None.")
        if s[0].value != const_time:
            raise ValueError("Time steps is not the same for all the elements in the input in "
                             "a batch.")
        if s[1].value != const_batch:
            raise ValueError("Batch_size is not the same for all the elements in the input.")
    return shapes


def _dynamic_rnn_loop(cell, inputs, initial_state, parallel_iterations, swap_memory,
                      sequence_length, dtype):
    state = initial_state
    flat_input = nest.flatten(inputs)
    flat_output_size = nest.flatten(cell.output_size)
    shapes = _check_time_major_inputs(flat_input)
    const_time, const_batch = shapes[0].as_list()[:2]
    time_steps = const_time if const_time is not None else array_ops.shape(flat_input[0])[0]
    batch_size = _best_effort_batch_size(flat_input)
    out_dtype = _state_dtype(dtype, state)
    zero_output = _zeros_output(batch_size, cell.output_size, out_dtype, const_batch)
    time = convert_to_tensor(0, dtype=_dtypes.int32, name="time")
    with name_scope("dynamic_rnn") as base:
        pass
    output_ta = tuple(
        TensorArray(out_dtype, size=time_steps,
                    element_shape=TensorShape([const_batch]).concatenate(_size_dims(s)),
                    tensor_array_name=f"{base}output_{k}")
        for k, s in enumerate(flat_output_size))
    input_ta = tuple(
        TensorArray(x.dtype, size=time_steps, element_shape=x.shape[1:],
                    tensor_array_name=f"{base}input_{k}").unstack(x)
        for k, x in enumerate(flat_input))

    def body(t, out_ta, state):
        input_t = []
        for ta, s in zip(input_ta, shapes):
            x = ta.read(t)
            x.set_shape(s[1:])
            input_t.append(x)
        input_t = nest.pack_sequence_as(inputs, input_t)
        output, new_state = cell(input_t, state)
        if sequence_length is not None:
            output, new_state = _select_step(t, sequence_length, zero_output, state, output,
                                             new_state)
        out_ta = tuple(ta.write(t, o) for ta, o in zip(out_ta, nest.flatten(output)))
        return t + 1, out_ta, new_state

    _, final_ta, final_state = control_flow_ops.while_loop(
        lambda t, *_: math_ops.less(t, time_steps), body, (time, output_ta, state),
        parallel_iterations=parallel_iterations, maximum_iterations=time_steps,
        swap_memory=swap_memory)
    final_outputs = []
    for ta, s in zip(final_ta, flat_output_size):
        out = ta.stack()
        out.set_shape([const_time, const_batch] + _size_dims(s))
        final_outputs.append(out)
    return nest.pack_sequence_as(cell.output_size, final_outputs), final_state


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None, dtype=None,
                              parallel_iterations=None, swap_memory=False, time_major=False,
                              scope=None):
    """TF1 `tf.nn.bidirectional_dynamic_rnn`: returns ((output_fw, output_bw),
    (final state fw, final state bw)); the backward cell reads each sequence reversed within
    its length, and its outputs are reversed back."""
    assert_like_rnncell("cell_fw", cell_fw)
    assert_like_rnncell("cell_bw", cell_bw)
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)

    def _reverse(x):
        if sequence_length is not None:
            return reverse_sequence(x, sequence_length, seq_axis=time_axis,
                                    batch_axis=batch_axis)
        return array_ops.reverse(x, axis=[time_axis])

    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = dynamic_rnn(
                cell_fw, inputs, sequence_length=sequence_length,
                initial_state=initial_state_fw, dtype=dtype,
                parallel_iterations=parallel_iterations, swap_memory=swap_memory,
                time_major=time_major, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            inputs_rev = nest.map_structure(_reverse, inputs)
            tmp, state_bw = dynamic_rnn(
                cell_bw, inputs_rev, sequence_length=sequence_length,
                initial_state=initial_state_bw, dtype=dtype,
                parallel_iterations=parallel_iterations, swap_memory=swap_memory,
                time_major=time_major, scope=bw_scope)
    output_bw = nest.map_structure(_reverse, tmp)
    return (output_fw, output_bw), (state_fw, state_bw)
