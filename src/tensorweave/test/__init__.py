"""`tw.test`: testing helpers of the TF1 `tf.test` namespace (gradient checking, ...)."""
from __future__ import annotations

from ..train.server_lib import create_local_cluster as _create
from .gradient_checker import check_gradients, compute_gradient, compute_gradient_error
from .test_ops import barrier, hold_interpreter, sleep

__all__ = ["compute_gradient", "compute_gradient_error", "check_gradients", "is_gpu_available",
           "is_built_with_cuda", "sleep", "barrier", "hold_interpreter",
           "create_local_cluster"]


def create_local_cluster(num_workers: int, num_ps: int, protocol: str = "grpc",
                         worker_config=None, ps_config=None):
    """TF1 `tf.test.create_local_cluster`: start `num_workers` worker and `num_ps` ps tasks on
    random loopback ports, each a worker process; returns (worker servers, ps servers)."""
    return _create(num_workers, num_ps, protocol, worker_config, ps_config)


def is_built_with_cuda() -> bool:
    try:
        import cupy  # noqa: F401 - an optional dependency, probed when asked
    except ImportError:
        return False
    return True


def is_gpu_available(cuda_only: bool = False, min_cuda_compute_capability=None) -> bool:
    try:
        import cupy  # an optional dependency, probed when asked
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no cupy, no driver, no device
        return False
