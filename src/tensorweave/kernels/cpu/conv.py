"""CPU kernels: convolution and pooling (filled in by the nn op family)."""
from __future__ import annotations

__all__ = ["KERNELS"]

KERNELS: dict = {}
