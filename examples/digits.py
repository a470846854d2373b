"""The 8x8 handwritten digits shipped with tensorweave (`src/runner/data/digits/README.md`)."""
from runner.datasets import load_digits as load

__all__ = ["load"]
