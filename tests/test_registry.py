"""The op tables agree: every registered op has a CPU kernel and a gradient entry; every
backend's kernels are for registered ops (a backend may cover part of the op set)."""
import tensorweave as tw  # noqa: F401 - registers every op family
from tensorweave.autodiff.registry import registered_gradients
from tensorweave.framework.op_registry import registered_ops
from tensorweave.kernels import backends

NO_KERNEL = {"Placeholder", "Const"}          # fed / folded by the executor, never run
TEST_ONLY_PREFIX = "Test"                      # ops registered by the test suite itself
# Ops whose gradient is deliberately missing, so tw.gradients raises LookupError naming them
# (second derivatives of fused gradient ops; the gamma sampler's implicit gradient).
NO_GRADIENT_YET = {"FusedBatchNormGradV3", "LRNGrad", "SoftsignGrad", "RandomGamma",
                   "SegmentProd", "TruncateMod",  # (these have none in TF1 either)
                   "BlockLSTMGrad", "LSTMBlockCellGrad"}


def _ops():
    return {k: v for k, v in registered_ops().items() if not k.startswith(TEST_ONLY_PREFIX)}


def test_every_op_has_a_cpu_kernel():
    cpu = backends()["CPU"].kernels
    missing = sorted(k for k in _ops() if k not in cpu and k not in NO_KERNEL)
    assert not missing, f"ops without a CPU kernel: {missing}"


def test_every_backend_has_kernels_for_registered_ops_only_and_callable_factories():
    from tensorweave.test import marked_backend
    marked_backend.install()   # (a second backend, so this checks more than the CPU's table)
    ops = registered_ops()
    tables = backends()
    assert {"CPU", "MARKED"} <= set(tables)
    for name, backend in tables.items():
        stray = sorted(k for k in backend.kernels if k not in ops)
        assert not stray, f"{name} kernels for unregistered ops: {stray}"
        bad = sorted(k for k, f in backend.kernels.items() if not callable(f))
        assert not bad, f"{name} kernel table entries that are not factories: {bad}"


def test_every_op_has_a_gradient_entry():
    grads = registered_gradients()
    missing = sorted(k for k in _ops() if k not in grads and k not in NO_GRADIENT_YET)
    assert not missing, ("ops with neither a gradient nor NoGradient (tw.gradients would raise "
                         f"LookupError): {missing}")


def test_missing_gradient_raises_lookup_error_naming_the_node():
    import pytest
    from tensorweave.framework.op_registry import register_op
    from tensorweave.ops.op_util import op1, unchanged_shape
    if "TestNoGradOp" not in registered_ops():
        register_op("TestNoGradOp")(unchanged_shape)
    x = tw.placeholder(tw.float32, [2])
    y = op1("TestNoGradOp", [x], None, "mystery")
    with pytest.raises(LookupError, match="No gradient defined for operation 'mystery' "
                                          r"\(op type: TestNoGradOp\)"):
        tw.gradients(tw.reduce_sum(y), x)


def test_unconnected_inputs_get_none_and_zero_option():
    x = tw.placeholder(tw.float32, [2])
    z = tw.placeholder(tw.float32, [2])
    y = tw.reduce_sum(x * 2.0)
    gx, gz = tw.gradients(y, [x, z])
    assert gz is None and gx is not None
    gz0 = tw.gradients(y, [z], unconnected_gradients="zero")[0]
    with tw.Session() as s:
        assert list(s.run(gz0, {z: [1.0, 2.0]})) == [0.0, 0.0]


def test_stop_gradients_and_grad_ys():
    import numpy as np
    x = tw.placeholder(tw.float64, [3])
    a = x * 2.0
    b = a * x  # 2 x^2
    g_stop = tw.gradients(b, x, stop_gradients=[a])[0]   # d/dx (a * x) with a constant = a
    g_ys = tw.gradients(b, x, grad_ys=tw.constant([1.0, 0.0, 2.0], tw.float64))[0]
    xv = np.array([1.0, 2.0, 3.0])
    with tw.Session() as s:
        np.testing.assert_allclose(s.run(g_stop, {x: xv}), 2 * xv)
        np.testing.assert_allclose(s.run(g_ys, {x: xv}), 4 * xv * [1.0, 0.0, 2.0])
