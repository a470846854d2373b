"""random ops (definitions and wrappers) -- filled in by the random op family."""
from __future__ import annotations

__all__: list = []
