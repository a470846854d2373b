"""Test-suite setup: every test gets a fresh default graph, kernels are output-checked, and
hypothesis runs a bounded number of examples."""
from __future__ import annotations

import os

os.environ.setdefault("TENSORWEAVE_CHECK_KERNELS", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("tw", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("tw")


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
