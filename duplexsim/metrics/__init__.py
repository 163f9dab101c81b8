"""Evaluation: turn-taking events, the paper's correlation protocol, estimation accuracy,
latency metrics, semantic proxies and sweep reports.

Metrics are pure functions of unit streams, audio and traces; they never run the
simulator or train models. Submodules are imported on demand (``report`` pulls matplotlib).
"""
