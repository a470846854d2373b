"""RNN cells (TF1 `tf.nn.rnn_cell`): one time step of a recurrent network, with TF1's variables.

A cell maps `(inputs [batch, input], state)` to `(output, new_state)`; `state_size` and
`output_size` describe the state structure (an int, a `TensorShape`, or a tuple of them, e.g.
`LSTMStateTuple(c, h)`).  What TF1's legacy `tf.layers.Layer` gives a cell is reproduced here
(`_ScopedLayer`): at the first call the cell captures a variable scope named after its class
(`basic_lstm_cell`, uniquified by the enclosing scope) or its `name`, creates its variables
there (`kernel`, `bias`, ... in the input's dtype) and reuses them at every later call, whatever
the scope then; ops of every call go under that scope's name scope.  So `static_rnn` over a
`MultiRNNCell` of `BasicLSTMCell`s names its variables `rnn/multi_rnn_cell/cell_0/basic_lstm_cell/
kernel:0`, as TF1 does.

Gate orders are TF1's: LSTM kernels hold the columns i, j, f, o (`forget_bias` is added to f),
GRU gates r, u.  `BasicLSTMCell` and `LSTMCell` without peepholes, projection or cell clipping
(and with the default tanh activation) run one fused `LSTMBlockCell` op per step (see
`lstm_ops.py`) on the same variables: the same numbers within float rounding, fewer nodes, and
one fused gradient op.  `LSTMBlockCell` and `LSTMBlockFusedCell` are TF's `tf.contrib.rnn`
cells on the fused ops (the latter runs a whole time-major sequence as one `BlockLSTM` op).
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import numbers
import re

from ..framework import dtypes as _dtypes
from ..framework import nest
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, device as _device, name_scope
from ..framework.tensor_shape import Dimension, TensorShape
from . import (array_ops, clip_ops, indexing_ops, init_ops, linalg_ops, lstm_ops, mask_ops,
               math_ops, nn_ops, random_ops, slicing_ops)
from .variable_scope import get_variable, variable_scope

__all__ = ["RNNCell", "LayerRNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell",
           "MultiRNNCell", "DropoutWrapper", "ResidualWrapper", "DeviceWrapper",
           "LSTMStateTuple", "LSTMBlockCell", "LSTMBlockFusedCell", "assert_like_rnncell"]

_WEIGHTS = "kernel"
_BIAS = "bias"


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The (c, h) state of an LSTM cell: cell state and output."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


def _to_snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def assert_like_rnncell(cell_name, cell) -> None:
    """TypeError unless `cell` has what an RNN cell needs."""
    missing = [msg for ok, msg in (
        (hasattr(cell, "output_size"), "'output_size' property is missing"),
        (hasattr(cell, "state_size"), "'state_size' property is missing"),
        (hasattr(cell, "get_initial_state") or hasattr(cell, "zero_state"),
         "either 'zero_state' or 'get_initial_state' method is required"),
        (callable(cell), "is not callable")) if not ok]
    if missing:
        raise TypeError(f"The argument {cell_name!r} ({cell}) is not an RNNCell: "
                        + ", ".join(missing) + ".")


# ----------------------------------------------------------------------------------------------
# the layer part: a variable scope captured at the first call
# ----------------------------------------------------------------------------------------------
class _ScopedLayer:
    """Variable scoping of TF1's legacy layers (see the module docstring)."""

    def __init__(self, name=None, dtype=None, reuse=None, trainable=True):
        self._base_name = name or _to_snake_case(type(self).__name__)
        self._reuse = reuse
        self._dtype = _dtypes.as_dtype(dtype) if dtype is not None else None
        self._trainable = trainable
        self._scope = None
        self._variables: list = []
        self.built = False

    @property
    def name(self) -> str:
        return self._scope.name if self._scope is not None else self._base_name

    @property
    def scope_name(self) -> str:
        if self._scope is None:
            raise ValueError("No name available for layer scope because the layer "
                             f"{self._base_name!r} has not been used yet.")
        return self._scope.name

    @property
    def dtype(self):
        return self._dtype

    @property
    def variables(self) -> list:
        return list(self._variables)

    weights = variables

    @property
    def trainable_variables(self) -> list:
        return [v for v in self._variables if v.trainable] if self._trainable else []

    trainable_weights = trainable_variables

    @contextlib.contextmanager
    def _layer_scope(self, scope, inputs):
        if self._scope is None:
            if self._reuse:
                cm = variable_scope(scope if scope is not None else self._base_name)
            else:
                cm = variable_scope(scope, default_name=self._base_name)
            with cm as captured:
                self._scope = captured
        with variable_scope(self._scope, reuse=True if self.built else self._reuse,
                            auxiliary_name_scope=False):
            with name_scope(self._scope.original_name_scope):
                if not self.built:
                    first = nest.flatten(inputs)[0]
                    first = first if isinstance(first, Tensor) else convert_to_tensor(first)
                    if self._dtype is None:
                        self._dtype = first.dtype.base_dtype
                    self.build(nest.map_structure(
                        lambda t: convert_to_tensor(t).shape, inputs))
                    self.built = True
                yield

    def build(self, inputs_shape) -> None:
        """Create the variables (called once, at the first call, in the layer's scope)."""

    def add_variable(self, name, shape, dtype=None, initializer=None, trainable=True):
        """`get_variable(name)` in the layer's scope, in the layer's dtype."""
        v = get_variable(name, shape=shape, dtype=dtype or self._dtype, initializer=initializer,
                         trainable=trainable and self._trainable)
        if all(v is not u for u in self._variables):
            self._variables.append(v)
        return v

    add_weight = add_variable


def _last_dim(shape, what="inputs") -> int:
    shape = TensorShape(shape)
    d = shape[-1] if shape.ndims else Dimension(None)
    d = d.value if isinstance(d, Dimension) else d
    if d is None:
        raise ValueError(f"Expected {what}.shape[-1] to be known, saw shape: {shape}")
    return int(d)


# ----------------------------------------------------------------------------------------------
# the cell protocol
# ----------------------------------------------------------------------------------------------
def _size_dims(s) -> list:
    if isinstance(s, (numbers.Integral, Dimension)):
        v = s.value if isinstance(s, Dimension) else int(s)
        return [v]
    return TensorShape(s).as_list()


def _zero_state_tensors(state_size, batch_size, dtype):
    """Zeros shaped [batch_size] + s for each size s of `state_size` (a nested structure)."""
    static_b = batch_size
    if isinstance(batch_size, Tensor):
        cv = constant_value(batch_size)
        static_b = None if cv is None else int(cv)

    def zeros(s):
        dims = _size_dims(s)
        if static_b is not None:
            return array_ops.zeros([int(static_b)] + dims, dtype=dtype)
        shape = array_ops.stack([batch_size] + [convert_to_tensor(d, dtype=batch_size.dtype)
                                                for d in dims])
        z = array_ops.zeros(shape, dtype=dtype)
        z.set_shape([None] + dims)
        return z
    return nest.map_structure(zeros, state_size)


class RNNCell(_ScopedLayer):
    """Abstract RNN cell: `output, new_state = cell(inputs, state)`."""

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, reuse=kwargs.pop("_reuse", None),
                         trainable=trainable)
        if kwargs:
            raise TypeError(f"Unexpected keyword arguments: {sorted(kwargs)}")

    @property
    def state_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def output_size(self):
        raise NotImplementedError("Abstract method")

    def __call__(self, inputs, state, scope=None):
        with self._layer_scope(scope, inputs):
            return self.call(inputs, state)

    def call(self, inputs, state):
        raise NotImplementedError("Abstract method")

    def zero_state(self, batch_size, dtype):
        """Zero-filled state tensor(s) of `state_size` for a batch of `batch_size`."""
        with name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            return _zero_state_tensors(self.state_size, batch_size, dtype)

    # --- the whole-sequence form, `dynamic_rnn`/`static_rnn`'s fused path ---------------------
    def _fusable(self) -> bool:
        """Whether `_sequence` can run this cell over whole sequences with fused ops."""
        return False

    def _devices(self) -> set:
        """The devices its layers are explicitly put on (`DeviceWrapper`s, nested ones too)."""
        return set()

    def _sequence(self, chunks, state, lengths):
        """The cell over a time-major sequence given as consecutive chunks `[steps, batch,
        depth]`, from `state`; returns (the output chunks, the final state).  With `lengths`
        the final state is each entry's state at its length, and outputs past a length are
        left as computed (the caller masks the last layer's).  Same variables, scopes and
        numbers as calling the cell step by step."""
        with self._layer_scope(None, chunks[0]):
            return self._sequence_call(chunks, state, lengths)

    def _sequence_call(self, chunks, state, lengths):
        raise NotImplementedError(f"{type(self).__name__} has no whole-sequence form")

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            inputs = convert_to_tensor(inputs)
            if batch_size is None:
                batch_size = (inputs.shape[0].value if inputs.shape[0].value is not None
                              else array_ops.shape(inputs)[0])
            dtype = dtype or inputs.dtype
        if batch_size is None or dtype is None:
            raise ValueError("get_initial_state needs inputs, or batch_size and dtype")
        return self.zero_state(batch_size, dtype)


LayerRNNCell = RNNCell


def _activation(activation):
    return math_ops.tanh if activation is None else activation


def _linear(args, kernel, bias):
    """bias_add(matmul(concat(args, 1), kernel), bias)."""
    x = args[0] if len(args) == 1 else array_ops.concat(args, 1)
    return nn_ops.bias_add(linalg_ops.matmul(x, kernel), bias)


# ----------------------------------------------------------------------------------------------
# cells
# ----------------------------------------------------------------------------------------------
class _VectorStateCell(RNNCell):
    """A cell whose state and output are both one `[batch, num_units]` tensor."""

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units


class BasicRNNCell(_VectorStateCell):
    """output = new_state = act(W * [input, state] + b)."""

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = num_units
        self._activation = _activation(activation)

    def build(self, inputs_shape):
        depth = _last_dim(inputs_shape)
        self._kernel = self.add_variable(_WEIGHTS, [depth + self._num_units, self._num_units])
        self._bias = self.add_variable(_BIAS, [self._num_units],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        output = self._activation(_linear([inputs, state], self._kernel, self._bias))
        return output, output


class _LSTMBase(RNNCell):
    """What BasicLSTMCell and LSTMCell share: state layout and the fused step."""

    #: run one fused `LSTMBlockCell` op per step when the cell's math allows it (`_block_ok`);
    #: set to False on a cell (or the class) to build TF1's unfused graph instead
    _fused_step = True

    def _split_state(self, state, c_size, h_size):
        if self._state_is_tuple:
            c, h = state
            return c, h
        return (slicing_ops.slice(state, [0, 0], [-1, c_size]),
                slicing_ops.slice(state, [0, c_size], [-1, h_size]))

    def _pack_state(self, c, h):
        return LSTMStateTuple(c, h) if self._state_is_tuple else array_ops.concat([c, h], 1)

    def _block_step(self, inputs, c, h):
        """(new_c, new_h) by the fused op, on this cell's kernel and bias."""
        zeros = array_ops.zeros([self._num_units], dtype=self._kernel.dtype.base_dtype)
        _, cs, _, _, _, _, new_h = lstm_ops.lstm_block_cell(
            inputs, c, h, self._kernel, zeros, zeros, zeros, self._bias,
            forget_bias=self._forget_bias, cell_clip=-1.0, use_peephole=False)
        return cs, new_h

    def _fusable(self) -> bool:
        # a subclass with its own step (call or __call__) must run it: no whole-sequence form
        return (self._block_ok and self._fused_step and type(self).call in _FUSABLE_CALLS
                and type(self).__call__ is RNNCell.__call__)

    def _sequence_call(self, chunks, state, lengths):
        """One `BlockLSTM` op per chunk, each starting from the previous chunk's last state."""
        n = self._num_units
        c0, h0 = self._split_state(state, n, n)
        zeros = array_ops.zeros([n], dtype=self._kernel.dtype.base_dtype)
        c, h = c0, h0
        cs_chunks, outputs = [], []
        for x in chunks:
            steps = x.shape[0].value
            if steps is None:
                steps = math_ops.cast(array_ops.shape(x)[0], _dtypes.int64)
            _, cs, _, _, _, _, hs = lstm_ops.block_lstm(
                steps, x, c, h, self._kernel, zeros, zeros, zeros, self._bias,
                forget_bias=self._forget_bias, cell_clip=-1.0, use_peephole=False)
            cs_chunks.append(cs)
            outputs.append(hs)
            if x.shape[0].value:
                c, h = cs[-1], hs[-1]
            else:                         # a length unknown until run time (possibly 0)
                c, h = (array_ops.concat([array_ops.expand_dims(s0, 0), s], 0)[-1]
                        for s0, s in ((c, cs), (h, hs)))
        if lengths is not None:
            c, h = _state_at_lengths(lengths, (c0, h0), cs_chunks, outputs)
        return outputs, self._pack_state(c, h)


class BasicLSTMCell(_LSTMBase):
    """TF1's basic LSTM cell (no peepholes, no clipping, no projection)."""

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)
        self._block_ok = activation in (None, math_ops.tanh)

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        depth = _last_dim(inputs_shape)
        self._kernel = self.add_variable(_WEIGHTS, [depth + self._num_units,
                                                    4 * self._num_units])
        self._bias = self.add_variable(_BIAS, [4 * self._num_units],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        c, h = self._split_state(state, self._num_units, self._num_units)
        if self._block_ok and self._fused_step:
            new_c, new_h = self._block_step(inputs, c, h)
        else:
            gates = _linear([inputs, h], self._kernel, self._bias)
            i, j, f, o = array_ops.split(gates, 4, axis=1)
            sig = math_ops.sigmoid
            fb = convert_to_tensor(self._forget_bias, dtype=f.dtype)
            new_c = math_ops.add(math_ops.multiply(c, sig(math_ops.add(f, fb))),
                                 math_ops.multiply(sig(i), self._activation(j)))
            new_h = math_ops.multiply(self._activation(new_c), sig(o))
        return new_h, self._pack_state(new_c, new_h)


class LSTMCell(_LSTMBase):
    """TF1's LSTM cell with optional peepholes, cell clipping and a projection layer."""

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("num_unit_shards/num_proj_shards (partitioned "
                                      "variables) are not supported")
        self._num_units = num_units
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = num_proj
        self._proj_clip = proj_clip
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)
        self._block_ok = (not use_peepholes and cell_clip is None and num_proj is None
                          and activation in (None, math_ops.tanh))

    @property
    def state_size(self):
        p = self._num_proj if self._num_proj is not None else self._num_units
        return LSTMStateTuple(self._num_units, p) if self._state_is_tuple else \
            self._num_units + p

    @property
    def output_size(self):
        return self._num_proj if self._num_proj is not None else self._num_units

    def build(self, inputs_shape):
        depth = _last_dim(inputs_shape)
        n = self._num_units
        h_depth = self._num_proj if self._num_proj is not None else n
        self._kernel = self.add_variable(_WEIGHTS, [depth + h_depth, 4 * n],
                                         initializer=self._initializer)
        self._bias = self.add_variable(_BIAS, [4 * n],
                                       initializer=init_ops.zeros_initializer(dtype=self.dtype))
        if self._use_peepholes:
            self._w_f_diag = self.add_variable("w_f_diag", [n], initializer=self._initializer)
            self._w_i_diag = self.add_variable("w_i_diag", [n], initializer=self._initializer)
            self._w_o_diag = self.add_variable("w_o_diag", [n], initializer=self._initializer)
        if self._num_proj is not None:
            self._proj_kernel = self.add_variable(f"projection/{_WEIGHTS}",
                                                  [n, self._num_proj],
                                                  initializer=self._initializer)

    def call(self, inputs, state):
        n = self._num_units
        p = self._num_proj if self._num_proj is not None else n
        c_prev, m_prev = self._split_state(state, n, p)
        if self._block_ok and self._fused_step:
            c, m = self._block_step(inputs, c_prev, m_prev)
            return m, self._pack_state(c, m)
        sig, act = math_ops.sigmoid, self._activation
        lstm_matrix = _linear([inputs, m_prev], self._kernel, self._bias)
        i, j, f, o = array_ops.split(lstm_matrix, 4, axis=1)
        fb = convert_to_tensor(self._forget_bias, dtype=f.dtype)
        if self._use_peepholes:
            c = (sig(f + fb + self._w_f_diag * c_prev) * c_prev
                 + sig(i + self._w_i_diag * c_prev) * act(j))
        else:
            c = sig(f + fb) * c_prev + sig(i) * act(j)
        if self._cell_clip is not None:
            c = clip_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sig(o + self._w_o_diag * c) * act(c)
        else:
            m = sig(o) * act(c)
        if self._num_proj is not None:
            m = linalg_ops.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = clip_ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        return m, self._pack_state(c, m)


#: the steps `_LSTMBase._sequence_call` reproduces (a subclass overriding them is not fused)
_FUSABLE_CALLS = (BasicLSTMCell.call, LSTMCell.call)


class GRUCell(_VectorStateCell):
    """Gated Recurrent Unit cell (TF1's: reset and update gates r, u, then the candidate)."""

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = num_units
        self._activation = _activation(activation)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    def build(self, inputs_shape):
        depth = _last_dim(inputs_shape)
        n = self._num_units
        ki, bi = self._kernel_initializer, self._bias_initializer
        self._gate_kernel = self.add_variable(f"gates/{_WEIGHTS}", [depth + n, 2 * n],
                                              initializer=ki)
        self._gate_bias = self.add_variable(
            f"gates/{_BIAS}", [2 * n],
            initializer=bi if bi is not None else init_ops.constant_initializer(
                1.0, dtype=self.dtype))
        self._candidate_kernel = self.add_variable(f"candidate/{_WEIGHTS}", [depth + n, n],
                                                   initializer=ki)
        self._candidate_bias = self.add_variable(
            f"candidate/{_BIAS}", [n],
            initializer=bi if bi is not None else init_ops.zeros_initializer(dtype=self.dtype))

    def call(self, inputs, state):
        value = math_ops.sigmoid(_linear([inputs, state], self._gate_kernel, self._gate_bias))
        r, u = array_ops.split(value, 2, axis=1)
        candidate = _linear([inputs, r * state], self._candidate_kernel, self._candidate_bias)
        c = self._activation(candidate)
        new_h = u * state + (1 - u) * c
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """Cells stacked: the output of cell k is the input of cell k+1 (scopes `cell_k`)."""

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not nest.is_sequence(cells):
            raise TypeError(f"cells must be a list or tuple, but saw: {cells}.")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(nest.is_sequence(c.state_size) for c in self._cells):
            raise ValueError("Some cells return tuples of states, but the flag state_is_tuple "
                             "is not set.  State sizes are: "
                             f"{[c.state_size for c in self._cells]}")

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(c.state_size for c in self._cells)
        return sum(c.state_size for c in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        with name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            if self._state_is_tuple:
                return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
            return _zero_state_tensors(self.state_size, batch_size, dtype)

    @property
    def variables(self):
        out = []
        for c in self._cells:
            out += [v for v in c.variables if all(v is not u for u in out)]
        return out

    weights = variables

    @property
    def trainable_variables(self):
        return [v for v in self.variables if v.trainable]

    trainable_weights = trainable_variables

    def _layers(self, state):
        """(cell, the cell's part of `state`) for each layer, under its scope `cell_k`."""
        pos = 0
        for k, cell in enumerate(self._cells):
            with variable_scope(f"cell_{k}"):
                if self._state_is_tuple:
                    if not nest.is_sequence(state):
                        raise ValueError(f"Expected state to be a tuple of length "
                                         f"{len(self.state_size)}, but received: {state}")
                    cur_state = state[k]
                else:
                    cur_state = slicing_ops.slice(state, [0, pos], [-1, cell.state_size])
                    pos += cell.state_size
                yield cell, cur_state

    def _pack(self, new_states):
        return tuple(new_states) if self._state_is_tuple else array_ops.concat(new_states, 1)

    def call(self, inputs, state):
        cur = inputs
        new_states = []
        for cell, cur_state in self._layers(state):
            cur, new = cell(cur, cur_state)
            new_states.append(new)
        return cur, self._pack(new_states)

    def _fusable(self) -> bool:
        return (type(self).call is MultiRNNCell.call and type(self).__call__ is RNNCell.__call__
                and all(fusable(c) for c in self._cells))

    def _devices(self) -> set:
        return set().union(*(c._devices() for c in self._cells))

    def _sequence_call(self, chunks, state, lengths):
        new_states = []
        for cell, cur_state in self._layers(state):
            chunks, new = cell._sequence(chunks, cur_state, lengths)
            new_states.append(new)
        return chunks, self._pack(new_states)


# ----------------------------------------------------------------------------------------------
# wrappers (no variable scope of their own: the wrapped cell's variables keep their names)
# ----------------------------------------------------------------------------------------------
class _Wrapper(RNNCell):
    def __init__(self, cell):
        super().__init__()
        assert_like_rnncell("cell", cell)
        self._cell = cell

    @property
    def wrapped_cell(self):
        return self._cell

    @property
    def state_size(self):
        return self._cell.state_size

    @property
    def output_size(self):
        return self._cell.output_size

    @property
    def variables(self):
        return self._cell.variables

    @property
    def trainable_variables(self):
        return self._cell.trainable_variables

    def zero_state(self, batch_size, dtype):
        with name_scope(type(self).__name__ + "ZeroState", values=[batch_size]):
            return self._cell.zero_state(batch_size, dtype)


def _default_state_filter(substate):
    """Dropout applies to an LSTM state's h, not its c."""
    if isinstance(substate, LSTMStateTuple):
        return LSTMStateTuple(c=False, h=True)
    return True


def _rebuild_like(template, children):
    if nest._is_namedtuple(template):
        return type(template)(*children)
    return type(template)(children) if isinstance(template, (list, tuple)) else children


def _traverse_shallow(visitor, structure):
    """TF's `nest.get_traverse_shallow_structure`: the structure of bools saying where the
    visitor wants dropout."""
    r = visitor(structure)
    if not nest.is_sequence(structure):
        if not isinstance(r, bool):
            raise TypeError(f"dropout_state_filter_visitor returned {r!r} for a leaf; expected "
                            "a bool")
        return r
    kids = list(structure.values()) if isinstance(structure, dict) else list(structure)
    if isinstance(r, bool):
        if not r:
            return False
        return _rebuild_like(structure, [_traverse_shallow(visitor, k) for k in kids])
    flags = list(r.values()) if isinstance(r, dict) else list(r)
    return _rebuild_like(structure, [_traverse_shallow(visitor, k) if t else False
                                     for t, k in zip(flags, kids)])


def _map_up_to(shallow, fn, *structures):
    """fn(index, shallow leaf, value subtrees...) for each leaf of `shallow`, in order."""
    counter = [0]

    def walk(s, *vs):
        if not nest.is_sequence(s):
            i = counter[0]
            counter[0] += 1
            return fn(i, s, *vs)
        kids = [list(v) for v in vs]
        return _rebuild_like(s, [walk(c, *(k[j] for k in kids)) for j, c in enumerate(s)])
    return walk(shallow, *structures)


class DropoutWrapper(_Wrapper):
    """Dropout on a cell's inputs, outputs and state (TF1's seeds and variational mode)."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        super().__init__(cell)
        if dropout_state_filter_visitor is not None and not callable(
                dropout_state_filter_visitor):
            raise TypeError("dropout_state_filter_visitor must be callable")
        self._filter = dropout_state_filter_visitor or _default_state_filter
        with name_scope("DropoutWrapperInit"):
            for prob, attr in ((input_keep_prob, "input_keep_prob"),
                               (state_keep_prob, "state_keep_prob"),
                               (output_keep_prob, "output_keep_prob")):
                t = convert_to_tensor(prob)
                cv = constant_value(t)
                if cv is not None:
                    cv = float(cv)
                    if cv < 0 or cv > 1:
                        raise ValueError(f"Parameter {attr} must be between 0 and 1: {cv:g}")
                    setattr(self, f"_{attr}", cv)
                else:
                    setattr(self, f"_{attr}", t)
        self._variational_recurrent = variational_recurrent
        self._seed = seed
        self._recurrent_input_noise = self._recurrent_state_noise = None
        self._recurrent_output_noise = None
        if variational_recurrent:
            if dtype is None:
                raise ValueError("When variational_recurrent=True, dtype must be provided")

            def noise(salt):
                return lambda i, s: random_ops.random_uniform(
                    [1] + _size_dims(s), seed=self._gen_seed(salt, i), dtype=dtype)
            if not isinstance(self._input_keep_prob, float) or self._input_keep_prob < 1.0:
                if input_size is None:
                    raise ValueError("When variational_recurrent=True and input_keep_prob < 1.0 "
                                     "or is unknown, input_size must be provided")
                self._recurrent_input_noise = _map_up_to(
                    input_size, lambda i, s: noise("input")(i, s))
            self._recurrent_state_noise = _map_up_to(
                cell.state_size, lambda i, s: noise("state")(i, s))
            self._recurrent_output_noise = _map_up_to(
                cell.output_size, lambda i, s: noise("output")(i, s))

    def _gen_seed(self, salt_prefix, index):
        if self._seed is None:
            return None
        data = (str(self._seed) + f"{salt_prefix}_{index}").encode("utf-8")
        return int(hashlib.md5(data).hexdigest()[:8], 16) & 0x7FFFFFFF

    def _dropout(self, values, salt, noise, keep_prob, shallow=None):
        shallow = values if shallow is None else shallow

        def one(i, do, v, n=None):
            if isinstance(do, bool) and not do:
                return v
            if not self._variational_recurrent:
                return nn_ops.dropout(v, keep_prob=keep_prob, seed=self._gen_seed(salt, i))
            out = math_ops.div(v, keep_prob) * math_ops.floor(keep_prob + n)
            out.set_shape(v.shape)
            return out
        if self._variational_recurrent:
            return _map_up_to(shallow, one, values, noise)
        return _map_up_to(shallow, one, values)

    def __call__(self, inputs, state, scope=None):
        def should(p):
            return not isinstance(p, float) or p < 1
        if should(self._input_keep_prob):
            inputs = self._dropout(inputs, "input", self._recurrent_input_noise,
                                   self._input_keep_prob)
        output, new_state = self._cell(inputs, state, scope=scope)
        if should(self._state_keep_prob):
            shallow = _traverse_shallow(self._filter, new_state)
            new_state = self._dropout(new_state, "state", self._recurrent_state_noise,
                                      self._state_keep_prob, shallow)
        if should(self._output_keep_prob):
            output = self._dropout(output, "output", self._recurrent_output_noise,
                                   self._output_keep_prob)
        return output, new_state


class ResidualWrapper(_Wrapper):
    """output = inputs + cell output (or `residual_fn(inputs, output)`)."""

    def __init__(self, cell, residual_fn=None):
        super().__init__(cell)
        self._residual_fn = residual_fn

    def __call__(self, inputs, state, scope=None):
        output, new_state = self._cell(inputs, state, scope=scope)
        if self._residual_fn is not None:
            return self._residual_fn(inputs, output), new_state
        nest.assert_same_structure(inputs, output)
        return nest.map_structure(lambda i, o: i + o, inputs, output), new_state


class DeviceWrapper(_Wrapper):
    """Runs the wrapped cell on `device`."""

    def __init__(self, cell, device):
        super().__init__(cell)
        self._device = device

    def zero_state(self, batch_size, dtype):
        with _device(self._device):
            return super().zero_state(batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        with _device(self._device):
            return self._cell(inputs, state, scope=scope)

    def _fusable(self) -> bool:
        return type(self).__call__ is DeviceWrapper.__call__ and fusable(self._cell)

    def _devices(self) -> set:
        return {self._device} | self._cell._devices()

    def _sequence(self, chunks, state, lengths):
        with _device(self._device):
            return self._cell._sequence(chunks, state, lengths)


# ----------------------------------------------------------------------------------------------
# the fused cells of tf.contrib.rnn
# ----------------------------------------------------------------------------------------------
def _peephole_weights(layer, dtype):
    if layer._use_peephole:
        return layer._w_i_diag, layer._w_f_diag, layer._w_o_diag
    z = array_ops.zeros([layer._num_units], dtype=dtype)
    return z, z, z


class LSTMBlockCell(RNNCell):
    """TF contrib's `LSTMBlockCell`: an LSTM step as one `LSTMBlockCell` op (optional
    peepholes and cell clipping); variables `kernel`, `bias`, `w_i_diag`, `w_f_diag`,
    `w_o_diag` under `lstm_cell`."""

    def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peephole=False,
                 dtype=None, reuse=None, name="lstm_cell"):
        super().__init__(name=name, dtype=dtype, _reuse=reuse)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._use_peephole = use_peephole
        self._cell_clip = cell_clip if cell_clip is not None else -1

    @property
    def state_size(self):
        return LSTMStateTuple(self._num_units, self._num_units)

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        shape = TensorShape(inputs_shape)
        if shape.ndims is None or shape[1].value is None:
            raise ValueError(f"Expecting inputs_shape[1] to be set: {shape}")
        n = self._num_units
        self._kernel = self.add_variable(_WEIGHTS, [shape[1].value + n, 4 * n])
        self._bias = self.add_variable(_BIAS, [4 * n],
                                       initializer=init_ops.constant_initializer(0.0))
        if self._use_peephole:
            self._w_i_diag = self.add_variable("w_i_diag", [n])
            self._w_f_diag = self.add_variable("w_f_diag", [n])
            self._w_o_diag = self.add_variable("w_o_diag", [n])

    def call(self, inputs, state):
        if len(state) != 2:
            raise ValueError("Expecting state to be a tuple with length 2.")
        cs_prev, h_prev = state
        wci, wcf, wco = _peephole_weights(self, self._kernel.dtype.base_dtype)
        _, cs, _, _, _, _, h = lstm_ops.lstm_block_cell(
            inputs, cs_prev, h_prev, self._kernel, wci, wcf, wco, self._bias,
            forget_bias=self._forget_bias, cell_clip=self._cell_clip,
            use_peephole=self._use_peephole)
        return h, LSTMStateTuple(cs, h)


def fusable(cell) -> bool:
    """Whether `cell` (any object TF1 accepts as a cell) has tensorweave's whole-sequence form."""
    f = getattr(cell, "_fusable", None)
    return bool(f is not None and f())


def mask_time_major(outputs, lengths, start: int = 0):
    """`outputs [time, batch, depth]`, steps `start ..` of a sequence, with the steps at or
    past each entry's length zeroed."""
    if start:
        lengths = math_ops.subtract(lengths, start)
    mask = mask_ops.sequence_mask(lengths, array_ops.shape(outputs)[0], dtype=outputs.dtype)
    return outputs * array_ops.expand_dims(array_ops.transpose(mask, [1, 0]), -1)


def _state_at_lengths(lengths, initial, cs_chunks, h_chunks, clip: bool = True):
    """(c, h) of each batch entry after `lengths[b]` steps (the initial state for 0).  With
    `clip`, lengths are clipped to [0, time], which is what stepping with a per-step select
    gives; without (contrib's `LSTMBlockFusedCell`), a length out of range is an error."""
    cs_all = array_ops.concat([array_ops.expand_dims(initial[0], 0)] + list(cs_chunks), 0)
    h_all = array_ops.concat([array_ops.expand_dims(initial[1], 0)] + list(h_chunks), 0)
    time = array_ops.shape(cs_all)[0] - 1
    at = math_ops.cast(lengths, _dtypes.int32)
    if clip:
        at = clip_ops.clip_by_value(at, 0, time)
    idx = array_ops.stack([at, math_ops.range(array_ops.shape(cs_all)[1])], axis=1)
    return indexing_ops.gather_nd(cs_all, idx), indexing_ops.gather_nd(h_all, idx)


class LSTMBlockFusedCell(_ScopedLayer):
    """TF contrib's `LSTMBlockFusedCell`: the LSTM over a whole time-major sequence as one
    `BlockLSTM` op.  `cell(inputs [time, batch, input] or a list of [batch, input],
    initial_state=None, dtype=None, sequence_length=None)` returns `(outputs, LSTMStateTuple)`;
    outputs past a sequence's length are zero and its final state is the one at its length."""

    def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peephole=False,
                 reuse=None, dtype=None, name="lstm_fused_cell"):
        super().__init__(name=name, dtype=dtype, reuse=reuse)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._cell_clip = cell_clip if cell_clip is not None else -1
        self._use_peephole = use_peephole

    @property
    def num_units(self):
        return self._num_units

    def build(self, input_shape):
        shape = TensorShape(input_shape)
        if shape.ndims != 3 or shape[2].value is None:
            raise ValueError(f"Expecting input_shape with rank 3 and known input size "
                             f"(dimension 2): {shape}")
        LSTMBlockCell.build(self, TensorShape([shape[1], shape[2]]))

    def __call__(self, inputs, initial_state=None, dtype=None, sequence_length=None,
                 scope=None):
        is_list = isinstance(inputs, list)
        if is_list:
            inputs = array_ops.stack(inputs)
        inputs = convert_to_tensor(inputs)
        with self._layer_scope(scope, inputs):
            return self._run(inputs, initial_state, dtype, sequence_length, is_list)

    def _run(self, inputs, initial_state, dtype, sequence_length, is_list):
        shape = inputs.shape.with_rank(3)
        if shape[2].value is None:
            raise ValueError(f"Expecting inputs_shape[2] to be set: {shape}")
        batch = shape[1].value if shape[1].value is not None else array_ops.shape(inputs)[1]
        time = shape[0].value if shape[0].value is not None else array_ops.shape(inputs)[0]
        if initial_state is None:
            if dtype is None:
                raise ValueError("Either initial_state or dtype needs to be specified")
            z = array_ops.zeros(array_ops.stack([batch, self._num_units])
                                if isinstance(batch, Tensor) else [batch, self._num_units],
                                dtype=dtype)
            initial_state = (z, z)
        else:
            if len(initial_state) != 2:
                raise ValueError("Expecting initial_state to be a tuple with length 2 or None")
            dtype = dtype or initial_state[0].dtype
        cs0, h0 = initial_state
        wci, wcf, wco = _peephole_weights(self, self._kernel.dtype.base_dtype)
        if sequence_length is None:
            max_len = math_ops.cast(time, _dtypes.int64)
        else:
            sequence_length = convert_to_tensor(sequence_length)
            max_len = math_ops.cast(math_ops.reduce_max(sequence_length), _dtypes.int64)
        _, cs, _, _, _, _, h = lstm_ops.block_lstm(
            max_len, inputs, cs0, h0, self._kernel, wci, wcf, wco, self._bias,
            forget_bias=self._forget_bias, cell_clip=self._cell_clip,
            use_peephole=self._use_peephole)
        if sequence_length is None:
            final = LSTMStateTuple(cs[-1], h[-1])
            outputs = h
        else:
            outputs = mask_time_major(h, sequence_length)
            final = LSTMStateTuple(*_state_at_lengths(sequence_length, (cs0, h0), [cs], [h],
                                                      clip=False))
        if is_list:
            outputs = array_ops.unstack(outputs)
        return outputs, final
