"""cond, case, while_loop: TF1 semantics, errors, and gradients against finite differences."""
import collections

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.test import check_gradients

RNG = np.random.RandomState(0)


def run(fetches, feed=None):
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        return s.run(fetches, feed)


# ---------------------------------------------------------------------------------------------
# cond
# ---------------------------------------------------------------------------------------------
def test_cond_picks_the_branch():
    x = tw.placeholder(tw.float32, [])
    y = tw.cond(x > 0, lambda: x * 2.0, lambda: x - 1.0)
    with tw.Session() as s:
        assert s.run(y, {x: 3.0}) == 6.0
        assert s.run(y, {x: -3.0}) == -4.0
    assert y.shape == tw.TensorShape([])


def test_only_the_taken_branch_runs():
    v = tw.Variable(0, name="counter")
    p = tw.placeholder(tw.bool, [])

    def taken():
        with tw.control_dependencies([tw.assign_add(v, 1)]):
            return tw.constant(1)

    def failing():  # would fail at run time: an out-of-range gather
        return tw.gather(tw.constant([1, 2]), 7)
    r = tw.cond(p, taken, failing)
    with tw.Session() as s:
        s.run(v.initializer)
        assert s.run(r, {p: True}) == 1
        assert s.run(r, {p: True}) == 1
        assert s.run(v) == 2
        with pytest.raises(tw.errors.InvalidArgumentError, match="indices"):
            s.run(r, {p: False})
        assert s.run(v) == 2


def test_cond_nested_structures_and_strict():
    Pair = collections.namedtuple("Pair", "a b")
    p = tw.placeholder(tw.bool, [])
    out = tw.cond(p, lambda: {"x": Pair(tw.constant(1.0), tw.constant([1, 2]))},
                  lambda: {"x": Pair(tw.constant(2.0), tw.constant([3, 4]))})
    assert isinstance(out["x"], Pair)
    r = run(out, {p: False})
    assert r["x"].a == 2.0 and list(r["x"].b) == [3, 4]
    single = tw.cond(p, lambda: [tw.constant(1)], lambda: [tw.constant(2)])
    assert isinstance(single, tw.Tensor)
    strict = tw.cond(p, lambda: [tw.constant(1)], lambda: [tw.constant(2)], strict=True)
    assert isinstance(strict, list) and len(strict) == 1


def test_cond_errors():
    p = tw.placeholder(tw.bool, [])
    with pytest.raises(ValueError, match="same number, type, and overall structure"):
        tw.cond(p, lambda: (tw.constant(1.0), tw.constant(1.0)), lambda: tw.constant(1.0))
    with pytest.raises(TypeError, match="same type: float32, int32"):
        tw.cond(p, lambda: tw.constant(1.0), lambda: tw.constant(1))
    with pytest.raises(TypeError, match="bool"):
        tw.cond(tw.constant(1.0), lambda: tw.constant(1.0), lambda: tw.constant(1.0))
    with pytest.raises(TypeError, match="callable"):
        tw.cond(p, 1.0, lambda: 2.0)


def test_cond_captures_outer_tensors_and_variables():
    w = tw.Variable([1.0, 2.0])
    x = tw.placeholder(tw.float32, [2])
    p = tw.placeholder(tw.bool, [])
    y = tw.cond(p, lambda: x * w, lambda: x + w)
    r1 = run(y, {x: [3.0, 4.0], p: True})
    np.testing.assert_allclose(r1, [3.0, 8.0])


def test_cond_returning_an_operation():
    v = tw.Variable(0)
    p = tw.placeholder(tw.bool, [])
    op = tw.cond(p, lambda: tw.assign_add(v, 10).op, lambda: tw.assign_add(v, 1).op)
    assert isinstance(op, tw.Operation)
    with tw.Session() as s:
        s.run(v.initializer)
        s.run(op, {p: True})
        s.run(op, {p: False})
        assert s.run(v) == 11


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_gradients(sign):
    def f(x, y):
        return tw.cond(tw.reduce_sum(x) > 0, lambda: tw.sin(x) * y, lambda: x * x + y)
    check_gradients(f, [sign * np.array([0.5, 0.7]), np.array([1.5, -0.3])])


def test_nested_cond_gradients():
    def f(x):
        return tw.cond(x[0] > 0,
                       lambda: tw.cond(x[1] > 0, lambda: x * x, lambda: tw.exp(x)),
                       lambda: x * 3.0)
    check_gradients(f, [np.array([0.5, -0.7])])
    check_gradients(f, [np.array([0.5, 0.7])])
    check_gradients(f, [np.array([-0.5, 0.7])])


# ---------------------------------------------------------------------------------------------
# case
# ---------------------------------------------------------------------------------------------
def test_case_first_true_and_default():
    x = tw.placeholder(tw.int32, [])
    r = tw.case([(tw.less(x, 0), lambda: tw.constant(-1)), (tw.equal(x, 0), lambda: tw.constant(0))],
                default=lambda: tw.constant(1))
    with tw.Session() as s:
        assert [s.run(r, {x: v}) for v in (-5, 0, 5)] == [-1, 0, 1]


def test_case_exclusive_fails_when_two_are_true():
    x = tw.placeholder(tw.int32, [])
    r = tw.case([(x > 0, lambda: tw.constant(1)), (x > 1, lambda: tw.constant(2))],
                default=lambda: tw.constant(0), exclusive=True)
    with tw.Session() as s:
        assert s.run(r, {x: 1}) == 1
        with pytest.raises(tw.errors.InvalidArgumentError, match="More than one condition"):
            s.run(r, {x: 5})


# ---------------------------------------------------------------------------------------------
# while_loop
# ---------------------------------------------------------------------------------------------
def test_while_loop_counts_and_sums():
    x = tw.placeholder(tw.float32, [])
    i, s = tw.while_loop(lambda i, s: i < 10,
                         lambda i, s: (i + 1, s + tw.cast(i, tw.float32) * x),
                         [tw.constant(0), tw.constant(0.0)])
    assert run([i, s], {x: 2.0}) == [10, 90.0]


def test_single_loop_var_is_returned_bare():
    r = tw.while_loop(lambda v: v < 100, lambda v: v * 2, [tw.constant(1)])
    assert isinstance(r, tw.Tensor) and run(r) == 128


def test_nested_loop_vars():
    State = collections.namedtuple("State", "h c")
    init = (tw.constant(0), State(tw.constant(1.0), {"k": tw.constant([1, 1])}))

    def body(i, st):
        return i + 1, State(st.h * 2.0, {"k": st.c["k"] + 1})
    i, st = tw.while_loop(lambda i, st: i < 3, body, init)
    assert isinstance(st, State)
    r = run([i, st.h, st.c["k"]])
    assert r[0] == 3 and r[1] == 8.0 and list(r[2]) == [4, 4]


def test_maximum_iterations():
    r = tw.while_loop(lambda v: v > -1, lambda v: v + 1, [tw.constant(0)],
                      maximum_iterations=7)
    assert run(r) == 7


def test_shape_invariants():
    x0 = tw.constant(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"enters the loop with shape \(1, 2\), but has shape "
                                         r"\(2, 2\) after one iteration.*shape_invariants"):
        tw.while_loop(lambda x: tw.shape(x)[0] < 4, lambda x: tw.concat([x, x], 0), [x0])
    grown = tw.while_loop(lambda x: tw.shape(x)[0] < 4, lambda x: tw.concat([x, x], 0), [x0],
                          shape_invariants=[tw.TensorShape([None, 2])])
    assert grown.shape.as_list() == [None, 2]
    assert run(grown).shape == (4, 2)
    with pytest.raises(ValueError, match="not compatible with the initial shape"):
        tw.while_loop(lambda x: True, lambda x: x, [x0],
                      shape_invariants=[tw.TensorShape([3, 2])])


def test_while_errors():
    with pytest.raises(TypeError, match="enters the loop with type int32"):
        tw.while_loop(lambda v: v < 3, lambda v: tw.cast(v, tw.float32), [tw.constant(0)])
    with pytest.raises(ValueError, match="same structure"):
        tw.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1,), [tw.constant(0), tw.constant(0)])
    with pytest.raises(TypeError, match="callable"):
        tw.while_loop(1, lambda v: v, [tw.constant(0)])


def test_loop_body_reads_outer_tensors_and_variables():
    w = tw.Variable(np.eye(2, dtype=np.float32) * 2.0)
    b = tw.placeholder(tw.float32, [2])
    r = tw.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tw.matmul(h, w) + b),
                      [tw.constant(0), tw.ones([1, 2])])[1]
    out = run(r, {b: [1.0, 0.0]})
    h = np.ones((1, 2))
    for _ in range(3):
        h = h @ (np.eye(2) * 2) + [1.0, 0.0]
    np.testing.assert_allclose(out, h)


def test_variables_created_in_a_loop_body_live_in_the_outer_graph():
    def body(i, h):
        with tw.variable_scope("cell", reuse=tw.AUTO_REUSE):
            w = tw.get_variable("w", [2, 2], initializer=tw.constant_initializer(0.5))
        return i + 1, tw.matmul(h, w)
    _, h = tw.while_loop(lambda i, h: i < 2, body, [tw.constant(0), tw.ones([1, 2])])
    names = [v.name for v in tw.global_variables()]
    assert names == ["cell/w:0"]
    np.testing.assert_allclose(run(h), [[1.0, 1.0]])


def test_while_gradients_rnn_like():
    def f(x, w):
        _, h = tw.while_loop(lambda i, h: i < 3,
                             lambda i, h: (i + 1, tw.tanh(tw.matmul(h, w)) + h),
                             [tw.constant(0), x])
        return h
    check_gradients(f, [RNG.randn(2, 3) * 0.5, RNG.randn(3, 3) * 0.5])


def test_while_gradients_with_data_dependent_trip_count():
    def f(x):
        _, y = tw.while_loop(lambda i, y: tw.reduce_sum(y) < 10.0,
                             lambda i, y: (i + 1, y * 1.5 + tw.sin(y)), [tw.constant(0), x])
        return y
    check_gradients(f, [np.array([0.6, 0.8])])


def test_while_gradient_with_maximum_iterations_and_captures():
    def f(x, a):
        return tw.while_loop(lambda v: True, lambda v: v * a + 1.0, [x],
                             maximum_iterations=4)
    check_gradients(f, [np.array([0.3, -0.2]), np.array([0.9, 1.1])])


def test_nested_while_gradients():
    def f(x):
        def outer(i, y):
            inner = tw.while_loop(lambda j, z: j < 2, lambda j, z: (j + 1, z * tw.cos(z)),
                                  [tw.constant(0), y])[1]
            return i + 1, inner + y
        return tw.while_loop(lambda i, y: i < 2, outer, [tw.constant(0), x])[1]
    check_gradients(f, [np.array([0.4, -0.3])])


def test_cond_inside_while_gradient():
    def f(x):
        def body(i, y):
            return i + 1, tw.cond(tw.equal(i % 2, 0), lambda: y * y, lambda: tw.sin(y))
        return tw.while_loop(lambda i, y: i < 3, body, [tw.constant(0), x])[1]
    check_gradients(f, [np.array([0.5, 0.9])])


def test_while_gradient_uses_saved_values_of_stateful_ops():
    """A random mask drawn inside the loop: the gradient uses the forward pass's masks."""
    x = tw.placeholder(tw.float64, [4])

    def body(i, y, ta):
        m = tw.cast(tw.random_uniform([4], seed=3) > 0.5, tw.float64)
        return i + 1, y + x * m, ta.write(i, m)
    ta0 = tw.TensorArray(tw.float64, size=5)
    _, y, ta = tw.while_loop(lambda i, y, ta: i < 5, body,
                             [tw.constant(0), tw.zeros([4], tw.float64), ta0])
    masks = ta.stack()
    g, = tw.gradients(tw.reduce_sum(y), x)
    with tw.Session() as s:
        for _ in range(3):
            mv, gv = s.run([masks, g], {x: np.ones(4)})
            np.testing.assert_allclose(gv, mv.sum(axis=0))


def test_graph_def_round_trip_with_control_flow():
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [3], name="x")
        _, y = tw.while_loop(lambda i, y: i < 4, lambda i, y: (i + 1, y * 1.5), [0, x])
        z = tw.cond(tw.reduce_sum(y) > 0, lambda: y + 1.0, lambda: y - 1.0)
        gz = tw.gradients(tw.reduce_sum(z * z), x)[0]
        tw.identity(z, name="z")
        tw.identity(gz, name="gz")
    data = g.as_graph_def().SerializeToString()
    g2 = tw.Graph()
    with g2.as_default():
        tw.import_graph_def(tw.GraphDef.FromString(data), name="")
    xv = np.array([1.0, -2.0, 3.0], np.float32)
    with tw.Session(graph=g) as s1, tw.Session(graph=g2) as s2:
        r1 = s1.run(["z:0", "gz:0"], {"x:0": xv})
        r2 = s2.run(["z:0", "gz:0"], {"x:0": xv})
    np.testing.assert_allclose(r1[0], r2[0])
    np.testing.assert_allclose(r1[1], r2[1])
    np.testing.assert_allclose(r1[0], xv * 1.5 ** 4 + 1.0, rtol=1e-6)


def test_back_prop_false_stops_gradients():
    x = tw.placeholder(tw.float32, [2])
    y = tw.while_loop(lambda v: tw.reduce_sum(v) < 100.0, lambda v: v * 2.0, [x], back_prop=False)
    assert tw.gradients(tw.reduce_sum(y), x) == [None]


def test_nest_namespace():
    s = {"b": (1, 2), "a": [3]}
    assert tw.nest.flatten(s) == [3, 1, 2]
    assert tw.nest.pack_sequence_as(s, [9, 8, 7]) == {"b": (8, 7), "a": [9]}
