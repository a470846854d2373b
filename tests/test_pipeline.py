"""`tw.train.pipeline` (GPipe-style micro-batches): the same loss, gradients and trained
parameters as the un-pipelined model (float64), on one process and across two workers."""
import numpy as np
import pytest

import tensorweave as tw

pytestmark = pytest.mark.timeout(120)


def _stages():
    init = tw.random_uniform_initializer(-1.0, 1.0, seed=2)

    def s0(a):
        w = tw.get_variable("w", [6, 8], tw.float64, init)
        b = tw.get_variable("b", [8], tw.float64, tw.zeros_initializer())
        return tw.tanh(tw.matmul(a, w) + b)

    def s1(h):
        cell = tw.nn.rnn_cell.LSTMCell(4, initializer=init)   # as a sequence model would
        out, _ = tw.nn.dynamic_rnn(cell, tw.reshape(h, [-1, 2, 4]), dtype=tw.float64)
        return tw.reshape(out, [-1, 8])

    def s2(h):
        w = tw.get_variable("w", [8, 3], tw.float64, init)
        return tw.matmul(h, w), tw.reduce_sum(h, 1)
    return [s0, s1, s2]


def _train(m, devices=None, steps=3):
    g = tw.Graph()
    with g.as_default():
        rng = np.random.RandomState(0)
        x = tw.constant(rng.randn(10, 6))
        y = tw.constant(rng.randn(10, 3))
        stages = _stages()
        if m:
            out, extra = tw.train.pipeline(stages, x, m, devices=devices)
        else:                                  # the same stages on the whole batch
            with tw.variable_scope("pipeline"):
                h = x
                for s, fn in enumerate(stages):
                    with tw.variable_scope(f"stage_{s}"):
                        h = fn(*h) if isinstance(h, tuple) else fn(h)
                out, extra = h
        loss = tw.reduce_mean((out - y) ** 2) + 0.1 * tw.reduce_mean(extra)
        variables = tw.trainable_variables()
        grads = tw.gradients(loss, variables)
        train = tw.train.GradientDescentOptimizer(0.3).minimize(loss)
        config = tw.ConfigProto(device_count={"CPU": 2}) if devices else None
        with tw.Session(config=config) as s:
            s.run(tw.global_variables_initializer())
            first = s.run([loss, grads])
            for _ in range(steps):
                s.run(train)
            return [v.name for v in variables], first, s.run(variables)


def _close(a, b):
    for u, v in zip(tw.nest.flatten(a), tw.nest.flatten(b)):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", [1, 3, 4, 10])
def test_micro_batches_equal_the_whole_batch(m):
    names0, first0, trained0 = _train(0)
    names, first, trained = _train(m)
    assert names == names0
    _close(first, first0)
    _close(trained, trained0)


def test_stages_on_two_workers_equal_one_process():
    names0, first0, trained0 = _train(0)
    names, first, trained = _train(4, devices=["/cpu:0", "/cpu:1", "/cpu:1"])
    assert names == names0
    _close(first, first0)
    _close(trained, trained0)


def test_variables_are_made_once_on_their_stage_device():
    with tw.Graph().as_default():
        tw.train.pipeline(_stages(), tw.zeros([4, 6], tw.float64), 2,
                          devices=["/cpu:0", "/cpu:1", "/cpu:0"])
        devs = {v.op.name: v.device for v in tw.global_variables()}
    assert devs == {"pipeline/stage_0/w": "/device:CPU:0", "pipeline/stage_0/b": "/device:CPU:0",
                    "pipeline/stage_1/rnn/lstm_cell/kernel": "/device:CPU:1",
                    "pipeline/stage_1/rnn/lstm_cell/bias": "/device:CPU:1",
                    "pipeline/stage_2/w": "/device:CPU:0"}


def test_bubble_fraction():
    assert tw.train.bubble_fraction(2, 4) == pytest.approx(1 / 5)
    assert tw.train.bubble_fraction(4, 8) == pytest.approx(3 / 11)
    assert tw.train.bubble_fraction(1, 8) == 0


def test_bad_arguments_are_named():
    x = tw.zeros([4, 3])
    with pytest.raises(ValueError, match="fewer than num_micro_batches=8"):
        tw.train.pipeline([tw.identity], x, 8)
    with pytest.raises(ValueError, match="2 devices for 1 stages"):
        tw.train.pipeline([tw.identity], x, 2, devices=["/cpu:0", "/cpu:1"])
    with pytest.raises(ValueError, match="at least 1"):
        tw.train.pipeline([tw.identity], x, 0)
    with pytest.raises(TypeError, match="functions"):
        tw.train.pipeline([], x, 2)
    with pytest.raises(ValueError, match="returned a scalar"):
        tw.train.pipeline([tw.reduce_sum], x, 2, name="p2")
    with pytest.raises(ValueError, match="new variables in micro-batch 1"):
        tw.train.pipeline([lambda a: a * tw.Variable(1.0)], x, 2, name="p3")


def test_inputs_of_different_batch_sizes_are_refused():
    with pytest.raises(ValueError, match="batch sizes differ"):
        tw.train.pipeline([lambda a, b: a], [tw.zeros([4, 3]), tw.zeros([6, 3])], 2)
