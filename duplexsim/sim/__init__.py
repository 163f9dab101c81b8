"""The simulator: two agents talking across a simulated network, in integer milliseconds.

Owns SimPy time, chunk clocks (:mod:`.clock`), delay/jitter (:mod:`.delay`) and loss
(:mod:`.loss`) models, links and topology paths (:mod:`.link`), the receive buffer
(:mod:`.buffer`), building agents and compute models (:mod:`.build`), the session
(:mod:`.session`) with its speakers (:mod:`.speaker`) and the delivery of their chunks
(:mod:`.delivery`), the trace (:mod:`.trace`) and ``duplexsim simulate`` (:mod:`.cli`).
Must not know how agents think: it only uses :class:`duplexsim.agents.base.Agent`.
"""

from duplexsim.sim.session import Session, run
from duplexsim.sim.trace import Trace

__all__ = ["Session", "Trace", "run"]
