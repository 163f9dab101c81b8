"""Where the scripted learner's speech comes from: one channel of a corpus dialogue.

Owns :func:`speech_source`: the dialogue the partner replays (or the dialogue shipped in
the package when the partner is not a replay), the learner's channel of it cut into
utterances and backchannels, and the unit inventory facts the spaces need (``n_units``,
which units mean silence). Must not touch the simulator or the partner agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from duplexsim.config.scenario import Scenario
from duplexsim.envs.actions import UtteranceBank
from duplexsim.sides import other
from duplexsim.tokens import DEFAULT_N_UNITS

DEFAULT_SILENCE_UNIT = 0  # duplexsim.tokens.SyncFormat.silence_unit


@dataclass(frozen=True)
class SpeechSource:
    """The learner's speech material and the unit inventory it is written in."""

    bank: UtteranceBank
    n_units: int
    silence_units: frozenset[int]
    silence_unit: int
    dialogue_id: str
    corpus: str = ""
    """The corpus folder the dialogue is from; "" for the dialogue shipped in the package."""

    def describe(self) -> str:
        """Where the speech comes from, for messages."""
        if not self.corpus:
            return "the shipped dialogue"
        return f"dialogue {self.dialogue_id!r} of {self.corpus}"


def _dialogue(scenario: Scenario, partner_side: str) -> tuple[Any, Any]:
    """(dialogue, corpus or None) the learner's speech is cut from."""
    from duplexsim import corpora

    cfg = getattr(scenario, partner_side)
    if cfg.kind != "replay" or not cfg.corpus:
        return corpora.default_dialogue(), None
    corpus = corpora.load_corpus(cfg.corpus)
    ids = corpus.ids("test") or corpus.ids()
    dialogue_id = cfg.dialogue or ids[0]
    if dialogue_id not in corpus.ids():
        raise ValueError(f"scenario {partner_side}.dialogue: no dialogue {dialogue_id!r} in "
                         f"{cfg.corpus} (allowed: {', '.join(corpus.ids()[:5])}, ...)")
    return corpus.dialogue(dialogue_id), corpus


def _silence(corpus: Any, dialogue: Any) -> frozenset[int]:
    """The silence units of the corpus tokenizer; for the shipped dialogue, those of its
    tokenizer when it has one, else the token format's silence unit (0)."""
    if corpus is not None:
        return frozenset(int(u) for u in corpus.tokenizer().silence_units)
    units = getattr(dialogue, "silence_units", None)
    return frozenset(int(u) for u in units) if units else frozenset({DEFAULT_SILENCE_UNIT})


def speech_source(scenario: Scenario, learner_side: str) -> SpeechSource:
    """The learner's utterance bank: the channel of the partner's dialogue it does not play."""
    partner_side = other(learner_side)
    dialogue, corpus = _dialogue(scenario, partner_side)
    partner_cfg = getattr(scenario, partner_side)
    partner_channel = partner_cfg.channel if partner_cfg.kind == "replay" else None
    if partner_channel is None:
        partner_channel = 0 if partner_side == "a" else 1
    return dialogue_source(dialogue, corpus, 1 - partner_channel)


def dialogue_source(dialogue: Any, corpus: Any, channel: int) -> SpeechSource:
    """Channel ``channel`` of ``dialogue`` cut into utterances, in ``corpus``'s units (None:
    the shipped dialogue's)."""
    silence_units = _silence(corpus, dialogue)
    silence_unit = min(silence_units) if silence_units else 0
    n_units = int(corpus.n_units) if corpus is not None else DEFAULT_N_UNITS
    units_max = int(dialogue.units.max()) if dialogue.units.size else 0
    if units_max >= n_units:
        raise ValueError(f"dialogue {dialogue.id!r}: unit {units_max} outside the inventory "
                         f"(allowed: 0..{n_units - 1})")
    bank = UtteranceBank.from_dialogue(dialogue, channel, silence_units, silence_unit)
    return SpeechSource(bank, n_units, silence_units, silence_unit, str(dialogue.id),
                        str(corpus.root) if corpus is not None else "")
