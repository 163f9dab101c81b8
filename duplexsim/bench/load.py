"""A concurrent 2-thread torch job: the "busy machine" that benchmarks and the
determinism test run beside.

Owns :func:`torch_load`. The job is a separate Python process doing matmuls on 2 torch
threads until it is killed; it says ``busy`` once it runs, so a caller measures only after
the load is really there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

JOB = """
import torch
torch.set_num_threads(2)
a = torch.randn(384, 384)
print("busy", flush=True)
while True:
    a = torch.tanh(a @ a)
"""


@contextmanager
def torch_load() -> Iterator[subprocess.Popen[str]]:
    """Run the 2-thread job for the duration of the block (yields its process)."""
    job = subprocess.Popen([sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"})
    try:
        if job.stdout is None or job.stdout.readline().strip() != "busy":
            raise RuntimeError("the torch load did not start")
        yield job
    finally:
        job.kill()
        job.wait()
