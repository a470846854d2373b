"""Data-parallel training (issue 11): placement of replicated models and their parameters."""
from __future__ import annotations

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.train.device_setter import GreedyLoadBalancingStrategy, byte_size_load_fn

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
