"""The fused path of `dynamic_rnn` / `static_rnn`: a stack of fusable LSTM cells runs as one
`BlockLSTM` op per layer (per chunk when its layers are on several devices), with the same
variables and, in float64, the same outputs, final states and gradients as TF1's graph of small
ops (the cells with `_fused_step` off)."""
import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework import nest
from tensorweave.nn import rnn_cell
from tensorweave.ops import rnn as rnn_mod

pytestmark = pytest.mark.timeout(120)

T, B, D, H = 7, 3, 4, 5


def _cells(kind, layers, same=False):
    def one(k):
        if kind == "basic":
            return rnn_cell.BasicLSTMCell(H, forget_bias=0.7)
        if kind == "lstm_list":      # state as one [batch, 2 * units] tensor
            return rnn_cell.LSTMCell(H, state_is_tuple=False)
        return rnn_cell.LSTMCell(H)
    if same:
        c = one(0)
        return [c] * layers
    return [one(k) for k in range(layers)]


def _build(fused, api="dynamic", kind="lstm", layers=2, lengths=None, initial=False,
           time_major=False, devices=None, same=False, unknown_batch=False):
    """(graph, fetches, variable names, op types) of the rnn, its final state and gradients."""
    g = tw.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        d = H if same else D        # one cell twice: its input depth must be its output's
        xv = rng.randn(T, B, d) if time_major or api == "static" else rng.randn(B, T, d)
        x = tw.placeholder_with_default(xv, [None] + list(xv.shape[1:])) if unknown_batch \
            else tw.constant(xv)
        cells = _cells(kind, layers, same)
        for c in cells:
            c._fused_step = fused
        if devices:
            cells = [rnn_cell.DeviceWrapper(c, d) for c, d in zip(cells, devices)]
        cell = cells[0] if layers == 1 else rnn_cell.MultiRNNCell(cells)
        init = tw.random_uniform_initializer(-0.6, 0.6, seed=3)
        state = None
        if initial:
            state = nest.map_structure(
                lambda n: tw.constant(rng.randn(B, n)), cell.state_size)
        seq = None if lengths is None else tw.constant(np.array(lengths, np.int32))
        with tw.variable_scope("m", initializer=init):
            if api == "static":
                xs = tw.unstack(x)
                outs, final = tw.nn.static_rnn(cell, xs, initial_state=state,
                                               sequence_length=seq, dtype=tw.float64)
                out = tw.stack(outs)
            else:
                out, final = tw.nn.dynamic_rnn(cell, x, sequence_length=seq,
                                               initial_state=state, dtype=tw.float64,
                                               time_major=time_major)
        flat_final = nest.flatten(final)
        loss = tw.reduce_sum(tw.sin(out) * 1.5) + tw.add_n(
            [tw.reduce_sum(s * (k + 1.0)) for k, s in enumerate(flat_final)])
        variables = tw.trainable_variables()
        wrt = variables + [x] + (nest.flatten(state) if initial else [])
        grads = tw.gradients(loss, wrt)
        fetches = [out, flat_final, grads]
    return g, fetches, [v.name for v in variables], [op.type for op in g.get_operations()]


def _run(g, fetches, devices=False):
    config = tw.ConfigProto(device_count={"CPU": 2}) if devices else None
    with g.as_default(), tw.Session(graph=g, config=config) as s:
        s.run(tw.global_variables_initializer())
        return s.run(fetches)


def _assert_same(a, b):
    fa, fb = nest.flatten(a), nest.flatten(b)
    assert len(fa) == len(fb)
    for u, v in zip(fa, fb):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)


CASES = [
    dict(),
    dict(kind="basic"),
    dict(kind="lstm_list"),
    dict(layers=1),
    dict(layers=3),
    dict(lengths=[7, 3, 0]),
    dict(lengths=[9, 1, 5], initial=True),     # a length past the input: the whole input
    dict(initial=True, time_major=True),
    dict(same=True),                           # [cell] * 2: both layers share the weights
    dict(api="static"),
    dict(api="static", lengths=[2, 7, 0], kind="basic"),
    dict(unknown_batch=True, lengths=[4, 7, 1]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in
                                                                c.items()) or "default")
def test_fused_equals_unfused_float64(case):
    g0, f0, names0, types0 = _build(False, **case)
    g1, f1, names1, types1 = _build(True, **case)
    assert names1 == names0
    assert "BlockLSTM" not in types0 and ("While" in types0) == (case.get("api") != "static")
    layers = case.get("layers", 2)
    assert types1.count("BlockLSTM") == layers and types1.count("BlockLSTMGrad") == layers
    assert "While" not in types1 and "LSTMBlockCell" not in types1
    _assert_same(_run(g1, f1), _run(g0, f0))


def test_variable_names_are_tf1s():
    _, _, names, _ = _build(True, kind="basic")
    assert names == ["m/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel:0",
                     "m/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias:0",
                     "m/rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel:0",
                     "m/rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias:0"]


@pytest.mark.parametrize("api", ["dynamic", "static"])
def test_layers_on_two_devices_pipeline_in_chunks(api):
    """DeviceWrapper layers on two worker processes: each layer is cut into chunks (layer 1
    can work on chunk c+1 while layer 2 works on chunk c), variables on their layer's device,
    and the numbers are the single-process unfused ones."""
    devices = ["/cpu:0", "/cpu:1"]
    g0, f0, _, _ = _build(False, api=api, lengths=[7, 2, 5])
    g1, f1, _, types = _build(True, api=api, lengths=[7, 2, 5], devices=devices)
    chunks = len(rnn_mod._chunk_sizes(T, 2))
    assert chunks > 1 and types.count("BlockLSTM") == 2 * chunks
    with g1.as_default():
        kernels = [v for v in tw.global_variables() if v.op.name.endswith("kernel")]
        assert [v.device for v in kernels] == ["/device:CPU:0", "/device:CPU:1"]
        blocks = [op for op in g1.get_operations() if op.type == "BlockLSTM"]
        assert {op.device for op in blocks} == {"/device:CPU:0", "/device:CPU:1"}
    _assert_same(_run(g1, f1, devices=True), _run(g0, f0))


def test_device_wrapper_puts_variables_on_its_device_in_the_while_loop_too():
    """TF1 creates a DeviceWrapper cell's variables on the wrapper's device, also when the cell
    is first called inside dynamic_rnn's loop (the unfused path)."""
    g, f, _, types = _build(False, devices=["/cpu:0", "/cpu:1"])
    assert "While" in types
    with g.as_default():
        devs = {v.op.name: v.device for v in tw.global_variables()}
    assert devs["m/rnn/multi_rnn_cell/cell_1/lstm_cell/kernel"] == "/device:CPU:1"
    assert devs["m/rnn/multi_rnn_cell/cell_0/lstm_cell/bias"] == "/device:CPU:0"
    g0, f0, _, _ = _build(False)
    _assert_same(_run(g, f, devices=True), _run(g0, f0))


def test_cells_that_are_not_fusable_take_the_loop():
    g = tw.Graph()
    with g.as_default():
        x = tw.constant(np.ones((B, T, D)))
        cell = rnn_cell.MultiRNNCell([rnn_cell.LSTMCell(H, use_peepholes=True),
                                      rnn_cell.LSTMCell(H)])
        tw.nn.dynamic_rnn(cell, x, dtype=tw.float64)
        tw.nn.dynamic_rnn(rnn_cell.DropoutWrapper(rnn_cell.LSTMCell(H), 0.5), x,
                          dtype=tw.float64, scope="d")
        types = [op.type for op in g.get_operations()]
    assert types.count("While") == 2 and "BlockLSTM" not in types


def _pair(build, config=None):
    """(fused, unfused) values of what `build(fused)` returns, each in its own graph."""
    out = []
    for fused in (True, False):
        g = tw.Graph()
        with g.as_default():
            fetches, feed = build(fused)
            types = [op.type for op in g.get_operations()]
            with tw.Session(config=config) as s:
                s.run(tw.global_variables_initializer())
                out.append((s.run(fetches, feed), types))
    return out


def _lstm(fused, n=H, cls=rnn_cell.LSTMCell, **kw):
    c = cls(n, initializer=tw.random_uniform_initializer(-0.5, 0.5, seed=4), **kw)
    c._fused_step = fused
    return c


@pytest.mark.parametrize("time", [0, 5])
def test_time_known_only_at_run_time_and_zero_steps(time):
    rng = np.random.RandomState(1)
    xv = rng.randn(time, B, D)

    def build(fused):
        x = tw.placeholder(tw.float64, [None, B, D])
        out, st = tw.nn.dynamic_rnn(rnn_cell.MultiRNNCell([_lstm(fused), _lstm(fused)]), x,
                                    dtype=tw.float64, time_major=True)
        return [out, st], {x: xv}
    (a, ta), (b, _) = _pair(build)
    assert "BlockLSTM" in ta
    _assert_same(a, b)


def test_a_static_time_of_zero_takes_the_loop():
    def build(fused):
        out, st = tw.nn.dynamic_rnn(_lstm(fused), tw.zeros([B, 0, D], tw.float64),
                                    dtype=tw.float64)
        return [out, st], None
    (a, ta), (b, _) = _pair(build)
    assert "BlockLSTM" not in ta and a[0].shape == (B, 0, H)
    _assert_same(a, b)


class _Duck:
    """A cell as TF1 accepts it: state_size, output_size, zero_state and __call__."""

    state_size = H
    output_size = H

    def zero_state(self, batch, dtype):
        return tw.zeros([batch, H], dtype)

    def __call__(self, x, state, scope=None):
        w = tw.get_variable("duck_w", [D, H], tw.float64,
                            tw.random_uniform_initializer(-1, 1, seed=5))
        h = tw.tanh(tw.matmul(x, w) + state)
        return h, h


class Doubling(rnn_cell.LSTMCell):
    def call(self, inputs, state):
        return super().call(inputs * 2.0, state)


def test_cells_of_other_classes_and_subclasses_with_their_own_step_take_the_loop():
    x = tw.constant(np.random.RandomState(2).randn(B, T, D))
    out, _ = tw.nn.dynamic_rnn(_Duck(), x, dtype=tw.float64)
    outs, _ = tw.nn.static_rnn(_Duck(), tw.unstack(x, axis=1), dtype=tw.float64, scope="s")
    assert out.shape.as_list() == [B, T, H] and len(outs) == T

    xv = np.random.RandomState(2).randn(B, T, D)

    def build(fused):
        cell = rnn_cell.MultiRNNCell([_lstm(fused, cls=Doubling), _lstm(fused)])
        return tw.nn.dynamic_rnn(cell, tw.constant(xv), dtype=tw.float64)[0], None
    (a, ta), (b, _) = _pair(build)
    assert "BlockLSTM" not in ta
    _assert_same(a, b)


def test_nested_stacks_plain_tuple_states_and_devices_inside_wrappers():
    rng = np.random.RandomState(3)
    x = rng.randn(B, T, D)
    s0 = [rng.randn(B, H) for _ in range(6)]

    def build(fused):
        inner = rnn_cell.MultiRNNCell([rnn_cell.DeviceWrapper(_lstm(fused), "/cpu:0"),
                                       rnn_cell.DeviceWrapper(_lstm(fused), "/cpu:1")])
        cell = rnn_cell.MultiRNNCell([rnn_cell.DeviceWrapper(inner, "/cpu:0"), _lstm(fused)])
        c = [tw.constant(v) for v in s0]
        state = (((c[0], c[1]), (c[2], c[3])), (c[4], c[5]))      # plain tuples
        out, st = tw.nn.dynamic_rnn(cell, tw.constant(x), initial_state=state)
        assert type(st[1]) is tuple and type(st[0][0]) is tuple      # the initial's structure
        return [out, st], None
    (a, ta), (b, _) = _pair(build, tw.ConfigProto(device_count={"CPU": 2}))
    assert ta.count("BlockLSTM") > 3                 # two devices inside: chunked
    _assert_same(a, b)


def test_placed_rnns_are_cut_into_chunks_only_where_layers_can_pipeline():
    x = tw.constant(np.ones((T, B, D)))
    with tw.device("/cpu:0"):          # a whole model under one device: one op per layer
        tw.nn.dynamic_rnn(_lstm(True), x, dtype=tw.float64, time_major=True, scope="d")
        types = [op.type for op in tw.get_default_graph().get_operations()]
        assert types.count("BlockLSTM") == 1
        tw.nn.static_rnn(_lstm(True), tw.unstack(x), dtype=tw.float64, scope="s")
    types = [op.type for op in tw.get_default_graph().get_operations()]
    assert types.count("BlockLSTM") == 1 + len(rnn_mod._chunk_sizes(T, 2))


def test_bad_inputs_get_the_loops_errors():
    with pytest.raises(ValueError, match="Input size \\(depth of inputs\\) must be accessible"):
        tw.nn.dynamic_rnn(_lstm(True), tw.placeholder(tw.float64, [B, T, None]),
                          dtype=tw.float64)
    with pytest.raises(ValueError, match="rank at least 3"):
        tw.nn.dynamic_rnn(_lstm(True), tw.placeholder(tw.float64, [T, B]), dtype=tw.float64,
                          time_major=True, scope="r2")


def test_the_trace_of_a_two_device_stack_shows_the_layers_overlapping():
    """Layer 2 (on /cpu:1) starts on the first chunk while layer 1 (on /cpu:0) still works on
    later ones, forward, and layer 1 takes the gradient of the last chunk while layer 2 is still
    on earlier ones, backward: the pipeline over time that the dataflow executor gives."""
    g = tw.Graph()
    with g.as_default():
        x = tw.constant(np.random.RandomState(0).randn(48, 64, 256).astype(np.float32))
        cells = [rnn_cell.DeviceWrapper(rnn_cell.LSTMCell(256), f"/cpu:{k}") for k in range(2)]
        out, _ = tw.nn.dynamic_rnn(rnn_cell.MultiRNNCell(cells), x, time_major=True,
                                   dtype=tw.float32)
        train = tw.train.GradientDescentOptimizer(0.1).minimize(tw.reduce_sum(out))
        md = tw.RunMetadata()
        with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
            s.run(tw.global_variables_initializer())
            s.run(train)
            s.run(train, options=tw.RunOptions(trace_level=tw.RunOptions.FULL_TRACE),
                  run_metadata=md)

    def spans(layer, op_type):
        out = []
        for d in md.step_stats.dev_stats:
            for n in d.node_stats:
                if n.op_type == op_type and f"cell_{layer}/" in n.node_name:
                    out.append((n.all_start_nanos, n.all_start_nanos + n.all_end_rel_nanos,
                                d.device))
        return sorted(out)
    l1, l2 = spans(0, "BlockLSTM"), spans(1, "BlockLSTM")
    assert len(l1) == len(l2) == len(rnn_mod._chunk_sizes(48, 2))
    assert {d for *_, d in l1} == {CPU0} and {d for *_, d in l2} == {CPU1}
    assert l2[0][0] < l1[-1][1]           # layer 2's first chunk began before layer 1 ended
    g1, g2 = spans(0, "BlockLSTMGrad"), spans(1, "BlockLSTMGrad")
    assert g1[0][0] < g2[-1][1]           # layer 1's backward began before layer 2's ended


CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"
