"""Optimizers: update rules against hand-written numpy (dense and sparse, several steps), TF1 node
and variable names, slots, global step, errors, and that minimize reduces a loss."""
import numpy as np
import pytest

import tensorweave as tw

RNG = np.random.RandomState(0)
W0 = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.5], [2.0, 0.1, -0.3], [-1.0, 1.2, 0.7]])


def f32(*xs):
    """Hyperparameters as the float32 constants the graph holds (cast up for float64 vars)."""
    return [float(np.float32(x)) for x in xs]


# ----------------------------------------------------------------------------------------------
# numpy references: step(state, g, t) updates state (dict of arrays: "w" and the slots) in place
# for the full array, or for rows `rows` with a summed sparse gradient.
# ----------------------------------------------------------------------------------------------
def sgd_ref(lr):
    lr, = f32(lr)
    def step(s, g, t, rows=slice(None)):
        s["w"][rows] -= lr * g
    return {}, step


def momentum_ref(lr, mu, nesterov=False):
    lr, mu = f32(lr, mu)

    def step(s, g, t, rows=slice(None)):
        a = s["momentum"][rows] * mu + g
        s["momentum"][rows] = a
        s["w"][rows] -= (g * lr + a * mu * lr) if nesterov else lr * a
    return {"momentum": 0.0}, step


def adam_ref(lr, b1=0.9, b2=0.999, eps=1e-8):
    lr, b1, b2, eps = f32(lr, b1, b2, eps)

    def power(beta, t):  # beta1_power/beta2_power: float32 variables multiplied each step
        p = np.float32(beta)
        for _ in range(t - 1):
            p = p * np.float32(beta)
        return float(p)

    def step(s, g, t, rows=slice(None)):
        lr_t = lr * np.sqrt(1 - power(b2, t)) / (1 - power(b1, t))
        if isinstance(rows, slice):
            s["m"][:] = b1 * s["m"] + (1 - b1) * g
            s["v"][:] = b2 * s["v"] + (1 - b2) * g * g
        else:  # TF1 _apply_sparse_shared: decay densely, add the rows
            s["m"] *= b1
            s["m"][rows] += (1 - b1) * g
            s["v"] *= b2
            s["v"][rows] += (1 - b2) * g * g
        s["w"] -= lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
    return {"m": 0.0, "v": 0.0}, step


def rmsprop_ref(lr, rho=0.9, mu=0.0, eps=1e-10, centered=False):
    lr, rho, mu, eps = f32(lr, rho, mu, eps)

    def step(s, g, t, rows=slice(None)):
        ms = rho * s["rms"][rows] + (1 - rho) * g * g
        s["rms"][rows] = ms
        denom = ms + eps
        if centered:
            mg = rho * s["mg"][rows] + (1 - rho) * g
            s["mg"][rows] = mg
            denom = ms - mg * mg + eps
        mom = mu * s["momentum"][rows] + lr * g / np.sqrt(denom)
        s["momentum"][rows] = mom
        s["w"][rows] -= mom
    slots = {"rms": 1.0, "momentum": 0.0}
    if centered:
        slots["mg"] = 0.0
    return slots, step


def adagrad_ref(lr, init=0.1):
    lr, = f32(lr)
    def step(s, g, t, rows=slice(None)):
        acc = s["accumulator"][rows] + g * g
        s["accumulator"][rows] = acc
        s["w"][rows] -= lr * g / np.sqrt(acc)
    return {"accumulator": init}, step


CASES = {
    "sgd": (lambda: tw.train.GradientDescentOptimizer(0.1), lambda: sgd_ref(0.1)),
    "momentum": (lambda: tw.train.MomentumOptimizer(0.1, 0.9), lambda: momentum_ref(0.1, 0.9)),
    "nesterov": (lambda: tw.train.MomentumOptimizer(0.05, 0.8, use_nesterov=True),
                 lambda: momentum_ref(0.05, 0.8, nesterov=True)),
    "adam": (lambda: tw.train.AdamOptimizer(0.1), lambda: adam_ref(0.1)),
    "adam_hyper": (lambda: tw.train.AdamOptimizer(0.02, beta1=0.5, beta2=0.9, epsilon=1e-3),
                   lambda: adam_ref(0.02, 0.5, 0.9, 1e-3)),
    "rmsprop": (lambda: tw.train.RMSPropOptimizer(0.01), lambda: rmsprop_ref(0.01)),
    "rmsprop_momentum": (lambda: tw.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5,
                                                           epsilon=1e-6),
                         lambda: rmsprop_ref(0.01, 0.8, 0.5, 1e-6)),
    "rmsprop_centered": (lambda: tw.train.RMSPropOptimizer(0.01, momentum=0.3, epsilon=0.1,
                                                           centered=True),
                         lambda: rmsprop_ref(0.01, 0.9, 0.3, 0.1, centered=True)),
    "adagrad": (lambda: tw.train.AdagradOptimizer(0.1), lambda: adagrad_ref(0.1)),
    "adagrad_init": (lambda: tw.train.AdagradOptimizer(0.3, initial_accumulator_value=0.5),
                     lambda: adagrad_ref(0.3, 0.5)),
}


def _fetch_state(sess, opt, w, slots):
    names = list(slots)
    vals = sess.run([w] + [opt.get_slot(w, n) for n in names])
    return dict(zip(["w"] + names, vals))


def _initial_state(sess, opt, w, slots, dtype):
    """The initialised variable and slots, checked against the TF1 initial values."""
    state = {k: v.astype(np.float64) for k, v in _fetch_state(sess, opt, w, slots).items()}
    np.testing.assert_array_equal(state["w"], W0.astype(dtype))
    for k, v in slots.items():
        np.testing.assert_allclose(state[k], np.full(W0.shape, v), rtol=1e-7, err_msg=k)
    return state


def _check(got, want, step, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol,
                                   err_msg=f"{k} after step {step}")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_updates_match_numpy(case, dtype):
    make_opt, make_ref = CASES[case]
    slots, ref_step = make_ref()
    w = tw.Variable(W0.astype(dtype), name="w")
    g = tw.placeholder(dtype, W0.shape, name="g")
    opt = make_opt()
    train = opt.apply_gradients([(g, w)])
    rng = np.random.RandomState(1)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        state = _initial_state(sess, opt, w, slots, dtype)
        for t in range(1, 5):
            grad = rng.randn(*W0.shape).astype(dtype)
            sess.run(train, {g: grad})
            ref_step(state, grad.astype(np.float64), t)
            got = _fetch_state(sess, opt, w, slots)
            assert got["w"].dtype == dtype
            _check(got, state, t, dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_updates_sum_duplicates_and_touch_only_their_rows(case):
    make_opt, make_ref = CASES[case]
    slots, ref_step = make_ref()
    w = tw.Variable(W0.astype(np.float32), name="w")
    values = tw.placeholder(tw.float32, [None, 3], name="values")
    indices = tw.placeholder(tw.int32, [None], name="indices")
    grad = tw.IndexedSlices(values, indices, tw.constant([4, 3]))
    opt = make_opt()
    train = opt.apply_gradients([(grad, w)])
    rng = np.random.RandomState(2)
    steps = [[2, 0, 2], [1], [3, 3, 3, 0], [0, 2]]
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        state = _initial_state(sess, opt, w, slots, np.float32)
        for t, idx in enumerate(steps, 1):
            vals = rng.randn(len(idx), 3).astype(np.float32)
            before = sess.run(w)
            sess.run(train, {values: vals, indices: idx})
            rows = np.unique(idx)
            summed = np.zeros((len(rows), 3))
            np.add.at(summed, np.searchsorted(rows, idx), vals.astype(np.float64))
            ref_step(state, summed, t, rows)
            got = _fetch_state(sess, opt, w, slots)
            _check(got, state, t, np.float32)
            if not case.startswith("adam"):
                untouched = np.setdiff1d(np.arange(4), rows)
                np.testing.assert_array_equal(got["w"][untouched], before[untouched])


def test_sparse_gradient_from_gather():
    if not hasattr(tw, "gather"):
        pytest.skip("tw.gather not available yet")
    w = tw.Variable(W0.astype(np.float32), name="emb")
    loss = tw.reduce_sum(tw.gather(w, [1, 3, 1]) * 2.0)
    opt = tw.train.MomentumOptimizer(0.1, 0.9)
    (g, _), = opt.compute_gradients(loss)
    assert isinstance(g, tw.IndexedSlices)
    train = opt.apply_gradients([(g, w)])
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        want = W0.astype(np.float32).copy()
        want[1] -= 0.1 * 4.0
        want[3] -= 0.1 * 2.0
        np.testing.assert_allclose(sess.run(w), want, rtol=1e-6)


def test_update_is_in_place_on_the_variable_buffer():
    w = tw.Variable(W0.astype(np.float32), name="w")
    train = tw.train.AdamOptimizer(0.1).minimize(tw.reduce_sum(w * w))
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        buf = sess._ctx.variables["w"]
        m = sess._ctx.variables["w/Adam"]
        sess.run(train)
        assert sess._ctx.variables["w"] is buf and sess._ctx.variables["w/Adam"] is m
        assert not np.array_equal(sess._ctx.to_host(buf), W0.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# names, slots, collections
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_opt,slot_vars,op_type", [
    (lambda: tw.train.GradientDescentOptimizer(0.1), {}, "ApplyGradientDescent"),
    (lambda: tw.train.MomentumOptimizer(0.1, 0.9), {"momentum": "w/Momentum:0"},
     "ApplyMomentum"),
    (lambda: tw.train.AdamOptimizer(), {"m": "w/Adam:0", "v": "w/Adam_1:0"}, "ApplyAdam"),
    (lambda: tw.train.RMSPropOptimizer(0.1), {"rms": "w/RMSProp:0",
                                              "momentum": "w/RMSProp_1:0"}, "ApplyRMSProp"),
    (lambda: tw.train.RMSPropOptimizer(0.1, centered=True),
     {"rms": "w/RMSProp:0", "mg": "w/RMSProp_1:0", "momentum": "w/RMSProp_2:0"},
     "ApplyCenteredRMSProp"),
    (lambda: tw.train.AdagradOptimizer(0.1), {"accumulator": "w/Adagrad:0"}, "ApplyAdagrad"),
])
def test_tf1_names_of_slots_and_update_ops(make_opt, slot_vars, op_type):
    w = tw.Variable(np.ones((2, 3), np.float32), name="w")
    opt = make_opt()
    name = opt.get_name()
    train = opt.minimize(tw.reduce_sum(w * w))
    assert train.name == name and train.type == "NoOp"
    assert opt.get_slot_names() == sorted(slot_vars)
    for slot, var_name in slot_vars.items():
        s = opt.get_slot(w, slot)
        assert s.name == var_name
        assert s in tw.global_variables() and s not in tw.trainable_variables()
        assert s.shape == w.shape and s.dtype == w.dtype
    assert opt.get_slot(w, "nonexistent") is None
    update = tw.get_default_graph().get_operation_by_name(f"{name}/update_w/{op_type}")
    assert update.type == op_type
    assert update in train.control_inputs
    assert train in tw.get_collection(tw.GraphKeys.TRAIN_OP)
    if slot_vars:
        s = opt.get_slot(w, sorted(slot_vars)[0])
        assert s.op.colocation_groups() == [b"loc:@w"]
    assert update.colocation_groups() == [b"loc:@w"]


def test_adam_beta_powers_colocated_with_first_variable_and_decayed():
    b = tw.Variable([1.0, 2.0], name="b")
    a = tw.Variable([3.0], name="a")
    opt = tw.train.AdamOptimizer(0.1, beta1=0.8, beta2=0.7)
    train = opt.minimize(tw.reduce_sum(a * a) + tw.reduce_sum(b * b))
    b1p, b2p = opt._get_beta_accumulators()
    assert (b1p.name, b2p.name) == ("beta1_power:0", "beta2_power:0")
    assert b1p.op.colocation_groups() == [b"loc:@a"]
    assert not b1p.trainable
    assert [v.name for v in opt.variables()] == [
        "a/Adam:0", "a/Adam_1:0", "b/Adam:0", "b/Adam_1:0", "beta1_power:0", "beta2_power:0"]
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        np.testing.assert_allclose(sess.run([b1p, b2p]), [0.8 ** 4, 0.7 ** 4], rtol=1e-6)


def test_global_step_is_incremented_after_the_updates():
    w = tw.Variable([1.0, 2.0], name="w")
    gs = tw.train.get_or_create_global_step()
    opt = tw.train.GradientDescentOptimizer(0.5)
    train = opt.minimize(tw.reduce_sum(w * w), global_step=gs)
    g = tw.get_default_graph()
    assert train.name == "GradientDescent" and train.type == "AssignAdd"
    group = g.get_operation_by_name("GradientDescent/update")
    assert group in train.control_inputs
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        assert tw.train.global_step(sess, gs) == 3
        np.testing.assert_allclose(sess.run(w), [0.0, 0.0])


def test_named_apply_gradients_and_two_optimizers_in_one_graph():
    w = tw.Variable([1.0], name="w")
    loss = tw.reduce_sum(w * w)
    t1 = tw.train.MomentumOptimizer(0.1, 0.9).minimize(loss, name="first")
    t2 = tw.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    assert t1.name == "first" and t2.name == "Momentum"
    names = {v.name for v in tw.global_variables()}
    assert {"w/Momentum:0", "w/Momentum_1:0"} <= names


def test_slot_names_follow_variable_scopes():
    with tw.variable_scope("layer"):
        k = tw.get_variable("kernel", [2, 2], initializer=tw.ones_initializer())
    opt = tw.train.AdamOptimizer()
    train = opt.minimize(tw.reduce_sum(k * k))
    assert opt.get_slot(k, "m").name == "layer/kernel/Adam:0"
    assert opt.get_slot(k, "v").name == "layer/kernel/Adam_1:0"
    tw.get_default_graph().get_operation_by_name("Adam/update_layer/kernel/ApplyAdam")
    assert train.name == "Adam"


# ----------------------------------------------------------------------------------------------
# hyperparameters as tensors and callables
# ----------------------------------------------------------------------------------------------
def test_learning_rate_as_tensor_and_callable():
    lr = tw.placeholder(tw.float32, [], name="lr")
    w = tw.Variable([1.0, -1.0], name="w")
    v = tw.Variable([2.0], name="v")
    t1 = tw.train.GradientDescentOptimizer(lr).minimize(tw.reduce_sum(w * w), var_list=[w])
    t2 = tw.train.MomentumOptimizer(lambda: tw.constant(0.25), lambda: 0.5).minimize(
        tw.reduce_sum(v * v), var_list=[v])
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(t1, {lr: 0.25})
        np.testing.assert_allclose(sess.run(w), [0.5, -0.5])
        sess.run(t2)
        np.testing.assert_allclose(sess.run(v), [2.0 - 0.25 * 4.0])


def test_float64_variable_casts_float32_hyperparameters():
    w = tw.Variable(np.array([1.0, 2.0]), name="w")
    train = tw.train.AdamOptimizer(0.1).minimize(tw.reduce_sum(w * w))
    assert w.dtype == tw.float64
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        # first Adam step: lr_t * m / sqrt(v) = lr * sign(g), in float64 arithmetic
        np.testing.assert_allclose(sess.run(w), [0.9, 1.9], rtol=1e-7)
        assert sess.run(w).dtype == np.float64


# ----------------------------------------------------------------------------------------------
# minimize, compute_gradients
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_opt", [
    lambda: tw.train.GradientDescentOptimizer(0.1),
    lambda: tw.train.MomentumOptimizer(0.05, 0.9),
    lambda: tw.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    lambda: tw.train.AdamOptimizer(0.1),
    lambda: tw.train.RMSPropOptimizer(0.05),
    lambda: tw.train.RMSPropOptimizer(0.02, momentum=0.5, centered=True),
    lambda: tw.train.AdagradOptimizer(0.5),
])
def test_minimize_reduces_a_quadratic(make_opt):
    target = np.array([1.0, -2.0, 3.0], np.float32)
    w = tw.Variable(np.zeros(3, np.float32), name="w")
    d = w - target
    loss = tw.reduce_sum(d * d)
    train = make_opt().minimize(loss)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        first = sess.run(loss)
        for _ in range(100):
            sess.run(train)
        last = sess.run(loss)
    assert last < 0.1 * first, (first, last)


def test_compute_gradients_defaults_to_trainable_variables():
    w = tw.Variable([1.0, 2.0], name="w")
    tw.Variable([5.0], name="frozen", trainable=False)
    u = tw.Variable([3.0], name="unused")
    loss = tw.reduce_sum(w * w)
    gv = tw.train.GradientDescentOptimizer(0.1).compute_gradients(loss)
    assert [v for _, v in gv] == [w, u]
    assert gv[1][0] is None
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        np.testing.assert_allclose(sess.run(gv[0][0]), [2.0, 4.0])


@pytest.mark.parametrize("gate", [tw.train.Optimizer.GATE_NONE, tw.train.Optimizer.GATE_OP,
                                  tw.train.Optimizer.GATE_GRAPH])
def test_gate_gradients_modes_give_the_same_update(gate):
    w = tw.Variable([1.0, 2.0], name="w")
    b = tw.Variable([0.5], name="b")
    loss = tw.reduce_sum(w * w * b)
    train = tw.train.GradientDescentOptimizer(0.1).minimize(loss, gate_gradients=gate)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), [0.9, 1.8])
        np.testing.assert_allclose(sess.run(b), [0.5 - 0.1 * 5.0])


def test_grad_loss_scales_the_gradient():
    w = tw.Variable([1.0, 2.0], name="w")
    train = tw.train.GradientDescentOptimizer(0.1).minimize(tw.reduce_sum(w * w),
                                                            grad_loss=tw.constant(0.5))
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), [0.9, 1.8])


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
def test_no_gradients_raises_naming_the_variables():
    w = tw.Variable([1.0], name="w")
    v = tw.Variable([2.0], name="v")
    opt = tw.train.GradientDescentOptimizer(0.1)
    with pytest.raises(ValueError, match="No gradients provided for any variable.*w:0.*v:0"):
        opt.apply_gradients([(None, w), (None, v)])
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.minimize(tw.reduce_sum(w * w), var_list=[v])
    with pytest.raises(ValueError, match="No variables provided"):
        opt.apply_gradients([])


def test_none_gradients_are_skipped():
    w = tw.Variable([1.0], name="w")
    v = tw.Variable([2.0], name="v")
    train = tw.train.AdamOptimizer(0.1).apply_gradients([(tw.constant([1.0]), w), (None, v)])
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(v), [2.0])
        np.testing.assert_allclose(sess.run(w), [0.9], rtol=1e-5)


def test_bad_arguments_raise_at_build_time():
    w = tw.Variable([1.0, 2.0], name="w")
    opt = tw.train.MomentumOptimizer(0.1, 0.9)
    with pytest.raises(ValueError, match=r"var and grad do not have the same shape.*\[2\].*\[3\]"):
        opt.apply_gradients([(tw.constant([1.0, 2.0, 3.0]), w)])
    with pytest.raises(ValueError, match="gate_gradients must be one of"):
        opt.minimize(tw.reduce_sum(w * w), gate_gradients=7)
    i = tw.Variable([1, 2], name="i")
    with pytest.raises(ValueError, match="Invalid type int32"):
        opt.minimize(tw.reduce_sum(i * i), var_list=[i])
    with pytest.raises(TypeError, match="unsupported type"):
        opt.apply_gradients([(tw.constant([1.0]), tw.constant([1.0]))])
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        tw.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError, match="No variables to optimize"):
        tw.train.AdamOptimizer().minimize(tw.constant(1.0), var_list=[])


def test_uninitialized_slot_fails_naming_it():
    w = tw.Variable([1.0], name="w")
    train = tw.train.MomentumOptimizer(0.1, 0.9).minimize(tw.reduce_sum(w * w))
    with tw.Session() as sess:
        sess.run(w.initializer)
        with pytest.raises(tw.errors.FailedPreconditionError, match="w/Momentum"):
            sess.run(train)


def test_sparse_index_out_of_range_is_invalid_argument():
    w = tw.Variable(np.zeros((3, 2), np.float32), name="w")
    g = tw.IndexedSlices(tw.constant(np.ones((2, 2), np.float32)), tw.constant([0, 5]),
                         tw.constant([3, 2]))
    train = tw.train.AdagradOptimizer(0.1).apply_gradients([(g, w)])
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        with pytest.raises(tw.errors.InvalidArgumentError, match=r"5 is not in \[0, 3\)"):
            sess.run(train)


# ----------------------------------------------------------------------------------------------
# global step
# ----------------------------------------------------------------------------------------------
def test_global_step_creation_and_lookup():
    assert tw.train.get_global_step() is None
    gs = tw.train.get_or_create_global_step()
    assert gs.name == "global_step:0" and gs.dtype == tw.int64 and gs.shape == []
    assert not gs.trainable
    assert tw.get_collection(tw.GraphKeys.GLOBAL_STEP) == [gs]
    assert gs in tw.global_variables() and gs not in tw.trainable_variables()
    assert tw.train.get_global_step() is gs
    assert tw.train.get_or_create_global_step() is gs
    with pytest.raises(ValueError, match='"global_step" already exists'):
        tw.train.create_global_step()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        assert tw.train.global_step(sess, gs) == 0


def test_global_step_is_created_at_top_level_and_in_other_graphs():
    g = tw.Graph()
    with tw.name_scope("outer"):
        gs = tw.train.create_global_step(g)
    assert gs.graph is g and gs.name == "global_step:0"
    assert tw.train.get_global_step() is None
    assert tw.train.get_global_step(g) is gs
    with pytest.raises(TypeError, match="integer type"):
        tw.train.assert_global_step(tw.Variable(1.0))


# ----------------------------------------------------------------------------------------------
# moving averages
# ----------------------------------------------------------------------------------------------
def test_exponential_moving_average_matches_numpy_and_tf1_names():
    w = tw.Variable([1.0, 2.0], name="w")
    b = tw.Variable(0.5, name="b")
    ema = tw.train.ExponentialMovingAverage(0.9)
    update = ema.apply([w, b])
    assert update.name == "ExponentialMovingAverage" and update.type == "NoOp"
    avg_w = ema.average(w)
    assert avg_w.name == "w/ExponentialMovingAverage:0" and not avg_w.trainable
    assert ema.average_name(b) == "b/ExponentialMovingAverage"
    assert tw.get_collection(tw.GraphKeys.MOVING_AVERAGE_VARIABLES) == [w, b]
    assert avg_w.op.colocation_groups() == [b"loc:@w"]
    other = tw.Variable(3.0, name="other", trainable=False)
    assert ema.variables_to_restore() == {"w/ExponentialMovingAverage": w,
                                          "b/ExponentialMovingAverage": b, "other": other}
    d = float(np.float32(0.9))
    want_w, want_b = np.array([1.0, 2.0]), 0.5
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        np.testing.assert_allclose(sess.run(avg_w), [1.0, 2.0])
        for step in range(3):
            sess.run([w.assign(w * 2.0), b.assign(b + 1.0)])
            sess.run(update)
            wv, bv = sess.run([w, b])
            want_w = want_w - (want_w - wv) * (1 - d)
            want_b = want_b - (want_b - bv) * (1 - d)
            np.testing.assert_allclose(sess.run(avg_w), want_w, rtol=1e-6)
            np.testing.assert_allclose(sess.run(ema.average(b)), want_b, rtol=1e-6)


def test_moving_average_num_updates_and_zero_debias():
    x = tw.Variable(0.0, name="x")
    ema = tw.train.ExponentialMovingAverage(0.99, num_updates=tw.constant(0))
    update = ema.apply([x])
    v = tw.Variable(0.0, name="v")
    value = tw.placeholder(tw.float32, [])
    debiased = tw.train.assign_moving_average(v, value, 0.5, zero_debias=True)
    names = {var.op.name for var in tw.global_variables()}
    assert {"v/biased", "v/local_step"} <= names
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(x.assign(10.0))
        sess.run(update)  # decay = min(0.99, 1/10) = 0.1
        np.testing.assert_allclose(sess.run(ema.average(x)), 9.0, rtol=1e-6)
        biased, step = 0.0, 0
        for val in [4.0, 2.0, 6.0]:
            got = sess.run(debiased, {value: val})
            biased = biased - (biased - val) * 0.5
            step += 1
            np.testing.assert_allclose(got, biased / (1 - 0.5 ** step), rtol=1e-6)
    with pytest.raises(TypeError, match="half, float, or double"):
        tw.train.ExponentialMovingAverage(0.9).apply([tw.Variable(1, name="i")])
