"""Training: the three-stage SyncLLM recipe and the TDM recipe, from corpus dialogues to an
agent directory.

- :mod:`.recipe`: the stages in order, each recipe's data and the agent directory;
- :mod:`.trainer`: the optimisation loop, validation, ``keep_best`` and checkpointing;
- :mod:`.datasets`: each stage's batches, pure functions of ``(seed, stage, step, micro,
  rank)``; :mod:`.tdm`: the TDM agent's slice windows and synthetic barge-ins;
- :mod:`.checkpoints`: the checkpoint file (atomic save, checked load, exact resume);
- :mod:`.guards`: ``--max-minutes`` and the non-finite stop; :mod:`.distributed`: DDP ranks;
- :mod:`.logs`: ``train_log.csv`` / ``.json`` and ``loss.png``; :mod:`.cli`: ``duplexsim train``.

Must not touch the simulator, the agents or the envs: it writes the agent directories they
load (``docs/interfaces.md``).
"""
