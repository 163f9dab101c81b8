"""Does an agent use what it has heard of a speaker? Teacher-forced stop and start hazards
with a long and a short context (issue 16 diagnosis: why the agents carry no style).

The continuation study finds the agents' turn-taking uncorrelated with their prompt's
(r about 0 against a Prompt row of 0.5). This asks the model directly, on real
conversations of a corpus: at the ``[S0]`` of every chunk ``k`` (from ``--start-s`` on), for
each side as the agent's own, its probability that the side's first new unit is silence
when the side was speaking at the end of chunk ``k - 1`` (a *stop*), or speech when it was
silent (a *start*). Each decision is scored twice: with a **long** context (as many whole
chunks before ``k`` as fit in the agent's context: 18-19 s for the demo agents at 200 ms)
and a **short** one (the last ``--short-chunks`` chunks). A speaker's style (IPU and
pause lengths, drawn per speaker and recorded in the manifest) is only in the long
context; what is local (the units of the last second) is in both.

Per (agent, corpus): the binary log loss of each view at stops and starts and what the
long context gains (nats per decision); what the speaker's drawn style (log IPU and pause
medians, from the manifest) adds to a constant, to the short view and to the long view
(logistic regressions cross-fitted over dialogues): style the agent reads from its long
context adds nothing over the long view. The same with the *heard* style: the mean
durations of the speaker's IPUs and pauses (the definitions of ``duplexsim.metrics``) that
the long context holds whole, what the agent could have read there. And, across
speakers, the correlation of the observed stop (start) rate and of the agent's mean
long-context probability with the speaker's IPU (pause) median. 95% bootstrap CIs over
dialogues.

    python experiments/style_probe.py --pair runs/agents/fisher runs/corpora/fisher-like \\
        --out runs/style_probe
    python experiments/style_probe.py --smoke --out /tmp/style_probe     # tiny world

Outputs in ``--out``: ``decisions.csv`` (one row per decision and agent), ``speakers.csv``,
``summary.csv``, ``REPORT.md`` (command and commit), ``style_probe.png``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from handover import (  # the --pair flags, checks and labels of the hand-over probe
    check_pairs,
    pair_labels,
    pair_parser,
    smoke_pairs,
)
from outdir import check_out  # --out: writable, and not another folder's
from provenance import provenance  # the report line (command and commit)

from duplexsim.atomic import atomic_path, write_png, write_text
from duplexsim.cli import ArgumentParser, number, run_reporting
from duplexsim.config.readers import read_csv, refuse_cell
from duplexsim.corpora.corpus import SPLITS
from duplexsim.errors import InputError
from duplexsim.metrics.correlation import pearson_rows
from duplexsim.metrics.intervals import percentile_interval

OUTPUTS = ("world", "decisions.csv", "speakers.csv", "summary.csv", "style_probe.png",
           "REPORT.md")
"""What style_probe.py writes in --out: a folder holding one of them is an earlier run's."""

BLOCK_CHUNKS = 8  # chunks scored per long-context forward (their history grows by one each)


def _probabilities(model, windows: Sequence[list[int]], at: Sequence[Sequence[int]], pad: int,
                   groups: Sequence[np.ndarray]) -> np.ndarray:
    """``[n, len(groups)]``: for each window, the probability mass of each unit group at each
    position in ``at`` (windows right-padded and batched; causal attention makes the pad
    invisible to earlier positions)."""
    import torch

    out = []
    for lo in range(0, len(windows), 32):
        batch = windows[lo : lo + 32]
        ids = torch.full((len(batch), max(map(len, batch))), pad, dtype=torch.long)
        for i, w in enumerate(batch):
            ids[i, : len(w)] = torch.tensor(w)
        with torch.no_grad():
            probs = torch.softmax(model(input_ids=ids).logits.float(), -1)
        for i, positions in enumerate(at[lo : lo + 32]):
            p = probs[i, list(positions)]
            out.append(torch.stack([p[:, g].sum(-1) for g in groups], -1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(groups)))


def heard_style(ipus_ms: np.ndarray, start_ms: float, end_ms: float,
                min_pause_ms: float) -> tuple[float, float]:
    """Mean duration in seconds of the speaker's IPUs and of the pauses between them that
    the window ``[start_ms, end_ms)`` holds whole (NaN where there is none): the style the
    context shows. ``ipus_ms``: ``[n, 2]`` start and end of the speaker's IPUs (the
    definitions of :mod:`duplexsim.metrics.turntaking`); an IPU is whole once it began in
    the window and ``min_pause_ms`` of silence after it are in the window too, a pause
    once the next IPU began in the window."""
    starts, ends = ipus_ms[:, 0], ipus_ms[:, 1]
    whole = (starts >= start_ms) & (ends + min_pause_ms <= end_ms)
    pause = (ends[:-1] >= start_ms) & (starts[1:] < end_ms)
    ipu_s = (ends - starts)[whole] / 1000
    pause_s = (starts[1:] - ends[:-1])[pause] / 1000
    return (float(ipu_s.mean()) if len(ipu_s) else float("nan"),
            float(pause_s.mean()) if len(pause_s) else float("nan"))


def speaker_decisions(model, ids: np.ndarray, s0: np.ndarray, speaking: np.ndarray,
                      outcome: np.ndarray, ipus_ms: np.ndarray, chunks: np.ndarray, *,
                      chunk_ms: int, min_pause_ms: float, context_tokens: int,
                      short_chunks: int, pad: int, groups: Sequence[np.ndarray],
                      ) -> pd.DataFrame:
    """Long- and short-context probabilities of each decision of one side (``chunks``: the
    chunks scored; ``s0[k]`` the token index of chunk ``k``'s ``[S0]`` in ``ids``) and the
    style its long context shows (:func:`heard_style`)."""
    ids_l = ids.tolist()
    long_w, long_at, history = [], [], []
    for b in range(0, len(chunks), BLOCK_CHUNKS):
        block = chunks[b : b + BLOCK_CHUNKS]
        end = int(s0[block[-1]]) + 1
        h = int(np.searchsorted(s0, end - context_tokens))  # first chunk whose window fits
        h = min(h, int(block[0]))
        long_w.append(ids_l[int(s0[h]) : end])
        long_at.append([int(s0[k] - s0[h]) for k in block])
        history += [int(k - h) for k in block]
    p_long = _probabilities(model, long_w, long_at, pad, groups)
    short_w = [ids_l[int(s0[k - short_chunks]) : int(s0[k]) + 1] for k in chunks]
    if (longest := max(map(len, short_w), default=0)) > context_tokens:
        raise InputError("--short-chunks", "", f"{short_chunks}: a short context of "
                         f"{longest} tokens, more than the agent's context",
                         f"chunks that fit in {context_tokens} tokens")
    p_short = _probabilities(model, short_w, [[len(w) - 1] for w in short_w], pad, groups)
    # the probability of the event a decision can bring: stop (silence) when speaking,
    # start (speech) when silent
    pick = np.where(speaking[chunks], 0, 1)
    rows = np.arange(len(chunks))
    heard = np.array([heard_style(ipus_ms, (k - n) * chunk_ms, k * chunk_ms, min_pause_ms)
                      for k, n in zip(chunks, history, strict=True)]).reshape(-1, 2)
    return pd.DataFrame({"chunk": chunks, "state": np.where(speaking[chunks], "speaking", "silent"),
                         "event": outcome[chunks].astype(int), "history_chunks": history,
                         "p_long": p_long[rows, pick].astype(np.float64),  # (CSV round trip)
                         "p_short": p_short[rows, pick].astype(np.float64),
                         "heard_ipu_s": heard[:, 0], "heard_pause_s": heard[:, 1]})


def chunk_events(fmt, own: np.ndarray, partner: np.ndarray, silent: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The token ids of a conversation (``own`` as the agent's side, whole chunks of
    frames), the index of each chunk's ``[S0]``, whether own was speaking at the end of the
    chunk before (chunk 0: silent) and whether chunk ``k``'s decision brought its event (a
    stop: own's first new unit is silence, when speaking; a start: speech, when silent)."""
    F = fmt.frames_per_chunk
    ids = np.asarray(fmt.encode(own, partner))
    s0 = np.flatnonzero(ids == fmt.S0)
    nxt = ids[np.minimum(s0 + 1, len(ids) - 1)]
    last = np.concatenate([[fmt.silence_unit], own[F - 1 :: F][:-1]])
    speaking = ~np.isin(last, silent)
    new_unit = (nxt < fmt.n_units) & (s0 + 1 < len(ids))
    outcome = np.where(speaking, new_unit & np.isin(nxt, silent),
                       new_unit & ~np.isin(nxt, silent))
    return ids, s0, speaking, outcome


def probe_decisions(agent_dir: Path, corpus_dir: Path, *, chunk_ms: int, short_chunks: int,
                    start_s: float, split: str | None, max_dialogues: int,
                    progress: Callable[[str], None] = print) -> pd.DataFrame:
    """One row per scored decision of every side of the first ``max_dialogues`` dialogues
    of ``corpus_dir`` (``split``; None: all), with the speaker's drawn IPU and pause medians."""
    from duplexsim.corpora.corpus import check_agent_tokenizer, load_corpus
    from duplexsim.metrics.activity import vad_from_units
    from duplexsim.metrics.turntaking import TurnTakingParams, detect_events
    from duplexsim.models.agentdir import load_agent_files
    from duplexsim.tokens import SyncFormat

    corpus = load_corpus(corpus_dir)
    todo = corpus.ids(split)[:max_dialogues]
    if not todo:  # an empty split (checked before the agent loads)
        held = sorted({d["split"] for d in corpus.manifest["dialogues"]})
        raise InputError("--split", "", f"{split or 'all'}: {corpus_dir} has no dialogue in "
                         "it", f"a split it has: {', '.join([*held, 'all'])}" if held else None)
    # the agent reads the corpus's units as its own: one tokenizer (an error naming both)
    check_agent_tokenizer(corpus_dir, agent_dir, corpus.manifest)
    files = load_agent_files(agent_dir)
    model = files.model.eval()
    files.check_chunk_ms(chunk_ms)
    silent = np.array(sorted(corpus.tokenizer().silence_units))
    speech = np.setdiff1d(np.arange(corpus.n_units), silent)
    fmt = SyncFormat(chunk_ms=chunk_ms, n_units=corpus.n_units, silence_unit=files.silence_unit)
    F = fmt.frames_per_chunk
    first = max(short_chunks, int(np.ceil(start_s * 1000 / chunk_ms)))
    styles = {d["id"]: d.get("style", {}) for d in corpus.manifest["dialogues"]}
    params = TurnTakingParams()
    out = []
    for n, id in enumerate(todo):
        units = corpus.units(id)
        n_chunks = units.shape[1] // F
        units = units[:, : n_chunks * F]
        events = detect_events(vad_from_units(units, set(silent.tolist())), fmt.frame_ms, params)
        for own in (0, 1):
            ids, s0, speaking, outcome = chunk_events(fmt, units[own], units[1 - own], silent)
            mine = events[(events.kind == "ipu") & (events.speaker == own)]
            chunks = np.arange(first, n_chunks)
            if not len(chunks):
                continue
            rows = speaker_decisions(model, ids, s0, speaking, outcome,
                                     mine[["start_ms", "end_ms"]].to_numpy(float), chunks,
                                     chunk_ms=chunk_ms, min_pause_ms=params.min_pause_ms,
                                     context_tokens=files.context_tokens,
                                     short_chunks=short_chunks, pad=files.vocab.pad,
                                     groups=[silent, speech])
            spk = (styles.get(id, {}).get("speakers") or [{}, {}])[own]
            out.append(rows.assign(dialogue=id, side=own, chunk_ms=chunk_ms,
                                   short_chunks=short_chunks, start_s=start_s,
                                   ipu_median_s=spk.get("ipu_median_s", np.nan),
                                   pause_median_s=spk.get("pause_median_s", np.nan)))
        progress(f"  {agent_dir.name} on {corpus_dir.name}: dialogue {n + 1} ({id})")
    if not out:
        raise InputError("--start-s", "", f"{start_s:g}: {corpus_dir} has no chunk to score "
                         f"from chunk {first} ({chunk_ms} ms chunks) on",
                         "dialogues longer than that, or a smaller --start-s or --short-chunks")
    return pd.concat(out, ignore_index=True)


DECISION_COLUMNS = {"label": "text", "dialogue": "text", "side": "int", "chunk": "int",
                    "state": "text", "event": "int", "history_chunks": "int",
                    "p_long": "probability", "p_short": "probability",
                    "heard_ipu_s": "float", "heard_pause_s": "float", "chunk_ms": "int",
                    "short_chunks": "int", "start_s": "float", "ipu_median_s": "float",
                    "pause_median_s": "float"}
"""The columns of ``decisions.csv`` that ``--decisions`` reads back, and what each holds."""


def read_decisions(path: Path) -> pd.DataFrame:
    """An earlier run's ``decisions.csv``, checked: every column :data:`DECISION_COLUMNS`
    names, at least one row, numbers where numbers go, probabilities in [0, 1], states
    ``speaking`` / ``silent``, events 0 / 1, one chunk size, short context and start."""
    frame = read_csv(path, what="the decisions.csv of an earlier style_probe.py run",
                     columns=list(DECISION_COLUMNS))
    for col, kind in DECISION_COLUMNS.items():
        if kind == "text":
            continue
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & ~(frame[col].isna() & (kind == "float"))  # NaN: no style drawn
        bad |= values.isin([np.inf, -np.inf])
        if kind == "int":
            bad |= values.notna() & (values != values.round())
        elif kind == "probability":
            bad |= ~values.between(0.0, 1.0)
        if bad.any():
            refuse_cell(path, frame, col, bad, {"int": "an integer", "float": "a number",
                                                "probability": "a number in [0, 1]"}[kind])
        frame[col] = values
    checks = [("state", ~frame["state"].isin(["speaking", "silent"]), "speaking or silent"),
              ("event", ~frame["event"].isin([0, 1]), "0 or 1")]
    for col, bad, what in checks:
        if bad.any():
            refuse_cell(path, frame, col, bad, what)
    # one decision per label, dialogue, side and chunk: a second is another agent's under
    # the same label (a file written when two pairs of the same folder names shared one),
    # and its decisions would be pooled with the first's as one agent's
    twice = frame.duplicated(["label", "dialogue", "side", "chunk"])
    if twice.any():
        refuse_cell(path, frame, "label", twice, "one row per label, dialogue, side and "
                    "chunk (two agents' decisions under one label: label them apart)")
    for col in ("chunk_ms", "short_chunks", "start_s"):
        if frame[col].nunique() != 1:
            raise InputError(str(path), col, f"{frame[col].nunique()} different values",
                             "one value: a run probes at one setting")
    return frame


def _log_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


STATES = {"speaking": "stop", "silent": "start"}  # the decision's state -> its event


def speaker_table(dec: pd.DataFrame) -> pd.DataFrame:
    """Per speaker (dialogue, side): for its stops and its starts, how many, the observed
    rate and the mean predicted probability of each view; its drawn IPU and pause medians."""
    rows = []
    for (d, side), g in dec.groupby(["dialogue", "side"], sort=True):
        row = {"dialogue": d, "side": side, "ipu_median_s": g.ipu_median_s.iloc[0],
               "pause_median_s": g.pause_median_s.iloc[0]}
        for state, event in STATES.items():
            h = g[g.state == state]
            row |= {f"n_{event}s": len(h), f"{event}_rate": h.event.mean(),
                    f"p_{event}_long": h.p_long.mean(), f"p_{event}_short": h.p_short.mean()}
        rows.append(row)
    return pd.DataFrame(rows)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


STYLES = {"drawn": ["ipu_median_s", "pause_median_s"],  # the manifest's, per speaker
          "heard": ["heard_ipu_s", "heard_pause_s"]}  # what the long context holds whole


def style_gain(dec: pd.DataFrame, view: str | None, style: str = "drawn",
               folds: int = 2) -> np.ndarray:
    """Per decision of ``dec`` (one state): what a style adds to a prediction, in nats:
    the log loss of a logistic regression on the view's logit (``view``: ``"p_long"``,
    ``"p_short"``; None: a constant) minus that of one on the logit and the style's logs
    (``style``: ``"drawn"``, the speaker's IPU and pause medians; ``"heard"``, the mean
    IPU and pause its long context holds whole, a missing one filled with the fitting
    half's median and flagged). Cross-fitted over dialogues (``folds`` groups), so
    a style that predicts nothing gains about 0 or less, never by fitting noise."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    y = dec.event.to_numpy()
    raw = np.log(dec[STYLES[style]].to_numpy(float))
    base = (np.zeros((len(dec), 1)) if view is None
            else _logit(dec[view].to_numpy(float))[:, None])
    gain = np.full(len(dec), np.nan)
    groups = dec.dialogue.to_numpy()
    if len(np.unique(groups)) < folds or len(np.unique(y)) < 2:
        return gain
    for fit, test in GroupKFold(n_splits=folds).split(base, y, groups):
        seen = ~np.isnan(raw[fit])
        fill = [np.median(raw[fit][seen[:, i], i]) if seen[:, i].any() else 0.0
                for i in range(raw.shape[1])]
        style_x = np.hstack([np.where(np.isnan(raw), fill, raw), np.isnan(raw)])
        losses = []
        for x in (base, np.hstack([base, style_x])):
            if len(np.unique(y[fit])) < 2:
                losses.append(_log_loss(np.full(len(test), y[fit].mean()), y[test]))
                continue
            model = LogisticRegression(max_iter=1000).fit(x[fit], y[fit])
            losses.append(_log_loss(model.predict_proba(x[test])[:, 1], y[test]))
        gain[test] = losses[0] - losses[1]
    return gain


def summarize(dec: pd.DataFrame, n_boot: int, seed: int = 0
              ) -> tuple[dict[str, float], pd.DataFrame]:
    """Per event (stop, start): the long context's gain per decision and what the drawn
    style adds to a constant, to the short and to the long view (nats per decision), and
    the correlations across speakers of the observed rate and of the long view with the
    style; each with a 95% bootstrap CI over dialogues. Also the mean long-context history
    (``history_s``) and, second, the :func:`speaker_table` the correlations come from."""
    y = dec.event.to_numpy()
    dec = dec.assign(gain=_log_loss(dec.p_short.to_numpy(), y)
                     - _log_loss(dec.p_long.to_numpy(), y))
    for state in STATES:
        mask = (dec.state == state).to_numpy()
        for view, style, name in ((None, "drawn", "style_alone"),
                                  ("p_short", "drawn", "style_short"),
                                  ("p_long", "drawn", "style_long"),
                                  ("p_short", "heard", "heard_short"),
                                  ("p_long", "heard", "heard_long")):
            dec.loc[mask, name] = style_gain(dec[mask], view, style)
    spk = speaker_table(dec)

    def stats(d: pd.DataFrame, s: pd.DataFrame) -> dict[str, float]:
        log_ipu, log_pause = (np.log(s[c].to_numpy(float))
                              for c in ("ipu_median_s", "pause_median_s"))
        out: dict[str, float] = {}
        for state, event in STATES.items():
            h = d[d.state == state]
            out |= {f"{event}_context": h.gain.mean(),
                    f"{event}_style_alone": h.style_alone.mean(),
                    f"{event}_style_short": h.style_short.mean(),
                    f"{event}_style_long": h.style_long.mean(),
                    f"{event}_heard_short": h.heard_short.mean(),
                    f"{event}_heard_long": h.heard_long.mean()}
        for event, style, name in (("stop", log_ipu, "ipu"), ("start", log_pause, "pause")):
            for view, column in (("rate", f"{event}_rate"), ("long", f"p_{event}_long")):
                out[f"r_{event}_{view}_{name}"] = float(
                    pearson_rows(s[column].to_numpy(float), style)[0])
        return out

    point = stats(dec, spk)
    dialogues = sorted(dec.dialogue.unique())
    by_d = dict(tuple(dec.groupby("dialogue")))
    by_s = dict(tuple(spk.groupby("dialogue")))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = [dialogues[i] for i in rng.choice(len(dialogues), len(dialogues))]
        boots.append(stats(pd.concat([by_d[k] for k in pick]),
                           pd.concat([by_s[k] for k in pick])))
    out = {"n_dialogues": len(dialogues),
           "history_s": float((dec.history_chunks * dec.chunk_ms).mean() / 1000),
           "n_stops": int((dec.state == "speaking").sum()),
           "n_starts": int((dec.state == "silent").sum()),
           "stop_rate": dec.event[dec.state == "speaking"].mean(),
           "start_rate": dec.event[dec.state == "silent"].mean()}
    for key, value in point.items():
        lo, hi = percentile_interval([x[key] for x in boots], len(dialogues))
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = value, lo, hi
    return out, spk


def report(summary: pd.DataFrame, speakers: pd.DataFrame, out: Path, line: str, *,
           chunk_ms: int, short_chunks: int, start_s: float) -> Path:
    _plot_rates(summary, speakers, out, line)

    def ci(key: str, fmt: str = "{:+.4f}") -> pd.Series:
        return summary.apply(lambda r: f"{fmt.format(r[key])} [{fmt.format(r[key + '_lo'])}, "
                                       f"{fmt.format(r[key + '_hi'])}]", axis=1)

    counts = summary[["label", "n_dialogues", "history_s", "n_stops", "stop_rate", "n_starts",
                      "start_rate"]]
    tables = [counts.to_markdown(index=False, floatfmt=".3f")]
    for event, style in (("stop", "ipu"), ("start", "pause")):
        gains = summary[["label"]].assign(**{
            f"{event}s: long context over short": ci(f"{event}_context"),
            "style alone over pooled": ci(f"{event}_style_alone"),
            "style over short context": ci(f"{event}_style_short"),
            "style over long context": ci(f"{event}_style_long"),
            "heard style over short": ci(f"{event}_heard_short"),
            "heard style over long": ci(f"{event}_heard_long"),
            f"r(observed rate, log {style} median)": ci(f"r_{event}_rate_{style}", "{:+.2f}"),
            f"r(agent long, log {style} median)": ci(f"r_{event}_long_{style}", "{:+.2f}")})
        tables.append(gains.to_markdown(index=False))
    text = "\n".join([
        "# Does the agent use what it has heard of a speaker?", "", line, "",
        f"Teacher-forced on real conversations at {chunk_ms} ms chunks, every chunk from "
        f"{start_s:g} s on, each side as the agent's own: P(the side's first new unit in the "
        "chunk is silence) when it was speaking at the end of the chunk before (a stop), "
        "P(speech) when it was silent (a start). Long context: as many whole chunks as fit "
        "in the agent's context (mean history `history_s`, seconds); short: the last "
        f"{short_chunks} chunks. Gains in nats per decision: the long context's over the "
        "short one (binary log loss), and what the speaker's drawn style (log IPU and pause "
        "medians from the manifest) adds to a constant, to the short and to the long view "
        "(logistic regressions cross-fitted over dialogues, 2 folds); *heard* style: "
        "the same with the mean durations of the speaker's IPUs and pauses that the long "
        "context holds whole instead (what the agent could have read). Style the "
        "agent has read from the long context adds nothing over it; style it has not read "
        "adds what it adds over the short one. Correlations across speakers (rates per "
        "speaker). 95% bootstrap CIs over dialogues.", "",
        *[t + "\n" for t in tables],
        "![rates per speaker against its style](style_probe.png)", ""])
    write_text(out / "REPORT.md", text)
    return out / "REPORT.md"


def _plot_rates(summary: pd.DataFrame, speakers: pd.DataFrame, out: Path, line: str) -> None:
    """``style_probe.png``: per pair, each speaker's observed and predicted stop and start
    rates against its drawn style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary.label)
    fig, axes = plt.subplots(2, len(labels), figsize=(4 * len(labels), 6.4), squeeze=False)
    for col, label in enumerate(labels):
        s = speakers[speakers.label == label]
        for row, (event, style) in enumerate((("stop", "ipu_median_s"),
                                              ("start", "pause_median_s"))):
            ax = axes[row][col]
            ax.scatter(s[style], s[f"{event}_rate"], s=10, color="black", label="observed")
            ax.scatter(s[style], s[f"p_{event}_long"], s=10, color="tab:blue",
                       label="agent, long context")
            ax.scatter(s[style], s[f"p_{event}_short"], s=10, color="tab:orange", marker="x",
                       label="agent, short context")
            ax.set_xlabel(f"speaker's drawn {style.replace('_s', ' (s)').replace('_', ' ')}")
            ax.set_ylabel(f"{event}s per decision")
            ax.set_title(label, fontsize=8)
    axes[0][0].legend(fontsize=7)
    write_png(fig, out / "style_probe.png", caption=line)  # the command and commit


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_out(args.out, OUTPUTS, "style_probe.py")  # before any work or world is made
    # (they were replaced without a word: --smoke --chunk-ms 240 probed 160 ms chunks, and
    # --decisions took its settings from the file whatever --pair or --chunk-ms said)
    probe = ("pair", "chunk_ms", "short_chunks", "start_s", "split", "max_dialogues")
    parser.refuse_unread(args, "--smoke", (*probe, "n_boot", "decisions"),
                         "smoke mode takes the tiny world's agents and corpora, 160 ms chunks, "
                         "2 short chunks from 3 s, 4 dialogues of every split, 50 resamples")
    parser.refuse_unread(args, "--decisions", probe,
                         "the decisions' agents and settings are those of the run that wrote "
                         "them")
    command = provenance("style_probe.py", argv)  # the code as it is when the run starts
    from duplexsim.threads import use_threads

    use_threads(args.threads)
    pairs, split = args.pair or [], None if args.split == "all" else args.split
    chunk_ms, short, start_s, n_boot = args.chunk_ms, args.short_chunks, args.start_s, args.n_boot
    max_dialogues = args.max_dialogues
    if args.smoke:
        pairs = smoke_pairs(args.out)
        chunk_ms, short, start_s, n_boot, max_dialogues = 160, 2, 3.0, 50, 4
    if not pairs and args.decisions is None:
        parser.error("give at least one --pair AGENT CORPUS (or --smoke, or --decisions)")
    check_pairs(parser, pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.decisions is not None:
        runs, (chunk_ms, short, start_s) = _earlier_runs(parser, args.decisions)
    else:
        runs = []
        for (agent, corpus), label in zip(pairs, pair_labels(pairs), strict=True):
            runs.append((label, probe_decisions(
                agent, corpus, chunk_ms=chunk_ms, short_chunks=short, start_s=start_s,
                split=split, max_dialogues=max_dialogues).assign(label=label)))
    summary, all_spk = _summarize_runs(runs, n_boot, args.out)
    path = report(summary, all_spk, args.out, command, chunk_ms=chunk_ms,
                  short_chunks=short, start_s=start_s)
    print(f"wrote {path}")
    return 0


def _parser() -> ArgumentParser:
    """The probe's flags (:func:`pair_parser`'s and this script's), in ``--help``'s order."""
    parser = pair_parser(__doc__, "runs/style_probe", "probe")
    parser.add_argument("--short-chunks", type=number(1, 100_000, integer=True), default=5,
                        help="chunks of the short context (default: %(default)s: 1 s at 200 ms)")
    parser.add_argument("--start-s", type=number(0, 86_400), default=15.0,
                        help="score chunks from here on (so the long context is long)"
                             " (default: %(default)s)")
    parser.add_argument("--split", default="all", choices=[*SPLITS, "all"],
                        help="corpus split ('all': every one) (default: %(default)s)")
    parser.add_argument("--max-dialogues", type=number(1, 1_000_000, integer=True), default=40,
                        help="dialogues probed per pair: the split's first N "
                             "(default: %(default)s)")
    parser.add_argument("--n-boot", type=number(1, 1_000_000, integer=True), default=1000,
                        help="bootstrap resamples of the 95%% CIs (default: %(default)s)")
    parser.add_argument("--decisions", type=Path, default=None,
                        help="analyse the decisions.csv of an earlier run instead of running "
                             "the agents again (--pair then not needed)")
    parser.add_threads()
    return parser


def _earlier_runs(parser: ArgumentParser, path: Path
                  ) -> tuple[list[tuple[str, pd.DataFrame]], tuple[Any, ...]]:
    """``--decisions``: an earlier run's decisions per label, and its chunk ms, short chunks
    and start s (one line when the file is missing)."""
    if not path.is_file():
        parser.error(f"--decisions {path}: file not found (allowed: the "
                     "decisions.csv of an earlier run)")
    earlier = read_decisions(path)
    runs = [(label, earlier[earlier.label == label].reset_index(drop=True))
            for label in earlier.label.unique()]
    return runs, tuple(earlier[c].iloc[0] for c in ("chunk_ms", "short_chunks", "start_s"))


def _summarize_runs(runs: list[tuple[str, pd.DataFrame]], n_boot: int, out: Path
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each run's summary (printed as it comes) and per-speaker rates, written with the
    decisions to OUT's ``decisions.csv``, ``speakers.csv`` and ``summary.csv``; the summary
    and the speakers."""
    decisions, speakers, rows = [], [], []
    for label, dec in runs:
        stats, spk = summarize(dec, n_boot)
        decisions.append(dec)
        speakers.append(spk.assign(label=label))
        row = {"label": label, **stats}
        rows.append(row)
        print({k: round(float(v), 4) if isinstance(v, float) else v for k, v in row.items()},
              flush=True)
    all_dec, all_spk, summary = (pd.concat(decisions, ignore_index=True),
                                 pd.concat(speakers, ignore_index=True), pd.DataFrame(rows))
    for name, frame in (("decisions", all_dec), ("speakers", all_spk), ("summary", summary)):
        with atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return summary, all_spk


if __name__ == "__main__":
    raise SystemExit(run_reporting(main, "style_probe.py"))
