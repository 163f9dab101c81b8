"""Self-play F-F at a one-way delay, the same seeds under one code version; prints a JSON
table of the metric rows. argv: worktree ('-' = installed code) agents_dir delay_ms n_seeds out"""
import json, sys
wt, agents, delay, n, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if wt != "-":
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, wt)
import duplexsim
print("code:", duplexsim.__file__, file=sys.stderr)
from duplexsim.threads import use_threads
use_threads(1)
from duplexsim.sweeps.cells import simulate_cells
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
json.dump([{k: r.get(k) for k in keep} for r in rows], open(out, "w"))
