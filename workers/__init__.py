"""The worker-process program (`python -m workers`).

Each worker serves one device.  Until the runtime issue lands, the program only starts, binds a
ZeroMQ REP socket and answers `ping` requests (msgpack maps), so the packaging and the process
plumbing can be tested.
"""
