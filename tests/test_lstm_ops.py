"""Fused LSTM ops (LSTMBlockCell, BlockLSTM, their fused gradients) and the contrib-style cells
on them: numbers against numpy, equality with the unfused cells, float64 gradients, errors."""
import numpy as np
import pytest
from test_rnn_cells import np_lstm_step, sigmoid

import tensorweave as tw
from tensorweave.ops import lstm_ops
from tensorweave.test import check_gradients

rnn_cell = tw.nn.rnn_cell
RNG = np.random.RandomState(7)


def rand(*shape, scale=1.0, dtype=np.float32):
    return (RNG.randn(*shape) * scale).astype(dtype)


def run(fetches, feed=None, init=True):
    with tw.Session() as s:
        if init:
            s.run(tw.global_variables_initializer())
        return s.run(fetches, feed)


def np_block_step(x, cs_prev, h_prev, w, wci, wcf, wco, b, forget_bias, clip, peep):
    """TF contrib's LSTMBlockCell: returns i, cs, f, o, ci, co, h."""
    n = cs_prev.shape[1]
    z = np.concatenate([x, h_prev], 1) @ w + b
    i_, ci_, f_, o_ = (z[:, k * n:(k + 1) * n] for k in range(4))
    if peep:
        i_, f_ = i_ + wci * cs_prev, f_ + wcf * cs_prev
    i, f, ci = sigmoid(i_), sigmoid(f_ + forget_bias), np.tanh(ci_)
    cs = ci * i + cs_prev * f
    if clip > 0:
        cs = np.clip(cs, -clip, clip)
    o = sigmoid(o_ + wco * cs) if peep else sigmoid(o_)
    co = np.tanh(cs)
    return i, cs, f, o, ci, co, co * o


def params(nin, n, scale=0.5, dtype=np.float32):
    return (rand(nin + n, 4 * n, scale=scale, dtype=dtype), rand(n, dtype=dtype),
            rand(n, dtype=dtype), rand(n, dtype=dtype), rand(4 * n, scale=scale, dtype=dtype))


# ---------------------------------------------------------------------------------------------
# forward values
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("peep,clip,fb", [(False, -1.0, 1.0), (True, -1.0, 0.5),
                                          (True, 0.3, 0.0), (False, 0.5, 2.0)])
def test_lstm_block_cell_outputs_match_numpy(peep, clip, fb):
    x, cs, h = rand(3, 5), rand(3, 4, scale=2), rand(3, 4)
    w, wci, wcf, wco, b = params(5, 4)
    outs = lstm_ops.lstm_block_cell(x, cs, h, w, wci, wcf, wco, b, forget_bias=fb,
                                    cell_clip=clip, use_peephole=peep)
    assert [t.shape.as_list() for t in outs] == [[3, 4]] * 7
    got = run(list(outs), init=False)
    want = np_block_step(x, cs, h, w, wci, wcf, wco, b, fb, clip, peep)
    for name, g, e in zip("i cs f o ci co h".split(), got, want):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("T,seq_len_max", [(6, 6), (6, 4), (6, 0), (11, 11), (11, 9)])
def test_block_lstm_runs_seq_len_max_steps_and_zeros_the_rest(T, seq_len_max):
    """(From 8 steps on the kernel pre-scales and transposes the weights once.)"""
    B, I, n = 3, 2, 5
    x, cs0, h0 = rand(T, B, I), rand(B, n), rand(B, n)
    w, wci, wcf, wco, b = params(I, n)
    outs = lstm_ops.block_lstm(seq_len_max, x, cs0, h0, w, wci, wcf, wco, b, forget_bias=0.8,
                               cell_clip=0.9, use_peephole=True)
    assert outs[6].shape == tw.TensorShape([T, B, n])
    got = run(list(outs), init=False)
    cs, h = cs0, h0
    for t in range(T):
        if t < seq_len_max:
            want = np_block_step(x[t], cs, h, w, wci, wcf, wco, b, 0.8, 0.9, True)
            cs, h = want[1], want[6]
        else:
            want = [np.zeros((B, n))] * 7
        for name, g, e in zip("i cs f o ci co h".split(), got, want):
            np.testing.assert_allclose(g[t], e, rtol=1e-5, atol=1e-6, err_msg=f"{name}[{t}]")


def test_float16_and_float64():
    for dt, tol in ((np.float16, 2e-2), (np.float64, 1e-12)):
        x, cs, h = rand(2, 3, dtype=dt), rand(2, 2, dtype=dt), rand(2, 2, dtype=dt)
        w, wci, wcf, wco, b = params(3, 2, dtype=dt)
        outs = lstm_ops.lstm_block_cell(x, cs, h, w, wci, wcf, wco, b, cell_clip=-1)
        got = run(list(outs), init=False)
        assert got[6].dtype == dt
        want = np_block_step(*(a.astype(np.float64) for a in (x, cs, h, w, wci, wcf, wco, b)),
                             1.0, -1, False)
        np.testing.assert_allclose(got[6], want[6], rtol=tol, atol=tol)


def test_shape_and_dtype_errors_name_the_node():
    x, cs, h = rand(3, 5), rand(3, 4), rand(3, 4)
    w, wci, wcf, wco, b = params(5, 4)
    with pytest.raises(ValueError, match=r"input_size \+ cell_size = 5 \+ 4 rows, but has 8"):
        lstm_ops.lstm_block_cell(x, cs, h, w[:8], wci, wcf, wco, b, name="bad_w")
    with pytest.raises(ValueError, match="batch size.*'bad_b'"):
        lstm_ops.lstm_block_cell(x, cs[:2], h, w, wci, wcf, wco, b, name="bad_b")
    with pytest.raises(ValueError, match="cell size"):
        lstm_ops.lstm_block_cell(x, cs, h, w, wci[:3], wcf, wco, b)
    with pytest.raises(ValueError, match="4 \\* cell_size columns"):
        lstm_ops.lstm_block_cell(x, cs, h, w[:, :15], wci, wcf, wco, b)
    with pytest.raises(TypeError, match="does not match type float32"):
        lstm_ops.lstm_block_cell(tw.constant(x), tw.constant(cs.astype(np.float64)), h, w, wci, wcf,
                                 wco, b)
    with pytest.raises(TypeError, match="not in list of allowed values"):
        lstm_ops.lstm_block_cell(x.astype(np.int32), cs, h, w, wci, wcf, wco, b)
    with pytest.raises(ValueError, match="rank 3"):
        lstm_ops.block_lstm(2, x, cs, h, w, wci, wcf, wco, b)
    seq = tw.placeholder(tw.int64, [])
    outs = lstm_ops.block_lstm(seq, x[None], cs, h, w, wci, wcf, wco, b)
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"seq_len_max must be in \[0, 1\]"):
        run(outs[6], {seq: 2}, init=False)


# ---------------------------------------------------------------------------------------------
# gradients (float64 central differences)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("peep,clip", [(False, -1.0), (True, -1.0), (True, 0.6)])
def test_lstm_block_cell_gradients(peep, clip):
    def fn(x, cs, h, w, wci, wcf, wco, b):
        outs = lstm_ops.lstm_block_cell(x, cs, h, w, wci, wcf, wco, b, forget_bias=0.7,
                                        cell_clip=clip, use_peephole=peep)
        return [outs[1], outs[6]]
    r = np.random.RandomState(11)
    args = [r.randn(2, 3), r.randn(2, 2), r.randn(2, 2), r.randn(5, 8) * 0.7, r.randn(2),
            r.randn(2), r.randn(2), r.randn(8) * 0.5]
    check_gradients(fn, args, wrt=None if peep else [0, 1, 2, 3, 7],
                    name=f"LSTMBlockCell(peephole={peep}, clip={clip})")


@pytest.mark.parametrize("T,seq_len_max,peep", [(4, 4, True), (4, 3, False), (9, 8, True)])
def test_block_lstm_gradients(T, seq_len_max, peep):
    def fn(x, cs, h, w, wci, wcf, wco, b):
        outs = lstm_ops.block_lstm(seq_len_max, x, cs, h, w, wci, wcf, wco, b,
                                   forget_bias=1.0, cell_clip=-1.0, use_peephole=peep)
        return [outs[1], outs[6]]
    r = np.random.RandomState(12)
    args = [r.randn(T, 2, 3), r.randn(2, 2), r.randn(2, 2), r.randn(5, 8) * 0.7, r.randn(2),
            r.randn(2), r.randn(2), r.randn(8) * 0.5]
    check_gradients(fn, args, wrt=None if peep else [0, 1, 2, 3, 7],
                    name=f"BlockLSTM(seq_len_max={seq_len_max}, peephole={peep})")


def test_gradient_kernel_with_separate_gate_arrays():
    """The gradient kernel reads the gates as column blocks of one array when the forward op
    made them so; separately computed gate arrays give the same gradients."""
    x, cs, h = rand(4, 3, 2), rand(3, 5), rand(3, 5)
    w, wci, wcf, wco, b = params(2, 5)
    outs = lstm_ops.block_lstm(4, x, cs, h, w, wci, wcf, wco, b, use_peephole=True,
                               cell_clip=-1)
    hg, cg = tw.constant(rand(4, 3, 5)), tw.constant(rand(4, 3, 5))
    direct = lstm_ops.block_lstm_grad(4, x, cs, h, w, wci, wcf, wco, b, *outs, cg, hg,
                                      use_peephole=True)
    copies = [o * 1.0 for o in outs]
    separate = lstm_ops.block_lstm_grad(4, x, cs, h, w, wci, wcf, wco, b, *copies, cg, hg,
                                        use_peephole=True)
    for a, e in zip(*run([list(direct), list(separate)], init=False)):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_gate_outputs_carry_no_gradient():
    x, cs, h = rand(2, 3), rand(2, 2), rand(2, 2)
    w, wci, wcf, wco, b = params(3, 2)
    wt = tw.constant(w)
    outs = lstm_ops.lstm_block_cell(x, cs, h, wt, wci, wcf, wco, b)
    with pytest.raises(LookupError, match="flow only through its cs and h outputs"):
        tw.gradients(tw.reduce_sum(outs[0]), wt)


# ---------------------------------------------------------------------------------------------
# the contrib-style cells, and BasicLSTMCell on the fused step
# ---------------------------------------------------------------------------------------------
def _copy_weights(src_cell, dst_cell, sess):
    for s, d in zip(src_cell.variables, dst_cell.variables):
        d.load(sess.run(s), sess)


def test_lstm_block_cell_equals_lstm_cell():
    xs = [tw.constant(rand(3, 4)) for _ in range(3)]
    block = rnn_cell.LSTMBlockCell(5, forget_bias=0.6, use_peephole=True, cell_clip=0.8)
    ref = rnn_cell.LSTMCell(5, forget_bias=0.6, use_peepholes=True, cell_clip=0.8)
    ob, sb = tw.nn.static_rnn(block, xs, dtype=tw.float32, scope="a")
    orf, sr = tw.nn.static_rnn(ref, xs, dtype=tw.float32, scope="b")
    assert [v.op.name for v in block.variables] == [
        "a/lstm_cell/kernel", "a/lstm_cell/bias", "a/lstm_cell/w_i_diag",
        "a/lstm_cell/w_f_diag", "a/lstm_cell/w_o_diag"]
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        vals = dict(zip([v.op.name.split("/")[-1] for v in block.variables],
                        s.run(block.variables)))
        for v in ref.variables:
            v.load(vals[v.op.name.split("/")[-1]], s)
        got, want = s.run([(ob, sb), (orf, sr)])
    for g, e in zip(tw.nest.flatten(got), tw.nest.flatten(want)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_lengths", [False, True])
def test_lstm_block_fused_cell_equals_basic_lstm_cell(with_lengths):
    T, B, I, n = 9, 3, 4, 6
    x = rand(T, B, I)
    lengths = np.array([9, 2, 0], np.int32) if with_lengths else None
    fused = rnn_cell.LSTMBlockFusedCell(n, forget_bias=0.4)
    out_f, st_f = fused(tw.constant(x), dtype=tw.float32, sequence_length=lengths)
    assert [v.op.name for v in fused.variables] == ["lstm_fused_cell/kernel",
                                                    "lstm_fused_cell/bias"]
    assert {op.type for op in tw.get_default_graph().get_operations()} >= {"BlockLSTM"}
    ref = rnn_cell.BasicLSTMCell(n, forget_bias=0.4)
    ref._fused_step = False
    out_r, st_r = tw.nn.static_rnn(ref, list(x), dtype=tw.float32, sequence_length=lengths)
    loss_f = tw.reduce_sum(out_f * out_f) + tw.reduce_sum(st_f.c)
    loss_r = tw.add_n([tw.reduce_sum(o * o) for o in out_r]) + tw.reduce_sum(st_r.c)
    gf = tw.gradients(loss_f, fused.variables)
    gr = tw.gradients(loss_r, ref.variables)
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        _copy_weights(fused, ref, s)
        (of, sf, gfv), (orf, sr, grv) = s.run([(out_f, st_f, gf), (out_r, st_r, gr)])
    np.testing.assert_allclose(of, np.stack(orf), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sf.c, sr.c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sf.h, sr.h, rtol=1e-5, atol=1e-6)
    for a, e in zip(gfv, grv):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


def test_lstm_block_fused_cell_list_inputs_initial_state_and_errors():
    fused = rnn_cell.LSTMBlockFusedCell(3)
    xs = [tw.constant(rand(2, 4)) for _ in range(3)]
    init = (tw.constant(rand(2, 3)), tw.constant(rand(2, 3)))
    outs, st = fused(xs, initial_state=init)
    assert isinstance(outs, list) and len(outs) == 3 and outs[0].shape == tw.TensorShape([2, 3])
    o, s = run([outs, st])
    np.testing.assert_allclose(o[-1], s.h, rtol=1e-6)
    with pytest.raises(ValueError, match="initial_state or dtype"):
        rnn_cell.LSTMBlockFusedCell(3)(tw.constant(rand(2, 2, 4)))
    with pytest.raises(ValueError, match="rank 3"):
        rnn_cell.LSTMBlockFusedCell(3)(tw.constant(rand(2, 4)), dtype=tw.float32)


def _step_by_step(cell, xs, scope):
    """The cell called once per step (what static_rnn did before its fused path)."""
    with tw.variable_scope(scope):
        state = cell.zero_state(xs[0].shape[0].value, xs[0].dtype)
        outs = []
        for x in xs:
            o, state = cell(x, state)
            outs.append(o)
    return outs, state


def test_basic_lstm_cell_fused_step_and_sequence_gradients_equal_unfused():
    """static_rnn runs one BlockLSTM op, a step-by-step loop one LSTMBlockCell op per step, an
    unfused cell TF1's graph of small ops: the same outputs, states and gradients."""
    xs = [tw.constant(rand(3, 4)) for _ in range(4)]
    cells = []
    results = []
    for fused, scope in (("sequence", "f"), ("step", "s"), ("", "u")):
        cell = rnn_cell.BasicLSTMCell(5)
        cell._fused_step = bool(fused)
        if fused == "step":
            outs, st = _step_by_step(cell, xs, scope)
        else:
            outs, st = tw.nn.static_rnn(cell, xs, dtype=tw.float32, scope=scope)
        loss = tw.add_n([tw.reduce_sum(tw.sin(o)) for o in outs]) + tw.reduce_sum(st.c)
        results.append((outs, st, tw.gradients(loss, cell.variables + xs)))
        cells.append(cell)
    types = [op.type for op in tw.get_default_graph().get_operations()]
    assert types.count("BlockLSTM") == 1 and types.count("BlockLSTMGrad") == 1
    assert types.count("LSTMBlockCell") == 4 and types.count("LSTMBlockCellGrad") == 4
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        _copy_weights(cells[2], cells[0], s)
        _copy_weights(cells[2], cells[1], s)
        a, b, e = s.run(results)
    for got in (a, b):
        for g, w in zip(tw.nest.flatten(got), tw.nest.flatten(e)):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_numpy_reference_agrees_with_the_block_formula():
    """The two numpy references (TF1 cell, contrib block op) are the same function."""
    x, c, h = rand(2, 3), rand(2, 4), rand(2, 4)
    w, wci, wcf, wco, b = params(3, 4)
    block = np_block_step(x, c, h, w, wci, wcf, wco, b, 0.5, 0.7, True)
    cell = np_lstm_step(x, c, h, w, b, 0.5, w_i=wci, w_f=wcf, w_o=wco, clip=0.7)
    np.testing.assert_allclose(block[1], cell[0], rtol=1e-6)
    np.testing.assert_allclose(block[6], cell[1], rtol=1e-6)
