"""Self-play policy gradient (issue 16): train an agent in interaction against the collisions
of deciding apart.

Trained on a corpus, a SyncLLM learns both speakers written together; in self-play two
copies decide their chunks apart and collide (docs/results/selfplay/diagnosis.md, findings
9-19: every corpus- and model-side lever left the Fisher agent at 1.5-2.4x its corpus's
overlap). Finding 18 showed that fine-tuning on whole self-play conversations or windows
that went well does not help: the signal has to be about the collisions themselves. This is
that signal, REINFORCE on the decisions as the agent made them:

1. Self-play (:mod:`selfplay`'s protocol: ideal network at 0 ms, ``--chunk-ms`` chunks,
   lookahead 1) of the current weights, ``--conversations`` x ``--duration-s`` per
   iteration, each seeded anew. Every own chunk the agent generates is recorded with the
   exact token context it was generated from (its own chunks as spoken, the partner's
   received chunks and its estimate of the last one) and the tokens it sampled.
2. Reward of own chunk ``j`` (both sides' chunks are scored the same way): minus
   ``--overlap-cost`` x the share of its frames in which both sides speak, counted from
   ``--overlap-grace-ms`` into an overlap on (a backchannel or a quick hand-over is free,
   talking on over the partner is not), minus ``--silence-cost`` x the share in which
   neither speaks (without it the cheapest policy is silence), counted from
   ``--silence-grace-ms`` into a mutual silence on (a quick gap is free, a long one is not:
   finding 22's price of no silence cost was late answers). With ``--hold-onsets``, plus
   a bonus for each listener onset the chunk starts: a Lagrange multiplier on the
   constraint "listener onsets per second = the corpus's through the token format", which
   grows by ``--onset-step`` x the iteration's relative shortfall and shrinks by its
   excess (below 0 it is a cost: an overlap cost that charges only long overlaps makes
   onsets cheap; a flat one charges the backchannels and quick hand-overs that make a
   corpus's onsets; finding 21). With ``--gamma``, each decision is credited with the
   discounted return of its side's later chunks instead of its own chunk's reward alone.
   With ``--hold-fto``, plus a bonus for each floor transfer the side takes within the
   corpus's FTO median (a quick take-over, counted in the chunk of its onset): a second
   multiplier, on "the share of transfers within that median = the corpus's" (the FTO
   median held where the overlap reward would move it later; finding 25).
   Advantage: reward minus the iteration's mean, divided by its standard deviation.
3. ``--updates`` AdamW steps per iteration at ``--lr``, each on ``--decisions`` decisions
   drawn at random: the policy-gradient loss with the log-probability of each sampled token
   under the same allowed-id mask the sampler used, plus ``--kl`` x the KL divergence from
   the base agent on those decisions (k3 estimator), plus ``--anchor`` x the next-token loss
   of stage-3 batches of the agent's corpus.

The defaults are those of the run that brought the demo's Fisher agent closest to its corpus
(docs/results/selfplay/diagnosis.md, finding 21): with no silence cost the policy falls
silent within a few iterations; later iterations trade listener onsets for less overlap,
so evaluate the snapshots, not only the last weights.

Writes ``OUT/agent`` (the trained agent: the base agent's directory with new weights),
``OUT/snapshots/iteration<N>`` (the weights after ``N`` iterations, a model folder),
``OUT/iterations.csv`` (per iteration: the rollouts' overlap share, speech share per side,
listener onsets per second, mean reward per chunk, with ``--gamma`` also the mean discounted
return, policy and anchor losses) and ``OUT/REPORT.md``.
Evaluate with ``selfplay.py --agents`` a folder holding ``OUT/agent`` as ``fisher`` (or
``candor``). Nothing here is asserted.

    python experiments/selfplay_rl.py --agents runs/agents --agent fisher \\
        --corpora runs/corpora --out runs/selfplay-rl/fisher
    python experiments/selfplay_rl.py --smoke --out /tmp/sp-rl     # tiny world, seconds
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from duplexsim.atomic import write_text
from duplexsim.cli import ArgumentParser, chunk_ms_arg, number, run_reporting
from duplexsim.folders import replace_dir
from duplexsim.metrics.activity import vad_from_units
from duplexsim.tokens import FRAME_MS

import numpy as np
import pandas as pd
import torch
from continuation_stats import Scored  # one dialogue's events, computed once
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)
from selfplay_finetune import add_agent_arguments, agent_inputs  # the shared options, checks
from selfplay_plan import AGENTS, Plan, corpus_reference
from selfplay_rl_policy import anchor_data, policy_updates
from selfplay_rl_rollouts import (
    assign_rewards,
    discount,
    next_bonus,
    quick_share,
    roll_out,
    stats_of,
    transfers,
)
from selfplay_tables import pooled

OUTPUTS = ("world", "conversations", "agent.partial", "agent", "snapshots", "iterations.csv",
           "REPORT.md")
"""What selfplay_rl.py writes in --out: a folder holding one of them is an earlier run's."""


def train(args: argparse.Namespace, base: Path, corpus_dir: Path, card: Any, plan: Plan,
          progress: bool) -> pd.DataFrame:
    from duplexsim.corpora import load_corpus
    from duplexsim.models.agentdir import load_agent_files, record_weights
    from duplexsim.models.model import save_model

    # trained in OUT/agent.partial, which replaces OUT/agent when the run ends: a run that
    # fails (bad input, a non-finite loss) leaves an earlier run's agent whole
    out_agent = args.out / "agent.partial"
    if out_agent.exists():
        shutil.rmtree(out_agent)
    shutil.copytree(base, out_agent, ignore=shutil.ignore_patterns("checkpoints"))
    files = load_agent_files(out_agent)
    model, vocab = files.model, files.vocab
    base_model = load_agent_files(base).model.eval()
    # every silence unit of the corpus's tokenizer, as selfplay_plan.corpus_reference scores the
    # corpus (the agent writes them all, not only the canonical one)
    silence = {int(u) for u in load_corpus(corpus_dir).tokenizer().silence_units}
    data = anchor_data(card, corpus_dir, vocab) if args.anchor > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=0.0, foreach=False)
    frames = plan.chunk_ms // FRAME_MS
    rows = []
    bonus = 0.0  # the listener-onset multiplier (--hold-onsets)
    quick_bonus = 0.0  # the quick-transfer multiplier (--hold-fto)
    for it in range(args.iterations + 1):  # the last one only measures
        found, row, bonus, quick_bonus = rewarded_rollouts(args, plan, out_agent, it, silence,
                                                           frames, bonus, quick_bonus)
        if it == args.iterations:
            rows.append(row)
            break
        losses = policy_updates(args, model, base_model, opt, data, vocab, found, it,
                                out_agent)
        model.eval()
        save_model(model, out_agent / "model")
        record_weights(out_agent)  # agent.json's weights_sha256: these weights, not base's
        if args.keep_snapshots:
            save_model(model, args.out / "snapshots" / f"iteration{it + 1}")
        row.update(losses)
        rows.append(row)
        if progress:
            print(f"iteration {it}: overlap {row['overlap_share']:.3f}, FTO median "
                  f"{row['fto_median_ms']:.0f} ms, speech/side "
                  f"{row['speech_share_per_side']:.3f}, onsets/s "
                  f"{row['listener_onsets_per_s']:.3f}, backchannels/min "
                  f"{row['backchannels_per_min']:.2f}, kl {row['kl']:.4f}", flush=True)
        write_text(args.out / "iterations.csv", pd.DataFrame(rows).to_csv(index=False))
    table = pd.DataFrame(rows)
    write_text(args.out / "iterations.csv", table.to_csv(index=False))
    replace_dir(out_agent, args.out / "agent")
    return table


def rewarded_rollouts(args: argparse.Namespace, plan: Plan, agent: Path, it: int,
                      silence: set[int], frames: int, bonus: float, quick_bonus: float
                      ) -> tuple[Any, dict[str, Any], float, float]:
    """Iteration ``it``'s self-play rollouts of ``agent``, each decision's reward assigned
    (discounted by ``--gamma``): the rollouts, their statistics row, and the onset and
    quick-transfer bonuses adapted to them (``--hold-onsets``, ``--hold-fto``)."""
    found = roll_out(plan, agent, args.first_seed + it * args.conversations)
    vads = [vad_from_units(u, silence) for u in found.units]
    row: dict[str, Any] = {"iteration": it, **stats_of(vads),
                           "decisions": len(found.decisions)}
    if args.onset_target is not None:
        bonus = next_bonus(bonus, row["listener_onsets_per_s"], args.onset_target,
                           args.onset_step)
        row.update(onset_target=args.onset_target, onset_bonus=bonus)
    if args.fto_target is not None:
        quick_ms, target = args.fto_target
        row["quick_share"] = quick_share(vads, quick_ms)
        quick_bonus = next_bonus(quick_bonus, row["quick_share"], target, args.fto_step)
        row.update(quick_target=target, quick_bonus=quick_bonus)
    assign_rewards(found, frames, silence, args.overlap_cost, args.silence_cost,
                   args.overlap_grace_ms // FRAME_MS, bonus,
                   args.silence_grace_ms // FRAME_MS, quick_bonus,
                   args.fto_target[0] if args.fto_target is not None else 0.0)
    row["mean_reward"] = float(np.mean([d.reward for d in found.decisions]))  # per chunk
    discount(found.decisions, args.gamma)
    if args.gamma:
        # what the advantages centre on
        row["mean_return"] = float(np.array([d.reward for d in found.decisions]).mean())
    return found, row, bonus, quick_bonus


def render(args: argparse.Namespace, table: pd.DataFrame, command: str) -> str:
    return "\n".join([
        f"# Self-play policy gradient of {args.agent}",
        "",
        command,
        "",
        f"{args.iterations} iterations; each: {args.conversations} self-play conversations of "
        f"{args.duration_s:g} s ({args.chunk_ms} ms chunks, 0 ms, lookahead 1); reward of "
        f"each own chunk = -{args.overlap_cost:g} x its share of overlapped frames (from "
        f"{args.overlap_grace_ms} ms into an overlap on) - {args.silence_cost:g} x its share "
        f"of mutual silence (from {args.silence_grace_ms} ms into one on){held(args)}"
        + (f"; credited as the return discounted by {args.gamma:g} per chunk" if args.gamma
           else "") + f"; {args.updates} AdamW steps at lr {args.lr:g} on "
        f"{args.decisions} random decisions, KL to the base agent x {args.kl:g}, corpus "
        f"next-token loss x {args.anchor:g} on {args.anchor_seqs} stage-3 "
        "sequences. The last row measures the final weights' own rollouts.",
        "",
        "## Rollouts per iteration (pooled over the iteration's conversations)",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
        "Evaluate `agent/` with `selfplay.py` (the issue's protocol).",
    ])


def held(args: argparse.Namespace) -> str:
    text = ""
    if args.onset_target is not None:
        text += (" + onset_bonus per listener onset it starts (the bonus, a cost when "
                 f"negative, adapted each iteration by {args.onset_step:g} x the relative "
                 f"shortfall against the corpus's {args.onset_target:.3f} onsets/s)")
    if args.fto_target is not None:
        quick_ms, target = args.fto_target
        text += (" + quick_bonus per floor transfer it takes with an FTO <= "
                 f"{quick_ms:g} ms (the corpus's median; adapted each iteration by "
                 f"{args.fto_step:g} x the relative shortfall against the corpus's share "
                 f"{target:.3f} of such transfers)")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "selfplay_rl.py")  # before any work or world is made
    command = provenance("selfplay_rl.py", argv)  # the code as it is when the run starts
    if args.gamma == 1:  # (number() has no open upper end) a return that never discounts
        parser.error("--gamma: 1 is out of range (allowed: a number >= 0 and < 1)")
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    torch.manual_seed(args.first_seed)
    agents, corpora, card = agent_inputs(parser, args)
    preset = AGENTS[args.agent]
    if args.smoke:
        args.iterations, args.conversations, args.duration_s, args.chunk_ms = 2, 2, 6.0, 160
        args.decisions, args.updates = 8, 1
    plan = Plan(agents=agents, corpora=corpora, out=args.out,
                conversations=args.conversations, duration_s=args.duration_s,
                chunk_ms=args.chunk_ms)
    _set_held_targets(args, plan, preset)
    args.out.mkdir(parents=True, exist_ok=True)
    table = train(args, agents / args.agent, corpora / preset, card, plan,
                  progress=not args.smoke)
    report = args.out / "REPORT.md"
    write_text(report, render(args, table, command))
    print(f"wrote {report}")
    return 0


def _parser() -> ArgumentParser:
    """The flags, in ``--help``'s order."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_agent_arguments(parser, "runs/selfplay-rl/fisher",
                        "agent card for the anchor batches (default: agents/<agent>.toml)")
    parser.add_argument("--iterations", type=number(1, 100_000, integer=True), default=10,
                        help="policy-gradient iterations (self-play rollouts, then --updates AdamW "
                             "steps) (default: %(default)s)")
    parser.add_argument("--conversations", type=number(1, 100_000, integer=True), default=16,
                        help="self-play conversations per iteration (default: %(default)s)")
    parser.add_argument("--duration-s", type=number(0, 86_400, low_open=True), default=30.0,
                        help="length of each conversation in s (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=chunk_ms_arg, default=200,
                        help="chunk length in ms (default: %(default)s)")
    parser.add_argument("--first-seed", type=number(0, 2**32 - 1, integer=True), default=2000,
                        help="rollout seeds (default: %(default)s: apart from the evaluation's "
                             "0..)")
    parser.add_argument("--overlap-cost", type=number(0, 1e6, low_open=True), default=1.0,
                        help="cost of a chunk's share of frames in which both sides speak "
                             "(default: %(default)s)")
    parser.add_argument("--updates", type=number(1, 100_000, integer=True), default=4,
                        help="AdamW steps per iteration (default: %(default)s)")
    parser.add_argument("--decisions", type=number(2, 1_000_000, integer=True), default=128,
                        help="decisions drawn at random for each AdamW step (default: %(default)s)")
    parser.add_argument("--lr", type=number(0, 1, low_open=True), default=2e-5,
                        help="AdamW learning rate (default: %(default)s)")
    _add_shaping_arguments(parser)
    parser.add_argument("--keep-snapshots", action=argparse.BooleanOptionalAction,
                        default=True, help="also keep each iteration's weights in "
                        "OUT/snapshots/iteration<N> (14 MB each for the demo's agents)"
                        " (default: %(default)s)")
    parser.add_argument("--anchor-seqs", type=number(1, 100_000, integer=True), default=4,
                        help="sequences per --anchor batch (default: %(default)s)")
    parser.add_threads()
    return parser


def _add_shaping_arguments(parser: ArgumentParser) -> None:
    """The reward's grace periods, silence cost, discount and held bonuses, and the loss's KL
    and anchor weights (in ``--help`` between ``--lr`` and ``--keep-snapshots``)."""
    parser.add_argument("--overlap-grace-ms", type=number(0, 86_400_000, integer=True), default=0,
                        help="overlap costs only from this long into an overlap on"
                             " (default: %(default)s)")
    parser.add_argument("--silence-cost", type=number(0, 1e6), default=0.3,
                        help="cost of a chunk's share of frames in which neither side speaks"
                             " (default: %(default)s)")
    parser.add_argument("--silence-grace-ms", type=number(0, 86_400_000, integer=True), default=0,
                        help="mutual silence costs only from this long into one on"
                             " (default: %(default)s)")
    parser.add_argument("--kl", type=number(0, 1e6), default=0.5,
                        help="weight of the KL to the base agent on the sampled decisions"
                             " (default: %(default)s)")
    parser.add_argument("--anchor", type=number(0, 1e6), default=0.0,
                        help="weight of the next-token loss on stage-3 batches of the agent's "
                             "corpus (0: none) (default: %(default)s)")
    parser.add_argument("--gamma", type=number(0, 1, allowed="a number >= 0 and < 1"), default=0.0,
                        help="discount per chunk of the return each decision is credited "
                        "with (0: its own chunk's reward only) (default: %(default)s)")
    parser.add_argument("--hold-onsets", action="store_true",
                        help="add a bonus per listener onset (a cost when negative), its size "
                        "adapted each iteration so that the rollouts keep the corpus's "
                        "listener onsets per second")
    parser.add_argument("--onset-step", type=number(0, 1e6, low_open=True), default=0.5,
                        help="with --hold-onsets: the bonus grows by this x the relative "
                        "shortfall of the iteration's onset rate and shrinks by its excess"
                        " (default: %(default)s)")
    parser.add_argument("--hold-fto", action="store_true",
                        help="add a bonus per floor transfer taken within the corpus's FTO "
                        "median, its size adapted each iteration so that the rollouts keep "
                        "the corpus's share of such transfers (the FTO median held)")
    parser.add_argument("--fto-step", type=number(0, 1e6, low_open=True), default=1.0,
                        help="with --hold-fto: the bonus grows by this x the relative "
                        "shortfall of the iteration's share and shrinks by its excess"
                        " (default: %(default)s)")


def _set_held_targets(args: argparse.Namespace, plan: Plan, preset: str) -> None:
    """``args.fto_target`` (FTO median ms, share of transfers within it) with ``--hold-fto``
    and ``args.onset_target`` (listener onsets per s) with ``--hold-onsets``, both read off
    the corpus's own conversations through the format; None without the flag."""
    args.onset_target = args.fto_target = None
    vads = corpus_reference(plan, preset)[0] if args.hold_fto or args.hold_onsets else []
    if args.hold_fto:
        quick_ms = float(np.median(np.concatenate([transfers(v)[2] for v in vads])))
        args.fto_target = (quick_ms, quick_share(vads, quick_ms))
        print(f"FTO median of {preset} through the format: {quick_ms:.0f} ms, "
              f"{args.fto_target[1]:.3f} of its transfers within it (the share held)",
              flush=True)
    if args.hold_onsets:
        args.onset_target = pooled([Scored.of(v) for v in vads])["listener_onsets_per_s"]
        print(f"listener onsets of {preset} through the format: "
              f"{args.onset_target:.3f}/s (the rate held)", flush=True)


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "selfplay_rl.py"))
