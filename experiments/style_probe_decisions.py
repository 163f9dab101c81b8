"""What style_probe.py scores: every stop and start decision of an agent on a corpus's
conversations, teacher-forced with a long and a short context (:func:`probe_decisions`),
with the style each long context shows (:func:`heard_style`); and an earlier run's
``decisions.csv`` read back, checked (:func:`read_decisions`, ``--decisions``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from duplexsim.config.readers import read_csv, refuse_cell
from duplexsim.errors import InputError

import numpy as np
import pandas as pd

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

