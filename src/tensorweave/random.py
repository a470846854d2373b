"""`tw.random`: the TF1 random namespace (`tw.random.normal`, `tw.random.set_random_seed`, ...)."""
from __future__ import annotations
