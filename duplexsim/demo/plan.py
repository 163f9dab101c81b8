"""The ``duplexsim demo``'s plan: its sizes, where each thing goes, and what can be reused.

:class:`DemoPlan` holds the demo's settings and paths; :meth:`DemoPlan.trained` says whether
an agent an earlier run left is the one this plan would train (reused), still to train
(none, or a time guard stopped it), or one that training would have to delete (a one-line
error naming the difference). Must not run any stage: :mod:`duplexsim.demo.stages` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from duplexsim.errors import InputError

AGENTS = (("fisher", "fisher-like"), ("candor", "candor-like"))
"""The demo's agents and the corpus preset each is trained on."""


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of the demo; the defaults keep a cold run under ~45 minutes on 2 cores."""

    root: Path = Path("runs")
    out: Path = Path("runs/demo")
    corpus_hours: float = 4.0
    """Data the small agents do not overfit within 1500 stage-3 steps (the cards train 1000):
    on 0.5 h validation loss rose after ~200 steps, on 2 h (Fisher) after ~750; on 4 h it
    still falls at 1500 (2.76, against 3.22 at best on 2 h)."""
    conversation_s: float = 120.0
    cards: Path = Path("agents")
    """Folder of the agent cards ``fisher.toml`` and ``candor.toml``: their steps are the
    training budget (no wall-clock plan: the same seed gives the same agents anywhere)."""
    train_side_by_side: bool = True
    """Train the two agents as two 1-thread processes at once (measured faster on 2 cores
    than one after the other: docs/results/training.md)."""
    train_max_minutes: float | None = None
    """Optional guard passed to ``duplexsim train --max-minutes`` (stops at a step boundary
    and says so in agent.json); none by default."""
    sim_seconds: float = 60.0
    seed: int = 0
    scenarios: tuple[str, ...] = (
        "scenarios/fisher-candor-200ms.toml",
        "scenarios/fisher-candor-satellite-geo.toml",
    )

    @property
    def units_dir(self) -> Path:
        return self.root / "units"

    def corpus_dir(self, preset: str) -> Path:
        return self.root / "corpora" / preset

    def agent_dir(self, name: str) -> Path:
        return self.root / "agents" / name

    def card(self, name: str) -> Path:
        return self.cards / f"{name}.toml"

    def trained(self, name: str) -> bool:
        """Is agent ``name`` trained already from its card (reused, not trained again)? One
        trained from another card is an :class:`~duplexsim.errors.InputError` naming the
        first setting that differs, and so is one trained on another corpus than the one in
        its corpus folder now (rebuilt there with other parameters; judged once that folder
        has a manifest, and only for agents that recorded ``corpus_digest``; or with another
        unit tokenizer than the corpus's, which its manifest need not show), and so is one
        whose corpus the plan's ``corpus_hours`` would resize (checked before the corpora are
        built); one a time guard stopped is not trained yet (its checkpoint resumes)."""
        from duplexsim.config.card import card_with_defaults, load_card
        from duplexsim.digests import CORPUS_FILES, directory_digest
        from duplexsim.models.agentdir import read_agent_json

        if not (self.agent_dir(name) / "agent.json").exists():
            return False
        info = read_agent_json(self.agent_dir(name))
        # as JSON values, and an older agent's card with the keys added since at their
        # defaults (as a resumed training run compares them)
        was, card = (json.loads(json.dumps(c)) for c in (
            card_with_defaults(info.get("card")), load_card(self.card(name)).to_dict()))
        changed = first_difference(was, card)
        if changed is not None:
            key, was, now = changed
            raise InputError(str(self.agent_dir(name)), f"card.{key}",
                             f"trained with {was!r}, but {self.card(name)} says {now!r}",
                             "delete the folder to train it anew from the card, or another "
                             "--root")
        corpus = self.corpus_dir(dict(AGENTS)[name])
        recorded = info.get("corpus_digest")
        if recorded and (corpus / "manifest.json").is_file() and \
                recorded != directory_digest(corpus, CORPUS_FILES):
            raise InputError(str(self.agent_dir(name)), "corpus_digest",
                             f"trained on another corpus than {corpus} holds now (its "
                             "manifest.json differs: rebuilt with other --corpus-hours, "
                             "--conversation-s or --seed?)",
                             "delete the agent folder to train it anew on this corpus, the "
                             "demo's earlier settings, or another --root")
        if (corpus / "manifest.json").is_file():
            if recorded:
                self._check_corpus_kept(name, corpus)
            self._check_same_tokenizer(name, corpus)
        # one --train-max-minutes stopped is not: training resumes and finishes it
        return not (info.get("stopped_early")
                    and (self.agent_dir(name) / "checkpoints" / "last.pt").is_file())

    def _check_same_tokenizer(self, name: str, corpus: Path) -> None:
        """Refuse agent ``name`` when the unit tokenizer it was trained with (its
        ``tokenizer/``) is not its corpus's: ``corpus_digest`` covers the manifest only, and
        a corpus rebuilt with another tokenizer can keep its manifest's bytes."""
        from duplexsim.corpora.corpus import check_agent_tokenizer
        from duplexsim.errors import with_note

        try:
            check_agent_tokenizer(corpus, self.agent_dir(name))
        except InputError as e:
            raise with_note(e, "delete the agent folder to train it anew on this corpus, "
                            "or another --root") from None

    def _check_corpus_kept(self, name: str, corpus: Path) -> None:
        """Refuse, before ``corpus build`` runs, a ``--corpus-hours`` that would resize the
        corpus agent ``name`` was trained on: the build extended or shrank it first, and only
        then was the agent refused (its corpus_digest no longer matched)."""
        from duplexsim.config.readers import read_json
        from duplexsim.corpora.build import plan as corpus_plan
        from duplexsim.corpora.config import load_config

        dialogues = read_json(corpus / "manifest.json", what="corpus manifest.json").get(
            "dialogues")
        if not isinstance(dialogues, list):
            return  # not a corpus a build made; ``corpus build`` says what is wrong with it
        built = [d.get("id") if isinstance(d, dict) else None for d in dialogues]
        cfg = load_config(dict(AGENTS)[name], conversation_s=self.conversation_s)
        planned = [e["id"] for e in corpus_plan(cfg, self.corpus_hours, self.seed)]
        if built != planned:
            raise InputError(str(self.agent_dir(name)), "--corpus-hours",
                             f"{self.corpus_hours:g} would resize {corpus} from {len(built)} to "
                             f"{len(planned)} conversations, and this agent was trained on the "
                             f"{len(built)}", "the demo's earlier --corpus-hours, delete the "
                             "agent folder to train it anew on the resized corpus, or another "
                             "--root")


def first_difference(was: object, now: object, key: str = "") -> tuple[str, object, object] | None:
    """The first dotted key at which two JSON values differ: ``(key, was, now)``; None if
    they are equal."""
    if isinstance(was, dict) and isinstance(now, dict):
        for k in sorted(set(was) | set(now)):
            found = first_difference(was.get(k), now.get(k), f"{key}.{k}" if key else k)
            if found is not None:
                return found
        return None
    return None if was == now else (key, was, now)
