"""The placement pass: explicit and partial requests, colocation groups, kernel availability and
soft placement, the cost-based choice, explanations, determinism and validation."""
import re

import numpy as np
import pytest

import tensorweave as tw
from tensorweave import kernels
from tensorweave.compiler.prune import prune_ops
from tensorweave.compiler.placer import Placement, place, tensor_bytes, validate
from tensorweave.runtime.devices import make_device

LOCAL = "/job:localhost/replica:0/task:0"
CPU0, CPU1 = f"{LOCAL}/device:CPU:0", f"{LOCAL}/device:CPU:1"
GPU0 = f"{LOCAL}/device:GPU:0"
TWO_CPUS = [make_device("CPU", 0), make_device("CPU", 1)]
NO_GPU_KERNEL = "SparseSoftmaxCrossEntropyWithLogits"


def _ops():
    return tw.get_default_graph().get_operations()


def _place(devices=TWO_CPUS, default=CPU0, **kw) -> Placement:
    return place(_ops(), devices, default_device=default, **kw)


@pytest.fixture
def gpu():
    """A fake GPU backend: the CPU kernel table without SparseSoftmaxCrossEntropyWithLogits."""
    table = {k: f for k, f in kernels.get_backend("CPU").kernels.items() if k != NO_GPU_KERNEL}
    cpu = kernels.get_backend("CPU")
    kernels.register_backend("GPU", table, priority=1, array_module=np, allocator=cpu.allocator)
    try:
        yield make_device("GPU", 0, memory_limit_bytes=1 << 30)
    finally:
        kernels._BACKENDS.pop("GPU", None)


def _cluster():
    """localhost CPU:0/CPU:1, two ps tasks and a worker task."""
    return TWO_CPUS + [make_device("CPU", 0, job_prefix="/job:ps/task:0"),
                       make_device("CPU", 0, job_prefix="/job:ps/task:1"),
                       make_device("CPU", 0, job_prefix="/job:worker/task:0")]


# --- explicit requests -----------------------------------------------------------------------
def test_full_and_partial_device_specs():
    with tw.device("/cpu:1"):
        tw.constant(1.0, name="a")
    with tw.device("/job:ps/task:1"):
        tw.constant(2.0, name="b")
    with tw.device("/device:CPU:0"):
        tw.constant(3.0, name="c")
    with tw.device("/job:worker/replica:0/task:0/device:CPU:0"):
        tw.constant(4.0, name="d")
    p = _place(_cluster())
    assert p.device_of["a"] == CPU1
    assert p.device_of["b"] == "/job:ps/replica:0/task:1/device:CPU:0"
    # /device:CPU:0 matches four devices: no inputs, no consumers -> the default one
    assert p.device_of["c"] == CPU0
    assert p.device_of["d"] == "/job:worker/replica:0/task:0/device:CPU:0"
    assert p.explain("a") == (f"a (Const) on {CPU1}: explicitly requested /device:CPU:1")
    assert "explicitly requested /job:ps/task:1" in p.explain("b")
    assert "4 matching devices" in p.explain("c") and "default device" in p.explain("c")


def test_partial_spec_matching_several_devices_is_chosen_by_cost():
    with tw.device("/job:ps/task:1"):
        big = tw.ones([256, 256], name="big")
    with tw.device("/job:ps"):
        tw.square(big, name="y")
    p = _place(_cluster())
    assert p.device_of["y"] == "/job:ps/replica:0/task:1/device:CPU:0"
    assert "explicitly requested /job:ps (2 matching devices" in p.explain("y")
    assert "cost: 262144 of its 262144 input bytes" in p.explain("y")


def test_nested_device_scopes_and_device_functions():
    with tw.device("/job:ps"):
        with tw.device("/task:1"):
            tw.constant(1.0, name="a")
        with tw.device("/job:worker/task:0"):
            tw.constant(1.0, name="b")
    with tw.device("/cpu:1"):
        with tw.device(None):
            tw.constant(1.0, name="c")

    def matmuls_on_cpu1(op):
        return "/cpu:1" if op.type == "MatMul" else "/cpu:0"

    with tw.device(matmuls_on_cpu1):
        x = tw.ones([4, 4], name="x")
        tw.matmul(x, x, name="m")
    p = _place(_cluster())
    assert p.device_of["a"] == "/job:ps/replica:0/task:1/device:CPU:0"
    assert p.device_of["b"] == "/job:worker/replica:0/task:0/device:CPU:0"
    assert p.device_of["c"] == CPU0               # device(None) cleared the scope: default
    assert p.device_of["m"] == CPU1 and p.device_of["x"] == CPU0


# --- colocation ------------------------------------------------------------------------------
def test_colocate_with_follows_the_anchor():
    with tw.device("/cpu:1"):
        a = tw.ones([3], name="a")
    with tw.colocate_with(a):
        b = tw.constant([1.0, 2.0, 3.0], name="b")
        s = tw.add(a, b, name="s")
    p = _place()
    assert p.device_of["b"] == p.device_of["s"] == CPU1
    assert p.explain("s").startswith(f"s ({s.op.type}) on {CPU1}: colocated with a (group of a, ")
    assert set(p.groups["s"]) == {"a", "b", "s"}


def _momentum_model():
    x = tw.placeholder(tw.float32, [None, 4], name="x")
    with tw.device("/cpu:1"):
        w = tw.Variable(tw.zeros([4, 3]), name="w")
        b = tw.Variable(tw.zeros([3]), name="b")
    y = tw.matmul(x, w) + b
    loss = tw.reduce_sum(y * y, name="loss")
    train = tw.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    return x, w, loss, train


def test_variables_reads_assigns_slots_and_updates_live_together():
    _, w, _, train = _momentum_model()
    p = _place()
    group = ["w", "w/read", "w/Assign", "w/Momentum", "w/Momentum/read", "w/Momentum/Assign",
             "Momentum/update_w/ApplyMomentum"]
    for name in group:
        assert p.device_of[name] == CPU1, (name, p.explain(name))
    assert set(group) <= set(p.groups["w/read"])
    assert p.explain("Momentum/update_w/ApplyMomentum").startswith(
        f"Momentum/update_w/ApplyMomentum (ApplyMomentum) on {CPU1}: colocated with w (group of "
        "w, w/Assign, w/read, ")
    assert "explicitly requested /device:CPU:1" in p.explain("w")
    # the grouping NoOp waits only for ops on CPU:1, so it goes there too
    assert p.device_of[train.name] == CPU1
    assert "the ops it waits for" in p.explain(train.name)
    validate(p, _ops())


def test_a_variable_outside_the_step_still_binds_its_writers():
    """The session prunes a variable reached only by reference; its device still counts."""
    with tw.device("/cpu:1"):
        v = tw.Variable(1.0, name="v")
    a = tw.assign(v, 3.0, name="a")          # no device request, no colocation scope
    step = prune_ops([], [a.op])
    assert "v" not in [op.name for op in step]
    p = place(step, TWO_CPUS, default_device=CPU0)
    assert p.device_of["a"] == CPU1
    assert "colocated with v (group of v, a)" in p.explain("a")


def test_unconstrained_variable_takes_the_default_device_in_every_step():
    with tw.device("/cpu:1"):
        init = tw.ones([64, 64], name="init")
    v = tw.Variable(init, name="v")
    y = tw.reduce_sum(v, name="y")
    init_step = prune_ops([], [v.initializer])
    read_step = prune_ops([y], [])
    p1 = place(init_step, TWO_CPUS, default_device=CPU0)
    p2 = place(read_step, TWO_CPUS, default_device=CPU0)
    assert p1.device_of["v/Assign"] == p2.device_of["v/read"] == CPU0
    assert "holds variable v" in p1.explain("v/Assign")


def test_gradients_colocated_with_their_ops():
    x = tw.ones([8, 4], name="x")
    with tw.device("/cpu:1"):
        w = tw.Variable(tw.ones([4, 2]), name="w")
        h = tw.matmul(x, w, name="h")
    loss = tw.reduce_sum(h, name="loss")
    (g,) = tw.gradients(loss, [w], colocate_gradients_with_ops=True)
    p = _place()
    assert g.op.name.startswith("gradients/h_grad/")
    assert p.device_of[g.op.name] == CPU1
    assert p.explain(g.op.name).startswith(f"{g.op.name} (MatMul) on {CPU1}: colocated with h")
    grad_ops = [op.name for op in _ops() if op.name.startswith("gradients/loss_grad/")]
    assert grad_ops and all("colocated with loss" in p.explain(n) for n in grad_ops)


def test_while_loop_goes_with_the_variable_its_body_assigns():
    with tw.device("/cpu:1"):
        v = tw.Variable(1.0, name="v")

    def body(i):
        with tw.control_dependencies([tw.assign_add(v, 1.0)]):
            return i + 1

    loop = tw.while_loop(lambda i: i < 3, body, [tw.constant(0)])
    step = prune_ops([loop], [])
    p = place(step, TWO_CPUS, default_device=CPU0)
    assert p.device_of[loop.op.name] == CPU1
    assert "colocated with v" in p.explain(loop.op.name)


def test_clashing_requests_name_both_nodes_and_devices():
    with tw.device("/cpu:0"):
        a = tw.constant(1.0, name="a")
    with tw.colocate_with(a), tw.device("/cpu:1"):
        tw.identity(a, name="b")
    with pytest.raises(tw.errors.InvalidArgumentError) as e:
        _place()
    msg = str(e.value)
    assert "Cannot colocate nodes 'a' and 'b'" in msg
    assert "incompatible ids" in msg
    assert "'/device:CPU:0' (requested by 'a'" in msg and "'/device:CPU:1' (requested by 'b'" in msg
    # soft placement drops the clashing index and keeps them together
    p = _place(allow_soft_placement=True)
    assert p.device_of["a"] == p.device_of["b"]
    assert "clash in ids; soft placement ignores both" in p.explain("b")


def test_job_clash_is_an_error_even_with_soft_placement():
    with tw.device("/job:ps/task:0"):
        a = tw.constant(1.0, name="a")
    with tw.colocate_with(a), tw.device("/job:worker"):
        tw.identity(a, name="b")
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"incompatible jobs: '/job:ps/task:0"
                       r"' \(requested by 'a'.*'/job:worker/task:0' \(requested by 'b'"):
        _place(_cluster(), allow_soft_placement=True)


# --- kernels and soft placement ----------------------------------------------------------------
def test_missing_gpu_without_and_with_soft_placement():
    with tw.device("/gpu:0"):
        tw.square(tw.ones([3]), name="sq")
    with pytest.raises(tw.errors.InvalidArgumentError) as e:
        _place()
    msg = str(e.value)
    # the first node of the step that cannot go there is named, with where it was created
    assert msg.startswith("Cannot assign a device for operation ones (Const, defined at ")
    assert "test_placer.py" in msg
    assert ("was explicitly assigned to /device:GPU:0 but available devices are "
            f"[ {CPU0}, {CPU1} ]") in msg
    assert "allow_soft_placement=True" in msg
    p = _place(allow_soft_placement=True)
    assert p.device_of["sq"] == CPU0
    assert p.explain("sq").startswith(
        f"sq (Square) on {CPU0}: soft placement: no available device matches '/device:GPU:0', "
        f"fell back to {CPU0}")


def test_missing_device_index_and_task_fall_back_within_the_job():
    with tw.device("/cpu:7"):
        tw.constant(1.0, name="a")
    with tw.device("/job:ps/task:5"):
        tw.constant(1.0, name="b")
    p = _place(_cluster(), allow_soft_placement=True)
    assert p.device_of["a"] in (CPU0, CPU1)
    assert p.device_of["b"].startswith("/job:ps/")


def test_op_without_gpu_kernel(gpu):
    devices = TWO_CPUS + [gpu]
    with tw.device("/gpu:0"):
        logits = tw.ones([8, 10], name="logits")
        labels = tw.zeros([8], tw.int32, name="labels")
        xent = tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        tw.reduce_mean(xent, name="loss")
    name = xent.op.name
    with pytest.raises(tw.errors.InvalidArgumentError) as e:
        _place(devices)
    msg = str(e.value)
    assert f"Cannot assign a device for operation {name} (" in msg
    assert ("Could not satisfy explicit device specification '/device:GPU:0' because no "
            "supported kernel for GPU devices is available") in msg
    p = _place(devices, allow_soft_placement=True)
    assert p.device_of[name] == CPU0                  # the CPU of the same task (the default)
    assert p.explain(name).startswith(
        f"{name} (SparseSoftmaxCrossEntropyWithLogits) on {CPU0}: soft placement: no GPU kernel "
        f"for SparseSoftmaxCrossEntropyWithLogits, fell back to {CPU0}")
    for other in ("logits", "labels", "loss"):
        assert p.device_of[other] == GPU0
    validate(p, _ops())


def test_unconstrained_heavy_op_prefers_the_gpu(gpu):
    x = tw.ones([256, 256], name="x")
    tw.matmul(x, x, name="m")
    p = _place(TWO_CPUS + [gpu])
    assert p.device_of["m"] == GPU0
    assert "runs fastest on GPU" in p.explain("m")


def test_colocated_group_needs_kernels_for_every_member(gpu):
    with tw.device("/gpu:0"):
        logits = tw.ones([8, 10], name="logits")
    with tw.colocate_with(logits):
        labels = tw.zeros([8], tw.int32, name="labels")
        tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    with pytest.raises(tw.errors.InvalidArgumentError, match="colocation group of logits"):
        _place(TWO_CPUS + [gpu])
    p = _place(TWO_CPUS + [gpu], allow_soft_placement=True)
    assert p.device_of["logits"] == p.device_of["labels"] == CPU0


def test_no_kernel_anywhere_is_an_error_even_with_soft_placement():
    tw.square(tw.ones([2]), name="sq")
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"operation sq \(Square, defined at .*: no available device has a "
                             r"kernel for Square \(Square has kernels for device types \[\]\)"):
        _place(has_kernel=lambda dt, t: t != "Square", allow_soft_placement=True)


# --- the cost-based choice ----------------------------------------------------------------------
def test_add_of_two_big_tensors_on_cpu1_goes_to_cpu1():
    with tw.device("/cpu:1"):
        a = tw.ones([1000, 1000], name="a")
        b = tw.ones([1000, 1000], name="b")
    c = tw.add(a, b, name="c")
    p = _place()
    assert p.device_of["c"] == CPU1
    assert p.explain("c") == (f"c ({c.op.type}) on {CPU1}: cost: 8000000 of its 8000000 input "
                              f"bytes are on {CPU1}")


def test_more_input_bytes_win_and_ties_go_to_the_largest_input():
    with tw.device("/cpu:0"):
        small = tw.ones([10], name="small")
        a0 = tw.ones([100], name="a0")
    with tw.device("/cpu:1"):
        big = tw.ones([1000], name="big")
        a1 = tw.ones([100], name="a1")
    tw.multiply(tw.reduce_sum(small), big, name="m")
    tw.add(a0, a1, name="tie01")
    tw.add(a1, a0, name="tie10")
    p = _place()
    assert p.device_of["m"] == CPU1
    assert "cost: 4000 of its 4004 input bytes" in p.explain("m")
    assert p.device_of["tie01"] == CPU0 and p.device_of["tie10"] == CPU1
    assert "tie broken by the device of its largest input" in p.explain("tie01")


def test_sources_follow_their_consumers_or_take_the_default():
    with tw.device("/cpu:1"):
        x = tw.ones([4], name="x")
    k = tw.constant(2.0, name="k")
    tw.multiply(x, k, name="y")
    shared = tw.constant(1.0, name="shared")
    with tw.device("/cpu:0"):
        tw.add(shared, 1.0, name="u0")
    with tw.device("/cpu:1"):
        tw.add(shared, 1.0, name="u1")
    tw.constant(0.0, name="lonely")
    p = _place()
    assert p.device_of["y"] == CPU1 and p.device_of["k"] == CPU1
    assert p.explain("k") == f"k (Const) on {CPU1}: no inputs; its consumers (y) are on {CPU1}"
    assert p.device_of["shared"] == CPU0
    assert "its consumers are on 2 devices: the default device" in p.explain("shared")
    assert p.device_of["lonely"] == CPU0
    assert "no consumers in this step: the default device" in p.explain("lonely")


def test_unknown_dimensions_count_as_one():
    x = tw.placeholder(tw.float32, [None, 5], name="x")
    assert tensor_bytes(x) == 20
    u = tw.placeholder(tw.float64, None, name="u")
    assert tensor_bytes(u) == 16 * 8


# --- results ---------------------------------------------------------------------------------
def test_placement_is_deterministic():
    def build():
        tw.reset_default_graph()
        _momentum_model()
        with tw.device("/cpu:0"):
            a = tw.ones([100], name="p")
        with tw.device("/cpu:1"):
            b = tw.ones([100], name="q")
        tw.add(a, b, name="r")
        return _place()

    first = build()
    for _ in range(3):
        again = build()
        assert again.device_of == first.device_of
        assert list(again.device_of) == list(first.device_of)
        assert again.reasons == first.reasons


def test_log_lines_have_tf1_format():
    _momentum_model()
    p = _place()
    lines = p.log_lines()
    assert len(lines) == len(_ops())
    pat = re.compile(r"^\S+ \([A-Za-z0-9_]+\): /job:\w+/replica:\d+/task:\d+/device:(CPU|GPU):\d+$")
    assert all(pat.match(line) for line in lines), lines
    assert f"w (VariableV2): {CPU1}" in lines


def test_explain_unknown_op():
    tw.constant(1.0, name="a")
    with pytest.raises(KeyError, match="nope"):
        _place().explain("nope")


def test_single_device_explains_itself():
    tw.constant(1.0, name="a")
    p = _place([TWO_CPUS[0]])
    assert p.explain("a") == f"a (Const) on {CPU0}: the only available device"


def test_bad_devices_and_default():
    tw.constant(1.0, name="a")
    with pytest.raises(ValueError, match="not a full device name"):
        place(_ops(), ["/cpu:0"], default_device="/cpu:0")
    with pytest.raises(ValueError, match="default device '/device:GPU:0' is not one"):
        _place(default="/device:GPU:0")
    # a partial default picks the first device it matches; None the preferred type's first
    assert _place(default="/device:CPU:1").default_device == CPU1
    assert _place(default=None).default_device == CPU0


def test_default_none_prefers_the_gpu(gpu):
    tw.constant(1.0, name="a")
    p = _place(TWO_CPUS + [gpu], default=None)
    assert p.default_device == GPU0 and p.device_of["a"] == GPU0


def test_empty_step():
    p = place([], TWO_CPUS, default_device=CPU0)
    assert p.device_of == {} and p.log_lines() == []


def test_validate_rejects_broken_placements():
    _momentum_model()
    ops = _ops()
    good = _place()

    def broken(**changes):
        device_of = dict(good.device_of, **changes)
        return Placement(device_of, good.devices, good.default_device)

    with pytest.raises(tw.errors.InternalError, match="not an available device"):
        validate(broken(loss="/job:localhost/replica:0/task:0/device:CPU:9"), ops)
    with pytest.raises(tw.errors.InternalError, match="writes variable 'w'"):
        validate(broken(**{"w/Assign": CPU0}), ops)
    with pytest.raises(tw.errors.InternalError, match="share colocation group loc:@w"):
        validate(broken(**{"w/read": CPU0}), ops)
    with pytest.raises(tw.errors.InternalError, match="has no device"):
        validate(Placement({}, good.devices, good.default_device), ops)
    with pytest.raises(tw.errors.InternalError, match="no CPU kernel for Sum"):
        validate(good, ops, has_kernel=lambda dt, t: t != "Sum")


def test_a_soft_placement_explanation_has_no_empty_parentheses():
    with tw.device("/device:GPU:0"):
        tw.constant(1.0, name="on_gpu")
    p = _place(devices=[make_device("CPU", 0)], allow_soft_placement=True)
    why = p.explain("on_gpu")
    assert "fell back to " + CPU0 in why and "()" not in why


# --- gradients go beside their forward ops ---------------------------------------------------
def test_gradient_nodes_prefer_the_device_of_the_op_they_differentiate():
    """A layer on /cpu:1 whose output is consumed on both devices: without the preference the
    sum of its output's two gradients went by input bytes (a tie: the default /cpu:0), and the
    layer's backward pass with it; with it every gradient node of the layer is on /cpu:1."""
    x = tw.constant(np.ones((64, 32), np.float32), name="x")
    with tw.device("/cpu:1"):
        w = tw.get_variable("w", [32, 32])
        h = tw.tanh(tw.matmul(x, w, name="layer"), name="act")
    with tw.device("/cpu:0"):
        a = tw.reduce_sum(h * 2.0, name="a")
    with tw.device("/cpu:1"):
        b = tw.reduce_sum(h * 3.0, name="b")
    (gw,) = tw.gradients(a + b, [w])
    p = _place()
    g = tw.get_default_graph()
    hinted = [op.name for op in g.get_operations() if op.name in g._placement_hints]
    mine = [n for n in hinted if g._placement_hints[n] in ("act", "layer")]
    assert mine and gw.op.name in mine
    for name in mine:
        assert p.device_of[name] == CPU1, (name, p.explain(name))
    assert "the op it is the gradient of" in p.explain(gw.op.name)
    # the gradients of the ops on /cpu:0 stay there
    assert p.device_of[f"gradients/a_grad/{_grad_node(g, 'a_grad')}"] == CPU0


def _grad_node(g, scope):
    return next(op.name.split("/")[-1] for op in g.get_operations()
                if op.name.startswith(f"gradients/{scope}/"))


def test_the_gradient_sum_of_a_variable_read_on_a_worker_stays_on_the_worker():
    """A variable on the ps read by several ops on a worker: its gradients are summed where
    they are (by cost), not beside the variable's read, which would send every part to the ps."""
    devices = _cluster()
    with tw.device("/job:ps/task:0"):
        w = tw.get_variable("w", [64, 64])
    with tw.device("/job:worker/task:0"):
        x = tw.ones([8, 64])
        loss = tw.add_n([tw.reduce_sum(tw.matmul(x * float(k), w)) for k in range(4)])
    (g,) = tw.gradients(loss, [w])
    p = _place(devices)
    assert g.op.type == "AddN"
    assert p.device_of[g.op.name] == "/job:worker/replica:0/task:0/device:CPU:0", \
        p.explain(g.op.name)
