"""Agents: the protocol (:mod:`.base`), the SyncLLM agent (estimate-then-speak),
corpus replay and scripted partners. Agents know nothing of the network: the
simulator decides when they are called and what has arrived.
"""

from duplexsim.agents.base import Agent, ChunkReport

__all__ = ["Agent", "ChunkReport", "load"]


def load(path, **kwargs):  # noqa: ANN001, ANN201 - typed in duplexsim.agents.syncllm
    """Load a trained SyncLLM agent directory (written by ``duplexsim train``)."""
    from duplexsim.agents.syncllm import load_agent

    return load_agent(path, **kwargs)
