"""CPU kernels: training ops (filled in by the training op family)."""
from __future__ import annotations

__all__ = ["KERNELS"]

KERNELS: dict = {}
