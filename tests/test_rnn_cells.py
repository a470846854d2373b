"""RNN cells (`tw.nn.rnn_cell`): TF1 variable names and scoping, numbers against numpy
implementations of TF1's formulas, the fused LSTM step, wrappers, and float64 gradients."""
import numpy as np
import pytest

import tensorweave as tw
from tensorweave.test import check_gradients

rnn_cell = tw.nn.rnn_cell
RNG = np.random.RandomState(0)


# ---------------------------------------------------------------------------------------------
# numpy references (TF1's formulas)
# ---------------------------------------------------------------------------------------------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_lstm_step(x, c, h, kernel, bias, forget_bias=1.0, w_i=None, w_f=None, w_o=None,
                 clip=None, proj=None, proj_clip=None):
    """TF1 LSTMCell/BasicLSTMCell: gates i, j, f, o; returns (new_c, new_h)."""
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ kernel + bias, 4, axis=1)
    if w_f is not None:
        new_c = sigmoid(f + forget_bias + w_f * c) * c + sigmoid(i + w_i * c) * np.tanh(j)
    else:
        new_c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
    if clip is not None:
        new_c = np.clip(new_c, -clip, clip)
    o = o + w_o * new_c if w_o is not None else o
    m = sigmoid(o) * np.tanh(new_c)
    if proj is not None:
        m = m @ proj
        if proj_clip is not None:
            m = np.clip(m, -proj_clip, proj_clip)
    return new_c, m


def np_gru_step(x, h, gate_kernel, gate_bias, cand_kernel, cand_bias):
    r, u = np.split(sigmoid(np.concatenate([x, h], 1) @ gate_kernel + gate_bias), 2, axis=1)
    cand = np.tanh(np.concatenate([x, r * h], 1) @ cand_kernel + cand_bias)
    return u * h + (1 - u) * cand


def np_rnn_step(x, h, kernel, bias):
    return np.tanh(np.concatenate([x, h], 1) @ kernel + bias)


def run(fetches, feed=None, init=True):
    with tw.Session() as s:
        if init:
            s.run(tw.global_variables_initializer())
        return s.run(fetches, feed)


def variables_by_name():
    return {v.op.name: v for v in tw.global_variables()}


def rand(*shape, scale=1.0, dtype=np.float32):
    return (RNG.randn(*shape) * scale).astype(dtype)


def op_types():
    return {op.type for op in tw.get_default_graph().get_operations()}


# ---------------------------------------------------------------------------------------------
# BasicRNNCell, GRUCell
# ---------------------------------------------------------------------------------------------
def test_basic_rnn_cell_names_and_numbers():
    x, h = rand(3, 2), rand(3, 4)
    cell = rnn_cell.BasicRNNCell(4)
    out, new_state = cell(tw.constant(x), tw.constant(h))
    assert [v.name for v in cell.variables] == ["basic_rnn_cell/kernel:0",
                                                "basic_rnn_cell/bias:0"]
    assert cell.variables[0].shape == tw.TensorShape([6, 4])
    assert out is new_state and out.shape == tw.TensorShape([3, 4])
    o, k, b = run([out] + cell.variables)
    np.testing.assert_allclose(o, np_rnn_step(x, h, k, b), rtol=1e-5, atol=1e-6)
    assert cell.state_size == 4 and cell.output_size == 4


def test_gru_cell_names_initial_bias_and_numbers():
    x, h = rand(3, 2), rand(3, 5)
    cell = rnn_cell.GRUCell(5)
    out, st = cell(tw.constant(x), tw.constant(h))
    names = [v.name for v in cell.variables]
    assert names == ["gru_cell/gates/kernel:0", "gru_cell/gates/bias:0",
                     "gru_cell/candidate/kernel:0", "gru_cell/candidate/bias:0"]
    o, gk, gb, ck, cb = run([out] + cell.variables)
    assert gk.shape == (7, 10) and ck.shape == (7, 5)
    np.testing.assert_array_equal(gb, np.ones(10, np.float32))   # TF1: gate bias starts at 1
    np.testing.assert_array_equal(cb, np.zeros(5, np.float32))
    np.testing.assert_allclose(o, np_gru_step(x, h, gk, gb, ck, cb), rtol=1e-5, atol=1e-6)


def test_gru_cell_initializers_and_activation():
    cell = rnn_cell.GRUCell(2, activation=tw.nn.relu,
                            kernel_initializer=tw.constant_initializer(0.5),
                            bias_initializer=tw.constant_initializer(0.0))
    x, h = np.ones((1, 1), np.float32), np.zeros((1, 2), np.float32)
    out, _ = cell(tw.constant(x), tw.constant(h))
    # r = u = sigmoid(0.5) ; candidate = relu(0.5) ; h' = (1 - u) * 0.5
    np.testing.assert_allclose(run(out), (1 - sigmoid(0.5)) * 0.5 * np.ones((1, 2)), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# LSTM cells
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("state_is_tuple", [True, False])
def test_basic_lstm_cell_matches_numpy(fused, state_is_tuple):
    x, c, h = rand(3, 2), rand(3, 4), rand(3, 4)
    cell = rnn_cell.BasicLSTMCell(4, forget_bias=0.7, state_is_tuple=state_is_tuple)
    cell._fused_step = fused
    state = rnn_cell.LSTMStateTuple(tw.constant(c), tw.constant(h)) if state_is_tuple else \
        tw.constant(np.concatenate([c, h], 1))
    out, st = cell(tw.constant(x), state)
    assert [v.name for v in cell.variables] == ["basic_lstm_cell/kernel:0",
                                                "basic_lstm_cell/bias:0"]
    assert ("LSTMBlockCell" in op_types()) == fused
    assert cell.state_size == ((4, 4) if state_is_tuple else 8)
    o, s, k, b = run([out, st] + cell.variables)
    assert k.shape == (6, 16) and not b.any()
    nc, nh = np_lstm_step(x, c, h, k, b, forget_bias=0.7)
    np.testing.assert_allclose(o, nh, rtol=1e-5, atol=1e-6)
    if state_is_tuple:
        assert isinstance(st, rnn_cell.LSTMStateTuple)
        np.testing.assert_allclose(s.c, nc, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s.h, nh, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(s, np.concatenate([nc, nh], 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_basic_lstm_gate_order_with_a_bias(fused):
    """A bias on one gate at a time shows TF1's order i, j, f, o (forget_bias added to f)."""
    x, c, h = rand(2, 3), rand(2, 2), rand(2, 2)
    k = rand(5, 8)
    b = rand(8)
    cell = rnn_cell.BasicLSTMCell(2, forget_bias=0.3)
    cell._fused_step = fused
    init = {"kernel": k, "bias": b}
    with tw.variable_scope("s", custom_getter=lambda getter, name, **kw:
                           tw.constant(init[name.split("/")[-1]])):
        out, st = cell(tw.constant(x), (tw.constant(c), tw.constant(h)))
    o, s = run([out, st], init=False)
    nc, nh = np_lstm_step(x, c, h, k, b, forget_bias=0.3)
    np.testing.assert_allclose(s.c, nc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, nh, rtol=1e-5, atol=1e-6)


LSTM_VARIANTS = [
    dict(),
    dict(use_peepholes=True),
    dict(cell_clip=0.4),
    dict(num_proj=3),
    dict(use_peepholes=True, cell_clip=0.5, num_proj=3, proj_clip=0.2, forget_bias=0.0),
    dict(state_is_tuple=False, num_proj=3),
]


@pytest.mark.parametrize("kw", LSTM_VARIANTS)
def test_lstm_cell_variants_match_numpy(kw):
    n, p = 4, kw.get("num_proj") or 4
    x, c, h = rand(3, 2), rand(3, n, scale=2.0), rand(3, p)
    cell = rnn_cell.LSTMCell(n, initializer=tw.random_uniform_initializer(-0.8, 0.8, seed=1),
                             **kw)
    tup = kw.get("state_is_tuple", True)
    state = (tw.constant(c), tw.constant(h)) if tup else tw.constant(np.concatenate([c, h], 1))
    out, st = cell(tw.constant(x), state)
    names = [v.op.name for v in cell.variables]
    expect = ["lstm_cell/kernel", "lstm_cell/bias"]
    if kw.get("use_peepholes"):
        expect += ["lstm_cell/w_f_diag", "lstm_cell/w_i_diag", "lstm_cell/w_o_diag"]
    if kw.get("num_proj"):
        expect += ["lstm_cell/projection/kernel"]
    assert names == expect
    fused = not (kw.get("use_peepholes") or kw.get("cell_clip") or kw.get("num_proj"))
    assert ("LSTMBlockCell" in op_types()) == fused
    assert cell.output_size == p
    vals = dict(zip(names, run(cell.variables)))
    o, s = run([out, st])
    peep = kw.get("use_peepholes")
    nc, nh = np_lstm_step(
        x, c, h, vals["lstm_cell/kernel"], vals["lstm_cell/bias"],
        forget_bias=kw.get("forget_bias", 1.0),
        w_i=vals["lstm_cell/w_i_diag"] if peep else None,
        w_f=vals["lstm_cell/w_f_diag"] if peep else None,
        w_o=vals["lstm_cell/w_o_diag"] if peep else None,
        clip=kw.get("cell_clip"), proj=vals.get("lstm_cell/projection/kernel"),
        proj_clip=kw.get("proj_clip"))
    np.testing.assert_allclose(o, nh, rtol=1e-5, atol=1e-6)
    sc = s[0] if tup else s[:, :n]
    np.testing.assert_allclose(sc, nc, rtol=1e-5, atol=1e-6)
    if kw.get("cell_clip"):
        assert np.abs(sc).max() <= kw["cell_clip"] + 1e-7


def test_lstm_cell_rejects_shards():
    with pytest.raises(NotImplementedError, match="partitioned"):
        rnn_cell.LSTMCell(4, num_unit_shards=2)


def test_unknown_input_depth_is_an_error():
    cell = rnn_cell.BasicLSTMCell(3)
    x = tw.placeholder(tw.float32, [2, None])
    with pytest.raises(ValueError, match=r"inputs.shape\[-1\] to be known"):
        cell(x, cell.zero_state(2, tw.float32))


# ---------------------------------------------------------------------------------------------
# scoping and reuse (TF1 legacy-layer semantics)
# ---------------------------------------------------------------------------------------------
def test_a_cell_reuses_its_variables_and_a_new_cell_gets_a_new_scope():
    x = tw.constant(rand(2, 3))
    a = rnn_cell.BasicLSTMCell(3)
    s = a.zero_state(2, tw.float32)
    o1, s1 = a(x, s)
    o2, _ = a(o1, s1)               # second call: same variables, whatever the scope
    with tw.variable_scope("other"):
        a(x, s)
    b = rnn_cell.BasicLSTMCell(3)
    b(x, s)
    assert [v.op.name for v in tw.global_variables()] == [
        "basic_lstm_cell/kernel", "basic_lstm_cell/bias",
        "basic_lstm_cell_1/kernel", "basic_lstm_cell_1/bias"]
    named = rnn_cell.GRUCell(2, name="my_gru")
    named(x, tw.zeros([2, 2]), scope=None)
    assert "my_gru/gates/kernel" in variables_by_name()


def test_scope_argument_and_reuse_flag():
    x = tw.constant(rand(2, 3))
    c1 = rnn_cell.BasicRNNCell(2)
    c1(x, tw.zeros([2, 2]), scope="enc")
    assert "enc/kernel" in variables_by_name()
    c2 = rnn_cell.BasicRNNCell(2, reuse=True)       # shares enc's variables
    with pytest.raises(ValueError, match="does not exist"):
        c2(x, tw.zeros([2, 2]))
    c3 = rnn_cell.BasicRNNCell(2, reuse=True)
    c3(x, tw.zeros([2, 2]), scope="enc")
    assert c3.variables[0] is c1.variables[0]


def test_multi_rnn_cell_names_state_and_numbers():
    cells = [rnn_cell.BasicLSTMCell(4), rnn_cell.GRUCell(3)]
    multi = rnn_cell.MultiRNNCell(cells)
    assert multi.state_size == ((4, 4), 3) and multi.output_size == 3
    xs = [tw.constant(rand(2, 5)) for _ in range(2)]
    outs, state = tw.nn.static_rnn(multi, xs, dtype=tw.float32)
    assert [v.op.name for v in tw.global_variables()] == [
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
        "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel",
        "rnn/multi_rnn_cell/cell_1/gru_cell/gates/bias",
        "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/kernel",
        "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/bias"]
    assert isinstance(state, tuple) and isinstance(state[0], rnn_cell.LSTMStateTuple)
    assert len(multi.variables) == 6
    o, s, xv, w = run([outs, state, xs, [v for v in tw.global_variables()]])
    c, h, g = np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 3))
    for t in range(2):
        c, h = np_lstm_step(xv[t], c, h, w[0], w[1])
        g = np_gru_step(h, g, *w[2:])
        np.testing.assert_allclose(o[t], g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[0].c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[1], g, rtol=1e-5, atol=1e-6)


def test_multi_rnn_cell_shared_cell_object_shares_weights():
    cell = rnn_cell.BasicLSTMCell(4)
    multi = rnn_cell.MultiRNNCell([cell] * 2)
    tw.nn.static_rnn(multi, [tw.constant(rand(2, 4))] * 3, dtype=tw.float32)
    assert [v.name for v in tw.global_variables()] == [
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel:0",
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias:0"]


def test_multi_rnn_cell_flat_state_and_errors():
    multi = rnn_cell.MultiRNNCell([rnn_cell.BasicRNNCell(2), rnn_cell.BasicRNNCell(3)],
                                  state_is_tuple=False)
    assert multi.state_size == 5
    z = multi.zero_state(4, tw.float32)
    assert z.shape == tw.TensorShape([4, 5])
    out, st = multi(tw.constant(rand(4, 1)), z)
    assert out.shape == tw.TensorShape([4, 3]) and st.shape == tw.TensorShape([4, 5])
    with pytest.raises(ValueError, match="at least one cell"):
        rnn_cell.MultiRNNCell([])
    with pytest.raises(ValueError, match="state_is_tuple is not set"):
        rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(2)], state_is_tuple=False)
    with pytest.raises(TypeError, match="list or tuple"):
        rnn_cell.MultiRNNCell(rnn_cell.BasicLSTMCell(2))


def test_zero_state_static_and_dynamic_batch():
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(3), rnn_cell.BasicRNNCell(2)])
    z = cell.zero_state(5, tw.float64)
    assert z[0].c.shape == tw.TensorShape([5, 3]) and z[1].dtype == tw.float64
    b = tw.placeholder(tw.int32, [])
    zd = cell.zero_state(b, tw.float32)
    assert zd[0].h.shape.as_list() == [None, 3]
    vals = run(zd, {b: 4}, init=False)
    assert vals[0].c.shape == (4, 3) and not vals[1].any()
    assert zd[0].dtype == tw.float32
    assert "MultiRNNCellZeroState" in z[0].c.name


# ---------------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------------
def test_dropout_wrapper_keeps_variables_and_drops_as_tf1():
    x = tw.constant(rand(50, 3))
    base = rnn_cell.BasicLSTMCell(20)
    state = base.zero_state(50, tw.float32)
    ref_out, ref_state = base(x, state)
    drop = rnn_cell.DropoutWrapper(base, output_keep_prob=0.5, state_keep_prob=0.5, seed=3)
    out, st = drop(x, state)
    assert len(tw.global_variables()) == 2        # the wrapper shares the cell's scope
    assert drop.state_size == base.state_size and drop.output_size == 20
    r_o, r_s, o, s = run([ref_out, ref_state, out, st])
    kept = o != 0
    np.testing.assert_allclose(o[kept], 2 * r_o[kept], rtol=1e-5)
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(s.c, r_s.c, rtol=1e-6)       # c is not dropped (TF1 filter)
    hk = s.h != 0
    np.testing.assert_allclose(s.h[hk], 2 * r_s.h[hk], rtol=1e-5)
    assert 0.3 < hk.mean() < 0.7


def test_dropout_wrapper_identity_variational_and_errors():
    x = tw.constant(rand(4, 3))
    cell = rnn_cell.GRUCell(6)
    same = rnn_cell.DropoutWrapper(cell)
    o1, _ = same(x, tw.zeros([4, 6]))
    assert "Dropout" not in " ".join(op.name for op in tw.get_default_graph().get_operations()
                                     if op.type == "RandomUniform")
    var = rnn_cell.DropoutWrapper(cell, input_keep_prob=0.5, output_keep_prob=0.5,
                                  variational_recurrent=True, input_size=3, dtype=tw.float32,
                                  seed=1)
    o2, _ = var(x, tw.zeros([4, 6]))
    r1, r2 = run([o1, o2])
    kept = r2 != 0
    # the same mask for every batch row (variational: one mask per sequence, shape [1, n])
    assert (kept == kept[:1]).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        rnn_cell.DropoutWrapper(cell, output_keep_prob=1.5)
    with pytest.raises(ValueError, match="dtype must be provided"):
        rnn_cell.DropoutWrapper(cell, variational_recurrent=True, output_keep_prob=0.5)
    with pytest.raises(ValueError, match="input_size must be provided"):
        rnn_cell.DropoutWrapper(cell, variational_recurrent=True, input_keep_prob=0.5,
                                dtype=tw.float32)
    with pytest.raises(TypeError, match="not an RNNCell"):
        rnn_cell.DropoutWrapper(object())


def test_residual_and_device_wrappers():
    x = tw.constant(rand(2, 3))
    res = rnn_cell.ResidualWrapper(rnn_cell.BasicRNNCell(3))
    out, st = res(x, tw.zeros([2, 3]))
    dev = rnn_cell.DeviceWrapper(rnn_cell.BasicRNNCell(3, name="d"), "/cpu:0")
    dout, _ = dev(x, tw.zeros([2, 3]))
    assert "CPU" in dout.op.device.upper()
    o, s, xv = run([out, st, x])
    np.testing.assert_allclose(o, xv + s, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# gradients (float64, central differences) through each cell, weights included
# ---------------------------------------------------------------------------------------------
def _weights_from(args_by_name):
    return lambda getter, name, **kw: args_by_name[name.split("/", 1)[1]]


@pytest.mark.parametrize("fused", [True, False])
def test_basic_lstm_cell_gradients(fused):
    def fn(x, c, h, k, b):
        cell = rnn_cell.BasicLSTMCell(3, forget_bias=0.5)
        cell._fused_step = fused
        with tw.variable_scope("s", custom_getter=_weights_from(
                {"basic_lstm_cell/kernel": k, "basic_lstm_cell/bias": b})):
            out, st = cell(x, rnn_cell.LSTMStateTuple(c, h))
        return [out, st.c]
    r = np.random.RandomState(1)
    check_gradients(fn, [r.randn(2, 2), r.randn(2, 3), r.randn(2, 3), r.randn(5, 12) * 0.5,
                         r.randn(12) * 0.5], name=f"BasicLSTMCell(fused={fused})")


def test_lstm_cell_peephole_projection_gradients():
    names = ["kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag", "projection/kernel"]

    def fn(x, c, h, k, b, wf, wi, wo, p):
        cell = rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2)
        vals = dict(zip(names, (k, b, wf, wi, wo, p)))
        with tw.variable_scope("s", custom_getter=lambda g, name, **kw:
                               vals[name.split("lstm_cell/")[1]]):
            out, st = cell(x, (c, h))
        return [out, st.c]
    r = np.random.RandomState(2)
    check_gradients(fn, [r.randn(2, 2), r.randn(2, 3), r.randn(2, 2), r.randn(4, 12) * 0.5,
                         r.randn(12) * 0.5, r.randn(3), r.randn(3), r.randn(3),
                         r.randn(3, 2)], name="LSTMCell(peepholes, projection)")


def test_gru_and_basic_rnn_gradients():
    def gru(x, h, gk, gb, ck, cb):
        vals = {"gates/kernel": gk, "gates/bias": gb, "candidate/kernel": ck,
                "candidate/bias": cb}
        with tw.variable_scope("s", custom_getter=lambda g, name, **kw:
                               vals[name.split("gru_cell/")[1]]):
            return rnn_cell.GRUCell(2)(x, h)[0]

    def basic(x, h, k, b):
        vals = {"kernel": k, "bias": b}
        with tw.variable_scope("s", custom_getter=lambda g, name, **kw:
                               vals[name.split("basic_rnn_cell/")[1]]):
            return rnn_cell.BasicRNNCell(2)(x, h)[0]
    r = np.random.RandomState(3)
    check_gradients(gru, [r.randn(2, 3), r.randn(2, 2), r.randn(5, 4), r.randn(4), r.randn(5, 2),
                          r.randn(2)], name="GRUCell")
    check_gradients(basic, [r.randn(2, 3), r.randn(2, 2), r.randn(5, 2), r.randn(2)],
                    name="BasicRNNCell")
