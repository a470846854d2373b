"""Data-parallel training (issue 11): placement of replicated models and their parameters."""
from __future__ import annotations

import numpy as np
import pytest

import tensorweave as tw
GreedyLoadBalancingStrategy = tw.train.GreedyLoadBalancingStrategy
byte_size_load_fn = tw.train.byte_size_load_fn

TWO_CPUS = tw.ConfigProto(device_count={"CPU": 2})


# ----------------------------------------------------------------------------------------------
# parameter placement
# ----------------------------------------------------------------------------------------------
def test_byte_size_load_fn_counts_a_variables_bytes():
    with tw.Graph().as_default():
        a = tw.Variable(tw.zeros([3, 4]), name="a")
        b = tw.get_variable("b", [10], dtype=tw.float64)
        c = tw.Variable(tw.placeholder_with_default(tw.zeros([2]), [None]), validate_shape=False)
        assert byte_size_load_fn(a.op) == 48
        assert byte_size_load_fn(b.op) == 80
        assert byte_size_load_fn(c.op) == 0          # shape not fully known


def test_greedy_strategy_spreads_large_variables_over_ps_tasks():
    cs = {"ps": ["h:1", "h:2"], "worker": ["h:3"]}
    with tw.Graph().as_default():
        greedy = GreedyLoadBalancingStrategy(2, byte_size_load_fn)
        with tw.device(tw.train.replica_device_setter(cluster=cs, ps_strategy=greedy)):
            big = tw.get_variable("big", [1000])      # 4000 bytes -> ps:0
            s1 = tw.get_variable("s1", [10])          # ps:1 (40 bytes)
            s2 = tw.get_variable("s2", [10])          # ps:1 (80 bytes)
            mid = tw.get_variable("mid", [500])       # ps:1 (2080 bytes)
            last = tw.get_variable("last", [10])      # ps:1 (2120 < 4000)
        assert [v.device for v in (big, s1, s2, mid, last)] == [
            "/job:ps/task:0", "/job:ps/task:1", "/job:ps/task:1", "/job:ps/task:1",
            "/job:ps/task:1"]
        rr = tw.train.replica_device_setter(cluster=cs)
        with tw.device(rr):
            x, y = tw.get_variable("x", [1000]), tw.get_variable("y", [1000])
        assert (x.device, y.device) == ("/job:ps/task:0", "/job:ps/task:1")
    with pytest.raises(ValueError, match="num_tasks"):
        GreedyLoadBalancingStrategy(0)


def test_an_op_writing_a_variable_by_reference_goes_to_the_variable():
    # TF1's between-graph pattern: `global_step.assign_add(1)` under the worker's device scope
    # while the step lives on a ps device; TF1 ignores the op's request, so do we
    g = tw.Graph()
    with g.as_default():
        with tw.device("/cpu:1"):
            gs = tw.Variable(0, name="gs")
        with tw.device("/cpu:0"):
            inc = tw.assign_add(gs, 1, name="inc")
            w = tw.Variable(1.0, name="w")
            upd = w.assign(w * 2.0)
        init = tw.global_variables_initializer()
    with tw.Session(graph=g, config=TWO_CPUS) as sess:
        sess.run(init)
        assert [sess.run(inc) for _ in range(3)] == [1, 2, 3]
        assert sess.run(upd) == 2.0
        why = sess.placement.explain("inc")
        assert sess.placement.device_of["inc"].endswith("CPU:1")
        assert "ignoring device specification" in why and "reference connection" in why


# ----------------------------------------------------------------------------------------------
# in-graph replication: the same parameters as one device on the whole batch
# ----------------------------------------------------------------------------------------------
RNG = np.random.RandomState(7)
X = RNG.randn(8, 6)
Y = RNG.randint(0, 3, 8).astype(np.int32)
W1, B1, W2 = RNG.randn(6, 8) * 0.5, RNG.randn(8) * 0.1, RNG.randn(8, 3) * 0.5
STEPS = 20


def mlp_loss(batch):
    x, y = batch
    w1 = tw.get_variable("w1", dtype=tw.float64, initializer=tw.constant(W1))
    b1 = tw.get_variable("b1", dtype=tw.float64, initializer=tw.constant(B1))
    w2 = tw.get_variable("w2", dtype=tw.float64, initializer=tw.constant(W2))
    logits = tw.matmul(tw.tanh(tw.matmul(x, w1) + b1), w2)
    return tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))


def train(build, config=None):
    """Parameters and losses after STEPS steps of the graph `build(x, y) -> (train_op, loss)`."""
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float64, [None, 6])
        y = tw.placeholder(tw.int32, [None])
        train_op, loss = build(x, y)
        params = sorted(tw.trainable_variables(), key=lambda v: v.op.name)
        init = tw.global_variables_initializer()
    with tw.Session(graph=g, config=config) as sess:
        sess.run(init)
        losses = [sess.run([loss, train_op], {x: X, y: Y})[0] for _ in range(STEPS)]
        return [v.op.name for v in params], sess.run(params), losses


def one_device(x, y):
    loss = mlp_loss((x, y))
    return tw.train.GradientDescentOptimizer(0.5).minimize(loss), loss


@pytest.fixture(scope="module")
def reference():
    return train(one_device)


@pytest.mark.parametrize("devices,params", [
    (["/cpu:0"], "/cpu:0"), (["/cpu:0", "/cpu:1"], "/cpu:0"),
    (["/cpu:0", "/cpu:1", "/cpu:0", "/cpu:1"], "/cpu:0"),
    (["/cpu:0", "/cpu:1"], ["/cpu:0", "/cpu:1"]),      # parameters spread by size
    (["/cpu:0", "/cpu:1"], None)])                      # (the default: the towers' devices)
def test_towers_give_the_parameters_of_one_device_on_the_whole_batch(reference, devices, params):
    replicate_model = tw.train.replicate_model

    def towers(x, y):
        r = replicate_model(mlp_loss, (x, y), devices, tw.train.GradientDescentOptimizer(0.5),
                            param_device=params)
        if not isinstance(params, str):     # (the variables exist once tower 0 is built)
            assert {v.device for v in tw.trainable_variables()} == {"/device:CPU:0", "/device:CPU:1"}
        return r.train_op, r.loss
    names, params, losses = train(towers, TWO_CPUS if len(set(devices)) > 1 else None)
    ref_names, ref_params, ref_losses = reference
    assert names == ref_names == ["b1", "w1", "w2"]     # shared: one copy of each
    for got, want in zip(params, ref_params):
        assert np.max(np.abs(got - want)) <= 1e-10
    np.testing.assert_allclose(losses, ref_losses, rtol=0, atol=1e-10)
    assert ref_losses[-1] < 0.5 * ref_losses[0]         # it did learn


def test_the_tutorials_hand_written_towers_run_unchanged(reference):
    # TF's multi-GPU CIFAR-10 tutorial pattern, on a machine without GPUs: soft placement
    def average_gradients(tower_grads):
        average_grads = []
        for grad_and_vars in zip(*tower_grads):
            grads = [tw.expand_dims(g, 0) for g, _ in grad_and_vars]
            grad = tw.reduce_mean(tw.concat(axis=0, values=grads), 0)
            average_grads.append((grad, grad_and_vars[0][1]))
        return average_grads

    def towers(x, y):
        opt = tw.train.GradientDescentOptimizer(0.5)
        tower_grads, losses = [], []
        xs, ys = tw.split(x, 2), tw.split(y, 2)
        with tw.variable_scope(tw.get_variable_scope()):
            for i in range(2):
                with tw.device("/gpu:%d" % i), tw.name_scope("tower_%d" % i):  # noqa: UP031 - as the tutorial writes it
                    loss = mlp_loss((xs[i], ys[i]))
                    tw.get_variable_scope().reuse_variables()
                    tower_grads.append(opt.compute_gradients(loss))
                    losses.append(loss)
        return opt.apply_gradients(average_gradients(tower_grads)), tw.add_n(losses) / 2.0

    cfg = tw.ConfigProto(device_count={"CPU": 2}, allow_soft_placement=True)
    names, params, losses = train(towers, cfg)
    for got, want in zip(params, reference[1]):
        assert np.max(np.abs(got - want)) <= 1e-10


def test_a_tower_making_its_own_variables_is_refused():
    replicate_model = tw.train.replicate_model

    def own_vars(x):
        return tw.reduce_sum(x * tw.Variable(1.0, dtype=tw.float64))
    with tw.Graph().as_default():
        x = tw.placeholder(tw.float64, [4])
        with pytest.raises(ValueError, match="tower 1 made variables of its own"):
            replicate_model(own_vars, x, ["/cpu:0", "/cpu:0"],
                            tw.train.GradientDescentOptimizer(0.1))


def test_average_gradients_of_sparse_and_missing_gradients():
    average_gradients = tw.train.average_gradients
    with tw.Graph().as_default():
        emb = tw.get_variable("emb", initializer=tw.constant(np.arange(8.0).reshape(4, 2)))
        other = tw.get_variable("other", initializer=tw.constant(1.0, tw.float64))
        opt = tw.train.GradientDescentOptimizer(1.0)
        ids = [tw.constant([0, 1]), tw.constant([1, 3])]
        towers = [opt.compute_gradients(tw.reduce_sum(tw.nn.embedding_lookup(emb, i)),
                                        [emb, other]) for i in ids]
        avg = average_gradients(towers)
        assert avg[1][0] is None
        step = opt.apply_gradients(avg)
        with tw.Session() as sess:
            sess.run(tw.global_variables_initializer())
            sess.run(step)
            want = np.arange(8.0).reshape(4, 2) - np.array([[.5], [1.], [0.], [.5]])
            np.testing.assert_allclose(sess.run(emb), want)


def test_each_tower_runs_on_its_device_and_the_parameters_on_theirs():
    replicate_model = tw.train.replicate_model
    with tw.Graph().as_default():
        x = tw.placeholder(tw.float64, [None, 6])
        y = tw.placeholder(tw.int32, [None])
        r = replicate_model(mlp_loss, (x, y), ["/cpu:0", "/cpu:1"],
                            tw.train.GradientDescentOptimizer(0.5), param_device="/cpu:0")
        with tw.Session(config=TWO_CPUS) as sess:
            sess.run(tw.global_variables_initializer())
            sess.run(r.train_op, {x: X, y: Y})
            where = {}
            for node, dev in sess.placement.device_of.items():
                where.setdefault(node.split("/")[0], set()).add(dev.rsplit("/", 1)[-1])
    assert where["tower_0"] == {"device:CPU:0"} and where["tower_1"] == {"device:CPU:1"}
    assert where["w1"] == where["tower_average"] == {"device:CPU:0"}
