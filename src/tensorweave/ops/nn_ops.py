"""nn ops (definitions and wrappers) -- filled in by the nn op family."""
from __future__ import annotations

__all__: list = []
