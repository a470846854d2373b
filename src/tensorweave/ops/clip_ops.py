"""clip ops (definitions and wrappers) -- filled in by the clip op family."""
from __future__ import annotations

__all__: list = []
