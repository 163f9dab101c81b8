"""Self-play F-F at a one-way delay, the same seeds under one code version; prints a JSON
table of the metric rows. argv: worktree ('-' = installed code) agents_dir delay_ms n_seeds out"""
import json
import sys

wt, agents, out = sys.argv[1], sys.argv[2], sys.argv[5]
delay, n = float(sys.argv[3]), int(sys.argv[4])
if wt != "-":  # the worktree's duplexsim, not the editable install: imports below come after
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, wt)
import duplexsim  # noqa: E402

print("code:", duplexsim.__file__, file=sys.stderr)
from duplexsim.threads import use_threads  # noqa: E402

use_threads(1)
from duplexsim.atomic import atomic_path  # noqa: E402
from duplexsim.sweeps.cells import simulate_cells  # noqa: E402

configs = [{"name": f"ff-{s}", "chunk_ms": 160, "duration_s": 60.0, "seed": s,
            "a": {"kind": "syncllm", "agent": f"{agents}/fisher"},
            "b": {"kind": "syncllm", "agent": f"{agents}/fisher"},
            "network": {"preset": "ideal", "a_to_b": {"delay_ms": delay},
                        "b_to_a": {"delay_ms": delay}}} for s in range(n)]
rows = []
for i in range(0, n, 10):
    rows += simulate_cells(configs[i:i + 10])
keep = ("overlap_share", "backchannels_per_min", "fto_median_ms", "lookahead_mean",
        "est_unit_accuracy", "ipus_per_min", "gap_median_ms")
with atomic_path(out) as tmp, open(tmp, "w") as f:
    json.dump([{k: r.get(k) for k in keep} for r in rows], f)
