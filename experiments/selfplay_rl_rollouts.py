"""The rollouts of ``selfplay_rl.py`` and their rewards: self-play conversations with every
own chunk the agent generates recorded as a :class:`Decision`, each decision's reward
(overlap, mutual silence, listener onsets, quick floor transfers), discounted returns, the
multipliers' dual-ascent step and the rollouts' statistics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duplexsim.metrics.activity import vad_from_units
from duplexsim.metrics.turntaking import event_columns, listener_onset_frames
from duplexsim.sides import SIDES
from duplexsim.tokens import FRAME_MS

import numpy as np
from continuation_stats import Scored  # one dialogue's events, computed once
from selfplay_plan import Plan, scenarios
from selfplay_tables import coordination, pooled


@dataclass
class Decision:
    """One own chunk as generated: the context it was sampled after and what was sampled."""

    conversation: int
    side: str
    chunk: int
    context: list[int]
    """Token ids before the chunk's ``[S0]`` (what the model had seen)."""
    units: list[int]
    """The novel units sampled after ``[S0]``."""
    end: int | None
    """The speaker tag that ended the piece (sampled), or None (the piece was full)."""
    prev_unit: int | None
    """The own stream's unit before the chunk (the sampler excludes a repeat of it)."""
    reward: float = 0.0


@dataclass
class Rollouts:
    units: list[np.ndarray] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def record_decisions(generator: Any, conversation: int, side: str, out: list[Decision]) -> None:
    """Append every own chunk ``generator`` samples to ``out`` as a :class:`Decision`
    (through its recording hook, ``DuplexGenerator.on_own_piece``)."""
    generator.on_own_piece = lambda p: out.append(
        Decision(conversation, side, p.chunk, p.context, p.units, p.end, p.prev_unit))


def stop_recording(generator: Any) -> None:
    """Undo :func:`record_decisions` (the hook holds ``out``, the rollouts' decisions)."""
    generator.on_own_piece = None


def roll_out(plan: Plan, agent_dir: Path, first_seed: int) -> Rollouts:
    """Self-play conversations of the agent in ``agent_dir``, every decision recorded."""
    from duplexsim.agents.syncllm import SyncLLMAgent
    from duplexsim.closing import close_each
    from duplexsim.models.engine import run_lockstep
    from duplexsim.sim.build import shared_model_agents
    from duplexsim.sim.session import Session

    todo = scenarios(dataclasses.replace(plan, agents=agent_dir.parent,
                                         first_seed=first_seed), agent_dir.name)
    given = shared_model_agents(todo, scenario_note=lambda i: f"scenario {todo[i].name!r}")
    found = Rollouts()
    recording = []
    for i, agents in enumerate(given):
        for side, agent in agents.items():
            assert isinstance(agent, SyncLLMAgent)  # scenarios() makes both sides syncllm
            record_decisions(agent.generator, i, side, found.decisions)
            recording.append(agent.generator)
    sessions: list[Session] = []
    try:  # closed however it ends (as run_batch's): an open session is a cycle to collect
        for scenario, agents in zip(todo, given, strict=True):
            sessions.append(Session(scenario, agents))  # it builds (and closes) the rest
        traces = run_lockstep([s.finish_program() for s in sessions])
    finally:
        for generator in recording:
            stop_recording(generator)
        # every session, then the agents built here (ours), even if a close raises
        close_each([*sessions, *(a for agents in given for a in agents.values())])
    found.units = [np.asarray(t.units, np.int64) for t in traces]
    return found


def assign_rewards(found: Rollouts, frames_per_chunk: int, silence: set[int],
                   overlap_cost: float, silence_cost: float, grace_frames: int = 0,
                   onset_bonus: float = 0.0, silence_grace_frames: int = 0,
                   quick_bonus: float = 0.0, quick_ms: float = 0.0) -> None:
    """Reward of each decision: minus ``overlap_cost`` x the share of its chunk's frames in
    which both sides speak (the first ``grace_frames`` frames of each overlap free: with a
    grace, a backchannel or a quick hand-over costs nothing, talking on over the partner
    does), minus ``silence_cost`` x the share in which neither does (the first
    ``silence_grace_frames`` frames of each mutual silence free), plus ``onset_bonus``
    for each of its side's listener onsets
    (:func:`~duplexsim.metrics.turntaking.listener_onset_frames`) starting in the chunk,
    plus ``quick_bonus`` for each floor transfer to its side with an FTO of at most
    ``quick_ms`` whose incoming IPU starts in the chunk (:func:`transfers`)."""
    vads = [vad_from_units(u, silence) for u in found.units]
    both = [_late(v[0] & v[1], grace_frames) for v in vads]  # v: bool [2, T]
    neither = [_late(~(v[0] | v[1]), silence_grace_frames) for v in vads]
    onsets = [listener_onset_frames(v, FRAME_MS)[0] for v in vads] if onset_bonus else None
    quick = None
    if quick_bonus:
        quick = []
        for v in vads:
            side, frame, fto = transfers(v)
            quick.append([frame[(side == s) & (fto <= quick_ms)] for s in (0, 1)])
    F = frames_per_chunk
    for d in found.decisions:
        span = slice(d.chunk * F, (d.chunk + 1) * F)
        o, q = both[d.conversation][span], neither[d.conversation][span]
        if not len(o):
            d.reward = 0.0
            continue
        d.reward = -(overlap_cost * float(o.mean()) + silence_cost * float(q.mean()))
        if onsets is not None:
            starts = onsets[d.conversation][SIDES.index(d.side)]
            d.reward += onset_bonus * int(((starts >= span.start) & (starts < span.stop)).sum())
        if quick is not None:
            starts = quick[d.conversation][SIDES.index(d.side)]
            d.reward += quick_bonus * int(((starts >= span.start) & (starts < span.stop)).sum())


def transfers(vad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every floor transfer of a ``[2, T]`` voice activity (``duplexsim.metrics``' events):
    (incoming side, frame at which its IPU starts, FTO in ms)."""
    ev = event_columns(vad, FRAME_MS)
    at = np.isfinite(ev["fto_ms"])
    start = np.where(ev["kind"][at] == "gap", ev["end_ms"][at], ev["start_ms"][at])
    return (ev["speaker"][at].astype(np.int64), (start / FRAME_MS).round().astype(np.int64),
            ev["fto_ms"][at])


def quick_share(vads: list[np.ndarray], quick_ms: float) -> float:
    """Share of the floor transfers of ``vads`` (pooled) with an FTO of at most ``quick_ms``
    (NaN without any)."""
    ftos = np.concatenate([transfers(v)[2] for v in vads]) if vads else np.zeros(0)
    return float((ftos <= quick_ms).mean()) if len(ftos) else float("nan")


def discount(decisions: list[Decision], gamma: float) -> None:
    """Replace each decision's reward by its discounted return over the later decisions of
    the same side of the same conversation: ``r_j + gamma r_(j+1) + gamma^2 r_(j+2) ...``
    (an onset is charged for the overlap it causes in the chunks after its own, which the
    partner cannot react to sooner). ``gamma`` 0 leaves the rewards."""
    if gamma == 0:
        return
    streams: dict[tuple[int, str], list[Decision]] = {}
    for d in decisions:
        streams.setdefault((d.conversation, d.side), []).append(d)
    for stream in streams.values():
        ahead = 0.0
        for d in sorted(stream, key=lambda d: d.chunk, reverse=True):
            ahead = d.reward + gamma * ahead
            d.reward = ahead


def next_bonus(bonus: float, rate: float, target: float, step: float) -> float:
    """One dual-ascent step on the constraint "listener onsets per second = ``target``":
    the bonus per onset grows by ``step`` x the relative shortfall of ``rate`` and shrinks
    by its relative excess (below 0 it is a cost); a NaN ``rate`` (no listening time in the
    rollouts) leaves it."""
    if not np.isfinite(rate):
        return bonus
    return bonus + step * (1.0 - rate / target)


def _late(mask: np.ndarray, grace: int) -> np.ndarray:
    """``mask`` without the first ``grace`` frames of each of its runs."""
    if grace <= 0:
        return mask
    out = mask.copy()
    run = 0
    for t, on in enumerate(mask):
        run = run + 1 if on else 0
        if on and run <= grace:
            out[t] = False
    return out


def stats_of(vads: list[np.ndarray]) -> dict[str, float]:
    """The rollouts' statistics from their voice activity (each ``[2, T]``)."""
    point = pooled([Scored.of(v) for v in vads])
    return {"overlap_share": point["overlap_share"], "fto_median_ms": point["fto_median_ms"],
            "listener_onsets_per_s": point["listener_onsets_per_s"],
            "backchannels_per_min": point["backchannels_per_min"],
            "speech_share_per_side": float(np.mean([v.mean() for v in vads])),
            "onsets_over_partner_share": coordination(vads)["onsets_over_partner_share"]}
