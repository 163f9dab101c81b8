"""How many threads torch runs with: one per process by default, parallelism by processes.

Owns :func:`resolve_threads` and :func:`use_threads`, called by the *entry points* (the
``duplexsim`` CLI, sweep workers, the envs' constructors, benchmarks, experiment scripts),
never at import: a library that changes a process-wide setting on import surprises its
users. Also owns the pins of the math libraries' code paths, for the same bits on any
x86-64 processor with AVX2: MKL's (``MKL_CBWR``, set by :func:`use_threads`) and OpenBLAS's
(:func:`pin_openblas`, the one exception to "never at import": OpenBLAS chooses its kernels
when numpy loads it, so ``import duplexsim`` sets it before anything imports numpy), and
:func:`warn_unpinned_openblas`, the one-line warning of a process where numpy came first.

Why one thread: torch's default (one thread per core) pays little for the small agents
simulated here (two threads against one: 1.04x on an idle 2-core machine) and collapses
when anything else runs (measured 10x slower for one conversation, 110x for the env with a
SyncLLM partner, beside one other 2-thread job), because its threads spin-wait for each
other. Two 1-thread processes give 1.7-1.9x in aggregate, so sweeps use worker processes.

Override, in this order: an explicit value (``--threads N`` on the CLI), else the
``DUPLEXSIM_THREADS`` environment variable, else 1. ``0`` leaves torch's own setting alone
(e.g. a script that chose it itself). :func:`use_threads` also writes the resolved value to
``DUPLEXSIM_THREADS`` so worker processes started afterwards inherit it.
"""

from __future__ import annotations

import os
import sys
import warnings

from duplexsim.errors import InputError, plain_number

ENV_VAR = "DUPLEXSIM_THREADS"
DEFAULT_THREADS = 1
MKL_CBWR = "AVX2,STRICT"
"""MKL's conditional numerical reproducibility: the AVX2 code path on every processor
that has it (AVX-512 and AMX ones included), results independent of the thread count."""
OPENBLAS_CORETYPE = "Haswell"
"""OpenBLAS's kernels for every x86-64 processor with AVX2 and FMA (numpy's and scipy's
OpenBLAS pick AVX-512 ones where the processor has them, and the unit tokenizer's k-means
then gives other centroids in the last bits: docs/results/determinism.md)."""


def pin_openblas() -> str | None:
    """Set ``OPENBLAS_CORETYPE`` to :data:`OPENBLAS_CORETYPE` on a processor with AVX2 and
    FMA, before numpy loads OpenBLAS; the value set, or None (already set by the user, numpy
    already loaded, or a processor without them: Linux's ``/proc/cpuinfo`` is read).

    The one process-wide setting made at import (``import duplexsim`` calls it): OpenBLAS
    reads the variable when it loads, which is when numpy is first imported, before any
    entry point runs. It changes only which of OpenBLAS's kernels run, not what is computed:
    meant to give the same bits on every such processor (checked by emulating the kernel
    families on one machine: docs/results/determinism.md).
    """
    if "OPENBLAS_CORETYPE" in os.environ or "numpy" in sys.modules or not _avx2_and_fma():
        return None
    os.environ["OPENBLAS_CORETYPE"] = OPENBLAS_CORETYPE
    return OPENBLAS_CORETYPE


def _avx2_and_fma() -> bool:
    """Whether Linux's ``/proc/cpuinfo`` lists AVX2 and FMA (False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def unpinned_openblas() -> list[str]:
    """The kernel families (threadpoolctl's ``architecture``, e.g. ``SkylakeX``) that this
    process's loaded OpenBLAS libraries (numpy's, and scipy's once loaded) run instead of
    :data:`OPENBLAS_CORETYPE`, sorted; empty when they run it or the pin does not apply.

    The pin does not apply on a processor without AVX2 and FMA (or without
    ``/proc/cpuinfo``), nor where the user set ``OPENBLAS_CORETYPE`` to another family
    before Python started: an explicit choice (docs/results/determinism.md sets one to
    emulate other processors), not an accident, so it is not reported. What is reported is
    a process that loaded numpy before ``import duplexsim`` (the variable unset, or set
    after OpenBLAS had loaded): OpenBLAS then runs its own choice for the processor.
    """
    wanted = OPENBLAS_CORETYPE.lower()
    if os.environ.get("OPENBLAS_CORETYPE", wanted).lower() != wanted or not _avx2_and_fma():
        return []
    from threadpoolctl import threadpool_info

    return sorted({str(lib["architecture"]) for lib in threadpool_info()
                   if lib.get("internal_api") == "openblas"
                   and str(lib.get("architecture") or wanted).lower() != wanted})


def warn_unpinned_openblas() -> None:
    """One ``UserWarning`` line when :func:`unpinned_openblas` finds kernels other than the
    pinned ones; called where bytes depend on them (training a unit tokenizer, building a
    corpus). Issued from here with one text, so Python's default filter shows it once for a
    build that also trains, and again only after the warning filters changed (torch's and
    other libraries' ``catch_warnings`` do: two corpora and agents built in one process gave
    two lines)."""
    kernels = unpinned_openblas()
    if kernels:
        warnings.warn(
            f"OpenBLAS runs its {'/'.join(kernels)} kernels, not the pinned "
            f"{OPENBLAS_CORETYPE} ones (numpy was imported before duplexsim, so "
            "OPENBLAS_CORETYPE was not set in time): unit tokenizers trained and corpora "
            "built in this process will not match a pinned run's (any AVX2 machine) byte "
            "for byte; import duplexsim before numpy, or start Python with "
            f"OPENBLAS_CORETYPE={OPENBLAS_CORETYPE}",
            UserWarning, stacklevel=1)


def resolve_threads(threads: int | None = None) -> int:
    """The thread count to use: ``threads`` if given, else ``$DUPLEXSIM_THREADS``, else 1."""
    if threads is None:
        raw = os.environ.get(ENV_VAR, "")
        if not raw:  # unset, or set empty (``DUPLEXSIM_THREADS= cmd``)
            return DEFAULT_THREADS
        if not raw.isascii() or not raw.isdigit():  # int() also takes "1_0" (10), " 1", "+1"
            raise InputError(f"{ENV_VAR}={raw!r}: not an integer (allowed: 0 = torch's own "
                             "setting, or a thread count 1..1024, in plain digits)")
        value = plain_number(raw, integer=True)  # None: more digits than int() takes
        threads = -1 if value is None else int(value)
        where = f"{ENV_VAR}={raw!r}"
    else:
        where = f"threads={threads!r}"
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 1024:
        raise InputError(f"{where}: out of range (allowed: 0 = torch's own setting, or a "
                         "thread count 1..1024)")
    return threads


def use_threads(threads: int | None = None) -> int:
    """Run torch with the resolved thread count (see the module docstring); returns it.

    Does not import torch: when torch is loaded already its setting is changed, otherwise
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` are set, which torch reads when it loads, so
    ``duplexsim validate`` does not pay for torch. numpy's BLAS gets the same count
    (``threadpoolctl`` when numpy is loaded already, as it is after ``import duplexsim``).
    """
    n = resolve_threads(threads)
    os.environ[ENV_VAR] = str(n)
    # MKL's code path pinned, for the same bits on any x86 processor and thread count
    # (read at MKL's first call; a value the user set is kept): README "Budgets are steps"
    os.environ.setdefault("MKL_CBWR", MKL_CBWR)
    if n == 0:
        return n
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(n)
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _limit_blas(n)
    return n


def _limit_blas(n: int) -> None:
    """numpy's and scipy's BLAS to ``n`` threads. OpenBLAS starts one thread per core when
    numpy loads, which ``import duplexsim`` does (the envs), before any entry point runs, and
    reads no variable afterwards: the unit tokenizer's k-means then ran on as many threads
    as the machine has cores, and its centroids differed in the last bits between 1 and 2
    (another tokenizer digest, hence other corpora and cache keys, on a machine with another
    core count or for a user who exported ``OMP_NUM_THREADS=1``)."""
    if "numpy" not in sys.modules:
        return  # the variables above take effect when it loads
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
