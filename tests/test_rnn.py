"""static_rnn, dynamic_rnn (while_loop + TensorArray), the bidirectional variants and
reverse_sequence: TF1 names and semantics (sequence_length: zero outputs past the end, state
carried), numbers against numpy, float64 gradients through the loop."""
import numpy as np
import pytest
from test_rnn_cells import np_gru_step, np_lstm_step

import tensorweave as tw
from tensorweave.test import check_gradients

rnn_cell = tw.nn.rnn_cell
RNG = np.random.RandomState(3)


def rand(*shape, dtype=np.float32):
    return RNG.randn(*shape).astype(dtype)


def np_lstm_sequence(x, k, b, lengths=None, forget_bias=1.0):
    """x [batch, time, input] -> (outputs [batch, time, n], (c, h)) with TF1's masking."""
    B, T, _ = x.shape
    n = b.shape[0] // 4
    c, h = np.zeros((B, n)), np.zeros((B, n))
    outs = np.zeros((B, T, n))
    lengths = np.full(B, T) if lengths is None else lengths
    for t in range(T):
        nc, nh = np_lstm_step(x[:, t], c, h, k, b, forget_bias)
        live = (t < lengths)[:, None]
        c, h = np.where(live, nc, c), np.where(live, nh, h)
        outs[:, t] = np.where(live, nh, 0)
    return outs, (c, h)


def run(fetches, feed=None):
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        return s.run(fetches, feed)


# ---------------------------------------------------------------------------------------------
# reverse_sequence
# ---------------------------------------------------------------------------------------------
def np_reverse_sequence(x, lengths, seq_axis, batch_axis):
    out = x.copy()
    for b, n in enumerate(lengths):
        src = [slice(None)] * x.ndim
        src[batch_axis] = b
        src[seq_axis] = slice(0, n)
        dst = list(src)
        dst[seq_axis] = slice(n - 1, None, -1) if n else slice(0, 0)
        out[tuple(src)] = x[tuple(dst)]
    return out


@pytest.mark.parametrize("seq_axis,batch_axis", [(1, 0), (0, 1), (2, 0), (0, 2)])
def test_reverse_sequence_values(seq_axis, batch_axis):
    x = rand(4, 5, 6)
    lengths = RNG.randint(0, x.shape[seq_axis] + 1, size=x.shape[batch_axis]).astype(np.int64)
    lengths[0] = x.shape[seq_axis]
    y = tw.reverse_sequence(x, lengths, seq_axis=seq_axis, batch_axis=batch_axis)
    assert y.op.type == "ReverseSequence"
    assert y.shape == tw.TensorShape([4, 5, 6])
    np.testing.assert_array_equal(run(y), np_reverse_sequence(x, lengths, seq_axis, batch_axis))


def test_reverse_sequence_gradient_and_errors():
    lengths = np.array([2, 3, 0], np.int32)
    check_gradients(lambda x: tw.reverse_sequence(x, lengths, seq_axis=1) * 2.0,
                    [np.random.RandomState(0).randn(3, 3, 2)], name="reverse_sequence")
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 3 and 2"):
        tw.reverse_sequence(rand(3, 4), [1, 2], seq_axis=1)
    with pytest.raises(ValueError, match="seq_dim and batch_dim must differ"):
        tw.reverse_sequence(rand(3, 4), [1, 2, 1], seq_axis=0, batch_axis=0)
    with pytest.raises(TypeError, match="int32 or int64"):
        tw.reverse_sequence(rand(3, 4), tw.constant([1.0, 2.0, 1.0]), seq_axis=1)
    lens = tw.placeholder(tw.int32, [3])
    y = tw.reverse_sequence(rand(3, 4), lens, seq_axis=1)
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"seq_lens\(1\) must be in"):
        run(y, {lens: [1, 5, 2]})


# ---------------------------------------------------------------------------------------------
# static_rnn
# ---------------------------------------------------------------------------------------------
def test_static_rnn_names_and_numbers():
    x = rand(3, 4, 2)                       # batch, time, input
    cell = rnn_cell.BasicLSTMCell(5)
    outs, state = tw.nn.static_rnn(cell, [tw.constant(x[:, t]) for t in range(4)],
                                   dtype=tw.float32)
    assert [v.name for v in tw.global_variables()] == ["rnn/basic_lstm_cell/kernel:0",
                                                       "rnn/basic_lstm_cell/bias:0"]
    assert len(outs) == 4 and outs[0].shape == tw.TensorShape([3, 5])
    o, s, (k, b) = run([outs, state, cell.variables])
    want, (c, h) = np_lstm_sequence(x, k, b)
    np.testing.assert_allclose(np.stack(o, 1), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.c, c, rtol=1e-5, atol=1e-6)


def test_static_rnn_sequence_length_zeroes_outputs_and_carries_state():
    x = rand(4, 5, 3)
    lengths = np.array([5, 2, 0, 3])
    cell = rnn_cell.BasicLSTMCell(4)
    init = cell.zero_state(4, tw.float32)
    outs, state = tw.nn.static_rnn(cell, [tw.constant(x[:, t]) for t in range(5)],
                                   initial_state=init, sequence_length=lengths)
    o, s, (k, b) = run([outs, state, cell.variables])
    want, (c, h) = np_lstm_sequence(x, k, b, lengths)
    np.testing.assert_allclose(np.stack(o, 1), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.h, h, rtol=1e-5, atol=1e-6)
    assert not np.stack(o, 1)[2].any()


def test_static_rnn_errors():
    cell = rnn_cell.BasicRNNCell(2)
    with pytest.raises(TypeError, match="inputs must be a sequence"):
        tw.nn.static_rnn(cell, tw.constant(rand(2, 3)), dtype=tw.float32)
    with pytest.raises(ValueError, match="must not be empty"):
        tw.nn.static_rnn(cell, [], dtype=tw.float32)
    with pytest.raises(ValueError, match="dtype"):
        tw.nn.static_rnn(cell, [tw.constant(rand(2, 3))])
    with pytest.raises(TypeError, match="is not an RNNCell"):
        tw.nn.static_rnn(lambda x, s: (x, s), [tw.constant(rand(2, 3))], dtype=tw.float32)


def test_static_bidirectional_rnn():
    x = rand(2, 3, 2)
    lengths = np.array([3, 2])
    fw, bw = rnn_cell.GRUCell(3), rnn_cell.GRUCell(4)
    outs, sf, sb = tw.nn.static_bidirectional_rnn(fw, bw, [tw.constant(x[:, t]) for t in
                                                           range(3)], dtype=tw.float32,
                                                  sequence_length=lengths)
    names = [v.op.name for v in tw.global_variables()]
    assert names[0] == "bidirectional_rnn/fw/gru_cell/gates/kernel"
    assert names[4] == "bidirectional_rnn/bw/gru_cell/gates/kernel"
    o, s_b, wf, wb = run([outs, sb, fw.variables, bw.variables])
    assert o[0].shape == (2, 7)
    # the backward cell reads each sequence reversed within its length
    hb = np.zeros((2, 4))
    back = np.zeros((2, 3, 4))
    xr = np_reverse_sequence(x, lengths, 1, 0)
    for t in range(3):
        nh = np_gru_step(xr[:, t], hb, *wb)
        live = (t < lengths)[:, None]
        hb = np.where(live, nh, hb)
        back[:, t] = np.where(live, nh, 0)
    back = np_reverse_sequence(back, lengths, 1, 0)
    np.testing.assert_allclose(np.stack(o, 1)[:, :, 3:], back, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s_b, hb, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# dynamic_rnn
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("time_major", [False, True])
def test_dynamic_rnn_names_and_numbers(time_major, fused):
    """A fusable cell runs as one BlockLSTM op, else (`_fused_step` off) in a While loop."""
    x = rand(3, 4, 2)
    xin = np.transpose(x, (1, 0, 2)) if time_major else x
    cell = rnn_cell.BasicLSTMCell(5)
    cell._fused_step = fused
    outs, state = tw.nn.dynamic_rnn(cell, tw.constant(xin), dtype=tw.float32,
                                    time_major=time_major)
    assert [v.name for v in tw.global_variables()] == ["rnn/basic_lstm_cell/kernel:0",
                                                       "rnn/basic_lstm_cell/bias:0"]
    assert outs.shape == tw.TensorShape(list(xin.shape[:2]) + [5])
    assert ("BlockLSTM" if fused else "While") in {
        op.type for op in tw.get_default_graph().get_operations()}
    o, s, (k, b) = run([outs, state, cell.variables])
    want, (c, h) = np_lstm_sequence(x, k, b)
    np.testing.assert_allclose(np.transpose(o, (1, 0, 2)) if time_major else o, want,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.h, h, rtol=1e-5, atol=1e-6)


def test_dynamic_rnn_sequence_length_unknown_batch_and_multi_cell():
    x = rand(4, 6, 3)
    lengths = np.array([6, 1, 0, 4], np.int32)
    xp = tw.placeholder(tw.float32, [None, None, 3])
    lp = tw.placeholder(tw.int32, [None])
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(4), rnn_cell.BasicLSTMCell(2)])
    outs, state = tw.nn.dynamic_rnn(cell, xp, sequence_length=lp, dtype=tw.float32)
    assert outs.shape.as_list() == [None, None, 2]
    names = [v.op.name for v in tw.global_variables()]
    assert names[0] == "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel"
    o, s, w = run([outs, state, cell.variables], {xp: x, lp: lengths})
    h1, (c1, hh1) = np_lstm_sequence(x, w[0], w[1], lengths)
    h2, (c2, hh2) = np_lstm_sequence(h1, w[2], w[3], lengths)
    np.testing.assert_allclose(o, h2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[0].c, c1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[1].h, hh2, rtol=1e-5, atol=1e-6)
    with pytest.raises(tw.errors.InvalidArgumentError, match="Expected shape for Tensor"):
        run(outs, {xp: x, lp: lengths[:3]})


def test_dynamic_rnn_initial_state_nested_inputs_and_errors():
    cell = rnn_cell.GRUCell(3)
    x = rand(2, 4, 2)
    h0 = rand(2, 3)
    outs, state = tw.nn.dynamic_rnn(cell, tw.constant(x), initial_state=tw.constant(h0))
    o, s, w = run([outs, state, cell.variables])
    h = h0
    for t in range(4):
        h = np_gru_step(x[:, t], h, *w)
    np.testing.assert_allclose(s, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o[:, -1], h, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="must give a dtype"):
        tw.nn.dynamic_rnn(rnn_cell.GRUCell(3), tw.constant(x))
    with pytest.raises(ValueError, match="depth of inputs"):
        tw.nn.dynamic_rnn(rnn_cell.GRUCell(3), tw.placeholder(tw.float32, [2, 4, None]),
                          dtype=tw.float32)
    with pytest.raises(ValueError, match="vector of length batch_size"):
        tw.nn.dynamic_rnn(rnn_cell.GRUCell(3), tw.constant(x), sequence_length=[[1, 2]],
                          dtype=tw.float32)
    with pytest.raises(ValueError, match=r"Expected shape for Tensor .* is \[2\]"):
        tw.nn.dynamic_rnn(rnn_cell.GRUCell(3), tw.constant(x), sequence_length=[1, 2, 3],
                          dtype=tw.float32)


def test_dynamic_rnn_gradients_through_the_loop():
    lengths = np.array([3, 1])

    def fn(x, h0, k, b):
        vals = {"kernel": k, "bias": b}
        with tw.variable_scope("s", custom_getter=lambda g, name, **kw:
                               vals[name.split("basic_rnn_cell/")[1]]):
            outs, state = tw.nn.dynamic_rnn(rnn_cell.BasicRNNCell(2), x, initial_state=h0,
                                            sequence_length=lengths)
        return [outs, state]
    r = np.random.RandomState(4)
    check_gradients(fn, [r.randn(2, 3, 2), r.randn(2, 2), r.randn(4, 2), r.randn(2)],
                    name="dynamic_rnn(BasicRNNCell)")


def test_dynamic_rnn_trains_variables_like_static_rnn():
    x = rand(3, 4, 2)
    grads = []
    cells = []
    for scope, dyn in (("s", False), ("d", True)):
        cell = rnn_cell.BasicLSTMCell(3)
        if dyn:
            outs, st = tw.nn.dynamic_rnn(cell, tw.constant(x), dtype=tw.float32, scope=scope)
            loss = tw.reduce_sum(tw.square(outs)) + tw.reduce_sum(st.c)
        else:
            outs, st = tw.nn.static_rnn(cell, [tw.constant(x[:, t]) for t in range(4)],
                                        dtype=tw.float32, scope=scope)
            loss = tw.add_n([tw.reduce_sum(tw.square(o)) for o in outs]) + tw.reduce_sum(st.c)
        grads.append(tw.gradients(loss, cell.variables))
        cells.append(cell)
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        for a, b in zip(cells[0].variables, cells[1].variables):
            b.load(s.run(a), s)
        g_static, g_dynamic = s.run(grads)
    for a, b in zip(g_static, g_dynamic):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bidirectional_dynamic_rnn():
    x = rand(3, 5, 2)
    lengths = np.array([5, 3, 1])
    fw, bw = rnn_cell.BasicLSTMCell(3), rnn_cell.BasicLSTMCell(2)
    (of, ob), (sf, sb) = tw.nn.bidirectional_dynamic_rnn(fw, bw, tw.constant(x),
                                                         sequence_length=lengths,
                                                         dtype=tw.float32)
    assert [v.op.name for v in tw.global_variables()] == [
        "bidirectional_rnn/fw/basic_lstm_cell/kernel", "bidirectional_rnn/fw/basic_lstm_cell/bias",
        "bidirectional_rnn/bw/basic_lstm_cell/kernel", "bidirectional_rnn/bw/basic_lstm_cell/bias"]
    o_f, o_b, s_f, s_b, wf, wb = run([of, ob, sf, sb, fw.variables, bw.variables])
    want_f, (cf, hf) = np_lstm_sequence(x, *wf, lengths)
    back, (cb, hb) = np_lstm_sequence(np_reverse_sequence(x, lengths, 1, 0), *wb, lengths)
    np.testing.assert_allclose(o_f, want_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o_b, np_reverse_sequence(back, lengths, 1, 0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(s_b.c, cb, rtol=1e-5, atol=1e-6)
    # without lengths the backward direction is a plain reverse in time (time-major here)
    (_, ob2), _ = tw.nn.bidirectional_dynamic_rnn(
        rnn_cell.GRUCell(2), rnn_cell.GRUCell(2), tw.constant(np.transpose(x, (1, 0, 2))),
        dtype=tw.float32, time_major=True, scope="tm")
    assert ob2.shape == tw.TensorShape([5, 3, 2])
    assert "ReverseV2" in {op.type for op in tw.get_default_graph().get_operations()}
