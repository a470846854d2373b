"""Test-suite setup: every test gets a fresh default graph, kernels are output-checked, and
hypothesis runs a bounded, fixed set of examples.

The op tests run on two device types: the CPU and "MARKED" (`tensorweave.test.marked_backend`),
a device whose arrays refuse to mix with host numpy arrays as CuPy's do, so a kernel that
computes with numpy instead of its backend's array module fails there.  A test of those modules
runs once per device type (`[CPU]`, `[MARKED]`); `tw.Session()` without an explicit config
uses that device.
"""
from __future__ import annotations

import os

os.environ.setdefault("TENSORWEAVE_CHECK_KERNELS", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# derandomized, without an example database: every run (a developer's, CI's) draws the same
# examples, so a kink of a piecewise function that one seed happens to hit cannot fail one run
# in N (a hypothesis failure is then reproducible by anyone)
settings.register_profile("tw", max_examples=25, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("tw")


#: the single-device op test modules, run on every device type of `DEVICE_TYPES`
OP_TEST_MODULES = {
    "test_array_grad", "test_array_indexing", "test_array_ops", "test_clip_ops",
    "test_control_flow", "test_conv_ops", "test_ctc", "test_init_ops", "test_learning_rate",
    "test_lstm_ops", "test_math_ops", "test_nn_ops", "test_optimizers", "test_random_ops",
    "test_rnn", "test_rnn_cells", "test_sparse", "test_tensor_array", "test_variables",
}
DEVICE_TYPES = ["CPU", "MARKED"]
#: tests of those modules that are about the CPU device itself, run on the CPU only
CPU_ONLY = {
    "test_rnn_cells.py::test_residual_and_device_wrappers",   # pins cells to /device:CPU:0
}


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in OP_TEST_MODULES and \
            f"{module}.py::{metafunc.function.__name__}" not in CPU_ONLY:
        metafunc.parametrize("device_type", DEVICE_TYPES, indirect=True)


@pytest.fixture(autouse=True)
def device_type(request, monkeypatch):
    """The device type a test's sessions run on: "CPU", or "MARKED" for the op tests' second
    run (sessions without a config then get `device_count={"CPU": 0, "MARKED": 1}`)."""
    kind = getattr(request, "param", "CPU")
    if kind != "CPU":
        from tensorweave.client.config import ConfigProto
        from tensorweave.test import marked_backend
        marked_backend.install()
        monkeypatch.setitem(ConfigProto._fields, "device_count", lambda: {"CPU": 0, kind: 1})
    return kind


@pytest.fixture(autouse=True)
def _fresh_graph():
    import tensorweave as tw
    tw.reset_default_graph()
    yield
    tw.reset_default_graph()


@pytest.fixture(scope="session", autouse=True)
def _no_shared_memory_left_behind():
    """After the whole suite, no tw-* segment of this process or of a dead one remains."""
    from tensorweave.runtime import shm
    yield
    shm._close_all_arenas()
    import psutil
    left = [n for n in shm.segment_files()
            if int(n.split("-")[1]) == os.getpid() or not psutil.pid_exists(int(n.split("-")[1]))]
    assert not left, f"shared-memory segments left in /dev/shm: {left}"


@pytest.fixture
def raw_push():
    """`connect(endpoint, kind=zmq.PUSH)`: a bare socket connected to an endpoint, to send
    hand-made messages; all closed at teardown."""
    import zmq
    ctx = zmq.Context()
    socks = []

    def connect(endpoint, kind=zmq.PUSH):
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        socks.append(s)
        return s

    yield connect
    for s in socks:
        s.close(0)
    ctx.term()
