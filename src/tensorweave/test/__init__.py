"""`tw.test`: testing helpers of the TF1 `tf.test` namespace (gradient checking, ...)."""
from __future__ import annotations

from .gradient_checker import check_gradients, compute_gradient, compute_gradient_error

__all__ = ["compute_gradient", "compute_gradient_error", "check_gradients", "is_gpu_available",
           "is_built_with_cuda"]


def is_built_with_cuda() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def is_gpu_available(cuda_only: bool = False, min_cuda_compute_capability=None) -> bool:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no cupy, no driver, no device
        return False
