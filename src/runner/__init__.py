"""`python -m runner`: the tensorweave command line (demo, benchmarks, device listing)."""
