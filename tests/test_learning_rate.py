"""Learning-rate schedules against TF1's formulas in numpy, over a range of global steps."""
import math

import numpy as np
import pytest

import tensorweave as tw

STEPS = [0, 1, 5, 9, 10, 11, 25, 99, 100, 101, 250]


def _run_over_steps(make):
    """Build the schedule on an int64 global step variable, evaluate it at each of STEPS."""
    gs = tw.train.get_or_create_global_step()
    lr = make(gs)
    step_value = tw.placeholder(tw.int64, [])
    set_step = tw.assign(gs, step_value)
    out = []
    with tw.Session() as sess:
        for s in STEPS:
            sess.run(set_step, {step_value: s})
            out.append(sess.run(lr))
    return lr, np.array(out)


def _check(got, want):
    np.testing.assert_allclose(got, np.array(want, np.float64), rtol=2e-6, atol=2e-8)  # float32 arithmetic


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    lr, got = _run_over_steps(lambda gs: tw.train.exponential_decay(
        0.1, gs, 10, 0.5, staircase=staircase))
    assert lr.dtype == tw.float32 and lr.shape == [] and lr.op.name == "ExponentialDecay"
    want = [0.1 * 0.5 ** (math.floor(s / 10) if staircase else s / 10) for s in STEPS]
    _check(got, want)


@pytest.mark.parametrize("staircase", [False, True])
def test_natural_exp_decay(staircase):
    lr, got = _run_over_steps(lambda gs: tw.train.natural_exp_decay(
        0.2, gs, 20, 0.3, staircase=staircase))
    assert lr.op.name == "NaturalExpDecay"
    want = [0.2 * math.exp(-0.3 * (math.floor(s / 20) if staircase else s / 20)) for s in STEPS]
    _check(got, want)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    lr, got = _run_over_steps(lambda gs: tw.train.inverse_time_decay(
        0.5, gs, 7, 2.0, staircase=staircase))
    assert lr.op.name == "InverseTimeDecay"
    want = [0.5 / (1 + 2.0 * (math.floor(s / 7) if staircase else s / 7)) for s in STEPS]
    _check(got, want)


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay(cycle, power):
    lr, got = _run_over_steps(lambda gs: tw.train.polynomial_decay(
        0.1, gs, 40, end_learning_rate=0.01, power=power, cycle=cycle))
    assert lr.op.name == "PolynomialDecay"
    want = []
    for s in STEPS:
        steps = 40
        if cycle:
            steps = 40 * (1.0 if s == 0 else math.ceil(s / 40))
        else:
            s = min(s, steps)
        want.append((0.1 - 0.01) * (1 - s / steps) ** power + 0.01)
    _check(got, want)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay(alpha):
    lr, got = _run_over_steps(lambda gs: tw.train.cosine_decay(0.3, gs, 100, alpha=alpha))
    assert lr.op.name == "CosineDecay"
    want = [0.3 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, 100) / 100)) + alpha)
            for s in STEPS]
    _check(got, want)


def test_piecewise_constant():
    lr, got = _run_over_steps(lambda gs: tw.train.piecewise_constant(
        gs, [10, 100], [1.0, 0.5, 0.1]))
    assert lr.op.name == "PiecewiseConstant" and lr.dtype == tw.float32
    want = [1.0 if s <= 10 else 0.5 if s <= 100 else 0.1 for s in STEPS]
    _check(got, want)


def test_piecewise_constant_float_x_and_errors():
    x = tw.placeholder(tw.float32, [])
    lr = tw.train.piecewise_constant(x, [0.5, 1.5, 2.5], [4, 3, 2, 1])
    assert lr.dtype == tw.int32
    with tw.Session() as sess:
        got = [sess.run(lr, {x: v}) for v in [0.0, 0.5, 0.6, 1.5, 2.0, 2.5, 3.0]]
    assert got == [4, 4, 3, 3, 2, 2, 1]
    with pytest.raises(ValueError, match="1 less than the length of values"):
        tw.train.piecewise_constant(x, [1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same dtype as x"):
        tw.train.piecewise_constant(x, [1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same dtype"):
        tw.train.piecewise_constant(x, [1.0], [1.0, 2])


def test_schedules_need_a_global_step_and_accept_names():
    for fn in (tw.train.exponential_decay, tw.train.natural_exp_decay,
               tw.train.inverse_time_decay):
        with pytest.raises(ValueError, match="global_step is required"):
            fn(0.1, None, 10, 0.5)
    with pytest.raises(ValueError, match="global_step is required"):
        tw.train.polynomial_decay(0.1, None, 10)
    with pytest.raises(ValueError, match="global_step is required"):
        tw.train.cosine_decay(0.1, None, 10)
    gs = tw.train.get_or_create_global_step()
    assert tw.train.exponential_decay(0.1, gs, 10, 0.9, name="lr").op.name == "lr"
    lr64 = tw.train.exponential_decay(np.float64(0.1), gs, 10, 0.9)
    assert lr64.dtype == tw.float64


def test_decayed_learning_rate_drives_an_optimizer():
    gs = tw.train.get_or_create_global_step()
    lr = tw.train.exponential_decay(1.0, gs, 1, 0.5, staircase=True)
    w = tw.Variable([0.0], name="w")
    train = tw.train.GradientDescentOptimizer(lr).minimize(-tw.reduce_sum(w), global_step=gs)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        np.testing.assert_allclose(sess.run(w), [1.0 + 0.5 + 0.25])
        assert tw.train.global_step(sess, gs) == 3
