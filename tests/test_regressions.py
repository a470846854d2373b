"""Defects found in review, each pinned by a test (buffer reuse, feeds, workers)."""
import numpy as np

import tensorweave as tw

TWO_CPUS = tw.ConfigProto(device_count={"CPU": 2})


# --- values held by If/While must not be overwritten by in-place kernels -----------------------
def test_while_output_is_not_overwritten_before_its_gradient_reads_it():
    x = tw.constant([0.3, -1.2, 2.0], tw.float64)
    _, r = tw.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, tw.tanh(y)), [0, x])
    g = tw.gradients(tw.reduce_sum(tw.exp(r)), x)[0]
    y = x
    for _ in range(2):
        y = tw.tanh(y)
    g_unrolled = tw.gradients(tw.reduce_sum(tw.exp(y)), x)[0]
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(g), s.run(g_unrolled), rtol=1e-12)


def test_cond_output_is_not_overwritten_before_its_gradient_reads_it():
    x = tw.constant([0.5, 1.2, -0.7], tw.float64)
    r = tw.cond(tw.constant(True), lambda: tw.tanh(x), lambda: 2.0 * x)
    g = tw.gradients(tw.reduce_sum(tw.exp(r)), x)[0]
    xv = np.array([0.5, 1.2, -0.7])
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(g), np.exp(np.tanh(xv)) * (1 - np.tanh(xv) ** 2))


def test_loop_returning_one_value_twice():
    x = tw.constant([0.0, 1.0, 2.0])
    _, a, b = tw.while_loop(lambda i, a, b: i < 1, lambda i, a, b: (i + 1, a + 1.0, a + 1.0),
                            [0, x, x])
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(tw.exp(a) + b), np.exp([1, 2, 3]) + [1, 2, 3],
                                   rtol=1e-6)


def test_a_loop_that_runs_zero_times_leaves_its_inputs_alone():
    w = tw.Variable([-3.0, 4.0])
    p = tw.placeholder(tw.float32, [2])
    lw = tw.while_loop(lambda v: False, lambda v: v, [w.value()])
    lp = tw.while_loop(lambda v: False, lambda v: v, [p])
    feed = np.array([0.0, 1.0], np.float32)
    with tw.Session() as s:
        s.run(w.initializer)
        s.run(tw.negative(lw))
        np.testing.assert_allclose(s.run(w), [-3.0, 4.0])
        s.run(tw.exp(lp), {p: feed})
        np.testing.assert_allclose(feed, [0.0, 1.0])
        np.testing.assert_allclose(s.run(tw.nn.relu(tw.while_loop(
            lambda v: False, lambda v: v, [tw.constant([-1.0, 1.0])]))), [0.0, 1.0])


# --- feeds ------------------------------------------------------------------------------------
def test_feeding_one_output_of_an_op_that_still_runs():
    a, b = tw.split(tw.constant([1.0, 2.0, 3.0, 4.0]), 2)
    with tw.Session() as s:
        ra, rs = s.run([a, a + b], {a: [10.0, 20.0]})
    np.testing.assert_allclose(ra, [10, 20])
    np.testing.assert_allclose(rs, [13, 24])


def test_feeding_a_constant_that_a_kernel_would_specialise_on():
    m = tw.constant(np.arange(9.0).reshape(3, 3))
    axis = tw.constant(0)
    total = tw.reduce_sum(m, axis)          # the kernel specialises on the constant axis...
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(total), [9, 12, 15])
        np.testing.assert_allclose(s.run(total, {axis: 1}), [3, 12, 21])  # ...unless it is fed


# --- workers ----------------------------------------------------------------------------------
def test_a_received_shared_memory_tensor_is_not_written_in_place():
    with tw.device("/cpu:0"):
        y = tw.range(-20000.0, 20000.0) * 2.0     # 160 KB: travels through shared memory
    with tw.device("/cpu:1"):
        r = tw.nn.relu(y)
    with tw.Session(config=TWO_CPUS) as s:
        out = s.run(r)
    np.testing.assert_allclose(out, np.maximum(np.arange(-20000.0, 20000.0) * 2, 0))


def test_fetching_a_fed_tensor_from_workers_returns_a_copy():
    p = tw.placeholder(tw.float32, [2])
    with tw.device("/cpu:1"):
        q = p * 2.0
    feed = np.array([1.0, 2.0], np.float32)
    with tw.Session(config=TWO_CPUS) as s:
        got, _ = s.run([p, q], {p: feed})
    assert got is not feed
    np.testing.assert_allclose(got, feed)


def test_two_sessions_on_a_cluster_with_the_same_node_names():
    workers, ps = tw.test.create_local_cluster(2, 1)
    try:
        results = []
        for task in (0, 1):
            g = tw.Graph()
            with g.as_default():
                with tw.device("/job:ps/task:0"):
                    a = tw.constant([1.0, 2.0], name="a")
                with tw.device(f"/job:worker/task:{task}"):
                    b = tw.add(a, float(task + 2), name="b")
            with tw.Session(workers[task].target, graph=g,
                            config=tw.ConfigProto(operation_timeout_in_ms=20000)) as s:
                results.append(s.run(b))
        np.testing.assert_allclose(results[0], [3, 4])
        np.testing.assert_allclose(results[1], [4, 5])
    finally:
        for srv in workers + ps:
            srv.stop()
