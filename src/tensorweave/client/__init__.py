"""The client API: `Session`, `InteractiveSession` and their configuration messages;
`step_stats_summary` of a traced step."""
from .step_stats import DeviceSummary, step_stats_summary  # noqa: F401
