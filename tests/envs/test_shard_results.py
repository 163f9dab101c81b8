"""A sharded env's batched infos through the pipe: packed by the workers, merged in order."""

from __future__ import annotations

import numpy as np
from test_vector import same  # (tests/envs is on the path: rootdir-less import)

from duplexsim.envs.shard_results import InfoPacker, concat_infos


def test_info_packer_round_trips_and_merges() -> None:
    info = {"a": np.arange(3), "_a": np.ones(3, bool),
            "nested": {"x": np.zeros(3), "_x": np.ones(3, bool)}, "_nested": np.ones(3, bool),
            "obj": np.array([None, {"k": 1}, None], dtype=object), "empty": {}}
    workers, merger = [InfoPacker(), InfoPacker()], InfoPacker()
    want = concat_infos([info, info], [3, 3])
    for _ in range(2):  # the second time, the layouts are not sent again
        packs = [w.pack(info) for w in workers]
        merged = merger.merge(packs, [3, 3])
        assert same(merged, want) and list(merged) == list(info)
    assert packs[0][0] is None and len(packs[0][1]) == 3  # int64, bool, float64 matrices
    assert np.array_equal(merged["a"], [0, 1, 2, 0, 1, 2])
    other = {"a": np.arange(2), "_a": np.ones(2, bool)}
    mixed = InfoPacker().merge([InfoPacker().pack(info), InfoPacker().pack(other)], [3, 2])
    assert np.array_equal(mixed["_nested"], [True] * 3 + [False] * 2)
    assert list(mixed["obj"][3:]) == [None, None]
