"""`tw.initializers`: the TF1 initializer namespace (`tw.initializers.glorot_uniform`, ...)."""
from __future__ import annotations
