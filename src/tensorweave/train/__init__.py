"""`tw.train`: optimizers, checkpoints (Saver) and learning-rate schedules."""
from __future__ import annotations
