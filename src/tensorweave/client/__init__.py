"""The client API: `Session`, `InteractiveSession` and their configuration messages."""
