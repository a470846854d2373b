"""init ops (definitions and wrappers) -- filled in by the init op family."""
from __future__ import annotations

__all__: list = []
