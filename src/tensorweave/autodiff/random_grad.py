"""Gradients of random ops (filled in by the random op family)."""
from __future__ import annotations
