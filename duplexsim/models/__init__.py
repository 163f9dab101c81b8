"""The SyncLLM model and how it generates; must not know about the network or time.

- :mod:`.model`, :mod:`.vocab`, :mod:`.agentdir`: the HF Llama (training and checkpoint
  format), its vocabulary, a trained agent directory;
- :mod:`.lean`: the inference forward over the same weights (HF's is the fallback);
- :mod:`.rows`: token rows of one model with their KV caches, batched next-token logits;
- :mod:`.sampling`: sampling settings, counter-based random streams, the batched sampler;
- :mod:`.engine`: generation as programs that ask for tokens, driven alone or in lock step;
- :mod:`.generator`: the per-chunk step API (``reset()`` / ``step()``), the one chunk loop;
- :mod:`.continuation`: continuation mode (the model speaks for both sides).
"""
