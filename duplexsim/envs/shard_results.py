"""The batched results of a sharded env's shards: packed for the pipe, merged in order.

Owns joining the shards' batched observations and info dicts into one batch, in
conversation order, as Gymnasium's vector envs would have built it env by env
(:func:`concat_obs`, :func:`concat_infos`), and :class:`InfoPacker`, which sends a
worker's info dict through its pipe as few arrays and merges the workers' packs. Used by
:class:`~duplexsim.envs.sharded.ShardedVectorEnv` and its shards
(:mod:`duplexsim.envs.shards`); must not touch the envs themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def concat_obs(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The workers' batched observations as one batch, in conversation order."""
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def concat_infos(parts: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """The workers' batched infos as one, in conversation order, as Gymnasium's
    ``VectorEnv._add_info`` would have built it env by env: a key some worker lacks gets
    its empty value there (0, False for its ``_key`` mask, None in an object array); dict
    values are merged key by key."""
    keys: list[str] = []
    for part in parts:
        keys += [k for k in part if k not in keys]
    out: dict[str, Any] = {}
    for key in keys:
        values = [part.get(key) for part in parts]
        if any(isinstance(v, dict) for v in values):
            out[key] = concat_infos([v if isinstance(v, dict) else {} for v in values], sizes)
            continue
        like = next(v for v in values if v is not None)
        filled = [v if v is not None else
                  np.full(n, None, object) if like.dtype == object else
                  np.zeros(n, like.dtype) for v, n in zip(values, sizes, strict=True)]
        out[key] = np.concatenate(filled)
    return out


class InfoPacker:
    """A batched info dict in few arrays, for the pipe: the leaves of one dtype stacked
    into one matrix (pickling a few arrays, not dozens), the layout sent only when it
    changes. The parent's instance merges the workers' packs back into one info dict."""

    def __init__(self) -> None:
        self.layout: tuple | None = None  # the last layout sent (worker side)
        self.layouts: dict[int, tuple] = {}  # each worker's last layout (parent side)

    def pack(self, info: dict[str, Any]) -> tuple[tuple | None, dict[str, np.ndarray],
                                                  list[Any]]:
        """(layout or None if unchanged, one matrix per dtype, the other leaves)."""
        leaves: list[tuple[tuple[str, ...], Any]] = []
        _leaves(info, (), leaves)
        layout: list[tuple[tuple[str, ...], str | None, int]] = []
        groups: dict[str, list[np.ndarray]] = {}
        others: list[Any] = []
        for path, value in leaves:
            if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object:
                group = groups.setdefault(value.dtype.str, [])
                layout.append((path, value.dtype.str, len(group)))
                group.append(value)
            else:
                layout.append((path, None, len(others)))
                others.append(value)
        key = tuple(layout)
        sent = None if key == self.layout else key
        self.layout = key
        return sent, {d: np.stack(g) for d, g in groups.items()}, others

    def merge(self, packs: list[tuple], sizes: list[int]) -> dict[str, Any]:
        """The workers' packs (in worker order) as one batched info dict."""
        for k, (layout, _, _) in enumerate(packs):
            if layout is not None:
                self.layouts[k] = layout
        layouts = [self.layouts[k] for k in range(len(packs))]
        if any(layout != layouts[0] for layout in layouts):  # rare: the keys differ
            return concat_infos([_unpack(layout, groups, others) for layout, (_, groups, others)
                                 in zip(layouts, packs, strict=True)], sizes)
        groups = {d: np.concatenate([p[1][d] for p in packs], axis=1) for d in packs[0][1]}
        others = [_concat_leaf([p[2][i] for p in packs], sizes)
                  for i in range(len(packs[0][2]))]
        return _unpack(layouts[0], groups, others)


def _leaves(info: dict[str, Any], prefix: tuple[str, ...],
            out: list[tuple[tuple[str, ...], Any]]) -> None:
    for key, value in info.items():
        if isinstance(value, dict) and value:
            _leaves(value, (*prefix, key), out)
        else:
            out.append(((*prefix, key), value))


def _unpack(layout: tuple, groups: dict[str, np.ndarray], others: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, dtype, row in layout:
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = others[row] if dtype is None else groups[dtype][row]
    return out


def _concat_leaf(values: list[Any], sizes: list[int]) -> Any:
    """One non-stacked leaf (an object array, an empty dict) across the workers."""
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values)
    return concat_infos([{"v": v} for v in values], sizes)["v"]
