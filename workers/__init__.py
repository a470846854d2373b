"""The worker-process program (`python -m workers`).

Each worker process serves one device: it compiles the partitions a master registers, runs one
`run_graph` per step, exchanges tensors with its peers directly and returns the fetches
(`service.py`; the command line is in `__main__.py`).
"""
