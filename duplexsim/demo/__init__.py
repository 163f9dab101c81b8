"""``duplexsim demo``: the whole mission end to end on embedded defaults.

Stages (each reuses what an earlier run made from the same inputs, so a second run is
quick; made from other inputs, it is rebuilt where that loses nothing and refused where it
would):

1. build small fisher-like and candor-like synthetic corpora (the first one trains the
   shared unit tokenizer, the second reuses it; ``corpus build`` resumes a corpus of the
   same parameters and refuses one of others);
2. train the Fisher agent and the CANDOR agent from ``agents/*.toml``: each card's step
   counts are the budget (sized to fit the demo's time on a 2-core machine, see
   ``docs/results/training.md``), the two run side by side as two 1-thread processes; an
   agent already trained from the same card is reused, one trained from another card is a
   one-line error (retraining would delete it);
3. simulate the Fisher agent (A) talking to the CANDOR agent (B) at 200 ms chunks over the
   ``continental`` preset and over ``satellite-geo`` (high latency); a conversation is
   reused while its scenario file, seed, length and both agents' files are the same
   (``inputs.json`` beside it), else simulated anew;
4. write a metrics table and plots beside the traces and stereo WAVs; print where it all is.

Every stage goes through the same CLI a user would type, so the demo is also a record of
the commands (printed before each stage). The command line and the order of the stages
are :mod:`duplexsim.demo.cli`; the stages, :mod:`duplexsim.demo.stages`; the plan and its
reuse checks, :mod:`duplexsim.demo.plan`; the processes it starts,
:mod:`duplexsim.demo.processes`; the report, :mod:`duplexsim.demo.report`.
"""

from __future__ import annotations

from duplexsim.demo.cli import add_arguments, demo_args, plan_from_args, run
from duplexsim.demo.plan import AGENTS, DemoPlan, first_difference
from duplexsim.demo.stages import (
    build_corpora,
    check_cards,
    check_scenarios,
    demo_n_units,
    simulate,
    train_agents,
    train_argv,
)

__all__ = ["AGENTS", "DemoPlan", "add_arguments", "build_corpora", "check_cards",
           "check_scenarios", "demo_args", "demo_n_units", "first_difference", "plan_from_args",
           "run", "simulate", "train_agents", "train_argv"]
