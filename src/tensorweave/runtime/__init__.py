"""The runtime: the in-process executor, and the multi-process machinery (wire format, shared
memory, rendezvous, transport, control plane, master, device discovery)."""
