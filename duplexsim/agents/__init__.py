"""Agents: the protocol (:mod:`.base`), the SyncLLM agent (estimate-then-speak), the TDM
agent (time slices with ``<idle>``, :mod:`.tdm`), corpus replay and scripted partners.
Agents know nothing of the network: the simulator decides when they are called and what
has arrived.
"""

from duplexsim.agents.base import Agent, ChunkReport

__all__ = ["Agent", "ChunkReport", "load"]


def load(path, lead_chunks=None, **kwargs):  # noqa: ANN001, ANN201 - typed in the loaders
    """Load a trained agent directory (written by ``duplexsim train``) as the agent of its
    kind: :func:`duplexsim.agents.syncllm.load_agent` or
    :func:`duplexsim.agents.tdm.load_tdm_agent` (keyword arguments go to that loader;
    ``lead_chunks``, the scenario's decision lead, only to a TDM agent, which needs it)."""
    from duplexsim.models.agentdir import agent_kind, read_agent_json

    if agent_kind(read_agent_json(path)) == "tdm":
        from duplexsim.agents.tdm import load_tdm_agent

        if lead_chunks is not None:
            kwargs["lead_chunks"] = lead_chunks
        return load_tdm_agent(path, **kwargs)
    from duplexsim.agents.syncllm import load_agent

    return load_agent(path, **kwargs)
